//! STUB (API contract) — the MQTT client session of one simulated client, sans-IO.
//!
//! Replaced by the real implementation; the signatures below are the contract the module core
//! codes against.

use std::time::{Duration, Instant};

use qmt_proto::params::{MqttVersion, Qos};

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

/// One MQTT client session over one connection: fed with bytes and time, drained of bytes to send,
/// events and its next deadline.
#[derive(Debug)]
pub struct Session {
    _private: (),
}

impl Session {
    /// Starts a session on an open connection: queues CONNECT and arms the CONNACK timer.
    pub fn connect(_config: SessionConfig, _now: Instant) -> Session {
        Session { _private: () }
    }

    /// Bytes from the server (any split).
    pub fn handle_bytes(&mut self, _bytes: &[u8], _now: Instant) {}

    /// Time passed: retransmissions, keep-alive.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Bytes to write to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        None
    }

    /// SUBSCRIBE with packet id `msgid`.
    pub fn subscribe(&mut self, _msgid: u16, _filters: &[(String, Qos)], _now: Instant) {}

    /// UNSUBSCRIBE with packet id `msgid`.
    pub fn unsubscribe(&mut self, _msgid: u16, _filters: &[String], _now: Instant) {}

    /// PUBLISH; `msgid` is 0 for QoS 0.
    pub fn publish(
        &mut self,
        _msgid: u16,
        _qos: Qos,
        _retain: bool,
        _topic: &str,
        _payload: &[u8],
        _now: Instant,
    ) {
    }

    /// Queues DISCONNECT; the session sends nothing after it.
    pub fn disconnect(&mut self, _now: Instant) {}

    /// Whether incoming publishes are delivered (and acknowledged). While `false` they are held,
    /// unacknowledged, in arrival order (spec §9: all receive slots full).
    pub fn set_accepting(&mut self, _accepting: bool, _now: Instant) {}

    /// Whether the CONNACK was received with code 0 and the session is not dead.
    pub fn is_connected(&self) -> bool {
        false
    }
}
