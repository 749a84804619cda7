//! What users see besides the results of their own calls: received [`Message`]s and the typed
//! [`Event`]s of link loss, keep-alive failure, module restart, recovery, failed publishes,
//! retransmissions and lost events.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use qmt_proto::Command;
use qmt_proto::cfg::DataEncoding;
use qmt_proto::codes::{RecommendedAction, StatCode};
use qmt_proto::params::{ClientIdx, MsgId, Qos, RecvId, Topic};
use qmt_proto::recv::{Recv, decode_hex_into};

use crate::correlate::{OpKind, Outcome, Resolution};
use crate::error::{ClientError, PublishFailure};
use crate::recovery::RecoveryEvent;

/// The QoS of a received message, as far as the host can tell: `+QMTRECV` carries the packet id
/// and nothing else about QoS ([`ReceivedQos::infer`] says how it is decided).
///
/// EC200x/EC600x/EG912Y write `msgid` 0 exactly for QoS 0 (spec §6). Some BG9x firmware numbers
/// every message, QoS 0 included; such a message is still typed QoS 0 when the client's
/// subscriptions say it can be nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceivedQos {
    /// QoS 0: `msgid` 0, or a numbered message on filters all granted QoS 0.
    AtMostOnce,
    /// QoS 1 or 2 (the module acknowledged it per its QoS, spec §9): `msgid` ≠ 0 and a filter
    /// granted QoS 1 or 2 matches the topic, or none of the client's filters is known to.
    AtLeastOnce,
}

impl ReceivedQos {
    /// The QoS of a message with packet id `msgid` on `topic`, for a client whose subscriptions
    /// the broker granted as `granted` (filter, granted QoS).
    ///
    /// - `msgid` 0 is QoS 0.
    /// - A nonzero `msgid` is QoS 1 or 2 on EC200x/EC600x/EG912Y, which write 0 for every QoS 0
    ///   message, but not on some BG9x firmware, which numbers every message. A broker delivers a
    ///   message at no higher QoS than it granted the subscription that matched it (MQTT 3.1.1
    ///   §3.8.4), so when filters of the client match `topic` and every one of them was granted
    ///   QoS 0, the message is QoS 0, whatever its `msgid`.
    /// - Otherwise it is taken as QoS 1 or 2. A BG9x-numbered QoS 0 message on a filter granted
    ///   QoS 1 or 2 (or on a subscription this host does not know, kept in a persistent session)
    ///   cannot be told apart from QoS 1.
    pub fn infer(msgid: MsgId, topic: &str, granted: &[(Topic, Qos)]) -> ReceivedQos {
        if msgid.get() == 0 {
            return ReceivedQos::AtMostOnce;
        }
        let mut matching = granted
            .iter()
            .filter(|(filter, _)| filter_matches(filter.as_str(), topic))
            .peekable();
        if matching.peek().is_some() && matching.all(|(_, q)| *q == Qos::AtMostOnce) {
            ReceivedQos::AtMostOnce
        } else {
            ReceivedQos::AtLeastOnce
        }
    }
}

/// Whether the topic filter `filter` matches the topic name `topic` (MQTT 3.1.1 §4.7): `+` is one
/// level, a final `#` any number of levels (its parent included), and a topic starting with `$`
/// is not matched by a filter starting with a wildcard.
fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A message the broker delivered to a client (spec §5, §6). The module does not report the
/// retain flag, so a message has none.
///
/// Topic and payload live in one allocation (the only one made per received message: the line
/// is typed in place and copied once, here).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The client that received it.
    pub client_idx: ClientIdx,
    /// The MQTT packet identifier of the PUBLISH (0 for QoS 0).
    pub msgid: MsgId,
    /// The QoS: from `msgid` alone when the message is built ([`Message::new`],
    /// [`Message::from_recv`]); the client core refines it with the client's subscriptions
    /// ([`ReceivedQos::infer`]).
    pub qos: ReceivedQos,
    /// The topic's bytes, then the payload's.
    bytes: Box<[u8]>,
    /// Where the topic ends in `bytes`.
    topic_len: usize,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        let payload = self.payload();
        let head = &payload[..payload.len().min(SHOWN)];
        let more = if payload.len() > SHOWN { "…" } else { "" };
        f.debug_struct("Message")
            .field("client_idx", &self.client_idx)
            .field("topic", &self.topic())
            .field(
                "payload",
                &format_args!(
                    "b\"{}\"{more} ({} bytes)",
                    head.escape_ascii(),
                    payload.len()
                ),
            )
            .field("msgid", &self.msgid)
            .field("qos", &self.qos)
            .finish()
    }
}

impl Message {
    /// A message with these parts (for tests and other drivers; received messages come from
    /// [`Message::from_recv`]).
    pub fn new(client_idx: ClientIdx, topic: &str, payload: &[u8], msgid: MsgId) -> Message {
        let mut bytes = Vec::with_capacity(topic.len() + payload.len());
        bytes.extend_from_slice(topic.as_bytes());
        bytes.extend_from_slice(payload);
        Message::from_parts(client_idx, msgid, bytes, topic.len())
    }

    fn from_parts(
        client_idx: ClientIdx,
        msgid: MsgId,
        bytes: Vec<u8>,
        topic_len: usize,
    ) -> Message {
        Message {
            client_idx,
            msgid,
            qos: ReceivedQos::infer(msgid, "", &[]),
            bytes: bytes.into_boxed_slice(),
            topic_len,
        }
    }

    /// The message with its QoS decided by the client's subscriptions as the broker granted them
    /// ([`ReceivedQos::infer`]): a numbered message of BG9x firmware on filters granted QoS 0 is
    /// QoS 0.
    pub(crate) fn with_granted(mut self, granted: &[(Topic, Qos)]) -> Message {
        self.qos = ReceivedQos::infer(self.msgid, self.topic(), granted);
        self
    }

    /// A message from a `+QMTRECV` line (the inline URC, or a line answering `AT+QMTRECV` in
    /// buffered mode). With `recv_encoding` hex (`dataformat` recv_mode 1, spec §6 rule 3) the
    /// payload is decoded; invalid hex is [`ClientError::BadHexPayload`]. One allocation.
    pub fn from_recv(recv: &Recv<'_>, recv_encoding: DataEncoding) -> Result<Message, ClientError> {
        let topic = recv.topic.as_bytes();
        let bytes = match recv_encoding {
            DataEncoding::Text => {
                let mut b = Vec::with_capacity(topic.len() + recv.payload.len());
                b.extend_from_slice(topic);
                b.extend_from_slice(recv.payload);
                b
            }
            DataEncoding::Hex => {
                let n = recv.payload.len() / 2;
                let mut b = vec![0u8; topic.len() + n];
                b[..topic.len()].copy_from_slice(topic);
                let got = decode_hex_into(recv.payload, &mut b[topic.len()..])
                    .map_err(ClientError::BadHexPayload)?;
                b.truncate(topic.len() + got);
                b
            }
        };
        Ok(Message::from_parts(
            recv.client_idx,
            recv.msgid,
            bytes,
            topic.len(),
        ))
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        // Built from a `&str`: always UTF-8.
        core::str::from_utf8(&self.bytes[..self.topic_len]).unwrap_or_default()
    }

    /// The payload bytes (decoded from hex in hex receive mode).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.topic_len..]
    }

    /// The payload as UTF-8 text, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        core::str::from_utf8(self.payload()).ok()
    }
}

/// The command that reads a message announced by `+QMTRECV: <idx>,<recv_id>` (buffered mode,
/// spec §5); its answer lines become messages through [`Message::from_recv`].
pub fn read_stored(client_idx: ClientIdx, recv_id: RecvId) -> Command {
    Command::Recv(qmt_proto::command::Recv {
        client_idx,
        recv_id: Some(recv_id),
    })
}

/// Something that happened, delivered to the user in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message arrived.
    Message(Message),
    /// `+QMTSTAT`: the client's link is gone.
    LinkLost {
        /// The client.
        client_idx: ClientIdx,
        /// The `+QMTSTAT` code.
        code: StatCode,
        /// What the spec recommends (§6).
        action: RecommendedAction,
    },
    /// `+QMTPING`: keep-alive failed; the module closed the client.
    PingTimeout {
        /// The client.
        client_idx: ClientIdx,
    },
    /// `RDY`: the module restarted; every client must be configured, opened and connected again.
    ModuleRestarted,
    /// The recovery ladder (spec §10, with bring-up on): a rung being tried for a lost bearer or
    /// registration, then [`Stage::Up`](crate::status::Stage::Up) when it is repaired. Each
    /// client hears every rung, in order.
    Network(crate::status::Stage),
    /// The ladder could not repair the network; recovery keeps waiting for it.
    NetworkFailed(ClientError),
    /// What automatic recovery did.
    Recovery {
        /// The client.
        client_idx: ClientIdx,
        /// What happened.
        event: RecoveryEvent,
    },
    /// A publish failed. Every publish that fails after [`Client::publish_request`] returned its
    /// handle is reported here as well as to its caller (as [`ClientError::PublishFailed`] with the
    /// same cause), however it failed: the module refused the command (`ERROR`/`+CME ERROR`), gave
    /// up (`+QMTPUBEX: <idx>,<msgid>,2`), the link was lost, keep-alive failed, the module
    /// restarted, or no result came in time. So a QoS 1/2 message is never lost silently, even
    /// when nobody waits on its handle. (Refusals before anything was written — payload too
    /// large, not connected, port queue full — are returned by `publish_request` only.)
    ///
    /// [`Client::publish_request`]: crate::Client::publish_request
    PublishFailed {
        /// The client.
        client_idx: ClientIdx,
        /// Its packet identifier.
        msgid: u16,
        /// Its QoS.
        qos: Qos,
        /// Why.
        cause: PublishFailure,
    },
    /// The module is retransmitting the packet of an operation in flight
    /// (`+QMTPUBEX`/`+QMTSUB`/`+QMTUNS: <idx>,<msgid>,1[,<count>]`, `+QMTCONN: <idx>,1`; reported
    /// only with the `timeout_notice` option on). Not final: the operation's handle resolves
    /// later, and its deadline was pushed out by one `pkt_timeout`.
    ///
    /// For CONN it is a warning: a second CONNECT on one connection is a protocol violation, so
    /// the broker closes the connection, and mosquitto also discards a persistent session with
    /// the messages queued in it (why qmt's default `timeout` for a persistent session never
    /// retransmits: [`crate::options`]).
    Retransmitting {
        /// The client.
        client_idx: ClientIdx,
        /// The operation.
        op: OpKind,
        /// Its packet identifier (0 for CONN).
        msgid: u16,
        /// The retransmission count, if the line had one.
        count: Option<i64>,
    },
    /// A message arrived damaged and was dropped: its `+QMTRECV` payload did not match its length
    /// (bytes lost or added on a UART without flow control, spec §10.7). The module has already
    /// acknowledged it to the broker, so it will not come again: this is the loss, reported.
    /// Only clients whose lines carry lengths (qmt's default, `msg_len_enable` 1) can tell. When
    /// the line's head was hit too, every client hears it, without msgid or topic.
    MessageDamaged {
        /// Its packet identifier (0 for QoS 0), when the line's head still says.
        msgid: Option<u16>,
        /// Its topic, when the line's head still says.
        topic: Option<String>,
    },
    /// Events were lost before they reached this connection: `dropped` of them since the previous
    /// receive. Where, and what it means, is in `source`.
    Lagged {
        /// How many were lost.
        dropped: u64,
        /// Where they were lost.
        source: LagSource,
    },
}

/// Where the events of an [`Event::Lagged`] were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LagSource {
    /// In this connection's bounded event queue: the consumer was slower than the module, and
    /// with [`Overflow::DropOldest`](crate::Overflow::DropOldest) the oldest messages were
    /// dropped (the default, back-pressure, drops nothing).
    Connection,
    /// In the module: messages it had stored in its receive slots (`recv/mode` 1, announced
    /// with `+QMTRECV: <idx>,<recv_id>`) and acknowledged to the server were gone when read,
    /// because it restarted (`RDY`: power loss or reset) in between: the slots are RAM. The
    /// server does not send an acknowledged message again, so they are lost. This is the one
    /// window buffered mode cannot close; it is reported so that it is never silent (found by
    /// the soak: a power cycle right after a stalled broker's backlog was stored).
    ModuleRestart,
}

impl Event {
    /// The event a correlator [`Resolution`] stands for, if any: link loss, keep-alive failure,
    /// restart and failed publishes are events; other operations' results go to their callers
    /// only, and ignored (stale) `+QMTSTAT`s and unmatched results are not events.
    pub fn from_resolution(resolution: &Resolution) -> Option<Event> {
        match resolution {
            Resolution::LinkLost {
                client_idx,
                code,
                action,
            } => Some(Event::LinkLost {
                client_idx: *client_idx,
                code: *code,
                action: *action,
            }),
            Resolution::PingTimeout { client_idx } => Some(Event::PingTimeout {
                client_idx: *client_idx,
            }),
            Resolution::ModuleRestarted => Some(Event::ModuleRestarted),
            Resolution::Op {
                key,
                outcome:
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid, qos, cause, ..
                    }),
                ..
            } if key.kind == OpKind::Pub => Some(Event::PublishFailed {
                client_idx: key.client_idx,
                msgid: *msgid,
                qos: *qos,
                cause: cause.clone(),
            }),
            Resolution::Op {
                key,
                outcome: Outcome::Progress { retransmissions },
                ..
            } => Some(Event::Retransmitting {
                client_idx: key.client_idx,
                op: key.kind,
                msgid: key.msgid,
                count: *retransmissions,
            }),
            Resolution::Op { .. }
            | Resolution::StatIgnored { .. }
            | Resolution::Unmatched { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::{Correlator, OpKey};
    use qmt_proto::{ModuleLine, Urc};
    use qmt_transport::time::Instant;

    fn recv(line: &[u8]) -> Recv<'_> {
        match ModuleLine::parse(line) {
            ModuleLine::Urc(Urc::Recv(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_payloads_keep_every_byte() {
        let line = b"+QMTRECV: 0,0,\"topic/pub\",8,a\r\n\"b,\x00c";
        let m = Message::from_recv(&recv(line), DataEncoding::Text).unwrap();
        assert_eq!(m.topic(), "topic/pub");
        assert_eq!(m.payload(), b"a\r\n\"b,\x00c");
        assert_eq!(m.qos, ReceivedQos::AtMostOnce);
        assert_eq!(m.client_idx.get(), 0);
        let q = Message::from_recv(
            &recv(b"+QMTRECV: 1,7,\"t\",36,\"This is the payload related to topic\""),
            DataEncoding::Text,
        )
        .unwrap();
        assert_eq!(
            q.payload_str(),
            Some("This is the payload related to topic")
        );
        assert_eq!(q.msgid.get(), 7);
        assert_eq!(q.qos, ReceivedQos::AtLeastOnce);
    }

    #[test]
    fn the_qos_of_a_numbered_message_comes_from_the_granted_filters() {
        let id = |n| MsgId::new(n).unwrap();
        let g = |f: &str, q| (Topic::new(f).unwrap(), q);
        let infer = ReceivedQos::infer;
        // EC200x: msgid 0 is QoS 0, a nonzero one QoS 1/2 when nothing else is known.
        assert_eq!(infer(id(0), "a", &[]), ReceivedQos::AtMostOnce);
        assert_eq!(infer(id(5), "a", &[]), ReceivedQos::AtLeastOnce);
        // BG9x numbers every message: filters granted QoS 0 make it QoS 0.
        let qos0 = [
            g("sensors/+/t", Qos::AtMostOnce),
            g("cmd/#", Qos::AtMostOnce),
        ];
        assert_eq!(infer(id(5), "sensors/1/t", &qos0), ReceivedQos::AtMostOnce);
        assert_eq!(
            infer(id(5), "cmd", &qos0),
            ReceivedQos::AtMostOnce,
            "# holds its parent"
        );
        assert_eq!(infer(id(5), "cmd/a/b", &qos0), ReceivedQos::AtMostOnce);
        // A topic no known filter matches, or one a filter granted more also matches: QoS 1/2.
        assert_eq!(infer(id(5), "sensors/1/h", &qos0), ReceivedQos::AtLeastOnce);
        assert_eq!(infer(id(5), "sensors/t", &qos0), ReceivedQos::AtLeastOnce);
        let mixed = [g("a/+", Qos::AtMostOnce), g("a/#", Qos::AtLeastOnce)];
        assert_eq!(infer(id(5), "a/b", &mixed), ReceivedQos::AtLeastOnce);
        assert_eq!(infer(id(0), "a/b", &mixed), ReceivedQos::AtMostOnce);
        // `$` topics are not matched by leading wildcards (MQTT 3.1.1 §4.7.2).
        let all = [g("#", Qos::AtMostOnce)];
        assert_eq!(infer(id(5), "$SYS/x", &all), ReceivedQos::AtLeastOnce);
        assert_eq!(infer(id(5), "x", &all), ReceivedQos::AtMostOnce);
        let sys = [g("$SYS/#", Qos::AtMostOnce)];
        assert_eq!(infer(id(5), "$SYS/x", &sys), ReceivedQos::AtMostOnce);
        // A message built from its line, then refined by the client's grants.
        let m =
            Message::from_recv(&recv(b"+QMTRECV: 0,9,\"cmd/x\",2,on"), DataEncoding::Text).unwrap();
        assert_eq!(m.qos, ReceivedQos::AtLeastOnce);
        let m = m.with_granted(&qos0);
        assert_eq!((m.qos, m.msgid.get()), (ReceivedQos::AtMostOnce, 9));
    }

    #[test]
    fn hex_payloads_are_decoded() {
        let m = Message::from_recv(&recv(b"+QMTRECV: 0,3,\"t\",8,00ff0D0a"), DataEncoding::Hex)
            .unwrap();
        assert_eq!(m.payload(), [0x00, 0xff, 0x0d, 0x0a]);
        let e = Message::from_recv(&recv(b"+QMTRECV: 0,3,\"t\",3,0ff"), DataEncoding::Hex);
        assert!(matches!(e, Err(ClientError::BadHexPayload(_))));
        let e = Message::from_recv(&recv(b"+QMTRECV: 0,3,\"t\",2,zz"), DataEncoding::Hex);
        assert!(matches!(e, Err(ClientError::BadHexPayload(_))));
    }

    #[test]
    fn debug_truncates_long_payloads() {
        let m = Message::new(
            ClientIdx::new(0).unwrap(),
            "t",
            &[b'y'; 1000],
            MsgId::new(0).unwrap(),
        );
        let s = format!("{m:?}");
        assert!(s.contains("(1000 bytes)") && s.len() < 300, "{s}");
    }

    #[test]
    fn read_stored_builds_the_recv_command() {
        let cmd = read_stored(ClientIdx::new(2).unwrap(), RecvId::new(4).unwrap());
        assert_eq!(cmd.to_bytes(), b"AT+QMTRECV=2,4\r");
    }

    #[test]
    fn resolutions_become_events() {
        let now = Instant::ZERO;
        let mut cor = Correlator::new();
        let c0 = ClientIdx::new(0).unwrap();
        cor.mark_open(c0);
        cor.register(OpKey::sub(c0, MsgId::new(1).unwrap()), now)
            .unwrap();
        cor.register_publish(c0, MsgId::new(2).unwrap(), Qos::ExactlyOnce, now)
            .unwrap();
        let events: Vec<Event> = cor
            .on_urc(&ModuleLine::parse(b"+QMTSTAT: 0,7"), now)
            .iter()
            .filter_map(Event::from_resolution)
            .collect();
        assert_eq!(
            events,
            vec![
                Event::LinkLost {
                    client_idx: c0,
                    code: StatCode::LinkDown,
                    action: RecommendedAction::CheckLinkThenReopen
                },
                // The SUB's failure goes to its caller only; the publish is also an event.
                Event::PublishFailed {
                    client_idx: c0,
                    msgid: 2,
                    qos: Qos::ExactlyOnce,
                    cause: PublishFailure::LinkLost(StatCode::LinkDown)
                },
            ]
        );
        // A stale +QMTSTAT is no event.
        let r = cor.on_urc(&ModuleLine::parse(b"+QMTSTAT: 0,1"), now);
        assert!(r.iter().filter_map(Event::from_resolution).next().is_none());
        let r = cor.on_urc(&ModuleLine::parse(b"+QMTPING: 0,1"), now);
        assert_eq!(
            r.iter()
                .filter_map(Event::from_resolution)
                .collect::<Vec<_>>(),
            vec![Event::PingTimeout { client_idx: c0 }]
        );
        let r = cor.on_urc(&ModuleLine::parse(b"RDY"), now);
        assert_eq!(
            r.iter()
                .filter_map(Event::from_resolution)
                .collect::<Vec<_>>(),
            vec![Event::ModuleRestarted]
        );
    }
}
