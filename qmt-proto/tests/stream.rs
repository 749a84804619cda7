//! The protocol layers together, as a driver uses them: at-codec frames a module's byte stream with
//! qmt-proto's `RecvHook`, qmt-proto types each frame.
//!
//! - Named tests for the framing traps of ARCHITECTURE.md "Where other drivers break", items 3–6.
//! - A property: a random session of typed module lines (payloads holding every byte value), encoded
//!   as the module sends it and cut into random reads, decodes to exactly those typed lines.

#![allow(clippy::unwrap_used)] // test helpers build known-valid values

use at_codec::{Decoder, Frame};
use proptest::prelude::*;
use qmt_proto::codes::{OpenResult, PacketResult, StatCode};
use qmt_proto::params::{ClientIdx, MsgId};
use qmt_proto::recv::PayloadForm;
use qmt_proto::urc::Values;
use qmt_proto::{FinalCode, ModuleLine, Recv, RecvHook, Urc};

/// A decoder like a driver's: lines up to 1 KiB, `+QMTRECV` lengths believed.
type Framer = Decoder<1024, RecvHook>;

/// What a frame typed to, owned so it can be compared after the decoder moved on.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Line(String),
    Overflow(usize),
}

/// Frames `reads` one after another and types every frame; the Debug form of each typed line.
fn decode(reads: &[&[u8]]) -> Vec<Event> {
    let mut framer = Framer::with_hook(RecvHook::auto());
    let mut events = Vec::new();
    for read in reads {
        framer.decode(read, |frame| {
            events.push(match frame {
                Frame::Line(l) => Event::Line(format!("{:?}", ModuleLine::parse(l))),
                Frame::Prompt => Event::Line(format!("{:?}", ModuleLine::Prompt)),
                Frame::Data(d) => Event::Line(format!("data {d:?}")),
                Frame::Overflow { len } => Event::Overflow(len),
            })
        });
    }
    events
}

fn line(l: ModuleLine<'_>) -> Event {
    Event::Line(format!("{l:?}"))
}

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}

#[test]
fn trap_3_payload_with_embedded_crlf_is_delivered_whole() {
    // msg_len_enable=1: 12 payload bytes holding CR LF, a quote, a comma, NUL and `> `.
    let wire = b"\r\n+QMTRECV: 0,1,\"dev/cmd\",12,a\r\nb,\"c\x00> d!\r\n\r\n+QMTSTAT: 0,1\r\n";
    let want = vec![
        line(ModuleLine::Urc(Urc::Recv(Recv {
            client_idx: c(0),
            msgid: MsgId::new(1).unwrap(),
            topic: "dev/cmd",
            payload_len: Some(12),
            payload: b"a\r\nb,\"c\x00> d!",
            form: PayloadForm::Unquoted,
        }))),
        line(ModuleLine::Urc(Urc::Stat {
            client_idx: c(0),
            err_code: StatCode::ClosedByPeer,
        })),
    ];
    assert_eq!(decode(&[wire]), want);
    // Cut right inside the embedded CR LF: the same.
    let cut = wire.iter().position(|&b| b == b'b').unwrap() - 1;
    assert_eq!(decode(&[&wire[..cut], &wire[cut..]]), want);
}

#[test]
fn trap_4_ok_and_prompt_in_one_read_are_both_delivered() {
    assert_eq!(
        decode(&[b"\r\nOK\r\n\r\n> "]),
        vec![
            line(ModuleLine::Final(FinalCode::Ok)),
            line(ModuleLine::Prompt)
        ]
    );
    // And a prompt followed at once by more output (spec §6 variation 7).
    assert_eq!(
        decode(&[b"\r\n> \r\nOK\r\n"]),
        vec![
            line(ModuleLine::Prompt),
            line(ModuleLine::Final(FinalCode::Ok))
        ]
    );
}

#[test]
fn trap_5_first_line_without_leading_crlf_is_not_eaten() {
    assert_eq!(
        decode(&[b"+QMTOPEN: 0,0\r\n\r\nOK\r\n"]),
        vec![
            line(ModuleLine::Urc(Urc::Open {
                client_idx: c(0),
                result: OpenResult::Opened
            })),
            line(ModuleLine::Final(FinalCode::Ok)),
        ]
    );
}

#[test]
fn trap_6_overflow_does_not_clear_the_buffer() {
    // One read: a good line, a line longer than the buffer, a good line.
    let mut wire = b"\r\n+QMTPUBEX: 0,5,0\r\n\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'Z', 3000));
    wire.extend_from_slice(b"\r\n\r\n+QMTSTAT: 0,7\r\n");
    let want = vec![
        line(ModuleLine::Urc(Urc::PubEx {
            prefix: qmt_proto::urc::PubPrefix::PubEx,
            client_idx: c(0),
            msgid: MsgId::new(5).unwrap(),
            result: PacketResult::Acked,
            value: None,
        })),
        Event::Overflow(3000),
        line(ModuleLine::Urc(Urc::Stat {
            client_idx: c(0),
            err_code: StatCode::LinkDown,
        })),
    ];
    assert_eq!(decode(&[&wire]), want);
    let reads: Vec<&[u8]> = wire.chunks(64).collect();
    assert_eq!(decode(&reads), want);
}

// ---------------------------------------------------------------------------------------------

fn leak<T: ?Sized>(b: Box<T>) -> &'static T {
    Box::leak(b)
}

/// Lines a module sends in a session: results, URCs, finals, prompts, and messages whose lengthed
/// payloads hold every byte value.
fn module_line() -> impl Strategy<Value = ModuleLine<'static>> {
    let client = (0..=5i64).prop_map(c);
    let msgid = (0..=65535i64).prop_map(|m| MsgId::new(m).unwrap());
    let topic = "[a-z0-9/+#$]{1,40}".prop_map(|s| leak(s.into_boxed_str()));
    let payload =
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|v| leak(v.into_boxed_slice()));
    let recv = (client.clone(), msgid.clone(), topic, payload, any::<bool>()).prop_map(
        |(client_idx, msgid, topic, payload, quoted)| {
            ModuleLine::Urc(Urc::Recv(Recv {
                client_idx,
                msgid,
                topic,
                payload_len: Some(payload.len()),
                payload,
                form: if quoted {
                    PayloadForm::Quoted
                } else {
                    PayloadForm::Unquoted
                },
            }))
        },
    );
    let granted = prop::collection::vec(0..=2u8, 1..5).prop_map(|v| {
        let text: Vec<String> = v.iter().map(u8::to_string).collect();
        Values::parse(leak(text.join(",").into_bytes().into_boxed_slice())).unwrap()
    });
    prop_oneof![
        4 => recv,
        1 => (client.clone(), -1..=5i64).prop_map(|(client_idx, r)| ModuleLine::Urc(Urc::Open {
            client_idx,
            result: OpenResult::from_code(r)
        })),
        1 => (client.clone(), msgid, granted).prop_map(|(client_idx, msgid, values)| ModuleLine::Urc(Urc::Sub {
            client_idx,
            msgid,
            result: PacketResult::Acked,
            values,
        })),
        1 => (client, 1..=9i64).prop_map(|(client_idx, e)| ModuleLine::Urc(Urc::Stat {
            client_idx,
            err_code: StatCode::from_code(e)
        })),
        2 => Just(ModuleLine::Final(FinalCode::Ok)),
        1 => Just(ModuleLine::Final(FinalCode::CmeErrorText("operation not allowed"))),
        1 => Just(ModuleLine::Prompt),
        1 => Just(ModuleLine::Urc(Urc::Rdy)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn typed_session_survives_any_chunking(
        lines in prop::collection::vec(module_line(), 1..30),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..50),
    ) {
        let mut wire = Vec::new();
        for l in &lines {
            l.encode_framed(&mut wire);
        }
        let want: Vec<Event> = lines.iter().map(|l| line(l.clone())).collect();
        prop_assert_eq!(&decode(&[&wire]), &want);

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut reads = Vec::new();
        let mut at = 0;
        for p in points {
            reads.push(&wire[at..p]);
            at = p;
        }
        reads.push(&wire[at..]);
        prop_assert_eq!(decode(&reads), want);
    }
}
