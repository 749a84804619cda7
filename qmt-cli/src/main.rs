//! `qmt`: the command-line face of qmt.
//!
//! `qmt decode [FILE|-]` turns a captured serial log of a Quectel module's MQTT AT traffic into typed,
//! readable events (see `qmt decode --help`). `qmt sim` runs a simulated module on a pseudo-terminal
//! (see `qmt sim --help`). `qmt demo` runs a whole session through a
//! simulated module, step by step. `qmt pub` / `qmt sub` publish and subscribe like mosquitto_pub /
//! mosquitto_sub, through a real module (`--port`) or the simulated one (`--sim`). `qmt ports`
//! finds the module's AT port (`--port auto` picks it).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use qmt_cli::capture::{self, Forced, FormatName};
use qmt_cli::decode;
use qmt_proto::recv::LenMode;

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
    /// The capture is raw bytes as read from the module's port (echo included), or a text log as
    /// people post them; the format is detected and named in the summary (`--format` forces it):
    /// lines ending in CR LF, LF or CR; direction markers `>>`/`<<` (the spec's transcripts),
    /// `->`/`<-`, `TX:`/`RX:`, `send`/`recv` or `>`/`<`, or none (then `AT` lines are the host's,
    /// AT traffic the module's, other lines notes); timestamps (`HH:MM:SS[.mmm]`, bracketed or
    /// not, ISO 8601, seconds since start) with a separator or tag after them (`18:13:18.620 -> `,
    /// `06:37:04.740 > bgxx: `); CR and LF printed as dots (`AT+CPIN?...+CPIN: READY....OK..`);
    /// the echo; `// comments` after a command; typographic quotes from forum software (read as
    /// ASCII, flagged).
    ///
    /// Events: `>>` host (command, data), `<<` module (echo, final, info, urc, prompt, connect,
    /// unknown, overflow, damaged), `--` note (a line of the log that is no AT traffic). With
    /// timestamps, each final code and two-phase result shows its time after the command, and the
    /// summary flags answers slower than the spec's maximum response time. Secrets (passwords,
    /// device secrets, keys) are redacted, and uploaded file contents are never printed.
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
        /// Force the capture's format instead of detecting it; names combine with commas
        /// (`--format dotted,tx-rx`), and what they leave open is still detected.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "NAME")]
        format: Vec<FormatName>,
    },
    /// Run a simulated module on a pseudo-terminal, speaking real MQTT to a real broker.
    ///
    /// Prints the pty path to open as the module's serial port, then serves until Ctrl-C. Every
    /// host name the host opens resolves to the broker (embedded rumqttd by default), unless
    /// `--resolve` says otherwise.
    Sim(sim::SimArgs),
    /// Run a whole MQTT session through a simulated module, step by step, showing the AT traffic:
    /// a module just powered on brought up (SIM, registration, APN, PDP context), configure,
    /// open, connect, subscribe, publish at QoS 0/1/2, a link drop and a lost bearer with
    /// automatic recovery, disconnect, close. Start here.
    ///
    /// --apn and --pin configure both the host and the simulated network and SIM (default APN:
    /// internet); --no-bring-up uses a module that is already up.
    Demo(pubsub::NetworkArgs),
    /// Publish one message, like mosquitto_pub, through the module on --port or the simulated
    /// module (--sim).
    ///
    /// Opens the modem, configures, opens and connects the client, publishes (waiting for
    /// +QMTPUBEX: sent at QoS 0, PUBACK/PUBCOMP at QoS 1/2), disconnects and closes.
    #[command(disable_help_flag = true, after_help = failure::EXIT_CODES)]
    Pub(pubsub::PubArgs),
    /// Subscribe and print messages, like mosquitto_sub, through the module on --port or the
    /// simulated module (--sim).
    ///
    /// Each payload goes to stdout as its bytes (with -v: `topic payload`), a newline after each
    /// (unless -N), flushed per message. A lost link is recovered (reconnect, re-subscribe)
    /// unless --no-reconnect.
    #[command(disable_help_flag = true, after_help = failure::EXIT_CODES)]
    Sub(pubsub::SubArgs),
    /// The module at a glance, like `mmcli -m 0`: model, firmware, IMEI, ICCID, SIM, operator,
    /// registration, signal, PDP contexts and MQTT clients. Changes nothing; works on a module
    /// that is not registered.
    Status(status::StatusArgs),
    /// The module's files (TLS certificates and keys): list, delete (rm NAME), upload (put FILE
    /// [--as NAME] [--replace]). Contents are never printed.
    Files(files::FilesArgs),
    /// The serial ports of this machine: for USB ones the vendor/product ids and interface, and
    /// for a Quectel EC200x/EC600x/EG912Y what each port is for (AT, modem, diagnostics, NMEA;
    /// docs/usb-ports.md). Says which port to give --port, or that no module is there (exit 0).
    ///
    /// With --probe, sends `AT` (and nothing else) to the candidate ports and says which answer,
    /// which answer garbage (another program such as ModemManager talking on them) and which are
    /// busy (held by another process, named, with how to stop it).
    Ports(ports::PortsArgs),
}

/// `--recv-len` values: [`LenMode`] under the names the command line uses (clap needs a local
/// type to derive `ValueEnum`), one for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RecvLenArg {
    /// A length field followed by a comma is a length (msg_len_enable=1 or unknown).
    Auto,
    /// Lines carry no length (msg_len_enable=0).
    Off,
    /// Like auto, and a header ending with the length announces the payload on the next line.
    Split,
}

impl From<RecvLenArg> for LenMode {
    fn from(arg: RecvLenArg) -> LenMode {
        match arg {
            RecvLenArg::Auto => LenMode::On,
            RecvLenArg::Off => LenMode::Off,
            RecvLenArg::Split => LenMode::Split,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Sim(args) => sim::run(args),
        Cmd::Demo(network) => demo::run(&network),
        Cmd::Pub(args) => pubsub::run_pub(args),
        Cmd::Sub(args) => pubsub::run_sub(args),
        Cmd::Status(args) => status::run(args),
        Cmd::Files(args) => files::run(args),
        Cmd::Ports(args) => ports::run(args),
        Cmd::Decode {
            file,
            json,
            recv_len,
            format,
        } => {
            let forced = match Forced::from_names(&format) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("qmt decode: {e}");
                    return ExitCode::from(2);
                }
            };
            let (name, bytes) = match read_input(file.as_deref()) {
                Ok(v) => v,
                Err(msg) => {
                    eprintln!("qmt decode: {msg}");
                    return ExitCode::from(2);
                }
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let opts = decode::Options {
                json,
                recv_len: recv_len.into(),
            };
            let log = capture::read(&bytes, &forced);
            match decode::run_log(&log, &opts, &mut out) {
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

mod demo;
mod failure;
mod files;
mod open;
mod ports;
mod pubsub;
mod serial;
mod sim;
mod status;
