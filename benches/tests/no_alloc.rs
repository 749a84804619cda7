//! The borrowed typed path allocates nothing over the whole ~4 MiB benchmark stream: framing with
//! at-codec and typing every line with `ModuleLine::parse` makes zero heap allocations per URC
//! (ARCHITECTURE.md "Performance targets"), counted by a global allocator.

// A `GlobalAlloc` can only be implemented with `unsafe`; it forwards to the system allocator and
// counts. Test binaries like this one are the only place the workspace allows it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use qmt_benches::contenders::{Contender, ReadModel};
use qmt_benches::{BENCH_LEN, BENCH_SEED, generate};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on (`None` when off). Const-initialised,
    /// so touching it does not allocate.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            if let Some(n) = c.get() {
                c.set(Some(n + 1));
            }
        });
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

#[test]
fn typed_path_allocates_nothing_per_urc_over_the_bench_stream() {
    let stream = generate(BENCH_SEED, BENCH_LEN);
    for model in [ReadModel::Chunks(64), ReadModel::Chunks(4096)] {
        // `typed` boxes its framer once per run (4 KiB buffer): that one allocation is the
        // driver's setup, not per URC.
        let mut counts = None;
        let n = allocations(|| counts = Some(Contender::Typed.run(&stream.bytes, model)));
        let counts = counts.unwrap();
        assert_eq!(counts.found, stream.truth, "{model:?}");
        assert_eq!(n, 1, "{model:?}: allocations besides the framer's box");
        let urcs = counts.found.recv + counts.found.pubex + counts.found.sub + counts.found.stat;
        assert!(urcs > 10_000, "{urcs}");
        println!("{model:?}: {} allocations over {urcs} URCs", n - 1);
    }
}

#[test]
fn the_counter_does_count() {
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 1);
}
