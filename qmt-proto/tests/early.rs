//! `RecvHook`'s early answer (at-codec's `PayloadHook::early`): it keeps the promise of the trait
//! (an `Inline(m)` from a prefix is what `counted` answers for every head that extends it), and
//! framing with it gives exactly the frames of framing without it, in any chunking.
#![allow(clippy::unwrap_used, missing_docs)]

use at_codec::{Counted, Decoder, Early, PayloadHook};
#[path = "../../at-codec/tests/support/mod.rs"]
mod support;
use proptest::prelude::*;
use qmt_proto::RecvHook;
use qmt_proto::params::ClientIdx;
use qmt_proto::recv::LenMode;
use support::{Owned, chunk};

/// A hook without the early answer: how the framer worked before it.
#[derive(Clone)]
struct Late(RecvHook);

impl PayloadHook for Late {
    fn counted(&self, head: &[u8]) -> Counted {
        self.0.counted(head)
    }
}

/// Frames of `chunks` with `feed`/`next_frame`; when `switch` is given, the hook is replaced by it
/// after that many chunks (a `hook_mut` between reads, as a driver does after `AT+QMTCFG`).
fn frames<const N: usize, H: PayloadHook>(
    hook: H,
    chunks: &[&[u8]],
    switch: Option<(usize, H)>,
) -> Vec<Owned> {
    let mut dec = Decoder::<N, H>::with_hook(hook);
    let mut switch = switch;
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        if switch.as_ref().is_some_and(|(at, _)| *at == i) {
            if let Some((_, h)) = switch.take() {
                *dec.hook_mut() = h;
            }
        }
        dec.decode(c, |f| out.push(f.into()));
    }
    if let Some(f) = dec.finish() {
        out.push(f.into());
    }
    out
}

fn mode() -> impl Strategy<Value = LenMode> {
    prop_oneof![Just(LenMode::On), Just(LenMode::Off), Just(LenMode::Split)]
}

fn hook() -> impl Strategy<Value = RecvHook> {
    (
        prop::collection::vec(mode(), 6),
        prop_oneof![Just(RecvHook::DEFAULT_MAX_LEN), 0..60usize],
    )
        .prop_map(|(modes, max)| {
            let mut h = RecvHook::auto().with_max_len(max);
            for (i, m) in modes.into_iter().enumerate() {
                h.set(ClientIdx::new(i as i64).unwrap(), m);
            }
            h
        })
}

/// Near-valid `+QMTRECV` lines and their neighbours: every header field drawn from valid and
/// invalid pieces, payloads holding CR LF, quotes and any byte.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    // Mostly valid pieces, so that whole valid headers are common.
    let num = prop_oneof![
        8 => (0..8u32).prop_map(|n| n.to_string()),
        1 => Just("65535".to_owned()),
        1 => Just("00".to_owned()),
        1 => Just("01".to_owned()),
        1 => Just("99999999999999999999".to_owned()),
        1 => Just(String::new()),
    ];
    let sep = prop_oneof![
        8 => prop::sample::select(vec![",", ", ", ",  "]),
        1 => prop::sample::select(vec!["", ";", ",\r\n"]),
    ];
    let prefix = prop_oneof![
        8 => prop::sample::select(vec!["+QMTRECV:", "+QMTRECV: ", "+qmtrecv:  "]),
        1 => prop::sample::select(vec!["+QMTRECV", "+QMTSTAT: ", "OK", "+"]),
    ];
    let topic = prop::collection::vec(
        prop_oneof![
            20 => prop::sample::select(b"ab/ #,1".to_vec()),
            1 => prop::sample::select(b"\r\n\"".to_vec()),
        ],
        0..12,
    );
    let payload = prop::collection::vec(
        prop_oneof![prop::sample::select(b"\r\n\",> a".to_vec()), any::<u8>()],
        0..70,
    );
    (
        prefix,
        num.clone(),
        sep.clone(),
        num,
        sep.clone(),
        topic,
        prop_oneof![
            6 => Just("\","),
            1 => prop::sample::select(vec!["\"", "\",\r\n", ","]),
        ],
        payload,
        any::<bool>(),
        0..4usize,
    )
        .prop_map(
            |(prefix, idx, s1, msgid, s2, topic, close, payload, quoted, len_kind)| {
                let mut l = Vec::new();
                l.extend_from_slice(prefix.as_bytes());
                l.extend_from_slice(idx.as_bytes());
                l.extend_from_slice(s1.as_bytes());
                l.extend_from_slice(msgid.as_bytes());
                l.extend_from_slice(s2.as_bytes());
                l.push(b'"');
                l.extend_from_slice(&topic);
                l.extend_from_slice(close.as_bytes());
                let len = match len_kind {
                    0 => payload.len().to_string(),
                    1 => (payload.len() + 3).to_string(),
                    2 => format!("0{}", payload.len()),
                    _ => String::new(),
                };
                l.extend_from_slice(len.as_bytes());
                l.push(b',');
                if quoted {
                    l.push(b'"');
                }
                l.extend_from_slice(&payload);
                if quoted {
                    l.push(b'"');
                }
                l.extend_from_slice(b"\r\n");
                l
            },
        )
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => piece(),
            1 => prop::collection::vec(any::<u8>(), 0..30),
            1 => Just(b"\r\n> ".to_vec()),
            1 => Just(b"\r\n\r\n".to_vec()),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// The promise of `PayloadHook::early`: an `Inline(m)` answer from the first `k` bytes is what
    /// `counted` answers for the head (up to the first CR LF) of any continuation.
    #[test]
    fn early_inline_is_what_counted_answers(hook in hook(), line in piece(),
                                            k in any::<prop::sample::Index>(),
                                            tail in stream()) {
        let k = k.index(line.len() + 1);
        for bytes in [line.clone(), [&line[..k], &tail[..]].concat()] {
            let start = &bytes[..k.min(bytes.len())];
            if let Early::Inline(m) = hook.early(start) {
                let head_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap_or(bytes.len());
                prop_assert_eq!(hook.counted(&bytes[..head_end]), Counted::Inline(m));
            }
        }
    }

    /// Framing with the early answer equals framing without it, in any chunking, with small and
    /// driver-sized buffers, and when the hook changes between reads.
    #[test]
    fn early_answers_do_not_change_the_frames(hook in hook(), other in hook(), bytes in stream(),
                                              cuts in prop::collection::vec(any::<usize>(), 0..30),
                                              at in 0..30usize, cut in any::<prop::sample::Index>()) {
        // The input may end anywhere, even inside a counted body (then `finish` delivers it).
        let bytes = &bytes[..bytes.len() - cut.index(bytes.len() / 2 + 1)];
        let chunks = chunk(bytes, &cuts);
        prop_assert_eq!(frames::<64, _>(hook, &chunks, None),
                        frames::<64, _>(Late(hook), &chunks, None));
        prop_assert_eq!(frames::<4096, _>(hook, &chunks, None),
                        frames::<4096, _>(Late(hook), &chunks, None));
        prop_assert_eq!(frames::<64, _>(hook, &chunks, Some((at, other))),
                        frames::<64, _>(Late(hook), &chunks, Some((at, Late(other)))));
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(frames::<64, _>(hook, &bytewise, Some((at * 7, other))),
                        frames::<64, _>(Late(hook), &bytewise, Some((at * 7, Late(other)))));
    }
}
