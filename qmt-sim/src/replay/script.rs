//! [`Script`]: the module side of a field log, as the replay core plays it, and the builder a log
//! reader fills.
//!
//! A script is an ordered list of [`Step`]s: [`Exchange`]s (a host command line and everything the
//! module sent after it until the next command) and [`Step::Urc`]s (module bytes before the first
//! command, or bytes a reader knows are not tied to a command). A reader pushes what the log shows,
//! in log order, with the log's absolute times in milliseconds (or `None` when the log has none);
//! the builder turns them into the relative delays the replay plays.

use std::fmt;
use std::time::Duration;

use qmt_proto::Command;

/// How long after the previous host command (or the start) a URC of an untimed log is played:
/// a log without timestamps says only that it came later.
pub const UNTIMED_URC_DELAY: Duration = Duration::from_millis(20);

/// Module bytes sent at one time: exactly as the module sent them (echo, blank lines, prompts,
/// URCs and late results included).
///
/// `Debug` shows only the delay and the length: module bytes may hold secrets (the echo of an
/// `AT+QMTCONN` with its password, an `AT+QMTCFG="aliauth"` answer).
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    /// In an exchange: the delay since the command was received, the previous chunk, or the host
    /// data before it. In a [`Step::Urc`]: the delay since the previous host command, or since
    /// the start for URCs before the first command.
    pub delay: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("delay", &self.delay)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One part of an exchange, in log order.
#[derive(Clone, PartialEq, Eq)]
pub enum Part {
    /// Bytes the module sent.
    Module(Chunk),
    /// The raw data the log's host wrote after a `> ` prompt or `CONNECT`. The replay reads the
    /// host's own data there (its length from the host's command) before it plays on.
    HostData(Vec<u8>),
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Module(c) => f.debug_tuple("Module").field(c).finish(),
            Part::HostData(d) => write!(f, "HostData {{ len: {} }}", d.len()),
        }
    }
}

/// A host command of the log and what the module answered to it.
///
/// `Debug` shows the command as `qmt_proto::Command`'s `Display` does (secrets redacted), or only
/// its name when it does not parse.
#[derive(Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The command line as the log shows it, without its terminator (`AT+QMTOPEN=0,"h",1883`).
    pub command: Vec<u8>,
    /// What followed it, in order: module chunks and, after a prompt, the host's data.
    pub parts: Vec<Part>,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("command", &shown(&self.command))
            .field("parts", &self.parts)
            .finish()
    }
}

/// One step of a [`Script`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Module bytes not tied to a host command: played at their delay after the previous host
    /// command (the one answered by the exchange before this step), or after the start.
    Urc(Chunk),
    /// A host command and its answer.
    Exchange(Exchange),
}

/// A builder misuse: the step is not added and the script is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A host line that does not start with `AT` (any case) is noise to a module, not a command:
    /// a reader drops it (or, after a prompt, pushes it as data).
    #[error("a host line of {len} bytes that does not start with AT is not a command")]
    NotACommand {
        /// The line's length (its bytes may hold secrets).
        len: usize,
    },
    /// Host data before any command.
    #[error("{len} bytes of host data with no command before them")]
    DataWithoutCommand {
        /// The data's length.
        len: usize,
    },
}

/// The module side of a log: what the replay core ([`crate::replay::Replay`]) plays.
///
/// Fill it in log order with [`Script::push_command`], [`Script::push_data`],
/// [`Script::push_module`] and [`Script::push_urc`], each with the log's absolute time in
/// milliseconds, or `None` when the log has no timestamps (then an answer follows its command at
/// once, and URCs come [`UNTIMED_URC_DELAY`] after the previous command). Times that go backwards
/// count as no delay. Or build the [`Step`]s yourself and use [`Script::from_steps`].
///
/// ```
/// use qmt_sim::replay::{Script, Step};
///
/// let mut s = Script::new();
/// s.push_module(b"\r\nRDY\r\n", Some(1_000));
/// s.push_command(b"AT+QMTOPEN=0,\"iot.example\",1883", Some(5_000))?;
/// s.push_module(b"\r\nOK\r\n", Some(5_010));
/// s.push_module(b"\r\n+QMTOPEN: 0,0\r\n", Some(5_400)); // a late result stays late
/// let Step::Exchange(open) = &s.steps()[1] else { panic!() };
/// assert_eq!(open.parts.len(), 2);
/// # Ok::<(), qmt_sim::replay::ScriptError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Script {
    steps: Vec<Step>,
    /// The log's first time: where URCs before the first command count from.
    start: Option<u64>,
    /// The time of the last command.
    command_at: Option<u64>,
    /// The time of the last event of the current exchange (command, chunk or data).
    event_at: Option<u64>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("steps", &self.steps.len())
            .field("exchanges", &self.exchanges())
            .finish()
    }
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// A script of ready-made steps.
    pub fn from_steps(steps: Vec<Step>) -> Script {
        Script {
            steps,
            ..Script::default()
        }
    }

    /// The steps, in log order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The steps, taken.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }

    /// How many exchanges the script holds.
    pub fn exchanges(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Exchange(_)))
            .count()
    }

    /// A host command line as the log shows it (a trailing CR or LF is dropped), sent at `at_ms`.
    /// Module bytes pushed after it are its answer.
    ///
    /// After a `> ` prompt or `CONNECT` that the exchange's command asked for (spec §1), the next
    /// host line is that command's data: it is taken as [`Script::push_data`] would.
    ///
    /// # Errors
    /// [`ScriptError::NotACommand`] for a line that does not start with `AT`.
    pub fn push_command(&mut self, line: &[u8], at_ms: Option<u64>) -> Result<(), ScriptError> {
        if self.awaits_data() {
            return self.push_data(line, at_ms);
        }
        let line = trim_terminator(line);
        if !starts_with_at(line) {
            return Err(ScriptError::NotACommand { len: line.len() });
        }
        self.note(at_ms);
        self.steps.push(Step::Exchange(Exchange {
            command: line.to_vec(),
            parts: Vec::new(),
        }));
        self.command_at = at_ms.or(self.command_at);
        self.event_at = at_ms.or(self.event_at);
        Ok(())
    }

    /// The raw data the host wrote after a prompt, at `at_ms`. Module chunks pushed after it
    /// count their delay from it.
    ///
    /// # Errors
    /// [`ScriptError::DataWithoutCommand`] before the first command.
    pub fn push_data(&mut self, bytes: &[u8], at_ms: Option<u64>) -> Result<(), ScriptError> {
        let Some(ex) = self.current_mut() else {
            return Err(ScriptError::DataWithoutCommand { len: bytes.len() });
        };
        ex.parts.push(Part::HostData(bytes.to_vec()));
        self.note(at_ms);
        self.event_at = at_ms.or(self.event_at);
        Ok(())
    }

    /// Bytes the module sent at `at_ms`: part of the last exchange's answer (its delay counts
    /// from the exchange's previous event), or a URC before the first command. Empty bytes are
    /// ignored.
    pub fn push_module(&mut self, bytes: &[u8], at_ms: Option<u64>) {
        if bytes.is_empty() {
            return;
        }
        self.note(at_ms);
        let delay = since(at_ms, self.event_at);
        match self.current_mut() {
            Some(ex) => {
                ex.parts.push(Part::Module(Chunk {
                    delay,
                    bytes: bytes.to_vec(),
                }));
                self.event_at = at_ms.or(self.event_at);
            }
            None => self.push_urc(bytes, at_ms),
        }
    }

    /// Module bytes at `at_ms` that are not tied to a command (a URC between exchanges): played
    /// at their delay after the previous host command, not after the previous chunk. Empty bytes
    /// are ignored.
    pub fn push_urc(&mut self, bytes: &[u8], at_ms: Option<u64>) {
        if bytes.is_empty() {
            return;
        }
        self.note(at_ms);
        let delay = match at_ms {
            Some(_) => since(at_ms, self.command_at.or(self.start)),
            None => UNTIMED_URC_DELAY,
        };
        self.steps.push(Step::Urc(Chunk {
            delay,
            bytes: bytes.to_vec(),
        }));
    }

    /// The last exchange: the one module bytes and data belong to.
    fn current_mut(&mut self) -> Option<&mut Exchange> {
        self.steps.iter_mut().rev().find_map(|s| match s {
            Step::Exchange(ex) => Some(ex),
            Step::Urc(_) => None,
        })
    }

    fn note(&mut self, at_ms: Option<u64>) {
        if self.start.is_none() {
            self.start = at_ms;
        }
    }

    /// Whether the current exchange's command has a data phase whose prompt was sent and whose
    /// data has not been pushed yet.
    fn awaits_data(&self) -> bool {
        let Some(ex) = self.steps.iter().rev().find_map(|s| match s {
            Step::Exchange(ex) => Some(ex),
            Step::Urc(_) => None,
        }) else {
            return false;
        };
        if ex.parts.iter().any(|p| matches!(p, Part::HostData(_))) {
            return false;
        }
        if Command::parse(&ex.command)
            .ok()
            .and_then(|c| c.data_phase())
            .is_none()
        {
            return false;
        }
        let module: Vec<u8> = ex
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Module(c) => Some(c.bytes.as_slice()),
                Part::HostData(_) => None,
            })
            .flatten()
            .copied()
            .collect();
        module.ends_with(b"> ") || contains(&module, b"CONNECT\r\n")
    }
}

/// The delay from `from` to `at`; none when either is unknown or time went backwards.
fn since(at: Option<u64>, from: Option<u64>) -> Duration {
    match (at, from) {
        (Some(at), Some(from)) => Duration::from_millis(at.saturating_sub(from)),
        _ => Duration::ZERO,
    }
}

fn trim_terminator(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

/// Whether a host line is a command: it starts with `AT`, in any case (spec §1).
pub(crate) fn starts_with_at(line: &[u8]) -> bool {
    line.len() >= 2 && line[..2].eq_ignore_ascii_case(b"AT")
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A command line as logs and errors may show it: `Command`'s `Display` (secrets redacted), or
/// only the name (up to `=` or `?`) of a line that does not parse.
pub(crate) fn shown(line: &[u8]) -> String {
    match Command::parse(line) {
        Ok(c) => c.to_string(),
        Err(_) => {
            let end = line
                .iter()
                .position(|&b| b == b'=' || b == b'?')
                .unwrap_or(line.len());
            let name = String::from_utf8_lossy(&line[..end]);
            if end < line.len() {
                format!("{name}…")
            } else {
                name.into_owned()
            }
        }
    }
}
