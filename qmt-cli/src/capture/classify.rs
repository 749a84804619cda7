//! Who said each line of a text log, as a person reads it: turns the log's lines into
//! [`Piece`]s.
//!
//! A marked line says its direction. An unmarked one (a log without markers, or a line between
//! marked ones) is the host's when it is an AT command and the module's when it is AT traffic
//! (a typed module line, a `+XXX:` line, an upper-case line such as `APP RDY`, or any line but
//! prose inside a command's answer: `Quectel`, an IMEI); anything else is a note. The line after
//! a `> ` prompt (or the rest of a `> payload` line) is the host's data; after `CONNECT` the data
//! runs over lines until the announced size or the next module line.

use qmt_proto::{Command, DataPhase, ModuleLine};

use super::piece::{Direction, Piece, PieceKind};
use super::text::{is_at_command, is_comment, is_prose, split_comment, trim};
use super::time::Timestamp;

/// One line of a log (or one line of a dotted chunk), cut by its layout.
#[derive(Clone, Debug)]
pub struct LogLine<'a> {
    /// Its line number (1-based).
    pub line: usize,
    /// Its timestamp.
    pub time: Option<Timestamp>,
    /// Its direction marker.
    pub dir: Option<Direction>,
    /// The text after the prefix.
    pub text: &'a [u8],
}

/// File data after `CONNECT` spread over several log lines, being collected.
struct Gather {
    want: usize,
    bytes: Vec<u8>,
    line: usize,
    time: Option<Timestamp>,
}

/// Sorts a log's lines into pieces, in order.
pub struct Sorter {
    /// The project's own form: lines kept exactly as written, `#` lines skipped.
    native: bool,
    /// The data phase of the last command, until its prompt (or its final code).
    pending: Option<DataPhase>,
    /// The prompt came: the next host text is this phase's data.
    awaiting: Option<DataPhase>,
    /// A command is waiting for its final code: bare lines are its answer.
    in_response: bool,
    /// The last piece is this command line: the same line again is its echo.
    last_command: Option<Vec<u8>>,
    /// The last module line was a split-form `+QMTRECV` header: its payload is the next line.
    split_payload_next: bool,
    gather: Option<Gather>,
    out: Vec<Piece>,
}

impl Sorter {
    /// A sorter for a log in the project's own form (`native`) or another text form.
    pub fn new(native: bool) -> Sorter {
        Sorter {
            native,
            pending: None,
            awaiting: None,
            in_response: false,
            last_command: None,
            split_payload_next: false,
            gather: None,
            out: Vec::new(),
        }
    }

    /// The pieces, once every line was pushed.
    pub fn finish(mut self) -> Vec<Piece> {
        self.flush_gather();
        self.out
    }

    /// Sorts one line.
    pub fn push(&mut self, l: LogLine<'_>) {
        if self.native {
            return self.push_native(l);
        }
        let t = trim(l.text);
        if t.is_empty() {
            return;
        }
        if let Some(g) = &mut self.gather {
            // A file's lines may each be marked as the host's; the module's next line, or a
            // command, ends them.
            let ends = match l.dir {
                Some(Direction::Module) => true,
                Some(Direction::Host) => is_at_command(t),
                None => is_at_command(t) || is_typed(t) || is_plus_line(t),
            };
            if !ends {
                if !g.bytes.is_empty() {
                    g.bytes.push(b'\n');
                }
                g.bytes.extend_from_slice(t);
                if g.bytes.len() >= g.want {
                    self.flush_gather();
                }
                return;
            }
            self.flush_gather();
        }
        match l.dir {
            Some(Direction::Host) => self.host(&l, t),
            Some(Direction::Module) => self.module(&l, t),
            None => self.unmarked(&l, t),
        }
    }

    /// The project's own form, as before: `>>` and `<<` lines as written, `#` lines and blank
    /// ones skipped; any other line is a note (the form marks all its traffic).
    fn push_native(&mut self, l: LogLine<'_>) {
        match l.dir {
            Some(Direction::Host) => {
                if self.awaiting.take().is_some() {
                    self.piece(PieceKind::Data, l.text.to_vec(), &l);
                } else {
                    self.command(&l, l.text);
                }
            }
            Some(Direction::Module) => self.module_line(&l, l.text),
            None => {
                let t = trim(l.text);
                if !t.is_empty() && !t.starts_with(b"#") {
                    self.piece(PieceKind::Note, t.to_vec(), &l);
                }
            }
        }
    }

    /// A line marked as the host's.
    fn host(&mut self, l: &LogLine<'_>, t: &[u8]) {
        if let Some(phase) = self.awaiting.take() {
            let data = data_text(l.text, t, phase);
            self.start_data(phase, data, l);
            return;
        }
        let (cmd, comment) = split_comment(t, false);
        self.command(l, cmd);
        if let Some(c) = comment {
            self.piece(PieceKind::Note, c.to_vec(), l);
        }
    }

    /// A line marked as the module's.
    fn module(&mut self, l: &LogLine<'_>, t: &[u8]) {
        let (line, comment) = split_comment(t, true);
        self.module_line(l, line);
        if let Some(c) = comment {
            self.piece(PieceKind::Note, c.to_vec(), l);
        }
    }

    /// A line without a marker: sorted by what it is.
    fn unmarked(&mut self, l: &LogLine<'_>, t: &[u8]) {
        if std::mem::take(&mut self.split_payload_next) {
            return self.module_line(l, t);
        }
        if let Some(phase) = self.awaiting.take() {
            let data = data_text(l.text, t, phase);
            return self.start_data(phase, data, l);
        }
        if is_comment(t) {
            return self.piece(PieceKind::Note, t.to_vec(), l);
        }
        if let Some(rest) = t.strip_prefix(b">") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            if is_at_command(rest) && self.pending.is_none() {
                // `> AT…`: a log marking only the host's lines.
                return self.host(l, rest);
            }
            if !rest.is_empty() && !self.in_response {
                // No command waits for a prompt: a quotation, not AT traffic.
                return self.piece(PieceKind::Note, t.to_vec(), l);
            }
            // The module's prompt, and the data after it on the same line.
            self.module_line(l, b">");
            if !rest.is_empty() {
                let phase = self.awaiting.take();
                let data = match phase {
                    Some(p) => data_text(rest, rest, p),
                    None => rest,
                };
                self.piece(PieceKind::Data, data.to_vec(), l);
            }
            return;
        }
        if is_at_command(t) {
            if self.last_command.as_deref() == Some(t) {
                // The same command line twice: the second is the module's echo (ATE1).
                return self.module_line(l, t);
            }
            let (cmd, comment) = split_comment(t, false);
            self.command(l, cmd);
            if let Some(c) = comment {
                self.piece(PieceKind::Note, c.to_vec(), l);
            }
            return;
        }
        let (line, comment) = split_comment(t, true);
        let module = is_module_line(line);
        if !module && self.pending.is_some_and(|p| p.prompted()) {
            // A publish whose prompt the log left out: this is its data.
            self.pending = None;
            self.piece(PieceKind::Data, t.to_vec(), l);
        } else if module || (self.in_response && !is_prose(line)) {
            self.module_line(l, line);
            if let Some(c) = comment {
                self.piece(PieceKind::Note, c.to_vec(), l);
            }
        } else {
            self.piece(PieceKind::Note, t.to_vec(), l);
        }
    }

    /// A host command line.
    fn command(&mut self, l: &LogLine<'_>, cmd: &[u8]) {
        self.pending = Command::parse(cmd).ok().and_then(|c| c.data_phase());
        self.awaiting = None;
        self.in_response = true;
        self.piece(PieceKind::Command, cmd.to_vec(), l);
        self.last_command = Some(cmd.to_vec());
    }

    /// A module line: framed as the module sends it, and the state it changes.
    fn module_line(&mut self, l: &LogLine<'_>, line: &[u8]) {
        let bytes = if line == b">" || line == b"> " {
            // `AT+QMTPUBEX`'s counted data, or a sibling `AT+QMTPUB`'s data up to Ctrl-Z.
            if let Some(p) = self.pending.filter(DataPhase::prompted) {
                self.awaiting = Some(p);
                self.pending = None;
            }
            b"\r\n> ".to_vec()
        } else {
            match ModuleLine::parse(line) {
                ModuleLine::Connect => {
                    if let Some(p @ DataPhase::Connect { .. }) = self.pending {
                        self.awaiting = Some(p);
                        self.pending = None;
                    }
                }
                ModuleLine::Final(_) => {
                    self.in_response = false;
                    self.pending = None;
                    self.awaiting = None;
                }
                _ => {}
            }
            self.split_payload_next = is_split_header(line);
            [b"\r\n", line, b"\r\n"].concat()
        };
        self.piece(PieceKind::Module, bytes, l);
    }

    /// The data after a prompt (one line) or `CONNECT` (collected over lines).
    fn start_data(&mut self, phase: DataPhase, data: &[u8], l: &LogLine<'_>) {
        match phase {
            DataPhase::Connect { len } if !self.native && data.len() < len => {
                self.gather = Some(Gather {
                    want: len,
                    bytes: data.to_vec(),
                    line: l.line,
                    time: l.time.clone(),
                });
            }
            _ => self.piece(PieceKind::Data, data.to_vec(), l),
        }
    }

    fn flush_gather(&mut self) {
        if let Some(mut g) = self.gather.take() {
            // A file's last line ends with a newline the log's line end stood for.
            if g.bytes.len() + 1 == g.want {
                g.bytes.push(b'\n');
            }
            self.last_command = None;
            self.out.push(Piece {
                kind: PieceKind::Data,
                bytes: g.bytes,
                line: g.line,
                time: g.time,
            });
        }
    }

    fn piece(&mut self, kind: PieceKind, bytes: Vec<u8>, l: &LogLine<'_>) {
        if kind != PieceKind::Note {
            self.last_command = None;
        }
        self.out.push(Piece {
            kind,
            bytes,
            line: l.line,
            time: l.time.clone(),
        });
    }
}

/// The data of `phase` as the log shows it: the untrimmed text when it has the announced
/// length (a payload may end with spaces), the trimmed one otherwise.
fn data_text<'a>(untrimmed: &'a [u8], trimmed: &'a [u8], phase: DataPhase) -> &'a [u8] {
    let untrimmed = untrimmed.strip_suffix(b"\r").unwrap_or(untrimmed);
    match phase.data_len() {
        Some(want) if untrimmed.len() == want => untrimmed,
        // The Ctrl-Z phase of a sibling module's `AT+QMTPUB` announces no length: the payload
        // is the whole text up to its Ctrl-Z (trailing spaces included).
        None => untrimmed
            .strip_suffix(&[qmt_proto::sibling::CTRL_Z])
            .unwrap_or(untrimmed),
        // Otherwise the trimmed text, even of another length: decode reports the difference (a
        // placeholder, or a host that wrote other than it announced).
        Some(_) => trimmed,
    }
}

/// Whether qmt-proto types the line (context-free).
fn is_typed(t: &[u8]) -> bool {
    t == b">" || !matches!(ModuleLine::parse(t), ModuleLine::Unknown(_))
}

/// Whether `t` has the shape of an information line or URC: `+`, an upper-case name, `:`
/// (`+QIND: SMS DONE`, `+CME ERROR: 10`). Base64 lines of a file may start with `+`, but hold no
/// `:`.
fn is_plus_line(t: &[u8]) -> bool {
    let Some(rest) = t.strip_prefix(b"+") else {
        return false;
    };
    let Some(colon) = rest.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &rest[..colon];
    name.first().is_some_and(u8::is_ascii_uppercase)
        && name
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ')
}

/// Whether an unmarked line is the module's by its looks: typed, a `+NAME:` line, or an
/// upper-case line (`APP RDY`, `NO CARRIER`).
fn is_module_line(t: &[u8]) -> bool {
    if is_typed(t) || is_plus_line(t) {
        return true;
    }
    let letters = t.iter().filter(|b| b.is_ascii_uppercase()).count();
    letters >= 2
        && t.iter().all(|&b| {
            b.is_ascii_uppercase()
                || b.is_ascii_digit()
                || matches!(b, b' ' | b':' | b',' | b'.' | b'-' | b'_' | b'"' | b'/')
        })
}

/// Whether `t` is the header of the split `+QMTRECV` form (spec §6 variation 2): it ends with
/// `"<topic>",<length>`, the payload on the next line.
fn is_split_header(t: &[u8]) -> bool {
    let Some(rest) = t.strip_prefix(b"+QMTRECV:") else {
        return false;
    };
    let Some(comma) = rest.iter().rposition(|&b| b == b',') else {
        return false;
    };
    let len = &rest[comma + 1..];
    !len.is_empty()
        && len.iter().all(u8::is_ascii_digit)
        && rest[..comma].ends_with(b"\"")
        && rest.iter().filter(|&&b| b == b',').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort(native: bool, lines: &[(Option<Direction>, &str)]) -> Vec<(PieceKind, String)> {
        let mut s = Sorter::new(native);
        for (i, (dir, text)) in lines.iter().enumerate() {
            s.push(LogLine {
                line: i + 1,
                time: None,
                dir: *dir,
                text: text.as_bytes(),
            });
        }
        s.finish()
            .into_iter()
            .map(|p| (p.kind, String::from_utf8_lossy(&p.bytes).into_owned()))
            .collect()
    }

    use PieceKind::{Command as C, Data as D, Module as M, Note as N};

    fn k(kind: PieceKind, s: &str) -> (PieceKind, String) {
        (kind, s.to_string())
    }

    #[test]
    fn an_unmarked_session() {
        let got = sort(
            false,
            &[
                (None, "Connecting to the broker now"),
                (None, "AT+CGSN"),
                (None, ""),
                (None, "861234567890123"),
                (None, "OK"),
                (None, "AT+QMTPUBEX=0,0,0,0,\"t\",5"),
                (None, "> hello"),
                (None, "OK\t// accepted"),
                (None, "+QMTPUBEX: 0,0,0"),
                (None, "publish done"),
                (None, "APP RDY"),
            ],
        );
        assert_eq!(
            got,
            [
                k(N, "Connecting to the broker now"),
                k(C, "AT+CGSN"),
                k(M, "\r\n861234567890123\r\n"),
                k(M, "\r\nOK\r\n"),
                k(C, "AT+QMTPUBEX=0,0,0,0,\"t\",5"),
                k(M, "\r\n> "),
                k(D, "hello"),
                k(M, "\r\nOK\r\n"),
                k(N, "// accepted"),
                k(M, "\r\n+QMTPUBEX: 0,0,0\r\n"),
                k(N, "publish done"),
                k(M, "\r\nAPP RDY\r\n"),
            ]
        );
    }

    #[test]
    fn file_data_runs_over_lines() {
        let got = sort(
            false,
            &[
                (None, "AT+QFUPL=\"UFS:a.pem\",12,100"),
                (None, "CONNECT"),
                (None, "-----"),
                (None, "ABCDE"),
                (None, "+QFUPL: 12,1234"),
                (None, "OK"),
            ],
        );
        assert_eq!(got[2], k(D, "-----\nABCDE\n"));
        assert_eq!(got[3], k(M, "\r\n+QFUPL: 12,1234\r\n"));
    }

    #[test]
    fn marked_lines_and_echo() {
        let got = sort(
            false,
            &[
                (Some(Direction::Host), "AT+CPIN?"),
                (Some(Direction::Module), "AT+CPIN?"),
                (Some(Direction::Module), "+CPIN: READY"),
                (Some(Direction::Module), "OK"),
                (None, "AT+CSQ"),
                (None, "AT+CSQ"),
                (None, "+CSQ: 20,99"),
            ],
        );
        assert_eq!(
            got,
            [
                k(C, "AT+CPIN?"),
                k(M, "\r\nAT+CPIN?\r\n"),
                k(M, "\r\n+CPIN: READY\r\n"),
                k(M, "\r\nOK\r\n"),
                k(C, "AT+CSQ"),
                k(M, "\r\nAT+CSQ\r\n"),
                k(M, "\r\n+CSQ: 20,99\r\n"),
            ]
        );
    }

    #[test]
    fn the_project_form_keeps_lines_as_written() {
        let got = sort(
            true,
            &[
                (None, "# c"),
                (Some(Direction::Host), "AT+QMTOPEN?"),
                (None, "   (an aside)"),
                (Some(Direction::Module), "OK"),
                (Some(Direction::Module), ">"),
                (Some(Direction::Host), "data, with spaces  "),
            ],
        );
        assert_eq!(
            got,
            [
                k(C, "AT+QMTOPEN?"),
                k(N, "(an aside)"),
                k(M, "\r\nOK\r\n"),
                k(M, "\r\n> "),
                k(C, "data, with spaces  "),
            ]
        );
    }

    #[test]
    fn plus_lines() {
        assert!(is_plus_line(b"+QIND: SMS DONE"));
        assert!(is_plus_line(b"+CME ERROR: 10"));
        assert!(!is_plus_line(b"+AbC/9xyz+QQ"));
        assert!(!is_plus_line(b"+ added: a feature"));
    }

    #[test]
    fn marked_file_lines_are_gathered() {
        let got = sort(
            false,
            &[
                (Some(Direction::Host), "AT+QFUPL=\"UFS:a.pem\",12,100"),
                (Some(Direction::Module), "CONNECT"),
                (Some(Direction::Host), "-----"),
                (Some(Direction::Host), "ABCDE"),
                (Some(Direction::Module), "+QFUPL: 12,1234"),
            ],
        );
        assert_eq!(got[2], k(D, "-----\nABCDE\n"));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn split_form_payload_is_the_modules() {
        assert!(is_split_header(b"+QMTRECV: 0,0,\"pump/01/cmd\",23"));
        assert!(!is_split_header(b"+QMTRECV: 0,0,\"t\",5,hello"));
        let got = sort(
            false,
            &[
                (None, "+QMTRECV: 0,0,\"pump/01/cmd\",23"),
                (None, "{\"relay1\":1,\"relay2\":0}"),
            ],
        );
        assert_eq!(got[1].0, M);
    }
}
