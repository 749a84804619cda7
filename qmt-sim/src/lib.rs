//! A simulated Quectel EC200x / EC600x / EG912Y module: the AT port on a real pseudo-terminal, real
//! TCP/TLS and real MQTT behind it, to a real broker. Nobody can test a modem driver without the
//! modem; this is the modem.
//!
//! - [`module::Module`]: the sans-IO core (spec §9): the AT channel, six MQTT clients, their
//!   configuration, uploaded files and SSL contexts, and the SIM, registration and PDP contexts
//!   of spec §10 ([`NetworkSim`]: [`NetworkSim::default`] is already registered with context 1
//!   active, [`NetworkSim::cold`] leaves the bring-up to the host), and the file system and clock
//!   of spec §10.8/§10.9 ([`ClockSim`]; files and the `+QFUPL` answer in [`NetworkSim`]). Bytes, network events and
//!   time in; bytes for the host, network actions and the next deadline out. Its documented
//!   choices, where the spec is silent or uncertain, are at the top of [`module`] and
//!   [`module::network`].
//! - [`mqtt::Session`]: one client's MQTT session, sans-IO, with packets encoded and decoded by the
//!   `mqtt-protocol` crate (MQTT 3.1 and 3.1.1), retransmissions, keep-alive and QoS 2 flows.
//! - [`replay::Replay`]: the module side of a field log played back (`qmt sim --replay LOG`), sans-IO,
//!   built from a [`replay::Script`] that a log reader fills; [`SimConfig::replay`] runs it on the
//!   pty instead of the simulated module.
//! - [`Sim`]: the IO shell: one thread, a mio loop over the pty master, the sockets (rustls for TLS)
//!   and a control channel for [`Fault`]s. By default it starts an [`EmbeddedBroker`] (rumqttd) and
//!   resolves every host name to it, so the spec's golden transcripts run unchanged.
//!
//! The core alone, with the network played by hand:
//!
//! ```
//! use std::time::Instant;
//! use qmt_sim::module::Module;
//! use qmt_sim::net::{NetAction, NetEvent};
//!
//! let now = Instant::now();
//! let mut module = Module::new(now);
//! let mut read = |m: &mut Module| {
//!     let mut out = Vec::new();
//!     while let Some(bytes) = m.poll_output() {
//!         out.extend(bytes);
//!     }
//!     String::from_utf8(out).unwrap()
//! };
//! assert_eq!(read(&mut module), "\r\nRDY\r\n");
//!
//! module.feed(b"ATE0\r", now); // echo is on at power-up: the command comes back first
//! assert_eq!(read(&mut module), "ATE0\r\r\nOK\r\n");
//!
//! module.feed(b"AT+QMTOPEN=0,\"broker.example.com\",1883\r", now);
//! assert_eq!(read(&mut module), "\r\nOK\r\n");
//! let Some(NetAction::Connect { client_idx, host, port, tls: None }) = module.poll_net() else {
//!     panic!("the module opens a connection")
//! };
//! assert_eq!((host.as_str(), port), ("broker.example.com", 1883));
//! module.handle_net(NetEvent::Connected { client_idx }, now);
//! assert_eq!(read(&mut module), "\r\n+QMTOPEN: 0,0\r\n");
//! ```
//!
//! The whole module on a pty (what `qmt sim` runs):
//!
//! ```no_run
//! use qmt_sim::{Fault, Sim, SimConfig};
//!
//! let sim = Sim::start(SimConfig::default())?;
//! println!("open {} as the module's serial port", sim.pty_path().display());
//! sim.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into()))?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod broker;
pub mod fault;
pub mod module;
pub mod mqtt;
pub mod net;
pub mod replay;
pub mod shell;
pub mod tls;
pub mod uart;

pub use broker::EmbeddedBroker;
pub use fault::Fault;
pub use module::SerialSettings;
pub use module::clock::ClockSim;
pub use module::network::{
    BootUrcs, Identity, NetworkSim, Operator, RegOutcome, SignalLevel, SimCard, SimPin,
};
pub use replay::{Replay, ReplayConfig, ReplayStats, Script};
pub use shell::{BrokerChoice, Core, ResolveAll, Sim, SimConfig, SimHandle, TraceDir, TraceFn};
pub use uart::LineConfig;
