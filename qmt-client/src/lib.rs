//! The synchronous MQTT client of the qmt stack: a [`Modem`] on the serial port of a Quectel
//! EC200x / EC600x / EG912Y module, up to six [`Client`]s on it, each with a [`Connection`] of
//! incoming [`Event`]s — after rumqttc's sync `Client` + `Connection`.
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
//!         Event::Message(m) => println!("{}: {:?}", m.topic, m.payload),
//!         other => println!("{other:?}"), // link loss, recovery, failed publishes…
//!     }
//! }
//! # Ok::<(), qmt_client::ClientError>(())
//! ```
//!
//! - [`modem`]: [`Modem`] and its threads (a dispatcher of URCs, an acceptor of final codes, a
//!   timer for deadlines and recovery) over `qmt-transport`'s reactor; start-up (wait for `RDY`,
//!   `AT` sync, `ATE0`, `AT+CMEE=2`, closing clients left open by an earlier host process).
//! - [`client`]: [`Client`] (every operation blocking and non-blocking, with an [`OpHandle`]),
//!   [`Connection`].
//!
//! Below them, sans-IO cores decide *what* to send and *what a line means*; they do no IO and
//! keep no clock (time comes in as `Instant`s):
//!
//! - [`options`]: [`ClientOptions`] (every `AT+QMTCFG` setting and the connect parameters,
//!   validated before any byte is written) → the exact `AT+QMTCFG`/`AT+QMTOPEN`/`AT+QMTCONN`/
//!   `AT+QMTPUBEX` commands; [`TlsFiles`] → `AT+QFUPL` uploads with their checksums and the
//!   `AT+QSSLCFG` settings.
//! - [`correlate`]: the two-phase results (`+QMTOPEN: 0,0`, `+QMTSUB: 0,1,0,2`, …) matched to
//!   pending operations by (kind, `client_idx`, `msgid`), with deadlines, retransmission notices,
//!   the spec's variations, `+QMTSTAT`/`+QMTPING`/`RDY`, and the stale-`+QMTSTAT` rule.
//! - [`msgid`]: packet identifiers per client, skipping those in flight.
//! - [`recovery`]: [`Backoff`](recovery::Backoff) and the reconnect state machine.
//! - [`event`]: [`Message`] and [`Event`], what users receive.
//! - [`queue`]: the bounded per-client event queue and its policy (back-pressure in buffered
//!   receive mode, counted drop-oldest in inline mode).
//! - [`error`]: [`ClientError`], typed, saying what to do, never holding a secret.
//!
//! ```
//! use std::time::Instant;
//! use qmt_client::correlate::{Completion, Correlator, OpKey, Outcome, Resolution};
//! use qmt_client::msgid::MsgIdAllocator;
//! use qmt_client::ClientOptions;
//! use qmt_proto::codes::GrantedQos;
//! use qmt_proto::params::ClientIdx;
//! use qmt_proto::ModuleLine;
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
//!
//! // A SUB registered under its msgid is resolved by its result line.
//! let now = Instant::now();
//! let mut ids = MsgIdAllocator::new();
//! let mut pending = Correlator::new();
//! pending.set_deadlines(idx, options.deadlines());
//! pending.mark_open(idx);
//! let msgid = ids.allocate()?;
//! let token = pending.register(OpKey::sub(idx, msgid), now)?;
//! let resolved = pending.on_urc(&ModuleLine::parse(b"+QMTSUB: 0,1,0,2,1"), now);
//! assert_eq!(resolved, [Resolution::Op {
//!     token,
//!     key: OpKey::sub(idx, msgid),
//!     outcome: Outcome::Done(Completion::Subscribed {
//!         granted: vec![GrantedQos::ExactlyOnce, GrantedQos::AtLeastOnce],
//!     }),
//! }]);
//! ids.release(msgid);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod correlate;
pub mod error;
pub mod event;
pub mod modem;
pub mod msgid;
pub mod options;
pub mod queue;
pub mod recovery;

pub use client::{Client, Connection, OpHandle};
pub use error::ClientError;
pub use event::{Event, LagSource, Message};
pub use modem::{Modem, ModemConfig, Startup};
pub use options::{ClientOptions, ClientOptionsBuilder, TlsFiles};
pub use qmt_proto::params::Qos;
pub use recovery::RecoveryPolicy;

// The README's examples (every layer's) are compiled and run as doc tests of this crate, the
// one that sees all the layers.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
