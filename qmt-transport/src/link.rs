//! The link core: one AT channel, sans-IO (ARCHITECTURE.md "Sans-IO cores", modelled on `quinn-proto`).
//!
//! A [`Link`] owns no port, no clock and no thread. The IO shell (the reactor) hands it
//! commands ([`Link::submit`]), the bytes read from the port ([`Link::feed`]) and the time
//! ([`Link::handle_timeout`]); it drains the bytes to write ([`Link::poll_transmit`]), the next
//! deadline ([`Link::poll_timeout`]) and what happened ([`Link::poll_event`]).
//!
//! # What the link guarantees
//! - **One command on the wire at a time** (spec §9), a bounded queue behind it:
//!   [`SubmitError::QueueFull`] is back-pressure, nothing is dropped.
//! - **The prompt is a phase**: a command with a data phase is `AwaitPrompt → SendData →
//!   AwaitFinal`; its data is written only after `> ` (`AT+QMTPUBEX`, `AT+QMTCFG="willex"`, the
//!   `AT+QMTPUB` of EC2x/EG9x/BG9x modules) or the `CONNECT` line (`AT+QFUPL`), and only if it has
//!   exactly the announced length. The `AT+QMTPUB` without a length
//!   ([`DataPhase::PromptCtrlZ`]) takes a payload of any length up to its limit, which the link
//!   refuses at [`Link::submit`] if it holds Ctrl-Z or ESC, and ends with the Ctrl-Z itself.
//! - **Echo is matched, not guessed**: the link drops the first line equal to the command it
//!   wrote (ASCII case-insensitively) and nothing else. When that echo was seen (ATE1), the data
//!   written after a prompt is echoed too: the lines the framer makes of the data are dropped in
//!   order. With ATE0 nothing is dropped, so a data `OK` can never be taken for an echo.
//! - **Command-aware classification**: between a command and its final code, a line is
//!   information for it only if [`qmt_proto::Info::parse_for`] says so (prefix *and* shape);
//!   everything else is a [`LinkEvent::Urc`], in arrival order. Outside a command every line is
//!   a URC; unknown lines are URCs too (counted in [`LinkStats::unknown`]) and block nothing.
//! - **Late replies are not mistaken** (see below).
//! - **Chunking invariance**: any split of the same input gives the same events.
//! - **Never panics** on any input bytes.
//!
//! # Late replies: resynchronisation with markers
//! A command that misses its deadline completes with [`CommandError::Timeout`], but the module
//! may still be working on it: its late information lines and final code will come. The link
//! keeps the abandoned command as a *ghost* and, before the next queued command, sends a
//! **marker**: a query whose answer line no command in the ghost list can produce. Markers are
//! the seven test commands `AT+QMTOPEN=?` … `AT+QMTPUBEX=?` (answered `+<CMD>: (…`) and the six
//! `AT+QSSLCFG="sslversion",<ctx>` queries (answered `+QSSLCFG: "sslversion",<ctx>,<v>`); a
//! marker is used only if no outstanding marker is the same and the abandoned user command is of
//! another command kind. The module answers commands strictly in order (spec §9), so:
//! - a final code arriving while ghosts exist belongs to the oldest ghost: it is consumed and
//!   counted in [`LinkStats::late_finals`]; information lines that fit the oldest ghost are
//!   consumed with it (they would be mistaken for URCs otherwise, `+QMTCONN: 0,3` for a
//!   connect result);
//! - a marker's own answer line proves that every command sent before it has been answered (or
//!   was never received): those ghosts are forgotten at once;
//! - the final code of the marker in flight (the newest one) ends the resynchronisation, and
//!   only then does the next user command go out.
//!
//! No timing guess is involved: a ghost is retired only by its own final code or by a later
//! marker's answer. If a marker misses its deadline (`Timeouts::other`) it becomes a ghost too
//! and another marker is sent; when all thirteen are outstanding the link writes nothing and
//! waits for any of their answers, `RDY` or [`Link::close`] — see [`Link::resyncing`]. Works
//! the same with ATE0 and ATE1 (marker echoes are matched like any other). A late `> ` /
//! `CONNECT` for a ghost is consumed and answered with nothing: after a timeout the user's data
//! is never written, because the module may already have taken the marker's bytes as the start
//! of the data; the module leaves that data phase by its own `edit/timeout` or when later bytes
//! fill it.
//!
//! # A prompt lost to line damage
//! On a UART without flow control a byte of `\r\n> ` can be lost or changed (spec §10.7), and
//! the module then waits for the data while the host waits for the prompt; whatever the host
//! writes next (a marker) would be published as the message. So:
//! - while a `> ` is awaited, a line that starts with `>` is that prompt, damaged (no module
//!   line starts with `>`): the data is written;
//! - when no prompt came within [`Timeouts::prompt`] (2 s; modules send it at once), the data is
//!   written all the same. If the module was waiting, the publish completes as asked; if the
//!   command itself was lost, the data only prefixes the module's next command line, which it
//!   ignores for not starting with `AT`, and the command times out as before. Data starting with
//!   `AT` or holding CR or LF is never written blind. A `> ` arriving after that is consumed.
//!
//! Both are counted in [`LinkStats::prompts_damaged`].
//!
//! # Replaying captured traffic
//! A capture holds the host's writes, so a replay tells the link what was written instead of
//! letting it choose: [`Link::observe`] puts a command on the wire (no bytes to transmit; from then
//! on the link starts nothing by itself), [`Link::observe_data`] gives the data written after its
//! [`Output::Prompt`], of any length (captures may hold a placeholder). A raw capture shows the
//! command only by its echo, handed over as an unknown [`Output::Urc`]: feed it stepwise
//! ([`Link::push`], [`Link::step_with`]) and call [`Link::observe_echoed`] before the next line is
//! classified. [`Link::finish_with`] hands over what is left at the end of the capture. The
//! classification is the one a live link applies (`qmt decode` in qmt-cli is the replay driver).
//!
//! # Module restart
//! `RDY` while a command is in flight completes it with [`CommandError::ModuleRestarted`] and
//! is delivered as a URC too. Whether the module read that command before its restart (lost) or
//! after it (it will still be answered) cannot be known — a host may well write a command between
//! the module's boot and reading its `RDY` — so the command becomes a ghost and a marker
//! resynchronises before the queued commands go out, exactly as after a timeout. The one
//! exception: with all thirteen markers outstanding, `RDY` forgets the ghosts (otherwise the link
//! could never recover); those markers went out at least `Timeouts::other` before the restart was
//! seen.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::time::Instant;

use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::params::{ClientIdx, MsgId, SslCtxIdx};
use qmt_proto::recv::{LenMode, PayloadForm};
use qmt_proto::sibling::ESC;
use qmt_proto::{
    Command, CommandName, DataPhase, FinalCode, Info, ModuleLine, RecvHook, SslCfg, SslInfo,
    SslName, SslOp, SslValue, Urc,
};

mod framer;
mod txq;

use framer::{Framer, Piece, echo_pieces};
use txq::TxQueue;

pub use framer::LINE_LIMIT;

/// Identifies a submitted command; its [`LinkEvent::Completed`] carries the same token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// A module line kept as bytes (the link owns it), typed on demand.
#[derive(Clone, PartialEq, Eq)]
pub struct Line(Vec<u8>);

impl Line {
    /// Wraps a line's bytes (without CR LF).
    pub fn new(bytes: Vec<u8>) -> Line {
        Line(bytes)
    }

    /// The line's bytes, without CR LF.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The line typed, context-free (`qmt_proto::ModuleLine::parse`).
    pub fn parse(&self) -> ModuleLine<'_> {
        ModuleLine::parse(&self.0)
    }
}

impl core::fmt::Debug for Line {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Typed Debug redacts secrets (qmt-proto); raw bytes could hold them.
        write!(f, "Line({:?})", self.parse())
    }
}

/// What a completed command answered: its information lines and its final result code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The information lines that belong to the command (prefix and shape matched), in order.
    pub info: Vec<Line>,
    /// The final result code line (`OK`, `ERROR`, `+CME ERROR: …`, `+CMS ERROR: …`).
    pub final_code: Line,
}

/// Why a command did not complete with a response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No final result code within the command's deadline.
    #[error("{command} timed out after {waited:?}")]
    Timeout {
        /// The command (its name and form, no parameters: they may hold secrets).
        command: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The module restarted (`RDY`) while the command was in flight.
    #[error("{command}: the module restarted (RDY) before it answered")]
    ModuleRestarted {
        /// The command.
        command: String,
    },
    /// The link was closed (port gone) before the command completed.
    #[error("{command}: the link closed before it answered")]
    Closed {
        /// The command.
        command: String,
    },
}

/// Why a command was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue behind the command in flight is full (back-pressure: try again later).
    #[error("command queue full ({capacity} waiting)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The data does not match the command's data phase (missing, extra, or another length).
    #[error("data does not match the command: {0}")]
    Data(String),
    /// The payload cannot be written in the command's data phase: for the `AT+QMTPUB` ended by
    /// Ctrl-Z ([`DataPhase::PromptCtrlZ`]), a payload holding Ctrl-Z or ESC (the module would cut
    /// or drop the message) or longer than its limit. Nothing was written.
    #[error("the payload cannot be written: {0}")]
    Payload(qmt_proto::error::ParamError),
}

/// Something that happened on the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A command finished.
    Completed {
        /// The token `submit` returned.
        token: Token,
        /// Its response, or why there is none.
        result: Result<Response, CommandError>,
    },
    /// An unsolicited line (URC, two-phase result, or anything not belonging to the command in
    /// flight).
    Urc(Line),
    /// A `+QMTRECV` whose payload did not match its length, dropped ([`Output::Damaged`]): the
    /// line up to its first CR LF.
    Damaged(Line),
}

/// What [`Link::feed_with`] hands its caller for each line, typed once and borrowed from the
/// line just read (ARCHITECTURE.md: one parse per line). The owned [`LinkEvent`]s of [`Link::feed`] are
/// built from these.
///
/// Every line, prompt and overflow the framer makes of the input is handed over exactly once, as
/// one of the variants other than [`Output::Failed`] (which comes in addition, before the `RDY`
/// that caused it): what the link consumes for itself (echoes, an awaited prompt, late answers,
/// marker answers) is handed over too, so that a caller printing or checking every line (a
/// replay, a logging driver, a fuzz target) sees all of them where they arrived. Callers that
/// only want responses and URCs ignore [`Output::Echo`], [`Output::Prompt`], [`Output::Late`],
/// [`Output::Resync`] and [`Output::Overflow`].
#[derive(Debug)]
pub enum Output<'a> {
    /// An information line of the command `token` (prefix and shape matched the command).
    Info {
        /// The command it answers.
        token: Token,
        /// The line, typed for that command.
        info: Info<'a>,
        /// Its bytes, without CR LF.
        line: &'a [u8],
    },
    /// The command `token` ended with this final result code (`OK`, `ERROR`, `+CME ERROR…`).
    Final {
        /// The command.
        token: Token,
        /// The final code, typed.
        code: FinalCode<'a>,
        /// Its bytes, without CR LF.
        line: &'a [u8],
    },
    /// The command `token` ended without a final code: the module restarted (`RDY`) while it was
    /// on the wire. (Timeouts and closes are not caused by input: they are queued for
    /// [`Link::poll_event`].)
    Failed {
        /// The command.
        token: Token,
        /// Why.
        error: CommandError,
    },
    /// An unsolicited line (URC, two-phase result, or anything not belonging to the command in
    /// flight), typed context-free.
    Urc {
        /// The line, typed.
        typed: ModuleLine<'a>,
        /// Its bytes, without CR LF (`> ` for a stray prompt).
        line: &'a [u8],
    },
    /// A line consumed as an echo (ATE1): the echo of a command on the wire, or one piece of the
    /// echo of the data written after its prompt (`> ` for a prompt inside that data).
    Echo {
        /// Its bytes, without CR LF.
        line: &'a [u8],
    },
    /// The module invited the data of the command `token` (`> ` or `CONNECT`): the link has
    /// queued the data for [`Link::poll_transmit`] (or, replaying, waits for
    /// [`Link::observe_data`]).
    Prompt {
        /// The command whose data is invited.
        token: Token,
        /// `> ` or `CONNECT`.
        line: &'a [u8],
    },
    /// A line that answers a command the link gave up on (timed out, or on the wire when the
    /// module restarted; see the module docs), consumed: an information line typed for that
    /// command, its final code, or its late `> ` / `CONNECT`.
    Late {
        /// The line, typed (`ModuleLine::Info` typed for the abandoned command).
        typed: ModuleLine<'a>,
        /// Its bytes, without CR LF (`> ` for a prompt).
        line: &'a [u8],
    },
    /// A line that answers a resynchronisation marker (see the module docs), consumed: the
    /// marker's answer, another of its information lines, or its final code.
    Resync {
        /// The line, typed.
        typed: ModuleLine<'a>,
        /// Its bytes, without CR LF.
        line: &'a [u8],
    },
    /// A line or data run longer than [`LINE_LIMIT`] was discarded (a split-form `+QMTRECV`
    /// header goes with its discarded data run).
    Overflow {
        /// Its length in bytes, without CR LF.
        len: usize,
    },
    /// A `+QMTRECV` whose payload does not match its length: bytes were lost or added on the
    /// line (spec §10.7, a UART without flow control). The message is dropped, never delivered;
    /// `line` is what arrived up to the first CR LF (its head still names the client, the
    /// message id and the topic). Lines the miscounted payload ran into are framed again and
    /// handled as usual.
    Damaged {
        /// The client the message was for, when the line's head still says.
        client_idx: Option<ClientIdx>,
        /// Its packet identifier (0 for QoS 0), when the head still says.
        msgid: Option<MsgId>,
        /// Its topic, when the head still says.
        topic: Option<&'a str>,
        /// The damaged line, without CR LF.
        line: &'a [u8],
    },
}

/// Per-command deadlines (spec tables), configurable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `AT+QMTCFG`, `AT+QSSLCFG`, `AT`, `ATE`, `AT+CMEE` (spec §3: 300 ms).
    pub config: Duration,
    /// `AT+QMTOPEN` (spec §4: 120 s).
    pub open: Duration,
    /// `AT+QMTCLOSE`, `AT+QMTDISC` (spec §4: 30 s).
    pub close: Duration,
    /// `AT+QMTCONN`: `pkt_timeout` (default 5 s).
    pub conn: Duration,
    /// `AT+QMTSUB`, `AT+QMTUNS`, `AT+QMTPUBEX`, and the `AT+QMTPUB` of sibling modules:
    /// `pkt_timeout × retry_times` (default 15 s).
    pub packet: Duration,
    /// Everything else (`AT+QMTRECV`, `AT+QFUPL` …), and the commands of spec §10 without a
    /// longer wait of their own: identity, `AT+CPIN` (§10.3: 5 s), signal, registration, the
    /// context configuration, attach and address reads, `AT+QPOWD`.
    pub other: Duration,
    /// `AT+COPS` (spec §10.4: 180 s; an operator search can take minutes).
    pub operator: Duration,
    /// `AT+QIACT` (spec §10.6: 150 s: activating a PDP context waits for the network).
    pub activate: Duration,
    /// `AT+QIDEACT` (spec §10.6: 40 s).
    pub deactivate: Duration,
    /// `AT+CFUN` (spec §10.1: 15 s: switching the radio on or off).
    pub functionality: Duration,
    /// `AT+QNTP` (spec §10.9: 125 s). The `OK` comes at once on the modules seen so far; the
    /// result `+QNTP` follows within the same bound, which the caller waits for.
    pub ntp: Duration,
    /// The `> ` of `AT+QMTPUBEX` / `AT+QMTCFG="willex"`, which the module sends at once. Past
    /// this wait the data is written all the same: a prompt lost to line damage (spec §10.7)
    /// leaves the module waiting for exactly those bytes (spec §1), and anything else written
    /// would be taken as them (see [`Link`], "A prompt lost to line damage").
    pub prompt: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            config: Duration::from_millis(300),
            open: Duration::from_secs(120),
            close: Duration::from_secs(30),
            conn: Duration::from_secs(5),
            packet: Duration::from_secs(15),
            other: Duration::from_secs(5),
            operator: Duration::from_secs(180),
            activate: Duration::from_secs(150),
            deactivate: Duration::from_secs(40),
            functionality: Duration::from_secs(15),
            ntp: Duration::from_secs(125),
            prompt: Duration::from_secs(2),
        }
    }
}

/// Link settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Deadlines per command kind.
    pub timeouts: Timeouts,
    /// Commands that may wait behind the one in flight.
    pub queue_capacity: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            timeouts: Timeouts::default(),
            queue_capacity: 32,
        }
    }
}

/// Counters of what the link saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Lines dropped as the echo of what the link wrote.
    pub echoes: u64,
    /// Late final codes of timed-out commands, consumed.
    pub late_finals: u64,
    /// Lines that could not be typed (`ModuleLine::Unknown`), delivered as URCs and counted.
    pub unknown: u64,
    /// Lines longer than the framer's buffer, dropped.
    pub overflows: u64,
    /// `RDY`s seen: the module restarted. Counted before any later command completes, so a
    /// caller comparing it before and after a command knows whether the module restarted in
    /// between (what it stored in RAM is gone).
    pub restarts: u64,
    /// Lines typed (context-free parses plus command-aware ones that needed their own parse):
    /// one per line read, except a `+QMTCONN` line while `AT+QMTCONN?` is in flight, a line no
    /// context-free type fits while a registration query (`AT+CEREG?`, …) is in flight, and a
    /// marker's answer, which are typed twice. Divided by the lines read, the parses per line.
    pub parses: u64,
    /// Lines read (echoes included).
    pub lines: u64,
    /// `+QMTRECV` lines dropped because their payload did not match their length
    /// ([`Output::Damaged`]).
    pub damaged: u64,
    /// Result lines (`+QMTOPEN:`, `+QMTPUBEX:` …) whose head was one byte off and whose rest
    /// parsed once the head was put right.
    pub heads_repaired: u64,
    /// Data prompts that came damaged (a line starting with `>` while one was awaited) or not
    /// at all within [`Timeouts::prompt`]: the data was written all the same.
    pub prompts_damaged: u64,
    /// Final codes, `RDY` or other answers seen: the module has answered since the link started
    /// (before that, a command that times out is not resynchronised with markers: a module that
    /// never answered has nothing late to send).
    pub heard: bool,
}

/// Where a command is in its exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for `> ` before writing the data.
    Prompt,
    /// Waiting for `CONNECT` before writing the data.
    Connect,
    /// Command (and data) written; waiting for the final code.
    Final,
}

/// One command on the wire (a user command or a marker), or a ghost: a timed-out one whose
/// late answer is still to be consumed. No `Debug`: its text and data may hold secrets.
struct Exchange {
    /// Tags its bytes in the transmit queue.
    serial: u64,
    /// `None` for a marker.
    token: Option<Token>,
    /// `Some` for a marker.
    marker: Option<Marker>,
    kind: CommandKind,
    form: Form,
    /// Its name without parameters, for errors and logs.
    name: CommandName,
    /// [`Command::info_client`]: information lines naming another client are URCs.
    info_client: Option<ClientIdx>,
    /// The command: its encoding without the final `\r` is what its echo looks like.
    command: Command,
    /// The data not yet written (until the prompt / `CONNECT`), with its terminator if it has
    /// one.
    data: Option<Vec<u8>>,
    /// The byte that ends the data ([`DataPhase::terminator`]: Ctrl-Z for the EC2x/BG9x
    /// `AT+QMTPUB` without a length).
    terminator: Option<u8>,
    /// The echo of the terminator may still come (ATE1): with the data's last line or alone.
    /// Which one EC2x/EG9x/BG9x firmware does is not documented, so either is taken.
    terminator_echo: bool,
    phase: Phase,
    /// The command's echo arrived (the module echoes: ATE1).
    echo_seen: bool,
    /// Replaying ([`Link::observe`]): the data was invited and [`Link::observe_data`] has not
    /// told what the host wrote yet.
    data_unobserved: bool,
    /// The pieces of the data's echo still expected (only armed when `echo_seen`).
    data_echo: VecDeque<Piece>,
    /// Information lines delivered for it so far (bounded by [`MAX_INFO_LINES`]).
    info: usize,
    started: Instant,
    deadline: Instant,
    /// While a `> ` is awaited: when the data is written without it ([`Timeouts::prompt`]).
    prompt_deadline: Option<Instant>,
    /// The data was written without a recognisable prompt; a late `> ` is consumed.
    blind: bool,
}

impl Exchange {
    fn is_marker(&self) -> bool {
        self.marker.is_some()
    }

    /// The module echoes (ATE1) and `written` goes after its prompt: expects the echo of the
    /// payload (without its terminator, whose echo is taken with the last line or alone; a
    /// replayed capture may end the payload with ESC instead).
    fn arm_data_echo(&mut self, hook: RecvHook, written: &[u8]) {
        let payload = match self.terminator {
            Some(t) => written
                .strip_suffix(&[t])
                .or_else(|| written.strip_suffix(&[ESC]))
                .unwrap_or(written),
            None => written,
        };
        self.data_echo = echo_pieces(hook, payload);
        self.terminator_echo = self.terminator.is_some();
    }

    fn name(&self) -> String {
        self.name.to_string()
    }
}

/// A command waiting behind the one on the wire.
struct Queued {
    token: Token,
    command: Command,
    data: Option<Vec<u8>>,
}

/// A marker: a query whose answer line no other command in the ghost list can produce (see the
/// module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    /// `AT+<cmd>=?`, answered `+<CMD>: (…`.
    Test(CommandKind),
    /// `AT+QSSLCFG="sslversion",<ctx>`, answered `+QSSLCFG: "sslversion",<ctx>,<v>`.
    SslVersion(u8),
}

/// Every marker, in order of preference.
const MARKERS: [Marker; 13] = [
    Marker::Test(CommandKind::QmtOpen),
    Marker::Test(CommandKind::QmtClose),
    Marker::Test(CommandKind::QmtConn),
    Marker::Test(CommandKind::QmtDisc),
    Marker::Test(CommandKind::QmtSub),
    Marker::Test(CommandKind::QmtUns),
    Marker::Test(CommandKind::QmtPubEx),
    Marker::SslVersion(0),
    Marker::SslVersion(1),
    Marker::SslVersion(2),
    Marker::SslVersion(3),
    Marker::SslVersion(4),
    Marker::SslVersion(5),
];

impl Marker {
    fn kind(self) -> CommandKind {
        match self {
            Marker::Test(k) => k,
            Marker::SslVersion(_) => CommandKind::QsslCfg,
        }
    }

    fn command(self) -> Option<Command> {
        use CommandKind as K;
        Some(match self {
            Marker::Test(K::QmtOpen) => Command::OpenTest,
            Marker::Test(K::QmtClose) => Command::CloseTest,
            Marker::Test(K::QmtConn) => Command::ConnTest,
            Marker::Test(K::QmtDisc) => Command::DiscTest,
            Marker::Test(K::QmtSub) => Command::SubTest,
            Marker::Test(K::QmtUns) => Command::UnsTest,
            Marker::Test(K::QmtPubEx) => Command::PubExTest,
            Marker::Test(_) => return None,
            // Built, not parsed from text: a firmware links no command parser (issue 16's size).
            Marker::SslVersion(ctx) => Command::SslCfg(SslCfg {
                ctx: SslCtxIdx::new(i64::from(ctx)).ok()?,
                op: SslOp::Query(SslName::SslVersion),
            }),
        })
    }

    /// Whether `line` is this marker's answer.
    fn answers(self, line: &[u8]) -> bool {
        match self {
            Marker::Test(k) => Info::parse_for(k, Form::Test, line).is_some(),
            Marker::SslVersion(ctx) => SslInfo::parse(line)
                .is_ok_and(|i| i.ctx.get() == ctx && matches!(i.value, SslValue::SslVersion(_))),
        }
    }
}

impl Timeouts {
    /// The deadline of a command kind (spec §3–§5, §7, §10).
    pub fn for_kind(&self, kind: CommandKind) -> Duration {
        use CommandKind as K;
        match kind {
            K::QmtCfg | K::QsslCfg | K::At | K::Echo | K::Cmee => self.config,
            K::QmtOpen => self.open,
            K::QmtClose | K::QmtDisc => self.close,
            K::QmtConn => self.conn,
            K::QmtSub | K::QmtUns | K::QmtPubEx | K::QmtPub => self.packet,
            K::QmtRecv | K::QfUpl => self.other,
            K::Cops => self.operator,
            K::Qiact => self.activate,
            K::Qideact => self.deactivate,
            K::Cfun => self.functionality,
            K::Qntp => self.ntp,
            // §10 commands answered at once: 300 ms (`config`) is too short for a busy module
            // (`AT+CPIN?` may take 5 s), so they share the 5 s class.
            K::Ati
            | K::Cgmi
            | K::Cgmm
            | K::Cgmr
            | K::Gsn
            | K::Qccid
            | K::Cimi
            | K::Cpin
            | K::QsimStat
            | K::Csq
            | K::Qcsq
            | K::QnwInfo
            | K::Creg
            | K::Cgreg
            | K::Cereg
            | K::Qicsgp
            | K::Cgatt
            | K::Cgpaddr
            | K::Qpowd
            | K::Ifc
            | K::Ipr
            // §10.8 and §10.9 commands answered at once.
            | K::Qflst
            | K::Qfdel
            | K::Cclk
            | K::Qlts => self.other,
        }
    }
}

/// The most information lines one command collects; further ones are delivered as URCs, so a
/// module flooding lines cannot grow a response without bound.
pub const MAX_INFO_LINES: usize = 1024;

/// One AT channel: commands in, bytes out; bytes in, completions and URCs out.
///
/// See the [module docs](self) for what it guarantees. `Debug` shows the state by command name
/// only: command texts, data and pending bytes may hold secrets.
pub struct Link {
    config: LinkConfig,
    framer: Framer,
    queue: VecDeque<Queued>,
    /// The command on the wire (a user command or a marker).
    current: Option<Exchange>,
    /// Timed-out exchanges whose answers may still come, oldest first; sent before `current`.
    ghosts: VecDeque<Exchange>,
    /// Bytes to write, tagged by exchange (one reused buffer: no allocation per command).
    tx: TxQueue,
    /// Reused to encode a command when a line may be its echo.
    /// Per client: a message in the quoted form was seen, so the module quotes payloads (spec §6)
    /// and an unquoted one that starts with `"` is a quoted one that lost bytes.
    quoted_seen: [bool; 6],
    scratch: Vec<u8>,
    events: VecDeque<LinkEvent>,
    /// The line being handled (reused: its capacity stays).
    line: Vec<u8>,
    /// [`feed`](Link::feed)'s information lines of the command in flight, until its final code.
    collected: Option<(Token, Vec<Line>)>,
    stats: LinkStats,
    next_token: u64,
    next_serial: u64,
    closed: bool,
    /// Replaying a capture ([`Link::observe`]): the host's writes are given, the link starts
    /// nothing itself (no queued command, no marker).
    replay: bool,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("current", &self.current.as_ref().map(Exchange::name))
            .field("queued", &self.queue.len())
            .field(
                "ghosts",
                &self.ghosts.iter().map(Exchange::name).collect::<Vec<_>>(),
            )
            .field("tx_pending", &self.tx.runs())
            .field("events", &self.events.len())
            .field("stats", &self.stats)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A new link.
    pub fn new(config: LinkConfig, _now: Instant) -> Link {
        Link {
            config,
            framer: Framer::new(RecvHook::auto()),
            queue: VecDeque::new(),
            current: None,
            ghosts: VecDeque::new(),
            tx: TxQueue::default(),
            scratch: Vec::new(),
            quoted_seen: [false; 6],
            events: VecDeque::new(),
            collected: None,
            line: Vec::new(),
            stats: LinkStats::default(),
            next_token: 0,
            next_serial: 0,
            closed: false,
            replay: false,
        }
    }

    /// Queues a command (with the raw data of its data phase, if it has one).
    ///
    /// `data` must be `Some` with exactly [`DataPhase::data_len`] bytes when
    /// [`Command::data_phase`] is `Some`, and `None` otherwise ([`SubmitError::Data`]). For
    /// [`DataPhase::PromptCtrlZ`] it is the payload alone: checked by [`DataPhase::check_data`]
    /// ([`SubmitError::Payload`]), and the link writes the Ctrl-Z after it. At most
    /// [`LinkConfig::queue_capacity`] commands wait behind the one on the wire
    /// ([`SubmitError::QueueFull`]: back-pressure, nothing is dropped). After [`close`](Self::close)
    /// the command completes at once with [`CommandError::Closed`].
    pub fn submit(
        &mut self,
        command: Command,
        data: Option<Vec<u8>>,
        now: Instant,
    ) -> Result<Token, SubmitError> {
        let mut data = data;
        match (command.data_phase(), data.as_mut()) {
            (None, None) => {}
            (Some(phase), Some(d)) => match (phase.data_len(), phase.terminator()) {
                (Some(len), _) if d.len() != len => {
                    return Err(SubmitError::Data(format!(
                        "{} bytes given, the command announces {len}",
                        d.len(),
                    )));
                }
                (Some(_), _) => {}
                (None, terminator) => {
                    // Refused before anything is queued: nothing of it reaches the wire.
                    phase.check_data(d).map_err(SubmitError::Payload)?;
                    d.extend(terminator);
                }
            },
            (Some(phase), None) => {
                return Err(SubmitError::Data(match phase.data_len() {
                    Some(len) => {
                        format!("the command has a data phase of {len} bytes, no data given")
                    }
                    None => "the command has a data phase ended by Ctrl-Z, no data given".into(),
                }));
            }
            (None, Some(d)) => {
                return Err(SubmitError::Data(format!(
                    "the command has no data phase, {} bytes given",
                    d.len()
                )));
            }
        }
        let idle = self.current.is_none() && self.ghosts.is_empty() && self.queue.is_empty();
        if !self.closed && !idle && self.queue.len() >= self.config.queue_capacity {
            return Err(SubmitError::QueueFull {
                capacity: self.config.queue_capacity,
            });
        }
        let token = Token(self.next_token);
        self.next_token += 1;
        if self.closed {
            self.events.push_back(LinkEvent::Completed {
                token,
                result: Err(CommandError::Closed {
                    command: command.name().to_string(),
                }),
            });
            return Ok(token);
        }
        self.queue.push_back(Queued {
            token,
            command,
            data,
        });
        self.start_next(now);
        Ok(token)
    }

    /// Bytes read from the port (any chunking); what they complete is queued as owned
    /// [`LinkEvent`]s for [`poll_event`](Self::poll_event).
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        let mut events = core::mem::take(&mut self.events);
        let mut collected = self.collected.take();
        self.feed_with(bytes, now, |out| own(out, &mut events, &mut collected));
        self.events = events;
        self.collected = collected;
    }

    /// Bytes read from the port (any chunking); each line is typed once and handed to `emit` at
    /// once, in wire order, as an [`Output`] borrowing from the line. What `feed_with` does not
    /// cause (timeouts, closes, submissions after a close) still goes to
    /// [`poll_event`](Self::poll_event): drain it after [`submit`](Self::submit),
    /// [`handle_timeout`](Self::handle_timeout) and [`close`](Self::close).
    pub fn feed_with(&mut self, bytes: &[u8], now: Instant, mut emit: impl FnMut(Output<'_>)) {
        if self.closed {
            return;
        }
        let mut rest = bytes;
        loop {
            let n = self.push(rest);
            rest = rest.get(n..).unwrap_or_default();
            let mut any = false;
            while self.step_with(now, &mut emit) {
                any = true;
            }
            if rest.is_empty() || (n == 0 && !any) {
                return;
            }
        }
    }

    /// [`feed_with`](Self::feed_with) in steps, for a caller that must act between two lines
    /// (a replay learns a command from its echo and [`observe`](Self::observe)s it before the next
    /// line is classified): `push` takes bytes into the framer's buffer and handles none of them;
    /// [`step_with`](Self::step_with) then handles one piece at a time. Returns how many bytes it
    /// took (as many as there is room for; 0 when the buffer is full: step, then push the rest).
    /// After [`close`](Self::close) every byte is taken and ignored.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        if self.closed {
            return bytes.len();
        }
        self.framer.feed(bytes)
    }

    /// Handles the next complete piece of what [`push`](Self::push) took (one line, prompt or
    /// overflow), handing its [`Output`]s to `emit` like [`feed_with`](Self::feed_with). Returns
    /// `false`, having handled nothing, when more bytes are needed.
    pub fn step_with(&mut self, now: Instant, mut emit: impl FnMut(Output<'_>)) -> bool {
        if self.closed {
            return false;
        }
        // One reused line buffer: typing a line allocates nothing.
        let mut line = core::mem::take(&mut self.line);
        let piece = self.framer.next_piece_into(&mut line);
        let handled = piece.is_some();
        if let Some(piece) = piece {
            self.on_piece(piece, &line, now, &mut emit);
        }
        self.line = line;
        handled
    }

    /// The input ended (the end of a capture file): after the complete pieces, what the framer
    /// still holds is handled as if its line had ended — an unterminated line, a lone `>` (as a
    /// line), or an overflow in progress; of a cut split-form `+QMTRECV` data run, its header and
    /// the bytes that came, each as a line. The framer is empty afterwards. Not for a live port:
    /// there the rest of a line may still come.
    pub fn finish_with(&mut self, now: Instant, mut emit: impl FnMut(Output<'_>)) {
        while self.step_with(now, &mut emit) {}
        if self.closed {
            return;
        }
        for (piece, bytes) in self.framer.finish() {
            self.on_piece(piece, &bytes, now, &mut emit);
        }
    }

    /// Time passed: the command on the wire may have missed its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.prompt_overdue(now);
        let Some(ex) = self.current.take_if(|c| now >= c.deadline) else {
            return;
        };
        self.abandon(ex, now);
        self.start_next(now);
    }

    /// The `> ` awaited has not come within [`Timeouts::prompt`]: line damage may have hit it
    /// (spec §10.7) while the module waits for the data. Writing the data completes the publish
    /// then; if instead the command itself was lost, the data joins the module's next command
    /// line, which a module ignores because it does not start with `AT`. Data that could make
    /// such a line (starting with `AT`, or holding CR or LF) is never written blind: the command
    /// waits for its deadline.
    fn prompt_overdue(&mut self, now: Instant) {
        if self.replay {
            return;
        }
        let Some(ex) = self.current.as_mut() else {
            return;
        };
        // A command past its own deadline is abandoned instead (its data never written).
        if ex.phase != Phase::Prompt
            || ex.prompt_deadline.is_none_or(|t| now < t)
            || now >= ex.deadline
        {
            return;
        }
        ex.prompt_deadline = None;
        let Some(data) = ex.data.as_ref() else {
            return;
        };
        let commandlike = data.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
            || data.iter().any(|&b| b == b'\r' || b == b'\n');
        if commandlike {
            tracing::warn!(command = %ex.name(), "no data prompt; data that could read as a command is not written blind");
            return;
        }
        tracing::warn!(command = %ex.name(), "no data prompt in time (line damage?): writing the data");
        self.stats.prompts_damaged += 1;
        let hook = self.framer.hook();
        ex.phase = Phase::Final;
        ex.blind = true;
        if let Some(data) = ex.data.take() {
            if ex.echo_seen {
                ex.arm_data_echo(hook, &data);
            }
            self.tx.push_data(ex.serial, &data);
        }
    }

    /// Replaying a capture: the host wrote `command` now. Puts it on the wire as
    /// [`submit`](Self::submit) followed by [`poll_transmit`](Self::poll_transmit) would, except
    /// that the caller, not the link, chose the moment, and that the link holds no data for it:
    /// after its [`Output::Prompt`], tell the link what the host wrote with
    /// [`observe_data`](Self::observe_data). The echo expected is the command's encoding
    /// ([`Command::to_bytes`]), matched ASCII case-insensitively.
    ///
    /// From the first `observe` on, the link writes nothing by itself (no queued command, no
    /// marker: the capture holds the host's writes); do not mix it with `submit`. A command still
    /// on the wire is one the host gave up on: it completes with [`CommandError::Timeout`] (via
    /// [`poll_event`](Self::poll_event)) and becomes a ghost whose late answer is consumed
    /// ([`Output::Late`]), as after [`handle_timeout`](Self::handle_timeout). While ghosts
    /// remain, a command that is a free marker (see the module docs) resynchronises as one. After
    /// [`close`](Self::close) the command is ignored.
    pub fn observe(&mut self, command: Command, now: Instant) -> Token {
        self.observe_as(command, false, now)
    }

    /// Like [`observe`](Self::observe), for a capture that shows the command only by its echo
    /// (raw module output with ATE1): the echo was already handed over (as an [`Output::Urc`],
    /// the link not knowing the command yet), so none is expected, and the data written after its
    /// prompt is echoed ([`observe_data`](Self::observe_data)).
    pub fn observe_echoed(&mut self, command: Command, now: Instant) -> Token {
        self.observe_as(command, true, now)
    }

    /// Replaying a capture: the host wrote `data` after the [`Output::Prompt`] of the command on
    /// the wire. `data` need not have the announced length (a capture may hold a placeholder):
    /// the command's echo having been seen, the link then expects the echo of exactly these bytes,
    /// as it would after writing them. For [`DataPhase::PromptCtrlZ`] `data` is what the host
    /// wrote, with or without the Ctrl-Z (or ESC) that ended it (captures differ). Returns
    /// `false`, doing nothing, when no observed command waits for its data.
    pub fn observe_data(&mut self, data: &[u8]) -> bool {
        let hook = self.framer.hook();
        let Some(ex) = self.current.as_mut().filter(|ex| ex.data_unobserved) else {
            return false;
        };
        ex.data_unobserved = false;
        if ex.echo_seen {
            ex.arm_data_echo(hook, data);
        }
        true
    }

    fn observe_as(&mut self, command: Command, echoed: bool, now: Instant) -> Token {
        self.replay = true;
        let token = Token(self.next_token);
        self.next_token += 1;
        if self.closed {
            return token;
        }
        if let Some(ex) = self.current.take() {
            self.abandon(ex, now);
        }
        let marker = if self.ghosts.is_empty() {
            None
        } else {
            self.free_markers()
                .find(|(_, c)| *c == command)
                .map(|(m, _)| m)
        };
        let wait = match marker {
            Some(_) => self.config.timeouts.other,
            None => self.config.timeouts.for_kind(command.kind().0),
        };
        let mut ex = self.exchange(command, None, Some(token), marker, wait, now);
        ex.echo_seen = echoed;
        self.current = Some(ex);
        token
    }

    /// Gives up on `ex` (its deadline passed, or a replayed host wrote past it): it completes with
    /// a timeout and becomes a ghost.
    fn abandon(&mut self, ex: Exchange, now: Instant) {
        if let Some(token) = ex.token {
            self.events.push_back(LinkEvent::Completed {
                token,
                result: Err(CommandError::Timeout {
                    command: ex.name(),
                    waited: now.saturating_duration_since(ex.started),
                }),
            });
        }
        tracing::debug!(command = %ex.name(), "timed out; resynchronising");
        if self
            .collected
            .as_ref()
            .is_some_and(|(t, _)| Some(*t) == ex.token)
        {
            self.collected = None;
        }
        self.ghosts.push_back(ex);
        if !self.stats.heard && self.ghosts.len() > MAX_SILENT_GHOSTS {
            self.ghosts.pop_front();
        }
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.current.as_ref().map(|c| match c.prompt_deadline {
            Some(p) if c.phase == Phase::Prompt && !self.replay => p.min(c.deadline),
            _ => c.deadline,
        })
    }

    /// Bytes to write to the port, in order: the next command line or data phase (or what is
    /// left of it after [`poll_transmit_into`](Self::poll_transmit_into)) as an owned buffer.
    /// Convenient for tests and scripts; a driver uses `poll_transmit_into`, which allocates
    /// nothing.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_run()
    }

    /// Copies bytes to write to the port into `buf`, in order, as many as fit; returns how many
    /// (0: nothing to write). The link encodes commands into one reused buffer, so this path
    /// allocates nothing once that buffer has grown to the largest command.
    pub fn poll_transmit_into(&mut self, buf: &mut [u8]) -> usize {
        self.tx.read(buf)
    }

    /// Whether bytes are waiting for [`poll_transmit`](Self::poll_transmit).
    pub fn wants_transmit(&self) -> bool {
        !self.tx.is_empty()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The port is gone: every queued and in-flight command completes with
    /// [`CommandError::Closed`]. Later submissions complete with it at once; later input is
    /// ignored.
    pub fn close(&mut self, _now: Instant) {
        self.closed = true;
        self.tx.clear();
        self.ghosts.clear();
        self.collected = None;
        if let Some(ex) = self.current.take()
            && let Some(token) = ex.token
        {
            self.events.push_back(LinkEvent::Completed {
                token,
                result: Err(CommandError::Closed { command: ex.name() }),
            });
        }
        while let Some(q) = self.queue.pop_front() {
            self.events.push_back(LinkEvent::Completed {
                token: q.token,
                result: Err(CommandError::Closed {
                    command: q.command.name().to_string(),
                }),
            });
        }
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Sets how one client's `+QMTRECV` lines carry their payload length (the framer's
    /// [`RecvHook`]; default [`LenMode::On`] for every client). Takes effect from the next line.
    pub fn set_recv_len(&mut self, client_idx: ClientIdx, mode: LenMode) {
        self.framer.hook_mut().set(client_idx, mode);
    }

    /// The user command on the wire, if any (not a marker).
    pub fn in_flight(&self) -> Option<Token> {
        self.current.as_ref().and_then(|c| c.token)
    }

    /// How many commands wait behind the one on the wire.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether the link is resynchronising after a timeout (see the module docs): user commands
    /// wait until the module has answered a marker.
    pub fn resyncing(&self) -> bool {
        !self.ghosts.is_empty() || self.current.as_ref().is_some_and(Exchange::is_marker)
    }

    // --------------------------------------------------------------------------------------------

    /// Puts the next command on the wire if the wire is free: a marker while ghosts remain,
    /// otherwise the next queued command.
    fn start_next(&mut self, now: Instant) {
        if self.closed || self.replay || self.current.is_some() {
            return;
        }
        if !self.ghosts.is_empty() && self.stats.heard {
            match self.free_marker() {
                Some((marker, command)) => {
                    let wait = self.config.timeouts.other;
                    self.start(command, None, None, Some(marker), wait, now);
                }
                None => {
                    // Every marker is outstanding: wait for an answer, `RDY` or `close`.
                    tracing::warn!(
                        ghosts = self.ghosts.len(),
                        "the module answered none of the markers; waiting"
                    );
                }
            }
            return;
        }
        if let Some(q) = self.queue.pop_front() {
            let wait = self.config.timeouts.for_kind(q.command.kind().0);
            self.start(q.command, q.data, Some(q.token), None, wait, now);
        }
    }

    fn start(
        &mut self,
        command: Command,
        data: Option<Vec<u8>>,
        token: Option<Token>,
        marker: Option<Marker>,
        wait: Duration,
        now: Instant,
    ) {
        let ex = self.exchange(command, data, token, marker, wait, now);
        self.tx.push_command(ex.serial, &ex.command);
        self.current = Some(ex);
    }

    /// A new exchange for `command`, not yet on the wire, and the bytes that put it there.
    fn exchange(
        &mut self,
        command: Command,
        data: Option<Vec<u8>>,
        token: Option<Token>,
        marker: Option<Marker>,
        wait: Duration,
        now: Instant,
    ) -> Exchange {
        let serial = self.next_serial;
        self.next_serial += 1;
        let data_phase: Option<DataPhase> = command.data_phase();
        let phase = match data_phase {
            Some(p) if p.prompted() => Phase::Prompt,
            Some(_) => Phase::Connect,
            None => Phase::Final,
        };
        let (kind, form) = command.kind();
        Exchange {
            serial,
            token,
            marker,
            kind,
            form,
            name: command.name(),
            info_client: command.info_client(),
            command,
            data,
            terminator: data_phase.and_then(|p| p.terminator()),
            terminator_echo: false,
            phase,
            echo_seen: false,
            data_unobserved: false,
            data_echo: VecDeque::new(),
            info: 0,
            started: now,
            deadline: now.checked_add(wait).unwrap_or(now),
            prompt_deadline: (phase == Phase::Prompt)
                .then(|| now.checked_add(self.config.timeouts.prompt))
                .flatten(),
            blind: false,
        }
    }

    /// A marker whose answer no ghost can produce: not outstanding itself, and of another kind
    /// than the abandoned user command.
    fn free_marker(&self) -> Option<(Marker, Command)> {
        self.free_markers().next()
    }

    /// Every free marker (see [`free_marker`](Self::free_marker)), in order of preference.
    fn free_markers(&self) -> impl Iterator<Item = (Marker, Command)> + '_ {
        MARKERS
            .iter()
            .copied()
            .filter(|m| {
                !self.ghosts.iter().any(|g| match g.marker {
                    Some(gm) => gm == *m,
                    None => g.kind == m.kind(),
                })
            })
            .filter_map(|m| Some((m, m.command()?)))
    }

    /// The exchanges whose answers are still to come, in the order the module answers them.
    fn pending_mut(&mut self) -> impl Iterator<Item = &mut Exchange> {
        self.ghosts.iter_mut().chain(self.current.as_mut())
    }

    /// The exchange the module is answering now: the oldest ghost, else the command on the wire.
    fn head_mut(&mut self) -> Option<&mut Exchange> {
        match self.ghosts.front_mut() {
            Some(g) => Some(g),
            None => self.current.as_mut(),
        }
    }

    fn urc(&mut self, typed: ModuleLine<'_>, line: &[u8], emit: &mut impl FnMut(Output<'_>)) {
        if matches!(typed, ModuleLine::Unknown(_)) {
            self.stats.unknown += 1;
        }
        emit(Output::Urc { typed, line });
    }

    /// Drops `piece` if it is the next expected piece of a data echo.
    fn data_echo(&mut self, piece: &Piece) -> bool {
        for ex in self.pending_mut() {
            if ex.data_echo.front() == Some(piece) {
                ex.data_echo.pop_front();
                return true;
            }
        }
        false
    }

    /// Drops the line if it is the next expected piece of a data echo (or the echo of the
    /// terminator: with the data's last line, or alone after it).
    fn data_echo_line(&mut self, line: &[u8]) -> bool {
        for ex in self.pending_mut() {
            let terminated = ex
                .terminator
                .filter(|_| ex.terminator_echo)
                .and_then(|t| line.strip_suffix(&[t]));
            match ex.data_echo.front() {
                Some(Piece::Line(l)) if l.as_slice() == line => {
                    ex.data_echo.pop_front();
                    return true;
                }
                Some(Piece::Line(l)) if ex.data_echo.len() == 1 && terminated == Some(l) => {
                    ex.data_echo.pop_front();
                    ex.terminator_echo = false;
                    return true;
                }
                None if terminated == Some(&[]) => {
                    ex.terminator_echo = false;
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    fn on_piece(
        &mut self,
        piece: Piece,
        line: &[u8],
        now: Instant,
        emit: &mut impl FnMut(Output<'_>),
    ) {
        match piece {
            Piece::Overflow { len } => {
                tracing::debug!(len, "over-long line discarded");
                self.stats.overflows += 1;
                // An expected piece of a data echo is passed over; the overflow is reported
                // either way.
                self.data_echo(&Piece::Overflow { len });
                emit(Output::Overflow { len });
            }
            Piece::Prompt => {
                if self.data_echo(&Piece::Prompt) {
                    self.stats.echoes += 1;
                    emit(Output::Echo { line: b"> " });
                } else if !self.invite(Phase::Prompt, ModuleLine::Prompt, b"> ", emit)
                    && !self.late_prompt(b"> ", emit)
                {
                    self.urc(ModuleLine::Prompt, b"> ", emit);
                }
            }
            Piece::Line(_) => self.on_line(line, now, emit),
        }
    }

    /// A `> ` after the data was written without it ([`Timeouts::prompt`]): the module was slow,
    /// not the line. Consumed (handed over as [`Output::Late`]), once.
    fn late_prompt(&mut self, line: &[u8], emit: &mut impl FnMut(Output<'_>)) -> bool {
        let Some(head) = self.head_mut().filter(|h| h.blind) else {
            return false;
        };
        head.blind = false;
        emit(Output::Late {
            typed: ModuleLine::Prompt,
            line,
        });
        true
    }

    /// A `> ` or `CONNECT` arrived: the data phase of the exchange being answered, if it waits for
    /// that. Returns whether it did (and handed the line over).
    fn invite(
        &mut self,
        waiting: Phase,
        typed: ModuleLine<'_>,
        line: &[u8],
        emit: &mut impl FnMut(Output<'_>),
    ) -> bool {
        let hook = self.framer.hook();
        let is_ghost = !self.ghosts.is_empty();
        let Some(head) = self.head_mut() else {
            return false;
        };
        if head.phase != waiting {
            return false;
        }
        head.phase = Phase::Final;
        if is_ghost {
            // Never written after a timeout (module docs: the marker may be taken as data).
            tracing::debug!(command = %head.name(), "late data prompt of an abandoned command");
            head.data = None;
            emit(Output::Late { typed, line });
            return true;
        }
        let Some(token) = head.token else {
            // Markers have no data phase; kept total all the same.
            emit(Output::Resync { typed, line });
            return true;
        };
        match head.data.take() {
            // Replaying: the host's data comes by `observe_data`.
            None => head.data_unobserved = true,
            Some(data) => {
                if head.echo_seen {
                    head.arm_data_echo(hook, &data);
                }
                let serial = head.serial;
                self.tx.push_data(serial, &data);
            }
        }
        emit(Output::Prompt { token, line });
        true
    }

    fn on_line(&mut self, bytes: &[u8], now: Instant, emit: &mut impl FnMut(Output<'_>)) {
        self.stats.lines += 1;
        // Echo of a command written (the first line equal to its text). Every command line
        // starts with `AT`, so other lines cost no encoding.
        if bytes
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
        {
            let mut scratch = core::mem::take(&mut self.scratch);
            let echo = self.pending_mut().find(|ex| {
                !ex.echo_seen && {
                    scratch.clear();
                    ex.command.encode(&mut scratch);
                    scratch.pop();
                    bytes.eq_ignore_ascii_case(&scratch)
                }
            });
            let seen = echo.is_some_and(|ex| {
                ex.echo_seen = true;
                true
            });
            self.scratch = scratch;
            if seen {
                self.stats.echoes += 1;
                emit(Output::Echo { line: bytes });
                return;
            }
        }
        if self.data_echo_line(bytes) {
            self.stats.echoes += 1;
            emit(Output::Echo { line: bytes });
            return;
        }
        // The one context-free parse of the line; classification below reuses it.
        self.stats.parses += 1;
        let typed = ModuleLine::parse(bytes);
        if let Some(d) = self.damage_of(&typed, bytes) {
            return self.on_damaged(d, bytes, now, emit);
        }
        match typed {
            ModuleLine::Final(code) => self.on_final(code, bytes, now, emit),
            ModuleLine::Urc(Urc::Rdy) => self.on_rdy(bytes, now, emit),
            ModuleLine::Connect
                if self.invite(Phase::Connect, ModuleLine::Connect, bytes, emit) => {}
            // No module line starts with `>`: while a `> ` is awaited, this is it, damaged
            // (`>"` for `> `, spec §10.7). Without it the module would wait for the data.
            ModuleLine::Unknown(l)
                if l.first() == Some(&b'>')
                    && (self.invite(Phase::Prompt, ModuleLine::Prompt, bytes, emit)
                        || self.late_prompt(bytes, emit)) =>
            {
                self.stats.prompts_damaged += 1;
                tracing::warn!(len = l.len(), "a damaged data prompt (line damage)");
            }
            ModuleLine::Unknown(_) => match repair_head(bytes) {
                // A result line whose head took one byte of damage (spec §10.7): its fields are
                // whole, and losing it would leave its operation waiting (120 s for OPEN) or, for
                // a QoS 2 publish cut off by a restart after it, sent again as a duplicate.
                Some(fixed) => {
                    self.stats.heads_repaired += 1;
                    self.stats.parses += 1;
                    tracing::warn!(
                        line = %fixed.escape_ascii(),
                        "a result line with a damaged head, repaired"
                    );
                    match ModuleLine::parse(&fixed) {
                        ModuleLine::Urc(Urc::Rdy) => self.on_rdy(&fixed, now, emit),
                        typed => self.on_other(typed, &fixed, emit),
                    }
                }
                None => self.on_other(typed, bytes, emit),
            },
            typed => self.on_other(typed, bytes, emit),
        }
    }

    /// Whether `typed` is a damaged `+QMTRECV` (spec §10.7): returns where the module's line
    /// really ended (its first CR LF, or the end) and what its head still says. Damaged is:
    /// - for a client whose lines carry lengths, a payload that does not match its length, or a
    ///   line without a length (the length field itself was hit);
    /// - the unquoted reading of a payload that starts with `"`, once that client's module has
    ///   sent a quoted one (`5,"hel"` is `5,"hello"` with two bytes lost);
    /// - a line that starts `+QMTRECV:` and fits no shape.
    fn damage_of<'b>(&mut self, typed: &ModuleLine<'b>, bytes: &'b [u8]) -> Option<Damage<'b>> {
        let end = crlf(bytes).unwrap_or(bytes.len());
        let r = match typed {
            ModuleLine::Urc(Urc::Recv(r)) => r,
            ModuleLine::Unknown(l) if recv_rest(l).is_some() => {
                return Some(Damage {
                    end,
                    client_idx: damaged_client(l),
                    msgid: None,
                    topic: None,
                });
            }
            _ => return None,
        };
        let seen = &mut self.quoted_seen[usize::from(r.client_idx.get())];
        let hook = self.framer.hook();
        let mode = hook.mode(r.client_idx);
        if mode == LenMode::Off || r.form == PayloadForm::Split {
            // Without lengths nothing can be checked; the split form's data run is cut by its
            // own count.
            return None;
        }
        let counted = matches!(
            at_codec::PayloadHook::counted(&hook, bytes),
            at_codec::Counted::Inline(_)
        );
        let matches = r.payload_len == Some(r.payload.len());
        let requoted = r.form == PayloadForm::Unquoted && r.payload.first() == Some(&b'"') && *seen;
        if r.form == PayloadForm::Quoted && matches {
            *seen = true;
        }
        // `LenMode::On` may also mean "not known" (a replayed capture): only a client known to
        // send lengths (`Split`, msg_len_enable 1) makes a line without one damaged.
        let unlengthed = r.payload_len.is_none() && mode == LenMode::Split;
        if !(counted && !matches || requoted || unlengthed) {
            return None;
        }
        Some(Damage {
            end,
            client_idx: Some(r.client_idx),
            msgid: Some(r.msgid),
            topic: Some(r.topic),
        })
    }

    /// Reports a damaged `+QMTRECV` (its bytes up to `d.end`), then frames again what follows:
    /// the lines its miscounted payload swallowed.
    fn on_damaged(
        &mut self,
        d: Damage<'_>,
        bytes: &[u8],
        now: Instant,
        emit: &mut impl FnMut(Output<'_>),
    ) {
        self.stats.damaged += 1;
        tracing::warn!(
            client = ?d.client_idx.map(ClientIdx::get),
            msgid = ?d.msgid.map(MsgId::get),
            len = d.end,
            "a damaged +QMTRECV (line damage): message dropped"
        );
        emit(Output::Damaged {
            client_idx: d.client_idx,
            msgid: d.msgid,
            topic: d.topic,
            line: &bytes[..d.end],
        });
        let mut rest = bytes.get(d.end + 2..).unwrap_or_default();
        while !rest.is_empty() {
            let cut = crlf(rest).unwrap_or(rest.len());
            let (line, after) = rest.split_at(cut);
            if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"+QMTRECV:") {
                // A message inside a run-on may be a real one the damaged line swallowed, or a
                // payload's own bytes that look like one: never delivered, reported instead.
                self.stats.damaged += 1;
                let (client_idx, msgid, topic) = match ModuleLine::parse(line) {
                    ModuleLine::Urc(Urc::Recv(r)) => {
                        (Some(r.client_idx), Some(r.msgid), Some(r.topic))
                    }
                    _ => (damaged_client(line), None, None),
                };
                emit(Output::Damaged {
                    client_idx,
                    msgid,
                    topic,
                    line,
                });
            } else if !line.is_empty() {
                self.on_line(line, now, emit);
            }
            rest = after.get(2..).unwrap_or_default();
        }
    }

    /// A line that is neither echo, final code, `RDY`, nor an awaited `CONNECT`.
    fn on_other(&mut self, typed: ModuleLine<'_>, bytes: &[u8], emit: &mut impl FnMut(Output<'_>)) {
        self.stats.heard = true;
        // A marker's answer: every exchange before it has been answered (or never arrived).
        let has_marker = self.pending_mut().any(|ex| ex.marker.is_some());
        if has_marker {
            let marker_at = self
                .pending_mut()
                .position(|ex| ex.marker.is_some_and(|m| m.answers(bytes)));
            self.stats.parses += 1;
            if let Some(at) = marker_at {
                let retired = at.min(self.ghosts.len());
                self.ghosts.drain(..retired);
                emit(Output::Resync { typed, line: bytes });
                return;
            }
        }
        let is_ghost = !self.ghosts.is_empty();
        if let Some(head) = self.head_mut() {
            let (kind, form, client) = (head.kind, head.form, head.info_client);
            let retyped = matches!(
                (kind, form, &typed),
                (CommandKind::QmtConn, Form::Read, _)
                    | (
                        CommandKind::Creg | CommandKind::Cgreg | CommandKind::Cereg,
                        Form::Read,
                        ModuleLine::Unknown(_)
                    )
            );
            if retyped {
                // The read answers whose bytes are a URC shape (`+QMTCONN`) or no context-free
                // line at all (`+CEREG: <n>,<stat>`): typed for the command again.
                self.stats.parses += 1;
            }
            let info = Info::from_parsed(kind, form, typed.clone(), bytes)
                .filter(|info| info.is_for(client));
            if let (Some(info), Some(head)) = (info, self.head_mut()) {
                if is_ghost {
                    tracing::debug!(command = %head.name(), "late information line consumed");
                    emit(Output::Late {
                        typed: ModuleLine::Info(info),
                        line: bytes,
                    });
                    return;
                }
                if head.info < MAX_INFO_LINES {
                    head.info += 1;
                    match head.token {
                        Some(token) => emit(Output::Info {
                            token,
                            info,
                            line: bytes,
                        }),
                        None => emit(Output::Resync {
                            typed: ModuleLine::Info(info),
                            line: bytes,
                        }),
                    }
                    return;
                }
            }
        }
        self.urc(typed, bytes, emit);
    }

    fn on_final(
        &mut self,
        code: FinalCode<'_>,
        bytes: &[u8],
        now: Instant,
        emit: &mut impl FnMut(Output<'_>),
    ) {
        self.stats.heard = true;
        if let Some(ghost) = self.ghosts.pop_front() {
            self.stats.late_finals += 1;
            self.tx.withdraw_data(ghost.serial);
            tracing::debug!(command = %ghost.name(), "late final code consumed");
            emit(Output::Late {
                typed: ModuleLine::Final(code),
                line: bytes,
            });
            self.start_next(now);
            return;
        }
        let Some(ex) = self.current.take() else {
            self.urc(ModuleLine::Final(code), bytes, emit);
            return;
        };
        // Data not yet written when the module already ended the command must not be written
        // any more: the module would read it as commands.
        self.tx.withdraw_data(ex.serial);
        // The next command goes out before the completion is handed on, as it always did: the
        // owner learns of the completion with the wire already busy again.
        self.start_next(now);
        match ex.token {
            Some(token) => emit(Output::Final {
                token,
                code,
                line: bytes,
            }),
            None => emit(Output::Resync {
                typed: ModuleLine::Final(code),
                line: bytes,
            }),
        }
    }

    fn on_rdy(&mut self, bytes: &[u8], now: Instant, emit: &mut impl FnMut(Output<'_>)) {
        self.stats.restarts += 1;
        self.stats.heard = true;
        // Commands written before the restart are lost; commands the module read after it will
        // be answered (after `RDY`). Which is which cannot be known, so the command on the wire
        // becomes a ghost like after a timeout, and a marker resynchronises.
        if let Some(ex) = self.current.take() {
            if let Some(token) = ex.token {
                emit(Output::Failed {
                    token,
                    error: CommandError::ModuleRestarted { command: ex.name() },
                });
            }
            self.ghosts.push_back(ex);
        }
        if !self.ghosts.is_empty() && self.free_marker().is_none() {
            // Every marker is outstanding and the module restarted: the only way out. These
            // markers went out at least `Timeouts::other` before (nothing is written while all
            // are outstanding), so the restart voided them unless the module took that long
            // to boot and still read them.
            tracing::warn!("module restarted with every marker outstanding; forgetting them");
            self.ghosts.clear();
            self.tx.clear();
        }
        self.urc(ModuleLine::Urc(Urc::Rdy), bytes, emit);
        self.start_next(now);
    }
}

/// [`Link::feed`]'s adapter: an [`Output`] as owned [`LinkEvent`]s, a response's information lines
/// collected until its final code.
fn own(
    out: Output<'_>,
    events: &mut VecDeque<LinkEvent>,
    collected: &mut Option<(Token, Vec<Line>)>,
) {
    match out {
        Output::Info { token, line, .. } => match collected {
            Some((t, lines)) if *t == token => lines.push(Line(line.to_vec())),
            _ => *collected = Some((token, vec![Line(line.to_vec())])),
        },
        Output::Final { token, line, .. } => {
            let info = match collected.take() {
                Some((t, lines)) if t == token => lines,
                _ => Vec::new(),
            };
            events.push_back(LinkEvent::Completed {
                token,
                result: Ok(Response {
                    info,
                    final_code: Line(line.to_vec()),
                }),
            });
        }
        Output::Failed { token, error } => {
            if collected.as_ref().is_some_and(|(t, _)| *t == token) {
                *collected = None;
            }
            events.push_back(LinkEvent::Completed {
                token,
                result: Err(error),
            });
        }
        Output::Urc { line, .. } => events.push_back(LinkEvent::Urc(Line(line.to_vec()))),
        Output::Damaged { line, .. } => events.push_back(LinkEvent::Damaged(Line(line.to_vec()))),
        // Consumed by the link: no event, as before these were handed over.
        Output::Echo { .. }
        | Output::Prompt { .. }
        | Output::Late { .. }
        | Output::Resync { .. }
        | Output::Overflow { .. } => {}
    }
}

/// Before the module has answered anything, timed-out commands are kept at most this many: a
/// port where nothing answers is probed for its whole boot allowance (spec §10.1) and each probe
/// would otherwise be kept.
const MAX_SILENT_GHOSTS: usize = 64;

/// Where the first CR LF of `bytes` starts.
fn crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// What a damaged `+QMTRECV` still says ([`Link::damage_of`]).
struct Damage<'a> {
    /// Where the module's line ended in the framed bytes.
    end: usize,
    client_idx: Option<ClientIdx>,
    msgid: Option<MsgId>,
    topic: Option<&'a str>,
}

/// The heads of the two-phase results and `+QMTSTAT`: a line one byte away from one of them is
/// repaired ([`repair_head`]).
const RESULT_HEADS: [&[u8]; 9] = [
    b"+QMTOPEN:",
    b"+QMTCLOSE:",
    b"+QMTCONN:",
    b"+QMTDISC:",
    b"+QMTSUB:",
    b"+QMTUNS:",
    b"+QMTPUBEX:",
    b"+QMTSTAT:",
    b"+QMTPING:",
];

/// The publish result head of sibling modules (`+QMTPUB:`, spec §6 variation 4; the result of
/// their `AT+QMTPUB`): tried only when no head of [`RESULT_HEADS`] fits, so that a damaged
/// `+QMTSUB:` (`+QMTUB:`, one byte from both) is still read as the SUB result of EC200x.
const SIBLING_HEADS: [&[u8]; 1] = [b"+QMTPUB:"];

/// A line that fits no shape, with its head put right when it is one byte away from exactly one
/// of [`RESULT_HEADS`] (else of [`SIBLING_HEADS`]) and the result then parses as that line
/// (`+QMTPU2BEX: 0,999,0`, `+QMTOPN: 1,4`). At a damage rate where one line rarely takes two hits,
/// the fields after an intact comma are the module's own.
fn repair_head(line: &[u8]) -> Option<Vec<u8>> {
    repair_head_with(line, &RESULT_HEADS).or_else(|| repair_head_with(line, &SIBLING_HEADS))
}

/// [`repair_head`] against one list of heads.
fn repair_head_with(line: &[u8], heads: &[&[u8]]) -> Option<Vec<u8>> {
    let mut found: Option<Vec<u8>> = None;
    for &head in heads {
        for k in head.len() - 1..=head.len() + 1 {
            let (Some(h), Some(rest)) = (line.get(..k), line.get(k..)) else {
                continue;
            };
            if !one_edit(h, head) {
                continue;
            }
            let mut fixed = head.to_vec();
            fixed.extend_from_slice(rest);
            if matches!(ModuleLine::parse(&fixed), ModuleLine::Unknown(_)) {
                continue;
            }
            match &found {
                // Two readings of one damage (`+QMTSTAT 0,1`: a colon changed, or dropped
                // before the space) are one line if they type the same.
                Some(f) if ModuleLine::parse(f) != ModuleLine::parse(&fixed) => return None,
                Some(_) => {}
                None => found = Some(fixed),
            }
        }
    }
    found
}

/// What follows the `+QMTRECV:` head of a line that fits no shape, if it is one: exact, or with one
/// byte of the head dropped, changed or added (`+QMTRCV:`, `+QMT\x15RECV:`), when the rest
/// carries a quoted topic, so a message, not a slot announcement (`<idx>,<recv_id>`, which the
/// garbled-line rescan finds again).
fn recv_rest(line: &[u8]) -> Option<&[u8]> {
    const HEAD: &[u8] = b"+QMTRECV:";
    if let Some(rest) = line.strip_prefix(HEAD) {
        return Some(rest);
    }
    (HEAD.len() - 1..=HEAD.len() + 1)
        .filter_map(|k| Some((line.get(..k)?, line.get(k..)?)))
        .find(|(head, rest)| one_edit(head, HEAD) && rest.contains(&b'"'))
        .map(|(_, rest)| rest)
}

/// Whether `a` is `b` with at most one byte dropped, changed or added.
fn one_edit(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        short[prefix..].len() <= 1 || short[prefix + 1..] == long[prefix + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// The client index of a `+QMTRECV: <idx>,…` line that fits no shape, if its first field is one.
fn damaged_client(line: &[u8]) -> Option<ClientIdx> {
    let rest = recv_rest(line)?;
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    let n: i64 = core::str::from_utf8(&digits).ok()?.parse().ok()?;
    ClientIdx::new(n).ok()
}
