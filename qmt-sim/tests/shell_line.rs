//! The serial line's timing (spec §10.7): a paced sim moves bytes at a UART's byte time in both
//! directions, adds the module's latency, follows `AT+IPR` after its `OK`, and with no flow
//! control loses what a host does not read in time.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use qmt_sim::{LineConfig, Sim, SimConfig};
use support::AtPort;

const T: Duration = Duration::from_secs(20);

fn paced(baud: u32, latency_ms: u64) -> qmt_sim::SimHandle {
    support::ok(
        Sim::start(SimConfig {
            line: LineConfig {
                baud: Some(baud),
                latency: Duration::from_millis(latency_ms),
            },
            ..SimConfig::default()
        }),
        "sim",
    )
}

/// Sends `cmd`, reads to its final code: (the answer's bytes, how long it took).
fn timed(port: &mut AtPort, cmd: &str) -> (usize, Duration) {
    let t0 = Instant::now();
    port.send(cmd);
    let lines = port.read_until_final(T);
    let bytes: usize = lines.iter().map(|l| l.len() + 4).sum();
    (bytes, t0.elapsed())
}

/// The time `n` bytes take at `baud` (10 bits each), less the pacer's 5 ms window in each
/// direction.
fn line_time(n: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(n as f64 * 10.0 / f64::from(baud))
        .saturating_sub(Duration::from_millis(10))
}

#[test]
fn answers_take_at_least_their_line_time_and_the_rate_follows_ipr() {
    let sim = paced(9_600, 0);
    let mut port = AtPort::open(sim.pty_path());
    port.send("ATE0");
    port.read_until_final(T);
    let (n, took) = timed(&mut port, "AT+QMTCFG=?");
    assert!(n > 300, "a long answer: {n} bytes");
    // Host → module: 12 bytes; module → host: the answer. Both at 9,600 baud.
    let floor = line_time(n + 12, 9_600);
    assert!(
        took >= floor,
        "{n} bytes in {took:?}, the line needs {floor:?}"
    );
    port.send("AT+IPR?");
    assert_eq!(port.read_until_final(T), ["+IPR: 9600", "OK"]);

    // The OK of AT+IPR still comes at 9,600; later answers at the new rate.
    port.send("AT+IPR=921600");
    assert_eq!(port.read_until_final(T), ["OK"]);
    port.send("AT+IPR?");
    assert_eq!(port.read_until_final(T), ["+IPR: 921600", "OK"]);
    let (n2, took2) = timed(&mut port, "AT+QMTCFG=?");
    assert_eq!(n2, n);
    assert!(took2 >= line_time(n + 12, 921_600));
    println!("AT+QMTCFG=? ({n} bytes): {took:?} at 9600, {took2:?} at 921600");
}

#[test]
fn the_latency_is_added_to_each_answer() {
    let sim = paced(921_600, 40);
    let mut port = AtPort::open(sim.pty_path());
    port.send("ATE0");
    port.read_until_final(T);
    for _ in 0..3 {
        let (_, took) = timed(&mut port, "AT");
        assert!(took >= Duration::from_millis(40), "{took:?}");
    }
}

#[test]
fn flow_control_is_typed_and_kept_by_the_module() {
    let sim = paced(115_200, 0);
    let mut port = AtPort::open(sim.pty_path());
    port.send("ATE0");
    port.read_until_final(T);
    port.send("AT+IFC?");
    assert_eq!(port.read_until_final(T), ["+IFC: 0,0", "OK"]);
    port.send("AT+IFC=2,2");
    assert_eq!(port.read_until_final(T), ["OK"]);
    port.send("AT+IFC?");
    assert_eq!(port.read_until_final(T), ["+IFC: 2,2", "OK"]);
    port.send("AT+IFC=1,1");
    let answer = port.read_until_final(T);
    assert!(answer.last().unwrap().contains("ERROR"), "{answer:?}");
}

/// Lines of module output the host leaves unread for a while: how many it gets in the end.
fn unread_burst(flow: &str) -> (usize, usize) {
    let sim = paced(921_600, 0);
    let mut port = AtPort::open(sim.pty_path());
    port.send("ATE0");
    port.read_until_final(T);
    port.send(&format!("AT+IFC={flow}"));
    assert_eq!(port.read_until_final(T), ["OK"]);
    const N: usize = 2000;
    for i in 0..N {
        let urc = format!("+QMTSTAT: 0,1 {i:05} {}", "x".repeat(40));
        sim.inject(qmt_sim::Fault::StrayUrc(urc)).unwrap();
    }
    // The host does not read while the module sends ~120 KB (1.3 s at 921,600 baud), more
    // than a pty holds.
    std::thread::sleep(Duration::from_secs(2));
    let got = port.lines_within(Duration::from_secs(2));
    let whole = got
        .iter()
        .filter(|l| l.starts_with("+QMTSTAT: 0,1 ") && l.len() == 14 + 6 + 40)
        .count();
    (N, whole)
}

#[test]
fn without_flow_control_a_host_that_does_not_read_loses_bytes() {
    let (sent, whole) = unread_burst("0,0");
    assert!(whole < sent, "{whole} of {sent} lines arrived whole");
    let (sent, whole) = unread_burst("2,2");
    assert_eq!(whole, sent, "with RTS/CTS nothing is lost");
}
