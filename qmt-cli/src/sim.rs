//! `qmt sim`: a simulated module on a pseudo-terminal (qmt-sim), for trying drivers and tools.
//!
//! Faults are injected with `--fault SPEC` at start, and while it runs by typing a SPEC on
//! standard input (one per line; `help` lists them), so a person testing a driver by hand can drop
//! the broker, stall it, power-cycle the module… at the moment they choose.

use std::io::BufRead as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::Args;
use qmt_cli::decode::escape;
use qmt_sim::{BrokerChoice, Fault, Sim, SimConfig, TraceDir};

/// `qmt sim` flags.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Use this MQTT broker (HOST:PORT) instead of starting the embedded one.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_addr)]
    broker: Option<SocketAddr>,
    /// Resolve NAME to ADDR (HOST:PORT; its port replaces the port of AT+QMTOPEN), e.g. a TLS
    /// listener for the host name of an AT+QMTOPEN with TLS. Repeatable.
    #[arg(long, value_name = "NAME=ADDR", value_parser = parse_resolve)]
    resolve: Vec<(String, SocketAddr)>,
    /// Cut module output into writes of at most MAX bytes, DELAY_MS apart.
    #[arg(long, value_name = "MAX:DELAY_MS", value_parser = parse_split)]
    split_writes: Option<(usize, u64)>,
    /// Print the AT traffic (both directions) to stderr; secrets and uploaded files are redacted.
    #[arg(long)]
    trace: bool,
    /// Inject a fault at start (repeatable): close [IDX], stall [IDX], resume [IDX],
    /// dns-fail [NAME], dns-restore, garbage TEXT, urc LINE, split MAX:DELAY_MS, power-cycle,
    /// fill-slots IDX, burst TOPIC COUNT. The same specs typed on standard input act at once.
    #[arg(long, value_name = "SPEC", value_parser = parse_fault)]
    fault: Vec<Fault>,
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse::<Fault>().map_err(|e| e.to_string())
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("{s}: {e}"))?
        .next()
        .ok_or_else(|| format!("{s}: no address"))
}

fn parse_resolve(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected NAME=HOST:PORT"))?;
    Ok((name.to_owned(), parse_addr(addr)?))
}

fn parse_split(s: &str) -> Result<(usize, u64), String> {
    let (max, delay) = s
        .split_once(':')
        .ok_or_else(|| format!("{s}: expected MAX:DELAY_MS"))?;
    let max = max.parse().map_err(|e| format!("MAX {max}: {e}"))?;
    let delay = delay
        .parse()
        .map_err(|e| format!("DELAY_MS {delay}: {e}"))?;
    Ok((max, delay))
}

/// Starts the sim and serves until the process is interrupted.
///
/// Ctrl-C: no handler is installed. The default SIGINT action ends the process, and that is
/// already a clean stop here: the sim holds nothing outside the process (the pty, the sockets and
/// the embedded broker are all released by the kernel), so a handler would add a dependency and
/// code without adding correctness.
pub fn run(args: SimArgs) -> ExitCode {
    let mut config = SimConfig {
        broker: args
            .broker
            .map_or(BrokerChoice::Embedded, BrokerChoice::External),
        resolve: args.resolve,
        ..SimConfig::default()
    };
    if let Some((max_chunk, delay_ms)) = args.split_writes {
        config.initial_faults.push(Fault::SplitWrites {
            max_chunk,
            delay_ms,
        });
    }
    config.initial_faults.extend(args.fault);
    if args.trace {
        let mut tracer = Tracer::default();
        config.trace = Some(Box::new(move |dir, bytes| tracer.trace(dir, bytes)));
    }
    let sim = match Sim::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qmt sim: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let kind = if sim.broker_is_embedded() {
        "embedded"
    } else {
        "external"
    };
    println!(
        "qmt sim: module on {} (broker {}, {kind})",
        sim.pty_path().display(),
        sim.broker_addr()
    );
    println!(
        "connect with: picocom -b 115200 {}   (Ctrl-C here stops the sim)",
        sim.pty_path().display()
    );
    println!("type a fault to inject it now (`help` lists them)");
    // The console: one fault spec per line. At the end of standard input (a pipe, /dev/null) the
    // sim keeps serving until the process is interrupted.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "help" {
            println!("faults: {}", Fault::SYNTAX);
            continue;
        }
        match line.parse::<Fault>() {
            Ok(fault) => match sim.inject(fault.clone()) {
                Ok(()) => println!("injected: {fault:?}"),
                Err(e) => {
                    eprintln!("qmt sim: the sim has stopped: {e}");
                    return ExitCode::from(1);
                }
            },
            Err(e) => eprintln!("qmt sim: {e}"),
        }
    }
    loop {
        std::thread::park();
    }
}

/// Prints the AT traffic line by line with secrets redacted: parameters of secret-bearing
/// commands (and their echo and read-back), and the bytes of every `AT+QFUPL` upload.
#[derive(Default)]
struct Tracer {
    host_line: Vec<u8>,
    module_line: Vec<u8>,
    /// Between `AT+QFUPL=` and its result: host bytes are file contents (keys), never shown.
    upload: bool,
    /// After a `> ` prompt: host bytes are a payload without a line end.
    data: bool,
}

impl Tracer {
    fn trace(&mut self, dir: TraceDir, bytes: &[u8]) {
        match dir {
            TraceDir::Host => self.host(bytes),
            TraceDir::Module => self.module(bytes),
        }
    }

    fn host(&mut self, bytes: &[u8]) {
        if self.upload {
            eprintln!(">> <{} bytes of upload data, not shown>", bytes.len());
            return;
        }
        if self.data {
            eprintln!(">> {}", escape(bytes, 200));
            return;
        }
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            if b == b'\r' {
                let line = std::mem::take(&mut self.host_line);
                eprintln!(">> {}", redact(&line));
                if line.to_ascii_uppercase().starts_with(b"AT+QFUPL=") {
                    self.upload = true;
                    if !rest.is_empty() {
                        eprintln!(">> <{} bytes of upload data, not shown>", rest.len());
                    }
                    return;
                }
            } else if b != b'\n' {
                self.host_line.push(b);
            }
        }
    }

    fn module(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.module_line.push(b);
            let line = &self.module_line;
            if b == b'\n' || line.as_slice() == b"> " {
                let line = std::mem::take(&mut self.module_line);
                let text = line.trim_ascii_end();
                if text == b">" {
                    eprintln!("<< > ");
                    self.data = true;
                    continue;
                }
                if text.is_empty() {
                    continue;
                }
                eprintln!("<< {}", redact(text));
                self.data = false;
                if text.starts_with(b"+QFUPL:")
                    || text == b"ERROR"
                    || text.starts_with(b"+CME ERROR")
                {
                    self.upload = false;
                }
            }
        }
    }
}

/// The line, escaped; the parameters of secret-bearing lines are replaced.
fn redact(line: &[u8]) -> String {
    let upper = line.to_ascii_uppercase();
    let names: [&[u8]; 4] = [
        b"\"ALIAUTH\"",
        b"\"ONENET\"",
        b"\"HWAUTH\"",
        b"\"HWPRODID\"",
    ];
    let cfg_secret = |rest: &[u8]| names.iter().any(|n| rest.trim_ascii_start().starts_with(n));
    let secret = upper.starts_with(b"AT+QMTCONN=")
        || (upper.starts_with(b"AT+QMTCFG=") && cfg_secret(&upper[10..]))
        || (upper.starts_with(b"+QMTCFG:") && cfg_secret(&upper[8..]));
    if secret {
        let head = line
            .iter()
            .position(|&b| b == b'=' || b == b':')
            .map_or(line, |i| &line[..=i]);
        format!("{} <parameters redacted>", escape(head, 40))
    } else {
        escape(line, 200)
    }
}
