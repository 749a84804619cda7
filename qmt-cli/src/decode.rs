//! `qmt decode`: a capture in, one typed event per line out, then a summary.
//!
//! Module bytes go through the same path a driver uses: at-codec's [`Decoder`] with qmt-proto's
//! [`RecvHook`] frames them (with the link's line limit), and each line is typed by qmt-proto —
//! command-aware while a command is in flight (ARCHITECTURE.md "Command-aware classification"),
//! context-free otherwise.
//!
//! It does not drive `qmt_transport::link::Link` itself, though that would share the sequencing
//! (echo, prompt, in-flight command) too: decode prints every line where it arrived, and the link
//! does not say where it put a line it keeps. `Link::feed_with` now hands information lines over as
//! they arrive, but the echo, an awaited `> ` / `CONNECT` and an over-long line are
//! consumed with no event (only counters); and `Link::submit` decides itself when a command goes
//! out and needs its data, of exactly the announced length, before the prompt, where a capture
//! says when the host wrote and may hold a placeholder for the data.

use std::collections::BTreeMap;
use std::io::{self, Write};

use at_codec::{Decoder, Frame};
use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::recv::LenMode;
use qmt_proto::{Command, DataPhase, Info, ModuleLine, Recv, RecvHook, Urc};

use crate::capture::{Direction, pieces};

/// Longest module line the decoder delivers; longer lines are reported as overflows. The link's
/// own limit, so that decode reports an overflow exactly where a driver would have one.
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
    s.print_summary()?;
    Ok(s.summary)
}

/// The command whose response is being read.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    kind: CommandKind,
    form: Form,
    data: Option<DataPhase>,
    /// `Command::info_client`: information naming another client is a URC.
    info_client: Option<qmt_proto::params::ClientIdx>,
}

struct Session<'o, W: Write> {
    opts: Options,
    out: &'o mut W,
    decoder: Box<Decoder<LINE_CAPACITY, RecvHook>>,
    in_flight: Option<InFlight>,
    /// The prompt or `CONNECT` arrived: the next host piece is raw data of this phase.
    awaiting_data: Option<DataPhase>,
    /// A split-form `+QMTRECV` header waiting for its data run (spec §6 variation 2).
    split_header: Option<Vec<u8>>,
    /// Checksum of the last uploaded file, to compare with `+QFUPL`.
    upload_checksum: Option<(u64, u16)>,
    /// Line number of the piece being decoded (text logs), for the output.
    line: usize,
    summary: Summary,
}

impl<'o, W: Write> Session<'o, W> {
    fn new(opts: Options, out: &'o mut W) -> Self {
        let hook = RecvHook::all(opts.recv_len);
        Session {
            opts,
            out,
            decoder: Box::new(Decoder::with_hook(hook)),
            in_flight: None,
            awaiting_data: None,
            split_header: None,
            upload_checksum: None,
            line: 0,
            summary: Summary::default(),
        }
    }

    /// A host piece of a text log: a command line, or the raw data after a prompt.
    fn host(&mut self, bytes: &[u8], line: usize) -> io::Result<()> {
        self.line = line;
        if let Some(phase) = self.awaiting_data.take() {
            return self.host_data(phase, bytes);
        }
        match Command::parse(bytes) {
            Ok(cmd) => {
                self.start(&cmd);
                // Debug of a command redacts its secrets (qmt-proto's parameter types).
                self.emit(">>", "command", &format!("{cmd:?}"))
            }
            Err(e) => {
                self.summary.bad_commands += 1;
                self.emit(">>", "invalid", &format!("{e}: {}", invalid_line(bytes)))
            }
        }
    }

    fn host_data(&mut self, phase: DataPhase, bytes: &[u8]) -> io::Result<()> {
        let want = phase.data_len();
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
            DataPhase::Prompt { .. } => {
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

    /// Notes the command whose response comes next.
    fn start(&mut self, cmd: &Command) {
        let (kind, form) = cmd.kind();
        self.in_flight = Some(InFlight {
            kind,
            form,
            data: cmd.data_phase(),
            info_client: cmd.info_client(),
        });
        self.awaiting_data = None;
    }

    /// Module bytes, as read from the port.
    fn module(&mut self, bytes: &[u8], line: usize) -> io::Result<()> {
        self.line = line;
        let mut rest = bytes;
        loop {
            let n = self.decoder.feed(rest);
            rest = &rest[n..];
            loop {
                // Frames borrow the decoder; copy the few bytes out to type them after the borrow.
                let owned = match self.decoder.next_frame() {
                    None => break,
                    Some(f) => OwnedFrame::from(f),
                };
                self.frame(owned)?;
            }
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.decoder.finish().map(OwnedFrame::from) {
            // The input ended right after a split header: no byte of its data run came.
            Some(OwnedFrame::Data(d)) if d.is_empty() => {}
            Some(f) => self.frame(f)?,
            None => {}
        }
        if let Some(h) = self.split_header.take() {
            self.line_event(&h)?;
        }
        Ok(())
    }

    fn frame(&mut self, frame: OwnedFrame) -> io::Result<()> {
        match frame {
            OwnedFrame::Line(l) => {
                if let Some(h) = self.split_header.take() {
                    // A split header not followed by its data: type it as the line it is.
                    self.line_event(&h)?;
                }
                // The framer, not a second look at the (trimmed) line, says whether a data run
                // follows: spec §6 variation 2, the split `+QMTRECV` form.
                if self.decoder.awaiting_data().is_some() {
                    self.split_header = Some(l);
                    return Ok(());
                }
                self.line_event(&l)
            }
            OwnedFrame::Data(d) => match self.split_header.take() {
                Some(h) => match Recv::from_split(&h, &d) {
                    Some(r) => self.typed(ModuleLine::Urc(Urc::Recv(r))),
                    None => {
                        self.line_event(&h)?;
                        self.unknown(&d)
                    }
                },
                None => self.unknown(&d),
            },
            OwnedFrame::Prompt => self.typed(ModuleLine::Prompt),
            OwnedFrame::Overflow(len) => {
                self.summary.overflows += 1;
                self.emit(
                    "<<",
                    "overflow",
                    &format!("line of {len} bytes discarded (longer than {LINE_CAPACITY})"),
                )
            }
        }
    }

    /// Types one module line: echo, information of the command in flight, or context-free.
    fn line_event(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(f) = self.in_flight {
            if let Some(info) =
                Info::parse_for(f.kind, f.form, line).filter(|i| i.is_for(f.info_client))
            {
                return self.typed(ModuleLine::Info(info));
            }
        }
        let parsed = ModuleLine::parse(line);
        if let ModuleLine::Unknown(_) = parsed {
            // An echoed command (raw captures with ATE1): it tells which command is in flight.
            if let Ok(cmd) = Command::parse(line) {
                self.start(&cmd);
                return self.emit("<<", "echo", &format!("{cmd:?}"));
            }
        }
        self.typed(parsed)
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
        match &line {
            ModuleLine::Final(_) => self.in_flight = None,
            ModuleLine::Prompt | ModuleLine::Connect => {
                self.awaiting_data = self.in_flight.and_then(|f| f.data);
            }
            ModuleLine::Info(Info::QfUpl {
                upload_size,
                checksum,
            }) => {
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
            _ => {}
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

/// A frame copied out of the decoder's buffer.
enum OwnedFrame {
    Line(Vec<u8>),
    Prompt,
    Data(Vec<u8>),
    Overflow(usize),
}

impl From<Frame<'_>> for OwnedFrame {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Line(l) => OwnedFrame::Line(l.to_vec()),
            Frame::Prompt => OwnedFrame::Prompt,
            Frame::Data(d) => OwnedFrame::Data(d.to_vec()),
            Frame::Overflow { len } => OwnedFrame::Overflow(len),
        }
    }
}

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
