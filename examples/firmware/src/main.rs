//! qmt on a microcontroller: an STM32F411 (Cortex-M4F) talks to a Quectel EC200/EC600 module over
//! USART1 with RTS/CTS, as the vendor note's first diagram draws it.
//!
//! It brings the network up (SIM, registration, APN), connects to a broker, subscribes to its
//! command topic, publishes its state at QoS 1 and answers every command it receives. The same
//! client core as on Linux runs here; only the driver around it (`qmt-async`'s `Runner` over
//! embassy-stm32's buffered UART and embassy-time) differs.
//!
//! Built in release (`opt-level = "z"`, LTO) by `cargo xtask firmware-size`, which prints its flash
//! and static RAM. It is not run in CI: there is no board there.
//!
//! Pins: PA9 TX, PA10 RX, PA12 RTS, PA11 CTS (USART1, AF7) to the module's RXD, TXD, CTS, RTS.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;

use embassy_executor::Spawner;
use embassy_stm32::usart::{self, BufferedUart, BufferedUartRx, BufferedUartTx};
use embassy_stm32::{bind_interrupts, peripherals};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_alloc::LlffHeap;
use qmt_async::timer::EmbassyTimer;
use qmt_async::{
    ClientOptions, Config, CoreConfig, Event, NetworkConfig, Qos, RecoveryPolicy, Runner,
};

/// The heap the client core allocates from (its bound: `qmt-client/src/sansio/mod.rs`, "no_std
/// and the heap"). One client, one subscription, messages of a few hundred bytes: the same
/// session on the host peaks under 20 KB (`cargo run -p qmt-async --example heap`, an upper
/// bound), the largest pieces being the line decoder's buffer (4 KB), the shared core (4 KB) and
/// the client's slot (1.8 KB).
const HEAP_SIZE: usize = 24 * 1024;

/// The UART's interrupt-fed ring buffers. The module's longest line is a `+QMTRECV` header with
/// its payload; RTS/CTS stops the module while the core is behind.
const UART_RX: usize = 512;
const UART_TX: usize = 256;

/// The runner's own read and write buffers (`qmt_async::Runner`'s `RX` and `TX`).
const RUN_RX: usize = 128;
const RUN_TX: usize = 256;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

bind_interrupts!(struct Irqs {
    USART1 => usart::BufferedInterruptHandler<peripherals::USART1>;
});

type ModemRunner = Runner<
    NoopRawMutex,
    EmbassyTimer,
    BufferedUartRx<'static>,
    BufferedUartTx<'static>,
    RUN_RX,
    RUN_TX,
>;

/// Owns the UART and drives the core for as long as the port works.
#[embassy_executor::task]
async fn drive(runner: ModemRunner) {
    let _reason = runner.run().await;
    // The UART failed: every request has ended with `ClientError::Closed`; a product would reset
    // the MCU or the module here.
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    // SAFETY: runs once, before anything allocates; the memory is this static's alone.
    unsafe {
        static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; HEAP_SIZE] =
            [core::mem::MaybeUninit::uninit(); HEAP_SIZE];
        HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, HEAP_SIZE);
    }
    let p = embassy_stm32::init(embassy_stm32::Config::default());

    static UART_BUFS: static_bufs::Bufs<UART_TX, UART_RX> = static_bufs::Bufs::new();
    let (tx_buf, rx_buf) = UART_BUFS.take();
    let mut uart_config = usart::Config::default();
    uart_config.baudrate = 115_200; // the module's default rate (spec §10.7)
    let Ok(uart) = BufferedUart::new_with_rtscts(
        p.USART1,
        p.PA10,
        p.PA9,
        p.PA12,
        p.PA11,
        Irqs,
        tx_buf,
        rx_buf,
        uart_config,
    ) else {
        panic!("USART1 configuration refused");
    };
    let (tx, rx) = uart.split();

    let mut config = Config::default();
    config.core = CoreConfig {
        port_name: "USART1".into(),
        network: NetworkConfig::with_apn("internet").ok(),
        ..CoreConfig::default()
    };
    // Lost links, restarts and bearer losses are repaired by the core: it reconnects and
    // subscribes again, and the receive loop below goes on.
    config.recovery = RecoveryPolicy::enabled();
    config.event_capacity = 4;
    let (modem, runner) =
        qmt_async::new::<NoopRawMutex, _, _, _, RUN_RX, RUN_TX>(rx, tx, EmbassyTimer, config);
    match drive(runner) {
        Ok(task) => spawner.spawn(task),
        Err(_) => panic!("the runner task is already running"),
    }

    // Start-up and bring-up: AT answers, echo off, SIM ready, registered, context active.
    while modem.ready().await.is_err() {
        embassy_time::Timer::after_secs(10).await;
    }
    let Ok(options) = ClientOptions::builder()
        .host("broker.example")
        .port(1883)
        .client_id("pump-01")
        .keep_alive(60)
        .build()
    else {
        panic!("the client options are refused");
    };
    let Ok(client) = modem.client(0, options) else {
        panic!("client 0 is taken");
    };

    while client.connect().await.is_err() {
        embassy_time::Timer::after_secs(5).await;
    }
    if client
        .subscribe(&[("pump/01/cmd", Qos::AtLeastOnce)])
        .await
        .is_err()
    {
        panic!("the broker refused the subscription");
    }
    // The publish future ends with the broker's PUBACK.
    let _ = client
        .publish("pump/01/state", "online", Qos::AtLeastOnce, true)
        .await;
    while let Some(event) = client.recv().await {
        if let Event::Message(m) = event {
            let answer = format!("done: {}", m.payload_str().unwrap_or("?"));
            // A failed publish is also reported as `Event::PublishFailed`; the loop goes on.
            let _ = client
                .publish("pump/01/state", answer.as_str(), Qos::AtLeastOnce, false)
                .await;
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // A product logs the panic (defmt) and resets; this example stops where a debugger sees it.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// The UART's buffers, handed out once as `&'static mut` without `static mut` references.
mod static_bufs {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicBool, Ordering};

    pub struct Bufs<const TX: usize, const RX: usize> {
        taken: AtomicBool,
        tx: UnsafeCell<[u8; TX]>,
        rx: UnsafeCell<[u8; RX]>,
    }

    // SAFETY: the buffers are handed out once (`taken`), so no two references alias.
    unsafe impl<const TX: usize, const RX: usize> Sync for Bufs<TX, RX> {}

    impl<const TX: usize, const RX: usize> Bufs<TX, RX> {
        pub const fn new() -> Self {
            Bufs {
                taken: AtomicBool::new(false),
                tx: UnsafeCell::new([0; TX]),
                rx: UnsafeCell::new([0; RX]),
            }
        }

        /// The two buffers; panics on a second call.
        pub fn take(&'static self) -> (&'static mut [u8], &'static mut [u8]) {
            assert!(!self.taken.swap(true, Ordering::AcqRel), "taken twice");
            // SAFETY: first and only call (checked above).
            unsafe { (&mut *self.tx.get(), &mut *self.rx.get()) }
        }
    }
}
