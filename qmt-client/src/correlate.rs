//! Two-phase results (spec §1 "Two-phase commands"): a table of operations waiting for their
//! result line, keyed by (kind, `client_idx`, `msgid`), with deadlines.
//!
//! A QMT command answers `OK` at once; its outcome comes later as `+QMTOPEN: 0,0`,
//! `+QMTSUB: 0,1,0,2`, … interleaved with other lines. The glue [`register`](Correlator::register)s
//! an operation before submitting its command, feeds every URC line to
//! [`on_urc`](Correlator::on_urc), and calls [`handle_timeout`](Correlator::handle_timeout) at
//! [`poll_timeout`](Correlator::poll_timeout). Each pending operation ends in exactly one final
//! [`Outcome`] (done or failed): nothing is dropped, least of all a QoS 1/2 publish.
//!
//! The glue also calls [`accepted`](Correlator::accepted) when the command's `OK` arrives (the
//! deadline then counts from there), [`fail`](Correlator::fail) when it got `ERROR` instead, and
//! [`mark_open`](Correlator::mark_open) for clients that start-up recovery found open. CONN, SUB,
//! UNS and PUBEX are only registered on an open client.
//!
//! # Matching rules
//! - `+QMTOPEN`/`+QMTCLOSE`/`+QMTCONN`/`+QMTDISC: <idx>,…` resolve that client's pending op of
//!   the kind (at most one at a time per client).
//! - `+QMTSUB`/`+QMTUNS`/`+QMTPUBEX: <idx>,<msgid>,…` resolve (kind, idx, msgid). `+QMTPUB:` is
//!   accepted as a publish result (spec §6 variation 4). QoS 0 publishes all carry `msgid` 0, so
//!   several may wait at once: their results resolve them in registration order.
//! - `result` 1 (retransmission) is progress, not final ([`Outcome::Progress`]); it pushes the
//!   deadline out by one `pkt_timeout` ([`Deadlines::retransmission`]).
//! - `+QMTCONN: <idx>,0` without `ret_code` is accepted (variation 3).
//! - `+QMTPING: <idx>,1` fails every pending op of the client (except a CLOSE) with
//!   [`ClientError::PingTimeout`]; the `+QMTSTAT: <idx>,2` that follows (§9) is what marks the link
//!   lost.
//! - `RDY` and `POWERED DOWN` fail every pending op of every client with
//!   [`ClientError::ModuleRestarted`] and mark every client closed (§9: state reset).
//! - A result line nobody waits for (late after a timeout, or for another host process) is
//!   [`Resolution::Unmatched`]; it still updates the client's link state (a late `+QMTOPEN: 0,0`
//!   means client 0 *is* open).
//!
//! # Stale `+QMTSTAT` (spec §6 variation 6): the link-state rule
//! Each client has a link state: `Closed`, `Open` or `Closing`. A `+QMTSTAT: <idx>,<code>` counts
//! only while the client is `Open`, i.e. from its `+QMTOPEN: <idx>,0` (or
//! [`mark_open`](Correlator::mark_open)) until the host *requests* CLOSE or DISC (registers the op),
//! or a `+QMTSTAT`/`RDY` ends it. A counting `+QMTSTAT` fails every pending op of the client with
//! [`ClientError::LinkLost`] and yields [`Resolution::LinkLost`]; it moves the client to `Closed`.
//! Any other `+QMTSTAT` — after a close or disconnect was requested, or before a reopen succeeded —
//! is [`Resolution::StatIgnored`] and touches no op of the client: a stale `+QMTSTAT` of the old
//! connection can never fail the pending OPEN/CONN/SUB of the new one. The one exception is a
//! pending DISC: a `+QMTSTAT` during it (typically code 5, "the client sent DISCONNECT and the
//! server closed the connection") completes the disconnect. Every transition to `Open` increments
//! the client's [`epoch`](Correlator::epoch), which the glue can use to tag per-connection state.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use qmt_proto::ModuleLine;
use qmt_proto::codes::{
    CloseResult, DiscResult, GrantedQos, OpenResult, PacketResult, RecommendedAction, StatCode,
};
use qmt_proto::params::{ClientIdx, MsgId, PktTimeout, Qos, RetryTimes};
use qmt_proto::urc::{ConnValue, Urc};
use qmt_transport::time::Instant;

use smallvec::{SmallVec, smallvec};

use crate::error::{ClientError, PublishFailure};
pub use crate::op::OpKind;

/// What a result line is correlated by: (kind, `client_idx`, `msgid`); `msgid` is 0 for the
/// kinds without one (OPEN, CLOSE, CONN, DISC) and for QoS 0 publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpKey {
    /// The operation.
    pub kind: OpKind,
    /// The client.
    pub client_idx: ClientIdx,
    /// The packet identifier (0 where none applies).
    pub msgid: u16,
}

impl OpKey {
    fn plain(kind: OpKind, client_idx: ClientIdx) -> OpKey {
        OpKey {
            kind,
            client_idx,
            msgid: 0,
        }
    }

    /// `AT+QMTOPEN` of `client_idx`.
    pub fn open(client_idx: ClientIdx) -> OpKey {
        OpKey::plain(OpKind::Open, client_idx)
    }

    /// `AT+QMTCLOSE` of `client_idx`.
    pub fn close(client_idx: ClientIdx) -> OpKey {
        OpKey::plain(OpKind::Close, client_idx)
    }

    /// `AT+QMTCONN` of `client_idx`.
    pub fn conn(client_idx: ClientIdx) -> OpKey {
        OpKey::plain(OpKind::Conn, client_idx)
    }

    /// `AT+QMTDISC` of `client_idx`.
    pub fn disc(client_idx: ClientIdx) -> OpKey {
        OpKey::plain(OpKind::Disc, client_idx)
    }

    /// `AT+QMTSUB` of `client_idx` with `msgid`.
    pub fn sub(client_idx: ClientIdx, msgid: MsgId) -> OpKey {
        OpKey {
            kind: OpKind::Sub,
            client_idx,
            msgid: msgid.get(),
        }
    }

    /// `AT+QMTUNS` of `client_idx` with `msgid`.
    pub fn uns(client_idx: ClientIdx, msgid: MsgId) -> OpKey {
        OpKey {
            kind: OpKind::Uns,
            client_idx,
            msgid: msgid.get(),
        }
    }

    /// `AT+QMTPUBEX` of `client_idx` with `msgid` (0 for QoS 0).
    pub fn publish(client_idx: ClientIdx, msgid: MsgId) -> OpKey {
        OpKey {
            kind: OpKind::Pub,
            client_idx,
            msgid: msgid.get(),
        }
    }

    /// The name used in timeout errors: `AT+QMTSUB result (client 0, msgid 3)`.
    pub fn describe(&self) -> String {
        if self.kind.has_msgid() {
            format!(
                "{} result (client {}, msgid {})",
                self.kind, self.client_idx, self.msgid
            )
        } else {
            format!("{} result (client {})", self.kind, self.client_idx)
        }
    }
}

/// Identifies one registered operation; its [`Resolution::Op`] carries the same token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpToken(pub u64);

/// How long each kind of result may take, per client.
///
/// [`Deadlines::from_timeout`] derives them from the client's `timeout` option. Where the spec's
/// tables and its §9 model disagree, the longer wait is taken so that the module's own verdict
/// (`…,2` and `+QMTSTAT`) arrives before the host gives up:
/// - OPEN 120 s, CLOSE 30 s, DISC 30 s (spec §4 tables);
/// - CONN and SUB/UNS/PUBEX `pkt_timeout × (retry_times + 1)`: §9 sends the packet, then
///   retransmits up to `retry_times` times, each after `pkt_timeout`, and reports `…,2` only after
///   the last wait (the tables say `pkt_timeout` for CONN and `pkt_timeout × retry_times` for the
///   others: 15 s by default, where §9 needs 20 s);
/// - plus `grace` on each (serial latency, module scheduling; default [`Deadlines::GRACE`]).
///
/// The fields are public: set them to the spec's literal numbers if wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// `+QMTOPEN` result.
    pub open: Duration,
    /// `+QMTCLOSE` result.
    pub close: Duration,
    /// `+QMTDISC` result.
    pub disc: Duration,
    /// `+QMTCONN` result.
    pub conn: Duration,
    /// `+QMTSUB`, `+QMTUNS`, `+QMTPUBEX` results.
    pub packet: Duration,
    /// After a retransmission notice (`result` 1): the deadline becomes at least now + this.
    pub retransmission: Duration,
}

impl Deadlines {
    /// The default margin added to every deadline.
    pub const GRACE: Duration = Duration::from_secs(2);

    /// The deadlines for a client with this `timeout` setting (see the type's docs).
    pub fn from_timeout(
        pkt_timeout: PktTimeout,
        retry_times: RetryTimes,
        grace: Duration,
    ) -> Deadlines {
        let pkt = Duration::from_secs(u64::from(pkt_timeout.get()));
        let rounds = u32::from(retry_times.get()) + 1;
        Deadlines {
            open: Duration::from_secs(120) + grace,
            close: Duration::from_secs(30) + grace,
            disc: Duration::from_secs(30) + grace,
            conn: pkt * rounds + grace,
            packet: pkt * rounds + grace,
            retransmission: pkt + grace,
        }
    }

    /// The deadline of `kind`.
    pub fn of(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Open => self.open,
            OpKind::Close => self.close,
            OpKind::Disc => self.disc,
            OpKind::Conn => self.conn,
            OpKind::Sub | OpKind::Uns | OpKind::Pub => self.packet,
        }
    }
}

impl Default for Deadlines {
    /// The module defaults `pkt_timeout` 5 s, `retry_times` 3 (spec §2), with [`Deadlines::GRACE`].
    fn default() -> Self {
        // 5 and 3 are in range: the fallbacks are never taken.
        let pkt = PktTimeout::new(5).unwrap_or_else(|_| unreachable!());
        let retry = RetryTimes::new(3).unwrap_or_else(|_| unreachable!());
        Deadlines::from_timeout(pkt, retry, Deadlines::GRACE)
    }
}

/// A successful outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// `+QMTOPEN: <idx>,0`.
    Opened,
    /// `+QMTCLOSE: <idx>,0`.
    Closed,
    /// `+QMTCONN: <idx>,0,0` (or `+QMTCONN: <idx>,0`, variation 3).
    Connected,
    /// `+QMTDISC: <idx>,0` (or a `+QMTSTAT` during the disconnect).
    Disconnected,
    /// `+QMTSUB: <idx>,<msgid>,0,<qos>…`: the granted QoS per filter, in order (128 = refused).
    Subscribed {
        /// One per topic filter of the subscription.
        granted: Vec<GrantedQos>,
    },
    /// `+QMTUNS: <idx>,<msgid>,0`.
    Unsubscribed,
    /// `+QMTPUBEX: <idx>,<msgid>,0`: sent (QoS 0) or acknowledged (QoS 1/2).
    Published,
    /// A status request's snapshot ([`crate::Modem::status`]).
    Status(Box<crate::status::ModemStatus>),
    /// The module's files, `(name, size)` as `+QFLST` lists them ([`crate::Modem::files`]).
    Files(Vec<(String, u64)>),
    /// `AT+QFDEL` answered `OK` ([`crate::Modem::delete_file`]).
    FileDeleted,
    /// An upload the module confirmed: its `+QFUPL` size and checksum matched, or a listing
    /// showed the size written ([`crate::Modem::upload_file`]).
    FileUploaded {
        /// Bytes stored.
        size: u64,
    },
}

/// What happened to a pending operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Final: it succeeded.
    Done(Completion),
    /// Not final: the module is retransmitting (`result` 1, reported with `timeout_notice` 1);
    /// the count, if the line had one.
    Progress {
        /// The retransmission count.
        retransmissions: Option<i64>,
    },
    /// Final: it failed. Publishes fail with [`ClientError::PublishFailed`].
    Failed(ClientError),
}

impl Outcome {
    /// Whether the operation is over.
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Progress { .. })
    }
}

/// What one line or one deadline resolved: nearly always one thing or nothing, so it is kept
/// inline and resolving a result allocates nothing.
pub type Resolutions = SmallVec<[Resolution; 1]>;

/// What a line (or the passing of time) resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A pending operation progressed or ended.
    Op {
        /// The token [`Correlator::register`] returned.
        token: OpToken,
        /// Its key.
        key: OpKey,
        /// What happened.
        outcome: Outcome,
    },
    /// A `+QMTSTAT` of an open client: its link is gone (pending ops failed with
    /// [`ClientError::LinkLost`] are reported separately as `Op`).
    LinkLost {
        /// The client.
        client_idx: ClientIdx,
        /// The `+QMTSTAT` code.
        code: StatCode,
        /// What the spec recommends.
        action: RecommendedAction,
    },
    /// A `+QMTSTAT` of a client that is not open (stale, variation 6; or the end of a requested
    /// disconnect): ignored by the rule in the module docs.
    StatIgnored {
        /// The client.
        client_idx: ClientIdx,
        /// The `+QMTSTAT` code.
        code: StatCode,
    },
    /// `+QMTPING: <idx>,<result>`: keep-alive failed; the module closed the client.
    PingTimeout {
        /// The client.
        client_idx: ClientIdx,
    },
    /// `RDY` or `POWERED DOWN`: every client's state is gone.
    ModuleRestarted,
    /// A result line no pending operation waited for (late after a timeout, or another host's).
    Unmatched {
        /// The key the line carried.
        key: OpKey,
    },
}

/// A client's link state (see the module docs for the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Not open: `+QMTSTAT` lines are stale.
    Closed,
    /// Open since `+QMTOPEN: <idx>,0`: `+QMTSTAT` lines count.
    Open,
    /// A CLOSE or DISC was requested; `was_open`: the state to return to if it fails.
    Closing {
        /// Whether the client was open when the close was requested.
        was_open: bool,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    token: OpToken,
    key: OpKey,
    /// For publishes: the QoS, for failure reports.
    qos: Qos,
    registered: Instant,
    deadline: Instant,
    /// Its command got `OK`: the module is working on it.
    accepted: bool,
}

#[derive(Clone, Copy, Debug)]
struct ClientState {
    link: LinkState,
    epoch: u64,
    deadlines: Deadlines,
    /// The `+QMTSTAT` code that closed the client's last open link, until it opens again: an
    /// operation refused because the link is down then says why ([`ClientError::LinkLost`]), not
    /// just [`ClientError::NotConnected`].
    lost: Option<StatCode>,
}

/// The pending-operation table of one module (all six clients). Sans-IO: fed lines and
/// `Instant`s, returns [`Resolution`]s.
#[derive(Debug)]
pub struct Correlator {
    next_token: u64,
    /// In registration order (QoS 0 publishes resolve first-in first-out).
    entries: Vec<Entry>,
    clients: [ClientState; 6],
}

impl Default for Correlator {
    fn default() -> Self {
        Correlator::new()
    }
}

fn idx(c: ClientIdx) -> usize {
    usize::from(c.get())
}

impl Correlator {
    /// An empty table; every client `Closed`, with [`Deadlines::default`].
    pub fn new() -> Correlator {
        Correlator {
            next_token: 0,
            entries: Vec::new(),
            clients: [ClientState {
                link: LinkState::Closed,
                epoch: 0,
                deadlines: Deadlines::default(),
                lost: None,
            }; 6],
        }
    }

    /// Sets the deadlines of `client_idx` (from its options, [`Deadlines::from_timeout`]). Applies
    /// to operations registered from now on.
    pub fn set_deadlines(&mut self, client_idx: ClientIdx, deadlines: Deadlines) {
        self.clients[idx(client_idx)].deadlines = deadlines;
    }

    /// The link state of `client_idx`.
    pub fn link_state(&self, client_idx: ClientIdx) -> LinkState {
        self.clients[idx(client_idx)].link
    }

    #[cfg(test)]
    /// How many times `client_idx` became open.
    pub fn epoch(&self, client_idx: ClientIdx) -> u64 {
        self.clients[idx(client_idx)].epoch
    }

    /// Marks `client_idx` open without an OPEN of this host (start-up recovery found it open in
    /// `AT+QMTOPEN?`).
    pub fn mark_open(&mut self, client_idx: ClientIdx) {
        let c = &mut self.clients[idx(client_idx)];
        c.link = LinkState::Open;
        c.epoch += 1;
        c.lost = None;
    }

    /// The `+QMTSTAT` code that closed `client_idx`'s last link, until it opens again.
    pub fn lost(&self, client_idx: ClientIdx) -> Option<StatCode> {
        self.clients[idx(client_idx)].lost
    }

    #[cfg(test)]
    /// How many operations are pending (all clients).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    /// The pending operations of `client_idx`.
    pub fn pending(&self, client_idx: ClientIdx) -> impl Iterator<Item = (OpToken, OpKey)> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.key.client_idx == client_idx)
            .map(|e| (e.token, e.key))
    }

    /// Registers an operation about to be submitted; its deadline starts now. A publish registered
    /// this way is taken as QoS 0 when `msgid` is 0 and QoS 1 otherwise: use
    /// [`register_publish`](Self::register_publish) to record QoS 2.
    ///
    /// Refuses a second OPEN/CLOSE/CONN/DISC of one client, and a second SUB/UNS/PUBEX with a
    /// `msgid` in flight ([`ClientError::InProgress`]); QoS 0 publishes (`msgid` 0) may be many.
    /// CONN, SUB, UNS and PUBEX need an `Open` client ([`ClientError::NotConnected`] otherwise):
    /// so every such op is covered by the `+QMTSTAT` rule and cannot outlive its connection.
    /// Registering a CLOSE or DISC moves the client to `Closing` (stale `+QMTSTAT` rule).
    pub fn register(&mut self, key: OpKey, now: Instant) -> Result<OpToken, ClientError> {
        let qos = if key.msgid == 0 {
            Qos::AtMostOnce
        } else {
            Qos::AtLeastOnce
        };
        self.insert(key, qos, now)
    }

    /// Registers a publish of `qos` (`msgid` 0 exactly for QoS 0, as `AT+QMTPUBEX` requires).
    pub fn register_publish(
        &mut self,
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        now: Instant,
    ) -> Result<OpToken, ClientError> {
        self.insert(OpKey::publish(client_idx, msgid), qos, now)
    }

    fn insert(&mut self, key: OpKey, qos: Qos, now: Instant) -> Result<OpToken, ClientError> {
        let shared = key.kind == OpKind::Pub && key.msgid == 0;
        let clash = |e: &Entry| {
            if key.kind.has_msgid() {
                // SUB, UNS and PUBEX share the packet-id space (MQTT 3.1.1 §2.3.1).
                e.key.kind.has_msgid()
                    && e.key.client_idx == key.client_idx
                    && e.key.msgid == key.msgid
            } else {
                e.key == key
            }
        };
        let needs_open = matches!(
            key.kind,
            OpKind::Conn | OpKind::Sub | OpKind::Uns | OpKind::Pub
        );
        let client = &self.clients[idx(key.client_idx)];
        if needs_open && client.link != LinkState::Open {
            // A `+QMTSTAT` that landed between the OPEN result and this request (a broker that
            // drops the client right after the handshake) is the reason to report.
            return Err(match client.lost {
                Some(code) => ClientError::LinkLost {
                    code,
                    action: code.recommended_action(),
                },
                None => ClientError::NotConnected,
            });
        }
        if !shared && self.entries.iter().any(clash) {
            return Err(ClientError::InProgress {
                op: key.kind,
                msgid: key.msgid,
            });
        }
        let c = &mut self.clients[idx(key.client_idx)];
        if matches!(key.kind, OpKind::Close | OpKind::Disc) {
            let was_open = match c.link {
                LinkState::Open => true,
                LinkState::Closed => false,
                LinkState::Closing { was_open } => was_open,
            };
            c.link = LinkState::Closing { was_open };
        }
        let token = OpToken(self.next_token);
        self.next_token += 1;
        self.entries.push(Entry {
            token,
            key,
            qos,
            registered: now,
            deadline: now + c.deadlines.of(key.kind),
            accepted: false,
        });
        Ok(token)
    }

    /// The command of `token` was accepted (`OK`) at `now`: its result deadline restarts from
    /// now, so time spent queued behind other commands does not count. Returns whether it is
    /// pending.
    pub fn accepted(&mut self, token: OpToken, now: Instant) -> bool {
        let Some(e) = self.entries.iter_mut().find(|e| e.token == token) else {
            return false;
        };
        e.deadline = now + self.clients[idx(e.key.client_idx)].deadlines.of(e.key.kind);
        e.accepted = true;
        true
    }

    /// The operations of `kind` that were accepted and whose result is awaited.
    pub fn awaiting_keys(&self, kind: OpKind) -> impl Iterator<Item = OpKey> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.accepted && e.key.kind == kind)
            .map(|e| e.key)
    }

    /// The clients whose `kind` (OPEN, CLOSE …) was accepted and whose result is awaited.
    pub fn awaiting(&self, kind: OpKind) -> impl Iterator<Item = ClientIdx> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.accepted && e.key.kind == kind)
            .map(|e| e.key.client_idx)
    }

    /// Brings the deadline of the accepted `kind` of `client_idx` forward to `at` (never later):
    /// its result line may have been lost to line damage (spec §10.7), and the spec's wait (120 s
    /// for OPEN) would stall the client that long.
    pub fn hasten(&mut self, kind: OpKind, client_idx: ClientIdx, at: Instant) {
        for e in &mut self.entries {
            if e.accepted && e.key.kind == kind && e.key.client_idx == client_idx {
                e.deadline = e.deadline.min(at);
            }
        }
    }

    /// Ends the operation `token` with `error` (its command got `ERROR`, or could not be written):
    /// the final [`Resolution::Op`], or `None` if it is not pending. A CLOSE or DISC that ends this
    /// way restores the link state it changed. A publish fails with
    /// [`ClientError::PublishFailed`] whatever `error` is (`ClientError::Module` becomes
    /// [`PublishFailure::Refused`], …: [`PublishFailure::from_error`]), so that it is reported
    /// like every other failed publish.
    pub fn fail(&mut self, token: OpToken, error: ClientError) -> Option<Resolution> {
        let at = self.entries.iter().position(|e| e.token == token)?;
        let e = self.entries.remove(at);
        if matches!(e.key.kind, OpKind::Close | OpKind::Disc) {
            self.restore_after_failed_close(e.key.client_idx);
        }
        let error = if e.key.kind == OpKind::Pub {
            publish_failed(&e, PublishFailure::from_error(&error))
        } else {
            error
        };
        Some(Resolution::Op {
            token,
            key: e.key,
            outcome: Outcome::Failed(error),
        })
    }

    fn restore_after_failed_close(&mut self, client_idx: ClientIdx) {
        let still_closing = self.entries.iter().any(|e| {
            e.key.client_idx == client_idx && matches!(e.key.kind, OpKind::Close | OpKind::Disc)
        });
        let c = &mut self.clients[idx(client_idx)];
        if let (LinkState::Closing { was_open }, false) = (c.link, still_closing) {
            c.link = if was_open {
                LinkState::Open
            } else {
                LinkState::Closed
            };
        }
    }

    /// The earliest deadline of a pending operation.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.deadline).min()
    }

    /// Fails every operation whose deadline has passed with [`ClientError::Timeout`] (naming the
    /// result waited for and how long), publishes with [`PublishFailure::NoResult`].
    pub fn handle_timeout(&mut self, now: Instant) -> Resolutions {
        let mut out = Resolutions::new();
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].deadline <= now {
                let e = self.entries.remove(i);
                let waited = now.saturating_duration_since(e.registered);
                tracing::debug!(key = %e.key.describe(), ?waited, "two-phase result timed out");
                let error = match e.key.kind {
                    OpKind::Pub => publish_failed(&e, PublishFailure::NoResult(waited)),
                    _ => ClientError::Timeout {
                        command: e.key.describe(),
                        waited,
                    },
                };
                if matches!(e.key.kind, OpKind::Close | OpKind::Disc) {
                    self.restore_after_failed_close(e.key.client_idx);
                }
                out.push(Resolution::Op {
                    token: e.token,
                    key: e.key,
                    outcome: Outcome::Failed(error),
                });
            } else {
                i += 1;
            }
        }
        out
    }

    /// Feeds one line from the module. Lines that are no URC or concern no operation (messages,
    /// `+CPIN: READY`, information lines, unknown lines) give nothing. Never panics.
    pub fn on_urc(&mut self, line: &ModuleLine<'_>, now: Instant) -> Resolutions {
        let ModuleLine::Urc(urc) = line else {
            return Resolutions::new();
        };
        match *urc {
            Urc::Open { client_idx, result } => {
                if result == OpenResult::Opened {
                    let c = &mut self.clients[idx(client_idx)];
                    c.link = LinkState::Open;
                    c.epoch += 1;
                    c.lost = None;
                    self.finish(OpKey::open(client_idx), Outcome::Done(Completion::Opened))
                } else {
                    self.finish(
                        OpKey::open(client_idx),
                        Outcome::Failed(ClientError::OpenFailed { result }),
                    )
                }
            }
            Urc::Close { client_idx, result } => {
                if result == CloseResult::Closed {
                    let c = &mut self.clients[idx(client_idx)];
                    c.link = LinkState::Closed;
                    c.lost = None;
                    let mut out =
                        self.finish(OpKey::close(client_idx), Outcome::Done(Completion::Closed));
                    out.extend(self.fail_client(client_idx, |_| true, &Cause::Closed));
                    out
                } else {
                    let out = self.finish(
                        OpKey::close(client_idx),
                        Outcome::Failed(ClientError::CloseFailed { result }),
                    );
                    self.restore_after_failed_close(client_idx);
                    out
                }
            }
            Urc::Disc { client_idx, result } => self.disc_result(client_idx, result),
            Urc::Conn {
                client_idx, result, ..
            } => {
                let key = OpKey::conn(client_idx);
                let outcome = match (result, urc.connack()) {
                    (PacketResult::Acked, Some(c)) if c.code() == 0 => {
                        Outcome::Done(Completion::Connected)
                    }
                    (PacketResult::Acked, Some(connack)) => {
                        Outcome::Failed(ClientError::Refused { connack })
                    }
                    (PacketResult::Retransmission, _) => Outcome::Progress {
                        retransmissions: match urc {
                            Urc::Conn {
                                value: Some(v @ ConnValue::Retransmissions(_)),
                                ..
                            } => Some(v.code()),
                            _ => None,
                        },
                    },
                    (result, _) => Outcome::Failed(ClientError::SendFailed {
                        op: OpKind::Conn,
                        result,
                    }),
                };
                self.progress_or_finish(key, outcome, now)
            }
            Urc::Sub {
                client_idx,
                msgid,
                result,
                values,
            } => {
                let key = OpKey::sub(client_idx, msgid);
                let outcome = packet_outcome(OpKind::Sub, result, values.first(), || {
                    Completion::Subscribed {
                        granted: values.granted_qos().collect(),
                    }
                });
                self.progress_or_finish(key, outcome, now)
            }
            Urc::Uns {
                client_idx,
                msgid,
                result,
                values,
            } => {
                let key = OpKey::uns(client_idx, msgid);
                let outcome = packet_outcome(OpKind::Uns, result, values.first(), || {
                    Completion::Unsubscribed
                });
                self.progress_or_finish(key, outcome, now)
            }
            Urc::PubEx {
                client_idx,
                msgid,
                result,
                value,
                ..
            } => {
                let key = OpKey::publish(client_idx, msgid);
                let outcome = match result {
                    PacketResult::Acked => Outcome::Done(Completion::Published),
                    PacketResult::Retransmission => Outcome::Progress {
                        retransmissions: value,
                    },
                    // The QoS is filled in by `finish` from the entry.
                    other => Outcome::Failed(ClientError::PublishFailed {
                        msgid: msgid.get(),
                        qos: Qos::AtMostOnce,
                        cause: PublishFailure::ModuleGaveUp(other),
                    }),
                };
                self.progress_or_finish(key, outcome, now)
            }
            Urc::Stat {
                client_idx,
                err_code,
            } => self.stat(client_idx, err_code),
            Urc::Ping { client_idx, .. } => {
                let mut out = smallvec![Resolution::PingTimeout { client_idx }];
                out.extend(self.fail_client(client_idx, |k| k.kind != OpKind::Close, &Cause::Ping));
                out
            }
            Urc::Rdy | Urc::PowerDown(_) => {
                let mut out = smallvec![Resolution::ModuleRestarted];
                for c in ClientIdx::all() {
                    self.clients[idx(c)].link = LinkState::Closed;
                    out.extend(self.fail_client(c, |_| true, &Cause::Restart));
                }
                out
            }
            Urc::Recv(_)
            | Urc::RecvStored { .. }
            | Urc::AppRdy
            | Urc::Pin(_)
            | Urc::Cfun(_)
            | Urc::Qusim(_)
            | Urc::Qind(_)
            | Urc::SimStat { .. }
            | Urc::Reg { .. }
            | Urc::PdpDeact { .. }
            | Urc::Ntp { .. } => Resolutions::new(),
        }
    }

    fn disc_result(&mut self, client_idx: ClientIdx, result: DiscResult) -> Resolutions {
        if result == DiscResult::Disconnected {
            self.clients[idx(client_idx)].link = LinkState::Closed;
            let mut out = self.finish(
                OpKey::disc(client_idx),
                Outcome::Done(Completion::Disconnected),
            );
            out.extend(self.fail_client(
                client_idx,
                |k| k.kind.has_msgid() || k.kind == OpKind::Conn,
                &Cause::Closed,
            ));
            out
        } else {
            let out = self.finish(
                OpKey::disc(client_idx),
                Outcome::Failed(ClientError::DiscFailed { result }),
            );
            self.restore_after_failed_close(client_idx);
            out
        }
    }

    fn stat(&mut self, client_idx: ClientIdx, code: StatCode) -> Resolutions {
        let c = &mut self.clients[idx(client_idx)];
        match c.link {
            LinkState::Open => {
                c.link = LinkState::Closed;
                c.lost = Some(code);
                tracing::debug!(client = client_idx.get(), code = code.code(), "link lost");
                let mut out = smallvec![Resolution::LinkLost {
                    client_idx,
                    code,
                    action: code.recommended_action(),
                }];
                out.extend(self.fail_client(client_idx, |_| true, &Cause::Stat(code)));
                out
            }
            LinkState::Closing { .. }
                if self
                    .entries
                    .iter()
                    .any(|e| e.key == OpKey::disc(client_idx)) =>
            {
                // The end of a requested disconnect (typically code 5).
                let mut out = smallvec![Resolution::StatIgnored { client_idx, code }];
                out.extend(self.disc_result(client_idx, DiscResult::Disconnected));
                out
            }
            LinkState::Closed | LinkState::Closing { .. } => {
                // The connection is gone whatever the pending CLOSE answers: if it fails (the
                // module refuses to close what it already closed), the client is closed.
                if let LinkState::Closing { was_open } = &mut c.link {
                    *was_open = false;
                }
                tracing::debug!(
                    client = client_idx.get(),
                    code = code.code(),
                    "+QMTSTAT of a client that is not open: stale, ignored"
                );
                smallvec![Resolution::StatIgnored { client_idx, code }]
            }
        }
    }

    /// A progress outcome extends the deadline; a final one removes the entry.
    fn progress_or_finish(&mut self, key: OpKey, outcome: Outcome, now: Instant) -> Resolutions {
        if outcome.is_final() {
            return self.finish(key, outcome);
        }
        let extra = self.clients[idx(key.client_idx)].deadlines.retransmission;
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.deadline = e.deadline.max(now + extra);
                smallvec![Resolution::Op {
                    token: e.token,
                    key,
                    outcome,
                }]
            }
            None => smallvec![Resolution::Unmatched { key }],
        }
    }

    /// Removes the oldest entry with `key` and reports `outcome` for it.
    fn finish(&mut self, key: OpKey, outcome: Outcome) -> Resolutions {
        let Some(at) = self.entries.iter().position(|e| e.key == key) else {
            tracing::debug!(key = %key.describe(), "result without a pending operation");
            return smallvec![Resolution::Unmatched { key }];
        };
        let e = self.entries.remove(at);
        let outcome = match outcome {
            Outcome::Failed(ClientError::PublishFailed { msgid, cause, .. }) => {
                Outcome::Failed(ClientError::PublishFailed {
                    msgid,
                    qos: e.qos,
                    cause,
                })
            }
            other => other,
        };
        smallvec![Resolution::Op {
            token: e.token,
            key,
            outcome,
        }]
    }

    /// Fails the pending ops of `client_idx` that `which` selects.
    fn fail_client(
        &mut self,
        client_idx: ClientIdx,
        which: impl Fn(&OpKey) -> bool,
        cause: &Cause,
    ) -> Resolutions {
        let mut out = Resolutions::new();
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.key.client_idx == client_idx && which(&e.key) {
                let e = self.entries.remove(i);
                let error = if e.key.kind == OpKind::Pub {
                    publish_failed(&e, cause.publish())
                } else {
                    cause.error()
                };
                out.push(Resolution::Op {
                    token: e.token,
                    key: e.key,
                    outcome: Outcome::Failed(error),
                });
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Why every pending op of a client fails at once.
enum Cause {
    Stat(StatCode),
    Ping,
    Restart,
    Closed,
}

impl Cause {
    fn error(&self) -> ClientError {
        match *self {
            Cause::Stat(code) => ClientError::link_lost(code),
            Cause::Ping => ClientError::PingTimeout,
            Cause::Restart => ClientError::ModuleRestarted,
            Cause::Closed => ClientError::Closed,
        }
    }

    fn publish(&self) -> PublishFailure {
        match *self {
            Cause::Stat(code) => PublishFailure::LinkLost(code),
            Cause::Ping => PublishFailure::PingTimeout,
            Cause::Restart => PublishFailure::ModuleRestarted,
            Cause::Closed => PublishFailure::Closed,
        }
    }
}

fn publish_failed(e: &Entry, cause: PublishFailure) -> ClientError {
    ClientError::PublishFailed {
        msgid: e.key.msgid,
        qos: e.qos,
        cause,
    }
}

/// The outcome of a SUB/UNS result line.
fn packet_outcome(
    op: OpKind,
    result: PacketResult,
    first: Option<i64>,
    done: impl FnOnce() -> Completion,
) -> Outcome {
    match result {
        PacketResult::Acked => Outcome::Done(done()),
        PacketResult::Retransmission => Outcome::Progress {
            retransmissions: first,
        },
        other => Outcome::Failed(ClientError::SendFailed { op, result: other }),
    }
}

#[cfg(test)]
mod lost_link_tests {
    use super::*;
    use qmt_proto::ModuleLine;

    #[test]
    fn a_request_after_a_lost_link_says_why() {
        let now = Instant::ZERO;
        let mut cor = Correlator::new();
        let c0 = ClientIdx::new(0).unwrap();
        cor.on_urc(&ModuleLine::parse(b"+QMTOPEN: 0,0"), now);
        cor.on_urc(&ModuleLine::parse(b"+QMTSTAT: 0,1"), now);
        match cor.register(OpKey::conn(c0), now) {
            Err(ClientError::LinkLost { code, .. }) => assert_eq!(code, StatCode::ClosedByPeer),
            other => panic!("{other:?}"),
        }
        // Opened again: the old reason is forgotten.
        cor.on_urc(&ModuleLine::parse(b"+QMTOPEN: 0,0"), now);
        assert!(cor.register(OpKey::conn(c0), now).is_ok());
        // Never opened: plain NotConnected.
        let c1 = ClientIdx::new(1).unwrap();
        assert_eq!(
            cor.register(OpKey::conn(c1), now),
            Err(ClientError::NotConnected)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: i64) -> ClientIdx {
        ClientIdx::new(n).unwrap()
    }
    fn m(n: i64) -> MsgId {
        MsgId::new(n).unwrap()
    }
    fn feed(cor: &mut Correlator, line: &str, now: Instant) -> Vec<Resolution> {
        cor.on_urc(&ModuleLine::parse(line.as_bytes()), now)
            .into_vec()
    }
    fn op(token: OpToken, key: OpKey, outcome: Outcome) -> Resolution {
        Resolution::Op {
            token,
            key,
            outcome,
        }
    }
    /// A correlator with client `n` open.
    fn opened(n: i64, now: Instant) -> Correlator {
        let mut cor = Correlator::new();
        let t = cor.register(OpKey::open(c(n)), now).unwrap();
        let r = feed(&mut cor, &format!("+QMTOPEN: {n},0"), now);
        assert_eq!(
            r,
            vec![op(t, OpKey::open(c(n)), Outcome::Done(Completion::Opened))]
        );
        assert_eq!(cor.link_state(c(n)), LinkState::Open);
        cor
    }

    #[test]
    fn sub_result_gives_granted_qos_per_filter() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let t = cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        // Another client's and another msgid's results do not resolve it.
        assert_eq!(
            feed(&mut cor, "+QMTSUB: 1,1,0,2", now),
            vec![Resolution::Unmatched {
                key: OpKey::sub(c(1), m(1))
            }]
        );
        assert_eq!(
            feed(&mut cor, "+QMTSUB: 0,2,0,2", now),
            vec![Resolution::Unmatched {
                key: OpKey::sub(c(0), m(2))
            }]
        );
        let r = feed(&mut cor, "+QMTSUB: 0,1,0,2,1,128", now);
        assert_eq!(
            r,
            vec![op(
                t,
                OpKey::sub(c(0), m(1)),
                Outcome::Done(Completion::Subscribed {
                    granted: vec![
                        GrantedQos::ExactlyOnce,
                        GrantedQos::AtLeastOnce,
                        GrantedQos::Failure
                    ]
                })
            )]
        );
        assert!(cor.is_empty());
    }

    #[test]
    fn retransmission_notice_is_progress_and_extends_the_deadline() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let t = cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        let d0 = cor.poll_timeout().unwrap();
        assert_eq!(d0, now + Duration::from_secs(22));
        let later = now + Duration::from_secs(19);
        let r = feed(&mut cor, "+QMTSUB: 0,1,1,3", later);
        assert_eq!(
            r,
            vec![op(
                t,
                OpKey::sub(c(0), m(1)),
                Outcome::Progress {
                    retransmissions: Some(3)
                }
            )]
        );
        assert_eq!(cor.len(), 1, "progress is not final");
        // Pushed out to later + pkt_timeout + grace.
        assert_eq!(cor.poll_timeout().unwrap(), later + Duration::from_secs(7));
        assert!(cor.handle_timeout(d0).is_empty());
        // Then the failure.
        let r = feed(&mut cor, "+QMTSUB: 0,1,2", later);
        assert_eq!(
            r,
            vec![op(
                t,
                OpKey::sub(c(0), m(1)),
                Outcome::Failed(ClientError::SendFailed {
                    op: OpKind::Sub,
                    result: PacketResult::Failed
                })
            )]
        );
    }

    #[test]
    fn uns_and_conn_results() {
        let now = Instant::ZERO;
        let mut cor = opened(2, now);
        let t = cor.register(OpKey::uns(c(2), m(7)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTUNS: 2,7,0", now),
            vec![op(
                t,
                OpKey::uns(c(2), m(7)),
                Outcome::Done(Completion::Unsubscribed)
            )]
        );
        // CONN accepted with ret_code, refused, retransmitting, and without ret_code.
        let t = cor.register(OpKey::conn(c(2)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTCONN: 2,1,1", now),
            vec![op(
                t,
                OpKey::conn(c(2)),
                Outcome::Progress {
                    retransmissions: Some(1)
                }
            )]
        );
        assert_eq!(
            feed(&mut cor, "+QMTCONN: 2,0,4", now),
            vec![op(
                t,
                OpKey::conn(c(2)),
                Outcome::Failed(ClientError::Refused {
                    connack: qmt_proto::codes::ConnackCode::BadCredentials
                })
            )]
        );
        let t = cor.register(OpKey::conn(c(2)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTCONN: 2,0", now),
            vec![op(
                t,
                OpKey::conn(c(2)),
                Outcome::Done(Completion::Connected)
            )],
            "variation 3: no ret_code means accepted"
        );
        let t = cor.register(OpKey::conn(c(2)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTCONN: 2,0,0", now),
            vec![op(
                t,
                OpKey::conn(c(2)),
                Outcome::Done(Completion::Connected)
            )]
        );
        let t = cor.register(OpKey::conn(c(2)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTCONN: 2,2", now),
            vec![op(
                t,
                OpKey::conn(c(2)),
                Outcome::Failed(ClientError::SendFailed {
                    op: OpKind::Conn,
                    result: PacketResult::Failed
                })
            )]
        );
    }

    #[test]
    fn open_failures_and_close() {
        let now = Instant::ZERO;
        let mut cor = Correlator::new();
        let t = cor.register(OpKey::open(c(0)), now).unwrap();
        assert_eq!(
            cor.register(OpKey::open(c(0)), now),
            Err(ClientError::InProgress {
                op: OpKind::Open,
                msgid: 0
            })
        );
        assert_eq!(
            feed(&mut cor, "+QMTOPEN: 0,-1", now),
            vec![op(
                t,
                OpKey::open(c(0)),
                Outcome::Failed(ClientError::OpenFailed {
                    result: OpenResult::FailedToOpen
                })
            )]
        );
        assert_eq!(cor.link_state(c(0)), LinkState::Closed);
        let t = cor.register(OpKey::open(c(0)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTOPEN: 0,2", now),
            vec![op(
                t,
                OpKey::open(c(0)),
                Outcome::Failed(ClientError::OpenFailed {
                    result: OpenResult::IdentifierOccupied
                })
            )]
        );
        let mut cor = opened(0, now);
        let sub = cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        let close = cor.register(OpKey::close(c(0)), now).unwrap();
        let r = feed(&mut cor, "+QMTCLOSE: 0,0", now);
        assert_eq!(
            r,
            vec![
                op(close, OpKey::close(c(0)), Outcome::Done(Completion::Closed)),
                op(
                    sub,
                    OpKey::sub(c(0), m(1)),
                    Outcome::Failed(ClientError::Closed)
                ),
            ]
        );
        assert_eq!(cor.link_state(c(0)), LinkState::Closed);
    }

    #[test]
    fn disc_result_done_and_failed() {
        let now = Instant::ZERO;
        let mut cor = opened(1, now);
        let d = cor.register(OpKey::disc(c(1)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTDISC: 1,-1", now),
            vec![op(
                d,
                OpKey::disc(c(1)),
                Outcome::Failed(ClientError::DiscFailed {
                    result: DiscResult::Failed
                })
            )]
        );
        assert_eq!(cor.link_state(c(1)), LinkState::Open);
        let p = cor
            .register_publish(c(1), m(4), Qos::AtLeastOnce, now)
            .unwrap();
        let d = cor.register(OpKey::disc(c(1)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTDISC: 1,0", now),
            vec![
                op(
                    d,
                    OpKey::disc(c(1)),
                    Outcome::Done(Completion::Disconnected)
                ),
                op(
                    p,
                    OpKey::publish(c(1), m(4)),
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid: 4,
                        qos: Qos::AtLeastOnce,
                        cause: PublishFailure::Closed
                    })
                ),
            ]
        );
        assert_eq!(cor.link_state(c(1)), LinkState::Closed);
    }

    #[test]
    fn failed_close_restores_the_open_state() {
        let now = Instant::ZERO;
        let mut cor = opened(3, now);
        let t = cor.register(OpKey::close(c(3)), now).unwrap();
        assert_eq!(cor.link_state(c(3)), LinkState::Closing { was_open: true });
        assert_eq!(
            feed(&mut cor, "+QMTCLOSE: 3,-1", now),
            vec![op(
                t,
                OpKey::close(c(3)),
                Outcome::Failed(ClientError::CloseFailed {
                    result: CloseResult::Failed
                })
            )]
        );
        assert_eq!(cor.link_state(c(3)), LinkState::Open);
        // The command itself refused: `fail` restores too.
        let t = cor.register(OpKey::disc(c(3)), now).unwrap();
        let r = cor.fail(t, ClientError::NotConnected).unwrap();
        assert_eq!(
            r,
            op(
                t,
                OpKey::disc(c(3)),
                Outcome::Failed(ClientError::NotConnected)
            )
        );
        assert_eq!(cor.link_state(c(3)), LinkState::Open);
        assert_eq!(cor.fail(t, ClientError::Closed), None);
    }

    #[test]
    fn publish_results_qos0_fifo_and_pub_alias() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let a = cor
            .register_publish(c(0), m(0), Qos::AtMostOnce, now)
            .unwrap();
        let b = cor
            .register_publish(c(0), m(0), Qos::AtMostOnce, now)
            .unwrap();
        let q2 = cor
            .register_publish(c(0), m(9), Qos::ExactlyOnce, now)
            .unwrap();
        assert_eq!(
            cor.register_publish(c(0), m(9), Qos::AtLeastOnce, now),
            Err(ClientError::InProgress {
                op: OpKind::Pub,
                msgid: 9
            })
        );
        // msgid 9 is taken by the publish: a SUB with it is refused too (one id space).
        assert!(cor.register(OpKey::sub(c(0), m(9)), now).is_err());
        let k0 = OpKey::publish(c(0), m(0));
        assert_eq!(
            feed(&mut cor, "+QMTPUBEX: 0,0,0", now),
            vec![op(a, k0, Outcome::Done(Completion::Published))]
        );
        // Variation 4: `+QMTPUB:` resolves a waiting publish.
        assert_eq!(
            feed(&mut cor, "+QMTPUB: 0,0,0", now),
            vec![op(b, k0, Outcome::Done(Completion::Published))]
        );
        assert_eq!(
            feed(&mut cor, "+QMTPUB: 0,0,0", now),
            vec![Resolution::Unmatched { key: k0 }]
        );
        assert_eq!(
            feed(&mut cor, "+QMTPUBEX: 0,9,2", now),
            vec![op(
                q2,
                OpKey::publish(c(0), m(9)),
                Outcome::Failed(ClientError::PublishFailed {
                    msgid: 9,
                    qos: Qos::ExactlyOnce,
                    cause: PublishFailure::ModuleGaveUp(PacketResult::Failed)
                })
            )]
        );
    }

    #[test]
    fn a_refused_publish_command_is_a_publish_failure() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let p = cor
            .register_publish(c(0), m(4), Qos::AtLeastOnce, now)
            .unwrap();
        let refused = ClientError::Module {
            command: "AT+QMTPUBEX".into(),
            cme: crate::error::ModuleError::Cme(3),
        };
        assert_eq!(
            cor.fail(p, refused),
            Some(op(
                p,
                OpKey::publish(c(0), m(4)),
                Outcome::Failed(ClientError::PublishFailed {
                    msgid: 4,
                    qos: Qos::AtLeastOnce,
                    cause: PublishFailure::Refused(crate::error::ModuleError::Cme(3))
                })
            ))
        );
        let p = cor
            .register_publish(c(0), m(5), Qos::ExactlyOnce, now)
            .unwrap();
        let r = cor.fail(
            p,
            ClientError::Timeout {
                command: "AT+QMTPUBEX".into(),
                waited: Duration::from_secs(3),
            },
        );
        assert!(matches!(
            r,
            Some(Resolution::Op {
                outcome: Outcome::Failed(ClientError::PublishFailed {
                    cause: PublishFailure::NoResult(_),
                    qos: Qos::ExactlyOnce,
                    ..
                }),
                ..
            })
        ));
    }

    #[test]
    fn qmtstat_fails_every_pending_op_of_that_client_and_reports_publishes() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        cor.mark_open(c(1));
        let sub = cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        let p1 = cor
            .register_publish(c(0), m(2), Qos::AtLeastOnce, now)
            .unwrap();
        let other = cor.register(OpKey::sub(c(1), m(1)), now).unwrap();
        let r = feed(&mut cor, "+QMTSTAT: 0,1", now);
        assert_eq!(
            r,
            vec![
                Resolution::LinkLost {
                    client_idx: c(0),
                    code: StatCode::ClosedByPeer,
                    action: RecommendedAction::Reopen
                },
                op(
                    sub,
                    OpKey::sub(c(0), m(1)),
                    Outcome::Failed(ClientError::link_lost(StatCode::ClosedByPeer))
                ),
                op(
                    p1,
                    OpKey::publish(c(0), m(2)),
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid: 2,
                        qos: Qos::AtLeastOnce,
                        cause: PublishFailure::LinkLost(StatCode::ClosedByPeer)
                    })
                ),
            ]
        );
        assert_eq!(cor.link_state(c(0)), LinkState::Closed);
        // Client 1 untouched.
        assert_eq!(
            cor.pending(c(1)).collect::<Vec<_>>(),
            vec![(other, OpKey::sub(c(1), m(1)))]
        );
        // Unknown codes are kept and map to "connection lost".
        cor.mark_open(c(0));
        assert_eq!(
            feed(&mut cor, "+QMTSTAT: 0,42", now),
            vec![Resolution::LinkLost {
                client_idx: c(0),
                code: StatCode::Unknown(42),
                action: RecommendedAction::ConnectionLost
            }]
        );
    }

    #[test]
    fn stale_qmtstat_after_close_does_not_fail_the_reopened_client() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let epoch = cor.epoch(c(0));
        let close = cor.register(OpKey::close(c(0)), now).unwrap();
        // A +QMTSTAT while the close is pending: ignored.
        assert_eq!(
            feed(&mut cor, "+QMTSTAT: 0,1", now),
            vec![Resolution::StatIgnored {
                client_idx: c(0),
                code: StatCode::ClosedByPeer
            }]
        );
        assert_eq!(
            feed(&mut cor, "+QMTCLOSE: 0,0", now),
            vec![op(
                close,
                OpKey::close(c(0)),
                Outcome::Done(Completion::Closed)
            )]
        );
        // Reopen in progress; the stale +QMTSTAT of the old connection arrives late.
        let open = cor.register(OpKey::open(c(0)), now).unwrap();
        assert_eq!(
            feed(&mut cor, "+QMTSTAT: 0,8", now),
            vec![Resolution::StatIgnored {
                client_idx: c(0),
                code: StatCode::ClosedByClient
            }]
        );
        assert_eq!(cor.len(), 1, "the pending OPEN survives");
        assert_eq!(
            feed(&mut cor, "+QMTOPEN: 0,0", now),
            vec![op(
                open,
                OpKey::open(c(0)),
                Outcome::Done(Completion::Opened)
            )]
        );
        assert_eq!(cor.epoch(c(0)), epoch + 1);
        // The new connection's own +QMTSTAT counts.
        let conn = cor.register(OpKey::conn(c(0)), now).unwrap();
        let r = feed(&mut cor, "+QMTSTAT: 0,4", now);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            op(
                conn,
                OpKey::conn(c(0)),
                Outcome::Failed(ClientError::link_lost(StatCode::ConnackFailed))
            )
        );
    }

    #[test]
    fn qmtstat_during_a_close_that_then_fails_leaves_the_client_closed() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let close = cor.register(OpKey::close(c(0)), now).unwrap();
        feed(&mut cor, "+QMTSTAT: 0,1", now);
        // The module already closed it and refuses AT+QMTCLOSE.
        cor.fail(close, ClientError::NotConnected).unwrap();
        assert_eq!(cor.link_state(c(0)), LinkState::Closed);
    }

    #[test]
    fn qmtstat_during_disconnect_completes_it() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let disc = cor.register(OpKey::disc(c(0)), now).unwrap();
        let r = feed(&mut cor, "+QMTSTAT: 0,5", now);
        assert_eq!(
            r,
            vec![
                Resolution::StatIgnored {
                    client_idx: c(0),
                    code: StatCode::Disconnected
                },
                op(
                    disc,
                    OpKey::disc(c(0)),
                    Outcome::Done(Completion::Disconnected)
                )
            ]
        );
        // The late +QMTDISC result is unmatched, harmlessly.
        assert_eq!(
            feed(&mut cor, "+QMTDISC: 0,0", now),
            vec![Resolution::Unmatched {
                key: OpKey::disc(c(0))
            }]
        );
        assert_eq!(cor.link_state(c(0)), LinkState::Closed);
    }

    #[test]
    fn ping_timeout_fails_the_clients_ops_then_stat_marks_it_lost() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        let p = cor
            .register_publish(c(0), m(5), Qos::ExactlyOnce, now)
            .unwrap();
        let r = feed(&mut cor, "+QMTPING: 0,1", now);
        assert_eq!(
            r,
            vec![
                Resolution::PingTimeout { client_idx: c(0) },
                op(
                    p,
                    OpKey::publish(c(0), m(5)),
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid: 5,
                        qos: Qos::ExactlyOnce,
                        cause: PublishFailure::PingTimeout
                    })
                )
            ]
        );
        // §9: +QMTSTAT: idx,2 follows and still reaches the user.
        assert!(matches!(
            feed(&mut cor, "+QMTSTAT: 0,2", now)[..],
            [Resolution::LinkLost {
                code: StatCode::PingFailed,
                ..
            }]
        ));
    }

    #[test]
    fn rdy_fails_everything_and_closes_every_client() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        cor.mark_open(c(5));
        let a = cor.register(OpKey::conn(c(0)), now).unwrap();
        let b = cor
            .register_publish(c(5), m(1), Qos::AtLeastOnce, now)
            .unwrap();
        let r = feed(&mut cor, "RDY", now);
        assert_eq!(
            r,
            vec![
                Resolution::ModuleRestarted,
                op(
                    a,
                    OpKey::conn(c(0)),
                    Outcome::Failed(ClientError::ModuleRestarted)
                ),
                op(
                    b,
                    OpKey::publish(c(5), m(1)),
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid: 1,
                        qos: Qos::AtLeastOnce,
                        cause: PublishFailure::ModuleRestarted
                    })
                ),
            ]
        );
        assert!(cor.is_empty());
        assert!(ClientIdx::all().all(|i| cor.link_state(i) == LinkState::Closed));
    }

    #[test]
    fn timeouts_name_the_result_and_the_wait() {
        let now = Instant::ZERO;
        let mut cor = Correlator::new();
        cor.mark_open(c(0));
        let pkt = PktTimeout::new(2).unwrap();
        let retry = RetryTimes::new(1).unwrap();
        cor.set_deadlines(c(0), Deadlines::from_timeout(pkt, retry, Duration::ZERO));
        let open = cor.register(OpKey::open(c(0)), now).unwrap();
        let conn = cor.register(OpKey::conn(c(0)), now).unwrap();
        let p = cor
            .register_publish(c(0), m(3), Qos::AtLeastOnce, now)
            .unwrap();
        assert_eq!(cor.poll_timeout(), Some(now + Duration::from_secs(4)));
        assert!(cor.handle_timeout(now + Duration::from_secs(3)).is_empty());
        let t = now + Duration::from_secs(4);
        let r = cor.handle_timeout(t).into_vec();
        assert_eq!(
            r,
            vec![
                op(
                    conn,
                    OpKey::conn(c(0)),
                    Outcome::Failed(ClientError::Timeout {
                        command: "AT+QMTCONN result (client 0)".into(),
                        waited: Duration::from_secs(4)
                    })
                ),
                op(
                    p,
                    OpKey::publish(c(0), m(3)),
                    Outcome::Failed(ClientError::PublishFailed {
                        msgid: 3,
                        qos: Qos::AtLeastOnce,
                        cause: PublishFailure::NoResult(Duration::from_secs(4))
                    })
                ),
            ]
        );
        assert_eq!(cor.poll_timeout(), Some(now + Duration::from_secs(120)));
        let r = cor.handle_timeout(now + Duration::from_secs(121));
        assert!(
            matches!(&r[..], [Resolution::Op { token, outcome: Outcome::Failed(ClientError::Timeout { waited, .. }), .. }]
            if *token == open && *waited == Duration::from_secs(121))
        );
        // A late result after the timeout is unmatched but still updates the link state.
        assert_eq!(
            feed(&mut cor, "+QMTOPEN: 0,0", now),
            vec![Resolution::Unmatched {
                key: OpKey::open(c(0))
            }]
        );
        assert_eq!(cor.link_state(c(0)), LinkState::Open);
    }

    #[test]
    fn ops_need_an_open_client_and_deadlines_restart_on_ok() {
        let now = Instant::ZERO;
        let mut cor = Correlator::new();
        for key in [
            OpKey::conn(c(0)),
            OpKey::sub(c(0), m(1)),
            OpKey::uns(c(0), m(1)),
            OpKey::publish(c(0), m(0)),
        ] {
            assert_eq!(cor.register(key, now), Err(ClientError::NotConnected));
        }
        assert!(cor.is_empty());
        cor.mark_open(c(0));
        let t = cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        let ok = now + Duration::from_secs(10);
        assert!(cor.accepted(t, ok));
        assert_eq!(cor.poll_timeout(), Some(ok + Duration::from_secs(22)));
        // After a +QMTSTAT the client is closed again, and a request says why.
        feed(&mut cor, "+QMTSTAT: 0,1", ok);
        assert!(!cor.accepted(t, ok));
        assert!(matches!(
            cor.register(OpKey::conn(c(0)), now),
            Err(ClientError::LinkLost {
                code: StatCode::ClosedByPeer,
                ..
            })
        ));
        // During a requested disconnect, too.
        cor.mark_open(c(0));
        cor.register(OpKey::disc(c(0)), now).unwrap();
        assert_eq!(
            cor.register(OpKey::sub(c(0), m(2)), now),
            Err(ClientError::NotConnected)
        );
    }

    #[test]
    fn default_deadlines_follow_the_spec_defaults() {
        let d = Deadlines::default();
        assert_eq!(d.open, Duration::from_secs(122));
        assert_eq!(d.close, Duration::from_secs(32));
        assert_eq!(d.disc, Duration::from_secs(32));
        assert_eq!(d.conn, Duration::from_secs(22));
        assert_eq!(d.packet, Duration::from_secs(22));
        assert_eq!(d.retransmission, Duration::from_secs(7));
    }

    #[test]
    fn odd_lines_never_panic_and_resolve_nothing() {
        let now = Instant::ZERO;
        let mut cor = opened(0, now);
        cor.register(OpKey::sub(c(0), m(1)), now).unwrap();
        for line in [
            "+QMTSUB: 9,1,0,2",
            "+QMTSUB: 0,1",
            "+QMTSUB: 0,1,0,",
            "+QMTSUB: 0,70000,0,1",
            "+QMTRECV: 0,1,\"t\",2,hi",
            "+QMTRECV: 0,3",
            "+CPIN: READY",
            "OK",
            "\u{1}garbage",
            "",
            "+QMTSTAT: x",
            "+QMTPUBEX: (0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
        ] {
            assert_eq!(feed(&mut cor, line, now), vec![], "{line}");
        }
        // An undocumented result code fails the op, keeping the number.
        let r = feed(&mut cor, "+QMTSUB: 0,1,7", now);
        assert!(matches!(
            &r[..],
            [Resolution::Op {
                outcome: Outcome::Failed(ClientError::SendFailed {
                    result: PacketResult::Unknown(7),
                    ..
                }),
                ..
            }]
        ));
    }
}
