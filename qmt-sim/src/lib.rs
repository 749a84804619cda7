//! qmt-sim (docs written when the crate is complete).
#![allow(dead_code)]

pub mod broker;
pub mod fault;
pub mod module;
pub mod mqtt;
pub mod net;
pub mod shell;
pub mod tls;

pub use broker::EmbeddedBroker;
pub use fault::Fault;
pub use shell::{BrokerChoice, Core, ResolveAll, Sim, SimConfig, SimHandle, TraceDir, TraceFn};
