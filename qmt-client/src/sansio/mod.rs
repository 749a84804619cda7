//! The client core: everything a modem does, as one sans-IO state machine (ARCHITECTURE.md
//! "The client core").
//!
//! A [`ModemCore`] owns the AT link core ([`qmt_transport::link::Link`]), the two-phase
//! correlator, the packet ids, up to six client sessions, start-up, the connect and recovery
//! sequences, TLS provisioning and buffered-mode reads. It does no IO, starts no thread and reads
//! no clock: a driver feeds it bytes, user requests and the time, and drains it of bytes to write,
//! events and its next deadline. The std driver ([`crate::Modem`]) and any other driver (an async
//! one, firmware) run the same core.
//!
//! Every multi-step sequence is a state of the core, advanced by the lines that answer it:
//! start-up (`RDY` wait and `AT` probes, `ATE0`, `AT+CMEE=2`, stale clients), connect (configure,
//! `AT+QMTOPEN`, `AT+QMTCONN`), recovery (the same, then re-subscribe), slot reads. Each line is
//! typed once, in the link, and handled in wire order.
//!
//! ```
//! use core::time::Duration;
//! use qmt_client::sansio::{CoreConfig, CoreEvent, Instant, ModemCore};
//!
//! // The driver's clock: microseconds since an origin it picks (ARCHITECTURE.md "no_std").
//! let t0 = Instant::from_micros(0);
//! let mut core = ModemCore::new(CoreConfig::default(), t0);
//! let mut out = [0u8; 256];
//! // The first deadline is "now": start-up probes the module with AT.
//! core.handle_timeout(core.poll_timeout().unwrap());
//! let n = core.poll_transmit(&mut out);
//! assert_eq!(&out[..n], b"AT\r");
//! core.handle_input(b"\r\nOK\r\n", t0);
//! let n = core.poll_transmit(&mut out);
//! assert_eq!(&out[..n], b"ATE0\r");
//! core.handle_input(b"\r\nOK\r\n", t0);
//! let n = core.poll_transmit(&mut out);
//! assert_eq!(&out[..n], b"AT+CMEE=2\r");
//! core.handle_input(b"\r\nOK\r\n", t0);
//! let n = core.poll_transmit(&mut out);
//! assert_eq!(&out[..n], b"AT+QMTOPEN?\r");
//! core.handle_input(b"\r\nOK\r\n", t0 + Duration::from_millis(5));
//! assert!(matches!(core.poll_event(), Some(CoreEvent::Ready(_))));
//! ```
//!
//! # `no_std` and the heap
//! The core (this module, with the options, errors, events and recovery it uses) and the link
//! core under it build `#![no_std]` with `alloc` (`--no-default-features`; the `std` feature
//! adds the std driver). Time is [`Instant`]: microseconds since an origin the driver picks
//! (`qmt_transport::time::Clock` converts std's clock). Maps are `BTreeMap`s: no hasher is
//! needed. Every heap use is bounded, by a constant, a configuration field, or what the caller
//! itself has asked for and not yet seen end:
//!
//! Per modem, fixed:
//! - the framer: one boxed decoder buffer of `LINE_LIMIT` (4096) bytes
//!   (`qmt-transport/src/link/framer.rs`), and the reused line buffer (a line, or a split-form
//!   `+QMTRECV` header with its data run: at most 2 × `LINE_LIMIT`);
//! - the link's reused encode buffer and transmit buffer ([`qmt_transport::link`] `TxQueue`):
//!   one command line and one data phase per exchange on the wire;
//! - [`ModemCore`] itself, about 3 KB without its clients;
//!
//! Per modem, bounded by configuration and constants:
//! - the link's command queue: at most [`LinkConfig::queue_capacity`] (32) commands with their
//!   data (a publish's payload is at most `PayloadLen::MAX`, 1500 bytes; an upload's data is the
//!   caller's, at most `FileSize::MAX`, 10 MiB); a full queue refuses the request
//!   (`SubmitError::QueueFull`). The core's purpose map holds one entry per command in the link;
//! - the information lines of the command on the wire: at most
//!   [`MAX_INFO_LINES`](qmt_transport::link::MAX_INFO_LINES) (1024) lines of at most
//!   `LINE_LIMIT` bytes (further lines are URCs); a `+QFLST` listing the same;
//! - timed-out commands kept until their late answer (ghosts): at most `MAX_SILENT_GHOSTS` (64)
//!   before the module has answered anything, afterwards the 13 marker queries and the commands
//!   they resynchronise (with all 13 outstanding the link writes nothing);
//! - bring-up: the last [`NetworkConfig::resets_per_hour`] reset times, one status run per
//!   [`ModemCore::query_status`] in progress, start-up's stale-client lists (at most 6 each) and
//!   its sample of unexpected bytes (16);
//! - uploaded files remembered for provisioning: one entry (name, size, checksum) per distinct
//!   file name this core uploaded.
//!
//! Per client ([`ModemCore::add_client`], at most 6), bounded by constants:
//! - its slot, boxed, about 1.8 KB (options, recovery, redelivery memory inline);
//! - the packet ids in flight (`MsgIdAllocator`), 2 bytes each: one per SUB, UNS or QoS 1/2
//!   publish not yet ended (bounded by the command queue) or kept for a resend (below);
//! - the [`ClientOptions`] (strings of bounded parameters, plus the TLS files' bytes the caller
//!   gave);
//! - the redelivery memory: `REMEMBERED` (32) digests, inline (`sansio/redelivery.rs`);
//! - QoS 2 publishes of a persistent session cut off by a loss and kept to be sent again:
//!   `MAX_IN_DOUBT` (64), each a topic (≤ 256 bytes) and a payload (≤ 1500 bytes), the oldest
//!   given up beyond it;
//! - buffered-mode slots announced and being read: at most 5 each (`RecvId` 0–4), and reads go
//!   out only while the consumer has room ([`ModemCore::consumed`], the `capacity` given to
//!   `add_client`);
//! - the connect sequence's configure commands (one per `AT+QMTCFG`/`AT+QSSLCFG`/upload the
//!   options need) and recovery's steps.
//!
//! Per request the caller has made and not yet seen end ([`CoreEvent::Done`]): a correlator entry
//! and a waiter (small, fixed size; a QoS 2 publish of a persistent session also keeps its topic
//! and payload until its result), a parked request during recovery, and a subscription's filters
//! (at most `MAX_TOPICS`, 5, per request; recovery remembers each distinct granted filter until
//! it is unsubscribed). Requests with a packet id are bounded by the 65,535 ids per client
//! ([`ClientError::NoFreeMsgId`]); a caller bounds the rest by how many it keeps in flight.
//!
//! Transient, emptied by every call: the events of one call ([`ModemCore::poll_event`]; at most
//! a few per line fed) and the commands decided in it. A received message is one allocation
//! ([`Message`]), handed to the driver with its event: the driver's queue bounds messages, and
//! back-pressure ([`ModemCore::wants_input`]) keeps the port from being read past it.

mod files;
mod network;
mod reads;
mod redelivery;
mod session;
mod startup;

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use qmt_proto::codes::GrantedQos;
use qmt_proto::command::{Sub, Uns};
use qmt_proto::params::{ClientIdx, MsgId, Qos, RecvId, Topic};
use qmt_proto::uart::{BaudRate, FlowControl};
use qmt_proto::{Command, FinalCode, Info, ModuleLine, Urc};
use qmt_transport::link::{CommandError, Link, LinkConfig, LinkEvent, Output, Token};

use crate::correlate::{Completion, Correlator, OpKey, OpKind, OpToken, Outcome, Resolution};
use crate::error::{ClientError, ModuleError};
use crate::event::{Event, LagSource, Message};
use crate::msgid::MsgIdAllocator;
use crate::options::ClientOptions;
use crate::recovery::{Recovery, RecoveryPolicy};

pub use crate::status::{
    ModemStatus, MqttClientState, PdpContext, Registration, Rung, SimState, Stage, stat_words,
};
pub use files::FileRequest;
pub use network::NetworkConfig;
/// The core's time (see [`qmt_transport::time`]): every `now` and deadline of a [`ModemCore`].
pub use qmt_transport::time::Instant;
pub use startup::{Heard, Startup};

use network::{For, Network, Query};
use redelivery::Redelivery;

use session::Seq;
use startup::StartupState;

/// How a [`ModemCore`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    /// The link's deadlines and command queue.
    pub link: LinkConfig,
    /// How long start-up probes a module that does not answer `AT` (spec §10.1: `RDY` has been
    /// seen ~13 s after power-on; probe for at least 20 s).
    pub boot_wait: Duration,
    /// The time between two `AT` probes (spec §10.1: about 500 ms).
    pub probe_interval: Duration,
    /// Start-up recovery: disconnect and close the clients an earlier host process left open.
    pub close_stale: bool,
    /// The port's name, for the start-up failure's message.
    pub port_name: String,
    /// Bring-up from power-on to a data bearer (spec §10), opt-in: `None` assumes the module is
    /// already registered with an active context, as before.
    pub network: Option<NetworkConfig>,
    /// The serial line's flow control and rate, set on the module during start-up (spec §10.7);
    /// the driver follows with the host's port ([`CoreEvent::Port`]).
    pub serial: SerialSetup,
}

/// What start-up sets on the serial line, after `ATE0` and `AT+CMEE=2` (spec §10.7). Each field
/// left `None` is not touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SerialSetup {
    /// `AT+IFC=<f>,<f>`: the same flow control both ways. RTS/CTS is what keeps bytes from being
    /// lost on a UART under load; the host's port must use it too.
    pub flow: Option<FlowControl>,
    /// `AT+IPR=<rate>`: the module's new rate; its `OK` comes at the old one.
    pub baud: Option<BaudRate>,
}

/// A change the driver makes to the host's serial port, in order with the bytes: the core writes
/// nothing more until the event has been taken from [`ModemCore::poll_event`], and the driver
/// applies it before its next [`ModemCore::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortChange {
    /// The module uses this flow control now (`AT+IFC` answered `OK`).
    Flow(FlowControl),
    /// The module talks at this rate from now on (`AT+IPR` answered `OK` at the old one).
    Baud(BaudRate),
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            link: LinkConfig::default(),
            boot_wait: Duration::from_secs(20),
            probe_interval: Duration::from_millis(500),
            close_stale: true,
            port_name: String::from("the serial port"),
            network: None,
            serial: SerialSetup::default(),
        }
    }
}

/// What a client's consumer does when it falls behind (ARCHITECTURE.md "Bounds and policies").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// The default: the core asks its driver to stop reading the port
    /// ([`ModemCore::wants_input`] is false) until the consumer catches up, so the OS buffer, USB
    /// flow control or RTS/CTS hold the module back. Nothing is dropped.
    #[default]
    BackPressure,
    /// For a UART without flow control, where not reading would lose bytes in the UART itself:
    /// the port is always read and the consumer's queue drops its oldest message, counted in an
    /// [`Event::Lagged`].
    DropOldest,
}

/// Identifies a request given to [`ModemCore::submit`]; its [`CoreEvent::Done`] carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// What a user asks of one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Configure (TLS provisioning, every `AT+QMTCFG`), open, connect. With recovery on, a link
    /// lost during it is recovered and the request ends with the recovery.
    Connect,
    /// `AT+QMTSUB` of up to five filters. With recovery on, a link lost before the result is
    /// recovered and the request ends with the re-subscription.
    Subscribe(Vec<(Topic, Qos)>),
    /// `AT+QMTUNS` of up to five filters (carried across a loss like a subscription).
    Unsubscribe(Vec<Topic>),
    /// `AT+QMTPUBEX`; `payload` as the module takes it (hex text in hex send mode).
    Publish {
        /// The topic.
        topic: String,
        /// The payload bytes.
        payload: Vec<u8>,
        /// The QoS.
        qos: Qos,
        /// The retain flag.
        retain: bool,
    },
    /// `AT+QMTDISC`; recovery stops.
    Disconnect,
    /// `AT+QMTCLOSE` (nothing when the client is not open); recovery stops.
    Close,
}

/// What the core tells its driver, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreEvent {
    /// Start-up finished: the module answers, echo is off, errors are verbose, stale clients are
    /// closed. Requests are taken from now on.
    Ready(Startup),
    /// Start-up failed; the core does nothing more.
    StartupFailed(ClientError),
    /// Bring-up entered a stage, or the recovery ladder a rung (spec §10): what is being waited
    /// for, in order.
    Stage(Stage),
    /// The network could not be repaired after it was up (the ladder gave up); the clients'
    /// recoveries keep waiting for it.
    NetworkFailed(ClientError),
    /// Change the host's port now, before writing anything more (see [`PortChange`]).
    Port(PortChange),
    /// A request ended.
    Done {
        /// The request.
        op: OpId,
        /// Its outcome.
        result: Result<Completion, ClientError>,
    },
    /// An event for one client's consumer.
    Client {
        /// The client.
        client_idx: ClientIdx,
        /// The event.
        event: Event,
    },
}

/// Counters of a [`ModemCore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// The link's counters (lines, parses, echoes, unknown lines…).
    pub link: qmt_transport::link::LinkStats,
    /// Bytes fed to the core.
    pub bytes_in: u64,
    /// Bytes the core gave out to write.
    pub bytes_out: u64,
    /// Messages delivered (inline and read from slots).
    pub messages: u64,
    /// Messages that could not be delivered (invalid hex in hex receive mode).
    pub bad_messages: u64,
    /// Messages not delivered because they were a broker's resend, after a persistent session
    /// reconnected, of a message delivered before (the module had restarted and forgotten it;
    /// see `sansio/redelivery.rs`).
    pub redeliveries_dropped: u64,
    /// Messages dropped because their line was damaged ([`Event::MessageDamaged`]).
    pub damaged_messages: u64,
    /// QoS 2 publishes of a persistent session cut off mid-handshake and published again, with
    /// their packet ids, after the reconnect (`ModemCore::resend_in_doubt`).
    pub resent: u64,
}

/// What a command the core submitted is for.
enum Purpose {
    /// A start-up command.
    Startup,
    /// The command of a two-phase operation: its final code goes to the correlator.
    Accept { op: OpToken, kind: OpKind },
    /// A configure command of client `idx`'s running sequence `seq`.
    Configure {
        idx: ClientIdx,
        seq: u64,
        name: String,
        /// What `+QFUPL` said (upload steps).
        qfupl: Option<(u64, u16)>,
        /// The `+QFLST` lines (name, size) of a listing step (spec §10.8).
        listed: Vec<(String, u64)>,
        /// What `+CCLK` said (the clock check, spec §10.9).
        clock: Option<qmt_proto::ModuleTime>,
        /// What `+QSSLCFG: "ignorelocaltime"` said.
        ignores_time: Option<bool>,
    },
    /// `AT+QMTRECV=<idx>,<recv_id>`: its information lines are messages.
    ReadSlot {
        idx: ClientIdx,
        recv_id: RecvId,
        /// The link's restart count when it was sent.
        restarts: u64,
        delivered: bool,
    },
    /// `AT+QMTRECV?`: slots holding messages whose announcement may be lost.
    Rescan { found: Vec<(ClientIdx, RecvId)> },
    /// `AT+QMTOPEN?` after a garbled line: which clients are open, for OPENs and CLOSEs whose
    /// result line may have been that line ([`State::check_results`]).
    OpenCheck { open: Vec<ClientIdx> },
    /// A command whose answer only matters for the log (`ATE0` after `RDY`).
    Quiet { name: &'static str },
    /// A query or action of the network side (bring-up, repair, a status request).
    Net { whom: For, query: Query },
    /// A user's file request (`files.rs`).
    File {
        op: OpId,
        step: files::FileStep,
        /// `+QFLST` lines (name, size).
        listed: Vec<(String, u64)>,
        /// `+QFUPL: <size>,<checksum>`.
        qfupl: Option<(u64, u16)>,
    },
}

/// Who waits for a two-phase operation's outcome.
enum Waiter {
    /// A user request.
    User {
        op: OpId,
        key: OpKey,
        msgid: Option<MsgId>,
        after: After,
    },
    /// A step of client `idx`'s sequence `seq`.
    Step {
        idx: ClientIdx,
        seq: u64,
        msgid: Option<MsgId>,
        after: After,
    },
    /// A QoS 2 publish sent again ([`ModemCore::resend_in_doubt`]).
    Resend { msgid: MsgId, after: After },
}

/// What to remember when a SUB or UNS ends, or when a QoS 2 publish of a persistent session
/// ends without a known outcome.
#[derive(Clone, Debug)]
enum After {
    Nothing,
    Sub(Vec<(Topic, Qos)>),
    Uns(Vec<Topic>),
    Resend(Box<Resend>),
}

/// A QoS 2 publish whose handshake a link loss or a module restart cut off (see
/// [`ModemCore::resend_in_doubt`]): what to publish again, with the same packet id.
#[derive(Clone, Debug)]
struct Resend {
    msgid: MsgId,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    /// The module restarted since (it forgot its half): only then is it sent again.
    restarted: bool,
}

/// The most QoS 2 publishes a client keeps for a resend; beyond it the oldest is given up.
const MAX_IN_DOUBT: usize = 64;

/// A command to submit once the link is free of borrows (see [`ModemCore::flush`]).
struct Outgoing {
    command: Command,
    data: Option<Vec<u8>>,
    purpose: Purpose,
}

/// A user request carried across a link loss into recovery.
enum Parked {
    Connect(OpId),
    Sub(OpId, Vec<(Topic, Qos)>),
    Uns(OpId),
}

/// One client's state.
struct Slot {
    options: ClientOptions,
    msgids: MsgIdAllocator,
    recovery: Recovery,
    recovery_enabled: bool,
    /// The connect or recovery sequence running, if any.
    seq: Option<Seq>,
    /// Requests waiting for recovery's outcome.
    parked: Vec<Parked>,
    /// What recovery's re-subscriptions were granted (for parked subscriptions).
    regranted: Vec<(Topic, GrantedQos)>,
    /// Buffered-mode messages announced and not read yet.
    stored: VecDeque<RecvId>,
    /// Slots whose read is out, and whether a restart was seen meanwhile.
    reading: Vec<(RecvId, bool)>,
    /// Messages delivered to the consumer and not consumed yet.
    outstanding: usize,
    /// The consumer's capacity in messages.
    capacity: usize,
    /// Messages delivered before, to recognise a broker's resend after a reconnect.
    redelivery: Redelivery,
    /// QoS 2 publishes cut off mid-handshake, published again after the next connect.
    in_doubt: Vec<Resend>,
}

/// The state behind the link: everything [`Output`]s update while the link is borrowed.
struct State {
    overflow: Overflow,
    correlator: Correlator,
    /// Boxed: a slot is about 1.8 KB, and a firmware with one client should not carry six
    /// (`examples/firmware`; the heap bound in this module's docs).
    clients: [Option<Box<Slot>>; 6],
    startup: StartupState,
    network: Network,
    purposes: BTreeMap<Token, Purpose>,
    waiters: BTreeMap<OpToken, Waiter>,
    outbox: VecDeque<Outgoing>,
    events: VecDeque<CoreEvent>,
    next_op: u64,
    next_seq: u64,
    /// The link's restart count, kept in step from its output (`RDY` lines).
    restarts: u64,
    /// `+QMTRECV` length modes to hand the link (set when a client's configuration is done).
    recv_len: Vec<(ClientIdx, qmt_proto::recv::LenMode)>,
    /// Files this core uploaded and the module confirmed, by full name: (size, checksum). The
    /// module has no command that returns a stored file's checksum (spec §10.8), so only these
    /// can be recognised as identical and skipped (session.rs "Provisioning").
    uploaded: BTreeMap<String, (u64, u16)>,
    /// How long a configure step waits for `+QNTP` after `AT+QNTP`'s `OK` (the link's QNTP
    /// deadline, spec §10.9: 125 s).
    ntp_wait: Duration,
    stats: CoreStats,
    closed: bool,
    /// A [`CoreEvent::Port`] waits to be taken: nothing is written until then.
    port_hold: bool,
    /// When a garbled line last made buffered clients look at their slots again.
    garble_rescan: Option<Instant>,
    /// When the last garbled line or damaged message was seen: for a while after it, buffered
    /// clients look at their slots every [`GARBLE_RESCAN_EVERY`] too.
    garble_seen: Option<Instant>,
    /// Since the last final code: a line that fits no shape came, and whether a damaged message
    /// was reported. A slot read that answers `OK` alone after such a line lost its message to
    /// line damage (its `+QMTRECV:` head was hit), and reading freed the slot (spec §6).
    exchange_garbled: bool,
    exchange_damage_reported: bool,
    /// QoS 2 publishes (client, packet id) whose result was awaited when a garbled line came:
    /// that line may have been their `+QMTPUBEX` (the handshake finished), so a restart that
    /// cuts them off does not make them in doubt enough to send again (a duplicate, found by the
    /// damage soak: `+QMTPUBEX: 0,2005\x0e3,0`). Pending publishes only.
    garbled_pubs: Vec<(ClientIdx, u16)>,
}

/// How often buffered clients look at their slots while the line is damaging lines.
const GARBLE_RESCAN_EVERY: Duration = Duration::from_secs(3);
/// How long after the last garbled line that goes on.
const GARBLE_WATCH: Duration = Duration::from_secs(60);
/// How long an OPEN or CLOSE still waits for its result once a garbled line came and
/// `AT+QMTOPEN?` did not show it done (`State::results_checked`).
const RESULT_AFTER_GARBLE: Duration = Duration::from_secs(10);

/// One module's whole client side, sans-IO (see the [module docs](self)).
///
/// # Call order (as `quinn_proto::Connection`)
/// 1. [`new`](Self::new), then [`add_client`](Self::add_client) for each client the user creates
///    (any time).
/// 2. Whenever bytes are read from the port: [`handle_input`](Self::handle_input). Whenever
///    [`poll_timeout`](Self::poll_timeout)'s instant has passed: [`handle_timeout`](Self::handle_timeout)
///    (the first deadline is the creation time: start-up begins there).
/// 3. After each call above and each [`submit`](Self::submit) /
///    [`consumed`](Self::consumed): drain [`poll_transmit`](Self::poll_transmit) into the port,
///    [`poll_event`](Self::poll_event) to the users, and re-arm the timer with
///    [`poll_timeout`](Self::poll_timeout), until neither gives anything. A
///    [`CoreEvent::Port`] is applied to the host's port before the next `poll_transmit`
///    (`poll_transmit` gives nothing while one waits to be taken).
/// 4. Read the port only while [`wants_input`](Self::wants_input) is true (back-pressure).
/// 5. When the port is gone: [`close`](Self::close); every request ends.
///
/// Time only moves forward: every `now` passed is at least the previous one.
pub struct ModemCore {
    link: Link,
    st: State,
}

impl core::fmt::Debug for ModemCore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ModemCore")
            .field("link", &self.link)
            .field("startup", &self.st.startup)
            .field("pending_ops", &self.st.waiters.len())
            .field("closed", &self.st.closed)
            .finish_non_exhaustive()
    }
}

fn slot_index(idx: ClientIdx) -> usize {
    usize::from(idx.get())
}

impl ModemCore {
    /// A core for a module on a port just opened; start-up begins at the first
    /// [`handle_timeout`](Self::handle_timeout) (due at `now`), so that bytes already waiting on
    /// the port (a power-up `RDY` the kernel kept) can be fed first as history.
    pub fn new(config: CoreConfig, now: Instant) -> ModemCore {
        let link = Link::new(config.link.clone(), now);
        ModemCore {
            link,
            st: State {
                startup: StartupState::new(now, &config),
                network: Network::new(config.network.clone(), now),
                overflow: Overflow::BackPressure,
                correlator: Correlator::new(),
                clients: Default::default(),
                purposes: BTreeMap::new(),
                waiters: BTreeMap::new(),
                outbox: VecDeque::new(),
                events: VecDeque::new(),
                next_op: 0,
                next_seq: 0,
                restarts: 0,
                recv_len: Vec::new(),
                uploaded: BTreeMap::new(),
                ntp_wait: config.link.timeouts.ntp,
                stats: CoreStats::default(),
                closed: false,
                port_hold: false,
                garble_rescan: None,
                garble_seen: None,
                exchange_garbled: false,
                exchange_damage_reported: false,
                garbled_pubs: Vec::new(),
            },
        }
    }

    /// Sets what happens when a consumer falls behind (default [`Overflow::BackPressure`]).
    pub fn set_overflow(&mut self, overflow: Overflow) {
        self.st.overflow = overflow;
    }

    /// Adds client `client_idx` with `options`; its consumer holds up to `capacity` messages.
    ///
    /// # Errors
    /// [`ClientError::ClientInUse`] when the index has a client; [`ClientError::Closed`].
    pub fn add_client(
        &mut self,
        client_idx: ClientIdx,
        options: ClientOptions,
        policy: RecoveryPolicy,
        capacity: usize,
    ) -> Result<(), ClientError> {
        if self.st.closed {
            return Err(ClientError::Closed);
        }
        let at = slot_index(client_idx);
        if self.st.clients[at].is_some() {
            return Err(ClientError::ClientInUse { client_idx });
        }
        let mut options = options;
        if let Some(cid) = self.st.network.cid() {
            // Spec §10: MQTT runs on the context bring-up activated.
            options.default_pdp_cid(cid.get());
        }
        self.st
            .correlator
            .set_deadlines(client_idx, options.deadlines());
        self.st.clients[at] = Some(Box::new(Slot {
            options,
            msgids: MsgIdAllocator::new(),
            recovery: Recovery::new(policy),
            recovery_enabled: policy.enabled,
            seq: None,
            parked: Vec::new(),
            regranted: Vec::new(),
            stored: VecDeque::new(),
            reading: Vec::new(),
            outstanding: 0,
            capacity: capacity.max(1),
            redelivery: Redelivery::new(),
            in_doubt: Vec::new(),
        }));
        Ok(())
    }

    /// Removes client `client_idx` (its user handle is gone): its requests end with
    /// [`ClientError::Closed`], recovery stops. The module-side client is left as it is.
    pub fn remove_client(&mut self, client_idx: ClientIdx, now: Instant) {
        let Some(slot) = self.st.clients[slot_index(client_idx)].take() else {
            return;
        };
        let mut ops: Vec<OpId> = slot
            .parked
            .iter()
            .map(|p| match p {
                Parked::Connect(op) | Parked::Sub(op, _) | Parked::Uns(op) => *op,
            })
            .collect();
        if let Some(seq) = &slot.seq {
            ops.extend(seq.user_op());
        }
        for op in ops {
            self.st.done(op, Err(ClientError::Closed));
        }
        self.flush(now);
    }

    /// What request `op` waits for, for messages: `AT+QMTPUBEX result (client 0, msgid 3)`.
    pub fn waits_for(&self, op: OpId) -> Option<String> {
        self.st.waiters.values().find_map(|w| match w {
            Waiter::User { op: o, key, .. } if *o == op => Some(key.describe()),
            _ => None,
        })
    }

    /// Whether `client_idx` has a client.
    pub fn has_client(&self, client_idx: ClientIdx) -> bool {
        self.st.clients[slot_index(client_idx)].is_some()
    }

    /// Bytes read from the port (any chunking).
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.st.closed {
            return;
        }
        self.st.stats.bytes_in += bytes.len() as u64;
        self.st.startup.heard_bytes(bytes);
        let st = &mut self.st;
        self.link
            .feed_with(bytes, now, |out| st.on_output(out, now));
        self.flush(now);
    }

    /// The time passed [`poll_timeout`](Self::poll_timeout): deadlines of commands, results,
    /// start-up probes and recovery attempts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.st.closed {
            return;
        }
        self.link.handle_timeout(now);
        self.drain_link(now);
        let resolutions = self.st.correlator.handle_timeout(now);
        for r in resolutions {
            self.st.resolve(r, now);
        }
        self.st.startup_timer(now);
        self.st.network_timer(now);
        self.st.ntp_timers(now, false);
        self.st.recovery_timers(now);
        self.st.garble_timer(now);
        self.flush(now);
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.st.closed {
            return None;
        }
        let mut next = self.link.poll_timeout();
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        take(self.st.correlator.poll_timeout());
        take(self.st.startup.poll_timeout());
        take(self.st.network.poll_timeout());
        take(self.st.ntp_deadline());
        take(self.st.garble_deadline());
        // While the bearer is being repaired, recovery attempts wait for it (`network.rs`).
        let up = self.st.network.is_up();
        for slot in self.st.clients.iter().flatten() {
            if slot.seq.is_none() && up {
                take(slot.recovery.poll_timeout());
            }
        }
        next
    }

    /// Copies bytes to write to the port into `buf`; returns how many (0: nothing to write).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        if self.st.port_hold {
            // The host's port changes before the next byte (spec §10.7).
            return 0;
        }
        // The link encodes into one reused buffer: nothing is allocated per command.
        let n = self.link.poll_transmit_into(buf);
        self.st.stats.bytes_out += n as u64;
        n
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        let ev = self.st.events.pop_front();
        if matches!(ev, Some(CoreEvent::Port(_))) {
            self.st.port_hold = self
                .st
                .events
                .iter()
                .any(|e| matches!(e, CoreEvent::Port(_)));
        }
        ev
    }

    /// Submits a request for client `client_idx`; it ends with a [`CoreEvent::Done`] carrying the
    /// returned id. What is known before anything is written is refused here.
    ///
    /// # Errors
    /// [`ClientError::Closed`] (no such client, or the core closed), [`ClientError::NotConnected`]
    /// (before start-up finished, or the client is not open), [`ClientError::InProgress`],
    /// [`ClientError::PayloadTooLarge`], [`ClientError::Invalid`], [`ClientError::NoFreeMsgId`].
    pub fn submit(
        &mut self,
        client_idx: ClientIdx,
        request: Request,
        now: Instant,
    ) -> Result<OpId, ClientError> {
        let r = self.st.submit(client_idx, request, now);
        self.flush(now);
        r
    }

    /// Asks the module for a [`ModemStatus`] (identity, SIM, operator, registration, signal, PDP
    /// contexts, MQTT clients); it ends with a [`CoreEvent::Done`] whose completion is
    /// [`Completion::Status`]. Queries the module refuses (no SIM, no network) leave their fields
    /// empty: a module that is not registered still gives a snapshot.
    ///
    /// # Errors
    /// [`ClientError::Closed`]; [`ClientError::NotConnected`] before start-up synchronised.
    pub fn query_status(&mut self, now: Instant) -> Result<OpId, ClientError> {
        if self.st.closed {
            return Err(ClientError::Closed);
        }
        if !self.st.startup.synced() {
            return Err(ClientError::NotConnected);
        }
        let op = OpId(self.st.next_op);
        self.st.start_status(op);
        self.st.next_op += 1;
        self.flush(now);
        Ok(op)
    }

    /// A request on the module's files (list, delete, upload; spec §7, §10.8); it ends with a
    /// [`CoreEvent::Done`] whose completion is [`Completion::Files`],
    /// [`Completion::FileDeleted`] or [`Completion::FileUploaded`]. Names without a drive get
    /// `UFS:`.
    ///
    /// # Errors
    /// [`ClientError::Closed`]; [`ClientError::NotConnected`] before start-up finished;
    /// [`ClientError::Invalid`] for a bad name or size (nothing is written).
    pub fn file_request(
        &mut self,
        request: FileRequest,
        now: Instant,
    ) -> Result<OpId, ClientError> {
        if self.st.closed {
            return Err(ClientError::Closed);
        }
        if !self.st.startup.is_ready() {
            return Err(ClientError::NotConnected);
        }
        let op = OpId(self.st.next_op);
        self.st.start_file(op, request)?;
        self.st.next_op += 1;
        self.flush(now);
        Ok(op)
    }

    /// What bring-up learnt and what the network side has seen since (registration URCs, a lost
    /// bearer); empty without bring-up. For a fresh picture use
    /// [`query_status`](Self::query_status).
    pub fn network(&self) -> &ModemStatus {
        &self.st.network.seen
    }

    /// Whether the data bearer is up (always, without bring-up).
    pub fn network_up(&self) -> bool {
        self.st.network.is_up()
    }

    /// The consumer of `client_idx` took `messages` messages: the core may deliver more (and
    /// read more slots in buffered mode).
    pub fn consumed(&mut self, client_idx: ClientIdx, messages: usize, now: Instant) {
        if let Some(slot) = self.st.slot(client_idx) {
            slot.outstanding = slot.outstanding.saturating_sub(messages);
        }
        self.st.pump_reads(client_idx);
        self.flush(now);
    }

    /// Whether the driver should read the port: false while an inline-mode client's consumer (in
    /// [`Overflow::BackPressure`]) holds as many messages as its capacity.
    pub fn wants_input(&self) -> bool {
        self.st.overflow == Overflow::DropOldest
            || self
                .st
                .clients
                .iter()
                .flatten()
                // A buffered-mode client is held back in the module's slots instead (its reads
                // wait): its answers must still be read.
                .all(|s| s.options.receives_buffered() || s.outstanding < s.capacity)
    }

    /// Whether a client's consumer is full (the driver tells the consumer to wake it).
    pub fn is_full(&self, client_idx: ClientIdx) -> bool {
        self.st.clients[slot_index(client_idx)]
            .as_ref()
            .is_some_and(|s| s.outstanding >= s.capacity || !s.stored.is_empty())
    }

    /// Whether `client_idx`'s network connection is open.
    pub fn is_open(&self, client_idx: ClientIdx) -> bool {
        self.st.correlator.link_state(client_idx) == crate::correlate::LinkState::Open
    }

    /// Whether start-up finished.
    pub fn is_ready(&self) -> bool {
        self.st.startup.is_ready()
    }

    /// The port is gone: every request and command ends with [`ClientError::Closed`].
    pub fn close(&mut self, now: Instant) {
        if self.st.closed {
            return;
        }
        self.link.close(now);
        self.drain_link(now);
        self.st.close();
    }

    /// Counters.
    pub fn stats(&self) -> CoreStats {
        CoreStats {
            link: self.link.stats(),
            ..self.st.stats
        }
    }

    /// Hands the link's queued completions (timeouts, closes) to the state.
    fn drain_link(&mut self, now: Instant) {
        while let Some(ev) = self.link.poll_event() {
            if let LinkEvent::Completed {
                token,
                result: Err(e),
            } = ev
            {
                self.st.command_done(token, Err(e), now);
            }
        }
    }

    /// Submits what the state decided to send, in order, and what follows from refusals.
    fn flush(&mut self, now: Instant) {
        loop {
            self.drain_link(now);
            for (idx, mode) in self.st.recv_len.drain(..) {
                self.link.set_recv_len(idx, mode);
            }
            let Some(out) = self.st.outbox.pop_front() else {
                return;
            };
            let name = out.command.name();
            match self.link.submit(out.command, out.data, now) {
                Ok(token) => {
                    self.st.purposes.insert(token, out.purpose);
                }
                Err(e) => {
                    tracing::warn!(command = %name, error = %e, "the link refused a command");
                    self.st.refused(out.purpose, &e.to_string(), now);
                }
            }
        }
    }
}

/// The module's refusal in a final code, if any.
fn refusal(code: &FinalCode<'_>) -> Option<ModuleError> {
    ModuleError::from_final(code)
}

/// A link error of a command as a client error.
fn command_error(command: &str, e: CommandError) -> ClientError {
    match e {
        CommandError::Timeout { waited, .. } => ClientError::Timeout {
            command: command.to_owned(),
            waited,
        },
        CommandError::ModuleRestarted { .. } => ClientError::ModuleRestarted,
        CommandError::Closed { .. } => ClientError::Closed,
    }
}

impl State {
    fn slot(&mut self, idx: ClientIdx) -> Option<&mut Slot> {
        self.clients[slot_index(idx)].as_deref_mut()
    }

    fn done(&mut self, op: OpId, result: Result<Completion, ClientError>) {
        self.events.push_back(CoreEvent::Done { op, result });
    }

    fn client_event(&mut self, client_idx: ClientIdx, event: Event) {
        if self.clients[slot_index(client_idx)].is_some() {
            self.events
                .push_back(CoreEvent::Client { client_idx, event });
        }
    }

    fn send(&mut self, command: Command, data: Option<Vec<u8>>, purpose: Purpose) {
        self.outbox.push_back(Outgoing {
            command,
            data,
            purpose,
        });
    }

    fn close(&mut self) {
        self.closed = true;
        let waiters: Vec<Waiter> = core::mem::take(&mut self.waiters).into_values().collect();
        for w in waiters {
            if let Waiter::User { op, .. } = w {
                self.done(op, Err(ClientError::Closed));
            }
        }
        let mut ops = Vec::new();
        for slot in self.clients.iter_mut().flatten() {
            if let Some(seq) = slot.seq.take() {
                ops.extend(seq.user_op());
            }
            for p in slot.parked.drain(..) {
                ops.push(match p {
                    Parked::Connect(op) | Parked::Sub(op, _) | Parked::Uns(op) => op,
                });
            }
        }
        for op in ops {
            self.done(op, Err(ClientError::Closed));
        }
        self.startup.closed(&mut self.events);
        self.purposes.clear();
        self.outbox.clear();
    }

    // ---- lines ------------------------------------------------------------------------------

    /// One typed line from the link (the only place lines are looked at).
    fn on_output(&mut self, out: Output<'_>, now: Instant) {
        match out {
            Output::Info { token, info, .. } => self.on_info(token, info, now),
            Output::Final { token, code, .. } => {
                let result = match refusal(&code) {
                    None => Ok(()),
                    Some(cme) => Err(cme),
                };
                self.command_done(token, Ok(result), now);
                self.exchange_garbled = false;
                self.exchange_damage_reported = false;
            }
            Output::Failed { token, error } => {
                self.command_done(token, Err(error), now);
                self.exchange_garbled = false;
                self.exchange_damage_reported = false;
            }
            Output::Urc { typed, .. } => {
                if matches!(typed, ModuleLine::Unknown(_)) {
                    self.exchange_garbled = true;
                    self.garbled(now);
                }
                self.on_urc(&typed, now);
            }
            // What the link consumed itself (echoes, the data invitation it answers, late and
            // marker answers, over-long lines): nothing for the client.
            Output::Echo { .. }
            | Output::Prompt { .. }
            | Output::Late { .. }
            | Output::Resync { .. }
            | Output::Overflow { .. } => {}
            Output::Damaged {
                client_idx,
                msgid,
                topic,
                ..
            } => {
                self.stats.damaged_messages += 1;
                self.exchange_damage_reported = true;
                self.garbled(now);
                let event = Event::MessageDamaged {
                    msgid: msgid.map(MsgId::get),
                    topic: topic.map(str::to_owned),
                };
                match client_idx {
                    Some(idx) => self.client_event(idx, event),
                    None => {
                        // The head was hit too: whose message it was is unknown, so every
                        // client hears it.
                        let all: Vec<ClientIdx> = ClientIdx::all()
                            .filter(|i| self.clients[slot_index(*i)].is_some())
                            .collect();
                        for idx in all {
                            self.client_event(idx, event.clone());
                        }
                    }
                }
            }
        }
    }

    fn on_info(&mut self, token: Token, info: Info<'_>, now: Instant) {
        let Some(purpose) = self.purposes.get_mut(&token) else {
            return;
        };
        match (purpose, info) {
            (Purpose::Startup, info) => self.startup.on_info(&info),
            (Purpose::Net { whom, query }, info) => {
                let (whom, query) = (*whom, *query);
                self.network.on_info(whom, query, &info);
            }
            (
                Purpose::Configure { qfupl, .. },
                Info::QfUpl {
                    upload_size,
                    checksum,
                },
            ) => *qfupl = Some((upload_size, checksum)),
            (Purpose::Configure { listed, .. }, Info::FileEntry { name, size }) => {
                listed.push((name.to_owned(), size));
            }
            (Purpose::Configure { clock, .. }, Info::Clock(t)) => *clock = Some(t),
            (Purpose::File { listed, .. }, Info::FileEntry { name, size }) => {
                listed.push((name.to_owned(), size));
            }
            (
                Purpose::File { qfupl, .. },
                Info::QfUpl {
                    upload_size,
                    checksum,
                },
            ) => *qfupl = Some((upload_size, checksum)),
            (
                Purpose::Configure { ignores_time, .. },
                Info::Ssl(qmt_proto::SslInfo {
                    value: qmt_proto::ssl::SslValue::IgnoreLocalTime(on),
                    ..
                }),
            ) => *ignores_time = Some(on),
            (Purpose::ReadSlot { idx, delivered, .. }, Info::Message(recv)) => {
                let idx = *idx;
                let first = !*delivered;
                *delivered = true;
                let Some(slot) = self.clients[slot_index(idx)].as_mut() else {
                    return;
                };
                let granted = slot.recovery.subscriptions();
                match Message::from_recv(&recv, slot.options.recv_encoding())
                    .map(|m| m.with_granted(granted))
                {
                    Ok(m) if !slot.redelivery.delivered(&m, now) => {
                        if first {
                            // The read's reservation is not used.
                            slot.outstanding = slot.outstanding.saturating_sub(1);
                        }
                        self.stats.redeliveries_dropped += 1;
                        tracing::info!(
                            client = idx.get(),
                            msgid = m.msgid.get(),
                            "a resend of a message delivered before the reconnect, dropped"
                        );
                    }
                    Ok(m) => {
                        // One slot, one message: the first took the read's reservation.
                        if !first {
                            slot.outstanding += 1;
                        }
                        self.stats.messages += 1;
                        self.events.push_back(CoreEvent::Client {
                            client_idx: idx,
                            event: Event::Message(m),
                        });
                    }
                    Err(e) => {
                        self.stats.bad_messages += 1;
                        tracing::warn!(error = %e, "stored message dropped");
                    }
                }
            }
            (Purpose::OpenCheck { open }, Info::OpenRead { client_idx, .. }) => {
                open.push(client_idx);
            }
            (Purpose::Rescan { found }, Info::RecvStatus { client_idx, slots }) => {
                for (i, status) in slots.iter().enumerate() {
                    if *status == qmt_proto::codes::StoreStatus::Stored {
                        if let Ok(recv_id) = RecvId::new(i as i64) {
                            found.push((client_idx, recv_id));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_urc(&mut self, line: &ModuleLine<'_>, now: Instant) {
        match line {
            ModuleLine::Urc(Urc::Recv(recv)) => {
                let idx = recv.client_idx;
                let Some(slot) = self.clients[slot_index(idx)].as_mut() else {
                    return;
                };
                let granted = slot.recovery.subscriptions();
                match Message::from_recv(recv, slot.options.recv_encoding())
                    .map(|m| m.with_granted(granted))
                {
                    Ok(m) if !slot.redelivery.delivered(&m, now) => {
                        self.stats.redeliveries_dropped += 1;
                        tracing::info!(
                            client = idx.get(),
                            msgid = m.msgid.get(),
                            "a resend of a message delivered before the reconnect, dropped"
                        );
                    }
                    Ok(m) => {
                        slot.outstanding += 1;
                        self.stats.messages += 1;
                        self.events.push_back(CoreEvent::Client {
                            client_idx: idx,
                            event: Event::Message(m),
                        });
                    }
                    Err(e) => {
                        self.stats.bad_messages += 1;
                        tracing::warn!(error = %e, "received message dropped");
                    }
                }
                return;
            }
            ModuleLine::Urc(Urc::RecvStored {
                client_idx,
                recv_id,
            }) => {
                if let Some(slot) = self.slot(*client_idx) {
                    if !slot.stored.contains(recv_id) {
                        slot.stored.push_back(*recv_id);
                    }
                }
                self.pump_reads(*client_idx);
                return;
            }
            ModuleLine::Urc(Urc::Rdy) => {
                self.on_rdy();
                self.ntp_timers(now, true);
                self.network_rdy(now);
            }
            ModuleLine::Urc(Urc::Ntp { result, .. }) => self.ntp_urc(*result, now),
            ModuleLine::Urc(urc) => self.network_urc(urc, now),
            _ => {}
        }
        if !self.startup.is_ready() {
            self.startup.on_urc(line);
        }
        let resolutions = self.correlator.on_urc(line, now);
        for r in resolutions {
            self.resolve(r, now);
        }
    }

    /// A line that fits no shape, or a damaged message (spec §10.7, line damage): it may have
    /// been the announcement `+QMTRECV: <idx>,<recv_id>` of a stored message, which nobody would
    /// read then. Buffered clients look at their slots again (`AT+QMTRECV?`), at most once a
    /// second.
    fn garbled(&mut self, now: Instant) {
        for key in self.correlator.awaiting_keys(OpKind::Pub) {
            let k = (key.client_idx, key.msgid);
            if key.msgid != 0 && !self.garbled_pubs.contains(&k) {
                self.garbled_pubs.push(k);
            }
        }
        self.garble_seen = Some(now);
        self.garble_rescan_now(now);
        self.check_results();
    }

    /// A garbled line may have been the result of an OPEN or a CLOSE in flight
    /// (`+QMTOPN: 1,4`, found by the damage soak): without it the client would wait the spec's
    /// 120 s (30 s for CLOSE). `AT+QMTOPEN?` lists the open clients; [`results_checked`] decides.
    ///
    /// [`results_checked`]: Self::results_checked
    fn check_results(&mut self) {
        let awaited = self.correlator.awaiting(OpKind::Open).next().is_some()
            || self.correlator.awaiting(OpKind::Close).next().is_some();
        let pending = self
            .purposes
            .values()
            .any(|p| matches!(p, Purpose::OpenCheck { .. }));
        if awaited && !pending && self.startup.is_ready() {
            self.send(
                qmt_proto::Command::OpenRead,
                None,
                Purpose::OpenCheck { open: Vec::new() },
            );
        }
    }

    /// The answer to [`check_results`](Self::check_results): an OPEN awaited for a client that
    /// is open succeeded, a CLOSE awaited for one that is not succeeded, as if their result lines
    /// had come (`+QMTOPEN: <idx>,0`, `+QMTCLOSE: <idx>,0`). Otherwise the result may still come
    /// (a connection being made) or may have been the lost line: the wait is cut to
    /// [`RESULT_AFTER_GARBLE`], after which the operation times out and recovery tries again.
    fn results_checked(&mut self, open: &[ClientIdx], now: Instant) {
        let opens: Vec<ClientIdx> = self.correlator.awaiting(OpKind::Open).collect();
        let closes: Vec<ClientIdx> = self.correlator.awaiting(OpKind::Close).collect();
        let cut = now + RESULT_AFTER_GARBLE;
        for idx in opens {
            if open.contains(&idx) {
                tracing::warn!(
                    client = idx.get(),
                    "open, its +QMTOPEN result lost to line damage"
                );
                let line = ModuleLine::Urc(Urc::Open {
                    client_idx: idx,
                    result: qmt_proto::codes::OpenResult::Opened,
                });
                self.on_urc(&line, now);
            } else {
                self.correlator.hasten(OpKind::Open, idx, cut);
            }
        }
        for idx in closes {
            if open.contains(&idx) {
                self.correlator.hasten(OpKind::Close, idx, cut);
            } else {
                tracing::warn!(
                    client = idx.get(),
                    "closed, its +QMTCLOSE result lost to line damage"
                );
                let line = ModuleLine::Urc(Urc::Close {
                    client_idx: idx,
                    result: qmt_proto::codes::CloseResult::Closed,
                });
                self.on_urc(&line, now);
            }
        }
    }

    /// The next look at the slots while the line is damaging lines: a stored message whose
    /// announcement was lost to damage after the last look is read then, even if no garbled
    /// line follows it.
    fn garble_deadline(&self) -> Option<Instant> {
        let seen = self.garble_seen?;
        let last = self.garble_rescan?;
        let next = last + GARBLE_RESCAN_EVERY;
        (next <= seen + GARBLE_WATCH).then_some(next)
    }

    fn garble_timer(&mut self, now: Instant) {
        if self.garble_deadline().is_some_and(|t| t <= now) {
            self.garble_rescan_now(now);
            if self.garble_deadline().is_some_and(|t| t <= now) {
                // Not possible now (a rescan is out, start-up, no buffered client): the next
                // look is one period later.
                self.garble_rescan = Some(now);
            }
        }
    }

    fn garble_rescan_now(&mut self, now: Instant) {
        let buffered = self
            .clients
            .iter()
            .flatten()
            .any(|s| s.options.receives_buffered());
        let recent = self
            .garble_rescan
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        let pending = self
            .purposes
            .values()
            .any(|p| matches!(p, Purpose::Rescan { .. }));
        if buffered && !recent && !pending && self.startup.is_ready() {
            self.garble_rescan = Some(now);
            self.rescan();
        }
    }

    /// `RDY`: the module restarted with echo on and errors terse (spec §9); slots are gone.
    fn on_rdy(&mut self) {
        self.restarts += 1;
        let mut lost = Vec::new();
        for (i, slot) in self.clients.iter_mut().enumerate() {
            let Some(slot) = slot else { continue };
            for r in &mut slot.reading {
                r.1 = true;
            }
            let dropped = slot.stored.len() as u64;
            if dropped > 0 {
                slot.stored.clear();
                lost.push((i, dropped));
            }
        }
        for (i, dropped) in lost {
            if let Ok(idx) = ClientIdx::new(i as i64) {
                self.client_event(
                    idx,
                    Event::Lagged {
                        dropped,
                        source: LagSource::ModuleRestart,
                    },
                );
            }
        }
        if self.startup.synced() {
            self.send(Command::Echo(false), None, Purpose::Quiet { name: "ATE0" });
            if let Some(flow) = self.startup.serial_flow() {
                // A module that restarted may be back to no flow control (spec §10.7).
                let cmd = Command::IfcSet {
                    dce_by_dte: flow,
                    dte_by_dce: flow,
                };
                self.send(cmd, None, Purpose::Quiet { name: "AT+IFC" });
            }
            self.send(
                Command::Cmee(qmt_proto::command::CmeeMode::Verbose),
                None,
                Purpose::Quiet { name: "AT+CMEE" },
            );
        }
    }

    /// A command the core submitted ended: `Ok(Ok)` with `OK`, `Ok(Err)` refused, `Err` without
    /// a final code.
    fn command_done(
        &mut self,
        token: Token,
        result: Result<Result<(), ModuleError>, CommandError>,
        now: Instant,
    ) {
        let Some(purpose) = self.purposes.remove(&token) else {
            return;
        };
        match purpose {
            Purpose::Startup => self.startup_done(result, now),
            Purpose::Accept { op, kind } => {
                // The name is only written out for an error: accepting allocates nothing.
                let failed = match result {
                    Ok(Ok(())) => {
                        self.correlator.accepted(op, now);
                        None
                    }
                    Ok(Err(cme)) => self.correlator.fail(
                        op,
                        ClientError::Module {
                            command: kind.to_string(),
                            cme,
                        },
                    ),
                    Err(e) => self
                        .correlator
                        .fail(op, command_error(&kind.to_string(), e)),
                };
                if let Some(r) = failed {
                    self.resolve(r, now);
                }
            }
            Purpose::Configure {
                idx,
                seq,
                name,
                qfupl,
                listed,
                clock,
                ignores_time,
            } => {
                let result = match result {
                    Ok(Ok(())) => Ok(session::ConfigAnswer {
                        qfupl,
                        listed,
                        clock,
                        ignores_time,
                    }),
                    Ok(Err(cme)) => Err(ClientError::Module { command: name, cme }),
                    Err(e) => Err(command_error(&name, e)),
                };
                self.configure_done(idx, seq, result, now);
            }
            Purpose::ReadSlot {
                idx,
                recv_id,
                restarts,
                delivered,
            } => self.read_done(idx, recv_id, restarts, delivered, result),
            Purpose::Rescan { found } => {
                if result.is_ok() {
                    self.rescan_done(found);
                }
            }
            Purpose::OpenCheck { open } => {
                if let Ok(Ok(())) = result {
                    self.results_checked(&open, now);
                }
            }
            Purpose::Net { whom, query } => self.net_done(whom, query, result, now),
            Purpose::File {
                op,
                step,
                listed,
                qfupl,
            } => {
                let name = match &step {
                    files::FileStep::List | files::FileStep::Confirm(_) => "AT+QFLST",
                    files::FileStep::Delete => "AT+QFDEL",
                    files::FileStep::Upload(_) => "AT+QFUPL",
                };
                let answer = match result {
                    Ok(Ok(())) => Ok((listed, qfupl)),
                    Ok(Err(cme)) => Err(ClientError::Module {
                        command: name.to_owned(),
                        cme,
                    }),
                    Err(e) => Err(command_error(name, e)),
                };
                self.file_done(op, step, answer);
            }
            Purpose::Quiet { name } => match result {
                Ok(Ok(())) => {}
                Ok(Err(cme)) => tracing::warn!(command = name, %cme, "refused"),
                Err(e) => tracing::warn!(command = name, error = %e, "failed"),
            },
        }
    }

    /// The link refused a command (its queue is full): what waited for it fails.
    fn refused(&mut self, purpose: Purpose, reason: &str, now: Instant) {
        match purpose {
            Purpose::Accept { op, .. } => {
                if let Some(r) = self.correlator.fail(
                    op,
                    ClientError::Port {
                        reason: reason.to_owned(),
                    },
                ) {
                    self.resolve(r, now);
                }
            }
            Purpose::Configure { idx, seq, .. } => self.configure_done(
                idx,
                seq,
                Err(ClientError::Port {
                    reason: reason.to_owned(),
                }),
                now,
            ),
            Purpose::ReadSlot { idx, recv_id, .. } => {
                if let Some(slot) = self.slot(idx) {
                    slot.reading.retain(|r| r.0 != recv_id);
                    if !slot.stored.contains(&recv_id) {
                        slot.stored.push_front(recv_id);
                    }
                }
            }
            Purpose::Startup => self.startup_done(
                Err(CommandError::Closed {
                    command: reason.to_owned(),
                }),
                now,
            ),
            Purpose::Net { whom, query } => self.net_done(
                whom,
                query,
                Ok(Err(ModuleError::CmeText(reason.to_owned()))),
                now,
            ),
            Purpose::File { op, .. } => self.done(
                op,
                Err(ClientError::Port {
                    reason: reason.to_owned(),
                }),
            ),
            Purpose::Rescan { .. } | Purpose::OpenCheck { .. } | Purpose::Quiet { .. } => {}
        }
    }

    // ---- requests ---------------------------------------------------------------------------

    fn submit(
        &mut self,
        idx: ClientIdx,
        request: Request,
        now: Instant,
    ) -> Result<OpId, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if !self.startup.is_ready() {
            return Err(ClientError::NotConnected);
        }
        if self.slot(idx).is_none() {
            return Err(ClientError::Closed);
        }
        let op = OpId(self.next_op);
        match request {
            Request::Connect => self.start_connect(idx, op, now)?,
            Request::Subscribe(filters) => {
                let slot = self.slot(idx).ok_or(ClientError::Closed)?;
                let msgid = slot.msgids.allocate()?;
                let sub = match Sub::new(idx, msgid, filters.iter().cloned()) {
                    Ok(s) => s,
                    Err(e) => {
                        slot.msgids.release(msgid);
                        return Err(e.into());
                    }
                };
                self.issue(
                    OpKey::sub(idx, msgid),
                    Qos::AtLeastOnce,
                    Command::Sub(sub),
                    None,
                    Waiter::User {
                        op,
                        key: OpKey::sub(idx, msgid),
                        msgid: Some(msgid),
                        after: After::Sub(filters),
                    },
                    now,
                )?;
            }
            Request::Unsubscribe(topics) => {
                let slot = self.slot(idx).ok_or(ClientError::Closed)?;
                let msgid = slot.msgids.allocate()?;
                let uns = match Uns::new(idx, msgid, topics.iter().cloned()) {
                    Ok(u) => u,
                    Err(e) => {
                        slot.msgids.release(msgid);
                        return Err(e.into());
                    }
                };
                self.issue(
                    OpKey::uns(idx, msgid),
                    Qos::AtLeastOnce,
                    Command::Uns(uns),
                    None,
                    Waiter::User {
                        op,
                        key: OpKey::uns(idx, msgid),
                        msgid: Some(msgid),
                        after: After::Uns(topics),
                    },
                    now,
                )?;
            }
            Request::Publish {
                topic,
                payload,
                qos,
                retain,
            } => {
                let slot = self.slot(idx).ok_or(ClientError::Closed)?;
                let max = slot.options.max_payload();
                if payload.len() > max {
                    return Err(ClientError::PayloadTooLarge {
                        len: payload.len(),
                        max,
                    });
                }
                let msgid = slot.msgids.for_publish(qos)?;
                // Spec: a persistent session's QoS 2 handshake must be finished even after a
                // loss; the module forgets it in a restart, so the host keeps what to resend.
                let after = if qos == Qos::ExactlyOnce && !slot.options.clean_session() {
                    After::Resend(Box::new(Resend {
                        msgid,
                        topic: topic.clone(),
                        payload: payload.clone(),
                        retain,
                        restarted: false,
                    }))
                } else {
                    After::Nothing
                };
                let built = slot
                    .options
                    .publish_command(idx, msgid, qos, retain, topic, payload);
                let (command, data) = match built {
                    Ok(v) => v,
                    Err(e) => {
                        slot.msgids.release(msgid);
                        return Err(e);
                    }
                };
                let reserved = (msgid.get() != 0).then_some(msgid);
                self.issue(
                    OpKey::publish(idx, msgid),
                    qos,
                    command,
                    Some(data),
                    Waiter::User {
                        op,
                        key: OpKey::publish(idx, msgid),
                        msgid: reserved,
                        after,
                    },
                    now,
                )?;
            }
            Request::Disconnect => {
                self.stop_recovery(idx);
                self.issue(
                    OpKey::disc(idx),
                    Qos::AtMostOnce,
                    Command::Disc(idx),
                    None,
                    Waiter::User {
                        op,
                        key: OpKey::disc(idx),
                        msgid: None,
                        after: After::Nothing,
                    },
                    now,
                )?;
            }
            Request::Close => {
                self.stop_recovery(idx);
                if self.correlator.link_state(idx) == crate::correlate::LinkState::Closed {
                    self.next_op += 1;
                    self.done(op, Ok(Completion::Closed));
                    return Ok(op);
                }
                self.issue(
                    OpKey::close(idx),
                    Qos::AtMostOnce,
                    Command::Close(idx),
                    None,
                    Waiter::User {
                        op,
                        key: OpKey::close(idx),
                        msgid: None,
                        after: After::Nothing,
                    },
                    now,
                )?;
            }
        }
        self.next_op += 1;
        Ok(op)
    }

    /// The user disconnects or closes: recovery stops, requests waiting for it end.
    fn stop_recovery(&mut self, idx: ClientIdx) {
        let Some(slot) = self.slot(idx) else { return };
        slot.recovery.stopped();
        let parked: Vec<Parked> = slot.parked.drain(..).collect();
        if slot.seq.as_ref().is_some_and(Seq::is_recovery) {
            slot.seq = None;
        }
        for p in parked {
            let op = match p {
                Parked::Connect(op) | Parked::Sub(op, _) | Parked::Uns(op) => op,
            };
            self.done(op, Err(ClientError::Closed));
        }
    }

    /// Registers a two-phase operation and queues its command. `waiter`'s msgid is released on
    /// every outcome (and here on refusal).
    fn issue(
        &mut self,
        key: OpKey,
        qos: Qos,
        command: Command,
        data: Option<Vec<u8>>,
        waiter: Waiter,
        now: Instant,
    ) -> Result<(), ClientError> {
        let msgid = match &waiter {
            Waiter::User { msgid, .. } | Waiter::Step { msgid, .. } => *msgid,
            Waiter::Resend { msgid, .. } => Some(*msgid),
        };
        let registered = if key.kind == OpKind::Pub {
            MsgId::new(i64::from(key.msgid))
                .map_err(ClientError::from)
                .and_then(|m| {
                    self.correlator
                        .register_publish(key.client_idx, m, qos, now)
                })
        } else {
            self.correlator.register(key, now)
        };
        let token = match registered {
            Ok(t) => t,
            Err(e) => {
                if let (Some(m), Some(slot)) = (msgid, self.slot(key.client_idx)) {
                    slot.msgids.release(m);
                }
                return Err(e);
            }
        };
        self.waiters.insert(token, waiter);
        self.send(
            command,
            data,
            Purpose::Accept {
                op: token,
                kind: key.kind,
            },
        );
        Ok(())
    }

    // ---- resolutions ------------------------------------------------------------------------

    /// Applies one correlator resolution: requests end, events go out, recovery learns.
    fn resolve(&mut self, r: Resolution, now: Instant) {
        if let Some(ev) = Event::from_resolution(&r) {
            match &ev {
                Event::ModuleRestarted => {
                    for i in 0..6 {
                        if let Ok(idx) = ClientIdx::new(i) {
                            self.client_event(idx, Event::ModuleRestarted);
                        }
                    }
                }
                Event::LinkLost { client_idx, .. }
                | Event::PingTimeout { client_idx }
                | Event::PublishFailed { client_idx, .. }
                | Event::Retransmitting { client_idx, .. } => {
                    let idx = *client_idx;
                    self.client_event(idx, ev);
                }
                _ => {}
            }
        }
        match r {
            Resolution::Op {
                token,
                key,
                outcome,
            } if outcome.is_final() => {
                let Some(w) = self.waiters.remove(&token) else {
                    return;
                };
                let result = match outcome {
                    Outcome::Done(c) => Ok(c),
                    Outcome::Failed(e) => Err(e),
                    Outcome::Progress { .. } => return,
                };
                self.op_finished(key, w, result, now);
            }
            Resolution::LinkLost {
                client_idx, code, ..
            } => {
                // Spec §6: after a failed PINGREQ the recommended action is a PDP reset, the
                // ladder's first rung (with bring-up on) — only for a client of ours: the reset
                // drops every client on the context, so a stray line for another index must not.
                if code == qmt_proto::codes::StatCode::PingFailed && self.slot(client_idx).is_some()
                {
                    self.pdp_reset();
                }
                self.lost(client_idx, crate::recovery::LossCause::LinkLost(code), now);
            }
            Resolution::PingTimeout { client_idx } => {
                if self.slot(client_idx).is_some() {
                    self.pdp_reset();
                }
                self.lost(client_idx, crate::recovery::LossCause::PingTimeout, now);
            }
            Resolution::ModuleRestarted => {
                for i in 0..6 {
                    let Ok(idx) = ClientIdx::new(i) else { continue };
                    if let Some(slot) = self.slot(idx) {
                        slot.msgids.release_all();
                        for r in &mut slot.in_doubt {
                            r.restarted = true;
                            slot.msgids.reserve(r.msgid);
                        }
                    }
                    self.lost(idx, crate::recovery::LossCause::ModuleRestarted, now);
                }
            }
            _ => {}
        }
    }

    /// A two-phase operation ended.
    fn op_finished(
        &mut self,
        key: OpKey,
        waiter: Waiter,
        result: Result<Completion, ClientError>,
        now: Instant,
    ) {
        let (msgid, after) = match &waiter {
            Waiter::User { msgid, after, .. } | Waiter::Step { msgid, after, .. } => {
                (*msgid, after.clone())
            }
            Waiter::Resend { msgid, after } => (Some(*msgid), after.clone()),
        };
        let garbled = msgid.is_some_and(|m| {
            let k = (key.client_idx, m.get());
            let seen = self.garbled_pubs.contains(&k);
            self.garbled_pubs.retain(|g| *g != k);
            seen
        });
        let in_doubt = match (&result, &after) {
            (Err(ClientError::PublishFailed { cause, .. }), After::Resend(_))
                if garbled && cause.in_doubt() =>
            {
                tracing::warn!(
                    client = key.client_idx.get(),
                    "a QoS 2 publish in doubt after a garbled line (its result?): not sent again"
                );
                None
            }
            (Err(ClientError::PublishFailed { cause, .. }), After::Resend(r))
                if cause.in_doubt() =>
            {
                let mut r = (**r).clone();
                r.restarted = matches!(cause, crate::error::PublishFailure::ModuleRestarted);
                Some(r)
            }
            _ => None,
        };
        if let Some(slot) = self.slot(key.client_idx) {
            match (msgid, in_doubt) {
                (_, Some(r)) => {
                    // The id stays taken until the resend finishes the handshake.
                    tracing::debug!(
                        client = key.client_idx.get(),
                        msgid = r.msgid.get(),
                        "a QoS 2 publish cut off mid-handshake: kept to be sent again"
                    );
                    if slot.in_doubt.len() >= MAX_IN_DOUBT {
                        let old = slot.in_doubt.remove(0);
                        slot.msgids.release(old.msgid);
                    }
                    if !slot.in_doubt.iter().any(|d| d.msgid == r.msgid) {
                        slot.in_doubt.push(r);
                    }
                }
                (Some(m), None) => {
                    slot.msgids.release(m);
                }
                (None, None) => {}
            }
            match (&result, &after) {
                (Ok(Completion::Subscribed { granted }), After::Sub(filters)) => {
                    slot.recovery.subscribed(
                        filters
                            .iter()
                            .cloned()
                            .zip(granted.iter())
                            .filter_map(|((t, _), g)| g.qos().map(|q| (t, q))),
                    );
                }
                (Ok(Completion::Unsubscribed), After::Uns(topics)) => {
                    slot.recovery.unsubscribed(topics.iter());
                }
                _ => {}
            }
            if matches!(result, Ok(Completion::Closed | Completion::Disconnected)) {
                slot.msgids.release_all();
            }
        }
        match waiter {
            Waiter::User { op, after, .. } => {
                if let Err(e) = &result {
                    if self.carry_into_recovery(key.client_idx, op, &after, e) {
                        return;
                    }
                }
                self.done(op, result);
            }
            Waiter::Step { idx, seq, .. } => self.step_done(idx, seq, result.map(|_| ()), now),
            Waiter::Resend { msgid, .. } => {
                if result.is_ok() {
                    self.stats.resent += 1;
                }
                let restarted = matches!(&after, After::Resend(r) if r.restarted);
                tracing::info!(
                    client = key.client_idx.get(),
                    msgid = msgid.get(),
                    ok = result.is_ok(),
                    restarted,
                    "QoS 2 publish sent again after a loss"
                );
            }
        }
    }

    /// Publishes again, with their packet ids, the QoS 2 publishes of `idx` that a module restart
    /// cut off mid-handshake (also after an earlier link loss). A module that stayed up keeps its
    /// half and finishes it itself (MQTT 3.1.1 §4.4); one that restarted forgot it. The broker
    /// of a persistent session still holds each id that got a `PUBREC` and no `PUBREL`: mosquitto
    /// counts those against the client's in-flight quota (20), and once it is full it answers new
    /// QoS 1/2 publishes with `PUBACK`/`PUBREC` and drops them (MQTT 3.1.1 cannot say "quota
    /// exceeded"): acknowledged messages lost. The same id again is a duplicate to the broker:
    /// it answers `PUBREC`, the module sends `PUBREL`, and the broker delivers the message it
    /// stored and frees the id. Where the broker never got the first `PUBLISH`, this is its first
    /// delivery. Only a handshake the broker completed whose `PUBCOMP` was lost is delivered twice.
    pub(super) fn resend_in_doubt(&mut self, idx: ClientIdx, now: Instant) {
        let Some(slot) = self.slot(idx) else { return };
        let pending = core::mem::take(&mut slot.in_doubt);
        for r in pending {
            if !r.restarted {
                // The module stayed up: it keeps its half and finishes the handshake on the new
                // connection itself (MQTT 3.1.1 §4.4; the sim does). Sending the publish again
                // could only duplicate it.
                if let Some(slot) = self.slot(idx) {
                    slot.msgids.release(r.msgid);
                }
                continue;
            }
            let Some(slot) = self.slot(idx) else { return };
            let built = slot.options.publish_command(
                idx,
                r.msgid,
                Qos::ExactlyOnce,
                r.retain,
                r.topic.clone(),
                r.payload.clone(),
            );
            let Ok((command, data)) = built else {
                slot.msgids.release(r.msgid);
                continue;
            };
            let msgid = r.msgid;
            let issued = self.issue(
                OpKey::publish(idx, msgid),
                Qos::ExactlyOnce,
                command,
                Some(data),
                Waiter::Resend {
                    msgid,
                    after: After::Resend(Box::new(r)),
                },
                now,
            );
            if let Err(e) = issued {
                tracing::debug!(error = %e, "a QoS 2 resend could not be queued");
            }
        }
    }
}

/// Whether `e` is a loss of the connection (recovery's business), not a refusal.
fn is_loss(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::LinkLost { .. } | ClientError::PingTimeout | ClientError::ModuleRestarted
    )
}

#[cfg(test)]
mod tests;
