//! [`Modem`]: one module on one serial port, driven through a `qmt-transport` reactor, with up to
//! six [`Client`]s.
//!
//! # Threads
//! Besides the reactor thread (owned, or shared with [`Modem::with_reactor`]), each modem runs:
//! - the **dispatcher**: consumes the port's URCs; every line goes to the [`Correlator`], whose
//!   resolutions complete operation handles and become [`Event`]s on the right client's
//!   [`Connection`]; `+QMTRECV` messages become [`Event::Message`]; a buffered-mode announcement
//!   (`+QMTRECV: <idx>,<recv_id>`) makes it submit `AT+QMTRECV=<idx>,<recv_id>` when the
//!   connection's queue has room (back-pressure: [`crate::queue`]); `RDY` makes it send `ATE0` and
//!   `AT+CMEE=2` again, and announced messages not yet read are reported lost with the module's
//!   RAM ([`LagSource::ModuleRestart`]); URCs the port dropped ([`PortEvent::Lagged`]) become
//!   [`Event::Lagged`] on every client, and with a buffered-mode client `AT+QMTRECV?` asks which
//!   slots hold messages whose announcement may have been among them.
//! - the **acceptor**: waits for the final codes of the commands the operations submitted, in the
//!   order the link completes them (one command on the wire at a time), and tells the correlator
//!   (`accepted`, or `fail` with the `+CME ERROR`); reads the answers of buffered-mode reads (a
//!   read that timed out is sent again; one that finds its slot empty after a restart is a
//!   reported loss).
//! - the **timer**: sleeps on a condition variable until the earliest of the correlator's and
//!   the recovery machines' deadlines (woken whenever one may have moved), then runs
//!   `handle_timeout` and starts due recovery attempts, each on a short-lived worker thread that
//!   runs the steps as blocking operations.
//!
//! Nothing sleeps to poll: every wait ends on an event, a completion or a deadline.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use qmt_proto::codes::{ConnState, OpenResult, StoreStatus};
use qmt_proto::command::CmeeMode;
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::params::{ClientIdx, MsgId, Qos, RecvId, Topic};
use qmt_proto::{Command, Info, ModuleLine, Urc};
use qmt_transport::link::{CommandError, Response};
use qmt_transport::reactor::{
    Pending, Port, PortConfig, PortEvent, PortEvents, Reactor, SubmitError,
};

use crate::client::{Client, Connection, OpHandle};
use crate::correlate::{Completion, Correlator, OpKey, OpKind, OpToken, Outcome, Resolution};
use crate::error::{ClientError, ModuleError, command_name};
use crate::event::{Event, LagSource, Message, read_stored};
use crate::msgid::MsgIdAllocator;
use crate::options::ClientOptions;
use crate::queue::{DEFAULT_CAPACITY, EventQueue};
use crate::recovery::{LossCause, Recovery, RecoveryPolicy, Step};

/// How to open and run a [`Modem`].
#[derive(Clone, Debug)]
pub struct ModemConfig {
    /// The serial port's settings (baud rate, link deadlines, queues).
    pub port: PortConfig,
    /// How long start-up waits in all for a booting module (one that does not answer `AT` yet)
    /// to say `RDY` and answer.
    pub boot_wait: Duration,
    /// How many `AT` are tried before start-up gives up.
    pub sync_attempts: u32,
    /// Start-up recovery: disconnect and close the clients an earlier host process left open
    /// (found with `AT+QMTOPEN?` / `AT+QMTCONN?`), so their indexes are not "occupied".
    pub close_stale: bool,
    /// The reconnect policy of clients created with [`Modem::client`] (off by default).
    pub recovery: RecoveryPolicy,
    /// How many received messages each client's [`Connection`] holds for its consumer (at least
    /// 1; default [`DEFAULT_CAPACITY`]). When it is full, buffered receive mode (`recv/mode` 1)
    /// stops reading the module's slots (back-pressure, no loss) and inline mode drops the oldest
    /// message with a counted [`Event::Lagged`]: the policy is in [`crate::queue`].
    pub event_capacity: usize,
}

impl Default for ModemConfig {
    fn default() -> Self {
        ModemConfig {
            port: PortConfig::default(),
            boot_wait: Duration::from_secs(10),
            sync_attempts: 5,
            close_stale: true,
            recovery: RecoveryPolicy::disabled(),
            event_capacity: DEFAULT_CAPACITY,
        }
    }
}

/// What start-up found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Startup {
    /// The module said `RDY` during start-up (it was booting).
    pub rdy_seen: bool,
    /// How many `AT` it took to get an `OK`.
    pub sync_attempts: u32,
    /// Clients found open (left by an earlier host process) and closed.
    pub closed_stale: Vec<ClientIdx>,
}

// ---- shared state -------------------------------------------------------------------------------

/// What to remember when an operation ends.
pub(crate) enum After {
    Nothing,
    Sub(Vec<(Topic, Qos)>),
    Uns(Vec<Topic>),
}

/// A caller waiting for an operation's final outcome.
pub(crate) struct Waiter {
    tx: mpsc::Sender<Result<Completion, ClientError>>,
    msgid: Option<MsgId>,
    after: After,
}

/// One client's state on the modem.
pub(crate) struct Slot {
    pub(crate) options: ClientOptions,
    pub(crate) msgids: MsgIdAllocator,
    events: Arc<EventQueue>,
    /// Buffered-mode messages announced (`+QMTRECV: <idx>,<recv_id>`) and not read yet because
    /// the connection's queue is full (at most the module's five slots).
    stored: VecDeque<RecvId>,
    /// Slots whose read is on its way (a rescan must not read them twice), and whether an `RDY`
    /// was handled meanwhile.
    reading: Vec<(RecvId, bool)>,
    pub(crate) recovery: Recovery,
    recovery_enabled: bool,
    /// A recovery worker thread is running for this client.
    worker: bool,
    /// Alive while a [`Client`] handle of this slot is.
    alive: Weak<()>,
}

impl Slot {
    /// Any event but a message (a dropped Connection is not an error: nobody listens).
    fn send(&self, event: Event) {
        self.events.push_control(event);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Like dropping a channel's sender: the Connection ends once drained.
        self.events.close();
    }
}

/// Work for the acceptor thread.
enum Job {
    /// The command of a two-phase operation: its final code goes to the correlator.
    Accept {
        pending: Pending,
        token: OpToken,
        command: String,
    },
    /// `AT+QMTRECV=<idx>,<recv_id>`: its information lines are messages.
    ReadStored {
        pending: Pending,
        client_idx: ClientIdx,
        recv_id: RecvId,
        /// The link's restart count (`LinkStats::restarts`) when it was sent.
        restarts: u64,
    },
    /// `AT+QMTRECV?` after lost URCs: slots holding messages whose announcement was lost.
    Rescan { pending: Pending },
    /// A command whose answer only matters for the log (`ATE0` after `RDY`).
    Quiet { pending: Pending, command: String },
}

pub(crate) struct State {
    pub(crate) correlator: Correlator,
    waiters: HashMap<OpToken, Waiter>,
    pub(crate) clients: [Option<Slot>; 6],
    jobs: Option<mpsc::Sender<Job>>,
    closed: bool,
}

impl State {
    pub(crate) fn slot(&mut self, idx: ClientIdx) -> Option<&mut Slot> {
        self.clients[usize::from(idx.get())].as_mut()
    }
}

pub(crate) struct Shared {
    pub(crate) port: Port,
    state: Mutex<State>,
    /// Wakes the timer thread when a deadline may have moved.
    timer: Condvar,
}

/// Locks, ignoring poisoning (no code under this lock panics by design).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A port-layer error as a client error.
pub(crate) fn port_error(e: SubmitError) -> ClientError {
    match e {
        SubmitError::Closed { .. } => ClientError::Closed,
        other => ClientError::Port {
            reason: other.to_string(),
        },
    }
}

/// A link error of `command` (named without parameters) as a client error.
pub(crate) fn command_error(command: &str, e: CommandError) -> ClientError {
    match e {
        CommandError::Timeout { waited, .. } => ClientError::Timeout {
            command: command.to_owned(),
            waited,
        },
        CommandError::ModuleRestarted { .. } => ClientError::ModuleRestarted,
        CommandError::Closed { .. } => ClientError::Closed,
    }
}

/// The module's refusal in a response's final code, if any.
fn refusal(resp: &Response) -> Option<ModuleError> {
    match resp.final_code.parse() {
        ModuleLine::Final(code) => ModuleError::from_final(&code),
        _ => Some(ModuleError::Error),
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn wake_timer(&self) {
        self.timer.notify_all();
    }

    /// Runs one command to its final code, blocking; `OK` → the response.
    pub(crate) fn exec(
        &self,
        command: Command,
        data: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        let name = command_name(&command);
        let pending = self.port.submit(command, data).map_err(port_error)?;
        let resp = pending.wait().map_err(|e| command_error(&name, e))?;
        match refusal(&resp) {
            None => Ok(resp),
            Some(cme) => Err(ClientError::Module { command: name, cme }),
        }
    }

    /// Registers a two-phase operation, submits its command and returns the receiver of its
    /// final outcome. `msgid` is released on every outcome (and here on failure).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_locked(
        &self,
        st: &mut State,
        key: OpKey,
        qos: Qos,
        command: Command,
        data: Option<Vec<u8>>,
        msgid: Option<MsgId>,
        after: After,
    ) -> Result<mpsc::Receiver<Result<Completion, ClientError>>, ClientError> {
        let release = |st: &mut State| {
            if let (Some(m), Some(slot)) = (msgid, st.slot(key.client_idx)) {
                slot.msgids.release(m);
            }
        };
        if st.closed {
            release(st);
            return Err(ClientError::Closed);
        }
        let now = Instant::now();
        let registered = if key.kind == OpKind::Pub {
            let id = msgid.map_or(0, MsgId::get);
            MsgId::new(i64::from(id))
                .map_err(ClientError::from)
                .and_then(|m| st.correlator.register_publish(key.client_idx, m, qos, now))
        } else {
            st.correlator.register(key, now)
        };
        let token = match registered {
            Ok(t) => t,
            Err(e) => {
                release(st);
                return Err(e);
            }
        };
        let name = command_name(&command);
        let pending = match self.port.submit(command, data) {
            Ok(p) => p,
            Err(e) => {
                let e = port_error(e);
                let _ = st.correlator.fail(token, e.clone());
                release(st);
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel();
        st.waiters.insert(token, Waiter { tx, msgid, after });
        if let Some(jobs) = &st.jobs {
            let _ = jobs.send(Job::Accept {
                pending,
                token,
                command: name,
            });
        }
        self.wake_timer();
        Ok(rx)
    }

    /// A two-phase operation without msgid (OPEN, CLOSE, CONN, DISC), as a handle.
    pub(crate) fn issue_plain(
        &self,
        key: OpKey,
        command: Command,
    ) -> Result<OpHandle<()>, ClientError> {
        let what = key.describe();
        let mut st = self.lock();
        let rx = self.issue_locked(
            &mut st,
            key,
            Qos::AtMostOnce,
            command,
            None,
            None,
            After::Nothing,
        )?;
        Ok(OpHandle::new(rx, what, |_| Ok(())))
    }

    /// Applies the correlator's resolutions: handles complete, events go out, recovery learns.
    fn apply(&self, st: &mut State, resolutions: Vec<Resolution>, now: Instant) {
        for r in resolutions {
            if let Some(ev) = Event::from_resolution(&r) {
                match &ev {
                    Event::ModuleRestarted => {
                        for slot in st.clients.iter().flatten() {
                            slot.send(Event::ModuleRestarted);
                        }
                    }
                    Event::LinkLost { client_idx, .. }
                    | Event::PingTimeout { client_idx }
                    | Event::PublishFailed { client_idx, .. }
                    | Event::Retransmitting { client_idx, .. } => {
                        if let Some(slot) = st.slot(*client_idx) {
                            slot.send(ev.clone());
                        }
                    }
                    Event::Message(_) | Event::Recovery { .. } | Event::Lagged { .. } => {}
                }
            }
            match r {
                Resolution::Op {
                    token,
                    key,
                    outcome,
                } if outcome.is_final() => {
                    let Some(w) = st.waiters.remove(&token) else {
                        continue;
                    };
                    if let Some(slot) = st.slot(key.client_idx) {
                        if let Some(m) = w.msgid {
                            slot.msgids.release(m);
                        }
                        match (&outcome, w.after) {
                            (Outcome::Done(Completion::Subscribed { granted }), After::Sub(f)) => {
                                slot.recovery.subscribed(
                                    f.into_iter()
                                        .zip(granted.iter())
                                        .filter_map(|((t, _), g)| g.qos().map(|q| (t, q))),
                                );
                            }
                            (Outcome::Done(Completion::Unsubscribed), After::Uns(topics)) => {
                                slot.recovery.unsubscribed(topics.iter());
                            }
                            _ => {}
                        }
                        if matches!(
                            outcome,
                            Outcome::Done(Completion::Closed | Completion::Disconnected)
                        ) {
                            slot.msgids.release_all();
                        }
                    }
                    let _ = w.tx.send(match outcome {
                        Outcome::Done(c) => Ok(c),
                        Outcome::Failed(e) => Err(e),
                        Outcome::Progress { .. } => continue,
                    });
                }
                Resolution::LinkLost {
                    client_idx, code, ..
                } => self.lost(st, client_idx, LossCause::LinkLost(code), now),
                Resolution::PingTimeout { client_idx } => {
                    self.lost(st, client_idx, LossCause::PingTimeout, now);
                }
                Resolution::ModuleRestarted => {
                    for idx in ClientIdx::all() {
                        if let Some(slot) = st.slot(idx) {
                            slot.msgids.release_all();
                        }
                        self.lost(st, idx, LossCause::ModuleRestarted, now);
                    }
                }
                _ => {}
            }
        }
    }

    fn lost(&self, st: &mut State, client_idx: ClientIdx, cause: LossCause, now: Instant) {
        let Some(slot) = st.slot(client_idx) else {
            return;
        };
        let events = slot.recovery.on_lost(cause, now);
        if slot.recovery_enabled {
            for event in events {
                slot.send(Event::Recovery { client_idx, event });
            }
        }
        self.wake_timer();
    }

    /// Forwards recovery events of `client_idx` (only when its recovery is on).
    pub(crate) fn recovery_events(
        st: &mut State,
        client_idx: ClientIdx,
        events: Vec<crate::recovery::RecoveryEvent>,
    ) {
        if let Some(slot) = st.slot(client_idx) {
            if slot.recovery_enabled {
                for event in events {
                    slot.send(Event::Recovery { client_idx, event });
                }
            }
        }
    }

    /// Submits `AT+QMTRECV?`; the acceptor reads the slots it finds stored and unannounced.
    fn rescan(&self, st: &State) {
        match self.port.submit(Command::RecvRead, None) {
            Ok(pending) => {
                if let Some(jobs) = &st.jobs {
                    let _ = jobs.send(Job::Rescan { pending });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot ask which receive slots hold messages"),
        }
    }

    /// Reads announced buffered-mode messages of `client_idx` while its connection's queue has
    /// room (each read reserves its message's place); the rest wait for the consumer.
    fn pump_reads(&self, st: &mut State, client_idx: ClientIdx) {
        let Some(jobs) = st.jobs.clone() else { return };
        let restarts = self.port.stats().link.restarts;
        let Some(slot) = st.slot(client_idx) else {
            return;
        };
        while let Some(&recv_id) = slot.stored.front() {
            if !slot.events.reserve_read() {
                tracing::trace!(
                    client = client_idx.get(),
                    waiting = slot.stored.len(),
                    "event queue full: stored messages stay in the module"
                );
                break;
            }
            match self.port.submit(read_stored(client_idx, recv_id), None) {
                Ok(pending) => {
                    slot.stored.pop_front();
                    slot.reading.push((recv_id, false));
                    let _ = jobs.send(Job::ReadStored {
                        pending,
                        client_idx,
                        recv_id,
                        restarts,
                    });
                }
                Err(e) => {
                    // Retried at the next announcement or receive.
                    slot.events.unreserve();
                    tracing::warn!(error = %e, "cannot read a stored message yet");
                    break;
                }
            }
        }
    }

    /// The consumer of `client_idx` made room: resume held-back reads.
    pub(crate) fn resume_reads(&self, client_idx: ClientIdx) {
        let mut st = self.lock();
        self.pump_reads(&mut st, client_idx);
    }

    /// Submits a command whose answer only matters for the log.
    fn quiet(&self, st: &State, command: Command) {
        let name = command_name(&command);
        match self.port.submit(command, None) {
            Ok(pending) => {
                if let Some(jobs) = &st.jobs {
                    let _ = jobs.send(Job::Quiet {
                        pending,
                        command: name,
                    });
                }
            }
            Err(e) => tracing::warn!(command = %name, error = %e, "cannot submit"),
        }
    }
}

// ---- the threads --------------------------------------------------------------------------------

fn dispatcher(shared: Arc<Shared>, events: PortEvents) {
    while let Some(ev) = events.recv() {
        let now = Instant::now();
        match ev {
            PortEvent::Urc(line) => {
                let parsed = line.parse();
                let mut st = shared.lock();
                match &parsed {
                    ModuleLine::Urc(Urc::Recv(recv)) => {
                        if let Some(slot) = st.slot(recv.client_idx) {
                            match Message::from_recv(recv, slot.options.recv_encoding()) {
                                Ok(m) => slot.events.push_inline(Event::Message(m)),
                                Err(e) => tracing::warn!(error = %e, "received message dropped"),
                            }
                        }
                    }
                    ModuleLine::Urc(Urc::RecvStored {
                        client_idx,
                        recv_id,
                    }) => {
                        if let Some(slot) = st.slot(*client_idx) {
                            if !slot.stored.contains(recv_id) {
                                slot.stored.push_back(*recv_id);
                            }
                        }
                        shared.pump_reads(&mut st, *client_idx);
                    }
                    ModuleLine::Urc(Urc::Rdy) => {
                        // Announced messages not yet read died with the module's RAM.
                        for slot in st.clients.iter_mut().flatten() {
                            for r in &mut slot.reading {
                                r.1 = true;
                            }
                            let dropped = slot.stored.len() as u64;
                            if dropped > 0 {
                                slot.stored.clear();
                                slot.send(Event::Lagged {
                                    dropped,
                                    source: LagSource::ModuleRestart,
                                });
                            }
                        }
                        // The module restarted with echo on and CMEE reset (spec §9).
                        shared.quiet(&st, Command::Echo(false));
                        shared.quiet(&st, Command::Cmee(CmeeMode::Verbose));
                    }
                    _ => {}
                }
                let resolutions = st.correlator.on_urc(&parsed, now);
                shared.apply(&mut st, resolutions, now);
                // Wakes the timer (deadlines may have changed) and anyone waiting for a URC's
                // effect on the state (`conn_refusal_cause`).
                shared.wake_timer();
            }
            PortEvent::Lagged { dropped } => {
                tracing::warn!(
                    dropped,
                    "the dispatcher fell behind; URCs were lost (use recv/mode 1 where no message may be lost)"
                );
                let st = shared.lock();
                for slot in st.clients.iter().flatten() {
                    slot.send(Event::Lagged {
                        dropped,
                        source: LagSource::Transport,
                    });
                }
                // Lost lines may have been `+QMTRECV: <idx>,<recv_id>` announcements: without
                // them those messages would sit in the slots until all five are full and the
                // module stops acknowledging. Ask which slots hold messages.
                if st
                    .clients
                    .iter()
                    .flatten()
                    .any(|s| s.options.receives_buffered())
                {
                    shared.rescan(&st);
                }
            }
            PortEvent::Closed { reason } => {
                tracing::debug!(%reason, "port closed; the modem stops");
                break;
            }
        }
    }
    let mut st = shared.lock();
    st.closed = true;
    for (_, w) in st.waiters.drain() {
        let _ = w.tx.send(Err(ClientError::Closed));
    }
    st.jobs = None;
    for slot in &mut st.clients {
        *slot = None;
    }
    drop(st);
    shared.wake_timer();
}

fn acceptor(shared: Arc<Shared>, jobs: mpsc::Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Accept {
                pending,
                token,
                command,
            } => {
                let result = pending.wait();
                let now = Instant::now();
                let mut st = shared.lock();
                let failed = match result {
                    Ok(resp) => match refusal(&resp) {
                        None => {
                            st.correlator.accepted(token, now);
                            None
                        }
                        Some(cme) => st
                            .correlator
                            .fail(token, ClientError::Module { command, cme }),
                    },
                    Err(e) => {
                        let e = command_error(&command, e);
                        st.correlator.fail(token, e)
                    }
                };
                if let Some(r) = failed {
                    shared.apply(&mut st, vec![r], now);
                }
                drop(st);
                shared.wake_timer();
            }
            Job::ReadStored {
                pending,
                client_idx,
                recv_id,
                restarts,
            } => {
                let result = pending.wait();
                let mut st = shared.lock();
                // Restarted since the read was sent: the link counted an `RDY` (before this
                // completion), or the dispatcher handled one while the read was out.
                let mut restarted = shared.port.stats().link.restarts != restarts;
                let Some(slot) = st.slot(client_idx) else {
                    continue;
                };
                if let Some(at) = slot.reading.iter().position(|r| r.0 == recv_id) {
                    restarted |= slot.reading.remove(at).1;
                }
                let mut delivered = false;
                // The module announced the message; not finding it means it was lost.
                let mut gone = false;
                match result {
                    Ok(resp) => {
                        let encoding = slot.options.recv_encoding();
                        let mut found = false;
                        for line in &resp.info {
                            if let Some(Info::Message(recv)) =
                                Info::parse_for(CommandKind::QmtRecv, Form::Write, line.bytes())
                            {
                                found = true;
                                match Message::from_recv(&recv, encoding) {
                                    // One slot, one message: the first uses the reservation.
                                    Ok(m) if !delivered => {
                                        slot.events.push_stored(Event::Message(m));
                                        delivered = true;
                                    }
                                    Ok(m) => slot.events.push_inline(Event::Message(m)),
                                    Err(e) => tracing::warn!(error = %e, "stored message dropped"),
                                }
                            }
                        }
                        // Answered without it (empty slot or ERROR): lost in a restart, or this
                        // was a second read of a message already read (an announcement and a
                        // rescan both led here).
                        gone = !found && restarted;
                        if !found && !restarted {
                            tracing::debug!(
                                client = client_idx.get(),
                                recv_id = recv_id.get(),
                                "slot already read"
                            );
                        }
                    }
                    Err(CommandError::ModuleRestarted { .. }) => gone = true,
                    Err(CommandError::Timeout { .. }) => {
                        // The message is still in the module: read it again.
                        if !slot.stored.contains(&recv_id) {
                            slot.stored.push_front(recv_id);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading a stored message failed"),
                }
                if !delivered {
                    slot.events.unreserve();
                }
                if gone {
                    tracing::warn!(
                        client = client_idx.get(),
                        recv_id = recv_id.get(),
                        "an announced stored message was gone when read (module restarted)"
                    );
                    slot.send(Event::Lagged {
                        dropped: 1,
                        source: LagSource::ModuleRestart,
                    });
                }
                shared.pump_reads(&mut st, client_idx);
            }
            Job::Rescan { pending } => {
                let result = pending.wait();
                let mut st = shared.lock();
                let Ok(resp) = result else {
                    continue;
                };
                let mut found = Vec::new();
                for line in &resp.info {
                    if let Some(Info::RecvStatus { client_idx, slots }) =
                        Info::parse_for(CommandKind::QmtRecv, Form::Read, line.bytes())
                    {
                        for (i, status) in slots.iter().enumerate() {
                            if *status == StoreStatus::Stored {
                                if let Ok(recv_id) = RecvId::new(i as i64) {
                                    found.push((client_idx, recv_id));
                                }
                            }
                        }
                    }
                }
                let mut clients = Vec::new();
                for (client_idx, recv_id) in found {
                    let Some(slot) = st.slot(client_idx) else {
                        continue;
                    };
                    if !slot.options.receives_buffered()
                        || slot.stored.contains(&recv_id)
                        || slot.reading.iter().any(|r| r.0 == recv_id)
                    {
                        continue;
                    }
                    tracing::debug!(
                        client = client_idx.get(),
                        recv_id = recv_id.get(),
                        "a stored message whose announcement was lost"
                    );
                    slot.stored.push_back(recv_id);
                    if !clients.contains(&client_idx) {
                        clients.push(client_idx);
                    }
                }
                for client_idx in clients {
                    shared.pump_reads(&mut st, client_idx);
                }
            }
            Job::Quiet { pending, command } => {
                if let Err(e) = pending.wait() {
                    tracing::warn!(%command, error = %e, "failed");
                }
            }
        }
    }
}

fn timer(shared: Arc<Shared>) {
    let mut st = shared.lock();
    loop {
        if st.closed {
            return;
        }
        let now = Instant::now();
        let resolutions = st.correlator.handle_timeout(now);
        shared.apply(&mut st, resolutions, now);
        for idx in ClientIdx::all() {
            let Some(slot) = st.slot(idx) else { continue };
            if !slot.worker && slot.recovery.poll_timeout().is_some_and(|t| t <= now) {
                slot.worker = true;
                let sh = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("qmt-recovery-{idx}"))
                    .spawn(move || recovery_worker(sh, idx));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a recovery thread");
                    slot.worker = false;
                }
            }
        }
        let mut next = st.correlator.poll_timeout();
        for slot in st.clients.iter().flatten() {
            if !slot.worker {
                if let Some(t) = slot.recovery.poll_timeout() {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        st = match next {
            Some(t) => {
                let wait = t.saturating_duration_since(Instant::now());
                shared
                    .timer
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared.timer.wait(st).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Runs the due recovery steps of one client, then ends (the timer starts the next attempt).
fn recovery_worker(shared: Arc<Shared>, idx: ClientIdx) {
    loop {
        let (step, options) = {
            let mut st = shared.lock();
            let Some(slot) = st.slot(idx) else { return };
            match slot.recovery.poll_step(Instant::now()) {
                Some(step) => (step, slot.options.clone()),
                None => {
                    slot.worker = false;
                    drop(st);
                    shared.wake_timer();
                    return;
                }
            }
        };
        tracing::debug!(client = idx.get(), ?step, "recovery step");
        let result = match step {
            Step::Configure => configure(&shared, idx, &options),
            Step::Close => close_op(&shared, idx).and_then(|h| h.wait()),
            Step::Open => open_op(&shared, idx, &options).and_then(|h| h.wait()),
            Step::Connect => conn_op(&shared, idx, &options).and_then(|h| h.wait()),
            Step::Subscribe(filters) => subscribe_op(&shared, idx, filters).map(|_| ()),
        };
        let mut st = shared.lock();
        let events = match st.slot(idx) {
            Some(slot) => slot.recovery.step_done(result, Instant::now()),
            None => return,
        };
        Shared::recovery_events(&mut st, idx, events);
    }
}

// ---- operations shared by clients and recovery --------------------------------------------------

/// TLS provisioning (uploads verified against `+QFUPL`), then the options' `AT+QMTCFG`s; then the
/// link learns the client's `+QMTRECV` length mode.
pub(crate) fn configure(
    shared: &Shared,
    idx: ClientIdx,
    options: &ClientOptions,
) -> Result<(), ClientError> {
    if let (Some(files), Some(ctx)) = (options.tls_files(), options.tls_context()) {
        for step in files.provision_commands(i64::from(ctx.get()))? {
            let resp = shared.exec(step.command, step.data)?;
            if let Some(check) = &step.expect {
                let got = resp.info.iter().find_map(|l| match l.parse() {
                    ModuleLine::Info(Info::QfUpl {
                        upload_size,
                        checksum,
                    }) => Some((upload_size, checksum)),
                    _ => None,
                });
                match got {
                    Some((size, sum)) => check.verify(size, sum)?,
                    None => {
                        return Err(ClientError::UploadIncomplete {
                            file: check.file.clone(),
                            sent: check.size,
                            stored: 0,
                        });
                    }
                }
            }
        }
    }
    for (command, data) in options.config_commands(idx) {
        shared.exec(command, data)?;
    }
    shared.port.set_recv_len(idx, options.len_mode());
    Ok(())
}

pub(crate) fn open_op(
    shared: &Shared,
    idx: ClientIdx,
    options: &ClientOptions,
) -> Result<OpHandle<()>, ClientError> {
    {
        let mut st = shared.lock();
        st.correlator.set_deadlines(idx, options.deadlines());
    }
    shared.issue_plain(OpKey::open(idx), options.open_command(idx))
}

pub(crate) fn conn_op(
    shared: &Shared,
    idx: ClientIdx,
    options: &ClientOptions,
) -> Result<OpHandle<()>, ClientError> {
    shared.issue_plain(OpKey::conn(idx), options.conn_command(idx))
}

pub(crate) fn close_op(shared: &Shared, idx: ClientIdx) -> Result<OpHandle<()>, ClientError> {
    shared.issue_plain(OpKey::close(idx), Command::Close(idx))
}

pub(crate) fn disc_op(shared: &Shared, idx: ClientIdx) -> Result<OpHandle<()>, ClientError> {
    shared.issue_plain(OpKey::disc(idx), Command::Disc(idx))
}

pub(crate) fn subscribe_op(
    shared: &Shared,
    idx: ClientIdx,
    filters: Vec<(Topic, Qos)>,
) -> Result<Vec<qmt_proto::codes::GrantedQos>, ClientError> {
    crate::client::subscribe_handle(shared, idx, filters)?.wait()
}

/// Configure, open (closing once if the index is occupied), connect; a refused connect closes
/// the client again so that the next attempt starts clean.
pub(crate) fn connect_sequence(
    shared: &Shared,
    idx: ClientIdx,
    options: &ClientOptions,
) -> Result<(), ClientError> {
    configure(shared, idx, options)?;
    match open_op(shared, idx, options)?.wait() {
        Err(ClientError::OpenFailed {
            result: OpenResult::IdentifierOccupied,
        }) => {
            tracing::debug!(
                client = idx.get(),
                "index occupied: closing, then opening again"
            );
            let _ = close_op(shared, idx).and_then(|h| h.wait());
            open_op(shared, idx, options)?.wait()?;
        }
        other => other?,
    }
    if let Err(e) = conn_op(shared, idx, options)?.wait() {
        let e = conn_refusal_cause(shared, idx, e);
        let _ = close_op(shared, idx).and_then(|h| h.wait());
        return Err(e);
    }
    Ok(())
}

/// A module that refuses `AT+QMTCONN` (`+CME ERROR: 3`, "operation not allowed") because the
/// server already dropped the connection (a TLS 1.3 server refusing the client certificate after
/// the handshake) reports that drop as a `+QMTSTAT` before the error; the dispatcher thread may
/// apply it a moment after the error arrives. The link loss is the cause to report.
fn conn_refusal_cause(shared: &Shared, idx: ClientIdx, e: ClientError) -> ClientError {
    if !matches!(e, ClientError::Module { .. }) {
        return e;
    }
    // Woken by the dispatcher after every URC it applies (no sleep-polling); bounded.
    let until = Instant::now() + Duration::from_millis(200);
    let mut st = shared.lock();
    loop {
        if let Some(code) = st.correlator.lost(idx) {
            return ClientError::LinkLost {
                code,
                action: code.recommended_action(),
            };
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return e;
        }
        st = match shared.timer.wait_timeout(st, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

// ---- Modem --------------------------------------------------------------------------------------

/// Closes the port (and stops an owned reactor) when the last handle goes.
pub(crate) struct Owner {
    shared: Arc<Shared>,
    reactor: Mutex<Option<Reactor>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.port.close();
        if let Some(mut r) = lock(&self.reactor).take() {
            r.shutdown();
        }
    }
}

/// One module on one serial port. Cheap to clone; the port closes when the last `Modem` and
/// [`Client`] handle is dropped.
#[derive(Clone)]
pub struct Modem {
    owner: Arc<Owner>,
    config: ModemConfig,
    startup: Startup,
}

impl fmt::Debug for Modem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Modem")
            .field("port", &self.owner.shared.port.path())
            .field("startup", &self.startup)
            .finish()
    }
}

impl Modem {
    /// Opens the module on `path` with a reactor of its own, and runs start-up: waits for a
    /// booting module's `RDY` (bounded), syncs with `AT`, sends `ATE0` and `AT+CMEE=2`, and
    /// (with [`ModemConfig::close_stale`]) disconnects and closes clients an earlier host process
    /// left open.
    ///
    /// # Errors
    /// [`ClientError::Port`] when the port cannot be opened; [`ClientError::Timeout`] when the
    /// module never answers `AT`; the errors of the start-up commands.
    pub fn open(path: impl AsRef<Path>, config: ModemConfig) -> Result<Modem, ClientError> {
        let reactor = Reactor::start().map_err(|e| ClientError::Port {
            reason: format!("cannot start the reactor: {e}"),
        })?;
        Modem::start(&reactor, path.as_ref(), config).map(|m| m.own(reactor))
    }

    /// Like [`open`](Self::open), on a port of a reactor shared with other modems (one thread
    /// serves them all).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn with_reactor(
        reactor: &Reactor,
        path: impl AsRef<Path>,
        config: ModemConfig,
    ) -> Result<Modem, ClientError> {
        Modem::start(reactor, path.as_ref(), config)
    }

    fn own(self, reactor: Reactor) -> Modem {
        *lock(&self.owner.reactor) = Some(reactor);
        self
    }

    fn start(reactor: &Reactor, path: &Path, config: ModemConfig) -> Result<Modem, ClientError> {
        let (port, events) =
            reactor
                .add_port(path, config.port.clone())
                .map_err(|e| ClientError::Port {
                    reason: e.to_string(),
                })?;
        let mut startup = Startup::default();
        sync(&port, &events, &config, &mut startup)?;

        let (jobs_tx, jobs_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            port,
            state: Mutex::new(State {
                correlator: Correlator::new(),
                waiters: HashMap::new(),
                clients: Default::default(),
                jobs: Some(jobs_tx),
                closed: false,
            }),
            timer: Condvar::new(),
        });
        // From here on the owner closes the port if start-up fails, which ends the threads.
        let owner = Arc::new(Owner {
            shared: Arc::clone(&shared),
            reactor: Mutex::new(None),
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
                .map_err(|e| ClientError::Port {
                    reason: format!("cannot start the {name} thread: {e}"),
                })
        };
        let sh = Arc::clone(&shared);
        spawn("qmt-dispatch", Box::new(move || dispatcher(sh, events)))?;
        let sh = Arc::clone(&shared);
        spawn("qmt-accept", Box::new(move || acceptor(sh, jobs_rx)))?;
        let sh = Arc::clone(&shared);
        spawn("qmt-timer", Box::new(move || timer(sh)))?;

        shared.exec(Command::Echo(false), None)?;
        shared.exec(Command::Cmee(CmeeMode::Verbose), None)?;
        if config.close_stale {
            startup.closed_stale = close_stale(&shared)?;
        }
        Ok(Modem {
            owner,
            config,
            startup,
        })
    }

    /// What start-up found and did.
    pub fn startup(&self) -> &Startup {
        &self.startup
    }

    /// The port's path.
    pub fn path(&self) -> &str {
        self.owner.shared.port.path()
    }

    /// A client on index `client_idx` (0–5) with `options`, and its event stream. The client is
    /// not connected yet: call [`Client::connect`]. Recovery follows [`ModemConfig::recovery`].
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for an index out of range; [`ClientError::ClientInUse`] while
    /// another live [`Client`] has the index; [`ClientError::Closed`] when the port closed.
    pub fn client(
        &self,
        client_idx: u8,
        options: ClientOptions,
    ) -> Result<(Client, Connection), ClientError> {
        self.client_with_recovery(client_idx, options, self.config.recovery)
    }

    /// Like [`client`](Self::client), with this client's own reconnect policy.
    ///
    /// # Errors
    /// As [`client`](Self::client).
    pub fn client_with_recovery(
        &self,
        client_idx: u8,
        options: ClientOptions,
        policy: RecoveryPolicy,
    ) -> Result<(Client, Connection), ClientError> {
        let idx = ClientIdx::new(i64::from(client_idx))?;
        let shared = &self.owner.shared;
        let mut st = shared.lock();
        if st.closed {
            return Err(ClientError::Closed);
        }
        if st.slot(idx).is_some_and(|s| s.alive.upgrade().is_some()) {
            return Err(ClientError::ClientInUse { client_idx });
        }
        let alive = Arc::new(());
        let events = Arc::new(EventQueue::new(self.config.event_capacity));
        st.correlator.set_deadlines(idx, options.deadlines());
        st.clients[usize::from(idx.get())] = Some(Slot {
            options: options.clone(),
            msgids: MsgIdAllocator::new(),
            events: Arc::clone(&events),
            stored: VecDeque::new(),
            reading: Vec::new(),
            recovery: Recovery::new(policy),
            recovery_enabled: policy.enabled,
            worker: false,
            alive: Arc::downgrade(&alive),
        });
        drop(st);
        let client = Client::new(
            Arc::clone(shared),
            Arc::clone(&self.owner),
            idx,
            options,
            alive,
        );
        Ok((client, Connection::new(events, idx, Arc::downgrade(shared))))
    }
}

/// Waits out a booting module and syncs with `AT` (before the dispatcher takes the events).
fn sync(
    port: &Port,
    events: &PortEvents,
    config: &ModemConfig,
    startup: &mut Startup,
) -> Result<(), ClientError> {
    let started = Instant::now();
    let attempts = config.sync_attempts.max(1);
    let per_wait = config.boot_wait / attempts;
    let saw_rdy = |events: &PortEvents, wait: Duration| {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Ok(PortEvent::Urc(l)) if l.bytes() == b"RDY" => return true,
                Ok(PortEvent::Closed { .. }) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    };
    // A module that just powered up said RDY already, or says it soon.
    while let Ok(ev) = events.try_recv() {
        if matches!(&ev, PortEvent::Urc(l) if l.bytes() == b"RDY") {
            startup.rdy_seen = true;
        }
    }
    for attempt in 1..=attempts {
        startup.sync_attempts = attempt;
        let result = port.submit(Command::At, None).map_err(port_error)?.wait();
        match result {
            Ok(resp) if refusal(&resp).is_none() => {
                // Let a RDY that raced the AT be consumed here, not by the dispatcher.
                while let Ok(ev) = events.try_recv() {
                    if matches!(&ev, PortEvent::Urc(l) if l.bytes() == b"RDY") {
                        startup.rdy_seen = true;
                    }
                }
                return Ok(());
            }
            Ok(_) | Err(CommandError::Timeout { .. } | CommandError::ModuleRestarted { .. }) => {
                if saw_rdy(events, per_wait) {
                    startup.rdy_seen = true;
                }
            }
            Err(e) => return Err(command_error("AT", e)),
        }
    }
    Err(ClientError::Timeout {
        command: format!("AT (module sync, {attempts} attempts)"),
        waited: started.elapsed(),
    })
}

/// Start-up recovery: clients left open by an earlier host process are disconnected (if
/// connected) or closed, so their indexes can be opened again.
fn close_stale(shared: &Shared) -> Result<Vec<ClientIdx>, ClientError> {
    let open: Vec<ClientIdx> = shared
        .exec(Command::OpenRead, None)?
        .info
        .iter()
        .filter_map(
            |l| match Info::parse_for(CommandKind::QmtOpen, Form::Read, l.bytes()) {
                Some(Info::OpenRead { client_idx, .. }) => Some(client_idx),
                _ => None,
            },
        )
        .collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let connected: Vec<ClientIdx> = shared
        .exec(Command::ConnRead, None)?
        .info
        .iter()
        .filter_map(
            |l| match Info::parse_for(CommandKind::QmtConn, Form::Read, l.bytes()) {
                Some(Info::ConnRead {
                    client_idx,
                    state: ConnState::Connected | ConnState::Connecting,
                }) => Some(client_idx),
                _ => None,
            },
        )
        .collect();
    for &idx in &open {
        tracing::info!(
            client = idx.get(),
            "closing a client left open by an earlier host"
        );
        shared.lock().correlator.mark_open(idx);
        let result = if connected.contains(&idx) {
            disc_op(shared, idx).and_then(|h| h.wait())
        } else {
            close_op(shared, idx).and_then(|h| h.wait())
        };
        if let Err(e) = result {
            tracing::warn!(client = idx.get(), error = %e, "closing a stale client failed");
        }
    }
    // A DISC leaves the client closed on most firmware; close what is still open.
    let still: Vec<ClientIdx> = shared
        .exec(Command::OpenRead, None)?
        .info
        .iter()
        .filter_map(
            |l| match Info::parse_for(CommandKind::QmtOpen, Form::Read, l.bytes()) {
                Some(Info::OpenRead { client_idx, .. }) => Some(client_idx),
                _ => None,
            },
        )
        .collect();
    for &idx in &still {
        shared.lock().correlator.mark_open(idx);
        close_op(shared, idx).and_then(|h| h.wait())?;
    }
    Ok(open)
}
