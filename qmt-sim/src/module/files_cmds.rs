//! The file and clock commands (spec §10.8, §10.9) on the module core: parsed by
//! `qmt_proto::Command::parse`, answered from the [`FileSystem`](super::files) and the
//! [`Clock`](super::clock), written with the `qmt_proto` encoders. `AT+QFUPL` itself is in
//! `module.rs` with the other data phases.

use std::time::Instant;

use qmt_proto::{Command, Info, LtsMode, NtpResult, Urc};
use tracing::debug;

use super::Module;
use super::errors::CmeError;

/// `+QNTP` error when the context is not active: PDP context activation failed (Quectel's
/// TCP/IP error table).
const NTP_NO_BEARER: i64 = 561;

impl Module {
    /// Answers one §10.8 / §10.9 command.
    pub(super) fn execute_files_clock(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::FileList(pattern) => {
                let files = self.files.list(pattern.as_ref().map(|p| p.as_str()));
                for (name, size) in &files {
                    self.info(Info::FileEntry { name, size: *size });
                }
                self.ok();
            }
            Command::FileDelete(name) => {
                if self.files.delete(name.as_str()) {
                    debug!(name = %name.as_str(), "file deleted");
                    self.ok();
                } else {
                    self.error(CmeError::FileNotFound);
                }
            }
            Command::ClockRead => match self.clock.cclk(now) {
                Some(t) => {
                    self.info(Info::Clock(t));
                    self.ok();
                }
                None => self.error(CmeError::Unknown),
            },
            Command::Ntp(n) => {
                if !self.clock.start_ntp(now) {
                    self.error(CmeError::OperationNotAllowed);
                    return;
                }
                self.ok();
                if !self.network.bearer_ready(n.cid.get()) {
                    self.clock.ntp_due = None;
                    debug!(cid = n.cid.get(), "ntp: no bearer");
                    self.urc(Urc::Ntp {
                        result: NtpResult::from_code(NTP_NO_BEARER),
                        time: None,
                    });
                }
            }
            Command::NetworkTime(mode) => {
                let utc = mode == Some(LtsMode::CurrentUtc);
                match self.clock.qlts(now, utc) {
                    Some(time) => {
                        self.info(Info::NetworkTime { time, dst: Some(0) });
                        self.ok();
                    }
                    None => self.error(CmeError::Unknown),
                }
            }
            other => debug!(command = %other, "not a file or clock command"),
        }
    }

    /// The result of a pending `AT+QNTP` is due.
    pub(super) fn ntp_result(&mut self, now: Instant) {
        match self.clock.finish_ntp(now) {
            Ok(time) => {
                debug!(?time, "ntp: clock set");
                self.urc(Urc::Ntp {
                    result: NtpResult::Synced,
                    time,
                });
            }
            Err(err) => {
                debug!(err, "ntp: failed");
                self.urc(Urc::Ntp {
                    result: NtpResult::from_code(i64::from(err)),
                    time: None,
                });
            }
        }
    }
}
