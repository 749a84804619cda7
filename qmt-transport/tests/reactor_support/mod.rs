//! Helpers for the reactor tests: commands from their AT text, waits that say what they waited
//! for. Every wait is bounded by a generous timeout (two cores shared with other builds).
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qmt_proto::Command;
use qmt_transport::link::Response;
use qmt_transport::reactor::{Pending, Port, PortEvent, PortEvents};

/// The wait for one expected completion or event.
pub const T: Duration = Duration::from_secs(20);

/// A command from its AT text (without `\r`).
pub fn cmd(text: &str) -> Command {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(b'\r');
    Command::parse(&bytes).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// The text of a response's lines (info lines, then the final code).
pub fn lines(r: &Response) -> Vec<String> {
    r.info
        .iter()
        .chain(std::iter::once(&r.final_code))
        .map(|l| String::from_utf8_lossy(l.bytes()).into_owned())
        .collect()
}

/// Waits for a pending command, bounded by `T`.
pub fn complete(mut p: Pending, what: &str) -> Response {
    match p.wait_timeout(T) {
        Some(Ok(r)) => r,
        Some(Err(e)) => panic!("{what}: {e}"),
        None => panic!("{what}: no completion within {T:?}"),
    }
}

/// Submits and waits for the final code, which must be `OK`; returns the info lines.
pub fn ok(port: &Port, text: &str, data: Option<&[u8]>) -> Vec<String> {
    let p = port
        .submit(cmd(text), data.map(<[u8]>::to_vec))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut l = lines(&complete(p, text));
    assert_eq!(l.pop().as_deref(), Some("OK"), "{text}");
    l
}

/// The first URC line for which `pred` holds (others are skipped).
pub fn expect_urc(events: &PortEvents, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(PortEvent::Urc(l)) => {
                let s = String::from_utf8_lossy(l.bytes()).into_owned();
                if pred(&s) {
                    return s;
                }
                seen.push(s);
            }
            Ok(other) => panic!("{what}: got {other:?}; URCs so far {seen:?}"),
            Err(e) => panic!("{what}: {e:?} within {T:?}; URCs so far {seen:?}"),
        }
    }
}

/// Waits for the port's `Closed` event (URCs before it are skipped).
pub fn expect_closed(events: &PortEvents) -> qmt_transport::reactor::CloseReason {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(PortEvent::Closed { reason }) => return reason,
            Ok(_) => {}
            Err(e) => panic!("no Closed event within {T:?}: {e:?}"),
        }
    }
}

/// The payload of a `+QMTRECV` URC line, if it is one.
pub fn recv_payload(line: &str) -> Option<Vec<u8>> {
    match qmt_proto::ModuleLine::parse(line.as_bytes()) {
        qmt_proto::ModuleLine::Urc(qmt_proto::Urc::Recv(m)) => Some(m.payload.to_vec()),
        _ => None,
    }
}

/// `ATE0`, `recv/mode` 0 with lengths, open, connect, subscribe `topic` at QoS `qos` (client 0).
pub fn mqtt_up(port: &Port, events: &PortEvents, client_id: &str, topic: &str, qos: u8) {
    ok(port, "ATE0", None);
    ok(port, "AT+QMTCFG=\"recv/mode\",0,0,1", None);
    ok(port, "AT+QMTOPEN=0,\"broker.example.com\",1883", None);
    expect_urc(events, |l| l.starts_with("+QMTOPEN: 0,"), "+QMTOPEN result");
    ok(port, &format!("AT+QMTCONN=0,\"{client_id}\""), None);
    let conn = expect_urc(events, |l| l.starts_with("+QMTCONN: 0,"), "+QMTCONN result");
    assert_eq!(conn, "+QMTCONN: 0,0,0");
    ok(port, &format!("AT+QMTSUB=0,1,\"{topic}\",{qos}"), None);
    let sub = expect_urc(events, |l| l.starts_with("+QMTSUB: 0,1,"), "+QMTSUB result");
    assert_eq!(sub, format!("+QMTSUB: 0,1,0,{qos}"));
}

/// Adds the sim's pty to the reactor and waits for the module's power-up `RDY` (read from the
/// kernel's buffer if it came before the port was opened).
pub fn open(
    reactor: &qmt_transport::reactor::Reactor,
    sim: &qmt_sim::SimHandle,
    config: qmt_transport::reactor::PortConfig,
) -> (Port, PortEvents) {
    let (port, events) = reactor.add_port(sim.pty_path(), config).unwrap();
    expect_urc(&events, |l| l == "RDY", "power-up RDY");
    (port, events)
}
