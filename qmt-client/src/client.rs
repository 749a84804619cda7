//! [`Client`] (operations, blocking and non-blocking), [`Connection`] (incoming [`Event`]s) and
//! [`OpHandle`] (the token of one operation in flight), after rumqttc's sync `Client` +
//! `Connection`.

use std::borrow::ToOwned;
use std::fmt;
use std::marker::PhantomData;
use std::string::String;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use std::vec::Vec;

use qmt_proto::codes::GrantedQos;
use qmt_proto::params::{ClientIdx, Qos, Topic};

use crate::correlate::Completion;
use crate::driver::{ModemShared, Owner};
use crate::error::ClientError;
use crate::event::Event;
use crate::options::ClientOptions;
use crate::queue::{EventQueue, Take};
use crate::sansio::Request;

type Outcome = Result<Completion, ClientError>;

/// One operation in flight: resolved by its result line (`+QMTPUBEX: <idx>,<msgid>,…`,
/// `+QMTSUB: …`), its failure, or its deadline — every handle resolves.
pub struct OpHandle<T> {
    rx: mpsc::Receiver<Outcome>,
    what: String,
    map: fn(Completion) -> Result<T, ClientError>,
    taken: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for OpHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpHandle")
            .field("waits_for", &self.what)
            .finish()
    }
}

impl<T> OpHandle<T> {
    pub(crate) fn new(
        rx: mpsc::Receiver<Outcome>,
        what: String,
        map: fn(Completion) -> Result<T, ClientError>,
    ) -> OpHandle<T> {
        OpHandle {
            rx,
            what,
            map,
            taken: false,
            _t: PhantomData,
        }
    }

    /// What the handle waits for (`AT+QMTPUBEX result (client 0, msgid 3)`).
    pub fn waits_for(&self) -> &str {
        &self.what
    }

    fn finish(&mut self, r: Result<Outcome, ()>) -> Result<T, ClientError> {
        self.taken = true;
        match r {
            Ok(Ok(c)) => (self.map)(c),
            Ok(Err(e)) => Err(e),
            // The modem went away before the result.
            Err(()) => Err(ClientError::Closed),
        }
    }

    /// Waits for the outcome. Bounded by the operation's deadline (the spec's maximum response
    /// time plus a margin), after which it fails with [`ClientError::Timeout`] (publishes with
    /// [`ClientError::PublishFailed`]).
    ///
    /// # Errors
    /// The operation's error.
    pub fn wait(mut self) -> Result<T, ClientError> {
        if self.taken {
            return Err(ClientError::Closed);
        }
        let r = self.rx.recv().map_err(|_| ());
        self.finish(r)
    }

    /// The outcome if it comes within `timeout`; `None` if not yet (or already taken).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T, ClientError>> {
        if self.taken {
            return None;
        }
        let r = match self.rx.recv_timeout(timeout) {
            Ok(o) => Ok(o),
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => Err(()),
        };
        Some(self.finish(r))
    }

    /// The outcome if it is there; `None` if not yet (or already taken).
    pub fn try_wait(&mut self) -> Option<Result<T, ClientError>> {
        if self.taken {
            return None;
        }
        let r = match self.rx.try_recv() {
            Ok(o) => Ok(o),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(()),
        };
        Some(self.finish(r))
    }
}

/// A handle to one MQTT client of a [`Modem`](crate::Modem): `Clone + Send + Sync`, usable from
/// several threads at once. Every operation exists blocking (`publish`) and non-blocking
/// (`publish_request`, returning an [`OpHandle`] at once).
#[derive(Clone)]
pub struct Client {
    owner: Arc<Owner>,
    idx: ClientIdx,
    options: Arc<ClientOptions>,
    _alive: Arc<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Options' Debug redacts secrets.
        f.debug_struct("Client")
            .field("client_idx", &self.idx)
            .field("options", &self.options)
            .finish()
    }
}

impl Client {
    pub(crate) fn new(
        owner: Arc<Owner>,
        idx: ClientIdx,
        options: ClientOptions,
        alive: Arc<()>,
    ) -> Client {
        Client {
            owner,
            idx,
            options: Arc::new(options),
            _alive: alive,
        }
    }

    /// Runs `request` in the modem's core on this thread (its bytes are written at once) and
    /// returns a handle on its outcome.
    fn request<T>(
        &self,
        request: Request,
        what: String,
        map: fn(Completion) -> Result<T, ClientError>,
    ) -> Result<OpHandle<T>, ClientError> {
        let shared = &self.owner.shared;
        let mut inner = shared.lock();
        if inner.closed {
            return Err(ClientError::Closed);
        }
        let op = inner.core.submit(self.idx, request, shared.now())?;
        let what = inner.core.waits_for(op).unwrap_or(what);
        let rx = inner.wait_for(op);
        shared.after_request(&mut inner);
        Ok(OpHandle::new(rx, what, map))
    }

    fn what(&self, op: &str) -> String {
        format!("{op} result (client {})", self.idx)
    }

    /// The client's index on the module (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.idx
    }

    /// The client's options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Whether the client's network connection is open (from `+QMTOPEN: <idx>,0` until a
    /// close, disconnect, `+QMTSTAT` or `RDY`).
    pub fn is_open(&self) -> bool {
        self.owner.shared.lock().core.is_open(self.idx)
    }

    /// Configures (TLS provisioning with verified uploads, then every `AT+QMTCFG` of the
    /// options), opens (`AT+QMTOPEN` → `+QMTOPEN`) and connects (`AT+QMTCONN` → CONNACK). From
    /// then on a lost link is recovered if the reconnect policy says so; with recovery on, a link
    /// lost during the connect itself is recovered too, and `connect` returns when recovery
    /// restored the connection (or gave up).
    ///
    /// # Errors
    /// [`ClientError::Refused`] with the CONNACK code; [`ClientError::OpenFailed`];
    /// [`ClientError::Module`] with the `+CME ERROR`; [`ClientError::Timeout`]; upload errors.
    pub fn connect(&self) -> Result<(), ClientError> {
        self.connect_request()?.wait()
    }

    /// Starts [`connect`](Self::connect) and returns at once; the handle resolves when the client
    /// is connected (the sequence runs in the modem's core, no thread is started).
    ///
    /// # Errors
    /// What is known before anything is written (a connect already running, the modem closed).
    pub fn connect_request(&self) -> Result<OpHandle<()>, ClientError> {
        self.request(Request::Connect, self.what("AT+QMTCONN"), |_| Ok(()))
    }

    /// Subscribes to up to five filters; returns the granted QoS per filter, in order
    /// ([`GrantedQos::Failure`] where the broker refused one).
    ///
    /// # Errors
    /// [`ClientError::NotConnected`], [`ClientError::SendFailed`], [`ClientError::Timeout`],
    /// [`ClientError::Invalid`] for a bad filter or more than five.
    pub fn subscribe(&self, filters: &[(&str, Qos)]) -> Result<Vec<GrantedQos>, ClientError> {
        self.subscribe_request(filters)?.wait()
    }

    /// Submits `AT+QMTSUB` and returns at once; the handle resolves with `+QMTSUB`. With recovery
    /// on, a link lost before the result is recovered and the handle resolves with the
    /// re-subscription.
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe), for what is known before anything is written.
    pub fn subscribe_request(
        &self,
        filters: &[(&str, Qos)],
    ) -> Result<OpHandle<Vec<GrantedQos>>, ClientError> {
        let filters = filters
            .iter()
            .map(|&(t, q)| Ok((Topic::new(t)?, q)))
            .collect::<Result<Vec<_>, ClientError>>()?;
        self.request(
            Request::Subscribe(filters),
            self.what("AT+QMTSUB"),
            |c| match c {
                Completion::Subscribed { granted } => Ok(granted),
                _ => Ok(Vec::new()),
            },
        )
    }

    /// Unsubscribes from up to five filters.
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe).
    pub fn unsubscribe(&self, filters: &[&str]) -> Result<(), ClientError> {
        self.unsubscribe_request(filters)?.wait()
    }

    /// Submits `AT+QMTUNS` and returns at once; the handle resolves with `+QMTUNS`.
    ///
    /// # Errors
    /// As [`unsubscribe`](Self::unsubscribe), for what is known before anything is written.
    pub fn unsubscribe_request(&self, filters: &[&str]) -> Result<OpHandle<()>, ClientError> {
        let topics = filters
            .iter()
            .map(|t| Topic::new(*t))
            .collect::<Result<Vec<_>, _>>()?;
        self.request(Request::Unsubscribe(topics), self.what("AT+QMTUNS"), |_| {
            Ok(())
        })
    }

    /// Publishes `payload` (any bytes, in text or hex send mode) and waits for `+QMTPUBEX`:
    /// sent (QoS 0) or acknowledged (PUBACK / PUBCOMP).
    ///
    /// # Errors
    /// [`ClientError::PayloadTooLarge`] before anything is written;
    /// [`ClientError::PublishFailed`] with the cause (also delivered as
    /// [`Event::PublishFailed`]); [`ClientError::NotConnected`].
    pub fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: Qos,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.publish_request(topic, payload, qos, retain)?.wait()
    }

    /// Submits `AT+QMTPUBEX` (msgid allocated per client) and returns at once; the handle
    /// resolves with the matching `+QMTPUBEX: <idx>,<msgid>,…`.
    ///
    /// # Errors
    /// What is known before anything is written (size, topic, not connected, port full).
    pub fn publish_request(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: Qos,
        retain: bool,
    ) -> Result<OpHandle<()>, ClientError> {
        let payload = payload.as_ref();
        let max = self.options.max_payload();
        if payload.len() > max {
            return Err(ClientError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        self.request(
            Request::Publish {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
                qos,
                retain,
            },
            self.what("AT+QMTPUBEX"),
            |_| Ok(()),
        )
    }

    /// Disconnects (`AT+QMTDISC` → `+QMTDISC`): the module sends DISCONNECT and closes the
    /// connection. Recovery stops and remembered subscriptions are forgotten.
    ///
    /// # Errors
    /// [`ClientError::DiscFailed`], [`ClientError::Module`], [`ClientError::Timeout`].
    pub fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_request()?.wait()
    }

    /// Submits `AT+QMTDISC` and returns at once.
    ///
    /// # Errors
    /// As [`disconnect`](Self::disconnect), for what is known before anything is written.
    pub fn disconnect_request(&self) -> Result<OpHandle<()>, ClientError> {
        self.request(Request::Disconnect, self.what("AT+QMTDISC"), |_| Ok(()))
    }

    /// Closes the network connection (`AT+QMTCLOSE` → `+QMTCLOSE`). A client that is not open
    /// (never opened, or disconnected: `AT+QMTDISC` already closed it) is left as it is.
    ///
    /// # Errors
    /// [`ClientError::CloseFailed`], [`ClientError::Module`], [`ClientError::Timeout`].
    pub fn close(&self) -> Result<(), ClientError> {
        self.close_request()?.wait()
    }

    /// Submits `AT+QMTCLOSE` (if the client is open) and returns at once.
    ///
    /// # Errors
    /// As [`close`](Self::close), for what is known before anything is written.
    pub fn close_request(&self) -> Result<OpHandle<()>, ClientError> {
        self.request(Request::Close, self.what("AT+QMTCLOSE"), |_| Ok(()))
    }
}

/// The incoming [`Event`]s of one client, in order: messages, link loss, keep-alive failure,
/// module restart, recovery, failed publishes, retransmissions, lost events. Iterating blocks; the
/// iterator ends when the modem is gone.
///
/// The queue behind it is bounded ([`ModemConfig::event_capacity`] messages): in buffered receive
/// mode a slow consumer holds the module's slots (back-pressure, nothing lost), in inline mode the
/// oldest messages are dropped and counted in an [`Event::Lagged`]. See [`crate::queue`].
///
/// [`ModemConfig::event_capacity`]: crate::ModemConfig::event_capacity
pub struct Connection {
    queue: Arc<EventQueue>,
    idx: ClientIdx,
    shared: Weak<ModemShared>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("client_idx", &self.idx)
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.queue.receiver_dropped();
        // Reads held back for this consumer may go on (their messages are discarded).
        if let Some(shared) = self.shared.upgrade() {
            shared.resume();
        }
    }
}

impl Connection {
    pub(crate) fn new(
        queue: Arc<EventQueue>,
        idx: ClientIdx,
        shared: Weak<ModemShared>,
    ) -> Connection {
        Connection { queue, idx, shared }
    }

    fn took(&self, take: Take) -> Result<Event, Take> {
        match take {
            Take::Event(event, resume) => {
                if resume {
                    if let Some(shared) = self.shared.upgrade() {
                        shared.resume();
                    }
                }
                Ok(event)
            }
            other => Err(other),
        }
    }

    /// The next event, waiting; `None` when the modem is gone.
    pub fn recv(&self) -> Option<Event> {
        self.took(self.queue.take(None)).ok()
    }

    /// The next event within `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when the modem is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        self.took(self.queue.take(deadline)).map_err(|t| match t {
            Take::Closed => RecvTimeoutError::Disconnected,
            _ => RecvTimeoutError::Timeout,
        })
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` when the modem is gone.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.took(self.queue.try_take()).map_err(|t| match t {
            Take::Closed => TryRecvError::Disconnected,
            _ => TryRecvError::Empty,
        })
    }

    /// Iterates without blocking over the events waiting now.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    /// Events waiting to be received.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events this connection's queue dropped so far (the running total of its
    /// [`Event::Lagged`] with [`LagSource::Connection`]).
    ///
    /// [`LagSource::Connection`]: crate::event::LagSource::Connection
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}

impl Iterator for Connection {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}

impl Iterator for &Connection {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}
