//! The parameter syntax of host commands: reading a command's parameters through the checked
//! constructors of [`crate::params`], writing them back, and the `code_enum!` macro that defines a
//! parameter taking a few documented numbers.
//!
//! `command`, `cfg` and `ssl` all parse and encode parameters this way. The pieces live here so
//! that `command` can name `cfg` and `ssl` (its `AT+QMTCFG` and `AT+QSSLCFG` variants) without
//! those two naming `command` back. The lexical pieces below the parameter level (numbers, quoted
//! strings, `,`) are in [`crate::syntax`].

use alloc::string::String;

use winnow::Parser;
use winnow::combinator::opt;
use winnow::error::ContextError;

use crate::error::{ParamError, ParseError};
use crate::syntax::{Out, int, quoted_str};

/// Defines a parameter that takes a few documented numeric values, as an enum.
macro_rules! code_enum {
    (
        $(#[$doc:meta])*
        $name:ident, $param:literal, $allowed:literal {
            $($(#[$vdoc:meta])* $variant:ident = $n:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $n),+
        }

        impl $name {
            /// Checks the values the spec allows.
            pub fn new(value: i64) -> Result<Self, $crate::error::ParamError> {
                match value {
                    $($n => Ok(Self::$variant),)+
                    _ => Err($crate::error::ParamError::OutOfRange {
                        param: $param,
                        value,
                        allowed: $allowed,
                    }),
                }
            }

            /// The number on the wire.
            pub const fn get(self) -> u8 {
                self as u8
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.get(), f)
            }
        }
    };
}
pub(crate) use code_enum;

/// Result of the command parsers (`command`, `cfg`, `ssl`).
pub(crate) type R<T> = Result<T, ParseError>;

/// Runs a winnow parser; a failure is a syntax error.
pub(crate) fn lex<'a, O>(i: &mut &'a [u8], mut p: impl Parser<&'a [u8], O, ContextError>) -> R<O> {
    p.parse_next(i).map_err(|_| ParseError::Syntax)
}

/// A number, checked by `check` (a constructor of [`crate::params`]).
pub(crate) fn num<T>(i: &mut &[u8], check: impl FnOnce(i64) -> Result<T, ParamError>) -> R<T> {
    let n = lex(i, int)?;
    Ok(check(n)?)
}

/// A quoted string, checked by `check`.
pub(crate) fn text<T>(i: &mut &[u8], check: impl FnOnce(String) -> Result<T, ParamError>) -> R<T> {
    let s = lex(i, quoted_str)?;
    Ok(check(String::from(s))?)
}

/// A `0`/`1` parameter.
pub(crate) fn flag(i: &mut &[u8], param: &'static str) -> R<bool> {
    num(i, |n| match n {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ParamError::OutOfRange {
            param,
            value: n,
            allowed: "0-1",
        }),
    })
}

/// A `,` (then spaces).
pub(crate) fn sep(i: &mut &[u8]) -> R<()> {
    lex(i, crate::syntax::comma)
}

/// Consumes a `,` if one follows: whether another parameter follows.
pub(crate) fn more(i: &mut &[u8]) -> R<bool> {
    Ok(lex(i, opt(crate::syntax::comma))?.is_some())
}

/// The end of a line: nothing but spaces, CR or LF may remain.
pub(crate) fn at_end(i: &[u8]) -> bool {
    i.iter().all(|&b| matches!(b, b' ' | b'\r' | b'\n'))
}

/// Writes a secret: the value itself on the wire, [`crate::REDACTED`] for logs.
pub(crate) fn secret(o: &mut Out<'_>, value: &str, redact: bool) {
    o.quoted(if redact { crate::REDACTED } else { value });
}

/// Writes a `0`/`1` parameter.
pub(crate) fn put_flag(o: &mut Out<'_>, b: bool) {
    o.num(u8::from(b));
}
