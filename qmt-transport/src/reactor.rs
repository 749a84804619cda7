//! The IO shell around [`Link`]: one thread, one [`mio::Poll`], any number of serial ports.
//!
//! ```text
//!   caller threads                          reactor thread (mio)
//!   Port::submit ──lock──▶ Link::submit ─▶ poll_transmit ─▶ write(fd)   (fast path, same lock)
//!        │                                     ▲
//!        └── Kick (channel + Waker) ───────────┘  only when the reactor must re-arm a deadline
//!                                               or finish a write the fd refused
//!   Pending::wait ◀── Completed ◀── poll_event ◀── Link::feed ◀── read(fd) ◀── readable
//!   PortEvents::recv ◀── bounded URC queue ◀── Urc(Line)
//! ```
//!
//! The reactor thread sleeps in [`mio::Poll::poll`] until a port is readable or writable, a
//! handle wakes it (a [`mio::Waker`] after a channel message), or the earliest link deadline
//! ([`Link::poll_timeout`]) passes. Nothing sleeps to poll.
//!
//! Each port's [`Link`] sits behind a mutex shared by the reactor thread and the port's handles.
//! [`Port::submit`] runs the link on the caller's thread: the command is queued, its bytes are
//! written at once (non-blocking) when the link puts it on the wire, and the reactor is woken only
//! when it has something to do (bytes the fd refused, a deadline earlier than the one it sleeps
//! for). An `AT` → `OK` round trip therefore costs one wake-up of the reactor (the reply), not two.
//!
//! # Back-pressure on writes
//! Each port has a write buffer of [`PortConfig::write_buffer`] bytes for what the link transmits
//! and the device has not taken yet (a module that holds CTS, a hung USB endpoint). Bytes move
//! from the link into the buffer only while it holds less than its capacity; when it is full the
//! link keeps the rest, and [`Port::submit`] refuses new commands with
//! [`SubmitError::WriteBufferFull`] until the device drains it. The link's own queue is the second
//! bound ([`LinkConfig::queue_capacity`], [`SubmitError::Rejected`] with
//! [`link::SubmitError::QueueFull`](crate::link::SubmitError::QueueFull)). Both are errors returned
//! at once: a caller never blocks in `submit`.
//!
//! # URCs and a slow consumer
//! URCs go into a bounded per-port queue ([`PortConfig::urc_capacity`]) read by the port's single
//! [`PortEvents`]. When the consumer falls behind and the queue is full, the **oldest** URC is
//! dropped and counted: the consumer's next [`PortEvents::recv`] returns
//! [`PortEvent::Lagged`] with the number lost since its previous receive (like
//! `tokio::sync::broadcast`), and [`PortEvents::dropped`] is the running total.
//!
//! Why drop rather than stop reading the port: the port carries command replies and URCs on the
//! same bytes. Stopping reads until the consumer catches up would stall every command's final
//! code too, until commands time out — a slow message consumer would break `AT+QMTPUBEX`,
//! keep-alive handling and recovery, and memory would still have to hold everything the module
//! sent meanwhile (the module does not stop sending `+QMTRECV` because the host does not read).
//! The price: under overload `+QMTRECV` payloads (and, rarely, a state URC like `+QMTSTAT`) are
//! lost, visibly. A consumer that sees `Lagged` should re-query state (`AT+QMTCONN?`). Where no
//! message may be lost, use `AT+QMTCFG="recv/mode",idx,1`: the module then keeps messages in its
//! buffer slots, announces them with a short `+QMTRECV: idx,recv_id`, and stops acknowledging new
//! publishes while its slots are full — back-pressure end to end, through the broker, which is
//! where it belongs.
//!
//! The [`PortEvent::Closed`] event is not in the bounded queue: it is delivered after every
//! queued URC and is never dropped.
//!
//! # Ports that go away
//! A read of end-of-file, a hang-up, or an IO error (a USB adapter unplugged, the other end of a
//! pty closed) closes that port alone: its queued and in-flight commands complete with
//! [`CommandError::Closed`], its consumer gets [`PortEvent::Closed`] with the [`CloseReason`], and
//! later submits fail with [`SubmitError::Closed`]. The other ports keep running.
//!
//! # Shutdown
//! [`Reactor::shutdown`] (or dropping the [`Reactor`]) closes every port with
//! [`CloseReason::Shutdown`] — pending commands complete with [`CommandError::Closed`] — and joins
//! the thread. Dropping the last clone of a [`Port`] closes that port
//! ([`CloseReason::Closed`]).

use std::borrow::ToOwned;
use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::vec::Vec;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Waker};
use mio_serial::SerialStream;
use qmt_proto::Command;

use crate::link::{
    self, CommandError, Line, Link, LinkConfig, LinkEvent, LinkStats, Response, Token,
};
use crate::lock::{self, Holder};
use crate::time::{Clock, Instant};

/// Which way bytes crossed a port, for a [`TraceHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDir {
    /// Written by the host to the module.
    Host,
    /// Read from the module.
    Module,
}

/// A callback that sees every byte written to and read from a port, in order (for `--trace`
/// style displays). It runs on the thread that moved the bytes: keep it cheap. The bytes are raw:
/// a hook that prints them must redact secrets itself (`qmt-cli`'s `Tracer` does).
#[derive(Clone)]
pub struct TraceHook(pub Arc<TraceFn>);

/// The callback type of a [`TraceHook`].
pub type TraceFn = dyn Fn(TraceDir, &[u8]) + Send + Sync;

impl core::fmt::Debug for TraceHook {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TraceHook")
    }
}

/// Two hooks are equal when they are the same callback.
impl PartialEq for TraceHook {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TraceHook {}

/// How to open and run one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Baud rate (ignored by ptys). Quectel modules default to 115 200.
    pub baud_rate: u32,
    /// Also set `TIOCEXCL`, so the kernel refuses any other open of the device (except by root).
    /// Either way the port carries an exclusive advisory `flock`, so a second qmt process fails
    /// with [`OpenError::Busy`] instead of sharing the line (see [`crate::lock`]).
    pub exclusive: bool,
    /// The link core's settings (deadlines, command queue).
    pub link: LinkConfig,
    /// Bytes the port may hold for a device that does not take them; beyond it `submit` refuses
    /// ([`SubmitError::WriteBufferFull`]).
    pub write_buffer: usize,
    /// URCs kept for the consumer; beyond it the oldest is dropped and counted.
    pub urc_capacity: usize,
    /// Sees every byte written and read, if set.
    pub trace: Option<TraceHook>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            baud_rate: 115_200,
            exclusive: true,
            link: LinkConfig::default(),
            write_buffer: 16 * 1024,
            urc_capacity: 1024,
            trace: None,
        }
    }
}

/// Why a port could not be added.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The device could not be opened or configured (missing, busy, not a tty, no permission).
    #[error("cannot open serial port {path}: {source}")]
    Device {
        /// The path that was given.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// Another process has the port: its advisory lock is held (another qmt, `picocom`, …) or
    /// it set `TIOCEXCL`. The message names the holder when `/proc` shows it, and how to stop it.
    #[error("serial port {path} is busy{}: {}", by(.holder), remedy(.holder))]
    Busy {
        /// The path that was given.
        path: String,
        /// The process that has it open, when this process may see it.
        holder: Option<Holder>,
    },
    /// The reactor thread has stopped (after [`Reactor::shutdown`] or a failure of `poll`).
    #[error("cannot add serial port {path}: the reactor has stopped")]
    ReactorStopped {
        /// The path that was given.
        path: String,
    },
}

impl OpenError {
    /// The path of the port that failed.
    pub fn path(&self) -> &str {
        match self {
            OpenError::Device { path, .. }
            | OpenError::Busy { path, .. }
            | OpenError::ReactorStopped { path } => path,
        }
    }

    /// A busy error for `path`, naming the first other process that has it open.
    fn busy(path: &str) -> OpenError {
        OpenError::Busy {
            path: path.to_owned(),
            holder: lock::holders(Path::new(path)).into_iter().next(),
        }
    }
}

fn by(holder: &Option<Holder>) -> String {
    holder
        .as_ref()
        .map(|h| format!(" (held by {h})"))
        .unwrap_or_default()
}

fn remedy(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => h.remedy(),
        None => "another program has it open or locked; close it, or use another port".to_owned(),
    }
}

/// Why a port closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The device went away: end of file or hang-up (USB adapter unplugged, pty closed).
    #[error("the device went away (hang-up)")]
    Hangup,
    /// Reading or writing failed.
    #[error("{op} failed: {message}")]
    Io {
        /// `"read"` or `"write"`.
        op: &'static str,
        /// The error's kind.
        kind: io::ErrorKind,
        /// The error as the OS described it.
        message: String,
    },
    /// [`Port::close`] was called, or every [`Port`] handle was dropped.
    #[error("closed by the host")]
    Closed,
    /// The reactor shut down.
    #[error("the reactor shut down")]
    Shutdown,
}

/// Why [`Port::submit`] did not accept a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The link refused it (its queue is full, or the data does not fit the command).
    #[error("{port}: {source}")]
    Rejected {
        /// The port's path.
        port: String,
        /// The link's reason.
        source: link::SubmitError,
    },
    /// The device is not taking bytes: the write buffer is full (back-pressure, retry later).
    #[error("{port}: write buffer full ({buffered} bytes unwritten, capacity {capacity})")]
    WriteBufferFull {
        /// The port's path.
        port: String,
        /// Bytes waiting for the device.
        buffered: usize,
        /// The buffer's capacity ([`PortConfig::write_buffer`]).
        capacity: usize,
    },
    /// The port is closed.
    #[error("{port} is closed: {reason}")]
    Closed {
        /// The port's path.
        port: String,
        /// Why it closed.
        reason: CloseReason,
    },
}

/// What a port's consumer receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortEvent {
    /// An unsolicited line (URC, two-phase result, anything not answering the command in flight).
    Urc(Line),
    /// A `+QMTRECV` whose payload did not match its length (line damage, spec §10.7): the message
    /// was dropped, never delivered; the line up to its first CR LF.
    Damaged(Line),
    /// The consumer fell behind: this many URCs were dropped (oldest first) since its previous
    /// receive. State URCs may be among them: re-query what matters.
    Lagged {
        /// URCs lost since the previous receive.
        dropped: u64,
    },
    /// The port closed; the last event of the port.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// The link's counters.
    pub link: LinkStats,
    /// Bytes read from the device.
    pub bytes_read: u64,
    /// Bytes written to the device.
    pub bytes_written: u64,
    /// URCs put into the queue.
    pub urcs: u64,
    /// URCs dropped because the consumer was behind.
    pub urcs_dropped: u64,
    /// Bytes in the write buffer now.
    pub write_buffered: usize,
}

/// Opens the serial port (or pty slave) at `path` non-blocking, with `config`'s baud rate and
/// exclusivity, and takes the exclusive advisory lock (see [`crate::lock`]): what every driver
/// of this workspace does before it reads a byte. The lock is released when the stream drops.
///
/// # Errors
/// [`OpenError::Busy`] when another process holds the port (named when `/proc` shows it);
/// [`OpenError::Device`] naming the path and the OS's reason otherwise.
pub fn open_serial(path: &str, config: &PortConfig) -> Result<SerialStream, OpenError> {
    let builder = mio_serial::new(path, config.baud_rate).exclusive(config.exclusive);
    let stream = SerialStream::open(&builder).map_err(|e| {
        // serialport reports EBUSY from `TIOCEXCL` and a lock it could not take as `NoDevice`
        // (a missing device is `Io(NotFound)`).
        if e.kind == mio_serial::ErrorKind::NoDevice {
            OpenError::busy(path)
        } else {
            OpenError::Device {
                path: path.to_owned(),
                source: io::Error::from(e),
            }
        }
    })?;
    match lock::lock_exclusive(&stream) {
        Ok(()) => Ok(stream),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(OpenError::busy(path)),
        Err(source) => Err(OpenError::Device {
            path: path.to_owned(),
            source,
        }),
    }
}

// ---- Reactor ----------------------------------------------------------------------------------

const WAKER: mio::Token = mio::Token(0);
/// Reads per readiness event before other ports get a turn (then the port is revisited at once).
const READS_PER_TURN: usize = 8;
const READ_CHUNK: usize = 16 * 1024;

/// Requests from handles to the reactor thread.
enum Request {
    /// A port was opened and registered; start serving it.
    Add(Arc<PortShared>),
    /// The port has work (a deadline to arm, bytes to flush).
    Kick(usize),
    /// Close the port.
    Close(usize),
    /// Close everything and stop.
    Shutdown,
}

/// What handles share with the reactor thread.
struct ReactorCtl {
    tx: mpsc::Sender<Request>,
    waker: Waker,
    registry: Registry,
    next_id: AtomicUsize,
    stopped: AtomicBool,
    /// The one origin of every port's link time.
    clock: Clock,
}

impl ReactorCtl {
    /// Sends a request and wakes the thread; `false` when the thread has stopped.
    fn send(&self, req: Request) -> bool {
        self.tx.send(req).is_ok() && self.waker.wake().is_ok()
    }
}

/// The reactor: one thread that drives every added port. Dropping it shuts it down.
pub struct Reactor {
    ctl: Arc<ReactorCtl>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Reactor {
    /// Starts the reactor thread.
    ///
    /// # Errors
    /// When the poll instance, its waker or the thread cannot be created.
    pub fn start() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let registry = poll.registry().try_clone()?;
        let (tx, rx) = mpsc::channel();
        let ctl = Arc::new(ReactorCtl {
            tx,
            waker,
            registry,
            next_id: AtomicUsize::new(1),
            stopped: AtomicBool::new(false),
            clock: Clock::new(),
        });
        let thread_ctl = Arc::clone(&ctl);
        let thread = thread::Builder::new()
            .name("qmt-reactor".into())
            .spawn(move || {
                let mut r = Runner {
                    clock: thread_ctl.clock,
                    poll,
                    rx,
                    ports: HashMap::new(),
                    again: Vec::new(),
                    buf: vec![0; READ_CHUNK].into_boxed_slice(),
                };
                r.run();
                thread_ctl.stopped.store(true, Ordering::SeqCst);
                // Anything added or kicked while it stopped.
                r.drain_after_stop();
            })?;
        Ok(Reactor {
            ctl,
            thread: Some(thread),
        })
    }

    /// Opens the serial port (or pty slave) at `path` and starts serving it.
    ///
    /// Returns the port's handle (clone it for every submitter) and its single event consumer.
    ///
    /// # Errors
    /// [`OpenError::Device`] naming the path and the OS's reason; [`OpenError::ReactorStopped`].
    pub fn add_port(
        &self,
        path: impl AsRef<Path>,
        config: PortConfig,
    ) -> Result<(Port, PortEvents), OpenError> {
        let path = path.as_ref().to_string_lossy().into_owned();
        if self.ctl.stopped.load(Ordering::SeqCst) || self.thread.is_none() {
            return Err(OpenError::ReactorStopped { path });
        }
        let mut stream = open_serial(&path, &config)?;
        let now = self.ctl.clock.now();
        let mut link = Link::new(config.link, now);
        // What the module said before this host opened the port (a power-up `RDY` the kernel
        // kept) is history: read it now, with no command in flight, so it arrives as URCs and
        // cannot be taken for a restart during the first command.
        let mut early = Vec::new();
        let mut early_bytes = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    early_bytes += n as u64;
                    if let Some(t) = &config.trace {
                        (t.0)(TraceDir::Module, &buf[..n]);
                    }
                    link.feed(&buf[..n], now);
                    early.extend(std::iter::from_fn(|| link.poll_event()));
                    if early.len() > config.urc_capacity {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock (nothing more), or an error the reactor's first read will see.
                Err(_) => break,
            }
        }
        let id = self.ctl.next_id.fetch_add(1, Ordering::Relaxed);
        let fd = stream.as_raw_fd();
        self.ctl
            .registry
            .register(&mut SourceFd(&fd), mio::Token(id), Interest::READABLE)
            .map_err(|source| OpenError::Device {
                path: path.clone(),
                source,
            })?;
        let shared = Arc::new(PortShared {
            id,
            name: path.clone(),
            write_capacity: config.write_buffer.max(1),
            trace: config.trace.clone(),
            core: Mutex::new(Core {
                link,
                stream: Some(stream),
                waiters: HashMap::new(),
                wbuf: Vec::new(),
                wpos: 0,
                closed: None,
                kicked: false,
                want_write: false,
                armed: None,
                bytes_read: early_bytes,
                bytes_written: 0,
            }),
            urc: Mutex::new(UrcQueue {
                q: VecDeque::with_capacity(config.urc_capacity.clamp(1, 4096)),
                capacity: config.urc_capacity.max(1),
                lagged: 0,
                closed: None,
                closed_delivered: false,
                waiting: false,
            }),
            urc_cv: Condvar::new(),
            urcs: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            ctl: Arc::clone(&self.ctl),
        });
        for ev in early {
            match ev {
                LinkEvent::Urc(line) => shared.push_urc(PortEvent::Urc(line)),
                LinkEvent::Damaged(line) => shared.push_urc(PortEvent::Damaged(line)),
                LinkEvent::Completed { .. } => {}
            }
        }
        if !self.ctl.send(Request::Add(Arc::clone(&shared))) {
            let _ = self.ctl.registry.deregister(&mut SourceFd(&fd));
            return Err(OpenError::ReactorStopped { path });
        }
        let port = Port {
            inner: Arc::new(PortOwner {
                shared: Arc::clone(&shared),
            }),
        };
        Ok((port, PortEvents { shared }))
    }

    /// Closes every port ([`CloseReason::Shutdown`]; pending commands complete with
    /// [`CommandError::Closed`]) and joins the thread. Idempotent.
    pub fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            self.ctl.send(Request::Shutdown);
            if t.join().is_err() {
                tracing::error!("the qmt reactor thread panicked");
            }
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---- shared port state ------------------------------------------------------------------------

/// A command's submitter, waiting for its completion.
struct Waiter {
    tx: mpsc::SyncSender<Result<Response, CommandError>>,
    command: String,
}

/// The link and everything written under the same lock.
struct Core {
    link: Link,
    /// The device; `None` once closed (dropping it releases the device).
    stream: Option<SerialStream>,
    waiters: HashMap<Token, Waiter>,
    /// Bytes the link transmitted that the device has not taken, from `wpos`.
    wbuf: Vec<u8>,
    wpos: usize,
    closed: Option<CloseReason>,
    /// A `Kick` is queued for the reactor.
    kicked: bool,
    /// Registered for writability too (only while the device refuses bytes: a pty signals
    /// writability after every write, which would wake the reactor once per command).
    want_write: bool,
    /// The deadline the reactor sleeps for on this port (never later than the link's).
    armed: Option<Instant>,
    bytes_read: u64,
    bytes_written: u64,
}

impl Core {
    fn buffered(&self) -> usize {
        self.wbuf.len() - self.wpos
    }
}

struct UrcQueue {
    q: VecDeque<PortEvent>,
    capacity: usize,
    /// Dropped since the consumer's previous receive.
    lagged: u64,
    closed: Option<CloseReason>,
    closed_delivered: bool,
    /// The consumer waits on the condvar (notify only then).
    waiting: bool,
}

struct PortShared {
    id: usize,
    name: String,
    write_capacity: usize,
    /// See [`PortConfig::trace`].
    trace: Option<TraceHook>,
    core: Mutex<Core>,
    urc: Mutex<UrcQueue>,
    urc_cv: Condvar,
    urcs: AtomicU64,
    dropped: AtomicU64,
    ctl: Arc<ReactorCtl>,
}

/// Locks, ignoring poisoning: the state behind these locks stays consistent between statements
/// that could panic (none of them do by design).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PortShared {
    /// Moves the link's output into the write buffer (while below capacity), writes what the
    /// device takes, and delivers the link's events. `Err` when the device failed.
    fn drive(&self, core: &mut Core) -> Result<(), CloseReason> {
        loop {
            let mut progress = false;
            if core.buffered() < self.write_capacity && core.link.wants_transmit() {
                // Straight from the link's buffer into ours: nothing allocated per command.
                let len = core.wbuf.len();
                let room = self.write_capacity - core.buffered();
                core.wbuf.resize(len + room, 0);
                let n = core.link.poll_transmit_into(&mut core.wbuf[len..]);
                core.wbuf.truncate(len + n);
                progress |= n > 0;
            }
            self.flush(core)?;
            while let Some(ev) = core.link.poll_event() {
                self.deliver(core, ev);
                progress = true;
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// Writes the buffer until the device refuses.
    fn flush(&self, core: &mut Core) -> Result<(), CloseReason> {
        while core.wpos < core.wbuf.len() {
            let Some(stream) = core.stream.as_mut() else {
                return Err(CloseReason::Closed);
            };
            match stream.write(&core.wbuf[core.wpos..]) {
                Ok(0) => return Err(CloseReason::Hangup),
                Ok(n) => {
                    if let Some(t) = &self.trace {
                        (t.0)(TraceDir::Host, &core.wbuf[core.wpos..core.wpos + n]);
                    }
                    core.wpos += n;
                    core.bytes_written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_reason("write", &e)),
            }
        }
        if core.wpos == core.wbuf.len() {
            core.wbuf.clear();
            core.wpos = 0;
            // Give back a buffer a large upload grew.
            if core.wbuf.capacity() > 4 * self.write_capacity {
                core.wbuf.shrink_to(self.write_capacity);
            }
        }
        Ok(())
    }

    fn deliver(&self, core: &mut Core, ev: LinkEvent) {
        match ev {
            LinkEvent::Completed { token, result } => {
                if let Some(w) = core.waiters.remove(&token) {
                    // The submitter may have dropped its `Pending`: nothing to do then.
                    let _ = w.tx.try_send(result);
                }
            }
            LinkEvent::Urc(line) => self.push_urc(PortEvent::Urc(line)),
            LinkEvent::Damaged(line) => self.push_urc(PortEvent::Damaged(line)),
        }
    }

    fn push_urc(&self, ev: PortEvent) {
        let mut q = lock(&self.urc);
        if q.q.len() >= q.capacity {
            q.q.pop_front();
            q.lagged += 1;
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.q.push_back(ev);
        self.urcs.fetch_add(1, Ordering::Relaxed);
        if q.waiting {
            self.urc_cv.notify_one();
        }
    }

    /// Closes the link: every command completes with `Closed`; the consumer gets `Closed` last.
    fn close(&self, core: &mut Core, reason: CloseReason, now: Instant) {
        if core.closed.is_some() {
            return;
        }
        tracing::debug!(port = %self.name, %reason, "port closed");
        core.closed = Some(reason.clone());
        core.link.close(now);
        while let Some(ev) = core.link.poll_event() {
            self.deliver(core, ev);
        }
        for (_, w) in core.waiters.drain() {
            let _ =
                w.tx.try_send(Err(CommandError::Closed { command: w.command }));
        }
        core.wbuf = Vec::new();
        core.wpos = 0;
        if let Some(stream) = core.stream.take() {
            // Deregistered before the descriptor closes (and its number is reused).
            let _ = self
                .ctl
                .registry
                .deregister(&mut SourceFd(&stream.as_raw_fd()));
        }
        let mut q = lock(&self.urc);
        q.closed = Some(reason);
        self.urc_cv.notify_all();
    }

    fn kick(&self, core: &mut Core) {
        if !core.kicked {
            core.kicked = true;
            if !self.ctl.send(Request::Kick(self.id)) {
                core.kicked = false;
                self.close(core, CloseReason::Shutdown, self.ctl.clock.now());
            }
        }
    }
}

fn io_reason(op: &'static str, e: &io::Error) -> CloseReason {
    // EIO, ENXIO, ENODEV: what a tty read gives once its device is gone.
    if matches!(e.raw_os_error(), Some(5 | 6 | 19)) {
        return CloseReason::Hangup;
    }
    CloseReason::Io {
        op,
        kind: e.kind(),
        message: e.to_string(),
    }
}

// ---- Port -------------------------------------------------------------------------------------

/// Closes the port when the last [`Port`] clone goes.
struct PortOwner {
    shared: Arc<PortShared>,
}

impl Drop for PortOwner {
    fn drop(&mut self) {
        self.shared.ctl.send(Request::Close(self.shared.id));
    }
}

/// A handle to one port: submit commands from any thread. Cheap to clone; the port closes when
/// the last clone is dropped (or on [`Port::close`]).
#[derive(Clone)]
pub struct Port {
    inner: Arc<PortOwner>,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("path", &self.inner.shared.name)
            .finish()
    }
}

impl Port {
    /// The path the port was opened with.
    pub fn path(&self) -> &str {
        &self.inner.shared.name
    }

    /// Queues a command (with the raw data of its data phase, if any) and returns at once.
    /// Its bytes go to the device from this thread when the link puts it on the wire.
    ///
    /// # Errors
    /// [`SubmitError::Closed`], [`SubmitError::WriteBufferFull`] (back-pressure: the device does
    /// not take bytes), [`SubmitError::Rejected`] (the link's queue is full, or the data does not
    /// match the command).
    pub fn submit(&self, command: Command, data: Option<Vec<u8>>) -> Result<Pending, SubmitError> {
        let sh = &self.inner.shared;
        let name = command.name().to_string();
        let mut core = lock(&sh.core);
        if let Some(reason) = &core.closed {
            return Err(SubmitError::Closed {
                port: sh.name.clone(),
                reason: reason.clone(),
            });
        }
        let buffered = core.buffered();
        if buffered >= sh.write_capacity {
            return Err(SubmitError::WriteBufferFull {
                port: sh.name.clone(),
                buffered,
                capacity: sh.write_capacity,
            });
        }
        let now = sh.ctl.clock.now();
        let token =
            core.link
                .submit(command, data, now)
                .map_err(|source| SubmitError::Rejected {
                    port: sh.name.clone(),
                    source,
                })?;
        let (tx, rx) = mpsc::sync_channel(1);
        core.waiters.insert(
            token,
            Waiter {
                tx,
                command: name.clone(),
            },
        );
        if let Err(reason) = sh.drive(&mut core) {
            sh.close(&mut core, reason, now);
        } else {
            // The reactor must wake for the link's deadline and for bytes the device refused.
            let deadline = core.link.poll_timeout();
            let late = match (deadline, core.armed) {
                (Some(d), Some(a)) => d < a,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if late || core.buffered() > 0 {
                sh.kick(&mut core);
            }
        }
        Ok(Pending {
            token,
            command: name,
            rx,
            taken: false,
        })
    }

    /// Closes the port ([`CloseReason::Closed`]): pending commands complete with
    /// [`CommandError::Closed`]; the device is released.
    pub fn close(&self) {
        self.inner
            .shared
            .ctl
            .send(Request::Close(self.inner.shared.id));
    }

    /// Sets how one client's `+QMTRECV` lines carry their payload length (the link's
    /// [`Link::set_recv_len`]): call it after `AT+QMTCFG="recv/mode",<idx>,…` returned `OK`, so
    /// a payload holding CR LF is framed by its length. Takes effect from the next line read.
    pub fn set_recv_len(
        &self,
        client_idx: qmt_proto::params::ClientIdx,
        mode: qmt_proto::recv::LenMode,
    ) {
        lock(&self.inner.shared.core)
            .link
            .set_recv_len(client_idx, mode);
    }

    /// Whether the port is closed, and why.
    pub fn closed(&self) -> Option<CloseReason> {
        lock(&self.inner.shared.core).closed.clone()
    }

    /// The port's counters.
    pub fn stats(&self) -> PortStats {
        let sh = &self.inner.shared;
        let core = lock(&sh.core);
        PortStats {
            link: core.link.stats(),
            bytes_read: core.bytes_read,
            bytes_written: core.bytes_written,
            urcs: sh.urcs.load(Ordering::Relaxed),
            urcs_dropped: sh.dropped.load(Ordering::Relaxed),
            write_buffered: core.buffered(),
        }
    }
}

/// A submitted command's completion, delivered once.
pub struct Pending {
    token: Token,
    command: String,
    rx: mpsc::Receiver<Result<Response, CommandError>>,
    taken: bool,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("token", &self.token)
            .field("command", &self.command)
            .finish()
    }
}

impl Pending {
    /// The link's token for the command.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Waits for the completion. Every command completes: with its response, its deadline's
    /// [`CommandError::Timeout`], or [`CommandError::Closed`].
    ///
    /// # Errors
    /// The command's [`CommandError`].
    pub fn wait(self) -> Result<Response, CommandError> {
        match self.rx.recv() {
            Ok(r) => r,
            Err(_) => Err(self.lost()),
        }
    }

    /// Waits at most `timeout`; `None` if the command has not completed yet (or its result was
    /// already taken).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<Response, CommandError>> {
        if self.taken {
            return None;
        }
        let r = match self.rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => Err(self.lost()),
        };
        self.taken = true;
        Some(r)
    }

    /// The completion if it is there; `None` if not yet (or already taken).
    pub fn try_recv(&mut self) -> Option<Result<Response, CommandError>> {
        if self.taken {
            return None;
        }
        let r = match self.rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(self.lost()),
        };
        self.taken = true;
        Some(r)
    }

    /// The waiter went without a completion (its port was torn down): the command is lost.
    fn lost(&self) -> CommandError {
        CommandError::Closed {
            command: self.command.clone(),
        }
    }
}

/// The single consumer of a port's URCs and port events (see the module docs for the queue's
/// policy). `Send`, not `Clone`.
pub struct PortEvents {
    shared: Arc<PortShared>,
}

impl fmt::Debug for PortEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortEvents")
            .field("path", &self.shared.name)
            .finish()
    }
}

impl PortEvents {
    /// The path of the port.
    pub fn path(&self) -> &str {
        &self.shared.name
    }

    fn take(&self, q: &mut UrcQueue) -> Option<PortEvent> {
        if q.lagged > 0 {
            let dropped = std::mem::take(&mut q.lagged);
            return Some(PortEvent::Lagged { dropped });
        }
        if let Some(ev) = q.q.pop_front() {
            return Some(ev);
        }
        match &q.closed {
            Some(reason) if !q.closed_delivered => {
                q.closed_delivered = true;
                Some(PortEvent::Closed {
                    reason: reason.clone(),
                })
            }
            _ => None,
        }
    }

    /// The next event, waiting for it; `None` after [`PortEvent::Closed`] was delivered.
    pub fn recv(&self) -> Option<PortEvent> {
        let mut q = lock(&self.shared.urc);
        loop {
            if let Some(ev) = self.take(&mut q) {
                return Some(ev);
            }
            if q.closed_delivered {
                return None;
            }
            q.waiting = true;
            q = self
                .shared
                .urc_cv
                .wait(q)
                .unwrap_or_else(|e| e.into_inner());
            q.waiting = false;
        }
    }

    /// The next event within `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` after [`PortEvent::Closed`] was delivered.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<PortEvent, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut q = lock(&self.shared.urc);
        loop {
            if let Some(ev) = self.take(&mut q) {
                return Ok(ev);
            }
            if q.closed_delivered {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            q.waiting = true;
            q = self
                .shared
                .urc_cv
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            q.waiting = false;
        }
    }

    /// The next event if one is queued.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` after [`PortEvent::Closed`] was delivered.
    pub fn try_recv(&self) -> Result<PortEvent, TryRecvError> {
        let mut q = lock(&self.shared.urc);
        match self.take(&mut q) {
            Some(ev) => Ok(ev),
            None if q.closed_delivered => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// URCs dropped so far because the consumer was behind (the running total of
    /// [`PortEvent::Lagged`]).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// URCs waiting in the queue.
    pub fn len(&self) -> usize {
        lock(&self.shared.urc).q.len()
    }

    /// Whether no URC is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---- the reactor thread -----------------------------------------------------------------------

struct Entry {
    shared: Arc<PortShared>,
    /// Copy of `Core::armed`, readable without the lock.
    deadline: Option<Instant>,
}

struct Runner {
    /// The reactor's clock (a copy of `ReactorCtl::clock`).
    clock: Clock,
    poll: Poll,
    rx: mpsc::Receiver<Request>,
    ports: HashMap<usize, Entry>,
    /// Ports with more to read than one turn took.
    again: Vec<usize>,
    buf: Box<[u8]>,
}

impl Runner {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        let mut ready: Vec<(usize, bool, bool)> = Vec::new();
        loop {
            let now = self.clock.now();
            let timeout = if self.again.is_empty() {
                self.ports
                    .values()
                    .filter_map(|e| e.deadline)
                    .min()
                    .map(|d| d.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "qmt reactor: poll failed; closing every port");
                self.close_all(CloseReason::Io {
                    op: "poll",
                    kind: e.kind(),
                    message: e.to_string(),
                });
                return;
            }
            ready.clear();
            for ev in events.iter() {
                if ev.token() != WAKER {
                    ready.push((
                        ev.token().0,
                        ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        ev.is_writable(),
                    ));
                }
            }
            let again = std::mem::take(&mut self.again);
            for id in again {
                self.read(id);
            }
            for &(id, readable, writable) in &ready {
                if writable {
                    self.service(id, self.clock.now(), false);
                }
                if readable {
                    self.read(id);
                }
            }
            loop {
                match self.rx.try_recv() {
                    Ok(Request::Add(shared)) => {
                        let id = shared.id;
                        self.ports.insert(
                            id,
                            Entry {
                                shared,
                                deadline: None,
                            },
                        );
                        // Edge-triggered: bytes that arrived before this are read now.
                        self.read(id);
                        self.service(id, self.clock.now(), false);
                    }
                    Ok(Request::Kick(id)) => self.service(id, self.clock.now(), false),
                    Ok(Request::Close(id)) => self.remove(id, CloseReason::Closed),
                    Ok(Request::Shutdown) => {
                        self.close_all(CloseReason::Shutdown);
                        return;
                    }
                    Err(_) => break,
                }
            }
            let now = self.clock.now();
            let due: Vec<usize> = self
                .ports
                .iter()
                .filter(|(_, e)| e.deadline.is_some_and(|d| d <= now))
                .map(|(&id, _)| id)
                .collect();
            for id in due {
                self.service(id, now, true);
            }
        }
    }

    /// Runs the port's link (timeouts if `timers`), writes, delivers; re-arms its deadline.
    fn service(&mut self, id: usize, now: Instant, timers: bool) {
        let Some(entry) = self.ports.get_mut(&id) else {
            return;
        };
        let sh = Arc::clone(&entry.shared);
        let mut core = lock(&sh.core);
        core.kicked = false;
        if timers {
            core.link.handle_timeout(now);
        }
        let result = sh.drive(&mut core);
        if let Err(reason) = result {
            drop(core);
            self.remove(id, reason);
            return;
        }
        // Keep a passed-deadline placeholder out; keep an old future one (it is earlier than
        // any new one a submit could set, so submits need not wake us to re-arm).
        let want_write = core.buffered() > 0;
        if want_write != core.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Some(stream) = core.stream.as_ref() {
                let fd = stream.as_raw_fd();
                if let Err(e) =
                    self.poll
                        .registry()
                        .reregister(&mut SourceFd(&fd), mio::Token(id), interest)
                {
                    drop(core);
                    self.remove(id, io_reason("poll", &e));
                    return;
                }
            }
            core.want_write = want_write;
        }
        let armed = match core.link.poll_timeout() {
            Some(d) => Some(d),
            None => core.armed.filter(|&a| a > now),
        };
        core.armed = armed;
        entry.deadline = armed;
    }

    /// Reads what the device sent (one turn), feeds the link, delivers.
    fn read(&mut self, id: usize) {
        let Some(entry) = self.ports.get(&id) else {
            return;
        };
        let sh = Arc::clone(&entry.shared);
        let mut turns = 0;
        let end = loop {
            if turns == READS_PER_TURN {
                self.again.push(id);
                break None;
            }
            turns += 1;
            let mut core = lock(&sh.core);
            let Some(stream) = core.stream.as_mut() else {
                break Some(CloseReason::Closed);
            };
            match stream.read(&mut self.buf) {
                Ok(0) => break Some(CloseReason::Hangup),
                Ok(n) => {
                    let now = self.clock.now();
                    core.bytes_read += n as u64;
                    if let Some(t) = &sh.trace {
                        (t.0)(TraceDir::Module, &self.buf[..n]);
                    }
                    core.link.feed(&self.buf[..n], now);
                    if let Err(reason) = sh.drive(&mut core) {
                        break Some(reason);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(io_reason("read", &e)),
            }
        };
        match end {
            Some(reason) => self.remove(id, reason),
            None => self.service(id, self.clock.now(), false),
        }
    }

    fn remove(&mut self, id: usize, reason: CloseReason) {
        let Some(entry) = self.ports.remove(&id) else {
            return;
        };
        let sh = entry.shared;
        let mut core = lock(&sh.core);
        sh.close(&mut core, reason, self.clock.now());
        self.again.retain(|&a| a != id);
    }

    fn close_all(&mut self, reason: CloseReason) {
        let ids: Vec<usize> = self.ports.keys().copied().collect();
        for id in ids {
            self.remove(id, reason.clone());
        }
    }

    /// After the loop ended: ports added meanwhile are closed too.
    fn drain_after_stop(&mut self) {
        while let Ok(req) = self.rx.try_recv() {
            if let Request::Add(sh) = req {
                let mut core = lock(&sh.core);
                sh.close(&mut core, CloseReason::Shutdown, self.clock.now());
            }
        }
    }
}
