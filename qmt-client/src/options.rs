//! [`ClientOptions`]: everything a client needs before `AT+QMTOPEN` — every `AT+QMTCFG` setting
//! of spec §3 and the connect parameters — validated at once by [`ClientOptionsBuilder::build`],
//! before any byte is written. Also [`TlsFiles`]: the certificate and key uploads and the
//! `AT+QSSLCFG` settings of an SSL context (spec §7).
//!
//! Validation reuses qmt-proto's checked types (`KeepAlive`, `Topic`, `Password`, …), so ranges
//! live in one place and an error names the spec's parameter (`keep_alive_time = 4000 is out of
//! range (allowed: 0-3600)`).
//!
//! # Which settings are sent
//! [`ClientOptions::config_commands`] returns only:
//! - every setting set explicitly on the builder (even when equal to the module's default: a
//!   module keeps a client's configuration across host restarts, so an earlier host process may
//!   have left another value);
//! - `recv/mode`, always: qmt's default is `0,1` (payload in the URC, **with** `payload_len`),
//!   where the module's is `0,0`. The length makes binary payloads (CR LF, `"`) arrive intact
//!   (spec §6 rule 1); the seed's transcripts (§8) send the same line first;
//! - with [`send_defaults`](ClientOptionsBuilder::send_defaults), also the module default of every
//!   setting that has a documented default and was not set: `version` 4, `pdpcid` 1, `ssl` 0,
//!   `keepalive` 120, `session` 1, `timeout` 5,3,0, `will` 0, `dataformat` 0,0. Use it to undo
//!   what an earlier process configured. Cloud authentication (`aliauth`, `onenet`, `hwauth`,
//!   `hwprodid`) has no "off" form in the spec and is never sent unless set;
//! - with a persistent session ([`clean_session(false)`](ClientOptionsBuilder::clean_session))
//!   and no `timeout` set: `timeout` 20,0,0, see [below](#a-persistent-session-never-retransmits-connect).
//!
//! # A persistent session never retransmits CONNECT
//! With `retry_times` > 0 a module that gets no CONNACK within `pkt_timeout` sends CONNECT again
//! on the **same** connection (spec §9). MQTT 3.1.1 §3.1.0-2 makes a second CONNECT a protocol
//! violation, so every conforming broker closes the connection; mosquitto 2.0 also **discards
//! the stored session** on it (its CONNECT error path resets the session), and with it every
//! message queued for the client while it was away: they were acknowledged to their publishers
//! and are never delivered, with nothing on the AT interface to tell (`+QMTCONN` carries no
//! session-present flag). A broker slower than `pkt_timeout` to answer one CONNECT is enough —
//! the soak found it (a stalled broker during recovery). So for a persistent session qmt's
//! default is `retry_times` 0 with `pkt_timeout` 20 s: the same 20 s the module's defaults allow
//! (5 s × (1 + 3 retries)), after which the module fails the CONNECT and closes the connection
//! (`+QMTCONN: <idx>,2`, `+QMTSTAT: <idx>,4`), the broker keeps the session, and the next
//! connection resumes it. Retransmitting PUBLISH or SUBSCRIBE on the same TCP connection adds
//! nothing TCP does not already do (MQTT 3.1.1 §4.4 resends on reconnect; MQTT 5 forbids resending
//! otherwise). The one cost: the module waits `pkt_timeout` for a PINGRESP too, so a silent
//! broker is noticed up to 15 s later than with 5 s. An explicit
//! [`timeout`](ClientOptionsBuilder::timeout) is sent as given.
//!
//! Order: `version`, `pdpcid`, `ssl`, `keepalive`, `session`, `timeout`, `recv/mode`,
//! `dataformat`, `send/mode`, `view/mode`, `edit/timeout`, `qmtping`, the cloud authentication,
//! and the will last: `edit/timeout` governs the data prompt that `willex` uses, so it comes first.
//!
//! # Choices where the spec is silent
//! - The port defaults to 1883, or 8883 with TLS.
//! - `aliauth` together with a user name/password is refused (spec §3 note 4: CONN then carries
//!   no credentials). More than one cloud authentication is refused.
//! - `send/mode` and `dataformat` both set a send encoding; when both are given they must agree.
//! - Hex send mode: `AT+QMTPUBEX`'s `length` counts hex digits (spec §5 **(uncertain)**), so a
//!   payload holds at most 750 bytes; [`ClientOptions::publish_command`] hex-encodes it.
//! - `will` (text) and `willex` (bytes) are one setting: the last one given wins.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use qmt_proto::Command;
use qmt_proto::cfg::{Cfg, CfgValue, DataEncoding, MsgRecvMode, SslMode, ViewMode, Will, WillEx};
use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::command::{Conn, Credentials, FileUpload, Open, PubEx};
use qmt_proto::error::ParamError;
use qmt_proto::params::{
    AccessKey, ClientId, ClientIdx, DeviceName, DeviceSecret, EditTime, FileName, FileSize,
    HostName, KeepAlive, MqttVersion, MsgId, NodeId, Password, PayloadLen, PdpCid, PktTimeout,
    Port, ProductId, ProductKey, ProductSecret, QmtpingInterval, Qos, RetryTimes, SslCtxIdx, Topic,
    UploadTimeout, UserName, WillMessage,
};
use qmt_proto::recv::LenMode;
use qmt_proto::ssl::{CipherSuite, SecLevel, SslCfg, SslOp, SslValue, SslVersion};

use crate::correlate::Deadlines;
use crate::error::ClientError;

/// A secret held by the builder before validation: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(qmt_proto::REDACTED)
    }
}

/// The will as given to the builder.
#[derive(Clone, PartialEq, Eq)]
enum WillSetting {
    Off,
    Text {
        qos: Qos,
        retain: bool,
        topic: String,
        message: String,
    },
    Bytes {
        qos: Qos,
        retain: bool,
        topic: String,
        message: Vec<u8>,
    },
}

impl fmt::Debug for WillSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WillSetting::Off => f.write_str("Off"),
            WillSetting::Text {
                qos,
                retain,
                topic,
                message,
            } => f
                .debug_struct("Text")
                .field("qos", qos)
                .field("retain", retain)
                .field("topic", topic)
                .field("message_len", &message.len())
                .finish(),
            WillSetting::Bytes {
                qos,
                retain,
                topic,
                message,
            } => f
                .debug_struct("Bytes")
                .field("qos", qos)
                .field("retain", retain)
                .field("topic", topic)
                .field("message_len", &message.len())
                .finish(),
        }
    }
}

/// Collects client options unchecked; [`build`](Self::build) checks them all. Numbers are taken as
/// `i64` so that any value can be given and is refused with the spec's parameter name.
///
/// `Debug` never shows the password, device secrets, access keys or product secrets.
#[derive(Clone, Debug, Default)]
pub struct ClientOptionsBuilder {
    host: Option<String>,
    port: Option<i64>,
    client_id: Option<String>,
    credentials: Option<(String, Secret)>,
    version: Option<i64>,
    pdp_cid: Option<i64>,
    ssl: Option<Option<i64>>,
    keep_alive: Option<i64>,
    clean_session: Option<bool>,
    timeout: Option<(i64, i64, bool)>,
    will: Option<WillSetting>,
    recv_mode: Option<(MsgRecvMode, bool)>,
    ali_auth: Option<(String, String, Secret)>,
    onenet: Option<(String, Secret)>,
    hw_auth: Option<(String, Secret, Option<bool>)>,
    hw_prod_id: Option<(String, Secret, String, Option<bool>)>,
    data_format: Option<(DataEncoding, DataEncoding)>,
    send_mode: Option<DataEncoding>,
    qmtping: Option<i64>,
    edit_timeout: Option<(bool, Option<i64>)>,
    view_mode: Option<ViewMode>,
    send_defaults: bool,
    tls_files: Option<TlsFiles>,
    ntp: Option<(String, Option<i64>)>,
}

impl ClientOptionsBuilder {
    /// Opt-in clock sync before a TLS open (spec §10.9): when the module's clock is earlier than
    /// the CA certificate's validity or was never set, connect runs `AT+QNTP=<pdpcid>,"<host>"`
    /// and waits for its `+QNTP` result before `AT+QMTOPEN`. Without it such a connect fails with
    /// [`ClientError::ClockNotSet`]. Only used with [`tls`](Self::tls).
    pub fn ntp_server(mut self, host: impl Into<String>) -> Self {
        let port = self.ntp.take().and_then(|(_, p)| p);
        self.ntp = Some((host.into(), port));
        self
    }

    /// The NTP server's UDP port when not 123 (needs [`ntp_server`](Self::ntp_server)).
    pub fn ntp_port(mut self, port: i64) -> Self {
        let host = self.ntp.take().map(|(h, _)| h).unwrap_or_default();
        self.ntp = Some((host, Some(port)));
        self
    }

    /// Certificates and keys to upload (`AT+QFUPL`, each upload verified against the module's
    /// `+QFUPL` checksum) and the `AT+QSSLCFG` settings of the context given to
    /// [`tls`](Self::tls), sent before the configuration on every connect (a power cycle clears
    /// the module's files, spec §9). Needs [`tls`](Self::tls).
    pub fn tls_files(mut self, files: TlsFiles) -> Self {
        self.tls_files = Some(files);
        self
    }

    /// The MQTT server (`host_name` of `AT+QMTOPEN`, 1–100 bytes). Required.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The server port (1–65535). Default 1883, or 8883 with TLS.
    pub fn port(mut self, port: i64) -> Self {
        self.port = Some(port);
        self
    }

    /// The MQTT client identifier (`clientid`). Required.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// User name and password of `AT+QMTCONN` (0–256 bytes each). The password never appears in
    /// `Debug`, errors or logs.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), Secret(password.into())));
        self
    }

    /// `version`: 3 = MQTT 3.1, 4 = MQTT 3.1.1.
    pub fn version(mut self, vsn: i64) -> Self {
        self.version = Some(vsn);
        self
    }

    /// `pdpcid`: the PDP context, 1–15.
    pub fn pdp_cid(mut self, cid: i64) -> Self {
        self.pdp_cid = Some(cid);
        self
    }

    /// `ssl`: TLS with the `AT+QSSLCFG` context `ctx` (0–5; see [`TlsFiles`]).
    pub fn tls(mut self, ctx: i64) -> Self {
        self.ssl = Some(Some(ctx));
        self
    }

    /// `ssl`: plain TCP, sent explicitly (`AT+QMTCFG="ssl",<idx>,0`).
    pub fn plain_tcp(mut self) -> Self {
        self.ssl = Some(None);
        self
    }

    /// `keepalive`: keep-alive in seconds, 0–3600 (0 = none).
    pub fn keep_alive(mut self, seconds: i64) -> Self {
        self.keep_alive = Some(seconds);
        self
    }

    /// `session`: `true` for a clean session (the module's default), `false` to keep it.
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = Some(clean);
        self
    }

    /// `timeout`: `pkt_timeout` 1–60 s, `retry_times` 0–10, `timeout_notice` (report
    /// retransmissions as `result` 1 lines). Also sets the client's result deadlines.
    ///
    /// With a persistent session keep `retry_times` 0: a retransmitted CONNECT makes the broker
    /// close the connection, and mosquitto discards the session with its queued messages (see
    /// the [module docs](crate::options#a-persistent-session-never-retransmits-connect)); qmt's
    /// default for a persistent session is 20,0,0.
    pub fn timeout(mut self, pkt_timeout: i64, retry_times: i64, timeout_notice: bool) -> Self {
        self.timeout = Some((pkt_timeout, retry_times, timeout_notice));
        self
    }

    /// `will`: a will message as text (0–256 bytes, no `"`, CR or LF) on `topic`.
    pub fn will(
        mut self,
        qos: Qos,
        retain: bool,
        topic: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.will = Some(WillSetting::Text {
            qos,
            retain,
            topic: topic.into(),
            message: message.into(),
        });
        self
    }

    /// `willex`: a will message of any bytes (0–256), written after the module's prompt.
    pub fn will_bytes(
        mut self,
        qos: Qos,
        retain: bool,
        topic: impl Into<String>,
        message: impl Into<Vec<u8>>,
    ) -> Self {
        self.will = Some(WillSetting::Bytes {
            qos,
            retain,
            topic: topic.into(),
            message: message.into(),
        });
        self
    }

    /// `will` 0: no will message, sent explicitly.
    pub fn no_will(mut self) -> Self {
        self.will = Some(WillSetting::Off);
        self
    }

    /// `recv/mode`: where payloads go and whether `+QMTRECV` carries the length. qmt's default is
    /// `(InUrc, true)` (see the module docs).
    pub fn recv_mode(mut self, mode: MsgRecvMode, msg_len_enable: bool) -> Self {
        self.recv_mode = Some((mode, msg_len_enable));
        self
    }

    /// `aliauth`: Alibaba Cloud product key, device name and device secret. `AT+QMTCONN` then
    /// carries no credentials.
    pub fn ali_auth(
        mut self,
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: impl Into<String>,
    ) -> Self {
        self.ali_auth = Some((
            product_key.into(),
            device_name.into(),
            Secret(device_secret.into()),
        ));
        self
    }

    /// `onenet`: China Mobile OneNET product id and access key.
    pub fn onenet(mut self, product_id: impl Into<String>, access_key: impl Into<String>) -> Self {
        self.onenet = Some((product_id.into(), Secret(access_key.into())));
        self
    }

    /// `hwauth`: Huawei IoT product id and device secret, with the optional `hw_time_enable`.
    pub fn hw_auth(
        mut self,
        product_id: impl Into<String>,
        device_secret: impl Into<String>,
        hw_time_enable: Option<bool>,
    ) -> Self {
        self.hw_auth = Some((
            product_id.into(),
            Secret(device_secret.into()),
            hw_time_enable,
        ));
        self
    }

    /// `hwprodid`: Huawei IoT product id, product secret and node id, with the optional
    /// `hw_time_enable`.
    pub fn hw_prod_id(
        mut self,
        product_id: impl Into<String>,
        product_secret: impl Into<String>,
        node_id: impl Into<String>,
        hw_time_enable: Option<bool>,
    ) -> Self {
        self.hw_prod_id = Some((
            product_id.into(),
            Secret(product_secret.into()),
            node_id.into(),
            hw_time_enable,
        ));
        self
    }

    /// `dataformat`: publish data and received payloads as text or hex.
    pub fn data_format(mut self, send: DataEncoding, recv: DataEncoding) -> Self {
        self.data_format = Some((send, recv));
        self
    }

    /// `send/mode`: publish data as text or hex.
    pub fn send_mode(mut self, send: DataEncoding) -> Self {
        self.send_mode = Some(send);
        self
    }

    /// `qmtping`: interval 5–60 (seconds, spec **(uncertain)** unit).
    pub fn qmtping(mut self, interval: i64) -> Self {
        self.qmtping = Some(interval);
        self
    }

    /// `edit/timeout`: the data-input timeout after `> ` (on/off, 1–120 s).
    pub fn edit_timeout(mut self, on: bool, seconds: Option<i64>) -> Self {
        self.edit_timeout = Some((on, seconds));
        self
    }

    /// `view/mode` (spec **(uncertain)**): how received messages are shown.
    pub fn view_mode(mut self, mode: ViewMode) -> Self {
        self.view_mode = Some(mode);
        self
    }

    /// Also send the module default of every setting with a documented default that was not set
    /// (see the module docs).
    pub fn send_defaults(mut self, on: bool) -> Self {
        self.send_defaults = on;
        self
    }

    /// Checks every option; the first invalid one is [`ClientError::Invalid`] naming its
    /// parameter. Nothing has been written at that point.
    pub fn build(self) -> Result<ClientOptions, ClientError> {
        Ok(self.check()?)
    }

    fn check(self) -> Result<ClientOptions, ParamError> {
        let required = |param| ParamError::Invalid {
            param,
            reason: "required",
        };
        let host = HostName::new(self.host.ok_or(required("host_name"))?)?;
        let client_id = ClientId::new(self.client_id.ok_or(required("clientid"))?)?;
        let ssl = self
            .ssl
            .map(|ctx| ctx.map(SslCtxIdx::new).transpose())
            .transpose()?;
        let tls = matches!(ssl, Some(Some(_)));
        if self.tls_files.is_some() && !tls {
            return Err(ParamError::Invalid {
                param: "SSL_ctx_idx",
                reason: "TLS files need TLS enabled with a context: call tls(ctx)",
            });
        }
        let port = Port::new(self.port.unwrap_or(if tls { 8883 } else { 1883 }))?;
        let credentials = self
            .credentials
            .map(|(u, p)| -> Result<_, ParamError> {
                Ok(Credentials {
                    username: UserName::new(u)?,
                    password: Password::new(p.0)?,
                })
            })
            .transpose()?;

        let version = self.version.map(MqttVersion::new).transpose()?;
        let pdp_cid = self.pdp_cid.map(PdpCid::new).transpose()?;
        let ntp = self
            .ntp
            .map(|(host, port)| -> Result<_, ParamError> {
                Ok((HostName::new(host)?, port.map(Port::new).transpose()?))
            })
            .transpose()?;
        let keep_alive = self.keep_alive.map(KeepAlive::new).transpose()?;
        let timeout = self
            .timeout
            .map(|(p, r, n)| -> Result<_, ParamError> {
                Ok((PktTimeout::new(p)?, RetryTimes::new(r)?, n))
            })
            .transpose()?;
        let (will, will_data) = match self.will {
            None => (None, None),
            Some(WillSetting::Off) => (Some(CfgValue::Will(Will::Off)), None),
            Some(WillSetting::Text {
                qos,
                retain,
                topic,
                message,
            }) => (
                Some(CfgValue::Will(Will::On {
                    qos,
                    retain,
                    topic: Topic::new(topic)?,
                    message: WillMessage::new(message)?,
                })),
                None,
            ),
            Some(WillSetting::Bytes {
                qos,
                retain,
                topic,
                message,
            }) => {
                let v = WillEx::for_message(qos, retain, Topic::new(topic)?, &message)?;
                (Some(CfgValue::WillEx(v)), Some(message))
            }
        };

        let mut cloud = Vec::new();
        if let Some((pk, dn, ds)) = self.ali_auth {
            cloud.push(CfgValue::AliAuth {
                product_key: ProductKey::new(pk)?,
                device_name: DeviceName::new(dn)?,
                device_secret: DeviceSecret::new(ds.0)?,
            });
        }
        if let Some((pid, key)) = self.onenet {
            cloud.push(CfgValue::OneNet {
                product_id: ProductId::new(pid)?,
                access_key: AccessKey::new(key.0)?,
            });
        }
        if let Some((pid, ds, t)) = self.hw_auth {
            cloud.push(CfgValue::HwAuth {
                product_id: ProductId::new(pid)?,
                device_secret: DeviceSecret::new(ds.0)?,
                hw_time_enable: t,
            });
        }
        if let Some((pid, ps, node, t)) = self.hw_prod_id {
            cloud.push(CfgValue::HwProdId {
                product_id: ProductId::new(pid)?,
                product_secret: ProductSecret::new(ps.0)?,
                node_id: NodeId::new(node)?,
                hw_time_enable: t,
            });
        }
        if cloud.len() > 1 {
            return Err(ParamError::Invalid {
                param: "aliauth/onenet/hwauth/hwprodid",
                reason: "at most one cloud authentication per client",
            });
        }
        let ali = matches!(cloud.first(), Some(CfgValue::AliAuth { .. }));
        if ali && credentials.is_some() {
            return Err(ParamError::Invalid {
                param: "username",
                reason: "must be omitted when aliauth is set (spec §3 note 4)",
            });
        }
        if let (Some((send, _)), Some(mode)) = (self.data_format, self.send_mode) {
            if send != mode {
                return Err(ParamError::Invalid {
                    param: "send_mode",
                    reason: "send/mode and dataformat give different send encodings",
                });
            }
        }
        let qmtping = self.qmtping.map(QmtpingInterval::new).transpose()?;
        let edit_timeout = self
            .edit_timeout
            .map(|(on, t)| -> Result<_, ParamError> {
                Ok(CfgValue::EditTimeout {
                    edit_mode: on,
                    edit_time: t.map(EditTime::new).transpose()?,
                })
            })
            .transpose()?;

        Ok(ClientOptions {
            host,
            port,
            client_id,
            credentials,
            version,
            pdp_cid,
            ssl,
            keep_alive,
            clean_session: self.clean_session,
            timeout,
            will,
            will_data,
            recv_mode: self.recv_mode,
            cloud: cloud.pop(),
            data_format: self.data_format,
            send_mode: self.send_mode,
            qmtping,
            edit_timeout,
            view_mode: self.view_mode,
            send_defaults: self.send_defaults,
            tls_files: self.tls_files,
            ntp,
        })
    }
}

/// Validated client options: every value is in range and the combination is allowed.
///
/// `Debug` never shows the password, device secrets, access keys or product secrets (qmt-proto's
/// secret types redact themselves), nor the will message bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOptions {
    host: HostName,
    port: Port,
    client_id: ClientId,
    credentials: Option<Credentials>,
    version: Option<MqttVersion>,
    pdp_cid: Option<PdpCid>,
    /// `Some(None)`: plain TCP explicitly; `Some(Some(ctx))`: TLS.
    ssl: Option<Option<SslCtxIdx>>,
    keep_alive: Option<KeepAlive>,
    clean_session: Option<bool>,
    timeout: Option<(PktTimeout, RetryTimes, bool)>,
    will: Option<CfgValue>,
    will_data: Option<Vec<u8>>,
    recv_mode: Option<(MsgRecvMode, bool)>,
    cloud: Option<CfgValue>,
    data_format: Option<(DataEncoding, DataEncoding)>,
    send_mode: Option<DataEncoding>,
    qmtping: Option<QmtpingInterval>,
    edit_timeout: Option<CfgValue>,
    view_mode: Option<ViewMode>,
    send_defaults: bool,
    tls_files: Option<TlsFiles>,
    ntp: Option<(HostName, Option<Port>)>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("credentials", &self.credentials)
            .field("version", &self.version)
            .field("pdp_cid", &self.pdp_cid)
            .field("ssl", &self.ssl)
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("timeout", &self.timeout)
            .field("will", &self.will)
            .field("recv_mode", &self.recv_mode)
            .field("cloud", &self.cloud)
            .field("data_format", &self.data_format)
            .field("send_mode", &self.send_mode)
            .field("qmtping", &self.qmtping)
            .field("edit_timeout", &self.edit_timeout)
            .field("view_mode", &self.view_mode)
            .field("send_defaults", &self.send_defaults)
            .field("tls_files", &self.tls_files)
            .field("ntp", &self.ntp)
            .finish()
    }
}

/// qmt's `timeout` (`pkt_timeout` s, `retry_times`) for a persistent session when none is set:
/// never retransmit CONNECT (module docs), within the module defaults' total 5 s × (1 + 3).
const PERSISTENT_SESSION_TIMEOUT: (i64, i64) = (20, 0);

/// qmt's `recv/mode` when none is set: payload in the URC, with its length.
const DEFAULT_RECV_MODE: (MsgRecvMode, bool) = (MsgRecvMode::InUrc, true);

impl ClientOptions {
    /// The PDP context the client uses (`pdpcid`; the module's default is 1).
    pub fn pdp_cid(&self) -> u8 {
        self.pdp_cid.map_or(1, |c| c.get())
    }

    /// Bring-up chose context `cid`: a client that did not name one uses it.
    pub(crate) fn default_pdp_cid(&mut self, cid: u8) {
        if self.pdp_cid.is_none() && cid != 1 {
            self.pdp_cid = PdpCid::new(i64::from(cid)).ok();
        }
    }

    /// A builder with nothing set.
    pub fn builder() -> ClientOptionsBuilder {
        ClientOptionsBuilder::default()
    }

    /// The `AT+QMTCFG` set commands to send before `AT+QMTOPEN` of `client_idx`, in order, each
    /// with the raw data of its prompt (`willex` only). See the module docs for which and why.
    pub fn config_commands(&self, client_idx: ClientIdx) -> Vec<(Command, Option<Vec<u8>>)> {
        let d = self.send_defaults;
        let mut values: Vec<CfgValue> = Vec::new();
        let mut push = |explicit: Option<CfgValue>, default: Option<CfgValue>| {
            if let Some(v) = explicit.or(if d { default } else { None }) {
                values.push(v);
            }
        };
        push(
            self.version.map(CfgValue::Version),
            MqttVersion::new(4).ok().map(CfgValue::Version),
        );
        push(
            self.pdp_cid.map(CfgValue::PdpCid),
            PdpCid::new(1).ok().map(CfgValue::PdpCid),
        );
        push(
            self.ssl.map(|ctx| {
                CfgValue::Ssl(match ctx {
                    Some(ctx) => SslMode::Enabled { ctx },
                    None => SslMode::Disabled { ctx: None },
                })
            }),
            Some(CfgValue::Ssl(SslMode::Disabled { ctx: None })),
        );
        push(
            self.keep_alive.map(CfgValue::KeepAlive),
            KeepAlive::new(120).ok().map(CfgValue::KeepAlive),
        );
        push(
            self.clean_session
                .map(|clean_session| CfgValue::Session { clean_session }),
            Some(CfgValue::Session {
                clean_session: true,
            }),
        );
        let timeout = |(pkt_timeout, retry_times, timeout_notice)| CfgValue::Timeout {
            pkt_timeout,
            retry_times,
            timeout_notice,
        };
        push(
            self.effective_timeout().map(timeout),
            match (PktTimeout::new(5), RetryTimes::new(3)) {
                (Ok(pkt_timeout), Ok(retry_times)) => {
                    Some(timeout((pkt_timeout, retry_times, false)))
                }
                _ => None,
            },
        );
        let (mode, len) = self.recv_mode.unwrap_or(DEFAULT_RECV_MODE);
        push(
            Some(CfgValue::RecvMode {
                msg_recv_mode: mode,
                msg_len_enable: Some(len),
            }),
            None,
        );
        push(
            self.data_format
                .map(|(send_mode, recv_mode)| CfgValue::DataFormat {
                    send_mode,
                    recv_mode,
                }),
            Some(CfgValue::DataFormat {
                send_mode: DataEncoding::Text,
                recv_mode: DataEncoding::Text,
            }),
        );
        push(self.send_mode.map(CfgValue::SendMode), None);
        push(self.view_mode.map(CfgValue::ViewMode), None);
        push(self.edit_timeout.clone(), None);
        push(self.qmtping.map(CfgValue::QmtPing), None);
        push(self.cloud.clone(), None);
        push(self.will.clone(), Some(CfgValue::Will(Will::Off)));

        values
            .into_iter()
            .map(|v| {
                let data = match v {
                    CfgValue::WillEx(WillEx::On { .. }) => self.will_data.clone(),
                    _ => None,
                };
                (Command::Cfg(Cfg::set(client_idx, v)), data)
            })
            .collect()
    }

    /// `AT+QMTOPEN=<client_idx>,"<host>",<port>`.
    pub fn open_command(&self, client_idx: ClientIdx) -> Command {
        Command::Open(Open {
            client_idx,
            host: self.host.clone(),
            port: self.port,
        })
    }

    /// `AT+QMTCONN=<client_idx>,"<clientid>"[,"<username>","<password>"]`.
    pub fn conn_command(&self, client_idx: ClientIdx) -> Command {
        Command::Conn(Conn {
            client_idx,
            client_id: self.client_id.clone(),
            credentials: self.credentials.clone(),
        })
    }

    /// The server host.
    pub fn host(&self) -> &HostName {
        &self.host
    }

    /// The server port.
    pub fn port(&self) -> Port {
        self.port
    }

    /// The MQTT client identifier.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The NTP server (and port) to sync the clock from before a TLS open
    /// ([`ClientOptionsBuilder::ntp_server`]).
    pub fn ntp_server(&self) -> Option<(&HostName, Option<Port>)> {
        self.ntp.as_ref().map(|(h, p)| (h, *p))
    }

    /// The TLS files to provision on connect ([`ClientOptionsBuilder::tls_files`]).
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
    }

    /// The SSL context when TLS is enabled.
    pub fn tls_context(&self) -> Option<SslCtxIdx> {
        self.ssl.flatten()
    }

    /// Whether the session is clean (the module's default when not set).
    pub fn clean_session(&self) -> bool {
        self.clean_session.unwrap_or(true)
    }

    /// Where received payloads go (qmt's default: in the URC).
    pub fn msg_recv_mode(&self) -> MsgRecvMode {
        self.recv_mode.unwrap_or(DEFAULT_RECV_MODE).0
    }

    /// How the framer should count this client's `+QMTRECV` lines
    /// ([`RecvHook::set`](qmt_proto::RecvHook::set)).
    ///
    /// With `msg_len_enable` = 1 every message line carries its length, so a header that *ends*
    /// with the length (`+QMTRECV: 0,1,"t/in",54`) can only be the split form of spec §6
    /// variation 2, the payload following on its own: [`LenMode::Split`]. (Taking it as an
    /// unlengthed payload `54` lost the real payload silently: issue 13.)
    pub fn len_mode(&self) -> LenMode {
        if self.recv_mode.unwrap_or(DEFAULT_RECV_MODE).1 {
            LenMode::Split
        } else {
            LenMode::Off
        }
    }

    /// How publish data is given (`send/mode` or `dataformat`; text by default).
    pub fn send_encoding(&self) -> DataEncoding {
        self.send_mode
            .or(self.data_format.map(|(s, _)| s))
            .unwrap_or(DataEncoding::Text)
    }

    /// Whether received messages wait in the module's slots (`recv/mode` 1) to be read.
    pub fn receives_buffered(&self) -> bool {
        self.recv_mode.unwrap_or(DEFAULT_RECV_MODE).0.get() == 1
    }

    /// How received payloads arrive (`dataformat`; text by default).
    pub fn recv_encoding(&self) -> DataEncoding {
        self.data_format
            .map(|(_, r)| r)
            .unwrap_or(DataEncoding::Text)
    }

    /// The largest payload one publish takes: 1500 bytes, 750 in hex send mode.
    pub fn max_payload(&self) -> usize {
        let max = usize::from(PayloadLen::MAX);
        match self.send_encoding() {
            DataEncoding::Text => max,
            DataEncoding::Hex => max / 2,
        }
    }

    /// The `timeout` setting qmt sends: the one set on the builder; else, for a persistent
    /// session, 20 s with no retransmission (see the [module docs](crate::options#a-persistent-session-never-retransmits-connect));
    /// else none (the module's 5,3,0 applies).
    pub fn effective_timeout(&self) -> Option<(PktTimeout, RetryTimes, bool)> {
        if self.timeout.is_some() {
            return self.timeout;
        }
        if self.clean_session == Some(false) {
            if let (Ok(pkt), Ok(retry)) = (
                PktTimeout::new(PERSISTENT_SESSION_TIMEOUT.0),
                RetryTimes::new(PERSISTENT_SESSION_TIMEOUT.1),
            ) {
                return Some((pkt, retry, false));
            }
        }
        None
    }

    /// The result deadlines of this client's operations (from its
    /// [`effective_timeout`](Self::effective_timeout), or the module's defaults).
    pub fn deadlines(&self) -> Deadlines {
        match self.effective_timeout() {
            Some((p, r, _)) => Deadlines::from_timeout(p, r, Deadlines::GRACE),
            None => Deadlines::default(),
        }
    }

    /// `AT+QMTPUBEX` for `payload` and the data to write after `> ` (hex-encoded in hex send
    /// mode). A payload over [`max_payload`](Self::max_payload) is
    /// [`ClientError::PayloadTooLarge`]; `msgid` must be 0 exactly for QoS 0. Nothing is written.
    pub fn publish_command(
        &self,
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(Command, Vec<u8>), ClientError> {
        // Owned in, owned out: in text mode the caller's buffers become the command's, so
        // building a publish allocates nothing more.
        let payload = payload.into();
        let max = self.max_payload();
        if payload.len() > max {
            return Err(ClientError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        let data = match self.send_encoding() {
            DataEncoding::Text => payload,
            DataEncoding::Hex => qmt_proto::recv::encode_hex(&payload),
        };
        let topic = Topic::new(topic)?;
        let cmd = PubEx::for_payload(client_idx, msgid, qos, retain, topic, &data)?;
        Ok((Command::PubEx(cmd), data))
    }
}

// ------------------------------------------------------------------------------------------------
// TLS provisioning (spec §7, golden transcript §8.2).

/// One file to upload. `Debug` shows its name and length, never its bytes.
#[derive(Clone, PartialEq, Eq)]
struct TlsFile {
    name: String,
    data: Vec<u8>,
}

impl fmt::Debug for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({} bytes)", self.name, self.data.len())
    }
}

/// The certificates and key of an SSL context and its `AT+QSSLCFG` settings.
///
/// File names without a storage prefix get `UFS:` (the user file system, spec §7). `seclevel`
/// defaults to what the files allow: 2 with a client certificate and key, 1 with a CA only, 0
/// without files. `sslversion` defaults to 4 (all), `ciphersuite` to `0xFFFF` (all),
/// `ignorelocaltime` to 1 (spec §3 note 3: a module rarely has a valid clock at start-up) — as
/// in the seed's transcript §8.2.
///
/// `Debug` never shows file contents (the private key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    ca: Option<TlsFile>,
    cert: Option<TlsFile>,
    key: Option<TlsFile>,
    sec_level: Option<SecLevel>,
    ssl_version: SslVersion,
    cipher_suite: CipherSuite,
    ignore_local_time: bool,
    upload_timeout: Option<i64>,
}

impl Default for TlsFiles {
    fn default() -> Self {
        TlsFiles {
            ca: None,
            cert: None,
            key: None,
            sec_level: None,
            ssl_version: SslVersion::All,
            cipher_suite: CipherSuite::ALL,
            ignore_local_time: true,
            upload_timeout: None,
        }
    }
}

/// One step of [`TlsFiles::provision_commands`]: a command, its data, and for an upload the check
/// of the module's `+QFUPL: <upload_size>,<checksum>` answer.
#[derive(Clone, PartialEq, Eq)]
pub struct ProvisionStep {
    /// The command.
    pub command: Command,
    /// The raw bytes written after `CONNECT` (uploads only).
    pub data: Option<Vec<u8>>,
    /// What the module must answer (uploads only).
    pub expect: Option<UploadCheck>,
}

impl fmt::Debug for ProvisionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionStep")
            .field("command", &format_args!("{}", self.command))
            .field("data_len", &self.data.as_ref().map(Vec::len))
            .field("expect", &self.expect)
            .finish()
    }
}

/// The size and checksum an upload must report (spec §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadCheck {
    /// The file name on the module.
    pub file: String,
    /// Bytes written.
    pub size: u64,
    /// [`qfupl_checksum`] of the bytes written.
    pub checksum: u16,
}

impl UploadCheck {
    /// Compares the module's `+QFUPL: <upload_size>,<checksum>` with what was written.
    pub fn verify(&self, upload_size: u64, checksum: u16) -> Result<(), ClientError> {
        if upload_size != self.size {
            return Err(ClientError::UploadIncomplete {
                file: self.file.clone(),
                sent: self.size,
                stored: upload_size,
            });
        }
        if checksum != self.checksum {
            return Err(ClientError::ChecksumMismatch {
                file: self.file.clone(),
                ours: self.checksum,
                module: checksum,
            });
        }
        Ok(())
    }
}

fn ufs(name: String) -> String {
    if name.contains(':') {
        name
    } else {
        format!("UFS:{name}")
    }
}

impl TlsFiles {
    /// Nothing to upload yet; defaults as in the type docs.
    pub fn new() -> TlsFiles {
        TlsFiles::default()
    }

    /// The CA certificate (`cacert`), to be stored as `name`.
    pub fn ca_cert(mut self, name: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(TlsFile {
            name: ufs(name.into()),
            data: pem.into(),
        });
        self
    }

    /// The client certificate (`clientcert`).
    pub fn client_cert(mut self, name: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        self.cert = Some(TlsFile {
            name: ufs(name.into()),
            data: pem.into(),
        });
        self
    }

    /// The client private key (`clientkey`). Never shown in `Debug`.
    pub fn client_key(mut self, name: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        self.key = Some(TlsFile {
            name: ufs(name.into()),
            data: pem.into(),
        });
        self
    }

    /// `seclevel`, instead of the default derived from the files.
    pub fn sec_level(mut self, level: SecLevel) -> Self {
        self.sec_level = Some(level);
        self
    }

    /// `sslversion`.
    pub fn ssl_version(mut self, version: SslVersion) -> Self {
        self.ssl_version = version;
        self
    }

    /// `ciphersuite`.
    pub fn cipher_suite(mut self, suite: CipherSuite) -> Self {
        self.cipher_suite = suite;
        self
    }

    /// `ignorelocaltime`.
    pub fn ignore_local_time(mut self, ignore: bool) -> Self {
        self.ignore_local_time = ignore;
        self
    }

    /// The `timeout` of each `AT+QFUPL` (1–3600 s; the module's default is 5 s).
    pub fn upload_timeout(mut self, seconds: i64) -> Self {
        self.upload_timeout = Some(seconds);
        self
    }

    /// Whether `ignorelocaltime` is set to 1 (the module does not check certificate validity
    /// against its clock).
    pub fn ignores_local_time(&self) -> bool {
        self.ignore_local_time
    }

    /// The CA certificate's bytes, if one is given.
    pub(crate) fn ca_bytes(&self) -> Option<&[u8]> {
        self.ca.as_ref().map(|f| f.data.as_slice())
    }

    /// The checksum the module must report for the upload of `file` (its name as given or with
    /// `UFS:`), if it is one of these files.
    pub fn expected_checksum(&self, file: &str) -> Option<u16> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .flatten()
            .find(|f| f.name == file || f.name == ufs(file.to_owned()))
            .map(|f| qfupl_checksum(&f.data))
    }

    /// The steps that provision SSL context `ctx` (0–5), in the order of spec §8.2: one
    /// `AT+QFUPL` per file (with its data and expected checksum), then `AT+QSSLCFG` `cacert`,
    /// `clientcert`, `clientkey`, `seclevel`, `sslversion`, `ciphersuite`, `ignorelocaltime`.
    /// Everything is checked first: nothing is written if a name, size or combination is invalid.
    pub fn provision_commands(&self, ctx: i64) -> Result<Vec<ProvisionStep>, ClientError> {
        Ok(self.steps(ctx)?)
    }

    fn steps(&self, ctx: i64) -> Result<Vec<ProvisionStep>, ParamError> {
        let ctx = SslCtxIdx::new(ctx)?;
        if self.cert.is_some() != self.key.is_some() {
            return Err(ParamError::Invalid {
                param: "clientkey",
                reason: "a client certificate and its key go together",
            });
        }
        let level = match self.sec_level {
            Some(l) => l,
            None if self.cert.is_some() => SecLevel::VerifyServerAndClient,
            None if self.ca.is_some() => SecLevel::VerifyServer,
            None => SecLevel::NoAuth,
        };
        if level != SecLevel::NoAuth && self.ca.is_none() {
            return Err(ParamError::Invalid {
                param: "cacert",
                reason: "seclevel 1 and 2 verify the server: give the CA certificate",
            });
        }
        if level == SecLevel::VerifyServerAndClient && self.cert.is_none() {
            return Err(ParamError::Invalid {
                param: "clientcert",
                reason: "seclevel 2 verifies the client: give its certificate and key",
            });
        }
        let timeout = self.upload_timeout.map(UploadTimeout::new).transpose()?;
        let mut uploads = Vec::new();
        let mut paths = Vec::new();
        let files = [
            (&self.ca, SslValue::CaCert as fn(FileName) -> SslValue),
            (&self.cert, SslValue::ClientCert),
            (&self.key, SslValue::ClientKey),
        ];
        for (file, value) in files {
            let Some(f) = file else { continue };
            let name = FileName::new(f.name.clone())?;
            let size = FileSize::new(i64::try_from(f.data.len()).unwrap_or(i64::MAX))?;
            let upload = match timeout {
                Some(t) => FileUpload::with_timeout(name.clone(), size, t),
                None => FileUpload::new(name.clone(), size),
            };
            uploads.push(ProvisionStep {
                command: Command::FileUpload(upload),
                data: Some(f.data.clone()),
                expect: Some(UploadCheck {
                    file: f.name.clone(),
                    size: u64::from(size.get()),
                    checksum: qfupl_checksum(&f.data),
                }),
            });
            paths.push(value(name));
        }
        let set = |value| ProvisionStep {
            command: Command::SslCfg(SslCfg {
                ctx,
                op: SslOp::Set(value),
            }),
            data: None,
            expect: None,
        };
        let mut steps = uploads;
        steps.extend(paths.into_iter().map(set));
        steps.push(set(SslValue::SecLevel(level)));
        steps.push(set(SslValue::SslVersion(self.ssl_version)));
        steps.push(set(SslValue::CipherSuite(self.cipher_suite)));
        steps.push(set(SslValue::IgnoreLocalTime(self.ignore_local_time)));
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::time::Duration;

    fn c0() -> ClientIdx {
        ClientIdx::new(0).unwrap()
    }

    fn lines(cmds: &[(Command, Option<Vec<u8>>)]) -> Vec<String> {
        cmds.iter()
            .map(|(c, _)| String::from_utf8(c.to_bytes()).unwrap())
            .collect()
    }

    fn base() -> ClientOptionsBuilder {
        ClientOptions::builder()
            .host("broker.example")
            .client_id("dev1")
    }

    #[test]
    fn minimal_options_send_only_recv_mode_with_length() {
        let o = base().build().unwrap();
        assert_eq!(
            lines(&o.config_commands(c0())),
            ["AT+QMTCFG=\"recv/mode\",0,0,1\r"]
        );
        assert_eq!(
            o.open_command(c0()).to_bytes(),
            b"AT+QMTOPEN=0,\"broker.example\",1883\r"
        );
        assert_eq!(o.conn_command(c0()).to_bytes(), b"AT+QMTCONN=0,\"dev1\"\r");
        assert_eq!(o.len_mode(), LenMode::Split);
        assert_eq!(o.max_payload(), 1500);
    }

    #[test]
    fn every_option_gives_its_exact_at_string_in_order() {
        let o = base()
            .port(1884)
            .credentials("user", "hunter2")
            .version(3)
            .pdp_cid(2)
            .tls(1)
            .keep_alive(60)
            .clean_session(false)
            .timeout(10, 2, true)
            .will(Qos::AtLeastOnce, true, "dev/status", "offline")
            .recv_mode(MsgRecvMode::Buffered, false)
            .hw_prod_id("prod", "psecret", "node7", Some(true))
            .data_format(DataEncoding::Hex, DataEncoding::Hex)
            .send_mode(DataEncoding::Hex)
            .qmtping(30)
            .edit_timeout(true, Some(20))
            .view_mode(ViewMode::SeparateLine)
            .build()
            .unwrap();
        let idx = ClientIdx::new(3).unwrap();
        assert_eq!(
            lines(&o.config_commands(idx)),
            [
                "AT+QMTCFG=\"version\",3,3\r",
                "AT+QMTCFG=\"pdpcid\",3,2\r",
                "AT+QMTCFG=\"ssl\",3,1,1\r",
                "AT+QMTCFG=\"keepalive\",3,60\r",
                "AT+QMTCFG=\"session\",3,0\r",
                "AT+QMTCFG=\"timeout\",3,10,2,1\r",
                "AT+QMTCFG=\"recv/mode\",3,1,0\r",
                "AT+QMTCFG=\"dataformat\",3,1,1\r",
                "AT+QMTCFG=\"send/mode\",3,1\r",
                "AT+QMTCFG=\"view/mode\",3,1\r",
                "AT+QMTCFG=\"edit/timeout\",3,1,20\r",
                "AT+QMTCFG=\"qmtping\",3,30\r",
                "AT+QMTCFG=\"hwprodid\",3,\"prod\",\"psecret\",\"node7\",1\r",
                "AT+QMTCFG=\"will\",3,1,1,1,\"dev/status\",\"offline\"\r",
            ]
        );
        assert_eq!(
            o.conn_command(idx).to_bytes(),
            b"AT+QMTCONN=3,\"dev1\",\"user\",\"hunter2\"\r"
        );
        assert_eq!(
            o.open_command(idx).to_bytes(),
            b"AT+QMTOPEN=3,\"broker.example\",1884\r"
        );
        assert_eq!(o.len_mode(), LenMode::Off);
        assert_eq!(o.msg_recv_mode(), MsgRecvMode::Buffered);
        assert_eq!(o.recv_encoding(), DataEncoding::Hex);
        assert_eq!(o.deadlines().packet, Duration::from_secs(32));
    }

    #[test]
    fn cloud_auth_forms() {
        // Golden transcript §8.1.
        let o = ClientOptions::builder()
            .host("iot-as-mqtt.cn-shanghai.aliyuncs.com")
            .client_id("clientExample")
            .ali_auth(
                "oyjtmPI5a5j",
                "MQTT_TEST",
                "wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ",
            )
            .build()
            .unwrap();
        assert_eq!(
            lines(&o.config_commands(c0())),
            [
                "AT+QMTCFG=\"recv/mode\",0,0,1\r",
                "AT+QMTCFG=\"aliauth\",0,\"oyjtmPI5a5j\",\"MQTT_TEST\",\"wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ\"\r",
            ]
        );
        assert_eq!(
            o.open_command(c0()).to_bytes(),
            b"AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883\r"
        );
        assert_eq!(
            o.conn_command(c0()).to_bytes(),
            b"AT+QMTCONN=0,\"clientExample\"\r"
        );
        let one = base().onenet("pid", "akey").build().unwrap();
        assert_eq!(
            lines(&one.config_commands(c0()))[1],
            "AT+QMTCFG=\"onenet\",0,\"pid\",\"akey\"\r"
        );
        let hw = base().hw_auth("pid", "dsec", None).build().unwrap();
        assert_eq!(
            lines(&hw.config_commands(c0()))[1],
            "AT+QMTCFG=\"hwauth\",0,\"pid\",\"dsec\"\r"
        );
    }

    #[test]
    fn willex_carries_any_bytes_as_prompt_data() {
        let msg = b"bye\r\n\"\x00\xff".to_vec();
        let o = base()
            .will_bytes(Qos::ExactlyOnce, false, "dev/will", msg.clone())
            .build()
            .unwrap();
        let cmds = o.config_commands(c0());
        let (cmd, data) = cmds.last().unwrap();
        assert_eq!(
            cmd.to_bytes(),
            b"AT+QMTCFG=\"willex\",0,1,2,0,\"dev/will\",8\r"
        );
        assert_eq!(data.as_deref(), Some(&msg[..]));
        assert_eq!(cmd.data_phase().unwrap().data_len(), Some(msg.len()));
        // Only willex has data.
        assert!(cmds[..cmds.len() - 1].iter().all(|(_, d)| d.is_none()));
    }

    #[test]
    fn send_defaults_resets_every_documented_default() {
        let o = base().send_defaults(true).keep_alive(30).build().unwrap();
        assert_eq!(
            lines(&o.config_commands(ClientIdx::new(1).unwrap())),
            [
                "AT+QMTCFG=\"version\",1,4\r",
                "AT+QMTCFG=\"pdpcid\",1,1\r",
                "AT+QMTCFG=\"ssl\",1,0\r",
                "AT+QMTCFG=\"keepalive\",1,30\r",
                "AT+QMTCFG=\"session\",1,1\r",
                "AT+QMTCFG=\"timeout\",1,5,3,0\r",
                "AT+QMTCFG=\"recv/mode\",1,0,1\r",
                "AT+QMTCFG=\"dataformat\",1,0,0\r",
                "AT+QMTCFG=\"will\",1,0\r",
            ]
        );
        // Explicitly set defaults are sent without send_defaults too.
        let o = base()
            .plain_tcp()
            .no_will()
            .clean_session(true)
            .build()
            .unwrap();
        assert_eq!(
            lines(&o.config_commands(c0())),
            [
                "AT+QMTCFG=\"ssl\",0,0\r",
                "AT+QMTCFG=\"session\",0,1\r",
                "AT+QMTCFG=\"recv/mode\",0,0,1\r",
                "AT+QMTCFG=\"will\",0,0\r",
            ]
        );
    }

    /// The soak's finding: a retransmitted CONNECT loses a mosquitto session. A persistent
    /// session without an explicit `timeout` gets 20,0,0 (never retransmit) and the matching
    /// deadlines; a clean session or an explicit `timeout` is left as it was.
    #[test]
    fn a_persistent_session_defaults_to_no_retransmission() {
        let persistent = base().clean_session(false).build().unwrap();
        let sent = lines(&persistent.config_commands(c0()));
        assert_eq!(
            sent,
            [
                "AT+QMTCFG=\"session\",0,0\r",
                "AT+QMTCFG=\"timeout\",0,20,0,0\r",
                "AT+QMTCFG=\"recv/mode\",0,0,1\r",
            ]
        );
        // CONN waits the same 20 s (+ grace) as with the module's 5,3.
        assert_eq!(persistent.deadlines().conn, Deadlines::default().conn);
        assert_eq!(
            persistent.deadlines().retransmission,
            Duration::from_secs(22)
        );
        // send_defaults does not bring back 5,3.
        let reset = base()
            .clean_session(false)
            .send_defaults(true)
            .build()
            .unwrap();
        assert!(
            lines(&reset.config_commands(c0()))
                .contains(&"AT+QMTCFG=\"timeout\",0,20,0,0\r".into())
        );
        // An explicit timeout is sent as given, persistent or not.
        let explicit = base()
            .clean_session(false)
            .timeout(3, 2, true)
            .build()
            .unwrap();
        assert!(
            lines(&explicit.config_commands(c0()))
                .contains(&"AT+QMTCFG=\"timeout\",0,3,2,1\r".into())
        );
        assert_eq!(explicit.deadlines().conn, Duration::from_secs(11));
        // A clean session keeps the module's default (nothing sent; the golden transcripts).
        let clean = base().build().unwrap();
        assert!(
            !lines(&clean.config_commands(c0()))
                .iter()
                .any(|l| l.contains("timeout"))
        );
        assert_eq!(clean.effective_timeout(), None);
    }

    #[test]
    fn tls_changes_the_default_port() {
        let o = base().tls(2).build().unwrap();
        assert_eq!(o.port().get(), 8883);
        assert_eq!(o.tls_context().map(SslCtxIdx::get), Some(2));
    }

    fn param(e: ClientError) -> &'static str {
        match e {
            ClientError::Invalid(ParamError::OutOfRange { param, .. })
            | ClientError::Invalid(ParamError::Length { param, .. })
            | ClientError::Invalid(ParamError::ForbiddenByte { param, .. })
            | ClientError::Invalid(ParamError::Invalid { param, .. }) => param,
            other => panic!("not Invalid: {other:?}"),
        }
    }

    #[test]
    fn invalid_options_are_refused_naming_the_parameter() {
        let cases: Vec<(ClientOptionsBuilder, &str)> = vec![
            (ClientOptions::builder().client_id("x"), "host_name"),
            (ClientOptions::builder().host("h"), "clientid"),
            (base().host("a".repeat(101)), "host_name"),
            (base().port(0), "port"),
            (base().client_id("a\"b"), "clientid"),
            (base().credentials("u", "p\r"), "password"),
            (base().version(5), "vsn"),
            (base().pdp_cid(16), "cid"),
            (base().tls(6), "SSL_ctx_idx"),
            (base().keep_alive(3601), "keep_alive_time"),
            (base().timeout(0, 3, false), "pkt_timeout"),
            (base().timeout(5, 11, false), "retry_times"),
            (base().will(Qos::AtMostOnce, false, "", "m"), "topic"),
            (
                base().will(Qos::AtMostOnce, false, "t", "a\nb"),
                "willmessage",
            ),
            (
                base().will_bytes(Qos::AtMostOnce, false, "t", vec![0u8; 257]),
                "will_len",
            ),
            (base().ali_auth("", "d", "s"), "product key"),
            (base().ali_auth("p", "d", ""), "device secret"),
            (base().onenet("p", ""), "access key"),
            (base().hw_prod_id("p", "", "n", None), "product secret"),
            (base().qmtping(4), "qmtping_interval"),
            (base().edit_timeout(true, Some(121)), "edit_time"),
            (
                base().ali_auth("p", "d", "s").credentials("u", "p"),
                "username",
            ),
            (
                base().ali_auth("p", "d", "s").onenet("p", "k"),
                "aliauth/onenet/hwauth/hwprodid",
            ),
            (
                base()
                    .send_mode(DataEncoding::Text)
                    .data_format(DataEncoding::Hex, DataEncoding::Text),
                "send_mode",
            ),
        ];
        for (b, want) in cases {
            assert_eq!(param(b.build().unwrap_err()), want);
        }
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let secrets = ["hunter2", "DEVSECRET", "ACCESSKEY", "PRODSECRET"];
        let b = base()
            .credentials("user", "hunter2")
            .hw_auth("pid", "DEVSECRET", None);
        let o = b.clone().build().unwrap();
        let b2 = base().onenet("pid", "ACCESSKEY");
        let b3 = base().hw_prod_id("pid", "PRODSECRET", "n", None);
        let o3 = b3.clone().build().unwrap();
        let ali = base().ali_auth("pk", "dn", "DEVSECRET").build().unwrap();
        let shown = format!(
            "{b:?} {o:?} {b2:?} {b3:?} {o3:?} {ali:?} {} {}",
            o.conn_command(c0()),
            o.config_commands(c0())
                .iter()
                .map(|(c, _)| c.to_string())
                .collect::<String>()
        );
        for s in secrets {
            assert!(!shown.contains(s), "{s} leaked: {shown}");
        }
        assert!(shown.contains("<redacted>"));
        // An invalid secret's error names the parameter, not the value.
        let e = base().credentials("u", "hunter2\n").build().unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"));
    }

    #[test]
    fn publish_payloads_in_text_and_hex_mode() {
        let text = base().build().unwrap();
        let payload = b"a,\"b\"\r\n\x00\xff";
        let (cmd, data) = text
            .publish_command(
                c0(),
                MsgId::new(1).unwrap(),
                Qos::AtLeastOnce,
                true,
                "t/1",
                payload,
            )
            .unwrap();
        assert_eq!(cmd.to_bytes(), b"AT+QMTPUBEX=0,1,1,1,\"t/1\",9\r");
        assert_eq!(data, payload);
        let hex = base().send_mode(DataEncoding::Hex).build().unwrap();
        let (cmd, data) = hex
            .publish_command(
                c0(),
                MsgId::new(0).unwrap(),
                Qos::AtMostOnce,
                false,
                "t",
                payload,
            )
            .unwrap();
        assert_eq!(cmd.to_bytes(), b"AT+QMTPUBEX=0,0,0,0,\"t\",18\r");
        assert_eq!(data, b"612C2262220D0A00FF");
        // Limits: 1500 bytes of text, 750 in hex mode; refused before anything is built.
        assert!(
            text.publish_command(
                c0(),
                MsgId::new(0).unwrap(),
                Qos::AtMostOnce,
                false,
                "t",
                [0; 1500]
            )
            .is_ok()
        );
        assert_eq!(
            text.publish_command(
                c0(),
                MsgId::new(0).unwrap(),
                Qos::AtMostOnce,
                false,
                "t",
                [0; 1501]
            ),
            Err(ClientError::PayloadTooLarge {
                len: 1501,
                max: 1500
            })
        );
        assert_eq!(
            hex.publish_command(
                c0(),
                MsgId::new(0).unwrap(),
                Qos::AtMostOnce,
                false,
                "t",
                [0; 751]
            ),
            Err(ClientError::PayloadTooLarge { len: 751, max: 750 })
        );
        // msgid rules come from qmt-proto.
        let e = text
            .publish_command(
                c0(),
                MsgId::new(3).unwrap(),
                Qos::AtMostOnce,
                false,
                "t",
                b"x",
            )
            .unwrap_err();
        assert_eq!(param(e), "msgid");
    }

    #[test]
    fn tls_provisioning_matches_the_golden_transcript() {
        let ca = vec![b'A'; 1758];
        let cert = vec![b'B'; 1220];
        let key = b"-----BEGIN PRIVATE KEY-----SECRETKEYBYTES".to_vec();
        let tls = TlsFiles::new()
            .ca_cert("cacert.pem", ca.clone())
            .client_cert("client.pem", cert.clone())
            .client_key("UFS:user_key.pem", key.clone())
            .upload_timeout(100);
        let steps = tls.provision_commands(2).unwrap();
        let l: Vec<String> = steps
            .iter()
            .map(|s| String::from_utf8(s.command.to_bytes()).unwrap())
            .collect();
        assert_eq!(
            l,
            [
                "AT+QFUPL=\"UFS:cacert.pem\",1758,100\r",
                "AT+QFUPL=\"UFS:client.pem\",1220,100\r",
                format!("AT+QFUPL=\"UFS:user_key.pem\",{},100\r", key.len()).as_str(),
                "AT+QSSLCFG=\"cacert\",2,\"UFS:cacert.pem\"\r",
                "AT+QSSLCFG=\"clientcert\",2,\"UFS:client.pem\"\r",
                "AT+QSSLCFG=\"clientkey\",2,\"UFS:user_key.pem\"\r",
                "AT+QSSLCFG=\"seclevel\",2,2\r",
                "AT+QSSLCFG=\"sslversion\",2,4\r",
                "AT+QSSLCFG=\"ciphersuite\",2,0xFFFF\r",
                "AT+QSSLCFG=\"ignorelocaltime\",2,1\r",
            ]
        );
        assert_eq!(steps[0].data.as_deref(), Some(&ca[..]));
        assert_eq!(steps[2].data.as_deref(), Some(&key[..]));
        let check = steps[1].expect.clone().unwrap();
        assert_eq!(check.checksum, qfupl_checksum(&cert));
        assert_eq!(tls.expected_checksum("client.pem"), Some(check.checksum));
        assert_eq!(
            tls.expected_checksum("UFS:client.pem"),
            Some(check.checksum)
        );
        assert_eq!(tls.expected_checksum("nope.pem"), None);
        assert_eq!(check.verify(1220, check.checksum), Ok(()));
        assert_eq!(
            check.verify(1220, check.checksum ^ 1),
            Err(ClientError::ChecksumMismatch {
                file: "UFS:client.pem".into(),
                ours: check.checksum,
                module: check.checksum ^ 1
            })
        );
        assert!(matches!(
            check.verify(1000, check.checksum),
            Err(ClientError::UploadIncomplete {
                sent: 1220,
                stored: 1000,
                ..
            })
        ));
        // The key's bytes never show in Debug.
        let shown = format!("{tls:?} {steps:?}");
        assert!(!shown.contains("SECRETKEYBYTES"), "{shown}");
    }

    #[test]
    fn tls_provisioning_is_validated_first() {
        let e = TlsFiles::new()
            .client_cert("c.pem", b"c".to_vec())
            .provision_commands(0);
        assert_eq!(param(e.unwrap_err()), "clientkey");
        let e = TlsFiles::new()
            .client_cert("c.pem", b"c".to_vec())
            .client_key("k.pem", b"k".to_vec())
            .provision_commands(0);
        assert_eq!(param(e.unwrap_err()), "cacert");
        let e = TlsFiles::new()
            .ca_cert("ca.pem", b"x".to_vec())
            .provision_commands(6);
        assert_eq!(param(e.unwrap_err()), "SSL_ctx_idx");
        let e = TlsFiles::new()
            .ca_cert("ca.pem", Vec::new())
            .provision_commands(0);
        assert_eq!(param(e.unwrap_err()), "file_size");
        let e = TlsFiles::new()
            .ca_cert("ca.pem", b"x".to_vec())
            .sec_level(SecLevel::VerifyServerAndClient)
            .provision_commands(0);
        assert_eq!(param(e.unwrap_err()), "clientcert");
        // CA only: seclevel 1; no files: seclevel 0 and only settings.
        let s = TlsFiles::new()
            .ca_cert("ca.pem", b"x".to_vec())
            .provision_commands(0)
            .unwrap();
        assert_eq!(s[2].command.to_bytes(), b"AT+QSSLCFG=\"seclevel\",0,1\r");
        let s = TlsFiles::new()
            .ignore_local_time(false)
            .provision_commands(0)
            .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].command.to_bytes(), b"AT+QSSLCFG=\"seclevel\",0,0\r");
        assert_eq!(
            s[3].command.to_bytes(),
            b"AT+QSSLCFG=\"ignorelocaltime\",0,0\r"
        );
    }
}
