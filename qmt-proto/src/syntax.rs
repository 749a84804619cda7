//! Shared lexical pieces of AT syntax (spec §1), for parsing (winnow) and for encoding.
//!
//! Parsers here work on `&[u8]` and borrow; they never allocate. Encoders append to a `Vec<u8>`.

use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use winnow::ascii::{dec_int, dec_uint, space0};
use winnow::error::ContextError;
use winnow::token::{literal, take_till};
use winnow::Parser;

use crate::error::ParseError;

/// Result of a winnow parser of this crate.
pub(crate) type PResult<O> = winnow::Result<O, ContextError>;

/// A signed decimal number (result codes may be `-1`).
pub(crate) fn int(i: &mut &[u8]) -> PResult<i64> {
    dec_int.parse_next(i)
}

/// An unsigned decimal number.
pub(crate) fn uint(i: &mut &[u8]) -> PResult<u64> {
    dec_uint.parse_next(i)
}

/// A `,` separator; spaces after it are tolerated (hand-typed commands, some firmware).
pub(crate) fn comma(i: &mut &[u8]) -> PResult<()> {
    (b',', space0).void().parse_next(i)
}

/// A double-quoted string without escapes (spec §1): the bytes up to the next `"`.
pub(crate) fn quoted<'a>(i: &mut &'a [u8]) -> PResult<&'a [u8]> {
    (b'"', take_till(0.., b'"'), b'"').map(|(_, s, _)| s).parse_next(i)
}

/// A quoted string that must be UTF-8 (topics, host names, identifiers).
pub(crate) fn quoted_str<'a>(i: &mut &'a [u8]) -> PResult<&'a str> {
    quoted.try_map(core::str::from_utf8).parse_next(i)
}

/// A response prefix such as `+QMTOPEN:` (ASCII case-insensitive), then optional spaces.
pub(crate) fn prefix<'a>(name: &'static str) -> impl Parser<&'a [u8], (), ContextError> {
    (literal(winnow::ascii::Caseless(name.as_bytes())), space0).void()
}

/// Runs `parser` over all of `input`: trailing bytes other than spaces and CR are a syntax error.
pub(crate) fn complete<'a, O>(
    mut parser: impl Parser<&'a [u8], O, ContextError>,
    input: &'a [u8],
) -> Result<O, ParseError> {
    let mut i = input;
    let out = parser.parse_next(&mut i).map_err(|_| ParseError::Syntax)?;
    if i.iter().all(|&b| b == b' ' || b == b'\r') { Ok(out) } else { Err(ParseError::Syntax) }
}

/// Appends AT syntax to a byte buffer.
pub(crate) struct Out<'a>(pub(crate) &'a mut Vec<u8>);

impl Out<'_> {
    /// Raw bytes, as they are.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// A decimal number (or anything whose `Display` is the wire form).
    pub(crate) fn num(&mut self, n: impl fmt::Display) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = write!(self, "{n}");
        self
    }

    /// A `,`.
    pub(crate) fn comma(&mut self) -> &mut Self {
        self.0.push(b',');
        self
    }

    /// A string in double quotes. The caller's type guarantees it holds no `"`, CR or LF.
    pub(crate) fn quoted(&mut self, s: impl AsRef<[u8]>) -> &mut Self {
        self.0.push(b'"');
        self.0.extend_from_slice(s.as_ref());
        self.0.push(b'"');
        self
    }
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_parse() {
        let mut i: &[u8] = b"+qmtopen: 0,\"h\", -1";
        prefix("+QMTOPEN:").parse_next(&mut i).unwrap();
        assert_eq!(uint(&mut i).unwrap(), 0);
        comma(&mut i).unwrap();
        assert_eq!(quoted_str(&mut i).unwrap(), "h");
        comma(&mut i).unwrap();
        assert_eq!(int(&mut i).unwrap(), -1);
        assert!(i.is_empty());
        assert_eq!(complete(uint, b"12\r"), Ok(12));
        assert_eq!(complete(uint, b"12x"), Err(ParseError::Syntax));
    }

    #[test]
    fn out_writes_at_syntax() {
        let mut v = Vec::new();
        Out(&mut v).raw(b"AT+X=").num(5).comma().quoted("a/b");
        assert_eq!(v, b"AT+X=5,\"a/b\"");
    }
}
