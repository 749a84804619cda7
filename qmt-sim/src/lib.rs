//! qmt-sim (docs written when the crate is complete).
#![allow(dead_code)]

pub mod fault;
pub mod module;
pub mod mqtt;
pub mod net;
