//! The `AT+QMTPUB` forms of sibling modules (`qmt_proto::sibling`) on the link: the Ctrl-Z data
//! phase (the link writes the payload, then Ctrl-Z; a payload holding Ctrl-Z or ESC is refused
//! before any byte), its echo with and without the Ctrl-Z, the counted form, the inline BC26 form,
//! the `+QMTPUB:` result and test lines, an EC200 that refuses the command, the replay of a
//! capture, and a `+QMTPUB:` head repaired after line damage.

#![allow(clippy::unwrap_used)]

mod link_support;

use std::time::Duration;

use link_support::*;
use qmt_proto::error::ParamError;
use qmt_proto::sibling::{CTRL_Z, ESC};
use qmt_proto::{DataPhase, ModuleLine};
use qmt_transport::link::{LinkEvent, Output, SubmitError, Timeouts};
use qmt_transport::time::Instant;

const CTRL_Z_PUB: &str = "AT+QMTPUB=0,1,1,0,\"topic/pub\"";

#[test]
fn the_payload_goes_out_after_the_prompt_and_the_link_ends_it_with_ctrl_z() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let command = cmd(CTRL_Z_PUB);
    assert_eq!(command.data_phase(), Some(DataPhase::PromptCtrlZ));
    // CR LF and quotes are data in this form: only Ctrl-Z and ESC are not.
    let token = link
        .submit(command, Some(b"line 1\r\n\"line 2\"".to_vec()), t)
        .unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUB=0,1,1,0,\"topic/pub\"\r");
    link.feed(b"\r\n+QMTSTAT: 1,1\r\n", t);
    assert_eq!(written(&mut link), "", "no data before the prompt");
    link.feed(b"\r\n> ", t);
    assert_eq!(
        transmits(&mut link).concat(),
        b"line 1\r\n\"line 2\"\x1a",
        "the payload, then one Ctrl-Z"
    );
    link.feed(&framed(&["OK", "+QMTPUB: 0,1,0"]), t);
    assert_eq!(
        events(&mut link),
        [
            urc("+QMTSTAT: 1,1"),
            done(token, &[], "OK"),
            urc("+QMTPUB: 0,1,0")
        ]
    );
    assert_eq!(link.stats().unknown, 0);
}

#[test]
fn a_payload_with_ctrl_z_or_esc_is_refused_before_any_byte() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let command = cmd(CTRL_Z_PUB);
    for (payload, byte, at) in [
        (&b"ab\x1acd"[..], CTRL_Z, 2),
        (b"\x1b", ESC, 0),
        (b"x\x1b\x1a", ESC, 1),
    ] {
        assert_eq!(
            link.submit(command.clone(), Some(payload.to_vec()), t),
            Err(SubmitError::Payload(ParamError::ControlByte {
                param: "payload",
                byte,
                at
            })),
            "{payload:?}"
        );
    }
    assert!(matches!(
        link.submit(command.clone(), Some(vec![b'x'; 4097]), t),
        Err(SubmitError::Payload(ParamError::Length {
            param: "payload",
            len: 4097,
            ..
        }))
    ));
    assert!(matches!(
        link.submit(command.clone(), None, t),
        Err(SubmitError::Data(_))
    ));
    assert_eq!(written(&mut link), "", "nothing refused was written");
    assert!(events(&mut link).is_empty());
    // An empty payload is a message: just the Ctrl-Z.
    let token = link.submit(command, Some(Vec::new()), t).unwrap();
    link.feed(b"AT+QMTPUB=0,1,1,0,\"topic/pub\"\r\r\n> ", t);
    assert_eq!(
        transmits(&mut link).concat(),
        b"AT+QMTPUB=0,1,1,0,\"topic/pub\"\r\x1a"
    );
    link.feed(&framed(&["OK"]), t);
    assert_eq!(events(&mut link), [done(token, &[], "OK")]);
}

/// With ATE1 the payload comes back before `OK`; whether the Ctrl-Z comes back too (with the last
/// line or alone) is not documented, so each is consumed as echo and nothing is left as a URC.
#[test]
fn the_data_echo_is_taken_with_or_without_the_ctrl_z() {
    let echoes: [(&[u8], u64); 4] = [
        (b"ab\r\ncd\r\nOK\r\n", 2),
        (b"ab\r\ncd\x1a\r\nOK\r\n", 2),
        (b"ab\r\ncd\r\n\x1a\r\nOK\r\n", 3),
        (b"ab\r\ncd\r\n\r\n\x1a\r\n\r\nOK\r\n", 3),
    ];
    for (echoed, data_echoes) in echoes {
        let t = Instant::ZERO;
        let mut link = link(t);
        let command = cmd(CTRL_Z_PUB);
        let token = link
            .submit(command.clone(), Some(b"ab\r\ncd".to_vec()), t)
            .unwrap();
        let mut input = echo(&command);
        input.extend_from_slice(b"\r\n> ");
        link.feed(&input, t);
        assert_eq!(
            transmits(&mut link).concat(),
            [&echo(&command)[..], b"ab\r\ncd\x1a"].concat()
        );
        link.feed(echoed, t);
        link.feed(&framed(&["+QMTPUB: 0,1,0"]), t);
        let case = String::from_utf8_lossy(echoed).into_owned();
        assert_eq!(
            events(&mut link),
            [done(token, &[], "OK"), urc("+QMTPUB: 0,1,0")],
            "{case:?}"
        );
        assert_eq!(link.stats().echoes, 1 + data_echoes, "{case:?}");
        assert_eq!(link.stats().unknown, 0, "{case:?}");
    }
}

#[test]
fn the_counted_form_writes_exactly_msglen_bytes() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let command = cmd("AT+QMTPUB=2,0,0,1,\"t\",4");
    assert_eq!(command.data_phase(), Some(DataPhase::Prompt { len: 4 }));
    for data in [None, Some(b"abc".to_vec()), Some(b"abcde".to_vec())] {
        assert!(matches!(
            link.submit(command.clone(), data, t),
            Err(SubmitError::Data(_))
        ));
    }
    // Ctrl-Z and ESC are data in the counted form, and nothing is added after them.
    let token = link
        .submit(command, Some(b"\x1a\x1b\r\n".to_vec()), t)
        .unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUB=2,0,0,1,\"t\",4\r");
    link.feed(b"\r\n> ", t);
    assert_eq!(transmits(&mut link).concat(), b"\x1a\x1b\r\n");
    link.feed(&framed(&["OK", "+QMTPUB: 2,0,0"]), t);
    assert_eq!(
        events(&mut link),
        [done(token, &[], "OK"), urc("+QMTPUB: 2,0,0")]
    );
}

#[test]
fn the_bc26_form_has_no_data_phase() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let command = cmd("AT+QMTPUB=0,2,1,0,\"up\",\"21.5, ok\"");
    assert_eq!(command.data_phase(), None);
    assert!(matches!(
        link.submit(command.clone(), Some(b"x".to_vec()), t),
        Err(SubmitError::Data(_))
    ));
    let token = link.submit(command, None, t).unwrap();
    assert_eq!(
        written(&mut link),
        "AT+QMTPUB=0,2,1,0,\"up\",\"21.5, ok\"\r"
    );
    // A stray prompt writes nothing: there is no data.
    link.feed(
        &framed(&["> ", "OK", "+QMTPUB: 0,2,1,1", "+QMTPUB: 0,2,0"]),
        t,
    );
    assert_eq!(written(&mut link), "");
    assert_eq!(
        events(&mut link),
        [
            urc("> "),
            done(token, &[], "OK"),
            urc("+QMTPUB: 0,2,1,1"),
            urc("+QMTPUB: 0,2,0")
        ]
    );
}

#[test]
fn the_test_answer_is_information_of_the_test_command_only() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let answer = "+QMTPUB: (0-5),(0-65535),(0-2),(0,1),<topic>,(1-4096)";
    let test = link.submit(cmd("AT+QMTPUB=?"), None, t).unwrap();
    link.feed(&framed(&[answer, "OK"]), t);
    let publish = link.submit(cmd("AT+QMTPUBEX=?"), None, t).unwrap();
    link.feed(&framed(&[answer, "OK"]), t);
    assert_eq!(
        events(&mut link),
        [
            done(test, &[answer], "OK"),
            urc(answer),
            done(publish, &[], "OK")
        ]
    );
}

/// EC200x firmware does not know `AT+QMTPUB`: it answers `ERROR` and sends no prompt. The data
/// is never written, and the next command goes out at once.
#[test]
fn a_module_that_refuses_the_command_never_gets_its_data() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link
        .submit(cmd(CTRL_Z_PUB), Some(b"AT+QPOWD".to_vec()), t)
        .unwrap();
    let next = link.submit(cmd("AT"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUB=0,1,1,0,\"topic/pub\"\r");
    link.feed(&framed(&["ERROR"]), t);
    assert_eq!(written(&mut link), "AT\r");
    link.feed(&framed(&["OK"]), t);
    assert_eq!(
        events(&mut link),
        [done(token, &[], "ERROR"), done(next, &[], "OK")]
    );
}

/// A prompt lost to line damage (spec §10.7): the payload and its Ctrl-Z are written all the same
/// after `Timeouts::prompt`, as for `AT+QMTPUBEX`.
#[test]
fn a_lost_prompt_writes_the_payload_and_ctrl_z_blind() {
    let t = Instant::ZERO;
    let timeouts = Timeouts {
        prompt: Duration::from_millis(100),
        ..Timeouts::default()
    };
    let mut link = link_with(timeouts, 8, t);
    let token = link
        .submit(cmd(CTRL_Z_PUB), Some(b"temp=21".to_vec()), t)
        .unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUB=0,1,1,0,\"topic/pub\"\r");
    assert_eq!(link.poll_timeout(), Some(ms(t, 100)));
    link.handle_timeout(ms(t, 100));
    assert_eq!(transmits(&mut link).concat(), b"temp=21\x1a");
    assert_eq!(link.stats().prompts_damaged, 1);
    link.feed(&framed(&["OK"]), ms(t, 150));
    assert_eq!(events(&mut link), [done(token, &[], "OK")]);
}

/// `qmt decode`'s replay: the host's data after the prompt is observed, with the Ctrl-Z the capture
/// shows, and its echo (without it) is consumed.
#[test]
fn a_replayed_ctrl_z_publish_consumes_the_echo_of_its_data() {
    for written_data in [&b"hi there\x1a"[..], b"hi there", b"hi there\x1b"] {
        let t = Instant::ZERO;
        let mut link = link(t);
        let token = link.observe(cmd(CTRL_Z_PUB), t);
        let mut out = Vec::new();
        let mut input = echo(&cmd(CTRL_Z_PUB));
        input.extend_from_slice(b"\r\n> ");
        link.feed_with(&input, t, |o| out.push(format!("{o:?}")));
        assert!(
            matches!(out.last().map(String::as_str), Some(s) if s.starts_with("Prompt")),
            "{out:?}"
        );
        assert!(link.observe_data(written_data));
        let mut kinds = Vec::new();
        link.feed_with(b"hi there\r\nOK\r\n", t, |o| {
            kinds.push(match o {
                Output::Echo { line } => format!("echo {}", String::from_utf8_lossy(line)),
                Output::Final { token: t, line, .. } => {
                    assert_eq!(t, token);
                    format!("final {}", String::from_utf8_lossy(line))
                }
                other => format!("{other:?}"),
            });
        });
        assert_eq!(kinds, ["echo hi there", "final OK"], "{written_data:?}");
        assert_eq!(written(&mut link), "", "a replay writes nothing");
    }
}

/// A `+QMTPUB:` result whose head took one byte of damage is put right like the EC200x heads; a
/// line one byte from both `+QMTSUB:` and `+QMTPUB:` stays the EC200x SUB result.
#[test]
fn a_damaged_qmtpub_head_is_repaired_after_the_ec200_heads() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.feed(b"\r\n+QMTPB: 0,1,0\r\n\r\n+QMTUB: 0,2,0,1\r\n", t);
    assert_eq!(
        events(&mut link),
        [urc("+QMTPUB: 0,1,0"), urc("+QMTSUB: 0,2,0,1")]
    );
    assert_eq!(link.stats().heads_repaired, 2);
    assert!(matches!(
        ModuleLine::parse(b"+QMTPUB: 0,1,0"),
        ModuleLine::Urc(qmt_proto::Urc::PubEx { .. })
    ));
    // A line that fits no head stays unknown.
    link.feed(b"\r\n+QMTPXYZ: 0,1,0\r\n", t);
    assert!(matches!(events(&mut link)[..], [LinkEvent::Urc(_)]));
    assert_eq!(link.stats().heads_repaired, 2);
}
