//! The error codes the simulated module reports (`+CME ERROR: <n>` / `<text>`, spec §1).
//!
//! | situation | code | verbose text (`AT+CMEE=2`) |
//! |---|---|---|
//! | the command exists but the client's state forbids it (not open, not connected, already connecting) | 3 | `operation not allowed` |
//! | unknown command or form (`ATI`, `AT+FOO`, `AT+QSSLCFG=?`, `AT+CMEE?`) | 4 | `operation not supported` |
//! | command line longer than 4096 bytes | 24 | `text string too long` |
//! | malformed command, value out of range, invalid hex data after `> ` | 50 | `incorrect parameters` |
//! | no complete data after `> ` within `edit/timeout` | 100 | `unknown` |
//! | `AT+QFUPL` without a size | 400 | `invalid input value` |
//! | `AT+QFUPL`: no complete data within `timeout` | 421 | `time out` |
//!
//! Codes 3, 4, 24, 50, 100 and their texts are 3GPP TS 27.007 §9.2.1; 400 and 421 are the Quectel
//! file-system error codes. With `AT+CMEE=0` (the power-up mode) every error is a plain `ERROR`,
//! except the file errors of `AT+QFUPL`, which spec §7 documents as `+CME ERROR: <err>` in every
//! mode (numeric in modes 0 and 1).

/// An error the module reports as the final result code of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CmeError {
    /// 3: the client's state forbids the command.
    OperationNotAllowed,
    /// 4: unknown command.
    OperationNotSupported,
    /// 24: the command line is too long.
    TextTooLong,
    /// 50: malformed command or invalid value.
    IncorrectParameters,
    /// 100: the data phase timed out.
    Unknown,
    /// 400: `AT+QFUPL` without a size.
    FileInvalidInput,
    /// 421: `AT+QFUPL` data timed out.
    FileTimeout,
}

impl CmeError {
    /// The numeric code.
    pub(super) const fn code(self) -> u32 {
        match self {
            CmeError::OperationNotAllowed => 3,
            CmeError::OperationNotSupported => 4,
            CmeError::TextTooLong => 24,
            CmeError::IncorrectParameters => 50,
            CmeError::Unknown => 100,
            CmeError::FileInvalidInput => 400,
            CmeError::FileTimeout => 421,
        }
    }

    /// The verbose text.
    pub(super) const fn text(self) -> &'static str {
        match self {
            CmeError::OperationNotAllowed => "operation not allowed",
            CmeError::OperationNotSupported => "operation not supported",
            CmeError::TextTooLong => "text string too long",
            CmeError::IncorrectParameters => "incorrect parameters",
            CmeError::Unknown => "unknown",
            CmeError::FileInvalidInput => "invalid input value",
            CmeError::FileTimeout => "time out",
        }
    }

    /// Whether this is a file error (`+CME ERROR` even with `AT+CMEE=0`).
    pub(super) const fn is_file_error(self) -> bool {
        matches!(self, CmeError::FileInvalidInput | CmeError::FileTimeout)
    }
}

/// The names after `AT+` the module knows: a command line that fails to parse but names one of
/// them is malformed (50), anything else is unsupported (4).
const KNOWN: [&[u8]; 12] = [
    b"CMEE",
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
];

/// The error for a line that starts with `AT` but does not parse as a command.
pub(super) fn for_unparsable(line: &[u8], err: &qmt_proto::error::ParseError) -> CmeError {
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
