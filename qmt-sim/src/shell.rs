//! The IO shell: one thread, one mio event loop, around the sans-IO module core.
//!
//! The shell owns the pseudo-terminal's master side, the module core (anything implementing
//! [`Core`], normally [`Module`]) and one TCP connection (with a rustls client session for TLS)
//! per client index. It only moves bytes and time:
//!
//! | from | to |
//! |---|---|
//! | pty master (host writes) | [`Core::feed`] |
//! | [`Core::poll_output`] | pty master (cut and delayed by [`Fault::SplitWrites`], with timers) |
//! | [`Core::poll_net`] | resolve, connect (+ TLS), send, close |
//! | sockets, connect results | [`Core::handle_net`] |
//! | [`Core::poll_timeout`] | the poll timeout, then [`Core::handle_timeout`] |
//! | [`SimHandle`] commands (channel + [`mio::Waker`]) | faults, shutdown |
//!
//! Nothing blocks the loop except name resolution through the system resolver, which is used only
//! with [`ResolveAll::System`].
//!
//! The shell keeps the pty's slave side open for its whole life: a pty master read fails with EIO
//! while no slave descriptor is open, and the host may open, close and reopen the slave path at
//! will. Module output written while no host has the port open stays in the pty (and, beyond the
//! kernel's buffer, in the shell's bounded queue) and is read by the next host to open it.
//!
//! With [`SimConfig::replay`] the core is a [`Replay`] of a log instead of a [`Module`]: no broker
//! is started and no connection is ever made. The line faults the shell applies itself
//! ([`Fault::SplitWrites`], [`Fault::LineDamage`]) still work; every other fault is ignored (a
//! log cannot say what its module would have done).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use mio_serial::{SerialPort as _, SerialStream};
use qmt_proto::params::ClientIdx;
use qmt_proto::uart::FlowControl;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use crate::broker::EmbeddedBroker;
use crate::fault::Fault;
use crate::module::network::NetworkSim;
use crate::module::{Module, SerialSettings};
use crate::net::{ConnectError, NetAction, NetEvent};
use crate::replay::{Replay, ReplayConfig, ReplayStats};
use crate::uart::{Damage, LineConfig, Pacer};

/// The module core as the shell drives it: exactly the methods of [`Module`] (construction aside,
/// see [`Sim::start_with`]). Tests implement it with small fakes (an echoing core, a core that
/// opens a connection) to exercise the shell without the real module.
pub trait Core {
    /// Bytes the host wrote to the serial port.
    fn feed(&mut self, bytes: &[u8], now: Instant);
    /// Something happened on the network.
    fn handle_net(&mut self, event: NetEvent, now: Instant);
    /// Time passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next deadline, if any.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Bytes to write to the host.
    fn poll_output(&mut self) -> Option<Vec<u8>>;
    /// The next network action.
    fn poll_net(&mut self) -> Option<NetAction>;
    /// Applies a line-level fault.
    fn inject(&mut self, fault: Fault, now: Instant);
    /// The module's serial settings (`AT+IFC`, `AT+IPR`); a core without any has the defaults.
    fn serial(&self) -> SerialSettings {
        SerialSettings::default()
    }
}

impl Core for Module {
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        Module::feed(self, bytes, now);
    }
    fn handle_net(&mut self, event: NetEvent, now: Instant) {
        Module::handle_net(self, event, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Module::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Module::poll_timeout(self)
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        Module::poll_output(self)
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        Module::poll_net(self)
    }
    fn inject(&mut self, fault: Fault, now: Instant) {
        Module::inject(self, fault, now);
    }
    fn serial(&self) -> SerialSettings {
        Module::serial(self)
    }
}

impl Core for Replay {
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        Replay::feed(self, bytes, now);
    }
    fn handle_net(&mut self, event: NetEvent, _now: Instant) {
        // A replay never asks for a connection.
        tracing::debug!(?event, "replay: network event ignored");
    }
    fn handle_timeout(&mut self, now: Instant) {
        Replay::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Replay::poll_timeout(self)
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        Replay::poll_output(self)
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        None
    }
    fn inject(&mut self, fault: Fault, _now: Instant) {
        tracing::info!(
            ?fault,
            "replay: fault ignored (a log has no network to break)"
        );
    }
    fn serial(&self) -> SerialSettings {
        Replay::serial(self)
    }
}

/// A [`Replay`] that publishes its [`ReplayStats`] to the [`SimHandle`] after each host write.
struct SharedReplay {
    replay: Replay,
    stats: Arc<Mutex<ReplayStats>>,
}

impl Core for SharedReplay {
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.replay.feed(bytes, now);
        let stats = self.replay.stats().clone();
        match self.stats.lock() {
            Ok(mut s) => *s = stats,
            Err(poisoned) => *poisoned.into_inner() = stats,
        }
    }
    fn handle_net(&mut self, event: NetEvent, now: Instant) {
        Core::handle_net(&mut self.replay, event, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.replay.handle_timeout(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.replay.poll_timeout()
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.replay.poll_output()
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        None
    }
    fn inject(&mut self, fault: Fault, now: Instant) {
        Core::inject(&mut self.replay, fault, now);
    }
    fn serial(&self) -> SerialSettings {
        self.replay.serial()
    }
}

/// Which broker the simulated module talks to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BrokerChoice {
    /// Start an [`EmbeddedBroker`] (rumqttd, MQTT 3.1.1, no TLS) on 127.0.0.1.
    #[default]
    Embedded,
    /// Use a broker that is already running at this address.
    External(SocketAddr),
}

/// Where host names that are not in [`SimConfig::resolve`] go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResolveAll {
    /// Every name (and IP literal) resolves to the broker's address, port included: the spec's
    /// golden transcripts with AWS and Aliyun host names run unchanged.
    #[default]
    Broker,
    /// Every name (and IP literal) resolves to this address, port included.
    To(SocketAddr),
    /// The system resolver (`ToSocketAddrs`, blocking briefly), with the port of `AT+QMTOPEN`.
    System,
}

/// Direction of traced AT traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDir {
    /// Bytes the host wrote (`>>`).
    Host,
    /// Bytes the module wrote (`<<`), as written to the pty (after any split).
    Module,
}

/// A sink for the AT traffic, called on the sim thread. It sees secrets (passwords, uploaded
/// keys) as they cross the line: a sink that prints must redact them.
pub type TraceFn = Box<dyn FnMut(TraceDir, &[u8]) + Send>;

/// How to run a simulated module.
pub struct SimConfig {
    /// The broker: embedded (default) or external.
    pub broker: BrokerChoice,
    /// Name → address overrides, checked first (names compare case-insensitively; an IP literal
    /// may be a key too). The address's port replaces the port of `AT+QMTOPEN`.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Where every other name goes; by default to the broker.
    pub resolve_all_to: ResolveAll,
    /// A TCP connect (and TLS handshake) that takes longer fails ([`ConnectError::Network`], or
    /// [`ConnectError::Tls`] during the handshake).
    pub connect_timeout: Duration,
    /// Faults applied at start, before the host can write anything (e.g. `SplitWrites`).
    pub initial_faults: Vec<Fault>,
    /// Receives the AT traffic in both directions, if set.
    pub trace: Option<TraceFn>,
    /// The SIM, network and bearer of the module (spec §10): by default a module that is already
    /// registered with context 1 active ([`NetworkSim::default`]); [`SimConfig::cold`] leaves the
    /// bring-up to the host.
    pub network: NetworkSim,
    /// The serial line's timing: by default not paced (a pty's speed); with a baud rate, a UART's
    /// (spec §10.7; `qmt sim --baud --latency`).
    pub line: LineConfig,
    /// With a script: [`Sim::start`] plays the log's module ([`Replay`]) instead of simulating
    /// one. No broker is started (`broker`, `resolve`, `resolve_all_to`, `connect_timeout` and
    /// `network` are not used), and faults other than the shell's line faults are ignored (see
    /// the [module docs](self)).
    pub replay: Option<ReplayConfig>,
}

impl SimConfig {
    /// The default configuration with [`NetworkSim::cold`]: full boot URCs, SIM ready,
    /// registration after 1.5 s of searching, no PDP context active.
    pub fn cold() -> SimConfig {
        SimConfig {
            network: NetworkSim::cold(),
            ..SimConfig::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            broker: BrokerChoice::Embedded,
            resolve: Vec::new(),
            resolve_all_to: ResolveAll::Broker,
            connect_timeout: Duration::from_secs(20),
            initial_faults: Vec::new(),
            trace: None,
            network: NetworkSim::default(),
            line: LineConfig::default(),
            replay: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("broker", &self.broker)
            .field("resolve", &self.resolve)
            .field("resolve_all_to", &self.resolve_all_to)
            .field("connect_timeout", &self.connect_timeout)
            .field("initial_faults", &self.initial_faults)
            .field("trace", &self.trace.is_some())
            .field("network", &self.network)
            .field("line", &self.line)
            .field("replay", &self.replay)
            .finish()
    }
}

/// Starts simulated modules.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Starts the broker (if embedded), a pty and the sim thread running a [`Module`] with the
    /// configuration's [`SimConfig::network`]; or, with [`SimConfig::replay`], a pty and the sim
    /// thread running a [`Replay`] of the script (no broker: [`SimHandle::broker_addr`] is then
    /// the external broker's address if one was given, else `0.0.0.0:0`).
    ///
    /// # Errors
    /// When the broker does not start, no pty can be created, or the thread cannot be spawned.
    pub fn start(mut config: SimConfig) -> io::Result<SimHandle> {
        let baud = config.line.baud;
        if let Some(replay) = config.replay.take() {
            let broker_addr = match config.broker {
                BrokerChoice::External(addr) => addr,
                BrokerChoice::Embedded => SocketAddr::from(([0, 0, 0, 0], 0)),
            };
            let stats = Arc::new(Mutex::new(ReplayStats::default()));
            let shared = Arc::clone(&stats);
            return spawn(config, None, broker_addr, Some(stats), move |now| {
                let r = Replay::new(replay, now);
                let replay = match baud {
                    Some(b) => r.with_baud(b),
                    None => r,
                };
                SharedReplay {
                    replay,
                    stats: shared,
                }
            });
        }
        let network = std::mem::take(&mut config.network);
        Sim::start_with(config, move |now| {
            let m = Module::with_network(now, network);
            match baud {
                Some(b) => m.with_baud(b),
                None => m,
            }
        })
    }

    /// Like [`Sim::start`], with any [`Core`]; `make` builds it on the sim thread (so the core
    /// need not be `Send`) from the start instant. [`SimConfig::replay`] is not used: the core
    /// is `make`'s (a [`Replay`] is a [`Core`] too).
    ///
    /// # Errors
    /// As [`Sim::start`].
    pub fn start_with<C, F>(config: SimConfig, make: F) -> io::Result<SimHandle>
    where
        C: Core + 'static,
        F: FnOnce(Instant) -> C + Send + 'static,
    {
        let (embedded, broker_addr) = match config.broker {
            BrokerChoice::Embedded => {
                let b = EmbeddedBroker::start()?;
                let addr = b.addr();
                (Some(b), addr)
            }
            BrokerChoice::External(addr) => (None, addr),
        };
        spawn(config, embedded, broker_addr, None, make)
    }
}

/// Creates the pty and runs the shell around the core `make` builds, on its own thread.
fn spawn<C, F>(
    mut config: SimConfig,
    embedded: Option<EmbeddedBroker>,
    broker_addr: SocketAddr,
    replay: Option<Arc<Mutex<ReplayStats>>>,
    make: F,
) -> io::Result<SimHandle>
where
    C: Core + 'static,
    F: FnOnce(Instant) -> C + Send + 'static,
{
    let (mut master, slave) = SerialStream::pair().map_err(io::Error::from)?;
    let pty_path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("the pty slave has no path"))?;
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    poll.registry()
        .register(&mut master, PTY, Interest::READABLE | Interest::WRITABLE)?;
    let (tx, rx) = mpsc::channel();
    let net = NetConfig {
        resolve: std::mem::take(&mut config.resolve),
        resolve_all_to: config.resolve_all_to,
        broker_addr,
        connect_timeout: config.connect_timeout,
    };
    let initial = std::mem::take(&mut config.initial_faults);
    let trace = config.trace.take();
    let line = config.line;
    let name = format!(
        "qmt-sim {}",
        pty_path.file_name().unwrap_or_default().to_string_lossy()
    );
    let thread = thread::Builder::new().name(name).spawn(move || {
        let now = Instant::now();
        let core = make(now);
        let baud = core.serial().baud;
        let mut shell = Shell {
            poll,
            pacer: Pacer::new(line, now),
            baud,
            overrun: 0,
            rx_blocked: false,
            damage: None,
            core,
            master,
            _slave: slave,
            rx,
            net,
            trace,
            out: VecDeque::new(),
            out_dropped: 0,
            split: None,
            next_write: None,
            conns: Default::default(),
            next_serial: 0,
            stalled: [false; 6],
            dns_fail: DnsFail::None,
            events: VecDeque::new(),
            stop: false,
        };
        for fault in initial {
            shell.apply(fault, now);
        }
        if let Err(e) = shell.run() {
            tracing::error!(error = %e, "qmt-sim event loop failed");
        }
    })?;
    tracing::info!(pty = %pty_path.display(), broker = %broker_addr, "qmt-sim started");
    Ok(SimHandle {
        pty_path,
        broker_addr,
        _embedded: embedded,
        replay,
        tx,
        waker,
        thread: Some(thread),
    })
}

/// A running simulated module. Dropping it shuts the sim down (the embedded broker, which rumqttd
/// cannot stop, lives on until the process ends).
#[derive(Debug)]
pub struct SimHandle {
    pty_path: PathBuf,
    broker_addr: SocketAddr,
    _embedded: Option<EmbeddedBroker>,
    /// With a replay: its stats, as of the host's last write.
    replay: Option<Arc<Mutex<ReplayStats>>>,
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The pty slave path a host opens as the module's serial port (e.g. `/dev/pts/7`).
    pub fn pty_path(&self) -> &Path {
        &self.pty_path
    }

    /// The broker the module connects to (embedded or external).
    pub fn broker_addr(&self) -> SocketAddr {
        self.broker_addr
    }

    /// Whether the broker is the embedded one.
    pub fn broker_is_embedded(&self) -> bool {
        self._embedded.is_some()
    }

    /// With [`SimConfig::replay`]: how the host's commands were answered so far (the commands the
    /// log did not cover among them). `None` for a simulated module.
    pub fn replay_stats(&self) -> Option<ReplayStats> {
        let shared = self.replay.as_ref()?;
        Some(match shared.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }

    /// Injects a fault (see [`Fault`]): network-level ones are applied by the shell, the rest by
    /// the core.
    ///
    /// # Errors
    /// When the sim has stopped.
    pub fn inject(&self, fault: Fault) -> io::Result<()> {
        self.send(Command::Inject(fault))
    }

    /// Stops the sim thread and waits for it; closes the pty and every connection. Idempotent.
    pub fn shutdown(&mut self) {
        let _ = self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the qmt-sim thread panicked");
            }
        }
    }

    fn send(&self, cmd: Command) -> io::Result<()> {
        self.tx
            .send(cmd)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the sim has stopped"))?;
        self.waker.wake()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A request from the [`SimHandle`] to the sim thread.
#[derive(Debug)]
enum Command {
    Inject(Fault),
    Shutdown,
}

const WAKER: Token = Token(0);
const PTY: Token = Token(1);
/// Connection tokens are `CONN_BASE + serial`, a serial never reused, so a late event of a
/// dropped connection cannot reach its successor.
const CONN_BASE: usize = 2;

/// Module output queued beyond this while the host does not read is dropped (and counted).
pub const MAX_PENDING_OUTPUT: usize = 1 << 20;

const READ_CHUNK: usize = 16 * 1024;

struct NetConfig {
    resolve: Vec<(String, SocketAddr)>,
    resolve_all_to: ResolveAll,
    broker_addr: SocketAddr,
    connect_timeout: Duration,
}

enum DnsFail {
    None,
    All,
    Names(HashSet<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    /// TCP connect in progress.
    Connecting,
    /// TCP up, TLS handshake in progress.
    Handshaking,
    /// Reported as connected.
    Up,
}

struct Conn {
    token: Token,
    host: String,
    sock: TcpStream,
    state: ConnState,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    tls: Option<ClientConnection>,
    /// Plain TCP bytes not yet written (TLS buffers in rustls).
    out: Vec<u8>,
    /// After [`NetAction::Close`]: flush, then drop; report nothing.
    closing: bool,
    deadline: Instant,
    /// Bytes that arrived from the server while it was stalled ([`Fault::BrokerStall`]): held,
    /// not dropped. TCP already acknowledged them, so a real network could never lose them; a
    /// real silent server would not have sent them either. Delivered on [`Fault::BrokerResume`],
    /// or lost with the connection if the module gives up on it first (as on a dead link).
    held: Vec<u8>,
}

/// The most bytes a stalled connection holds; beyond it the oldest stall is not worth keeping
/// faithful and the connection is treated as broken (see [`service_conn`]).
const MAX_HELD: usize = 1 << 20;

/// How a serviced connection ended, if it did.
enum End {
    /// Still open.
    Open,
    /// Dropped quietly (closed by the core).
    Quiet,
    /// The peer or the network ended it.
    Failed(ConnectError),
}

struct Shell<C> {
    poll: Poll,
    core: C,
    master: SerialStream,
    /// Held open so reading the master never fails with EIO when no host has the port open.
    _slave: SerialStream,
    rx: mpsc::Receiver<Command>,
    net: NetConfig,
    trace: Option<TraceFn>,
    out: VecDeque<u8>,
    out_dropped: usize,
    /// `SplitWrites`: largest write and pause between writes.
    split: Option<(usize, Duration)>,
    /// With `split`: the earliest time of the next write.
    next_write: Option<Instant>,
    conns: [Option<Conn>; 6],
    next_serial: usize,
    stalled: [bool; 6],
    dns_fail: DnsFail,
    /// Network events for the core, in order.
    events: VecDeque<NetEvent>,
    stop: bool,
    /// The UART's timing, when the line is paced.
    pacer: Pacer,
    /// The rate the pacer runs at (the module's, once the bytes before a change have left).
    baud: u32,
    /// Module output lost because the host did not read it, with no flow control (paced only).
    overrun: u64,
    /// Host bytes wait in the pty for room on the paced line.
    rx_blocked: bool,
    /// UART damage in both directions ([`Fault::LineDamage`]).
    damage: Option<Damage>,
}

/// Waits shorter than this are slept, not left to epoll's millisecond grain (see `Shell::run`).
const FINE_WAIT: Duration = Duration::from_millis(2);

impl<C: Core> Shell<C> {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        while !self.stop {
            let now = Instant::now();
            self.pump(now);
            let timeout = self
                .next_deadline(now)
                .map(|d| d.saturating_duration_since(now));
            // epoll waits in whole milliseconds (mio rounds up): a paced line's byte times and the
            // module's latency are finer, and each wake-up up to a millisecond late cost a paced
            // publish ~1.6 ms at 921,600 baud (`cargo xtask wire-bound`). A short wait is slept
            // precisely instead; what the host writes meanwhile waits in the pty, as it would in
            // a busy module's UART.
            let timeout = match timeout {
                Some(t) if !t.is_zero() && t < FINE_WAIT => {
                    std::thread::sleep(t);
                    Some(Duration::ZERO)
                }
                other => other,
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.commands(now),
                    PTY => {
                        if event.is_readable() {
                            self.read_pty(now);
                        }
                        if event.is_writable() {
                            self.flush_pty(now);
                        }
                    }
                    token => self.service_token(token, now),
                }
            }
            self.timers(Instant::now());
        }
        Ok(())
    }

    /// Moves everything the core has to say, until it is quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(ev) = self.events.pop_front() {
                tracing::debug!(?ev, "net event");
                self.core.handle_net(ev, now);
                progress = true;
            }
            while let Some(action) = self.core.poll_net() {
                self.net_action(action, now);
                progress = true;
            }
            while let Some(bytes) = self.core.poll_output() {
                self.queue_output(&bytes);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        self.flush_pty(now);
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut d = self.core.poll_timeout();
        let mut min = |t: Instant| d = Some(d.map_or(t, |d: Instant| d.min(t)));
        if self.rx_blocked || self.pacer.rx_pending() {
            if let Some(t) = self.pacer.rx_next(now) {
                min(t);
            }
        }
        if !self.out.is_empty() {
            if let Some(t) = self.next_write {
                min(t);
            }
        }
        for c in self.conns.iter().flatten() {
            if c.state != ConnState::Up && !c.closing {
                min(c.deadline);
            }
        }
        d
    }

    fn timers(&mut self, now: Instant) {
        self.feed_due(now);
        if self.rx_blocked && self.pacer.rx_allowance(now) > 0 {
            self.read_pty(now);
        }
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
        }
        for i in 0..self.conns.len() {
            let expired = self.conns[i]
                .as_ref()
                .is_some_and(|c| c.state != ConnState::Up && !c.closing && c.deadline <= now);
            if expired {
                let c = self.drop_conn(i);
                if let Some(c) = c {
                    let error = if c.state == ConnState::Handshaking {
                        ConnectError::Tls
                    } else {
                        ConnectError::Network
                    };
                    tracing::debug!(client = i, host = %c.host, "connect timed out");
                    self.report_end(i, c.state, error);
                }
            }
        }
        self.flush_pty(now);
    }

    fn commands(&mut self, now: Instant) {
        loop {
            match self.rx.try_recv() {
                Ok(Command::Inject(fault)) => self.apply(fault, now),
                Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                    self.stop = true;
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => return,
            }
        }
    }

    // ---- faults ---------------------------------------------------------------------------

    fn apply(&mut self, fault: Fault, now: Instant) {
        tracing::debug!(?fault, "fault");
        match fault {
            Fault::BrokerClose(which) => {
                for i in selected(which) {
                    if let Some(c) = self.drop_conn(i) {
                        if !c.closing {
                            self.report_end(i, c.state, ConnectError::Network);
                        }
                    }
                }
            }
            Fault::BrokerStall(which) => selected(which).for_each(|i| self.stalled[i] = true),
            Fault::BrokerResume(which) => {
                for i in selected(which) {
                    self.stalled[i] = false;
                    // Deliver what the stall held back now, not at the next socket event.
                    if self.conns[i].as_ref().is_some_and(|c| !c.held.is_empty()) {
                        self.service(i);
                    }
                }
            }
            Fault::DnsFailure(None) => self.dns_fail = DnsFail::All,
            Fault::DnsFailure(Some(name)) => match &mut self.dns_fail {
                DnsFail::All => {}
                DnsFail::Names(names) => {
                    names.insert(name.to_ascii_lowercase());
                }
                DnsFail::None => {
                    self.dns_fail = DnsFail::Names(HashSet::from([name.to_ascii_lowercase()]));
                }
            },
            Fault::DnsRestore => self.dns_fail = DnsFail::None,
            Fault::SplitWrites {
                max_chunk,
                delay_ms,
            } => {
                self.split = (max_chunk > 0).then(|| (max_chunk, Duration::from_millis(delay_ms)));
                self.next_write = None;
            }
            Fault::Burst { topic, count } => burst(self.net.broker_addr, topic, count),
            Fault::LineDamage { per_million, seed } => {
                if let Some(d) = &self.damage {
                    tracing::info!(
                        dropped = d.counts[0],
                        flipped = d.counts[1],
                        inserted = d.counts[2],
                        "line damage so far"
                    );
                }
                self.damage = (per_million > 0).then(|| Damage::new(per_million, seed));
            }
            other => self.core.inject(other, now),
        }
    }

    // ---- the serial line ------------------------------------------------------------------

    fn read_pty(&mut self, now: Instant) {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            // A paced line brings only so many bytes by now; the rest waits in the pty.
            let room = self.pacer.rx_allowance(now).min(READ_CHUNK);
            if room == 0 {
                self.rx_blocked = true;
                break;
            }
            match self.master.read(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(t) = self.trace.as_mut() {
                        t(TraceDir::Host, &buf[..n]);
                    }
                    match self.damage.as_mut() {
                        Some(d) => {
                            let damaged = d.apply(&buf[..n]);
                            self.pacer.rx_arrived(&damaged, now);
                        }
                        None => self.pacer.rx_arrived(&buf[..n], now),
                    }
                    self.feed_due(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.rx_blocked = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Not expected while the slave is held open; never spin on it.
                    tracing::warn!(error = %e, "reading the pty failed");
                    break;
                }
            }
        }
    }

    /// Gives the module the host bytes whose time has come (all of them on an unpaced line
    /// without latency).
    fn feed_due(&mut self, now: Instant) {
        while let Some(bytes) = self.pacer.rx_due(now) {
            self.core.feed(&bytes, now);
        }
    }

    fn queue_output(&mut self, bytes: &[u8]) {
        let damaged;
        let bytes = match self.damage.as_mut() {
            Some(d) => {
                damaged = d.apply(bytes);
                &damaged[..]
            }
            None => bytes,
        };
        if self.out.len() + bytes.len() > MAX_PENDING_OUTPUT {
            self.out_dropped += bytes.len();
            tracing::warn!(
                dropped = bytes.len(),
                total_dropped = self.out_dropped,
                "the host does not read the pty: module output dropped"
            );
            return;
        }
        self.out.extend(bytes);
    }

    fn flush_pty(&mut self, now: Instant) {
        self.follow_rate();
        while !self.out.is_empty() {
            if self.next_write.is_some_and(|t| t > now) {
                return;
            }
            let mut limit = usize::MAX;
            if let Some((max, delay)) = self.split {
                // One write per slot; the timer brings the next one.
                self.next_write = Some(now + delay);
                limit = max;
            }
            let room = self.pacer.tx_allowance(now);
            if room == 0 {
                self.next_write = self.pacer.tx_next(now);
                return;
            }
            limit = limit.min(room);
            let (a, b) = self.out.as_slices();
            let chunk = if a.is_empty() { b } else { a };
            let chunk = &chunk[..chunk.len().min(limit)];
            match self.master.write(chunk) {
                Ok(n) => {
                    if let Some(t) = self.trace.as_mut() {
                        t(TraceDir::Module, &chunk[..n]);
                    }
                    self.out.drain(..n);
                    self.pacer.tx_sent(n, now);
                    if self.split.is_some_and(|(_, d)| !d.is_zero()) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.pacer.paced() && self.core.serial().dte_by_dce == FlowControl::None {
                        // A UART without flow control sends anyway: the host that did not read
                        // in time loses the bytes (spec §10.7).
                        let n = chunk.len();
                        self.overrun += n as u64;
                        tracing::warn!(
                            lost = n,
                            total = self.overrun,
                            "host overrun: module output lost (no flow control)"
                        );
                        self.out.drain(..n);
                        self.pacer.tx_sent(n, now);
                        continue;
                    }
                    // Flow control (or an unpaced pty): wait for the host to read.
                    self.next_write = None;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "writing the pty failed");
                    return;
                }
            }
        }
        self.follow_rate();
    }

    /// Spec §10.7: after `AT+IPR` the module answers `OK` at the old rate, then switches; the
    /// line follows once what was queued before the change has left.
    fn follow_rate(&mut self) {
        if !self.out.is_empty() {
            return;
        }
        let baud = self.core.serial().baud;
        if baud != self.baud {
            tracing::debug!(from = self.baud, to = baud, "the line changes rate");
            self.baud = baud;
            self.pacer.set_baud(baud);
        }
    }

    // ---- the network ----------------------------------------------------------------------

    fn net_action(&mut self, action: NetAction, now: Instant) {
        match action {
            NetAction::Connect {
                client_idx,
                host,
                port,
                tls,
            } => {
                let i = idx(client_idx);
                if self.drop_conn(i).is_some() {
                    tracing::debug!(client = i, "connect replaces an open connection");
                }
                let Some(addr) = self.resolve(&host, port) else {
                    tracing::debug!(client = i, %host, "name resolution failed");
                    self.fail(i, ConnectError::Dns);
                    return;
                };
                let tls_config = match tls.as_ref().map(crate::tls::client_config).transpose() {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(client = i, error = %e, "TLS settings unusable");
                        self.fail(i, ConnectError::Tls);
                        return;
                    }
                };
                let mut sock = match TcpStream::connect(addr) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(client = i, %addr, error = %e, "connect failed");
                        self.fail(i, ConnectError::Network);
                        return;
                    }
                };
                let token = Token(CONN_BASE + self.next_serial);
                self.next_serial += 1;
                if let Err(e) = self.poll.registry().register(
                    &mut sock,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    tracing::warn!(client = i, error = %e, "cannot register a socket");
                    self.fail(i, ConnectError::Network);
                    return;
                }
                tracing::debug!(client = i, %host, %addr, tls = tls_config.is_some(), "connecting");
                self.conns[i] = Some(Conn {
                    token,
                    host,
                    sock,
                    state: ConnState::Connecting,
                    tls_config,
                    tls: None,
                    out: Vec::new(),
                    closing: false,
                    held: Vec::new(),
                    deadline: now + self.net.connect_timeout,
                });
                // A connect to a local port may already be complete.
                self.service(i);
            }
            NetAction::Send { client_idx, bytes } => {
                let i = idx(client_idx);
                let Some(c) = self.conns[i].as_mut().filter(|c| !c.closing) else {
                    tracing::debug!(client = i, len = bytes.len(), "send without a connection");
                    return;
                };
                match c.tls.as_mut() {
                    Some(tls) => {
                        if let Err(e) = tls.writer().write_all(&bytes) {
                            tracing::warn!(client = i, error = %e, "TLS write failed");
                        }
                    }
                    None => c.out.extend_from_slice(&bytes),
                }
                self.service(i);
            }
            NetAction::Close { client_idx } => {
                let i = idx(client_idx);
                let Some(c) = self.conns[i].as_mut() else {
                    return;
                };
                if c.state == ConnState::Connecting {
                    self.drop_conn(i);
                    return;
                }
                c.closing = true;
                if let Some(tls) = c.tls.as_mut() {
                    tls.send_close_notify();
                }
                self.service(i);
            }
        }
    }

    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let lower = host.to_ascii_lowercase();
        match &self.dns_fail {
            DnsFail::All => return None,
            DnsFail::Names(names) if names.contains(&lower) => return None,
            _ => {}
        }
        if let Some((_, addr)) = self
            .net
            .resolve
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
        {
            return Some(*addr);
        }
        match self.net.resolve_all_to {
            ResolveAll::Broker => Some(self.net.broker_addr),
            ResolveAll::To(addr) => Some(addr),
            ResolveAll::System => {
                let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or(addrs.first())
                    .copied()
            }
        }
    }

    fn fail(&mut self, i: usize, error: ConnectError) {
        self.events.push_back(NetEvent::ConnectFailed {
            client_idx: client(i),
            error,
        });
    }

    /// Reports the end of a connection that was in `state`.
    fn report_end(&mut self, i: usize, state: ConnState, error: ConnectError) {
        match state {
            ConnState::Up => self.events.push_back(NetEvent::Closed {
                client_idx: client(i),
            }),
            ConnState::Connecting => self.fail(i, error),
            ConnState::Handshaking => self.fail(i, ConnectError::Tls),
        }
    }

    fn drop_conn(&mut self, i: usize) -> Option<Conn> {
        let mut c = self.conns[i].take()?;
        let _ = self.poll.registry().deregister(&mut c.sock);
        let _ = c.sock.shutdown(Shutdown::Both);
        Some(c)
    }

    fn service_token(&mut self, token: Token, _now: Instant) {
        if let Some(i) = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.token == token))
        {
            self.service(i);
        }
    }

    /// Does everything a connection can do now: finish connecting, read, write, close.
    fn service(&mut self, i: usize) {
        let stalled = self.stalled[i];
        let Some(c) = self.conns[i].as_mut() else {
            return;
        };
        let mut events = Vec::new();
        let end = service_conn(c, i, stalled, &mut events);
        self.events.extend(events);
        match end {
            End::Open => {}
            End::Quiet => {
                self.drop_conn(i);
            }
            End::Failed(error) => {
                if let Some(c) = self.drop_conn(i) {
                    if !c.closing {
                        self.report_end(i, c.state, error);
                    }
                }
            }
        }
    }
}

fn service_conn(c: &mut Conn, i: usize, stalled: bool, events: &mut Vec<NetEvent>) -> End {
    let client_idx = client(i);
    if c.state == ConnState::Connecting {
        match c.sock.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                tracing::debug!(client = i, host = %c.host, error = %e, "connect failed");
                return End::Failed(ConnectError::Network);
            }
        }
        match c.sock.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return End::Open,
            Err(e) => {
                tracing::debug!(client = i, host = %c.host, error = %e, "connect failed");
                return End::Failed(ConnectError::Network);
            }
        }
        let _ = c.sock.set_nodelay(true);
        match c.tls_config.take() {
            None => {
                c.state = ConnState::Up;
                events.push(NetEvent::Connected { client_idx });
            }
            Some(config) => {
                let name = match ServerName::try_from(c.host.clone()) {
                    Ok(n) => n,
                    Err(_) => {
                        tracing::warn!(client = i, host = %c.host, "not a valid TLS server name");
                        return End::Failed(ConnectError::Tls);
                    }
                };
                match ClientConnection::new(config, name) {
                    Ok(mut tls) => {
                        tls.set_buffer_limit(None);
                        // Bytes the core sent before the connection was up go through TLS.
                        if !c.out.is_empty() {
                            let _ = tls.writer().write_all(&c.out);
                            c.out.clear();
                        }
                        c.tls = Some(tls);
                        c.state = ConnState::Handshaking;
                    }
                    Err(e) => {
                        tracing::warn!(client = i, error = %e, "TLS session setup failed");
                        return End::Failed(ConnectError::Tls);
                    }
                }
            }
        }
    }

    // Read.
    let mut eof = false;
    let mut buf = [0u8; READ_CHUNK];
    let mut received = Vec::new();
    match c.tls.as_mut() {
        None => loop {
            match c.sock.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(client = i, error = %e, "socket read failed");
                    eof = true;
                    break;
                }
            }
        },
        Some(tls) => loop {
            match tls.read_tls(&mut c.sock) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        tracing::warn!(client = i, host = %c.host, error = %e, "TLS failed");
                        // Send the alert, best effort.
                        let _ = tls.write_tls(&mut c.sock);
                        if !received.is_empty() && !stalled && !c.closing {
                            events.push(NetEvent::Received {
                                client_idx,
                                bytes: std::mem::take(&mut received),
                            });
                        }
                        return End::Failed(ConnectError::Tls);
                    }
                    if c.state == ConnState::Handshaking && !tls.is_handshaking() {
                        c.state = ConnState::Up;
                        events.push(NetEvent::Connected { client_idx });
                    }
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => {
                                // close_notify from the server.
                                eof = true;
                                break;
                            }
                            Ok(n) => received.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                tracing::debug!(client = i, error = %e, "TLS stream ended");
                                eof = true;
                                break;
                            }
                        }
                    }
                    if eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(client = i, error = %e, "socket read failed");
                    eof = true;
                    break;
                }
            }
        },
    }
    if c.closing {
        if !received.is_empty() {
            tracing::trace!(
                client = i,
                len = received.len(),
                "received bytes dropped (closing)"
            );
        }
    } else if stalled {
        if !received.is_empty() {
            tracing::trace!(
                client = i,
                len = received.len(),
                "received bytes held (stalled)"
            );
            c.held.extend_from_slice(&received);
            if c.held.len() > MAX_HELD {
                tracing::warn!(client = i, "stalled connection holds over 1 MiB: broken");
                return End::Failed(ConnectError::Network);
            }
        }
    } else if !received.is_empty() || !c.held.is_empty() {
        let mut bytes = std::mem::take(&mut c.held);
        bytes.extend_from_slice(&received);
        events.push(NetEvent::Received { client_idx, bytes });
    }

    // Write.
    let mut write_failed = false;
    match c.tls.as_mut() {
        None => {
            while !c.out.is_empty() {
                match c.sock.write(&c.out) {
                    Ok(0) => {
                        write_failed = true;
                        break;
                    }
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(client = i, error = %e, "socket write failed");
                        write_failed = true;
                        break;
                    }
                }
            }
        }
        Some(tls) => {
            while tls.wants_write() {
                match tls.write_tls(&mut c.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(client = i, error = %e, "socket write failed");
                        write_failed = true;
                        break;
                    }
                }
            }
        }
    }

    if eof || write_failed {
        return if c.closing {
            End::Quiet
        } else {
            End::Failed(ConnectError::Network)
        };
    }
    let flushed = match c.tls.as_ref() {
        None => c.out.is_empty(),
        Some(tls) => !tls.wants_write(),
    };
    if c.closing && flushed {
        return End::Quiet;
    }
    End::Open
}

/// Client indices a fault selects.
fn selected(which: Option<ClientIdx>) -> impl Iterator<Item = usize> {
    let (lo, hi) = match which {
        Some(c) => (idx(c), idx(c)),
        None => (0, 5),
    };
    lo..=hi
}

fn idx(c: ClientIdx) -> usize {
    usize::from(c.get())
}

fn client(i: usize) -> ClientIdx {
    ClientIdx::all().nth(i).unwrap_or_else(|| {
        // Indices come from `ClientIdx` values: never out of range.
        unreachable!("client index {i} out of range")
    })
}

/// `Fault::Burst`: a tiny publisher, on its own short-lived thread so the loop never blocks.
/// Packets are encoded by the `mqtt-protocol` crate.
fn burst(broker: SocketAddr, topic: String, count: usize) {
    let spawned = thread::Builder::new()
        .name("qmt-sim-burst".into())
        .spawn(move || {
            if let Err(e) = publish_burst(broker, &topic, count) {
                tracing::warn!(%broker, %topic, error = %e, "burst publisher failed");
            } else {
                tracing::debug!(%broker, %topic, count, "burst published");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot spawn the burst publisher");
    }
}

/// Connects, publishes `count` QoS 0 messages with payloads `0`, `1`, … and disconnects.
pub(crate) fn publish_burst(broker: SocketAddr, topic: &str, count: usize) -> io::Result<()> {
    use mqtt::packet::{
        ConnectPacket, DisconnectPacket, PublishPacket, QoSWithPacketIdentifier, VariablePacket,
    };
    use mqtt::{Decodable, Encodable, TopicName};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let topic =
        TopicName::new(topic).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut sock = std::net::TcpStream::connect_timeout(&broker, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut connect = ConnectPacket::new(format!(
        "qmt-sim-burst-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    connect.set_keep_alive(60);
    connect.set_clean_session(true);
    let mut out = Vec::new();
    connect.encode(&mut out).map_err(io::Error::other)?;
    sock.write_all(&out)?;
    match VariablePacket::decode(&mut sock) {
        Ok(VariablePacket::ConnackPacket(ack)) if ack.connect_return_code().to_u8() == 0 => {}
        Ok(other) => return Err(io::Error::other(format!("no CONNACK 0: {other:?}"))),
        Err(e) => return Err(io::Error::other(format!("no CONNACK: {e}"))),
    }
    out.clear();
    for seq in 0..count {
        let publish = PublishPacket::new(
            topic.clone(),
            QoSWithPacketIdentifier::Level0,
            seq.to_string().into_bytes(),
        );
        publish.encode(&mut out).map_err(io::Error::other)?;
        if out.len() >= 64 * 1024 {
            sock.write_all(&out)?;
            out.clear();
        }
    }
    DisconnectPacket::new()
        .encode(&mut out)
        .map_err(io::Error::other)?;
    sock.write_all(&out)?;
    sock.shutdown(Shutdown::Write)?;
    // Wait for the broker to close, so every publish was taken in.
    let mut sink = [0u8; 256];
    while matches!(sock.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}
