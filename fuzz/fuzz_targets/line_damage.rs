//! Line damage (spec §10.7) through the link core (`qmt_transport::link::Link`): counted
//! `+QMTRECV` lines whose payloads lose or gain bytes, then arbitrary bytes.
//!
//! Input layout: byte 0 = number of messages `n` (mod 8, at least 1); then per message: 2 bytes
//! msgid, 1 byte length `l` (mod 48), `l` payload bytes; then per message 1 damage byte (bit 7:
//! damaged; bit 6: drop or insert; bits 0–5: offset) and, for an insert, the inserted byte; the
//! rest is arbitrary module output fed after the messages.
//!
//! Invariants:
//! - nothing panics, on the messages or on the arbitrary tail;
//! - no message whose payload lost or gained bytes is delivered: every `+QMTRECV` the link
//!   delivers is one of the messages as sent, until the arbitrary tail starts;
//! - a damaged payload is reported (`LinkEvent::Damaged`);
//! - the command in flight completes (`AT+QMTCONN?`, answered after the messages) when no
//!   payload was damaged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmt_proto::{Command, ModuleLine, Urc};
use qmt_transport::link::{Link, LinkConfig, LinkEvent};
use qmt_transport::time::Instant;

fuzz_target!(|data: &[u8]| {
    let mut it = data.iter().copied();
    let n = usize::from(it.next().unwrap_or(1) % 8).max(1);
    let mut messages = Vec::new();
    for _ in 0..n {
        let msgid = u16::from_le_bytes([it.next().unwrap_or(1), it.next().unwrap_or(0)]).max(1);
        let len = usize::from(it.next().unwrap_or(1) % 48).max(1);
        let payload: Vec<u8> = (0..len).map(|_| it.next().unwrap_or(b'x')).collect();
        messages.push((msgid, payload));
    }
    let mut stream = Vec::new();
    let mut any_damage = false;
    for (msgid, payload) in &messages {
        let d = it.next().unwrap_or(0);
        let mut p = payload.clone();
        if d & 0x80 != 0 {
            let at = usize::from(d & 0x3f) % p.len();
            if d & 0x40 != 0 {
                p.remove(at);
            } else {
                p.insert(at, it.next().unwrap_or(0));
            }
            any_damage = true;
        }
        stream.extend_from_slice(
            format!("\r\n+QMTRECV: 0,{msgid},\"t\",{},\"", payload.len()).as_bytes(),
        );
        stream.extend_from_slice(&p);
        stream.extend_from_slice(b"\"\r\n");
    }
    stream.extend_from_slice(b"\r\n+QMTCONN: 0,3\r\n\r\nOK\r\n");
    let tail: Vec<u8> = it.collect();

    let t = Instant::ZERO;
    let mut link = Link::new(LinkConfig::default(), t);
    link.feed(b"\r\n+QMTRECV: 0,1,\"t\",2,\"ok\"\r\n", t);
    while link.poll_event().is_some() {}
    let Ok(token) = link.submit(
        Command::parse(b"AT+QMTCONN?").expect("a valid command"),
        None,
        t,
    ) else {
        return;
    };
    link.feed(&stream, t);
    let mut damaged = 0;
    let mut completed = false;
    while let Some(ev) = link.poll_event() {
        match ev {
            LinkEvent::Urc(l) => {
                if let ModuleLine::Urc(Urc::Recv(r)) = l.parse() {
                    let got = (r.msgid.get(), r.payload.to_vec());
                    assert!(messages.contains(&got), "delivered altered: {got:?}");
                }
            }
            LinkEvent::Damaged(_) => damaged += 1,
            LinkEvent::Completed { token: t2, .. } => completed |= t2 == token,
        }
    }
    if any_damage {
        // Each damage changes a payload's length by one: the line (or an earlier damaged one
        // whose run-on swallowed it) is reported.
        assert!(damaged > 0, "a damaged payload went unreported");
    } else {
        assert_eq!(damaged, 0);
        assert!(completed, "the command in flight got its answer");
    }
    link.feed(&tail, t);
    while link.poll_event().is_some() {}
});
