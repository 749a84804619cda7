//! The sans-IO simulated module core (`qmt_sim::module::Module`) on arbitrary host bytes, in an
//! input-chosen chunking, with a fake clock and a fake network: every `NetAction::Connect` is
//! answered `Connected` or `ConnectFailed` (input bits), and MQTT packets the module sends are
//! answered by a tiny fake broker (CONNACK accepted or refused by input bits, SUBACK, UNSUBACK,
//! PUBACK, PUBREC/PUBCOMP) — nothing touches a real network.
//!
//! Input layout: byte 0 = options (bit 0: `ATE0\r` is fed first, its output not checked; bits 1–7: the
//! network answers, used cyclically bit by bit), byte 1 = number `k` (mod 32) of step bytes, the
//! `k` step bytes (used cyclically; bits 0–4: chunk size − 1, bits 5–7: how far the clock advances
//! before the chunk, see `STEP`), the rest = the host's bytes.
//!
//! Invariants:
//! - nothing panics;
//! - chunking invariance (module docs: output does not depend on chunking): the same steps with
//!   every chunk fed byte-wise (same clock, same network answers) give the same host output and
//!   the same network actions;
//! - with echo off for the whole run (`ATE0` first, and the host bytes hold no other `ATE`
//!   command: no `ATE` once spaces are removed, case-insensitively), every line the module writes
//!   types as a `ModuleLine` other than `Unknown`, framed by `at_codec` with qmt-proto's
//!   `RecvHook` (no message is ever received, so no payload is written). Echoed lines and data are
//!   arbitrary host bytes, so with echo on only the first two invariants are checked.
#![no_main]

use std::time::{Duration, Instant};

use at_codec::{Decoder, Frame};
use libfuzzer_sys::fuzz_target;
use qmt_proto::{ModuleLine, RecvHook};
use qmt_sim::module::Module;
use qmt_sim::net::{ConnectError, NetAction, NetEvent};

const STEP: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(300),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(16),
    Duration::from_secs(31),
    Duration::from_secs(130),
];

#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<u8>,
    net: Vec<String>,
}

struct Bits {
    bits: u8,
    i: u32,
}

impl Bits {
    fn next(&mut self) -> bool {
        let b = (self.bits >> (self.i % 7)) & 1 != 0;
        self.i += 1;
        b
    }
}

/// The packet type and identifier of one MQTT packet the module sent (fixed header, remaining
/// length varint, then the packet identifier for the types that carry one first).
fn packet_id(bytes: &[u8]) -> Option<(u8, [u8; 2])> {
    let (&first, rest) = bytes.split_first()?;
    let mut i = 0;
    while rest.get(i)? & 0x80 != 0 {
        i += 1;
        if i > 3 {
            return None;
        }
    }
    let id = rest.get(i + 1..i + 3)?;
    Some((first >> 4, [id[0], id[1]]))
}

fn settle(m: &mut Module, now: Instant, bits: &mut Bits, o: &mut Outcome) {
    for _ in 0..16 {
        let mut events = Vec::new();
        while let Some(action) = m.poll_net() {
            o.net.push(format!("{action:?}"));
            match action {
                NetAction::Connect { client_idx, .. } => {
                    events.push(if bits.next() {
                        NetEvent::Connected { client_idx }
                    } else {
                        NetEvent::ConnectFailed {
                            client_idx,
                            error: ConnectError::Network,
                        }
                    });
                }
                NetAction::Send { client_idx, bytes } => {
                    let reply: Option<Vec<u8>> = match bytes.first().map(|b| b >> 4) {
                        Some(1) => Some(vec![0x20, 2, 0, if bits.next() { 0 } else { 5 }]),
                        _ => match packet_id(&bytes) {
                            Some((8, id)) => Some(vec![0x90, 3, id[0], id[1], 1]),
                            Some((10, id)) => Some(vec![0xb0, 2, id[0], id[1]]),
                            Some((6, id)) => Some(vec![0x70, 2, id[0], id[1]]),
                            _ => None,
                        },
                    };
                    // QoS 1/2 PUBLISH: the packet id follows the topic; answer PUBACK/PUBREC.
                    let reply = reply.or_else(|| publish_ack(&bytes));
                    if let Some(r) = reply {
                        events.push(NetEvent::Received {
                            client_idx,
                            bytes: r,
                        });
                    }
                }
                NetAction::Close { .. } => {}
            }
        }
        if events.is_empty() {
            break;
        }
        for e in events {
            m.handle_net(e, now);
        }
    }
    while let Some(out) = m.poll_output() {
        o.out.extend_from_slice(&out);
    }
}

fn publish_ack(bytes: &[u8]) -> Option<Vec<u8>> {
    let first = *bytes.first()?;
    let qos = (first >> 1) & 3;
    if first >> 4 != 3 || qos == 0 {
        return None;
    }
    let mut i = 1;
    while bytes.get(i)? & 0x80 != 0 {
        i += 1;
    }
    i += 1;
    let tlen = usize::from(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
    let id = bytes.get(i + 2 + tlen..i + 4 + tlen)?;
    Some(vec![if qos == 1 { 0x40 } else { 0x50 }, 2, id[0], id[1]])
}

fn run(echo_off: bool, net_bits: u8, steps: &[u8], host: &[u8], bytewise: bool) -> Outcome {
    let mut now = Instant::now();
    let mut m = Module::new(now);
    let mut bits = Bits {
        bits: net_bits,
        i: 0,
    };
    let mut o = Outcome {
        out: Vec::new(),
        net: Vec::new(),
    };
    if echo_off {
        // `ATE0` is itself echoed (echo is on when it arrives): its output is not checked.
        m.feed(b"ATE0\r", now);
        settle(&mut m, now, &mut bits, &mut o);
        o.out.clear();
    }
    let mut rest = host;
    let mut i = 0;
    while !rest.is_empty() {
        let s = steps.get(i % steps.len().max(1)).copied().unwrap_or(0x1f);
        i += 1;
        now += STEP[usize::from(s >> 5)];
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        settle(&mut m, now, &mut bits, &mut o);
        let (chunk, tail) = rest.split_at((usize::from(s & 0x1f) + 1).min(rest.len()));
        rest = tail;
        if bytewise {
            for b in chunk {
                m.feed(std::slice::from_ref(b), now);
            }
        } else {
            m.feed(chunk, now);
        }
        settle(&mut m, now, &mut bits, &mut o);
    }
    // Let every pending deadline pass (bounded: sessions re-arm keep-alive timers).
    for _ in 0..8 {
        let Some(t) = m.poll_timeout() else {
            break;
        };
        now = now.max(t);
        m.handle_timeout(now);
        settle(&mut m, now, &mut bits, &mut o);
    }
    o
}

fn check_lines(out: &[u8], host: &[u8]) {
    let mut dec = Decoder::<8192, RecvHook>::with_hook(RecvHook::auto());
    let mut bad = Vec::new();
    let mut check = |f: Frame<'_>| {
        if let Frame::Line(l) = f {
            if l.is_empty() {
                return;
            }
            if let ModuleLine::Unknown(u) = ModuleLine::parse(l) {
                bad.push(u.escape_ascii().to_string());
            }
        }
    };
    dec.decode(out, &mut check);
    if let Some(f) = dec.finish() {
        check(f);
    }
    assert!(
        bad.is_empty(),
        "module wrote lines that do not type: {bad:?}\nhost: {:?}\noutput: {:?}",
        host.escape_ascii().to_string(),
        out.escape_ascii().to_string()
    );
}

fuzz_target!(|data: &[u8]| {
    let [opts, k, rest @ ..] = data else {
        return;
    };
    let k = usize::from(k % 32).min(rest.len());
    let (steps, host) = rest.split_at(k);
    let echo_off = opts & 1 != 0;
    let a = run(echo_off, opts >> 1, steps, host, false);
    let b = run(echo_off, opts >> 1, steps, host, true);
    assert_eq!(a, b, "byte-wise feeding changed the outcome");
    let squeezed: Vec<u8> = host
        .iter()
        .filter(|&&b| b != b' ')
        .map(u8::to_ascii_uppercase)
        .collect();
    if echo_off && !squeezed.windows(3).any(|w| w == b"ATE") {
        check_lines(&a.out, host);
    }
});
