//! Timestamp prefixes of log lines: the clock of a serial monitor (`HH:MM:SS.mmm`, in brackets or
//! not), ISO 8601 date and time, or seconds since the logger started (`12.345`, `[   12.345]`).

use core::fmt;

/// What a log's timestamps count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Clock {
    /// `HH:MM:SS[.mmm]`: the time of day (milliseconds since midnight).
    TimeOfDay,
    /// `2024-05-01T12:00:00.123Z` or `2024-05-01 12:00:00.123`: milliseconds since 1970 (UTC when
    /// the timestamp names an offset, the logger's local time otherwise).
    Iso8601,
    /// `12.345`: seconds since the logger started.
    Seconds,
}

/// How a log writes its timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeStyle {
    /// What they count.
    pub clock: Clock,
    /// Written in square brackets (`[14:33:25]`, `[   12.345]`).
    pub bracketed: bool,
    /// Some carry a fraction of a second (`.620`).
    pub fraction: bool,
}

/// One line's timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Milliseconds, counted as the log's [`Clock`] says.
    pub ms: u64,
    /// The timestamp as the log wrote it (brackets included).
    pub text: String,
}

const DAY_MS: u64 = 86_400_000;

impl TimeStyle {
    /// Milliseconds from `from` to `to` (two timestamps of this style), if `to` is not earlier. A
    /// time of day that went back crossed midnight.
    pub fn elapsed(self, from: u64, to: u64) -> Option<u64> {
        match to.checked_sub(from) {
            Some(d) => Some(d),
            None if self.clock == Clock::TimeOfDay && from < DAY_MS => Some(to + DAY_MS - from),
            None => None,
        }
    }

    /// Whether `other` (a parsed prefix) is written in this style; the fraction may differ from
    /// line to line.
    pub fn same_form(self, other: TimeStyle) -> bool {
        self.clock == other.clock && self.bracketed == other.bracketed
    }
}

impl fmt::Display for TimeStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = match (self.clock, self.fraction) {
            (Clock::TimeOfDay, false) => "HH:MM:SS",
            (Clock::TimeOfDay, true) => "HH:MM:SS.mmm",
            (Clock::Iso8601, _) => "ISO 8601",
            (Clock::Seconds, _) => "seconds since start",
        };
        if self.bracketed {
            write!(f, "[{inner}]")
        } else {
            f.write_str(inner)
        }
    }
}

/// A timestamp at the start of `line`: its style, its value in milliseconds and its length in
/// bytes. The timestamp must end the line or be followed by a byte that is not a letter or a
/// digit (`12:00:00.1x` is no timestamp).
pub fn parse_prefix(line: &[u8]) -> Option<(TimeStyle, u64, usize)> {
    let (style, ms, len) = if line.first() == Some(&b'[') {
        let mut c = Cursor { s: line, i: 1 };
        c.spaces();
        let (clock, ms, fraction) = c.inner()?;
        c.spaces();
        if !c.eat(b']') {
            return None;
        }
        let style = TimeStyle {
            clock,
            bracketed: true,
            fraction,
        };
        (style, ms, c.i)
    } else {
        let mut c = Cursor { s: line, i: 0 };
        let (clock, ms, fraction) = c.inner()?;
        let style = TimeStyle {
            clock,
            bracketed: false,
            fraction,
        };
        (style, ms, c.i)
    };
    match line.get(len) {
        Some(b) if b.is_ascii_alphanumeric() => None,
        _ => Some((style, ms, len)),
    }
}

/// A byte cursor over a timestamp.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    /// `min..=max` digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + u64::from(d - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }

    /// A fraction of a second after `.` or `,` (1–9 digits), in milliseconds; 0 and `false`
    /// when there is none.
    fn fraction(&mut self) -> (u64, bool) {
        let save = self.i;
        if !(self.eat(b'.') || self.eat(b',')) {
            return (0, false);
        }
        let start = self.i;
        let mut ms = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.i - start < 3 {
                ms = ms * 10 + u64::from(d - b'0');
            }
            self.i += 1;
            if self.i - start > 9 {
                break;
            }
        }
        match self.i - start {
            0 => {
                self.i = save;
                (0, false)
            }
            1 => (ms * 100, true),
            2 => (ms * 10, true),
            _ => (ms, true),
        }
    }

    /// `HH:MM:SS[.fff]` as milliseconds since midnight.
    fn time_of_day(&mut self) -> Option<(u64, bool)> {
        let h = self.digits(1, 2)?;
        if !self.eat(b':') {
            return None;
        }
        let m = self.digits(2, 2)?;
        if !self.eat(b':') {
            return None;
        }
        let s = self.digits(2, 2)?;
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        let (frac, has) = self.fraction();
        Some((((h * 60 + m) * 60 + s) * 1000 + frac, has))
    }

    /// One timestamp without brackets: ISO 8601, a time of day, or seconds (which need a
    /// fraction: a bare number is no timestamp).
    fn inner(&mut self) -> Option<(Clock, u64, bool)> {
        let start = self.i;
        if let Some(v) = self.iso() {
            return Some(v);
        }
        self.i = start;
        if let Some((ms, frac)) = self.time_of_day() {
            return Some((Clock::TimeOfDay, ms, frac));
        }
        self.i = start;
        let s = self.digits(1, 10)?;
        let (frac, has) = self.fraction();
        has.then_some((Clock::Seconds, s * 1000 + frac, true))
    }

    /// `YYYY-MM-DD(T| )HH:MM:SS[.fff][Z|±HH[:]MM]`.
    fn iso(&mut self) -> Option<(Clock, u64, bool)> {
        let y = self.digits(4, 4)?;
        if !self.eat(b'-') {
            return None;
        }
        let mo = self.digits(2, 2)?;
        if !self.eat(b'-') {
            return None;
        }
        let d = self.digits(2, 2)?;
        if !(self.eat(b'T') || self.eat(b' ')) || !(1..=12).contains(&mo) || !(1..=31).contains(&d)
        {
            return None;
        }
        let (tod, frac) = self.time_of_day()?;
        let mut offset_ms: i64 = 0;
        if !self.eat(b'Z') {
            let save = self.i;
            let sign = if self.eat(b'+') {
                1
            } else if self.eat(b'-') {
                -1
            } else {
                0
            };
            if sign != 0 {
                let parsed = self.digits(2, 2).and_then(|oh| {
                    self.eat(b':');
                    self.digits(2, 2).map(|om| (oh * 60 + om) as i64 * 60_000)
                });
                match parsed {
                    Some(o) => offset_ms = sign * o,
                    None => self.i = save,
                }
            }
        }
        let days = days_from_civil(y as i64, mo as i64, d as i64);
        let ms = days * DAY_MS as i64 + tod as i64 - offset_ms;
        Some((Clock::Iso8601, u64::try_from(ms).unwrap_or(0), frac))
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(clock: Clock, bracketed: bool, fraction: bool) -> TimeStyle {
        TimeStyle {
            clock,
            bracketed,
            fraction,
        }
    }

    #[test]
    fn each_style_and_its_milliseconds() {
        let cases: [(&[u8], TimeStyle, u64, usize); 9] = [
            (
                b"18:13:18.620 -> AT",
                style(Clock::TimeOfDay, false, true),
                ((18 * 60 + 13) * 60 + 18) * 1000 + 620,
                12,
            ),
            (
                b"[14:33:25] AT",
                style(Clock::TimeOfDay, true, false),
                ((14 * 60 + 33) * 60 + 25) * 1000,
                10,
            ),
            (
                b"[14:33:25.5]",
                style(Clock::TimeOfDay, true, true),
                ((14 * 60 + 33) * 60 + 25) * 1000 + 500,
                12,
            ),
            (
                b"2024-05-01T12:00:00.123Z AT",
                style(Clock::Iso8601, false, true),
                1_714_564_800_123,
                24,
            ),
            (
                b"2024-05-01 12:00:00.123 AT",
                style(Clock::Iso8601, false, true),
                1_714_564_800_123,
                23,
            ),
            (
                b"2024-05-01T14:00:00+02:00 x",
                style(Clock::Iso8601, false, false),
                1_714_564_800_000,
                25,
            ),
            (b"12.345 AT", style(Clock::Seconds, false, true), 12_345, 6),
            (
                b"[   12.345] AT",
                style(Clock::Seconds, true, true),
                12_345,
                11,
            ),
            (
                b"06:37:04,740 > x",
                style(Clock::TimeOfDay, false, true),
                ((6 * 60 + 37) * 60 + 4) * 1000 + 740,
                12,
            ),
        ];
        for (line, want_style, ms, len) in cases {
            assert_eq!(
                parse_prefix(line),
                Some((want_style, ms, len)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn lines_that_are_no_timestamps() {
        for line in [
            &b"861234567890123"[..],
            b"+CSQ: 20,99",
            b"AT+QMTOPEN?",
            b"12:00",
            b"25:00:00 x",
            b"1.5x",
            b"[12:00:00 x",
            b"OK",
            b"",
        ] {
            assert_eq!(
                parse_prefix(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn elapsed_crosses_midnight_only_for_a_time_of_day() {
        let tod = style(Clock::TimeOfDay, false, true);
        assert_eq!(tod.elapsed(1_000, 1_500), Some(500));
        assert_eq!(tod.elapsed(DAY_MS - 100, 50), Some(150));
        assert_eq!(style(Clock::Seconds, false, true).elapsed(1_000, 500), None);
    }

    #[test]
    fn display_names_the_style() {
        assert_eq!(
            style(Clock::TimeOfDay, false, true).to_string(),
            "HH:MM:SS.mmm"
        );
        assert_eq!(
            style(Clock::TimeOfDay, true, false).to_string(),
            "[HH:MM:SS]"
        );
        assert_eq!(
            style(Clock::Seconds, true, true).to_string(),
            "[seconds since start]"
        );
    }
}
