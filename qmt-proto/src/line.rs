//! Every line the module sends, typed: final result codes, information lines, URCs and two-phase
//! results, `CONNECT`, the `> ` prompt (spec §1, §3–§8, §10.1–§10.9).
//!
//! [`ModuleLine::parse`] is context-free and never fails: a line it cannot type is
//! [`ModuleLine::Unknown`]. Prefixes are ASCII case-insensitive, spaces after `:` and after commas
//! are tolerated, trailing spaces (and a stray CR) are ignored except inside a `+QMTRECV` payload.
//! A line whose numbers are outside the range of the checked parameter types (`client_idx` 9,
//! `port` 0, `recv_id` 5) is `Unknown`; result codes never are (they have `Unknown(n)` variants).
//!
//! Some lines mean different things depending on the command in flight: `+QMTCONN: 0,3` is the
//! read answer "state 3 (connected)" to `AT+QMTCONN?`, and otherwise the result of a connect
//! (`result` 3, unknown). Context-free, such a line parses as the [`Urc`]; the command-aware
//! classifier [`Info::parse_for`] (ARCHITECTURE.md "Command-aware classification") says whether a line
//! is information for the command in flight.
//!
//! Spec §10 adds two more kinds of such lines. Bare information lines (the IMEI after `AT+GSN`,
//! the model after `AT+CGMM`, the three lines of `ATI`) have no prefix at all: context-free they are
//! `Unknown`, and only the command in flight makes them [`Info::Bare`]. Registration lines
//! (`+CREG`, `+CGREG`, `+CEREG`) are a URC with one leading number and a query answer with two:
//! context-free only the URC shape is typed ([`Urc::Reg`]); the query shape is [`Info::Reg`] while
//! its query is in flight and `Unknown` otherwise.
//!
//! `encode` writes a line's exact bytes without framing; `encode_framed` writes what the module
//! puts on the wire (`\r\n<line>\r\n`; the prompt is `\r\n> `). For lines in canonical form (the
//! module's own: `: ` after the prefix, no spaces after commas) `encode(parse(line)) == line`.

use alloc::vec::Vec;

use crate::cfg::CfgInfo;
use crate::clock::{ModuleTime, NtpResult};
use crate::codes::{
    CloseResult, ConnState, DiscResult, OpenResult, PacketResult, PingResult, StatCode, StoreStatus,
};
use crate::kind::{CommandKind, Form};
use crate::net::{
    ApnAuth, ContextType, Functionality, PinState, PowerDownKind, RegDomain, RegLocation, RegStat,
    RegUrcMode, Signal,
};
use crate::params::{ClientIdx, ContextId, MsgId, Port, RecvId};
use crate::recv::{RECV_PREFIX, Recv};
use crate::ssl::SslInfo;
use crate::syntax::{Out, complete, int, quoted, quoted_str, uint};
use crate::uart::FlowControl;
use crate::urc::{ConnValue, PubPrefix, Urc, Values, encode_location};
use winnow::Parser;
use winnow::combinator::{opt, preceded};

/// A final result code: the end of a command's response (spec §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinalCode<'a> {
    /// `OK`: the command was accepted (for two-phase commands: only accepted; the outcome follows
    /// as a [`Urc`]).
    Ok,
    /// `ERROR`: refused (syntax, a parameter, or the state).
    Error,
    /// `+CME ERROR: <n>`: refused with a numeric error code (`AT+CMEE=1`).
    CmeError(u32),
    /// `+CME ERROR: <text>`: refused with a verbose error (`AT+CMEE=2`). The text is kept as
    /// written; it never consists of digits only (that is [`CmeError`](Self::CmeError)).
    CmeErrorText(&'a str),
    /// `+CMS ERROR: <n>`: seen on some firmware instead of `+CME ERROR`.
    CmsError(u32),
}

impl FinalCode<'_> {
    /// Whether the command succeeded (`OK`).
    pub const fn is_ok(&self) -> bool {
        matches!(self, FinalCode::Ok)
    }

    /// Appends the line's exact bytes, without the framing CR LF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Out(out);
        match *self {
            FinalCode::Ok => o.raw(b"OK"),
            FinalCode::Error => o.raw(b"ERROR"),
            FinalCode::CmeError(n) => o.raw(b"+CME ERROR: ").num(n),
            FinalCode::CmeErrorText(t) => o.raw(b"+CME ERROR: ").raw(t.as_bytes()),
            FinalCode::CmsError(n) => o.raw(b"+CMS ERROR: ").num(n),
        };
    }
}

/// The answer lines of test commands `AT+<cmd>=?` (spec §4, §5): the command they describe, and
/// the parameter text kept as written (`(0-5),"hostname",(1-65535)`) so it re-encodes exactly.
///
/// Recognised by shape: after the prefix the text starts with `(`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TestLine<'a> {
    /// The command: one of `QmtOpen`, `QmtClose`, `QmtConn`, `QmtDisc`, `QmtSub`, `QmtUns`,
    /// `QmtPubEx`, `QmtPub` (sibling modules) (`AT+QMTCFG=?` answers are [`Info::Cfg`]; `AT+QMTRECV=?` answers only `OK`).
    /// Another kind has no test line of its own and encodes with the placeholder prefix `+?:`.
    pub command: CommandKind,
    /// The text after `+<CMD>: `, starting with `(`.
    pub params: &'a str,
}

/// The prefix (with colon) of the test-answer line of a command, if it has one of its own.
pub const fn test_prefix(kind: CommandKind) -> Option<&'static str> {
    Some(match kind {
        CommandKind::QmtOpen => "+QMTOPEN:",
        CommandKind::QmtClose => "+QMTCLOSE:",
        CommandKind::QmtConn => "+QMTCONN:",
        CommandKind::QmtDisc => "+QMTDISC:",
        CommandKind::QmtSub => "+QMTSUB:",
        CommandKind::QmtUns => "+QMTUNS:",
        CommandKind::QmtPubEx => "+QMTPUBEX:",
        CommandKind::QmtPub => "+QMTPUB:",
        _ => return None,
    })
}

/// An information line: part of a command's response, before its final code (spec §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Info<'a> {
    /// `+QMTOPEN: <client_idx>,"<host_name>",<port>`: one line per open client, answering
    /// `AT+QMTOPEN?` (spec §4). Not to be confused with the result `+QMTOPEN: <idx>,<result>`
    /// (ARCHITECTURE.md trap 2).
    OpenRead {
        /// The client.
        client_idx: ClientIdx,
        /// The server it is open to.
        host: &'a str,
        /// The server port.
        port: Port,
    },
    /// `+QMTCONN: <client_idx>,<state>`: one line per client, answering `AT+QMTCONN?` (spec §4).
    /// Only [`Info::parse_for`] yields it: context-free the same bytes are a [`Urc::Conn`].
    ConnRead {
        /// The client.
        client_idx: ClientIdx,
        /// Its MQTT state.
        state: ConnState,
    },
    /// `+QMTRECV: <client_idx>,<store_status_0>,…,<store_status_4>`: the five buffer slots of a
    /// client, answering `AT+QMTRECV?` (spec §5).
    RecvStatus {
        /// The client.
        client_idx: ClientIdx,
        /// Slot 0 to 4.
        slots: [StoreStatus; 5],
    },
    /// `+QMTRECV: <client_idx>,<msgid>,"<topic>"[,<len>],<payload>`: a stored message, answering
    /// `AT+QMTRECV=<client_idx>[,<recv_id>]` (spec §5). Only [`Info::parse_for`] yields it:
    /// context-free the same bytes are a [`Urc::Recv`].
    Message(Recv<'a>),
    /// `+QFUPL: <upload_size>,<checksum>`: the end of a file upload (spec §7). Compare `checksum`
    /// with [`qfupl_checksum`](crate::checksum::qfupl_checksum) of the bytes written.
    QfUpl {
        /// Bytes the module stored.
        upload_size: u64,
        /// The module's 16-bit XOR checksum (written as 4 lowercase hex digits).
        checksum: u16,
    },
    /// A test-command answer (`+QMTOPEN: (0-5),"hostname",(1-65535)`).
    Test(TestLine<'a>),
    /// A `+QMTCFG:` line (answer to a configuration query or to `AT+QMTCFG=?`, spec §3).
    Cfg(CfgInfo),
    /// A `+QSSLCFG:` line (answer to an SSL context query, spec §7).
    Ssl(SslInfo),
    /// A line without a `+X:` prefix answering an identity command (spec §10.2): the IMEI after
    /// `AT+GSN`, the IMSI after `AT+CIMI`, the manufacturer, model or revision after
    /// `AT+CGMI`/`AT+CGMM`/`AT+CGMR`, and each of the three lines of `ATI` (`Quectel`, the model,
    /// `Revision: <firmware>`). Kept as written. Only [`Info::parse_for`] yields it: context-free
    /// such a line is [`ModuleLine::Unknown`] (the same digits outside a command mean nothing).
    Bare(&'a [u8]),
    /// `+QCCID: <iccid>`: the SIM's ICCID, 19–20 characters as written (spec §10.2).
    Iccid(&'a str),
    /// `+CPIN: <code>` answering `AT+CPIN?` (spec §10.3). Only [`Info::parse_for`] yields it:
    /// context-free the same bytes are a [`Urc::Pin`].
    Pin(PinState<'a>),
    /// `+QSIMSTAT: <enable>,<inserted>` answering `AT+QSIMSTAT?` (spec §10.3). Only
    /// [`Info::parse_for`] yields it: context-free the same bytes are a [`Urc::SimStat`].
    SimStat {
        /// Whether hot-swap detection is on.
        enabled: bool,
        /// Whether a SIM is inserted.
        inserted: bool,
    },
    /// `+CSQ: <rssi>,<ber>` (spec §10.4).
    Signal(Signal),
    /// `+QCSQ: "<sysmode>"[,<rssi>,<rsrp>,<sinr>,<rsrq>]` (spec §10.4): the numbers as written,
    /// their count and meaning depend on `sysmode` (for LTE: rssi and rsrp in dBm, sinr in 1/5 dB
    /// steps **uncertain**, rsrq in dB).
    Qcsq {
        /// `NOSERVICE`, `GSM`, `WCDMA`, `LTE`, `CAT-M`, `CAT-NB`, as written.
        sysmode: &'a str,
        /// The numbers after it, possibly none.
        values: Values<'a>,
    },
    /// `+QNWINFO: "<act>","<oper>","<band>",<channel>` (spec §10.4), e.g.
    /// `"FDD LTE","46001","LTE BAND 3",1650`. An unquoted numeric `<oper>` (some firmware) is
    /// accepted; it is written back quoted.
    NwInfo {
        /// The access technology (`FDD LTE`).
        act: &'a str,
        /// The operator, MCC and MNC (`46001`).
        oper: &'a str,
        /// The band (`LTE BAND 3`).
        band: &'a str,
        /// The channel (EARFCN for LTE).
        channel: u32,
    },
    /// `+QNWINFO: No Service` (spec §10.4).
    NwInfoNoService,
    /// `+COPS: <mode>[,<format>,"<oper>"[,<AcT>]]` answering `AT+COPS?` (spec §10.4).
    Cops {
        /// 0 automatic, 1 manual, 2 deregistered, 3 format only, 4 manual then automatic.
        mode: u8,
        /// 0 long name, 1 short name, 2 numeric.
        format: Option<u8>,
        /// The operator, in `format`.
        oper: Option<&'a str>,
        /// 0 GSM, 2 UTRAN, 7 E-UTRAN, 8 CAT-M, 9 NB-IoT.
        act: Option<u8>,
    },
    /// `+CREG: <n>,<stat>[,"<lac>","<ci>"[,<AcT>]]` (and `+CGREG`, `+CEREG`) answering
    /// `AT+CREG?` (spec §10.5): one more leading field than the URC [`Urc::Reg`]. Only
    /// [`Info::parse_for`] yields it: context-free this shape is [`ModuleLine::Unknown`].
    Reg {
        /// Which registration.
        domain: RegDomain,
        /// `<n>`: which URCs are enabled.
        mode: RegUrcMode,
        /// The state.
        stat: RegStat,
        /// Where, with `<n>` 2.
        location: Option<RegLocation<'a>>,
    },
    /// `+QICSGP: <type>,"<APN>","<user>","<password>",<auth>` answering `AT+QICSGP=<cid>` (spec
    /// §10.6). The password is a secret: it is parsed and dropped, never kept, and written back
    /// as `""`. A missing `<auth>` reads as [`ApnAuth::None`].
    Context {
        /// IPv4, IPv6 or both.
        ctype: ContextType,
        /// The access point name.
        apn: &'a str,
        /// The APN user name.
        user: &'a str,
        /// How the module authenticates.
        auth: ApnAuth,
    },
    /// `+QIACT: <cid>,<state>,<type>[,"<ip>"]`: one line per context, answering `AT+QIACT?`
    /// (spec §10.6).
    Act {
        /// The context.
        cid: ContextId,
        /// State 1: active.
        active: bool,
        /// IPv4, IPv6 or both.
        ctype: ContextType,
        /// The local address, when the module reports one.
        ip: Option<&'a str>,
    },
    /// `+CGATT: <state>` answering `AT+CGATT?` (spec §10.6): attached to the packet domain.
    Attach(bool),
    /// `+IFC: <dce_by_dte>,<dte_by_dce>` answering `AT+IFC?` (spec §10.7).
    Ifc {
        /// How the host holds the module back (RTS).
        dce_by_dte: FlowControl,
        /// How the module holds the host back (CTS).
        dte_by_dce: FlowControl,
    },
    /// `+IPR: <rate>` answering `AT+IPR?` (spec §10.7): the module's baud rate as it says it
    /// (0 is autobaud on some firmware).
    Ipr(u32),
    /// `+CGPADDR: <cid>,"<ip>"` answering `AT+CGPADDR=<cid>` (spec §10.6). An unquoted address
    /// (some firmware) is accepted; it is written back quoted.
    Addr {
        /// The context.
        cid: ContextId,
        /// Its address.
        ip: &'a str,
    },
    /// `+CFUN: <fun>` answering `AT+CFUN?` (spec §10.1). Only [`Info::parse_for`] yields it:
    /// context-free the same bytes are a [`Urc::Cfun`].
    Cfun(Functionality),
    /// `+QFLST: "<name>",<size>`: one line per file, answering `AT+QFLST[="<pattern>"]`
    /// (spec §10.8).
    FileEntry {
        /// The file's name as the module writes it (`UFS:cacert.pem`).
        name: &'a str,
        /// Its size in bytes.
        size: u64,
    },
    /// `+CCLK: "<time>"` answering `AT+CCLK?` (spec §10.9): the module's clock, local time.
    Clock(ModuleTime),
    /// `+QLTS: "<time>[,<dst>]"` answering `AT+QLTS[=<mode>]` (spec §10.9): the time the network
    /// sent. Some firmware adds the daylight saving adjustment inside the quotes.
    NetworkTime {
        /// The network's time.
        time: ModuleTime,
        /// The daylight saving adjustment in hours, when written.
        dst: Option<u8>,
    },
}

/// One line the module sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleLine<'a> {
    /// A final result code.
    Final(FinalCode<'a>),
    /// An information line.
    Info(Info<'a>),
    /// A URC or two-phase result.
    Urc(Urc<'a>),
    /// `CONNECT`: `AT+QFUPL` waits for the file's bytes (spec §7).
    Connect,
    /// `> `: the module waits for the data of `AT+QMTPUBEX` or `AT+QMTCFG="willex"` (spec §1). The
    /// framer delivers it as its own frame (it has no line end); parsing accepts `>` and `> `.
    Prompt,
    /// A line this crate does not type (or whose numbers are out of range). Kept so nothing that
    /// follows is lost.
    Unknown(&'a [u8]),
}

/// Trailing spaces and CR removed.
fn trim_end(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\r'] = l {
        l = rest;
    }
    l
}

/// Splits `+NAME:` off `line`: the name (colon included) and the rest after the spaces.
fn split_prefix(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let head = line.get(..line.len().min(16))?;
    let colon = memchr::memchr(b':', head)?;
    let (name, rest) = line.split_at(colon + 1);
    Some((name, crate::recv::skip_spaces(rest)))
}

fn client(n: i64) -> Option<ClientIdx> {
    ClientIdx::new(n).ok()
}

fn msgid(n: i64) -> Option<MsgId> {
    MsgId::new(n).ok()
}

/// `,<int>`.
fn cint(i: &mut &[u8]) -> crate::syntax::PResult<i64> {
    preceded(crate::syntax::comma, int).parse_next(i)
}

/// `<int>,<int>` over all of `rest`.
fn two(rest: &[u8]) -> Option<(i64, i64)> {
    complete((int, cint), rest).ok()
}

/// `<idx>,<msgid>,<result>[,<values>]` of SUB/UNS.
fn sub_like(rest: &[u8]) -> Option<(ClientIdx, MsgId, PacketResult, Values<'_>)> {
    let mut i = rest;
    let (c, m, r) = (int, cint, cint).parse_next(&mut i).ok()?;
    let values = if i.is_empty() {
        Values::EMPTY
    } else {
        // A comma promises at least one value.
        let raw = crate::recv::skip_spaces(i.strip_prefix(b",")?);
        if raw.is_empty() {
            return None;
        }
        Values::parse(raw)?
    };
    Some((client(c)?, msgid(m)?, PacketResult::from_code(r), values))
}

fn test_line(kind: CommandKind, rest: &[u8]) -> Option<Info<'_>> {
    if rest.first() != Some(&b'(') {
        return None;
    }
    Some(Info::Test(TestLine {
        command: kind,
        params: core::str::from_utf8(rest).ok()?,
    }))
}

fn is(name: &[u8], p: &str) -> bool {
    name.eq_ignore_ascii_case(p.as_bytes())
}

/// Parses a `+NAME: …` line.
fn parse_plus(line: &[u8]) -> Option<ModuleLine<'_>> {
    let (name, raw_rest) = split_prefix(line)?;
    // `+QMTRECV` payloads may end with spaces: only other lines are trimmed.
    if is(name, RECV_PREFIX) {
        if let Some(r) = Recv::parse_fields(line, line.len() - raw_rest.len()) {
            return Some(ModuleLine::Urc(Urc::Recv(r)));
        }
        let rest = trim_end(raw_rest);
        if let Some((c, id)) = two(rest) {
            let recv_id = RecvId::new(id).ok()?;
            return Some(ModuleLine::Urc(Urc::RecvStored {
                client_idx: client(c)?,
                recv_id,
            }));
        }
        let (idx, s0, s1, s2, s3, s4) = complete((int, cint, cint, cint, cint, cint), rest).ok()?;
        let slots = [s0, s1, s2, s3, s4].map(StoreStatus::from_code);
        return Some(ModuleLine::Info(Info::RecvStatus {
            client_idx: client(idx)?,
            slots,
        }));
    }
    let rest = trim_end(raw_rest);
    let urc = |u| Some(ModuleLine::Urc(u));
    let info = |i| Some(ModuleLine::Info(i));
    if is(name, "+QMTOPEN:") {
        if let Some(t) = test_line(CommandKind::QmtOpen, rest) {
            return info(t);
        }
        let c = crate::syntax::comma;
        if let Ok((idx, _, host, _, port)) = complete((int, c, quoted_str, c, int), rest) {
            return info(Info::OpenRead {
                client_idx: client(idx)?,
                host,
                port: Port::new(port).ok()?,
            });
        }
        let (c, r) = two(rest)?;
        return urc(Urc::Open {
            client_idx: client(c)?,
            result: OpenResult::from_code(r),
        });
    }
    if is(name, "+QMTCLOSE:") {
        if let Some(t) = test_line(CommandKind::QmtClose, rest) {
            return info(t);
        }
        let (c, r) = two(rest)?;
        return urc(Urc::Close {
            client_idx: client(c)?,
            result: CloseResult::from_code(r),
        });
    }
    if is(name, "+QMTCONN:") {
        if let Some(t) = test_line(CommandKind::QmtConn, rest) {
            return info(t);
        }
        let (idx, r, v) = complete((int, cint, opt(cint)), rest).ok()?;
        let result = PacketResult::from_code(r);
        let value = v.map(|v| ConnValue::interpret(result, v));
        return urc(Urc::Conn {
            client_idx: client(idx)?,
            result,
            value,
        });
    }
    if is(name, "+QMTDISC:") {
        if let Some(t) = test_line(CommandKind::QmtDisc, rest) {
            return info(t);
        }
        let (c, r) = two(rest)?;
        return urc(Urc::Disc {
            client_idx: client(c)?,
            result: DiscResult::from_code(r),
        });
    }
    if is(name, "+QMTSUB:") || is(name, "+QMTUNS:") {
        let sub = is(name, "+QMTSUB:");
        let kind = if sub {
            CommandKind::QmtSub
        } else {
            CommandKind::QmtUns
        };
        if let Some(t) = test_line(kind, rest) {
            return info(t);
        }
        let (client_idx, msgid, result, values) = sub_like(rest)?;
        return urc(if sub {
            Urc::Sub {
                client_idx,
                msgid,
                result,
                values,
            }
        } else {
            Urc::Uns {
                client_idx,
                msgid,
                result,
                values,
            }
        });
    }
    if is(name, "+QMTPUBEX:") || is(name, "+QMTPUB:") {
        let prefix = if is(name, "+QMTPUBEX:") {
            PubPrefix::PubEx
        } else {
            PubPrefix::Pub
        };
        let kind = match prefix {
            PubPrefix::PubEx => CommandKind::QmtPubEx,
            PubPrefix::Pub => CommandKind::QmtPub,
        };
        if let Some(t) = test_line(kind, rest) {
            return info(t);
        }
        let (idx, m, r, v) = complete((int, cint, cint, opt(cint)), rest).ok()?;
        return urc(Urc::PubEx {
            prefix,
            client_idx: client(idx)?,
            msgid: msgid(m)?,
            result: PacketResult::from_code(r),
            value: v,
        });
    }
    if is(name, "+QMTSTAT:") {
        let (c, e) = two(rest)?;
        return urc(Urc::Stat {
            client_idx: client(c)?,
            err_code: StatCode::from_code(e),
        });
    }
    if is(name, "+QMTPING:") {
        let (c, r) = two(rest)?;
        return urc(Urc::Ping {
            client_idx: client(c)?,
            result: PingResult::from_code(r),
        });
    }
    if is(name, "+QFUPL:") {
        let (size, checksum) =
            complete((uint, preceded(crate::syntax::comma, hex16)), rest).ok()?;
        return info(Info::QfUpl {
            upload_size: size,
            checksum,
        });
    }
    if is(name, "+QMTCFG:") {
        return CfgInfo::parse(line)
            .ok()
            .map(|c| ModuleLine::Info(Info::Cfg(c)));
    }
    if is(name, "+QSSLCFG:") {
        return SslInfo::parse(line)
            .ok()
            .map(|s| ModuleLine::Info(Info::Ssl(s)));
    }
    if is(name, "+CME ERROR:") {
        if let Ok(n) = complete(uint, rest) {
            return Some(ModuleLine::Final(FinalCode::CmeError(
                u32::try_from(n).ok()?,
            )));
        }
        if rest.is_empty() {
            return None;
        }
        let text = core::str::from_utf8(raw_rest).ok()?;
        return Some(ModuleLine::Final(FinalCode::CmeErrorText(text)));
    }
    if is(name, "+CMS ERROR:") {
        let n = complete(uint, rest).ok()?;
        return Some(ModuleLine::Final(FinalCode::CmsError(
            u32::try_from(n).ok()?,
        )));
    }
    parse_net(name, rest)
}

fn u8_of(n: i64) -> Option<u8> {
    u8::try_from(n).ok()
}

fn bool_of(n: i64) -> Option<bool> {
    match n {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// `,"<area>","<cell>"[,<act>[,"<rac>"]]` or nothing, over all of `i` (spec §10.5). The `+CGREG`
/// routing area `"<rac>"` is accepted and dropped.
fn reg_location(i: &[u8]) -> Option<Option<RegLocation<'_>>> {
    if at_line_end(i) {
        return Some(None);
    }
    let c = crate::syntax::comma;
    let (_, area, _, cell, act, _rac) = complete(
        (
            c,
            quoted_str,
            c,
            quoted_str,
            opt(preceded(c, int)),
            opt(preceded(c, quoted_str)),
        ),
        i,
    )
    .ok()?;
    let act = match act {
        Some(a) => Some(u8_of(a)?),
        None => None,
    };
    Some(Some(RegLocation { area, cell, act }))
}

/// Nothing but spaces and CR.
fn at_line_end(i: &[u8]) -> bool {
    i.iter().all(|&b| b == b' ' || b == b'\r')
}

/// The URC shape of a registration line: `<stat>[,"<area>","<cell>"[,<act>]]`.
fn reg_urc(rest: &[u8]) -> Option<(RegStat, Option<RegLocation<'_>>)> {
    let mut i = rest;
    let stat = int.parse_next(&mut i).ok()?;
    let location = reg_location(i)?;
    Some((RegStat::from_code(u8_of(stat)?), location))
}

/// The query shape of a registration line: `<n>,<stat>[,"<area>","<cell>"[,<act>]]`.
fn reg_query(rest: &[u8]) -> Option<(RegUrcMode, RegStat, Option<RegLocation<'_>>)> {
    let mut i = rest;
    let (n, stat) = (int, cint).parse_next(&mut i).ok()?;
    let location = reg_location(i)?;
    Some((
        RegUrcMode::from_code(u8_of(n)?),
        RegStat::from_code(u8_of(stat)?),
        location,
    ))
}

/// The registration domain of a line prefix (`+CEREG:`), if it is one.
fn reg_domain(name: &[u8]) -> Option<RegDomain> {
    RegDomain::ALL.into_iter().find(|d| {
        name.strip_suffix(b":")
            .is_some_and(|n| n.eq_ignore_ascii_case(d.prefix().as_bytes()))
    })
}

/// A quoted string, or an unquoted run up to the next comma (some firmware leaves numbers and
/// addresses unquoted); never empty when unquoted.
fn loose_str<'a>(i: &mut &'a [u8]) -> crate::syntax::PResult<&'a str> {
    winnow::combinator::alt((
        quoted_str,
        winnow::token::take_while(1.., |b: u8| b != b',' && b != b'"' && b != b' ')
            .try_map(core::str::from_utf8),
    ))
    .parse_next(i)
}

/// The lines of spec §10.1–§10.6 (`rest` is trimmed).
fn parse_net<'a>(name: &[u8], rest: &'a [u8]) -> Option<ModuleLine<'a>> {
    let urc = |u| Some(ModuleLine::Urc(u));
    let info = |i| Some(ModuleLine::Info(i));
    let c = crate::syntax::comma;
    if let Some(domain) = reg_domain(name) {
        let (stat, location) = reg_urc(rest)?;
        return urc(Urc::Reg {
            domain,
            stat,
            location,
        });
    }
    if is(name, "+CPIN:") {
        return urc(Urc::Pin(PinState::parse(core::str::from_utf8(rest).ok()?)?));
    }
    if is(name, "+CFUN:") {
        let n = complete(int, rest).ok()?;
        return urc(Urc::Cfun(Functionality::from_code(u8_of(n)?)));
    }
    if is(name, "+QUSIM:") {
        return urc(Urc::Qusim(u8_of(complete(int, rest).ok()?)?));
    }
    if is(name, "+QIND:") {
        return urc(Urc::Qind(core::str::from_utf8(rest).ok()?));
    }
    if is(name, "+QSIMSTAT:") {
        let (e, n) = two(rest)?;
        return urc(Urc::SimStat {
            enabled: bool_of(e)?,
            inserted: bool_of(n)?,
        });
    }
    if is(name, "+QIURC:") {
        let (what, _, cid) = complete((quoted, c, int), rest).ok()?;
        if !what.eq_ignore_ascii_case(b"pdpdeact") {
            return None;
        }
        return urc(Urc::PdpDeact {
            cid: ContextId::new(cid).ok()?,
        });
    }
    if is(name, "+QCCID:") {
        if rest.is_empty() {
            return None;
        }
        return info(Info::Iccid(core::str::from_utf8(rest).ok()?));
    }
    if is(name, "+CSQ:") {
        let (rssi, ber) = two(rest)?;
        return info(Info::Signal(Signal {
            rssi: u8_of(rssi)?,
            ber: u8_of(ber)?,
        }));
    }
    if is(name, "+QCSQ:") {
        let mut i = rest;
        let sysmode = quoted_str.parse_next(&mut i).ok()?;
        let values = if at_line_end(i) {
            Values::EMPTY
        } else {
            let raw = crate::recv::skip_spaces(i.strip_prefix(b",")?);
            if raw.is_empty() {
                return None;
            }
            Values::parse(raw)?
        };
        return info(Info::Qcsq { sysmode, values });
    }
    if is(name, "+QNWINFO:") {
        if rest.eq_ignore_ascii_case(b"No Service") {
            return info(Info::NwInfoNoService);
        }
        let (act, _, oper, _, band, _, channel) =
            complete((quoted_str, c, loose_str, c, quoted_str, c, uint), rest).ok()?;
        return info(Info::NwInfo {
            act,
            oper,
            band,
            channel: u32::try_from(channel).ok()?,
        });
    }
    if is(name, "+COPS:") {
        let (mode, format, oper, act) = complete(
            (int, opt(cint), opt(preceded(c, loose_str)), opt(cint)),
            rest,
        )
        .ok()?;
        // An operator needs a format before it, an access technology an operator.
        if (oper.is_some() && format.is_none()) || (act.is_some() && oper.is_none()) {
            return None;
        }
        return info(Info::Cops {
            mode: u8_of(mode)?,
            format: match format {
                Some(f) => Some(u8_of(f)?),
                None => None,
            },
            oper,
            act: match act {
                Some(a) => Some(u8_of(a)?),
                None => None,
            },
        });
    }
    if is(name, "+QICSGP:") {
        // The password is read past, never kept.
        let (ctype, _, apn, _, user, _, _password, auth) = complete(
            (int, c, quoted_str, c, quoted_str, c, quoted, opt(cint)),
            rest,
        )
        .ok()?;
        return info(Info::Context {
            ctype: ContextType::new(ctype).ok()?,
            apn,
            user,
            auth: match auth {
                Some(a) => ApnAuth::new(a).ok()?,
                None => ApnAuth::None,
            },
        });
    }
    if is(name, "+QIACT:") {
        let (cid, state, ctype, ip) =
            complete((int, cint, cint, opt(preceded(c, loose_str))), rest).ok()?;
        return info(Info::Act {
            cid: ContextId::new(cid).ok()?,
            active: bool_of(state)?,
            ctype: ContextType::new(ctype).ok()?,
            ip,
        });
    }
    if is(name, "+IFC:") {
        let (a, b) = complete((int, cint), rest).ok()?;
        return info(Info::Ifc {
            dce_by_dte: FlowControl::from_code(u8_of(a)?),
            dte_by_dce: FlowControl::from_code(u8_of(b)?),
        });
    }
    if is(name, "+IPR:") {
        return info(Info::Ipr(u32::try_from(complete(int, rest).ok()?).ok()?));
    }
    if is(name, "+CGATT:") {
        return info(Info::Attach(bool_of(complete(int, rest).ok()?)?));
    }
    if is(name, "+CGPADDR:") {
        let (cid, _, ip) = complete((int, c, loose_str), rest).ok()?;
        return info(Info::Addr {
            cid: ContextId::new(cid).ok()?,
            ip,
        });
    }
    parse_file_clock(name, rest)
}

/// The lines of spec §10.8 (files) and §10.9 (clock); `rest` is trimmed.
fn parse_file_clock<'a>(name: &[u8], rest: &'a [u8]) -> Option<ModuleLine<'a>> {
    let info = |i| Some(ModuleLine::Info(i));
    let c = crate::syntax::comma;
    if is(name, "+QFLST:") {
        let (name, _, size) = complete((quoted_str, c, uint), rest).ok()?;
        return info(Info::FileEntry { name, size });
    }
    if is(name, "+CCLK:") {
        let time = complete(quoted, rest).ok()?;
        return info(Info::Clock(ModuleTime::parse(time).ok()?));
    }
    if is(name, "+QLTS:") {
        let text = complete(quoted, rest).ok()?;
        let (time, after) = ModuleTime::parse_prefix(text).ok()?;
        let dst = match after {
            [] => None,
            [b',', d @ ..] if !d.is_empty() && d.len() <= 2 && d.iter().all(u8::is_ascii_digit) => {
                Some(d.iter().fold(0u8, |n, b| n * 10 + (b - b'0')))
            }
            _ => return None,
        };
        return info(Info::NetworkTime { time, dst });
    }
    if is(name, "+QNTP:") {
        let (err, time) = complete((int, opt(preceded(c, quoted))), rest).ok()?;
        let time = match time {
            Some(t) => Some(ModuleTime::parse(t).ok()?),
            None => None,
        };
        return Some(ModuleLine::Urc(Urc::Ntp {
            result: NtpResult::from_code(err),
            time,
        }));
    }
    None
}

/// [`ModuleLine::parse`] without the fast path: every form of every line.
fn parse_general(line: &[u8]) -> ModuleLine<'_> {
    if line.first() == Some(&b'+') {
        return parse_plus(line).unwrap_or(ModuleLine::Unknown(line));
    }
    let t = trim_end(line);
    let word = |w: &str| t.eq_ignore_ascii_case(w.as_bytes());
    if word("OK") {
        ModuleLine::Final(FinalCode::Ok)
    } else if word("ERROR") {
        ModuleLine::Final(FinalCode::Error)
    } else if word("CONNECT") {
        ModuleLine::Connect
    } else if word("RDY") {
        ModuleLine::Urc(Urc::Rdy)
    } else if word("APP RDY") {
        ModuleLine::Urc(Urc::AppRdy)
    } else if let Some(kind) = PowerDownKind::ALL.into_iter().find(|k| word(k.as_str())) {
        ModuleLine::Urc(Urc::PowerDown(kind))
    } else if word(">") {
        ModuleLine::Prompt
    } else {
        ModuleLine::Unknown(line)
    }
}

/// The lines a busy module sends most, typed without the general prefix search and without
/// winnow: `+QMTRECV` messages (any prefix case, as the general path), and — only in the exact
/// form the module writes them (upper case, one space after `:`, no spaces after commas, numbers
/// without sign or leading zero and of at most 9 digits, nothing after the last field) — `OK`,
/// `ERROR`, `+CME ERROR: <n>`, `+QMTPUBEX`, `+QMTSUB` and `+QMTSTAT` results (spec §1, §5, §6).
///
/// `None` whenever anything is unusual; then [`parse_general`] decides, so the result of
/// [`ModuleLine::parse`] is the same either way (a property test in this module checks that
/// `Some` is always what the general path gives). [`ModuleLine::parse`] calls the two halves
/// itself: a message is returned as the small [`Recv`], not inside an `Option<ModuleLine>` that
/// is then copied again.
#[cfg(test)]
fn fast_path(line: &[u8]) -> Option<ModuleLine<'_>> {
    match fast_recv(line) {
        Some(r) => Some(ModuleLine::Urc(Urc::Recv(r))),
        None => fast_other(line),
    }
}

/// The message half of [`fast_path`]. The first `:` of a line starting with `+QMTRECV:` is its
/// ninth byte, so `parse_plus` would find the same name and fields; it handles the other
/// `+QMTRECV` forms (stored-message and slot-status lines), for which this returns `None`.
#[inline(always)]
fn fast_recv(line: &[u8]) -> Option<Recv<'_>> {
    Recv::parse_fields(line, crate::recv::fields_start(line)?)
}

/// The other half of [`fast_path`]: the canonical forms of the frequent other lines.
#[inline(always)]
fn fast_other(line: &[u8]) -> Option<ModuleLine<'_>> {
    match line.first()? {
        b'+' => {
            if let Some(f) = line.strip_prefix(b"+QMTPUBEX: ") {
                let (c, f) = canon_num(f)?;
                let (m, f) = canon_num(f.strip_prefix(b",")?)?;
                let (r, f) = canon_num(f.strip_prefix(b",")?)?;
                let value = match f {
                    [] => None,
                    [b',', f @ ..] => match canon_num(f)? {
                        (v, []) => Some(v),
                        _ => return None,
                    },
                    _ => return None,
                };
                return Some(ModuleLine::Urc(Urc::PubEx {
                    prefix: PubPrefix::PubEx,
                    client_idx: client(c)?,
                    msgid: msgid(m)?,
                    result: PacketResult::from_code(r),
                    value,
                }));
            }
            if let Some(f) = line.strip_prefix(b"+CME ERROR: ") {
                let (n, []) = canon_num(f)? else {
                    return None;
                };
                return Some(ModuleLine::Final(FinalCode::CmeError(
                    u32::try_from(n).ok()?,
                )));
            }
            if let Some(f) = line.strip_prefix(b"+QMTSUB: ") {
                let (c, f) = canon_num(f)?;
                let (m, f) = canon_num(f.strip_prefix(b",")?)?;
                let (r, f) = canon_num(f.strip_prefix(b",")?)?;
                let values = match f {
                    [] => Values::EMPTY,
                    // A comma promises a value (as in `sub_like`); `Values::parse` refuses
                    // spaces at either end, which the general path would skip or trim.
                    [b',', raw @ ..] if !raw.is_empty() => Values::parse(raw)?,
                    _ => return None,
                };
                return Some(ModuleLine::Urc(Urc::Sub {
                    client_idx: client(c)?,
                    msgid: msgid(m)?,
                    result: PacketResult::from_code(r),
                    values,
                }));
            }
            if let Some(f) = line.strip_prefix(b"+QMTSTAT: ") {
                let (c, f) = canon_num(f)?;
                let (e, []) = canon_num(f.strip_prefix(b",")?)? else {
                    return None;
                };
                return Some(ModuleLine::Urc(Urc::Stat {
                    client_idx: client(c)?,
                    err_code: StatCode::from_code(e),
                }));
            }
            None
        }
        b'O' => (line == b"OK").then_some(ModuleLine::Final(FinalCode::Ok)),
        b'E' => (line == b"ERROR").then_some(ModuleLine::Final(FinalCode::Error)),
        _ => None,
    }
}

/// A number as the module writes it (spec §1): `0`, or a nonzero digit and at most 8 more, not
/// followed by another digit; and the bytes after it. Anything else (a sign, a leading zero, 10 or
/// more digits) is `None`, left to the general path's rules. At most 9 digits cannot overflow.
#[inline(always)]
fn canon_num(i: &[u8]) -> Option<(i64, &[u8])> {
    let digit = |b: Option<&u8>| b.map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9);
    let (first, mut rest) = i.split_first()?;
    let mut v = i64::from(digit(Some(first))?);
    if v != 0 {
        for _ in 0..8 {
            let Some(d) = digit(rest.first()) else {
                return Some((v, rest));
            };
            v = v * 10 + i64::from(d);
            rest = rest.get(1..)?;
        }
    }
    match digit(rest.first()) {
        Some(_) => None,
        None => Some((v, rest)),
    }
}

/// 1–4 hex digits (either case) as a `u16`: the `+QFUPL` checksum.
fn hex16(i: &mut &[u8]) -> crate::syntax::PResult<u16> {
    winnow::token::take_while(1..=4, |b: u8| b.is_ascii_hexdigit())
        .map(|d: &[u8]| {
            d.iter().fold(0u16, |v, &b| {
                v << 4 | u16::from((b as char).to_digit(16).unwrap_or(0) as u8)
            })
        })
        .parse_next(i)
}

impl<'a> ModuleLine<'a> {
    /// Types one line (without its framing CR LF). Context-free; never fails and never panics:
    /// what it cannot type is [`ModuleLine::Unknown`]. Does not allocate (except inside the
    /// `+QMTCFG`/`+QSSLCFG` parsers of [`CfgInfo`]/[`SslInfo`]).
    ///
    /// ```
    /// use qmt_proto::codes::StatCode;
    /// use qmt_proto::kind::{CommandKind, Form};
    /// use qmt_proto::{Info, ModuleLine, Urc};
    ///
    /// let line = b"+QMTRECV: 0,0,\"topic/pub\",30,This is test data, hello MQTT.";
    /// let ModuleLine::Urc(Urc::Recv(msg)) = ModuleLine::parse(line) else { panic!() };
    /// assert_eq!((msg.topic, msg.payload), ("topic/pub", &b"This is test data, hello MQTT."[..]));
    ///
    /// let ModuleLine::Urc(Urc::Stat { err_code, .. }) = ModuleLine::parse(b"+QMTSTAT: 0,1") else { panic!() };
    /// assert_eq!(err_code, StatCode::ClosedByPeer);
    ///
    /// // `+QMTCONN: 0,3` is a read answer only while `AT+QMTCONN?` is in flight.
    /// assert!(matches!(ModuleLine::parse(b"+QMTCONN: 0,3"), ModuleLine::Urc(Urc::Conn { .. })));
    /// assert!(Info::parse_for(CommandKind::QmtConn, Form::Read, b"+QMTCONN: 0,3").is_some());
    ///
    /// let mut out = Vec::new();
    /// ModuleLine::parse(line).encode(&mut out);
    /// assert_eq!(out, line);
    /// ```
    // Inlinable into other crates (drivers, the benches): the caller then often looks only at
    // the variant, and the fast paths need not write a whole `ModuleLine` to memory; the general
    // path stays a call.
    #[inline]
    pub fn parse(line: &'a [u8]) -> ModuleLine<'a> {
        if let Some(r) = fast_recv(line) {
            return ModuleLine::Urc(Urc::Recv(r));
        }
        match fast_other(line) {
            Some(typed) => typed,
            None => parse_general(line),
        }
    }

    /// Appends the line's exact bytes, without the framing CR LF (the prompt is `> `).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ModuleLine::Final(f) => f.encode(out),
            ModuleLine::Info(i) => i.encode(out),
            ModuleLine::Urc(u) => u.encode(out),
            ModuleLine::Connect => out.extend_from_slice(b"CONNECT"),
            ModuleLine::Prompt => out.extend_from_slice(b"> "),
            ModuleLine::Unknown(b) => out.extend_from_slice(b),
        }
    }

    /// Appends what the module sends on the wire: `\r\n<line>\r\n`, or `\r\n> ` for the prompt
    /// (spec §8: the prompt has no line end).
    pub fn encode_framed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.encode(out);
        if *self != ModuleLine::Prompt {
            out.extend_from_slice(b"\r\n");
        }
    }
}

// `Urc::parse` is defined here, next to the parser it wraps, so that `urc.rs` (the URC types,
// which this parser builds) does not name this module back.
impl<'a> Urc<'a> {
    /// Parses a line context-free; `None` if it is not a URC (see [`ModuleLine::parse`]).
    pub fn parse(line: &'a [u8]) -> Option<Urc<'a>> {
        match ModuleLine::parse(line) {
            ModuleLine::Urc(u) => Some(u),
            _ => None,
        }
    }
}

impl<'a> Info<'a> {
    /// Whether this line can answer a command whose information names `client`
    /// ([`Command::info_client`](crate::Command::info_client)): always when the command names
    /// none; otherwise only a line about that same client (another client's line of the same
    /// shape is a URC).
    pub fn is_for(&self, client: Option<ClientIdx>) -> bool {
        client.is_none() || self.client_idx() == client
    }

    /// The client the line is about, when it names one.
    pub fn client_idx(&self) -> Option<ClientIdx> {
        match self {
            Info::OpenRead { client_idx, .. }
            | Info::ConnRead { client_idx, .. }
            | Info::RecvStatus { client_idx, .. } => Some(*client_idx),
            Info::Message(recv) => Some(recv.client_idx),
            _ => None,
        }
    }

    /// Command-aware classification (ARCHITECTURE.md "Command-aware classification"): `Some` only when
    /// `line` is information that the command `kind` in form `form` can answer — its prefix *and*
    /// its shape match. Everything else (a two-phase result of an earlier command, a URC, a final
    /// code) is `None`, and the caller treats it as context-free ([`ModuleLine::parse`]).
    ///
    /// | command in flight | information lines |
    /// |---|---|
    /// | `AT+QMTOPEN?` | `+QMTOPEN: <idx>,"<host>",<port>` (not `+QMTOPEN: <idx>,<result>`) |
    /// | `AT+QMTCONN?` | `+QMTCONN: <idx>,<state>` (not `+QMTCONN: <idx>,<result>,<ret_code>`) |
    /// | `AT+QMTRECV?` | `+QMTRECV: <idx>,<s0>,…,<s4>` |
    /// | `AT+QMTRECV=<idx>[,<recv_id>]` | `+QMTRECV: <idx>,<msgid>,"<topic>",…` (not `+QMTRECV: <idx>,<recv_id>`) |
    /// | `AT+QFUPL=…` | `+QFUPL: <size>,<checksum>` |
    /// | `AT+QMTCFG…` (any form but execute) | `+QMTCFG: …` |
    /// | `AT+QSSLCFG…` (any form but execute) | `+QSSLCFG: …` |
    /// | `AT+<cmd>=?` | that command's test line `+<CMD>: (…` |
    /// | `ATI`, `AT+CGMI`, `AT+CGMM`, `AT+CGMR`, `AT+GSN`, `AT+CIMI` | a bare line (no `+X:` prefix, not a final code or a known URC) |
    /// | `AT+QCCID` | `+QCCID: <iccid>` |
    /// | `AT+CPIN?` | `+CPIN: <code>` |
    /// | `AT+QSIMSTAT?` | `+QSIMSTAT: <enable>,<inserted>` |
    /// | `AT+CSQ`, `AT+QCSQ`, `AT+QNWINFO` | `+CSQ: …`, `+QCSQ: …`, `+QNWINFO: …` |
    /// | `AT+COPS?` | `+COPS: …` |
    /// | `AT+CREG?`, `AT+CGREG?`, `AT+CEREG?` | the same prefix with the query's shape `<n>,<stat>[,…]` (not the URC `<stat>[,…]`) |
    /// | `AT+QICSGP=<cid>` | `+QICSGP: …` |
    /// | `AT+QIACT?` | `+QIACT: …` |
    /// | `AT+CGATT?` | `+CGATT: <state>` |
    /// | `AT+CGPADDR=<cid>` | `+CGPADDR: …` |
    /// | `AT+CFUN?` | `+CFUN: <fun>` |
    /// | `AT+QFLST[="<pattern>"]` | `+QFLST: "<name>",<size>` |
    /// | `AT+CCLK?` | `+CCLK: "<time>"` |
    /// | `AT+QLTS[=<mode>]` | `+QLTS: "<time>"` |
    pub fn parse_for(kind: CommandKind, form: Form, line: &'a [u8]) -> Option<Info<'a>> {
        use CommandKind as K;
        if kind == K::QmtConn && form == Form::Read {
            // The only read answer whose bytes are also a URC shape: typed here, not context-free.
            let (name, rest) = split_prefix(line)?;
            if !is(name, "+QMTCONN:") {
                return None;
            }
            let (c, s) = two(trim_end(rest))?;
            return Some(Info::ConnRead {
                client_idx: client(c)?,
                state: ConnState::from_code(s),
            });
        }
        Info::from_parsed(kind, form, ModuleLine::parse(line), line)
    }

    /// [`parse_for`](Self::parse_for) of a line already typed context-free (`parsed` is
    /// [`ModuleLine::parse`] of `line`): a driver that must type every line anyway (to see final
    /// codes and `RDY`) classifies it without parsing it a second time. `None`: not information of
    /// that command.
    pub fn from_parsed(
        kind: CommandKind,
        form: Form,
        parsed: ModuleLine<'a>,
        line: &'a [u8],
    ) -> Option<Info<'a>> {
        use CommandKind as K;
        if kind == K::QmtConn && form == Form::Read {
            return Info::parse_for(kind, form, line);
        }
        match (kind, form, parsed) {
            (K::QmtOpen, Form::Read, ModuleLine::Info(i @ Info::OpenRead { .. })) => Some(i),
            (K::QmtRecv, Form::Read, ModuleLine::Info(i @ Info::RecvStatus { .. })) => Some(i),
            (K::QmtRecv, Form::Write, ModuleLine::Urc(Urc::Recv(r))) => Some(Info::Message(r)),
            (K::QfUpl, Form::Write | Form::Execute, ModuleLine::Info(i @ Info::QfUpl { .. })) => {
                Some(i)
            }
            (K::QmtCfg, f, ModuleLine::Info(i @ Info::Cfg(_))) if f != Form::Execute => Some(i),
            (K::QsslCfg, f, ModuleLine::Info(i @ Info::Ssl(_))) if f != Form::Execute => Some(i),
            (k, Form::Test, ModuleLine::Info(Info::Test(t))) if t.command == k => {
                Some(Info::Test(t))
            }
            (K::Ati | K::Cgmi | K::Cgmm | K::Cgmr | K::Gsn | K::Cimi, Form::Execute, parsed) => {
                match parsed {
                    ModuleLine::Unknown(l) if is_bare(l) => Some(Info::Bare(l)),
                    _ => None,
                }
            }
            (K::Qccid, Form::Execute, ModuleLine::Info(i @ Info::Iccid(_))) => Some(i),
            (K::Cpin, Form::Read, ModuleLine::Urc(Urc::Pin(p))) => Some(Info::Pin(p)),
            (K::QsimStat, Form::Read, ModuleLine::Urc(Urc::SimStat { enabled, inserted })) => {
                Some(Info::SimStat { enabled, inserted })
            }
            (K::Csq, Form::Execute, ModuleLine::Info(i @ Info::Signal(_))) => Some(i),
            (K::Qcsq, Form::Execute, ModuleLine::Info(i @ Info::Qcsq { .. })) => Some(i),
            (
                K::QnwInfo,
                Form::Execute,
                ModuleLine::Info(i @ (Info::NwInfo { .. } | Info::NwInfoNoService)),
            ) => Some(i),
            (K::Cops, Form::Read, ModuleLine::Info(i @ Info::Cops { .. })) => Some(i),
            (K::Creg | K::Cgreg | K::Cereg, Form::Read, ModuleLine::Unknown(_)) => {
                // The query's shape is no context-free line: typed here, for the command.
                let (name, rest) = split_prefix(line)?;
                let domain = reg_domain(name).filter(|d| d.kind() == kind)?;
                let (mode, stat, location) = reg_query(trim_end(rest))?;
                Some(Info::Reg {
                    domain,
                    mode,
                    stat,
                    location,
                })
            }
            (K::Qicsgp, Form::Write, ModuleLine::Info(i @ Info::Context { .. })) => Some(i),
            (K::Qiact, Form::Read, ModuleLine::Info(i @ Info::Act { .. })) => Some(i),
            (K::Cgatt, Form::Read, ModuleLine::Info(i @ Info::Attach(_))) => Some(i),
            (K::Ifc, Form::Read, ModuleLine::Info(i @ Info::Ifc { .. })) => Some(i),
            (K::Ipr, Form::Read, ModuleLine::Info(i @ Info::Ipr(_))) => Some(i),
            (K::Cgpaddr, Form::Write, ModuleLine::Info(i @ Info::Addr { .. })) => Some(i),
            (K::Cfun, Form::Read, ModuleLine::Urc(Urc::Cfun(f))) => Some(Info::Cfun(f)),
            (
                K::Qflst,
                Form::Execute | Form::Write,
                ModuleLine::Info(i @ Info::FileEntry { .. }),
            ) => Some(i),
            (K::Cclk, Form::Read, ModuleLine::Info(i @ Info::Clock(_))) => Some(i),
            (
                K::Qlts,
                Form::Execute | Form::Write,
                ModuleLine::Info(i @ Info::NetworkTime { .. }),
            ) => Some(i),
            _ => None,
        }
    }

    /// Appends the line's exact bytes, without the framing CR LF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Info::OpenRead {
                client_idx,
                host,
                port,
            } => {
                Out(out)
                    .raw(b"+QMTOPEN: ")
                    .num(client_idx)
                    .comma()
                    .quoted(host)
                    .comma()
                    .num(port);
            }
            Info::ConnRead { client_idx, state } => {
                Out(out)
                    .raw(b"+QMTCONN: ")
                    .num(client_idx)
                    .comma()
                    .num(state.code());
            }
            Info::RecvStatus { client_idx, slots } => {
                let mut o = Out(out);
                o.raw(b"+QMTRECV: ").num(client_idx);
                for s in slots {
                    o.comma().num(s.code());
                }
            }
            Info::Message(r) => r.encode(out),
            Info::QfUpl {
                upload_size,
                checksum,
            } => {
                let mut o = Out(out);
                o.raw(b"+QFUPL: ").num(upload_size).comma();
                let _ = core::fmt::Write::write_fmt(&mut o, format_args!("{checksum:04x}"));
            }
            Info::Test(t) => {
                let p = test_prefix(t.command).unwrap_or("+?:");
                Out(out)
                    .raw(p.as_bytes())
                    .raw(b" ")
                    .raw(t.params.as_bytes());
            }
            Info::Cfg(c) => c.encode(out),
            Info::Ssl(s) => s.encode(out),
            Info::Bare(b) => out.extend_from_slice(b),
            Info::Iccid(s) => {
                Out(out).raw(b"+QCCID: ").raw(s.as_bytes());
            }
            Info::Pin(p) => {
                Out(out).raw(b"+CPIN: ").raw(p.as_str().as_bytes());
            }
            Info::SimStat { enabled, inserted } => {
                Out(out)
                    .raw(b"+QSIMSTAT: ")
                    .num(u8::from(*enabled))
                    .comma()
                    .num(u8::from(*inserted));
            }
            Info::Signal(s) => {
                Out(out).raw(b"+CSQ: ").num(s.rssi).comma().num(s.ber);
            }
            Info::Qcsq { sysmode, values } => {
                let mut o = Out(out);
                o.raw(b"+QCSQ: ").quoted(sysmode);
                if !values.is_empty() {
                    o.comma().raw(values.as_bytes());
                }
            }
            Info::NwInfo {
                act,
                oper,
                band,
                channel,
            } => {
                Out(out)
                    .raw(b"+QNWINFO: ")
                    .quoted(act)
                    .comma()
                    .quoted(oper)
                    .comma()
                    .quoted(band)
                    .comma()
                    .num(channel);
            }
            Info::NwInfoNoService => out.extend_from_slice(b"+QNWINFO: No Service"),
            Info::Cops {
                mode,
                format,
                oper,
                act,
            } => {
                let mut o = Out(out);
                o.raw(b"+COPS: ").num(mode);
                if let Some(f) = format {
                    o.comma().num(f);
                }
                if let Some(op) = oper {
                    o.comma().quoted(op);
                }
                if let Some(a) = act {
                    o.comma().num(a);
                }
            }
            Info::Reg {
                domain,
                mode,
                stat,
                location,
            } => {
                let mut o = Out(out);
                o.raw(domain.prefix().as_bytes())
                    .raw(b": ")
                    .num(mode)
                    .comma()
                    .num(stat);
                encode_location(&mut o, *location);
            }
            Info::Context {
                ctype,
                apn,
                user,
                auth,
            } => {
                Out(out)
                    .raw(b"+QICSGP: ")
                    .num(ctype)
                    .comma()
                    .quoted(apn)
                    .comma()
                    .quoted(user)
                    .comma()
                    .quoted("")
                    .comma()
                    .num(auth);
            }
            Info::Act {
                cid,
                active,
                ctype,
                ip,
            } => {
                let mut o = Out(out);
                o.raw(b"+QIACT: ")
                    .num(cid)
                    .comma()
                    .num(u8::from(*active))
                    .comma()
                    .num(ctype);
                if let Some(ip) = ip {
                    o.comma().quoted(ip);
                }
            }
            Info::Attach(a) => {
                Out(out).raw(b"+CGATT: ").num(u8::from(*a));
            }
            Info::Ifc {
                dce_by_dte,
                dte_by_dce,
            } => {
                Out(out)
                    .raw(b"+IFC: ")
                    .num(dce_by_dte)
                    .comma()
                    .num(dte_by_dce);
            }
            Info::Ipr(rate) => {
                Out(out).raw(b"+IPR: ").num(rate);
            }
            Info::Addr { cid, ip } => {
                Out(out).raw(b"+CGPADDR: ").num(cid).comma().quoted(ip);
            }
            Info::Cfun(f) => {
                Out(out).raw(b"+CFUN: ").num(f);
            }
            Info::FileEntry { name, size } => {
                Out(out).raw(b"+QFLST: ").quoted(name).comma().num(size);
            }
            Info::Clock(t) => {
                Out(out).raw(b"+CCLK: \"").num(t).raw(b"\"");
            }
            Info::NetworkTime { time, dst } => {
                let mut o = Out(out);
                o.raw(b"+QLTS: \"").num(time);
                if let Some(d) = dst {
                    o.comma().num(d);
                }
                o.raw(b"\"");
            }
        }
    }
}

/// A bare information line: not empty and without a `+X:` prefix (spec §10.2).
fn is_bare(l: &[u8]) -> bool {
    let t = trim_end(l);
    t.first().is_some_and(|&b| b != b'+')
}

impl<'a> From<FinalCode<'a>> for ModuleLine<'a> {
    fn from(f: FinalCode<'a>) -> Self {
        ModuleLine::Final(f)
    }
}

impl<'a> From<Info<'a>> for ModuleLine<'a> {
    fn from(i: Info<'a>) -> Self {
        ModuleLine::Info(i)
    }
}

impl<'a> From<Urc<'a>> for ModuleLine<'a> {
    fn from(u: Urc<'a>) -> Self {
        ModuleLine::Urc(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec;
    use proptest::prelude::*;

    /// A number field: mostly the module's own (small, canonical), sometimes huge.
    fn num() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0u64..10).prop_map(|n| format!("{n}")),
            3 => (0u64..70_000).prop_map(|n| format!("{n}")),
            1 => prop::sample::select(vec![
                "999999999", "1000000000", "4294967295", "4294967296", "9223372036854775807",
                "9223372036854775808", "99999999999999999999",
            ])
            .prop_map(String::from),
        ]
    }

    /// A field with a checked range (`client_idx` 0–5, `msgid` 0–65535): mostly inside it, often
    /// on or just past its ends.
    fn ranged(max: u64) -> impl Strategy<Value = String> {
        prop_oneof![
            5 => (0..=max).prop_map(|n| format!("{n}")),
            3 => prop::sample::select(vec![0, max, max + 1, max * 10, 999_999_999])
                .prop_map(|n| format!("{n}")),
            1 => num(),
        ]
    }

    /// A line of a form the fast path types, as the module writes it.
    fn canonical() -> impl Strategy<Value = Vec<u8>> {
        let (n, c, m) = (num, || ranged(5), || ranged(65_535));
        prop_oneof![
            Just(b"OK".to_vec()),
            Just(b"ERROR".to_vec()),
            n().prop_map(|a| format!("+CME ERROR: {a}").into_bytes()),
            (c(), m(), n(), prop::option::of(n())).prop_map(|(a, b, c, d)| {
                let v = d.map(|d| format!(",{d}")).unwrap_or_default();
                format!("+QMTPUBEX: {a},{b},{c}{v}").into_bytes()
            }),
            (c(), m(), n(), prop::collection::vec(n(), 0..4)).prop_map(|(a, b, c, v)| {
                let v: String = v.iter().map(|x| format!(",{x}")).collect();
                format!("+QMTSUB: {a},{b},{c}{v}").into_bytes()
            }),
            (c(), n()).prop_map(|(a, b)| format!("+QMTSTAT: {a},{b}").into_bytes()),
            (
                c(),
                m(),
                "[ -~]{0,20}",
                prop::option::of(0usize..30),
                "[ -~]{0,30}"
            )
                .prop_map(|(a, b, t, l, p)| {
                    let l = l.map(|l| format!("{l},")).unwrap_or_default();
                    format!("+QMTRECV: {a},{b},\"{t}\",{l}{p}").into_bytes()
                }),
            (c(), n()).prop_map(|(a, b)| format!("+QMTRECV: {a},{b}").into_bytes()),
        ]
    }

    /// One near miss: a change the general path has its own rules for.
    fn mutate(mut l: Vec<u8>, kind: u8, at: prop::sample::Index, byte: u8) -> Vec<u8> {
        let i = at.index(l.len() + 1);
        match kind % 10 {
            // Case.
            0 => {
                if let Some(b) = l.get_mut(i) {
                    *b ^= 0x20;
                }
            }
            // Spaces, signs, leading zeros, stray bytes anywhere.
            1 => l.insert(i, b' '),
            2 => l.insert(i, if byte % 2 == 0 { b'-' } else { b'+' }),
            3 => l.insert(i, b'0'),
            4 => l.insert(i, byte),
            // A missing byte or field, a cut line.
            5 if i < l.len() => {
                l.remove(i);
            }
            6 => l.truncate(i),
            // Trailing junk.
            7 => l.extend_from_slice(
                [
                    &b" "[..],
                    b"\r",
                    b",",
                    b",,",
                    b"x",
                    b"9",
                    b"0",
                    b", 1",
                    b"\r\n",
                ][byte as usize % 9],
            ),
            // A huge number in place of a digit.
            8 if l.get(i).is_some_and(u8::is_ascii_digit) => {
                l.splice(i..=i, *b"99999999999");
            }
            // Unchanged.
            _ => {}
        }
        l
    }

    fn agree(l: &[u8]) -> Result<(), TestCaseError> {
        let general = parse_general(l);
        if let Some(fast) = fast_path(l) {
            prop_assert_eq!(&fast, &general, "line {:?}", l.escape_ascii().to_string());
        }
        prop_assert_eq!(ModuleLine::parse(l), general);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8192))]

        /// The fast path is an optimisation only: whatever it types, the general path types the
        /// same way, for the module's own lines and for near misses of them (up to 2 mutations).
        #[test]
        fn fast_path_agrees_on_near_misses(
            line in canonical(),
            muts in prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let l = muts.into_iter().fold(line, |l, (k, at, b)| mutate(l, k, at, b));
            agree(&l)?;
        }

        /// … and for arbitrary bytes, and arbitrary bytes after each fast-path prefix.
        #[test]
        fn fast_path_agrees_on_arbitrary_bytes(
            prefix in prop::sample::select(vec![
                "", "OK", "ERROR", "+CME ERROR: ", "+QMTPUBEX: ", "+QMTSUB: ", "+QMTSTAT: ",
                "+QMTRECV: ", "+qmtrecv:",
            ]),
            tail in prop::collection::vec(
                prop_oneof![3 => b'0'..=b'9', 1 => Just(b','), 1 => Just(b' '), 1 => any::<u8>()],
                0..24,
            ),
        ) {
            let mut l = prefix.as_bytes().to_vec();
            l.extend_from_slice(&tail);
            agree(&l)?;
        }
    }

    /// The fast path does take the module's own lines (else the property above proves nothing).
    #[test]
    fn fast_path_types_the_canonical_forms() {
        for l in [
            &b"OK"[..],
            b"ERROR",
            b"+CME ERROR: 550",
            b"+QMTPUBEX: 0,65535,0",
            b"+QMTPUBEX: 5,0,1,3",
            b"+QMTSUB: 1,7,0,2",
            b"+QMTSUB: 1,7,0,0,1,128",
            b"+QMTSUB: 1,7,2",
            b"+QMTSTAT: 3,8",
            b"+QMTRECV: 0,0,\"t\",5,hello",
        ] {
            let fast = fast_path(l);
            assert!(fast.is_some(), "{:?}", l.escape_ascii().to_string());
            assert_eq!(fast, Some(parse_general(l)));
        }
        for l in [
            &b"+QMTSTAT: 03,1"[..],
            b"+QMTPUBEX: 0,1,-1",
            b"ok",
            b"OK ",
            b"+QMTSTAT: 9,1",
        ] {
            assert_eq!(fast_path(l), None, "{:?}", l.escape_ascii().to_string());
        }
    }
}
