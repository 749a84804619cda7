//! Every fault of [`qmt_sim::Fault`] against the real module, seen from the host: a real pty, the
//! embedded broker, and the exact lines (URCs, answers) the host reads.
//!
//! Each test starts its own sim (and broker), switches echo off, and then asserts the *next*
//! lines the host reads, so an unexpected URC in between fails the test.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qmt_proto::params::ClientIdx;
use qmt_sim::{BrokerChoice, Fault, Sim, SimConfig, SimHandle, TraceDir};
use rumqttc::QoS;
use support::AtPort;
use support::peer::Peer;

/// Wait for a line or an answer (generous: a loaded 2-core machine).
const T: Duration = Duration::from_secs(10);
/// A window in which nothing more may arrive.
const QUIET: Duration = Duration::from_millis(400);
/// Any name resolves to the embedded broker.
const HOST: &str = "broker.example";

fn idx(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}

/// A sim with its own broker and the host port, after `RDY` and `ATE0`.
fn start_with(config: SimConfig) -> (SimHandle, AtPort) {
    let sim = Sim::start(config).unwrap();
    let mut port = AtPort::open(sim.pty_path());
    assert_eq!(next(&mut port), "RDY");
    assert_eq!(cmd(&mut port, "ATE0"), ["ATE0", "OK"]);
    (sim, port)
}

fn start() -> (SimHandle, AtPort) {
    start_with(SimConfig::default())
}

/// Sends a command line; its lines up to the final result code.
fn cmd(port: &mut AtPort, line: &str) -> Vec<String> {
    port.send(line);
    port.read_until_final(T)
}

/// Sends a command that must answer `OK` alone.
fn ok(port: &mut AtPort, line: &str) {
    assert_eq!(cmd(port, line), ["OK"], "{line}");
}

/// The next line the host reads, whatever it is.
fn next(port: &mut AtPort) -> String {
    port.expect_line(|_| true, T)
}

/// Asserts that nothing arrives for a while.
fn quiet(port: &mut AtPort) {
    let extra = port.lines_within(QUIET);
    assert!(extra.is_empty(), "unexpected lines: {extra:?}");
}

/// `AT+QMTOPEN` → `OK`, `+QMTOPEN: idx,<result>`; returns the result line.
fn open(port: &mut AtPort, i: u8, host: &str) -> String {
    ok(port, &format!("AT+QMTOPEN={i},\"{host}\",1883"));
    next(port)
}

/// Opens and connects client `i` (client id `id`).
fn open_conn(port: &mut AtPort, i: u8, id: &str) {
    assert_eq!(open(port, i, HOST), format!("+QMTOPEN: {i},0"));
    ok(port, &format!("AT+QMTCONN={i},\"{id}\""));
    assert_eq!(next(port), format!("+QMTCONN: {i},0,0"));
}

/// `AT+QMTPUBEX` with its data phase; the final code after the data.
fn pubex(port: &mut AtPort, i: u8, msgid: u16, qos: u8, topic: &str, payload: &[u8]) {
    port.send(&format!(
        "AT+QMTPUBEX={i},{msgid},{qos},0,\"{topic}\",{}",
        payload.len()
    ));
    assert_eq!(next(port), "> ");
    port.send_raw(payload);
    assert_eq!(port.read_until_final(T), ["OK"]);
}

/// A unique client id per test process and call (the broker drops a duplicate id).
fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---- BrokerClose ---------------------------------------------------------------------------------

#[test]
fn broker_close_of_one_client_reports_qmtstat_1_and_the_client_is_not_open() {
    let (sim, mut port) = start();
    open_conn(&mut port, 0, &unique("close-keep"));
    open_conn(&mut port, 2, &unique("close-lost"));

    sim.inject(Fault::BrokerClose(Some(idx(2)))).unwrap();
    assert_eq!(next(&mut port), "+QMTSTAT: 2,1");
    quiet(&mut port);

    // Client 2 is "not open"; client 0 is untouched.
    assert_eq!(
        cmd(&mut port, "AT+QMTOPEN?"),
        [format!("+QMTOPEN: 0,\"{HOST}\",1883").as_str(), "OK"]
    );
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
    // Commands for a closed client are refused (error 3, plain ERROR with AT+CMEE=0).
    assert_eq!(cmd(&mut port, "AT+QMTDISC=2"), ["ERROR"]);
    // Client 0 still publishes.
    pubex(&mut port, 0, 1, 1, "faults/close", b"alive");
    assert_eq!(next(&mut port), "+QMTPUBEX: 0,1,0");

    // A new open of client 2 works, and so does a new MQTT session.
    open_conn(&mut port, 2, &unique("close-again"));
    quiet(&mut port);
}

#[test]
fn broker_close_of_every_client_reports_qmtstat_1_for_each() {
    let (sim, mut port) = start();
    open_conn(&mut port, 0, &unique("close-all-a"));
    open_conn(&mut port, 1, &unique("close-all-b"));

    sim.inject(Fault::BrokerClose(None)).unwrap();
    assert_eq!(next(&mut port), "+QMTSTAT: 0,1");
    assert_eq!(next(&mut port), "+QMTSTAT: 1,1");
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["OK"]);

    assert_eq!(open(&mut port, 0, HOST), "+QMTOPEN: 0,0");
    assert_eq!(open(&mut port, 1, HOST), "+QMTOPEN: 1,0");
}

// ---- BrokerStall ---------------------------------------------------------------------------------

/// No CONNACK, no retransmission: spec §9's `+QMTCONN: idx,2` then `+QMTSTAT: idx,4`, and the
/// client is closed.
#[test]
fn broker_stall_before_connect_without_retry_fails_the_connect() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,0,1");
    assert_eq!(open(&mut port, 0, HOST), "+QMTOPEN: 0,0");
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    let sent = Instant::now();
    ok(
        &mut port,
        &format!("AT+QMTCONN=0,\"{}\"", unique("stall-conn0")),
    );
    assert_eq!(next(&mut port), "+QMTCONN: 0,2");
    let waited = sent.elapsed();
    assert_eq!(next(&mut port), "+QMTSTAT: 0,4");
    // pkt_timeout is 1 s.
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
}

/// With one retransmission: `+QMTCONN: 0,1,1` after `pkt_timeout`, then spec §9's
/// `+QMTCONN: 0,2` and `+QMTSTAT: 0,4`. The stalled broker still reads what the module sends: a
/// second CONNECT on one connection breaks MQTT 3.1.1 §3.1.0, and rumqttd 0.20 logs it
/// ("Unexpected packet received, ignoring the packet") and keeps the connection, so the retry
/// runs its course. (mosquitto closes instead: see the next test.)
#[test]
fn broker_stall_before_connect_with_retry_reports_the_retransmission_then_fails() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,1,1");
    assert_eq!(open(&mut port, 0, HOST), "+QMTOPEN: 0,0");
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    let sent = Instant::now();
    ok(
        &mut port,
        &format!("AT+QMTCONN=0,\"{}\"", unique("stall-conn1")),
    );
    assert_eq!(next(&mut port), "+QMTCONN: 0,1,1");
    let first = sent.elapsed();
    assert_eq!(next(&mut port), "+QMTCONN: 0,2");
    let second = sent.elapsed();
    assert_eq!(next(&mut port), "+QMTSTAT: 0,4");
    assert!(first >= Duration::from_millis(900), "{first:?}");
    assert!(second >= Duration::from_millis(1800), "{second:?}");
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
}

/// The same against mosquitto, which closes a connection that sends a second CONNECT: after the
/// retransmission notice the host sees `+QMTSTAT: 0,1` (closed by the peer) and no
/// `+QMTCONN: 0,2`.
#[test]
fn broker_stall_before_connect_with_retry_against_mosquitto_ends_in_a_close() {
    let Some(mosquitto) = support::Mosquitto::start(support::MosquittoOpts::default()) else {
        return;
    };
    let (sim, mut port) = start_with(SimConfig {
        broker: BrokerChoice::External(mosquitto.plain),
        ..SimConfig::default()
    });
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,1,1");
    assert_eq!(open(&mut port, 0, HOST), "+QMTOPEN: 0,0");
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    ok(
        &mut port,
        &format!("AT+QMTCONN=0,\"{}\"", unique("stall-mosq")),
    );
    assert_eq!(next(&mut port), "+QMTCONN: 0,1,1");
    assert_eq!(next(&mut port), "+QMTSTAT: 0,1", "{}", mosquitto.log());
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
}

#[test]
fn broker_stall_while_connected_fails_the_keepalive() {
    let (sim, mut port) = start();
    // Keep-alive 2 s (the broker drops a client silent for 3 s, which this one never is), and a
    // PINGRESP wait (pkt_timeout) of 1 s.
    ok(&mut port, "AT+QMTCFG=\"keepalive\",0,2");
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,3,0");
    open_conn(&mut port, 0, &unique("stall-ping"));
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    let stalled = Instant::now();
    assert_eq!(next(&mut port), "+QMTPING: 0,1");
    let waited = stalled.elapsed();
    assert_eq!(next(&mut port), "+QMTSTAT: 0,2");
    // At least the PINGRESP wait; at most a keep-alive period plus that wait (and slack).
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited <= Duration::from_secs(8), "{waited:?}");
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
}

/// Reads the retransmission notices of a stalled SUB/PUBEX: `…,1,1`, `…,1,2`, then `…,2`, about
/// `pkt_timeout` (1 s) apart.
fn expect_retransmissions(port: &mut AtPort, prefix: &str, sent: Instant) {
    let mut at = Vec::new();
    for want in [
        format!("{prefix},1,1"),
        format!("{prefix},1,2"),
        format!("{prefix},2"),
    ] {
        assert_eq!(next(port), want);
        at.push(sent.elapsed());
    }
    for (n, t) in at.iter().enumerate() {
        let min = Duration::from_millis(900) * (n as u32 + 1);
        assert!(*t >= min, "notice {n} after {t:?} (all: {at:?})");
    }
}

#[test]
fn broker_stall_retransmits_a_qos1_publish_then_fails_it() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,2,1");
    open_conn(&mut port, 0, &unique("stall-pub"));
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    let sent = Instant::now();
    pubex(&mut port, 0, 7, 1, "faults/stall", b"hello");
    expect_retransmissions(&mut port, "+QMTPUBEX: 0,7", sent);
    quiet(&mut port);
    // The client stays connected: only the publish failed.
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
    // Once the broker answers again, the next publish is acknowledged.
    sim.inject(Fault::BrokerResume(Some(idx(0)))).unwrap();
    pubex(&mut port, 0, 8, 1, "faults/stall", b"again");
    assert_eq!(next(&mut port), "+QMTPUBEX: 0,8,0");
    quiet(&mut port);
}

#[test]
fn broker_stall_retransmits_a_subscribe_then_fails_it() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"timeout\",0,1,2,1");
    open_conn(&mut port, 0, &unique("stall-sub"));
    sim.inject(Fault::BrokerStall(Some(idx(0)))).unwrap();
    let sent = Instant::now();
    ok(&mut port, "AT+QMTSUB=0,9,\"faults/stall/#\",1");
    expect_retransmissions(&mut port, "+QMTSUB: 0,9", sent);
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
    sim.inject(Fault::BrokerResume(None)).unwrap();
    ok(&mut port, "AT+QMTSUB=0,10,\"faults/stall/#\",1");
    assert_eq!(next(&mut port), "+QMTSUB: 0,10,0,1");
    quiet(&mut port);
}

// ---- DnsFailure ----------------------------------------------------------------------------------

#[test]
fn dns_failure_for_one_name_fails_only_that_name_until_restored() {
    let (sim, mut port) = start();
    sim.inject(Fault::DnsFailure(Some("bad.example".into())))
        .unwrap();
    assert_eq!(open(&mut port, 0, "bad.example"), "+QMTOPEN: 0,4");
    // Names compare case-insensitively.
    assert_eq!(open(&mut port, 0, "BAD.Example"), "+QMTOPEN: 0,4");
    // The failed client is not open, and another name still resolves.
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);
    assert_eq!(open(&mut port, 1, "good.example"), "+QMTOPEN: 1,0");

    sim.inject(Fault::DnsRestore).unwrap();
    assert_eq!(open(&mut port, 0, "bad.example"), "+QMTOPEN: 0,0");
    quiet(&mut port);
}

#[test]
fn dns_failure_for_every_name_fails_every_open_until_restored() {
    let (sim, mut port) = start();
    sim.inject(Fault::DnsFailure(None)).unwrap();
    assert_eq!(open(&mut port, 0, "a.example"), "+QMTOPEN: 0,4");
    assert_eq!(open(&mut port, 5, "b.example"), "+QMTOPEN: 5,4");
    sim.inject(Fault::DnsRestore).unwrap();
    assert_eq!(open(&mut port, 0, "a.example"), "+QMTOPEN: 0,0");
    assert_eq!(open(&mut port, 5, "b.example"), "+QMTOPEN: 5,0");
    quiet(&mut port);
}

// ---- Garbage, StrayUrc ---------------------------------------------------------------------------

#[test]
fn garbage_and_stray_urcs_reach_the_host_as_they_are_and_commands_still_answer() {
    let (sim, mut port) = start();
    // Raw: exactly these bytes, nothing added.
    let noise = b"\x00\xff~noise\r\x7f".to_vec();
    sim.inject(Fault::Garbage(noise.clone())).unwrap();
    let got: Vec<u8> = port
        .read_exact_timed(noise.len(), T)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    assert_eq!(got, noise);
    assert_eq!(cmd(&mut port, "AT"), ["OK"]);

    sim.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into())).unwrap();
    let want = b"\r\n+QMTSTAT: 0,1\r\n";
    let got: Vec<u8> = port
        .read_exact_timed(want.len(), T)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    assert_eq!(got, want);
    // A stale +QMTSTAT for a client that is not open changes nothing.
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["OK"]);

    // Framed: the host's line reader sees the garbage line and the URC, then the answer.
    sim.inject(Fault::Garbage(b"\r\n#garbage#\r\n".to_vec()))
        .unwrap();
    sim.inject(Fault::StrayUrc("+QMTSTAT: 3,7".into())).unwrap();
    assert_eq!(next(&mut port), "#garbage#");
    assert_eq!(next(&mut port), "+QMTSTAT: 3,7");
    assert_eq!(
        cmd(&mut port, "AT+QMTCFG=\"keepalive\",0"),
        ["+QMTCFG: \"keepalive\",120", "OK"]
    );
    // And a connected client is not torn down by a stray +QMTSTAT about it.
    open_conn(&mut port, 0, &unique("stray"));
    sim.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into())).unwrap();
    assert_eq!(next(&mut port), "+QMTSTAT: 0,1");
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
    quiet(&mut port);
}

// ---- SplitWrites ---------------------------------------------------------------------------------

#[test]
fn split_writes_deliver_an_answer_intact_in_small_pieces() {
    // The trace records every write the sim makes to the pty (after the split).
    let writes: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let w = writes.clone();
    let config = SimConfig {
        trace: Some(Box::new(move |dir, bytes| {
            if dir == TraceDir::Module {
                w.lock().unwrap().push(bytes.to_vec());
            }
        })),
        ..SimConfig::default()
    };
    let (sim, mut port) = start_with(config);
    let query = "AT+QMTCFG=\"timeout\",0";
    let unsplit = cmd(&mut port, query);
    assert_eq!(unsplit, ["+QMTCFG: \"timeout\",5,3,0", "OK"]);

    sim.inject(Fault::SplitWrites {
        max_chunk: 3,
        delay_ms: 5,
    })
    .unwrap();
    // The fault is applied when the sim thread serves the handle's channel; a round trip through
    // the pty afterwards would not prove that, so wait until an answer comes out split.
    let deadline = Instant::now() + T;
    loop {
        let mark = writes.lock().unwrap().len();
        assert_eq!(cmd(&mut port, "AT"), ["OK"]);
        let answer = traced(&writes, mark, b"\r\nOK\r\n".len());
        // Wait for the whole answer to be traced: with echo on, the echo is traced first, and a
        // tail still being written would count as the next answer's first write.
        let answer = traced_until(&writes, mark, answer, b"OK\r\n");
        if answer.iter().all(|w| w.len() <= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "the split never took effect");
    }

    let want = b"\r\n+QMTCFG: \"timeout\",5,3,0\r\n\r\nOK\r\n";
    let mark = writes.lock().unwrap().len();
    let start = Instant::now();
    port.send(query);
    let reads = port.read_exact_timed(want.len(), T);
    let elapsed = start.elapsed();
    let got: Vec<u8> = reads.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(got, want, "the answer arrives intact");

    // The sim wrote pieces of at most 3 bytes, 5 ms apart.
    let written = traced(&writes, mark, want.len());
    assert_eq!(written.concat(), want);
    assert!(written.iter().all(|w| w.len() <= 3), "{written:?}");
    let min = Duration::from_millis(5) * (written.len() as u32 - 1);
    assert!(elapsed >= min, "{elapsed:?} < {min:?}");
    // The host read pieces: each read ends where one of the sim's writes ended (a host that reads
    // late gets several pieces at once, never a piece cut elsewhere), and it read more than once.
    let mut write_ends = Vec::new();
    let mut at = 0;
    for w in &written {
        at += w.len();
        write_ends.push(at);
    }
    let mut at = 0;
    for (_, r) in &reads {
        at += r.len();
        assert!(
            write_ends.contains(&at),
            "a read ended at {at}, not at a write boundary {write_ends:?}"
        );
    }
    assert!(reads.len() > 1, "{reads:?}");
    let small = reads.iter().filter(|(_, r)| r.len() <= 3).count();
    eprintln!(
        "split writes: {} writes, {} reads ({small} of at most 3 bytes) in {elapsed:?}",
        written.len(),
        reads.len()
    );

    // Framing by the host's line reader yields the same lines as without the split.
    assert_eq!(cmd(&mut port, query), unsplit);
    open_conn(&mut port, 0, &unique("split"));
    pubex(&mut port, 0, 3, 1, "faults/split", b"a\r\nb");
    assert_eq!(next(&mut port), "+QMTPUBEX: 0,3,0");
    quiet(&mut port);
}

/// The sim's traced writes from index `mark` on, once they hold `len` bytes. The trace is called
/// right after each write, so the host may read a piece before it is recorded: wait for it.
/// The writes from `mark` on, once their bytes end with `end` (starting from `got`).
fn traced_until(
    writes: &Mutex<Vec<Vec<u8>>>,
    mark: usize,
    mut got: Vec<Vec<u8>>,
    end: &[u8],
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + T;
    while !got.concat().ends_with(end) {
        assert!(Instant::now() < deadline, "the trace holds only {got:?}");
        std::thread::sleep(Duration::from_millis(1));
        got = writes.lock().unwrap()[mark..].to_vec();
    }
    got
}

fn traced(writes: &Mutex<Vec<Vec<u8>>>, mark: usize, len: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + T;
    loop {
        let got = writes.lock().unwrap()[mark..].to_vec();
        if got.iter().map(Vec::len).sum::<usize>() >= len {
            return got;
        }
        assert!(Instant::now() < deadline, "the trace holds only {got:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- PowerCycle ----------------------------------------------------------------------------------

#[test]
fn power_cycle_resets_the_module_and_the_broker_sends_the_will() {
    let (sim, mut port) = start();
    let will_topic = format!("faults/will/{}", unique("t"));
    let mut watcher = Peer::connect(sim.broker_addr(), &unique("will-watch"));
    watcher.subscribe(&will_topic, QoS::AtLeastOnce);

    ok(&mut port, "AT+QMTCFG=\"keepalive\",0,30");
    ok(
        &mut port,
        &format!("AT+QMTCFG=\"will\",0,1,1,0,\"{will_topic}\",\"module lost\""),
    );
    open_conn(&mut port, 0, &unique("power"));

    sim.inject(Fault::PowerCycle).unwrap();
    // Nothing but RDY: no +QMTSTAT for the lost client.
    assert_eq!(next(&mut port), "RDY");
    quiet(&mut port);
    // Echo is on again.
    assert_eq!(cmd(&mut port, "AT"), ["AT", "OK"]);
    // The configuration is back to the defaults.
    assert_eq!(
        cmd(&mut port, "AT+QMTCFG=\"keepalive\",0"),
        [
            "AT+QMTCFG=\"keepalive\",0",
            "+QMTCFG: \"keepalive\",120",
            "OK"
        ]
    );
    assert_eq!(
        cmd(&mut port, "AT+QMTCFG=\"will\",0"),
        ["AT+QMTCFG=\"will\",0", "+QMTCFG: \"will\",0", "OK"]
    );
    // No client is open.
    assert_eq!(cmd(&mut port, "AT+QMTOPEN?"), ["AT+QMTOPEN?", "OK"]);
    assert_eq!(cmd(&mut port, "AT+QMTCONN?"), ["AT+QMTCONN?", "OK"]);

    // The connection dropped without DISCONNECT: the broker published the will (well before
    // 1.5 × the 30 s keep-alive).
    let will = watcher.expect_publish(T);
    assert_eq!(will.topic, will_topic);
    assert_eq!(will.payload.as_ref(), b"module lost");
    assert_eq!(will.qos, QoS::AtLeastOnce);
}

// ---- receive slots -------------------------------------------------------------------------------

/// Reads `+QMTRECV: 0,<n>` slot notices.
fn expect_slot_notice(port: &mut AtPort, slot: usize) {
    assert_eq!(next(port), format!("+QMTRECV: 0,{slot}"));
}

#[test]
fn full_receive_slots_hold_the_sixth_message_until_a_slot_is_read() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"recv/mode\",0,1");
    let topic = format!("faults/slots/{}", unique("t"));
    open_conn(&mut port, 0, &unique("slots"));
    ok(&mut port, &format!("AT+QMTSUB=0,1,\"{topic}\",1"));
    assert_eq!(next(&mut port), "+QMTSUB: 0,1,0,1");

    let mut peer = Peer::connect(sim.broker_addr(), &unique("slots-pub"));
    for n in 0..6 {
        peer.publish(&topic, QoS::AtLeastOnce, format!("m{n}").as_bytes());
    }
    for slot in 0..5 {
        expect_slot_notice(&mut port, slot);
    }
    // Exactly five: the sixth is held (unacknowledged) by the module.
    quiet(&mut port);
    assert_eq!(
        cmd(&mut port, "AT+QMTRECV?"),
        ["+QMTRECV: 0,1,1,1,1,1", "OK"]
    );

    // Reading slot 0 frees it for the sixth message.
    let read = cmd(&mut port, "AT+QMTRECV=0,0");
    assert_eq!(read.len(), 2, "{read:?}");
    assert_recv_line(&read[0], &topic, "m0");
    assert_eq!(read[1], "OK");
    expect_slot_notice(&mut port, 0);
    quiet(&mut port);

    // Every slot holds the next message, in order.
    let all = cmd(&mut port, "AT+QMTRECV=0");
    assert_eq!(all.len(), 6, "{all:?}");
    for (line, want) in all.iter().zip(["m5", "m1", "m2", "m3", "m4"]) {
        assert_recv_line(line, &topic, want);
    }
    assert_eq!(
        cmd(&mut port, "AT+QMTRECV?"),
        ["+QMTRECV: 0,0,0,0,0,0", "OK"]
    );
}

/// `+QMTRECV: 0,<msgid>,"<topic>","<payload>"` with a QoS 1 packet id.
fn assert_recv_line(line: &str, topic: &str, payload: &str) {
    let rest = line
        .strip_prefix("+QMTRECV: 0,")
        .unwrap_or_else(|| panic!("{line}"));
    let (msgid, rest) = rest.split_once(',').unwrap_or_else(|| panic!("{line}"));
    let id: u16 = msgid.parse().unwrap_or_else(|_| panic!("{line}"));
    assert_ne!(id, 0, "a QoS 1 message has a packet id: {line}");
    assert_eq!(rest, format!("\"{topic}\",\"{payload}\""), "{line}");
}

#[test]
fn fill_recv_slots_fault_blocks_delivery_until_a_slot_is_read() {
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"recv/mode\",0,1");
    let topic = format!("faults/fill/{}", unique("t"));
    open_conn(&mut port, 0, &unique("fill"));
    ok(&mut port, &format!("AT+QMTSUB=0,1,\"{topic}\",1"));
    assert_eq!(next(&mut port), "+QMTSUB: 0,1,0,1");

    sim.inject(Fault::FillRecvSlots(idx(0))).unwrap();
    for slot in 0..5 {
        expect_slot_notice(&mut port, slot);
    }
    let mut peer = Peer::connect(sim.broker_addr(), &unique("fill-pub"));
    peer.publish(&topic, QoS::AtLeastOnce, b"real");
    quiet(&mut port);

    assert_eq!(
        cmd(&mut port, "AT+QMTRECV=0,2"),
        [
            "+QMTRECV: 0,0,\"qmt-sim/placeholder\",\"placeholder 2\"",
            "OK"
        ]
    );
    expect_slot_notice(&mut port, 2);
    let read = cmd(&mut port, "AT+QMTRECV=0,2");
    assert_recv_line(&read[0], &topic, "real");
    assert_eq!(read[1..], ["OK"]);
    quiet(&mut port);
}

// ---- Burst ---------------------------------------------------------------------------------------

#[test]
fn a_burst_of_publishes_arrives_complete_and_in_order() {
    const N: usize = 200;
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"recv/mode\",0,0,1");
    let topic = format!("faults/burst/{}", unique("t"));
    open_conn(&mut port, 0, &unique("burst"));
    ok(&mut port, &format!("AT+QMTSUB=0,1,\"{topic}\",0"));
    assert_eq!(next(&mut port), "+QMTSUB: 0,1,0,0");

    sim.inject(Fault::Burst {
        topic: topic.clone(),
        count: N,
    })
    .unwrap();
    // Every message, in order, with its exact payload (`0`, `1`, … as decimal text).
    let want: Vec<String> = (0..N)
        .map(|n| format!("+QMTRECV: 0,0,\"{topic}\",{},\"{n}\"", n.to_string().len()))
        .collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < N && Instant::now() < deadline {
        got.extend(port.lines_within(Duration::from_millis(200)));
    }
    assert_eq!(got.len(), N, "received {} of {N}", got.len());
    assert_eq!(got, want);
    quiet(&mut port);
}

// ---- edit/timeout --------------------------------------------------------------------------------

#[test]
fn edit_timeout_ends_an_incomplete_publish_with_an_error() {
    let (_sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"edit/timeout\",0,1,1");
    open_conn(&mut port, 0, &unique("edit"));

    // AT+CMEE=0 (power-up): a plain ERROR.
    // The edit time runs from the command (the module's `> `).
    let start = Instant::now();
    port.send("AT+QMTPUBEX=0,0,0,0,\"faults/edit\",10");
    assert_eq!(next(&mut port), "> ");
    port.send_raw(b"abc");
    assert_eq!(port.read_until_final(T), ["ERROR"]);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited <= Duration::from_secs(5), "{waited:?}");
    // Nothing was published, and the next command works.
    quiet(&mut port);
    assert_eq!(cmd(&mut port, "AT"), ["OK"]);

    // AT+CMEE=1: the documented code, 100 (unknown).
    ok(&mut port, "AT+CMEE=1");
    port.send("AT+QMTPUBEX=0,0,0,0,\"faults/edit\",10");
    assert_eq!(next(&mut port), "> ");
    port.send_raw(b"abc");
    assert_eq!(port.read_until_final(T), ["+CME ERROR: 100"]);
    // The publish after it goes through.
    pubex(&mut port, 0, 0, 0, "faults/edit", b"0123456789");
    assert_eq!(next(&mut port), "+QMTPUBEX: 0,0,0");
    quiet(&mut port);
}

/// recv/mode 1 and a burst far beyond the five slots: the module stores five and holds the rest
/// unacknowledged (spec §9); reading the slots again and again yields every message, in order.
#[test]
fn a_burst_into_receive_slots_is_held_and_read_out_completely_in_order() {
    const N: usize = 40;
    let (sim, mut port) = start();
    ok(&mut port, "AT+QMTCFG=\"recv/mode\",0,1");
    let topic = format!("faults/burst-slots/{}", unique("t"));
    open_conn(&mut port, 0, &unique("burst-slots"));
    ok(&mut port, &format!("AT+QMTSUB=0,1,\"{topic}\",0"));
    assert_eq!(next(&mut port), "+QMTSUB: 0,1,0,0");

    sim.inject(Fault::Burst {
        topic: topic.clone(),
        count: N,
    })
    .unwrap();
    let mut payloads = Vec::new();
    let deadline = Instant::now() + T;
    while payloads.len() < N {
        assert!(
            Instant::now() < deadline,
            "read {} of {N}: {payloads:?}",
            payloads.len()
        );
        // Wait for a full set of slots (or the last few messages), then read them all.
        let want = (N - payloads.len()).min(5);
        for _ in 0..want {
            let l = port.expect_line(|l| l.starts_with("+QMTRECV: 0,"), T);
            assert!(l.len() <= "+QMTRECV: 0,4".len(), "a slot notice: {l}");
        }
        let read = cmd(&mut port, "AT+QMTRECV=0");
        assert_eq!(read.last().map(String::as_str), Some("OK"), "{read:?}");
        for line in &read[..read.len() - 1] {
            let prefix = format!("+QMTRECV: 0,0,\"{topic}\",\"");
            let p = line
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{line}"));
            payloads.push(p.to_owned());
        }
    }
    let want: Vec<String> = (0..N).map(|n| n.to_string()).collect();
    assert_eq!(payloads, want);
    quiet(&mut port);
}
