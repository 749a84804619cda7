//! Scale run (issue 8): ONE reactor thread serving M simulated modules × 6 clients each, every
//! client publishing and receiving at the same time, for M in 1, 8, 64. A bench that prints
//! figures; it asserts no wall-clock limit.
//!
//! ```text
//! cargo run -p qmt-client --release --example scale [-- --seconds N --modules 1,8,64]
//! cargo xtask scale [--seconds N] [--modules 1,8,64]
//! ```
//!
//! Options: `--seconds N` (timed window per M, default 10), `--modules A,B,…` (default 1,8,64),
//! `--warmup S` (seconds of load before the window, default 2), `--drain S` (longest wait for
//! in-flight messages after the publishers stop, default 5).
//!
//! Each M runs in a child process of its own (this binary, re-executed with `--child M`), so that
//! RSS, CPU and thread counts belong to that run only: rumqttd cannot be stopped, and the brokers
//! and sims of an earlier M would otherwise stay in the process. The child is started through
//! `/bin/sh -c 'ulimit -n <hard limit>'`, which raises the open-files soft limit to the hard one
//! without a libc dependency. The broker runs in a third process (`--broker`): rumqttd keeps the
//! messages of every topic in an in-memory commit log, which would otherwise grow the measured
//! RSS by a few hundred bytes per message; its CPU and RSS are reported apart.
//!
//! One run:
//! - one `EmbeddedBroker` (rumqttd, in its own process), M `Sim`s on it (each on its own pty,
//!   with its own mio thread), ONE `Reactor` shared by the M `Modem`s (`Modem::with_reactor`);
//! - each modem opens clients 0–5 (client id `scale-<m>-<c>`), connects them and subscribes
//!   client (m, c) to `scale/<m>/<c>` at QoS 1 (modems are set up in parallel, one thread each);
//! - client (m, c) publishes to the topic of client ((m + 1) mod M, c) — the next modem's client
//!   of the same index; with M = 1 its own topic — so every client publishes and receives;
//! - threads: one publisher thread and one receiver thread per client. Publishing is a closed
//!   loop: `Client::publish` at QoS 1 with a 64-byte payload (`<m> <c> <seq>` padded), so one
//!   publish is in flight per client; its duration (`AT+QMTPUBEX` → `> ` → payload → `OK` →
//!   `+QMTPUBEX: <idx>,<msgid>,0`, i.e. until the broker's PUBACK) is the latency sample;
//! - after `--warmup` seconds of load the window opens: counters, CPU per thread group (time on
//!   CPU from /proc/<pid>/task/*/schedstat) and RSS are read at both ends, RSS every second;
//! - then publishing stops, receivers drain for up to `--drain` seconds, and every publish that
//!   was acknowledged (`publish` returned `Ok`) must have been received by the subscriber of its
//!   topic: missing ones are reported as lost (QoS 1 duplicates are counted, allowed).
//!
//! Exit status 1 when a run cannot be set up or loses an acknowledged message; never because of
//! a figure.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::Reactor;
use qmt_client::{Client, ClientError, ClientOptions, Connection, Event, Modem, ModemConfig, Qos};
use qmt_sim::{BrokerChoice, EmbeddedBroker, Sim, SimConfig, SimHandle};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Clients per module (the module's six MQTT client indexes).
const CLIENTS: u8 = 6;
/// Payload size of every publish.
const PAYLOAD_LEN: usize = 64;
/// Stack of the bench's own threads (they hold little): keeps 768 of them cheap.
const BENCH_STACK: usize = 256 * 1024;
/// Clock ticks per second of /proc/*/stat times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

// ---- arguments ----------------------------------------------------------------------------------

struct Args {
    seconds: f64,
    modules: Vec<usize>,
    warmup: f64,
    drain: f64,
    child: Option<usize>,
    broker: bool,
    /// Pace every sim's serial line at this rate (`--baud`; not paced by default).
    baud: Option<u32>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 10.0,
        modules: vec![1, 8, 64],
        warmup: 2.0,
        drain: 5.0,
        child: None,
        broker: false,
        baud: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--drain" => args.drain = value()?.parse()?,
            "--child" => args.child = Some(value()?.parse()?),
            "--broker" => args.broker = true,
            "--baud" => args.baud = Some(value()?.parse()?),
            "--modules" => {
                args.modules = value()?
                    .split(',')
                    .map(|m| m.trim().parse::<usize>())
                    .collect::<std::result::Result<_, _>>()?;
            }
            "-h" | "--help" => {
                println!(
                    "scale [--seconds N] [--modules 1,8,64] [--warmup S] [--drain S] [--baud RATE]\n\
                     (see the top of qmt-client/examples/scale.rs)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    if args.modules.is_empty() || args.modules.contains(&0) {
        return Err("--modules needs one or more counts ≥ 1".into());
    }
    if args.seconds <= 0.0 {
        return Err("--seconds must be > 0".into());
    }
    Ok(args)
}

// ---- /proc --------------------------------------------------------------------------------------

/// Resident set size of process `pid` (`self` for this one), MiB.
fn rss_mib(pid: &str) -> f64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// The name and utime + stime (seconds) of a `/proc/…/stat` text.
fn stat_cpu(stat: &str) -> Option<(&str, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((stat.get(open + 1..close)?, ticks / TICKS))
}

/// The thread groups of the measured process CPU is reported for, in table order (the broker,
/// in a process of its own, is measured as a whole).
const GROUPS: [&str; 5] = ["reactor", "client", "sims", "bench", "other"];

/// The group of a thread, by its name (`comm`, at most 15 bytes).
fn group(comm: &str) -> &'static str {
    if comm == "qmt-reactor" {
        "reactor"
    } else if comm.starts_with("qmt-sim") {
        "sims"
    } else if comm.starts_with("qmt-") {
        // Per modem: qmt-dispatch, qmt-accept, qmt-timer (and short-lived helpers).
        "client"
    } else if comm.starts_with("scale") {
        // scale-tx-*, scale-rx-*, and the main thread (named after the binary).
        "bench"
    } else {
        "other"
    }
}

/// CPU seconds per thread group of process `pid` (`self` for this one): each thread's time on a
/// CPU (nanoseconds, exact) from /proc/<pid>/task/*/schedstat, its name from …/stat.
fn cpu_by_group(pid: &str) -> HashMap<&'static str, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let (Ok(stat), Ok(sched)) = (
            std::fs::read_to_string(t.path().join("stat")),
            std::fs::read_to_string(t.path().join("schedstat")),
        ) else {
            continue;
        };
        let on_cpu = sched
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<f64>().ok())
            .map(|ns| ns / 1e9);
        if let (Some((comm, ticks)), on_cpu) = (stat_cpu(&stat), on_cpu) {
            // Without schedstat (a kernel built without it), the tick-based times.
            *out.entry(group(comm)).or_insert(0.0) += on_cpu.unwrap_or(ticks);
        }
    }
    out
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, Iterator::count)
}

/// The soft and hard open-files limits (`None` = unlimited or unreadable).
fn nofile_limits() -> (Option<u64>, Option<u64>) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        return (None, None);
    };
    let mut v = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|s| s.parse::<u64>().ok());
    (v.next().flatten(), v.next().flatten())
}

fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

// ---- the broker, in a process of its own ----------------------------------------------------

/// `--broker`: runs an embedded broker, prints `BROKER <addr>`, and lives until stdin closes (the
/// run ended, or died).
fn broker_process() -> Result<()> {
    let broker = EmbeddedBroker::start()?;
    println!("BROKER {}", broker.addr());
    std::io::stdout().flush()?;
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    Ok(())
}

/// The broker process of a run: rumqttd keeps every message of a topic in its in-memory commit
/// log (up to `max_segment_size` × `max_segment_count`), so in the measured process its memory
/// would hide the driver's. Its CPU and RSS are read from /proc/<pid>.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    pid: String,
}

impl BrokerProcess {
    fn start() -> Result<BrokerProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--broker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id().to_string();
        let stdout = child.stdout.take().ok_or("the broker has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = match line.trim().strip_prefix("BROKER ") {
            Some(a) => a.parse()?,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the broker process did not start (said {line:?})").into());
            }
        };
        Ok(BrokerProcess { child, addr, pid })
    }

    /// CPU seconds of all its threads.
    fn cpu(&self) -> f64 {
        cpu_by_group(&self.pid).values().sum()
    }

    fn rss(&self) -> f64 {
        rss_mib(&self.pid)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- one run ------------------------------------------------------------------------------------

fn topic(m: usize, c: u8) -> String {
    format!("scale/{m}/{c}")
}

fn payload(m: usize, c: u8, seq: u64) -> Vec<u8> {
    let mut p = format!("{m} {c} {seq} ").into_bytes();
    p.resize(PAYLOAD_LEN, b'.');
    p
}

/// The sender (module, client) and sequence number in a payload.
fn parse_payload(p: &[u8]) -> Option<(usize, u8, u64)> {
    let s = std::str::from_utf8(p).ok()?;
    let mut it = s.split(' ');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// Latencies in log-linear buckets of microseconds: exact below 64 µs, then 64 buckets per power
/// of two (each < 1.6 % wide), up to 2^30 µs. Fixed size, so the bench's own bookkeeping does
/// not grow the RSS it measures.
struct Histogram {
    counts: Vec<u32>,
    n: u64,
    max: Duration,
}

const SUB_BUCKETS: u64 = 64;
const MAX_POW: u32 = 30;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; Self::index(u64::MAX) + 1],
            n: 0,
            max: Duration::ZERO,
        }
    }

    fn index(us: u64) -> usize {
        let us = us.min((1 << MAX_POW) - 1);
        if us < SUB_BUCKETS {
            return us as usize;
        }
        let shift = 63 - us.leading_zeros() - 6;
        ((u64::from(shift) + 1) * SUB_BUCKETS + (us >> shift) - SUB_BUCKETS) as usize
    }

    /// The middle of bucket `i`, in microseconds.
    fn value(i: usize) -> f64 {
        let i = i as u64;
        if i < SUB_BUCKETS {
            return i as f64;
        }
        let shift = i / SUB_BUCKETS - 1;
        let low = (SUB_BUCKETS + i % SUB_BUCKETS) << shift;
        low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = Self::index(us);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.n += 1;
        self.max = self.max.max(d);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
    }

    /// The `p` quantile (nearest rank), milliseconds.
    fn quantile_ms(&self, p: f64) -> f64 {
        let rank = ((p * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Self::value(i) / 1e3;
            }
        }
        0.0
    }
}

/// A set of sequence numbers, one bit each (they are dense: 1, 2, 3… per sender).
#[derive(Default)]
struct SeqSet {
    bits: Vec<u64>,
    dups: u64,
}

impl SeqSet {
    /// Sequence numbers beyond this are not ours (a corrupted payload): never a huge bit set.
    const LIMIT: u64 = 1 << 32;

    fn insert(&mut self, seq: u64) {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) != 0 {
            self.dups += 1;
        }
        self.bits[w] |= 1 << b;
    }

    fn contains(&self, seq: u64) -> bool {
        self.bits
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

/// What one publisher thread did.
struct Published {
    from: (usize, u8),
    /// The last sequence number published: 1..=last were, one at a time.
    last: u64,
    /// The publishes `publish` returned `Ok` for (PUBACK seen).
    acked: u64,
    /// Sequence numbers of the publishes that failed (all others were acknowledged).
    failed: HashSet<u64>,
    first_error: Option<String>,
    /// Latencies of the publishes that ended inside the timed window.
    latencies: Histogram,
}

/// What one receiver thread got.
struct Received {
    at: (usize, u8),
    /// Sequence numbers per sender.
    seqs: HashMap<(usize, u8), SeqSet>,
    /// Messages whose payload did not parse.
    foreign: u64,
    /// Messages the queues dropped (`Event::Lagged`).
    lagged: u64,
    /// Other events (link loss, failed publishes…), the first few described.
    other: u64,
    other_seen: Vec<String>,
}

/// One modem and its connected, subscribed clients.
type Ready = (Modem, Vec<(Client, Connection)>);

fn setup_modem(reactor: &Reactor, sim: &SimHandle, m: usize) -> std::result::Result<Ready, String> {
    let modem = Modem::with_reactor(reactor, sim.pty_path(), ModemConfig::default())
        .map_err(|e| format!("modem {m} ({}): {e}", sim.pty_path().display()))?;
    let mut clients = Vec::with_capacity(usize::from(CLIENTS));
    for c in 0..CLIENTS {
        let what = |step: &str, e: ClientError| format!("modem {m} client {c}: {step}: {e}");
        let options = ClientOptions::builder()
            .host("broker.example.com")
            .client_id(format!("scale-{m}-{c}"))
            .build()
            .map_err(|e| what("options", e))?;
        let (client, connection) = modem
            .client(i64::from(c), options)
            .map_err(|e| what("client", e))?;
        client.connect().map_err(|e| what("connect", e))?;
        let granted = client
            .subscribe(&[(&topic(m, c), Qos::AtLeastOnce)])
            .map_err(|e| what("subscribe", e))?;
        if granted.iter().any(|g| g.qos().is_none()) {
            return Err(format!("modem {m} client {c}: subscription refused"));
        }
        clients.push((client, connection));
    }
    Ok((modem, clients))
}

fn spawn_bench<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>> {
    Ok(thread::Builder::new()
        .name(name)
        .stack_size(BENCH_STACK)
        .spawn(f)?)
}

/// Counters shared by the bench threads.
#[derive(Default)]
struct Flags {
    stop: AtomicBool,
    stop_rx: AtomicBool,
    measuring: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
}

fn publisher(
    client: Client,
    from: (usize, u8),
    to: String,
    flags: Arc<Flags>,
    start: Arc<Barrier>,
) -> Published {
    let mut out = Published {
        from,
        last: 0,
        acked: 0,
        failed: HashSet::new(),
        first_error: None,
        latencies: Histogram::new(),
    };
    start.wait();
    let mut seq = 0u64;
    while !flags.stop.load(Ordering::Relaxed) {
        seq += 1;
        let body = payload(from.0, from.1, seq);
        let t = Instant::now();
        let r = client.publish(&to, body, Qos::AtLeastOnce, false);
        let took = t.elapsed();
        out.last = seq;
        if flags.measuring.load(Ordering::Relaxed) {
            out.latencies.record(took);
        }
        match r {
            Ok(()) => {
                out.acked += 1;
                flags.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                out.failed.insert(seq);
                if out.first_error.is_none() {
                    out.first_error = Some(e.to_string());
                }
            }
        }
    }
    out
}

fn receiver(connection: Connection, at: (usize, u8), flags: Arc<Flags>) -> Received {
    let mut out = Received {
        at,
        seqs: HashMap::new(),
        foreign: 0,
        lagged: 0,
        other: 0,
        other_seen: Vec::new(),
    };
    loop {
        match connection.recv_timeout(Duration::from_millis(500)) {
            Ok(Event::Message(msg)) => {
                flags.received.fetch_add(1, Ordering::Relaxed);
                match parse_payload(msg.payload()) {
                    Some((m, c, seq))
                        if msg.payload().len() == PAYLOAD_LEN && seq < SeqSet::LIMIT =>
                    {
                        out.seqs.entry((m, c)).or_default().insert(seq);
                    }
                    _ => out.foreign += 1,
                }
            }
            Ok(Event::Lagged { dropped, .. }) => out.lagged += dropped,
            Ok(other) => {
                out.other += 1;
                if out.other_seen.len() < 3 {
                    out.other_seen.push(format!("{other:?}"));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if flags.stop_rx.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    out
}

/// One run with `modules` modules; prints detail lines and one `ROW k=v …` line.
fn child(modules: usize, args: &Args) -> Result<()> {
    let rss_start = rss_mib("self");
    let (soft, hard) = nofile_limits();
    // Per module: sim pty master + slave, the host's open of the slave, the sim's epoll + waker,
    // 6 sockets (11; the broker's 6 are in its process, which inherits this limit); plus a
    // margin for the rest.
    let need = 20 * modules as u64 + 128;
    if soft.is_some_and(|s| s < need) {
        let fix = match hard {
            Some(h) if h < need => format!(
                "the hard limit is {h}: raise it (as root: `ulimit -Hn {need}`, or LimitNOFILE= \
                 / /etc/security/limits.conf) and run again"
            ),
            _ => format!("run `ulimit -n {need}` first"),
        };
        println!(
            "warning: open-files soft limit {} < ~{need} needed for {modules} modules; {fix}",
            soft.unwrap_or(0)
        );
    }

    let t_setup = Instant::now();
    let broker = BrokerProcess::start()?;
    let sims: Vec<SimHandle> = (0..modules)
        .map(|_| {
            Sim::start(SimConfig {
                broker: BrokerChoice::External(broker.addr),
                line: qmt_sim::LineConfig {
                    baud: args.baud,
                    latency: Duration::ZERO,
                },
                ..SimConfig::default()
            })
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("starting a sim: {e}"))?;
    let reactor = Reactor::start()?;
    // Modems in parallel (each one's start-up and six connects are serial on its AT channel).
    let ready: Vec<std::result::Result<Ready, String>> = thread::scope(|s| {
        let handles: Vec<_> = sims
            .iter()
            .enumerate()
            .map(|(m, sim)| {
                let reactor = &reactor;
                thread::Builder::new()
                    .name(format!("scale-setup-{m}"))
                    .stack_size(BENCH_STACK)
                    .spawn_scoped(s, move || setup_modem(reactor, sim, m))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err("a setup thread panicked".into())),
                Err(e) => Err(format!("cannot start a setup thread: {e}")),
            })
            .collect()
    });
    let mut modems = Vec::with_capacity(modules);
    let mut errors = Vec::new();
    for r in ready {
        match r {
            Ok(m) => modems.push(m),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        for e in errors.iter().take(5) {
            println!("setup error: {e}");
        }
        return Err(format!(
            "{} of {modules} modems failed to set up (first: {})",
            errors.len(),
            errors[0]
        )
        .into());
    }
    let setup_secs = t_setup.elapsed().as_secs_f64();
    let clients = modules * usize::from(CLIENTS);
    println!(
        "setup: broker (process {}) + {modules} sims + 1 reactor, {clients} clients connected and subscribed \
         in {setup_secs:.1} s; {} fds, {} threads (before the bench threads)",
        broker.pid,
        count_dir("/proc/self/fd"),
        count_dir("/proc/self/task"),
    );

    // One publisher and one receiver thread per client.
    let flags = Arc::new(Flags::default());
    let start = Arc::new(Barrier::new(clients + 1));
    let mut pubs = Vec::with_capacity(clients);
    let mut recvs = Vec::with_capacity(clients);
    let mut handles: Vec<(Modem, Vec<Client>)> = Vec::with_capacity(modules);
    for (m, (modem, cl)) in modems.into_iter().enumerate() {
        let mut keep = Vec::with_capacity(cl.len());
        for (c, (client, connection)) in (0..CLIENTS).zip(cl) {
            let to = topic((m + 1) % modules, c);
            let (f, b, cc) = (Arc::clone(&flags), Arc::clone(&start), client.clone());
            pubs.push(spawn_bench(format!("scale-tx-{m}-{c}"), move || {
                publisher(cc, (m, c), to, f, b)
            })?);
            let f = Arc::clone(&flags);
            recvs.push(spawn_bench(format!("scale-rx-{m}-{c}"), move || {
                receiver(connection, (m, c), f)
            })?);
            keep.push(client);
        }
        handles.push((modem, keep));
    }
    let (rss_ready, broker_rss_ready) = (rss_mib("self"), broker.rss());
    let load_start = loadavg();

    start.wait();
    thread::sleep(Duration::from_secs_f64(args.warmup));
    let (p0, r0) = (
        flags.published.load(Ordering::Relaxed),
        flags.received.load(Ordering::Relaxed),
    );
    let (cpu0, broker_cpu0) = (cpu_by_group("self"), broker.cpu());
    flags.measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    // RSS sampled every second of the window (how it grows, not only where it ends).
    let window_len = Duration::from_secs_f64(args.seconds);
    let mut rss_trace = vec![(rss_mib("self"), broker.rss())];
    while t0.elapsed() < window_len {
        let next = Duration::from_secs(rss_trace.len() as u64).min(window_len);
        thread::sleep(next.saturating_sub(t0.elapsed()));
        rss_trace.push((rss_mib("self"), broker.rss()));
    }
    let (cpu1, broker_cpu1) = (cpu_by_group("self"), broker.cpu());
    let (p1, r1) = (
        flags.published.load(Ordering::Relaxed),
        flags.received.load(Ordering::Relaxed),
    );
    let window = t0.elapsed().as_secs_f64();
    flags.measuring.store(false, Ordering::Relaxed);
    let (rss_end, broker_rss_end) = (rss_mib("self"), broker.rss());
    let threads = count_dir("/proc/self/task");
    let load_end = loadavg();

    // Stop publishing (each thread finishes the publish in flight), then drain.
    flags.stop.store(true, Ordering::Relaxed);
    let published: Vec<Published> = pubs
        .into_iter()
        .map(|h| h.join().map_err(|_| "a publisher thread panicked"))
        .collect::<std::result::Result<_, _>>()?;
    let acked_total: u64 = published.iter().map(|p| p.acked).sum();
    let drain_start = Instant::now();
    while flags.received.load(Ordering::Relaxed) < acked_total
        && drain_start.elapsed() < Duration::from_secs_f64(args.drain)
    {
        // A bounded drain wait in a bench's control thread.
        thread::sleep(Duration::from_millis(20));
    }
    // Late duplicates or stragglers: a short grace period.
    thread::sleep(Duration::from_millis(200));
    let drained = drain_start.elapsed().as_secs_f64();
    flags.stop_rx.store(true, Ordering::Relaxed);
    let received: Vec<Received> = recvs
        .into_iter()
        .map(|h| h.join().map_err(|_| "a receiver thread panicked"))
        .collect::<std::result::Result<_, _>>()?;

    // Every acknowledged publish must have reached the subscriber of its topic.
    let by_at: HashMap<(usize, u8), &Received> = received.iter().map(|r| (r.at, r)).collect();
    let (mut lost, mut dups, mut failed, mut unexpected) = (0u64, 0u64, 0u64, 0u64);
    let mut lost_examples = Vec::new();
    let none = SeqSet::default();
    for p in &published {
        failed += p.failed.len() as u64;
        let to = ((p.from.0 + 1) % modules, p.from.1);
        let got = by_at
            .get(&to)
            .and_then(|r| r.seqs.get(&p.from))
            .unwrap_or(&none);
        dups += got.dups;
        for seq in (1..=p.last).filter(|s| !p.failed.contains(s)) {
            if !got.contains(seq) {
                lost += 1;
                if lost_examples.len() < 5 {
                    lost_examples.push(format!("{}/{} seq {seq}", p.from.0, p.from.1));
                }
            }
        }
        if let Some(e) = &p.first_error {
            println!(
                "publisher {}/{}: {} failed publishes (first: {e})",
                p.from.0,
                p.from.1,
                p.failed.len()
            );
        }
    }
    for r in &received {
        let expected = ((r.at.0 + modules - 1) % modules, r.at.1);
        unexpected += r
            .seqs
            .iter()
            .filter(|(from, _)| **from != expected)
            .map(|(_, s)| {
                s.bits
                    .iter()
                    .map(|w| u64::from(w.count_ones()))
                    .sum::<u64>()
            })
            .sum::<u64>()
            + r.foreign;
    }
    let lagged: u64 = received.iter().map(|r| r.lagged).sum();
    let other: u64 = received.iter().map(|r| r.other).sum();
    if other > 0 {
        let seen: Vec<&String> = received
            .iter()
            .flat_map(|r| &r.other_seen)
            .take(3)
            .collect();
        println!("{other} other events on the connections, e.g. {seen:?}");
    }
    if lost > 0 {
        println!("LOST {lost} acknowledged publishes, e.g. {lost_examples:?}");
    }
    let received_total = flags.received.load(Ordering::Relaxed);
    println!(
        "check: {acked_total} acknowledged publishes, {received_total} messages received \
         (drained {drained:.1} s): lost {lost}, duplicates {dups}, failed publishes {failed}, \
         dropped by queues {lagged}, unexpected {unexpected}"
    );
    println!("load average: {load_start} at the start of the load, {load_end} at its end");
    let trace: Vec<String> = rss_trace.iter().map(|r| format!("{:.0}", r.0)).collect();
    let broker_trace: Vec<String> = rss_trace.iter().map(|r| format!("{:.0}", r.1)).collect();
    println!("RSS each second of the window, MiB: {}", trace.join(" "));
    println!(
        "broker process RSS each second, MiB: {}",
        broker_trace.join(" ")
    );
    println!(
        "RSS: {rss_start:.1} MiB at start, {rss_ready:.1} MiB set up (bench threads waiting), \
         {rss_end:.1} MiB at the end of the window; {threads} threads; broker process \
         {broker_rss_ready:.1} → {broker_rss_end:.1} MiB"
    );

    let mut lat = Histogram::new();
    for p in &published {
        lat.merge(&p.latencies);
    }
    let cpu = |g: &str| cpu1.get(g).copied().unwrap_or(0.0) - cpu0.get(g).copied().unwrap_or(0.0);
    let mut row = vec![
        ("modules", modules as f64),
        ("clients", clients as f64),
        ("window", window),
        ("published", (p1 - p0) as f64),
        ("received", (r1 - r0) as f64),
        ("samples", lat.n as f64),
        ("p50", lat.quantile_ms(0.50)),
        ("p99", lat.quantile_ms(0.99)),
        ("max", lat.max.as_secs_f64() * 1e3),
        ("broker", broker_cpu1 - broker_cpu0),
        (
            "cpu_total",
            GROUPS.iter().map(|g| cpu(g)).sum::<f64>() + broker_cpu1 - broker_cpu0,
        ),
        ("rss_start", rss_start),
        ("rss_ready", rss_ready),
        ("rss_end", rss_end),
        ("broker_rss_ready", broker_rss_ready),
        ("broker_rss_end", broker_rss_end),
        ("threads", threads as f64),
        ("setup", setup_secs),
        ("acked", acked_total as f64),
        ("lost", lost as f64),
        ("dups", dups as f64),
        ("failed", failed as f64),
        ("lagged", lagged as f64),
        ("unexpected", unexpected as f64),
    ];
    for g in GROUPS {
        row.push((g, cpu(g)));
    }
    let row: Vec<String> = row.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("ROW {}", row.join(" "));

    // Orderly end: disconnect nobody (the process ends); drop the modems, then the sims.
    drop(handles);
    drop(reactor);
    drop(sims);
    Ok(())
}

// ---- the parent: one child per M, one table -----------------------------------------------------

/// Runs `--child modules` in a process of its own (open-files soft limit raised to the hard one
/// by the shell), echoing its detail lines; its `ROW` as numbers.
fn run_child(modules: usize, args: &Args) -> Result<HashMap<String, f64>> {
    let exe = std::env::current_exe()?;
    let mut child_args = vec![
        "--child".to_string(),
        modules.to_string(),
        "--seconds".into(),
        args.seconds.to_string(),
        "--warmup".into(),
        args.warmup.to_string(),
        "--drain".into(),
        args.drain.to_string(),
    ];
    if let Some(b) = args.baud {
        child_args.extend(["--baud".to_string(), b.to_string()]);
    }
    let mut cmd = if std::path::Path::new("/bin/sh").exists() {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(
                r#"h=$(ulimit -Hn); [ "$h" = unlimited ] || ulimit -n "$h" 2>/dev/null; exec "$0" "$@""#,
            )
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let mut child = cmd
        .args(&child_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the child has no stdout")?;
    let mut row = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        match line.strip_prefix("ROW ") {
            Some(fields) => {
                row = Some(
                    fields
                        .split_whitespace()
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            Some((k.to_owned(), v.parse().ok()?))
                        })
                        .collect(),
                );
            }
            None => println!("  [M={modules}] {line}"),
        }
    }
    let status = child.wait()?;
    match row {
        Some(r) if status.success() => Ok(r),
        _ => Err(format!("the run with {modules} modules failed ({status})").into()),
    }
}

fn parent(args: &Args) -> Result<bool> {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let (soft, hard) = nofile_limits();
    let show = |l: Option<u64>| l.map_or_else(|| "unlimited".into(), |v| v.to_string());
    println!(
        "# qmt scale run: {} modules × {CLIENTS} clients, one reactor thread; {} s window after \
         {} s warm-up; QoS 1, {PAYLOAD_LEN}-byte payloads; serial line {}",
        args.modules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        args.seconds,
        args.warmup,
        args.baud.map_or_else(
            || "not paced (pty speed)".to_owned(),
            |b| format!("paced at {b} baud")
        )
    );
    println!(
        "# {cpus} CPUs; load average at start: {}; open files soft/hard {}/{} (children run with \
         soft = hard)",
        loadavg(),
        show(soft),
        show(hard)
    );
    println!(
        "# threads: one publisher + one receiver thread per client (closed loop, one publish in \
         flight per client); client (m,c) publishes to scale/((m+1) mod M)/c"
    );
    println!();
    let mut rows = Vec::new();
    let mut ok = true;
    for &m in &args.modules {
        match run_child(m, args) {
            Ok(r) => {
                if r.get("lost").copied().unwrap_or(0.0) > 0.0 {
                    ok = false;
                }
                rows.push(r);
            }
            Err(e) => {
                println!("  [M={m}] FAILED: {e}");
                ok = false;
            }
        }
    }
    let load_end = loadavg();
    let g = |r: &HashMap<String, f64>, k: &str| r.get(k).copied().unwrap_or(0.0);

    println!();
    println!(
        "| modules | clients | publishes/s | per-client pub/s | received/s | p50 ms | p99 ms | max ms | reactor CPU % | total CPU % | RSS MiB (ready → end) | lost |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let w = g(r, "window").max(1e-9);
        let pubs = g(r, "published") / w;
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} → {:.1} | {} |",
            g(r, "modules"),
            g(r, "clients"),
            pubs,
            pubs / g(r, "clients").max(1.0),
            g(r, "received") / w,
            g(r, "p50"),
            g(r, "p99"),
            g(r, "max"),
            100.0 * g(r, "reactor") / w,
            100.0 * g(r, "cpu_total") / w,
            g(r, "rss_ready"),
            g(r, "rss_end"),
            g(r, "lost"),
        );
    }
    println!();
    println!(
        "CPU % of one core over the window, per thread group of the measured process, and the \
         broker process (total = both processes; {cpus} cores = {}%):",
        cpus * 100
    );
    println!();
    println!(
        "| modules | reactor | client (dispatch/accept/timer) | sims | bench (pub/rx threads) | other | broker process | total | reactor µs/publish | total CPU µs/publish | threads | setup s | broker RSS MiB (ready → end) | acked | dups | failed | dropped |"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let w = g(r, "window").max(1e-9);
        let n = g(r, "published").max(1.0);
        let pct = |k: &str| 100.0 * g(r, k) / w;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} → {:.1} | {} | {} | {} | {} |",
            g(r, "modules"),
            pct("reactor"),
            pct("client"),
            pct("sims"),
            pct("bench"),
            pct("other"),
            pct("broker"),
            pct("cpu_total"),
            1e6 * g(r, "reactor") / n,
            1e6 * g(r, "cpu_total") / n,
            g(r, "threads"),
            g(r, "setup"),
            g(r, "broker_rss_ready"),
            g(r, "broker_rss_end"),
            g(r, "acked"),
            g(r, "dups"),
            g(r, "failed"),
            g(r, "lagged"),
        );
    }
    if let Some(first) = rows.first() {
        println!();
        println!(
            "Growth vs {} module(s): publishes/s, per-client publishes/s, p50, p99, RSS at end",
            g(first, "modules")
        );
        for r in &rows {
            let rate = |x: &HashMap<String, f64>| g(x, "published") / g(x, "window").max(1e-9);
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            println!(
                "  {:>3} modules: ×{:.2} pub/s, ×{:.3} per client, ×{:.1} p50, ×{:.1} p99, ×{:.2} RSS",
                g(r, "modules"),
                ratio(rate(r), rate(first)),
                ratio(
                    rate(r) / g(r, "clients").max(1.0),
                    rate(first) / g(first, "clients").max(1.0)
                ),
                ratio(g(r, "p50"), g(first, "p50")),
                ratio(g(r, "p99"), g(first, "p99")),
                ratio(g(r, "rss_end"), g(first, "rss_end")),
            );
        }
    }
    println!();
    println!("load average at end: {load_end}");
    Ok(ok)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| match args.child {
        _ if args.broker => broker_process().map(|()| true),
        Some(m) => child(m, &args).map(|()| true),
        None => parent(&args),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}
