//! Issue 8, through the `qmt` CLI: bad values for `qmt pub` / `qmt sub` (QoS 3, a 257-byte topic,
//! a topic with `"`, a 1501-byte message, keep-alive 3601, a client id with CR, a bad password,
//! host, port, SSL context or client index) end with exit 2 (bad arguments) and ONE line naming
//! the parameter and what is allowed, never echo the password, and the `--sim --trace` AT trace
//! shows no `AT+QMTOPEN` (nor `AT+QMTPUBEX` / `AT+QMTSUB`): nothing was sent for them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Output, Stdio};

const QMT: &str = env!("CARGO_BIN_EXE_qmt");
const PASSWORD: &str = "pw-hunter2-TOPSECRET";

fn qmt(args: &[String]) -> Output {
    Command::new(QMT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Substrings the one error line must hold: the parameter and what is allowed.
    says: Vec<&'static str>,
    /// A value that must not be echoed (a secret), besides [`PASSWORD`].
    secret: Option<String>,
}

fn case(name: &'static str, cmd: &str, extra: &[&str], says: &[&'static str]) -> Case {
    let mut args: Vec<String> = [cmd, "--sim", "--trace", "-u", "user", "-P", PASSWORD]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    if cmd == "pub" && !extra.contains(&"-m") {
        args.extend(["-m".into(), "hello".into()]);
    }
    if !extra.contains(&"-t") {
        args.extend(["-t".into(), "qmt/cli/bad".into()]);
    }
    Case {
        name,
        args,
        says: says.to_vec(),
        secret: None,
    }
}

#[test]
fn bad_arguments_exit_2_with_one_line_and_nothing_on_the_wire() {
    let long_topic = "t".repeat(257);
    let long_msg = "m".repeat(1501);
    let long_host = "h".repeat(101);
    let long_pw = "L".repeat(257);
    let mut cases = vec![
        case("pub -q 3", "pub", &["-q", "3"], &["--qos", "0, 1 or 2"]),
        case("sub -q 3", "sub", &["-q", "3"], &["--qos", "0, 1 or 2"]),
        case(
            "pub 257-byte topic",
            "pub",
            &["-t", &long_topic],
            &["topic", "1-256 bytes"],
        ),
        case(
            "pub topic with a quote",
            "pub",
            &["-t", "qmt/\"q\""],
            &["topic", "CR, LF are forbidden"],
        ),
        case(
            "pub topic with LF",
            "pub",
            &["-t", "qmt/a\nb"],
            &["topic", "CR, LF are forbidden"],
        ),
        case(
            "sub 257-byte filter",
            "sub",
            &["-t", &long_topic],
            &["topic", "1-256 bytes"],
        ),
        case(
            "sub filter with a quote",
            "sub",
            &["-t", "qmt/ok", "-t", "qmt/\"q\""],
            &["topic", "CR, LF are forbidden"],
        ),
        case(
            "pub 1501-byte message",
            "pub",
            &["-m", &long_msg],
            &["payload", "1501", "at most 1500"],
        ),
        case(
            "pub -k 3601",
            "pub",
            &["-k", "3601"],
            &["keep_alive_time", "0-3600"],
        ),
        case(
            "sub -k 3601",
            "sub",
            &["-k", "3601"],
            &["keep_alive_time", "0-3600"],
        ),
        case(
            "pub client id with CR",
            "pub",
            &["-i", "dev\r1"],
            &["clientid", "CR, LF are forbidden"],
        ),
        case(
            "pub 101-byte host",
            "pub",
            &["-h", &long_host],
            &["host_name", "1-100 bytes"],
        ),
        case(
            "pub host with a quote",
            "pub",
            &["-h", "a\"b"],
            &["host_name", "CR, LF are forbidden"],
        ),
        case("pub -p 0", "pub", &["-p", "0"], &["port", "1-65535"]),
        case(
            "pub --ssl-ctx 6",
            "pub",
            &["--tls", "--ssl-ctx", "6"],
            &["SSL_ctx_idx", "0-5"],
        ),
        case(
            "pub --client-idx 6",
            "pub",
            &["--client-idx", "6"],
            &["client_idx", "0-5"],
        ),
        case(
            "sub --client-idx 6",
            "sub",
            &["--client-idx", "6"],
            &["client_idx", "0-5"],
        ),
    ];
    let mut c = case(
        "pub username with CR",
        "pub",
        &[],
        &["username", "CR, LF are forbidden"],
    );
    let at = c.args.iter().position(|a| a == "-u").unwrap();
    c.args[at + 1] = "us\rer".into();
    cases.push(c);
    // A bad password: neither it nor the good one is echoed.
    for (name, pw, says) in [
        (
            "pub password with a quote",
            format!("{PASSWORD}\"x"),
            "CR, LF are forbidden",
        ),
        (
            "pub password with CR",
            format!("{PASSWORD}\rx"),
            "CR, LF are forbidden",
        ),
        ("pub 257-byte password", long_pw.clone(), "0-256 bytes"),
    ] {
        let mut c = case(name, "pub", &[], &["password", says]);
        let at = c.args.iter().position(|a| a == "-P").unwrap();
        c.args[at + 1] = pw.clone();
        c.secret = Some(pw);
        cases.push(c);
    }

    for c in cases {
        let out = qmt(&c.args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let show = format!(
            "{}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            c.name,
            out.status.code()
        );
        assert_eq!(out.status.code(), Some(2), "{show}");
        // One error line: ours ("qmt pub: …") or clap's ("error: …").
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("qmt pub:") || l.starts_with("qmt sub:"))
            .chain(stderr.lines().filter(|l| l.starts_with("error:")))
            .collect();
        assert_eq!(errors.len(), 1, "{show}");
        for s in &c.says {
            assert!(
                errors[0].contains(s),
                "{}: no {s:?} in {:?}",
                c.name,
                errors[0]
            );
        }
        // Nothing was sent for the refused operation: no open, no publish, no subscribe.
        for cmd in ["AT+QMTOPEN", "AT+QMTCONN", "AT+QMTPUBEX", "AT+QMTSUB"] {
            assert!(!stderr.contains(cmd), "{cmd} was sent: {show}");
        }
        for secret in std::iter::once(PASSWORD.to_owned()).chain(c.secret) {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "password echoed: {show}"
            );
        }
    }
}

/// The same trace does show the commands when the arguments are good (so the checks above can
/// fail), and the password is redacted in it.
#[test]
fn good_arguments_do_reach_the_wire_with_the_password_redacted() {
    let args: Vec<String> = [
        "pub",
        "--sim",
        "--trace",
        "-u",
        "user",
        "-P",
        PASSWORD,
        "-t",
        "qmt/cli/ok",
        "-m",
        "hi",
        "-q",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = qmt(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for cmd in ["AT+QMTOPEN", "AT+QMTCONN", "AT+QMTPUBEX"] {
        assert!(stderr.contains(cmd), "no {cmd}: {stderr}");
    }
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
}
