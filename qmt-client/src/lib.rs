//! qmt-client
pub mod correlate;
pub mod error;
pub mod msgid;
pub mod options;
