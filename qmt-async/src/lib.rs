//! The async driver of the qmt client core: the same [`ModemCore`](qmt_client::sansio::ModemCore)
//! as the std driver, run by a [`Runner`] future that owns the serial port, with cheap
//! [`Modem`] and [`Client`] handles whose async methods return at once or await their result
//! (ARCHITECTURE.md "The async driver").
//!
//! - Generic over the port's two halves ([`embedded_io_async::Read`] and
//!   [`embedded_io_async::Write`]) and a [`Timer`] ("now" and "sleep until"). It names no
//!   executor: run [`Runner::run`] as a task of embassy, tokio, or any other.
//! - `#![no_std]` + `alloc`. The handles share the core behind an embassy-sync blocking mutex
//!   over the [`RawMutex`](embassy_sync::blocking_mutex::raw::RawMutex) you pick
//!   (`CriticalSectionRawMutex` on a multi-threaded executor, `NoopRawMutex` on one thread).
//! - Timers: [`timer::TokioTimer`] (feature `tokio`), [`timer::EmbassyTimer`] (feature
//!   `embassy-time`). Logging: `tracing`, or `defmt` with the `defmt` feature; secrets are never
//!   logged (nothing that holds them is).
//! - The read buffer (`RX`) and write buffer (`TX`) of the runner are const generics.
//!
//! On Linux under tokio, with a serial port or pty split into halves and adapted with
//! `embedded-io-adapters` (`FromTokio`):
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn example<S>(port: S) -> Result<(), qmt_client::ClientError>
//! # where S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static {
//! use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
//! use embedded_io_adapters::tokio_1::FromTokio;
//! use qmt_async::{Config, Event, Qos, timer::TokioTimer};
//! use qmt_client::ClientOptions;
//!
//! // `port`: the serial port (or a pty) as a tokio stream.
//! let (r, w) = tokio::io::split(port);
//! let (modem, runner) = qmt_async::new::<CriticalSectionRawMutex, _, _, _, 512, 512>(
//!     FromTokio::new(r),
//!     FromTokio::new(w),
//!     TokioTimer::new(),
//!     Config::default(),
//! );
//! tokio::spawn(runner.run()); // or spawner.spawn(...) on embassy
//! modem.ready().await?;
//! let options = ClientOptions::builder().host("broker.example").client_id("pump-01").build()?;
//! let client = modem.client(0, options)?;
//! client.connect().await?;
//! client.subscribe(&[("pump/01/cmd", Qos::AtLeastOnce)]).await?;
//! client.publish("pump/01/state", "on", Qos::ExactlyOnce, false).await?; // awaits PUBCOMP
//! while let Some(event) = client.recv().await {
//!     if let Event::Message(m) = event {
//!         // m.topic(), m.payload()
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![no_std]

extern crate alloc;

mod handle;
mod log;
mod runner;
mod shared;
pub mod timer;

use alloc::sync::Arc;

use embassy_sync::blocking_mutex::raw::RawMutex;
use qmt_client::sansio::ModemCore;

pub use handle::{Client, Modem};
pub use qmt_client::sansio::{CoreConfig, NetworkConfig, Stage, Startup};
pub use qmt_client::{ClientError, ClientOptions, Event, Message, Qos, RecoveryPolicy};
pub use runner::{RunError, Runner};
pub use timer::Timer;

/// How the async driver runs the core.
#[derive(Clone, Debug)]
pub struct Config {
    /// The core's deadlines, start-up, bring-up ([`CoreConfig::network`]) and serial setup.
    pub core: CoreConfig,
    /// The reconnect policy of every client (off by default).
    pub recovery: RecoveryPolicy,
    /// Messages each client's queue holds before the core stops reading the port (at least 1).
    pub event_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            core: CoreConfig::default(),
            recovery: RecoveryPolicy::disabled(),
            event_capacity: 64,
        }
    }
}

/// A modem on a port: the [`Modem`] handle and the [`Runner`] that must run (as a task) for
/// anything to happen. Start-up begins when the runner starts.
pub fn new<M, T, R, W, const RX: usize, const TX: usize>(
    reader: R,
    writer: W,
    timer: T,
    config: Config,
) -> (Modem<M, T>, Runner<M, T, R, W, RX, TX>)
where
    M: RawMutex,
    T: Timer,
    R: embedded_io_async::Read,
    W: embedded_io_async::Write,
{
    let core = ModemCore::new(config.core, timer.now());
    let shared = Arc::new(shared::Shared::new(core, timer));
    let modem = Modem::new(Arc::clone(&shared), config.recovery, config.event_capacity);
    (modem, Runner::new(shared, reader, writer))
}
