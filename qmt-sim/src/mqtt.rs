//! The MQTT client session of one simulated client, sans-IO (model: `quinn-proto`).
//!
//! A [`Session`] is a plain state machine over one connection to the broker. It is fed with the
//! bytes the server sent ([`Session::handle_bytes`]), with the passing of time
//! ([`Session::handle_timeout`]) and with the host's operations ([`Session::subscribe`],
//! [`Session::publish`], …); it is drained of bytes to write ([`Session::poll_transmit`]), of
//! [`SessionEvent`]s for the module core to report as URCs ([`Session::poll_event`]) and of its
//! next deadline ([`Session::poll_timeout`]). It never reads a clock and never sleeps: time comes in
//! only as the `now` arguments.
//!
//! Every packet is encoded and decoded with the `mqtt-protocol` crate; this module only reads the
//! fixed header's remaining length to know when a whole packet is buffered.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use qmt_proto::params::MqttVersion;
//! use qmt_sim::mqtt::{Session, SessionConfig, SessionEvent};
//!
//! let config = SessionConfig {
//!     version: MqttVersion::V3_1_1, client_id: "dev-1".into(), username: None, password: None,
//!     keep_alive: 120, clean_session: true, pkt_timeout: Duration::from_secs(5), retry_times: 3,
//!     timeout_notice: false, will: None,
//! };
//! let t0 = Instant::now();
//! let mut session = Session::connect(config, t0);
//! let connect = session.poll_transmit().expect("CONNECT"); // write it to the socket
//! assert_eq!(connect[0], 0x10);
//! assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(5))); // CONNACK wait
//! session.handle_bytes(&[0x20, 0x02, 0x00, 0x00], t0); // CONNACK 0, read from the socket
//! assert_eq!(session.poll_event(), Some(SessionEvent::ConnAck { code: 0 }));
//! assert!(session.is_connected());
//! assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(120))); // keep-alive
//! ```
//!
//! A driver loop: after any `handle_*` call or operation, drain [`Session::poll_event`], then
//! [`Session::poll_transmit`] (delivering a message queues its acknowledgement), then re-arm a
//! timer at [`Session::poll_timeout`].
//!
//! # Choices where the spec is silent
//! - **Retransmission** (spec §9): a packet unanswered after `pkt_timeout` is sent again (PUBLISH
//!   with DUP), at most `retry_times` times; when the last one is unanswered for another
//!   `pkt_timeout`, the operation fails. With the defaults (5 s, 3) that is 20 s in all. The PUBREL
//!   of an outgoing QoS 2 publish is a new packet and gets its own `retry_times` retransmissions.
//! - **PINGRESP wait**: the spec gives none; the session waits `pkt_timeout` for PINGRESP, then
//!   reports [`SessionEvent::PingTimeout`] and is dead. While a PINGREQ is outstanding no further
//!   PINGREQ is sent. The keep-alive clock runs only while connected and is reset by every packet
//!   the session sends (a packet counts as sent when it is queued for transmission), never by
//!   packets from the server.
//! - **Refused CONNACK** (code ≠ 0): the broker closes the connection, so the session is dead after
//!   the [`SessionEvent::ConnAck`].
//! - **Invalid operations** fail at once with [`SessionEvent::Failed`] and send nothing: packet id
//!   0 for SUBSCRIBE/UNSUBSCRIBE/PUBLISH QoS 1–2 (MQTT forbids it), a packet id still in flight (the
//!   running exchange is left alone), no filters, an invalid topic name or filter, or any operation
//!   before the CONNACK. An invalid CONNECT configuration (a string over 65535 bytes, an invalid will
//!   topic) fails the connect at once. On a dead or closed session operations are ignored.
//! - **Server packets the client cannot receive** (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
//!   DISCONNECT, reserved types), malformed packets (including any that does not encode back to
//!   exactly its bytes, e.g. a non-minimal remaining length or a truncated string) and packets
//!   longer than [`MAX_INCOMING_PACKET`] are protocol errors. Well-formed but unexpected packets
//!   (an ACK for an unknown id, anything before the CONNACK, a second CONNACK, a stray PINGRESP)
//!   are ignored and counted in [`SessionStats::ignored`].
//! - **Holding** (spec §9, all five receive slots full): while not accepting, incoming publishes
//!   (QoS 0 too, to keep their order) are held unacknowledged. Past [`MAX_HELD`] a QoS 0 publish
//!   is dropped and counted; a QoS 1/2 one is held up to [`MAX_HELD_ACKED`]: the server's own
//!   in-flight window (20 at mosquitto) bounds those, and one dropped unacknowledged would stay in
//!   that window until the next connection, stopping every later QoS 1/2 message once the window
//!   is full of them (found by the damage soak). A held QoS 1/2 publish that the server sends again with the same packet id is not
//!   held twice. Messages are delivered — and acknowledged — one at a time by
//!   [`Session::poll_event`], so the core may stop accepting between two of them.
//! - **Death** (ping timeout, failed connect, refused CONNACK, protocol error): the session drops
//!   whatever was queued for transmission and every held message, emits the events already queued
//!   and then its last one, and afterwards nothing: no bytes, no events, no deadline.
//! - **DISCONNECT**: queued after whatever was already queued; afterwards nothing is sent, bytes
//!   from the server are ignored, operations in flight are abandoned without events.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Cursor;
use std::time::{Duration, Instant};

use ::mqtt::control::PacketType;
use ::mqtt::packet::{
    ConnectPacket, DisconnectPacket, PingreqPacket, PubackPacket, PubcompPacket, PublishPacket,
    PubrecPacket, PubrelPacket, QoSWithPacketIdentifier, SubscribePacket, UnsubscribePacket,
    VariablePacket,
};
use ::mqtt::{Decodable, Encodable, QualityOfService, TopicFilter, TopicName};
use qmt_proto::params::{MqttVersion, Qos};
use tracing::{debug, trace, warn};

#[cfg(test)]
mod tests;

/// The largest packet (fixed header included) accepted from the server. A packet announcing more
/// is a protocol error: the buffer of a session stays bounded whatever the server sends.
pub const MAX_INCOMING_PACKET: usize = 1 << 20;

/// The most incoming publishes held while the session is not accepting; further ones are dropped
/// (unacknowledged) and counted in [`SessionStats::dropped`].
pub const MAX_HELD: usize = 100;

/// The most incoming publishes held while not accepting, QoS 1/2 ones included: past it those
/// are dropped too (a server that ignores its own in-flight window).
pub const MAX_HELD_ACKED: usize = 1000;

/// The longest string MQTT can carry (a two-byte length prefix).
const MAX_MQTT_STRING: usize = 65535;

/// The will of `AT+QMTCFG="will"` / `"willex"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Will {
    /// `will_qos`.
    pub qos: Qos,
    /// `will_retain`.
    pub retain: bool,
    /// `willtopic`.
    pub topic: String,
    /// `willmessage` (any bytes with `willex`).
    pub message: Vec<u8>,
}

/// Everything the CONNECT and the session's timers need, from the client's `AT+QMTCFG` settings
/// and the `AT+QMTCONN` parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// `version`: 3 (MQTT 3.1, `MQIsdp`) or 4 (MQTT 3.1.1).
    pub version: MqttVersion,
    /// `clientid`.
    pub client_id: String,
    /// `username`, if given (or derived from `aliauth`/`onenet`/…).
    pub username: Option<String>,
    /// `password`, if given. Never printed.
    pub password: Option<String>,
    /// `keep_alive_time` in seconds; 0 disables PINGREQ.
    pub keep_alive: u16,
    /// `clean_session`.
    pub clean_session: bool,
    /// `pkt_timeout`: wait for an ACK before retransmitting.
    pub pkt_timeout: Duration,
    /// `retry_times`: retransmissions before giving up.
    pub retry_times: u8,
    /// `timeout_notice`: report each retransmission.
    pub timeout_notice: bool,
    /// The will, if configured.
    pub will: Option<Will>,
}

impl core::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field(
                "password",
                &self.password.as_ref().map(|_| qmt_proto::REDACTED),
            )
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("pkt_timeout", &self.pkt_timeout)
            .field("retry_times", &self.retry_times)
            .field("timeout_notice", &self.timeout_notice)
            .field("will", &self.will)
            .finish()
    }
}

/// Which operation a retransmission or failure concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// CONNECT.
    Conn,
    /// SUBSCRIBE.
    Sub,
    /// UNSUBSCRIBE.
    Uns,
    /// PUBLISH (and PUBREL for QoS 2).
    Pub,
}

/// What happened in a session, for the module core to report as URCs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// CONNACK arrived with this return code (0 accepted).
    ConnAck {
        /// The CONNACK return code.
        code: u8,
    },
    /// A packet was retransmitted (with DUP where MQTT has it); `count` is 1 for the first
    /// retransmission. Only emitted when `timeout_notice` is on. `msgid` is 0 for CONNECT.
    Retransmitted {
        /// The operation.
        op: Op,
        /// Its packet id.
        msgid: u16,
        /// Retransmissions so far.
        count: u8,
    },
    /// The last retransmission went unanswered: the operation failed.
    Failed {
        /// The operation.
        op: Op,
        /// Its packet id (0 for CONNECT).
        msgid: u16,
    },
    /// SUBACK: one granted QoS (or 128) per requested filter.
    SubAck {
        /// The packet id.
        msgid: u16,
        /// Granted QoS per filter, 0x80 = failure.
        granted: Vec<u8>,
    },
    /// UNSUBACK.
    UnsubAck {
        /// The packet id.
        msgid: u16,
    },
    /// A publish completed: QoS 0 when written, QoS 1 on PUBACK, QoS 2 on PUBCOMP.
    Published {
        /// The packet id (0 for QoS 0).
        msgid: u16,
    },
    /// An incoming PUBLISH, delivered (and acknowledged per its QoS) while the session accepts.
    Message {
        /// Its packet id (0 for QoS 0).
        msgid: u16,
        /// Its QoS.
        qos: Qos,
        /// Its retain flag.
        retain: bool,
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// No PINGRESP in time: the session is dead (`+QMTPING: idx,1`, `+QMTSTAT: idx,2`).
    PingTimeout,
    /// The server sent something that is not valid MQTT; the session is dead.
    ProtocolError,
}

/// Counters of what the session tolerated from the server instead of failing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Well-formed packets that were not expected (an ACK for an unknown packet id, a packet before
    /// the CONNACK, a stray PINGRESP, …) and were ignored.
    pub ignored: u64,
    /// Incoming QoS 2 publishes still awaiting PUBREL, or held QoS 1/2 publishes, that the server
    /// sent again: answered per MQTT but not delivered again.
    pub duplicates: u64,
    /// Incoming publishes dropped because [`MAX_HELD`] were already held.
    pub dropped: u64,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// CONNECT sent, CONNACK awaited.
    Connecting,
    /// CONNACK 0 received.
    Connected,
    /// DISCONNECT queued by the client.
    Closed,
    /// Ping timeout, failed connect, refused CONNACK or protocol error.
    Dead,
}

/// A packet awaiting its answer: what to resend and when.
#[derive(Clone, Debug)]
struct Resend {
    /// The bytes to send again (PUBLISH with DUP set).
    bytes: Vec<u8>,
    /// When the answer is overdue.
    deadline: Instant,
    /// Retransmissions so far.
    count: u8,
}

/// What an outgoing operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    SubAck,
    UnsubAck,
    PubAck,
    PubRec,
    PubComp,
}

impl Awaiting {
    fn op(self) -> Op {
        match self {
            Awaiting::SubAck => Op::Sub,
            Awaiting::UnsubAck => Op::Uns,
            Awaiting::PubAck | Awaiting::PubRec | Awaiting::PubComp => Op::Pub,
        }
    }
}

/// An outgoing SUBSCRIBE, UNSUBSCRIBE or PUBLISH QoS 1/2 in flight.
#[derive(Clone, Debug)]
struct Outgoing {
    awaiting: Awaiting,
    resend: Resend,
    /// A QoS 2 handshake of an earlier connection, finished on this one: the host was told it
    /// failed when the link went, so its end is not reported.
    orphan: bool,
}

/// An outgoing QoS 2 handshake a lost connection cut off, kept for the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Orphan {
    /// No `PUBREC` came: the `PUBLISH` again, with DUP.
    Publish(Vec<u8>),
    /// `PUBREL` was sent, no `PUBCOMP` came.
    Pubrel,
}

/// An incoming PUBLISH not yet delivered (nor acknowledged).
#[derive(Clone, Debug)]
struct Incoming {
    msgid: u16,
    qos: Qos,
    retain: bool,
    topic: String,
    payload: Vec<u8>,
}

/// The event queue: events, and incoming publishes in their place among them.
#[derive(Clone, Debug)]
enum Pending {
    Event(SessionEvent),
    Incoming(Incoming),
}

/// Something whose deadline may have passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Connect,
    Outgoing(u16),
    KeepAlive,
    PingResp,
}

/// How much of a buffer the next packet takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Not all of it has arrived.
    Incomplete,
    /// The whole packet is the first `n` bytes.
    Complete(usize),
    /// An invalid first byte, or a remaining length longer than four bytes.
    Malformed,
    /// The packet would exceed [`MAX_INCOMING_PACKET`].
    TooLarge,
}

/// One MQTT client session over one connection: fed with bytes and time, drained of bytes to send,
/// events and its next deadline.
pub struct Session {
    config: SessionConfig,
    state: State,
    /// The latest time seen (for acknowledgements queued by [`Session::poll_event`]).
    now: Instant,
    /// Bytes of an incomplete packet from the server.
    rx: Vec<u8>,
    /// Packets to write, in order.
    tx: VecDeque<Vec<u8>>,
    pending: VecDeque<Pending>,
    /// Incoming publishes in `pending`.
    held: usize,
    accepting: bool,
    /// The CONNECT while its CONNACK is awaited.
    connect: Option<Resend>,
    outgoing: BTreeMap<u16, Outgoing>,
    /// Incoming QoS 2 packet ids answered with PUBREC, awaiting PUBREL.
    awaiting_pubrel: BTreeSet<u16>,
    /// Outgoing QoS 2 handshakes of an earlier connection, sent again after the CONNACK.
    orphans: BTreeMap<u16, Orphan>,
    /// When the session last queued a packet (the keep-alive clock).
    last_sent: Instant,
    /// When the outstanding PINGREQ's PINGRESP is overdue.
    ping: Option<Instant>,
    stats: SessionStats,
}

/// The client session state a module keeps between connections while `clean_session` is 0
/// (MQTT 3.1.1 §3.1.2.4): the QoS 2 packet ids answered with PUBREC whose PUBREL has not come.
///
/// Without it a server that did not see the PUBREC sends the PUBLISH again (DUP) on the next
/// connection and the module reports it twice: exactly-once broken by a reconnect. Found by the
/// soak (`cargo xtask soak --seed 42`: a stall, then a close right after the resume). A power
/// cycle loses it, as on a real module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeptState {
    client_id: String,
    awaiting_pubrel: BTreeSet<u16>,
    /// Outgoing QoS 2 handshakes the loss cut off (MQTT 3.1.1 §4.4: sent again on the next
    /// connection, so the server can free their ids).
    orphans: BTreeMap<u16, Orphan>,
}

/// Never prints packet bytes (the CONNECT holds the password).
impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("buffered", &self.rx.len())
            .field("to_send", &self.tx.len())
            .field("pending", &self.pending.len())
            .field("held", &self.held)
            .field("accepting", &self.accepting)
            .field("in_flight", &self.outgoing.keys().collect::<Vec<_>>())
            .field("awaiting_pubrel", &self.awaiting_pubrel)
            .field("ping", &self.ping)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Session {
    /// Starts a session on an open connection: queues CONNECT and arms the CONNACK timer.
    ///
    /// A configuration MQTT cannot carry (a string over 65535 bytes, an invalid will topic) sends
    /// nothing and fails at once: the first event is `Failed { op: Conn, msgid: 0 }`.
    pub fn connect(config: SessionConfig, now: Instant) -> Session {
        let mut session = Session {
            config,
            state: State::Connecting,
            now,
            rx: Vec::new(),
            tx: VecDeque::new(),
            pending: VecDeque::new(),
            held: 0,
            accepting: true,
            connect: None,
            outgoing: BTreeMap::new(),
            awaiting_pubrel: BTreeSet::new(),
            orphans: BTreeMap::new(),
            last_sent: now,
            ping: None,
            stats: SessionStats::default(),
        };
        match encode_connect(&session.config) {
            Ok(bytes) => {
                let c = &session.config;
                debug!(
                    client_id = %c.client_id,
                    version = ?c.version,
                    username = ?c.username,
                    password = c.password.is_some(),
                    keep_alive = c.keep_alive,
                    clean_session = c.clean_session,
                    will = c.will.is_some(),
                    "mqtt tx CONNECT"
                );
                session.queue(bytes.clone(), now);
                session.connect = Some(Resend {
                    bytes,
                    deadline: now + session.config.pkt_timeout,
                    count: 0,
                });
            }
            Err(why) => {
                warn!(why, "mqtt: cannot encode CONNECT");
                session.event(SessionEvent::Failed {
                    op: Op::Conn,
                    msgid: 0,
                });
                session.die();
            }
        }
        session
    }

    /// Bytes from the server (any split).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.tick(now);
        if !self.is_live() {
            trace!(len = bytes.len(), "mqtt rx ignored: session over");
            return;
        }
        self.rx.extend_from_slice(bytes);
        let buf = std::mem::take(&mut self.rx);
        let mut start = 0;
        while self.is_live() {
            let rest = buf.get(start..).unwrap_or_default();
            match frame_len(rest) {
                Framing::Incomplete => break,
                Framing::Malformed => {
                    self.protocol_error("malformed fixed header");
                    break;
                }
                Framing::TooLarge => {
                    self.protocol_error("packet too large");
                    break;
                }
                Framing::Complete(n) => {
                    let frame = rest.get(..n).unwrap_or_default();
                    start += n;
                    match decode_frame(frame) {
                        Ok(packet) => self.on_packet(packet, now),
                        Err(why) => self.protocol_error(&why),
                    }
                }
            }
        }
        if self.is_live() {
            // Keep the incomplete tail without copying when nothing was consumed (a large packet
            // arriving in small pieces stays linear).
            let mut buf = buf;
            buf.drain(..start.min(buf.len()));
            self.rx = buf;
        }
    }

    /// Time passed: retransmissions, keep-alive, the PINGRESP wait. Acts on every deadline
    /// `<= now`, each once, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        let mut due: Vec<(Instant, Due)> = Vec::new();
        if let Some(c) = &self.connect {
            due.push((c.deadline, Due::Connect));
        }
        for (&id, o) in &self.outgoing {
            due.push((o.resend.deadline, Due::Outgoing(id)));
        }
        if let Some(at) = self.keep_alive_deadline() {
            due.push((at, Due::KeepAlive));
        }
        if let Some(at) = self.ping {
            due.push((at, Due::PingResp));
        }
        due.retain(|(at, _)| *at <= now);
        due.sort();
        for (_, what) in due {
            if !self.is_live() {
                break;
            }
            match what {
                Due::Connect => self.connect_timeout(now),
                Due::Outgoing(id) => self.outgoing_timeout(id, now),
                Due::KeepAlive => {
                    // Something sent earlier in this pass may have reset the clock.
                    if self.keep_alive_deadline().is_some_and(|at| at <= now) {
                        debug!("mqtt tx PINGREQ");
                        self.queue_packet(&PingreqPacket::new(), now);
                        self.ping = Some(now + self.config.pkt_timeout);
                    }
                }
                Due::PingResp => {
                    warn!("mqtt: no PINGRESP within pkt_timeout");
                    self.event(SessionEvent::PingTimeout);
                    self.die();
                }
            }
        }
    }

    /// The next deadline, if any (none once the session is dead or closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.is_live() {
            return None;
        }
        let connect = self.connect.as_ref().map(|c| c.deadline);
        let outgoing = self.outgoing.values().map(|o| o.resend.deadline).min();
        [connect, outgoing, self.keep_alive_deadline(), self.ping]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes to write to the server: one packet per call, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event.
    ///
    /// An incoming publish is delivered — and only then acknowledged (PUBACK, or PUBREC) — by this
    /// call, one per call and only while the session accepts; so after draining events, drain
    /// [`Session::poll_transmit`] again. While not accepting, later events overtake the held
    /// publishes.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        if self.accepting {
            match self.pending.pop_front()? {
                Pending::Event(e) => Some(e),
                Pending::Incoming(m) => {
                    self.held = self.held.saturating_sub(1);
                    Some(self.deliver(m))
                }
            }
        } else {
            let at = self
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Event(_)))?;
            match self.pending.remove(at)? {
                Pending::Event(e) => Some(e),
                Pending::Incoming(_) => None,
            }
        }
    }

    /// SUBSCRIBE with packet id `msgid`.
    pub fn subscribe(&mut self, msgid: u16, filters: &[(String, Qos)], now: Instant) {
        self.tick(now);
        if !self.may_start(Op::Sub, msgid, true) {
            return;
        }
        let parsed: Result<Vec<_>, _> = filters
            .iter()
            .map(|(f, q)| TopicFilter::new(f.as_str()).map(|f| (f, to_mqtt_qos(*q))))
            .collect();
        match parsed {
            Ok(list) if !list.is_empty() => {
                debug!(msgid, filters = ?filters, "mqtt tx SUBSCRIBE");
                let Some(bytes) = encode(&SubscribePacket::new(msgid, list)) else {
                    return self.fail_now(Op::Sub, msgid, "cannot encode SUBSCRIBE");
                };
                self.start(msgid, Awaiting::SubAck, bytes.clone(), bytes, now);
            }
            _ => self.fail_now(Op::Sub, msgid, "no filters or an invalid filter"),
        }
    }

    /// UNSUBSCRIBE with packet id `msgid`.
    pub fn unsubscribe(&mut self, msgid: u16, filters: &[String], now: Instant) {
        self.tick(now);
        if !self.may_start(Op::Uns, msgid, true) {
            return;
        }
        let parsed: Result<Vec<_>, _> = filters
            .iter()
            .map(|f| TopicFilter::new(f.as_str()))
            .collect();
        match parsed {
            Ok(list) if !list.is_empty() => {
                debug!(msgid, filters = ?filters, "mqtt tx UNSUBSCRIBE");
                let Some(bytes) = encode(&UnsubscribePacket::new(msgid, list)) else {
                    return self.fail_now(Op::Uns, msgid, "cannot encode UNSUBSCRIBE");
                };
                self.start(msgid, Awaiting::UnsubAck, bytes.clone(), bytes, now);
            }
            _ => self.fail_now(Op::Uns, msgid, "no filters or an invalid filter"),
        }
    }

    /// PUBLISH; `msgid` is 0 for QoS 0 (and ignored then).
    pub fn publish(
        &mut self,
        msgid: u16,
        qos: Qos,
        retain: bool,
        topic: &str,
        payload: &[u8],
        now: Instant,
    ) {
        self.tick(now);
        let id = if qos == Qos::AtMostOnce { 0 } else { msgid };
        if !self.may_start(Op::Pub, id, qos != Qos::AtMostOnce) {
            return;
        }
        let Ok(topic_name) = TopicName::new(topic) else {
            return self.fail_now(Op::Pub, id, "invalid topic name");
        };
        let with_id = match qos {
            Qos::AtMostOnce => QoSWithPacketIdentifier::Level0,
            Qos::AtLeastOnce => QoSWithPacketIdentifier::Level1(id),
            Qos::ExactlyOnce => QoSWithPacketIdentifier::Level2(id),
        };
        let mut packet = PublishPacket::new(topic_name, with_id, payload);
        packet.set_retain(retain);
        let Some(first) = encode(&packet) else {
            return self.fail_now(Op::Pub, id, "cannot encode PUBLISH");
        };
        debug!(
            msgid = id,
            ?qos,
            retain,
            topic,
            len = payload.len(),
            "mqtt tx PUBLISH"
        );
        match qos {
            Qos::AtMostOnce => {
                self.queue(first, now);
                self.event(SessionEvent::Published { msgid: 0 });
            }
            Qos::AtLeastOnce | Qos::ExactlyOnce => {
                packet.set_dup(true);
                let Some(again) = encode(&packet) else {
                    return self.fail_now(Op::Pub, id, "cannot encode PUBLISH");
                };
                let awaiting = if qos == Qos::AtLeastOnce {
                    Awaiting::PubAck
                } else {
                    Awaiting::PubRec
                };
                self.start(id, awaiting, first, again, now);
            }
        }
    }

    /// What a module keeps of this session for the next connection of the same client
    /// (MQTT 3.1.1 §3.1.2.4); `None` with `clean_session`, where nothing is kept.
    pub fn kept_state(&self) -> Option<KeptState> {
        let mut orphans = self.orphans.clone();
        for (id, o) in &self.outgoing {
            match o.awaiting {
                Awaiting::PubRec => {
                    orphans.insert(*id, Orphan::Publish(o.resend.bytes.clone()));
                }
                Awaiting::PubComp => {
                    orphans.insert(*id, Orphan::Pubrel);
                }
                _ => {}
            }
        }
        (!self.config.clean_session).then(|| KeptState {
            client_id: self.config.client_id.clone(),
            awaiting_pubrel: self.awaiting_pubrel.clone(),
            orphans,
        })
    }

    /// Carries `kept` (from the previous connection's [`kept_state`](Self::kept_state)) into
    /// this session: a QoS 2 PUBLISH the server sends again after a reconnect is answered
    /// PUBREC, not delivered twice. Ignored with `clean_session` or another client id.
    pub fn restore(&mut self, kept: KeptState) {
        if !self.config.clean_session && kept.client_id == self.config.client_id {
            debug!(ids = ?kept.awaiting_pubrel, orphans = kept.orphans.len(), "mqtt: session state restored");
            self.awaiting_pubrel = kept.awaiting_pubrel;
            self.orphans = kept.orphans;
        }
    }

    /// Queues DISCONNECT; the session sends nothing after it.
    pub fn disconnect(&mut self, now: Instant) {
        self.tick(now);
        if !self.is_live() {
            return;
        }
        debug!("mqtt tx DISCONNECT");
        self.queue_packet(&DisconnectPacket::new(), now);
        self.state = State::Closed;
        self.end();
    }

    /// Whether incoming publishes are delivered (and acknowledged). While `false` they are held,
    /// unacknowledged, in arrival order (spec §9: all receive slots full).
    ///
    /// Turning it back on delivers nothing by itself: the held publishes come out of
    /// [`Session::poll_event`], one per call, each acknowledged as it is delivered, for as long as
    /// the session still accepts.
    pub fn set_accepting(&mut self, accepting: bool, now: Instant) {
        self.tick(now);
        self.accepting = accepting;
    }

    /// Whether the CONNACK was received with code 0 and the session is not dead.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the session died (ping timeout, failed connect, refused CONNACK, protocol error):
    /// it sends nothing more, and after the events already queued emits nothing more.
    pub fn is_dead(&self) -> bool {
        self.state == State::Dead
    }

    /// Whether DISCONNECT was queued.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether incoming publishes are currently delivered.
    pub fn is_accepting(&self) -> bool {
        self.accepting
    }

    /// Incoming publishes received but not yet delivered.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Packet ids of the outgoing operations still awaiting an answer (CONNECT not included).
    pub fn in_flight(&self) -> impl Iterator<Item = u16> + '_ {
        self.outgoing.keys().copied()
    }

    /// Whether the CONNECT still awaits its CONNACK.
    pub fn awaiting_connack(&self) -> bool {
        self.connect.is_some()
    }

    /// Counters of tolerated oddities from the server.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The configuration the session was started with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    // ---- internals ---------------------------------------------------------------------------

    fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Connecting or connected: the session may still send.
    fn is_live(&self) -> bool {
        matches!(self.state, State::Connecting | State::Connected)
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        if self.state != State::Connected || self.config.keep_alive == 0 || self.ping.is_some() {
            return None;
        }
        Some(self.last_sent + Duration::from_secs(u64::from(self.config.keep_alive)))
    }

    fn event(&mut self, e: SessionEvent) {
        self.pending.push_back(Pending::Event(e));
    }

    fn queue(&mut self, bytes: Vec<u8>, now: Instant) {
        if self.is_live() {
            self.tx.push_back(bytes);
            self.last_sent = self.last_sent.max(now);
        }
    }

    fn queue_packet<P: Encodable>(&mut self, packet: &P, now: Instant) {
        if let Some(bytes) = encode(packet) {
            self.queue(bytes, now);
        }
    }

    /// Checks that an operation may start; emits `Failed` when it may not (and the session is
    /// still live).
    fn may_start(&mut self, op: Op, msgid: u16, needs_id: bool) -> bool {
        match self.state {
            State::Dead | State::Closed => {
                trace!(?op, msgid, "mqtt: operation on a finished session ignored");
                false
            }
            State::Connecting => {
                self.fail_now(op, msgid, "not connected yet");
                false
            }
            State::Connected if !needs_id => true,
            State::Connected if msgid == 0 => {
                self.fail_now(op, msgid, "packet id 0");
                false
            }
            State::Connected if self.outgoing.contains_key(&msgid) => {
                self.fail_now(op, msgid, "packet id in flight");
                false
            }
            State::Connected => true,
        }
    }

    fn fail_now(&mut self, op: Op, msgid: u16, why: &str) {
        warn!(?op, msgid, why, "mqtt: operation refused");
        self.event(SessionEvent::Failed { op, msgid });
    }

    /// Sends `first` and keeps `again` for retransmission.
    fn start(
        &mut self,
        msgid: u16,
        awaiting: Awaiting,
        first: Vec<u8>,
        again: Vec<u8>,
        now: Instant,
    ) {
        self.queue(first, now);
        self.outgoing.insert(
            msgid,
            Outgoing {
                awaiting,
                resend: Resend {
                    bytes: again,
                    deadline: now + self.config.pkt_timeout,
                    count: 0,
                },
                orphan: false,
            },
        );
    }

    fn connect_timeout(&mut self, now: Instant) {
        let Some(mut c) = self.connect.take() else {
            return;
        };
        if c.count < self.config.retry_times {
            c.count += 1;
            c.deadline = now + self.config.pkt_timeout;
            debug!(count = c.count, "mqtt tx CONNECT (retransmission)");
            self.queue(c.bytes.clone(), now);
            let count = c.count;
            self.connect = Some(c);
            if self.config.timeout_notice {
                self.event(SessionEvent::Retransmitted {
                    op: Op::Conn,
                    msgid: 0,
                    count,
                });
            }
        } else {
            warn!("mqtt: no CONNACK");
            self.event(SessionEvent::Failed {
                op: Op::Conn,
                msgid: 0,
            });
            self.die();
        }
    }

    fn outgoing_timeout(&mut self, msgid: u16, now: Instant) {
        let Some(mut o) = self.outgoing.remove(&msgid) else {
            return;
        };
        let op = o.awaiting.op();
        if o.resend.count < self.config.retry_times {
            o.resend.count += 1;
            o.resend.deadline = now + self.config.pkt_timeout;
            let count = o.resend.count;
            debug!(?op, msgid, count, awaiting = ?o.awaiting, "mqtt tx retransmission");
            self.queue(o.resend.bytes.clone(), now);
            self.outgoing.insert(msgid, o);
            if self.config.timeout_notice {
                self.event(SessionEvent::Retransmitted { op, msgid, count });
            }
        } else if o.orphan {
            warn!(
                msgid,
                "mqtt: an earlier connection's QoS 2 handshake failed again"
            );
        } else {
            warn!(?op, msgid, "mqtt: operation failed after retransmissions");
            self.event(SessionEvent::Failed { op, msgid });
        }
    }

    /// MQTT 3.1.1 §4.4: after a reconnect with the session kept, the client sends again the
    /// `PUBLISH` (DUP) of each QoS 2 handshake with no `PUBREC` yet and the `PUBREL` of each with
    /// no `PUBCOMP`, so the server can finish them and free their ids (a `PUBREL` sent again
    /// cannot duplicate a message).
    fn resume_orphans(&mut self, now: Instant) {
        for (id, orphan) in std::mem::take(&mut self.orphans) {
            if self.outgoing.contains_key(&id) {
                continue;
            }
            let (awaiting, bytes) = match orphan {
                Orphan::Publish(bytes) => (Awaiting::PubRec, bytes),
                Orphan::Pubrel => match encode(&PubrelPacket::new(id)) {
                    Some(b) => (Awaiting::PubComp, b),
                    None => continue,
                },
            };
            debug!(
                msgid = id,
                ?awaiting,
                "mqtt tx: an earlier connection's QoS 2 handshake"
            );
            self.queue(bytes.clone(), now);
            self.outgoing.insert(
                id,
                Outgoing {
                    awaiting,
                    resend: Resend {
                        bytes,
                        deadline: now + self.config.pkt_timeout,
                        count: 0,
                    },
                    orphan: true,
                },
            );
        }
    }

    fn ignore(&mut self, what: &str) {
        self.stats.ignored += 1;
        debug!(what, "mqtt rx ignored");
    }

    fn protocol_error(&mut self, why: &str) {
        warn!(why, "mqtt: protocol error from the server");
        self.event(SessionEvent::ProtocolError);
        self.die();
    }

    /// The session is over because of a failure.
    fn die(&mut self) {
        self.state = State::Dead;
        self.tx.clear();
        self.end();
    }

    /// Forgets everything in flight and every held message. The ids awaiting PUBREL stay, for
    /// [`kept_state`](Self::kept_state).
    fn end(&mut self) {
        self.rx = Vec::new();
        self.connect = None;
        self.outgoing.clear();
        self.ping = None;
        self.pending.retain(|p| matches!(p, Pending::Event(_)));
        self.held = 0;
    }

    fn on_packet(&mut self, packet: VariablePacket, now: Instant) {
        if self.state == State::Connecting && !matches!(packet, VariablePacket::ConnackPacket(_)) {
            return self.ignore("packet before CONNACK");
        }
        match packet {
            VariablePacket::ConnackPacket(p) => {
                if self.state != State::Connecting {
                    return self.ignore("CONNACK when not connecting");
                }
                let code = p.connect_return_code().to_u8();
                let session_present = p.connack_flags().session_present;
                debug!(code, session_present, "mqtt rx CONNACK");
                if !session_present {
                    // The server kept nothing: no PUBREL for an old id will come, and the ids
                    // are free for new publications (MQTT 3.1.1 §3.2.2.2).
                    self.awaiting_pubrel.clear();
                    self.orphans.clear();
                }
                if code == 0 {
                    self.resume_orphans(now);
                }
                self.connect = None;
                self.event(SessionEvent::ConnAck { code });
                if code == 0 {
                    self.state = State::Connected;
                } else {
                    self.die();
                }
            }
            VariablePacket::PublishPacket(p) => self.on_publish(p, now),
            VariablePacket::PubackPacket(p) => {
                let id = p.packet_identifier();
                trace!(msgid = id, "mqtt rx PUBACK");
                if self.take_awaiting(id, Awaiting::PubAck) {
                    self.event(SessionEvent::Published { msgid: id });
                }
            }
            VariablePacket::PubrecPacket(p) => {
                let id = p.packet_identifier();
                trace!(msgid = id, "mqtt rx PUBREC");
                match self.outgoing.get_mut(&id) {
                    Some(o) if o.awaiting == Awaiting::PubRec => {
                        let Some(bytes) = encode(&PubrelPacket::new(id)) else {
                            return;
                        };
                        o.awaiting = Awaiting::PubComp;
                        o.resend = Resend {
                            bytes: bytes.clone(),
                            deadline: now + self.config.pkt_timeout,
                            count: 0,
                        };
                        debug!(msgid = id, "mqtt tx PUBREL");
                        self.queue(bytes, now);
                    }
                    Some(o) if o.awaiting == Awaiting::PubComp => {
                        // The server did not see our PUBREL: answer again, keep the timer.
                        let bytes = o.resend.bytes.clone();
                        self.stats.duplicates += 1;
                        debug!(msgid = id, "mqtt tx PUBREL (PUBREC again)");
                        self.queue(bytes, now);
                    }
                    _ => self.ignore("PUBREC for no QoS 2 publish"),
                }
            }
            VariablePacket::PubrelPacket(p) => {
                let id = p.packet_identifier();
                trace!(msgid = id, "mqtt rx PUBREL");
                if self.is_held(id) {
                    // Not yet acknowledged with PUBREC: the server is ahead of itself.
                    return self.ignore("PUBREL for a held publish");
                }
                // MQTT 3.1.1 §4.3.3: always answer PUBREL with PUBCOMP.
                if !self.awaiting_pubrel.remove(&id) {
                    self.stats.ignored += 1;
                }
                debug!(msgid = id, "mqtt tx PUBCOMP");
                self.queue_packet(&PubcompPacket::new(id), now);
            }
            VariablePacket::PubcompPacket(p) => {
                let id = p.packet_identifier();
                trace!(msgid = id, "mqtt rx PUBCOMP");
                let orphan = self.outgoing.get(&id).is_some_and(|o| o.orphan);
                if self.take_awaiting(id, Awaiting::PubComp) && !orphan {
                    self.event(SessionEvent::Published { msgid: id });
                }
            }
            VariablePacket::SubackPacket(p) => {
                let id = p.packet_identifier();
                let granted: Vec<u8> = p.subscribes().iter().map(|c| *c as u8).collect();
                debug!(msgid = id, ?granted, "mqtt rx SUBACK");
                if self.take_awaiting(id, Awaiting::SubAck) {
                    self.event(SessionEvent::SubAck { msgid: id, granted });
                }
            }
            VariablePacket::UnsubackPacket(p) => {
                let id = p.packet_identifier();
                debug!(msgid = id, "mqtt rx UNSUBACK");
                if self.take_awaiting(id, Awaiting::UnsubAck) {
                    self.event(SessionEvent::UnsubAck { msgid: id });
                }
            }
            VariablePacket::PingrespPacket(_) => {
                trace!("mqtt rx PINGRESP");
                if self.ping.take().is_none() {
                    self.ignore("PINGRESP without PINGREQ");
                }
            }
            VariablePacket::ConnectPacket(_)
            | VariablePacket::SubscribePacket(_)
            | VariablePacket::UnsubscribePacket(_)
            | VariablePacket::PingreqPacket(_)
            | VariablePacket::DisconnectPacket(_) => {
                self.protocol_error("a packet only clients send");
            }
        }
    }

    /// Completes the operation `id` if it awaits `what`.
    fn take_awaiting(&mut self, id: u16, what: Awaiting) -> bool {
        if self.outgoing.get(&id).is_some_and(|o| o.awaiting == what) {
            self.outgoing.remove(&id);
            true
        } else {
            self.ignore("acknowledgement for no such operation");
            false
        }
    }

    fn is_held(&self, id: u16) -> bool {
        self.pending
            .iter()
            .any(|p| matches!(p, Pending::Incoming(m) if m.msgid == id && m.qos != Qos::AtMostOnce))
    }

    fn on_publish(&mut self, p: PublishPacket, now: Instant) {
        let (qos, msgid) = match p.qos() {
            QoSWithPacketIdentifier::Level0 => (Qos::AtMostOnce, 0),
            QoSWithPacketIdentifier::Level1(id) => (Qos::AtLeastOnce, id),
            QoSWithPacketIdentifier::Level2(id) => (Qos::ExactlyOnce, id),
        };
        debug!(
            msgid,
            ?qos,
            retain = p.retain(),
            topic = p.topic_name(),
            len = p.payload().len(),
            "mqtt rx PUBLISH"
        );
        if qos == Qos::ExactlyOnce && self.awaiting_pubrel.contains(&msgid) {
            // Delivered already; MQTT 3.1.1 §4.3.3: answer with PUBREC again, deliver nothing.
            self.stats.duplicates += 1;
            debug!(msgid, "mqtt tx PUBREC (duplicate PUBLISH)");
            self.queue_packet(&PubrecPacket::new(msgid), now);
            return;
        }
        if qos != Qos::AtMostOnce && self.is_held(msgid) {
            self.stats.duplicates += 1;
            debug!(msgid, "mqtt rx PUBLISH already held");
            return;
        }
        // The bound is for publishes *held* while not accepting (spec §9, slots full). While
        // accepting, everything queued here is delivered by the next `poll_event` calls, and one
        // read from the socket can bring more than MAX_HELD small publishes (a burst of 200):
        // dropping those lost messages the module was ready to take.
        let bound = if qos == Qos::AtMostOnce {
            MAX_HELD
        } else {
            MAX_HELD_ACKED
        };
        if !self.accepting && self.held >= bound {
            self.stats.dropped += 1;
            warn!(msgid, "mqtt: too many held publishes, dropped");
            return;
        }
        self.held += 1;
        self.pending.push_back(Pending::Incoming(Incoming {
            msgid,
            qos,
            retain: p.retain(),
            topic: p.topic_name().to_owned(),
            payload: p.payload().to_vec(),
        }));
    }

    /// Acknowledges a publish being delivered now and turns it into its event.
    fn deliver(&mut self, m: Incoming) -> SessionEvent {
        let now = self.now;
        match m.qos {
            Qos::AtMostOnce => {}
            Qos::AtLeastOnce => {
                debug!(msgid = m.msgid, "mqtt tx PUBACK");
                self.queue_packet(&PubackPacket::new(m.msgid), now);
            }
            Qos::ExactlyOnce => {
                debug!(msgid = m.msgid, "mqtt tx PUBREC");
                self.awaiting_pubrel.insert(m.msgid);
                self.queue_packet(&PubrecPacket::new(m.msgid), now);
            }
        }
        SessionEvent::Message {
            msgid: m.msgid,
            qos: m.qos,
            retain: m.retain,
            topic: m.topic,
            payload: m.payload,
        }
    }
}

fn to_mqtt_qos(q: Qos) -> QualityOfService {
    match q {
        Qos::AtMostOnce => QualityOfService::Level0,
        Qos::AtLeastOnce => QualityOfService::Level1,
        Qos::ExactlyOnce => QualityOfService::Level2,
    }
}

fn encode<P: Encodable>(packet: &P) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(packet.encoded_length() as usize);
    match packet.encode(&mut bytes) {
        Ok(()) => Some(bytes),
        Err(e) => {
            warn!(error = %e, "mqtt: encoding failed");
            None
        }
    }
}

/// Encodes the CONNECT of `c`, or says why MQTT cannot carry it. The strings are checked first
/// because `mqtt-protocol` asserts their length while encoding.
fn encode_connect(c: &SessionConfig) -> Result<Vec<u8>, &'static str> {
    let fits = |s: &str| s.len() <= MAX_MQTT_STRING;
    if !fits(&c.client_id)
        || !c.username.as_deref().is_none_or(fits)
        || !c.password.as_deref().is_none_or(fits)
    {
        return Err("a string is longer than 65535 bytes");
    }
    let (name, level) = match c.version {
        MqttVersion::V3_1 => ("MQIsdp", 3),
        MqttVersion::V3_1_1 => ("MQTT", 4),
    };
    let mut p = ConnectPacket::with_level(name, c.client_id.as_str(), level)
        .map_err(|_| "protocol level")?;
    p.set_keep_alive(c.keep_alive);
    p.set_clean_session(c.clean_session);
    p.set_user_name(c.username.clone());
    p.set_password(c.password.clone());
    if let Some(w) = &c.will {
        if w.message.len() > MAX_MQTT_STRING {
            return Err("will message longer than 65535 bytes");
        }
        let topic = TopicName::new(w.topic.as_str()).map_err(|_| "invalid will topic")?;
        p.set_will(Some((topic, w.message.clone())));
        p.set_will_qos(to_mqtt_qos(w.qos) as u8);
        p.set_will_retain(w.retain);
    }
    encode(&p).ok_or("encoding failed")
}

/// How long the packet at the start of `b` is, from its fixed header's remaining length.
///
/// The first byte is checked as soon as it arrives (a reserved type, invalid flags, a packet type
/// only clients send), so a stream that is not MQTT fails at once instead of waiting for the
/// length it seems to announce.
fn frame_len(b: &[u8]) -> Framing {
    let Some(&first) = b.first() else {
        return Framing::Incomplete;
    };
    if PacketType::from_u8(first).is_err() || is_client_only(first) {
        return Framing::Malformed;
    }
    let mut len: usize = 0;
    for i in 0..4 {
        let Some(&byte) = b.get(1 + i) else {
            return Framing::Incomplete;
        };
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 2 + i + len;
            return if total > MAX_INCOMING_PACKET {
                Framing::TooLarge
            } else if b.len() >= total {
                Framing::Complete(total)
            } else {
                Framing::Incomplete
            };
        }
    }
    Framing::Malformed
}

/// Whether the packet starting with `first` is one only clients send (CONNECT, SUBSCRIBE,
/// UNSUBSCRIBE, PINGREQ, DISCONNECT): refused before decoding, so less untrusted input reaches
/// the decoder.
fn is_client_only(first: u8) -> bool {
    matches!(first >> 4, 1 | 8 | 10 | 12 | 14)
}

/// Decodes one whole packet; bytes left over inside the packet, or a packet that does not
/// encode back to exactly its bytes, are an error.
fn decode_frame(frame: &[u8]) -> Result<VariablePacket, String> {
    if frame.first().is_none_or(|&b| is_client_only(b)) {
        return Err("a packet type only clients send".to_owned());
    }
    let mut cursor = Cursor::new(frame);
    let packet = VariablePacket::decode(&mut cursor).map_err(|e| e.to_string())?;
    if usize::try_from(cursor.position()).ok() != Some(frame.len()) {
        return Err("bytes left over inside the packet".to_owned());
    }
    // mqtt-protocol 0.12 reads a length-prefixed string shorter than its prefix says without
    // complaint (`take(len).read_to_end`); encoding the packet again and comparing catches that
    // and any other leniency (a non-minimal remaining length too).
    if encode(&packet).as_deref() != Some(frame) {
        return Err("packet does not encode back to its bytes".to_owned());
    }
    Ok(packet)
}
