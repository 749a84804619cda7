//! The time of the sans-IO cores: a plain monotonic [`Instant`] of their own, so the link core
//! and the client core build without `std` (ARCHITECTURE.md "no_std").
//!
//! An [`Instant`] is a count of microseconds since an origin the driver picks: power-on of a
//! microcontroller, the start of a process, the start of a test. The cores only compare instants
//! and add or subtract [`Duration`]s, so the origin never matters, as long as one driver feeds
//! one core instants from one origin. Durations stay [`core::time::Duration`].
//!
//! Unlike `std::time::Instant`, no arithmetic panics: adding past the end saturates (or returns
//! `None` from the `checked_` forms), and subtracting a later instant gives a zero duration.
//! The resolution is one microsecond; the sub-microsecond part of a [`Duration`] is dropped.
//!
//! A std driver converts its clock with [`Clock`] (feature `std`):
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use std::time::Duration;
//! use qmt_transport::time::{Clock, Instant};
//!
//! let clock = Clock::new();
//! let now: Instant = clock.now();
//! let deadline = now + Duration::from_millis(300);
//! // Back to std for a blocking wait.
//! let until: std::time::Instant = clock.to_std(deadline);
//! assert_eq!(clock.to_core(until), deadline);
//! # }
//! ```

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};
use core::time::Duration;

/// A point in time: microseconds since the origin the driver chose. `Copy`, totally ordered, and
/// cheap to compare; see the [module docs](self).
///
/// ```
/// use core::time::Duration;
/// use qmt_transport::time::Instant;
///
/// let t0 = Instant::from_micros(1_000);
/// let t1 = t0 + Duration::from_millis(2);
/// assert_eq!(t1.as_micros(), 3_000);
/// assert_eq!(t1 - t0, Duration::from_millis(2));
/// assert_eq!(t0 - t1, Duration::ZERO); // saturates, never panics
/// assert_eq!(Instant::from_micros(u64::MAX).checked_add(Duration::from_micros(1)), None);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A [`Duration`] in whole microseconds, or `None` past `u64::MAX` of them.
fn micros(d: Duration) -> Option<u64> {
    u64::try_from(d.as_micros()).ok()
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// The last representable instant (about 584 000 years after the origin).
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros)
    }

    /// The microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` when that is past [`Instant::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        micros(d).and_then(|d| self.0.checked_add(d)).map(Instant)
    }

    /// `self - d`, or `None` when that is before the origin.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        micros(d).and_then(|d| self.0.checked_sub(d)).map(Instant)
    }

    /// The time from `earlier` to `self`, or `None` when `earlier` is later than `self`.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_micros)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.checked_duration_since(earlier)
            .unwrap_or(Duration::ZERO)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later than `self` (as
    /// `std::time::Instant::duration_since` does since Rust 1.60).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Saturates at [`Instant::MAX`].
impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }
}

/// Saturates at [`Instant::MAX`].
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

/// Saturates at [`Instant::ZERO`].
impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).unwrap_or(Instant::ZERO)
    }
}

/// Saturates at [`Instant::ZERO`].
impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

/// The time from `earlier` to `self`, zero when `earlier` is later (saturating, like
/// `std::time::Instant`'s since Rust 1.60).
impl Sub<Instant> for Instant {
    type Output = Duration;

    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Seconds since the origin, to the microsecond: `Instant(12.000345s)`.
impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Instant({}.{:06}s)",
            self.0 / 1_000_000,
            self.0 % 1_000_000
        )
    }
}

/// A std driver's bridge between `std::time::Instant` and the cores' [`Instant`]: the origin is
/// the moment the clock was made. One clock per driver (the reactor keeps one for all its ports),
/// so every core it drives sees instants from one origin.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    origin: std::time::Instant,
}

#[cfg(feature = "std")]
impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(feature = "std")]
impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The instant now.
    pub fn now(&self) -> Instant {
        self.to_core(std::time::Instant::now())
    }

    /// `t` as the cores' instant; a `t` before the origin is the origin.
    pub fn to_core(&self, t: std::time::Instant) -> Instant {
        Instant(micros(t.saturating_duration_since(self.origin)).unwrap_or(u64::MAX))
    }

    /// The cores' instant `t` as a `std::time::Instant`. An instant the platform cannot
    /// represent (centuries away) comes back as a year from the origin, still far beyond any
    /// deadline a core sets.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
        self.origin
            .checked_add(Duration::from_micros(t.0))
            .or_else(|| self.origin.checked_add(FAR))
            .unwrap_or(self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Instant = Instant::from_micros(5_000_000);

    #[test]
    fn adding_and_subtracting_durations() {
        let d = Duration::from_millis(1_500);
        assert_eq!((T + d).as_micros(), 6_500_000);
        assert_eq!((T - d).as_micros(), 3_500_000);
        let mut t = T;
        t += d;
        assert_eq!(t, Instant::from_micros(6_500_000));
        t -= d;
        assert_eq!(t, T);
        assert_eq!(T.checked_add(d), Some(Instant::from_micros(6_500_000)));
        assert_eq!(T.checked_sub(d), Some(Instant::from_micros(3_500_000)));
    }

    #[test]
    fn sub_microsecond_parts_are_dropped() {
        assert_eq!(T + Duration::from_nanos(999), T);
        assert_eq!(
            T + Duration::from_nanos(1_999),
            Instant::from_micros(5_000_001)
        );
    }

    #[test]
    fn overflow_saturates_or_is_none() {
        let end = Instant::MAX;
        assert_eq!(end.checked_add(Duration::from_micros(1)), None);
        assert_eq!(end + Duration::from_micros(1), Instant::MAX);
        assert_eq!(T + Duration::MAX, Instant::MAX);
        assert_eq!(T.checked_add(Duration::MAX), None);
        let mut t = end;
        t += Duration::from_secs(1);
        assert_eq!(t, Instant::MAX);
        // A duration of more than u64::MAX microseconds does not fit at all.
        assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
    }

    #[test]
    fn underflow_saturates_or_is_none() {
        assert_eq!(T.checked_sub(Duration::from_secs(6)), None);
        assert_eq!(T - Duration::from_secs(6), Instant::ZERO);
        assert_eq!(T - Duration::MAX, Instant::ZERO);
        let mut t = Instant::ZERO;
        t -= Duration::from_micros(1);
        assert_eq!(t, Instant::ZERO);
    }

    #[test]
    fn durations_between_instants() {
        let later = T + Duration::from_millis(250);
        assert_eq!(later - T, Duration::from_millis(250));
        assert_eq!(later.duration_since(T), Duration::from_millis(250));
        assert_eq!(
            later.checked_duration_since(T),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            later.saturating_duration_since(T),
            Duration::from_millis(250)
        );
        // Earlier minus later: zero or None, never a panic.
        assert_eq!(T - later, Duration::ZERO);
        assert_eq!(T.duration_since(later), Duration::ZERO);
        assert_eq!(T.checked_duration_since(later), None);
        assert_eq!(T.saturating_duration_since(later), Duration::ZERO);
        assert_eq!(
            Instant::MAX - Instant::ZERO,
            Duration::from_micros(u64::MAX)
        );
    }

    #[test]
    fn ordering_follows_the_count() {
        assert!(Instant::ZERO < T);
        assert!(T < Instant::MAX);
        assert_eq!(T.min(Instant::ZERO), Instant::ZERO);
        assert_eq!(Instant::default(), Instant::ZERO);
    }

    #[test]
    fn debug_shows_seconds() {
        extern crate std;
        use std::format;
        assert_eq!(
            format!("{:?}", Instant::from_micros(12_000_345)),
            "Instant(12.000345s)"
        );
        assert_eq!(format!("{:?}", Instant::ZERO), "Instant(0.000000s)");
    }

    #[cfg(feature = "std")]
    #[test]
    fn clock_round_trips() {
        let clock = Clock::new();
        let start = std::time::Instant::now();
        let t = clock.to_core(start);
        assert_eq!(clock.to_core(clock.to_std(t)), t);
        let later = start + Duration::from_millis(1_234);
        assert_eq!(clock.to_core(later) - t, Duration::from_millis(1_234));
        // Before the origin is the origin.
        if let Some(before) = clock
            .to_std(Instant::ZERO)
            .checked_sub(Duration::from_secs(1))
        {
            assert_eq!(clock.to_core(before), Instant::ZERO);
        }
        assert!(clock.now() >= t);
        // The farthest instant still converts, without a panic.
        assert!(clock.to_std(Instant::MAX) > clock.to_std(T));
    }
}
