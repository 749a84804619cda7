//! Which command a line belongs to: the command names and the four forms of spec §1.

/// A command of the set this crate types (spec §3–§5, §7, plus the basics a driver needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `AT`: synchronise.
    At,
    /// `ATE0` / `ATE1`: echo off / on.
    Echo,
    /// `AT+CMEE`: error reporting (0 `ERROR`, 1 numeric, 2 verbose `+CME ERROR`).
    Cmee,
    /// `AT+QMTCFG` (spec §3).
    QmtCfg,
    /// `AT+QMTOPEN` (spec §4).
    QmtOpen,
    /// `AT+QMTCLOSE` (spec §4).
    QmtClose,
    /// `AT+QMTCONN` (spec §4).
    QmtConn,
    /// `AT+QMTDISC` (spec §4).
    QmtDisc,
    /// `AT+QMTSUB` (spec §5).
    QmtSub,
    /// `AT+QMTUNS` (spec §5).
    QmtUns,
    /// `AT+QMTPUBEX` (spec §5).
    QmtPubEx,
    /// `AT+QMTRECV` (spec §5).
    QmtRecv,
    /// `AT+QFUPL` (spec §7).
    QfUpl,
    /// `AT+QSSLCFG` (spec §7).
    QsslCfg,
}

impl CommandKind {
    /// The command's name as written on the wire, without form or parameters (`AT+QMTOPEN`,
    /// `ATE`): safe for errors and logs, since parameters may hold secrets.
    pub const fn at_name(self) -> &'static str {
        match self {
            CommandKind::At => "AT",
            CommandKind::Echo => "ATE",
            CommandKind::Cmee => "AT+CMEE",
            CommandKind::QmtCfg => "AT+QMTCFG",
            CommandKind::QmtOpen => "AT+QMTOPEN",
            CommandKind::QmtClose => "AT+QMTCLOSE",
            CommandKind::QmtConn => "AT+QMTCONN",
            CommandKind::QmtDisc => "AT+QMTDISC",
            CommandKind::QmtSub => "AT+QMTSUB",
            CommandKind::QmtUns => "AT+QMTUNS",
            CommandKind::QmtPubEx => "AT+QMTPUBEX",
            CommandKind::QmtRecv => "AT+QMTRECV",
            CommandKind::QfUpl => "AT+QFUPL",
            CommandKind::QsslCfg => "AT+QSSLCFG",
        }
    }
}

/// The four command forms of spec §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// `AT+<cmd>=?`: lists the parameter ranges.
    Test,
    /// `AT+<cmd>?`: reads the current state.
    Read,
    /// `AT+<cmd>=<p1>[,<p2>…]`: sets or acts.
    Write,
    /// `AT+<cmd>`: acts without parameters.
    Execute,
}
