//! A scripted module on a real pty, for running the `qmt` binary against the exact bytes a field
//! module sent (split `+QMTRECV`, a link lost mid-command, silence, line noise).
//!
//! The pty and its event loop are qmt-sim's shell ([`Sim::start_with`]) around a [`Core`] of our
//! own: no broker, no MQTT, only the AT lines. The host's lines go to a script; what the script
//! does not handle gets the answer a module gives in the spec's golden transcripts (§8, §9):
//! `OK`, and for the two-phase commands `OK` then the result line (`+QMTOPEN: 0,0`,
//! `+QMTCONN: 0,0,0`, `+QMTSUB: 0,<msgid>,0,<qos…>` …). Unknown commands get `OK`, so the
//! client's wording can change without breaking the tests. No echo: the client sends `ATE0` first.
//!
//! Everything the host wrote is recorded ([`Scripted::host_lines`], [`Scripted::host_bytes`]) with
//! a `>>`/`<<` transcript to print when an assertion fails.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use qmt_sim::net::{NetAction, NetEvent};
use qmt_sim::{BrokerChoice, Core, Fault, Sim, SimConfig, SimHandle};

/// What the module writes in answer to one host line.
#[derive(Debug, Default)]
pub struct Reply {
    out: Vec<u8>,
}

impl Reply {
    /// A line as the module frames it: `\r\n<line>\r\n`.
    pub fn line(&mut self, line: &str) -> &mut Reply {
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// `\r\nOK\r\n`.
    pub fn ok(&mut self) -> &mut Reply {
        self.line("OK")
    }

    /// Bytes as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Reply {
        self.out.extend_from_slice(bytes);
        self
    }
}

/// A script: sees each line the host wrote (without its `\r`) and either answers it (returns
/// `true`) or leaves it to [`standard`] (returns `false`).
pub type Script = Box<dyn FnMut(&str, &mut Reply) -> bool + Send>;

/// The comma-separated parameters after `=`, quotes kept (`AT+QMTSUB=0,1,"t/#",1` →
/// `["0", "1", "\"t/#\"", "1"]`). Commas inside quotes do not split.
pub fn params(line: &str) -> Vec<String> {
    let Some((_, rest)) = line.split_once('=') else {
        return Vec::new();
    };
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in rest.chars() {
        if c == ',' && !quoted {
            out.push(String::new());
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        if let Some(p) = out.last_mut() {
            p.push(c);
        }
    }
    out
}

/// The answer of a module with nothing open and a broker that accepts everything.
pub fn standard(line: &str, r: &mut Reply) {
    let upper = line.to_ascii_uppercase();
    let p = params(line);
    let first = p.first().map_or("0", String::as_str);
    let second = p.get(1).map_or("1", String::as_str);
    if upper.starts_with("AT+QMTOPEN=?") {
        r.line("+QMTOPEN: (0-5),\"hostname\",(1-65535)").ok();
    } else if upper.starts_with("AT+QMTOPEN=") {
        r.ok().line(&format!("+QMTOPEN: {first},0"));
    } else if upper.starts_with("AT+QMTCONN=") && !upper.starts_with("AT+QMTCONN=?") {
        r.ok().line(&format!("+QMTCONN: {first},0,0"));
    } else if upper.starts_with("AT+QMTSUB=") && !upper.starts_with("AT+QMTSUB=?") {
        // Every filter granted the QoS asked for: `idx,msgid,"f1",q1,"f2",q2…`.
        let granted: Vec<&str> = p.iter().skip(3).step_by(2).map(String::as_str).collect();
        r.ok().line(&format!(
            "+QMTSUB: {first},{second},0,{}",
            granted.join(",")
        ));
    } else if upper.starts_with("AT+QMTUNS=") && !upper.starts_with("AT+QMTUNS=?") {
        r.ok().line(&format!("+QMTUNS: {first},{second},0"));
    } else if upper.starts_with("AT+QMTDISC=") && !upper.starts_with("AT+QMTDISC=?") {
        r.ok().line(&format!("+QMTDISC: {first},0"));
    } else if upper.starts_with("AT+QMTCLOSE=") && !upper.starts_with("AT+QMTCLOSE=?") {
        r.ok().line(&format!("+QMTCLOSE: {first},0"));
    } else if let Some(answer) = registered_module(&upper) {
        // Bring-up (spec §10): a registered EC200U with context 1 active, as in the field logs.
        r.line(answer).ok();
    } else {
        // AT, ATE0, AT+CMEE=2, AT+QMTCFG=…, the read forms AT+QMTOPEN? / AT+QMTCONN? (nothing
        // open: no information line), AT+CGREG=2 / AT+CEREG=2, anything else.
        r.ok();
    }
}

/// The information line a registered module with context 1 active answers to a §10 query.
fn registered_module(upper: &str) -> Option<&'static str> {
    Some(match upper {
        "AT+CGMM" => "EC200U",
        "AT+CGMR" => "EC200UCNAAR02A01M08",
        "AT+GSN" => "869487050123457",
        "AT+QCCID" => "+QCCID: 89860121801234567890",
        "AT+CPIN?" => "+CPIN: READY",
        "AT+CGREG?" => "+CGREG: 2,1",
        "AT+CEREG?" => "+CEREG: 2,1",
        "AT+CSQ" => "+CSQ: 24,99",
        "AT+QIACT?" => "+QIACT: 1,1,1,\"10.65.0.3\"",
        _ => return None,
    })
}

#[derive(Default)]
struct Log {
    /// Every byte the host wrote.
    host: Vec<u8>,
    /// Complete host lines, `\r` removed.
    lines: Vec<String>,
    /// `>> line` / `<< bytes`, in order.
    transcript: String,
}

enum Mode {
    /// Answer lines: the script, then [`standard`].
    Lines(Script),
    /// Answer lines only through the script (nothing otherwise).
    ScriptOnly(Script),
    /// Answer every write of the host with these bytes, whatever it was.
    EveryWrite(Vec<u8>),
}

struct ScriptCore {
    mode: Mode,
    input: Vec<u8>,
    out: VecDeque<Vec<u8>>,
    log: Arc<Mutex<Log>>,
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    // A panicking script poisons the log; what it recorded is still worth showing.
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ScriptCore {
    fn send(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let mut log = lock(&self.log);
        log.transcript += &format!("<< {}\n", bytes.escape_ascii());
        drop(log);
        self.out.push_back(bytes);
    }
}

impl Core for ScriptCore {
    fn feed(&mut self, bytes: &[u8], _now: Instant) {
        lock(&self.log).host.extend_from_slice(bytes);
        if let Mode::EveryWrite(noise) = &self.mode {
            let noise = noise.clone();
            let mut log = lock(&self.log);
            log.transcript += &format!(">> {}\n", bytes.escape_ascii());
            for l in String::from_utf8_lossy(bytes).split('\r') {
                if !l.is_empty() {
                    log.lines.push(l.trim_start_matches('\n').to_owned());
                }
            }
            drop(log);
            self.send(noise);
            return;
        }
        for &b in bytes {
            if b != b'\r' {
                self.input.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.input)
                .trim_start_matches('\n')
                .to_owned();
            self.input.clear();
            {
                let mut log = lock(&self.log);
                log.transcript += &format!(">> {}\n", line.as_bytes().escape_ascii());
                log.lines.push(line.clone());
            }
            let mut reply = Reply::default();
            match &mut self.mode {
                Mode::Lines(script) => {
                    if !script(&line, &mut reply) {
                        standard(&line, &mut reply);
                    }
                }
                Mode::ScriptOnly(script) => {
                    script(&line, &mut reply);
                }
                Mode::EveryWrite(_) => {}
            }
            self.send(reply.out);
        }
    }
    fn handle_net(&mut self, _event: NetEvent, _now: Instant) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        None
    }
    fn inject(&mut self, fault: Fault, _now: Instant) {
        if let Fault::StrayUrc(line) = fault {
            self.send(format!("\r\n{line}\r\n").into_bytes());
        }
    }
}

/// A scripted module on a pty; stopped when dropped.
pub struct Scripted {
    sim: SimHandle,
    log: Arc<Mutex<Log>>,
}

impl Scripted {
    fn start(mode: Mode) -> Scripted {
        let log = Arc::new(Mutex::new(Log::default()));
        let core_log = Arc::clone(&log);
        // No broker: the core never asks for a connection. The address is never dialled.
        let config = SimConfig {
            broker: BrokerChoice::External(SocketAddr::from((Ipv4Addr::LOCALHOST, 9))),
            ..SimConfig::default()
        };
        let sim = Sim::start_with(config, move |_| ScriptCore {
            mode,
            input: Vec::new(),
            out: VecDeque::new(),
            log: core_log,
        })
        .expect("a pty for the scripted module");
        Scripted { sim, log }
    }

    /// Lines go to `script` first, then to [`standard`].
    pub fn new(script: impl FnMut(&str, &mut Reply) -> bool + Send + 'static) -> Scripted {
        Scripted::start(Mode::Lines(Box::new(script)))
    }

    /// A module that answers like [`standard`].
    pub fn standard() -> Scripted {
        Scripted::new(|_, _| false)
    }

    /// A port on which nothing ever answers (a module without power, the wrong ttyUSB).
    pub fn silent() -> Scripted {
        Scripted::start(Mode::ScriptOnly(Box::new(|_, _| true)))
    }

    /// A port that answers every write with `noise` (a module at another baud rate).
    pub fn noise(noise: &[u8]) -> Scripted {
        Scripted::start(Mode::EveryWrite(noise.to_vec()))
    }

    /// The pty path to give `qmt --port`.
    pub fn path(&self) -> &Path {
        self.sim.pty_path()
    }

    /// The path as a `&str` (pty paths are ASCII).
    pub fn port(&self) -> String {
        self.path().display().to_string()
    }

    /// Every complete line the host wrote, `\r` removed.
    pub fn host_lines(&self) -> Vec<String> {
        lock(&self.log).lines.clone()
    }

    /// Every byte the host wrote.
    pub fn host_bytes(&self) -> Vec<u8> {
        lock(&self.log).host.clone()
    }

    /// `>> host line` / `<< module bytes`, in order.
    pub fn transcript(&self) -> String {
        lock(&self.log).transcript.clone()
    }

    /// Sends `line` as an unsolicited line now.
    pub fn urc(&self, line: &str) {
        self.sim
            .inject(Fault::StrayUrc(line.to_owned()))
            .expect("the scripted module runs");
    }
}

/// How a `qmt` run ended.
#[derive(Debug)]
pub struct Run {
    /// The exit status; `None` when the run was killed at the cap.
    pub status: Option<ExitStatus>,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: String,
    /// How long it ran (shown, never asserted).
    pub elapsed: Duration,
}

impl Run {
    /// The exit code (`None` if killed or ended by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The run, the module's transcript, for assertion messages.
    pub fn show(&self, module: &Scripted) -> String {
        format!(
            "{}after {:.1} s\nstdout: {:?}\nstderr:\n{}\ntranscript:\n{}",
            match self.status {
                Some(s) => format!("{s}, "),
                None => "KILLED at the test's cap (a hang), ".to_owned(),
            },
            self.elapsed.as_secs_f64(),
            String::from_utf8_lossy(&self.stdout),
            self.stderr,
            module.transcript()
        )
    }
}

/// Runs the `qmt` binary with `args`; kills it after `cap` (only so that a hang ends the test).
pub fn qmt(args: &[&str], cap: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmt"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qmt starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for qmt") {
            break Some(s);
        }
        if started.elapsed() > cap {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

#[test]
fn params_split_outside_quotes() {
    assert_eq!(
        params("AT+QMTSUB=0,7,\"a,b\",1,\"t/#\",0"),
        ["0", "7", "\"a,b\"", "1", "\"t/#\"", "0"]
    );
    assert!(params("AT").is_empty());
}

#[test]
fn standard_answers_two_phase_commands_with_their_result() {
    let mut r = Reply::default();
    standard("AT+QMTSUB=0,7,\"a\",1,\"b\",0", &mut r);
    assert_eq!(r.out, b"\r\nOK\r\n\r\n+QMTSUB: 0,7,0,1,0\r\n");
    let mut r = Reply::default();
    standard("AT+QMTOPEN?", &mut r);
    assert_eq!(r.out, b"\r\nOK\r\n");
}
