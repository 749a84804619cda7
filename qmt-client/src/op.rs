//! [`OpKind`]: the two-phase operations, named by both the correlator and the errors (a module of
//! its own so that neither imports the other).

use core::fmt;

/// The two-phase operations (spec §4, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `AT+QMTOPEN` → `+QMTOPEN: <idx>,<result>`.
    Open,
    /// `AT+QMTCLOSE` → `+QMTCLOSE: <idx>,<result>`.
    Close,
    /// `AT+QMTCONN` → `+QMTCONN: <idx>,<result>[,<ret_code>]`.
    Conn,
    /// `AT+QMTDISC` → `+QMTDISC: <idx>,<result>`.
    Disc,
    /// `AT+QMTSUB` → `+QMTSUB: <idx>,<msgid>,<result>[,<value>…]`.
    Sub,
    /// `AT+QMTUNS` → `+QMTUNS: <idx>,<msgid>,<result>[,<value>]`.
    Uns,
    /// `AT+QMTPUBEX` → `+QMTPUBEX: <idx>,<msgid>,<result>[,<value>]` (or `+QMTPUB:`).
    Pub,
}

impl OpKind {
    /// Whether results of this kind carry a `msgid`.
    pub const fn has_msgid(self) -> bool {
        matches!(self, OpKind::Sub | OpKind::Uns | OpKind::Pub)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Open => "AT+QMTOPEN",
            OpKind::Close => "AT+QMTCLOSE",
            OpKind::Conn => "AT+QMTCONN",
            OpKind::Disc => "AT+QMTDISC",
            OpKind::Sub => "AT+QMTSUB",
            OpKind::Uns => "AT+QMTUNS",
            OpKind::Pub => "AT+QMTPUBEX",
        })
    }
}
