//! The handles: [`Modem`] (bring-up, status, clients) and [`Client`] (one MQTT client's
//! requests and events). Cheap to clone; each request runs the core's `submit` under the lock
//! and signals the runner, and its future awaits the outcome.
//!
//! # Cancellation
//! A request's future may be dropped at any point. Before its first poll nothing was submitted.
//! After it, the request goes on in the core (the module cannot take a command back); its
//! outcome is consumed by the runner when it comes and dropped, and what the request held (its
//! packet id, its correlator entry) is released by the core as for any outcome. Nothing is lost
//! or left half-done: the count is [`Modem::discarded`].

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::Poll;

use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::waitqueue::WakerRegistration;
use qmt_client::sansio::{CoreStats, ModemStatus, OpId, Request, Stage, Startup};
use qmt_client::{ClientError, ClientOptions, Completion, Event, Qos, RecoveryPolicy};
use qmt_proto::codes::GrantedQos;
use qmt_proto::params::{ClientIdx, Topic};

use crate::shared::{OpSlot, Queue, Shared};
use crate::timer::Timer;

/// A handle on the module: start-up and bring-up, status, and its [`Client`]s.
pub struct Modem<M: RawMutex, T: Timer> {
    shared: Arc<Shared<M, T>>,
    recovery: RecoveryPolicy,
    capacity: usize,
}

impl<M: RawMutex, T: Timer> Clone for Modem<M, T> {
    fn clone(&self) -> Self {
        Modem {
            shared: Arc::clone(&self.shared),
            recovery: self.recovery,
            capacity: self.capacity,
        }
    }
}

impl<M: RawMutex, T: Timer> core::fmt::Debug for Modem<M, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Modem")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<M: RawMutex, T: Timer> Modem<M, T> {
    pub(crate) fn new(
        shared: Arc<Shared<M, T>>,
        recovery: RecoveryPolicy,
        capacity: usize,
    ) -> Self {
        Modem {
            shared,
            recovery,
            capacity: capacity.max(1),
        }
    }

    /// Waits for start-up (and bring-up, with [`CoreConfig::network`](qmt_client::sansio::CoreConfig::network)):
    /// the module answers, echo is off, errors are verbose, stale clients are closed, the bearer
    /// is up. Returns at once once known.
    ///
    /// # Errors
    /// The start-up failure ([`ClientError::NoAnswer`], a bring-up error), or
    /// [`ClientError::Closed`] when the runner ended first.
    pub async fn ready(&self) -> Result<Startup, ClientError> {
        poll_fn(|cx| {
            self.shared.with(|st| match &st.startup {
                Some(r) => Poll::Ready(r.clone()),
                None => {
                    st.startup_wakers.register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// The bring-up stage last entered (spec §10), for a progress line.
    pub fn stage(&self) -> Option<Stage> {
        self.shared.with(|st| st.stage.clone())
    }

    /// The module at a glance, asked now (identity, SIM, operator, registration, signal, PDP
    /// contexts, MQTT clients; spec §10).
    ///
    /// # Errors
    /// [`ClientError::Closed`]; [`ClientError::NotConnected`] before start-up synchronised.
    pub async fn status(&self) -> Result<ModemStatus, ClientError> {
        let op = self.shared.with(|st| {
            if st.closed {
                return Err(ClientError::Closed);
            }
            let op = st.core.query_status(self.shared.timer.now())?;
            register(st, op);
            st.kick();
            Ok(op)
        })?;
        match (OpWait {
            shared: &self.shared,
            op,
            finished: false,
        })
        .await?
        {
            Completion::Status(s) => Ok(*s),
            _ => Err(ClientError::Closed),
        }
    }

    /// Client `idx` (0–5) with `options`; its events queue for its handles' [`Client::recv`].
    /// The core delivers at most the configured capacity of messages not received yet, and stops
    /// reading the port while a client is full (back-pressure: nothing is dropped).
    ///
    /// # Errors
    /// [`ClientError::ClientInUse`] while a handle of that index lives;
    /// [`ClientError::Invalid`] for an index beyond 5; [`ClientError::Closed`].
    pub fn client(&self, idx: u8, options: ClientOptions) -> Result<Client<M, T>, ClientError> {
        let idx = ClientIdx::new(i64::from(idx))?;
        self.shared.with(|st| {
            if st.closed {
                return Err(ClientError::Closed);
            }
            st.core
                .add_client(idx, options, self.recovery, self.capacity)?;
            st.queues[usize::from(idx.get())] = Some(Queue::new());
            st.kick();
            Ok(())
        })?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                shared: Arc::clone(&self.shared),
                idx,
            }),
        })
    }

    /// The core's counters.
    pub fn stats(&self) -> CoreStats {
        self.shared.with(|st| st.core.stats())
    }

    /// How many outcomes of requests whose futures were dropped the runner has consumed.
    pub fn discarded(&self) -> u64 {
        self.shared.with(|st| st.discarded)
    }

    /// Requests submitted whose outcome has not been taken (or, abandoned, consumed) yet.
    pub fn pending(&self) -> usize {
        self.shared.with(|st| st.ops.len())
    }

    /// Whether the runner has ended (the port is gone).
    pub fn is_closed(&self) -> bool {
        self.shared.with(|st| st.closed)
    }
}

struct ClientInner<M: RawMutex, T: Timer> {
    shared: Arc<Shared<M, T>>,
    idx: ClientIdx,
}

impl<M: RawMutex, T: Timer> Drop for ClientInner<M, T> {
    fn drop(&mut self) {
        let now = self.shared.timer.now();
        let idx = self.idx;
        self.shared.with(|st| {
            st.queues[usize::from(idx.get())] = None;
            st.core.remove_client(idx, now);
            st.kick();
        });
    }
}

/// One MQTT client of the module (after rumqttc's `AsyncClient` and its event loop's events).
/// Cheap to clone; the client is removed from the core when the last clone is dropped. The
/// module-side client is left as it is (open, connected); a later client's connect on that index
/// closes it first (`+QMTOPEN: <idx>,2`, then `AT+QMTCLOSE`) and goes on.
pub struct Client<M: RawMutex, T: Timer> {
    inner: Arc<ClientInner<M, T>>,
}

impl<M: RawMutex, T: Timer> Clone for Client<M, T> {
    fn clone(&self) -> Self {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: RawMutex, T: Timer> core::fmt::Debug for Client<M, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The options (credentials) are not shown.
        f.debug_struct("Client")
            .field("client_idx", &self.inner.idx.get())
            .finish_non_exhaustive()
    }
}

impl<M: RawMutex, T: Timer> Client<M, T> {
    /// The client's index on the module (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.inner.idx
    }

    /// Whether the client's network connection is open.
    pub fn is_open(&self) -> bool {
        let idx = self.inner.idx;
        self.inner.shared.with(|st| st.core.is_open(idx))
    }

    /// Submits `request` now and awaits its completion.
    async fn request(&self, request: Request) -> Result<Completion, ClientError> {
        let shared = &self.inner.shared;
        let idx = self.inner.idx;
        let op = shared.with(|st| {
            if st.closed {
                return Err(ClientError::Closed);
            }
            let op = st.core.submit(idx, request, shared.timer.now())?;
            register(st, op);
            st.kick();
            Ok(op)
        })?;
        OpWait {
            shared,
            op,
            finished: false,
        }
        .await
    }

    /// Configures, opens (`AT+QMTOPEN`) and connects (`AT+QMTCONN`); with recovery on, a link
    /// lost meanwhile is recovered first.
    ///
    /// # Errors
    /// As the std `Client::connect`: [`ClientError::Refused`], [`ClientError::OpenFailed`],
    /// [`ClientError::Module`], [`ClientError::Timeout`].
    pub async fn connect(&self) -> Result<(), ClientError> {
        self.request(Request::Connect).await.map(|_| ())
    }

    /// Subscribes to up to five filters; the granted QoS per filter, in order.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a bad filter (before anything is written),
    /// [`ClientError::NotConnected`], [`ClientError::SendFailed`], [`ClientError::Timeout`].
    pub async fn subscribe(&self, filters: &[(&str, Qos)]) -> Result<Vec<GrantedQos>, ClientError> {
        let filters = filters
            .iter()
            .map(|&(t, q)| Ok((Topic::new(t)?, q)))
            .collect::<Result<Vec<_>, ClientError>>()?;
        match self.request(Request::Subscribe(filters)).await? {
            Completion::Subscribed { granted } => Ok(granted),
            _ => Ok(Vec::new()),
        }
    }

    /// Unsubscribes from up to five filters.
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe).
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<(), ClientError> {
        let topics = filters
            .iter()
            .map(|t| Topic::new(*t))
            .collect::<Result<Vec<_>, _>>()?;
        self.request(Request::Unsubscribe(topics)).await.map(|_| ())
    }

    /// Publishes `payload` and awaits `+QMTPUBEX`: sent (QoS 0) or acknowledged (QoS 1/2). The
    /// request is submitted at the first poll; dropping the future after it leaves the publish
    /// going (see the module docs, "Cancellation").
    ///
    /// # Errors
    /// [`ClientError::PayloadTooLarge`] and [`ClientError::Invalid`] before anything is written;
    /// [`ClientError::NotConnected`]; [`ClientError::PublishFailed`] with the cause.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: Qos,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.request(Request::Publish {
            topic: topic.to_string(),
            payload: payload.as_ref().to_vec(),
            qos,
            retain,
        })
        .await
        .map(|_| ())
    }

    /// Disconnects (`AT+QMTDISC`); recovery stops.
    ///
    /// # Errors
    /// [`ClientError::DiscFailed`], [`ClientError::Module`], [`ClientError::Timeout`].
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.request(Request::Disconnect).await.map(|_| ())
    }

    /// Closes the network connection (`AT+QMTCLOSE`; nothing when not open); recovery stops.
    ///
    /// # Errors
    /// [`ClientError::Module`], [`ClientError::Timeout`].
    pub async fn close(&self) -> Result<(), ClientError> {
        self.request(Request::Close).await.map(|_| ())
    }

    /// The next event (messages, link losses, recovery, failed publishes, …) in wire order;
    /// `None` once the runner has ended and the queue is empty. Taking a message gives the core
    /// credit for another.
    pub async fn recv(&self) -> Option<Event> {
        let shared = &self.inner.shared;
        let idx = self.inner.idx;
        poll_fn(|cx| {
            let now = shared.timer.now();
            shared.with(|st| {
                if let Some(ev) = st.recv(idx, now) {
                    return Poll::Ready(Some(ev));
                }
                if st.closed {
                    return Poll::Ready(None);
                }
                match st.queues[usize::from(idx.get())].as_mut() {
                    Some(q) => {
                        q.wakers.register(cx.waker());
                        Poll::Pending
                    }
                    None => Poll::Ready(None),
                }
            })
        })
        .await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        let shared = &self.inner.shared;
        let now = shared.timer.now();
        shared.with(|st| st.recv(self.inner.idx, now))
    }
}

fn register(st: &mut crate::shared::State, op: OpId) {
    st.ops.insert(op, OpSlot::Waiting(WakerRegistration::new()));
}

/// Awaits one request's outcome; dropped early, it leaves the outcome to the runner.
struct OpWait<'a, M: RawMutex, T> {
    shared: &'a Shared<M, T>,
    op: OpId,
    finished: bool,
}

impl<M: RawMutex, T> core::future::Future for OpWait<'_, M, T> {
    type Output = Result<Completion, ClientError>;

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> Poll<Self::Output> {
        let op = self.op;
        let r = self.shared.with(|st| match st.ops.get_mut(&op) {
            Some(OpSlot::Waiting(w)) => {
                if st.closed {
                    st.ops.remove(&op);
                    return Poll::Ready(Err(ClientError::Closed));
                }
                w.register(cx.waker());
                Poll::Pending
            }
            Some(OpSlot::Done(_)) => match st.ops.remove(&op) {
                Some(OpSlot::Done(r)) => Poll::Ready(r),
                _ => Poll::Ready(Err(ClientError::Closed)),
            },
            Some(OpSlot::Abandoned) | None => Poll::Ready(Err(ClientError::Closed)),
        });
        if r.is_ready() {
            self.finished = true;
        }
        r
    }
}

impl<M: RawMutex, T> Drop for OpWait<'_, M, T> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let op = self.op;
        self.shared.with(|st| match st.ops.remove(&op) {
            Some(OpSlot::Waiting(_)) if !st.closed => {
                st.ops.insert(op, OpSlot::Abandoned);
            }
            Some(OpSlot::Done(_)) => st.discarded += 1,
            _ => {}
        });
    }
}
