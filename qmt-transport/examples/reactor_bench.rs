//! Reactor benchmarks against simulated modules on ptys (ratios from one run; no asserts).
//!
//! ```text
//! cargo run -p qmt-transport --release --example reactor_bench [-- [quick] [rtt] [scale] [flood]]
//! ```
//!
//! 1. `AT` → `OK` round trip: the reactor vs a blocking write/read loop (serialport) on the
//!    same pty of the same sim.
//! 2. One reactor thread serving 1, 8 and 64 sims (one shared broker): aggregate and per-port
//!    `AT` throughput, and where the CPU went (per thread group, from /proc/self/task).
//! 3. RSS under a flood of 100 000 `+QMTRECV` URCs into a slow consumer.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use qmt_proto::Command;
use qmt_sim::{BrokerChoice, EmbeddedBroker, Fault, Sim, SimConfig, SimHandle};
use qmt_transport::reactor::{Port, PortConfig, PortEvent, PortEvents, Reactor};

fn cmd(text: &str) -> Command {
    let mut b = text.as_bytes().to_vec();
    b.push(b'\r');
    Command::parse(&b).unwrap()
}

fn ok(port: &Port, text: &str, data: Option<&[u8]>) {
    let r = port
        .submit(cmd(text), data.map(<[u8]>::to_vec))
        .unwrap()
        .wait()
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(r.final_code.bytes(), b"OK", "{text}");
}

fn expect_urc(events: &PortEvents, prefix: &str) -> String {
    loop {
        match events.recv_timeout(Duration::from_secs(30)) {
            Ok(PortEvent::Urc(l)) => {
                let s = String::from_utf8_lossy(l.bytes()).into_owned();
                if s.starts_with(prefix) {
                    return s;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("waiting for {prefix}: {e:?}"),
        }
    }
}

fn sim(broker: &EmbeddedBroker) -> SimHandle {
    Sim::start(SimConfig {
        broker: BrokerChoice::External(broker.addr()),
        ..SimConfig::default()
    })
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ---- /proc ------------------------------------------------------------------------------------

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// CPU seconds per thread group (thread names up to the first space/digit run), from
/// /proc/self/task/*/stat (utime + stime, in clock ticks of 100 Hz).
fn cpu_by_group() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let group = if comm.starts_with("qmt-sim") && !comm.contains("burst") {
            "sims"
        } else if comm == "qmt-reactor" {
            "reactor"
        } else if comm.starts_with("bench-driver") {
            "drivers"
        } else {
            "other (broker, main)"
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        *out.entry(group.to_owned()).or_insert(0.0) += ticks / 100.0;
    }
    out
}

// ---- 1. round trip ----------------------------------------------------------------------------

fn round_trip(broker: &EmbeddedBroker, n: usize) {
    const ROUNDS: usize = 5;
    const WARM: usize = 50;
    let sim = sim(broker);
    let path = sim.pty_path().to_string_lossy().into_owned();
    let reactor = Reactor::start().unwrap();
    let per_round = n / ROUNDS;
    let mut blocking = Vec::with_capacity(n);
    let mut reactor_rt = Vec::with_capacity(n);
    // Alternating rounds, so load from other processes hits both paths alike.
    for round in 0..ROUNDS {
        // Blocking loop: write `AT\r`, read until `OK\r\n`.
        {
            let mut port = serialport::new(&path, 115_200)
                .timeout(Duration::from_secs(5))
                .open()
                .unwrap();
            let mut buf = [0u8; 256];
            let mut exchange = |line: &[u8], port: &mut Box<dyn serialport::SerialPort>| {
                port.write_all(line).unwrap();
                let mut got = Vec::new();
                while !got.ends_with(b"OK\r\n") {
                    let k = port.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..k]);
                }
            };
            if round == 0 {
                // Power-up `RDY` is read by the first exchange; echo off for good.
                exchange(b"ATE0\r", &mut port);
            }
            for i in 0..per_round + WARM {
                let t = Instant::now();
                exchange(b"AT\r", &mut port);
                if i >= WARM {
                    blocking.push(t.elapsed());
                }
            }
        }
        // The reactor, same pty, same sim.
        let (port, events) = reactor.add_port(&path, PortConfig::default()).unwrap();
        for i in 0..per_round + WARM {
            let t = Instant::now();
            port.submit(Command::At, None).unwrap().wait().unwrap();
            if i >= WARM {
                reactor_rt.push(t.elapsed());
            }
        }
        port.close();
        while !matches!(events.recv(), Some(PortEvent::Closed { .. }) | None) {}
    }
    blocking.sort();
    reactor_rt.sort();
    let (bm, b99) = (percentile(&blocking, 0.5), percentile(&blocking, 0.99));
    let (rm, r99) = (percentile(&reactor_rt, 0.5), percentile(&reactor_rt, 0.99));
    println!(
        "## 1. AT -> OK round trip ({} each, {ROUNDS} alternating rounds, {WARM} warm-up per round)",
        blocking.len()
    );
    println!();
    println!("| path | median µs | p99 µs |");
    println!("|---|---:|---:|");
    println!(
        "| blocking write/read (serialport) | {:.1} | {:.1} |",
        us(bm),
        us(b99)
    );
    println!(
        "| reactor (Port::submit + Pending::wait) | {:.1} | {:.1} |",
        us(rm),
        us(r99)
    );
    println!(
        "| ratio reactor / blocking | {:.2}x | {:.2}x |",
        us(rm) / us(bm),
        us(r99) / us(b99)
    );
    println!();
}

// ---- 2. many ports ----------------------------------------------------------------------------

struct Scale {
    ports: usize,
    total: u64,
    secs: f64,
    min_port: u64,
    max_port: u64,
    cpu: HashMap<String, f64>,
}

fn scale(broker: &EmbeddedBroker, ports: usize, dur: Duration) -> Scale {
    let sims: Vec<_> = (0..ports).map(|_| sim(broker)).collect();
    let reactor = Reactor::start().unwrap();
    let handles: Vec<(Port, PortEvents)> = sims
        .iter()
        .map(|s| {
            reactor
                .add_port(s.pty_path(), PortConfig::default())
                .unwrap()
        })
        .collect();
    for (p, e) in &handles {
        expect_urc(e, "RDY");
        ok(p, "ATE0", None);
    }
    let drivers = ports.min(8);
    let counts: Vec<Arc<AtomicU64>> = (0..ports).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu_by_group();
    let start = Instant::now();
    let mut threads = Vec::new();
    for d in 0..drivers {
        let mine: Vec<(Port, Arc<AtomicU64>)> = (d..ports)
            .step_by(drivers)
            .map(|i| (handles[i].0.clone(), Arc::clone(&counts[i])))
            .collect();
        let stop = Arc::clone(&stop);
        threads.push(
            thread::Builder::new()
                .name(format!("bench-driver-{d}"))
                .spawn(move || {
                    // Closed loop: one `AT` in flight per port; this thread's ports in lock step.
                    while !stop.load(Ordering::Relaxed) {
                        let pending: Vec<_> = mine
                            .iter()
                            .map(|(p, _)| p.submit(Command::At, None).unwrap())
                            .collect();
                        for (pending, (_, c)) in pending.into_iter().zip(&mine) {
                            pending.wait().unwrap();
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .unwrap(),
        );
    }
    thread::sleep(dur);
    // CPU before the drivers exit (an exited thread leaves /proc/self/task).
    let cpu1 = cpu_by_group();
    let per: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let cpu = cpu1
        .iter()
        .map(|(k, v)| (k.clone(), v - cpu0.get(k).copied().unwrap_or(0.0)))
        .collect();
    drop(handles);
    drop(reactor);
    drop(sims);
    Scale {
        ports,
        total: per.iter().sum(),
        secs,
        min_port: per.iter().copied().min().unwrap_or(0),
        max_port: per.iter().copied().max().unwrap_or(0),
        cpu,
    }
}

fn many_ports(broker: &EmbeddedBroker, dur: Duration) {
    let rows: Vec<Scale> = [1, 8, 64]
        .into_iter()
        .map(|n| scale(broker, n, dur))
        .collect();
    let one = rows[0].total as f64 / rows[0].secs;
    println!("## 2. one reactor thread, N sims, closed-loop `AT` ({dur:?} each)");
    println!();
    println!(
        "| ports | aggregate cmd/s | per-port cmd/s | per-port vs 1 port | slowest / fastest port (commands in the window) | CPU s: reactor / sims / drivers / other | reactor CPU µs per cmd |"
    );
    println!("|---:|---:|---:|---:|---:|---|---:|");
    for r in &rows {
        let agg = r.total as f64 / r.secs;
        let per = agg / r.ports as f64;
        let g = |k: &str| r.cpu.get(k).copied().unwrap_or(0.0);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} % | {} / {} | {:.2} / {:.2} / {:.2} / {:.2} (wall {:.1}) | {:.1} |",
            r.ports,
            agg,
            per,
            100.0 * per / one,
            r.min_port,
            r.max_port,
            g("reactor"),
            g("sims"),
            g("drivers"),
            g("other (broker, main)"),
            r.secs,
            1e6 * g("reactor") / r.total.max(1) as f64,
        );
    }
    println!();
}

// ---- 3. flood ---------------------------------------------------------------------------------

fn flood(count: usize) {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = reactor
        .add_port(sim.pty_path(), PortConfig::default())
        .unwrap();
    expect_urc(&events, "RDY");
    ok(&port, "ATE0", None);
    ok(&port, "AT+QMTCFG=\"recv/mode\",0,0,1", None);
    ok(&port, "AT+QMTOPEN=0,\"broker.example.com\",1883", None);
    expect_urc(&events, "+QMTOPEN: 0,");
    ok(&port, "AT+QMTCONN=0,\"qmt-flood\"", None);
    expect_urc(&events, "+QMTCONN: 0,");
    ok(&port, "AT+QMTSUB=0,1,\"qmt/flood\",0", None);
    expect_urc(&events, "+QMTSUB: 0,1,");

    let before = rss_mib();
    let base = port.stats().urcs;
    let consumer = thread::spawn(move || {
        // Slow: 50 µs of "work" per event (a sleep, standing in for a database write). Done
        // when nothing arrived for 3 s (the burst is over; QoS 0 messages the broker or the
        // sim's bounded output dropped upstream never come).
        let mut received = 0u64;
        let mut lagged_events = 0u64;
        loop {
            match events.recv_timeout(Duration::from_secs(3)) {
                Ok(PortEvent::Urc(l)) => {
                    if let qmt_proto::ModuleLine::Urc(qmt_proto::Urc::Recv(_)) = l.parse() {
                        received += 1;
                    }
                    thread::sleep(Duration::from_micros(50));
                }
                Ok(PortEvent::Lagged { .. }) => lagged_events += 1,
                Ok(other) => panic!("{other:?}"),
                Err(_) => return (received, lagged_events, events.dropped()),
            }
        }
    });
    let t0 = Instant::now();
    sim.inject(Fault::Burst {
        topic: "qmt/flood".into(),
        count,
    })
    .unwrap();
    let mut peak: f64 = before;
    let mut samples = Vec::new();
    while !consumer.is_finished() {
        thread::sleep(Duration::from_millis(100));
        let r = rss_mib();
        peak = peak.max(r);
        samples.push((t0.elapsed(), r, port.stats().urcs - base));
    }
    let (received, lagged_events, dropped) = consumer.join().unwrap();
    let secs = t0.elapsed().as_secs_f64() - 3.0;
    let after = rss_mib();
    let delivered = port.stats().urcs - base;
    println!(
        "## 3. flood of {count} `+QMTRECV` into a slow consumer (URC queue 1024, drop oldest)"
    );
    println!();
    println!(
        "| RSS before | RSS peak during | RSS after | published | URCs into the queue | consumed | dropped (counted) | Lagged events | flood + drain time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {before:.1} MiB | {peak:.1} MiB | {after:.1} MiB | {count} | {delivered} | {received} | {dropped} | {lagged_events} | {secs:.1} s |"
    );
    println!();
    let step = (samples.len() / 8).max(1);
    let trace: Vec<String> = samples
        .iter()
        .step_by(step)
        .map(|(t, r, n)| format!("{:.1}s {r:.1}MiB {n}", t.as_secs_f64()))
        .collect();
    println!(
        "RSS samples (time, RSS, URCs so far): {}",
        trace.join(" | ")
    );
    println!();
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let broker = EmbeddedBroker::start().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# qmt-transport reactor bench ({} CPUs{}; load average at start: {})",
        thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { ", quick" } else { "" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["rtt", "scale", "flood"].contains(&a.as_str()))
        .collect();
    let run = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    if run("rtt") {
        round_trip(&broker, if quick { 300 } else { 2000 });
    }
    if run("scale") {
        many_ports(&broker, Duration::from_secs(if quick { 1 } else { 3 }));
    }
    if run("flood") {
        flood(if quick { 10_000 } else { 100_000 });
    }
}
