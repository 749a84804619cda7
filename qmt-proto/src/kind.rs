//! Which command a line belongs to: the command names and the four forms of spec §1.

/// A command of the set this crate types (spec §3–§5, §7, §10.1–§10.9, plus the basics a driver
/// needs).
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
    /// `ATI`: product information (spec §10.2).
    Ati,
    /// `AT+CGMI`: the manufacturer (spec §10.2).
    Cgmi,
    /// `AT+CGMM`: the model (spec §10.2).
    Cgmm,
    /// `AT+CGMR`: the firmware revision (spec §10.2).
    Cgmr,
    /// `AT+GSN` (or `AT+CGSN`): the IMEI (spec §10.2).
    Gsn,
    /// `AT+QCCID`: the SIM's ICCID (spec §10.2).
    Qccid,
    /// `AT+CIMI`: the SIM's IMSI (spec §10.2).
    Cimi,
    /// `AT+CPIN`: the SIM's PIN state, or enter the PIN (spec §10.3).
    Cpin,
    /// `AT+QSIMSTAT`: SIM hot-swap detection (spec §10.3).
    QsimStat,
    /// `AT+CSQ`: signal quality (spec §10.4).
    Csq,
    /// `AT+QCSQ`: signal per access technology (spec §10.4).
    Qcsq,
    /// `AT+QNWINFO`: the serving network (spec §10.4).
    QnwInfo,
    /// `AT+COPS`: the operator (spec §10.4).
    Cops,
    /// `AT+CREG`: circuit-switched registration (spec §10.5).
    Creg,
    /// `AT+CGREG`: GPRS/packet-switched registration (spec §10.5).
    Cgreg,
    /// `AT+CEREG`: EPS (LTE) registration (spec §10.5).
    Cereg,
    /// `AT+QICSGP`: configure a PDP context: APN and credentials (spec §10.6).
    Qicsgp,
    /// `AT+QIACT`: activate a PDP context, or list the active ones (spec §10.6).
    Qiact,
    /// `AT+QIDEACT`: deactivate a PDP context (spec §10.6).
    Qideact,
    /// `AT+CGATT`: packet-domain attach state (spec §10.6).
    Cgatt,
    /// `AT+CGPADDR`: the address of a PDP context (spec §10.6).
    Cgpaddr,
    /// `AT+CFUN`: set or read the functionality (spec §10.1).
    Cfun,
    /// `AT+QPOWD`: power the module down (spec §10.1).
    Qpowd,
    /// `AT+IFC`: flow control of the serial line (spec §10.7).
    Ifc,
    /// `AT+IPR`: the serial line's baud rate (spec §10.7).
    Ipr,
    /// `AT+QFLST`: list the module's files (spec §10.8).
    Qflst,
    /// `AT+QFDEL`: delete a file (spec §10.8).
    Qfdel,
    /// `AT+CCLK`: the module's clock (spec §10.9).
    Cclk,
    /// `AT+QNTP`: set the clock from an NTP server (spec §10.9; the result within 125 s).
    Qntp,
    /// `AT+QLTS`: the time the network sent (spec §10.9).
    Qlts,
    /// `AT+QMTPUB`: the publish of sibling modules (EC2x/EG9x/BG9x, BC26; [`crate::sibling`]).
    /// EC200x/EC600x/EG912Y answer it `ERROR`: they publish with `AT+QMTPUBEX`.
    QmtPub,
}

impl CommandKind {
    /// Every command kind, in declaration order: for tables, fuzz targets and tests that must
    /// cover them all (a new kind that is missing here fails `kind::tests`).
    pub const ALL: [CommandKind; 45] = [
        CommandKind::At,
        CommandKind::Echo,
        CommandKind::Cmee,
        CommandKind::QmtCfg,
        CommandKind::QmtOpen,
        CommandKind::QmtClose,
        CommandKind::QmtConn,
        CommandKind::QmtDisc,
        CommandKind::QmtSub,
        CommandKind::QmtUns,
        CommandKind::QmtPubEx,
        CommandKind::QmtRecv,
        CommandKind::QfUpl,
        CommandKind::QsslCfg,
        CommandKind::Ati,
        CommandKind::Cgmi,
        CommandKind::Cgmm,
        CommandKind::Cgmr,
        CommandKind::Gsn,
        CommandKind::Qccid,
        CommandKind::Cimi,
        CommandKind::Cpin,
        CommandKind::QsimStat,
        CommandKind::Csq,
        CommandKind::Qcsq,
        CommandKind::QnwInfo,
        CommandKind::Cops,
        CommandKind::Creg,
        CommandKind::Cgreg,
        CommandKind::Cereg,
        CommandKind::Qicsgp,
        CommandKind::Qiact,
        CommandKind::Qideact,
        CommandKind::Cgatt,
        CommandKind::Cgpaddr,
        CommandKind::Cfun,
        CommandKind::Qpowd,
        CommandKind::Ifc,
        CommandKind::Ipr,
        CommandKind::Qflst,
        CommandKind::Qfdel,
        CommandKind::Cclk,
        CommandKind::Qntp,
        CommandKind::Qlts,
        CommandKind::QmtPub,
    ];

    /// The kind's place in [`ALL`](Self::ALL). The match is exhaustive, so a new kind must get a
    /// number here, and the test checks that `ALL` holds it at that place.
    #[cfg(test)]
    const fn ordinal(self) -> usize {
        match self {
            CommandKind::At => 0,
            CommandKind::Echo => 1,
            CommandKind::Cmee => 2,
            CommandKind::QmtCfg => 3,
            CommandKind::QmtOpen => 4,
            CommandKind::QmtClose => 5,
            CommandKind::QmtConn => 6,
            CommandKind::QmtDisc => 7,
            CommandKind::QmtSub => 8,
            CommandKind::QmtUns => 9,
            CommandKind::QmtPubEx => 10,
            CommandKind::QmtRecv => 11,
            CommandKind::QfUpl => 12,
            CommandKind::QsslCfg => 13,
            CommandKind::Ati => 14,
            CommandKind::Cgmi => 15,
            CommandKind::Cgmm => 16,
            CommandKind::Cgmr => 17,
            CommandKind::Gsn => 18,
            CommandKind::Qccid => 19,
            CommandKind::Cimi => 20,
            CommandKind::Cpin => 21,
            CommandKind::QsimStat => 22,
            CommandKind::Csq => 23,
            CommandKind::Qcsq => 24,
            CommandKind::QnwInfo => 25,
            CommandKind::Cops => 26,
            CommandKind::Creg => 27,
            CommandKind::Cgreg => 28,
            CommandKind::Cereg => 29,
            CommandKind::Qicsgp => 30,
            CommandKind::Qiact => 31,
            CommandKind::Qideact => 32,
            CommandKind::Cgatt => 33,
            CommandKind::Cgpaddr => 34,
            CommandKind::Cfun => 35,
            CommandKind::Qpowd => 36,
            CommandKind::Ifc => 37,
            CommandKind::Ipr => 38,
            CommandKind::Qflst => 39,
            CommandKind::Qfdel => 40,
            CommandKind::Cclk => 41,
            CommandKind::Qntp => 42,
            CommandKind::Qlts => 43,
            CommandKind::QmtPub => 44,
        }
    }

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
            CommandKind::Ati => "ATI",
            CommandKind::Cgmi => "AT+CGMI",
            CommandKind::Cgmm => "AT+CGMM",
            CommandKind::Cgmr => "AT+CGMR",
            CommandKind::Gsn => "AT+GSN",
            CommandKind::Qccid => "AT+QCCID",
            CommandKind::Cimi => "AT+CIMI",
            CommandKind::Cpin => "AT+CPIN",
            CommandKind::QsimStat => "AT+QSIMSTAT",
            CommandKind::Csq => "AT+CSQ",
            CommandKind::Qcsq => "AT+QCSQ",
            CommandKind::QnwInfo => "AT+QNWINFO",
            CommandKind::Cops => "AT+COPS",
            CommandKind::Creg => "AT+CREG",
            CommandKind::Cgreg => "AT+CGREG",
            CommandKind::Cereg => "AT+CEREG",
            CommandKind::Qicsgp => "AT+QICSGP",
            CommandKind::Qiact => "AT+QIACT",
            CommandKind::Qideact => "AT+QIDEACT",
            CommandKind::Cgatt => "AT+CGATT",
            CommandKind::Cgpaddr => "AT+CGPADDR",
            CommandKind::Cfun => "AT+CFUN",
            CommandKind::Qpowd => "AT+QPOWD",
            CommandKind::Ifc => "AT+IFC",
            CommandKind::Ipr => "AT+IPR",
            CommandKind::Qflst => "AT+QFLST",
            CommandKind::Qfdel => "AT+QFDEL",
            CommandKind::Cclk => "AT+CCLK",
            CommandKind::Qntp => "AT+QNTP",
            CommandKind::Qlts => "AT+QLTS",
            CommandKind::QmtPub => "AT+QMTPUB",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_holds_every_kind_once_in_order() {
        for (i, k) in CommandKind::ALL.iter().enumerate() {
            assert_eq!(k.ordinal(), i, "{k:?}");
        }
        let max = CommandKind::ALL
            .iter()
            .map(|k| k.ordinal())
            .max()
            .unwrap_or(0);
        assert_eq!(CommandKind::ALL.len(), max + 1);
    }
}
