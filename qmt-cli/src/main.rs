//! `qmt`: the command-line face of qmt.
//!
//! `qmt decode [FILE|-]` turns a captured serial log of a Quectel module's MQTT AT traffic into typed,
//! readable events (see `qmt decode --help`). `qmt sim` runs a simulated module on a pseudo-terminal
//! (see `qmt sim --help`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use qmt_cli::decode::{self, RecvLen};

/// Typed MQTT over the AT port of Quectel EC200x / EC600x / EG912Y modules.
#[derive(Parser, Debug)]
#[command(name = "qmt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Decode a captured serial log into typed events, one per line, and a summary.
    ///
    /// The capture is either raw bytes as read from the module's port (echo included), or a text
    /// log in the `>>` (host) / `<<` (module) form of the spec's transcripts; the form is detected.
    /// Secrets (passwords, device secrets, keys) are redacted, and uploaded file contents are never
    /// printed.
    Decode {
        /// The capture file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Print one JSON object per event (and a final summary object) instead of text.
        #[arg(long)]
        json: bool,
        /// How `+QMTRECV` lines carry lengths (the module's `msg_len_enable`): `auto` counts a
        /// payload whenever a length field is present, `off` never, `split` also accepts the
        /// EC200U form with the payload on the next line.
        #[arg(long, value_enum, default_value_t = RecvLenArg::Auto)]
        recv_len: RecvLenArg,
    },
    /// Run a simulated module on a pseudo-terminal, speaking real MQTT to a real broker.
    ///
    /// Prints the pty path to open as the module's serial port, then serves until Ctrl-C. Every
    /// host name the host opens resolves to the broker (embedded rumqttd by default), unless
    /// `--resolve` says otherwise.
    Sim(sim::SimArgs),
}

/// `--recv-len` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RecvLenArg {
    /// A length field followed by a comma is a length (msg_len_enable=1 or unknown).
    Auto,
    /// Lines carry no length (msg_len_enable=0).
    Off,
    /// Like auto, and a header ending with the length announces the payload on the next line.
    Split,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Sim(args) => sim::run(args),
        Cmd::Decode {
            file,
            json,
            recv_len,
        } => {
            let (name, bytes) = match read_input(file.as_deref()) {
                Ok(v) => v,
                Err(msg) => {
                    eprintln!("qmt decode: {msg}");
                    return ExitCode::from(2);
                }
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let recv_len = match recv_len {
                RecvLenArg::Auto => RecvLen::Auto,
                RecvLenArg::Off => RecvLen::Off,
                RecvLenArg::Split => RecvLen::Split,
            };
            let opts = decode::Options { json, recv_len };
            match decode::run(&bytes, &opts, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                // A closed pipe (`qmt decode x | head`) is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("qmt decode: writing output for {name}: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Reads the capture, naming it in any error.
fn read_input(file: Option<&std::path::Path>) -> Result<(String, Vec<u8>), String> {
    match file {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => {
            let name = p.display().to_string();
            std::fs::read(p)
                .map(|b| (name.clone(), b))
                .map_err(|e| format!("cannot read {name}: {e}"))
        }
    }
}

fn read_stdin() -> Result<(String, Vec<u8>), String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(("standard input".into(), bytes))
}

/// `qmt sim`: a simulated module on a pseudo-terminal (qmt-sim), for trying drivers and tools.
mod sim {

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
}
