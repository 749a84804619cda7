//! The MQTT AT command set of Quectel EC200x / EC600x / EG912Y modules as Rust types, with the exact
//! bytes in both directions.
//!
//! - [`Command`]: every host command of the spec (`AT+QMTCFG` in all 18 sub-commands, `AT+QMTOPEN`,
//!   `AT+QMTCONN`, `AT+QMTSUB`, `AT+QMTPUBEX`, `AT+QFUPL`, `AT+QSSLCFG`, …) in each of its forms.
//!   [`Command::encode`] gives the exact bytes; [`Command::parse`] reads them back (a simulator
//!   needs that side too). Parameters are checked by constructors ([`params`]), so an invalid
//!   command cannot be built and never reaches the wire.
//! - [`ModuleLine`]: every line a module sends: final result codes, information lines, URCs and
//!   two-phase results, the prompt, and `Unknown` for the rest — parsing never fails.
//!   [`Info::parse_for`] classifies a line against the command in flight (prefix *and* shape).
//! - [`RecvHook`] tells `at-codec` how long a counted `+QMTRECV` line is, so a CR LF inside a binary
//!   payload is data. Typing such a line borrows from the frame and never allocates.
//!
//! - [`net`]: the commands and lines around MQTT (spec §10): power, identity, SIM, signal,
//!   registration (a URC and a query answer share each prefix; the shape decides) and the PDP
//!   context.
//! - [`sibling`]: the forms of sibling modules that real logs show: the `AT+QMTPUB` publish of
//!   EC2x/EG9x/BG9x (ended by Ctrl-Z, or counted) and of BC26 (the message inline).
//! - [`file`] and [`clock`]: the module's file system (`AT+QFLST`, `AT+QFDEL`, file error codes;
//!   spec §10.8) and its clock (`AT+CCLK?`, `AT+QNTP`, `AT+QLTS`; spec §10.9), which TLS needs.
//!
//! Secrets (the `AT+QMTCONN` password, `aliauth`/`hwauth` device secrets, the `onenet` access key,
//! the `hwprodid` product secret, the SIM PIN, the APN password) print as [`REDACTED`] in `Debug`
//! and `Display`.
//!
//! ```
//! use qmt_proto::params::{ClientIdx, MsgId, Qos, Topic};
//! use qmt_proto::command::{PubEx, Sub};
//! use qmt_proto::urc::Urc;
//! use qmt_proto::{Command, ModuleLine};
//!
//! // Host side: a checked command and its exact bytes.
//! let sub = Sub::new(ClientIdx::new(0)?, MsgId::new(1)?, vec![(Topic::new("topic/example")?, Qos::ExactlyOnce)])?;
//! let cmd = Command::Sub(sub);
//! assert_eq!(cmd.to_bytes(), b"AT+QMTSUB=0,1,\"topic/example\",2\r");
//! assert_eq!(Command::parse(b"at+qmtsub=0,1,\"topic/example\",2\r"), Ok(cmd));
//!
//! // Invalid values are refused before anything is written, naming the parameter and range.
//! let err = PubEx::for_payload(ClientIdx::new(0)?, MsgId::new(0)?, Qos::AtMostOnce, false, Topic::new("t")?, &[0u8; 1501]);
//! assert_eq!(err.unwrap_err().to_string(), "length = 1501 is out of range (allowed: 0-1500)");
//!
//! // Module side: lines become typed values; nothing fails to parse.
//! match ModuleLine::parse(b"+QMTRECV: 0,0,\"topic/pub\",5,he\"lo") {
//!     ModuleLine::Urc(Urc::Recv(msg)) => assert_eq!((msg.topic, msg.payload), ("topic/pub", &b"he\"lo"[..])),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(ModuleLine::parse(b"\xff garbage"), ModuleLine::Unknown(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
extern crate alloc;

pub mod cfg;
pub mod checksum;
pub mod clock;
pub(crate) mod cmdsyntax;
pub mod codes;
pub mod command;
pub mod error;
pub mod file;
pub mod kind;
pub mod line;
pub mod net;
pub mod params;
pub mod recv;
pub mod sibling;
pub mod ssl;
pub(crate) mod syntax;
pub mod uart;
pub mod urc;

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "<redacted>";

pub use cfg::{Cfg, CfgInfo, CfgName, CfgOp, CfgValue};
pub use clock::{LtsMode, ModuleTime, NtpResult, NtpSync, TimeError};
pub use command::{Command, CommandName, DataPhase};
pub use file::FileError;
pub use line::{FinalCode, Info, ModuleLine};
pub use net::{
    ApnAuth, ContextConfig, ContextType, Functionality, IdentityQuery, PinState, PowerDownKind,
    PowerDownMode, RegDomain, RegLocation, RegStat, RegUrcMode, Signal,
};
pub use recv::{Recv, RecvHook};
pub use ssl::{SslCfg, SslInfo, SslName, SslOp, SslValue};
pub use urc::Urc;
