//! qmt-proto (crate docs are written last, with the example).
#![no_std]
#![allow(dead_code)] // removed when the modules are complete
extern crate alloc;

pub mod cfg;
pub mod checksum;
pub mod codes;
pub mod error;
pub mod kind;
pub mod line;
pub mod params;
pub mod recv;
pub mod ssl;
pub(crate) mod syntax;
pub mod urc;

pub use line::{FinalCode, Info, ModuleLine};
pub use recv::{Recv, RecvHook};
pub use urc::Urc;

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "<redacted>";
