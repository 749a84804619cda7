//! What the module core asks of the network, and what the network reports back.
//!
//! The core ([`crate::module::Module`]) never touches a socket: it emits [`NetAction`]s and is fed
//! [`NetEvent`]s. The IO shell resolves names, opens TCP (and TLS) connections, moves bytes and
//! reports what happened. Unit tests of the core play the network by hand.

use qmt_proto::params::ClientIdx;

/// TLS settings of an `AT+QSSLCFG` context, resolved to the uploaded files' bytes (spec §7).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The SSL context (`SSL_ctx_idx`) these settings come from.
    pub ctx: u8,
    /// PEM bytes of `cacert`, if configured and uploaded.
    pub ca_cert: Option<Vec<u8>>,
    /// PEM bytes of `clientcert`, if configured and uploaded.
    pub client_cert: Option<Vec<u8>>,
    /// PEM bytes of `clientkey`, if configured and uploaded. Never printed.
    pub client_key: Option<Vec<u8>>,
    /// `seclevel`: 0 no authentication, 1 verify the server, 2 verify server and client.
    pub seclevel: u8,
    /// `sslversion`: 0 SSL3.0, 1 TLS1.0, 2 TLS1.1, 3 TLS1.2, 4 all.
    pub sslversion: u8,
    /// `ignorelocaltime`: 1 = do not check certificate validity against the clock.
    pub ignore_local_time: bool,
}

impl core::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ctx", &self.ctx)
            .field("ca_cert", &self.ca_cert.as_ref().map(Vec::len))
            .field("client_cert", &self.client_cert.as_ref().map(Vec::len))
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| qmt_proto::REDACTED),
            )
            .field("seclevel", &self.seclevel)
            .field("sslversion", &self.sslversion)
            .field("ignore_local_time", &self.ignore_local_time)
            .finish()
    }
}

/// A request from the module core to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetAction {
    /// Resolve `host` and open a TCP connection to `port` for this client; with `tls`, run a TLS
    /// handshake on it (server name = `host`). Answered by [`NetEvent::Connected`] or
    /// [`NetEvent::ConnectFailed`].
    Connect {
        /// The client the connection belongs to.
        client_idx: ClientIdx,
        /// Host name or IP address, as given to `AT+QMTOPEN`.
        host: String,
        /// TCP port.
        port: u16,
        /// TLS settings when `AT+QMTCFG="ssl"` enabled TLS for this client.
        tls: Option<TlsConfig>,
    },
    /// Send these bytes (MQTT packets) on the client's connection.
    Send {
        /// The client.
        client_idx: ClientIdx,
        /// The bytes, in order.
        bytes: Vec<u8>,
    },
    /// Close the client's connection (after sending what was queued). The shell answers nothing.
    Close {
        /// The client.
        client_idx: ClientIdx,
    },
}

/// Why a [`NetAction::Connect`] failed, mapped by the core to `+QMTOPEN: <idx>,<result>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The name did not resolve: result 4, "failed to parse domain name".
    Dns,
    /// TCP failed (refused, unreachable, timed out): result 5, "network connection error".
    Network,
    /// The TLS handshake failed (certificate, version): result -1, "failed to open network".
    Tls,
}

/// What the network reports to the module core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// The connection of a [`NetAction::Connect`] is up (TLS included).
    Connected {
        /// The client.
        client_idx: ClientIdx,
    },
    /// The connection could not be opened.
    ConnectFailed {
        /// The client.
        client_idx: ClientIdx,
        /// Why.
        error: ConnectError,
    },
    /// Bytes arrived from the server.
    Received {
        /// The client.
        client_idx: ClientIdx,
        /// The bytes (any split of the stream; MQTT packets may be partial).
        bytes: Vec<u8>,
    },
    /// The server closed or reset the connection (not after a [`NetAction::Close`]).
    Closed {
        /// The client.
        client_idx: ClientIdx,
    },
}
