//! The library behind the `qmt` command: reading captures in the forms people post them
//! ([`capture::read`], [`capture::pieces`]) and decoding them into typed events
//! ([`decode::run`], [`decode::run_log`]), and turning a field log into the script
//! `qmt sim --replay` plays ([`replay::script_from_log`]).
//!
//! The binary is a thin clap shell over these modules; they are a library so that fuzz targets and
//! other tools can run the very same pipeline.
//!
//! ```
//! use qmt_cli::decode::{run, Options};
//!
//! let capture = b">> AT+QMTOPEN?\n<< +QMTOPEN: 0,\"broker.example.com\",1883\n<< OK\n";
//! let mut out = Vec::new();
//! let summary = run(capture, &Options::default(), &mut out)?;
//! assert_eq!(summary.events, 3);
//! assert_eq!(summary.by_kind["info"], 1);
//! assert!(String::from_utf8(out)?.contains("OpenRead { client_idx: 0, host: \"broker.example.com\", port: 1883 }"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod capture;
pub mod decode;
pub mod replay;
pub mod trace;
