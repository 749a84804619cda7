//! STUB (API contract) — the module core: the AT channel and six MQTT clients, sans-IO.

use std::time::Instant;

use crate::fault::Fault;
use crate::net::{NetAction, NetEvent};

/// The simulated module: fed host bytes, network events and time; drained of bytes for the host,
/// network actions and its next deadline.
#[derive(Debug)]
pub struct Module {
    _private: (),
}

impl Module {
    /// A module that has just powered up: `RDY` is queued, echo is on.
    pub fn new(_now: Instant) -> Module {
        Module { _private: () }
    }

    /// Bytes the host wrote to the serial port.
    pub fn feed(&mut self, _bytes: &[u8], _now: Instant) {}

    /// Something happened on the network.
    pub fn handle_net(&mut self, _event: NetEvent, _now: Instant) {}

    /// Time passed.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Bytes to write to the host (responses, URCs, prompts).
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// The next network action.
    pub fn poll_net(&mut self) -> Option<NetAction> {
        None
    }

    /// Applies a line-level fault (see [`Fault`]); network-level faults are the shell's and are
    /// ignored here.
    pub fn inject(&mut self, _fault: Fault, _now: Instant) {}
}
