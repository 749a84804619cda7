//! `qmt sim --replay LOG` as a maintainer uses it: the module side of a field log on a pty, and
//! the real `qmt pub` / `qmt sub` against it, with other hosts and client ids than the log's.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{qmt, text};

fn log(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/captures")
        .join(rel)
        .display()
        .to_string()
}

/// `qmt sim --replay LOG`, its pty path, and its standard error as it comes.
struct Replaying {
    child: Child,
    path: String,
    first: String,
    stderr: mpsc::Receiver<String>,
}

impl Replaying {
    fn start(log: &str) -> Replaying {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qmt"))
            .args(["sim", "--replay", log])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let path = first
            .split_whitespace()
            .find(|w| w.starts_with("/dev/"))
            .unwrap_or_else(|| panic!("no pty in {first:?}"))
            .to_owned();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Replaying {
            child,
            path,
            first,
            stderr: rx,
        }
    }

    /// The standard error lines so far.
    fn stderr_now(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Replaying {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn qmt_pub_completes_the_golden_session_of_a_replayed_log() {
    let sim = Replaying::start(&log("aliyun.log"));
    assert!(
        sim.first.contains("14 exchanges") && sim.first.contains("markers >>/<<"),
        "{}",
        sim.first
    );
    // Another broker, client id and payload than the log's; no bring-up (the vendor's transcript
    // starts at the MQTT configuration).
    let out = qmt(&[
        "pub",
        "--port",
        &sim.path,
        "--no-bring-up",
        "-h",
        "broker.local",
        "-i",
        "someone-else",
        "-t",
        "topic/pub",
        "-m",
        "not the log's payload",
        "-q",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let err = sim.stderr_now();
    assert!(err.is_empty(), "every command was covered: {err:?}");
}

#[test]
fn qmt_sub_receives_the_message_of_a_replayed_serial_monitor_log() {
    // A log as an Arduino serial monitor shows it: the message arrived after the log's host had
    // published; a host that only subscribes still gets it.
    let sim = Replaying::start(&log("logs/arduino-monitor.log"));
    let out = qmt(&[
        "sub",
        "--port",
        &sim.path,
        "--no-bring-up",
        "-h",
        "broker.local",
        "-i",
        "gw-02",
        "-t",
        "pump/01/cmd",
        "-q",
        "1",
        "-C",
        "1",
        "-v",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "pump/01/cmd stop\n");
}

#[test]
fn a_command_the_log_does_not_cover_gets_error_and_is_reported_once() {
    let sim = Replaying::start(&log("aliyun.log"));
    let mut port = serialport::new(&sim.path, 115_200)
        .timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        port.write_all(b"AT+CSQ\r").unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..30 {
            match port.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("{e}"),
            }
            if text(&got).matches("ERROR").count() == 2 {
                break;
            }
        }
    }
    // The log's module echoes (it is on at power-up): the host's command, then ERROR.
    assert_eq!(text(&got).matches("\r\nERROR\r\n").count(), 2, "{got:?}");
    let mut err = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        err.extend(sim.stderr_now());
        if !err.is_empty() {
            std::thread::sleep(Duration::from_millis(400));
            err.extend(sim.stderr_now());
            break;
        }
    }
    assert_eq!(
        err,
        ["qmt sim: the log does not cover AT+CSQ: answered ERROR (each time; not repeated here)"]
    );
}
