//! Replay: the module side of a field log, played to a live host (`qmt sim --replay LOG`), so that
//! a maintainer can run a host against the exact behaviour of a user's module.
//!
//! [`Replay`] is a sans-IO core with the call contract of [`crate::module::Module`]: the driver
//! feeds it host bytes ([`Replay::feed`]) and time ([`Replay::handle_timeout`]), and drains it of
//! bytes for the host ([`Replay::poll_output`]) and its next deadline ([`Replay::poll_timeout`]).
//! It owns no clock, thread or socket; every call takes `now`, which must not go backwards. There
//! is no network: [`crate::Sim`] runs it on the pty instead of the simulated module when
//! [`crate::SimConfig::replay`] is set.
//!
//! It is built from a [`Script`]: the log's exchanges (a host command and what the module sent
//! after it, as timed chunks) and the URCs before the first command or between exchanges.
//!
//! # Rules
//!
//! - **Matching.** Host and log commands are both parsed by `qmt_proto::Command::parse` (`AT`
//!   and names in any case; spec §6 variation 5). A host command takes the first unused exchange
//!   of the same kind (command, form, and for `AT+QMTCFG`/`AT+QSSLCFG` the setting, query or set)
//!   whose arguments are equal; failing that, the first unused exchange of that kind. So host
//!   names, client ids, passwords and other secrets need not match the log's. Lines that do not
//!   parse are keyed by their name (up to `=` or `?`) and form, and compared as text.
//! - **Repeated commands** (a polled `AT+CSQ`): once the log's exchanges of a kind are used up,
//!   the last one used is played again, up to its final result code (or the command's own
//!   two-phase result when that comes later). The URCs that followed it in the log were events
//!   of their time and are not played twice.
//! - **The clients' state** (`AT+QMTOPEN?`, `AT+QMTCONN?`, `AT+QMTRECV?`): the log's answer
//!   describes the module after the log's `AT+QMTOPEN=` before it, so it is used only once the
//!   host has sent that open (or a later one). Before the host opened anything, such a read the
//!   log cannot answer gets `OK` alone, a module's answer with no client open (a host's start-up
//!   check, e.g. qmt-client's, is asked before the log's session began).
//! - **Basics** not in the log: `AT`, `ATE0`, `ATE1`, `AT&W`, `AT&W0`, `ATV1`, `ATQ0` and
//!   `AT+CMEE=<n>` answer `OK`.
//! - **Echo.** The log's echo is taken out of its answers and the host's own command (and data)
//!   bytes are echoed in its place: an exchange the log's module echoed is echoed. `ATE0`/`ATE1`
//!   from the host (answered from the log or as a basic) then rule, as on a real module: after
//!   the host's `ATE0` nothing is echoed, after `ATE1` everything is. Commands not answered from
//!   the log are echoed as the log's module last did (at the start: as it did the first command).
//! - **Data phases.** Where the log's host wrote data after a `> ` prompt or `CONNECT`, the replay
//!   reads the host's data, as many bytes as the host's command announces
//!   (`qmt_proto::Command::data_phase`), then plays the rest of the answer, its delays counted
//!   from the data.
//! - **Host values in answers** (`rewrite`): the command's two-phase result names the host's
//!   `msgid`; `+QMT…: <idx>` lines name the host's client index when the host uses another;
//!   `+QFUPL: <size>,<checksum>` is the host's data's when that differs from the log's.
//! - **Uncovered.** A command none of the above answers gets `ERROR`; it is counted and listed
//!   ([`Replay::uncovered`], secrets redacted) and logged with `tracing::warn!`.
//! - **Timing.** Each chunk goes out at its delay after the command (or the previous chunk, or
//!   the host's data), divided by the [`Speed`]: late results stay late, as in the log. URCs not
//!   tied to a command go out at their delay after the host command answered by the exchange
//!   before them in the log (those before the first exchange: after the start). Chunks of
//!   different exchanges interleave by time; one exchange's chunks keep their order. A delay is
//!   played at most [`MAX_DELAY`].
//! - **The log's module goes on while the host is quiet.** After the host is answered from an
//!   exchange, what the log's module sent *after their own answers* in the following exchanges
//!   the host has not used (a message that arrived while the log's host was publishing, a
//!   `+QMTSTAT`) is played on the log's pace as if those commands had come at once, never sooner
//!   than [`QUIET_AFTER`]; the host's next command stops it. So a host that only subscribes still
//!   gets the message the log's module received after a publish. What was played this way is not
//!   played again when that exchange is used.
//! - Host lines that do not start with `AT` are echoed (when echo is on) and otherwise ignored,
//!   as a real module's AT parser skips noise (so a host's data written blind, without a prompt,
//!   is not a command).

mod rewrite;
mod script;
mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use qmt_proto::Command;
use tracing::{debug, warn};

use crate::module::SerialSettings;
use crate::module::host_input::{Line, LineAssembler};
use rewrite::{Ids, Rewrite};
use table::{Cmd, Table};

pub use script::{Chunk, Exchange, Part, Script, ScriptError, Step, UNTIMED_URC_DELAY};

/// The longest delay played: a log's gap of days is not waited for.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How fast the log's delays are played: 2 plays them in half the time. Default 1.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Speed(f64);

impl Speed {
    /// The slowest speed accepted.
    pub const MIN: f64 = 0.001;
    /// The fastest speed accepted.
    pub const MAX: f64 = 1000.0;

    /// Checks the factor: finite, from [`Speed::MIN`] to [`Speed::MAX`].
    ///
    /// # Errors
    /// [`SpeedError`] outside that range (zero, negative, NaN, infinite).
    pub fn new(factor: f64) -> Result<Speed, SpeedError> {
        if factor.is_finite() && (Speed::MIN..=Speed::MAX).contains(&factor) {
            Ok(Speed(factor))
        } else {
            Err(SpeedError {
                given: factor.to_string(),
            })
        }
    }

    /// The factor.
    pub fn get(self) -> f64 {
        self.0
    }

    /// `delay` at this speed, at most [`MAX_DELAY`].
    fn scale(self, delay: Duration) -> Duration {
        Duration::try_from_secs_f64(delay.as_secs_f64() / self.0)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY)
    }
}

impl Default for Speed {
    fn default() -> Self {
        Speed(1.0)
    }
}

impl FromStr for Speed {
    type Err = SpeedError;

    fn from_str(s: &str) -> Result<Speed, SpeedError> {
        match s.trim().parse::<f64>() {
            Ok(f) => Speed::new(f),
            Err(_) => Err(SpeedError {
                given: s.to_owned(),
            }),
        }
    }
}

/// A replay speed that is not a number from [`Speed::MIN`] to [`Speed::MAX`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("replay speed {given}: expected a factor from 0.001 to 1000 (1 plays the log's timing)")]
pub struct SpeedError {
    /// What was given.
    pub given: String,
}

/// What [`crate::Sim`] replays: a script and its speed.
#[derive(Clone, Debug, Default)]
pub struct ReplayConfig {
    /// The log's module side.
    pub script: Script,
    /// How fast its delays are played.
    pub speed: Speed,
}

impl From<Script> for ReplayConfig {
    fn from(script: Script) -> ReplayConfig {
        ReplayConfig {
            script,
            speed: Speed::default(),
        }
    }
}

/// How the host's commands were answered so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Exchanges in the script.
    pub exchanges: usize,
    /// Exchanges played (each once).
    pub played: usize,
    /// Commands answered by playing a used exchange again.
    pub repeated: usize,
    /// Commands answered by a rule (basics, a client-state read before any open).
    pub defaults: usize,
    /// Commands the log does not cover, answered `ERROR`, as `qmt_proto::Command`'s `Display`
    /// shows them (secrets redacted), or only their name when they do not parse.
    pub uncovered: Vec<String>,
}

/// Bytes due at a time.
struct Out {
    bytes: Vec<u8>,
    /// The serial settings a final `OK` of `AT+IPR`/`AT+IFC` brings into force when it leaves.
    serial: Option<SerialSettings>,
}

/// An exchange waiting for the host's data.
struct DataWait {
    entry: usize,
    /// The part after the data.
    resume: usize,
    /// The parts this use plays.
    limit: usize,
    need: usize,
    got: Vec<u8>,
    rewrite: Rewrite,
    echo: bool,
    /// Whether the host's command is an upload (its answer then carries the host's checksum).
    upload: bool,
    serial: Option<(usize, SerialSettings)>,
}

/// How a host command is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// An unused exchange.
    Fresh(usize),
    /// A used exchange, again.
    Again(usize),
    /// `OK` by a rule.
    Ok,
    /// `ERROR`: the log does not cover it.
    Uncovered,
}

/// The replay core: see the [module docs](self) for its rules.
///
/// Call contract (as [`crate::module::Module`]): [`Replay::new`] once with the start instant,
/// then in any order [`Replay::feed`] with what the host wrote and [`Replay::handle_timeout`] when
/// [`Replay::poll_timeout`] has passed; after each call drain [`Replay::poll_output`] and ask
/// [`Replay::poll_timeout`] again. `now` never goes backwards.
pub struct Replay {
    table: Table,
    speed: Speed,
    /// Bytes waiting for their time, by (time, order of scheduling).
    queue: BTreeMap<(Instant, u64), Out>,
    seq: u64,
    out: Vec<u8>,
    input: LineAssembler,
    data: Option<DataWait>,
    /// The echo the host chose with `ATE0`/`ATE1`, once it disagreed with the log.
    echo_host: Option<bool>,
    /// The echo of the log's module as last seen.
    echo_seen: bool,
    /// The last `AT+QMTOPEN=` exchange the host used.
    opened: Option<usize>,
    /// The host's client index for each of the log's.
    clients: [u8; 6],
    serial: SerialSettings,
    uses: u64,
    stats: ReplayStats,
    /// The log's module going on while the host is quiet: what the following exchanges' module
    /// sent after their own answer (a message arriving, a `+QMTSTAT`), by (time, order), with
    /// the exchange it came from. Dropped when the host sends its next command.
    quiet: BTreeMap<(Instant, u64), (usize, Vec<u8>)>,
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("speed", &self.speed)
            .field("stats", &self.stats)
            .field("pending", &self.queue.len())
            .field("in_data_phase", &self.data.is_some())
            .finish()
    }
}

impl Replay {
    /// A replay of `config.script` starting at `now`: the URCs before the first command are
    /// scheduled from here.
    pub fn new(config: impl Into<ReplayConfig>, now: Instant) -> Replay {
        let config = config.into();
        let table = Table::new(config.script);
        let echo_seen = table.entries.first().is_none_or(|e| e.echoed);
        let mut r = Replay {
            stats: ReplayStats {
                exchanges: table.entries.len(),
                ..ReplayStats::default()
            },
            table,
            speed: config.speed,
            queue: BTreeMap::new(),
            seq: 0,
            out: Vec::new(),
            input: LineAssembler::default(),
            data: None,
            echo_host: None,
            echo_seen,
            opened: None,
            clients: [0, 1, 2, 3, 4, 5],
            serial: SerialSettings::default(),
            uses: 0,
            quiet: BTreeMap::new(),
        };
        let rewrite = Rewrite::clients(r.clients);
        for chunk in std::mem::take(&mut r.table.leading) {
            let at = r.after(now, chunk.delay);
            r.schedule(at, rewrite.apply(&chunk.bytes), None);
        }
        r.release(now);
        r
    }

    /// The same, on a line paced at `baud` (what [`crate::Sim`] does with
    /// [`crate::LineConfig::baud`]).
    pub fn with_baud(mut self, baud: u32) -> Replay {
        self.serial.baud = baud;
        self
    }

    /// Bytes the host wrote.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.release(now);
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(wait) = self.data.as_mut() {
                let need = wait.need.saturating_sub(wait.got.len());
                let (take, tail) = rest.split_at(need.min(rest.len()));
                wait.got.extend_from_slice(take);
                rest = tail;
                if wait.got.len() >= wait.need {
                    self.data_done(now);
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
        self.release(now);
    }

    /// Time passed: what is due goes out.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.release(now);
    }

    /// When the next bytes are due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let queued = self.queue.keys().next().map(|&(at, _)| at);
        let quiet = self.quiet.keys().next().map(|&(at, _)| at);
        match (queued, quiet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes for the host, if any are due.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The serial line's settings now: the line's, changed by an `AT+IPR` or `AT+IFC` whose
    /// `OK` has gone out.
    pub fn serial(&self) -> SerialSettings {
        self.serial
    }

    /// How the host's commands were answered so far.
    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// The commands the log did not cover (answered `ERROR`), secrets redacted.
    pub fn uncovered(&self) -> &[String] {
        &self.stats.uncovered
    }

    /// Whether the replay is reading the host's data after a prompt.
    pub fn in_data_phase(&self) -> bool {
        self.data.is_some()
    }

    // ---- answering -----------------------------------------------------------------------

    fn on_line(&mut self, line: Line, now: Instant) {
        if line.bytes.is_empty() {
            return;
        }
        if !script::starts_with_at(&line.bytes) {
            debug!(
                len = line.bytes.len(),
                "replay: a host line that is not a command, ignored"
            );
            self.echo_line(&line, now);
            return;
        }
        let host = Cmd::new(&line.bytes);
        // The host spoke: the log's timeline is anchored again at the exchange it gets.
        self.quiet.clear();
        match self.choose(&host) {
            Answer::Fresh(i) => {
                self.play(i, false, &host, line.terminator, now);
                self.go_on_quietly(i, now);
            }
            Answer::Again(i) => self.play(i, true, &host, line.terminator, now),
            Answer::Ok => {
                self.echo_line(&line, now);
                self.schedule(now, b"\r\nOK\r\n".to_vec(), None);
                self.stats.defaults += 1;
                if let Some(Command::Echo(on)) = host.cmd {
                    self.echo_host = Some(on);
                }
            }
            Answer::Uncovered => {
                self.echo_line(&line, now);
                self.schedule(now, b"\r\nERROR\r\n".to_vec(), None);
                let shown = script::shown(&line.bytes);
                warn!(command = %shown, "replay: the log has no answer for this command; answered ERROR");
                self.stats.uncovered.push(shown);
            }
        }
    }

    /// Which answer a host command gets (module docs, "Rules").
    fn choose(&self, host: &Cmd) -> Answer {
        let opened = self.opened;
        let reached = |a: Option<usize>| a.is_none_or(|a| opened.is_some_and(|o| o >= a));
        let same_kind = || {
            self.table
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.cmd.key == host.key)
        };
        let unused = || same_kind().filter(|(_, e)| !e.used);
        let eligible = || unused().filter(|(_, e)| reached(e.open_anchor));
        if let Some((i, _)) = eligible().find(|(_, e)| e.cmd.same_args(host)) {
            return Answer::Fresh(i);
        }
        if let Some((i, _)) = eligible().next() {
            return Answer::Fresh(i);
        }
        if let Some((i, _)) = same_kind()
            .filter(|(_, e)| e.used)
            .max_by_key(|(_, e)| e.last_use)
        {
            return Answer::Again(i);
        }
        if host.is_client_state_read() {
            if opened.is_none() {
                return Answer::Ok;
            }
            if let Some((i, _)) = unused().next() {
                return Answer::Fresh(i);
            }
        }
        if is_basic(host) {
            return Answer::Ok;
        }
        Answer::Uncovered
    }

    /// Plays exchange `i` for `host`: its echo, then its parts from the start (`again`: up to
    /// its end), then (first use only) the URCs that followed it.
    fn play(&mut self, i: usize, again: bool, host: &Cmd, terminator: u8, now: Instant) {
        self.uses += 1;
        let uses = self.uses;
        let entry = &mut self.table.entries[i];
        entry.used = true;
        entry.last_use = uses;
        let (log_echoed, echo_cr) = (entry.echoed, entry.echo_cr);
        let data_echoed = entry.data_echoed;
        let limit = if again || entry.quiet_played {
            entry.end
        } else {
            entry.parts.len()
        };
        let ok_at = entry.ok_at;
        let is_open = entry.cmd.is_open();
        let ids = match (entry.cmd.client(), entry.cmd.msgid(), host.msgid()) {
            (Some(log_idx), Some(log_msgid), Some(host_msgid)) if log_msgid != host_msgid => {
                Some(Ids {
                    prefixes: entry.cmd.result_prefixes(),
                    log_idx,
                    log_msgid,
                    host_msgid,
                })
            }
            _ => None,
        };
        let log_client = entry.cmd.client();
        let log_cmd = entry.cmd.cmd.clone();
        let urcs = if again || entry.quiet_played {
            Vec::new()
        } else {
            entry.urcs.clone()
        };

        if again {
            self.stats.repeated += 1;
        } else {
            self.stats.played += 1;
        }
        if is_open {
            self.opened = self.opened.max(Some(i));
        }
        if let (Some(log), Some(h)) = (log_client, host.client()) {
            if let Some(slot) = self.clients.get_mut(usize::from(log)) {
                *slot = h;
            }
        }

        // Echo: the log's style, unless the host chose otherwise with ATE.
        if self.echo_host.unwrap_or(log_echoed) {
            let mut echo = host.raw.clone();
            if !log_echoed {
                echo.push(terminator);
            } else if echo_cr {
                echo.push(b'\r');
            }
            self.schedule(now, echo, None);
        }
        if let Some(Command::Echo(on)) = host.cmd {
            let exact = matches!(log_cmd, Some(Command::Echo(l)) if l == on);
            if exact && self.echo_host.is_none() {
                self.echo_seen = on;
            } else {
                self.echo_host = Some(on);
            }
        } else {
            self.echo_seen = log_echoed;
        }

        let serial = ok_at.and_then(|k| self.serial_after(host).map(|s| (k, s)));
        let rewrite = Rewrite {
            clients: self.clients,
            ids,
            upload: None,
        };
        let echo_data = self.echo_host.unwrap_or(data_echoed);
        let upload = matches!(host.cmd, Some(Command::FileUpload(_)));
        let need = host.cmd.as_ref().and_then(Command::data_phase);
        self.play_parts(
            i,
            0,
            limit,
            now,
            rewrite,
            serial,
            need.and_then(|d| d.data_len()),
            (echo_data, upload),
        );
        let urc_rewrite = Rewrite::clients(self.clients);
        for chunk in urcs {
            let at = self.after(now, chunk.delay);
            self.schedule(at, urc_rewrite.apply(&chunk.bytes), None);
        }
    }

    /// Schedules parts `from..limit` of exchange `i` from `start`, until a data part: there the
    /// replay waits for the host's data (`need` bytes, or as many as the log's host wrote).
    #[allow(clippy::too_many_arguments)]
    fn play_parts(
        &mut self,
        i: usize,
        from: usize,
        limit: usize,
        start: Instant,
        rewrite: Rewrite,
        serial: Option<(usize, SerialSettings)>,
        need: Option<usize>,
        (echo, upload): (bool, bool),
    ) {
        let mut at = start;
        for k in from..limit {
            let (delay, bytes) = match self.table.entries[i].parts.get(k) {
                Some(Part::Module(c)) => (c.delay, rewrite.apply(&c.bytes)),
                Some(Part::HostData(log)) => {
                    self.data = Some(DataWait {
                        entry: i,
                        resume: k + 1,
                        limit,
                        need: need.unwrap_or(log.len()),
                        got: Vec::new(),
                        rewrite,
                        echo,
                        upload,
                        serial,
                    });
                    // Every byte after the prompt is data, even an LF after the command's CR.
                    self.input.forget_cr();
                    if need == Some(0) {
                        self.data_done(start);
                    }
                    return;
                }
                None => return,
            };
            at = self.after(at, delay);
            let change = serial.and_then(|(ok, s)| (ok == k).then_some(s));
            self.schedule(at, bytes, change);
        }
    }

    /// The host's data is in: its echo, then the rest of the answer.
    fn data_done(&mut self, now: Instant) {
        let Some(wait) = self.data.take() else {
            return;
        };
        let mut rewrite = wait.rewrite;
        let entry = &self.table.entries[wait.entry];
        if wait.upload && entry.log_data.as_deref() != Some(&wait.got[..]) {
            rewrite.upload(&wait.got);
        }
        if wait.echo {
            self.schedule(now, wait.got, None);
        }
        self.play_parts(
            wait.entry,
            wait.resume,
            wait.limit,
            now,
            rewrite,
            wait.serial,
            None,
            (false, false),
        );
    }

    /// The serial settings after `host`'s `OK`, if it changes them (spec §10.7).
    fn serial_after(&self, host: &Cmd) -> Option<SerialSettings> {
        match host.cmd {
            Some(Command::IprSet(rate)) => Some(SerialSettings {
                baud: rate.get(),
                ..self.serial
            }),
            Some(Command::IfcSet {
                dce_by_dte,
                dte_by_dce,
            }) => Some(SerialSettings {
                dce_by_dte,
                dte_by_dce,
                ..self.serial
            }),
            _ => None,
        }
    }

    /// Whether a command not answered from the log is echoed.
    fn echo_other(&self) -> bool {
        self.echo_host.unwrap_or(self.echo_seen)
    }

    fn echo_line(&mut self, line: &Line, now: Instant) {
        if self.echo_other() {
            let mut echo = line.bytes.clone();
            echo.push(line.terminator);
            self.schedule(now, echo, None);
        }
    }

    // ---- time ----------------------------------------------------------------------------

    /// After the host was answered from exchange `i` at `now`: what the log's module sent, after
    /// their own answers, in the exchanges that follow and that the host has not used (a message
    /// that arrived while the log's host published, which a host that only subscribes still
    /// waits for), played on the log's timeline as if those commands had come at once, until the
    /// host sends its next command.
    fn go_on_quietly(&mut self, i: usize, now: Instant) {
        let rewrite = Rewrite::clients(self.clients);
        // Never sooner than QUIET_AFTER: a host that goes on with its session is not overtaken
        // by the log's (and an untimed log's chunks all have no delay).
        let earliest = now.checked_add(QUIET_AFTER).unwrap_or(now);
        let mut at = now;
        let mut items = Vec::new();
        for (j, e) in self.table.entries.iter().enumerate().skip(i + 1) {
            if e.used || e.quiet_played {
                continue;
            }
            for (k, part) in e.parts.iter().enumerate() {
                if let Part::Module(c) = part {
                    at = self.after(at, c.delay);
                    if k >= e.end {
                        items.push((at, j, rewrite.apply(&c.bytes)));
                    }
                }
            }
            for c in &e.urcs {
                at = self.after(at, c.delay);
                items.push((at, j, rewrite.apply(&c.bytes)));
            }
        }
        for (at, j, bytes) in items {
            if bytes.is_empty() {
                continue;
            }
            let at = at.max(earliest);
            self.seq += 1;
            self.quiet.insert((at, self.seq), (j, bytes));
        }
    }

    fn after(&self, at: Instant, delay: Duration) -> Instant {
        let d = self.speed.scale(delay);
        at.checked_add(d).unwrap_or(at)
    }

    fn schedule(&mut self, at: Instant, bytes: Vec<u8>, serial: Option<SerialSettings>) {
        if bytes.is_empty() && serial.is_none() {
            return;
        }
        self.seq += 1;
        self.queue.insert((at, self.seq), Out { bytes, serial });
    }

    /// Moves what is due by `now` to the output, in order.
    fn release(&mut self, now: Instant) {
        while let Some(entry) = self.quiet.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (i, bytes) = entry.remove();
            // Played: a later use of that exchange does not play it again.
            if let Some(e) = self.table.entries.get_mut(i) {
                e.quiet_played = true;
            }
            let seq = self.seq + 1;
            self.seq = seq;
            self.queue.insert(
                (now, seq),
                Out {
                    bytes,
                    serial: None,
                },
            );
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let out = entry.remove();
            self.out.extend_from_slice(&out.bytes);
            if let Some(s) = out.serial {
                self.serial = s;
            }
        }
    }
}

/// How long the host must have been quiet before the log's module goes on without it
/// (`Replay::go_on_quietly`).
pub const QUIET_AFTER: Duration = Duration::from_secs(1);

/// Commands answered `OK` when the log has none of their kind.
fn is_basic(host: &Cmd) -> bool {
    const TEXT: [&[u8]; 4] = [b"AT&W", b"AT&W0", b"ATV1", b"ATQ0"];
    match host.cmd {
        Some(Command::At | Command::Echo(_) | Command::Cmee(_)) => true,
        Some(_) => false,
        None => TEXT.iter().any(|t| host.raw.eq_ignore_ascii_case(t)),
    }
}
