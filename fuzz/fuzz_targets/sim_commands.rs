//! The sans-IO simulated module core (`qmt_sim::module::Module`) on arbitrary host bytes, in an
//! input-chosen chunking, with a fake clock and a fake network: every `NetAction::Connect` is
//! answered `Connected` or `ConnectFailed` (input bits), and MQTT packets the module sends are
//! answered by a tiny fake broker (CONNACK accepted or refused by input bits, SUBACK, UNSUBACK,
//! PUBACK, PUBREC/PUBCOMP). Optionally (a broker script, below) the broker also sends PUBLISH
//! (QoS 0/1/2, DUP, retain, any packet id, topic and payload) and PUBREL to connected clients, so
//! the receive path runs too: `+QMTRECV` URCs (recv/mode 0), receive slots (recv/mode 1, read with
//! `AT+QMTRECV`), full slots holding messages unacknowledged, inbound QoS 2 (PUBREC, PUBREL,
//! PUBCOMP), DUP redelivery, hex payloads. Every packet the broker sends is encoded, and every
//! packet the module sends is decoded, with `mqtt-protocol` (the crate qmt-sim uses). Nothing
//! touches a real network.
//!
//! Input layout: byte 0 = options (bit 0: `ATE0\r` is fed first, its output not checked; bits 1–7: the
//! network answers, used cyclically bit by bit), byte 1 = `k` (bits 0–4: the number of step bytes;
//! bit 5: a broker script follows the steps; bits 6–7 unused), the `k` step bytes (used cyclically;
//! bits 0–4: chunk size − 1, bits 5–7: how far the clock advances before the chunk, see `STEP`),
//! then, with bit 5 of `k`, the broker script, and the rest = the host's bytes. Without bit 5 the
//! layout is that of the first version of this target (so its seeds and corpus keep their meaning)
//! and no packet is sent to the module unasked; only the final slot query (below) is new.
//!
//! Broker script: `[cfg, n, n × descriptor]`; a descriptor cut short by the input's end is dropped
//! (and the host bytes are then empty).
//! - `cfg`: bit 0: recv/mode 1 (buffered) for every client, bit 1: `msg_len_enable` 1 for every
//!   client, bit 2: `dataformat` recv hex for every client (these are set by host commands fed after
//!   `ATE0`, output not checked), bit 3: the broker does not send PUBREL by itself after a PUBREC
//!   (only descriptors do); bits 4–7 unused.
//! - descriptor: `[flags, at_hi, at_lo, id_hi, id_lo, topic_len, topic…, payload_len, payload…]`.
//!   `flags` bits 0–1: 0–2 PUBLISH with that QoS, 3 PUBREL; bit 2: DUP; bit 3: the broker loses the
//!   module's next acknowledgement of this message (it stays unacknowledged for the broker, which
//!   may send it again); bit 4: retain; bits 5–7: client index (mod 6). `at` (big endian) is how
//!   many host bytes after the previous descriptor's point this one is sent: the chunk holding that
//!   point is split there (the same way in both runs); points past the end are sent after the last
//!   chunk. The topic bytes are read as UTF-8 (lossily); an invalid MQTT topic name (empty, `+`,
//!   `#`) sends nothing. The broker stays a conforming one: it sends nothing to a client it has not
//!   accepted with CONNACK 0 on the current connection; a QoS 1/2 id it still waits an
//!   acknowledgement for sends that message again (its topic, payload and QoS; DUP per the
//!   flags), not a new one; a QoS 1/2 id whose PUBREL/PUBCOMP exchange is open is skipped; a PUBREL
//!   is not sent for a message whose PUBREC it lost.
//!
//! After the host's bytes, the module's deadlines are let pass, then `\r` and twice `AT+QMTRECV?\r`
//! are fed (the slot status for the oracle below).
//!
//! Invariants:
//! - nothing panics;
//! - chunking invariance (module docs: output does not depend on chunking): the same steps with
//!   every chunk fed byte-wise (same clock, same network answers, same injection points) give the
//!   same host output and the same network actions;
//! - with echo off for the whole run (`ATE0` first, and the host bytes hold no other `ATE`
//!   command: no `ATE` once spaces are removed, case-insensitively) and the output framable (see
//!   `framable`), every line the module writes types as a `ModuleLine` other than `Unknown`,
//!   framed by `at_codec` with qmt-proto's `RecvHook::auto()` (which counts the lengthed
//!   `+QMTRECV` payloads, CR LF inside included). Echoed lines and data are arbitrary host bytes,
//!   so with echo on only the first two invariants are checked;
//! - under the same conditions, the receive oracle (see `check_receive`): every QoS 1/2 message the
//!   module acknowledged (PUBACK / PUBREC) was written to the host in a `+QMTRECV` line or is
//!   still in a receive slot at the end; and every written message line is one the broker sent
//!   to that client, a QoS 2 message at most once.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::time::{Duration, Instant};

use at_codec::{Decoder, Frame};
use libfuzzer_sys::fuzz_target;
use mqtt::control::variable_header::ConnectReturnCode;
use mqtt::packet::suback::SubscribeReturnCode;
use mqtt::packet::{
    ConnackPacket, PubackPacket, PubcompPacket, PublishPacket, PubrecPacket, PubrelPacket,
    QoSWithPacketIdentifier, SubackPacket, UnsubackPacket, VariablePacket,
};
use mqtt::{Decodable, Encodable, TopicName};
use qmt_proto::codes::StoreStatus;
use qmt_proto::kind::Form;
use qmt_proto::{FinalCode, IdentityQuery, Info, ModuleLine, RecvHook, Urc};
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

/// At most this many broker descriptors are read.
const MAX_INJECT: usize = 64;

/// The final slot query (fed twice, see `run`).
const SLOT_QUERY: &[u8] = b"AT+QMTRECV?\r";

/// One inbound message as the host sees it: client, packet id (0 for QoS 0), topic, payload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    client: u8,
    id: u16,
    topic: String,
    payload: Vec<u8>,
}

#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<u8>,
    net: Vec<String>,
    /// Inbound QoS 1/2 messages the module acknowledged (PUBACK / PUBREC), each once.
    acked: Vec<Msg>,
    /// One entry per delivery the broker's PUBLISH packets allow: every QoS 0 and QoS 1 packet,
    /// and each QoS 2 message once (its redeliveries allow none).
    may_deliver: Vec<Msg>,
    /// Whether a PUBLISH went to the module at all, with a topic the `+QMTRECV` line cannot carry
    /// (`"` or CR LF), with a payload holding CR LF.
    injected: bool,
    bad_topic: bool,
    crlf_payload: bool,
    /// The output of the second final `AT+QMTRECV?`, when the first one was answered (see `run`).
    slot_answer: Option<Vec<u8>>,
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

/// One packet the broker sends (see the layout in the module docs).
#[derive(Clone, Debug)]
struct Inject {
    /// 0–2: PUBLISH with that QoS; 3: PUBREL.
    kind: u8,
    dup: bool,
    lose_ack: bool,
    retain: bool,
    client: u8,
    /// Host bytes fed before it is sent.
    at: usize,
    id: u16,
    topic: String,
    payload: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct Script {
    recv_buffered: bool,
    recv_len: bool,
    recv_hex: bool,
    manual_pubrel: bool,
    injects: Vec<Inject>,
}

/// Reads `[cfg, n, n × descriptor]` from the front of `input`; returns the script and the rest.
fn parse_script(input: &[u8]) -> (Script, &[u8]) {
    let [cfg, n, rest @ ..] = input else {
        return (Script::default(), &[]);
    };
    let mut rest = rest;
    let mut s = Script {
        recv_buffered: cfg & 1 != 0,
        recv_len: cfg & 2 != 0,
        recv_hex: cfg & 4 != 0,
        manual_pubrel: cfg & 8 != 0,
        injects: Vec::new(),
    };
    let mut at = 0usize;
    for _ in 0..usize::from(*n).min(MAX_INJECT) {
        let [flags, a0, a1, i0, i1, tlen, tail @ ..] = rest else {
            return (s, &[]);
        };
        let Some((topic, tail)) = tail.split_at_checked(usize::from(*tlen)) else {
            return (s, &[]);
        };
        let Some((&plen, tail)) = tail.split_first() else {
            return (s, &[]);
        };
        let Some((payload, tail)) = tail.split_at_checked(usize::from(plen)) else {
            return (s, &[]);
        };
        rest = tail;
        at = at.saturating_add(usize::from(u16::from_be_bytes([*a0, *a1])));
        s.injects.push(Inject {
            kind: flags & 3,
            dup: flags & 4 != 0,
            lose_ack: flags & 8 != 0,
            retain: flags & 16 != 0,
            client: (flags >> 5) % 6,
            at,
            id: u16::from_be_bytes([*i0, *i1]),
            topic: String::from_utf8_lossy(topic).into_owned(),
            payload: payload.to_vec(),
        });
    }
    (s, rest)
}

/// A QoS 1/2 message the broker waits an acknowledgement for.
#[derive(Clone, Debug)]
struct Outstanding {
    qos: u8,
    retain: bool,
    msg: Msg,
    /// The module acknowledged it (counted in `Outcome::acked`).
    acked: bool,
    /// The broker loses the module's next acknowledgement.
    lose_ack: bool,
}

/// The broker's side of one client's connection.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// CONNACK 0 sent on the current connection.
    up: bool,
    outstanding: BTreeMap<u16, Outstanding>,
    /// Inbound QoS 2 ids whose PUBREC the broker received: PUBREL sent or due, PUBCOMP awaited.
    released: BTreeSet<u16>,
}

struct Broker {
    bits: Bits,
    manual_pubrel: bool,
    peers: [Peer; 6],
}

fn encode(p: impl Into<VariablePacket>) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail; the packets built here are within MQTT's limits.
    p.into()
        .encode(&mut bytes)
        .expect("mqtt-protocol encodes the broker's packets");
    bytes
}

/// The broker's answer to one packet client `c` sent (or `None`), and its bookkeeping.
fn answer(broker: &mut Broker, c: usize, bytes: &[u8], o: &mut Outcome) -> Option<Vec<u8>> {
    // CONNECT is answered from its fixed header alone (as in the first version of this target),
    // whatever its body: the CONNACK is what matters here.
    if bytes.first().map(|b| b >> 4) == Some(1) {
        let accepted = broker.bits.next();
        let peer = &mut broker.peers[c];
        *peer = Peer {
            up: accepted,
            ..Peer::default()
        };
        let code = if accepted {
            ConnectReturnCode::ConnectionAccepted
        } else {
            ConnectReturnCode::NotAuthorized
        };
        return Some(encode(ConnackPacket::new(false, code)));
    }
    let peer = &mut broker.peers[c];
    match VariablePacket::decode(&mut Cursor::new(bytes)).ok()? {
        VariablePacket::SubscribePacket(p) => Some(encode(SubackPacket::new(
            p.packet_identifier(),
            vec![SubscribeReturnCode::MaximumQoSLevel1],
        ))),
        VariablePacket::UnsubscribePacket(p) => {
            Some(encode(UnsubackPacket::new(p.packet_identifier())))
        }
        VariablePacket::PublishPacket(p) => match p.qos() {
            QoSWithPacketIdentifier::Level0 => None,
            QoSWithPacketIdentifier::Level1(id) => Some(encode(PubackPacket::new(id))),
            QoSWithPacketIdentifier::Level2(id) => Some(encode(PubrecPacket::new(id))),
        },
        VariablePacket::PubrelPacket(p) => Some(encode(PubcompPacket::new(p.packet_identifier()))),
        VariablePacket::PubackPacket(p) => {
            acknowledged(peer, p.packet_identifier(), 1, o);
            None
        }
        VariablePacket::PubrecPacket(p) => {
            let id = p.packet_identifier();
            let processed = acknowledged(peer, id, 2, o);
            if processed {
                peer.released.insert(id);
            }
            (processed && !broker.manual_pubrel).then(|| encode(PubrelPacket::new(id)))
        }
        VariablePacket::PubcompPacket(p) => {
            peer.released.remove(&p.packet_identifier());
            None
        }
        _ => None,
    }
}

/// The module acknowledged inbound id `id` with the packet of QoS `qos` (PUBACK 1, PUBREC 2).
/// Returns whether the broker took the acknowledgement (it was not lost).
fn acknowledged(peer: &mut Peer, id: u16, qos: u8, o: &mut Outcome) -> bool {
    let Some(out) = peer.outstanding.get_mut(&id) else {
        return false;
    };
    if out.qos != qos {
        return false;
    }
    if !out.acked {
        out.acked = true;
        o.acked.push(out.msg.clone());
    }
    if out.lose_ack {
        out.lose_ack = false;
        return false;
    }
    peer.outstanding.remove(&id);
    true
}

fn settle(m: &mut Module, now: Instant, broker: &mut Broker, o: &mut Outcome) {
    for _ in 0..16 {
        let mut events = Vec::new();
        while let Some(action) = m.poll_net() {
            o.net.push(format!("{action:?}"));
            match action {
                NetAction::Connect { client_idx, .. } => {
                    broker.peers[usize::from(client_idx.get())] = Peer::default();
                    events.push(if broker.bits.next() {
                        NetEvent::Connected { client_idx }
                    } else {
                        NetEvent::ConnectFailed {
                            client_idx,
                            error: ConnectError::Network,
                        }
                    });
                }
                NetAction::Send { client_idx, bytes } => {
                    let c = usize::from(client_idx.get());
                    if let Some(bytes) = answer(broker, c, &bytes, o) {
                        events.push(NetEvent::Received { client_idx, bytes });
                    }
                }
                NetAction::Close { client_idx } => {
                    broker.peers[usize::from(client_idx.get())] = Peer::default();
                }
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

/// The broker sends the packet of `inj` (if a conforming broker may), then everything settles.
fn inject(m: &mut Module, now: Instant, broker: &mut Broker, inj: &Inject, o: &mut Outcome) {
    let c = usize::from(inj.client);
    let peer = &mut broker.peers[c];
    if !peer.up {
        return;
    }
    let bytes = if inj.kind == 3 {
        if peer
            .outstanding
            .get(&inj.id)
            .is_some_and(|out| out.acked && out.qos == 2)
        {
            // The broker lost this message's PUBREC: it does not release it.
            return;
        }
        encode(PubrelPacket::new(inj.id))
    } else {
        let (qos, retain, msg, again) = match peer.outstanding.get_mut(&inj.id) {
            Some(out) if inj.kind != 0 => {
                out.lose_ack = inj.lose_ack;
                (out.qos, out.retain, out.msg.clone(), true)
            }
            _ if inj.kind != 0 && peer.released.contains(&inj.id) => return,
            _ => {
                if TopicName::new(inj.topic.as_str()).is_err() {
                    return;
                }
                let msg = Msg {
                    client: inj.client,
                    id: if inj.kind == 0 { 0 } else { inj.id },
                    topic: inj.topic.clone(),
                    payload: inj.payload.clone(),
                };
                if inj.kind != 0 {
                    peer.outstanding.insert(
                        inj.id,
                        Outstanding {
                            qos: inj.kind,
                            retain: inj.retain,
                            msg: msg.clone(),
                            acked: false,
                            lose_ack: inj.lose_ack,
                        },
                    );
                }
                (inj.kind, inj.retain, msg, false)
            }
        };
        let Ok(topic) = TopicName::new(msg.topic.as_str()) else {
            return;
        };
        let with_id = match qos {
            0 => QoSWithPacketIdentifier::Level0,
            1 => QoSWithPacketIdentifier::Level1(msg.id),
            _ => QoSWithPacketIdentifier::Level2(msg.id),
        };
        let mut p = PublishPacket::new(topic, with_id, msg.payload.clone());
        p.set_dup(inj.dup);
        p.set_retain(retain);
        o.injected = true;
        o.bad_topic |= msg.topic.contains('"') || msg.topic.contains("\r\n");
        o.crlf_payload |= msg.payload.windows(2).any(|w| w == b"\r\n");
        if qos != 2 || !again {
            o.may_deliver.push(msg);
        }
        encode(p)
    };
    m.handle_net(
        NetEvent::Received {
            client_idx: qmt_proto::params::ClientIdx::new(i64::from(inj.client))
                .expect("0-5 is a client index"),
            bytes,
        },
        now,
    );
    settle(m, now, broker, o);
}

fn run(
    echo_off: bool,
    net_bits: u8,
    steps: &[u8],
    script: &Script,
    host: &[u8],
    bytewise: bool,
) -> Outcome {
    let mut now = Instant::now();
    let mut m = Module::new(now);
    let mut broker = Broker {
        bits: Bits {
            bits: net_bits,
            i: 0,
        },
        manual_pubrel: script.manual_pubrel,
        peers: Default::default(),
    };
    let mut o = Outcome {
        out: Vec::new(),
        net: Vec::new(),
        acked: Vec::new(),
        may_deliver: Vec::new(),
        injected: false,
        bad_topic: false,
        crlf_payload: false,
        slot_answer: None,
    };
    let mut preamble = Vec::new();
    if echo_off {
        // `ATE0` is itself echoed (echo is on when it arrives): its output is not checked.
        preamble.extend_from_slice(b"ATE0\r");
    }
    for c in 0..6 {
        if script.recv_buffered || script.recv_len {
            let (mode, len) = (u8::from(script.recv_buffered), u8::from(script.recv_len));
            preamble.extend_from_slice(
                format!("AT+QMTCFG=\"recv/mode\",{c},{mode},{len}\r").as_bytes(),
            );
        }
        if script.recv_hex {
            preamble.extend_from_slice(format!("AT+QMTCFG=\"dataformat\",{c},0,1\r").as_bytes());
        }
    }
    if !preamble.is_empty() {
        m.feed(&preamble, now);
        settle(&mut m, now, &mut broker, &mut o);
        if echo_off {
            o.out.clear();
        }
    }
    let mut injects = script.injects.iter().peekable();
    let mut pos = 0;
    let mut i = 0;
    while pos < host.len() {
        let s = steps.get(i % steps.len().max(1)).copied().unwrap_or(0x1f);
        i += 1;
        now += STEP[usize::from(s >> 5)];
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        settle(&mut m, now, &mut broker, &mut o);
        let end = (pos + usize::from(s & 0x1f) + 1).min(host.len());
        // Split the chunk at the injection points inside it, the same way in both runs.
        while pos < end {
            let cut = match injects.peek() {
                Some(inj) if inj.at < end => inj.at.max(pos),
                _ => end,
            };
            let piece = &host[pos..cut];
            if bytewise {
                for b in piece {
                    m.feed(std::slice::from_ref(b), now);
                }
            } else {
                m.feed(piece, now);
            }
            pos = cut;
            settle(&mut m, now, &mut broker, &mut o);
            if pos < end
                && let Some(inj) = injects.next()
            {
                inject(&mut m, now, &mut broker, inj, &mut o);
            }
        }
    }
    for inj in injects {
        inject(&mut m, now, &mut broker, inj, &mut o);
    }
    // Let every pending deadline pass (bounded: sessions re-arm keep-alive timers).
    for _ in 0..8 {
        let Some(t) = m.poll_timeout() else {
            break;
        };
        now = now.max(t);
        m.handle_timeout(now);
        settle(&mut m, now, &mut broker, &mut o);
    }
    // The slot status, for the receive oracle. `\r` ends a partial command line. Then the query
    // twice: if the first one has no answer at all, a data phase swallowed it (and maybe the
    // second); if it has one, no data phase is open after it (a data phase that ends inside it
    // leaves a tail that is no command, and every command answers), so the second is answered
    // as a query.
    m.feed(b"\r", now);
    settle(&mut m, now, &mut broker, &mut o);
    let first = o.out.len();
    m.feed(SLOT_QUERY, now);
    settle(&mut m, now, &mut broker, &mut o);
    let second = o.out.len();
    m.feed(SLOT_QUERY, now);
    settle(&mut m, now, &mut broker, &mut o);
    if second > first {
        o.slot_answer = Some(o.out[second..].to_vec());
    }
    o
}

/// The lines of the module's output as the framer (auto `RecvHook`) delivers them.
fn frame_lines(out: &[u8]) -> Vec<Vec<u8>> {
    let mut dec = Decoder::<8192, RecvHook>::with_hook(RecvHook::auto());
    let mut lines = Vec::new();
    let mut take = |f: Frame<'_>| {
        if let Frame::Line(l) = f
            && !l.is_empty()
        {
            lines.push(l.to_vec());
        }
    };
    dec.decode(out, &mut take);
    if let Some(f) = dec.finish() {
        take(f);
    }
    lines
}

fn check_lines(lines: &[Vec<u8>], out: &[u8], host: &[u8]) {
    // Spec §10.2: identity answers are bare lines, typed only by the command in flight.
    let bare = |l: &[u8]| {
        IdentityQuery::ALL
            .iter()
            .any(|q| Info::parse_for(q.kind(), Form::Execute, l).is_some())
    };
    let bad: Vec<String> = lines
        .iter()
        .filter(|l| matches!(ModuleLine::parse(l), ModuleLine::Unknown(_)) && !bare(l))
        .map(|l| l.escape_ascii().to_string())
        .collect();
    assert!(
        bad.is_empty(),
        "module wrote lines that do not type: {bad:?}\nhost: {:?}\noutput: {:?}",
        host.escape_ascii().to_string(),
        out.escape_ascii().to_string()
    );
}

fn hex_upper(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02X}").into_bytes())
        .collect()
}

/// Whether a written message line (`Msg` parsed from it) carries message `m`: same client, id and
/// topic, and the payload as it is or as upper-case hex (`dataformat` recv hex; whether it is on
/// is not tracked, so both are accepted).
fn carries(line: &Msg, m: &Msg) -> bool {
    line.client == m.client
        && line.id == m.id
        && line.topic == m.topic
        && (line.payload == m.payload || line.payload == hex_upper(&m.payload))
}

/// The size of a largest matching of the bipartite graph `adj` (left node → right nodes),
/// `right` right nodes (Kuhn's augmenting paths; the graphs here are small).
fn max_matching(adj: &[Vec<usize>], right: usize) -> usize {
    fn augment(
        i: usize,
        adj: &[Vec<usize>],
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for &j in &adj[i] {
            if !seen[j] {
                seen[j] = true;
                if owner[j].is_none_or(|k| augment(k, adj, owner, seen)) {
                    owner[j] = Some(i);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; right];
    (0..adj.len())
        .filter(|&i| augment(i, adj, &mut owner, &mut vec![false; right]))
        .count()
}

/// The receive oracle, checked from outside the core (the host's output and the broker's view):
///
/// 1. **No acknowledged message is dropped.** For each client, every QoS 1/2 message the module
///    acknowledged (its first PUBACK / PUBREC; a message the broker sends again counts once) must
///    be matched to its own written `+QMTRECV` message line (URC of recv/mode 0, or an answer to
///    `AT+QMTRECV=`), except at most as many as the client's receive slots still hold at the end
///    (the final `AT+QMTRECV?`). A message the module acknowledged and then lost — dropped from
///    a full overflow queue, or with its slot, or never written — breaks this. (Slots may also
///    hold QoS 0 messages, which only makes the check more lenient.)
/// 2. **Nothing invented, QoS 2 exactly once.** Every written message line must be matched to its
///    own PUBLISH the broker sent to that client: each QoS 0/1 packet allows one line (a QoS 1
///    redelivery may legitimately be delivered again), each QoS 2 message one line however often
///    it was sent.
///
/// Matching is by client, packet id, topic and payload (raw or hex), as a largest bipartite
/// matching so that equal messages are counted right.
fn check_receive(lines: &[Vec<u8>], o: &Outcome, host: &[u8]) {
    let written: Vec<Msg> = lines
        .iter()
        .filter_map(|l| match ModuleLine::parse(l) {
            ModuleLine::Urc(Urc::Recv(r)) => Some(Msg {
                client: r.client_idx.get(),
                id: r.msgid.get(),
                topic: r.topic.to_owned(),
                payload: r.payload.to_vec(),
            }),
            _ => None,
        })
        .collect();
    let context = || {
        format!(
            "\nacked: {:?}\nwritten: {:?}\nsent: {:?}\nhost: {:?}\noutput: {:?}",
            o.acked,
            written,
            o.may_deliver,
            host.escape_ascii().to_string(),
            o.out.escape_ascii().to_string()
        )
    };

    // 2. Every line is a delivery the broker's packets allow.
    let adj: Vec<Vec<usize>> = written
        .iter()
        .map(|l| {
            (0..o.may_deliver.len())
                .filter(|&j| carries(l, &o.may_deliver[j]))
                .collect()
        })
        .collect();
    let matched = max_matching(&adj, o.may_deliver.len());
    assert_eq!(
        matched,
        written.len(),
        "the module wrote message lines no PUBLISH accounts for (invented, corrupted, or a QoS 2 \
         message twice){}",
        context()
    );

    // 1. Every acknowledged message was written or is in a slot.
    let Some(answer) = &o.slot_answer else {
        return;
    };
    let mut stored = [0usize; 6];
    let status = frame_lines(answer);
    for (n, l) in status.iter().enumerate() {
        match ModuleLine::parse(l) {
            ModuleLine::Info(Info::RecvStatus { client_idx, slots }) => {
                stored[usize::from(client_idx.get())] =
                    slots.iter().filter(|s| **s == StoreStatus::Stored).count();
            }
            ModuleLine::Final(FinalCode::Ok) if n + 1 == status.len() => {}
            _ => panic!(
                "the final AT+QMTRECV? was answered with {:?}{}",
                answer.escape_ascii().to_string(),
                context()
            ),
        }
    }
    for c in 0..6u8 {
        let acked: Vec<&Msg> = o.acked.iter().filter(|m| m.client == c).collect();
        let adj: Vec<Vec<usize>> = acked
            .iter()
            .map(|m| {
                (0..written.len())
                    .filter(|&j| carries(&written[j], m))
                    .collect()
            })
            .collect();
        let unwritten = acked.len() - max_matching(&adj, written.len());
        assert!(
            unwritten <= stored[usize::from(c)],
            "client {c}: {unwritten} acknowledged messages were neither written nor are in a slot \
             ({} stored){}",
            stored[usize::from(c)],
            context()
        );
    }
}

/// Whether the module's output is framable by the auto `RecvHook`, so that lines can be typed and
/// messages recognised. `squeezed` is the host's bytes without spaces, upper case.
///
/// - Echo off throughout: echoed lines and data are arbitrary host bytes.
/// - Once messages were received: no `view/mode` command. With view/mode 1 a message's header
///   line ends with its length and the raw payload follows as a data run (spec §6 variation 2),
///   which only `LenMode::Split` frames; the auto hook, like a driver that does not know the
///   firmware's habit, sees the payload as lines of its own.
/// - No topic holding `"` or CR LF: the module writes the topic between quotes as it is (there is
///   no escaping in AT), so such a line has no parsable header (qmt-proto documents that topics
///   hold no `"`; the hook's contract is that a header holds no CR LF).
/// - A payload holding CR LF only with `msg_len_enable` 1 from the script's preamble and no host
///   `recv/mode` command (which could turn it off): without a length the line ends at the
///   payload's first CR LF (spec §6 rule 2), and nobody can frame it.
fn framable(echo_off: bool, squeezed: &[u8], script: &Script, o: &Outcome) -> bool {
    let has = |needle: &[u8]| squeezed.windows(needle.len()).any(|w| w == needle);
    let echo_stays_off = echo_off && !has(b"ATE");
    let inline_form = !o.injected || !has(b"VIEW/MODE");
    let crlf_counted = !o.crlf_payload || (script.recv_len && !has(b"RECV/MODE"));
    echo_stays_off && inline_form && !o.bad_topic && crlf_counted
}

fuzz_target!(|data: &[u8]| {
    let [opts, k, rest @ ..] = data else {
        return;
    };
    let n = usize::from(k % 32).min(rest.len());
    let (steps, rest) = rest.split_at(n);
    let (script, host) = if k & 0x20 != 0 {
        parse_script(rest)
    } else {
        (Script::default(), rest)
    };
    let echo_off = opts & 1 != 0;
    let a = run(echo_off, opts >> 1, steps, &script, host, false);
    let b = run(echo_off, opts >> 1, steps, &script, host, true);
    assert_eq!(a, b, "byte-wise feeding changed the outcome");
    let squeezed: Vec<u8> = host
        .iter()
        .filter(|&&b| b != b' ')
        .map(u8::to_ascii_uppercase)
        .collect();
    if framable(echo_off, &squeezed, &script, &a) {
        let lines = frame_lines(&a.out);
        check_lines(&lines, &a.out, host);
        check_receive(&lines, &a, host);
    }
});
