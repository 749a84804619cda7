//! Field regressions: the real `qmt` binary against a scripted module on a real pty that plays
//! what modules in the field sent (see `scripted/mod.rs`).
//!
//! - a split `+QMTRECV` (spec §6, variation 2): header ending in the length, payload on the next
//!   line;
//! - the link lost while a SUBSCRIBE waits for its result: `qmt sub` recovers and re-subscribes;
//! - a silent port and a port full of line noise (a module without power, the wrong ttyUSB, the
//!   wrong baud rate): one line that says what was tried, what was heard and what to check, exit 5
//!   after the spec §10.1 boot allowance, and nothing but `AT` written meanwhile.
//!
//! Each run has a cap only so that a hang ends the test; no duration is asserted.
#![allow(clippy::unwrap_used, missing_docs)]

mod scripted;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scripted::{Scripted, params, qmt, standard};

/// The cap of a run that should succeed quickly (recovery has a backoff of its own).
const CAP: Duration = Duration::from_secs(60);

/// The cap of a run against a port that never answers properly: spec §10.1 asks for `AT` every
/// ~500 ms for at least 20 s before giving up, so well past that.
const SILENT_CAP: Duration = Duration::from_secs(60);

/// `qmt pub`/`qmt sub`'s exit code for "something did not answer in time" (qmt-cli's
/// `failure::exit::TIMEOUT`).
const EXIT_TIMEOUT: i32 = 5;

/// The payload of the field capture, 54 bytes.
const JSON: &str = r#"{"method":"setValue","params":{"relay1":1,"relay2":0}}"#;

#[test]
fn split_qmtrecv_prints_the_payload_on_the_next_line() {
    assert_eq!(JSON.len(), 54);
    let module = Scripted::new(|line, r| {
        if !line.to_ascii_uppercase().starts_with("AT+QMTSUB=") {
            return false;
        }
        standard(line, r);
        // EC200U firmware: the header ends with the length, the raw payload is the next line.
        r.raw(format!("\r\n+QMTRECV: 0,1,\"t/in\",54\r\n{JSON}\r\n").as_bytes());
        true
    });
    let port = module.port();
    let run = qmt(&["sub", "--port", &port, "-t", "t/in", "-C", "1"], CAP);
    let show = run.show(&module);
    // The split form is the msg_len_enable=1 form: the client asked for lengths.
    assert!(
        module
            .host_lines()
            .iter()
            .any(|l| l.contains(r#""recv/mode",0,0,1"#)),
        "the client did not set msg_len_enable=1\n{show}"
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("{JSON}\n"),
        "the 54-byte payload, not its length\n{show}"
    );
    assert_eq!(run.code(), Some(0), "{show}");
}

#[test]
fn link_lost_during_subscribe_is_recovered_and_the_subscription_redone() {
    let subs = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&subs);
    let module = Scripted::new(move |line, r| {
        if !line.to_ascii_uppercase().starts_with("AT+QMTSUB=") {
            return false;
        }
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            // Accepted, then the link drops before the SUBACK: no +QMTSUB result ever comes.
            r.ok().line("+QMTSTAT: 0,1");
        } else {
            standard(line, r);
            r.line("+QMTRECV: 0,0,\"t/x\",5,hello");
        }
        true
    });
    let port = module.port();
    let run = qmt(
        &["sub", "--port", &port, "-t", "t/#", "-q", "1", "-C", "1"],
        CAP,
    );
    let show = run.show(&module);
    let lines = module.host_lines();
    let subs: Vec<&String> = lines
        .iter()
        .filter(|l| l.to_ascii_uppercase().starts_with("AT+QMTSUB="))
        .collect();
    assert!(subs.len() >= 2, "no second AT+QMTSUB\n{show}");
    assert_eq!(
        params(subs[1]).get(2).map(String::as_str),
        Some("\"t/#\""),
        "{show}"
    );
    // Recovery reopened the connection between the two subscriptions.
    let first_sub = lines.iter().position(|l| l == subs[0]).unwrap();
    assert!(
        lines[first_sub..]
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("AT+QMTOPEN=0,")),
        "no AT+QMTOPEN after the link was lost\n{show}"
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello\n", "{show}");
    assert_eq!(run.code(), Some(0), "{show}");
}

/// The one stderr line of a run (asserting there is exactly one).
fn one_line(run_stderr: &str, show: &str) -> String {
    let lines: Vec<&str> = run_stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr\n{show}");
    lines[0].to_owned()
}

/// What the host wrote to a module that never answered in AT: `AT\r`, again and again.
fn assert_only_at(module: &Scripted, show: &str) {
    let bytes = module.host_bytes();
    let ats = bytes.len() / 3;
    assert!(
        !bytes.is_empty() && bytes == b"AT\r".repeat(ats),
        "the host wrote something else than AT\\r lines\n{show}"
    );
    // Spec §10.1: AT every ~500 ms for at least 20 s, i.e. about 40; at least half of that
    // leaves room for the interval the client picks.
    assert!(
        ats >= 20,
        "only {ats} AT before giving up (spec §10.1: every ~500 ms for at least 20 s)\n{show}"
    );
}

#[test]
fn silent_port_exits_5_with_one_line_saying_nothing_was_heard_and_what_to_check() {
    let module = Scripted::silent();
    let port = module.port();
    let run = qmt(&["pub", "--port", &port, "-t", "t", "-m", "x"], SILENT_CAP);
    let show = run.show(&module);
    assert!(run.status.is_some(), "qmt pub hung\n{show}");
    assert_eq!(run.code(), Some(EXIT_TIMEOUT), "{show}");
    let line = one_line(&run.stderr, &show);
    let lower = line.to_ascii_lowercase();
    assert!(line.contains(&port), "the port is named: {line}");
    assert!(line.contains("AT"), "what was tried (AT): {line}");
    assert!(lower.contains("nothing"), "that nothing was heard: {line}");
    assert!(lower.contains("power"), "check the module's power: {line}");
    assert!(
        lower.contains("ttyusb") || lower.contains("port"),
        "check that it is the right (AT) port: {line}"
    );
    assert!(lower.contains("baud"), "check the baud rate: {line}");
    assert_only_at(&module, &show);
}

/// Bytes a module at another baud rate produces: no line ends, nothing like AT output.
const NOISE: &[u8] = &[
    0xF8, 0x80, 0x00, 0xFE, 0x78, 0x86, 0xE0, 0x00, 0x98, 0xFE, 0x1E, 0x80,
];

#[test]
fn noise_on_the_port_exits_5_with_one_line_saying_bytes_were_not_at_output() {
    let module = Scripted::noise(NOISE);
    let port = module.port();
    let run = qmt(&["pub", "--port", &port, "-t", "t", "-m", "x"], SILENT_CAP);
    let show = run.show(&module);
    assert!(run.status.is_some(), "qmt pub hung\n{show}");
    assert_eq!(run.code(), Some(EXIT_TIMEOUT), "{show}");
    let line = one_line(&run.stderr, &show);
    let lower = line.to_ascii_lowercase();
    assert!(line.contains(&port), "the port is named: {line}");
    assert!(
        line.contains("AT"),
        "what was tried / expected (AT): {line}"
    );
    assert!(lower.contains("byte"), "that bytes were heard: {line}");
    assert!(lower.contains("baud"), "check the baud rate: {line}");
    assert_only_at(&module, &show);
}
