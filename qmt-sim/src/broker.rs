//! An embedded MQTT 3.1.1 broker (rumqttd) on 127.0.0.1, the simulator's default peer.
//!
//! rumqttd has no shutdown API and does not report the port it bound, so [`EmbeddedBroker::start`]
//! picks a free port itself (binds `127.0.0.1:0`, reads the port, drops the listener), configures
//! rumqttd's v4 server on it, starts it on a background thread and waits until the port accepts
//! TCP. The broker lives until the process ends; dropping an [`EmbeddedBroker`] only forgets it.
//! Between dropping the probe listener and rumqttd binding, another process could take the port;
//! that shows as a clear start-up error, never as a silent hang.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// How long [`EmbeddedBroker::start`] waits for the broker to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest MQTT packet payload the embedded broker accepts (and a little room for the header).
pub const MAX_PAYLOAD: usize = 64 * 1024 + 1024;

/// A running rumqttd broker on 127.0.0.1 (MQTT 3.1.1 only, no TLS, no authentication).
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts a broker on a free port of 127.0.0.1 and returns once it accepts TCP connections.
    ///
    /// # Errors
    /// When no port can be bound, the broker thread cannot be spawned, or the broker does not
    /// accept connections within [`START_TIMEOUT`] (for example because another process took the
    /// port first).
    pub fn start() -> io::Result<EmbeddedBroker> {
        let addr = free_port()?;
        let config = config(addr);
        thread::Builder::new()
            .name(format!("qmt-sim-broker-{}", addr.port()))
            .spawn(move || {
                let mut broker = Broker::new(config);
                // `start` blocks while the servers run; it only returns on a server error.
                if let Err(e) = broker.start() {
                    tracing::error!(%addr, error = %e, "embedded broker stopped");
                }
            })?;
        wait_until_accepting(addr, START_TIMEOUT)?;
        tracing::debug!(%addr, "embedded broker accepting");
        Ok(EmbeddedBroker { addr })
    }

    /// The address the broker listens on (127.0.0.1 and its port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// rumqttd's configuration, built in code: one v4 server on `addr`, generous limits.
fn config(addr: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PAYLOAD,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: format!("qmt-sim-v4-{}", addr.port()),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1024,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    }
}

/// Waits until `addr` accepts a TCP connection, retrying with a short back-off.
pub(crate) fn wait_until_accepting(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_err;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(e) => last_err = e,
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the broker on {addr} did not accept connections within {timeout:?} \
                     (last error: {last_err}); was the port taken by another process?"
                ),
            ));
        }
        // A bounded start-up wait, not a polling loop of the event loop.
        thread::sleep(Duration::from_millis(20));
    }
}
