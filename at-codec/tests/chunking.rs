//! Property: for random module output built from typed items (lines, prompts, counted payloads
//! holding every byte value, following data runs, over-long lines) and random chunkings, the frames
//! equal the frames of feeding the stream whole, and both equal the frames the items stand for.

use at_codec::{Counted, Decoder, Early, PayloadHook};
mod support;
use proptest::prelude::*;
use support::{Owned, chunk};

/// Buffer size of the decoder under test: small, so overflows and compaction happen often.
const N: usize = 64;

/// `#<n>,` announces n inline bytes; `$<n>` alone announces a following run of n bytes. Answers
/// `#<n>,` early too.
struct TestHook;

/// [`TestHook`] without its early answer: the frames must be the same as with it.
struct LateHook;

impl PayloadHook for LateHook {
    fn counted(&self, head: &[u8]) -> Counted {
        TestHook.counted(head)
    }
}

impl PayloadHook for TestHook {
    fn counted(&self, head: &[u8]) -> Counted {
        let (kind, rest) = match head.split_first() {
            Some((k @ (b'#' | b'$'), rest)) => (*k, rest),
            _ => return Counted::None,
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(n) = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return Counted::None;
        };
        match (kind, rest.get(digits)) {
            (b'#', Some(b',')) => Counted::Inline(1 + digits + 1 + n),
            (b'$', None) => Counted::Following(n),
            _ => Counted::None,
        }
    }

    fn early(&self, start: &[u8]) -> Early {
        let Some(rest) = start.strip_prefix(b"#") else {
            return Early::Unknown;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        match rest.get(digits) {
            None => Early::More,
            Some(b',') => match std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            {
                Some(n) => Early::Inline(1 + digits + 1 + n),
                None => Early::Unknown,
            },
            Some(_) => Early::Unknown,
        }
    }
}

/// One piece of module output, as a typed value.
#[derive(Clone, Debug)]
enum Item {
    /// An ordinary line (printable, no CR/LF, not a prompt, not a hook head).
    Line(Vec<u8>),
    /// Empty lines.
    Blank,
    /// `> `, optionally with output right after it on the same "line".
    Prompt(Option<Vec<u8>>),
    /// A counted inline payload of any bytes.
    Counted(Vec<u8>),
    /// A header line and a following raw data run of any bytes.
    Split(Vec<u8>),
}

fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0x20u8..0x7f, len).prop_filter("not a hook head or prompt", |t| {
        !matches!(t.first(), Some(b'#' | b'$' | b'>')) && t.last() != Some(&b' ')
    })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => text(1..90).prop_map(Item::Line),
        1 => Just(Item::Blank),
        2 => prop::option::of(text(1..20)).prop_map(Item::Prompt),
        3 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Item::Counted),
        2 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Item::Split),
    ]
}

/// The bytes a module sends for `items`, and the frames they stand for.
fn render(items: &[Item], bare_first: bool) -> (Vec<u8>, Vec<Owned>) {
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    let line = |body: Vec<u8>, frames: &mut Vec<Owned>| {
        frames.push(if body.len() + 2 > N {
            Owned::Overflow(body.len())
        } else {
            Owned::Line(body)
        });
    };
    for item in items {
        match item {
            Item::Line(t) => {
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(t);
                bytes.extend_from_slice(b"\r\n");
                line(t.clone(), &mut frames);
            }
            Item::Blank => bytes.extend_from_slice(b"\r\n\r\n"),
            Item::Prompt(after) => {
                bytes.extend_from_slice(b"\r\n> ");
                frames.push(Owned::Prompt);
                if let Some(t) = after {
                    bytes.extend_from_slice(t);
                    bytes.extend_from_slice(b"\r\n");
                    line(t.clone(), &mut frames);
                }
            }
            Item::Counted(p) => {
                let mut body = format!("#{},", p.len()).into_bytes();
                body.extend_from_slice(p);
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(&body);
                bytes.extend_from_slice(b"\r\n");
                line(body, &mut frames);
            }
            Item::Split(p) => {
                let head = format!("${}", p.len()).into_bytes();
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(&head);
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(p);
                bytes.extend_from_slice(b"\r\n");
                frames.push(Owned::Line(head));
                frames.push(if p.len() > N {
                    Owned::Overflow(p.len())
                } else {
                    Owned::Data(p.clone())
                });
            }
        }
    }
    if bare_first && bytes.starts_with(b"\r\n") {
        bytes.drain(..2);
    }
    (bytes, frames)
}

fn decode(chunks: &[&[u8]]) -> Vec<Owned> {
    let frames = decode_with(TestHook, chunks);
    assert_eq!(
        frames,
        decode_with(LateHook, chunks),
        "early answers change the frames"
    );
    frames
}

fn decode_with<H: PayloadHook>(hook: H, chunks: &[&[u8]]) -> Vec<Owned> {
    let mut dec = Decoder::<N, H>::with_hook(hook);
    let mut out = Vec::new();
    for c in chunks {
        dec.decode(c, |f| out.push(f.into()));
    }
    if let Some(f) = dec.finish() {
        out.push(f.into());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frames_do_not_depend_on_chunking(
        items in prop::collection::vec(item(), 0..25),
        bare_first in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let (bytes, expected) = render(&items, bare_first);
        let whole = decode(&[&bytes]);
        prop_assert_eq!(&whole, &expected);
        let chunked = decode(&chunk(&bytes, &cuts));
        prop_assert_eq!(&chunked, &expected);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(decode(&bytewise), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_is_invariant(
        bytes in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'>'), Just(b' '), Just(b'#'), Just(b'$'), Just(b','), b'0'..=b'9', any::<u8>()], 0..400),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let whole = decode(&[&bytes]);
        prop_assert_eq!(decode(&chunk(&bytes, &cuts)), whole);
    }
}
