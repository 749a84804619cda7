//! Unsolicited result codes and two-phase results (spec §1 "Two-phase commands", §4–§6, §10).
//!
//! A QMT command answers `OK` at once and reports its outcome later as a line with its own prefix
//! (`+QMTOPEN: 0,0`), which behaves like a URC: other lines may come first. Those results and the
//! true URCs (`+QMTSTAT`, `+QMTRECV`, `+QMTPING`, `RDY`, …) are the variants of [`Urc`]. A driver
//! correlates results by prefix and `client_idx` (+ `msgid` for SUB/UNS/PUBEX).
//!
//! The network side of the module (spec §10) adds the boot URCs (`APP RDY`, `+CFUN: 1`,
//! `+CPIN: READY`, `+QUSIM: 1`, `+QIND: SMS DONE`), SIM changes, registration changes and the
//! loss of the PDP context. Some of their prefixes are shared with a query answer (`+CPIN:`,
//! `+CFUN:`, `+QSIMSTAT:`, `+CEREG:` …): context-free such a line is the URC, and
//! [`Info::parse_for`](crate::Info::parse_for) makes it information only while its query is in
//! flight (for registration, only when the line has the query's shape).

use alloc::vec::Vec;
use core::fmt;

use crate::clock::{ModuleTime, NtpResult};
use crate::codes::{
    CloseResult, ConnackCode, DiscResult, GrantedQos, OpenResult, PacketResult, PingResult,
    StatCode,
};
use crate::net::{Functionality, PinState, PowerDownKind, RegDomain, RegLocation, RegStat};
use crate::params::{ClientIdx, ContextId, MsgId, RecvId};
use crate::recv::Recv;
use crate::syntax::Out;

/// An unsolicited line or the late result of a two-phase command. Borrows from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Urc<'a> {
    /// `+QMTOPEN: <client_idx>,<result>`: outcome of `AT+QMTOPEN=…` (spec §4, up to 120 s).
    Open {
        /// The client.
        client_idx: ClientIdx,
        /// Whether the network connection opened.
        result: OpenResult,
    },
    /// `+QMTCLOSE: <client_idx>,<result>`: outcome of `AT+QMTCLOSE` (spec §4, up to 30 s).
    Close {
        /// The client.
        client_idx: ClientIdx,
        /// Whether it closed.
        result: CloseResult,
    },
    /// `+QMTCONN: <client_idx>,<result>[,<ret_code>]`: outcome of `AT+QMTCONN=…` (spec §4).
    ///
    /// `value: None` with `result` [`PacketResult::Acked`] is the older firmware's form without
    /// `ret_code` (spec §6 variation 3): treat it as accepted ([`Urc::connack`] does).
    Conn {
        /// The client.
        client_idx: ClientIdx,
        /// Packet outcome: ACK received, retransmitting, or failed.
        result: PacketResult,
        /// The trailing number, interpreted by `result`.
        value: Option<ConnValue>,
    },
    /// `+QMTDISC: <client_idx>,<result>`: outcome of `AT+QMTDISC` (spec §4, up to 30 s).
    Disc {
        /// The client.
        client_idx: ClientIdx,
        /// Whether it disconnected.
        result: DiscResult,
    },
    /// `+QMTSUB: <client_idx>,<msgid>,<result>[,<value>…]`: outcome of `AT+QMTSUB=…` (spec §5).
    /// With result 0 the values are the granted QoS per topic ([`Values::granted_qos`], 128 =
    /// refused); with result 1 the retransmission count ([`Values::first`]); with 2 none.
    Sub {
        /// The client.
        client_idx: ClientIdx,
        /// The `msgid` of the `AT+QMTSUB` this answers.
        msgid: MsgId,
        /// Packet outcome.
        result: PacketResult,
        /// The values after the result (possibly none).
        values: Values<'a>,
    },
    /// `+QMTUNS: <client_idx>,<msgid>,<result>[,<value>…]`: outcome of `AT+QMTUNS=…` (spec §5;
    /// same result/value rules as [`Urc::Sub`]).
    Uns {
        /// The client.
        client_idx: ClientIdx,
        /// The `msgid` of the `AT+QMTUNS` this answers.
        msgid: MsgId,
        /// Packet outcome.
        result: PacketResult,
        /// The values after the result (possibly none).
        values: Values<'a>,
    },
    /// `+QMTPUBEX: <client_idx>,<msgid>,<result>[,<value>]`: outcome of `AT+QMTPUBEX=…` (spec §5),
    /// or the same with the `+QMTPUB:` prefix some sibling modules use (spec §6 variation 4), which
    /// is also the outcome of their `AT+QMTPUB` ([`crate::sibling`]).
    PubEx {
        /// Which prefix the line had, so encoding reproduces it.
        prefix: PubPrefix,
        /// The client.
        client_idx: ClientIdx,
        /// The `msgid` of the publish (0 for QoS 0).
        msgid: MsgId,
        /// Packet outcome: for QoS 0 `Acked` means sent; for QoS 1/2 PUBACK/PUBCOMP received.
        result: PacketResult,
        /// With result 1, the retransmission count.
        value: Option<i64>,
    },
    /// `+QMTSTAT: <client_idx>,<err_code>`: the client's link changed state and the client is no
    /// longer usable (spec §6). See [`StatCode::recommended_action`].
    Stat {
        /// The client.
        client_idx: ClientIdx,
        /// Why.
        err_code: StatCode,
    },
    /// `+QMTPING: <client_idx>,<result>`: keep-alive failed; the client is closed (spec §6).
    Ping {
        /// The client.
        client_idx: ClientIdx,
        /// 1 = ping timed out.
        result: PingResult,
    },
    /// `+QMTRECV: <client_idx>,<msgid>,"<topic>"[,<payload_len>],<payload>`: a message arrived
    /// (recv/mode 0, spec §6). See [`Recv`] for the payload rules.
    Recv(Recv<'a>),
    /// `+QMTRECV: <client_idx>,<recv_id>`: a message arrived and was stored in slot `recv_id`
    /// (recv/mode 1); read it with `AT+QMTRECV=<client_idx>,<recv_id>` (spec §5, §6).
    RecvStored {
        /// The client.
        client_idx: ClientIdx,
        /// The slot, 0–4.
        recv_id: RecvId,
    },
    /// `RDY`: the module powered up; every client's state is reset (spec §9).
    Rdy,
    /// `APP RDY`: the module's application is up, after `RDY` (some firmware only; spec §10.1,
    /// **uncertain**).
    AppRdy,
    /// `+CPIN: <code>`: the SIM's state changed: `READY` during boot or after `AT+CPIN="<pin>"`,
    /// `NOT READY` when the SIM is removed or reset (spec §10.3). While `AT+CPIN?` is in flight the
    /// same line is its answer ([`Info::Pin`](crate::Info::Pin)).
    Pin(PinState<'a>),
    /// `+CFUN: <fun>`: the functionality, printed during boot (spec §10.1). While `AT+CFUN?` is in
    /// flight the same line is its answer.
    Cfun(Functionality),
    /// `+QUSIM: <n>`: the SIM's application type, printed during boot (`1`: USIM; spec §10.1).
    Qusim(u8),
    /// `+QIND: <text>`: an indication, kept as written after `+QIND: `: `SMS DONE` and `PB DONE`
    /// at the end of boot (spec §10.1), other forms (`"csq",…`) on some firmware.
    Qind(&'a str),
    /// `+QSIMSTAT: <enable>,<inserted>`: a SIM was inserted or removed (hot-swap detection on;
    /// spec §10.3). While `AT+QSIMSTAT?` is in flight the same line is its answer.
    SimStat {
        /// Whether hot-swap detection is on.
        enabled: bool,
        /// Whether a SIM is inserted.
        inserted: bool,
    },
    /// `+CREG: <stat>[,"<lac>","<ci>"[,<AcT>]]` (and `+CGREG`, `+CEREG`): the registration
    /// changed (spec §10.5). Only this shape — one leading number — is the URC; the query answer
    /// (`<n>,<stat>,…`) is [`Info::Reg`](crate::Info::Reg).
    Reg {
        /// Which registration.
        domain: RegDomain,
        /// The new state.
        stat: RegStat,
        /// Where, with `<n>` 2.
        location: Option<RegLocation<'a>>,
    },
    /// `+QIURC: "pdpdeact",<cid>`: the network deactivated the PDP context; every connection on
    /// it is gone. `AT+QIDEACT=<cid>` before activating it again (spec §10.6).
    PdpDeact {
        /// The context.
        cid: ContextId,
    },
    /// `POWERED DOWN`, `NORMAL POWER DOWN`, `PSM POWER DOWN`: the module is going off (spec
    /// §10.1).
    PowerDown(PowerDownKind),
    /// `+QNTP: <err>[,"<time>"]`: the outcome of `AT+QNTP` (spec §10.9, within 125 s). With
    /// `err` 0 the clock is set to `time` (a four-digit year on most firmware, **uncertain**).
    Ntp {
        /// 0: synchronised.
        result: NtpResult,
        /// The time the clock was set to, when written.
        time: Option<ModuleTime>,
    },
}

/// The number after `result` in `+QMTCONN: <client_idx>,<result>,<n>`, whose meaning depends on
/// `result` (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnValue {
    /// With result 0: the CONNACK return code.
    Connack(ConnackCode),
    /// With result 1: the retransmission count, not a CONNACK code.
    Retransmissions(i64),
    /// With any other result: the number, undocumented, kept as it is.
    Other(i64),
}

impl ConnValue {
    /// Interprets the number `n` after `result`, the way [`Urc::Conn`] parsing does.
    pub const fn interpret(result: PacketResult, n: i64) -> Self {
        match result {
            PacketResult::Acked => ConnValue::Connack(ConnackCode::from_code(n)),
            PacketResult::Retransmission => ConnValue::Retransmissions(n),
            _ => ConnValue::Other(n),
        }
    }

    /// The number on the wire.
    pub const fn code(self) -> i64 {
        match self {
            ConnValue::Connack(c) => c.code(),
            ConnValue::Retransmissions(n) | ConnValue::Other(n) => n,
        }
    }
}

/// The prefix of a publish result line (spec §6 variation 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PubPrefix {
    /// `+QMTPUBEX:`, what EC200x/EC600x/EG912Y send.
    PubEx,
    /// `+QMTPUB:`, seen on sibling modules (BG95); accept it as the result of a waiting publish.
    /// It is the result of the sibling modules' own `AT+QMTPUB` too (EC2x/EG9x/BG9x, BC26:
    /// [`crate::sibling`]).
    Pub,
}

impl PubPrefix {
    /// The prefix text, with its colon.
    pub const fn as_str(self) -> &'static str {
        match self {
            PubPrefix::PubEx => "+QMTPUBEX:",
            PubPrefix::Pub => "+QMTPUB:",
        }
    }
}

/// A comma-separated list of integers, borrowed from the line as it was written: the values after
/// `result` in `+QMTSUB`/`+QMTUNS` results. Never allocates; iterate with [`iter`](Self::iter).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Values<'a>(&'a [u8]);

impl<'a> Values<'a> {
    /// No values.
    pub const EMPTY: Values<'static> = Values(b"");

    /// Checks `raw` is empty or `<int>[,<int>…]` (spaces after commas allowed, nothing else).
    pub fn parse(raw: &'a [u8]) -> Option<Self> {
        if raw.is_empty() {
            return Some(Values(raw));
        }
        let mut i = raw;
        loop {
            let sign = usize::from(i.first() == Some(&b'-'));
            let n = i
                .iter()
                .skip(sign)
                .take_while(|b| b.is_ascii_digit())
                .count();
            let (token, rest) = i.split_at_checked(sign + n)?;
            // Each value must be an i64 (so `iter` yields exactly the values written).
            core::str::from_utf8(token).ok()?.parse::<i64>().ok()?;
            i = rest;
            if i.is_empty() {
                return Some(Values(raw));
            }
            i = crate::recv::skip_spaces(i.strip_prefix(b",")?);
        }
    }

    /// The bytes as written (`2,1,128`).
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Whether there are no values.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + 'a {
        let raw = self.0;
        raw.split(|&b| b == b',')
            .filter(move |_| !raw.is_empty())
            .filter_map(|s| {
                let s = crate::recv::skip_spaces(s);
                core::str::from_utf8(s).ok()?.parse::<i64>().ok()
            })
    }

    /// The first value: the retransmission count when `result` is 1.
    pub fn first(&self) -> Option<i64> {
        self.iter().next()
    }

    /// The values as granted QoS (meaningful when `result` is 0 in a `+QMTSUB` result).
    pub fn granted_qos(&self) -> impl Iterator<Item = GrantedQos> + 'a {
        self.iter().map(GrantedQos::from_code)
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> Urc<'a> {
    /// The client the line concerns, if it names one.
    pub fn client_idx(&self) -> Option<ClientIdx> {
        match *self {
            Urc::Open { client_idx, .. }
            | Urc::Close { client_idx, .. }
            | Urc::Conn { client_idx, .. }
            | Urc::Disc { client_idx, .. }
            | Urc::Sub { client_idx, .. }
            | Urc::Uns { client_idx, .. }
            | Urc::PubEx { client_idx, .. }
            | Urc::Stat { client_idx, .. }
            | Urc::Ping { client_idx, .. }
            | Urc::RecvStored { client_idx, .. } => Some(client_idx),
            Urc::Recv(r) => Some(r.client_idx),
            Urc::Rdy
            | Urc::AppRdy
            | Urc::Pin(_)
            | Urc::Cfun(_)
            | Urc::Qusim(_)
            | Urc::Qind(_)
            | Urc::SimStat { .. }
            | Urc::Reg { .. }
            | Urc::PdpDeact { .. }
            | Urc::PowerDown(_)
            | Urc::Ntp { .. } => None,
        }
    }

    /// For [`Urc::Conn`]: the CONNACK code, `Accepted` when result is 0 without `ret_code` (spec §6
    /// variation 3); `None` for other results and other lines.
    pub fn connack(&self) -> Option<ConnackCode> {
        match *self {
            Urc::Conn {
                result: PacketResult::Acked,
                value,
                ..
            } => match value {
                None => Some(ConnackCode::Accepted),
                Some(ConnValue::Connack(c)) => Some(c),
                Some(v) => Some(ConnackCode::from_code(v.code())),
            },
            _ => None,
        }
    }

    /// Appends the line's exact bytes, without the framing CR LF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Out(out);
        match *self {
            Urc::Open { client_idx, result } => {
                o.raw(b"+QMTOPEN: ")
                    .num(client_idx)
                    .comma()
                    .num(result.code());
            }
            Urc::Close { client_idx, result } => {
                o.raw(b"+QMTCLOSE: ")
                    .num(client_idx)
                    .comma()
                    .num(result.code());
            }
            Urc::Conn {
                client_idx,
                result,
                value,
            } => {
                o.raw(b"+QMTCONN: ")
                    .num(client_idx)
                    .comma()
                    .num(result.code());
                if let Some(v) = value {
                    o.comma().num(v.code());
                }
            }
            Urc::Disc { client_idx, result } => {
                o.raw(b"+QMTDISC: ")
                    .num(client_idx)
                    .comma()
                    .num(result.code());
            }
            Urc::Sub {
                client_idx,
                msgid,
                result,
                values,
            }
            | Urc::Uns {
                client_idx,
                msgid,
                result,
                values,
            } => {
                let p: &[u8] = if matches!(self, Urc::Sub { .. }) {
                    b"+QMTSUB: "
                } else {
                    b"+QMTUNS: "
                };
                o.raw(p)
                    .num(client_idx)
                    .comma()
                    .num(msgid)
                    .comma()
                    .num(result.code());
                if !values.is_empty() {
                    o.comma().raw(values.as_bytes());
                }
            }
            Urc::PubEx {
                prefix,
                client_idx,
                msgid,
                result,
                value,
            } => {
                o.raw(prefix.as_str().as_bytes())
                    .raw(b" ")
                    .num(client_idx)
                    .comma()
                    .num(msgid)
                    .comma()
                    .num(result.code());
                if let Some(v) = value {
                    o.comma().num(v);
                }
            }
            Urc::Stat {
                client_idx,
                err_code,
            } => {
                o.raw(b"+QMTSTAT: ")
                    .num(client_idx)
                    .comma()
                    .num(err_code.code());
            }
            Urc::Ping { client_idx, result } => {
                o.raw(b"+QMTPING: ")
                    .num(client_idx)
                    .comma()
                    .num(result.code());
            }
            Urc::Recv(r) => r.encode(o.0),
            Urc::RecvStored {
                client_idx,
                recv_id,
            } => {
                o.raw(b"+QMTRECV: ").num(client_idx).comma().num(recv_id);
            }
            Urc::Rdy => {
                o.raw(b"RDY");
            }
            Urc::AppRdy => {
                o.raw(b"APP RDY");
            }
            Urc::Pin(state) => {
                o.raw(b"+CPIN: ").raw(state.as_str().as_bytes());
            }
            Urc::Cfun(fun) => {
                o.raw(b"+CFUN: ").num(fun);
            }
            Urc::Qusim(n) => {
                o.raw(b"+QUSIM: ").num(n);
            }
            Urc::Qind(text) => {
                o.raw(b"+QIND: ").raw(text.as_bytes());
            }
            Urc::SimStat { enabled, inserted } => {
                o.raw(b"+QSIMSTAT: ")
                    .num(u8::from(enabled))
                    .comma()
                    .num(u8::from(inserted));
            }
            Urc::Reg {
                domain,
                stat,
                location,
            } => {
                o.raw(domain.prefix().as_bytes()).raw(b": ").num(stat);
                encode_location(&mut o, location);
            }
            Urc::PdpDeact { cid } => {
                o.raw(b"+QIURC: \"pdpdeact\",").num(cid);
            }
            Urc::PowerDown(kind) => {
                o.raw(kind.as_str().as_bytes());
            }
            Urc::Ntp { result, time } => {
                o.raw(b"+QNTP: ").num(result.code());
                if let Some(t) = time {
                    o.comma().raw(b"\"").num(t).raw(b"\"");
                }
            }
        }
    }
}

/// Appends `,"<area>","<cell>"[,<act>]` of a registration line, if there is a location.
pub(crate) fn encode_location(o: &mut Out<'_>, location: Option<RegLocation<'_>>) {
    if let Some(l) = location {
        o.comma().quoted(l.area).comma().quoted(l.cell);
        if let Some(act) = l.act {
            o.comma().num(act);
        }
    }
}
