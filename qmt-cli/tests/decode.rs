//! Integration tests of `qmt decode`: the real binary on the bundled captures and on small
//! hand-made ones.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ALIYUN_SECRET: &str = "wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ";

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/captures")
        .join(name)
}

/// Runs `qmt` with `args`, feeding `stdin` (or nothing) to it.
fn qmt(args: &[&std::ffi::OsStr], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmt"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qmt starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may not read standard input at all (a file argument): ignore a closed pipe.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("qmt runs");
    writer.join().expect("stdin writer");
    out
}

/// `qmt decode <file> [extra…]`, which must succeed; returns its standard output.
fn decode_ok(file: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&std::ffi::OsStr> = vec!["decode".as_ref(), file.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let out = qmt(&args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "qmt decode {} {extra:?} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "unexpected stderr: {out:?}");
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(test: &str, bytes: &[u8]) -> Self {
        let path =
            std::env::temp_dir().join(format!("qmt-cli-decode-{}-{test}.bin", std::process::id()));
        std::fs::write(&path, bytes).expect("temp file written");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One event line of the text output.
#[derive(Debug, PartialEq, Eq)]
struct Event<'a> {
    dir: &'a str,
    kind: &'a str,
    text: &'a str,
}

/// The event lines of a text output (`<dir> <kind padded to 8> <text>`), in order.
fn events(out: &str) -> Vec<Event<'_>> {
    out.lines()
        .take_while(|l| !l.is_empty())
        .map(|l| {
            assert!(
                l.starts_with(">> ") || l.starts_with("<< "),
                "not an event line: {l:?}"
            );
            let rest = &l[3..];
            Event {
                dir: &l[..2],
                kind: rest[..8].trim_end(),
                text: &rest[9..],
            }
        })
        .collect()
}

/// The summary of a text output: total events and events per kind.
fn summary(out: &str) -> (usize, BTreeMap<String, usize>) {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .expect("a summary line");
    // "N events: k n, …" (or "1 event: …")
    let (total, rest) = line.split_once(' ').expect("summary form");
    let (_, kinds) = rest.split_once(": ").expect("summary form");
    let kinds = kinds
        .split(", ")
        .map(|kn| {
            let (k, n) = kn.rsplit_once(' ').expect("kind count");
            (k.to_string(), n.parse().expect("count"))
        })
        .collect();
    (total.parse().expect("total"), kinds)
}

fn kinds(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|&(k, n)| (k.to_string(), n)).collect()
}

/// The `(line number, direction)` of every `>>` / `<<` line of a text log, in order.
fn log_lines(log: &str) -> Vec<(u64, &'static str)> {
    log.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let dir = if l.starts_with(">>") {
                "host"
            } else if l.starts_with("<<") {
                "module"
            } else {
                return None;
            };
            Some((i as u64 + 1, dir))
        })
        .collect()
}

/// Parses `--json` output: every line one JSON object; the last one the summary.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l:?}");
            v
        })
        .collect()
}

/// Checks that a text log is decoded line for line: one event per `>>`/`<<` line, same
/// direction, same line number (from `--json`), in order, and nothing unknown or invalid.
fn assert_log_decoded_line_for_line(name: &str) {
    let path = capture(name);
    let log = std::fs::read_to_string(&path).expect("capture readable");
    let want = log_lines(&log);

    let text = decode_ok(&path, &[]);
    let evs = events(&text);
    assert_eq!(evs.len(), want.len(), "one event per log line");
    for (ev, (n, dir)) in evs.iter().zip(&want) {
        let want_dir = if *dir == "host" { ">>" } else { "<<" };
        assert_eq!(ev.dir, want_dir, "direction of log line {n}: {ev:?}");
        assert!(
            !matches!(ev.kind, "unknown" | "invalid" | "overflow" | "echo"),
            "log line {n} not typed: {ev:?}"
        );
    }

    let json = json_lines(&decode_ok(&path, &["--json"]));
    let (summary, evs) = json.split_last().expect("at least a summary");
    assert_eq!(summary["summary"]["events"], want.len() as u64);
    let got: Vec<(u64, &str)> = evs
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().expect("text log events carry a line"),
                v["dir"].as_str().expect("dir"),
            )
        })
        .collect();
    assert_eq!(got, want, "JSON events name the log lines in order");
}

#[test]
fn aliyun_log() {
    let out = decode_ok(&capture("aliyun.log"), &[]);
    insta::assert_snapshot!("aliyun", out);

    assert_log_decoded_line_for_line("aliyun.log");
    let (total, by_kind) = summary(&out);
    assert_eq!(total, 44);
    assert_eq!(
        by_kind,
        kinds(&[
            ("command", 14),
            ("data", 1),
            ("final", 14),
            ("info", 5),
            ("prompt", 1),
            ("urc", 9),
        ])
    );
    assert!(out.contains(
        "\n  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0\n"
    ));
    assert!(out.contains("\n  final    Ok 14\n"));
    assert!(out.contains("\n  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 2, Sub 2, Uns 1\n"));
    // Both payload forms of spec §6: quoted and unquoted, each with its length.
    assert!(out.contains(
        r#"payload_len: Some(36), payload: b"This is the payload related to topic", form: Quoted"#
    ));
    assert!(out.contains(
        r#"payload_len: Some(30), payload: b"This is test data, hello MQTT.", form: Unquoted"#
    ));
    assert!(out.contains(r#">> data     30 bytes: "This is test data, hello MQTT.""#));
}

#[test]
fn aws_tls_log() {
    let out = decode_ok(&capture("aws-tls.log"), &[]);
    insta::assert_snapshot!("aws_tls", out);

    assert_log_decoded_line_for_line("aws-tls.log");
    let (total, by_kind) = summary(&out);
    // 17 commands + 4 host data pieces (3 file uploads, 1 publish); 17 OK, 3 CONNECT,
    // 3 +QFUPL, 1 prompt, 6 URCs.
    assert_eq!(total, 51);
    assert_eq!(
        by_kind,
        kinds(&[
            ("command", 17),
            ("connect", 3),
            ("data", 4),
            ("final", 17),
            ("info", 3),
            ("prompt", 1),
            ("urc", 6),
        ])
    );
    assert!(out.contains(
        "\n  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0\n"
    ));
    assert!(out.contains(
        "\n  command  Cfg 2, Conn 1, Disc 1, FileUpload 3, Open 1, PubEx 1, SslCfg 7, Sub 1\n"
    ));
    // The `<N bytes of …>` placeholders are recognised as such, never taken as file contents.
    for (size, placeholder, sum) in [(1758, 26, "384a"), (1220, 26, "2d53"), (1679, 28, "335f")] {
        assert!(out.contains(&format!(
            ">> data     {size} bytes of file data (the capture holds a {placeholder}-byte placeholder)\n"
        )));
        assert!(out.contains(&format!(
            "<< info     QfUpl {{ upload_size: {size}, checksum: {sum} }}\n"
        )));
    }
    assert!(!out.contains("bytes of cacert.pem"));
}

#[test]
fn ec200_raw_capture() {
    let out = decode_ok(&capture("ec200-raw.bin"), &[]);
    insta::assert_snapshot!("ec200_raw", out);

    let evs = events(&out);
    assert!(
        evs.iter().all(|e| e.dir == "<<"),
        "a raw capture is all module bytes"
    );
    let (total, by_kind) = summary(&out);
    assert_eq!(total, 33);
    assert_eq!(total, evs.len());
    assert_eq!(
        by_kind,
        kinds(&[
            ("echo", 3),
            ("final", 10),
            ("info", 2),
            ("overflow", 1),
            ("prompt", 1),
            ("unknown", 1),
            ("urc", 15),
        ])
    );
    assert!(out.contains(
        "\n  unknown lines: 1, overflows: 1, invalid commands: 0, checksum mismatches: 0\n"
    ));

    let of = |kind: &str| -> Vec<&str> {
        evs.iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.text)
            .collect()
    };
    assert_eq!(of("echo"), ["At", "Echo(false)", "ConnRead"]);
    // ARCHITECTURE.md trap 1: with `AT+QMTCONN?` in flight, `+QMTCONN: 0,3` is its answer (state 3,
    // connected) and the `+QMTSTAT` that arrives before `OK` is still a URC.
    assert!(out.contains(
        "<< echo     ConnRead\n<< info     ConnRead { client_idx: 0, state: Connected }\n<< urc      Stat { client_idx: 0, err_code: ClosedByPeer }\n<< final    Ok\n"
    ));
    assert_eq!(of("unknown"), [r#""garbage \xff\xfe line""#]);
    assert_eq!(
        of("overflow"),
        ["line of 5000 bytes discarded (longer than 4096)"]
    );
    // The counted payload holds CR LF, a quote, a comma, NUL and "> ": all 12 bytes intact, and
    // the bytes after it still frame normally.
    let recvs: Vec<&str> = of("urc")
        .into_iter()
        .filter(|t| t.starts_with("Recv("))
        .collect();
    assert_eq!(
        recvs,
        [
            r#"Recv(Recv { client_idx: 0, msgid: 1, topic: "dev/cmd", payload_len: Some(12), payload: b"a\r\nb,\"c\x00> d!", form: Quoted })"#,
            r#"Recv(Recv { client_idx: 1, msgid: 0, topic: "dev/json", payload_len: None, payload: b"{\"method\":\"set\",\"params\":true}", form: Quoted })"#,
        ]
    );
    // The embedded "> " is not a prompt: the only prompt is the real one.
    assert_eq!(of("prompt"), ["Prompt"]);
    // The first and last lines, which have no leading CR LF or come after the overflow.
    assert_eq!(evs.first().map(|e| e.text), Some("Rdy"));
    assert_eq!(evs.last().map(|e| e.text), Some("PowerDown(Powered)"));
}

#[test]
fn secrets_are_redacted_in_text_and_json() {
    let log = std::fs::read_to_string(capture("aliyun.log")).expect("capture readable");
    assert!(log.contains(ALIYUN_SECRET), "the capture holds the secret");
    for extra in [&[][..], &["--json"][..]] {
        let out = decode_ok(&capture("aliyun.log"), extra);
        assert!(!out.contains(ALIYUN_SECRET), "secret leaked with {extra:?}");
        assert!(out.contains("<redacted>"), "no redaction with {extra:?}");
        assert!(out.contains("device_secret: <redacted>"));
        // The other AliAuth fields are not secret.
        assert!(out.contains("oyjtmPI5a5j") && out.contains("MQTT_TEST"));
    }
}

#[test]
fn json_output_is_one_object_per_line() {
    let out = decode_ok(&capture("aliyun.log"), &["--json"]);
    // Structural check, independent of a JSON parser.
    for l in out.lines() {
        assert!(l.starts_with('{') && l.ends_with('}'), "{l:?}");
    }
    let json = json_lines(&out);
    let (summary, evs) = json.split_last().expect("summary");
    assert_eq!(evs.len(), 44);
    for (i, v) in evs.iter().enumerate() {
        assert_eq!(v["event"], i as u64 + 1, "{v}");
        assert!(v["kind"].is_string() && v["value"].is_string(), "{v}");
        assert!(matches!(v["dir"].as_str(), Some("host" | "module")), "{v}");
    }
    assert_eq!(evs[0]["kind"], "command");
    assert_eq!(evs[0]["name"], "Cfg");
    assert_eq!(evs[0]["line"], 4);
    // Log line 33, the first +QMTRECV, is the 29th event.
    let recv = &evs[28];
    assert_eq!(recv["kind"], "urc");
    assert_eq!(recv["name"], "Recv");
    assert_eq!(recv["line"], 33);

    let last = out.lines().last().expect("lines");
    assert!(last.contains("\"summary\"") && last.contains("\"events\":44"));
    let s = &summary["summary"];
    assert_eq!(s["events"], 44);
    assert_eq!(s["unknown"], 0);
    assert_eq!(s["overflows"], 0);
    assert_eq!(s["invalid_commands"], 0);
    assert_eq!(s["checksum_mismatches"], 0);
    assert_eq!(
        s["by_kind"],
        serde_json::json!({"command": 14, "data": 1, "final": 14, "info": 5, "prompt": 1, "urc": 9})
    );
    assert_eq!(s["by_name"]["final Ok"], 14);
    assert_eq!(s["by_name"]["urc Recv"], 2);

    // The raw capture's bytes (NUL, 0xff, quotes) survive as valid JSON too.
    let raw = json_lines(&decode_ok(&capture("ec200-raw.bin"), &["--json"]));
    assert_eq!(raw.len(), 34);
    assert!(raw[..33].iter().all(|v| v["line"].is_null()));
    assert_eq!(raw[33]["summary"]["unknown"], 1);
    assert_eq!(raw[33]["summary"]["overflows"], 1);
    assert_eq!(raw[33]["summary"]["by_name"]["unknown"], 1);
    assert_eq!(raw[26]["kind"], "unknown");
    assert_eq!(raw[26]["name"], serde_json::Value::Null);
    assert_eq!(raw[26]["value"], r#""garbage \xff\xfe line""#);
}

#[test]
fn stdin_gives_the_same_output_as_the_file() {
    let path = capture("aliyun.log");
    let bytes = std::fs::read(&path).expect("capture readable");
    let from_file = decode_ok(&path, &[]);
    for args in [&["decode", "-"][..], &["decode"][..]] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let out = qmt(&args, Some(&bytes));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            from_file,
            "{args:?}"
        );
    }
    // The raw capture, bytes that are not UTF-8, too.
    let raw = capture("ec200-raw.bin");
    let out = qmt(
        &["decode".as_ref(), "-".as_ref(), "--json".as_ref()],
        Some(&std::fs::read(&raw).unwrap()),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        decode_ok(&raw, &["--json"])
    );
}

/// Exit status 2, nothing on stdout, and one line on stderr naming `path` — not a panic.
fn assert_read_error(path: &Path, reason: &str) {
    let out = qmt(&["decode".as_ref(), path.as_os_str()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    assert!(stderr.starts_with("qmt decode: "), "{stderr:?}");
    assert!(stderr.contains(&*path.to_string_lossy()), "{stderr:?}");
    assert!(stderr.contains(reason), "{stderr:?}");
}

#[test]
fn missing_file_is_a_one_line_error() {
    let path = std::env::temp_dir().join(format!(
        "qmt-cli-decode-{}-no-such-capture.log",
        std::process::id()
    ));
    assert!(!path.exists());
    assert_read_error(&path, "No such file");
}

#[test]
fn directory_is_a_one_line_error() {
    assert_read_error(&std::env::temp_dir(), "directory");
}

/// A counted payload with an embedded CR LF.
const COUNTED_CRLF: &[u8] = b"\r\n+QMTRECV: 0,1,\"t\",4,a\r\nb\r\n\r\nOK\r\n";

#[test]
fn recv_len_auto_keeps_a_counted_payload_whole() {
    let f = TempFile::new("counted-auto", COUNTED_CRLF);
    for extra in [
        &[][..],
        &["--recv-len", "auto"][..],
        &["--recv-len", "split"][..],
    ] {
        let out = decode_ok(&f.0, extra);
        let evs = events(&out);
        assert_eq!(
            evs,
            [
                Event {
                    dir: "<<",
                    kind: "urc",
                    text: r#"Recv(Recv { client_idx: 0, msgid: 1, topic: "t", payload_len: Some(4), payload: b"a\r\nb", form: Unquoted })"#,
                },
                Event {
                    dir: "<<",
                    kind: "final",
                    text: "Ok",
                },
            ],
            "{extra:?}"
        );
        assert!(out.contains("unknown lines: 0,"), "{extra:?}");
    }
}

#[test]
fn recv_len_off_cuts_the_payload_at_crlf() {
    let f = TempFile::new("counted-off", COUNTED_CRLF);
    let out = decode_ok(&f.0, &["--recv-len", "off"]);
    let evs = events(&out);
    // Without lengths the `4` is part of the payload, which ends at the first CR LF; the rest of
    // the payload is a line of its own that no type matches.
    assert_eq!(
        evs,
        [
            Event {
                dir: "<<",
                kind: "urc",
                text: r#"Recv(Recv { client_idx: 0, msgid: 1, topic: "t", payload_len: None, payload: b"4,a", form: Unquoted })"#,
            },
            Event {
                dir: "<<",
                kind: "unknown",
                text: r#""b""#,
            },
            Event {
                dir: "<<",
                kind: "final",
                text: "Ok",
            },
        ]
    );
    assert!(!out.contains(r#"payload: b"a\r\nb""#));
    assert!(out.contains("unknown lines: 1,"));
}

/// The EC200U split form (spec §6 variation 2): header ending with the length, payload on the
/// next line.
const SPLIT: &[u8] = b"\r\n+QMTRECV: 0,0,\"pump/01/cmd\",23\r\n{\"relay1\":1,\"relay2\":0}\r\n";

#[test]
fn recv_len_split_joins_header_and_payload() {
    let f = TempFile::new("split", SPLIT);
    let out = decode_ok(&f.0, &["--recv-len", "split"]);
    assert_eq!(
        events(&out),
        [Event {
            dir: "<<",
            kind: "urc",
            text: r#"Recv(Recv { client_idx: 0, msgid: 0, topic: "pump/01/cmd", payload_len: Some(23), payload: b"{\"relay1\":1,\"relay2\":0}", form: Split })"#,
        }]
    );
    assert_eq!(summary(&out), (1, kinds(&[("urc", 1)])));
    assert!(out.contains("unknown lines: 0,"));
}

#[test]
fn recv_len_auto_and_off_do_not_join_the_split_form() {
    let f = TempFile::new("split-auto", SPLIT);
    // Without `split`, a header ending with a number is a length-less line whose payload is that
    // number, and the JSON on the next line is an unknown line.
    for extra in [&[][..], &["--recv-len", "off"][..]] {
        let out = decode_ok(&f.0, extra);
        assert_eq!(
            events(&out),
            [
                Event {
                    dir: "<<",
                    kind: "urc",
                    text: r#"Recv(Recv { client_idx: 0, msgid: 0, topic: "pump/01/cmd", payload_len: None, payload: b"23", form: Unquoted })"#,
                },
                Event {
                    dir: "<<",
                    kind: "unknown",
                    text: r#""{\"relay1\":1,\"relay2\":0}""#,
                },
            ],
            "{extra:?}"
        );
        assert!(out.contains("unknown lines: 1,"), "{extra:?}");
    }
}

#[test]
fn upload_checksum_is_checked_against_the_bytes_written() {
    // "hello world" as big-endian 16-bit words, odd byte padded: XOR = 0x0a2a (spec §7).
    let log = |sum: &str| {
        format!(
            ">> AT+QFUPL=\"UFS:hello.txt\",11,5\n<< CONNECT\n>> hello world\n<< +QFUPL: 11,{sum}\n<< OK\n"
        )
    };
    let good = TempFile::new("checksum-good", log("0a2a").as_bytes());
    let out = decode_ok(&good.0, &[]);
    assert!(
        out.contains(">> data     11 bytes of file data, checksum 0a2a\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "QfUpl { upload_size: 11, checksum: 0a2a } (matches the uploaded bytes: 0a2a)"
        )
    );
    assert!(out.contains("checksum mismatches: 0"));
    // The file's contents are never printed (they may be a private key).
    assert!(!out.contains("hello world"));

    let bad = TempFile::new("checksum-bad", log("0a2b").as_bytes());
    let out = decode_ok(&bad.0, &[]);
    assert!(
        out.contains("(DOES NOT match the uploaded bytes: 0a2a)"),
        "{out}"
    );
    assert!(out.contains("checksum mismatches: 1"));
}

#[test]
fn unparsable_commands_that_carry_secrets_are_shown_without_parameters() {
    let log = b">> AT+QMTCONN=0,\"id\",\"user\",\"hunter\"2\"\n>> at+qmtcfg=\"ALIAUTH\",0,\"pk\",\"dn\",\"s3cr3t\",9\n>> AT+QMTCFG=\"keepalive\",0,99999\n";
    let f = TempFile::new("invalid-secrets", log);
    let out = decode_ok(&f.0, &[]);
    assert!(!out.contains("hunter"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    assert!(
        out.contains(r#">> invalid  syntax error: "AT+QMTCONN=<parameters redacted>" (35 bytes)"#),
        "{out}"
    );
    assert!(
        out.contains(r#""at+qmtcfg=<parameters redacted>""#),
        "{out}"
    );
    // Commands without secrets show the whole line and the parameter at fault.
    assert!(out.contains(
        r#"keep_alive_time = 99999 is out of range (allowed: 0-3600): "AT+QMTCFG=\"keepalive\",0,99999""#
    ));
    assert!(out.contains("invalid commands: 3"));
}

#[test]
fn split_form_edge_cases_keep_order_and_empty_payloads() {
    // Found by the decode_stream fuzz campaign (no panic, but wrong output):
    // 1. `…,5\r\r\n` is not a split header (the framer's hook sees the CR); the line must not be
    //    held back behind the prompt that follows it.
    //    With lengths known (`split`), a line without a usable length is no message: it is
    //    reported damaged (spec §10.7), in its place.
    let f = TempFile::new("split-cr", b"\r\n+QMTRECV: 0,0,\"t\",5\r\r\n> ");
    let out = decode_ok(&f.0, &["--recv-len", "split"]);
    let kinds: Vec<&str> = events(&out).iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["damaged", "prompt"], "{out}");
    // 2. A split header announcing 0 bytes is an empty split message, not the payload "0".
    let f = TempFile::new("split-empty", b"\r\n+QMTRECV: 0,0,\"t\",0\r\n\r\nOK\r\n");
    let out = decode_ok(&f.0, &["--recv-len", "split"]);
    assert!(
        out.contains("payload_len: Some(0), payload: b\"\", form: Split"),
        "{out}"
    );
    assert!(out.contains("unknown lines: 0"), "{out}");
}

/// Found by the soak: while client 1's slots are read, client 0's inline `+QMTRECV` is a URC,
/// not the read's answer (which names client 1 only).
#[test]
fn another_clients_message_during_a_slot_read_is_a_urc() {
    let f = TempFile::new(
        "slot-read",
        b">> AT+QMTRECV=1,2\n<< +QMTRECV: 0,28,\"t\",1,\"a\"\n<< +QMTRECV: 1,7,\"t\",1,\"b\"\n<< OK\n",
    );
    let out = decode_ok(&f.0, &[]);
    let kinds: Vec<_> = events(&out).iter().map(|e| (e.dir, e.kind)).collect();
    assert_eq!(
        kinds,
        [
            (">>", "command"),
            ("<<", "urc"),
            ("<<", "info"),
            ("<<", "final")
        ],
        "{out}"
    );
    assert!(events(&out)[1].text.contains("client_idx: 0"), "{out}");
    assert!(events(&out)[2].text.contains("client_idx: 1"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Logs as people post them: one fixture per format (examples/captures/logs, README there).

fn log_fixture(name: &str) -> PathBuf {
    capture("logs").join(name)
}

/// The summary block of a text output, from `summary:` to the end.
fn summary_block(out: &str) -> &str {
    let at = out.find("\nsummary:").expect("a summary") + 1;
    &out[at..]
}

/// Every fixture's exact summary: the same session (a §10 check, then an MQTT session with a
/// publish through the prompt, a message received and a disconnect), so the same typed counts;
/// the notes, the detected format and the timing differ.
const FIXTURE_SUMMARIES: [(&str, &str); 11] = [
    (
        "angles.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps seconds since start, markers >/<
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "arduino-monitor.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps HH:MM:SS.mmm, separator "->", no direction markers
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "arrows.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps [HH:MM:SS], markers ->/<-
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "cr-only.log",
        r#"summary: 33 events: command 9, data 1, final 9, info 3, note 4, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: CR text, no direction markers
"#,
    ),
    (
        "crlf.log",
        r#"summary: 33 events: command 9, data 1, final 9, info 3, note 4, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: CR LF text, no direction markers
"#,
    ),
    (
        "dotted.log",
        r#"summary: 29 events: command 9, data 1, final 9, info 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, CR/LF printed as dots, timestamps ISO 8601, no direction markers
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "forum-paste.log",
        r#"summary: 36 events: command 9, data 1, final 9, info 3, note 7, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps [HH:MM:SS.mmm], no direction markers, typographic quotes on 6 lines read as ASCII quotes
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "lf-echo.log",
        r#"summary: 33 events: command 9, data 1, final 9, info 3, note 4, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps HH:MM:SS, no direction markers
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "send-recv.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps [seconds since start], markers send/recv
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "tagged.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps HH:MM:SS.mmm, separator ">", tag "bgxx", markers >>/<<
  timing: 14 answers timed, none slower than the spec's maximum
"#,
    ),
    (
        "tx-rx.log",
        r#"summary: 32 events: command 9, data 1, final 9, info 3, note 3, prompt 1, urc 6
  command  Cfg 1, Conn 1, Csq 1, Disc 1, Open 1, PinRead 1, PubEx 1, RegRead 1, Sub 1
  final    Ok 9
  info     Pin 1, Reg 1, Signal 1
  urc      Conn 1, Disc 1, Open 1, PubEx 1, Recv 1, Sub 1
  unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0
  format: LF text, timestamps ISO 8601, markers TX:/RX:
  timing: 14 answers timed, 1 SLOWER than the spec's maximum:
    line 19: urc Conn 28.025 s after AT+QMTCONN (spec: at most 20 s)
"#,
    ),
];

#[test]
fn every_log_format_fixture_has_its_exact_summary() {
    let mut names: Vec<String> = std::fs::read_dir(capture("logs"))
        .expect("examples/captures/logs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    let covered: Vec<&str> = FIXTURE_SUMMARIES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, covered, "every fixture is checked");
    for (name, want) in FIXTURE_SUMMARIES {
        let out = decode_ok(&log_fixture(name), &[]);
        assert_eq!(summary_block(&out), want, "{name}:\n{out}");
        for l in out.lines().take_while(|l| !l.is_empty()) {
            assert!(
                l.starts_with(">> ") || l.starts_with("<< ") || l.starts_with("-- "),
                "{name}: {l:?}"
            );
            let kind = l[3..].split_whitespace().next().unwrap_or("");
            assert!(
                !matches!(
                    kind,
                    "unknown" | "invalid" | "overflow" | "damaged" | "echo"
                ),
                "{name}: {l}"
            );
        }
    }
}

/// The typed events of a `--json` output (kind, name, value), notes apart.
fn typed_events(json: &[serde_json::Value]) -> Vec<(String, String, String)> {
    json.iter()
        .filter(|v| v.get("summary").is_none() && v["kind"] != "note")
        .map(|v| {
            (
                v["kind"].as_str().expect("kind").to_string(),
                v["name"].as_str().unwrap_or("").to_string(),
                v["value"].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_holds_the_same_events_with_lines_and_timestamps() {
    let reference = typed_events(&json_lines(&decode_ok(
        &log_fixture("crlf.log"),
        &["--json"],
    )));
    assert_eq!(reference.len(), 29);
    for (name, _) in FIXTURE_SUMMARIES {
        let json = json_lines(&decode_ok(&log_fixture(name), &["--json"]));
        assert_eq!(typed_events(&json), reference, "{name}");
        let (summary, events) = json.split_last().expect("summary");
        let timestamped = !summary["summary"]["format"]["timestamps"].is_null();
        let mut last_line = 0;
        let mut last_ms = 0;
        for ev in events {
            // Every event names its log line, in order.
            let line = ev["line"].as_u64().expect("text logs carry lines");
            assert!(line >= last_line, "{name}: {ev}");
            last_line = line;
            if timestamped && ev["kind"] != "note" {
                // A note may be a comment line without a timestamp; AT traffic has one.
                let ms = ev["time_ms"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name}: {ev}"));
                assert!(ms >= last_ms, "{name}: {ev}");
                last_ms = ms;
                assert!(ev["time"].is_string(), "{name}: {ev}");
            } else if !timestamped {
                assert!(ev.get("time").is_none(), "{name}: {ev}");
            }
            // The notes have no direction.
            assert_eq!(ev["dir"].is_null(), ev["kind"] == "note", "{name}: {ev}");
        }
    }
}

#[test]
fn answers_slower_than_the_spec_are_flagged() {
    let out = decode_ok(&log_fixture("tx-rx.log"), &[]);
    assert!(out.contains(
        "<< urc      Conn { client_idx: 0, result: Acked, value: Some(Connack(Accepted)) }  [+28.025 s after AT+QMTCONN, SLOWER than the spec's 20 s]\n"
    ), "{out}");
    assert!(
        out.contains("<< final    Ok  [+0.021 s after AT+CPIN?]\n"),
        "{out}"
    );
    let json = json_lines(&decode_ok(&log_fixture("tx-rx.log"), &["--json"]));
    let conn = json
        .iter()
        .find(|v| v["name"] == "Conn" && v["kind"] == "urc")
        .expect("the CONN result");
    assert_eq!(conn["elapsed_ms"], 28_025);
    assert_eq!(conn["max_ms"], 20_000);
    assert_eq!(conn["slow"], true);
    assert_eq!(conn["after"], "AT+QMTCONN");
    assert_eq!(conn["time"], "2024-05-01T12:00:29.663Z");
    let timing = &json.last().expect("summary")["summary"]["timing"];
    assert_eq!(timing["timed"], 14);
    assert_eq!(
        timing["slow"],
        serde_json::json!([{"line": 19, "command": "AT+QMTCONN", "answer": "urc Conn", "elapsed_ms": 28025, "max_ms": 20000}])
    );
    // A log without timestamps times nothing and says nothing of timing.
    let out = decode_ok(&log_fixture("crlf.log"), &[]);
    assert!(
        !out.contains("timing:") && !out.contains(" after AT"),
        "{out}"
    );
}

#[test]
fn the_log_s_own_packet_timeout_sets_the_limit() {
    // `AT+QMTCFG="timeout",0,2,1,0`: 2 s × (1 retry + 1) = 4 s for the CONN result (spec §9).
    let log = |cfg: &str| {
        format!(
            "{cfg}12:00:00.000 -> AT+QMTCONN=0,\"gw\"\n12:00:00.020 -> OK\n12:00:05.000 -> +QMTCONN: 0,0,0\n"
        )
    };
    let with = TempFile::new(
        "pkt-timeout",
        log("11:59:59.000 -> AT+QMTCFG=\"timeout\",0,2,1,0\n11:59:59.010 -> OK\n").as_bytes(),
    );
    let out = decode_ok(&with.0, &[]);
    assert!(
        out.contains("[+5.000 s after AT+QMTCONN, SLOWER than the spec's 4 s]"),
        "{out}"
    );
    let without = TempFile::new("pkt-default", log("").as_bytes());
    let out = decode_ok(&without.0, &[]);
    assert!(out.contains("[+5.000 s after AT+QMTCONN]\n"), "{out}");
    assert!(out.contains("none slower than the spec's maximum"), "{out}");
}

#[test]
fn a_time_of_day_crosses_midnight() {
    let f = TempFile::new(
        "midnight",
        b"23:59:59.900 -> AT+CSQ\n00:00:00.050 -> +CSQ: 24,99\n00:00:00.100 -> OK\n",
    );
    let out = decode_ok(&f.0, &[]);
    assert!(
        out.contains("<< final    Ok  [+0.200 s after AT+CSQ]\n"),
        "{out}"
    );
}

#[test]
fn the_format_can_be_forced() {
    // A text log that starts with a blank CR LF line looks like raw port bytes.
    let f = TempFile::new("forced", b"\r\nAT+CSQ\r\n+CSQ: 24,99\r\nOK\r\n");
    let auto = decode_ok(&f.0, &[]);
    assert!(auto.contains("<< echo     Csq\n"), "{auto}");
    assert!(
        auto.contains("  format: raw bytes from the port\n"),
        "{auto}"
    );
    let text = decode_ok(&f.0, &["--format", "text"]);
    assert!(text.contains(">> command  Csq\n"), "{text}");
    assert!(
        text.contains("  format: CR LF text, no direction markers\n"),
        "{text}"
    );

    // Forcing raw bytes on a text log: one line of unknown bytes, as before this reader.
    let raw = decode_ok(&log_fixture("crlf.log"), &["--format", "raw"]);
    assert!(raw.contains("  format: raw bytes from the port\n"), "{raw}");
    // Forcing no markers on an arrows log: the arrows stay in the text.
    let unmarked = decode_ok(&log_fixture("arrows.log"), &["--format", "text,unmarked"]);
    assert!(unmarked.contains("no direction markers"), "{unmarked}");
    assert!(!unmarked.contains(">> command"), "{unmarked}");

    // Contradictions are a one-line error and exit status 2.
    let out = qmt(
        &[
            "decode".as_ref(),
            log_fixture("crlf.log").as_os_str(),
            "--format".as_ref(),
            "raw,dotted".as_ref(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmt decode: --format raw and dotted contradict each other\n"
    );
}

#[test]
fn help_lists_the_format_names() {
    let out = qmt(&["decode".as_ref(), "--help".as_ref()], None);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "raw",
        "text",
        "dotted",
        "chevrons",
        "arrows",
        "tx-rx",
        "send-recv",
        "angles",
        "unmarked",
    ] {
        assert!(
            help.contains(&format!("- {name}:")),
            "{name} missing:\n{help}"
        );
    }
}

/// The sibling modules' publish forms in a serial monitor's log (`examples/captures/sibling/`):
/// BG96/EC25 `AT+QMTPUB` with its payload ended by Ctrl-Z and with a length, BC26's inline
/// message, `+QMTPUB:` results timed against them, a numbered message with unescaped quotes.
#[test]
fn sibling_publish_forms_decode_typed_and_timed() {
    let out = decode_ok(&capture("sibling").join("sibling-publish.log"), &[]);
    assert_eq!(
        summary_block(&out),
        "summary: 29 events: command 7, data 2, final 7, note 3, prompt 2, urc 8\n\
         \x20 command  Bc26Pub 1, Conn 1, Disc 1, Ec2xPub 2, Open 1, Sub 1\n\
         \x20 final    Ok 7\n\
         \x20 urc      Conn 1, Disc 1, Open 1, PubEx 3, Recv 1, Sub 1\n\
         \x20 unknown lines: 0, overflows: 0, invalid commands: 0, checksum mismatches: 0\n\
         \x20 format: LF text, timestamps HH:MM:SS.mmm, separator \"->\", no direction markers\n\
         \x20 timing: 14 answers timed, none slower than the spec's maximum\n",
        "{out}"
    );
    let data: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(">> data     "))
        .collect();
    // The Ctrl-Z is the terminator, not the payload; the counted form takes its 8 bytes.
    assert_eq!(
        data,
        ["11 bytes: \"{\\\"relay\\\":1}\"", "8 bytes: \"relay=0;\""]
    );
    assert!(
        out.contains("PubEx { prefix: Pub, client_idx: 0, msgid: 2, result: Acked, value: None }  [+0.512 s after AT+QMTPUB]"),
        "{out}"
    );
    assert!(
        out.contains("message: \"inline message\""),
        "the BC26 form keeps its inline message: {out}"
    );
}
