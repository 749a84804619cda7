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
//! On Linux under tokio (feature `tokio`: `serial::open` opens a serial port or pty as the
//! two halves; `qmt-async/examples/tokio_pubsub.rs` is this, runnable):
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
//! use qmt_async::{ClientOptions, Config, Event, Qos, serial, timer::TokioTimer};
//! use qmt_transport::reactor::PortConfig;
//!
//! // The port, locked and in raw mode, as two embedded-io-async halves on tokio.
//! let (reader, writer) = serial::open("/dev/ttyUSB2", &PortConfig::default())?;
//! let (modem, runner) = qmt_async::new::<CriticalSectionRawMutex, _, _, _, 512, 512>(
//!     reader,
//!     writer,
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
#[cfg(feature = "tokio")]
extern crate std;

mod handle;
mod log;
mod runner;
#[cfg(feature = "tokio")]
pub mod serial;
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
