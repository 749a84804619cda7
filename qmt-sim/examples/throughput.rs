//! Publish throughput of the simulated module, measured by a plain host over the pty.
//!
//! ```text
//! cargo run -p qmt-sim --release --example throughput [-- <N>]
//! ```
//!
//! One sim with its embedded broker. The host (blocking `serialport`, no driver stack) switches
//! echo off, opens and connects client 0 and subscribes to its own topics; then, for QoS 0 and
//! QoS 1, it publishes N messages of 64 bytes, one at a time, the way a simple driver does:
//! `AT+QMTPUBEX` → `> ` → the data → `OK` → `+QMTPUBEX: 0,<msgid>,0`. It prints publishes per
//! second, and how many of its own messages came back as `+QMTRECV` (the subscription covers
//! both topics).
#![allow(clippy::unwrap_used)]

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use qmt_sim::{Sim, SimConfig};

/// How long any single answer may take before the run is abandoned.
const WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the last messages to come back after the last publish.
const DRAIN: Duration = Duration::from_secs(3);
const PAYLOAD_LEN: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 500,
    };
    let sim = Sim::start(SimConfig::default())?;
    let port = serialport::new(sim.pty_path().to_string_lossy(), 115_200)
        .timeout(Duration::from_millis(100))
        .open()?;
    let mut host = Host {
        port,
        buf: Vec::new(),
        lines: Vec::new(),
        prompt: false,
        received: [0; 2],
    };

    host.wait_line(|l| l == "RDY")?;
    host.command("ATE0")?;
    host.command("AT+QMTOPEN=0,\"broker.example\",1883")?;
    host.wait_line(|l| l == "+QMTOPEN: 0,0")?;
    host.command("AT+QMTCONN=0,\"qmt-throughput\"")?;
    host.wait_line(|l| l == "+QMTCONN: 0,0,0")?;
    host.command("AT+QMTSUB=0,1,\"qmt/throughput/#\",1")?;
    host.wait_line(|l| l.starts_with("+QMTSUB: 0,1,0"))?;

    println!("qmt-sim throughput: {n} publishes of {PAYLOAD_LEN} bytes per QoS, one at a time");
    println!(
        "{:>4} {:>6} {:>9} {:>12} {:>14}",
        "QoS", "N", "seconds", "publishes/s", "received back"
    );
    for qos in [0u8, 1] {
        let topic = format!("qmt/throughput/{qos}");
        let start = Instant::now();
        for i in 0..n {
            // QoS 0 publishes carry msgid 0 (spec §2); QoS 1 ones 1…65535.
            let msgid = if qos == 0 { 0 } else { i % 65535 + 1 };
            let payload = format!("{i:0>width$}", width = PAYLOAD_LEN);
            host.publish(msgid, qos, &topic, payload.as_bytes())?;
        }
        let secs = start.elapsed().as_secs_f64();
        // Let the last messages come back.
        let deadline = Instant::now() + DRAIN;
        while host.received[usize::from(qos)] < n && Instant::now() < deadline {
            host.read_some()?;
        }
        println!(
            "{qos:>4} {n:>6} {secs:>9.3} {:>12.0} {:>14}",
            n as f64 / secs,
            host.received[usize::from(qos)]
        );
    }
    Ok(())
}

/// The host side of the serial line: a minimal line reader that counts `+QMTRECV` on the way.
struct Host {
    port: Box<dyn serialport::SerialPort>,
    /// Bytes not yet split into lines.
    buf: Vec<u8>,
    /// Complete lines not yet consumed (URCs for the own topics are counted, not kept).
    lines: Vec<String>,
    /// A `> ` prompt arrived.
    prompt: bool,
    /// `+QMTRECV` lines per QoS topic.
    received: [usize; 2],
}

impl Host {
    /// Sends a command and waits for `OK`.
    fn command(&mut self, line: &str) -> io::Result<()> {
        self.write(format!("{line}\r").as_bytes())?;
        self.wait_line(|l| l == "OK").map(drop)
    }

    /// One `AT+QMTPUBEX` with its data, through to its `+QMTPUBEX: 0,<msgid>,0`.
    fn publish(&mut self, msgid: usize, qos: u8, topic: &str, payload: &[u8]) -> io::Result<()> {
        let len = payload.len();
        self.write(format!("AT+QMTPUBEX=0,{msgid},{qos},0,\"{topic}\",{len}\r").as_bytes())?;
        let deadline = Instant::now() + WAIT;
        while !self.prompt {
            if let Some(l) = self.lines.iter().find(|l| is_error(l)) {
                return Err(io::Error::other(format!("AT+QMTPUBEX answered {l}")));
            }
            self.read_until(deadline, "the > prompt")?;
        }
        self.prompt = false;
        self.write(payload)?;
        self.wait_line(|l| l == "OK")?;
        let result = format!("+QMTPUBEX: 0,{msgid},");
        let line = self.wait_line(|l| l.starts_with(&result))?;
        if line[result.len()..] != *"0" {
            return Err(io::Error::other(format!("publish {msgid} failed: {line}")));
        }
        Ok(())
    }

    /// Waits for a line matching `pred` and consumes it (and every line before it); an error
    /// line fails the wait.
    fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> io::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.lines.iter().position(|l| pred(l)) {
                let line = self.lines.remove(i);
                self.lines.drain(..i);
                return Ok(line);
            }
            if let Some(l) = self.lines.iter().find(|l| is_error(l)) {
                return Err(io::Error::other(format!("the module answered {l}")));
            }
            self.read_until(deadline, "an answer")?;
        }
    }

    fn read_until(&mut self, deadline: Instant, what: &str) -> io::Result<()> {
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no {what} within {WAIT:?}; lines: {:?}", self.lines),
            ));
        }
        self.read_some()
    }

    /// One read (up to the port's timeout), split into lines.
    fn read_some(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.port.read(&mut chunk) {
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(()),
            Err(e) => return Err(e),
        }
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.buf.drain(..end + 2);
            if line.is_empty() {
                continue;
            }
            if line == "> " {
                // The prompt, with a URC right behind it.
                self.prompt = true;
                continue;
            }
            if let Some(q) = own_message_qos(&line) {
                self.received[q] += 1;
                continue;
            }
            self.lines.push(line);
        }
        // The prompt has no line end: it is the whole rest of the buffer.
        if self.buf == b"> " {
            self.buf.clear();
            self.prompt = true;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.write_all(bytes)?;
        self.port.flush()
    }
}

/// `+QMTRECV: 0,<msgid>,"qmt/throughput/<qos>",…`: the QoS topic an own message came back on.
fn own_message_qos(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("+QMTRECV: 0,")?;
    let (_, topic) = rest.split_once(",\"qmt/throughput/")?;
    match topic.as_bytes().first()? {
        b'0' => Some(0),
        b'1' => Some(1),
        _ => None,
    }
}

fn is_error(line: &str) -> bool {
    line == "ERROR" || line.starts_with("+CME ERROR")
}
