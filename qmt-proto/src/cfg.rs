//! `AT+QMTCFG` (spec §3). STUB — to be replaced.
use alloc::vec::Vec;
use crate::error::ParseError;

/// The information line `+QMTCFG: "<name>",<values…>` (answer to a query) or a test-answer line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CfgInfo {}

impl CfgInfo {
    /// Parses one `+QMTCFG:` line (without CR LF).
    pub fn parse(_line: &[u8]) -> Result<CfgInfo, ParseError> { Err(ParseError::Syntax) }
    /// Appends the line's exact bytes (without CR LF).
    pub fn encode(&self, _out: &mut Vec<u8>) { match *self {} }
}
