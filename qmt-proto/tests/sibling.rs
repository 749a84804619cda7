//! The forms of sibling modules (`qmt_proto::sibling`): the three `AT+QMTPUB` forms told apart by
//! their parameters, their exact bytes both ways under proptest, their data phases and the checks
//! of a Ctrl-Z payload; the `+QMTPUB:` result and test lines; the spec §6 variations 1 and 4 that
//! real logs of these modules show.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use qmt_proto::codes::PacketResult;
use qmt_proto::error::{ParamError, ParseError};
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::line::TestLine;
use qmt_proto::params::{ClientIdx, InlineMessage, MsgId, MsgLen, Qos, Topic};
use qmt_proto::recv::PayloadForm;
use qmt_proto::sibling::{Bc26Pub, CTRL_Z, CTRL_Z_MAX_LEN, ESC, Ec2xPub, check_ctrl_z_payload};
use qmt_proto::urc::PubPrefix;
use qmt_proto::{Command, DataPhase, Info, ModuleLine, Urc};

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}
fn m(n: i64) -> MsgId {
    MsgId::new(n).unwrap()
}
fn t(s: &str) -> Topic {
    Topic::new(s).unwrap()
}

/// `msgid` and `qos` as a publish allows them: 0 with QoS 0, 1–65535 with QoS 1 or 2.
fn msgid_qos() -> impl Strategy<Value = (MsgId, Qos)> {
    prop_oneof![
        Just((m(0), Qos::AtMostOnce)),
        (1..=65535i64, 1..=2i64).prop_map(|(id, q)| (m(id), Qos::new(q).unwrap())),
    ]
}

/// Text a quoted AT string carries: no `"`, CR, LF; commas, spaces and UTF-8 included.
fn quoted_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\"\r\n]{{0,{max}}}")).unwrap()
}

/// The three forms, with every parameter random.
fn qmtpub() -> impl Strategy<Value = Command> {
    (
        0..=5i64,
        msgid_qos(),
        any::<bool>(),
        quoted_text(60).prop_filter_map("topic", |s| Topic::new(s).ok()),
        0..3u8,
        1..=4096i64,
        quoted_text(80).prop_filter_map("msg", |s| InlineMessage::new(s).ok()),
    )
        .prop_map(
            |(i, (msgid, qos), retain, topic, form, len, msg)| match form {
                0 => Command::Ec2xPub(
                    Ec2xPub::until_ctrl_z(c(i), msgid, qos, retain, topic).unwrap(),
                ),
                1 => Command::Ec2xPub(
                    Ec2xPub::counted(c(i), msgid, qos, retain, topic, MsgLen::new(len).unwrap())
                        .unwrap(),
                ),
                _ => Command::Bc26Pub(Bc26Pub::new(c(i), msgid, qos, retain, topic, msg).unwrap()),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `encode` and `parse` are inverse for each form, and the parse lands on the same form.
    #[test]
    fn every_qmtpub_form_round_trips(cmd in qmtpub()) {
        let bytes = cmd.to_bytes();
        prop_assert!(bytes.starts_with(b"AT+QMTPUB="));
        prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\r' || b == b'\n').count(), 1);
        let parsed = Command::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &cmd);
        prop_assert_eq!(Command::parse(&bytes[..bytes.len() - 1]), Ok(cmd.clone()));
        prop_assert_eq!(cmd.kind(), (CommandKind::QmtPub, Form::Write));
        prop_assert_eq!(cmd.name().to_string(), "AT+QMTPUB");
        let shown = cmd.to_string();
        prop_assert_eq!(shown.as_bytes(), &bytes[..bytes.len() - 1]);
        let phase = cmd.data_phase();
        match &cmd {
            Command::Ec2xPub(p) => match p.msglen() {
                Some(n) => prop_assert_eq!(phase, Some(DataPhase::Prompt { len: usize::from(n.get()) })),
                None => prop_assert_eq!(phase, Some(DataPhase::PromptCtrlZ)),
            },
            Command::Bc26Pub(_) => prop_assert_eq!(phase, None),
            other => prop_assert!(false, "not a publish: {:?}", other),
        }
    }

    /// A Ctrl-Z payload is refused exactly when it holds 0x1A or 0x1B (naming the first) or is
    /// too long; CR, LF, quotes and NUL are data.
    #[test]
    fn ctrl_z_payloads_are_refused_only_for_their_two_bytes(
        payload in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(vec![CTRL_Z, ESC, b'\r', b'\n', b'"', 0])],
            0..64,
        )
    ) {
        let first = payload.iter().position(|&b| b == CTRL_Z || b == ESC);
        let check = DataPhase::PromptCtrlZ.check_data(&payload);
        prop_assert_eq!(check.clone(), check_ctrl_z_payload(&payload));
        match first {
            Some(at) => prop_assert_eq!(
                check,
                Err(ParamError::ControlByte { param: "payload", byte: payload[at], at })
            ),
            None => prop_assert_eq!(check, Ok(())),
        }
    }

    /// Spec §6 variation 1: without a length, a quoted payload runs to the last `"` of the line,
    /// whatever quotes it holds.
    #[test]
    fn variation_1_quoted_payload_runs_to_the_last_quote(
        idx in 0..=5i64,
        msgid in 0..=65535i64,
        topic in "[a-z/]{1,12}",
        payload in "[{}\":,a-z0-9 ]{0,40}",
    ) {
        let line = format!("+QMTRECV: {idx},{msgid},\"{topic}\",\"{payload}\"");
        // A payload that reads as `<len>,…` is the lengthed form instead (rule 1).
        prop_assume!(!payload.starts_with(|ch: char| ch.is_ascii_digit()));
        let ModuleLine::Urc(Urc::Recv(r)) = ModuleLine::parse(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("not a message: {line}")));
        };
        prop_assert_eq!(r.payload, payload.as_bytes());
        prop_assert_eq!(r.topic, topic.as_str());
        prop_assert_eq!(r.form, PayloadForm::Quoted);
        prop_assert_eq!(r.msgid.get(), u16::try_from(msgid).unwrap());
        let mut out = Vec::new();
        r.encode(&mut out);
        prop_assert_eq!(out, line.as_bytes());
    }

    /// Spec §6 variation 4: `+QMTPUB:` and `+QMTPUBEX:` carry the same result; each prefix is
    /// kept through a round trip.
    #[test]
    fn variation_4_both_result_prefixes_round_trip(
        idx in 0..=5i64, msgid in 0..=65535i64, result in -1..=3i64,
        value in prop::option::of(0..=10i64), ex in any::<bool>(),
    ) {
        let prefix = if ex { "+QMTPUBEX:" } else { "+QMTPUB:" };
        let mut line = format!("{prefix} {idx},{msgid},{result}");
        if let Some(v) = value {
            line.push_str(&format!(",{v}"));
        }
        let parsed = ModuleLine::parse(line.as_bytes());
        prop_assert_eq!(
            &parsed,
            &ModuleLine::Urc(Urc::PubEx {
                prefix: if ex { PubPrefix::PubEx } else { PubPrefix::Pub },
                client_idx: c(idx),
                msgid: m(msgid),
                result: PacketResult::from_code(result),
                value,
            })
        );
        let mut out = Vec::new();
        parsed.encode(&mut out);
        prop_assert_eq!(out, line.as_bytes());
    }
}

#[test]
fn the_three_forms_are_told_apart_by_their_parameters() {
    let p = |s: &str| Command::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        p(r#"AT+QMTPUB=0,0,0,0,"topic/pub""#),
        Command::Ec2xPub(
            Ec2xPub::until_ctrl_z(c(0), m(0), Qos::AtMostOnce, false, t("topic/pub")).unwrap()
        )
    );
    assert_eq!(
        p(r#"AT+QMTPUB=1,7,1,1,"topic/pub",30"#),
        Command::Ec2xPub(
            Ec2xPub::counted(
                c(1),
                m(7),
                Qos::AtLeastOnce,
                true,
                t("topic/pub"),
                MsgLen::new(30).unwrap()
            )
            .unwrap()
        )
    );
    assert_eq!(
        p(r#"AT+QMTPUB=0,3,2,0,"topic/pub","hello, MQTT""#),
        Command::Bc26Pub(
            Bc26Pub::new(
                c(0),
                m(3),
                Qos::ExactlyOnce,
                false,
                t("topic/pub"),
                InlineMessage::new("hello, MQTT").unwrap()
            )
            .unwrap()
        )
    );
    // A quoted number is a message, an unquoted one a length.
    assert!(matches!(
        p(r#"AT+QMTPUB=0,0,0,0,"t","30""#),
        Command::Bc26Pub(b) if b.message().as_str() == "30"
    ));
    // Typed by people: lower case, spaces after commas (spec §6 variation 5).
    assert_eq!(
        p(r#"at+qmtpub=0, 0, 0, 0, "T", 5"#).to_bytes(),
        b"AT+QMTPUB=0,0,0,0,\"T\",5\r"
    );
    assert_eq!(p("at+qmtpub=?"), Command::PubTest);
    assert_eq!(Command::PubTest.to_bytes(), b"AT+QMTPUB=?\r");
    assert_eq!(Command::PubTest.data_phase(), None);
    // `AT+QMTPUBEX` is still its own command.
    assert!(matches!(
        p(r#"AT+QMTPUBEX=0,0,0,0,"t",5"#),
        Command::PubEx(_)
    ));
}

#[test]
fn forms_no_module_documents_are_refused() {
    for line in [
        // BC660K's seventh parameter (`<msg_len>,"<msg>"`): not typed.
        r#"AT+QMTPUB=0,0,0,0,"t",5,"hello""#,
        r#"AT+QMTPUB=0,0,0,0,"t","a","b""#,
        r#"AT+QMTPUB=0,0,0,0,"t","#,
        r#"AT+QMTPUB=0,0,0,0,"t",x"#,
        r#"AT+QMTPUB=0,0,0,0"#,
        r#"AT+QMTPUB=0,0,0,0,t"#,
        // A `"` inside the message cannot be told from its end (spec §1).
        r#"AT+QMTPUB=0,0,0,0,"t","{"a":1}""#,
        "AT+QMTPUB?",
        "AT+QMTPUB",
    ] {
        assert_eq!(
            Command::parse(line.as_bytes()),
            Err(ParseError::Syntax),
            "{line}"
        );
    }
    // Out-of-range values name their parameter (the commands' tests cover each one).
    assert!(matches!(
        Command::parse(br#"AT+QMTPUB=0,0,0,0,"t",4097"#),
        Err(ParseError::Param(ParamError::OutOfRange {
            param: "msglen",
            ..
        }))
    ));
}

#[test]
fn constructors_refuse_what_a_module_refuses() {
    let qos0 = |id| Ec2xPub::until_ctrl_z(c(0), m(id), Qos::AtMostOnce, false, t("t"));
    assert!(qos0(0).is_ok());
    assert!(matches!(
        qos0(1),
        Err(ParamError::Invalid { param: "msgid", .. })
    ));
    assert!(matches!(
        Ec2xPub::until_ctrl_z(c(0), m(0), Qos::ExactlyOnce, false, t("t")),
        Err(ParamError::Invalid { param: "msgid", .. })
    ));
    // The counted form's length comes from the payload: 1-4096 bytes.
    let counted =
        |payload: &[u8]| Ec2xPub::for_payload(c(0), m(1), Qos::AtLeastOnce, false, t("t"), payload);
    assert_eq!(
        counted(b"\x1a\x1b\r\n").unwrap().msglen(),
        Some(MsgLen::new(4).unwrap())
    );
    assert!(matches!(
        counted(b""),
        Err(ParamError::OutOfRange {
            param: "msglen",
            value: 0,
            ..
        })
    ));
    assert!(matches!(
        counted(&[0; 4097]),
        Err(ParamError::OutOfRange {
            param: "msglen",
            value: 4097,
            ..
        })
    ));
    assert!(counted(&[0; 4096]).is_ok());
    assert!(matches!(
        Bc26Pub::new(
            c(0),
            m(5),
            Qos::AtMostOnce,
            false,
            t("t"),
            InlineMessage::new("m").unwrap()
        ),
        Err(ParamError::Invalid { param: "msgid", .. })
    ));
    for bad in ["a\"b", "a\rb", "a\nb"] {
        assert!(matches!(
            InlineMessage::new(bad),
            Err(ParamError::ForbiddenByte { param: "msg", .. })
        ));
    }
    assert!(InlineMessage::new("x".repeat(700)).is_ok());
    assert!(InlineMessage::new("x".repeat(701)).is_err());
}

#[test]
fn data_phases_and_their_checks() {
    let ctrl_z = DataPhase::PromptCtrlZ;
    assert_eq!(ctrl_z.data_len(), None);
    assert_eq!(ctrl_z.terminator(), Some(CTRL_Z));
    assert!(ctrl_z.prompted());
    assert_eq!(ctrl_z.check_data(b"line 1\r\nline 2"), Ok(()));
    assert_eq!(ctrl_z.check_data(&vec![b'x'; CTRL_Z_MAX_LEN]), Ok(()));
    assert!(matches!(
        ctrl_z.check_data(&vec![b'x'; CTRL_Z_MAX_LEN + 1]),
        Err(ParamError::Length {
            param: "payload",
            len: 4097,
            ..
        })
    ));
    let e = ctrl_z.check_data(b"temp=21\x1a").unwrap_err();
    assert_eq!(
        e,
        ParamError::ControlByte {
            param: "payload",
            byte: CTRL_Z,
            at: 7
        }
    );
    assert_eq!(
        e.to_string(),
        "payload holds byte 0x1a at 7, which ends (Ctrl-Z, 0x1a) or cancels (ESC, 0x1b) the data \
         of AT+QMTPUB without a length"
    );
    // The counted phases want their exact length; Ctrl-Z and ESC are data there.
    let counted = DataPhase::Prompt { len: 2 };
    assert_eq!(counted.terminator(), None);
    assert!(counted.prompted());
    assert_eq!(counted.check_data(b"\x1a\x1b"), Ok(()));
    assert!(matches!(
        counted.check_data(b"abc"),
        Err(ParamError::OutOfRange {
            param: "data length",
            value: 3,
            ..
        })
    ));
    let upload = DataPhase::Connect { len: 1 };
    assert!(!upload.prompted());
    assert_eq!(upload.check_data(b"\x1a"), Ok(()));
}

#[test]
fn result_and_test_lines() {
    // `AT+QMTPUB`'s result is the publish result with the `+QMTPUB:` prefix.
    assert_eq!(
        ModuleLine::parse(b"+QMTPUB: 0,0,0"),
        ModuleLine::Urc(Urc::PubEx {
            prefix: PubPrefix::Pub,
            client_idx: c(0),
            msgid: m(0),
            result: PacketResult::Acked,
            value: None,
        })
    );
    // Its test answer, as EC2x/BG9x firmware writes it.
    let line = b"+QMTPUB: (0-5),(0-65535),(0-2),(0,1),<topic>,(1-4096)";
    let info = Info::Test(TestLine {
        command: CommandKind::QmtPub,
        params: "(0-5),(0-65535),(0-2),(0,1),<topic>,(1-4096)",
    });
    assert_eq!(ModuleLine::parse(line), ModuleLine::Info(info.clone()));
    assert_eq!(
        Info::parse_for(CommandKind::QmtPub, Form::Test, line),
        Some(info)
    );
    // Not an answer to another test command, and not to the publish itself.
    assert_eq!(
        Info::parse_for(CommandKind::QmtPubEx, Form::Test, line),
        None
    );
    assert_eq!(
        Info::parse_for(CommandKind::QmtPub, Form::Write, line),
        None
    );
    assert_eq!(
        Info::parse_for(CommandKind::QmtPub, Form::Write, b"+QMTPUB: 0,0,0"),
        None
    );
    let mut out = Vec::new();
    ModuleLine::parse(line).encode(&mut out);
    assert_eq!(out, line);
}

#[test]
fn a_numbered_qos_0_message_keeps_its_msgid() {
    // Some BG9x firmware numbers every message, QoS 0 included: the line is typed as written.
    let ModuleLine::Urc(Urc::Recv(r)) = ModuleLine::parse(b"+QMTRECV: 0,17,\"sensors/t\",\"21.5\"")
    else {
        panic!("not a message");
    };
    assert_eq!(
        (r.msgid, r.topic, r.payload),
        (m(17), "sensors/t", &b"21.5"[..])
    );
}
