//! The replay core (`qmt_sim::replay`) driven by scripted host bytes and scripted time: matching,
//! repeated commands, basics, uncovered commands, echo, data phases, timing, the values a host
//! sends back in answers, and the script builder.
#![allow(clippy::unwrap_used)]

#[path = "support/capture.rs"]
mod capture;

use std::time::{Duration, Instant};

use qmt_proto::checksum::qfupl_checksum;
use qmt_sim::replay::{
    Chunk, Part, Replay, ReplayConfig, Script, ScriptError, Speed, Step, UNTIMED_URC_DELAY,
};

/// A host on the replay's serial line, with its own clock.
struct Host {
    r: Replay,
    now: Instant,
    start: Instant,
}

impl Host {
    fn new(script: Script) -> Host {
        Host::with(script.into())
    }

    fn with(config: ReplayConfig) -> Host {
        let now = Instant::now();
        Host {
            r: Replay::new(config, now),
            now,
            start: now,
        }
    }

    fn read(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(chunk) = self.r.poll_output() {
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    /// Writes `line` and CR; what is due at once.
    fn send(&mut self, line: &str) -> String {
        self.raw(format!("{line}\r").as_bytes())
    }

    fn raw(&mut self, bytes: &[u8]) -> String {
        self.r.feed(bytes, self.now);
        self.read()
    }

    /// Lets `ms` pass; what became due.
    fn wait(&mut self, ms: u64) -> String {
        self.now += Duration::from_millis(ms);
        self.r.handle_timeout(self.now);
        self.read()
    }

    /// Plays everything still scheduled.
    fn drain(&mut self) -> String {
        let mut all = String::new();
        while let Some(t) = self.r.poll_timeout() {
            self.now = self.now.max(t);
            self.r.handle_timeout(self.now);
            all.push_str(&self.read());
        }
        all
    }

    /// Milliseconds from the start to the next deadline.
    fn next_ms(&self) -> Option<u128> {
        self.r
            .poll_timeout()
            .map(|t| t.duration_since(self.start).as_millis())
    }
}

/// An untimed script of `(command, module lines)` exchanges, lines sent as `\r\n<line>\r\n`.
fn untimed(exchanges: &[(&str, &[&str])]) -> Script {
    let mut s = Script::new();
    for (cmd, lines) in exchanges {
        s.push_command(cmd.as_bytes(), None).unwrap();
        for l in *lines {
            s.push_module(format!("\r\n{l}\r\n").as_bytes(), None);
        }
    }
    s
}

fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("\r\n{l}\r\n")).collect()
}

#[test]
fn commands_take_the_exchange_with_equal_arguments_then_the_first_of_their_kind() {
    let mut h = Host::new(untimed(&[
        (r#"AT+QMTSUB=0,1,"a",1"#, &["OK", "+QMTSUB: 0,1,0,1"]),
        (r#"AT+QMTSUB=0,2,"b",0"#, &["OK", "+QMTSUB: 0,2,0,0"]),
        (r#"AT+QMTCFG="keepalive",0,60"#, &["OK"]),
        (
            r#"AT+QMTCFG="keepalive",0"#,
            &[r#"+QMTCFG: "keepalive",60"#, "OK"],
        ),
    ]));
    // Equal arguments win over log order; lower case is the same command (spec §6 variation 5).
    assert_eq!(
        h.send(r#"at+qmtsub=0,2,"b",0"#),
        lines(&["OK", "+QMTSUB: 0,2,0,0"])
    );
    assert_eq!(
        h.send(r#"AT+QMTSUB=0,1,"a",1"#),
        lines(&["OK", "+QMTSUB: 0,1,0,1"])
    );
    // A query and a set of one setting are different kinds.
    assert_eq!(
        h.send(r#"AT+QMTCFG="KEEPALIVE",0"#),
        lines(&[r#"+QMTCFG: "keepalive",60"#, "OK"])
    );
    assert_eq!(h.send(r#"AT+QMTCFG="keepalive",0,120"#), lines(&["OK"]));
    let stats = h.r.stats();
    assert_eq!((stats.exchanges, stats.played, stats.repeated), (4, 4, 0));
    assert!(h.r.uncovered().is_empty());
}

#[test]
fn hosts_client_ids_and_passwords_need_not_match_the_log() {
    let mut h = Host::new(capture::script(&capture::read("aliyun.log")));
    assert_eq!(
        h.send(r#"AT+QMTOPEN=0,"broker.local",8883"#),
        lines(&["OK", "+QMTOPEN: 0,0"])
    );
    // The log's CONN has no credentials; the host's has a user and password.
    assert_eq!(
        h.send(r#"AT+QMTCONN=0,"someone-else","bob","hunter2""#),
        lines(&["OK", "+QMTCONN: 0,0,0"])
    );
    assert!(h.r.uncovered().is_empty());
    assert_eq!(h.r.stats().played, 2);
}

#[test]
fn a_repeated_command_gets_the_last_answer_again_without_its_urcs() {
    let mut h = Host::new(untimed(&[
        ("AT+CSQ", &["+CSQ: 20,99", "OK"]),
        ("AT+CSQ", &["+CSQ: 25,99", "OK", "+QMTSTAT: 0,1"]),
    ]));
    assert_eq!(h.send("AT+CSQ"), lines(&["+CSQ: 20,99", "OK"]));
    assert_eq!(
        h.send("AT+CSQ"),
        lines(&["+CSQ: 25,99", "OK", "+QMTSTAT: 0,1"])
    );
    // The log's polls are used up: the last answer again, but not the URC that followed it.
    for _ in 0..3 {
        assert_eq!(h.send("AT+CSQ"), lines(&["+CSQ: 25,99", "OK"]));
    }
    assert_eq!(h.drain(), "");
    assert_eq!((h.r.stats().played, h.r.stats().repeated), (2, 3));
}

#[test]
fn a_repeated_two_phase_command_plays_up_to_its_own_result() {
    let mut h = Host::new(untimed(&[(
        r#"AT+QMTSUB=0,1,"a",1"#,
        &[
            "OK",
            r#"+QMTRECV: 0,0,"x",1,"y""#,
            "+QMTSUB: 0,1,0,1",
            "+QMTPING: 0,1",
        ],
    )]));
    h.send(r#"AT+QMTSUB=0,1,"a",1"#);
    assert_eq!(
        h.send(r#"AT+QMTSUB=0,1,"a",1"#),
        lines(&["OK", r#"+QMTRECV: 0,0,"x",1,"y""#, "+QMTSUB: 0,1,0,1"])
    );
}

#[test]
fn an_uncovered_command_answers_error_and_is_counted_with_secrets_redacted() {
    let mut h = Host::new(untimed(&[(
        r#"AT+QMTOPEN=0,"h",1883"#,
        &["OK", "+QMTOPEN: 0,0"],
    )]));
    assert_eq!(
        h.send(r#"AT+QMTCONN=0,"c","user","hunter2""#),
        lines(&["ERROR"])
    );
    assert_eq!(h.send("AT+QGPS=1"), lines(&["ERROR"]));
    let uncovered = h.r.uncovered();
    assert_eq!(uncovered.len(), 2, "{uncovered:?}");
    assert!(
        uncovered[0].starts_with("AT+QMTCONN=0,\"c\""),
        "{uncovered:?}"
    );
    assert!(!uncovered[0].contains("hunter2"), "{uncovered:?}");
    assert_eq!(uncovered[1], "AT+QGPS…");
    // The log's exchange is still there for the host.
    assert_eq!(
        h.send(r#"AT+QMTOPEN=0,"h",1883"#),
        lines(&["OK", "+QMTOPEN: 0,0"])
    );
}

#[test]
fn basics_answer_ok_and_echo_follows_ate() {
    let mut h = Host::new(untimed(&[("AT+CSQ", &["+CSQ: 20,99", "OK"])]));
    for cmd in ["AT", "at", "AT&W", "AT+CMEE=2", "ATV1", "ATE0"] {
        assert_eq!(h.send(cmd), lines(&["OK"]), "{cmd}");
    }
    // The log's module did not echo; ATE1 turns echo on (its own OK comes unechoed).
    assert_eq!(h.send("ATE1"), lines(&["OK"]));
    assert_eq!(h.send("AT"), format!("AT\r{}", lines(&["OK"])));
    assert_eq!(
        h.send("AT+CSQ"),
        format!("AT+CSQ\r{}", lines(&["+CSQ: 20,99", "OK"]))
    );
    // ATE0 is echoed, then nothing is.
    assert_eq!(h.send("ATE0"), format!("ATE0\r{}", lines(&["OK"])));
    assert_eq!(h.send("AT"), lines(&["OK"]));
    assert_eq!(h.r.stats().defaults, 10);
    assert!(h.r.uncovered().is_empty());
}

#[test]
fn the_logs_echo_style_is_kept_with_the_hosts_bytes() {
    let mut s = Script::new();
    s.push_command(br#"AT+QMTOPEN=0,"iot.example",1883"#, None)
        .unwrap();
    s.push_module(b"AT+QMTOPEN=0,\"iot.", None); // the echo, split across two reads
    s.push_module(b"example\",1883\r\r\nOK\r\n", None);
    s.push_module(b"\r\n+QMTOPEN: 0,0\r\n", None);
    s.push_command(br#"AT+QMTCONN=0,"dev""#, None).unwrap();
    s.push_module(
        b"AT+QMTCONN=0,\"dev\"\r\r\nOK\r\n\r\n+QMTCONN: 0,0,0\r\n",
        None,
    );
    let mut h = Host::new(s);
    assert_eq!(
        h.send(r#"AT+QMTOPEN=0,"broker.local",1883"#),
        "AT+QMTOPEN=0,\"broker.local\",1883\r\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n"
    );
    // A basic is echoed as the log's module echoes.
    assert_eq!(h.send("AT"), "AT\r\r\nOK\r\n");
    // The host turns echo off: the log's next exchange comes without it.
    assert_eq!(h.send("ATE0"), "ATE0\r\r\nOK\r\n");
    assert_eq!(
        h.send(r#"AT+QMTCONN=0,"mine""#),
        "\r\nOK\r\n\r\n+QMTCONN: 0,0,0\r\n"
    );
}

#[test]
fn late_results_are_delivered_late_scaled_by_the_speed() {
    let script = || {
        let mut s = Script::new();
        s.push_command(br#"AT+QMTOPEN=0,"h",1883"#, Some(1_000))
            .unwrap();
        s.push_module(b"\r\nOK\r\n", Some(1_010));
        s.push_module(b"\r\n+QMTOPEN: 0,0\r\n", Some(1_400));
        s
    };
    let mut h = Host::new(script());
    assert_eq!(h.send(r#"AT+QMTOPEN=0,"x",1883"#), "");
    assert_eq!(h.next_ms(), Some(10));
    assert_eq!(h.wait(9), "");
    assert_eq!(h.wait(1), "\r\nOK\r\n");
    // The result is 390 ms after the OK, as in the log.
    assert_eq!(h.next_ms(), Some(400));
    assert_eq!(h.wait(389), "");
    assert_eq!(h.wait(1), "\r\n+QMTOPEN: 0,0\r\n");
    assert_eq!(h.next_ms(), None);

    let mut fast = Host::with(ReplayConfig {
        script: script(),
        speed: Speed::new(2.0).unwrap(),
    });
    fast.send(r#"AT+QMTOPEN=0,"x",1883"#);
    assert_eq!(fast.next_ms(), Some(5));
    assert_eq!(fast.wait(5), "\r\nOK\r\n");
    assert_eq!(fast.next_ms(), Some(200));
}

#[test]
fn urcs_are_played_at_their_times_from_the_start_and_from_the_previous_command() {
    let mut s = Script::new();
    s.push_module(b"\r\nRDY\r\n", Some(100));
    s.push_module(b"\r\n+CPIN: READY\r\n", Some(600));
    s.push_command(b"AT+CSQ", Some(5_000)).unwrap();
    s.push_module(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n", Some(5_020));
    s.push_urc(b"\r\n+QMTSTAT: 0,1\r\n", Some(5_300));
    let mut h = Host::new(s);
    assert_eq!(h.read(), "\r\nRDY\r\n");
    assert_eq!(h.next_ms(), Some(500));
    assert_eq!(h.wait(500), "\r\n+CPIN: READY\r\n");
    assert_eq!(
        h.next_ms(),
        None,
        "the URC after the exchange waits for its command"
    );
    h.wait(1_000);
    assert_eq!(h.send("AT+CSQ"), "");
    assert_eq!(h.wait(20), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    // 300 ms after the command, not after the answer.
    assert_eq!(h.wait(279), "");
    assert_eq!(h.wait(1), "\r\n+QMTSTAT: 0,1\r\n");
}

#[test]
fn chunks_of_two_exchanges_interleave_by_time() {
    let mut s = Script::new();
    s.push_command(br#"AT+QMTOPEN=0,"h",1883"#, Some(0))
        .unwrap();
    s.push_module(b"\r\nOK\r\n", Some(5));
    s.push_module(b"\r\n+QMTOPEN: 0,0\r\n", Some(500));
    s.push_command(b"AT+CSQ", Some(100)).unwrap();
    s.push_module(b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n", Some(110));
    let mut h = Host::new(s);
    h.send(r#"AT+QMTOPEN=0,"h",1883"#);
    assert_eq!(h.wait(5), "\r\nOK\r\n");
    h.wait(95);
    h.send("AT+CSQ");
    assert_eq!(h.wait(10), "\r\n+CSQ: 9,99\r\n\r\nOK\r\n");
    assert_eq!(h.drain(), "\r\n+QMTOPEN: 0,0\r\n");
}

#[test]
fn the_data_phase_reads_the_hosts_length_and_is_not_taken_for_commands() {
    let mut s = Script::new();
    s.push_command(br#"AT+QMTPUBEX=0,1,1,0,"t",5"#, None)
        .unwrap();
    s.push_module(b"\r\n> ", None);
    s.push_data(b"hello", None).unwrap();
    s.push_module(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,1,0\r\n", None);
    let mut h = Host::new(s);
    assert_eq!(h.send(r#"AT+QMTPUBEX=0,7,1,0,"topic/x",12"#), "\r\n> ");
    assert!(h.r.in_data_phase());
    // Twelve bytes that look like a command are data; nothing is answered until all are in.
    assert_eq!(h.raw(b"AT+QMT"), "");
    assert_eq!(
        h.raw(b"CONN?\r\n"),
        "\r\nOK\r\n\r\n+QMTPUBEX: 0,7,0\r\n",
        "the result names the host's msgid"
    );
    assert!(!h.r.in_data_phase());
    assert!(h.r.uncovered().is_empty());
}

#[test]
fn the_logs_data_echo_becomes_the_hosts_data() {
    let mut s = Script::new();
    s.push_command(br#"AT+QMTPUBEX=0,0,0,0,"t",5"#, None)
        .unwrap();
    s.push_module(b"AT+QMTPUBEX=0,0,0,0,\"t\",5\r\r\n> ", None);
    // Spec §6 variation 7: the prompt followed by the echoed payload.
    s.push_command(b"hello", None).unwrap(); // after the prompt: taken as the data
    s.push_module(b"hello\r\nOK\r\n\r\n+QMTPUBEX: 0,0,0\r\n", None);
    let Step::Exchange(ex) = &s.steps()[0] else {
        panic!()
    };
    assert!(matches!(&ex.parts[1], Part::HostData(d) if d == b"hello"));
    let mut h = Host::new(s);
    assert_eq!(
        h.send(r#"AT+QMTPUBEX=0,0,0,0,"t",3"#),
        "AT+QMTPUBEX=0,0,0,0,\"t\",3\r\r\n> "
    );
    assert_eq!(h.raw(b"abc"), "abc\r\nOK\r\n\r\n+QMTPUBEX: 0,0,0\r\n");
}

#[test]
fn client_state_reads_wait_for_the_logs_open() {
    let mut h = Host::new(capture::script(&capture::read("aliyun.log")));
    // A host's start-up check, before the log's session began: no client open.
    assert_eq!(h.send("AT+QMTOPEN?"), lines(&["OK"]));
    assert_eq!(h.send("AT+QMTCONN?"), lines(&["OK"]));
    h.send(r#"AT+QMTOPEN=0,"broker.local",1883"#);
    assert_eq!(
        h.send("AT+QMTOPEN?"),
        lines(&[
            r#"+QMTOPEN: 0,"iot-as-mqtt.cn-shanghai.aliyuncs.com",1883"#,
            "OK"
        ])
    );
    assert_eq!(h.r.stats().defaults, 2);

    // A log without such a read: after the open, it is not covered.
    let mut h = Host::new(untimed(&[(
        r#"AT+QMTOPEN=0,"h",1883"#,
        &["OK", "+QMTOPEN: 0,0"],
    )]));
    assert_eq!(h.send("AT+QMTOPEN?"), lines(&["OK"]));
    h.send(r#"AT+QMTOPEN=0,"h",1883"#);
    assert_eq!(h.send("AT+QMTOPEN?"), lines(&["ERROR"]));
    assert_eq!(h.r.uncovered(), ["AT+QMTOPEN?"]);
}

#[test]
fn answers_name_the_hosts_client_index_msgid_and_upload() {
    let mut h = Host::new(untimed(&[
        (r#"AT+QMTOPEN=0,"h",1883"#, &["OK", "+QMTOPEN: 0,0"]),
        (
            r#"AT+QMTSUB=0,1,"a",1"#,
            &["OK", "+QMTSUB: 0,1,0,1", r#"+QMTRECV: 0,1,"a",2,"hi""#],
        ),
    ]));
    assert_eq!(
        h.send(r#"AT+QMTOPEN=3,"h",1883"#),
        lines(&["OK", "+QMTOPEN: 3,0"])
    );
    assert_eq!(
        h.send(r#"AT+QMTSUB=3,42,"a",1"#),
        lines(&["OK", "+QMTSUB: 3,42,0,1", r#"+QMTRECV: 3,1,"a",2,"hi""#])
    );

    // An upload: the host's size and checksum when its data differs; the log's (even a wrong
    // one, the bug a maintainer may be after) when it is the same.
    let upload = || {
        let mut s = Script::new();
        s.push_command(br#"AT+QFUPL="UFS:ca.pem",4,100"#, None)
            .unwrap();
        s.push_module(b"\r\nCONNECT\r\n", None);
        s.push_data(b"abcd", None).unwrap();
        s.push_module(b"\r\n+QFUPL: 4,ffff\r\n\r\nOK\r\n", None);
        s
    };
    let mut h = Host::new(upload());
    assert_eq!(
        h.send(r#"AT+QFUPL="UFS:mine.pem",6,100"#),
        lines(&["CONNECT"])
    );
    let sum = qfupl_checksum(b"abcdef");
    assert_eq!(
        h.raw(b"abcdef"),
        lines(&[&format!("+QFUPL: 6,{sum:04x}"), "OK"])
    );
    let mut h = Host::new(upload());
    h.send(r#"AT+QFUPL="UFS:ca.pem",4,100"#);
    assert_eq!(h.raw(b"abcd"), lines(&["+QFUPL: 4,ffff", "OK"]));
}

#[test]
fn ipr_changes_the_serial_rate_when_its_ok_has_left() {
    let mut s = Script::new();
    s.push_command(b"AT+IPR=921600", Some(0)).unwrap();
    s.push_module(b"\r\nOK\r\n", Some(10));
    let mut h = Host::new(s);
    assert_eq!(h.r.serial().baud, 115_200);
    h.send("AT+IPR=921600");
    assert_eq!(h.r.serial().baud, 115_200);
    assert_eq!(h.wait(10), "\r\nOK\r\n");
    assert_eq!(h.r.serial().baud, 921_600);
}

#[test]
fn noise_is_ignored_like_a_module_does() {
    let mut h = Host::new(untimed(&[("AT+CSQ", &["+CSQ: 20,99", "OK"])]));
    assert_eq!(h.raw(b"hello\r\r\n\n"), "");
    assert_eq!(h.send("AT+CSQ"), lines(&["+CSQ: 20,99", "OK"]));
}

#[test]
fn the_builder_turns_log_times_into_delays() {
    let ms = Duration::from_millis;
    let mut s = Script::new();
    s.push_module(b"\r\nRDY\r\n", Some(1_000));
    s.push_command(b"AT+QMTPUBEX=0,0,0,0,\"t\",2\r", Some(3_000))
        .unwrap();
    s.push_module(b"\r\n> ", Some(3_005));
    s.push_command(b"hi", Some(3_050)).unwrap(); // after the prompt: the data
    s.push_module(b"\r\nOK\r\n", Some(3_060));
    s.push_module(b"\r\n+QMTPUBEX: 0,0,0\r\n", Some(3_040)); // time went backwards: no delay
    s.push_urc(b"\r\n+QMTSTAT: 0,1\r\n", Some(3_900));
    s.push_module(b"", Some(4_000)); // nothing
    assert_eq!(s.exchanges(), 1);
    let chunk = |delay, bytes: &[u8]| Chunk {
        delay,
        bytes: bytes.to_vec(),
    };
    assert_eq!(
        s.steps(),
        [
            Step::Urc(chunk(ms(0), b"\r\nRDY\r\n")),
            Step::Exchange(qmt_sim::replay::Exchange {
                command: b"AT+QMTPUBEX=0,0,0,0,\"t\",2".to_vec(),
                parts: vec![
                    Part::Module(chunk(ms(5), b"\r\n> ")),
                    Part::HostData(b"hi".to_vec()),
                    Part::Module(chunk(ms(10), b"\r\nOK\r\n")),
                    Part::Module(chunk(ms(0), b"\r\n+QMTPUBEX: 0,0,0\r\n")),
                ],
            }),
            Step::Urc(chunk(ms(900), b"\r\n+QMTSTAT: 0,1\r\n")),
        ]
    );

    let mut u = Script::new();
    u.push_urc(b"\r\nRDY\r\n", None);
    u.push_command(b"AT", None).unwrap();
    u.push_module(b"\r\nOK\r\n", None);
    assert_eq!(
        u.steps()[0],
        Step::Urc(chunk(UNTIMED_URC_DELAY, b"\r\nRDY\r\n"))
    );
    assert!(
        matches!(&u.steps()[1], Step::Exchange(e) if e.parts == [Part::Module(chunk(ms(0), b"\r\nOK\r\n"))])
    );

    assert_eq!(
        Script::new().push_data(b"x", None),
        Err(ScriptError::DataWithoutCommand { len: 1 })
    );
    assert_eq!(
        u.push_command(b"+++", None),
        Err(ScriptError::NotACommand { len: 3 })
    );
    assert_eq!(u.exchanges(), 1, "a refused line adds nothing");
}

#[test]
fn debug_output_never_shows_secrets() {
    let mut s = Script::new();
    s.push_command(br#"AT+QMTCONN=0,"dev","user","hunter2""#, None)
        .unwrap();
    s.push_module(
        b"AT+QMTCONN=0,\"dev\",\"user\",\"hunter2\"\r\r\nOK\r\n",
        None,
    );
    let shown = format!(
        "{s:?} {:?} {:?}",
        s.steps(),
        Replay::new(s.clone(), Instant::now())
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("AT+QMTCONN"), "{shown}");
}

#[test]
fn speed_is_a_positive_finite_factor() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e6] {
        assert!(Speed::new(bad).is_err(), "{bad}");
    }
    assert_eq!("2".parse::<Speed>().unwrap().get(), 2.0);
    assert_eq!(Speed::default().get(), 1.0);
    let e = "fast".parse::<Speed>().unwrap_err();
    assert!(e.to_string().contains("fast"), "{e}");
}

/// A host that only subscribes still gets the message the log's module delivered while the
/// log's host was publishing: after the host's last command, the log's module goes on with what
/// the following (unused) exchanges received after their own answers, at the log's pace, without
/// their answers; the next host command stops that timeline, and an exchange whose message was
/// played that way plays only its answer when used.
#[test]
fn the_logs_module_goes_on_while_the_host_is_quiet() {
    let mut s = Script::new();
    s.push_command(b"AT+QMTSUB=0,1,\"cmd\",1", Some(0)).unwrap();
    s.push_module(b"\r\nOK\r\n", Some(10));
    s.push_module(b"\r\n+QMTSUB: 0,1,0,1\r\n", Some(300));
    s.push_command(b"AT+QMTPUBEX=0,2,1,0,\"state\",2", Some(400))
        .unwrap();
    s.push_module(b"\r\n> ", Some(410));
    s.push_data(b"on", Some(420)).unwrap();
    s.push_module(b"\r\nOK\r\n", Some(450));
    s.push_module(b"\r\n+QMTPUBEX: 0,2,0\r\n", Some(700));
    s.push_module(b"\r\n+QMTRECV: 0,3,\"cmd\",4,\"stop\"\r\n", Some(2_700));

    // Only subscribing: the message comes about 2.3 s later (the PUBEX's chunks, played as if
    // it had come at once), and neither its prompt nor its answer is played.
    let mut h = Host::new(s.clone());
    h.send("AT+QMTSUB=0,1,\"cmd\",1");
    let got = h.wait(300);
    assert!(got.contains("+QMTSUB: 0,1,0,1"), "{got:?}");
    assert_eq!(h.wait(1_500), "");
    let got = h.wait(1_000);
    assert_eq!(got, "\r\n+QMTRECV: 0,3,\"cmd\",4,\"stop\"\r\n");
    // The publish, used afterwards, answers without delivering the message a second time.
    h.send("AT+QMTPUBEX=0,2,1,0,\"state\",2");
    h.raw(b"on");
    let rest = h.drain();
    assert!(rest.contains("+QMTPUBEX: 0,2,0"), "{rest:?}");
    assert!(!rest.contains("+QMTRECV"), "{rest:?}");

    // A host that publishes before the message is due gets it with the publish, once.
    let mut h = Host::new(s);
    h.send("AT+QMTSUB=0,1,\"cmd\",1");
    h.wait(300);
    h.send("AT+QMTPUBEX=0,2,1,0,\"state\",2");
    let mut all = h.wait(20);
    all.push_str(&h.raw(b"on"));
    all.push_str(&h.drain());
    assert_eq!(all.matches("+QMTRECV").count(), 1, "{all:?}");
    assert!(all.contains("+QMTPUBEX: 0,2,0"), "{all:?}");
}

/// A sibling module's `AT+QMTPUB` (BC26's inline form here) is answered with the host's packet id
/// in its `+QMTPUB:` result, as `AT+QMTPUBEX` is.
#[test]
fn a_sibling_publish_result_names_the_hosts_msgid() {
    let mut s = Script::new();
    s.push_command(b"AT+QMTPUB=0,4,1,0,\"t\",\"hi\"", Some(0))
        .unwrap();
    s.push_module(b"\r\nOK\r\n", Some(10));
    s.push_module(b"\r\n+QMTPUB: 0,4,0\r\n", Some(200));
    let mut h = Host::new(s);
    h.send("AT+QMTPUB=0,9,1,0,\"t\",\"other\"");
    let got = h.drain();
    assert!(got.ends_with("\r\n+QMTPUB: 0,9,0\r\n"), "{got:?}");
}
