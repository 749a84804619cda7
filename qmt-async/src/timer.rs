//! The clock the [`Runner`](crate::Runner) and the handles read, and the one thing the runner
//! awaits on it: "sleep until" the core's next deadline.
//!
//! The core's time is [`Instant`], microseconds since an origin the driver picks (ARCHITECTURE.md
//! "no_std"); an implementation maps its own clock onto it. Two come with the crate, each behind
//! its feature: [`TokioTimer`] (`tokio`) and [`EmbassyTimer`] (`embassy-time`).

use core::future::Future;

use qmt_transport::time::Instant;

/// A monotonic clock that can sleep until an instant on it.
///
/// `now` never goes back (the core's contract: "time only moves forward"). `sleep_until` of an
/// instant already passed returns at once. Its future may be dropped before it ends (the runner
/// races it against the port and the handles' requests), which must be harmless.
pub trait Timer {
    /// The time now.
    fn now(&self) -> Instant;
    /// Completes at `at` or later.
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()>;
}

#[cfg(feature = "tokio")]
pub use self::tokio_timer::TokioTimer;

#[cfg(feature = "tokio")]
mod tokio_timer {
    use core::future::Future;
    use core::time::Duration;

    use qmt_transport::time::Instant;

    /// A [`Timer`](super::Timer) on tokio's clock (feature `tokio`): the origin is when it was
    /// made. Needs a tokio runtime with its time driver where `sleep_until` is awaited.
    #[derive(Clone, Copy, Debug)]
    pub struct TokioTimer {
        origin: tokio::time::Instant,
    }

    impl TokioTimer {
        /// A timer whose origin is now.
        pub fn new() -> TokioTimer {
            TokioTimer {
                origin: tokio::time::Instant::now(),
            }
        }
    }

    impl Default for TokioTimer {
        fn default() -> Self {
            TokioTimer::new()
        }
    }

    impl super::Timer for TokioTimer {
        fn now(&self) -> Instant {
            // u64 microseconds last 584,000 years: the cast cannot truncate in practice.
            let us = self.origin.elapsed().as_micros();
            Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
        }

        fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
            let deadline = self
                .origin
                .checked_add(Duration::from_micros(at.as_micros()))
                // Beyond tokio's range: as good as never.
                .unwrap_or_else(|| self.origin + Duration::from_secs(86_400 * 365 * 30));
            tokio::time::sleep_until(deadline)
        }
    }
}

#[cfg(feature = "embassy-time")]
pub use self::embassy::EmbassyTimer;

#[cfg(feature = "embassy-time")]
mod embassy {
    use core::future::Future;

    use qmt_transport::time::Instant;

    /// A [`Timer`](super::Timer) on embassy-time's clock (feature `embassy-time`): the origin is
    /// the time driver's (boot). The firmware links a time driver, as for any embassy timer.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct EmbassyTimer;

    impl super::Timer for EmbassyTimer {
        fn now(&self) -> Instant {
            Instant::from_micros(embassy_time::Instant::now().as_micros())
        }

        fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
            embassy_time::Timer::at(embassy_time::Instant::from_micros(at.as_micros()))
        }
    }
}
