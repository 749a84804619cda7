//! `qmt decode`: a capture in, one typed event per line out, then a summary.
//!
//! Decode is a replay driver of the link core, `qmt_transport::link::Link`: module bytes go
//! through the link exactly as on a live port (its framer, with the `+QMTRECV` hook and its line
//! limit, its echo matching, prompt phases and command-aware classification: ARCHITECTURE.md
//! "Command-aware classification"), and every line comes back as one `Output`, printed where it
//! arrived. The host's side comes from the capture: a text log's `>>` command is
//! `Link::observe`d when it was written, and the data after a prompt `Link::observe_data`d (it
//! may be a placeholder of another length). A raw capture shows a command only by its echo: the
//! echo arrives as an unknown line, decode parses it and `Link::observe_echoed`s it before the
//! next line is classified (the bytes are fed stepwise, one piece at a time, for that).

use std::collections::BTreeMap;
use std::io::{self, Write};

use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::params::ClientIdx;
use qmt_proto::recv::LenMode;
use qmt_proto::{Command, DataPhase, Info, ModuleLine};
use qmt_transport::link::{Link, LinkConfig, Output, Token};
use qmt_transport::time::Instant;

use crate::capture::{Direction, pieces};

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
}

/// Decodes `capture` and prints its events and summary to `out`.
pub fn run(capture: &[u8], opts: &Options, out: &mut impl Write) -> io::Result<Summary> {
    let mut s = Session::new(*opts, out);
    for piece in pieces(capture) {
        match piece.dir {
            Direction::Host => s.host(&piece.bytes, piece.line)?,
            Direction::Module => s.module(&piece.bytes, piece.line)?,
        }
    }
    s.finish()?;
    s.p.print_summary()?;
    Ok(s.p.summary)
}

/// The link being replayed, and the printer of what it hands over.
struct Session<'o, W: Write> {
    link: Link,
    /// The one instant of the replay: a capture's times are not known, and decode asks for no
    /// deadline (`Link::handle_timeout` is never called).
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
    /// The first write error inside a link callback, returned after it.
    error: Option<io::Error>,
    summary: Summary,
}

impl<'o, W: Write> Session<'o, W> {
    fn new(opts: Options, out: &'o mut W) -> Self {
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
                error: None,
                summary: Summary::default(),
            },
        }
    }

    /// A host piece of a text log: a command line, or the raw data after a prompt.
    fn host(&mut self, bytes: &[u8], line: usize) -> io::Result<()> {
        self.p.line = line;
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

    /// Tells the link the host wrote `cmd` (`echoed`: as learned from its echo).
    fn observe(&mut self, cmd: Command, echoed: bool) {
        let phase = cmd.data_phase();
        let token = if echoed {
            self.link.observe_echoed(cmd, self.now)
        } else {
            self.link.observe(cmd, self.now)
        };
        self.p.observed = Some((token, phase));
        self.p.awaiting_data = None;
    }

    /// Module bytes, as read from the port: one piece at a time, so that a command learned from
    /// its echo is on the wire before the next line is classified.
    fn module(&mut self, bytes: &[u8], line: usize) -> io::Result<()> {
        self.p.line = line;
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
    /// One output of the link: printed as the event of its line.
    fn output(&mut self, out: Output<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = match out {
            Output::Info { info, .. } => self.typed(ModuleLine::Info(info)),
            Output::Final { code, .. } => self.typed(ModuleLine::Final(code)),
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
                typed => self.typed(typed),
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

    /// Prints one event and counts it.
    fn emit(&mut self, dir: &str, kind: &'static str, text: &str) -> io::Result<()> {
        self.summary.events += 1;
        *self.summary.by_kind.entry(kind).or_default() += 1;
        let name = type_name(kind, text);
        let key = match &name {
            Some(n) => format!("{kind} {n}"),
            None => kind.to_string(),
        };
        *self.summary.by_name.entry(key).or_default() += 1;
        if self.opts.json {
            let v = serde_json::json!({
                "event": self.summary.events,
                "line": (self.line > 0).then_some(self.line),
                "dir": if dir == ">>" { "host" } else { "module" },
                "kind": kind,
                "name": name,
                "value": text,
            });
            writeln!(self.out, "{v}")
        } else {
            writeln!(self.out, "{dir} {kind:<8} {text}")
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
            }});
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
        )
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
