//! `qmt sim`: a simulated module on a pseudo-terminal (qmt-sim), for trying drivers and tools.
//!
//! Faults are injected with `--fault SPEC` at start, and while it runs by typing a SPEC on
//! standard input (one per line; `help` lists them), so a person testing a driver by hand can drop
//! the broker, stall it, power-cycle the module… at the moment they choose.

use std::io::BufRead as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::Args;
use qmt_cli::trace::Tracer;
use qmt_sim::{BrokerChoice, Fault, Sim, SimConfig};

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
