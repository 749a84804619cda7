//! The heap the firmware example's session needs, measured on the host: the same driver and core
//! (`qmt-async` over one client) against qmt-sim on a real pty, with the firmware's settings
//! (bring-up with an APN, one client, event capacity 4, recovery on), counting every allocation
//! made on the thread that runs the driver.
//!
//! Run by `cargo xtask firmware-size`; prints `heap: <peak> bytes peak, <live> bytes live at the
//! end` after a session of `--messages N` (default 50) commands of `--size B` (default 256) bytes
//! received and answered. The pty's tokio halves, tokio's timer wheel and the runner's task cell
//! (a static on the firmware) are not counted; anything else tokio allocates on that thread while
//! the session runs is, so the figure is an upper bound of the firmware's heap use.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use qmt_async::{Config, CoreConfig, Event, NetworkConfig, Qos};
use qmt_sim::{Sim, SimConfig};
use support::{T, expect_message, fast_recovery, opts};
use tokio::time::timeout;

/// Counts the bytes live among allocations made on threads that opted in, and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is passed to `System` unchanged; only counters are updated beside it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(
                layout.size().min(LIVE.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

fn main() {
    let messages = arg("--messages", 50);
    let size = arg("--size", 256);
    let sim = Sim::start(SimConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The pty's tokio halves (their registration with tokio's IO driver) are Linux's, not
        // the firmware's: made before counting starts.
        let (reader, writer) = support::halves(&sim);
        // tokio's timer wheel is allocated at the first sleep: the firmware's timer (embassy-time)
        // has no such thing, so it is allocated before counting starts too.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        COUNTED.with(|c| c.set(true));
        let config = Config {
            core: CoreConfig {
                port_name: "USART1".into(),
                network: NetworkConfig::with_apn("internet").ok(),
                ..CoreConfig::default()
            },
            recovery: fast_recovery(),
            event_capacity: 4,
        };
        // The firmware's runner buffers (examples/firmware/src/main.rs).
        let (modem, runner) = qmt_async::new::<support::Mx, _, _, _, 128, 256>(
            reader,
            writer,
            qmt_async::timer::TokioTimer::new(),
            config,
        );
        // The runner's task: tokio boxes it, a firmware's executor keeps it in a static (the
        // firmware's RAM figure counts it there), so its allocation is not counted.
        COUNTED.with(|c| c.set(false));
        let _task = tokio::spawn(runner.run());
        COUNTED.with(|c| c.set(true));
        timeout(T, modem.ready()).await.unwrap().unwrap();
        let client = modem
            .client(0, opts("pump-01").keep_alive(60).build().unwrap())
            .unwrap();
        timeout(T, client.connect()).await.unwrap().unwrap();
        timeout(T, client.subscribe(&[("pump/01/cmd", Qos::AtLeastOnce)]))
            .await
            .unwrap()
            .unwrap();
        timeout(
            T,
            client.publish("pump/01/state", "online", Qos::AtLeastOnce, true),
        )
        .await
        .unwrap()
        .unwrap();
        let body = "x".repeat(size);
        for n in 0..messages {
            // The command comes in through the broker as a peer's would.
            let command = format!("{n:05}{body}");
            let command = &command[..size.max(5)];
            timeout(
                T,
                client.publish("pump/01/cmd", command, Qos::AtLeastOnce, false),
            )
            .await
            .unwrap()
            .unwrap();
            let m = expect_message(&client, "the command").await;
            let answer = format!("done: {}", m.payload_str().unwrap_or("?"));
            timeout(
                T,
                client.publish("pump/01/state", answer.as_str(), Qos::AtLeastOnce, false),
            )
            .await
            .unwrap()
            .unwrap();
        }
        while let Some(ev) = client.try_recv() {
            assert!(!matches!(ev, Event::Message(_)), "a message nobody sent");
        }
        timeout(T, client.disconnect()).await.unwrap().unwrap();
        COUNTED.with(|c| c.set(false));
    });
    println!(
        "heap: {} bytes peak, {} bytes live at the end ({messages} commands of {size} bytes)",
        PEAK.load(Ordering::Relaxed),
        LIVE.load(Ordering::Relaxed)
    );
}
