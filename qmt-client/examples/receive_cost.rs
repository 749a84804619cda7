//! What the receive and publish paths cost per message in the client core, counted rather than
//! timed: heap allocations per received `+QMTRECV` (a counting global allocator), parses per line
//! (`LinkStats::parses / lines`), and heap allocations per QoS 1 publish from `submit` to its
//! `Done` (the caller's topic and payload buffers not counted).
//! `cargo run --release -p qmt-client --example receive_cost`.
//!
//! The core is started and client 0 connected by a scripted module (the same bytes a module
//! sends), then fed bursts of inline messages in 4 KiB reads, the way the reactor reads them.
//! The ARCHITECTURE.md target: at most one allocation per received message, one parse per line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use qmt_client::sansio::{CoreConfig, CoreEvent, Instant, ModemCore, Request};
use qmt_client::{ClientOptions, Event, RecoveryPolicy};
use qmt_proto::params::ClientIdx;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Feeds the module's answer to whatever the core wrote last.
fn answer(core: &mut ModemCore, out: &mut [u8], now: Instant) -> bool {
    let n = core.poll_transmit(out);
    if n == 0 {
        return false;
    }
    let sent = String::from_utf8_lossy(&out[..n]).into_owned();
    let reply: &[u8] = if sent.starts_with("AT+QMTOPEN=") {
        b"\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n"
    } else if sent.starts_with("AT+QMTCONN=") {
        b"\r\nOK\r\n\r\n+QMTCONN: 0,0,0\r\n"
    } else {
        b"\r\nOK\r\n"
    };
    core.handle_input(reply, now);
    true
}

fn main() {
    let now = Instant::ZERO;
    let mut core = ModemCore::new(CoreConfig::default(), now);
    let mut out = [0u8; 4096];
    core.handle_timeout(now);
    while answer(&mut core, &mut out, now) {}
    let idx = ClientIdx::new(0).unwrap();
    let options = ClientOptions::builder()
        .host("broker")
        .client_id("cost")
        .build()
        .unwrap();
    core.add_client(idx, options, RecoveryPolicy::disabled(), 1 << 20)
        .unwrap();
    core.submit(idx, Request::Connect, now).unwrap();
    while answer(&mut core, &mut out, now) {}
    while core.poll_event().is_some() {}

    // A burst like `qmt sim`'s: topic b/x, payload the sequence number.
    let mut stream = Vec::new();
    const N: usize = 20_000;
    for i in 0..N {
        let p = i.to_string();
        stream
            .extend_from_slice(format!("\r\n+QMTRECV: 0,0,\"b/x\",{},{p}\r\n", p.len()).as_bytes());
    }
    let mut events = Vec::with_capacity(N + 16);
    // Warm the queues up to their working size (what a long-running process has).
    for chunk in stream[..stream.len() / 4].chunks(4096) {
        core.handle_input(chunk, now);
        while let Some(ev) = core.poll_event() {
            events.push(ev);
        }
    }
    core.consumed(idx, events.len(), now);
    events.clear();
    let lines0 = core.stats().link;
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let rest = &stream[stream.len() / 4..];
    for chunk in rest.chunks(4096) {
        core.handle_input(chunk, now);
        while let Some(ev) = core.poll_event() {
            events.push(ev);
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let stats = core.stats().link;
    let messages = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                CoreEvent::Client {
                    event: Event::Message(_),
                    ..
                }
            )
        })
        .count();
    let lines = stats.lines - lines0.lines;
    let parses = stats.parses - lines0.parses;
    println!("receive path of the client core, {messages} inline messages in 4 KiB reads");
    println!("  heap allocations      {allocs}");
    println!(
        "  per message           {:.3}",
        allocs as f64 / messages.max(1) as f64
    );
    println!("  lines read            {lines}");
    println!("  parses                {parses}");
    println!(
        "  parses per line       {:.3}",
        parses as f64 / lines.max(1) as f64
    );

    publish_cost(&mut core, idx, &mut out, now);
}

/// QoS 1 publishes through the core, answered as a module does (`> `, `OK`, `+QMTPUBEX`).
fn publish_cost(core: &mut ModemCore, idx: ClientIdx, out: &mut [u8], now: Instant) {
    const N: usize = 5_000;
    let mut allocs = 0;
    let mut done = 0;
    let mut events = Vec::with_capacity(16);
    let mut reply = Vec::with_capacity(64);
    for i in 0..N + 100 {
        // The caller's buffers, made before counting.
        let request = Request::Publish {
            topic: "t/pub".to_owned(),
            payload: b"{\"v\":1}".to_vec(),
            qos: qmt_client::Qos::AtLeastOnce,
            retain: false,
        };
        let before = ALLOCS.load(Ordering::Relaxed);
        core.submit(idx, request, now).unwrap();
        let n = core.poll_transmit(out);
        // `AT+QMTPUBEX=0,<msgid>,1,0,"t/pub",7\r`: the msgid is the second field.
        let mut msgid = [0u8; 8];
        let field = out[..n].split(|b| *b == b',').nth(1).unwrap_or_default();
        let msgid_len = field.len().min(8);
        msgid[..msgid_len].copy_from_slice(&field[..msgid_len]);
        core.handle_input(b"\r\n> ", now);
        while core.poll_transmit(out) > 0 {}
        reply.clear();
        reply.extend_from_slice(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,");
        reply.extend_from_slice(&msgid[..msgid_len]);
        reply.extend_from_slice(b",0\r\n");
        core.handle_input(&reply, now);
        while let Some(ev) = core.poll_event() {
            if matches!(ev, CoreEvent::Done { result: Ok(_), .. }) {
                done += 1;
            }
            events.push(ev);
        }
        events.clear();
        // The first hundred warm the buffers up (what a long-running process has).
        if i >= 100 {
            allocs += ALLOCS.load(Ordering::Relaxed) - before;
        }
    }
    println!("publish path of the client core, {N} QoS 1 publishes (+100 to warm up), {done} done");
    println!("  heap allocations      {allocs}");
    println!("  per publish           {:.3}", allocs as f64 / N as f64);
}
