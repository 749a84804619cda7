//! `qmt decode`: a capture in, one typed event per line out, then a summary.
//!
//! The capture is read by qmt-cli/src/capture.rs, which detects its format (raw port bytes, or a
//! text log in any of the forms people post) and cuts it into pieces: host command lines, host
//! data, module bytes and notes (lines of the log that are no AT traffic, printed as `note`
//! events), each with its line number and timestamp.
//!
//! Decode is a replay driver of the link core, `qmt_transport::link::Link`: module bytes go
//! through the link exactly as on a live port (its framer, with the `+QMTRECV` hook and its line
//! limit, its echo matching, prompt phases and command-aware classification: ARCHITECTURE.md
//! "Command-aware classification"), and every line comes back as one `Output`, printed where it
//! arrived. The host's side comes from the capture: a text log's command line is
//! `Link::observe`d when it was written, and the data after a prompt `Link::observe_data`d (it
//! may be a placeholder of another length). A raw capture shows a command only by its echo: the
//! echo arrives as an unknown line, decode parses it and `Link::observe_echoed`s it before the
//! next line is classified (the bytes are fed stepwise, one piece at a time, for that).
//!
//! When the log has timestamps, each event keeps its own (JSON), and the time from a command to
//! its final code, and to the result line of a two-phase command (spec §1), is shown on that
//! event. It is checked against the spec's maximum response time: the link's deadlines for the
//! final code (`qmt_transport::link::Timeouts`, spec §3–§5, §10) and the client core's for the
//! result lines (`qmt_client::Deadlines` without its grace: spec §4, §5, §9, with the
//! `AT+QMTCFG="timeout"` the log itself sets); a slower answer is flagged in the summary.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use qmt_client::{Deadlines, OpKind};
use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::codes::PacketResult;
use qmt_proto::kind::CommandKind;
use qmt_proto::params::{ClientIdx, PktTimeout, RetryTimes};
use qmt_proto::recv::LenMode;
use qmt_proto::{CfgOp, CfgValue, Command, CommandName, DataPhase, Info, ModuleLine, Urc};
use qmt_transport::link::{Link, LinkConfig, Output, Timeouts, Token};
use qmt_transport::time::Instant;

use crate::capture::{Forced, Format, Log, PieceKind, TimeStyle, Timestamp, read};

/// Longest module line the decoder delivers; longer lines are reported as overflows. The link's
/// own limit: decode frames with the link.
pub const LINE_CAPACITY: usize = qmt_transport::link::LINE_LIMIT;

/// How to decode and print.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// One JSON object per event instead of text.
    pub json: bool,
    /// What `+QMTRECV` lines carry (the module's `msg_len_enable`), for every client.
    pub recv_len: LenMode,
}

/// What a capture held, by kind and by typed name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events in all.
    pub events: usize,
    /// Events per kind (`command`, `final`, `urc`, …).
    pub by_kind: BTreeMap<&'static str, usize>,
    /// Events per kind and typed name (`urc Open`, `final Ok`, …).
    pub by_name: BTreeMap<String, usize>,
    /// Module lines no type matched.
    pub unknown: usize,
    /// Module lines longer than [`LINE_CAPACITY`], discarded.
    pub overflows: usize,
    /// Host lines that did not parse as a command.
    pub bad_commands: usize,
    /// `+QFUPL` checksums that disagreed with the uploaded bytes.
    pub checksum_mismatches: usize,
    /// Lines of the log that are no AT traffic (`note` events).
    pub notes: usize,
    /// The capture's format, as detected (or forced).
    pub format: Format,
    /// Answers whose time after their command was measured (logs with timestamps).
    pub timed: usize,
    /// Answers slower than the spec's maximum response time, in order.
    pub slow: Vec<SlowAnswer>,
}

/// An answer that came later than the spec allows its command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowAnswer {
    /// Its log line.
    pub line: usize,
    /// The command it answers, by name (its parameters may hold secrets).
    pub command: String,
    /// What answered: `final Ok`, `urc Open`, ….
    pub answer: String,
    /// Its time after the command, in milliseconds.
    pub elapsed_ms: u64,
    /// The spec's maximum, in milliseconds.
    pub max_ms: u64,
}

/// Decodes `capture` (its format detected) and prints its events and summary to `out`.
pub fn run(capture: &[u8], opts: &Options, out: &mut impl Write) -> io::Result<Summary> {
    run_log(&read(capture, &Forced::default()), opts, out)
}

/// Decodes a capture already read ([`crate::capture::read`], which may force its format) and
/// prints its events and summary to `out`.
pub fn run_log(log: &Log, opts: &Options, out: &mut impl Write) -> io::Result<Summary> {
    let mut s = Session::new(*opts, out, &log.format);
    for piece in &log.pieces {
        s.p.line = piece.line;
        s.p.set_time(piece.time.as_ref());
        match piece.kind {
            PieceKind::Command => s.host(&piece.bytes)?,
            PieceKind::Data => s.data(&piece.bytes)?,
            PieceKind::Module => s.module(&piece.bytes)?,
            PieceKind::Note => s.p.note(&piece.bytes)?,
        }
    }
    s.finish()?;
    s.p.print_summary()?;
    Ok(s.p.summary)
}

/// What answers are timed against, learned from the command when it was written.
#[derive(Clone, Copy, Debug)]
struct Sent {
    name: CommandName,
    kind: CommandKind,
    /// The time it was written (the log's clock), if the log has one.
    at: Option<u64>,
}

/// A two-phase operation by its correlation key (spec §1): kind, client, `msgid` (0 without one).
type OpKey = (OpKind, u8, u16);

/// The key of the result `cmd` will get later, if it is a two-phase write.
fn op_key(cmd: &Command) -> Option<OpKey> {
    Some(match cmd {
        Command::Open(o) => (OpKind::Open, o.client_idx.get(), 0),
        Command::Close(idx) => (OpKind::Close, idx.get(), 0),
        Command::Conn(c) => (OpKind::Conn, c.client_idx.get(), 0),
        Command::Disc(idx) => (OpKind::Disc, idx.get(), 0),
        Command::Sub(s) => (OpKind::Sub, s.client_idx().get(), s.msgid().get()),
        Command::Uns(u) => (OpKind::Uns, u.client_idx().get(), u.msgid().get()),
        Command::PubEx(p) => (OpKind::Pub, p.client_idx().get(), p.msgid().get()),
        // The sibling modules' publishes, answered by `+QMTPUB:` (spec §6 variation 4).
        Command::Ec2xPub(p) => (
            OpKind::Pub,
            p.head().client_idx().get(),
            p.head().msgid().get(),
        ),
        Command::Bc26Pub(p) => (
            OpKind::Pub,
            p.head().client_idx().get(),
            p.head().msgid().get(),
        ),
        _ => return None,
    })
}

/// The key a result line answers, and whether it ends the wait (a retransmission notice, result
/// 1, does not: spec §9).
fn result_key(urc: &Urc<'_>) -> Option<(OpKey, bool)> {
    Some(match *urc {
        Urc::Open { client_idx, .. } => ((OpKind::Open, client_idx.get(), 0), true),
        Urc::Close { client_idx, .. } => ((OpKind::Close, client_idx.get(), 0), true),
        Urc::Conn {
            client_idx, result, ..
        } => (
            (OpKind::Conn, client_idx.get(), 0),
            result != PacketResult::Retransmission,
        ),
        Urc::Disc { client_idx, .. } => ((OpKind::Disc, client_idx.get(), 0), true),
        Urc::Sub {
            client_idx,
            msgid,
            result,
            ..
        } => (
            (OpKind::Sub, client_idx.get(), msgid.get()),
            result != PacketResult::Retransmission,
        ),
        Urc::Uns {
            client_idx,
            msgid,
            result,
            ..
        } => (
            (OpKind::Uns, client_idx.get(), msgid.get()),
            result != PacketResult::Retransmission,
        ),
        Urc::PubEx {
            client_idx,
            msgid,
            result,
            ..
        } => (
            (OpKind::Pub, client_idx.get(), msgid.get()),
            result != PacketResult::Retransmission,
        ),
        _ => return None,
    })
}

/// The spec's maximum wait for two-phase results with the module's defaults (spec §2:
/// `pkt_timeout` 5 s, `retry_times` 3), without the client core's grace.
fn spec_deadlines(pkt_timeout: u8, retry_times: u8) -> Option<Deadlines> {
    let pkt = PktTimeout::new(i64::from(pkt_timeout)).ok()?;
    let retry = RetryTimes::new(i64::from(retry_times)).ok()?;
    Some(Deadlines::from_timeout(pkt, retry, Duration::ZERO))
}

/// The time an answer came after its command, and the spec's maximum for it.
#[derive(Clone, Debug)]
struct Timing {
    after: CommandName,
    elapsed_ms: u64,
    max_ms: u64,
}

/// Timing of answers: commands written and not yet answered, and the limits.
struct Clockwork {
    /// The log's timestamp style; `None` for logs without timestamps (nothing is timed).
    style: Option<TimeStyle>,
    /// The time of the piece being decoded, or of the last piece that had one.
    now: Option<u64>,
    /// The timestamp of the piece being decoded.
    stamp: Option<Timestamp>,
    /// Commands awaiting their final code, by the link's token.
    finals: BTreeMap<Token, Sent>,
    /// Two-phase commands awaiting their result line.
    results: BTreeMap<OpKey, (Sent, Token)>,
    /// Per client: the result deadlines (the module's defaults until the log sets `timeout`).
    deadlines: [Deadlines; 6],
    /// The timing of the answer about to be printed.
    next: Option<Timing>,
}

impl Clockwork {
    fn new(format: &Format) -> Clockwork {
        let style = match format {
            Format::Text(t) => t.layout.time,
            Format::Raw => None,
        };
        let defaults = spec_deadlines(5, 3).unwrap_or_default();
        Clockwork {
            style,
            now: None,
            stamp: None,
            finals: BTreeMap::new(),
            results: BTreeMap::new(),
            deadlines: [defaults; 6],
            next: None,
        }
    }

    /// The host wrote `cmd`; the link gave it `token`.
    fn sent(&mut self, cmd: &Command, token: Token) {
        if self.style.is_none() {
            return;
        }
        // A command written while another waits means the host gave up on that one (the link
        // makes it a ghost): its answer, if it comes, is no longer timed.
        self.finals.clear();
        let sent = Sent {
            name: cmd.name(),
            kind: cmd.kind().0,
            at: self.now,
        };
        if let Command::Cfg(cfg) = cmd {
            if let CfgOp::Set(CfgValue::Timeout {
                pkt_timeout,
                retry_times,
                ..
            }) = cfg.op()
            {
                if let Some(d) = spec_deadlines(pkt_timeout.get(), retry_times.get()) {
                    self.deadlines[usize::from(cfg.client_idx().get())] = d;
                }
            }
        }
        self.finals.insert(token, sent);
        if let Some(key) = op_key(cmd) {
            self.results.insert(key, (sent, token));
        }
    }

    fn timing(&self, sent: &Sent, max: Duration) -> Option<Timing> {
        let style = self.style?;
        let elapsed_ms = style.elapsed(sent.at?, self.now?)?;
        Some(Timing {
            after: sent.name,
            elapsed_ms,
            max_ms: u64::try_from(max.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The command `token` got its final code (`ok`: `OK`).
    fn final_code(&mut self, token: Token, ok: bool) {
        let Some(sent) = self.finals.remove(&token) else {
            return;
        };
        if !ok {
            // Refused: no result line will follow.
            self.results.retain(|_, (_, t)| *t != token);
        }
        self.next = self.timing(&sent, Timeouts::default().for_kind(sent.kind));
    }

    /// A result line arrived.
    fn result(&mut self, urc: &Urc<'_>) {
        let Some((key, last)) = result_key(urc) else {
            return;
        };
        let Some((sent, _)) = (if last {
            self.results.remove(&key)
        } else {
            self.results.get(&key).copied()
        }) else {
            return;
        };
        let max = self.deadlines[usize::from(key.1).min(5)].of(key.0);
        self.next = self.timing(&sent, max);
    }
}

/// The link being replayed, and the printer of what it hands over.
struct Session<'o, W: Write> {
    link: Link,
    /// The one instant of the replay: decode asks for no deadline (`Link::handle_timeout` is
    /// never called; a log's own timestamps time the answers instead: [`Clockwork`]).
    now: Instant,
    p: Printer<'o, W>,
}

/// Everything the link's outputs update while the link is borrowed.
struct Printer<'o, W: Write> {
    opts: Options,
    out: &'o mut W,
    /// The last command observed and its data phase: a prompt for it says what data comes.
    observed: Option<(Token, Option<DataPhase>)>,
    /// The prompt or `CONNECT` arrived: the next host piece is raw data of this phase.
    awaiting_data: Option<DataPhase>,
    /// A command learned from its echo (raw captures), for the link before the next line.
    echoed: Option<Command>,
    /// Checksum of the last uploaded file, to compare with `+QFUPL`.
    upload_checksum: Option<(u64, u16)>,
    /// Line number of the piece being decoded (text logs), for the output.
    line: usize,
    /// Timestamps and the timing of answers.
    clock: Clockwork,
    /// The first write error inside a link callback, returned after it.
    error: Option<io::Error>,
    summary: Summary,
}

impl<'o, W: Write> Session<'o, W> {
    fn new(opts: Options, out: &'o mut W, format: &Format) -> Self {
        let now = Instant::ZERO;
        let mut link = Link::new(LinkConfig::default(), now);
        for idx in ClientIdx::all() {
            link.set_recv_len(idx, opts.recv_len);
        }
        Session {
            link,
            now,
            p: Printer {
                opts,
                out,
                observed: None,
                awaiting_data: None,
                echoed: None,
                upload_checksum: None,
                line: 0,
                clock: Clockwork::new(format),
                error: None,
                summary: Summary {
                    format: format.clone(),
                    ..Summary::default()
                },
            },
        }
    }

    /// A host command line of a text log (or the raw data after a prompt, when the link says
    /// a prompt came).
    fn host(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(phase) = self.p.awaiting_data.take() {
            self.link.observe_data(bytes);
            return self.p.host_data(phase, bytes);
        }
        match Command::parse(bytes) {
            Ok(cmd) => {
                // Debug of a command redacts its secrets (qmt-proto's parameter types).
                let text = format!("{cmd:?}");
                self.observe(cmd, false);
                self.p.emit(">>", "command", &text)
            }
            Err(e) => {
                self.p.summary.bad_commands += 1;
                self.p
                    .emit(">>", "invalid", &format!("{e}: {}", invalid_line(bytes)))
            }
        }
    }

    /// Host data the log shows after a prompt or `CONNECT`.
    fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(phase) = self.p.awaiting_data.take() {
            self.link.observe_data(bytes);
            return self.p.host_data(phase, bytes);
        }
        // No prompt for them reached the link: the command is unknown or invalid, or the log
        // left its prompt out. Their kind is not known, so their contents (a file's, maybe a
        // key) are not shown.
        self.p.emit(
            ">>",
            "data",
            &format!(
                "{} bytes written without a prompt for them (not shown)",
                bytes.len()
            ),
        )
    }

    /// Tells the link the host wrote `cmd` (`echoed`: as learned from its echo).
    fn observe(&mut self, cmd: Command, echoed: bool) {
        let phase = cmd.data_phase();
        let timed = cmd.clone();
        let token = if echoed {
            self.link.observe_echoed(cmd, self.now)
        } else {
            self.link.observe(cmd, self.now)
        };
        self.p.clock.sent(&timed, token);
        self.p.observed = Some((token, phase));
        self.p.awaiting_data = None;
    }

    /// Module bytes, as read from the port: one piece at a time, so that a command learned from
    /// its echo is on the wire before the next line is classified.
    fn module(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        loop {
            let n = self.link.push(rest);
            rest = rest.get(n..).unwrap_or_default();
            let mut any = false;
            while self.step()? {
                any = true;
            }
            // The link's buffer always has room after stepping; the check only guards against a
            // loop without progress.
            if rest.is_empty() || (n == 0 && !any) {
                return Ok(());
            }
        }
    }

    /// Handles one piece; `false` when the link needs more bytes.
    fn step(&mut self) -> io::Result<bool> {
        let p = &mut self.p;
        let handled = self.link.step_with(self.now, |o| p.output(o));
        self.learned()?;
        Ok(handled)
    }

    /// After the link handed something over: returns a write error, observes a command learned
    /// from its echo.
    fn learned(&mut self) -> io::Result<()> {
        if let Some(e) = self.p.error.take() {
            return Err(e);
        }
        if let Some(cmd) = self.p.echoed.take() {
            self.observe(cmd, true);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let p = &mut self.p;
        self.link.finish_with(self.now, |o| p.output(o));
        self.learned()
    }
}

impl<W: Write> Printer<'_, W> {
    /// The timestamp of the piece about to be decoded (a piece without one keeps the last time
    /// for timing).
    fn set_time(&mut self, time: Option<&Timestamp>) {
        self.clock.stamp = time.cloned();
        if let Some(t) = time {
            self.clock.now = Some(t.ms);
        }
    }

    /// A line of the log that is no AT traffic.
    fn note(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.summary.notes += 1;
        let text = String::from_utf8_lossy(bytes);
        let shown: String = text.chars().take(200).collect();
        let mut shown = format!("{shown:?}");
        if text.chars().count() > 200 {
            shown.push_str(&format!("… ({} bytes)", bytes.len()));
        }
        self.emit("--", "note", &shown)
    }

    /// One output of the link: printed as the event of its line.
    fn output(&mut self, out: Output<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = match out {
            Output::Info { info, .. } => self.typed(ModuleLine::Info(info)),
            Output::Final { token, code, .. } => {
                let ok = matches!(code, qmt_proto::FinalCode::Ok);
                self.clock.final_code(token, ok);
                self.typed(ModuleLine::Final(code))
            }
            // The `RDY` that caused it is handed over (and printed) as a URC.
            Output::Failed { .. } => Ok(()),
            Output::Urc { typed, line } => match typed {
                // An echoed command the link did not know (raw captures with ATE1): it tells
                // which command is in flight.
                ModuleLine::Unknown(_) => match Command::parse(line) {
                    Ok(cmd) => {
                        let text = format!("{cmd:?}");
                        self.echoed = Some(cmd);
                        self.emit("<<", "echo", &text)
                    }
                    Err(_) => self.unknown(line),
                },
                typed => {
                    if let ModuleLine::Urc(u) = &typed {
                        self.clock.result(u);
                    }
                    self.typed(typed)
                }
            },
            Output::Echo { line } => {
                let text = match Command::parse(line) {
                    Ok(cmd) => format!("{cmd:?}"),
                    // A piece of the data's echo.
                    Err(_) => escape(line, 200),
                };
                self.emit("<<", "echo", &text)
            }
            Output::Prompt { token, line } => {
                self.awaiting_data = self
                    .observed
                    .filter(|(t, _)| *t == token)
                    .and_then(|(_, phase)| phase);
                if line == b"> " {
                    self.typed(ModuleLine::Prompt)
                } else {
                    self.typed(ModuleLine::Connect)
                }
            }
            // Answers the link consumed for an abandoned command or a marker: printed as typed.
            Output::Late { typed, .. } | Output::Resync { typed, .. } => self.typed(typed),
            Output::Overflow { len } => {
                self.summary.overflows += 1;
                self.emit(
                    "<<",
                    "overflow",
                    &format!("line of {len} bytes discarded (longer than {LINE_CAPACITY})"),
                )
            }
            Output::Damaged {
                client_idx,
                msgid,
                topic,
                line,
            } => self.emit(
                "<<",
                "damaged",
                &format!(
                    "+QMTRECV (client {}, msgid {}, topic {:?}) damaged on the line: dropped ({} \
                     bytes: {})",
                    client_idx.map_or_else(|| "?".to_owned(), |c| c.to_string()),
                    msgid.map_or_else(|| "?".to_owned(), |m| m.to_string()),
                    topic.unwrap_or("?"),
                    line.len(),
                    escape(line, 80)
                ),
            ),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn host_data(&mut self, phase: DataPhase, bytes: &[u8]) -> io::Result<()> {
        // The payload of an `AT+QMTPUB` ended by Ctrl-Z (sibling modules) announces no length.
        let want = phase.data_len().unwrap_or(bytes.len());
        let placeholder = bytes.len() != want;
        let text = match phase {
            // File contents may be private keys: only their size and checksum are shown.
            DataPhase::Connect { .. } => {
                let sum = qfupl_checksum(bytes);
                if placeholder {
                    self.upload_checksum = None;
                    format!(
                        "{want} bytes of file data (the capture holds a {}-byte placeholder)",
                        bytes.len()
                    )
                } else {
                    self.upload_checksum = Some((want as u64, sum));
                    format!("{want} bytes of file data, checksum {sum:04x}")
                }
            }
            DataPhase::Prompt { .. } | DataPhase::PromptCtrlZ => {
                if placeholder {
                    format!(
                        "{want} bytes expected, capture holds {}: {}",
                        bytes.len(),
                        escape(bytes, 200)
                    )
                } else {
                    format!("{want} bytes: {}", escape(bytes, 200))
                }
            }
        };
        self.emit(">>", "data", &text)
    }

    fn typed(&mut self, line: ModuleLine<'_>) -> io::Result<()> {
        let kind = match &line {
            ModuleLine::Final(_) => "final",
            ModuleLine::Info(_) => "info",
            ModuleLine::Urc(_) => "urc",
            ModuleLine::Connect => "connect",
            ModuleLine::Prompt => "prompt",
            ModuleLine::Unknown(b) => return self.unknown(b),
        };
        if let ModuleLine::Info(Info::QfUpl {
            upload_size,
            checksum,
        }) = &line
        {
            if let Some((size, ours)) = self.upload_checksum.take() {
                let verdict = if (size, ours) == (*upload_size, *checksum) {
                    "matches the uploaded bytes"
                } else {
                    self.summary.checksum_mismatches += 1;
                    "DOES NOT match the uploaded bytes"
                };
                let text = format!(
                    "QfUpl {{ upload_size: {upload_size}, checksum: {checksum:04x} }} ({verdict}: {ours:04x})"
                );
                return self.emit("<<", kind, &text);
            }
        }
        let text = match &line {
            // The spec writes the checksum in hex (`+QFUPL: 1758,384a`); so does the output.
            ModuleLine::Info(Info::QfUpl {
                upload_size,
                checksum,
            }) => {
                format!("QfUpl {{ upload_size: {upload_size}, checksum: {checksum:04x} }}")
            }
            ModuleLine::Final(f) => format!("{f:?}"),
            ModuleLine::Info(i) => format!("{i:?}"),
            ModuleLine::Urc(u) => format!("{u:?}"),
            other => format!("{other:?}"),
        };
        self.emit("<<", kind, &text)
    }

    fn unknown(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.summary.unknown += 1;
        self.emit("<<", "unknown", &escape(bytes, 200))
    }

    /// Prints one event and counts it. `dir` is `>>` (host), `<<` (module) or `--` (a note).
    fn emit(&mut self, dir: &str, kind: &'static str, text: &str) -> io::Result<()> {
        self.summary.events += 1;
        *self.summary.by_kind.entry(kind).or_default() += 1;
        let name = type_name(kind, text);
        let key = match &name {
            Some(n) => format!("{kind} {n}"),
            None => kind.to_string(),
        };
        let timing = self.clock.next.take();
        if let Some(t) = &timing {
            self.summary.timed += 1;
            if t.elapsed_ms > t.max_ms {
                self.summary.slow.push(SlowAnswer {
                    line: self.line,
                    command: t.after.to_string(),
                    answer: key.clone(),
                    elapsed_ms: t.elapsed_ms,
                    max_ms: t.max_ms,
                });
            }
        }
        *self.summary.by_name.entry(key).or_default() += 1;
        if self.opts.json {
            let mut v = serde_json::json!({
                "event": self.summary.events,
                "line": (self.line > 0).then_some(self.line),
                "dir": match dir {
                    ">>" => Some("host"),
                    "<<" => Some("module"),
                    _ => None,
                },
                "kind": kind,
                "name": name,
                "value": text,
            });
            if let Some(map) = v.as_object_mut() {
                if let Some(stamp) = &self.clock.stamp {
                    map.insert("time".into(), stamp.text.clone().into());
                    map.insert("time_ms".into(), stamp.ms.into());
                }
                if let Some(t) = &timing {
                    map.insert("after".into(), t.after.to_string().into());
                    map.insert("elapsed_ms".into(), t.elapsed_ms.into());
                    map.insert("max_ms".into(), t.max_ms.into());
                    map.insert("slow".into(), (t.elapsed_ms > t.max_ms).into());
                }
            }
            writeln!(self.out, "{v}")
        } else {
            match &timing {
                None => writeln!(self.out, "{dir} {kind:<8} {text}"),
                Some(t) => {
                    let slow = if t.elapsed_ms > t.max_ms {
                        format!(", SLOWER than the spec's {}", seconds(t.max_ms))
                    } else {
                        String::new()
                    };
                    writeln!(
                        self.out,
                        "{dir} {kind:<8} {text}  [+{} after {}{slow}]",
                        millis(t.elapsed_ms),
                        t.after
                    )
                }
            }
        }
    }

    fn print_summary(&mut self) -> io::Result<()> {
        let s = &self.summary;
        if self.opts.json {
            let v = serde_json::json!({ "summary": {
                "events": s.events,
                "by_kind": s.by_kind,
                "by_name": s.by_name,
                "unknown": s.unknown,
                "overflows": s.overflows,
                "invalid_commands": s.bad_commands,
                "checksum_mismatches": s.checksum_mismatches,
                "format": format_json(&s.format),
            }});
            let mut v = v;
            if self.clock.style.is_some() {
                let slow: Vec<serde_json::Value> = s
                    .slow
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "line": a.line,
                            "command": a.command,
                            "answer": a.answer,
                            "elapsed_ms": a.elapsed_ms,
                            "max_ms": a.max_ms,
                        })
                    })
                    .collect();
                if let Some(map) = v["summary"].as_object_mut() {
                    map.insert(
                        "timing".into(),
                        serde_json::json!({ "timed": s.timed, "slow": slow }),
                    );
                }
            }
            return writeln!(self.out, "{v}");
        }
        let kinds: Vec<String> = s.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let plural = if s.events == 1 { "" } else { "s" };
        if kinds.is_empty() {
            writeln!(
                self.out,
                "\nsummary: no events (the capture holds no AT traffic)"
            )?;
        } else {
            writeln!(
                self.out,
                "\nsummary: {} event{plural}: {}",
                s.events,
                kinds.join(", ")
            )?;
        }
        let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (key, n) in &s.by_name {
            if let Some((kind, name)) = key.split_once(' ') {
                by_kind.entry(kind).or_default().push(format!("{name} {n}"));
            }
        }
        for (kind, names) in by_kind {
            writeln!(self.out, "  {kind:<8} {}", names.join(", "))?;
        }
        writeln!(
            self.out,
            "  unknown lines: {}, overflows: {}, invalid commands: {}, checksum mismatches: {}",
            s.unknown, s.overflows, s.bad_commands, s.checksum_mismatches
        )?;
        writeln!(self.out, "  format: {}", s.format)?;
        if self.clock.style.is_some() {
            match s.slow.len() {
                0 => writeln!(
                    self.out,
                    "  timing: {} answers timed, none slower than the spec's maximum",
                    s.timed
                )?,
                n => {
                    writeln!(
                        self.out,
                        "  timing: {} answers timed, {n} SLOWER than the spec's maximum:",
                        s.timed
                    )?;
                    for a in &s.slow {
                        writeln!(
                            self.out,
                            "    line {}: {} {} after {} (spec: at most {})",
                            a.line,
                            a.answer,
                            millis(a.elapsed_ms),
                            a.command,
                            seconds(a.max_ms)
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A measured time: `0.120 s`, `28.025 s`.
fn millis(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// A limit: `0.300 s`, `120 s`.
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}

/// The format for the JSON summary: its description and each aspect.
fn format_json(format: &Format) -> serde_json::Value {
    match format {
        Format::Raw => serde_json::json!({
            "description": format.to_string(),
            "layout": "raw",
        }),
        Format::Text(t) => serde_json::json!({
            "description": format.to_string(),
            "layout": "text",
            "line_ending": t.ending.to_string(),
            "dotted": t.dotted,
            "timestamps": t.layout.time.map(|s| s.to_string()),
            "separator": t.layout.separator.map(|s| s.to_string()),
            "tag": t.layout.tag,
            "markers": t.layout.markers.map(|m| m.to_string()),
            "typographic_quotes": t.typographic_quotes,
        }),
    }
}

/// The typed name of an event: the variant its Debug text starts with (`Open`, `Ok`, …); `None`
/// for kinds without variants (data, prompt, unknown, …).
fn type_name(kind: &str, text: &str) -> Option<String> {
    match kind {
        "command" | "echo" | "final" | "info" | "urc" => text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        _ => None,
    }
}

/// A host line that did not parse, for display. A command that can carry a secret (the
/// `AT+QMTCONN` password, the `aliauth`/`onenet`/`hwauth`/`hwprodid` keys) shows only its head: which
/// of its parameters is the secret cannot be known once it fails to parse.
fn invalid_line(bytes: &[u8]) -> String {
    let upper = bytes.to_ascii_uppercase();
    let secret_bearing = upper.starts_with(b"AT+QMTCONN=")
        || (upper.starts_with(b"AT+QMTCFG=")
            && [
                &b"\"ALIAUTH\""[..],
                b"\"ONENET\"",
                b"\"HWAUTH\"",
                b"\"HWPRODID\"",
            ]
            .iter()
            .any(|name| upper[10..].starts_with(name)));
    if secret_bearing {
        let head = bytes
            .iter()
            .position(|&b| b == b'=')
            .map_or(bytes, |eq| &bytes[..=eq]);
        format!(
            "{}{} ({} bytes)",
            escape(head, 40).trim_end_matches('"'),
            REDACTED_TAIL,
            bytes.len()
        )
    } else {
        escape(bytes, 120)
    }
}

/// What replaces the parameters of an unparsable secret-bearing command.
const REDACTED_TAIL: &str = "<parameters redacted>\"";

/// Bytes as a quoted, escaped string, cut after `max` bytes.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(max) {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    s.push('"');
    if bytes.len() > max {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}
