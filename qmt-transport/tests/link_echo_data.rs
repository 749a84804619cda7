//! Echo is matched, not guessed (ATE0 and ATE1 alike); the prompt is a phase; data validation.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use qmt_proto::Command;
use qmt_transport::link::{LinkEvent, LinkStats, SubmitError};
use qmt_transport::time::Instant;

/// One command of a scripted session: what to submit, and the module's answer without echo
/// (`> ` marks where the data phase sits).
struct Step {
    command: Command,
    data: Option<Vec<u8>>,
    answer: Vec<&'static str>,
}

/// Runs the steps one after the other like a module would answer them, with echo on or off
/// (ATE1 also echoes the data right before the answer that follows it).
fn run(steps: &[Step], echo_on: bool) -> (Vec<LinkEvent>, Vec<u8>, LinkStats) {
    let t = Instant::ZERO;
    let mut link = link(t);
    let mut wire = Vec::new();
    for step in steps {
        link.submit(step.command.clone(), step.data.clone(), t)
            .unwrap();
        wire.extend(transmits(&mut link).concat());
        let mut out = Vec::new();
        if echo_on {
            out.extend(echo(&step.command));
        }
        let mut lines = step.answer.iter();
        for l in lines.by_ref() {
            if *l == "> " || *l == "CONNECT" {
                out.extend(framed(&[l]));
                link.feed(&out, t);
                out.clear();
                wire.extend(transmits(&mut link).concat());
                if echo_on {
                    out.extend(step.data.clone().unwrap_or_default());
                }
                break;
            }
            out.extend(framed(&[l]));
        }
        for l in lines {
            out.extend(framed(&[l]));
        }
        link.feed(&out, t);
        wire.extend(transmits(&mut link).concat());
    }
    (events(&mut link), wire, link.stats())
}

fn session() -> Vec<Step> {
    vec![
        Step {
            command: cmd("AT+QMTCONN?"),
            data: None,
            answer: vec!["+QMTCONN: 0,3", "+QMTSTAT: 0,1", "OK"],
        },
        Step {
            command: cmd("AT+QMTPUBEX=0,1,1,0,\"t\",12"),
            data: Some(b"ab\r\nOK\r\n> cd".to_vec()),
            answer: vec!["> ", "OK", "+QMTPUBEX: 0,1,0"],
        },
        Step {
            command: cmd("AT+QMTPUBEX=0,0,0,0,\"t\",2"),
            data: Some(b"OK".to_vec()),
            answer: vec!["> ", "OK"],
        },
        Step {
            command: cmd("AT+QFUPL=\"UFS:a.pem\",5"),
            data: Some(b"x\r\nyz".to_vec()),
            answer: vec!["CONNECT", "+QFUPL: 5,7b7a", "OK"],
        },
        Step {
            command: cmd("AT+QMTCFG=\"willex\",0,1,0,0,\"w\",3"),
            data: Some(b"AT\r".to_vec()),
            answer: vec!["> ", "OK"],
        },
        Step {
            command: cmd("AT+QMTOPEN?"),
            data: None,
            answer: vec!["+QMTOPEN: 0,0", "+QMTOPEN: 0,\"h\",1883", "OK"],
        },
    ]
}

#[test]
fn echo_on_and_off_give_identical_completions_and_events() {
    let (off, wire_off, stats_off) = run(&session(), false);
    let (on, wire_on, stats_on) = run(&session(), true);
    assert_eq!(off, on);
    assert_eq!(wire_off, wire_on);
    assert_eq!(stats_off.echoes, 0);
    // 6 command echoes; data echoes: "ab", "OK", prompt, "cd" + "OK" + "x", "yz" + "AT".
    assert_eq!(stats_on.echoes, 6 + 4 + 1 + 2 + 1);
    assert_eq!(stats_on.unknown, 0);
    assert_eq!(
        off,
        [
            urc("+QMTSTAT: 0,1"),
            done(qmt_transport::link::Token(0), &["+QMTCONN: 0,3"], "OK"),
            done(qmt_transport::link::Token(1), &[], "OK"),
            urc("+QMTPUBEX: 0,1,0"),
            done(qmt_transport::link::Token(2), &[], "OK"),
            done(qmt_transport::link::Token(3), &["+QFUPL: 5,7b7a"], "OK"),
            done(qmt_transport::link::Token(4), &[], "OK"),
            urc("+QMTOPEN: 0,0"),
            done(
                qmt_transport::link::Token(5),
                &["+QMTOPEN: 0,\"h\",1883"],
                "OK"
            ),
        ]
    );
}

#[test]
fn only_the_first_line_equal_to_the_command_is_echo() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    // Lower-case echo (ASCII case-insensitive), then the same text again: not an echo any more.
    link.feed(
        b"at+qmtconn?\r\r\nAT+QMTCONN?\r\n+QMTCONN: 0,3\r\nOK\r\n",
        t,
    );
    assert_eq!(
        events(&mut link),
        [urc("AT+QMTCONN?"), done(token, &["+QMTCONN: 0,3"], "OK")]
    );
    assert_eq!(link.stats().echoes, 1);
    assert_eq!(link.stats().unknown, 1);
}

#[test]
fn with_echo_off_a_data_ok_is_the_final_code() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let p = link
        .submit(cmd("AT+QMTPUBEX=0,0,0,0,\"t\",2"), Some(b"OK".to_vec()), t)
        .unwrap();
    let q = link.submit(cmd("AT"), None, t).unwrap();
    link.feed(b"\r\n> ", t);
    assert_eq!(written(&mut link), "AT+QMTPUBEX=0,0,0,0,\"t\",2\rOK");
    // ATE0: no echo; the first OK ends the publish, the second the AT.
    link.feed(b"\r\nOK\r\n", t);
    assert_eq!(written(&mut link), "AT\r");
    link.feed(b"\r\nOK\r\n", t);
    assert_eq!(events(&mut link), [done(p, &[], "OK"), done(q, &[], "OK")]);
}

#[test]
fn pubex_data_goes_out_only_after_the_prompt() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link
        .submit(
            cmd("AT+QMTPUBEX=0,1,1,0,\"t\",5"),
            Some(b"hello".to_vec()),
            t,
        )
        .unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUBEX=0,1,1,0,\"t\",5\r");
    // Echo, a URC, a CONNECT: no data yet.
    link.feed(
        b"AT+QMTPUBEX=0,1,1,0,\"t\",5\r\r\n+QMTSTAT: 1,1\r\n\r\nCONNECT\r\n",
        t,
    );
    assert_eq!(written(&mut link), "");
    link.feed(b"\r\n>", t);
    assert_eq!(written(&mut link), "", "half a prompt is no prompt");
    link.feed(b" ", t);
    assert_eq!(written(&mut link), "hello");
    link.feed(b"hello\r\nOK\r\n", t);
    assert_eq!(
        events(&mut link),
        [urc("+QMTSTAT: 1,1"), urc("CONNECT"), done(token, &[], "OK")]
    );
}

#[test]
fn qfupl_data_goes_out_only_after_connect() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link
        .submit(
            cmd("AT+QFUPL=\"UFS:k.pem\",3,10"),
            Some(b"k\r\n".to_vec()),
            t,
        )
        .unwrap();
    assert_eq!(written(&mut link), "AT+QFUPL=\"UFS:k.pem\",3,10\r");
    link.feed(b"\r\n> ", t);
    assert_eq!(
        written(&mut link),
        "",
        "a prompt does not invite QFUPL data"
    );
    link.feed(b"\r\nCONNECT\r\n", t);
    assert_eq!(written(&mut link), "k\r\n");
    link.feed(&framed(&["+QFUPL: 3,6b0d", "OK"]), t);
    assert_eq!(
        events(&mut link),
        [urc("> "), done(token, &["+QFUPL: 3,6b0d"], "OK")]
    );
}

#[test]
fn a_refused_data_command_never_writes_its_data() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link
        .submit(cmd("AT+QMTPUBEX=0,1,1,0,\"t\",2"), Some(b"AT".to_vec()), t)
        .unwrap();
    let next = link.submit(cmd("AT"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTPUBEX=0,1,1,0,\"t\",2\r");
    link.feed(&framed(&["+CME ERROR: 3"]), t);
    assert_eq!(written(&mut link), "AT\r");
    link.feed(&framed(&["> ", "OK"]), t);
    assert_eq!(
        written(&mut link),
        "",
        "a late prompt does not write old data"
    );
    assert_eq!(
        events(&mut link),
        [
            done(token, &[], "+CME ERROR: 3"),
            urc("> "),
            done(next, &[], "OK")
        ]
    );
}

#[test]
fn data_must_match_the_data_phase() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let pubex = cmd("AT+QMTPUBEX=0,1,1,0,\"t\",5");
    for data in [None, Some(b"four".to_vec()), Some(b"sixsix".to_vec())] {
        assert!(matches!(
            link.submit(pubex.clone(), data, t),
            Err(SubmitError::Data(_))
        ));
    }
    assert!(matches!(
        link.submit(cmd("AT"), Some(Vec::new()), t),
        Err(SubmitError::Data(_))
    ));
    assert!(matches!(
        link.submit(cmd("AT+QFUPL=\"UFS:a\",2"), Some(b"abc".to_vec()), t),
        Err(SubmitError::Data(_))
    ));
    assert!(matches!(
        link.submit(cmd("AT+QMTCFG=\"willex\",0,1,0,0,\"w\",1"), None, t),
        Err(SubmitError::Data(_))
    ));
    assert_eq!(written(&mut link), "", "nothing refused was written");
    assert!(link.submit(pubex, Some(b"12345".to_vec()), t).is_ok());
    let empty = cmd("AT+QMTPUBEX=0,0,0,0,\"t\",0");
    assert!(link.submit(empty, Some(Vec::new()), t).is_ok());
}
