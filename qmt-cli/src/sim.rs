//! `qmt sim`: a simulated module on a pseudo-terminal (qmt-sim), for trying drivers and tools.
//!
//! Faults are injected with `--fault SPEC` at start, and while it runs by typing a SPEC on
//! standard input (one per line; `help` lists them), so a person testing a driver by hand can drop
//! the broker, stall it, power-cycle the module, deactivate the bearer, lose the network, pull the
//! SIM… at the moment they choose.
//!
//! The SIM, the network and the bearer (spec §10) come from flags: by default the module is
//! already registered with context 1 active (what the MQTT transcripts expect); `--cold` makes the
//! host do the bring-up (SIM ready, registration after 1.5 s, no context active), and the other
//! flags change one thing each (`--no-sim`, `--pin`, `--reg-delay`, `--expect-apn` …). The file
//! system and the clock (spec §10.8, §10.9) too: `--file NAME=PATH`, `--no-qfupl-answer`,
//! `--clock-unset 2000|1980`, `--network-time`, `--tz`, `--ntp-fail`, `--ntp-delay`.

use std::io::BufRead as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use qmt_cli::capture::{Forced, FormatName};
use qmt_cli::replay::script_from_log;
use qmt_cli::trace::Tracer;
use qmt_sim::replay::Speed;
use qmt_sim::{
    BootUrcs, BrokerChoice, ClockSim, Fault, LineConfig, NetworkSim, RegOutcome, ReplayConfig, Sim,
    SimCard, SimConfig, SimPin,
};

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
    /// fill-slots IDX, burst TOPIC COUNT, pdp-deact CID, reg-lost, reg-regained, sim-remove,
    /// sim-insert, qfupl-answer on|off. The same specs typed on standard input act at once.
    #[arg(long, value_name = "SPEC", value_parser = parse_fault)]
    fault: Vec<Fault>,
    /// Pace the serial line like a UART at this rate (10 bits a byte, both directions), instead
    /// of a pty's speed. The module starts at this rate; AT+IPR changes it. Without RTS/CTS
    /// (AT+IFC=2,2) output the host does not read in time is lost, as on a real UART.
    #[arg(long, value_name = "RATE", value_parser = parse_baud)]
    baud: Option<u32>,
    /// The module's processing time added to each byte the host sends, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency: u64,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    files_clock: FilesClockArgs,
    #[command(flatten)]
    replay: ReplayArgs,
}

/// `qmt sim --replay LOG`: the module side of a field log instead of a simulated module.
#[derive(Args, Debug)]
#[command(next_help_heading = "Replay a log")]
pub struct ReplayArgs {
    /// Play the module side of this log (any form `qmt decode` reads): each host command is
    /// answered with what the log's module answered to the matching command (same kind, equal
    /// arguments first; hosts and secrets need not match), URCs and late results at their times
    /// in the log. A command the log does not cover is answered ERROR and reported here. No
    /// broker, no network; --broker, --fault (but split) and the network flags are ignored.
    #[arg(long, value_name = "LOG")]
    replay: Option<std::path::PathBuf>,
    /// Play the log's times faster (2) or slower (0.5) than logged.
    #[arg(long, value_name = "FACTOR", default_value = "1", value_parser = parse_speed, requires = "replay")]
    replay_speed: Speed,
    /// The log's format, as `qmt decode --format` (names combine with commas).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "NAME",
        requires = "replay"
    )]
    replay_format: Vec<FormatName>,
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    s.parse::<Speed>().map_err(|e| e.to_string())
}

/// The file system and clock flags (spec §10.8, §10.9). Without any, the file system is empty,
/// `AT+QFUPL` answers `+QFUPL: <size>,<checksum>`, and the clock is set to the real time.
#[derive(Args, Debug)]
#[command(next_help_heading = "Files and clock")]
pub struct FilesClockArgs {
    /// A file in the module's file system at start (repeatable): NAME=PATH, e.g.
    /// UFS:cacert.pem=./ca.pem.
    #[arg(long = "file", value_name = "NAME=PATH", value_parser = parse_file)]
    files: Vec<(String, Vec<u8>)>,
    /// AT+QFUPL leaves out its +QFUPL answer (as seen on some real modules); the fault
    /// `qfupl-answer on|off` changes it while running.
    #[arg(long)]
    no_qfupl_answer: bool,
    /// The module's clock starts unset: 2000 (00/01/01) or 1980 (80/01/06, the GPS epoch).
    /// AT+QNTP sets it.
    #[arg(long, value_name = "2000|1980", value_parser = parse_unset)]
    clock_unset: Option<i64>,
    /// The network's time (NTP, AT+QLTS) at start, seconds since 1970 UTC (default: now).
    #[arg(long, value_name = "UNIX")]
    network_time: Option<i64>,
    /// Time zone the module reports, in quarter hours (-96..96; 32 is UTC+8).
    #[arg(long, value_name = "QUARTERS", allow_hyphen_values = true, value_parser = clap::value_parser!(i8).range(-96..=96))]
    tz: Option<i8>,
    /// AT+QNTP fails with +QNTP: ERR (e.g. 565) instead of setting the clock.
    #[arg(long, value_name = "ERR")]
    ntp_fail: Option<u16>,
    /// How long AT+QNTP takes before its +QNTP result (default 1 s).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    ntp_delay: Option<Duration>,
}

impl FilesClockArgs {
    /// Applies these flags to a network configuration; `now_unix` is the wall clock.
    fn apply(&self, n: &mut NetworkSim, now_unix: i64) {
        n.files.clone_from(&self.files);
        n.qfupl_answer = !self.no_qfupl_answer;
        n.clock.network_unix = self.network_time.unwrap_or(now_unix);
        n.clock.start_unix = self.clock_unset;
        if let Some(tz) = self.tz {
            n.clock.zone_quarters = tz;
        }
        n.clock.ntp_error = self.ntp_fail;
        if let Some(d) = self.ntp_delay {
            n.clock.ntp_delay = d;
        }
    }
}

/// `NAME=PATH`: the file's bytes, read now.
pub(crate) fn parse_file(s: &str) -> Result<(String, Vec<u8>), String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected NAME=PATH"))?;
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok((name.to_owned(), data))
}

/// `2000` or `1980`: the unset clock of that year.
fn parse_unset(s: &str) -> Result<i64, String> {
    match s {
        "2000" => Ok(ClockSim::UNSET_2000),
        "1980" => Ok(ClockSim::UNSET_1980),
        _ => Err(format!("{s}: expected 2000 or 1980")),
    }
}

/// The SIM, network and bearer flags (spec §10). Without any, the module is registered at home
/// with context 1 active at once, and boots with `RDY` alone.
#[derive(Args, Debug)]
#[command(next_help_heading = "SIM, network and bearer")]
pub struct NetworkArgs {
    /// Leave the bring-up to the host: full boot URCs (RDY, +CFUN: 1, +CPIN: READY, +QUSIM: 1,
    /// +QIND: SMS DONE, +QIND: PB DONE), registration after 1.5 s of searching, no PDP context
    /// active (AT+QMTOPEN answers +QMTOPEN: <idx>,3 until the host runs AT+QIACT). The flags
    /// below change this starting point.
    #[arg(long)]
    cold: bool,
    /// Answer nothing for SECS seconds after power-up (and after each reset), then boot.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    boot_delay: Option<Duration>,
    /// Boot with every URC of spec §10.1, not RDY alone (implied by --cold).
    #[arg(long)]
    full_boot_urcs: bool,
    /// No SIM in the holder: AT+CPIN? and AT+CIMI answer +CME ERROR: 10, no registration.
    #[arg(long, conflicts_with = "pin")]
    no_sim: bool,
    /// The SIM is locked with this PIN (4-8 digits): +CPIN: SIM PIN until AT+CPIN="<PIN>";
    /// three wrong PINs lock it (SIM PUK).
    #[arg(long, value_name = "PIN")]
    pin: Option<SimPin>,
    /// SIM hot-swap detection on: AT+QSIMSTAT? answers 1,<inserted>, sim-remove sends
    /// +QSIMSTAT: 1,0.
    #[arg(long)]
    sim_hotswap: bool,
    /// Search (stat 2) for SECS seconds before registering.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    reg_delay: Option<Duration>,
    /// Registration is denied (stat 3) after the search.
    #[arg(long, conflicts_with_all = ["roaming", "no_service"])]
    reg_denied: bool,
    /// Registered roaming (stat 5) after the search.
    #[arg(long, conflicts_with = "no_service")]
    roaming: bool,
    /// No network: searching (stat 2) for ever.
    #[arg(long)]
    no_service: bool,
    /// AT+QIACT only succeeds when the context's APN (AT+QICSGP) is APN; by default any APN.
    #[arg(long, value_name = "APN")]
    expect_apn: Option<String>,
    /// AT+CSQ <rssi>: 0-31 (dBm = -113 + 2*rssi) or 99 (unknown).
    #[arg(long, value_name = "0-31", value_parser = parse_rssi)]
    rssi: Option<u8>,
    /// Operator name of AT+COPS? (default CHN-UNICOM).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Numeric operator of AT+QNWINFO (default 46001).
    #[arg(long, value_name = "MCCMNC")]
    mcc_mnc: Option<String>,
    /// Model of ATI / AT+CGMM (default EC200U).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Firmware revision of ATI / AT+CGMR (default EC200UCNAAR02A01M08).
    #[arg(long, value_name = "REVISION")]
    firmware: Option<String>,
    /// IMEI of AT+GSN (15 digits).
    #[arg(long, value_name = "IMEI")]
    imei: Option<String>,
    /// ICCID of AT+QCCID.
    #[arg(long, value_name = "ICCID")]
    iccid: Option<String>,
    /// IMSI of AT+CIMI.
    #[arg(long, value_name = "IMSI")]
    imsi: Option<String>,
}

impl NetworkArgs {
    /// The network configuration these flags describe.
    fn to_network(&self) -> NetworkSim {
        let mut n = if self.cold {
            NetworkSim::cold()
        } else {
            NetworkSim::default()
        };
        if let Some(d) = self.boot_delay {
            n.boot_delay = d;
        }
        if self.full_boot_urcs {
            n.boot_urcs = BootUrcs::Full;
        }
        if self.no_sim {
            n.sim = SimCard::Absent;
        }
        if let Some(pin) = &self.pin {
            n.sim = SimCard::Locked(pin.clone());
        }
        n.sim_hotswap |= self.sim_hotswap;
        if let Some(d) = self.reg_delay {
            n.reg_delay = d;
        }
        if self.reg_denied {
            n.registration = RegOutcome::Denied;
        } else if self.roaming {
            n.registration = RegOutcome::Roaming;
        } else if self.no_service {
            n.registration = RegOutcome::NoService;
        }
        if let Some(apn) = &self.expect_apn {
            n.expected_apn = Some(apn.clone());
        }
        if let Some(rssi) = self.rssi {
            n.signal.rssi = rssi;
        }
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut n.operator.name, &self.operator);
        set(&mut n.operator.mcc_mnc, &self.mcc_mnc);
        set(&mut n.identity.model, &self.model);
        set(&mut n.identity.revision, &self.firmware);
        set(&mut n.identity.imei, &self.imei);
        set(&mut n.identity.iccid, &self.iccid);
        set(&mut n.identity.imsi, &self.imsi);
        n
    }
}

/// Seconds, fractions allowed, up to a day.
fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .filter(|d| *d <= Duration::from_secs(86_400))
        .ok_or_else(|| format!("{s}: expected seconds, 0 to 86400 (e.g. 1.5)"))
}

fn parse_baud(s: &str) -> Result<u32, String> {
    s.parse::<i64>()
        .ok()
        .and_then(|n| qmt_proto::uart::BaudRate::new(n).ok())
        .map(qmt_proto::uart::BaudRate::get)
        .ok_or_else(|| {
            format!("{s}: expected one of 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000")
        })
}

fn parse_rssi(s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|&r| r <= 31 || r == 99)
        .ok_or_else(|| format!("{s}: expected 0-31 or 99"))
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
    if let Some(log) = &args.replay.replay {
        return run_replay(log, &args);
    }
    let mut config = SimConfig {
        broker: args
            .broker
            .map_or(BrokerChoice::Embedded, BrokerChoice::External),
        resolve: args.resolve.clone(),
        network: {
            let mut n = args.network.to_network();
            let now_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(ClockSim::DEFAULT_NETWORK, |d| {
                    i64::try_from(d.as_secs()).unwrap_or(ClockSim::DEFAULT_NETWORK)
                });
            args.files_clock.apply(&mut n, now_unix);
            n
        },
        ..SimConfig::default()
    };
    serial_line(&args, &mut config);
    config.initial_faults.extend(args.fault.iter().cloned());
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

/// `qmt sim --replay LOG`: the replay core on the pty; reports each command the log does not
/// cover as it comes, until interrupted.
fn run_replay(path: &std::path::Path, args: &SimArgs) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("qmt sim: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let forced = match Forced::from_names(&args.replay.replay_format) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("qmt sim: {e}");
            return ExitCode::from(2);
        }
    };
    let log = script_from_log(&bytes, &forced);
    let exchanges = log.script.exchanges();
    if exchanges == 0 {
        eprintln!(
            "qmt sim: {} holds no host command to answer (read as {})",
            path.display(),
            log.format
        );
        return ExitCode::from(2);
    }
    let mut config = SimConfig {
        replay: Some(ReplayConfig {
            script: log.script,
            speed: args.replay.replay_speed,
        }),
        ..SimConfig::default()
    };
    serial_line(args, &mut config);
    let sim = match Sim::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qmt sim: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "qmt sim: replaying {} ({exchanges} exchanges, {}; {} host lines skipped) on {}",
        path.display(),
        log.format,
        log.skipped,
        sim.pty_path().display()
    );
    println!(
        "connect with: picocom -b 115200 {}   (Ctrl-C here stops the sim)",
        sim.pty_path().display()
    );
    // Each uncovered command once (a host polls: `AT+CPIN?` may come every second).
    let mut seen = std::collections::BTreeSet::new();
    let mut reported = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(stats) = sim.replay_stats() else {
            eprintln!("qmt sim: the replay has stopped");
            return ExitCode::from(1);
        };
        for command in stats.uncovered.iter().skip(reported) {
            if seen.insert(command.clone()) {
                eprintln!(
                    "qmt sim: the log does not cover {command}: answered ERROR (each time; not repeated here)"
                );
            }
        }
        reported = stats.uncovered.len();
    }
}

/// What both modes take from the flags: the line's pace, split writes, the trace.
fn serial_line(args: &SimArgs, config: &mut SimConfig) {
    config.line = LineConfig {
        baud: args.baud,
        latency: Duration::from_millis(args.latency),
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
}
