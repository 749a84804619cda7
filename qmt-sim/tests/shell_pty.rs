//! The shell's serial side: the pty, output splitting, fault forwarding, the core's timer.

mod support;

use std::time::{Duration, Instant};

use qmt_sim::{Fault, Sim, SimConfig};
use support::AtPort;
use support::cores::{EchoCore, NetCore};

const T: Duration = Duration::from_secs(5);

fn echo_sim() -> qmt_sim::SimHandle {
    support::ok(
        Sim::start_with(SimConfig::default(), |_| EchoCore::default()),
        "sim",
    )
}

#[test]
fn pty_path_opens_and_bytes_flow_both_ways() {
    let sim = echo_sim();
    assert!(
        sim.pty_path().starts_with("/dev/pts"),
        "{:?}",
        sim.pty_path()
    );
    let mut port = AtPort::open(sim.pty_path());
    port.send("AT");
    let got = port.read_exact_timed(3, T);
    let bytes: Vec<u8> = got.into_iter().flat_map(|(_, b)| b).collect();
    assert_eq!(bytes, b"AT\r");
}

#[test]
fn host_can_close_and_reopen_the_port() {
    let sim = echo_sim();
    for round in 0..3 {
        let mut port = AtPort::open(sim.pty_path());
        let line = format!("ROUND{round}");
        port.send(&line);
        let bytes: Vec<u8> = port
            .read_exact_timed(line.len() + 1, T)
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect();
        assert_eq!(bytes, format!("{line}\r").as_bytes(), "round {round}");
        drop(port);
        // While no host has the port open the sim keeps serving (no EIO on the master).
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn output_written_while_no_host_is_attached_waits_for_the_next_host() {
    let sim = echo_sim();
    {
        let mut port = AtPort::open(sim.pty_path());
        port.send_raw(b"X");
        let _ = port.read_exact_timed(1, T);
    }
    sim.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into())).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut port = AtPort::open(sim.pty_path());
    let line = port.expect_line(|l| l.starts_with("+QMTSTAT"), T);
    assert_eq!(line, "+QMTSTAT: 0,1");
}

#[test]
fn line_level_faults_are_forwarded_to_the_core() {
    let sim = echo_sim();
    let mut port = AtPort::open(sim.pty_path());
    sim.inject(Fault::StrayUrc("+QMTSTAT: 3,1".into())).unwrap();
    assert_eq!(port.expect_line(|_| true, T), "+QMTSTAT: 3,1");
    sim.inject(Fault::PowerCycle).unwrap();
    assert_eq!(port.expect_line(|_| true, T), "+FAULT: PowerCycle");
    // Shell-level faults are the shell's: the core never sees them.
    sim.inject(Fault::DnsRestore).unwrap();
    sim.inject(Fault::BrokerResume(None)).unwrap();
    sim.inject(Fault::StrayUrc("after".into())).unwrap();
    assert_eq!(port.expect_line(|_| true, T), "after");
}

#[test]
fn split_writes_cut_output_into_delayed_chunks() {
    let sim = echo_sim();
    let mut port = AtPort::open(sim.pty_path());
    sim.inject(Fault::SplitWrites {
        max_chunk: 4,
        delay_ms: 60,
    })
    .unwrap();
    let msg = b"0123456789AB"; // 12 bytes: 3 chunks of 4
    let start = Instant::now();
    port.send_raw(msg);
    let got = port.read_exact_timed(msg.len(), T);
    let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(bytes, msg);
    assert!(got.iter().all(|(_, b)| b.len() <= 4), "{got:?}");
    let elapsed = got.last().unwrap().0.duration_since(start);
    // Three writes, 60 ms apart: at least ~120 ms from the first to the last.
    assert!(elapsed >= Duration::from_millis(110), "{elapsed:?}");
    // The loop is not blocked while it waits: a fault is served between chunks.
    sim.inject(Fault::SplitWrites {
        max_chunk: 0,
        delay_ms: 0,
    })
    .unwrap();
    port.send_raw(msg);
    let got = port.read_exact_timed(msg.len(), T);
    let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(bytes, msg);
}

#[test]
fn split_writes_do_not_stall_input() {
    let sim = echo_sim();
    let mut port = AtPort::open(sim.pty_path());
    sim.inject(Fault::SplitWrites {
        max_chunk: 1,
        delay_ms: 20,
    })
    .unwrap();
    // 20 bytes take ~400 ms to come out; input written meanwhile is read at once, in order.
    port.send_raw(b"abcdefghij");
    std::thread::sleep(Duration::from_millis(50));
    port.send_raw(b"klmnopqrst");
    let got = port.read_exact_timed(20, T);
    let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(bytes, b"abcdefghijklmnopqrst");
    assert!(
        got.len() >= 10,
        "expected many small writes, got {}",
        got.len()
    );
}

#[test]
fn initial_faults_apply_before_the_host_writes() {
    let config = SimConfig {
        initial_faults: vec![Fault::SplitWrites {
            max_chunk: 2,
            delay_ms: 30,
        }],
        ..SimConfig::default()
    };
    let sim = Sim::start_with(config, |_| EchoCore::default()).unwrap();
    let mut port = AtPort::open(sim.pty_path());
    port.send_raw(b"123456");
    let got = port.read_exact_timed(6, T);
    assert!(got.iter().all(|(_, b)| b.len() <= 2), "{got:?}");
}

#[test]
fn the_cores_deadline_drives_handle_timeout() {
    let sim = Sim::start_with(SimConfig::default(), |_| NetCore::new(None)).unwrap();
    let mut port = AtPort::open(sim.pty_path());
    let start = Instant::now();
    port.send("TIMER 150");
    assert_eq!(port.read_until_final(T), ["OK"]);
    let tick = port.expect_line(|l| l.starts_with("TICK"), T);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    // Woken by the deadline, not by polling: it fires close to the deadline.
    let late: u64 = tick["TICK ".len()..].parse().unwrap();
    // Generous for a loaded machine; without the deadline the loop would never wake at all.
    assert!(late < 1000, "timer fired {late} ms late");
}

#[test]
fn shutdown_stops_the_sim_and_inject_then_fails() {
    let mut sim = echo_sim();
    sim.shutdown();
    assert!(sim.inject(Fault::DnsRestore).is_err());
    sim.shutdown(); // idempotent
}

#[test]
fn the_real_module_answers_over_the_pty() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let mut port = AtPort::open(sim.pty_path());
    // Power-up: RDY was written before any host opened the port, and waited in the pty.
    port.expect_line(|l| l == "RDY", T);
    // Echo is on at power-up: the command comes back before its answer.
    port.send("AT");
    assert_eq!(port.read_until_final(T), ["AT", "OK"]);
    port.send("ATE0");
    assert_eq!(port.read_until_final(T), ["ATE0", "OK"]);
    port.send("AT+QMTCFG=\"keepalive\",0");
    assert_eq!(
        port.read_until_final(T),
        ["+QMTCFG: \"keepalive\",120", "OK"]
    );
    // A fault forwarded to the core shows up on the line.
    sim.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into())).unwrap();
    port.expect_line(|l| l == "+QMTSTAT: 0,1", T);
}
