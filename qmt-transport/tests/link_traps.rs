//! ARCHITECTURE.md "Where other drivers break": traps 1–6 at the link level.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use qmt_proto::{Info, ModuleLine, Urc};
use qmt_transport::link::LinkEvent;
use qmt_transport::time::Instant;

#[test]
fn trap1_stat_between_conn_read_answer_and_ok_is_a_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTCONN?\r");
    link.feed(&framed(&["+QMTCONN: 0,3", "+QMTSTAT: 0,1", "OK"]), t);
    let evs = events(&mut link);
    assert_eq!(
        evs,
        [urc("+QMTSTAT: 0,1"), done(token, &["+QMTCONN: 0,3"], "OK")]
    );
    // The info line is the read answer (state connected), not a connect result.
    let qmt_transport::link::LinkEvent::Completed { result: Ok(r), .. } = &evs[1] else {
        panic!("{evs:?}")
    };
    assert!(matches!(
        Info::parse_for(
            qmt_proto::kind::CommandKind::QmtConn,
            qmt_proto::kind::Form::Read,
            r.info[0].bytes()
        ),
        Some(Info::ConnRead { .. })
    ));
}

#[test]
fn trap1_conn_result_during_conn_read_is_a_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    // `+QMTCONN: 0,0,0` (result with ret_code) has the wrong shape for the read answer.
    link.feed(&framed(&["+QMTCONN: 0,0,0", "+QMTCONN: 0,3", "OK"]), t);
    assert_eq!(
        events(&mut link),
        [
            urc("+QMTCONN: 0,0,0"),
            done(token, &["+QMTCONN: 0,3"], "OK")
        ]
    );
}

#[test]
fn trap2_open_read_answer_is_info_and_late_open_result_is_a_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    link.feed(
        &framed(&["+QMTOPEN: 0,\"host\",1883", "+QMTOPEN: 1,0", "OK"]),
        t,
    );
    assert_eq!(
        events(&mut link),
        [
            urc("+QMTOPEN: 1,0"),
            done(token, &["+QMTOPEN: 0,\"host\",1883"], "OK")
        ]
    );
}

#[test]
fn trap3_payload_with_crlf_is_one_urc_and_the_final_code_follows() {
    let t = Instant::ZERO;
    let mut link = link(t);
    // Outside a command.
    link.feed(&framed(&["+QMTRECV: 0,0,\"t\",7,\"a\r\nb\r\nc\""]), t);
    // During another command, and followed by its final code.
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    link.feed(
        &framed(&["+QMTRECV: 0,1,\"t\",7,x\r\nOK\r\n", "+QMTCONN: 0,3", "OK"]),
        t,
    );
    let evs = events(&mut link);
    assert_eq!(
        evs,
        [
            urc("+QMTRECV: 0,0,\"t\",7,\"a\r\nb\r\nc\""),
            urc("+QMTRECV: 0,1,\"t\",7,x\r\nOK\r\n"),
            done(token, &["+QMTCONN: 0,3"], "OK"),
        ]
    );
    let qmt_transport::link::LinkEvent::Urc(l) = &evs[1] else {
        panic!()
    };
    let ModuleLine::Urc(Urc::Recv(msg)) = l.parse() else {
        panic!("{l:?}")
    };
    assert_eq!(msg.payload, b"x\r\nOK\r\n");
    assert_eq!(link.stats().unknown, 0);
}

#[test]
fn trap3_split_form_payload_is_joined_into_one_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.set_recv_len(
        qmt_proto::params::ClientIdx::new(0).unwrap(),
        qmt_proto::recv::LenMode::Split,
    );
    let token = link.submit(cmd("AT"), None, t).unwrap();
    link.feed(
        b"\r\n+QMTRECV: 0,0,\"pump/01/cmd\",9\r\n{\"r\":\r\n1}\r\n\r\nOK\r\n",
        t,
    );
    let evs = events(&mut link);
    assert_eq!(
        evs,
        [
            urc("+QMTRECV: 0,0,\"pump/01/cmd\",9\r\n{\"r\":\r\n1}"),
            done(token, &[], "OK")
        ]
    );
    let qmt_transport::link::LinkEvent::Urc(l) = &evs[0] else {
        panic!()
    };
    let ModuleLine::Urc(Urc::Recv(msg)) = l.parse() else {
        panic!("{l:?}")
    };
    assert_eq!(msg.payload, b"{\"r\":\r\n1}");
}

#[test]
fn trap4_ok_and_prompt_in_one_read() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let at = link.submit(cmd("AT"), None, t).unwrap();
    let publish = cmd("AT+QMTPUBEX=0,0,0,0,\"t\",3");
    let pubex = link.submit(publish, Some(b"abc".to_vec()), t).unwrap();
    assert_eq!(written(&mut link), "AT\r");
    // The previous final code and the prompt arrive in one read.
    link.feed(b"\r\nOK\r\n\r\n> ", t);
    assert_eq!(
        written(&mut link),
        "AT+QMTPUBEX=0,0,0,0,\"t\",3\rabc",
        "the prompt was not lost"
    );
    link.feed(&framed(&["OK", "+QMTPUBEX: 0,0,0"]), t);
    assert_eq!(
        events(&mut link),
        [
            done(at, &[], "OK"),
            done(pubex, &[], "OK"),
            urc("+QMTPUBEX: 0,0,0")
        ]
    );
}

#[test]
fn trap4_stray_prompt_and_connect_are_urcs() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.feed(b"\r\n> \r\nCONNECT\r\n", t);
    let token = link.submit(cmd("AT"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT\r");
    link.feed(b"\r\n> \r\nCONNECT\r\n\r\nOK\r\n", t);
    assert_eq!(
        events(&mut link),
        [
            urc("> "),
            urc("CONNECT"),
            urc("> "),
            urc("CONNECT"),
            done(token, &[], "OK")
        ]
    );
    assert_eq!(written(&mut link), "");
}

#[test]
fn trap5_first_line_without_leading_crlf_is_not_eaten() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.feed(b"+QMTSTAT: 0,1\r\n", t);
    let token = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    link.feed(b"+QMTOPEN: 0,\"h\",1\r\nOK\r\n", t);
    assert_eq!(
        events(&mut link),
        [
            urc("+QMTSTAT: 0,1"),
            done(token, &["+QMTOPEN: 0,\"h\",1"], "OK")
        ]
    );
    assert_eq!(link.stats().echoes, 0);
}

#[test]
fn trap6_overflow_loses_only_the_long_line() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    let mut input = framed(&["+QMTSTAT: 0,1"]);
    input.extend_from_slice(b"\r\n");
    input.extend(std::iter::repeat_n(b'x', 10_000));
    input.extend_from_slice(b"\r\n");
    // An over-long counted message too: its CR LF inside the payload must not fake a line end.
    let mut recv = b"\r\n+QMTRECV: 0,0,\"t\",5000,".to_vec();
    recv.extend(std::iter::repeat_n(b'y', 2_000));
    recv.extend_from_slice(b"\r\nOK\r\n");
    recv.extend(std::iter::repeat_n(b'y', 2_994));
    recv.extend_from_slice(b"\r\n");
    input.extend_from_slice(&recv);
    input.extend_from_slice(&framed(&["+QMTCONN: 0,3", "OK"]));
    for chunk in input.chunks(700) {
        link.feed(chunk, t);
    }
    assert_eq!(
        events(&mut link),
        [urc("+QMTSTAT: 0,1"), done(token, &["+QMTCONN: 0,3"], "OK")]
    );
    assert_eq!(link.stats().overflows, 2);
}

#[test]
fn unknown_lines_are_urcs_counted_and_block_nothing() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT"), None, t).unwrap();
    link.feed(b"\r\n\xff\xfe garbage \x00\r\n+QMTSTAT: 9,1\r\nOK\r\n", t);
    let garbage = qmt_transport::link::LinkEvent::Urc(qmt_transport::link::Line::new(
        b"\xff\xfe garbage \x00".to_vec(),
    ));
    assert_eq!(
        events(&mut link),
        [garbage, urc("+QMTSTAT: 9,1"), done(token, &[], "OK")]
    );
    assert_eq!(link.stats().unknown, 2);
}

/// Found by the soak: client 0 receives inline (`recv/mode` 0) while client 1's slots are read
/// with `AT+QMTRECV=1,<recv_id>`. Client 0's `+QMTRECV: 0,…` has the answer's shape, but the read
/// answers only lines of client 1: the other is a URC (it was taken as the answer and delivered
/// to client 1).
#[test]
fn inline_message_of_another_client_during_a_slot_read_is_a_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTRECV=1,2"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTRECV=1,2\r");
    link.feed(
        &framed(&[
            "+QMTRECV: 0,28,\"soak/down\",5,\"d|2|1\"",
            "+QMTRECV: 1,7,\"soak/down\",5,\"d|2|0\"",
            "+QMTRECV: 2,9,\"x\",1,\"y\"",
            "OK",
        ]),
        t,
    );
    assert_eq!(
        events(&mut link),
        [
            urc("+QMTRECV: 0,28,\"soak/down\",5,\"d|2|1\""),
            urc("+QMTRECV: 2,9,\"x\",1,\"y\""),
            done(token, &["+QMTRECV: 1,7,\"soak/down\",5,\"d|2|0\""], "OK")
        ]
    );
}

/// Spec §10.7: bytes lost or added on a UART make a counted `+QMTRECV` payload miss its
/// length. The message is reported damaged, never delivered, and the lines the miscounted
/// payload ran into are framed again: the command in flight still gets its answer.
#[test]
fn a_payload_that_misses_its_length_is_reported_damaged_and_the_next_lines_survive() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.feed(&framed(&["+QMTRECV: 0,0,\"t\",2,\"ok\""]), t);
    assert_eq!(events(&mut link), [urc("+QMTRECV: 0,0,\"t\",2,\"ok\"")]);
    let token = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    // Three payload bytes lost: the length runs into the lines that follow.
    link.feed(
        &framed(&["+QMTRECV: 0,1,\"t\",5,\"he\"", "+QMTCONN: 0,3", "OK"]),
        t,
    );
    assert_eq!(
        events(&mut link),
        [
            LinkEvent::Damaged(line("+QMTRECV: 0,1,\"t\",5,\"he\"")),
            done(token, &["+QMTCONN: 0,3"], "OK")
        ]
    );
    // One lost: the line ends where it should, one byte short.
    link.feed(&framed(&["+QMTRECV: 0,5,\"t\",5,\"hell\""]), t);
    assert_eq!(
        events(&mut link),
        [LinkEvent::Damaged(line("+QMTRECV: 0,5,\"t\",5,\"hell\""))]
    );
    // Two lost: `"hel"` has the length, but this module quotes its payloads.
    link.feed(&framed(&["+QMTRECV: 0,4,\"t\",5,\"hel\""]), t);
    assert_eq!(
        events(&mut link),
        [LinkEvent::Damaged(line("+QMTRECV: 0,4,\"t\",5,\"hel\""))]
    );
    // A byte added: the line is longer than its length says.
    link.feed(&framed(&["+QMTRECV: 0,2,\"t\",5,\"helxlo\""]), t);
    assert_eq!(
        events(&mut link),
        [LinkEvent::Damaged(line("+QMTRECV: 0,2,\"t\",5,\"helxlo\""))]
    );
    // A payload that holds CR LF and matches its length is a message.
    link.feed(&framed(&["+QMTRECV: 0,3,\"t\",7,\"ab\r\nc\r\n\""]), t);
    assert_eq!(
        events(&mut link),
        [urc("+QMTRECV: 0,3,\"t\",7,\"ab\r\nc\r\n\"")]
    );
    assert_eq!(link.stats().damaged, 4);
    assert_eq!(link.stats().unknown, 0);
}

#[test]
fn without_lengths_nothing_can_be_checked() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.set_recv_len(
        qmt_proto::params::ClientIdx::new(0).unwrap(),
        qmt_proto::recv::LenMode::Off,
    );
    link.feed(&framed(&["+QMTRECV: 0,1,\"t\",\"5,\\\"hel\\\"\""]), t);
    assert!(matches!(events(&mut link).as_slice(), [LinkEvent::Urc(_)]));
    assert_eq!(link.stats().damaged, 0);
}
