//! The module's clock (spec §10.9): `AT+CCLK?`, `AT+QNTP` and `AT+QLTS`.
//!
//! Two times run side by side with the sim's time: the network's (what an NTP server and the
//! network's time report, [`ClockSim::network_unix`] at power-up) and the module's own clock,
//! which starts at [`ClockSim::start_unix`] (the network's time when `None`: a clock already set)
//! and is set to the network's time by a successful `AT+QNTP`.
//!
//! qmt-sim's choices where the spec is silent:
//! - `AT+QNTP` answers `OK`, then after [`ClockSim::ntp_delay`] `+QNTP: 0,"<yyyy/MM/dd,…>"` (the
//!   four-digit form), or `+QNTP: <ntp_error>` without a time when [`ClockSim::ntp_error`] is set.
//!   Without an active context `cid` (or not registered) it answers `+QNTP: 561` at once after
//!   `OK` (561: PDP context activation failed, as Quectel's TCP/IP error table). A second
//!   `AT+QNTP` while one is pending: `+CME ERROR: 3`.
//! - `AT+QLTS` reports the network's time, `+QLTS: "yyyy/MM/dd,hh:mm:ss±zz,0"`; mode 1 in UTC.
//! - The clock keeps running through a restart or power cycle (an RTC backed up by the module).

use std::time::{Duration, Instant};

use qmt_proto::ModuleTime;

/// The clock of a simulated module (spec §10.9), part of [`NetworkSim`](super::NetworkSim).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockSim {
    /// The network's time (NTP, `AT+QLTS`) at power-up, in seconds since 1970 UTC.
    pub network_unix: i64,
    /// The module's clock at power-up, seconds since 1970 UTC; `None`: already set to the
    /// network's time. [`ClockSim::UNSET_2000`] and [`ClockSim::UNSET_1980`] are what modules
    /// show before anything set them.
    pub start_unix: Option<i64>,
    /// The time zone the module reports, in quarter hours (−96…+96; `+32` is UTC+8).
    pub zone_quarters: i8,
    /// How long `AT+QNTP` takes before its `+QNTP` result.
    pub ntp_delay: Duration,
    /// `Some(err)`: `AT+QNTP` fails with `+QNTP: <err>` (e.g. 550, 565) and the clock stays.
    pub ntp_error: Option<u16>,
}

impl ClockSim {
    /// 2000-01-01 00:00:00 UTC: an unset clock of many EC200x firmware.
    pub const UNSET_2000: i64 = 946_684_800;
    /// 1980-01-06 00:00:00 UTC (the GPS epoch): an unset clock of Qualcomm-based modules.
    pub const UNSET_1980: i64 = 315_964_800;
    /// 2025-01-01 00:00:00 UTC: the default network time (fixed, so runs are reproducible).
    pub const DEFAULT_NETWORK: i64 = 1_735_689_600;

    /// A clock that was never set: it starts at `unset` (e.g. [`ClockSim::UNSET_2000`]).
    pub fn unset(unset: i64) -> ClockSim {
        ClockSim {
            start_unix: Some(unset),
            ..ClockSim::default()
        }
    }
}

impl Default for ClockSim {
    /// Set to the network's time, 2025-01-01 00:00:00 UTC, zone +00; NTP answers after 1 s.
    fn default() -> Self {
        ClockSim {
            network_unix: ClockSim::DEFAULT_NETWORK,
            start_unix: None,
            zone_quarters: 0,
            ntp_delay: Duration::from_secs(1),
            ntp_error: None,
        }
    }
}

/// The running clock.
#[derive(Clone, Debug)]
pub(super) struct Clock {
    config: ClockSim,
    /// The module's clock at `base`.
    clock_at_base: i64,
    /// The network's time at `base`.
    network_at_base: i64,
    base: Instant,
    /// A pending `AT+QNTP`: when its result is due.
    pub(super) ntp_due: Option<Instant>,
}

fn secs_since(base: Instant, now: Instant) -> i64 {
    i64::try_from(now.saturating_duration_since(base).as_secs()).unwrap_or(i64::MAX)
}

impl Clock {
    pub(super) fn new(config: &ClockSim, now: Instant) -> Clock {
        Clock {
            clock_at_base: config.start_unix.unwrap_or(config.network_unix),
            network_at_base: config.network_unix,
            base: now,
            ntp_due: None,
            config: config.clone(),
        }
    }

    /// The module's clock now, seconds since 1970 UTC.
    pub(super) fn now_unix(&self, now: Instant) -> i64 {
        self.clock_at_base
            .saturating_add(secs_since(self.base, now))
    }

    /// The network's time now.
    pub(super) fn network_unix(&self, now: Instant) -> i64 {
        self.network_at_base
            .saturating_add(secs_since(self.base, now))
    }

    /// The `+CCLK` answer, `None` if the clock is outside what two-digit years can say.
    pub(super) fn cclk(&self, now: Instant) -> Option<ModuleTime> {
        ModuleTime::from_unix(self.now_unix(now), self.config.zone_quarters)
    }

    /// The `+QLTS` time: the network's, local or (`utc`) in UTC, four-digit year.
    pub(super) fn qlts(&self, now: Instant, utc: bool) -> Option<ModuleTime> {
        let zone = if utc { 0 } else { self.config.zone_quarters };
        ModuleTime::from_unix(self.network_unix(now), zone).map(ModuleTime::with_long_year)
    }

    /// Starts an `AT+QNTP`: `false` when one is pending already.
    pub(super) fn start_ntp(&mut self, now: Instant) -> bool {
        if self.ntp_due.is_some() {
            return false;
        }
        self.ntp_due = Some(now.checked_add(self.config.ntp_delay).unwrap_or(now));
        true
    }

    /// The NTP result is due: `Ok(time)` with the clock set, or `Err(err)`.
    pub(super) fn finish_ntp(&mut self, now: Instant) -> Result<Option<ModuleTime>, u16> {
        self.ntp_due = None;
        if let Some(err) = self.config.ntp_error {
            return Err(err);
        }
        let network = self.network_unix(now);
        self.clock_at_base = network.saturating_sub(secs_since(self.base, now));
        Ok(ModuleTime::from_unix(network, self.config.zone_quarters)
            .map(ModuleTime::with_long_year))
    }
}
