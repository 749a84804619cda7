//! The error codes the simulated module reports (`+CME ERROR: <n>` / `<text>`, spec §1).
//!
//! | situation | code | verbose text (`AT+CMEE=2`) |
//! |---|---|---|
//! | the command exists but the client's state forbids it (not open, not connected, already connecting); `AT+QIACT` of a context that is active or not yet `AT+QIDEACT`ed; `AT+CPIN="…"` without a PIN to enter | 3 | `operation not allowed` |
//! | unknown command or form (`AT+FOO`, `AT+QSSLCFG=?`, `AT+CMEE?`) | 4 | `operation not supported` |
//! | no SIM (`AT+CPIN?`, `AT+CIMI`, `AT+QCCID`, `AT+CPIN="…"`) | 10 | `SIM not inserted` |
//! | SIM locked by its PIN (`AT+CIMI`) | 11 | `SIM PIN required` |
//! | SIM locked after three wrong PINs (`AT+CIMI`, `AT+CPIN="…"`) | 12 | `SIM PUK required` |
//! | wrong PIN | 16 | `incorrect password` |
//! | command line longer than 4096 bytes | 24 | `text string too long` |
//! | `AT+QIACT` while not registered (or the radio off) | 30 | `no network service` |
//! | malformed command, value out of range, invalid hex data after `> ` | 50 | `incorrect parameters` |
//! | no complete data after `> ` within `edit/timeout` | 100 | `unknown` |
//! | `AT+QIACT` with an APN the network refuses | 148 | `unspecified GPRS error` |
//! | `AT+QFUPL` without a size | 400 | `invalid input value` |
//! | `AT+QFUPL`: no complete data within `timeout` | 421 | `time out` |
//!
//! Codes 3–100 and their texts are 3GPP TS 27.007 §9.2.1, 148 is §9.2.2; 400 and 421 are the
//! Quectel file-system error codes. With `AT+CMEE=0` (the power-up mode) every error is a plain
//! `ERROR` (so a failed `AT+QIACT` is `ERROR`, as spec §10.6 shows it), except the file errors of
//! `AT+QFUPL`, which spec §7 documents as `+CME ERROR: <err>` in every mode, and the SIM errors
//! (10, 11, 12, 16), which spec §10.3 shows as `+CME ERROR: 10`: those are numeric in modes 0
//! and 1.

/// An error the module reports as the final result code of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CmeError {
    /// 3: the client's state forbids the command.
    OperationNotAllowed,
    /// 4: unknown command.
    OperationNotSupported,
    /// 10: no SIM.
    SimNotInserted,
    /// 11: the SIM waits for its PIN.
    SimPinRequired,
    /// 12: the SIM waits for its PUK.
    SimPukRequired,
    /// 16: wrong PIN.
    IncorrectPassword,
    /// 24: the command line is too long.
    TextTooLong,
    /// 30: not registered.
    NoNetworkService,
    /// 50: malformed command or invalid value.
    IncorrectParameters,
    /// 100: the data phase timed out.
    Unknown,
    /// 148: PDP activation refused (wrong APN).
    PdpActivationFailed,
    /// 400: `AT+QFUPL` without a size.
    FileInvalidInput,
    /// 421: `AT+QFUPL` data timed out.
    FileTimeout,
    /// 405: `AT+QFDEL` of a file that does not exist (spec §10.8).
    FileNotFound,
    /// 407: `AT+QFUPL` to a name that exists (spec §10.8).
    FileAlreadyExists,
}

impl CmeError {
    /// The numeric code.
    pub(super) const fn code(self) -> u32 {
        match self {
            CmeError::OperationNotAllowed => 3,
            CmeError::OperationNotSupported => 4,
            CmeError::SimNotInserted => 10,
            CmeError::SimPinRequired => 11,
            CmeError::SimPukRequired => 12,
            CmeError::IncorrectPassword => 16,
            CmeError::TextTooLong => 24,
            CmeError::NoNetworkService => 30,
            CmeError::IncorrectParameters => 50,
            CmeError::Unknown => 100,
            CmeError::PdpActivationFailed => 148,
            CmeError::FileInvalidInput => 400,
            CmeError::FileTimeout => 421,
            CmeError::FileNotFound => 405,
            CmeError::FileAlreadyExists => 407,
        }
    }

    /// The verbose text.
    pub(super) const fn text(self) -> &'static str {
        match self {
            CmeError::OperationNotAllowed => "operation not allowed",
            CmeError::OperationNotSupported => "operation not supported",
            CmeError::SimNotInserted => "SIM not inserted",
            CmeError::SimPinRequired => "SIM PIN required",
            CmeError::SimPukRequired => "SIM PUK required",
            CmeError::IncorrectPassword => "incorrect password",
            CmeError::TextTooLong => "text string too long",
            CmeError::NoNetworkService => "no network service",
            CmeError::IncorrectParameters => "incorrect parameters",
            CmeError::Unknown => "unknown",
            CmeError::PdpActivationFailed => "unspecified GPRS error",
            CmeError::FileInvalidInput => "invalid input value",
            CmeError::FileTimeout => "time out",
            CmeError::FileNotFound => "file not found",
            CmeError::FileAlreadyExists => "file already exists",
        }
    }

    /// Whether this is a file or SIM error (`+CME ERROR` even with `AT+CMEE=0`).
    pub(super) const fn always_numbered(self) -> bool {
        matches!(
            self,
            CmeError::FileInvalidInput
                | CmeError::FileTimeout
                | CmeError::FileNotFound
                | CmeError::FileAlreadyExists
                | CmeError::SimNotInserted
                | CmeError::SimPinRequired
                | CmeError::SimPukRequired
                | CmeError::IncorrectPassword
        )
    }
}

/// The names after `AT+` the module knows: a command line that fails to parse but names one of
/// them is malformed (50), anything else is unsupported (4).
const KNOWN: [&[u8]; 40] = [
    b"CMEE",
    b"CGMI",
    b"CGMM",
    b"CGMR",
    b"GSN",
    b"CGSN",
    b"QCCID",
    b"CIMI",
    b"CPIN",
    b"QSIMSTAT",
    b"CSQ",
    b"QCSQ",
    b"QNWINFO",
    b"COPS",
    b"CREG",
    b"CGREG",
    b"CEREG",
    b"QICSGP",
    b"QIACT",
    b"QIDEACT",
    b"CGATT",
    b"CGPADDR",
    b"CFUN",
    b"QMTCFG",
    b"QMTOPEN",
    b"QMTCLOSE",
    b"QMTCONN",
    b"QMTDISC",
    b"QMTSUB",
    b"QMTUNS",
    b"QMTPUBEX",
    b"QMTRECV",
    b"QFUPL",
    b"QSSLCFG",
    b"QPOWD",
    b"QFLST",
    b"QFDEL",
    b"CCLK",
    b"QNTP",
    b"QLTS",
];

/// The error for a line that starts with `AT` but does not parse as a command.
pub(super) fn for_unparsable(line: &[u8], err: &qmt_proto::error::ParseError) -> CmeError {
    // qmt-proto types the `AT+QMTPUB` of sibling modules, so its bad values are parameter errors;
    // EC200x firmware does not know the command at all.
    let name_end = line
        .iter()
        .position(|b| !b.is_ascii_alphanumeric() && *b != b'+')
        .unwrap_or(line.len());
    if line[..name_end].eq_ignore_ascii_case(b"AT+QMTPUB") {
        return CmeError::OperationNotSupported;
    }
    if matches!(err, qmt_proto::error::ParseError::Param(_)) {
        return CmeError::IncorrectParameters;
    }
    let after_at = line.get(2..).unwrap_or_default();
    match after_at.split_first() {
        Some((b'E' | b'e', _)) => CmeError::IncorrectParameters,
        Some((b'+', rest)) => {
            let n = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            let name = rest.get(..n).unwrap_or_default();
            // A test or read form the command does not have (`AT+QSSLCFG=?`, `AT+CMEE?`)
            // fails with a syntax error: that form is not supported.
            let tail = rest.get(n..).unwrap_or_default();
            let missing_form = tail.starts_with(b"?") || tail.starts_with(b"=?");
            if !missing_form && KNOWN.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                CmeError::IncorrectParameters
            } else {
                CmeError::OperationNotSupported
            }
        }
        _ => CmeError::OperationNotSupported,
    }
}
