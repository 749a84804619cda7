//! Logging: `tracing` by default, `defmt` with the `defmt` feature (firmware). Messages take
//! only plain arguments, so one call site serves both; nothing logged holds a secret.

#[cfg(feature = "defmt")]
macro_rules! debug {
    ($($t:tt)*) => { defmt::debug!($($t)*) };
}
#[cfg(not(feature = "defmt"))]
macro_rules! debug {
    ($($t:tt)*) => { tracing::debug!($($t)*) };
}
#[cfg(feature = "defmt")]
macro_rules! warning {
    ($($t:tt)*) => { defmt::warn!($($t)*) };
}
#[cfg(not(feature = "defmt"))]
macro_rules! warning {
    ($($t:tt)*) => { tracing::warn!($($t)*) };
}

pub(crate) use {debug, warning};
