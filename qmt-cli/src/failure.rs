//! How a command fails: one line on stderr and a documented exit code ([`exit`]). Shared by every
//! command that opens a module (`pub`, `sub`, `status`, `files`, `ports`, and the opening in
//! `open.rs`).

use std::process::ExitCode;

use qmt_client::{ClientError, PublishFailure};

/// Exit codes of `qmt pub` and `qmt sub` (shown in their `--help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other error (a lost link, a module error, a failed upload, …).
    pub const OTHER: u8 = 1;
    /// Bad arguments (clap's code): also an unreadable `-f`/`--cafile` file or an option the
    /// module does not take.
    pub const USAGE: u8 = 2;
    /// The serial port is missing or cannot be opened.
    pub const PORT: u8 = 3;
    /// The connection was refused: `AT+QMTOPEN` failed (its result is named), the broker's
    /// CONNACK refused (its code is named), or the broker closed the connection while connecting.
    pub const REFUSED: u8 = 4;
    /// Something did not answer in time: the module, the network, the broker (the command and
    /// the wait are named), or `qmt sub -W`.
    pub const TIMEOUT: u8 = 5;
    /// No network or SIM: bring-up (spec §10) found no SIM, a PIN problem, no registration or
    /// no signal, or could not activate the data context (the cause and what to do are named).
    pub const NETWORK: u8 = 6;
    /// TLS needs the module's clock (spec §10.9): it is earlier than the CA certificate's
    /// validity or was never set and no `--ntp` server was given, or the `AT+QNTP` sync failed.
    pub const CLOCK: u8 = 7;
}

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0  success
  1  other error (link lost, module error, failed upload, …)
  2  bad arguments (also an unreadable file given with -f/--cafile/--cert/--key)
  3  the serial port is missing or cannot be opened (it is named)
  4  connection refused: AT+QMTOPEN failed (result named), the broker refused (CONNACK code
     named) or closed the connection while connecting (e.g. TLS client certificate refused)
  5  timeout: the module, network or broker did not answer in time (command and wait named),
     or qmt sub -W ran out
  6  no network or SIM: no SIM, PIN required or wrong, registration denied or not reached,
     no signal, or the data context (APN) could not be activated (cause named)
  7  TLS needs the module's clock: it is earlier than the CA certificate's validity or was
     never set (give --ntp SERVER), or the AT+QNTP sync failed (its error named)";

/// A failure: the one line to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code (see [`exit`]).
    pub code: u8,
    /// What went wrong, one line.
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A client error, with the exit code of its kind.
    pub fn client(e: &ClientError) -> Failure {
        Failure::new(code_of(e), e.to_string())
    }

    /// Prints the line (prefixed with the command's name) and returns the exit code.
    pub fn report(self, cmd: &str) -> ExitCode {
        eprintln!("qmt {cmd}: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// The exit code of a client error (outside the opening of the port).
pub fn code_of(e: &ClientError) -> u8 {
    match e {
        ClientError::Refused { .. } | ClientError::OpenFailed { .. } => exit::REFUSED,
        ClientError::Timeout { .. }
        | ClientError::SendFailed { .. }
        | ClientError::PublishFailed {
            cause: PublishFailure::NoResult(_) | PublishFailure::ModuleGaveUp(_),
            ..
        } => exit::TIMEOUT,
        // A payload over the module's limit is a bad argument (`-m`/`-f`), like any invalid
        // parameter (issue 8: bad values exit 2).
        ClientError::Invalid(_) | ClientError::PayloadTooLarge { .. } => exit::USAGE,
        ClientError::SimNotInserted
        | ClientError::SimPinRequired
        | ClientError::SimPinWrong
        | ClientError::SimPukRequired
        | ClientError::RegistrationDenied
        | ClientError::NotRegistered { .. }
        | ClientError::NoSignal { .. }
        | ClientError::PdpActivationFailed { .. }
        | ClientError::NoDataContext { .. }
        | ClientError::StageTimeout { .. } => exit::NETWORK,
        ClientError::ClockNotSet { .. } | ClientError::NtpFailed { .. } => exit::CLOCK,
        _ => exit::OTHER,
    }
}
