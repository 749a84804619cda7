//! qmt-proto (crate docs are written last, with the example).
#![no_std]
extern crate alloc;

pub mod cfg;
pub mod checksum;
pub mod codes;
pub mod command;
pub mod error;
pub mod kind;
pub mod line;
pub mod params;
pub mod recv;
pub mod ssl;
pub(crate) mod syntax;
pub mod urc;

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "<redacted>";

pub use cfg::{Cfg, CfgInfo, CfgName, CfgOp, CfgValue};
pub use command::{Command, DataPhase};
pub use line::{FinalCode, Info, ModuleLine};
pub use recv::{Recv, RecvHook};
pub use ssl::{SslCfg, SslInfo, SslName, SslOp, SslValue};
pub use urc::Urc;
