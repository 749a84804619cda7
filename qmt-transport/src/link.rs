//! STUB (API contract) — the link core: one AT channel, sans-IO.
//!
//! Replaced by the real implementation; the reactor codes against these signatures.

use std::time::{Duration, Instant};

use qmt_proto::{Command, ModuleLine};

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
    /// `AT+QMTSUB`, `AT+QMTUNS`, `AT+QMTPUBEX`: `pkt_timeout × retry_times` (default 15 s).
    pub packet: Duration,
    /// Everything else (`AT+QMTRECV`, `AT+QFUPL` …).
    pub other: Duration,
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
        LinkConfig { timeouts: Timeouts::default(), queue_capacity: 32 }
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
}

/// One AT channel: commands in, bytes out; bytes in, completions and URCs out.
#[derive(Debug)]
pub struct Link {
    _private: (),
}

impl Link {
    /// A new link.
    pub fn new(_config: LinkConfig, _now: Instant) -> Link {
        Link { _private: () }
    }

    /// Queues a command (with the raw data of its data phase, if it has one).
    pub fn submit(
        &mut self,
        _command: Command,
        _data: Option<Vec<u8>>,
        _now: Instant,
    ) -> Result<Token, SubmitError> {
        Ok(Token(0))
    }

    /// Bytes read from the port (any chunking).
    pub fn feed(&mut self, _bytes: &[u8], _now: Instant) {}

    /// Time passed.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Bytes to write to the port.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        None
    }

    /// The port is gone: every queued and in-flight command completes with
    /// [`CommandError::Closed`].
    pub fn close(&mut self, _now: Instant) {}

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}
