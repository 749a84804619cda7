//! `qmt pub` and `qmt sub`: mosquitto_pub / mosquitto_sub through a Quectel module, on a real
//! serial port (`--port`) or on the simulated module (`--sim`).
//!
//! Both share [`Common`] (where the module is, the broker, the client's identity, TLS, `--trace`)
//! and [`start`]: open the modem, create client 0 (or `--client-idx`), connect — each long wait
//! with a progress line on a terminal. Every failure ends as one line on stderr and an exit code
//! of [`exit`].

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use qmt_client::Client;
use qmt_client::sansio::{NetworkConfig, Stage, stat_words};
use qmt_client::{
    ClientError, ClientOptions, Connection, Event, LagSource, Modem, ModemConfig, Qos,
    RecoveryPolicy, TlsFiles,
};
use qmt_client::{LossCause, RecoveryEvent};
use qmt_proto::cfg::MsgRecvMode;
use qmt_proto::params::{ClientIdx, PayloadLen, Topic};
use qmt_sim::{BrokerChoice, SimConfig, SimHandle};

mod progress;

use crate::failure::{EXIT_CODES, Failure, code_of, exit};
use progress::{Progress, wait_handle};

/// Flags shared by `qmt pub` and `qmt sub` (mosquitto's names where it has them).
#[derive(Args, Debug)]
pub struct Common {
    /// The module's serial port (AT port), e.g. /dev/ttyUSB2, or `auto`: the single Quectel AT
    /// port `qmt ports` finds.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "sim",
        conflicts_with = "sim"
    )]
    pub port: Option<PathBuf>,
    /// The serial port's baud rate.
    #[arg(long, value_name = "BAUD", default_value_t = 115_200)]
    pub baud: u32,
    #[command(flatten)]
    pub serial: crate::serial::SerialArgs,
    /// Use the simulated module (in this process) instead of a serial port. With -h/-p it opens
    /// a real connection to that broker (every host name resolves to it); without them it uses
    /// its embedded broker.
    #[arg(long)]
    pub sim: bool,
    /// The MQTT broker's host (AT+QMTOPEN's host name). Default: localhost.
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// The MQTT broker's port. Default: 1883, or 8883 with TLS.
    #[arg(short = 'p', value_name = "PORT")]
    pub mqtt_port: Option<u16>,
    /// The MQTT client id. Default: qmt-pub-<pid> / qmt-sub-<pid>.
    #[arg(short = 'i', long = "id", value_name = "ID")]
    pub client_id: Option<String>,
    /// User name.
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Password (never shown in any output, the trace included).
    #[arg(short = 'P', long = "pw", value_name = "PASS", requires = "username")]
    pub password: Option<String>,
    /// Keep-alive in seconds (0–3600). Default: the module's (120).
    #[arg(short = 'k', long = "keepalive", value_name = "SECS")]
    pub keep_alive: Option<u16>,
    /// A persistent session (clean session off, as mosquitto_sub's -c): the broker keeps the
    /// subscriptions and queues QoS 1/2 messages while the client is away. Needs -i, so that the
    /// next run finds the session. The module is set never to retransmit CONNECT (timeout
    /// 20,0,0), which would make mosquitto discard the session.
    #[arg(short = 'c', long = "disable-clean-session", requires = "client_id")]
    pub persistent: bool,
    /// TLS through the module (AT+QSSLCFG); implied by --cafile. Without --cafile the broker's
    /// certificate is not verified (seclevel 0).
    #[arg(long)]
    pub tls: bool,
    /// CA certificate (PEM) to verify the broker: uploaded to the module with AT+QFUPL, checked
    /// against the module's checksum.
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS; needs --cert. Never shown in the trace.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Check the broker's certificate validity against the module's clock (ignorelocaltime 0)
    /// and, when that clock is earlier than the CA certificate's validity or was never set, set
    /// it from this NTP server (AT+QNTP) before opening. Without --ntp the module ignores its
    /// clock for certificates (ignorelocaltime 1).
    #[arg(long, value_name = "SERVER")]
    pub ntp: Option<String>,
    /// The module's SSL context for TLS (0–5).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub ssl_ctx: u8,
    /// The module's client index (0–5).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub client_idx: u8,
    /// Show the AT traffic on stderr (secrets and uploaded files redacted), on a real port
    /// (--port) or the simulated module (--sim).
    #[arg(long)]
    pub trace: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// Bring-up flags (spec §10), shared by `qmt pub`, `qmt sub` and `qmt demo`.
#[derive(Args, Debug, Default)]
pub struct NetworkArgs {
    /// The APN of the data context (AT+QICSGP, written only when it differs). Default: the
    /// context's own (the network's default APN).
    #[arg(long, value_name = "APN")]
    pub apn: Option<String>,
    /// The APN's user name (PAP/CHAP).
    #[arg(long, value_name = "USER", requires = "apn")]
    pub apn_user: Option<String>,
    /// The APN's password (never shown in any output, the trace included).
    #[arg(long, value_name = "PASS", requires = "apn_user")]
    pub apn_password: Option<String>,
    /// The SIM PIN, entered if the SIM asks for it (never shown in any output).
    #[arg(long, value_name = "PIN")]
    pub pin: Option<String>,
    /// Skip bring-up (SIM, registration, APN, PDP context): assume the module is already
    /// registered with an active context, and go straight to AT+QMTOPEN.
    #[arg(long, conflicts_with_all = ["apn", "pin"])]
    pub no_bring_up: bool,
}

impl NetworkArgs {
    /// The bring-up configuration, checked before the port is opened (a bad APN or PIN exits 2).
    pub fn config(&self) -> Result<Option<NetworkConfig>, Failure> {
        if self.no_bring_up {
            return Ok(None);
        }
        let usage = |e: ClientError| Failure::new(exit::USAGE, e.to_string());
        let mut config = match &self.apn {
            Some(apn) => NetworkConfig::with_apn(apn).map_err(usage)?,
            None => NetworkConfig::default(),
        };
        if let Some(user) = &self.apn_user {
            config = config
                .credentials(user, self.apn_password.as_deref().unwrap_or(""))
                .map_err(usage)?;
        }
        if let Some(pin) = &self.pin {
            config = config.pin(pin).map_err(usage)?;
        }
        Ok(Some(config))
    }
}

/// How a stage reads on a progress line (its own seconds are the line's).
pub fn stage_label(stage: &Stage) -> String {
    match stage {
        Stage::Registration { stat, .. } => {
            format!("waiting for registration: {}", stat_words(*stat))
        }
        other => other.to_string(),
    }
}

impl Common {
    fn tls_enabled(&self) -> bool {
        self.tls || self.cafile.is_some() || self.cert.is_some()
    }

    /// The broker address for the sim, when -h or -p is given.
    fn sim_broker(&self) -> Result<Option<SocketAddr>, Failure> {
        if self.host.is_none() && self.mqtt_port.is_none() {
            return Ok(None);
        }
        let host = self.host.as_deref().unwrap_or("localhost");
        let port = self
            .mqtt_port
            .unwrap_or(if self.tls_enabled() { 8883 } else { 1883 });
        let usage = |why: String| Failure::new(exit::USAGE, why);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| usage(format!("cannot resolve the broker {host}:{port}: {e}")))?
            .next()
            .ok_or_else(|| usage(format!("the broker {host}:{port} has no address")))?;
        Ok(Some(addr))
    }

    fn options(&self, default_id: &str, buffered: bool) -> Result<ClientOptions, Failure> {
        let mut b = ClientOptions::builder()
            .host(self.host.as_deref().unwrap_or("localhost"))
            .client_id(self.client_id.as_deref().unwrap_or(default_id));
        if let Some(p) = self.mqtt_port {
            b = b.port(i64::from(p));
        }
        if let Some(user) = &self.username {
            b = b.credentials(user.as_str(), self.password.as_deref().unwrap_or(""));
        }
        if let Some(k) = self.keep_alive {
            b = b.keep_alive(i64::from(k));
        }
        if self.persistent {
            b = b.clean_session(false);
        }
        if buffered {
            b = b.recv_mode(MsgRecvMode::Buffered, true);
        }
        if self.tls_enabled() {
            b = b.tls(i64::from(self.ssl_ctx));
            let mut files = TlsFiles::new();
            let mut any = false;
            if let Some(f) = &self.cafile {
                files = files.ca_cert("cacert.pem", read_file(f, "--cafile")?);
                any = true;
            }
            if let (Some(c), Some(k)) = (&self.cert, &self.key) {
                files = files
                    .client_cert("client.pem", read_file(c, "--cert")?)
                    .client_key("user_key.pem", read_file(k, "--key")?);
                any = true;
            }
            if let Some(server) = &self.ntp {
                files = files.ignore_local_time(false);
                b = b.ntp_server(server.as_str());
            }
            if any {
                b = b.tls_files(files);
            }
        }
        b.build()
            .map_err(|e| Failure::new(exit::USAGE, e.to_string()))
    }
}

/// Reads a file named on the command line; a failure is a usage error naming it.
pub fn read_file(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(exit::USAGE, format!("{flag} {}: {e}", path.display())))
}

/// A connected client and what keeps it alive. Fields drop in order: the client before the
/// modem, the modem before the sim it talks to.
pub struct Session {
    /// The connected client.
    pub client: Client,
    /// Its events.
    pub conn: Connection,
    /// Progress lines for the waits that follow.
    pub progress: Progress,
    _modem: Modem,
    _sim: Option<SimHandle>,
}

/// Opens the modem (real or simulated), creates the client and connects it.
pub fn start(
    common: &Common,
    cmd: &str,
    buffered: bool,
    recovery: RecoveryPolicy,
) -> Result<Session, Failure> {
    let options = common.options(&format!("qmt-{cmd}-{}", std::process::id()), buffered)?;
    let network = common.network.config()?;
    // The client index is checked before the port is opened: a bad value touches nothing
    // (issue 8), where `Modem::client` would refuse it only after the module's start-up.
    ClientIdx::new(i64::from(common.client_idx))
        .map_err(|e| Failure::client(&ClientError::Invalid(e)))?;
    let progress = Progress::new(!common.trace);

    let mut config = ModemConfig {
        recovery,
        network,
        ..ModemConfig::default()
    };
    config.port.baud_rate = common.baud;
    config.serial = common.serial.setup();
    let sim_config = if common.sim {
        let broker = common.sim_broker()?;
        Some(SimConfig {
            broker: broker.map_or(BrokerChoice::Embedded, BrokerChoice::External),
            ..SimConfig::default()
        })
    } else {
        None
    };
    let (sim, path) = crate::open::module(
        sim_config,
        common.port.as_deref(),
        common.trace,
        &mut config,
    )?;
    let shown = path.display().to_string();
    let modem = Modem::open_request(&path, config)
        .and_then(|mut opening| {
            progress.run_labeled(|d| {
                let label = opening
                    .stage()
                    .map_or_else(|| "opening the modem".to_owned(), |s| stage_label(&s));
                (opening.wait_timeout(d), label)
            })
        })
        .map_err(|e| match e {
            ClientError::Port { reason } => Failure::new(exit::PORT, reason),
            ClientError::Timeout { .. } => Failure::new(
                exit::TIMEOUT,
                format!("the module on {shown} does not answer: {e}"),
            ),
            // Names the port, what was tried and heard, and what to check.
            ClientError::NoAnswer { .. } => Failure::new(exit::TIMEOUT, e.to_string()),
            other => Failure::new(code_of(&other), format!("{shown}: {other}")),
        })?;

    let (client, conn) = modem
        .client(i64::from(common.client_idx), options)
        .map_err(|e| Failure::client(&e))?;
    let handle = client.connect_request().map_err(|e| Failure::client(&e))?;
    wait_handle(&progress, "waiting for the network", handle).map_err(|e| match e {
        // Closed while connecting (a TLS client certificate refused after the handshake, a
        // server that is not an MQTT broker): a refusal.
        ClientError::LinkLost { .. } => Failure::new(
            exit::REFUSED,
            format!("the broker closed the connection while connecting: {e}"),
        ),
        // The same, when the +QMTSTAT came between +QMTOPEN and AT+QMTCONN: qmt-client then
        // refuses the CONN as "not connected".
        ClientError::NotConnected => Failure::new(
            exit::REFUSED,
            "the broker closed the connection while connecting (right after AT+QMTOPEN)",
        ),
        other => Failure::client(&other),
    })?;
    Ok(Session {
        client,
        conn,
        progress,
        _modem: modem,
        _sim: sim,
    })
}

impl Session {
    /// Disconnects and closes the client (best effort: the work is done already).
    pub fn finish(self) {
        if let Ok(h) = self.client.disconnect_request() {
            let _ = wait_handle(&self.progress, "disconnecting", h);
        }
        if let Ok(h) = self.client.close_request() {
            let _ = wait_handle(&self.progress, "closing", h);
        }
    }
}

/// `-q` values.
pub fn parse_qos(s: &str) -> Result<Qos, String> {
    match s {
        "0" => Ok(Qos::AtMostOnce),
        "1" => Ok(Qos::AtLeastOnce),
        "2" => Ok(Qos::ExactlyOnce),
        _ => Err(format!("{s}: QoS is 0, 1 or 2")),
    }
}

// ---- qmt pub ------------------------------------------------------------------------------------

/// `qmt pub` flags.
#[derive(Args, Debug)]
#[command(disable_help_flag = true, after_help = EXIT_CODES)]
pub struct PubArgs {
    #[command(flatten)]
    common: Common,
    /// The topic to publish to.
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
    topic: String,
    /// The message (text).
    #[arg(short = 'm', long = "message", value_name = "MSG", group = "payload")]
    message: Option<String>,
    /// Send this file's bytes as the message (any bytes: CR, LF, `"`, NUL…).
    #[arg(short = 'f', long = "file", value_name = "FILE", group = "payload")]
    file: Option<PathBuf>,
    /// Read the message from standard input (all of it, any bytes).
    #[arg(short = 's', long = "stdin-file", group = "payload")]
    stdin: bool,
    /// Send an empty message.
    #[arg(short = 'n', long = "null-message", group = "payload")]
    null: bool,
    /// QoS 0, 1 or 2.
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    qos: Qos,
    /// Retain the message.
    #[arg(short = 'r', long = "retain")]
    retain: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Runs `qmt pub`.
pub fn run_pub(args: PubArgs) -> ExitCode {
    match publish(&args) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => f.report("pub"),
    }
}

fn payload(args: &PubArgs) -> Result<Vec<u8>, Failure> {
    if let Some(m) = &args.message {
        return Ok(m.clone().into_bytes());
    }
    if let Some(f) = &args.file {
        return read_file(f, "-f");
    }
    if args.stdin {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| Failure::new(exit::OTHER, format!("reading standard input: {e}")))?;
        return Ok(bytes);
    }
    if args.null {
        return Ok(Vec::new());
    }
    Err(Failure::new(
        exit::USAGE,
        "no message: give one of -m MSG, -f FILE, -s (stdin) or -n (empty)",
    ))
}

fn publish(args: &PubArgs) -> Result<(), Failure> {
    let payload = payload(args)?;
    // The topic and the payload's size are checked before the module is opened: a bad value must
    // not open (and connect) a client first (issue 8: nothing reaches the port). The CLI always
    // publishes in text send mode, so the limit is the module's 1500 bytes.
    let invalid = |e| Failure::client(&ClientError::Invalid(e));
    Topic::new(args.topic.as_str()).map_err(invalid)?;
    if payload.len() > usize::from(PayloadLen::MAX) {
        return Err(Failure::client(&ClientError::PayloadTooLarge {
            len: payload.len(),
            max: usize::from(PayloadLen::MAX),
        }));
    }
    let session = start(&args.common, "pub", false, RecoveryPolicy::disabled())?;
    let handle = session
        .client
        .publish_request(&args.topic, &payload, args.qos, args.retain)
        .map_err(|e| Failure::client(&e))?;
    wait_handle(&session.progress, "publishing", handle).map_err(|e| Failure::client(&e))?;
    session.finish();
    Ok(())
}

// ---- qmt sub ------------------------------------------------------------------------------------

/// `qmt sub` flags.
#[derive(Args, Debug)]
#[command(disable_help_flag = true, after_help = EXIT_CODES)]
pub struct SubArgs {
    #[command(flatten)]
    common: Common,
    /// A topic filter to subscribe to (repeatable).
    #[arg(short = 't', long = "topic", value_name = "FILTER", required = true)]
    topics: Vec<String>,
    /// The QoS to subscribe with: 0, 1 or 2.
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    qos: Qos,
    /// Exit after COUNT messages.
    #[arg(short = 'C', value_name = "COUNT")]
    count: Option<u64>,
    /// Print `topic payload` per message instead of the payload alone.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Do not add a newline after each payload.
    #[arg(short = 'N')]
    no_newline: bool,
    /// Give up (exit 5) when no -C COUNT messages came within SECS seconds of subscribing (or,
    /// without -C, stop cleanly after SECS seconds).
    #[arg(short = 'W', value_name = "SECS")]
    wait: Option<u64>,
    /// Have the module buffer messages (recv/mode 1, read with AT+QMTRECV) instead of carrying
    /// them in the URC; the output is the same.
    #[arg(long)]
    buffered: bool,
    /// Do not reconnect (and re-subscribe) when the link is lost: exit 1 instead.
    #[arg(long)]
    no_reconnect: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Runs `qmt sub`.
pub fn run_sub(args: SubArgs) -> ExitCode {
    match subscribe(&args) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => f.report("sub"),
    }
}

fn subscribe(args: &SubArgs) -> Result<(), Failure> {
    let recovery = if args.no_reconnect {
        RecoveryPolicy::disabled()
    } else {
        RecoveryPolicy::enabled()
    };
    // Every filter is checked before the module is opened (issue 8: nothing reaches the port).
    for t in &args.topics {
        Topic::new(t.as_str()).map_err(|e| Failure::client(&ClientError::Invalid(e)))?;
    }
    let session = start(&args.common, "sub", args.buffered, recovery)?;
    // AT+QMTSUB takes at most five filters.
    for chunk in args.topics.chunks(5) {
        let filters: Vec<(&str, Qos)> = chunk.iter().map(|t| (t.as_str(), args.qos)).collect();
        let handle = session
            .client
            .subscribe_request(&filters)
            .map_err(|e| Failure::client(&e))?;
        let granted = wait_handle(&session.progress, "subscribing", handle)
            .map_err(|e| Failure::client(&e))?;
        if let Some(i) = granted
            .iter()
            .position(|g| *g == qmt_proto::codes::GrantedQos::Failure)
        {
            return Err(Failure::new(
                exit::REFUSED,
                format!("the broker refused the subscription to {}", chunk[i]),
            ));
        }
    }
    let deadline = args.wait.map(|s| Instant::now() + Duration::from_secs(s));
    let mut received = 0u64;
    let stdout = std::io::stdout();
    loop {
        if args.count.is_some_and(|c| received >= c) {
            break;
        }
        let event = match deadline {
            None => session.conn.recv(),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match session.conn.recv_timeout(left) {
                    Ok(e) => Some(e),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        let Some(c) = args.count else { break };
                        return Err(Failure::new(
                            exit::TIMEOUT,
                            format!(
                                "timeout: {received} of {c} message(s) within {} s",
                                args.wait.unwrap_or_default()
                            ),
                        ));
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(event) = event else {
            return Err(Failure::new(exit::OTHER, "the modem went away"));
        };
        match event {
            Event::Message(m) => {
                let mut out = stdout.lock();
                let written = (|| {
                    if args.verbose {
                        out.write_all(m.topic().as_bytes())?;
                        out.write_all(b" ")?;
                    }
                    out.write_all(m.payload())?;
                    if !args.no_newline {
                        out.write_all(b"\n")?;
                    }
                    out.flush()
                })();
                match written {
                    Ok(()) => {}
                    // `qmt sub … | head`: the reader is gone, so is the point of running.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => {
                        return Err(Failure::new(exit::OTHER, format!("writing stdout: {e}")));
                    }
                }
                received += 1;
            }
            Event::LinkLost { code, action, .. } if args.no_reconnect => {
                return Err(Failure::client(&ClientError::LinkLost { code, action }));
            }
            Event::PingTimeout { .. } if args.no_reconnect => {
                return Err(Failure::client(&ClientError::PingTimeout));
            }
            Event::ModuleRestarted if args.no_reconnect => {
                return Err(Failure::client(&ClientError::ModuleRestarted));
            }
            Event::Recovery { event, .. } => match event {
                RecoveryEvent::GaveUp { last_error, .. } => {
                    return Err(Failure::new(
                        code_of(&last_error),
                        format!("reconnecting failed: {last_error}"),
                    ));
                }
                RecoveryEvent::Lost { cause, .. } => {
                    let why = match cause {
                        LossCause::LinkLost(code) => {
                            format!("+QMTSTAT {}: {}", code.code(), code.meaning())
                        }
                        LossCause::PingTimeout => "keep-alive failed".to_owned(),
                        LossCause::ModuleRestarted => "the module restarted".to_owned(),
                    };
                    eprintln!("qmt sub: connection lost ({why}); reconnecting");
                }
                RecoveryEvent::Restored { .. } => eprintln!("qmt sub: reconnected"),
                RecoveryEvent::Retrying { .. } => {}
            },
            Event::MessageDamaged { msgid, topic } => eprintln!(
                "qmt sub: a message (topic {}, msgid {}) arrived damaged on the serial line and \
                 was dropped; use --flow rtscts on a UART",
                topic.as_deref().unwrap_or("?"),
                msgid.map_or_else(|| "?".to_owned(), |m| m.to_string())
            ),
            // Never silent: say how many and where (qmt-client's `LagSource` docs say why).
            Event::Lagged { dropped, source } => {
                let r#where = match source {
                    LagSource::Connection => "this program fell behind the module",
                    LagSource::ModuleRestart => {
                        "stored in the module's receive slots when it restarted"
                    }
                };
                eprintln!("qmt sub: {dropped} event(s) lost: {where}");
            }
            _ => {}
        }
    }
    session.finish();
    Ok(())
}
