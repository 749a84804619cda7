//! The module core: the AT channel and six MQTT clients, sans-IO (spec §9; ARCHITECTURE.md "Sans-IO
//! cores", modelled on `quinn-proto`).
//!
//! [`Module`] is fed host bytes ([`Module::feed`]), network events ([`Module::handle_net`]) and
//! time ([`Module::handle_timeout`]); it is drained of bytes for the host ([`Module::poll_output`]),
//! network actions ([`Module::poll_net`]) and its next deadline ([`Module::poll_timeout`]). It owns
//! no socket, no clock and no thread. Every host command is parsed with `qmt_proto::Command::parse`
//! and every module line is written by the `qmt_proto` encoders.
//!
//! # Behaviour where the spec is silent or uncertain (qmt-sim's choices)
//!
//! - **Power-up**: `RDY`, echo on (`ATE1`, spec §1), `AT+CMEE=0`: errors are a plain `ERROR`, as
//!   every table of spec §3–§5 shows at power-up. (Quectel's EC2x manuals list `AT+CMEE` 1 as the
//!   factory setting; the sim follows the spec's tables, and hosts switch with `AT+CMEE`.)
//! - **Error codes**: see the table in `module/errors.rs` (3 operation not allowed, 4 operation not
//!   supported, 24 text string too long, 50 incorrect parameters, 100 unknown, 400/421 file errors).
//!   `AT+QFUPL` errors are `+CME ERROR: <n>` in every `AT+CMEE` mode (spec §7).
//! - **Host lines**: a line ends at CR; an LF right after it is dropped; an LF alone also ends a
//!   line. Empty lines are ignored (no echo, no answer). Lines over 4096 bytes answer error 24.
//!   A line that does not start with `AT` (any case) is echoed (with `ATE1`) and otherwise
//!   ignored, as a real module's AT parser skips noise.
//! - **Echo** (`ATE1`): the whole command line and its terminator are echoed when the line ends,
//!   before the answer, so no URC can split an echo. After `> ` / `CONNECT` the data bytes are
//!   echoed too (spec §6 variation 7), in one piece when the data phase ends, before its answer.
//! - **Data phases**: while one is open every host byte is data, including an LF right after the
//!   command's CR (hosts must end data commands with CR alone). Without `edit/timeout` the prompt
//!   waits for ever; with it on and no `edit_time`, 30 s.
//! - **`send/mode` and `dataformat`** share one send setting: setting either changes both answers.
//!   With it on (hex), `length` counts hex characters; odd or non-hex data answers error 50.
//! - **`+QMTRECV` payloads** are written quoted (`…,"payload"`), also where spec §8.1 shows an
//!   unquoted one; with `dataformat` recv 1 the payload is upper-case hex text (its length counts
//!   hex characters). With `view/mode` 1 the header ends with the length and the raw payload
//!   follows on the next line (spec §6 variation 2).
//! - **Cloud credentials** (`aliauth`, `onenet`, `hwauth`, `hwprodid`) are sent as plain user
//!   name and password when `AT+QMTCONN` has none; no signature is computed (see
//!   `ClientConfig::cloud_credentials`). Queries of unset credentials (and of unset `AT+QSSLCFG`
//!   file paths) answer `OK` alone.
//! - **`pdpcid`** is stored and answered. `AT+QMTOPEN` needs that context active and the module
//!   registered (spec §10.6): otherwise it answers `OK`, then `+QMTOPEN: idx,3` (failed to
//!   activate PDP) without touching the network. A context that goes down (network
//!   deactivation, registration or SIM lost, `AT+QIDEACT`, `AT+CFUN=0/4`) drops every client
//!   bound to it: `+QMTSTAT: idx,1`, or `+QMTOPEN: idx,3` for one still opening. The default
//!   network ([`NetworkSim::default`]) is registered with context 1 active from power-up (EC200U
//!   firmware activates it itself); the SIM, registration and contexts are in [`network`].
//!   **`qmtping`** is stored and answered; the session's keep-alive uses `keepalive`.
//! - **Power**: with a [`NetworkSim::boot_delay`] the module reads and answers nothing until it
//!   has passed; `AT+CFUN=1,1` restarts it like a power cycle (`OK`, then the boot URCs);
//!   `AT+QPOWD` answers `OK`, `POWERED DOWN`, drops every connection, and the module is silent
//!   and deaf until [`Fault::PowerCycle`].
//! - **`AT+QMTOPEN?` / `AT+QMTCONN?`** list the clients whose connection is up (not those still
//!   opening); CONN states: 1 open without MQTT session (or refused), 2 CONNECT sent, 3 connected.
//!   `AT+QMTRECV?` lists clients that are open or hold stored messages.
//! - **`AT+QMTCONN`** on a client that is not open, or already connecting/connected: error 3.
//!   `AT+QMTSUB`/`UNS`/`PUBEX` on a client not connected: error 3. `AT+QMTDISC`/`AT+QMTCLOSE` on a
//!   client not open: error 3.
//! - **Session events**: CONNACK ≠ 0 keeps the client open, without session (state 1). A failed
//!   CONNECT reports `+QMTCONN: idx,2` and `+QMTSTAT: idx,4` and closes the client. A server that
//!   breaks the MQTT protocol gives `+QMTSTAT: idx,7` ("the link is not working or the server is
//!   unavailable") and the client is closed. A failed SUB/UNS/PUBEX only reports `…,2`.
//! - **Receive slots** (recv/mode 1): messages go to the first free of five slots; when all five
//!   are full the session stops accepting (spec §9 uncertain: not acknowledged until a slot is
//!   read). A message the session delivers anyway waits in a bounded queue (16) and fills the next
//!   freed slot. Slots survive the client's close; a power cycle clears them. `FillRecvSlots`
//!   announces each placeholder it stores with `+QMTRECV: idx,<recv_id>`.
//! - **Network**: a `Connected` for a client that is not opening is answered with `Close`;
//!   `Closed` while opening is `+QMTOPEN: idx,5`.

pub mod clock;
mod config;
mod errors;
mod files;
mod files_cmds;
pub(crate) mod host_input;
mod net_cmds;
pub mod network;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use qmt_proto::cfg::{DataEncoding, MsgRecvMode, SslMode, ViewMode};
use qmt_proto::codes::{
    CloseResult, ConnState, ConnackCode, DiscResult, OpenResult, PacketResult, PingResult,
    StatCode, StoreStatus,
};
use qmt_proto::command::CmeeMode;
use qmt_proto::line::TestLine;
use qmt_proto::params::{ClientIdx, MsgId, Qos, RecvId};
use qmt_proto::recv::PayloadForm;
use qmt_proto::uart::{BaudRate, FlowControl};
use qmt_proto::urc::{ConnValue, PubPrefix, Values};
use qmt_proto::{
    CfgInfo, CfgName, CfgOp, Command, DataPhase, FinalCode, Info, ModuleLine, Recv, SslInfo, SslOp,
    Urc,
};
use tracing::{debug, warn};

use crate::fault::Fault;
use crate::mqtt::{KeptState, Op, Session, SessionConfig, SessionEvent};
use crate::net::{ConnectError, NetAction, NetEvent, TlsConfig};

use clock::Clock;
use config::{ClientConfig, SslContext, cfg_test_ranges};
use errors::CmeError;
use files::FileSystem;
use host_input::{Line, LineAssembler};
use network::{Network, NetworkSim};

/// Receive slots per client (spec §5).
const SLOTS: usize = 5;
/// Messages a session delivers while every slot is full, kept until a slot frees.
const OVERFLOW_LIMIT: usize = 16;
/// Default `AT+QFUPL` data timeout (spec §7).
const QFUPL_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on session event/transmit rounds per call, against a session that never settles.
const PUMP_ROUNDS: usize = 64;

/// A message held in a receive slot.
#[derive(Clone, Debug)]
struct Stored {
    msgid: u16,
    topic: String,
    payload: Vec<u8>,
}

/// The network and MQTT state of one client.
#[derive(Debug, Default)]
enum Link {
    /// No connection (the power-up state, and after close, disconnect or loss).
    #[default]
    NotOpen,
    /// `AT+QMTOPEN` accepted; waiting for the network.
    Opening { host: String, port: u16 },
    /// The connection is up.
    Open {
        host: String,
        port: u16,
        /// The MQTT session, once `AT+QMTCONN` started one (boxed: it is large).
        session: Option<Box<Session>>,
        /// CONNACK 0 received.
        connected: bool,
    },
}

/// One of the six clients.
#[derive(Debug, Default)]
struct Client {
    cfg: ClientConfig,
    link: Link,
    slots: [Option<Stored>; SLOTS],
    overflow: VecDeque<Stored>,
    /// What the session was last told by `set_accepting` (a new session accepts).
    accepting: bool,
    /// The session state kept from the last connection (clean session 0), for the next.
    kept: Option<KeptState>,
}

impl Client {
    /// Ends the link, keeping what the session keeps between connections.
    fn drop_link(&mut self) {
        if let Link::Open {
            session: Some(s), ..
        } = std::mem::take(&mut self.link)
        {
            self.kept = s.kept_state();
        }
    }

    fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.link {
            Link::Open { session, .. } => session.as_deref_mut(),
            _ => None,
        }
    }

    fn is_connected(&self) -> bool {
        matches!(
            self.link,
            Link::Open {
                session: Some(_),
                connected: true,
                ..
            }
        )
    }

    fn slots_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    fn has_stored(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }
}

/// What the bytes of an open data phase are for.
enum DataKind {
    PubEx {
        client: ClientIdx,
        msgid: u16,
        qos: Qos,
        retain: bool,
        topic: String,
        hex: bool,
    },
    WillEx {
        client: ClientIdx,
        value: qmt_proto::cfg::WillEx,
    },
    Upload {
        name: String,
    },
}

/// An open data phase (after `> ` or `CONNECT`).
struct OpenData {
    kind: DataKind,
    len: usize,
    buf: Vec<u8>,
    deadline: Option<Instant>,
}

/// Never prints the data: it may be a private key being uploaded.
impl std::fmt::Debug for OpenData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            DataKind::PubEx { .. } => "pubex",
            DataKind::WillEx { .. } => "willex",
            DataKind::Upload { .. } => "qfupl",
        };
        f.debug_struct("OpenData")
            .field("kind", &kind)
            .field("len", &self.len)
            .field("received", &self.buf.len())
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// Whether the module is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Power {
    /// Booting: host bytes are lost until `RDY` at `until`.
    Booting { until: Instant },
    /// Running.
    On,
    /// After `AT+QPOWD`: silent, deaf, until a power cycle.
    Off,
}

/// The simulated module: fed host bytes, network events and time; drained of bytes for the host,
/// network actions and its next deadline.
#[derive(Debug)]
pub struct Module {
    power: Power,
    network: Network,
    echo: bool,
    cmee: CmeeMode,
    input: LineAssembler,
    data: Option<OpenData>,
    out: Vec<u8>,
    net: VecDeque<NetAction>,
    clients: [Client; 6],
    ssl: [SslContext; 6],
    files: FileSystem,
    clock: Clock,
    /// Whether `AT+QFUPL` writes its `+QFUPL` answer (configured, changed by a fault).
    qfupl_answer: bool,
    serial: SerialSettings,
}

/// The module's side of the serial line (spec §10.7), as `AT+IFC` and `AT+IPR` set it. Kept over
/// a restart, like a setting saved in the module's non-volatile memory: a host that changed the
/// rate must find the module at that rate again after a watchdog reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerialSettings {
    /// `<dce_by_dte>`: whether the module honours the host's RTS.
    pub dce_by_dte: FlowControl,
    /// `<dte_by_dce>`: whether the module stops sending while the host holds CTS back.
    pub dte_by_dce: FlowControl,
    /// The UART rate in bits per second.
    pub baud: u32,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            dce_by_dte: FlowControl::None,
            dte_by_dce: FlowControl::None,
            baud: BaudRate::DEFAULT.get(),
        }
    }
}

fn msgid(n: u16) -> MsgId {
    // MsgId's range is exactly u16's: this cannot fail.
    MsgId::new(i64::from(n)).expect("every u16 is a msgid")
}

/// The comma-separated numbers of a `+QMTSUB`/`+QMTUNS` value list.
fn number_list(values: impl IntoIterator<Item = i64>) -> Vec<u8> {
    values
        .into_iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

impl Module {
    /// A module that has just powered up with the default network ([`NetworkSim::default`]:
    /// registered, context 1 active): `RDY` is queued, echo is on.
    pub fn new(now: Instant) -> Module {
        Module::with_network(now, NetworkSim::default())
    }

    /// A module that has just powered up with this SIM, network and bearer. With a
    /// [`NetworkSim::boot_delay`] it answers nothing until the delay has passed (the boot URCs
    /// come from [`Module::handle_timeout`]); otherwise the boot URCs are queued at once.
    pub fn with_network(now: Instant, network: NetworkSim) -> Module {
        Module::powered_up(now, Network::new(network))
    }

    /// A module powering up with this network side (fresh, or carried over a restart).
    fn powered_up(now: Instant, network: Network) -> Module {
        // A delay past the clock's range is taken as none (no panic on any configuration).
        let until = now.checked_add(network.config().boot_delay).unwrap_or(now);
        let files = FileSystem::with(&network.config().files);
        let clock = Clock::new(&network.config().clock, now);
        let qfupl_answer = network.config().qfupl_answer;
        let mut m = Module {
            power: Power::Booting { until },
            network,
            echo: true,
            cmee: CmeeMode::Disabled,
            input: LineAssembler::default(),
            data: None,
            out: Vec::new(),
            net: VecDeque::new(),
            clients: Default::default(),
            ssl: Default::default(),
            files,
            clock,
            qfupl_answer,
            serial: SerialSettings::default(),
        };
        if until <= now {
            m.boot(now);
        }
        m
    }

    /// The module starts at this UART rate instead of 115,200 (what `AT+IPR?` answers).
    #[must_use]
    pub fn with_baud(mut self, baud: u32) -> Module {
        self.serial.baud = baud;
        self
    }

    /// The serial line's settings now (`AT+IFC`, `AT+IPR`).
    pub fn serial(&self) -> SerialSettings {
        self.serial
    }

    /// Boot ends: `RDY` and whatever else the network configuration announces.
    fn boot(&mut self, now: Instant) {
        self.power = Power::On;
        self.urc(Urc::Rdy);
        self.network.boot(now);
        self.apply_notes();
    }

    /// Bytes the host wrote to the serial port.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        if self.power != Power::On {
            debug!(len = bytes.len(), power = ?self.power, "host bytes lost: the module is not up");
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(data) = self.data.as_mut() {
                let need = data.len.saturating_sub(data.buf.len());
                let (take, tail) = rest.split_at(need.min(rest.len()));
                data.buf.extend_from_slice(take);
                rest = tail;
                if data.buf.len() >= data.len {
                    self.finish_data(now);
                }
                continue;
            }
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            rest = tail;
            if let Some(line) = self.input.push(b) {
                self.on_line(line, now);
            }
        }
    }

    /// Something happened on the network.
    pub fn handle_net(&mut self, event: NetEvent, now: Instant) {
        match event {
            NetEvent::Connected { client_idx } => {
                let client = self.client_mut(client_idx);
                match std::mem::take(&mut client.link) {
                    Link::Opening { host, port } => {
                        client.link = Link::Open {
                            host,
                            port,
                            session: None,
                            connected: false,
                        };
                        self.urc(Urc::Open {
                            client_idx,
                            result: OpenResult::Opened,
                        });
                    }
                    other => {
                        client.link = other;
                        debug!(%client_idx, "connection not asked for (any more): closed");
                        self.net.push_back(NetAction::Close { client_idx });
                    }
                }
            }
            NetEvent::ConnectFailed { client_idx, error } => {
                let client = self.client_mut(client_idx);
                if matches!(client.link, Link::Opening { .. }) {
                    client.drop_link();
                    let result = match error {
                        ConnectError::Dns => OpenResult::DomainNameParseFailed,
                        ConnectError::Network => OpenResult::NetworkError,
                        ConnectError::Tls => OpenResult::FailedToOpen,
                    };
                    self.urc(Urc::Open { client_idx, result });
                }
            }
            NetEvent::Received { client_idx, bytes } => {
                if let Some(session) = self.client_mut(client_idx).session_mut() {
                    session.handle_bytes(&bytes, now);
                    self.pump(client_idx, now);
                }
            }
            NetEvent::Closed { client_idx } => {
                let client = self.client_mut(client_idx);
                match client.link {
                    Link::NotOpen => {}
                    Link::Opening { .. } => {
                        client.drop_link();
                        self.urc(Urc::Open {
                            client_idx,
                            result: OpenResult::NetworkError,
                        });
                    }
                    Link::Open { .. } => {
                        client.drop_link();
                        self.urc(Urc::Stat {
                            client_idx,
                            err_code: StatCode::ClosedByPeer,
                        });
                    }
                }
            }
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Power::Booting { until } = self.power {
            if until <= now {
                self.boot(now);
            }
        }
        self.network.handle_timeout(now);
        self.apply_notes();
        if self.clock.ntp_due.is_some_and(|t| t <= now) {
            self.ntp_result(now);
        }
        if self
            .data
            .as_ref()
            .and_then(|d| d.deadline)
            .is_some_and(|t| t <= now)
        {
            self.data_timed_out();
        }
        for idx in ClientIdx::all() {
            if let Some(session) = self.client_mut(idx).session_mut() {
                if session.poll_timeout().is_some_and(|t| t <= now) {
                    session.handle_timeout(now);
                    self.pump(idx, now);
                }
            }
        }
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.clients.iter().filter_map(|c| match &c.link {
            Link::Open {
                session: Some(s), ..
            } => s.poll_timeout(),
            _ => None,
        });
        let boot = match self.power {
            Power::Booting { until } => Some(until),
            _ => None,
        };
        sessions
            .chain(self.data.as_ref().and_then(|d| d.deadline))
            .chain(boot)
            .chain(self.network.poll_timeout())
            .chain(self.clock.ntp_due)
            .min()
    }

    /// Bytes to write to the host (responses, URCs, prompts).
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The next network action.
    pub fn poll_net(&mut self) -> Option<NetAction> {
        self.net.pop_front()
    }

    /// Applies a line-level fault (see [`Fault`]); network-level faults are the shell's and are
    /// ignored here.
    pub fn inject(&mut self, fault: Fault, now: Instant) {
        match fault {
            Fault::PowerCycle => {
                debug!("fault: power cycle");
                self.restart(now);
            }
            Fault::PdpDeact { cid } => {
                debug!(cid, "fault: network deactivates a PDP context");
                self.network.network_deact(cid);
            }
            Fault::RegistrationLost => {
                debug!("fault: registration lost");
                self.network.lose();
            }
            Fault::RegistrationRegained => {
                debug!("fault: registration regained");
                self.network.regain(now);
            }
            Fault::SimRemoved => {
                debug!("fault: SIM removed");
                self.network.remove_sim(now);
            }
            Fault::SimInserted => {
                debug!("fault: SIM inserted");
                self.network.insert_sim(now);
            }
            Fault::Garbage(bytes) => {
                debug!(len = bytes.len(), "fault: garbage");
                self.out.extend_from_slice(&bytes);
            }
            Fault::StrayUrc(line) => {
                debug!(line = %line.escape_debug(), "fault: stray URC");
                ModuleLine::Unknown(line.as_bytes()).encode_framed(&mut self.out);
            }
            Fault::FillRecvSlots(idx) => {
                debug!(%idx, "fault: fill receive slots");
                for n in 0..SLOTS {
                    let client = self.client_mut(idx);
                    let Some(slot) = client.slots.get_mut(n) else {
                        break;
                    };
                    if slot.is_none() {
                        *slot = Some(Stored {
                            msgid: 0,
                            topic: "qmt-sim/placeholder".to_owned(),
                            payload: format!("placeholder {n}").into_bytes(),
                        });
                        self.announce_stored(idx, n);
                    }
                }
                self.update_accepting(idx, now);
                self.pump(idx, now);
            }
            Fault::QfuplAnswer(on) => {
                debug!(on, "fault: +QFUPL answer");
                self.qfupl_answer = on;
            }
            other => debug!(?other, "fault for the IO shell: ignored by the core"),
        }
        self.apply_notes();
    }

    /// A power cycle or reset: every client is dropped without a word to its server, all state is
    /// lost (configuration, echo back on; files and the clock stay), and the module boots again with the same
    /// network configuration. Output already queued stays ahead of the new boot URCs.
    fn restart(&mut self, now: Instant) {
        for idx in ClientIdx::all() {
            if !matches!(self.client(idx).link, Link::NotOpen) {
                self.net.push_back(NetAction::Close { client_idx: idx });
            }
        }
        let out = std::mem::take(&mut self.out);
        let net = std::mem::take(&mut self.net);
        // What is outside the module survives it: a SIM that was pulled out is still out, and
        // coverage that was lost is still lost.
        let network = self.network.restarted();
        // Files are in flash and the clock is backed up: both survive (module/files.rs,
        // module/clock.rs); a pending NTP request does not.
        let files = std::mem::take(&mut self.files);
        let mut clock = self.clock.clone();
        clock.ntp_due = None;
        let qfupl_answer = self.qfupl_answer;
        let serial = self.serial;
        *self = Module::powered_up(now, network);
        self.serial = serial;
        self.files = files;
        self.clock = clock;
        self.qfupl_answer = qfupl_answer;
        let boot = std::mem::replace(&mut self.out, out);
        self.out.extend_from_slice(&boot);
        self.net = net;
    }

    /// Writes what the network side queued (as typed URCs), and drops the MQTT clients whose
    /// context went down.
    fn apply_notes(&mut self) {
        while let Some(note) = self.network.poll_note() {
            self.note_urc(note);
        }
    }

    /// Every client bound to context `cid` loses its connection: `+QMTSTAT: <idx>,1` for an open
    /// one, `+QMTOPEN: <idx>,3` for one still opening.
    fn context_down(&mut self, cid: u8) {
        for idx in ClientIdx::all() {
            if self.client(idx).cfg.pdpcid.get() != cid {
                continue;
            }
            match self.client(idx).link {
                Link::NotOpen => continue,
                Link::Opening { .. } => self.urc(Urc::Open {
                    client_idx: idx,
                    result: OpenResult::PdpActivationFailed,
                }),
                Link::Open { .. } => self.urc(Urc::Stat {
                    client_idx: idx,
                    err_code: StatCode::ClosedByPeer,
                }),
            }
            self.close_link(idx);
        }
    }

    // --------------------------------------------------------------------------------------------
    // Output helpers.

    fn client(&self, idx: ClientIdx) -> &Client {
        // ClientIdx is 0–5 and there are six clients.
        &self.clients[usize::from(idx.get())]
    }

    fn client_mut(&mut self, idx: ClientIdx) -> &mut Client {
        &mut self.clients[usize::from(idx.get())]
    }

    fn line(&mut self, line: ModuleLine<'_>) {
        line.encode_framed(&mut self.out);
    }

    fn info(&mut self, info: Info<'_>) {
        self.line(ModuleLine::Info(info));
    }

    fn ok(&mut self) {
        self.line(ModuleLine::Final(FinalCode::Ok));
    }

    fn error(&mut self, e: CmeError) {
        debug!(code = e.code(), text = e.text(), "error");
        let code = match self.cmee {
            CmeeMode::Verbose => FinalCode::CmeErrorText(e.text()),
            CmeeMode::Numeric => FinalCode::CmeError(e.code()),
            CmeeMode::Disabled if e.always_numbered() => FinalCode::CmeError(e.code()),
            CmeeMode::Disabled => FinalCode::Error,
        };
        self.line(ModuleLine::Final(code));
    }

    /// A URC or two-phase result. These lines hold no secrets, so they are logged.
    fn urc(&mut self, urc: Urc<'_>) {
        let start = self.out.len();
        ModuleLine::Urc(urc).encode_framed(&mut self.out);
        if tracing::enabled!(tracing::Level::DEBUG) {
            let bytes = self.out.get(start..).unwrap_or_default();
            debug!(line = %bytes.trim_ascii().escape_ascii(), "urc");
        }
    }

    fn test_line(&mut self, command: qmt_proto::kind::CommandKind, params: &str) {
        self.info(Info::Test(TestLine { command, params }));
        self.ok();
    }

    // --------------------------------------------------------------------------------------------
    // Commands.

    fn on_line(&mut self, line: Line, now: Instant) {
        if line.bytes.is_empty() && !line.overflowed {
            return;
        }
        if self.echo {
            self.out.extend_from_slice(&line.bytes);
            self.out.push(line.terminator);
        }
        if line.overflowed {
            self.error(CmeError::TextTooLong);
            return;
        }
        let is_at = line
            .bytes
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"));
        if !is_at {
            debug!(
                len = line.bytes.len(),
                "ignored a line that is not a command"
            );
            return;
        }
        match Command::parse(&line.bytes) {
            Ok(cmd) => {
                debug!(command = %cmd, "command");
                self.execute(cmd, now);
                self.apply_notes();
            }
            Err(err) => {
                // The parse error names the parameter, never a secret's content.
                debug!(%err, "unparsable command");
                self.error(errors::for_unparsable(&line.bytes, &err));
            }
        }
    }

    fn execute(&mut self, cmd: Command, now: Instant) {
        use qmt_proto::kind::CommandKind as K;
        let phase = cmd.data_phase();
        match cmd {
            Command::At => self.ok(),
            Command::Echo(on) => {
                self.echo = on;
                self.ok();
            }
            Command::Cmee(mode) => {
                self.cmee = mode;
                self.ok();
            }
            Command::IfcSet {
                dce_by_dte,
                dte_by_dce,
            } => {
                self.serial.dce_by_dte = dce_by_dte;
                self.serial.dte_by_dce = dte_by_dce;
                self.ok();
            }
            Command::IfcRead => {
                self.info(Info::Ifc {
                    dce_by_dte: self.serial.dce_by_dte,
                    dte_by_dce: self.serial.dte_by_dce,
                });
                self.ok();
            }
            Command::IprSet(rate) => {
                // Spec §10.7: the `OK` still goes at the old rate; the shell switches after it.
                self.ok();
                self.serial.baud = rate.get();
            }
            Command::IprRead => {
                self.info(Info::Ipr(self.serial.baud));
                self.ok();
            }
            Command::CfgTest => {
                for name in CfgName::ALL {
                    self.info(Info::Cfg(CfgInfo::Test {
                        name: name.as_str().to_owned(),
                        ranges: cfg_test_ranges(name).to_owned(),
                    }));
                }
                self.ok();
            }
            Command::Cfg(cfg) => {
                let idx = cfg.client_idx();
                match cfg.op().clone() {
                    CfgOp::Query(name) => {
                        if let Some(value) = self.client(idx).cfg.query(name) {
                            self.info(Info::Cfg(CfgInfo::Value(value)));
                        }
                        self.ok();
                    }
                    CfgOp::Set(qmt_proto::CfgValue::WillEx(value)) if phase.is_some() => {
                        let len = phase.and_then(|p| p.data_len()).unwrap_or(0);
                        let deadline = self.client(idx).cfg.edit_timeout().map(|d| now + d);
                        self.start_data(
                            DataKind::WillEx { client: idx, value },
                            len,
                            deadline,
                            now,
                        );
                    }
                    CfgOp::Set(value) => {
                        self.client_mut(idx).cfg.set(value);
                        self.ok();
                    }
                }
            }
            Command::OpenTest => self.test_line(K::QmtOpen, "(0-5),\"hostname\",(1-65535)"),
            Command::OpenRead => {
                let open: Vec<_> = ClientIdx::all()
                    .filter_map(|idx| match &self.client(idx).link {
                        Link::Open { host, port, .. } => Some((idx, host.clone(), *port)),
                        _ => None,
                    })
                    .collect();
                for (client_idx, host, port) in open {
                    if let Ok(port) = qmt_proto::params::Port::new(i64::from(port)) {
                        self.info(Info::OpenRead {
                            client_idx,
                            host: &host,
                            port,
                        });
                    }
                }
                self.ok();
            }
            Command::Open(open) => {
                let idx = open.client_idx;
                self.ok();
                if !matches!(self.client(idx).link, Link::NotOpen) {
                    self.urc(Urc::Open {
                        client_idx: idx,
                        result: OpenResult::IdentifierOccupied,
                    });
                    return;
                }
                let pdpcid = self.client(idx).cfg.pdpcid.get();
                if !self.network.bearer_ready(pdpcid) {
                    debug!(client_idx = %idx, pdpcid, "open: no bearer (not registered or context inactive)");
                    self.urc(Urc::Open {
                        client_idx: idx,
                        result: OpenResult::PdpActivationFailed,
                    });
                    return;
                }
                let host = open.host.as_str().to_owned();
                let port = open.port.get();
                let tls = self.tls_config(idx);
                debug!(
                    client_idx = %idx,
                    %host,
                    port,
                    tls = tls.is_some(),
                    pdpcid = self.client(idx).cfg.pdpcid.get(),
                    "connect"
                );
                self.client_mut(idx).link = Link::Opening {
                    host: host.clone(),
                    port,
                };
                self.net.push_back(NetAction::Connect {
                    client_idx: idx,
                    host,
                    port,
                    tls,
                });
            }
            Command::CloseTest => self.test_line(K::QmtClose, "(0-5)"),
            Command::Close(idx) => {
                if matches!(self.client(idx).link, Link::NotOpen) {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                self.ok();
                self.client_mut(idx).drop_link();
                self.net.push_back(NetAction::Close { client_idx: idx });
                self.urc(Urc::Close {
                    client_idx: idx,
                    result: CloseResult::Closed,
                });
            }
            Command::ConnTest => {
                self.test_line(K::QmtConn, "(0-5),\"clientid\",\"username\",\"password\"");
            }
            Command::ConnRead => {
                let states: Vec<_> = ClientIdx::all()
                    .filter_map(|idx| match &self.client(idx).link {
                        Link::Open {
                            session, connected, ..
                        } => Some((
                            idx,
                            match (session, connected) {
                                (None, _) => ConnState::Initializing,
                                (Some(_), false) => ConnState::Connecting,
                                (Some(_), true) => ConnState::Connected,
                            },
                        )),
                        _ => None,
                    })
                    .collect();
                for (client_idx, state) in states {
                    self.info(Info::ConnRead { client_idx, state });
                }
                self.ok();
            }
            Command::Conn(conn) => {
                let idx = conn.client_idx;
                if !matches!(self.client(idx).link, Link::Open { session: None, .. }) {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                let cfg = &self.client(idx).cfg;
                let (username, password) = match &conn.credentials {
                    Some(c) => (
                        Some(c.username.as_str().to_owned()),
                        Some(c.password.expose().to_owned()),
                    ),
                    None => match cfg.cloud_credentials() {
                        Some((u, p)) => (Some(u), Some(p)),
                        None => (None, None),
                    },
                };
                let config = SessionConfig {
                    version: cfg.version,
                    client_id: conn.client_id.as_str().to_owned(),
                    username,
                    password,
                    keep_alive: cfg.keepalive.get(),
                    clean_session: cfg.clean_session,
                    pkt_timeout: Duration::from_secs(u64::from(cfg.pkt_timeout.get())),
                    retry_times: cfg.retry_times.get(),
                    timeout_notice: cfg.timeout_notice,
                    will: cfg.will(),
                };
                // SessionConfig's Debug redacts the password.
                debug!(client_idx = %idx, ?config, "MQTT connect");
                self.ok();
                let client = self.client_mut(idx);
                if let Link::Open {
                    session, connected, ..
                } = &mut client.link
                {
                    let mut s = Session::connect(config, now);
                    if let Some(kept) = client.kept.take() {
                        s.restore(kept);
                    }
                    *session = Some(Box::new(s));
                    *connected = false;
                }
                client.accepting = true;
                self.update_accepting(idx, now);
                self.pump(idx, now);
            }
            Command::DiscTest => self.test_line(K::QmtDisc, "(0-5)"),
            Command::Disc(idx) => {
                if matches!(self.client(idx).link, Link::NotOpen) {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                self.ok();
                self.pump(idx, now);
                if let Some(session) = self.client_mut(idx).session_mut() {
                    session.disconnect(now);
                    let mut sends = Vec::new();
                    while let Some(bytes) = session.poll_transmit() {
                        sends.push(bytes);
                    }
                    self.net
                        .extend(sends.into_iter().map(|bytes| NetAction::Send {
                            client_idx: idx,
                            bytes,
                        }));
                }
                self.close_link(idx);
                self.urc(Urc::Disc {
                    client_idx: idx,
                    result: DiscResult::Disconnected,
                });
            }
            Command::SubTest => self.test_line(K::QmtSub, "(0-5),<msgid>,list of [\"topic\",qos]"),
            Command::Sub(sub) => {
                let idx = sub.client_idx();
                if !self.client(idx).is_connected() {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                self.ok();
                let filters: Vec<(String, Qos)> = sub
                    .topics()
                    .iter()
                    .map(|(t, q)| (t.as_str().to_owned(), *q))
                    .collect();
                if let Some(session) = self.client_mut(idx).session_mut() {
                    session.subscribe(sub.msgid().get(), &filters, now);
                }
                self.pump(idx, now);
            }
            Command::UnsTest => self.test_line(K::QmtUns, "(0-5),<msgid>,list of [\"topic\"]"),
            Command::Uns(uns) => {
                let idx = uns.client_idx();
                if !self.client(idx).is_connected() {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                self.ok();
                let filters: Vec<String> =
                    uns.topics().iter().map(|t| t.as_str().to_owned()).collect();
                if let Some(session) = self.client_mut(idx).session_mut() {
                    session.unsubscribe(uns.msgid().get(), &filters, now);
                }
                self.pump(idx, now);
            }
            Command::PubExTest => self.test_line(
                K::QmtPubEx,
                "(0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
            ),
            Command::PubEx(p) => {
                let idx = p.client_idx();
                if !self.client(idx).is_connected() {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                let cfg = &self.client(idx).cfg;
                let hex = cfg.send_mode == DataEncoding::Hex;
                let deadline = cfg.edit_timeout().map(|d| now + d);
                self.start_data(
                    DataKind::PubEx {
                        client: idx,
                        msgid: p.msgid().get(),
                        qos: p.qos(),
                        retain: p.retain(),
                        topic: p.topic().as_str().to_owned(),
                        hex,
                    },
                    usize::from(p.length().get()),
                    deadline,
                    now,
                );
            }
            Command::RecvTest => self.ok(),
            Command::RecvRead => {
                let lines: Vec<_> = ClientIdx::all()
                    .filter(|&idx| {
                        let c = self.client(idx);
                        matches!(c.link, Link::Open { .. }) || c.has_stored()
                    })
                    .map(|idx| {
                        let slots = self.client(idx).slots.each_ref().map(|s| {
                            if s.is_some() {
                                StoreStatus::Stored
                            } else {
                                StoreStatus::Empty
                            }
                        });
                        (idx, slots)
                    })
                    .collect();
                for (client_idx, slots) in lines {
                    self.info(Info::RecvStatus { client_idx, slots });
                }
                self.ok();
            }
            Command::Recv(r) => {
                let idx = r.client_idx;
                let wanted: Vec<usize> = match r.recv_id {
                    Some(id) => vec![usize::from(id.get())],
                    None => (0..SLOTS).collect(),
                };
                let mut taken = Vec::new();
                for n in wanted {
                    if let Some(msg) = self.client_mut(idx).slots.get_mut(n).and_then(Option::take)
                    {
                        taken.push(msg);
                    }
                }
                for msg in &taken {
                    self.message_line(idx, msg, true);
                }
                self.ok();
                if !taken.is_empty() {
                    self.refill_slots(idx);
                    self.update_accepting(idx, now);
                    self.pump(idx, now);
                }
            }
            Command::FileUpload(f) if phase.is_some() && self.files.exists(f.name().as_str()) => {
                debug!(name = %f.name().as_str(), "upload to an existing name");
                self.error(CmeError::FileAlreadyExists);
            }
            Command::FileUpload(f) => match phase {
                Some(DataPhase::Connect { len }) => {
                    let timeout = f.timeout().map_or(QFUPL_DEFAULT_TIMEOUT, |t| {
                        Duration::from_secs(u64::from(t.get()))
                    });
                    self.start_data(
                        DataKind::Upload {
                            name: f.name().as_str().to_owned(),
                        },
                        len,
                        Some(now + timeout),
                        now,
                    );
                }
                _ => self.error(CmeError::FileInvalidInput),
            },
            Command::SslCfg(s) => {
                let ctx = s.ctx;
                match s.op {
                    SslOp::Query(name) => {
                        if let Some(value) = self.ssl[usize::from(ctx.get())].query(name) {
                            self.info(Info::Ssl(SslInfo { ctx, value }));
                        }
                    }
                    SslOp::Set(value) => self.ssl[usize::from(ctx.get())].set(value),
                }
                self.ok();
            }
            // §10: the SIM, registration, contexts and power (module/net_cmds.rs).
            cmd @ (Command::Identify(_)
            | Command::PinRead
            | Command::PinEnter(_)
            | Command::SimStatRead
            | Command::Csq
            | Command::Qcsq
            | Command::QnwInfo
            | Command::CopsRead
            | Command::RegSet(..)
            | Command::RegRead(_)
            | Command::ContextSet(_)
            | Command::ContextRead(_)
            | Command::ActRead
            | Command::Act(_)
            | Command::Deact(_)
            | Command::AttachRead
            | Command::AddrRead(_)
            | Command::CfunSet { .. }
            | Command::CfunRead
            | Command::PowerDown(_)) => self.execute_net(cmd, now),
            // §10.8 and §10.9: files and the clock (module/files_cmds.rs).
            cmd @ (Command::FileList(_)
            | Command::FileDelete(_)
            | Command::ClockRead
            | Command::Ntp(_)
            | Command::NetworkTime(_)) => self.execute_files_clock(cmd, now),
            // The publish of sibling modules (EC2x/EG9x/BG9x, BC26): EC200x firmware does not
            // know `AT+QMTPUB` and refuses it before any prompt, as it refuses any unknown
            // command (`ERROR`, or `+CME ERROR: 4` after `AT+CMEE`).
            Command::PubTest | Command::Ec2xPub(_) | Command::Bc26Pub(_) => {
                self.error(CmeError::OperationNotSupported);
            }
        }
    }

    /// The TLS settings of a client whose `ssl` is enabled, files resolved to their bytes.
    fn tls_config(&self, idx: ClientIdx) -> Option<TlsConfig> {
        let SslMode::Enabled { ctx } = self.client(idx).cfg.ssl else {
            return None;
        };
        let c = &self.ssl[usize::from(ctx.get())];
        let file = |name: &Option<qmt_proto::params::FileName>| {
            name.as_ref()
                .and_then(|n| self.files.get(n.as_str()).map(<[u8]>::to_vec))
        };
        Some(TlsConfig {
            ctx: ctx.get(),
            ca_cert: file(&c.cacert),
            client_cert: file(&c.clientcert),
            client_key: file(&c.clientkey),
            seclevel: c.seclevel.get(),
            sslversion: c.sslversion.get(),
            ignore_local_time: c.ignore_local_time,
        })
    }

    // --------------------------------------------------------------------------------------------
    // Data phases.

    fn start_data(&mut self, kind: DataKind, len: usize, deadline: Option<Instant>, now: Instant) {
        let invite = if matches!(kind, DataKind::Upload { .. }) {
            ModuleLine::Connect
        } else {
            ModuleLine::Prompt
        };
        self.line(invite);
        self.input.forget_cr();
        self.data = Some(OpenData {
            kind,
            len,
            buf: Vec::with_capacity(len.min(64 * 1024)),
            deadline,
        });
        if len == 0 {
            self.finish_data(now);
        }
    }

    fn finish_data(&mut self, now: Instant) {
        let Some(data) = self.data.take() else {
            return;
        };
        if self.echo {
            self.out.extend_from_slice(&data.buf);
        }
        match data.kind {
            DataKind::PubEx {
                client,
                msgid,
                qos,
                retain,
                topic,
                hex,
            } => {
                let payload = if hex {
                    match qmt_proto::recv::decode_hex(&data.buf) {
                        Ok(p) => p,
                        Err(err) => {
                            debug!(%err, "publish data is not hex");
                            self.error(CmeError::IncorrectParameters);
                            return;
                        }
                    }
                } else {
                    data.buf
                };
                if !self.client(client).is_connected() {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                debug!(client_idx = %client, msgid, len = payload.len(), "publish");
                self.ok();
                if let Some(session) = self.client_mut(client).session_mut() {
                    session.publish(msgid, qos, retain, &topic, &payload, now);
                }
                self.pump(client, now);
            }
            DataKind::WillEx { client, value } => {
                debug!(client_idx = %client, len = data.buf.len(), "willex message stored");
                self.client_mut(client).cfg.set_willex_data(value, data.buf);
                self.ok();
            }
            DataKind::Upload { name } => {
                let (upload_size, checksum) = self.files.store(&name, data.buf);
                debug!(%name, upload_size, answer = self.qfupl_answer, "file uploaded");
                if self.qfupl_answer {
                    self.info(Info::QfUpl {
                        upload_size,
                        checksum,
                    });
                }
                self.ok();
            }
        }
    }

    fn data_timed_out(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        debug!(?data, "data phase timed out");
        if self.echo {
            self.out.extend_from_slice(&data.buf);
        }
        self.error(match data.kind {
            DataKind::Upload { .. } => CmeError::FileTimeout,
            _ => CmeError::Unknown,
        });
    }

    // --------------------------------------------------------------------------------------------
    // Sessions.

    /// Moves what a client's session wants to send to the network, and reports its events.
    fn pump(&mut self, idx: ClientIdx, now: Instant) {
        for _ in 0..PUMP_ROUNDS {
            let Some(session) = self.client_mut(idx).session_mut() else {
                return;
            };
            let mut sends = Vec::new();
            while let Some(bytes) = session.poll_transmit() {
                sends.push(bytes);
            }
            self.net
                .extend(sends.into_iter().map(|bytes| NetAction::Send {
                    client_idx: idx,
                    bytes,
                }));
            // One event at a time: storing a message can fill the last receive slot and stop the
            // session accepting (spec §9), and the publishes after it must then stay held,
            // unacknowledged. Draining every event first delivered (and acknowledged) them all,
            // and a burst beyond the slots and the overflow queue was lost.
            let mut handled = false;
            while let Some(event) = self
                .client_mut(idx)
                .session_mut()
                .and_then(Session::poll_event)
            {
                handled = true;
                self.on_session_event(idx, event, now);
            }
            if !handled {
                return;
            }
        }
        warn!(client_idx = %idx, "session keeps producing events; pausing until the next call");
    }

    fn close_link(&mut self, idx: ClientIdx) {
        self.client_mut(idx).drop_link();
        self.net.push_back(NetAction::Close { client_idx: idx });
    }

    fn on_session_event(&mut self, idx: ClientIdx, event: SessionEvent, now: Instant) {
        let client_idx = idx;
        match event {
            SessionEvent::ConnAck { code } => {
                if let Link::Open {
                    session, connected, ..
                } = &mut self.client_mut(idx).link
                {
                    if code == 0 {
                        *connected = true;
                    } else {
                        *session = None;
                        *connected = false;
                    }
                }
                self.urc(Urc::Conn {
                    client_idx,
                    result: PacketResult::Acked,
                    value: Some(ConnValue::Connack(ConnackCode::from_code(i64::from(code)))),
                });
            }
            SessionEvent::Retransmitted {
                op,
                msgid: m,
                count,
            } => {
                let count = i64::from(count);
                let list = number_list([count]);
                let values = Values::parse(&list).unwrap_or(Values::EMPTY);
                let result = PacketResult::Retransmission;
                self.urc(match op {
                    Op::Conn => Urc::Conn {
                        client_idx,
                        result,
                        value: Some(ConnValue::Retransmissions(count)),
                    },
                    Op::Sub => Urc::Sub {
                        client_idx,
                        msgid: msgid(m),
                        result,
                        values,
                    },
                    Op::Uns => Urc::Uns {
                        client_idx,
                        msgid: msgid(m),
                        result,
                        values,
                    },
                    Op::Pub => Urc::PubEx {
                        prefix: PubPrefix::PubEx,
                        client_idx,
                        msgid: msgid(m),
                        result,
                        value: Some(count),
                    },
                });
            }
            SessionEvent::Failed { op, msgid: m } => {
                let result = PacketResult::Failed;
                match op {
                    Op::Conn => {
                        self.urc(Urc::Conn {
                            client_idx,
                            result,
                            value: None,
                        });
                        self.urc(Urc::Stat {
                            client_idx,
                            err_code: StatCode::ConnackFailed,
                        });
                        self.close_link(idx);
                    }
                    Op::Sub => self.urc(Urc::Sub {
                        client_idx,
                        msgid: msgid(m),
                        result,
                        values: Values::EMPTY,
                    }),
                    Op::Uns => self.urc(Urc::Uns {
                        client_idx,
                        msgid: msgid(m),
                        result,
                        values: Values::EMPTY,
                    }),
                    Op::Pub => self.urc(Urc::PubEx {
                        prefix: PubPrefix::PubEx,
                        client_idx,
                        msgid: msgid(m),
                        result,
                        value: None,
                    }),
                }
            }
            SessionEvent::SubAck { msgid: m, granted } => {
                let list = number_list(granted.iter().map(|&g| i64::from(g)));
                let values = Values::parse(&list).unwrap_or(Values::EMPTY);
                self.urc(Urc::Sub {
                    client_idx,
                    msgid: msgid(m),
                    result: PacketResult::Acked,
                    values,
                });
            }
            SessionEvent::UnsubAck { msgid: m } => self.urc(Urc::Uns {
                client_idx,
                msgid: msgid(m),
                result: PacketResult::Acked,
                values: Values::EMPTY,
            }),
            SessionEvent::Published { msgid: m } => self.urc(Urc::PubEx {
                prefix: PubPrefix::PubEx,
                client_idx,
                msgid: msgid(m),
                result: PacketResult::Acked,
                value: None,
            }),
            SessionEvent::Message {
                msgid: m,
                topic,
                payload,
                ..
            } => {
                let msg = Stored {
                    msgid: m,
                    topic,
                    payload,
                };
                if self.client(idx).cfg.recv_mode == MsgRecvMode::InUrc {
                    self.message_line(idx, &msg, false);
                } else {
                    self.store(idx, msg, now);
                }
            }
            SessionEvent::PingTimeout => {
                self.urc(Urc::Ping {
                    client_idx,
                    result: PingResult::TimedOut,
                });
                self.urc(Urc::Stat {
                    client_idx,
                    err_code: StatCode::PingFailed,
                });
                self.close_link(idx);
            }
            SessionEvent::ProtocolError => {
                self.urc(Urc::Stat {
                    client_idx,
                    err_code: StatCode::LinkDown,
                });
                self.close_link(idx);
            }
        }
    }

    /// Writes a message as `+QMTRECV: idx,msgid,"topic"[,len],payload`, per the client's
    /// `recv/mode` length flag, `dataformat` recv mode and `view/mode`. `as_info`: an answer to
    /// `AT+QMTRECV=…` (not logged as a URC; same bytes).
    fn message_line(&mut self, idx: ClientIdx, msg: &Stored, as_info: bool) {
        let cfg = &self.client(idx).cfg;
        let payload = if cfg.recv_encoding == DataEncoding::Hex {
            qmt_proto::recv::encode_hex(&msg.payload)
        } else {
            msg.payload.clone()
        };
        let form = if cfg.view_mode == ViewMode::SeparateLine {
            PayloadForm::Split
        } else {
            PayloadForm::Quoted
        };
        let payload_len =
            (cfg.msg_len_enable || form == PayloadForm::Split).then_some(payload.len());
        let recv = Recv {
            client_idx: idx,
            msgid: msgid(msg.msgid),
            topic: &msg.topic,
            payload_len,
            payload: &payload,
            form,
        };
        if as_info {
            self.info(Info::Message(recv));
        } else {
            debug!(client_idx = %idx, msgid = msg.msgid, topic = %msg.topic, len = msg.payload.len(), "urc +QMTRECV");
            ModuleLine::Urc(Urc::Recv(recv)).encode_framed(&mut self.out);
        }
    }

    fn announce_stored(&mut self, idx: ClientIdx, slot: usize) {
        if let Some(recv_id) = i64::try_from(slot).ok().and_then(|n| RecvId::new(n).ok()) {
            self.urc(Urc::RecvStored {
                client_idx: idx,
                recv_id,
            });
        }
    }

    /// recv/mode 1: into the first free slot (announced), or the overflow queue.
    fn store(&mut self, idx: ClientIdx, msg: Stored, now: Instant) {
        let client = self.client_mut(idx);
        match client.slots.iter().position(Option::is_none) {
            Some(n) => {
                if let Some(slot) = client.slots.get_mut(n) {
                    *slot = Some(msg);
                }
                self.announce_stored(idx, n);
                self.update_accepting(idx, now);
            }
            None if client.overflow.len() < OVERFLOW_LIMIT => client.overflow.push_back(msg),
            None => {
                warn!(client_idx = %idx, "every receive slot and the overflow queue are full: message dropped")
            }
        }
    }

    /// Moves waiting messages into freed slots, announcing each.
    fn refill_slots(&mut self, idx: ClientIdx) {
        loop {
            let client = self.client_mut(idx);
            let Some(n) = client.slots.iter().position(Option::is_none) else {
                return;
            };
            let Some(msg) = client.overflow.pop_front() else {
                return;
            };
            if let Some(slot) = client.slots.get_mut(n) {
                *slot = Some(msg);
            }
            self.announce_stored(idx, n);
        }
    }

    /// Tells the session whether to accept messages: not while all five slots are full.
    fn update_accepting(&mut self, idx: ClientIdx, now: Instant) {
        let client = self.client_mut(idx);
        let want = !client.slots_full();
        if want == client.accepting {
            return;
        }
        client.accepting = want;
        if let Some(session) = client.session_mut() {
            debug!(client_idx = %idx, accepting = want, "session accepting");
            session.set_accepting(want, now);
        }
    }
}
