//! The module's clock (spec §10.9): `AT+CCLK?`, `AT+QNTP`, `AT+QLTS` and the time they report.
//!
//! A TLS handshake checks the server certificate's validity against the module's clock unless
//! `AT+QSSLCFG="ignorelocaltime",<ctx>,1` is set, and a module whose clock was never set starts
//! in 2000 or 1980: every certificate is then "not yet valid". These types let a driver read the
//! clock ([`ModuleTime`]), set it from an NTP server ([`NtpSync`], then [`Urc::Ntp`](crate::Urc::Ntp))
//! or read the network's time ([`LtsMode`]).
//!
//! ```
//! use qmt_proto::clock::ModuleTime;
//! use qmt_proto::{Info, ModuleLine};
//!
//! let ModuleLine::Info(Info::Clock(t)) = ModuleLine::parse(br#"+CCLK: "24/05/17,09:30:00+32""#) else {
//!     panic!()
//! };
//! assert_eq!((t.year, t.month, t.day, t.zone_quarters), (2024, 5, 17, 32));
//! // +32 quarter hours is UTC+8: 09:30 local is 01:30 UTC.
//! assert_eq!(t.unix_utc(), ModuleTime::parse(b"2024/05/17,01:30:00+00").unwrap().unix_utc());
//! ```

use core::fmt;

use crate::cmdsyntax::code_enum;
use crate::codes::result_code_enum;
use crate::params::{ContextId, HostName, Port};
use crate::syntax::Out;

/// A time as the module writes it (spec §10.9): `yy/MM/dd,hh:mm:ss±zz`, or with a four-digit
/// year `yyyy/MM/dd,hh:mm:ss±zz` (the `+QNTP` form, **uncertain**), local time with the zone in
/// quarter hours (`+32` is UTC+8).
///
/// Parsing checks the ranges (month 1–12, day 1–31, hour 0–23, minute and second 0–59, zone
/// −96…+96) and does not allocate; [`encode`](Self::encode) writes the form it was read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModuleTime {
    /// The full year. Two-digit years `00`–`79` are 2000–2079 and `80`–`99` are 1980–1999: an
    /// unset clock of Qualcomm-based modules shows `80/01/06` (the GPS epoch, 1980), which must
    /// read as the past, not as 2080.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31 (not checked against the month's length: the module's word is kept).
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
    /// The offset from UTC in quarter hours, −96…+96.
    pub zone_quarters: i8,
    /// Whether the year was written with four digits.
    pub long_year: bool,
}

/// Why a time could not be read (spec §10.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeError {
    /// Not of the form `yy/MM/dd,hh:mm:ss±zz`.
    Syntax,
    /// A field outside its range (the field's name).
    OutOfRange(&'static str),
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::Syntax => f.write_str("not a time of the form yy/MM/dd,hh:mm:ss±zz"),
            TimeError::OutOfRange(field) => write!(f, "time field {field} is out of range"),
        }
    }
}

impl core::error::Error for TimeError {}

/// Reads exactly `n` ASCII digits.
fn digits(i: &mut &[u8], n: usize) -> Result<u16, TimeError> {
    let (head, rest) = i.split_at_checked(n).ok_or(TimeError::Syntax)?;
    let mut v = 0u16;
    for &b in head {
        if !b.is_ascii_digit() {
            return Err(TimeError::Syntax);
        }
        v = v * 10 + u16::from(b - b'0');
    }
    *i = rest;
    Ok(v)
}

fn byte(i: &mut &[u8], b: u8) -> Result<(), TimeError> {
    match i.split_first() {
        Some((&c, rest)) if c == b => {
            *i = rest;
            Ok(())
        }
        _ => Err(TimeError::Syntax),
    }
}

fn ranged(v: u16, lo: u16, hi: u16, field: &'static str) -> Result<u8, TimeError> {
    if (lo..=hi).contains(&v) {
        // hi ≤ 255 for every caller.
        u8::try_from(v).map_err(|_| TimeError::OutOfRange(field))
    } else {
        Err(TimeError::OutOfRange(field))
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl ModuleTime {
    /// Parses `yy/MM/dd,hh:mm:ss±zz` or `yyyy/MM/dd,hh:mm:ss±zz` (no quotes), all of `text`.
    pub fn parse(text: &[u8]) -> Result<ModuleTime, TimeError> {
        let (t, rest) = ModuleTime::parse_prefix(text)?;
        if rest.is_empty() {
            Ok(t)
        } else {
            Err(TimeError::Syntax)
        }
    }

    /// Parses a time at the start of `text`; returns it and what follows (`+QLTS` may add
    /// `,<dst>` inside the quotes).
    pub fn parse_prefix(text: &[u8]) -> Result<(ModuleTime, &[u8]), TimeError> {
        let mut i = text;
        let year_len = i.iter().take_while(|b| b.is_ascii_digit()).count();
        let (year, long_year) = match year_len {
            2 => {
                let yy = digits(&mut i, 2)?;
                (if yy >= 80 { 1900 + yy } else { 2000 + yy }, false)
            }
            4 => (digits(&mut i, 4)?, true),
            _ => return Err(TimeError::Syntax),
        };
        byte(&mut i, b'/')?;
        let month = ranged(digits(&mut i, 2)?, 1, 12, "month")?;
        byte(&mut i, b'/')?;
        let day = ranged(digits(&mut i, 2)?, 1, 31, "day")?;
        byte(&mut i, b',')?;
        let hour = ranged(digits(&mut i, 2)?, 0, 23, "hour")?;
        byte(&mut i, b':')?;
        let minute = ranged(digits(&mut i, 2)?, 0, 59, "minute")?;
        byte(&mut i, b':')?;
        let second = ranged(digits(&mut i, 2)?, 0, 59, "second")?;
        let negative = match i.split_first() {
            Some((b'+', rest)) => {
                i = rest;
                false
            }
            Some((b'-', rest)) => {
                i = rest;
                true
            }
            _ => return Err(TimeError::Syntax),
        };
        let zone_len = i.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=2).contains(&zone_len) {
            return Err(TimeError::Syntax);
        }
        let zone = ranged(digits(&mut i, zone_len)?, 0, 96, "zone")?;
        // zone ≤ 96: fits an i8 either way.
        let zone = zone as i8;
        Ok((
            ModuleTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                zone_quarters: if negative { -zone } else { zone },
                long_year,
            },
            i,
        ))
    }

    /// Seconds since 1970-01-01 00:00:00 UTC (the zone taken into account).
    pub const fn unix_utc(&self) -> i64 {
        let days = days_from_civil(self.year as i64, self.month as i64, self.day as i64);
        days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64
            - self.zone_quarters as i64 * 900
    }

    /// The time `unix` seconds after 1970-01-01 UTC, written in the zone `zone_quarters`
    /// (−96…+96) with a two-digit year (the `+CCLK` form). `None` outside 1980–2079 local time
    /// (what two digits can say).
    pub fn from_unix(unix: i64, zone_quarters: i8) -> Option<ModuleTime> {
        if !(-96..=96).contains(&zone_quarters) {
            return None;
        }
        let local = unix.checked_add(i64::from(zone_quarters) * 900)?;
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let secs = local.rem_euclid(86_400);
        if !(1980..=2079).contains(&y) {
            return None;
        }
        Some(ModuleTime {
            year: u16::try_from(y).ok()?,
            month: u8::try_from(m).ok()?,
            day: u8::try_from(d).ok()?,
            hour: u8::try_from(secs / 3600).ok()?,
            minute: u8::try_from(secs / 60 % 60).ok()?,
            second: u8::try_from(secs % 60).ok()?,
            zone_quarters,
            long_year: false,
        })
    }

    /// The same instant written with a four-digit year (the `+QNTP` form).
    pub const fn with_long_year(mut self) -> ModuleTime {
        self.long_year = true;
        self
    }

    /// Appends the time as the module writes it, without quotes.
    pub fn encode(&self, out: &mut alloc::vec::Vec<u8>) {
        let _ = fmt::Write::write_fmt(&mut Out(out), format_args!("{self}"));
    }
}

/// The wire form, without quotes: `24/05/17,09:30:00+32`.
impl fmt::Display for ModuleTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.long_year {
            write!(f, "{:04}", self.year)?;
        } else {
            write!(f, "{:02}", self.year % 100)?;
        }
        let sign = if self.zone_quarters < 0 { '-' } else { '+' };
        write!(
            f,
            "/{:02}/{:02},{:02}:{:02}:{:02}{sign}{:02}",
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.zone_quarters.unsigned_abs()
        )
    }
}

/// `AT+QNTP=<cid>,"<server>"[,<port>]` (spec §10.9): set the module's clock from an NTP server
/// over PDP context `cid`. `OK` at once, then the URC `+QNTP: <err>,"<time>"` within 125 s.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NtpSync {
    /// The PDP context the request goes over (1–15).
    pub cid: ContextId,
    /// The NTP server's name or address.
    pub server: HostName,
    /// Its UDP port, when not the default 123.
    pub port: Option<Port>,
}

result_code_enum!(
    /// `<err>` of the URC `+QNTP: <err>[,"<time>"]` (spec §10.9): 0 when the clock was set; the
    /// failure codes differ between firmware and are kept as numbers.
    NtpResult {
        /// 0: the clock was set from the server.
        Synced = 0,
    }
);

code_enum!(
    /// `<mode>` of `AT+QLTS=<mode>` (spec §10.9): which network time to report.
    LtsMode, "mode", "0-2" {
        /// 0: the time the network last synchronised.
        LastSync = 0,
        /// 1: the current time in UTC.
        CurrentUtc = 1,
        /// 2: the current local time.
        CurrentLocal = 2,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    #[test]
    fn both_year_forms_round_trip() {
        for s in [
            "24/05/17,09:30:00+32",
            "2024/05/17,09:30:00+32",
            "00/01/01,00:00:00+00",
            "80/01/06,00:00:00-04",
            "1980/01/06,00:00:00+00",
            "99/12/31,23:59:59-96",
        ] {
            let t = ModuleTime::parse(s.as_bytes()).unwrap();
            assert_eq!(t.to_string(), s);
            let mut v = Vec::new();
            t.encode(&mut v);
            assert_eq!(v, s.as_bytes());
        }
        // Two-digit years pivot at 80: the unset clock "80/01/06" is 1980, "79" is 2079.
        assert_eq!(
            ModuleTime::parse(b"80/01/06,00:00:00+00").unwrap().year,
            1980
        );
        assert_eq!(
            ModuleTime::parse(b"79/12/31,00:00:00+00").unwrap().year,
            2079
        );
        let gps = ModuleTime::parse(b"80/01/06,00:00:00+00").unwrap();
        assert_eq!(ModuleTime::from_unix(gps.unix_utc(), 0), Some(gps));
    }

    #[test]
    fn bad_times_are_refused_with_the_field() {
        let e = |s: &str| ModuleTime::parse(s.as_bytes()).unwrap_err();
        assert_eq!(e("24/13/17,09:30:00+32"), TimeError::OutOfRange("month"));
        assert_eq!(e("24/05/00,09:30:00+32"), TimeError::OutOfRange("day"));
        assert_eq!(e("24/05/17,24:30:00+32"), TimeError::OutOfRange("hour"));
        assert_eq!(e("24/05/17,09:60:00+32"), TimeError::OutOfRange("minute"));
        assert_eq!(e("24/05/17,09:30:60+32"), TimeError::OutOfRange("second"));
        assert_eq!(e("24/05/17,09:30:00+97"), TimeError::OutOfRange("zone"));
        for s in [
            "",
            "2/05/17,09:30:00+32",
            "24/05/17 09:30:00+32",
            "24/05/17,09:30:00",
            "24/05/17,09:30:00+",
            "24/05/17,09:30:00+321",
            "24/5/17,09:30:00+32",
            "24/05/17,09:30:00+32x",
        ] {
            assert_eq!(e(s), TimeError::Syntax, "{s}");
        }
    }

    #[test]
    fn unix_time_both_ways() {
        let epoch = ModuleTime::parse(b"1970/01/01,00:00:00+00").unwrap();
        assert_eq!(epoch.unix_utc(), 0);
        // 2024-05-17T01:30:00Z = 1715909400.
        let t = ModuleTime::parse(b"24/05/17,09:30:00+32").unwrap();
        assert_eq!(t.unix_utc(), 1_715_909_400);
        assert_eq!(ModuleTime::from_unix(1_715_909_400, 32), Some(t));
        // Leap day, negative zone.
        let leap = ModuleTime::parse(b"24/02/29,23:59:59-20").unwrap();
        assert_eq!(ModuleTime::from_unix(leap.unix_utc(), -20), Some(leap));
        assert_eq!(
            ModuleTime::from_unix(0, 0),
            None,
            "1970 has no two-digit form"
        );
        assert_eq!(
            ModuleTime::from_unix(3_500_000_000, 0),
            None,
            "2080 has none either"
        );
        assert_eq!(ModuleTime::from_unix(0, 97), None);
    }
}
