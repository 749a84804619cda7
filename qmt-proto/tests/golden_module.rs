//! Every module line (`<<`) of the golden transcripts of spec §8.1 and §8.2: parsed to an explicit
//! typed value, re-encoded to the same bytes, and pinned by an insta snapshot.
#![allow(clippy::unwrap_used, missing_docs)]

use qmt_proto::codes::{ConnackCode, DiscResult, OpenResult, PacketResult};
use qmt_proto::kind::{CommandKind as K, Form};
use qmt_proto::line::TestLine;
use qmt_proto::params::{ClientIdx, MsgId, Port};
use qmt_proto::recv::PayloadForm;
use qmt_proto::urc::{ConnValue, PubPrefix, Values};
use qmt_proto::{FinalCode, Info, ModuleLine, Recv, Urc};

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}
fn m(n: i64) -> MsgId {
    MsgId::new(n).unwrap()
}
const OK: ModuleLine<'static> = ModuleLine::Final(FinalCode::Ok);

/// One `<<` line: its bytes (without framing), the command in flight when it arrives (if any), and
/// the expected typed value.
struct Golden {
    line: &'static [u8],
    in_flight: Option<(K, Form)>,
    expected: ModuleLine<'static>,
}

fn g(line: &'static [u8], in_flight: Option<(K, Form)>, expected: ModuleLine<'static>) -> Golden {
    Golden {
        line,
        in_flight,
        expected,
    }
}

fn transcript_8_1() -> Vec<Golden> {
    use Form::*;
    let open_test = Some((K::QmtOpen, Test));
    vec![
        g(b"OK", Some((K::QmtCfg, Write)), OK),
        g(b"OK", Some((K::QmtCfg, Write)), OK),
        g(
            b"+QMTOPEN: (0-5),\"hostname\",(1-65535)",
            open_test,
            ModuleLine::Info(Info::Test(TestLine {
                command: K::QmtOpen,
                params: "(0-5),\"hostname\",(1-65535)",
            })),
        ),
        g(b"OK", open_test, OK),
        g(b"OK", Some((K::QmtOpen, Write)), OK),
        g(
            b"+QMTOPEN: 0,0",
            None,
            ModuleLine::Urc(Urc::Open {
                client_idx: c(0),
                result: OpenResult::Opened,
            }),
        ),
        g(
            b"+QMTOPEN: 0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883",
            Some((K::QmtOpen, Read)),
            ModuleLine::Info(Info::OpenRead {
                client_idx: c(0),
                host: "iot-as-mqtt.cn-shanghai.aliyuncs.com",
                port: Port::new(1883).unwrap(),
            }),
        ),
        g(b"OK", Some((K::QmtOpen, Read)), OK),
        g(
            b"+QMTCONN: (0-5),\"clientid\",\"username\",\"password\"",
            Some((K::QmtConn, Test)),
            ModuleLine::Info(Info::Test(TestLine {
                command: K::QmtConn,
                params: "(0-5),\"clientid\",\"username\",\"password\"",
            })),
        ),
        g(b"OK", Some((K::QmtConn, Test)), OK),
        g(b"OK", Some((K::QmtConn, Write)), OK),
        g(
            b"+QMTCONN: 0,0,0",
            None,
            ModuleLine::Urc(Urc::Conn {
                client_idx: c(0),
                result: PacketResult::Acked,
                value: Some(ConnValue::Connack(ConnackCode::Accepted)),
            }),
        ),
        g(
            b"+QMTSUB: (0-5),<msgid>,list of [\"topic\",qos]",
            Some((K::QmtSub, Test)),
            ModuleLine::Info(Info::Test(TestLine {
                command: K::QmtSub,
                params: "(0-5),<msgid>,list of [\"topic\",qos]",
            })),
        ),
        g(b"OK", Some((K::QmtSub, Test)), OK),
        g(b"OK", Some((K::QmtSub, Write)), OK),
        g(
            b"+QMTSUB: 0,1,0,2",
            None,
            ModuleLine::Urc(Urc::Sub {
                client_idx: c(0),
                msgid: m(1),
                result: PacketResult::Acked,
                values: Values::parse(b"2").unwrap(),
            }),
        ),
        g(b"OK", Some((K::QmtSub, Write)), OK),
        g(
            b"+QMTSUB: 0,1,0,0",
            None,
            ModuleLine::Urc(Urc::Sub {
                client_idx: c(0),
                msgid: m(1),
                result: PacketResult::Acked,
                values: Values::parse(b"0").unwrap(),
            }),
        ),
        g(
            b"+QMTRECV: 0,0,\"topic/example\",36,\"This is the payload related to topic\"",
            None,
            ModuleLine::Urc(Urc::Recv(Recv {
                client_idx: c(0),
                msgid: m(0),
                topic: "topic/example",
                payload_len: Some(36),
                payload: b"This is the payload related to topic",
                form: PayloadForm::Quoted,
            })),
        ),
        g(b"OK", Some((K::QmtUns, Write)), OK),
        g(
            b"+QMTUNS: 0,2,0",
            None,
            ModuleLine::Urc(Urc::Uns {
                client_idx: c(0),
                msgid: m(2),
                result: PacketResult::Acked,
                values: Values::EMPTY,
            }),
        ),
        g(
            b"+QMTPUBEX: (0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
            Some((K::QmtPubEx, Test)),
            ModuleLine::Info(Info::Test(TestLine {
                command: K::QmtPubEx,
                params: "(0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
            })),
        ),
        g(b"OK", Some((K::QmtPubEx, Test)), OK),
        g(b"> ", Some((K::QmtPubEx, Write)), ModuleLine::Prompt),
        g(b"OK", Some((K::QmtPubEx, Write)), OK),
        g(
            b"+QMTPUBEX: 0,0,0",
            None,
            ModuleLine::Urc(Urc::PubEx {
                prefix: PubPrefix::PubEx,
                client_idx: c(0),
                msgid: m(0),
                result: PacketResult::Acked,
                value: None,
            }),
        ),
        g(
            b"+QMTRECV: 0,0,\"topic/pub\",30,This is test data, hello MQTT.",
            None,
            ModuleLine::Urc(Urc::Recv(Recv {
                client_idx: c(0),
                msgid: m(0),
                topic: "topic/pub",
                payload_len: Some(30),
                payload: b"This is test data, hello MQTT.",
                form: PayloadForm::Unquoted,
            })),
        ),
        g(b"OK", Some((K::QmtDisc, Write)), OK),
        g(
            b"+QMTDISC: 0,0",
            None,
            ModuleLine::Urc(Urc::Disc {
                client_idx: c(0),
                result: DiscResult::Disconnected,
            }),
        ),
    ]
}

fn transcript_8_2() -> Vec<Golden> {
    use Form::*;
    let topic = "$aws/things/M26_0206/shadow/update/accepted";
    let mut v = vec![
        g(b"OK", Some((K::QmtCfg, Write)), OK),
        g(b"OK", Some((K::QmtCfg, Write)), OK),
    ];
    for (size, sum, line) in [
        (1758, 0x384a, &b"+QFUPL: 1758,384a"[..]),
        (1220, 0x2d53, &b"+QFUPL: 1220,2d53"[..]),
        (1679, 0x335f, &b"+QFUPL: 1679,335f"[..]),
    ] {
        v.push(g(b"CONNECT", Some((K::QfUpl, Write)), ModuleLine::Connect));
        v.push(g(
            line,
            Some((K::QfUpl, Write)),
            ModuleLine::Info(Info::QfUpl {
                upload_size: size,
                checksum: sum,
            }),
        ));
        v.push(g(b"OK", Some((K::QfUpl, Write)), OK));
    }
    for _ in 0..7 {
        v.push(g(b"OK", Some((K::QsslCfg, Write)), OK));
    }
    v.extend([
        g(b"OK", Some((K::QmtOpen, Write)), OK),
        g(
            b"+QMTOPEN: 0,0",
            None,
            ModuleLine::Urc(Urc::Open { client_idx: c(0), result: OpenResult::Opened }),
        ),
        g(b"OK", Some((K::QmtConn, Write)), OK),
        g(
            b"+QMTCONN: 0,0,0",
            None,
            ModuleLine::Urc(Urc::Conn {
                client_idx: c(0),
                result: PacketResult::Acked,
                value: Some(ConnValue::Connack(ConnackCode::Accepted)),
            }),
        ),
        g(b"OK", Some((K::QmtSub, Write)), OK),
        g(
            b"+QMTSUB: 0,1,0,1",
            None,
            ModuleLine::Urc(Urc::Sub {
                client_idx: c(0),
                msgid: m(1),
                result: PacketResult::Acked,
                values: Values::parse(b"1").unwrap(),
            }),
        ),
        g(b"> ", Some((K::QmtPubEx, Write)), ModuleLine::Prompt),
        g(b"OK", Some((K::QmtPubEx, Write)), OK),
        g(
            b"+QMTPUBEX: 0,1,0",
            None,
            ModuleLine::Urc(Urc::PubEx {
                prefix: PubPrefix::PubEx,
                client_idx: c(0),
                msgid: m(1),
                result: PacketResult::Acked,
                value: None,
            }),
        ),
        g(
            b"+QMTRECV: 0,1,\"$aws/things/M26_0206/shadow/update/accepted\",32,\"This is publish data from client\"",
            None,
            ModuleLine::Urc(Urc::Recv(Recv {
                client_idx: c(0),
                msgid: m(1),
                topic,
                payload_len: Some(32),
                payload: b"This is publish data from client",
                form: PayloadForm::Quoted,
            })),
        ),
        g(b"OK", Some((K::QmtDisc, Write)), OK),
        g(
            b"+QMTDISC: 0,0",
            None,
            ModuleLine::Urc(Urc::Disc { client_idx: c(0), result: DiscResult::Disconnected }),
        ),
    ]);
    v
}

/// Parses, compares with the expected value, re-encodes, checks the command-aware classification,
/// and returns the snapshot text.
fn check(transcript: &[Golden]) -> String {
    let mut snap = String::new();
    for (n, gl) in transcript.iter().enumerate() {
        let parsed = ModuleLine::parse(gl.line);
        assert_eq!(parsed, gl.expected, "line {n}: {}", gl.line.escape_ascii());
        let mut out = Vec::new();
        parsed.encode(&mut out);
        assert_eq!(out, gl.line, "line {n} re-encodes");
        // Framed: what the module put on the wire (spec §8 last paragraph).
        let mut framed = Vec::new();
        parsed.encode_framed(&mut framed);
        let mut want = b"\r\n".to_vec();
        want.extend_from_slice(gl.line);
        if parsed != ModuleLine::Prompt {
            want.extend_from_slice(b"\r\n");
        } else {
            assert_eq!(framed, b"\r\n> ");
        }
        assert_eq!(framed, want);
        // Information lines are information for the command in flight; results and final codes
        // are not.
        if let Some((kind, form)) = gl.in_flight {
            let classified = Info::parse_for(kind, form, gl.line);
            match &gl.expected {
                ModuleLine::Info(i) => assert_eq!(classified.as_ref(), Some(i), "line {n}"),
                _ => assert_eq!(classified, None, "line {n}"),
            }
        }
        snap.push_str(&format!("<< {}\n   {:?}\n", gl.line.escape_ascii(), parsed));
    }
    snap
}

#[test]
fn golden_8_1_without_tls() {
    let t = transcript_8_1();
    assert_eq!(t.len(), 29);
    let snap = check(&t);
    insta::assert_snapshot!("golden_8_1", snap);
}

#[test]
fn golden_8_2_with_tls() {
    let t = transcript_8_2();
    assert_eq!(t.len(), 30);
    let snap = check(&t);
    insta::assert_snapshot!("golden_8_2", snap);
}

/// The results of two-phase commands in the transcripts are never information for the command
/// that is in flight when they arrive (ARCHITECTURE.md trap 2 at the line level).
#[test]
fn golden_results_are_not_info_for_the_next_command() {
    assert_eq!(
        Info::parse_for(K::QmtOpen, Form::Read, b"+QMTOPEN: 0,0"),
        None
    );
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Write, b"+QMTCONN: 0,0,0"),
        None
    );
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+QMTCONN: 0,0,0"),
        None
    );
    assert_eq!(
        Info::parse_for(K::QmtSub, Form::Write, b"+QMTSUB: 0,1,0,2"),
        None
    );
    assert_eq!(
        Info::parse_for(
            K::QmtRecv,
            Form::Write,
            b"+QMTRECV: 0,0,\"topic/pub\",30,This is test data, hello MQTT."
        )
        .map(|i| matches!(i, Info::Message(_))),
        Some(true)
    );
}

/// The `+QFUPL` checksums of §8.2 are what the module computed; a driver compares them with
/// `qfupl_checksum`. Here: a checksum printed with 4 lowercase hex digits survives the round trip.
#[test]
fn golden_qfupl_checksum_field() {
    let ModuleLine::Info(Info::QfUpl {
        upload_size,
        checksum,
    }) = ModuleLine::parse(b"+QFUPL: 1679,335f")
    else {
        panic!("not QFUPL")
    };
    assert_eq!((upload_size, checksum), (1679, 0x335f));
    assert_eq!(
        ModuleLine::parse(b"+QFUPL: 10,000a"),
        ModuleLine::Info(Info::QfUpl {
            upload_size: 10,
            checksum: 0x000a
        })
    );
    let mut out = Vec::new();
    ModuleLine::Info(Info::QfUpl {
        upload_size: 10,
        checksum: 0xa,
    })
    .encode(&mut out);
    assert_eq!(out, b"+QFUPL: 10,000a");
}
