//! Soak test (issue 8): the client against qmt-sim and a real broker for N minutes while a seeded
//! schedule injects faults, with publishers on both sides at QoS 0/1/2.
//!
//! ```text
//! cargo run -p qmt-client --release --example soak -- --minutes N --seed S [--broker B] [--damage]
//! cargo xtask soak [--minutes N] [--seed S] [--damage]  (cargo xtask ci runs 2 minutes of each)
//! ```
//!
//! - The broker: mosquitto when installed (`--broker auto`, the default; required with
//!   `QMT_REQUIRE_MOSQUITTO=1`), else the embedded rumqttd (`--broker embedded`), whose QoS 2
//!   forwarding duplicates a retransmitted PUBLISH, so module → peer QoS 2 duplicates are only
//!   reported with it.
//! - One `Sim` on it (`BrokerChoice::External`), a `Modem` with recovery on and two clients,
//!   both with clean session off and subscribed at QoS 2 to `soak/down`: client 0 receives inline
//!   (`recv/mode` 0), publishes to `soak/up` and keeps qmt's `timeout` default (20 s, no
//!   retransmission); client 1 receives through the module's slots (`recv/mode` 1), with a 3 s
//!   `pkt_timeout` (no retransmission either) so that stalls fail its CONNECTs and keep-alives. An rumqttc peer (clean session off) subscribes to `soak/up` at QoS 2 and
//!   publishes to `soak/down`. Payloads are `<dir>|<qos>|<seq>`.
//! - Faults, one every 2–6 s, chosen by a splitmix64 stream from `--seed`: broker close, broker
//!   stall (resumed 2–5 s later), garbage on the line, stray URCs for unused client indexes
//!   (harmless by design), split/delayed writes (off again 3–8 s later), power cycles, DNS failure
//!   + broker close (DNS restored 2–5 s later), full receive slots on client 1.
//! - With bring-up on (`NetworkConfig::default()`, the sim's default network: SIM ready, registered,
//!   context 1 active), the network faults too: `pdpdeact` on context 1, registration lost
//!   (regained 3–8 s later) and SIM removed (re-inserted 3–8 s later). Each is repaired by the
//!   client core's ladder on its own (`Event::Network` rungs, then `Stage::Up`), counted in the
//!   table. `SOAK_NO_NET_FAULTS=1` leaves the three out of the schedule (bring-up stays on).
//!   A power cycle while the SIM is out (the module boots without SIM; the sim keeps it out) is
//!   in the schedule too: bring-up's SIM stage fails, is said (`Event::NetworkFailed`) and tried
//!   again when `+CPIN: READY` comes (`SOAK_NO_SIM_OUT_POWER_CYCLE=1` leaves it out).
//! - After the run, faults stop (stall/DNS/split undone), publishers stop, and a drain period
//!   waits for outstanding messages.
//! - Checks (exit code 1 on failure): no QoS 1/2 message acknowledged to its sender (module:
//!   `publish` returned `Ok`; peer: PUBACK/PUBCOMP) is missing at a receiver, except messages the
//!   module had stored in its slots and lost in a power cycle *and* the client reported
//!   (`LagSource::ModuleRestart`; the slots are RAM, nothing can bring them back); no QoS 2
//!   message received twice; no panic in any thread (panic hook + joins); RSS peak after warm-up
//!   ≤ 2 × warm-up RSS + 64 MiB. QoS 1 duplicates are counted, allowed; so are QoS 2 duplicates
//!   of up publishes the client reported failed in doubt (a module restart cut them off; they
//!   are sent again after the reconnect, see `PublishFailure::in_doubt`). Publishes that failed
//!   (`Err` / `Event::PublishFailed`) are reported, not counted as lost.
//! - `SOAK_TRACE=1` prints a timeline (faults, events, every message) to stderr, for studying a
//!   failing seed; `SOAK_FAULT_LOG=1` prints the fault schedule after the table; `SOAK_AT=1` adds
//!   the AT traffic to the timeline; `SOAK_LOG=<filter>` (e.g. `qmt_sim=debug`) prints the
//!   `tracing` log, where the sim's MQTT packets show (the CONNACK's session-present flag, which
//!   no AT line carries).

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::sansio::{NetworkConfig, Rung, Stage};
use qmt_client::{BackoffConfig, RecoveryEvent, RecoveryPolicy};
use qmt_client::{
    ClientError, ClientOptions, Connection, Event, LagSource, Modem, ModemConfig, Qos,
};
use qmt_proto::cfg::MsgRecvMode;
use qmt_proto::params::ClientIdx;
use qmt_sim::{BrokerChoice, EmbeddedBroker, Fault, Sim, SimConfig};
use rumqttc::{Event as REvent, MqttOptions, Outgoing, Packet, QoS};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const UP: &str = "soak/up";
const DOWN: &str = "soak/down";
const PAGE: u64 = 4096;

static PANICS: AtomicU64 = AtomicU64::new(0);

/// `SOAK_TRACE=1`: print a timeline (faults, module events, messages) to stderr, to study a
/// failing seed.
fn timeline(started: Instant, what: std::fmt::Arguments<'_>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("SOAK_TRACE").is_some()) {
        eprintln!("{:>8.3}s {what}", started.elapsed().as_secs_f64());
    }
}

/// splitmix64: the seeded schedule's random stream.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// How many times each sequence number was seen. Dense (sequence numbers count up from 0) at
/// 2 bytes a message, so the soak's own bookkeeping (tens of thousands of messages) does not
/// blur the RSS bound the way hash sets did.
#[derive(Default)]
struct Seqs(Vec<u16>);

impl Seqs {
    fn add(&mut self, seq: u64) {
        let Ok(i) = usize::try_from(seq) else { return };
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = self.0[i].saturating_add(1);
    }
    fn has(&self, seq: u64) -> bool {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.0.get(i))
            .is_some_and(|c| *c > 0)
    }
    /// (sequence number, times seen), for those seen.
    fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0u64..)
            .zip(&self.0)
            .filter(|(_, c)| **c > 0)
            .map(|(s, c)| (s, u32::from(*c)))
    }
    fn len(&self) -> usize {
        self.iter().count()
    }
    /// Heap bytes held (the capacity), to tell the soak's own growth from the client's.
    fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<u16>()
    }
}

/// The largest sequence number a payload may carry (anything above is foreign).
const MAX_SEQ: u64 = 10_000_000;

/// UART damage on the serial line, both ways (`Fault::LineDamage`), with `--damage`: bytes per
/// million (issue 15: 1e-4 per byte).
const DAMAGE_PER_MILLION: u32 = 100;

/// A payload `<dir>|<qos>|<seq>|<check>`: the check (16 bits of FNV-1a over the rest) tells a
/// payload that was damaged on the line from a whole one, which no AT driver can (a flipped bit,
/// or damage on the host's side of a publish).
fn payload(dir: char, q: usize, seq: u64) -> String {
    let body = format!("{dir}|{q}|{seq}");
    let check = check(body.as_bytes());
    format!("{body}|{check:04x}")
}

fn check(bytes: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 16)) as u16
}

/// Counts for one direction.
#[derive(Default)]
struct Dir {
    /// Publishes attempted, per QoS.
    sent: [u64; 3],
    /// Acknowledged to the sender (QoS 0: written), per QoS: the sequence numbers.
    acked: [Seqs; 3],
    /// Failed publishes (error / PublishFailed), per QoS.
    failed: [u64; 3],
    /// Received: how many times each sequence number arrived, per QoS.
    received: [Seqs; 3],
    /// Received payloads that did not parse.
    foreign: u64,
    /// Received payloads of ours whose check failed: damaged on the line where no driver can see
    /// it (a flipped bit, or damage on the host's side of a publish).
    corrupted: u64,
}

impl Dir {
    /// Heap bytes of the sequence bookkeeping.
    fn heap_bytes(&self) -> usize {
        self.acked
            .iter()
            .chain(&self.received)
            .map(Seqs::heap_bytes)
            .sum()
    }

    fn receive(&mut self, payload: &[u8], dir: char) {
        if payload.starts_with(b"placeholder") {
            // FillRecvSlots' placeholders.
            self.foreign += 1;
            return;
        }
        let parsed = std::str::from_utf8(payload).ok().and_then(|s| {
            let (body, sum) = s.rsplit_once('|')?;
            if u16::from_str_radix(sum, 16).ok()? != check(body.as_bytes()) {
                return None;
            }
            let mut it = body.split('|');
            let d = it.next()?;
            let q: usize = it.next()?.parse().ok()?;
            let seq: u64 = it.next()?.parse().ok()?;
            (d.len() == 1 && d.starts_with(dir) && q < 3 && seq <= MAX_SEQ).then_some((q, seq))
        });
        match parsed {
            Some((q, seq)) => self.received[q].add(seq),
            None => self.corrupted += 1,
        }
    }
}

#[derive(Default)]
struct Stats {
    up: Dir,
    down: Dir,
    /// What client 1 (receive slots) got of the peer's messages; `down`'s sent/acked apply.
    slots: Dir,
    link_lost: u64,
    ping_timeouts: u64,
    restarts: u64,
    recovery_lost: u64,
    restored: u64,
    gave_up: u64,
    publish_failed_events: u64,
    lagged: u64,
    /// Stored messages the module lost in a restart before they were read, as the client
    /// reported them (`LagSource::ModuleRestart`, client 1).
    restart_lost: u64,
    not_connected: u64,
    /// Messages the client reported damaged on the line (`Event::MessageDamaged`), client 0 / 1.
    damaged: u64,
    damaged_slots: u64,
    faults: HashMap<&'static str, u64>,
    /// The ladder's events as client 0's connection heard them (client 1 hears the same).
    ladder: Ladder,
    /// The same, as client 1's connection heard them (a cross-check).
    ladder1: Ladder,
}

/// The recovery ladder's events (`Event::Network`, `Event::NetworkFailed`) seen on one
/// connection.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Ladder {
    pdp_reset: u64,
    wait_registration: u64,
    wait_sim: u64,
    radio_cycle: u64,
    module_reset: u64,
    /// Other bring-up stages heard after start-up (SIM, registration progress, PDP …).
    stages: u64,
    up: u64,
    failed: u64,
}

impl Ladder {
    fn count(&mut self, ev: &Event) {
        match ev {
            Event::Network(Stage::Repair(r)) => match r {
                Rung::PdpReset => self.pdp_reset += 1,
                Rung::WaitRegistration => self.wait_registration += 1,
                Rung::WaitSim => self.wait_sim += 1,
                Rung::RadioCycle => self.radio_cycle += 1,
                Rung::ModuleReset => self.module_reset += 1,
            },
            Event::Network(Stage::Up { .. }) => self.up += 1,
            Event::Network(_) => self.stages += 1,
            Event::NetworkFailed(_) => self.failed += 1,
            _ => {}
        }
    }
}

type Shared = Arc<Mutex<Stats>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn qos_of(i: u64) -> (usize, Qos, QoS) {
    match i % 3 {
        0 => (0, Qos::AtMostOnce, QoS::AtMostOnce),
        1 => (1, Qos::AtLeastOnce, QoS::AtLeastOnce),
        _ => (2, Qos::ExactlyOnce, QoS::ExactlyOnce),
    }
}

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE)
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> thread::JoinHandle<bool> {
    thread::Builder::new()
        .name(name.into())
        .spawn(move || catch_unwind(AssertUnwindSafe(f)).is_ok())
        .expect("spawn")
}

/// Which broker the soak runs against.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BrokerKind {
    /// mosquitto when installed (required with `QMT_REQUIRE_MOSQUITTO=1`), else the embedded one.
    Auto,
    /// Debian's mosquitto, started on a free port.
    Mosquitto,
    /// The embedded rumqttd. Known: rumqttd 0.20 forwards a QoS 2 PUBLISH the sender retransmits
    /// (DUP, same packet id, before PUBREL) as a second message, so the module → peer QoS 2
    /// duplicate check is only a warning with it.
    Embedded,
}

struct Args {
    minutes: f64,
    seed: u64,
    broker: BrokerKind,
    /// UART damage for the whole run (`--damage`, or `SOAK_DAMAGE=1`).
    damage: bool,
}

fn args() -> Result<Args> {
    let mut minutes = 2.0;
    let mut seed = None;
    let mut broker = BrokerKind::Auto;
    let mut damage = std::env::var("SOAK_DAMAGE").as_deref() == Ok("1");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => minutes = it.next().ok_or("--minutes N")?.parse()?,
            "--seed" => seed = Some(it.next().ok_or("--seed S")?.parse()?),
            "--damage" => damage = true,
            "--broker" => {
                broker = match it.next().as_deref() {
                    Some("auto") => BrokerKind::Auto,
                    Some("mosquitto") => BrokerKind::Mosquitto,
                    Some("embedded") => BrokerKind::Embedded,
                    _ => return Err("--broker auto|mosquitto|embedded".into()),
                }
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let seed = seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        SplitMix(t.as_nanos() as u64 ^ u64::from(std::process::id())).next()
    });
    Ok(Args {
        minutes,
        seed,
        broker,
        damage,
    })
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("SOAK_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("SOAK_LOG"))
            .with_writer(std::io::stderr)
            .init();
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "soak: {e}\nusage: soak [--minutes N] [--seed S] [--broker auto|mosquitto|embedded]"
            );
            return std::process::ExitCode::from(2);
        }
    };
    println!("soak: {} min, seed {}", args.minutes, args.seed);
    match run(&args) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            println!(
                "FAILED — re-run with: cargo xtask soak --minutes {} --seed {}",
                args.minutes, args.seed
            );
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            println!(
                "soak: setup error: {e}\nFAILED — re-run with: cargo xtask soak --minutes {} --seed {}",
                args.minutes, args.seed
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// Counts what one module client's event stream brings (`slots`: client 1, buffered mode).
fn module_events(
    conn: &Connection,
    stats: &Shared,
    stop: &AtomicBool,
    started: Instant,
    slots: bool,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(ev) = conn.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        match &ev {
            Event::Message(m) => timeline(
                started,
                format_args!(
                    "module {} <- msgid {:?} {}",
                    m.client_idx,
                    m.msgid,
                    m.payload().escape_ascii()
                ),
            ),
            other => timeline(started, format_args!("module event {other:?}")),
        }
        let mut st = lock(stats);
        if slots {
            st.ladder1.count(&ev);
        } else {
            st.ladder.count(&ev);
        }
        match ev {
            Event::Message(m) if slots => st.slots.receive(m.payload(), 'd'),
            Event::Message(m) => st.down.receive(m.payload(), 'd'),
            Event::LinkLost { .. } => st.link_lost += 1,
            Event::PingTimeout { .. } => st.ping_timeouts += 1,
            Event::ModuleRestarted => st.restarts += 1,
            Event::Recovery { event, .. } => match event {
                RecoveryEvent::Lost { .. } => st.recovery_lost += 1,
                RecoveryEvent::Restored { .. } => st.restored += 1,
                RecoveryEvent::GaveUp { .. } => st.gave_up += 1,
                RecoveryEvent::Retrying { .. } => {}
            },
            Event::PublishFailed { .. } => st.publish_failed_events += 1,
            Event::Lagged {
                dropped,
                source: LagSource::ModuleRestart,
            } => st.restart_lost += dropped,
            Event::Lagged { dropped, source } => {
                eprintln!("lagged: {dropped} from {source:?}");
                st.lagged += dropped;
            }
            Event::Retransmitting { .. } => {}
            Event::MessageDamaged { .. } if slots => st.damaged_slots += 1,
            Event::MessageDamaged { .. } => st.damaged += 1,
            // The ladder's rungs (with bring-up on): counted above.
            Event::NetworkFailed(e) => eprintln!("network failed: {e}"),
            Event::Network(_) => {}
        }
    }
}

#[allow(clippy::too_many_lines)]
fn run(args: &Args) -> Result<bool> {
    let started = Instant::now();
    let broker = Broker::start(args.broker)?;
    println!("broker: {}", broker.name());
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(broker.addr()),
        trace: std::env::var_os("SOAK_AT").map(|_| {
            Box::new(move |d: qmt_sim::TraceDir, b: &[u8]| {
                timeline(
                    started,
                    format_args!(
                        "AT {} {:?}",
                        if d == qmt_sim::TraceDir::Host {
                            ">>"
                        } else {
                            "<<"
                        },
                        String::from_utf8_lossy(b)
                    ),
                );
            }) as qmt_sim::TraceFn
        }),
        ..SimConfig::default()
    })?;
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: RecoveryPolicy {
                enabled: true,
                backoff: BackoffConfig {
                    initial: Duration::from_millis(200),
                    max: Duration::from_secs(2),
                    multiplier: 2,
                    jitter: 0.5,
                },
                max_attempts: None,
                seed: args.seed,
            },
            // Bring-up and the recovery ladder: the network faults below need them.
            network: Some(NetworkConfig::default()),
            ..ModemConfig::default()
        },
    )?;
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id("qmt-soak")
        .clean_session(false)
        .keep_alive(3)
        // No `timeout`: qmt's default for a persistent session (20 s, never retransmit).
        .build()?;
    let (client, conn) = modem.client(0, options)?;
    client.connect()?;
    client.subscribe(&[(DOWN, Qos::ExactlyOnce)])?;
    // Client 1 reads the same messages through the module's receive slots (recv/mode 1), the
    // path `FillRecvSlots` exercises.
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id("qmt-soak-slots")
        .clean_session(false)
        .keep_alive(3)
        // A short wait, so that stalls fail CONNECTs and keep-alives; never a retransmitted
        // CONNECT, which makes mosquitto discard the session (seed 18161055066406485480).
        .timeout(3, 0, false)
        .recv_mode(MsgRecvMode::Buffered, true)
        .build()?;
    let (client1, conn1) = modem.client(1, options)?;
    client1.connect()?;
    client1.subscribe(&[(DOWN, Qos::ExactlyOnce)])?;

    let stats: Shared = Arc::default();
    let stop_pub = Arc::new(AtomicBool::new(false));
    let stop_all = Arc::new(AtomicBool::new(false));

    // --- the rumqttc peer ------------------------------------------------------------------
    let mut popts = MqttOptions::new(
        "qmt-soak-peer",
        broker.addr().ip().to_string(),
        broker.addr().port(),
    );
    popts.set_keep_alive(Duration::from_secs(30));
    popts.set_clean_session(false);
    let (peer, mut peer_conn) = rumqttc::Client::new(popts, 1024);
    peer.subscribe(UP, QoS::ExactlyOnce)?;
    let damage_on = args.damage;
    if damage_on {
        // A publish whose topic was damaged on the host's side of the line goes elsewhere: the
        // peer listens everywhere to count it (its own `DOWN` publishes are skipped).
        peer.subscribe("#", QoS::AtMostOnce)?;
    }
    // Sequence numbers in the order of `peer.publish` calls, matched to Outgoing::Publish(pkid).
    let peer_order: Arc<Mutex<VecDeque<(usize, u64)>>> = Arc::default();
    let mut threads = Vec::new();
    {
        let stats = Arc::clone(&stats);
        let order = Arc::clone(&peer_order);
        let stop = Arc::clone(&stop_all);
        threads.push(spawn("peer-loop", move || {
            let mut by_pkid: HashMap<u16, (usize, u64)> = HashMap::new();
            for ev in peer_conn.iter() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                match ev {
                    Ok(REvent::Incoming(Packet::Publish(p))) => {
                        timeline(
                            started,
                            format_args!(
                                "peer <- PUBLISH pkid {} dup {} {}",
                                p.pkid,
                                p.dup,
                                p.payload.escape_ascii()
                            ),
                        );
                        let everywhere_copy = p.qos == QoS::AtMostOnce
                            && !p.payload.starts_with(b"u|0|")
                            && damage_on;
                        if p.topic == UP && everywhere_copy {
                            // The `#` subscription's copy of a QoS 1/2 message (mosquitto
                            // delivers one per matching subscription).
                        } else if p.topic == UP {
                            lock(&stats).up.receive(&p.payload, 'u');
                        } else if p.topic != DOWN {
                            // Damaged on the way: counted as a damaged up payload.
                            lock(&stats).up.corrupted += 1;
                        }
                    }
                    Ok(REvent::Outgoing(Outgoing::Publish(pkid))) => {
                        if pkid != 0 && by_pkid.contains_key(&pkid) {
                            continue; // a retransmission
                        }
                        let front = order.lock().ok().and_then(|mut o| o.pop_front());
                        if let Some((q, seq)) = front {
                            if q == 0 {
                                lock(&stats).down.acked[0].add(seq);
                            } else {
                                by_pkid.insert(pkid, (q, seq));
                            }
                        }
                    }
                    Ok(REvent::Incoming(Packet::PubAck(a))) => {
                        if let Some((q, seq)) = by_pkid.remove(&a.pkid) {
                            lock(&stats).down.acked[q].add(seq);
                        }
                    }
                    Ok(REvent::Incoming(Packet::PubComp(c))) => {
                        if let Some((q, seq)) = by_pkid.remove(&c.pkid) {
                            lock(&stats).down.acked[q].add(seq);
                        }
                    }
                    Ok(REvent::Incoming(p @ (Packet::ConnAck(_) | Packet::SubAck(_)))) => {
                        timeline(started, format_args!("peer <- {p:?}"));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        timeline(started, format_args!("peer: {e}"));
                        eprintln!("peer: {e}");
                        thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        }));
    }
    {
        let stats = Arc::clone(&stats);
        let order = Arc::clone(&peer_order);
        let stop = Arc::clone(&stop_pub);
        let peer = peer.clone();
        threads.push(spawn("peer-pub", move || {
            let mut seq = [0u64; 3];
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let (q, _, rq) = qos_of(i);
                i += 1;
                let s = seq[q];
                seq[q] += 1;
                // The order queue is pushed before publish so the event loop finds it.
                if let Ok(mut o) = order.lock() {
                    o.push_back((q, s));
                }
                lock(&stats).down.sent[q] += 1;
                if peer.publish(DOWN, rq, false, payload('d', q, s)).is_err() {
                    lock(&stats).down.failed[q] += 1;
                }
                thread::sleep(Duration::from_millis(40));
            }
        }));
    }

    // --- the module's receivers and publisher ---------------------------------------------------
    for (name, conn, slots) in [
        ("module-events", conn, false),
        ("slots-events", conn1, true),
    ] {
        let stats = Arc::clone(&stats);
        let stop = Arc::clone(&stop_all);
        threads.push(spawn(name, move || {
            module_events(&conn, &stats, &stop, started, slots);
        }));
    }
    {
        let stats = Arc::clone(&stats);
        let stop = Arc::clone(&stop_pub);
        let client = client.clone();
        threads.push(spawn("module-pub", move || {
            let mut seq = [0u64; 3];
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let (q, qos, _) = qos_of(i);
                i += 1;
                let s = seq[q];
                seq[q] += 1;
                lock(&stats).up.sent[q] += 1;
                match client.publish(UP, payload('u', q, s), qos, false) {
                    Ok(()) => {
                        lock(&stats).up.acked[q].add(s);
                    }
                    Err(ClientError::NotConnected) => {
                        let mut st = lock(&stats);
                        st.up.failed[q] += 1;
                        st.not_connected += 1;
                        drop(st);
                        thread::sleep(Duration::from_millis(100));
                    }
                    Err(_) => {
                        lock(&stats).up.failed[q] += 1;
                        thread::sleep(Duration::from_millis(50));
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    // --- RSS sampler -----------------------------------------------------------------------------
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let warmup = (total / 6).clamp(Duration::from_secs(5), Duration::from_secs(30));
    let rss_samples: Arc<Mutex<Vec<(Duration, u64)>>> = Arc::default();
    {
        let samples = Arc::clone(&rss_samples);
        let stop = Arc::clone(&stop_all);
        threads.push(spawn("rss", move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(mut s) = samples.lock() {
                    s.push((started.elapsed(), rss()));
                }
                thread::sleep(Duration::from_secs(1));
            }
        }));
    }

    // --- the fault schedule ---------------------------------------------------------------------
    let mut rng = SplitMix(args.seed);
    // Undo actions due at a time.
    let mut undo: Vec<(Instant, Fault)> = Vec::new();
    // Millisecond resolution: with whole seconds an undo (a broker resuming) and the next fault
    // landed in the same 50 ms tick one time in four, far more often than independent events do.
    let mut next_fault = Instant::now() + Duration::from_millis(rng.range(2_000, 6_000));
    let end = started + total;
    let mut fault_log = Vec::new();
    // UART damage for the whole run (issue 15) with `--damage`.
    if damage_on {
        println!(
            "line damage: {DAMAGE_PER_MILLION} byte(s) per million dropped, flipped or inserted, both ways"
        );
        sim.inject(Fault::LineDamage {
            per_million: DAMAGE_PER_MILLION,
            seed: args.seed,
        })?;
    } else {
        println!("line damage off (--damage turns it on)");
    }
    // The network faults (issue 14), unless `SOAK_NO_NET_FAULTS=1`.
    let net_faults = std::env::var("SOAK_NO_NET_FAULTS").as_deref() != Ok("1");
    if !net_faults {
        println!("network faults off (SOAK_NO_NET_FAULTS=1)");
    }
    // A power cycle while the SIM is out: the module boots without SIM, bring-up's SIM stage
    // fails (`SimNotInserted`, said) and the ladder tries again when the SIM is back.
    let sim_out_power_cycle = std::env::var("SOAK_NO_SIM_OUT_POWER_CYCLE").as_deref() != Ok("1");
    if !sim_out_power_cycle {
        println!("power cycles while the SIM is out: off (SOAK_NO_SIM_OUT_POWER_CYCLE=1)");
    }
    let mut sim_out = false;
    while Instant::now() < end {
        let now = Instant::now();
        undo.retain(|(at, f)| {
            if *at <= now {
                timeline(started, format_args!("undo {f:?}"));
                if *f == Fault::SimInserted {
                    sim_out = false;
                }
                let _ = sim.inject(f.clone());
                false
            } else {
                true
            }
        });
        let busy = !undo.is_empty();
        if now >= next_fault {
            next_fault = now + Duration::from_millis(rng.range(2_000, 6_000));
            let pick = rng.range(0, if net_faults { 10 } else { 7 });
            let (name, faults): (&'static str, Vec<Fault>) = match pick {
                0 => ("broker-close", vec![Fault::BrokerClose(None)]),
                1 if !busy => {
                    undo.push((
                        now + Duration::from_millis(rng.range(2_000, 5_000)),
                        Fault::BrokerResume(None),
                    ));
                    ("broker-stall", vec![Fault::BrokerStall(None)])
                }
                2 => {
                    let n = rng.range(1, 40) as usize;
                    let mut g: Vec<u8> = (0..n)
                        .map(|_| {
                            let b = rng.next() as u8;
                            // No CR/LF/'>' inside: one garbage line, no fake prompt.
                            if matches!(b, b'\r' | b'\n' | b'>') {
                                b'#'
                            } else {
                                b
                            }
                        })
                        .collect();
                    g.extend_from_slice(b"\r\n");
                    ("garbage", vec![Fault::Garbage(g)])
                }
                3 => {
                    let idx = rng.range(3, 5);
                    let line = match rng.range(0, 2) {
                        0 => format!("+QMTPING: {idx},1"),
                        1 => format!("+QMTSTAT: {idx},1"),
                        _ => format!("+QMTPUBEX: {idx},{},0", rng.range(1, 65535)),
                    };
                    ("stray-urc", vec![Fault::StrayUrc(line)])
                }
                4 if !busy => {
                    undo.push((
                        now + Duration::from_millis(rng.range(3_000, 8_000)),
                        Fault::SplitWrites {
                            max_chunk: 0,
                            delay_ms: 0,
                        },
                    ));
                    (
                        "split-writes",
                        vec![Fault::SplitWrites {
                            max_chunk: rng.range(1, 16) as usize,
                            delay_ms: rng.range(0, 3),
                        }],
                    )
                }
                5 if sim_out && !sim_out_power_cycle => ("skipped (power, SIM out)", Vec::new()),
                5 => ("power-cycle", vec![Fault::PowerCycle]),
                6 if !busy => {
                    undo.push((
                        now + Duration::from_millis(rng.range(2_000, 5_000)),
                        Fault::DnsRestore,
                    ));
                    (
                        "dns-failure",
                        vec![Fault::DnsFailure(None), Fault::BrokerClose(None)],
                    )
                }
                7 => (
                    "fill-recv-slots",
                    vec![Fault::FillRecvSlots(ClientIdx::new(1)?)],
                ),
                // The network takes context 1 away: `+QIURC: "pdpdeact",1`, both clients drop.
                8 => ("pdpdeact", vec![Fault::PdpDeact { cid: 1 }]),
                // Coverage lost (searching, the bearer with it), back 3–8 s later.
                9 if !busy => {
                    undo.push((
                        now + Duration::from_millis(rng.range(3_000, 8_000)),
                        Fault::RegistrationRegained,
                    ));
                    ("registration-lost", vec![Fault::RegistrationLost])
                }
                // The SIM pulled out (registration and bearer gone), back 3–8 s later.
                10 if !busy => {
                    undo.push((
                        now + Duration::from_millis(rng.range(3_000, 8_000)),
                        Fault::SimInserted,
                    ));
                    sim_out = true;
                    ("sim-removed", vec![Fault::SimRemoved])
                }
                _ => ("skipped (undo pending)", Vec::new()),
            };
            timeline(started, format_args!("fault {name}"));
            for f in faults {
                sim.inject(f)?;
            }
            *lock(&stats).faults.entry(name).or_default() += 1;
            fault_log.push(format!("{:>6.1}s {name}", started.elapsed().as_secs_f64()));
        }
        thread::sleep(Duration::from_millis(50));
    }

    // --- drain -------------------------------------------------------------------------------------
    for (_, f) in undo.drain(..) {
        sim.inject(f)?;
    }
    sim.inject(Fault::BrokerResume(None))?;
    sim.inject(Fault::LineDamage {
        per_million: 0,
        seed: 0,
    })?;
    sim.inject(Fault::DnsRestore)?;
    sim.inject(Fault::RegistrationRegained)?;
    sim.inject(Fault::SimInserted)?;
    sim.inject(Fault::SplitWrites {
        max_chunk: 0,
        delay_ms: 0,
    })?;
    stop_pub.store(true, Ordering::SeqCst);
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    let missing = |st: &Stats| -> usize {
        [
            (&st.up, &st.up),
            (&st.down, &st.down),
            (&st.down, &st.slots),
        ]
        .iter()
        .map(|(d, r)| {
            (1..3)
                .map(|q| {
                    d.acked[q]
                        .iter()
                        .filter(|(s, _)| !r.received[q].has(*s))
                        .count()
                })
                .sum::<usize>()
        })
        .sum()
    };
    // At least 5 s, then until nothing acknowledged is missing or 30 s have passed.
    thread::sleep(Duration::from_secs(5));
    while Instant::now() < drain_deadline && missing(&lock(&stats)) > 0 {
        thread::sleep(Duration::from_millis(500));
    }
    stop_all.store(true, Ordering::SeqCst);
    // The peer loop ends on its next event; a ping keeps events coming.
    let _ = peer.disconnect();
    let mut thread_panics = 0;
    for t in threads {
        if !t.join().unwrap_or(false) {
            thread_panics += 1;
        }
    }

    // --- summary -----------------------------------------------------------------------------------
    let st = lock(&stats);
    let mut ok = true;
    println!("\nfaults injected:");
    let mut fk: Vec<_> = st.faults.iter().collect();
    fk.sort();
    for (k, v) in fk {
        println!("  {k:<24} {v}");
    }
    println!(
        "\n{:<22} {:>3} {:>7} {:>7} {:>7} {:>8} {:>7} {:>5} {:>7}",
        "direction", "QoS", "sent", "acked", "failed", "received", "unique", "dups", "LOST"
    );
    let mut problems = Vec::new();
    // Worth knowing, never a failure.
    let mut notes = Vec::new();
    let mut slots_missing = 0u64;
    let mut slot_losses: Vec<String> = Vec::new();
    // With line damage: acknowledged messages missing per direction (up, down), and their lines.
    let mut damage_missing = [0u64; 2];
    let mut damage_losses: Vec<String> = Vec::new();
    for (name, d, r) in [
        ("module -> peer (up)", &st.up, &st.up),
        ("peer -> module 0 (URC)", &st.down, &st.down),
        ("peer -> module 1 (slots)", &st.down, &st.slots),
    ] {
        for q in 0..3 {
            let received: u32 = r.received[q].iter().map(|(_, c)| c).sum();
            let unique = r.received[q].len();
            let dups: u32 = r.received[q].iter().map(|(_, c)| c - 1).sum();
            let mut lost: Vec<u64> = if q == 0 {
                Vec::new()
            } else {
                d.acked[q]
                    .iter()
                    .map(|(s, _)| s)
                    .filter(|s| !r.received[q].has(*s))
                    .collect()
            };
            lost.sort_unstable();
            println!(
                "{:<22} {:>3} {:>7} {:>7} {:>7} {:>8} {:>7} {:>5} {:>7}",
                name,
                q,
                d.sent[q],
                d.acked[q].len(),
                d.failed[q],
                received,
                unique,
                dups,
                if q == 0 {
                    "-".into()
                } else {
                    lost.len().to_string()
                }
            );
            // Client 1's stored messages die with the module's RAM in a power cycle; the client
            // reports each (LagSource::ModuleRestart). Only unreported losses fail the run.
            let slots = std::ptr::eq(r, &st.slots);
            if slots {
                slots_missing += lost.len() as u64;
            }
            if !lost.is_empty() {
                ok &= slots || damage_on;
                let line = format!(
                    "{name} QoS {q}: {} acknowledged message(s) never arrived: seq {:?}{}",
                    lost.len(),
                    &lost[..lost.len().min(20)],
                    if slots {
                        " (stored in the module's slots: see the restart report below)"
                    } else {
                        ""
                    }
                );
                // Judged below, against what the client reported lost in restarts.
                if slots {
                    slot_losses.push(line);
                } else if damage_on {
                    // Judged below, against what line damage explains.
                    damage_missing[usize::from(!std::ptr::eq(d, &st.up))] += lost.len() as u64;
                    damage_losses.push(line);
                } else {
                    problems.push(line);
                }
            }
            // rumqttd forwards a retransmitted QoS 2 PUBLISH again (see BrokerKind::Embedded).
            let broker_dup = broker.is_embedded() && std::ptr::eq(d, &st.up);
            if q == 2 && dups > 0 {
                let mut seqs: Vec<u64> = r.received[q]
                    .iter()
                    .filter(|(_, c)| *c > 1)
                    .map(|(s, _)| s)
                    .collect();
                seqs.sort_unstable();
                // A publish the client reported failed in doubt (`PublishFailure::in_doubt`: a
                // module restart cut it off with no result) is sent again with its id after the
                // reconnect, so that the broker's half of the handshake is finished: if the
                // broker had finished it already, it arrives twice. The application was told;
                // only duplicates of publishes that returned `Ok` break exactly-once.
                let up = std::ptr::eq(d, &st.up);
                let (doubted, confirmed): (Vec<u64>, Vec<u64>) =
                    seqs.iter().partition(|s| up && !d.acked[q].has(**s));
                if !doubted.is_empty() {
                    notes.push(format!(
                        "{name} QoS 2: {} duplicate(s) of publishes reported failed in doubt \
                         (sent again after a module restart; not a failure): seq {:?}",
                        doubted.len(),
                        &doubted[..doubted.len().min(20)]
                    ));
                }
                if !confirmed.is_empty() {
                    ok &= broker_dup;
                    problems.push(format!(
                        "{name} QoS 2: {} duplicate(s): seq {:?}{}",
                        confirmed.len(),
                        &confirmed[..confirmed.len().min(20)],
                        if broker_dup {
                            " (not counted: rumqttd forwards QoS 2 retransmissions; use mosquitto)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        if r.foreign > 0 {
            notes.push(format!(
                "{name}: {} FillRecvSlots placeholder(s)",
                r.foreign
            ));
        }
        if r.corrupted > 0 {
            notes.push(format!(
                "{name}: {} payload(s) damaged on the line where no driver can see it (check failed)",
                r.corrupted
            ));
            ok &= damage_on;
        }
    }
    // A message acknowledged and then lost to line damage is either reported by the client
    // (`Event::MessageDamaged`) or arrives with a failed check; nothing else may be missing.
    for (i, (name, budget)) in [
        ("module -> peer (up)", st.up.corrupted),
        ("peer -> module 0 (URC)", st.down.corrupted + st.damaged),
    ]
    .into_iter()
    .enumerate()
    {
        if damage_missing[i] == 0 {
            continue;
        }
        let explained = damage_missing[i] <= budget;
        ok &= explained;
        let list = if explained { &mut notes } else { &mut problems };
        list.push(format!(
            "{name}: {} QoS 1/2 message(s) missing, {budget} damaged on the line (reported or \
             failing their check): {}",
            damage_missing[i],
            if explained {
                "each can be a damaged one (line damage; not a failure)"
            } else {
                "MORE MISSING THAN DAMAGED"
            }
        ));
    }
    if !damage_losses.is_empty() {
        let explained = damage_missing[0] <= st.up.corrupted
            && damage_missing[1] <= st.down.corrupted + st.damaged;
        let list = if explained { &mut notes } else { &mut problems };
        list.append(&mut damage_losses);
    }
    if slots_missing > 0 {
        let budget = st.restart_lost
            + if damage_on {
                st.slots.corrupted + st.damaged_slots
            } else {
                0
            };
        let reported = slots_missing <= budget;
        ok &= reported;
        let list = if reported { &mut notes } else { &mut problems };
        list.append(&mut slot_losses);
        list.push(format!(
            "client 1: {slots_missing} QoS 1/2 message(s) missing, {} stored message(s) (any QoS) \
             reported lost in module restarts, {} damaged on the line: {}",
            st.restart_lost,
            st.slots.corrupted + st.damaged_slots,
            if reported {
                "every loss was reported (the module's slots are RAM; not a failure)"
            } else {
                "UNREPORTED LOSS"
            }
        ));
    }
    println!(
        "\nmodule events: link lost {}, ping timeouts {}, module restarts {}, recovery: lost {} restored {} gave up {}; \
         PublishFailed events {}; NotConnected refusals {}; lagged {}; \
         stored messages lost in restarts {}; broker resends dropped after a reconnect {}",
        st.link_lost,
        st.ping_timeouts,
        st.restarts,
        st.recovery_lost,
        st.restored,
        st.gave_up,
        st.publish_failed_events,
        st.not_connected,
        st.lagged,
        st.restart_lost,
        modem.stats().redeliveries_dropped
    );

    let l = st.ladder;
    println!(
        "\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}\n{:<34} {:>8}",
        "network ladder (client 0 heard)",
        "events",
        "  rung: PDP reset",
        l.pdp_reset,
        "  rung: wait for registration",
        l.wait_registration,
        "  rung: wait for the SIM",
        l.wait_sim,
        "  rung: radio cycle",
        l.radio_cycle,
        "  rung: module reset",
        l.module_reset,
        "  other stages (SIM, reg., PDP)",
        l.stages,
        "  Up (bearer repaired)",
        l.up,
        "  repairs failed (tried again)",
        l.failed
    );
    if st.ladder1 != l {
        notes.push(format!(
            "client 1 heard other ladder events than client 0: PDP reset {}, wait registration {}, \
             radio cycle {}, module reset {}, stages {}, Up {}, NetworkFailed {}",
            st.ladder1.pdp_reset,
            st.ladder1.wait_registration,
            st.ladder1.radio_cycle,
            st.ladder1.module_reset,
            st.ladder1.stages,
            st.ladder1.up,
            st.ladder1.failed
        ));
    }
    // A failed repair is said and tried again (a SIM out longer than a retry, a power cycle while
    // it is out): not a failure of the run. What counts is that the clients came back, which
    // the delivery checks and the final state below show.

    let samples = rss_samples.lock().map(|s| s.clone()).unwrap_or_default();
    let base = samples
        .iter()
        .find(|(t, _)| *t >= warmup)
        .map_or(0, |(_, r)| *r);
    let peak = samples
        .iter()
        .filter(|(t, _)| *t >= warmup)
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(0);
    let bound = 2 * base + 64 * 1024 * 1024;
    // The curve at each fifth of the run: growth that levels off vs growth that goes on.
    let trend: Vec<String> = (1..=5)
        .filter_map(|k| samples.get((samples.len() * k / 5).saturating_sub(1)))
        .map(|(t, r)| format!("{:.0} s {:.1}", t.as_secs_f64(), *r as f64 / 1048576.0))
        .collect();
    println!("RSS curve (MiB): {}", trend.join(" → "));
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    // The soak's own per-message bookkeeping grows with the run (2 bytes per sequence number,
    // per QoS, direction and receiver, in Vecs that double): part of any RSS growth is the test.
    let own = (st.up.heap_bytes() + st.down.heap_bytes() + st.slots.heap_bytes()) as u64;
    println!(
        "soak bookkeeping (sequence tables, part of the RSS above): {:.2} MiB",
        mib(own)
    );
    println!(
        "RSS: warm-up sample ({:.0} s) {:.1} MiB, peak after {:.1} MiB, final {:.1} MiB; bound 2×warm-up + 64 MiB = {:.1} MiB ({} samples)",
        warmup.as_secs_f64(),
        mib(base),
        mib(peak),
        mib(samples.last().map_or(0, |s| s.1)),
        mib(bound),
        samples.len()
    );
    if base > 0 && peak > bound {
        ok = false;
        problems.push(format!(
            "RSS {:.1} MiB > bound {:.1} MiB",
            mib(peak),
            mib(bound)
        ));
    }
    let panics = PANICS.load(Ordering::SeqCst);
    println!("panics: {panics} (threads that panicked: {thread_panics})");
    if panics > 0 || thread_panics > 0 {
        ok = false;
        problems.push(format!("{panics} panic(s)"));
    }
    if st.gave_up > 0 {
        problems.push(format!("recovery gave up {} time(s)", st.gave_up));
    }
    for n in &notes {
        println!("  note: {n}");
    }
    for p in &problems {
        println!("  problem: {p}");
    }
    if std::env::var_os("SOAK_FAULT_LOG").is_some() {
        for l in &fault_log {
            println!("{l}");
        }
    }
    println!("{}", if ok { "PASSED" } else { "" });
    Ok(ok)
}

/// The broker under the soak: mosquitto (a child process on a free port, killed on drop) or the
/// embedded rumqttd.
enum Broker {
    Mosquitto {
        child: std::process::Child,
        addr: std::net::SocketAddr,
        dir: std::path::PathBuf,
    },
    Embedded(EmbeddedBroker),
}

impl Broker {
    fn start(kind: BrokerKind) -> Result<Broker> {
        let required = std::env::var("QMT_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
        let bin = find_mosquitto();
        match (kind, bin) {
            (BrokerKind::Embedded, _) => Ok(Broker::Embedded(EmbeddedBroker::start()?)),
            (BrokerKind::Auto | BrokerKind::Mosquitto, Some(bin)) => Broker::mosquitto(&bin),
            (BrokerKind::Mosquitto, None) => Err("mosquitto is not installed".into()),
            (BrokerKind::Auto, None) if required => {
                Err("mosquitto is not installed, and QMT_REQUIRE_MOSQUITTO=1".into())
            }
            (BrokerKind::Auto, None) => {
                eprintln!(
                    "\n*** mosquitto not installed (apt-get install mosquitto): the soak runs against \
                     the embedded rumqttd, whose QoS 2 forwarding can duplicate (see --broker) ***\n"
                );
                Ok(Broker::Embedded(EmbeddedBroker::start()?))
            }
        }
    }

    fn mosquitto(bin: &std::path::Path) -> Result<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("qmt-soak-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // Queues big enough for the peer's rate across any outage the schedule makes.
        // `SOAK_BROKER_LOG=1` logs every packet (with timestamps) to mosquitto.log in that
        // directory, to follow one message through the broker.
        let verbose = if std::env::var_os("SOAK_BROKER_LOG").is_some() {
            eprintln!("mosquitto log: {}", dir.join("mosquitto.log").display());
            "log_type all\nlog_timestamp_format %H:%M:%S\n"
        } else {
            ""
        };
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "allow_anonymous true\npersistence false\nmax_queued_messages 100000\n\
                 {verbose}listener {port} 127.0.0.1\n"
            ),
        )?;
        let log = std::fs::File::create(dir.join("mosquitto.log"))?;
        let mut child = std::process::Command::new(bin)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                return Err(format!("mosquitto exited ({status})").into());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                return Err(format!("mosquitto does not accept on {addr}").into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Broker::Mosquitto { child, addr, dir })
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Broker::Mosquitto { addr, .. } => *addr,
            Broker::Embedded(b) => b.addr(),
        }
    }

    fn name(&self) -> String {
        match self {
            Broker::Mosquitto { addr, .. } => format!("mosquitto on {addr}"),
            Broker::Embedded(b) => format!("embedded rumqttd on {}", b.addr()),
        }
    }

    fn is_embedded(&self) -> bool {
        matches!(self, Broker::Embedded(_))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Broker::Mosquitto { child, dir, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
            // With `SOAK_BROKER_LOG=1` the log is what the run was for: kept.
            if std::env::var_os("SOAK_BROKER_LOG").is_none() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn find_mosquitto() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d: std::path::PathBuf| d.join("mosquitto"))
        .find(|p| p.is_file())
}
