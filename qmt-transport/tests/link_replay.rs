//! Every piece of input handed over once (echoes, prompts, late and marker answers, overflows as
//! `Output`s of their own), stepwise input, the end of a capture, and the replay mode
//! (`Link::observe`, `observe_echoed`, `observe_data`) that `qmt decode` drives.

#![allow(clippy::unwrap_used)]

mod link_support;

use std::time::Duration;

use link_support::*;
use qmt_proto::ModuleLine;
use qmt_proto::recv::LenMode;
use qmt_transport::link::{CommandError, Link, LinkEvent, Output, Timeouts, Token};
use qmt_transport::time::Instant;

/// An [`Output`] owned, with its line as text, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Info(Token, String),
    Final(Token, String),
    Failed(Token),
    Urc(String),
    Echo(String),
    Prompt(Token, String),
    Late(String),
    Resync(String),
    Overflow(usize),
    Damaged(String),
}

fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

fn own(o: Output<'_>) -> Out {
    match o {
        Output::Info { token, line, .. } => Out::Info(token, text(line)),
        Output::Final { token, line, .. } => Out::Final(token, text(line)),
        Output::Failed { token, .. } => Out::Failed(token),
        Output::Urc { line, .. } => Out::Urc(text(line)),
        Output::Echo { line } => Out::Echo(text(line)),
        Output::Prompt { token, line } => Out::Prompt(token, text(line)),
        Output::Late { line, .. } => Out::Late(text(line)),
        Output::Resync { line, .. } => Out::Resync(text(line)),
        Output::Overflow { len } => Out::Overflow(len),
        Output::Damaged { line, .. } => Out::Damaged(text(line)),
    }
}

/// Feeds `bytes` in chunks of `chunk` bytes; returns the outputs.
fn feed(link: &mut Link, bytes: &[u8], chunk: usize, now: Instant) -> Vec<Out> {
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        link.feed_with(c, now, |o| out.push(own(o)));
    }
    out
}

fn s(text: &str) -> String {
    text.to_string()
}

/// A fresh link (a name that `let mut link` does not shadow).
fn new_link(t: Instant) -> Link {
    link(t)
}

fn short() -> Timeouts {
    Timeouts {
        other: Duration::from_secs(1),
        ..Timeouts::default()
    }
}

/// With ATE1, the command's echo, the prompt it waits for and the echo of its data are handed over
/// where they arrive; `feed`'s events are what they were (none of them), whatever the chunking.
#[test]
fn echoes_and_the_awaited_prompt_are_handed_over() {
    let pubex = cmd("AT+QMTPUBEX=0,1,1,0,\"t\",7");
    let mut invited = echo(&pubex);
    invited.extend(framed(&["> "]));
    // The data's echo: two lines of the framer's making, then the answer.
    let mut answered = b"ab\r\ncd!".to_vec();
    answered.extend(framed(&["OK", "+QMTPUBEX: 0,1,0"]));
    for chunk in [1, 2, 5, 64] {
        let t = Instant::ZERO;
        let mut link = new_link(t);
        let tok = link
            .submit(pubex.clone(), Some(b"ab\r\ncd!".to_vec()), t)
            .unwrap();
        assert_eq!(written(&mut link), "AT+QMTPUBEX=0,1,1,0,\"t\",7\r");
        let mut out = feed(&mut link, &invited, chunk, t);
        // The data went out on the prompt, as before.
        assert_eq!(written(&mut link), "ab\r\ncd!");
        out.extend(feed(&mut link, &answered, chunk, t));
        assert_eq!(
            out,
            [
                Out::Echo(s("AT+QMTPUBEX=0,1,1,0,\"t\",7")),
                Out::Prompt(tok, s("> ")),
                Out::Echo(s("ab")),
                Out::Echo(s("cd!")),
                Out::Final(tok, s("OK")),
                Out::Urc(s("+QMTPUBEX: 0,1,0")),
            ],
            "chunks of {chunk}"
        );
        assert_eq!(link.stats().echoes, 3);
    }

    // `feed` (owned events) still shows none of them.
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let tok = link
        .submit(pubex.clone(), Some(b"ab\r\ncd!".to_vec()), t)
        .unwrap();
    link.feed(&invited, t);
    link.feed(&answered, t);
    let evs = events(&mut link);
    assert_eq!(evs, [done(tok, &[], "OK"), urc("+QMTPUBEX: 0,1,0")]);
}

/// `CONNECT` invites a file's data like `> `; an unawaited one stays a URC.
#[test]
fn connect_is_handed_over_as_the_prompt_it_is() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let tok = link
        .submit(cmd("AT+QFUPL=\"UFS:a\",3,5"), Some(b"xyz".to_vec()), t)
        .unwrap();
    written(&mut link);
    let out = feed(&mut link, &framed(&["CONNECT"]), 1, t);
    assert_eq!(out, [Out::Prompt(tok, s("CONNECT"))]);
    assert_eq!(written(&mut link), "xyz");
    let out = feed(
        &mut link,
        &framed(&["+QFUPL: 3,7879", "OK", "CONNECT"]),
        1,
        t,
    );
    assert_eq!(
        out,
        [
            Out::Info(tok, s("+QFUPL: 3,7879")),
            Out::Final(tok, s("OK")),
            Out::Urc(s("CONNECT")),
        ]
    );
}

/// An over-long line is handed over with its length, between the lines around it.
#[test]
fn an_overflow_is_handed_over_with_its_length() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let mut input = framed(&["+CPIN: READY"]);
    input.extend(framed(&[&"Z".repeat(5000)]));
    input.extend(framed(&["OK"]));
    for chunk in [7, 4096, input.len()] {
        let mut link = Link::new(Default::default(), t);
        assert_eq!(
            feed(&mut link, &input, chunk, t),
            [
                Out::Urc(s("+CPIN: READY")),
                Out::Overflow(5000),
                Out::Urc(s("OK"))
            ],
            "chunks of {chunk}"
        );
        assert_eq!(link.stats().overflows, 1);
    }
    // A split-form header goes with its discarded data run: one overflow, no stray header.
    link.set_recv_len(
        qmt_proto::params::ClientIdx::new(0).unwrap(),
        LenMode::Split,
    );
    let mut input = b"\r\n+QMTRECV: 0,0,\"t\",5000\r\n".to_vec();
    input.extend("D".repeat(5000).as_bytes());
    input.extend(framed(&["OK"]));
    assert_eq!(
        feed(&mut link, &input, 100, t),
        [Out::Overflow(5000), Out::Urc(s("OK"))]
    );
}

/// After a timeout, the abandoned command's late answer and the marker's answer are handed over
/// as `Late` and `Resync`, in wire order; only the URC and the next command's answer are theirs.
#[test]
fn late_and_marker_answers_are_handed_over() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    let b = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTCONN?\r");
    link.handle_timeout(ms(t, 5_000));
    assert!(matches!(
        events(&mut link).as_slice(),
        [LinkEvent::Completed { token, result: Err(CommandError::Timeout { .. }) }] if *token == a
    ));
    assert_eq!(written(&mut link), "AT+QMTOPEN=?\r");
    let late = framed(&[
        "+QMTCONN: 0,3",
        "+QMTSTAT: 0,1",
        "OK",
        "+QMTOPEN: (0-5),\"hostname\",(1-65535)",
        "OK",
    ]);
    let out = feed(&mut link, &late, 3, ms(t, 1_100));
    assert_eq!(
        out,
        [
            Out::Late(s("+QMTCONN: 0,3")),
            Out::Urc(s("+QMTSTAT: 0,1")),
            Out::Late(s("OK")),
            Out::Resync(s("+QMTOPEN: (0-5),\"hostname\",(1-65535)")),
            Out::Resync(s("OK")),
        ]
    );
    assert_eq!(written(&mut link), "AT+QMTOPEN?\r");
    let out = feed(&mut link, &framed(&["+QMTOPEN: 0,\"h\",1883", "OK"]), 64, t);
    assert_eq!(
        out,
        [
            Out::Info(b, s("+QMTOPEN: 0,\"h\",1883")),
            Out::Final(b, s("OK"))
        ]
    );
}

/// The late information line is typed for the command it answers, not context-free (where
/// `+QMTCONN: 0,3` would be a connect result).
#[test]
fn a_late_information_line_is_typed_for_its_command() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    link.handle_timeout(ms(t, 5_000));
    let mut typed = Vec::new();
    link.feed_with(&framed(&["+QMTCONN: 0,3"]), t, |o| {
        if let Output::Late {
            typed: ModuleLine::Info(i),
            ..
        } = o
        {
            typed.push(format!("{i:?}"));
        }
    });
    assert_eq!(typed, ["ConnRead { client_idx: 0, state: Connected }"]);
}

/// `push` and `step_with` hand over one piece per step, so a caller can act between two lines;
/// together they give what `feed_with` gives.
#[test]
fn stepwise_input_lets_the_caller_act_between_lines() {
    let t = Instant::ZERO;
    // Raw ATE1 output: the command is known only from its echo.
    let input = b"AT+QMTCONN?\r\r\n+QMTCONN: 0,3\r\n\r\nOK\r\n";

    // All at once, nothing is in flight: the answer is a URC (a connect result) and so is `OK`.
    let mut link = new_link(t);
    assert_eq!(
        feed(&mut link, input, input.len(), t),
        [
            Out::Urc(s("AT+QMTCONN?")),
            Out::Urc(s("+QMTCONN: 0,3")),
            Out::Urc(s("OK"))
        ]
    );

    // Stepwise, the echo is observed before the next line is classified.
    let mut link = new_link(t);
    assert_eq!(link.push(input), input.len());
    let mut out = Vec::new();
    let mut token = None;
    while link.step_with(t, |o| out.push(own(o))) {
        if let Some(Out::Urc(l)) = out.last()
            && let Ok(c) = qmt_proto::Command::parse(l.as_bytes())
        {
            token = Some(link.observe_echoed(c, t));
        }
    }
    let token = token.unwrap();
    assert_eq!(
        out,
        [
            Out::Urc(s("AT+QMTCONN?")),
            Out::Info(token, s("+QMTCONN: 0,3")),
            Out::Final(token, s("OK"))
        ]
    );
    // Nothing more is buffered, and nothing was written.
    assert!(!link.step_with(t, |_| panic!("no piece left")));
    assert_eq!(transmits(&mut link), Vec::<Vec<u8>>::new());
}

/// `push` takes no more than there is room for; stepping makes room again.
#[test]
fn push_takes_what_fits() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let input = framed(&[&"a".repeat(3000), &"b".repeat(3000)]);
    let n = link.push(&input);
    assert!(n < input.len(), "{n}");
    let mut out = Vec::new();
    while link.step_with(t, |o| out.push(own(o))) {}
    assert_eq!(out, [Out::Urc("a".repeat(3000))]);
    assert_eq!(link.push(&input[n..]), input.len() - n);
    while link.step_with(t, |o| out.push(own(o))) {}
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], Out::Urc("b".repeat(3000)));
}

/// At the end of a capture, what the framer still holds is handed over.
#[test]
fn finish_hands_over_what_is_left() {
    let t = Instant::ZERO;
    let cases: [(&[u8], &[Out]); 5] = [
        (
            b"\r\nOK\r\n\r\nPOWERED DOWN",
            &[Out::Urc(s("OK")), Out::Urc(s("POWERED DOWN"))],
        ),
        (b"\r\n>", &[Out::Urc(s(">"))]),
        (b"\r\nOK\r\n", &[Out::Urc(s("OK"))]),
        (b"\r\n+CPIN: READY\r\n\r\n", &[Out::Urc(s("+CPIN: READY"))]),
        (&[b'Z'; 5000], &[Out::Overflow(5000)]),
    ];
    for (input, want) in cases {
        let mut link = new_link(t);
        let mut out = feed(&mut link, input, 64, t);
        link.finish_with(t, |o| out.push(own(o)));
        assert_eq!(out, want, "{:?}", text(input));
        // The framer is empty afterwards.
        link.finish_with(t, |_| panic!("nothing left"));
    }

    // A cut split-form run: its header (a message without its payload: damaged, never
    // delivered), then the bytes that came.
    let mut link = new_link(t);
    link.set_recv_len(
        qmt_proto::params::ClientIdx::new(0).unwrap(),
        LenMode::Split,
    );
    let mut out = feed(&mut link, b"\r\n+QMTRECV: 0,0,\"t\",9\r\nabc", 64, t);
    assert_eq!(out, []);
    link.finish_with(t, |o| out.push(own(o)));
    assert_eq!(
        out,
        [Out::Damaged(s("+QMTRECV: 0,0,\"t\",9")), Out::Urc(s("abc"))]
    );
}

/// Replay: an observed command is on the wire without anything written; its answer is its own,
/// and the link never writes by itself.
#[test]
fn observed_commands_are_answered_like_submitted_ones() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let open = link.observe(cmd("AT+QMTOPEN?"), t);
    assert_eq!(link.in_flight(), Some(open));
    assert_eq!(link.poll_timeout(), Some(t + Timeouts::default().open));
    let out = feed(
        &mut link,
        &framed(&[
            "+QMTOPEN: 0,\"h\",1883",
            "+QMTSTAT: 0,1",
            "OK",
            "+QMTOPEN: 0,0",
        ]),
        4,
        t,
    );
    assert_eq!(
        out,
        [
            Out::Info(open, s("+QMTOPEN: 0,\"h\",1883")),
            Out::Urc(s("+QMTSTAT: 0,1")),
            Out::Final(open, s("OK")),
            Out::Urc(s("+QMTOPEN: 0,0")),
        ]
    );
    assert_eq!(link.in_flight(), None);
    // Its echo, when the module echoes, is matched against the command's encoding.
    let sub = link.observe(cmd("AT+QMTSUB=0,1,\"t\",1"), t);
    let out = feed(&mut link, b"at+qmtsub=0,1,\"t\",1\r\r\nOK\r\n", 3, t);
    assert_eq!(
        out,
        [
            Out::Echo(s("at+qmtsub=0,1,\"t\",1")),
            Out::Final(sub, s("OK"))
        ]
    );
    assert_eq!(transmits(&mut link), Vec::<Vec<u8>>::new());
    assert_eq!(events(&mut link), []);
}

/// Replay with a data phase: the prompt is handed over, nothing is written, and the data the
/// host wrote (here a placeholder of another length) is only told afterwards.
#[test]
fn observed_data_may_be_a_placeholder() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    assert!(!link.observe_data(b"too early"), "nothing observed yet");
    let up = link.observe(cmd("AT+QFUPL=\"UFS:a.pem\",1758,100"), t);
    assert!(!link.observe_data(b"before the invitation"));
    let out = feed(&mut link, &framed(&["CONNECT"]), 3, t);
    assert_eq!(out, [Out::Prompt(up, s("CONNECT"))]);
    assert!(link.observe_data(b"<1758 bytes of a.pem>"));
    assert!(!link.observe_data(b"twice"), "the data is told once");
    let out = feed(&mut link, &framed(&["+QFUPL: 1758,384a", "OK"]), 3, t);
    assert_eq!(
        out,
        [
            Out::Info(up, s("+QFUPL: 1758,384a")),
            Out::Final(up, s("OK"))
        ]
    );
    assert_eq!(transmits(&mut link), Vec::<Vec<u8>>::new());
}

/// Replay of raw ATE1 output: a command observed from its echo expects no second echo, and the
/// echo of the data the host wrote is matched to the bytes told, whatever their length.
#[test]
fn echoed_observation_expects_the_data_echo() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let pubex = cmd("AT+QMTPUBEX=0,1,1,0,\"t\",5");
    let tok = link.observe_echoed(pubex, t);
    let out = feed(&mut link, &framed(&["> "]), 1, t);
    assert_eq!(out, [Out::Prompt(tok, s("> "))]);
    // A 3-byte placeholder: its echo, then the answer.
    assert!(link.observe_data(b"x\r\ny"));
    let out = feed(&mut link, b"x\r\ny\r\nOK\r\n\r\n+QMTPUBEX: 0,1,0\r\n", 2, t);
    assert_eq!(
        out,
        [
            Out::Echo(s("x")),
            Out::Echo(s("y")),
            Out::Final(tok, s("OK")),
            Out::Urc(s("+QMTPUBEX: 0,1,0")),
        ]
    );
    // Without the echo seen (`observe`), the same data lines are not taken for an echo.
    let tok = link.observe(cmd("AT+QMTPUBEX=0,2,1,0,\"t\",5"), t);
    feed(&mut link, &framed(&["> "]), 1, t);
    assert!(link.observe_data(b"x\r\ny"));
    let out = feed(&mut link, &framed(&["x", "OK"]), 64, t);
    assert_eq!(out, [Out::Urc(s("x")), Out::Final(tok, s("OK"))]);
}

/// Replay: a host that writes past an unanswered command gave up on it: it times out, its late
/// answer is consumed, and a free marker the host wrote resynchronises as one.
#[test]
fn observing_past_an_unanswered_command_abandons_it() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let conn = link.observe(cmd("AT+QMTCONN?"), t);
    let marker = link.observe(cmd("AT+QMTOPEN=?"), ms(t, 5_000));
    assert_eq!(
        events(&mut link),
        [failed(
            conn,
            CommandError::Timeout {
                command: "AT+QMTCONN?".into(),
                waited: Duration::from_millis(5_000),
            }
        )]
    );
    assert!(link.resyncing());
    let out = feed(
        &mut link,
        &framed(&[
            "+QMTCONN: 0,3",
            "OK",
            "+QMTOPEN: (0-5),\"hostname\",(1-65535)",
            "OK",
        ]),
        5,
        t,
    );
    assert_eq!(
        out,
        [
            Out::Late(s("+QMTCONN: 0,3")),
            Out::Late(s("OK")),
            Out::Resync(s("+QMTOPEN: (0-5),\"hostname\",(1-65535)")),
            Out::Final(marker, s("OK")),
        ]
    );
    assert!(!link.resyncing());
    // The link wrote nothing by itself (no marker of its own).
    assert_eq!(transmits(&mut link), Vec::<Vec<u8>>::new());

    // The marker's answer proves the abandoned command was never received: it is forgotten
    // at once, and the `OK` after it is the marker's own.
    let conn = link.observe(cmd("AT+QMTCONN?"), t);
    let marker = link.observe(cmd("AT+QMTOPEN=?"), t);
    assert!(matches!(
        events(&mut link).as_slice(),
        [LinkEvent::Completed { token, .. }] if *token == conn
    ));
    let out = feed(
        &mut link,
        &framed(&["+QMTOPEN: (0-5),\"hostname\",(1-65535)", "OK"]),
        64,
        t,
    );
    assert_eq!(
        out,
        [
            Out::Resync(s("+QMTOPEN: (0-5),\"hostname\",(1-65535)")),
            Out::Final(marker, s("OK")),
        ]
    );
}

/// Replay: `RDY` fails the observed command and the link starts no marker; the commands after it
/// are still the host's.
#[test]
fn a_restart_while_replaying_writes_nothing() {
    let t = Instant::ZERO;
    let mut link = new_link(t);
    let open = link.observe(cmd("AT+QMTOPEN=0,\"h\",1883"), t);
    let out = feed(&mut link, &framed(&["OK", "+QMTOPEN: 0,0"]), 64, t);
    assert_eq!(out[0], Out::Final(open, s("OK")));
    let conn = link.observe(cmd("AT+QMTCONN=0,\"c\""), t);
    let out = feed(&mut link, &framed(&["RDY"]), 64, t);
    assert_eq!(out, [Out::Failed(conn), Out::Urc(s("RDY"))]);
    assert_eq!(transmits(&mut link), Vec::<Vec<u8>>::new());
    assert_eq!(link.in_flight(), None);
    let at = link.observe(cmd("AT"), t);
    // The restart's ghost takes the first final code (the module answers in order).
    let out = feed(&mut link, &framed(&["OK", "OK"]), 64, t);
    assert_eq!(out, [Out::Late(s("OK")), Out::Final(at, s("OK"))]);
}

/// Every line, prompt and overflow is handed over exactly once (besides `Failed`), however the
/// input is cut: one output per piece.
#[test]
fn one_output_per_piece() {
    let t = Instant::ZERO;
    let mut input = framed(&[
        "RDY",
        "+CPIN: READY",
        "> ",
        "OK",
        "garbage \u{1} line",
        &"Z".repeat(4200),
        "+QMTRECV: 0,1,\"t\",4,a\r\nb",
        "CONNECT",
        "+QMTSTAT: 0,1",
    ]);
    input.extend(b"AT\r\r\nOK\r\n");
    let whole = feed(&mut new_link(t), &input, input.len(), t);
    assert_eq!(whole.len(), 11, "{whole:?}");
    for chunk in 1..9 {
        assert_eq!(
            feed(&mut new_link(t), &input, chunk, t),
            whole,
            "chunks of {chunk}"
        );
    }
}
