//! [`Modem`]: one module on one serial port, its [`ModemCore`] driven by a [`Reactor`] thread
//! (owned, or shared by many modems), with up to six [`Client`]s. No thread per modem.

use std::borrow::ToOwned;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use std::vec::Vec;

use qmt_proto::params::ClientIdx;
use qmt_transport::reactor::{PortConfig, TraceDir, open_serial};

use crate::client::{Client, Connection};
use crate::driver::{Owner, Reactor, lock};
use crate::error::ClientError;
use crate::options::ClientOptions;
use crate::queue::{DEFAULT_CAPACITY, EventQueue};
use crate::recovery::RecoveryPolicy;
use crate::sansio::{
    CoreConfig, CoreStats, ModemCore, ModemStatus, NetworkConfig, Overflow, SerialSetup, Stage,
    Startup,
};

/// How to open and run a [`Modem`].
#[derive(Clone, Debug)]
pub struct ModemConfig {
    /// The serial port's settings (baud rate, exclusivity, link deadlines and command queue,
    /// write buffer, a trace hook). `urc_capacity` is not used here: the client core types every
    /// line itself (it is the link-level reactor's setting).
    pub port: PortConfig,
    /// How long start-up probes a module that does not answer `AT` before it gives up with
    /// [`ClientError::NoAnswer`] (spec §10.1: at least 20 s; `RDY` was seen up to ~13 s after
    /// power-on).
    pub boot_wait: Duration,
    /// The time between two `AT` probes (spec §10.1: about 500 ms).
    pub probe_interval: Duration,
    /// Start-up recovery: disconnect and close the clients an earlier host process left open
    /// (found with `AT+QMTOPEN?` / `AT+QMTCONN?`), so their indexes are not "occupied".
    pub close_stale: bool,
    /// The reconnect policy of clients created with [`Modem::client`] (off by default).
    pub recovery: RecoveryPolicy,
    /// Bring-up from power-on to a data bearer before MQTT (spec §10: SIM, PIN, registration,
    /// APN, PDP context), and the recovery ladder that repairs a lost bearer. `None` (the default)
    /// assumes the module is already registered with an active context.
    pub network: Option<NetworkConfig>,
    /// How many received messages each client's [`Connection`] holds for its consumer (at least
    /// 1; default [`DEFAULT_CAPACITY`]).
    pub event_capacity: usize,
    /// What happens when a consumer falls behind: stop reading the port (the default, nothing is
    /// lost) or drop the oldest message (a UART without flow control). See [`crate::Overflow`].
    pub overflow: Overflow,
    /// The serial line's flow control and rate, set on the module during start-up and followed
    /// by the host's port (spec §10.7; nothing is changed by default).
    pub serial: SerialSetup,
}

impl Default for ModemConfig {
    fn default() -> Self {
        ModemConfig {
            port: PortConfig::default(),
            boot_wait: Duration::from_secs(20),
            probe_interval: Duration::from_millis(500),
            close_stale: true,
            recovery: RecoveryPolicy::disabled(),
            network: None,
            event_capacity: DEFAULT_CAPACITY,
            overflow: Overflow::BackPressure,
            serial: SerialSetup::default(),
        }
    }
}

/// A [`Modem`] whose start-up runs (from [`Modem::open_request`]). Dropping it closes the port.
pub struct Opening {
    owner: Arc<Owner>,
    config: ModemConfig,
    ready: mpsc::Receiver<Result<Startup, ClientError>>,
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opening")
            .field("port", &self.owner.shared.name)
            .finish()
    }
}

impl Opening {
    fn finish(&self, r: Result<Startup, ClientError>) -> Result<Modem, ClientError> {
        r.map(|startup| Modem {
            owner: Arc::clone(&self.owner),
            config: self.config.clone(),
            startup,
        })
    }

    /// The bring-up stage last entered (spec §10), for a progress line: `None` before the first
    /// one and without bring-up.
    pub fn stage(&self) -> Option<Stage> {
        lock(&self.owner.shared.stages).last().cloned()
    }

    /// Every bring-up stage entered so far, in order (a long registration wait keeps its first
    /// and latest reports).
    pub fn stages(&self) -> Vec<Stage> {
        lock(&self.owner.shared.stages).clone()
    }

    /// Waits for start-up (bring-up included); bounded by [`ModemConfig::boot_wait`], the
    /// start-up commands' deadlines and [`NetworkConfig`]'s waits.
    ///
    /// # Errors
    /// As [`Modem::open`].
    pub fn wait(self) -> Result<Modem, ClientError> {
        let r = self.ready.recv().unwrap_or(Err(ClientError::Closed));
        self.finish(r)
    }

    /// The modem if start-up ended within `timeout`; `None` if it goes on.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<Modem, ClientError>> {
        match self.ready.recv_timeout(timeout) {
            Ok(r) => Some(self.finish(r)),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(ClientError::Closed)),
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
            .field("port", &self.owner.shared.name)
            .field("startup", &self.startup)
            .finish()
    }
}

impl Modem {
    /// Opens the module on `path` with a reactor of its own, and runs start-up: reads what the
    /// module said before (a power-up `RDY`), probes with `AT` about every 500 ms until it
    /// answers (at most [`ModemConfig::boot_wait`]), sends `ATE0` and `AT+CMEE=2`, and (with
    /// [`ModemConfig::close_stale`]) disconnects and closes clients an earlier host process left
    /// open.
    ///
    /// # Errors
    /// [`ClientError::Port`] when the port cannot be opened; [`ClientError::NoAnswer`] when the
    /// module never answers `AT` (it names the port, what was heard, and what to check); the
    /// errors of the start-up commands.
    pub fn open(path: impl AsRef<Path>, config: ModemConfig) -> Result<Modem, ClientError> {
        Modem::open_request(path, config)?.wait()
    }

    /// Like [`open`](Self::open), without waiting for start-up: the port is open and start-up
    /// runs on the reactor thread; [`Opening`] resolves to the modem (so a program can show
    /// progress on its own thread, without a helper thread).
    ///
    /// # Errors
    /// [`ClientError::Port`] when the port cannot be opened.
    pub fn open_request(
        path: impl AsRef<Path>,
        config: ModemConfig,
    ) -> Result<Opening, ClientError> {
        let reactor = Reactor::start().map_err(|e| ClientError::Port {
            reason: format!("cannot start the reactor: {e}"),
        })?;
        let opening = Modem::start(&reactor, path.as_ref(), config)?;
        *lock(&opening.owner.reactor) = Some(reactor);
        Ok(opening)
    }

    /// Like [`open`](Self::open), on a reactor shared with other modems (one thread serves them
    /// all).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn with_reactor(
        reactor: &Reactor,
        path: impl AsRef<Path>,
        config: ModemConfig,
    ) -> Result<Modem, ClientError> {
        Modem::start(reactor, path.as_ref(), config)?.wait()
    }

    fn start(reactor: &Reactor, path: &Path, config: ModemConfig) -> Result<Opening, ClientError> {
        let name = path.to_string_lossy().into_owned();
        let mut stream = open_serial(&name, &config.port).map_err(|e| ClientError::Port {
            reason: e.to_string(),
        })?;
        let now = reactor.now();
        let mut core = ModemCore::new(
            CoreConfig {
                link: config.port.link.clone(),
                boot_wait: config.boot_wait,
                probe_interval: config.probe_interval,
                close_stale: config.close_stale,
                port_name: name.clone(),
                network: config.network.clone(),
                serial: config.serial,
            },
            now,
        );
        core.set_overflow(config.overflow);
        // What the module said before this host opened the port (a power-up `RDY` the kernel
        // kept) is history: fed before start-up sends anything, so it cannot be taken for a
        // restart during the first command.
        let mut buf = [0u8; 4096];
        let mut early = 0usize;
        while early < 64 * 1024 {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    early += n;
                    if let Some(t) = &config.port.trace {
                        (t.0)(TraceDir::Module, &buf[..n]);
                    }
                    core.handle_input(&buf[..n], now);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // WouldBlock (nothing more), or an error the reactor's first read will see.
                Err(_) => break,
            }
        }
        let (shared, ready) = reactor.add(
            name,
            stream,
            core,
            config.port.trace.clone(),
            config.port.write_buffer,
        )?;
        let owner = Arc::new(Owner {
            shared,
            reactor: Mutex::new(None),
            alive: Mutex::new(Default::default()),
        });
        Ok(Opening {
            owner,
            config,
            ready,
        })
    }

    /// What start-up found and did.
    pub fn startup(&self) -> &Startup {
        &self.startup
    }

    /// The port's path.
    pub fn path(&self) -> &str {
        &self.owner.shared.name
    }

    /// The module at a glance, asked now: identity, SIM, operator and access technology,
    /// registration per domain, signal, PDP contexts and MQTT clients (spec §10). Works on a
    /// module that is not registered (fields it cannot answer stay empty). Blocks for the
    /// queries' answers (a few hundred milliseconds; `AT+COPS?` may take longer).
    ///
    /// # Errors
    /// [`ClientError::Closed`] when the port is gone.
    pub fn status(&self) -> Result<ModemStatus, ClientError> {
        let shared = &self.owner.shared;
        let rx = {
            let mut inner = shared.lock();
            if inner.closed {
                return Err(ClientError::Closed);
            }
            let op = inner.core.query_status(shared.now())?;
            let rx = inner.wait_for(op);
            shared.after_request(&mut inner);
            rx
        };
        match rx.recv() {
            Ok(Ok(crate::Completion::Status(status))) => Ok(*status),
            Ok(Ok(_)) => Err(ClientError::Closed),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Runs one file request through the core and waits for its completion.
    fn file_request(
        &self,
        request: crate::sansio::FileRequest,
    ) -> Result<crate::Completion, ClientError> {
        let shared = &self.owner.shared;
        let rx = {
            let mut inner = shared.lock();
            if inner.closed {
                return Err(ClientError::Closed);
            }
            let op = inner.core.file_request(request, shared.now())?;
            let rx = inner.wait_for(op);
            shared.after_request(&mut inner);
            rx
        };
        match rx.recv() {
            Ok(r) => r,
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// The module's files (`AT+QFLST="*"`, spec §10.8): `(name, size)` as listed, e.g.
    /// `("UFS:cacert.pem", 1758)`.
    ///
    /// # Errors
    /// [`ClientError::Module`] when the module refuses; [`ClientError::Closed`].
    pub fn files(&self) -> Result<Vec<(String, u64)>, ClientError> {
        match self.file_request(crate::sansio::FileRequest::List)? {
            crate::Completion::Files(files) => Ok(files),
            _ => Err(ClientError::Closed),
        }
    }

    /// Deletes a file (`AT+QFDEL="<name>"`; `UFS:` added when the name has no drive).
    ///
    /// # Errors
    /// [`ClientError::Module`] (`+CME ERROR: 405` when there is no such file);
    /// [`ClientError::Invalid`] for a bad name.
    pub fn delete_file(&self, name: &str) -> Result<(), ClientError> {
        self.file_request(crate::sansio::FileRequest::Delete(name.to_owned()))
            .map(|_| ())
    }

    /// Uploads `data` as `name` (`AT+QFUPL`; `UFS:` added when the name has no drive) and
    /// checks what the module stored (its `+QFUPL` checksum, or the listed size when it does
    /// not answer). Returns the size stored. An existing name is refused by many firmware
    /// (`+CME ERROR: 407`): delete it first.
    ///
    /// # Errors
    /// [`ClientError::Module`], [`ClientError::ChecksumMismatch`],
    /// [`ClientError::UploadIncomplete`], [`ClientError::Invalid`].
    pub fn upload_file(&self, name: &str, data: Vec<u8>) -> Result<u64, ClientError> {
        match self.file_request(crate::sansio::FileRequest::Upload {
            name: name.to_owned(),
            data,
        })? {
            crate::Completion::FileUploaded { size } => Ok(size),
            _ => Err(ClientError::Closed),
        }
    }

    /// What bring-up learnt and the network side has seen since (registration changes, a lost
    /// bearer); empty without bring-up. [`status`](Self::status) asks the module afresh.
    pub fn network(&self) -> ModemStatus {
        self.owner.shared.lock().core.network().clone()
    }

    /// Counters of the modem's core: bytes, lines, parses, messages.
    pub fn stats(&self) -> CoreStats {
        self.owner.shared.lock().core.stats()
    }

    /// A client on index `client_idx` (0–5, checked like every number the API takes: out of
    /// range is [`ClientError::Invalid`]) with `options`, and its event stream. The client is
    /// not connected yet: call [`Client::connect`]. Recovery follows [`ModemConfig::recovery`].
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for an index out of range; [`ClientError::ClientInUse`] while
    /// another live [`Client`] has the index; [`ClientError::Closed`] when the port closed.
    pub fn client(
        &self,
        client_idx: i64,
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
        client_idx: i64,
        options: ClientOptions,
        policy: RecoveryPolicy,
    ) -> Result<(Client, Connection), ClientError> {
        let idx = ClientIdx::new(client_idx)?;
        let shared = &self.owner.shared;
        let mut alive = lock(&self.owner.alive);
        let mut inner = shared.lock();
        if inner.closed {
            return Err(ClientError::Closed);
        }
        let at = usize::from(idx.get());
        if alive[at].upgrade().is_some() {
            return Err(ClientError::ClientInUse { client_idx: idx });
        }
        let now = shared.now();
        // The index's earlier client (its handles are gone) makes way.
        inner.core.remove_client(idx, now);
        inner
            .core
            .add_client(idx, options.clone(), policy, self.config.event_capacity)?;
        let queue = Arc::new(EventQueue::new(
            self.config.event_capacity,
            self.config.overflow,
        ));
        if let Some(old) = inner.conns[at].replace(Arc::clone(&queue)) {
            old.close();
        }
        shared.after_request(&mut inner);
        drop(inner);
        let token = Arc::new(());
        alive[at] = Arc::downgrade(&token);
        let client = Client::new(Arc::clone(&self.owner), idx, options, token);
        let connection = Connection::new(queue, idx, Arc::downgrade(shared));
        Ok((client, connection))
    }
}
