//! Framing of AT command traffic for Quectel cellular modules, without allocation and without std.
//!
//! This is the lowest layer of qmt. It knows no command: it turns the bytes a module sends into
//! [`Frame`]s — lines, `> ` prompts and counted raw data runs — and writes the bytes a host sends.
//! An upper layer that does know the commands can plug in a [`PayloadHook`] to say that a line
//! carries N raw bytes, so that a CR LF inside a received MQTT payload is data, not a line end.
//!
//! ```
//! use at_codec::{Counted, Decoder, Frame, PayloadHook};
//!
//! // A toy hook: a line starting with "+LEN5," carries 5 more raw bytes.
//! struct Five;
//! impl PayloadHook for Five {
//!     fn counted(&self, head: &[u8]) -> Counted {
//!         if head.starts_with(b"+LEN5,") { Counted::Inline(6 + 5) } else { Counted::None }
//!     }
//! }
//!
//! let mut dec = Decoder::<128, Five>::with_hook(Five);
//! let mut lines = Vec::new();
//! // Any chunking gives the same frames; here the payload "a\r\nbc" holds a CR LF.
//! for chunk in [&b"\r\n+LEN5,a\r"[..], b"\nbc\r\n\r\nOK\r\n\r\n> "] {
//!     dec.decode(chunk, |frame| match frame {
//!         Frame::Line(l) => lines.push(l.to_vec()),
//!         Frame::Prompt => lines.push(b"> ".to_vec()),
//!         other => panic!("unexpected {other:?}"),
//!     });
//! }
//! assert_eq!(lines, [&b"+LEN5,a\r\nbc"[..], b"OK", b"> "]);
//! ```
#![no_std]

pub mod frame;
pub mod hook;
pub mod host;

pub use frame::{Decoder, Frame};
pub use hook::{Counted, Early, NoHook, PayloadHook};
pub use host::{EncodeError, write_command, write_data};
