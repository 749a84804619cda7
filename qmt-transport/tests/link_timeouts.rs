//! Deadlines, late replies (marker resynchronisation), module restarts, back-pressure, close.

#![allow(clippy::unwrap_used)]

mod link_support;

use std::time::Duration;

use link_support::*;
use qmt_transport::link::{CommandError, LinkEvent, SubmitError, Timeouts};
use qmt_transport::time::Instant;

fn short() -> Timeouts {
    Timeouts {
        config: Duration::from_millis(300),
        open: Duration::from_secs(120),
        close: Duration::from_secs(30),
        conn: Duration::from_secs(5),
        packet: Duration::from_secs(15),
        other: Duration::from_secs(1),
        operator: Duration::from_secs(180),
        activate: Duration::from_secs(150),
        deactivate: Duration::from_secs(40),
        functionality: Duration::from_secs(15),
        ntp: Duration::from_secs(125),
        prompt: Duration::from_secs(2),
    }
}

fn timeout(token: qmt_transport::link::Token, command: &str, ms: u64) -> LinkEvent {
    failed(
        token,
        CommandError::Timeout {
            command: command.into(),
            waited: Duration::from_millis(ms),
        },
    )
}

#[test]
fn deadlines_follow_the_command_kind() {
    let t = Instant::ZERO;
    let cases = [
        ("AT+QMTCFG=\"version\",0", 300),
        ("AT+QSSLCFG=\"seclevel\",2,2", 300),
        ("ATE0", 300),
        ("AT+CMEE=2", 300),
        ("AT", 300),
        ("AT+QMTOPEN=0,\"h\",1883", 120_000),
        ("AT+QMTCLOSE=0", 30_000),
        ("AT+QMTDISC=0", 30_000),
        ("AT+QMTCONN=0,\"c\"", 5_000),
        ("AT+QMTSUB=0,1,\"t\",1", 15_000),
        ("AT+QMTUNS=0,1,\"t\"", 15_000),
        ("AT+QMTRECV=0", 1_000),
        // Spec §10: the long waits have their own fields, the rest is the `other` class.
        ("AT+COPS?", 180_000),
        ("AT+QIACT=1", 150_000),
        ("AT+QIACT?", 150_000),
        ("AT+QIDEACT=1", 40_000),
        ("AT+CFUN=1", 15_000),
        ("AT+CFUN?", 15_000),
        ("AT+CPIN?", 1_000),
        ("AT+CPIN=\"1234\"", 1_000),
        ("ATI", 1_000),
        ("AT+GSN", 1_000),
        ("AT+CEREG?", 1_000),
        ("AT+CSQ", 1_000),
        ("AT+QICSGP=1,1,\"internet\",\"\",\"\",0", 1_000),
        ("AT+QPOWD=1", 1_000),
    ];
    for (text, ms) in cases {
        let mut link = link_with(short(), 4, t);
        link.submit(cmd(text), None, t).unwrap();
        assert_eq!(
            link.poll_timeout(),
            Some(t + Duration::from_millis(ms)),
            "{text}"
        );
    }
}

#[test]
fn timeout_names_the_command_without_its_parameters() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let token = link
        .submit(cmd("AT+QMTCONN=0,\"dev\",\"user\",\"s3cret\""), None, t)
        .unwrap();
    link.handle_timeout(ms(t, 4_999));
    assert_eq!(events(&mut link), []);
    link.handle_timeout(ms(t, 5_002));
    let evs = events(&mut link);
    assert_eq!(evs, [timeout(token, "AT+QMTCONN", 5_002)]);
    let LinkEvent::Completed { result: Err(e), .. } = &evs[0] else {
        panic!()
    };
    assert_eq!(e.to_string(), "AT+QMTCONN timed out after 5.002s");
    assert!(!format!("{evs:?}").contains("s3cret"));
}

/// After a timeout the late answer of the abandoned command (info and final code) is consumed,
/// with echo off and on, and the next command gets only its own answer.
#[test]
fn late_replies_never_complete_the_next_command() {
    for echo_on in [false, true] {
        for late_final in ["OK", "ERROR", "+CME ERROR: 100"] {
            let t = Instant::ZERO;
            let mut link = link_with(short(), 4, t);
            let a = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
            let b = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
            assert_eq!(written(&mut link), "AT+QMTCONN?\r");
            link.handle_timeout(ms(t, 5_000));
            assert_eq!(events(&mut link), [timeout(a, "AT+QMTCONN?", 5_000)]);
            // The marker goes out, not the next command.
            assert_eq!(written(&mut link), "AT+QMTOPEN=?\r");
            assert!(link.resyncing());
            assert_eq!(link.in_flight(), None);
            let e = |c: &str| {
                if echo_on {
                    format!("{c}\r")
                } else {
                    String::new()
                }
            };
            let mut late = e("AT+QMTCONN?");
            late += "\r\n+QMTCONN: 0,3\r\n\r\n+QMTSTAT: 0,1\r\n";
            late += &format!("\r\n{late_final}\r\n");
            late += &e("AT+QMTOPEN=?");
            late += "\r\n+QMTOPEN: (0-5),\"hostname\",(1-65535)\r\n\r\nOK\r\n";
            for chunk in late.as_bytes().chunks(3) {
                link.feed(chunk, ms(t, 5_100));
            }
            assert!(!link.resyncing());
            assert_eq!(written(&mut link), "AT+QMTOPEN?\r");
            assert_eq!(link.in_flight(), Some(b));
            // Only the URC surfaced: the late info line and final were consumed.
            assert_eq!(events(&mut link), [urc("+QMTSTAT: 0,1")]);
            link.feed(e("AT+QMTOPEN?").as_bytes(), ms(t, 5_200));
            link.feed(&framed(&["+QMTOPEN: 0,\"h\",1883", "OK"]), ms(t, 5_200));
            assert_eq!(
                events(&mut link),
                [done(b, &["+QMTOPEN: 0,\"h\",1883"], "OK")],
                "echo {echo_on}, late {late_final}"
            );
            let s = link.stats();
            assert_eq!(s.late_finals, 1);
            assert_eq!(s.echoes, if echo_on { 3 } else { 0 });
            assert_eq!(s.unknown, 0);
        }
    }
}

/// The module never received the command: no late answer comes; the marker's information line
/// retires the ghost, and no final code is wrongly taken as late.
#[test]
fn a_lost_command_is_retired_by_the_marker_answer() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT"), None, t).unwrap();
    let b = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    link.handle_timeout(ms(t, 300));
    assert_eq!(written(&mut link), "AT\rAT+QMTOPEN=?\r");
    link.feed(
        &framed(&["+QMTOPEN: (0-5),\"hostname\",(1-65535)", "OK"]),
        ms(t, 310),
    );
    assert_eq!(written(&mut link), "AT+QMTCONN?\r");
    link.feed(&framed(&["+QMTCONN: 0,3", "OK"]), ms(t, 320));
    assert_eq!(
        events(&mut link),
        [timeout(a, "AT", 300), done(b, &["+QMTCONN: 0,3"], "OK")]
    );
    assert_eq!(link.stats().late_finals, 0);
}

/// A user test command that times out: the marker is of another kind, so the late test answer
/// cannot be taken for the marker's.
#[test]
fn markers_never_share_a_kind_with_an_abandoned_test_command() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT+QMTOPEN=?"), None, t).unwrap();
    let b = link.submit(cmd("AT"), None, t).unwrap();
    link.handle_timeout(ms(t, 120_000));
    assert_eq!(written(&mut link), "AT+QMTOPEN=?\rAT+QMTCLOSE=?\r");
    link.feed(
        &framed(&["+QMTOPEN: (0-5),\"hostname\",(1-65535)", "OK"]),
        ms(t, 120_010),
    );
    assert!(link.resyncing());
    assert_eq!(written(&mut link), "");
    link.feed(&framed(&["+QMTCLOSE: (0-5)", "OK"]), ms(t, 120_020));
    assert_eq!(written(&mut link), "AT\r");
    link.feed(&framed(&["OK"]), ms(t, 120_030));
    assert_eq!(
        events(&mut link),
        [timeout(a, "AT+QMTOPEN=?", 120_000), done(b, &[], "OK")]
    );
    assert_eq!(link.stats().late_finals, 1);
}

/// A marker that times out becomes a ghost too; its late answer is consumed; only the newest
/// marker's final code ends the resynchronisation.
#[test]
fn a_timed_out_marker_is_followed_by_a_distinct_one() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT+QMTSUB=0,1,\"t\",1"), None, t).unwrap();
    let b = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    link.handle_timeout(ms(t, 15_000));
    link.handle_timeout(ms(t, 16_000));
    assert_eq!(
        written(&mut link),
        "AT+QMTSUB=0,1,\"t\",1\rAT+QMTOPEN=?\rAT+QMTCLOSE=?\r"
    );
    assert_eq!(link.poll_timeout(), Some(ms(t, 17_000)));
    // Everything arrives late, in order: the subscribe's OK and result, marker 1, marker 2.
    link.feed(
        &framed(&[
            "OK",
            "+QMTSUB: 0,1,0,1",
            "+QMTOPEN: (0-5),\"hostname\",(1-65535)",
            "OK",
        ]),
        ms(t, 16_500),
    );
    assert!(link.resyncing());
    assert_eq!(written(&mut link), "");
    link.feed(&framed(&["+QMTCLOSE: (0-5)", "OK"]), ms(t, 16_600));
    assert_eq!(written(&mut link), "AT+QMTCONN?\r");
    link.feed(&framed(&["+QMTCONN: 0,3", "OK"]), ms(t, 16_700));
    assert_eq!(
        events(&mut link),
        [
            timeout(a, "AT+QMTSUB", 15_000),
            urc("+QMTSUB: 0,1,0,1"),
            done(b, &["+QMTCONN: 0,3"], "OK")
        ]
    );
    assert_eq!(link.stats().late_finals, 2);
}

/// A newer marker's answer retires every older ghost, even if their answers never came.
#[test]
fn a_newer_marker_answer_retires_older_ghosts() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT"), None, t).unwrap();
    let b = link.submit(cmd("AT"), None, t).unwrap();
    link.handle_timeout(ms(t, 300));
    link.handle_timeout(ms(t, 1_300));
    link.handle_timeout(ms(t, 2_300));
    assert_eq!(
        written(&mut link),
        "AT\rAT+QMTOPEN=?\rAT+QMTCLOSE=?\rAT+QMTCONN=?\r"
    );
    link.feed(
        &framed(&[
            "+QMTCONN: (0-5),\"clientid\",\"username\",\"password\"",
            "OK",
        ]),
        ms(t, 2_400),
    );
    assert_eq!(written(&mut link), "AT\r");
    link.feed(&framed(&["OK"]), ms(t, 2_500));
    assert_eq!(
        events(&mut link),
        [timeout(a, "AT", 300), done(b, &[], "OK")]
    );
    assert_eq!(link.stats().late_finals, 0);
}

/// All thirteen markers outstanding: the link waits (no deadline, nothing written) until an
/// answer or `RDY` arrives.
#[test]
fn exhausted_markers_wait_for_an_answer_or_a_restart() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT"), None, t).unwrap();
    let b = link.submit(cmd("AT"), None, t).unwrap();
    let mut now = ms(t, 300);
    link.handle_timeout(now);
    for _ in 0..13 {
        now += Duration::from_secs(1);
        link.handle_timeout(now);
    }
    let w = written(&mut link);
    assert_eq!(w.matches("=?\r").count(), 7, "{w}");
    assert_eq!(w.matches("AT+QSSLCFG=\"sslversion\",").count(), 6, "{w}");
    assert_eq!(link.poll_timeout(), None);
    assert!(link.resyncing());
    link.handle_timeout(now + Duration::from_secs(100));
    assert_eq!(written(&mut link), "");
    link.feed(&framed(&["RDY"]), now);
    assert!(!link.resyncing());
    assert_eq!(written(&mut link), "AT\r");
    link.feed(b"AT\r\r\nOK\r\n", now);
    assert_eq!(
        events(&mut link),
        [timeout(a, "AT", 300), urc("RDY"), done(b, &[], "OK")]
    );
}

#[test]
fn a_late_prompt_of_an_abandoned_publish_writes_nothing() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link
        .submit(cmd("AT+QMTPUBEX=0,0,0,0,\"t\",2"), Some(b"hi".to_vec()), t)
        .unwrap();
    link.handle_timeout(ms(t, 15_000));
    assert_eq!(
        written(&mut link),
        "AT+QMTPUBEX=0,0,0,0,\"t\",2\rAT+QMTOPEN=?\r"
    );
    link.feed(b"\r\n> ", ms(t, 15_001));
    assert_eq!(written(&mut link), "");
    link.feed(&framed(&["ERROR"]), ms(t, 15_002));
    link.feed(
        &framed(&["+QMTOPEN: (0-5),\"hostname\",(1-65535)", "OK"]),
        ms(t, 15_003),
    );
    assert!(!link.resyncing());
    assert_eq!(events(&mut link), [timeout(a, "AT+QMTPUBEX", 15_000)]);
    assert_eq!(link.stats().late_finals, 1);
}

#[test]
fn rdy_mid_command_completes_it_and_the_queue_goes_on() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let a = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    let b = link.submit(cmd("ATE0"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTOPEN?\r");
    link.feed(b"\r\n+QMTOPEN: 0,\"h\",1\r\n\r\nRDY\r\n", t);
    // The restarted module may or may not answer the open read: a marker (of another kind)
    // settles it. Here it was lost; echo is on again after power-up.
    assert_eq!(written(&mut link), "AT+QMTCLOSE=?\r");
    link.feed(b"AT+QMTCLOSE=?\r\r\n+QMTCLOSE: (0-5)\r\n\r\nOK\r\n", t);
    assert_eq!(written(&mut link), "ATE0\r");
    link.feed(b"ATE0\r\r\nOK\r\n", t);
    assert_eq!(
        events(&mut link),
        [
            failed(
                a,
                CommandError::ModuleRestarted {
                    command: "AT+QMTOPEN?".into()
                }
            ),
            urc("RDY"),
            done(b, &[], "OK")
        ]
    );
    assert_eq!(link.stats().echoes, 2);
    assert_eq!(link.stats().late_finals, 0);
    // Counted, so that a caller can tell that a command completed after a restart.
    assert_eq!(link.stats().restarts, 1);
}

/// The host wrote a command after the module booted but before it read `RDY`: the module
/// answers it after `RDY`; that answer must not complete the next command.
#[test]
fn rdy_then_a_late_answer_of_the_restarted_command() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let a = link.submit(cmd("AT+QMTCONN?"), None, t).unwrap();
    let b = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+QMTCONN?\r");
    link.feed(b"\r\nRDY\r\nAT+QMTCONN?\r\r\nOK\r\n", t);
    assert_eq!(written(&mut link), "AT+QMTOPEN=?\r");
    link.feed(
        b"AT+QMTOPEN=?\r\r\n+QMTOPEN: (0-5),\"hostname\",(1-65535)\r\n\r\nOK\r\n",
        t,
    );
    assert_eq!(written(&mut link), "AT+QMTOPEN?\r");
    link.feed(b"AT+QMTOPEN?\r\r\nOK\r\n", t);
    assert_eq!(
        events(&mut link),
        [
            failed(
                a,
                CommandError::ModuleRestarted {
                    command: "AT+QMTCONN?".into()
                }
            ),
            urc("RDY"),
            done(b, &[], "OK")
        ]
    );
    assert_eq!(link.stats().late_finals, 1);
}

#[test]
fn queue_full_is_back_pressure() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 2, t);
    let a = link.submit(cmd("AT"), None, t).unwrap();
    let b = link.submit(cmd("AT"), None, t).unwrap();
    let c = link.submit(cmd("AT"), None, t).unwrap();
    assert_eq!(
        link.submit(cmd("AT"), None, t),
        Err(SubmitError::QueueFull { capacity: 2 })
    );
    assert_eq!(link.queued(), 2);
    link.feed(&framed(&["OK"]), t);
    let d = link.submit(cmd("AT"), None, t).unwrap();
    for _ in 0..3 {
        link.feed(&framed(&["OK"]), t);
    }
    assert_eq!(written(&mut link), "AT\r".repeat(4));
    assert_eq!(
        events(&mut link),
        [a, b, c, d].map(|tk| done(tk, &[], "OK"))
    );
}

#[test]
fn close_completes_everything_with_closed() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let a = link.submit(cmd("AT+QMTOPEN?"), None, t).unwrap();
    let b = link
        .submit(cmd("AT+QMTPUBEX=0,0,0,0,\"t\",1"), Some(b"x".to_vec()), t)
        .unwrap();
    link.close(t);
    let c = link.submit(cmd("AT"), None, t).unwrap();
    link.feed(&framed(&["OK"]), t);
    let closed = |command: &str| CommandError::Closed {
        command: command.into(),
    };
    assert_eq!(
        events(&mut link),
        [
            failed(a, closed("AT+QMTOPEN?")),
            failed(b, closed("AT+QMTPUBEX")),
            failed(c, closed("AT")),
        ]
    );
    assert_eq!(link.poll_timeout(), None);
    assert_eq!(written(&mut link), "");
}

#[test]
fn link_debug_shows_no_secret() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let conn = "AT+QMTCONN=0,\"dev\",\"user\",\"s3cret\"";
    link.submit(cmd(conn), None, t).unwrap();
    link.submit(cmd(conn), None, t).unwrap();
    link.submit(
        cmd("AT+QMTCFG=\"aliauth\",0,\"pk\",\"dn\",\"devsecret\""),
        None,
        t,
    )
    .unwrap();
    let dbg = format!("{link:?}");
    assert!(dbg.contains("AT+QMTCONN"), "{dbg}");
    assert!(
        !dbg.contains("s3cret") && !dbg.contains("devsecret"),
        "{dbg}"
    );
    link.handle_timeout(ms(t, 5_000));
    let dbg = format!("{link:?} {:?}", events(&mut link));
    assert!(!dbg.contains("s3cret"), "{dbg}");
}

#[test]
fn information_lines_are_bounded() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+QMTCFG=?"), None, t).unwrap();
    let flood = qmt_transport::link::MAX_INFO_LINES + 3;
    for _ in 0..flood {
        link.feed(&framed(&["+QMTCFG: \"version\",(0-5),(3,4)"]), t);
    }
    link.feed(&framed(&["OK"]), t);
    let evs = events(&mut link);
    assert_eq!(evs.len(), 4);
    let LinkEvent::Completed {
        token: tk,
        result: Ok(r),
    } = &evs[3]
    else {
        panic!("{:?}", evs[3])
    };
    assert_eq!(*tk, token);
    assert_eq!(r.info.len(), qmt_transport::link::MAX_INFO_LINES);
}

/// Past the seven test commands the markers are `AT+QSSLCFG="sslversion",<ctx>` queries, told
/// apart by their context; one's answer retires every older ghost.
#[test]
fn ssl_markers_after_the_test_markers() {
    let t = Instant::ZERO;
    let mut link = link_with(short(), 4, t);
    let a = link.submit(cmd("AT"), None, t).unwrap();
    let b = link.submit(cmd("AT"), None, t).unwrap();
    let mut now = ms(t, 300);
    link.handle_timeout(now);
    for _ in 0..8 {
        now += Duration::from_secs(1);
        link.handle_timeout(now);
    }
    let w = written(&mut link);
    assert!(
        w.ends_with("AT+QSSLCFG=\"sslversion\",0\rAT+QSSLCFG=\"sslversion\",1\r"),
        "{w}"
    );
    // The older SSL marker's answer retires the ghosts before it, not the newest marker.
    link.feed(&framed(&["+QSSLCFG: \"sslversion\",0,4", "OK"]), now);
    assert!(link.resyncing());
    assert_eq!(written(&mut link), "");
    link.feed(&framed(&["+QSSLCFG: \"sslversion\",1,4", "OK"]), now);
    assert!(!link.resyncing());
    assert_eq!(written(&mut link), "AT\r");
    link.feed(&framed(&["OK"]), now);
    assert_eq!(
        events(&mut link),
        [timeout(a, "AT", 300), done(b, &[], "OK")]
    );
    // The timed-out SSL marker's own OK was late.
    assert_eq!(link.stats().late_finals, 1);
}

#[test]
fn silent_module_is_probed_without_markers_until_it_answers() {
    // Issue 13: a port where nothing answers must see `AT` probes only; markers are for a module
    // that has answered before and may still send a late reply.
    let t = Instant::ZERO;
    let mut link = qmt_transport::link::Link::new(qmt_transport::link::LinkConfig::default(), t);
    let mut now = t;
    for n in 0..5 {
        let token = link.submit(cmd("AT"), None, now).unwrap();
        assert_eq!(transmits(&mut link), [b"AT\r".to_vec()], "probe {n}");
        now = link.poll_timeout().unwrap();
        link.handle_timeout(now);
        assert_eq!(events(&mut link), [timeout(token, "AT", 300)]);
        assert!(transmits(&mut link).is_empty(), "no marker after probe {n}");
    }
    assert!(!link.stats().heard);
    // The module wakes up and answers a probe: late answers of earlier probes may follow, so
    // from now on the link resynchronises before the next command.
    let token = link.submit(cmd("AT"), None, now).unwrap();
    assert_eq!(transmits(&mut link), [b"AT\r".to_vec()]);
    link.feed(b"\r\nOK\r\n", now);
    assert!(link.stats().heard);
    // The OK is taken as the oldest probe's late answer (which OK answers which probe cannot be
    // known); the probe on the wire times out, and a marker resolves the rest.
    assert!(events(&mut link).is_empty());
    now = link.poll_timeout().unwrap();
    link.handle_timeout(now);
    assert_eq!(events(&mut link), [timeout(token, "AT", 300)]);
    assert_eq!(transmits(&mut link), [b"AT+QMTOPEN=?\r".to_vec()]);
    link.feed(
        b"\r\n+QMTOPEN: (0-5),\"<host_name>\",(1-65535)\r\n\r\nOK\r\n",
        now,
    );
    // The marker's answer retired every ghost and its OK ended the resync: the next probe goes.
    assert!(!link.resyncing());
    let token = link.submit(cmd("AT"), None, now).unwrap();
    assert_eq!(transmits(&mut link), [b"AT\r".to_vec()]);
    assert_eq!(link.in_flight(), Some(token));
}
