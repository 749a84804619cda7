//! The script's exchanges prepared for matching: each command parsed once and keyed by its kind,
//! the log's echo taken out of the answer (the replay echoes the host's own bytes), and where a
//! repeated answer ends.

use std::mem::Discriminant;

use qmt_proto::cfg::NameCase;
use qmt_proto::ssl::SslOp;
use qmt_proto::{CfgOp, Command};

use super::script::{Chunk, Part, Script, Step, shown};

/// Which exchanges a host command may take: the same command in the same form (and, for
/// `AT+QMTCFG` / `AT+QSSLCFG`, the same setting, query or set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// A line `qmt_proto::Command::parse` types.
    Typed {
        variant: Discriminant<Command>,
        setting: Option<&'static str>,
        query: bool,
    },
    /// Any other line: its name up to `=` or `?`, upper case, and the form (`=?`, `?`, `=`).
    Text(Vec<u8>),
}

/// A command line as matching sees it (the host's or the log's). `Debug` shows it with its
/// secrets redacted.
#[derive(Clone)]
pub(super) struct Cmd {
    pub(super) raw: Vec<u8>,
    /// Typed, with `AT+QMTCFG` names in lower case (`"SSL"` and `"ssl"` are one setting).
    pub(super) cmd: Option<Command>,
    pub(super) key: Key,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&shown(&self.raw))
    }
}

impl Cmd {
    pub(super) fn new(raw: &[u8]) -> Cmd {
        let cmd = Command::parse(raw).ok().map(|c| match c {
            Command::Cfg(cfg) => Command::Cfg(cfg.with_name_case(NameCase::Lower)),
            other => other,
        });
        let key = match &cmd {
            Some(c) => Key::Typed {
                variant: std::mem::discriminant(c),
                setting: c.name().setting(),
                query: match c {
                    Command::Cfg(cfg) => matches!(cfg.op(), CfgOp::Query(_)),
                    Command::SslCfg(s) => matches!(s.op, SslOp::Query(_)),
                    _ => false,
                },
            },
            None => Key::Text(text_key(raw)),
        };
        Cmd {
            raw: raw.to_vec(),
            cmd,
            key,
        }
    }

    /// Whether the arguments are the same: typed commands compare as values, other lines as
    /// text (ignoring case).
    pub(super) fn same_args(&self, other: &Cmd) -> bool {
        match (&self.cmd, &other.cmd) {
            (Some(a), Some(b)) => a == b,
            _ => self.raw.eq_ignore_ascii_case(&other.raw),
        }
    }

    /// The client index the command names, if any.
    pub(super) fn client(&self) -> Option<u8> {
        let idx = match self.cmd.as_ref()? {
            Command::Open(o) => o.client_idx,
            Command::Close(i) | Command::Disc(i) => *i,
            Command::Conn(c) => c.client_idx,
            Command::Sub(s) => s.client_idx(),
            Command::Uns(u) => u.client_idx(),
            Command::PubEx(p) => p.client_idx(),
            Command::Ec2xPub(p) => p.head().client_idx(),
            Command::Bc26Pub(p) => p.head().client_idx(),
            Command::Recv(r) => r.client_idx,
            Command::Cfg(c) => c.client_idx(),
            _ => return None,
        };
        Some(idx.get())
    }

    /// The packet identifier of a SUB, UNS or publish (a sibling module's `AT+QMTPUB` too).
    pub(super) fn msgid(&self) -> Option<u16> {
        match self.cmd.as_ref()? {
            Command::Sub(s) => Some(s.msgid().get()),
            Command::Uns(u) => Some(u.msgid().get()),
            Command::PubEx(p) => Some(p.msgid().get()),
            Command::Ec2xPub(p) => Some(p.head().msgid().get()),
            Command::Bc26Pub(p) => Some(p.head().msgid().get()),
            _ => None,
        }
    }

    /// The prefixes of this command's two-phase result line (spec §1 "Two-phase commands"),
    /// `+QMTPUB:` included for the publish (spec §6 variation 4).
    pub(super) fn result_prefixes(&self) -> &'static [&'static [u8]] {
        match self.cmd {
            Some(Command::Open(_)) => &[b"+QMTOPEN: "],
            Some(Command::Close(_)) => &[b"+QMTCLOSE: "],
            Some(Command::Conn(_)) => &[b"+QMTCONN: "],
            Some(Command::Disc(_)) => &[b"+QMTDISC: "],
            Some(Command::Sub(_)) => &[b"+QMTSUB: "],
            Some(Command::Uns(_)) => &[b"+QMTUNS: "],
            Some(Command::PubEx(_)) => &[b"+QMTPUBEX: ", b"+QMTPUB: "],
            Some(Command::Ec2xPub(_) | Command::Bc26Pub(_)) => &[b"+QMTPUB: "],
            Some(Command::Ntp(_)) => &[b"+QNTP: "],
            _ => &[],
        }
    }

    /// `AT+QMTOPEN?`, `AT+QMTCONN?`, `AT+QMTRECV?`: reads of the MQTT clients' state.
    pub(super) fn is_client_state_read(&self) -> bool {
        matches!(
            self.cmd,
            Some(Command::OpenRead | Command::ConnRead | Command::RecvRead)
        )
    }

    /// `AT+QMTOPEN=<idx>,…`.
    pub(super) fn is_open(&self) -> bool {
        matches!(self.cmd, Some(Command::Open(_)))
    }
}

/// The name of a line that does not parse, upper case, with its form.
fn text_key(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .iter()
        .position(|&b| b == b'=' || b == b'?')
        .unwrap_or(raw.len());
    let mut key = raw[..end].to_ascii_uppercase();
    let rest = &raw[end..];
    let form: &[u8] = if rest.starts_with(b"=?") {
        b"=?"
    } else if rest.starts_with(b"?") {
        b"?"
    } else if rest.starts_with(b"=") {
        b"="
    } else {
        b""
    };
    key.extend_from_slice(form);
    key
}

/// One exchange of the log, ready to be played.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) cmd: Cmd,
    /// The log's module echoed the command (the echo is out of `parts`).
    pub(super) echoed: bool,
    /// What the log's module sent after the echoed command line: its CR, when the echo ended
    /// with one before the answer's own CR LF.
    pub(super) echo_cr: bool,
    pub(super) parts: Vec<Part>,
    /// The log's host data, if the exchange had a data phase.
    pub(super) log_data: Option<Vec<u8>>,
    /// The log's module echoed the data (the echo is out of `parts`).
    pub(super) data_echoed: bool,
    /// How many parts a repeated use plays: up to the final result code, or the command's own
    /// two-phase result when that comes later.
    pub(super) end: usize,
    /// The part holding the final `OK`, if the answer has one.
    pub(super) ok_at: Option<usize>,
    /// URC steps that followed the exchange in the log.
    pub(super) urcs: Vec<Chunk>,
    /// For a client-state read: the log's `AT+QMTOPEN=` exchange before it.
    pub(super) open_anchor: Option<usize>,
    pub(super) used: bool,
    /// What it sent after its own answer was played while the host was quiet (`Replay`'s
    /// `go_on_quietly`): a use plays only its answer.
    pub(super) quiet_played: bool,
    /// When it was last used (a serial; 0: never).
    pub(super) last_use: u64,
}

/// Every exchange, and the URCs before the first.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub(super) entries: Vec<Entry>,
    pub(super) leading: Vec<Chunk>,
}

impl Table {
    pub(super) fn new(script: Script) -> Table {
        let mut table = Table::default();
        let mut last_open = None;
        for step in script.into_steps() {
            match step {
                Step::Urc(chunk) => match table.entries.last_mut() {
                    Some(e) => e.urcs.push(chunk),
                    None => table.leading.push(chunk),
                },
                Step::Exchange(ex) => {
                    let cmd = Cmd::new(&ex.command);
                    let open_anchor = if cmd.is_client_state_read() {
                        last_open
                    } else {
                        None
                    };
                    if cmd.is_open() {
                        last_open = Some(table.entries.len());
                    }
                    table.entries.push(Entry::new(cmd, ex.parts, open_anchor));
                }
            }
        }
        table
    }
}

impl Entry {
    fn new(cmd: Cmd, mut parts: Vec<Part>, open_anchor: Option<usize>) -> Entry {
        let (echoed, echo_cr) = match strip_echo(&mut parts, 0, &cmd.raw, true) {
            Some(cr) => (true, cr),
            None => (false, false),
        };
        let data_at = parts.iter().position(|p| matches!(p, Part::HostData(_)));
        let log_data = data_at.and_then(|k| match &parts[k] {
            Part::HostData(d) => Some(d.clone()),
            Part::Module(_) => None,
        });
        let data_echoed = match (data_at, &log_data) {
            (Some(k), Some(d)) => strip_echo(&mut parts, k + 1, d, false).is_some(),
            _ => false,
        };
        let (end, ok_at) = scan(&parts, cmd.result_prefixes());
        Entry {
            cmd,
            echoed,
            echo_cr,
            parts,
            log_data,
            data_echoed,
            end,
            ok_at,
            urcs: Vec::new(),
            open_anchor,
            used: false,
            quiet_played: false,
            last_use: 0,
        }
    }
}

/// Takes `echo` off the start of the module chunks from `parts[from]` on (up to the next data
/// part), across chunk boundaries. With `cr`, a CR that ends the echo before the answer's own
/// CR LF goes too. `None` when those chunks do not start with `echo`; else whether a CR went.
fn strip_echo(parts: &mut [Part], from: usize, echo: &[u8], cr: bool) -> Option<bool> {
    if echo.is_empty() {
        return None;
    }
    let mut head = Vec::new();
    for p in parts.iter().skip(from) {
        match p {
            Part::Module(c) => head.extend_from_slice(&c.bytes),
            Part::HostData(_) => break,
        }
        if head.len() > echo.len() + 2 {
            break;
        }
    }
    if !head.starts_with(echo) {
        return None;
    }
    let with_cr = cr && head[echo.len()..].starts_with(b"\r\r\n");
    let mut left = echo.len() + usize::from(with_cr);
    for p in parts.iter_mut().skip(from) {
        let Part::Module(c) = p else { break };
        let n = left.min(c.bytes.len());
        c.bytes.drain(..n);
        left -= n;
        if left == 0 {
            break;
        }
    }
    Some(with_cr)
}

/// Final result codes (spec §1).
pub(super) fn is_final(line: &[u8]) -> bool {
    line == b"OK"
        || line == b"ERROR"
        || line.starts_with(b"+CME ERROR")
        || line.starts_with(b"+CMS ERROR")
}

/// Where a repeated answer ends (a part count), and the part holding the final `OK`.
fn scan(parts: &[Part], result: &[&[u8]]) -> (usize, Option<usize>) {
    let mut line = Vec::new();
    let (mut final_at, mut ok_at, mut result_at) = (None, None, None);
    for (i, part) in parts.iter().enumerate() {
        let Part::Module(c) = part else { continue };
        for &b in &c.bytes {
            if b != b'\n' {
                line.push(b);
                continue;
            }
            let l = line.strip_suffix(b"\r").unwrap_or(&line);
            if is_final(l) {
                final_at.get_or_insert(i);
                if l == b"OK" {
                    ok_at.get_or_insert(i);
                }
            } else if result.iter().any(|p| l.starts_with(p)) {
                result_at.get_or_insert(i);
            }
            line.clear();
        }
    }
    let end = match (final_at, result_at) {
        (None, None) => parts.len(),
        (f, r) => f.max(r).map_or(parts.len(), |last| last + 1),
    };
    (end, ok_at)
}
