//! at-codec placeholder
#![no_std]
pub mod hook;
pub use hook::{Counted, NoHook, PayloadHook};
