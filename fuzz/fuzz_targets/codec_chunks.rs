//! Chunking invariance of the framer (ARCHITECTURE.md "Chunking invariance"): arbitrary module output,
//! fed in an arbitrary chunking, gives the same frames as fed whole — then `finish()` — with the
//! `+QMTRECV` hook in Auto (`LenMode::On`) and in `Split` mode (counted payload paths), without a
//! hook, and with small buffers so the overflow and compaction paths are hit.
//!
//! Input layout: byte 0 = number `k` of chunk-size bytes (mod 32), bytes 1..=k = chunk sizes used
//! cyclically (a 0 feeds an empty chunk; all zeros means byte-wise), the rest = the stream.
#![no_main]

use at_codec::{Decoder, Frame, NoHook, PayloadHook};
use libfuzzer_sys::fuzz_target;
use qmt_proto::RecvHook;
use qmt_proto::recv::LenMode;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    Prompt,
    Data(Vec<u8>),
    Overflow(usize),
}

impl From<Frame<'_>> for Owned {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Line(l) => Owned::Line(l.to_vec()),
            Frame::Prompt => Owned::Prompt,
            Frame::Data(d) => Owned::Data(d.to_vec()),
            Frame::Overflow { len } => Owned::Overflow(len),
        }
    }
}

/// Feeds `stream` in the given chunk sizes with `feed`/`next_frame` (draining fully after each
/// feed, as documented), then `finish()`.
fn run<const N: usize, H: PayloadHook + Clone>(
    hook: &H,
    stream: &[u8],
    sizes: &[u8],
) -> Vec<Owned> {
    let mut dec = Decoder::<N, H>::with_hook(hook.clone());
    let mut out = Vec::new();
    let mut rest = stream;
    let all_zero = sizes.iter().all(|&s| s == 0);
    let mut i = 0;
    while !rest.is_empty() {
        let want = if all_zero {
            1
        } else {
            let s = usize::from(sizes[i % sizes.len()]);
            i += 1;
            s
        };
        let mut chunk = &rest[..want.min(rest.len())];
        rest = &rest[chunk.len()..];
        loop {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            while let Some(f) = dec.next_frame() {
                out.push(Owned::from(f));
            }
            if chunk.is_empty() {
                break;
            }
            assert!(
                n > 0 || dec.buffered() < N,
                "feed took nothing after a full drain"
            );
        }
    }
    if let Some(f) = dec.finish() {
        out.push(Owned::from(f));
    }
    assert_eq!(dec.buffered(), 0, "finish leaves the decoder empty");
    assert_eq!(dec.finish(), None);
    out
}

/// The whole stream through `decode`, then `finish()`.
fn whole<const N: usize, H: PayloadHook + Clone>(hook: &H, stream: &[u8]) -> Vec<Owned> {
    let mut dec = Decoder::<N, H>::with_hook(hook.clone());
    let mut out = Vec::new();
    dec.decode(stream, |f| out.push(Owned::from(f)));
    if let Some(f) = dec.finish() {
        out.push(Owned::from(f));
    }
    out
}

/// Frames never exceed the buffer, and an over-long line is never delivered whole.
fn check_sizes<const N: usize>(frames: &[Owned]) {
    for f in frames {
        match f {
            Owned::Line(l) => assert!(l.len() <= N),
            Owned::Data(d) => assert!(d.len() <= N),
            Owned::Prompt | Owned::Overflow(_) => {}
        }
    }
}

fn check<const N: usize, H: PayloadHook + Clone>(
    name: &str,
    hook: &H,
    stream: &[u8],
    sizes: &[u8],
) {
    let a = whole::<N, H>(hook, stream);
    let b = run::<N, H>(hook, stream, sizes);
    assert_eq!(
        a, b,
        "{name} (N = {N}): chunked frames differ from whole, sizes {sizes:?}"
    );
    check_sizes::<N>(&a);
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(k % 32).min(rest.len());
    let (sizes, stream) = rest.split_at(k);
    let auto = RecvHook::auto();
    let split = RecvHook::all(LenMode::Split);
    check::<64, _>("auto", &auto, stream, sizes);
    check::<64, _>("split", &split, stream, sizes);
    check::<16, _>("split", &split, stream, sizes);
    check::<16, _>("none", &NoHook, stream, sizes);
    check::<4096, _>("auto", &auto, stream, sizes);
    check::<4096, _>("split", &split, stream, sizes);
    // A small max_len, so lengths both within and beyond it occur with short inputs.
    check::<64, _>("split max 40", &split.with_max_len(40), stream, sizes);
});
