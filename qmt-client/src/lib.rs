//! The synchronous MQTT client of the qmt stack: its sans-IO cores.
//!
//! These modules decide *what* to send and *what a line means*; they do no IO and keep no clock
//! (time comes in as `Instant`s). The `Modem`/`Client` glue over `qmt-transport`'s reactor
//! submits their commands and feeds them the lines and completions it gets back.
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
pub mod recovery;

pub use client::{Client, Connection, OpHandle};
pub use error::ClientError;
pub use event::{Event, Message};
pub use modem::{Modem, ModemConfig, Startup};
pub use options::{ClientOptions, ClientOptionsBuilder, TlsFiles};
pub use qmt_proto::params::Qos;
pub use recovery::RecoveryPolicy;
