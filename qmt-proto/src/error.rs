//! Errors of this crate: a parameter refused by a constructor, or bytes that do not parse.

use core::fmt;

/// A parameter value the spec does not allow. Returned by every checked constructor, so an invalid
/// command can never be built and never reach the wire.
///
/// The message names the parameter (in the spec's words), the offending value and the allowed range.
/// It never repeats the content of a secret: for secrets only lengths and forbidden-byte positions
/// are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A number outside its range.
    OutOfRange {
        /// The parameter's name in the spec (`client_idx`, `keep_alive_time`, …).
        param: &'static str,
        /// The value that was given.
        value: i64,
        /// The allowed values, as the spec writes them (`0-5`).
        allowed: &'static str,
    },
    /// A string or byte run whose length is outside its range.
    Length {
        /// The parameter's name in the spec.
        param: &'static str,
        /// The length that was given, in bytes.
        len: usize,
        /// The allowed lengths (`1-256 bytes`).
        allowed: &'static str,
    },
    /// A byte a quoted AT string cannot carry: `"`, CR or LF (spec §1: no escape is defined).
    ForbiddenByte {
        /// The parameter's name in the spec.
        param: &'static str,
        /// The forbidden byte.
        byte: u8,
        /// Its position in the value.
        at: usize,
    },
    /// A byte the data of a data phase cannot carry: Ctrl-Z (0x1A) ends the data of an
    /// `AT+QMTPUB` without `<msglen>` and ESC (0x1B) cancels it, so a payload holding either would
    /// be cut or dropped by the module (EC2x/EG9x/BG9x, [`crate::sibling`]).
    ControlByte {
        /// The parameter's name (`payload`).
        param: &'static str,
        /// The byte.
        byte: u8,
        /// Its position in the value.
        at: usize,
    },
    /// A combination of parameters the spec forbids (for example `msgid` ≠ 0 with `qos` 0).
    Invalid {
        /// The parameter's name in the spec.
        param: &'static str,
        /// Why the combination is refused.
        reason: &'static str,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::OutOfRange {
                param,
                value,
                allowed,
            } => {
                write!(f, "{param} = {value} is out of range (allowed: {allowed})")
            }
            ParamError::Length {
                param,
                len,
                allowed,
            } => {
                write!(f, "{param} is {len} bytes long (allowed: {allowed})")
            }
            ParamError::ForbiddenByte { param, byte, at } => write!(
                f,
                "{param} holds byte 0x{byte:02x} at {at}, which a quoted AT string cannot carry (\", CR, LF are forbidden)"
            ),
            ParamError::ControlByte { param, byte, at } => write!(
                f,
                "{param} holds byte 0x{byte:02x} at {at}, which ends (Ctrl-Z, 0x1a) or cancels (ESC, 0x1b) the data of AT+QMTPUB without a length"
            ),
            ParamError::Invalid { param, reason } => write!(f, "{param}: {reason}"),
        }
    }
}

impl core::error::Error for ParamError {}

/// Bytes that are not the thing they were parsed as.
///
/// Parsing module lines never fails as a whole (an unparsable line is `Unknown`); this error is what
/// the typed parsers of single items (a host command, one line kind) return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes do not have the syntax of any form of the item.
    Syntax,
    /// The syntax is right but a parameter is out of range.
    Param(ParamError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax => f.write_str("syntax error"),
            ParseError::Param(e) => write!(f, "invalid parameter: {e}"),
        }
    }
}

impl core::error::Error for ParseError {}

impl From<ParamError> for ParseError {
    fn from(e: ParamError) -> Self {
        ParseError::Param(e)
    }
}
