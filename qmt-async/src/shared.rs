//! What the [`Runner`](crate::Runner) and the handles share: the client core and the waiters of
//! its outcomes, behind one embassy-sync blocking mutex over the `RawMutex` the user picks.
//!
//! The core lives here, not in the runner: a handle's request runs `submit` under the lock on the
//! caller's task (refusals come back at once, as in the std driver) and signals the runner, which
//! writes the bytes. Everything the core gives out (`poll_event`) is routed by the runner only,
//! so events reach the queues in wire order.

use alloc::collections::{BTreeMap, VecDeque};
use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::waitqueue::{MultiWakerRegistration, WakerRegistration};
use qmt_client::sansio::{CoreEvent, ModemCore, OpId, Stage, Startup};
use qmt_client::{ClientError, Completion, Event, LagSource};
use qmt_proto::params::ClientIdx;
use qmt_transport::time::Instant;

/// At most this many events other than messages wait in one client's queue (link losses,
/// recovery, failed publishes); beyond it the oldest is dropped and counted in an
/// [`Event::Lagged`] (as the std driver's `CONTROL_LIMIT`). Messages are bounded by the core's
/// consumer credit instead and never dropped.
pub(crate) const CONTROL_LIMIT: usize = 64;

/// Tasks that may wait on one thing at once (more are woken early, harmlessly).
const WAITERS: usize = 4;

/// The outcome of one request, as its future sees it.
pub(crate) enum OpSlot {
    /// Not ended; the future's waker.
    Waiting(WakerRegistration),
    /// Ended; not taken yet.
    Done(Result<Completion, ClientError>),
    /// Its future was dropped first: the runner consumes the outcome when it comes.
    Abandoned,
}

/// One client's events for its handles.
pub(crate) struct Queue {
    pub(crate) events: VecDeque<Event>,
    /// Non-message events in `events`.
    controls: usize,
    /// Non-message events dropped since the last receive.
    lagged: u64,
    pub(crate) wakers: MultiWakerRegistration<WAITERS>,
}

impl Queue {
    pub(crate) fn new() -> Queue {
        Queue {
            events: VecDeque::new(),
            controls: 0,
            lagged: 0,
            wakers: MultiWakerRegistration::new(),
        }
    }

    fn push(&mut self, event: Event) {
        if !matches!(event, Event::Message(_)) {
            let oldest = self
                .events
                .iter()
                .position(|e| !matches!(e, Event::Message(_)));
            if let (true, Some(at)) = (self.controls >= CONTROL_LIMIT, oldest) {
                self.events.remove(at);
                self.controls -= 1;
                self.lagged += 1;
            }
            self.controls += 1;
        }
        self.events.push_back(event);
        self.wakers.wake();
    }

    /// The next event for a handle: a [`Event::Lagged`] first when control events were dropped.
    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.lagged > 0 {
            let dropped = core::mem::take(&mut self.lagged);
            return Some(Event::Lagged {
                dropped,
                source: LagSource::Connection,
            });
        }
        let ev = self.events.pop_front()?;
        if !matches!(ev, Event::Message(_)) {
            self.controls -= 1;
        }
        Some(ev)
    }
}

/// Everything under the lock.
pub(crate) struct State {
    pub(crate) core: ModemCore,
    /// The runner ended (the port failed); the core is closed.
    pub(crate) closed: bool,
    /// Start-up's outcome, once known.
    pub(crate) startup: Option<Result<Startup, ClientError>>,
    pub(crate) startup_wakers: MultiWakerRegistration<WAITERS>,
    /// The bring-up stage last entered.
    pub(crate) stage: Option<Stage>,
    pub(crate) ops: BTreeMap<OpId, OpSlot>,
    pub(crate) queues: [Option<Queue>; 6],
    /// A handle asked the runner to look at the core (new bytes to write, a deadline, credit).
    kicked: bool,
    drive_waker: WakerRegistration,
    /// The read half waits for the core to want input again (back-pressure).
    read_waker: WakerRegistration,
    /// Outcomes of requests whose futures were dropped, consumed by the runner.
    pub(crate) discarded: u64,
}

/// The shared state and the clock, behind an `Arc` held by the runner and every handle.
pub(crate) struct Shared<M: RawMutex, T> {
    pub(crate) timer: T,
    state: Mutex<M, RefCell<State>>,
}

impl<M: RawMutex, T> Shared<M, T> {
    pub(crate) fn new(core: ModemCore, timer: T) -> Shared<M, T> {
        Shared {
            timer,
            state: Mutex::new(RefCell::new(State {
                core,
                closed: false,
                startup: None,
                startup_wakers: MultiWakerRegistration::new(),
                stage: None,
                ops: BTreeMap::new(),
                queues: Default::default(),
                kicked: false,
                drive_waker: WakerRegistration::new(),
                read_waker: WakerRegistration::new(),
                discarded: 0,
            })),
        }
    }

    /// Runs `f` on the state under the lock. `f` must not call `with` again.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.lock(|c| f(&mut c.borrow_mut()))
    }
}

impl State {
    /// Asks the runner to look at the core again (and the read half, for credit given back).
    pub(crate) fn kick(&mut self) {
        self.kicked = true;
        self.drive_waker.wake();
        self.read_waker.wake();
    }

    /// The runner's wait for a kick: true (and cleared) if one came, else `waker` is registered.
    pub(crate) fn take_kick(&mut self, waker: &core::task::Waker) -> bool {
        if core::mem::take(&mut self.kicked) {
            return true;
        }
        self.drive_waker.register(waker);
        false
    }

    /// The read half's wait for the core to want input: true if it does, else `waker` is
    /// registered.
    pub(crate) fn wants_input(&mut self, waker: &core::task::Waker) -> bool {
        if self.closed || self.core.wants_input() {
            return true;
        }
        self.read_waker.register(waker);
        false
    }

    /// Routes every event the core has to its waiter or queue.
    pub(crate) fn route_events(&mut self, now: Instant) {
        while let Some(ev) = self.core.poll_event() {
            self.route(ev, now);
        }
        if self.core.wants_input() {
            self.read_waker.wake();
        }
    }

    fn route(&mut self, ev: CoreEvent, now: Instant) {
        match ev {
            CoreEvent::Ready(s) => {
                self.startup = Some(Ok(s));
                self.startup_wakers.wake();
            }
            CoreEvent::StartupFailed(e) => {
                self.startup = Some(Err(e));
                self.startup_wakers.wake();
            }
            CoreEvent::Stage(stage) => {
                // A repair after start-up is every client's business (as the std driver).
                if self.startup.is_some() {
                    for q in self.queues.iter_mut().flatten() {
                        q.push(Event::Network(stage.clone()));
                    }
                }
                self.stage = Some(stage);
                self.startup_wakers.wake();
            }
            CoreEvent::NetworkFailed(e) => {
                crate::log::warning!("qmt-async: the network could not be repaired");
                for q in self.queues.iter_mut().flatten() {
                    q.push(Event::NetworkFailed(e.clone()));
                }
            }
            CoreEvent::Port(_) => {
                // The core has set the module's line (`CoreConfig::serial`); an embedded-io port
                // has no common way to follow, so the firmware configures its UART to match.
                crate::log::warning!(
                    "qmt-async: the module's serial line changed; the host's UART must follow"
                );
            }
            CoreEvent::Done { op, result } => match self.ops.remove(&op) {
                Some(OpSlot::Waiting(mut w)) => {
                    self.ops.insert(op, OpSlot::Done(result));
                    w.wake();
                }
                Some(OpSlot::Abandoned) => {
                    // Its future was dropped: the outcome is consumed here, the core has already
                    // released what the request held (packet id, correlator entry).
                    self.discarded += 1;
                    crate::log::debug!(
                        "qmt-async: an abandoned request ended; its result is dropped"
                    );
                }
                Some(done @ OpSlot::Done(_)) => {
                    self.ops.insert(op, done);
                }
                None => {}
            },
            CoreEvent::Client { client_idx, event } => {
                match self.queues[usize::from(client_idx.get())].as_mut() {
                    Some(q) => q.push(event),
                    None => {
                        if matches!(event, Event::Message(_)) {
                            // Nobody listens: consumed as it arrives.
                            self.core.consumed(client_idx, 1, now);
                        }
                    }
                }
            }
        }
    }

    /// The port is gone: the core closes (every request ends), receivers end after their queue.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.core.close(now);
        self.route_events(now);
        if self.startup.is_none() {
            self.startup = Some(Err(ClientError::Closed));
        }
        self.startup_wakers.wake();
        for slot in self.ops.values_mut() {
            if let OpSlot::Waiting(w) = slot {
                w.wake();
            }
        }
        for q in self.queues.iter_mut().flatten() {
            q.wakers.wake();
        }
    }

    /// A handle's receive: the next event, crediting the core for a message.
    pub(crate) fn recv(&mut self, idx: ClientIdx, now: Instant) -> Option<Event> {
        let ev = self.queues[usize::from(idx.get())].as_mut()?.pop()?;
        if matches!(ev, Event::Message(_)) {
            self.core.consumed(idx, 1, now);
            self.kick();
        }
        Some(ev)
    }
}
