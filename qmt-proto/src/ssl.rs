//! `AT+QSSLCFG` (spec §7). STUB — to be replaced.
use alloc::vec::Vec;
use crate::error::ParseError;

/// The information line `+QSSLCFG: "<name>",<ssl_ctx_id>,<value>` (answer to a query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SslInfo {}

impl SslInfo {
    /// Parses one `+QSSLCFG:` line (without CR LF).
    pub fn parse(_line: &[u8]) -> Result<SslInfo, ParseError> { Err(ParseError::Syntax) }
    /// Appends the line's exact bytes (without CR LF).
    pub fn encode(&self, _out: &mut Vec<u8>) { match *self {} }
}
