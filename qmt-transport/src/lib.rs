//! qmt-transport (docs written when the crate is complete).
#![allow(dead_code)]

pub mod link;
pub mod reactor;
