//! Between typed commands and a serial port: knowing which line belongs to which command while a
//! Quectel module interleaves URCs, echo, prompts and late results (ARCHITECTURE.md "Where other drivers
//! break").
//!
//! - [`link::Link`]: the sans-IO link core. `submit` a command, `feed` the bytes read from the port
//!   with the time, drain `poll_transmit` (bytes to write), `poll_event` (completions and URCs) and
//!   `poll_timeout`. One command on the wire at a time, a bounded queue behind it; echo matched
//!   against the bytes written; the `> ` / `CONNECT` data phases; command-aware classification with
//!   `qmt_proto::Info::parse_for`; per-command deadlines from the spec, and marker queries after a
//!   timeout so a late answer never completes the next command.
//! - [`reactor::Reactor`]: one mio thread driving any number of ports (devices and ptys), with a
//!   [`reactor::Port`] handle per port that other threads use to submit commands and a
//!   [`reactor::PortEvents`] receiver for its URCs (bounded, counted drops).
//! - [`ports`]: which serial ports this machine has and which one is a Quectel module's AT port
//!   ([`list_ports`], from sysfs and a table documented in docs/usb-ports.md), and an `AT`
//!   [`probe`]. Every port is opened with an exclusive advisory lock ([`lock`]), so two qmt
//!   processes never share one: the second gets [`reactor::OpenError::Busy`] naming the holder.
//! - [`time`]: the cores' [`time::Instant`] (microseconds since an origin the driver picks) and,
//!   with `std`, the [`time::Clock`] drivers convert their clock with.
//!
//! The link core and [`time`] are `#![no_std]` + `alloc` (`--no-default-features`); the default
//! `std` feature adds the reactor, [`ports`] and [`lock`] (ARCHITECTURE.md "no_std").
//!
//! The link core, with the module played by hand:
//!
//! ```
//! use qmt_proto::{Command, FinalCode, Info, ModuleLine};
//! use qmt_transport::link::{Link, LinkConfig, LinkEvent};
//! use qmt_transport::time::Instant;
//!
//! let now = Instant::ZERO;
//! let mut link = Link::new(LinkConfig::default(), now);
//! let token = link.submit(Command::parse(b"AT+QMTOPEN?")?, None, now)?;
//! assert_eq!(link.poll_transmit().as_deref(), Some(&b"AT+QMTOPEN?\r"[..]));
//!
//! // The echo, the read answer, a late result of an earlier open (ARCHITECTURE.md trap 2), and OK.
//! link.feed(b"AT+QMTOPEN?\r\r\n+QMTOPEN: 0,\"h\",1883\r\n\r\n+QMTOPEN: 1,0\r\n\r\nOK\r\n", now);
//! let Some(LinkEvent::Urc(urc)) = link.poll_event() else { panic!("the late result is a URC") };
//! assert_eq!(urc.bytes(), b"+QMTOPEN: 1,0");
//! let Some(LinkEvent::Completed { token: done, result: Ok(response) }) = link.poll_event() else {
//!     panic!("the command completes")
//! };
//! assert_eq!(done, token);
//! assert!(matches!(response.info[0].parse(), ModuleLine::Info(Info::OpenRead { .. })));
//! assert_eq!(response.final_code.parse(), ModuleLine::Final(FinalCode::Ok));
//! assert_eq!(link.stats().echoes, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]

extern crate alloc;
#[cfg(any(feature = "std", test))]
#[macro_use]
extern crate std;

pub mod link;
#[cfg(feature = "std")]
pub mod lock;
#[cfg(feature = "std")]
pub mod ports;
#[cfg(feature = "std")]
pub mod reactor;
pub mod time;

#[cfg(feature = "std")]
pub use lock::Holder;
#[cfg(feature = "std")]
pub use ports::{
    PROBE_TIMEOUT, PortInfo, PortRole, ProbeResult, QUECTEL_VID, UsbPort, list_ports,
    list_ports_in, probe,
};
