//! The MQTT client of the qmt stack: a [`Modem`] on the serial port of a Quectel EC200x /
//! EC600x / EG912Y module, up to six [`Client`]s on it, each with a [`Connection`] of incoming
//! [`Event`]s — after rumqttc's sync `Client` + `Connection`.
//!
//! ```no_run
//! use qmt_client::{ClientOptions, Event, Modem, ModemConfig, Qos, RecoveryPolicy};
//!
//! let modem = Modem::open("/dev/ttyUSB2", ModemConfig {
//!     recovery: RecoveryPolicy::enabled(), // reopen, reconnect, re-subscribe after a loss
//!     ..ModemConfig::default()
//! })?;
//! let options = ClientOptions::builder().host("broker.example").client_id("pump-01").build()?;
//! let (client, connection) = modem.client(0, options)?;
//! client.connect()?;
//! client.subscribe(&[("pump/01/cmd", Qos::AtLeastOnce)])?;
//! client.publish("pump/01/state", b"on\r\n\0any bytes", Qos::AtLeastOnce, false)?;
//! // Non-blocking: a handle resolved by the matching +QMTPUBEX.
//! let pending = client.publish_request("pump/01/state", "off", Qos::ExactlyOnce, false)?;
//! pending.wait()?;
//! for event in connection {
//!     match event {
//!         Event::Message(m) => println!("{}: {:?}", m.topic(), m.payload()),
//!         other => println!("{other:?}"), // link loss, recovery, failed publishes…
//!     }
//! }
//! # Ok::<(), qmt_client::ClientError>(())
//! ```
//!
//! # Layout (ARCHITECTURE.md)
//! - [`sansio`]: [`ModemCore`](sansio::ModemCore), the whole client side of one module as one
//!   sans-IO state machine — start-up, the six client sessions, two-phase correlation, packet
//!   ids, connect and recovery sequences, TLS provisioning, buffered reads. No IO, no thread, no
//!   clock. Firmware and other drivers run it directly.
//! - The std driver: [`Reactor`] (one mio thread for any number of modems), [`Modem`],
//!   [`Client`] (every operation blocking and non-blocking, with an [`OpHandle`]) and
//!   [`Connection`] (bounded, in wire order, back-pressure by default: [`Overflow`]).
//! - [`ClientOptions`] (every `AT+QMTCFG` setting and the connect parameters, validated before
//!   any byte is written), [`ClientError`] (typed, saying what to do, never holding a secret),
//!   [`RecoveryPolicy`].
//!
//! ```
//! use qmt_client::ClientOptions;
//! use qmt_proto::params::ClientIdx;
//!
//! // Options → the exact commands, checked before anything is written.
//! let options = ClientOptions::builder()
//!     .host("broker.example")
//!     .client_id("pump-01")
//!     .credentials("pump", "s3cret")
//!     .keep_alive(60)
//!     .build()?;
//! let idx = ClientIdx::new(0)?;
//! let config: Vec<Vec<u8>> = options.config_commands(idx).iter().map(|(c, _)| c.to_bytes()).collect();
//! assert_eq!(config, [&b"AT+QMTCFG=\"keepalive\",0,60\r"[..], b"AT+QMTCFG=\"recv/mode\",0,0,1\r"]);
//! assert_eq!(options.open_command(idx).to_bytes(), b"AT+QMTOPEN=0,\"broker.example\",1883\r");
//! assert!(!format!("{options:?}").contains("s3cret"));
//! assert!(ClientOptions::builder().host("h").client_id("c").keep_alive(4000).build().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]

extern crate alloc;
#[cfg(any(feature = "std", test))]
#[macro_use]
extern crate std;

mod cert;
#[cfg(feature = "std")]
mod client;
mod correlate;
#[cfg(feature = "std")]
mod driver;
mod error;
mod event;
#[cfg(feature = "std")]
mod modem;
mod msgid;
mod op;
mod options;
#[cfg(feature = "std")]
mod queue;
mod recovery;
pub mod sansio;
mod status;

pub use cert::{CertError, not_before};
#[cfg(feature = "std")]
pub use client::{Client, Connection, OpHandle};
pub use correlate::{Completion, Deadlines};
#[cfg(feature = "std")]
pub use driver::Reactor;
pub use error::{ClientError, ModuleError, PublishFailure};
pub use event::{Event, LagSource, Message, ReceivedQos};
#[cfg(feature = "std")]
pub use modem::{Modem, ModemConfig, Opening};
pub use op::OpKind;
pub use options::{ClientOptions, ClientOptionsBuilder, ProvisionStep, TlsFiles, UploadCheck};
pub use qmt_proto::params::Qos;
/// The std driver's bridge from `std::time::Instant` to the core's [`Instant`].
#[cfg(feature = "std")]
pub use qmt_transport::time::Clock;
/// The client core's time: microseconds since an origin the driver picks.
pub use qmt_transport::time::Instant;
pub use recovery::{BackoffConfig, LossCause, RecoveryEvent, RecoveryPolicy};
pub use sansio::{
    CoreStats, ModemStatus, NetworkConfig, Overflow, PdpContext, PortChange, Registration, Rung,
    SerialSetup, SimState, Stage, Startup,
};

// The README's examples (every layer's) are compiled and run as doc tests of this crate, the
// one that sees all the layers.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
