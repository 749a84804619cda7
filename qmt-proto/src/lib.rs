//! qmt-proto (crate docs are written last, with the example).
#![no_std]
#![allow(dead_code)] // removed when the modules are complete
extern crate alloc;

pub mod cfg;
pub mod command;
pub mod error;
pub mod kind;
pub mod params;
pub mod ssl;
pub(crate) mod syntax;

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "<redacted>";

pub use cfg::{Cfg, CfgInfo, CfgName, CfgOp, CfgValue};
pub use command::{Command, DataPhase};
pub use ssl::{SslCfg, SslInfo, SslName, SslOp, SslValue};
