//! A data prompt lost to line damage (spec §10.7, ARCHITECTURE.md "Line damage"): the module
//! waits for the data while the host waits for `> `. Found by the 2-minute damage soak: a `>"`
//! stalled the link for the publish's whole 15 s, then the marker's bytes were published as the
//! message.

#![allow(clippy::unwrap_used)]

mod link_support;

use std::time::Duration;

use link_support::*;
use qmt_transport::link::LinkEvent;
use qmt_transport::time::Instant;

const PUBEX: &str = "AT+QMTPUBEX=0,0,0,0,\"t\",3";

#[test]
fn a_damaged_prompt_line_still_invites_the_data() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd(PUBEX), Some(b"abc".to_vec()), t).unwrap();
    assert_eq!(written(&mut link), format!("{PUBEX}\r"));
    // `> ` with its space turned into `"`, then a URC ends that line.
    link.feed(b"\r\n>\"\r\n+QMTSTAT: 5,1\r\n", t);
    assert_eq!(written(&mut link), "abc");
    link.feed(&framed(&["OK"]), t);
    let ev = events(&mut link);
    assert_eq!(ev, [urc("+QMTSTAT: 5,1"), done(token, &[], "OK")]);
    assert_eq!(link.stats().prompts_damaged, 1);
    assert_eq!(link.stats().unknown, 0);
}

#[test]
fn a_line_starting_with_gt_outside_a_prompt_is_an_unknown_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    link.feed(b"\r\n>\"\r\n", t);
    assert_eq!(events(&mut link), [urc(">\"")], "nothing awaited a prompt");
    assert_eq!(link.stats().prompts_damaged, 0);
    assert_eq!(link.stats().unknown, 1);
}

#[test]
fn no_prompt_in_time_writes_the_data_and_the_publish_completes() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd(PUBEX), Some(b"abc".to_vec()), t).unwrap();
    assert_eq!(written(&mut link), format!("{PUBEX}\r"));
    // The prompt's `>` was lost: `\r\n ` is all that came. The next deadline is the prompt's.
    link.feed(b"\r\n ", t);
    assert_eq!(link.poll_timeout(), Some(t + Duration::from_secs(2)));
    link.handle_timeout(ms(t, 1_999));
    assert_eq!(written(&mut link), "", "not before the prompt's wait");
    link.handle_timeout(ms(t, 2_000));
    assert_eq!(written(&mut link), "abc");
    assert_eq!(link.poll_timeout(), Some(t + Duration::from_secs(15)));
    link.feed(&framed(&["OK", "+QMTPUBEX: 0,0,0"]), ms(t, 2_010));
    let ev = events(&mut link);
    assert!(ev.contains(&done(token, &[], "OK")), "{ev:?}");
    assert_eq!(link.stats().prompts_damaged, 1);
}

#[test]
fn a_late_prompt_after_the_data_was_written_is_consumed() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd(PUBEX), Some(b"abc".to_vec()), t).unwrap();
    written(&mut link);
    link.handle_timeout(ms(t, 2_000));
    assert_eq!(written(&mut link), "abc");
    // A slow module: its prompt comes after all, then the answer.
    link.feed(b"\r\n> ", ms(t, 2_100));
    link.feed(&framed(&["OK"]), ms(t, 2_110));
    assert_eq!(events(&mut link), [done(token, &[], "OK")]);
    // A second stray prompt is a URC again.
    link.feed(b"\r\n> ", ms(t, 2_200));
    assert_eq!(events(&mut link), [urc("> ")]);
}

#[test]
fn data_that_could_read_as_a_command_is_never_written_blind() {
    for data in [&b"AT+QPOWD"[..], b"at+cfun=0", b"a\rAT+QPOWD", b"x\ny"] {
        let t = Instant::ZERO;
        let mut link = link(t);
        let publish = cmd(&format!("AT+QMTPUBEX=0,0,0,0,\"t\",{}", data.len()));
        let token = link.submit(publish, Some(data.to_vec()), t).unwrap();
        written(&mut link);
        link.handle_timeout(ms(t, 2_000));
        assert_eq!(written(&mut link), "", "{data:?}");
        assert_eq!(link.stats().prompts_damaged, 0);
        // It waits for its own deadline, then times out as any command.
        assert_eq!(link.poll_timeout(), Some(t + Duration::from_secs(15)));
        link.handle_timeout(ms(t, 15_000));
        let ev = events(&mut link);
        assert!(
            matches!(ev.first(), Some(LinkEvent::Completed { token: k, result: Err(_) }) if *k == token),
            "{ev:?}"
        );
    }
}
