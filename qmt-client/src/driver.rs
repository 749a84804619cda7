//! The std driver: one mio thread drives every modem's [`ModemCore`] (ARCHITECTURE.md "The std
//! driver").
//!
//! ```text
//!   user threads                                   reactor thread (mio)
//!   Client::publish ──lock──▶ core.submit ─▶ poll_transmit ─▶ write(fd)     (same lock, no hop)
//!        │                                        ▲
//!        └── Kick (channel + Waker) ──────────────┘  only to re-arm a deadline or finish a write
//!   OpHandle::wait ◀── Done ◀── poll_event ◀── core.handle_input ◀── read(fd) ◀── readable
//!   Connection::recv ◀── bounded queue ◀── Client events (wire order)
//! ```
//!
//! Each modem's core sits behind a mutex shared by the reactor thread and the modem's handles.
//! A request runs the core on the caller's thread and writes its bytes at once; the reactor is
//! woken only when it has something to do. Events leave the core in wire order and go straight to
//! the right [`Connection`](crate::Connection)'s queue or operation handle: nothing waits on
//! another thread to restore their order.
//!
//! # Back-pressure
//! The core counts the messages each consumer holds. While one is full
//! ([`ModemCore::wants_input`] false, [`Overflow::BackPressure`]) the reactor stops reading that
//! port — the OS buffer, USB flow control or RTS/CTS then hold the module back — and its deadlines
//! wait too (the answers may be sitting unread). The other ports go on. The consumer's next
//! receive wakes the reactor, which reads again. With [`Overflow::DropOldest`] the port is always
//! read and the consumer's queue drops its oldest message, counted.

use std::borrow::ToOwned;
use std::boxed::Box;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::string::String;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::vec::Vec;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Waker};
use mio_serial::SerialStream;
use qmt_proto::params::ClientIdx;
use qmt_transport::reactor::{TraceDir, TraceHook};
use qmt_transport::time::{Clock, Instant};

use crate::correlate::Completion;
use crate::error::ClientError;
use crate::queue::EventQueue;
use crate::sansio::{CoreEvent, ModemCore, OpId, PortChange, Stage, Startup};
use qmt_proto::uart::FlowControl;

const WAKER: mio::Token = mio::Token(0);
/// Reads per readiness event before other ports get a turn (then the port is revisited at once).
const READS_PER_TURN: usize = 8;
const READ_CHUNK: usize = 16 * 1024;

/// Locks, ignoring poisoning (no code under these locks panics by design).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Req {
    Add(Arc<ModemShared>),
    Kick(usize),
    Close(usize),
    Shutdown,
}

struct Ctl {
    tx: mpsc::Sender<Req>,
    waker: Waker,
    registry: Registry,
    next_id: AtomicUsize,
    stopped: AtomicBool,
    /// The one origin of every modem core's time.
    clock: Clock,
}

impl Ctl {
    fn send(&self, req: Req) -> bool {
        self.tx.send(req).is_ok() && self.waker.wake().is_ok()
    }
}

/// The reactor: one thread that drives any number of [`Modem`](crate::Modem)s (share it with
/// [`Modem::with_reactor`](crate::Modem::with_reactor)). Dropping it shuts it down: every modem on
/// it closes.
pub struct Reactor {
    ctl: Arc<Ctl>,
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
        let ctl = Arc::new(Ctl {
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
                    modems: HashMap::new(),
                    again: Vec::new(),
                    buf: vec![0; READ_CHUNK].into_boxed_slice(),
                };
                r.run();
                thread_ctl.stopped.store(true, Ordering::SeqCst);
                while let Ok(req) = r.rx.try_recv() {
                    if let Req::Add(m) = req {
                        m.close_now(thread_ctl.clock.now());
                    }
                }
            })?;
        Ok(Reactor {
            ctl,
            thread: Some(thread),
        })
    }

    /// Closes every modem and joins the thread. Idempotent.
    pub fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            self.ctl.send(Req::Shutdown);
            if t.join().is_err() {
                tracing::error!("the qmt reactor thread panicked");
            }
        }
    }

    /// The time on the reactor's clock, the one all its modems' cores run on.
    pub(crate) fn now(&self) -> Instant {
        self.ctl.clock.now()
    }

    fn stopped(&self) -> bool {
        self.thread.is_none() || self.ctl.stopped.load(Ordering::SeqCst)
    }

    /// Registers a modem (its port already open, its core created) and starts serving it.
    pub(crate) fn add(
        &self,
        name: String,
        stream: SerialStream,
        core: ModemCore,
        trace: Option<TraceHook>,
        write_capacity: usize,
    ) -> Result<(Arc<ModemShared>, StartupReceiver), ClientError> {
        if self.stopped() {
            return Err(ClientError::Port {
                reason: format!("cannot add {name}: the reactor has stopped"),
            });
        }
        let id = self.ctl.next_id.fetch_add(1, Ordering::Relaxed);
        let fd = stream.as_raw_fd();
        self.ctl
            .registry
            .register(&mut SourceFd(&fd), mio::Token(id), Interest::READABLE)
            .map_err(|e| ClientError::Port {
                reason: format!("cannot register {name}: {e}"),
            })?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(ModemShared {
            id,
            name: name.clone(),
            trace,
            write_capacity: write_capacity.max(1),
            ctl: Arc::clone(&self.ctl),
            stages: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner {
                core,
                stream: Some(stream),
                wbuf: Vec::new(),
                wpos: 0,
                waiters: HashMap::new(),
                conns: Default::default(),
                startup: Some(tx),
                closed: false,
                kicked: false,
                want_write: false,
                armed: None,
                paused: false,
                stash: Vec::new(),
            }),
        });
        if !self.ctl.send(Req::Add(Arc::clone(&shared))) {
            let _ = self.ctl.registry.deregister(&mut SourceFd(&fd));
            return Err(ClientError::Port {
                reason: format!("cannot add {name}: the reactor has stopped"),
            });
        }
        Ok((shared, rx))
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Where start-up's outcome arrives.
pub(crate) type StartupReceiver = mpsc::Receiver<Result<Startup, ClientError>>;

/// Closes the port (and stops an owned reactor) when the last handle goes.
pub(crate) struct Owner {
    pub(crate) shared: Arc<ModemShared>,
    pub(crate) reactor: Mutex<Option<Reactor>>,
    /// One per client index: alive while a [`Client`] handle of that index is.
    pub(crate) alive: Mutex<[Weak<()>; 6]>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.request_close();
        if let Some(mut r) = lock(&self.reactor).take() {
            r.shutdown();
        }
    }
}

/// One modem's core and port, shared by the reactor thread and the modem's handles.
pub(crate) struct ModemShared {
    id: usize,
    pub(crate) name: String,
    trace: Option<TraceHook>,
    write_capacity: usize,
    ctl: Arc<Ctl>,
    inner: Mutex<Inner>,
    /// The bring-up stages entered, oldest first, at most [`STAGES_KEPT`] (for
    /// `Opening::stages`; its own lock so a progress line never waits for the core).
    pub(crate) stages: Mutex<Vec<Stage>>,
}

/// What is under the modem's lock.
pub(crate) struct Inner {
    pub(crate) core: ModemCore,
    stream: Option<SerialStream>,
    wbuf: Vec<u8>,
    wpos: usize,
    waiters: HashMap<OpId, mpsc::Sender<Result<Completion, ClientError>>>,
    pub(crate) conns: [Option<Arc<EventQueue>>; 6],
    startup: Option<mpsc::Sender<Result<Startup, ClientError>>>,
    pub(crate) closed: bool,
    /// A `Kick` is queued for the reactor.
    kicked: bool,
    /// Registered for writability too (only while the device refuses bytes).
    want_write: bool,
    /// The deadline the reactor sleeps for on this modem.
    armed: Option<Instant>,
    /// Not reading: a consumer is full (back-pressure).
    paused: bool,
    /// Bytes read but not fed yet: the core stopped wanting input in the middle of a read.
    stash: Vec<u8>,
}

/// Bring-up stages kept for `Opening::stages` (a 60 s registration wait polled every 2 s
/// reports 30).
const STAGES_KEPT: usize = 64;

/// Bytes fed to the core at a time, so that a full consumer stops the feeding within one piece
/// (its queue then holds at most its capacity plus the messages of one piece).
const FEED_PIECE: usize = 512;

impl Inner {
    fn buffered(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Feeds `bytes` piece by piece while the core wants input; keeps the rest in the stash.
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if !self.core.wants_input() {
                self.stash.extend_from_slice(rest);
                self.paused = true;
                return;
            }
            let (piece, tail) = rest.split_at(rest.len().min(FEED_PIECE));
            self.core.handle_input(piece, now);
            rest = tail;
        }
    }

    /// Feeds what was stashed during a pause, as far as the core wants it.
    fn feed_stash(&mut self, now: Instant) {
        if self.stash.is_empty() {
            return;
        }
        let stash = std::mem::take(&mut self.stash);
        self.feed(&stash, now);
    }

    /// Registers the waiter of a request.
    pub(crate) fn wait_for(&mut self, op: OpId) -> mpsc::Receiver<Result<Completion, ClientError>> {
        let (tx, rx) = mpsc::channel();
        self.waiters.insert(op, tx);
        rx
    }
}

/// Why a port closed.
fn io_reason(op: &str, e: &io::Error) -> String {
    // EIO, ENXIO, ENODEV: what a tty read gives once its device is gone.
    if matches!(e.raw_os_error(), Some(5 | 6 | 19)) {
        return "the device went away (hang-up)".to_owned();
    }
    format!("{op} failed: {e}")
}

impl ModemShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// After a request on a user thread: writes, delivers, and wakes the reactor only if the core
    /// needs an earlier deadline or the device refused bytes.
    /// The time on the reactor's clock.
    pub(crate) fn now(&self) -> Instant {
        self.ctl.clock.now()
    }

    pub(crate) fn after_request(&self, inner: &mut Inner) {
        let now = self.now();
        if let Err(reason) = self.drive(inner, now) {
            self.close_locked(inner, &reason, now);
            return;
        }
        let earlier = match (inner.core.poll_timeout(), inner.armed) {
            (Some(d), Some(a)) => d < a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier || inner.buffered() > 0 || inner.paused {
            self.kick(inner);
        }
    }

    pub(crate) fn kick(&self, inner: &mut Inner) {
        if !inner.kicked {
            inner.kicked = true;
            if !self.ctl.send(Req::Kick(self.id)) {
                inner.kicked = false;
                self.close_locked(inner, "the reactor has stopped", self.now());
            }
        }
    }

    /// Wakes the reactor (a consumer made room).
    pub(crate) fn resume(&self) {
        let mut inner = self.lock();
        self.kick(&mut inner);
    }

    /// Closes the port from a handle (the last `Modem`/`Client` went away).
    pub(crate) fn request_close(&self) {
        if !self.ctl.send(Req::Close(self.id)) {
            self.close_now(self.now());
        }
    }

    fn close_now(&self, now: Instant) {
        let mut inner = self.lock();
        self.close_locked(&mut inner, "closed", now);
    }

    /// Moves the core's output to the port and its events to their receivers; gives consumed
    /// credit back. `Err` when the device failed.
    fn drive(&self, inner: &mut Inner, now: Instant) -> Result<(), String> {
        loop {
            let mut progress = false;
            // Credit back what consumers took since the last turn.
            for i in 0..6u8 {
                let taken = inner.conns[usize::from(i)]
                    .as_ref()
                    .map_or(0, |q| q.drain_taken());
                if taken > 0 {
                    if let Ok(idx) = ClientIdx::new(i64::from(i)) {
                        inner.core.consumed(idx, taken, now);
                    }
                }
            }
            while inner.buffered() < self.write_capacity {
                let at = inner.wbuf.len();
                inner.wbuf.resize(at + 4096, 0);
                let n = inner.core.poll_transmit(&mut inner.wbuf[at..]);
                inner.wbuf.truncate(at + n);
                if n == 0 {
                    break;
                }
                progress = true;
            }
            self.flush(inner)?;
            while let Some(ev) = inner.core.poll_event() {
                progress = true;
                if let CoreEvent::Port(change) = ev {
                    apply_port_change(inner.stream.as_mut(), change)?;
                    continue;
                }
                self.route(inner, ev);
            }
            if progress {
                continue;
            }
            // A full consumer must wake the reactor when it takes a message; one that took some
            // meanwhile is credited at once (it may not take another: its queue may be empty).
            let mut credit_pending = false;
            for i in 0..6u8 {
                if let (Some(q), Ok(idx)) = (
                    inner.conns[usize::from(i)].as_ref(),
                    ClientIdx::new(i64::from(i)),
                ) {
                    if inner.core.is_full(idx) && !q.set_starved() {
                        credit_pending = true;
                    }
                }
            }
            if !credit_pending {
                return Ok(());
            }
        }
    }

    fn route(&self, inner: &mut Inner, ev: CoreEvent) {
        match ev {
            CoreEvent::Ready(s) => {
                if let Some(tx) = inner.startup.take() {
                    let _ = tx.send(Ok(s));
                }
            }
            CoreEvent::StartupFailed(e) => {
                if let Some(tx) = inner.startup.take() {
                    let _ = tx.send(Err(e));
                }
            }
            CoreEvent::Stage(stage) => {
                // A repair after start-up is every client's business: each connection hears it.
                if inner.startup.is_none() {
                    for q in inner.conns.iter().flatten() {
                        q.push(crate::Event::Network(stage.clone()));
                    }
                }
                let mut stages = lock(&self.stages);
                if stages.len() >= STAGES_KEPT {
                    // A long registration wait reports every poll: keep the first and the last.
                    stages.remove(1);
                }
                stages.push(stage);
            }
            CoreEvent::Port(_) => {}
            CoreEvent::NetworkFailed(e) => {
                tracing::warn!(error = %e, "the network could not be repaired");
                for q in inner.conns.iter().flatten() {
                    q.push(crate::Event::NetworkFailed(e.clone()));
                }
            }
            CoreEvent::Done { op, result } => {
                if let Some(tx) = inner.waiters.remove(&op) {
                    // The caller may have dropped its handle: nothing to do then.
                    let _ = tx.send(result);
                }
            }
            CoreEvent::Client { client_idx, event } => {
                match inner.conns[usize::from(client_idx.get())].as_ref() {
                    Some(q) => q.push(event),
                    None => {
                        if matches!(event, crate::Event::Message(_)) {
                            // Nobody listens: the message is consumed as it arrives.
                            inner.core.consumed(client_idx, 1, self.now());
                        }
                    }
                }
            }
        }
    }

    /// Writes the buffer until the device refuses.
    fn flush(&self, inner: &mut Inner) -> Result<(), String> {
        while inner.wpos < inner.wbuf.len() {
            let Some(stream) = inner.stream.as_mut() else {
                return Err("closed".to_owned());
            };
            match stream.write(&inner.wbuf[inner.wpos..]) {
                Ok(0) => return Err("the device went away (hang-up)".to_owned()),
                Ok(n) => {
                    if let Some(t) = &self.trace {
                        (t.0)(TraceDir::Host, &inner.wbuf[inner.wpos..inner.wpos + n]);
                    }
                    inner.wpos += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_reason("write", &e)),
            }
        }
        if inner.wpos == inner.wbuf.len() {
            inner.wbuf.clear();
            inner.wpos = 0;
            if inner.wbuf.capacity() > 4 * self.write_capacity {
                inner.wbuf.shrink_to(self.write_capacity);
            }
        }
        Ok(())
    }

    /// Closes the core (every request ends), the consumers and the device.
    fn close_locked(&self, inner: &mut Inner, reason: &str, now: Instant) {
        if inner.closed {
            return;
        }
        tracing::debug!(port = %self.name, %reason, "port closed");
        inner.closed = true;
        inner.core.close(now);
        while let Some(ev) = inner.core.poll_event() {
            self.route(inner, ev);
        }
        for (_, tx) in inner.waiters.drain() {
            let _ = tx.send(Err(ClientError::Closed));
        }
        if let Some(tx) = inner.startup.take() {
            let _ = tx.send(Err(ClientError::Port {
                reason: format!("{}: {reason}", self.name),
            }));
        }
        for q in inner.conns.iter_mut() {
            if let Some(q) = q.take() {
                q.close();
            }
        }
        inner.wbuf = Vec::new();
        inner.wpos = 0;
        if let Some(stream) = inner.stream.take() {
            // Deregistered before the descriptor closes (and its number is reused).
            let _ = self
                .ctl
                .registry
                .deregister(&mut SourceFd(&stream.as_raw_fd()));
        }
    }
}

// ---- the reactor thread -------------------------------------------------------------------------

struct Entry {
    shared: Arc<ModemShared>,
    /// Copy of `Inner::armed`, readable without the lock.
    deadline: Option<Instant>,
}

struct Runner {
    /// The reactor's clock (a copy of `Ctl::clock`).
    clock: Clock,
    poll: Poll,
    rx: mpsc::Receiver<Req>,
    modems: HashMap<usize, Entry>,
    /// Modems with more to read than one turn took.
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
                self.modems
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
                tracing::error!(error = %e, "qmt reactor: poll failed; closing every modem");
                self.close_all();
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
                    self.service(id, false);
                }
                if readable {
                    self.read(id);
                }
            }
            loop {
                match self.rx.try_recv() {
                    Ok(Req::Add(shared)) => {
                        let id = shared.id;
                        self.modems.insert(
                            id,
                            Entry {
                                shared,
                                deadline: None,
                            },
                        );
                        // Edge-triggered: bytes that arrived before this are read now.
                        self.read(id);
                        self.service(id, true);
                    }
                    Ok(Req::Kick(id)) => {
                        self.service(id, false);
                    }
                    Ok(Req::Close(id)) => self.remove(id, "closed by the host"),
                    Ok(Req::Shutdown) => {
                        self.close_all();
                        return;
                    }
                    Err(_) => break,
                }
            }
            let now = self.clock.now();
            let due: Vec<usize> = self
                .modems
                .iter()
                .filter(|(_, e)| e.deadline.is_some_and(|d| d <= now))
                .map(|(&id, _)| id)
                .collect();
            for id in due {
                self.service(id, true);
            }
        }
    }

    /// Runs the modem's timers (if `timers`), writes, delivers; resumes reading after a pause;
    /// re-arms its deadline.
    fn service(&mut self, id: usize, timers: bool) {
        let Some(entry) = self.modems.get_mut(&id) else {
            return;
        };
        let sh = Arc::clone(&entry.shared);
        let mut inner = sh.lock();
        inner.kicked = false;
        let now = self.clock.now();
        while inner.paused {
            // Consumers took messages: credit them (drive) before asking the core again.
            if let Err(reason) = sh.drive(&mut inner, now) {
                sh.close_locked(&mut inner, &reason, now);
                drop(inner);
                self.remove(id, "");
                return;
            }
            if !inner.core.wants_input() {
                // Still full, and the consumer will wake us (drive set it starved).
                break;
            }
            inner.paused = false;
            inner.feed_stash(now);
            if !inner.paused {
                // Bytes may have waited while paused (edge-triggered: no new event for them).
                if !self.again.contains(&id) {
                    self.again.push(id);
                }
            }
        }
        // Deadlines wait while paused: their answers may be unread in the OS buffer.
        if timers && !inner.paused {
            inner.core.handle_timeout(now);
        }
        if let Err(reason) = sh.drive(&mut inner, now) {
            sh.close_locked(&mut inner, &reason, now);
            drop(inner);
            self.remove(id, "");
            return;
        }
        if inner.closed {
            drop(inner);
            self.remove(id, "");
            return;
        }
        let want_write = inner.buffered() > 0;
        if want_write != inner.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Some(stream) = inner.stream.as_ref() {
                let fd = stream.as_raw_fd();
                if let Err(e) =
                    self.poll
                        .registry()
                        .reregister(&mut SourceFd(&fd), mio::Token(id), interest)
                {
                    let reason = io_reason("poll", &e);
                    sh.close_locked(&mut inner, &reason, now);
                    drop(inner);
                    self.remove(id, "");
                    return;
                }
            }
            inner.want_write = want_write;
        }
        let armed = if inner.paused {
            None
        } else {
            inner.core.poll_timeout()
        };
        inner.armed = armed;
        if let Some(entry) = self.modems.get_mut(&id) {
            entry.deadline = armed;
        }
    }

    /// Reads what the device sent (one turn) while the core wants input; feeds and drives.
    fn read(&mut self, id: usize) {
        let Some(entry) = self.modems.get(&id) else {
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
            let mut inner = sh.lock();
            if inner.paused || !inner.core.wants_input() {
                inner.paused = true;
                break None;
            }
            let Some(stream) = inner.stream.as_mut() else {
                break Some("closed".to_owned());
            };
            match stream.read(&mut self.buf) {
                Ok(0) => break Some("the device went away (hang-up)".to_owned()),
                Ok(n) => {
                    let now = self.clock.now();
                    if let Some(t) = &sh.trace {
                        (t.0)(TraceDir::Module, &self.buf[..n]);
                    }
                    inner.feed(&self.buf[..n], now);
                    if let Err(reason) = sh.drive(&mut inner, now) {
                        break Some(reason);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(io_reason("read", &e)),
            }
        };
        match end {
            Some(reason) => {
                let now = self.clock.now();
                {
                    let mut inner = sh.lock();
                    sh.close_locked(&mut inner, &reason, now);
                }
                self.remove(id, &reason);
            }
            None => self.service(id, false),
        }
    }

    fn remove(&mut self, id: usize, reason: &str) {
        let Some(entry) = self.modems.remove(&id) else {
            return;
        };
        let sh = entry.shared;
        let mut inner = sh.lock();
        let reason = if reason.is_empty() { "closed" } else { reason };
        sh.close_locked(&mut inner, reason, self.clock.now());
        self.again.retain(|&a| a != id);
    }

    fn close_all(&mut self) {
        let ids: Vec<usize> = self.modems.keys().copied().collect();
        for id in ids {
            self.remove(id, "the reactor shut down");
        }
    }
}

/// The host's port follows the module (spec §10.7): a port that cannot is closed, since every
/// byte after it would be garbage.
fn apply_port_change(stream: Option<&mut SerialStream>, change: PortChange) -> Result<(), String> {
    use mio_serial::SerialPort;
    let Some(stream) = stream else {
        return Ok(());
    };
    let done = match change {
        PortChange::Baud(rate) => stream.set_baud_rate(rate.get()),
        PortChange::Flow(flow) => stream.set_flow_control(match flow {
            FlowControl::RtsCts => mio_serial::FlowControl::Hardware,
            _ => mio_serial::FlowControl::None,
        }),
    };
    tracing::debug!(?change, ok = done.is_ok(), "host port follows the module");
    done.map_err(|e| format!("the host's port cannot follow the module ({change:?}): {e}"))
}
