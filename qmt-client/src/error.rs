//! [`ClientError`]: every way an operation of the client can fail, typed, with what to do about it.
//!
//! Messages follow ARCHITECTURE.md "Errors say what to do": a timeout names the command and how long it
//! waited; a module error carries the `+CME ERROR` code or text; a refused connection carries the
//! CONNACK code; a lost link carries the `+QMTSTAT` code and the spec's recommended action (§6).
//! No variant holds a secret: parameters are named, never their values (qmt-proto's
//! [`ParamError`] reports only lengths and positions for secrets), and command names carry no
//! parameters.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use core::time::Duration;

use qmt_proto::FinalCode;
use qmt_proto::codes::{
    CloseResult, ConnackCode, DiscResult, OpenResult, PacketResult, RecommendedAction, StatCode,
};
use qmt_proto::error::ParamError;
use qmt_proto::params::Qos;
use qmt_proto::recv::HexError;

use crate::op::OpKind;

/// A final result code other than `OK`: how the module refused a command (spec §1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModuleError {
    /// A plain `ERROR` (`AT+CMEE=0`, or a command the module refuses outright).
    Error,
    /// `+CME ERROR: <n>`.
    Cme(u32),
    /// `+CME ERROR: <text>` (verbose, after `AT+CMEE=2`).
    CmeText(String),
    /// `+CMS ERROR: <n>` (some firmware).
    Cms(u32),
}

impl ModuleError {
    /// The error a final code stands for; `None` for `OK`.
    pub fn from_final(code: &FinalCode<'_>) -> Option<ModuleError> {
        match *code {
            FinalCode::Ok => None,
            FinalCode::Error => Some(ModuleError::Error),
            FinalCode::CmeError(n) => Some(ModuleError::Cme(n)),
            FinalCode::CmeErrorText(t) => Some(ModuleError::CmeText(t.to_owned())),
            FinalCode::CmsError(n) => Some(ModuleError::Cms(n)),
        }
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleError::Error => f.write_str("ERROR"),
            ModuleError::Cme(n) => write!(f, "+CME ERROR: {n}"),
            ModuleError::CmeText(t) => write!(f, "+CME ERROR: {t}"),
            ModuleError::Cms(n) => write!(f, "+CMS ERROR: {n}"),
        }
    }
}

/// Why a publish did not complete (carried by [`ClientError::PublishFailed`] and
/// [`Event::PublishFailed`](crate::event::Event::PublishFailed)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublishFailure {
    /// The module refused the `AT+QMTPUBEX` command itself (`ERROR` / `+CME ERROR`): nothing was
    /// sent to the broker.
    Refused(ModuleError),
    /// The command could not be completed on the serial port (the port refused or closed it):
    /// the module may or may not have taken it.
    NotWritten {
        /// What the port layer said.
        reason: String,
    },
    /// `+QMTPUBEX: <idx>,<msgid>,2`: the module gave up after `retry_times` retransmissions, or
    /// another result the spec does not document (the number is kept).
    ModuleGaveUp(PacketResult),
    /// The client's link was lost (`+QMTSTAT`) before the result came.
    LinkLost(StatCode),
    /// Keep-alive failed (`+QMTPING`) before the result came.
    PingTimeout,
    /// The module restarted (`RDY`) before the result came.
    ModuleRestarted,
    /// No result within this long.
    NoResult(Duration),
    /// The client was closed or disconnected by the host before the result came.
    Closed,
}

impl PublishFailure {
    /// Whether the module's half of a QoS 2 handshake may have been cut off by the failure: the
    /// client's connection went away (a link loss, keep-alive, a module restart) after the
    /// message was sent, so a `PUBREL` the broker waits for may never come. Without a result in
    /// time (the module may still finish it), a refusal, a give-up (no `PUBREC` came), or a
    /// close by the host, it was not.
    pub fn in_doubt(&self) -> bool {
        matches!(
            self,
            PublishFailure::LinkLost(_)
                | PublishFailure::PingTimeout
                | PublishFailure::ModuleRestarted
        )
    }
}

impl fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishFailure::Refused(cme) => write!(
                f,
                "the module refused AT+QMTPUBEX ({cme}); nothing was sent: check the client is connected, then publish again"
            ),
            PublishFailure::NotWritten { reason } => write!(
                f,
                "the command did not complete on the serial port ({reason}); publish again"
            ),
            PublishFailure::ModuleGaveUp(r) => write!(
                f,
                "the module gave up (result {}) after its retransmissions; check the link and publish again",
                r.code()
            ),
            PublishFailure::LinkLost(code) => write!(
                f,
                "the link was lost (+QMTSTAT {}: {}); {}, then publish again",
                code.code(),
                code.meaning(),
                code.recommended_action().text()
            ),
            PublishFailure::PingTimeout => {
                f.write_str("keep-alive failed (+QMTPING); reopen, then publish again")
            }
            PublishFailure::ModuleRestarted => {
                f.write_str("the module restarted (RDY); reconfigure, reopen, then publish again")
            }
            PublishFailure::NoResult(waited) => write!(
                f,
                "no +QMTPUBEX result within {waited:?}; the broker may or may not have it"
            ),
            PublishFailure::Closed => f.write_str("the client was closed before the result came"),
        }
    }
}

/// Every way a client operation can fail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// An option or parameter the spec does not allow. Refused before any byte was written.
    #[error("invalid parameter, nothing was written: {0}")]
    Invalid(#[from] ParamError),

    /// A payload larger than the module takes in one `AT+QMTPUBEX` (spec §5: longer input is cut),
    /// refused before anything was written. `max` is in payload bytes (half of the module's 1500
    /// in hex send mode).
    #[error(
        "payload is {len} bytes, the module takes at most {max}; nothing was written: split the message"
    )]
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The largest payload allowed in the client's send mode.
        max: usize,
    },

    /// No answer in time. `command` is the command's name (no parameters: they may hold secrets).
    #[error(
        "{command} got no answer within {waited:?}; check the module and the network, then retry"
    )]
    Timeout {
        /// What was waited for (`AT+QMTSUB result (client 0, msgid 3)`).
        command: String,
        /// How long it waited.
        waited: Duration,
    },

    /// Start-up found no module: `AT` was sent every ~500 ms for the whole boot allowance (spec
    /// §10.1) and never answered. The first mistake of every new user: the wrong port, the module
    /// off, or the wrong baud rate; `heard` says which is likelier.
    #[error(
        "{port}: no answer to AT ({attempts} tries over {secs} s); {heard}; check that the module is powered, that {port} is its AT port (not the modem/NMEA/diag one), and the baud rate",
        secs = .waited.as_secs()
    )]
    NoAnswer {
        /// The port.
        port: String,
        /// `AT`s sent.
        attempts: u32,
        /// How long start-up probed.
        waited: Duration,
        /// What was heard meanwhile, in words (nothing, bytes that are not AT output, …).
        heard: String,
    },

    /// Bring-up (spec §10.3): `AT+CPIN?` answered `+CME ERROR: 10`.
    #[error(
        "no SIM card: the module reports SIM not inserted; insert a SIM (power off first) and check the tray"
    )]
    SimNotInserted,

    /// Bring-up (spec §10.3): the SIM wants its PIN and none was configured.
    #[error(
        "the SIM is locked with a PIN: give it (--pin, or NetworkConfig::pin), or remove the PIN lock"
    )]
    SimPinRequired,

    /// Bring-up (spec §10.3): the module refused the configured PIN (`+CME ERROR: 16`). Not
    /// retried: three wrong PINs lock the SIM.
    #[error(
        "the SIM refused the PIN (incorrect password); check it before trying again: three wrong PINs lock the SIM"
    )]
    SimPinWrong,

    /// Bring-up (spec §10.3): `+CPIN: SIM PUK`, the SIM is locked after three wrong PINs.
    #[error("the SIM is PUK-locked after three wrong PINs: unlock it with the PUK in a phone")]
    SimPukRequired,

    /// Bring-up (spec §10.5): registration `<stat>` 3, the network denied it.
    #[error(
        "the network denied registration (stat 3): check that the SIM is active, has a data plan and may roam here"
    )]
    RegistrationDenied,

    /// Bring-up (spec §10.5): not registered within the wait.
    #[error("not registered after {secs} s ({state}): check the antenna, the coverage and the SIM's plan", secs = .waited.as_secs(), state = reg_words(.stat))]
    NotRegistered {
        /// The last packet-domain `<stat>` seen.
        stat: qmt_proto::RegStat,
        /// How long it waited.
        waited: Duration,
    },

    /// Bring-up (spec §10.4): not registered, and `AT+CSQ` says no signal (99).
    #[error("no signal after {secs} s (AT+CSQ 99): connect the antenna, or move to coverage", secs = .waited.as_secs())]
    NoSignal {
        /// How long it waited.
        waited: Duration,
    },

    /// Bring-up (spec §10.6): `AT+QIACT` failed, also after `AT+QIDEACT`.
    #[error(
        "the data context could not be activated with APN \"{apn}\": check the APN (--apn) and its user and password"
    )]
    PdpActivationFailed {
        /// The APN tried (empty: the context's own).
        apn: String,
    },

    /// `AT+QMTOPEN` failed and the module has no active data context for the client: without
    /// bring-up, qmt assumes one (spec §10.6).
    #[error(
        "AT+QMTOPEN failed: PDP context {cid} is not active (no data bearer); let qmt bring the network up (drop --no-bring-up, give --apn), or activate it with AT+QIACT={cid}"
    )]
    NoDataContext {
        /// The client's context (`pdpcid`).
        cid: u8,
    },

    /// Bring-up: a stage did not finish in its time.
    #[error("network bring-up timed out at the {stage} stage after {secs} s", secs = .waited.as_secs())]
    StageTimeout {
        /// The stage (`SIM`, `registration` …).
        stage: &'static str,
        /// How long it waited.
        waited: Duration,
    },

    /// The module refused the command with `ERROR` or `+CME ERROR`.
    #[error("{command} was refused by the module: {cme}")]
    Module {
        /// The command's name (no parameters).
        command: String,
        /// The final result code.
        cme: ModuleError,
    },

    /// `+QMTCONN: <idx>,0,<ret_code>` with a code other than 0: the broker refused the connection.
    #[error("the broker refused the connection: CONNACK {code} ({advice})", code = .connack.code(), advice = connack_advice(.connack))]
    Refused {
        /// The CONNACK return code.
        connack: ConnackCode,
    },

    /// `+QMTOPEN: <idx>,<result>` with a result other than 0.
    #[error("AT+QMTOPEN failed with result {code}: {advice}", code = .result.code(), advice = open_advice(.result))]
    OpenFailed {
        /// The result code.
        result: OpenResult,
    },

    /// `+QMTCLOSE: <idx>,-1` (or an undocumented result).
    #[error("AT+QMTCLOSE failed with result {code}; the client may still be open: query AT+QMTOPEN?", code = .result.code())]
    CloseFailed {
        /// The result code.
        result: CloseResult,
    },

    /// `+QMTDISC: <idx>,-1` (or an undocumented result).
    #[error("AT+QMTDISC failed with result {code}; close the client with AT+QMTCLOSE", code = .result.code())]
    DiscFailed {
        /// The result code.
        result: DiscResult,
    },

    /// `+QMTCONN`/`+QMTSUB`/`+QMTUNS: …,2` (or an undocumented result): the module could not send
    /// the packet, after `retry_times` retransmissions.
    #[error("{op} failed with result {code}: the module could not send the packet after its retransmissions; check the link, then retry", code = .result.code())]
    SendFailed {
        /// The operation.
        op: OpKind,
        /// The result code.
        result: PacketResult,
    },

    /// A publish did not complete. QoS 1/2 publishes are never dropped silently: each one that
    /// fails ends here (and as an event).
    #[error("publish (msgid {msgid}, QoS {qos}) failed: {cause}")]
    PublishFailed {
        /// Its packet identifier (0 for QoS 0).
        msgid: u16,
        /// Its QoS.
        qos: Qos,
        /// Why.
        cause: PublishFailure,
    },

    /// `+QMTSTAT: <idx>,<code>`: the client's link is gone.
    #[error("the link was lost (+QMTSTAT {n}: {meaning}); recommended: {todo}", n = .code.code(), meaning = .code.meaning(), todo = .action.text())]
    LinkLost {
        /// The `+QMTSTAT` code.
        code: StatCode,
        /// What the spec recommends (§6).
        action: RecommendedAction,
    },

    /// `+QMTPING: <idx>,1`: keep-alive failed and the module closed the client.
    #[error("keep-alive failed (+QMTPING): the module closed the client; reopen it")]
    PingTimeout,

    /// `RDY`: the module restarted and every client's state is gone.
    #[error("the module restarted (RDY); configure, open and connect again")]
    ModuleRestarted,

    /// The operation needs a connected client.
    #[error("the client is not connected; connect first")]
    NotConnected,

    /// The client (or the port) was closed.
    #[error("the client is closed")]
    Closed,

    /// An operation with the same key is already waiting for its result (one OPEN/CLOSE/CONN/DISC
    /// per client at a time; SUB/UNS/PUBEX ids are unique while in flight).
    #[error("{op} is already in progress for this client (msgid {msgid}); wait for it")]
    InProgress {
        /// The operation.
        op: OpKind,
        /// Its msgid (0 where none applies).
        msgid: u16,
    },

    /// All 65535 packet identifiers of the client are in flight.
    #[error("no free packet identifier: 65535 operations are in flight; wait for results")]
    NoFreeMsgId,

    /// The module's `+QFUPL` checksum does not match the bytes written (spec §7).
    #[error(
        "upload of {file} is corrupt: checksum {ours:04x} expected, the module computed {module:04x}; upload it again"
    )]
    ChecksumMismatch {
        /// The file name on the module.
        file: String,
        /// The checksum of the bytes written.
        ours: u16,
        /// The module's checksum.
        module: u16,
    },

    /// The module stored another number of bytes than written (`+QFUPL: <upload_size>,…`).
    #[error(
        "upload of {file} is incomplete: {sent} bytes written, the module stored {stored}; upload it again"
    )]
    UploadIncomplete {
        /// The file name on the module.
        file: String,
        /// Bytes written.
        sent: u64,
        /// Bytes the module reports.
        stored: u64,
    },

    /// Before a TLS open (spec §10.9): the module's clock is earlier than the CA certificate's
    /// validity start, or was never set (a year before 2024), and `ignorelocaltime` is off: the
    /// handshake would fail. Nothing was opened.
    #[error(
        "the module's clock reads \"{clock}\" (UTC {utc}), {why}: the TLS handshake would fail; sync the clock (--ntp <server>, ClientOptionsBuilder::ntp_server) or set ignorelocaltime on the SSL context",
        utc = unix_words(.clock.unix_utc()),
        why = match .not_before {
            Some(t) => format!("before the CA certificate's validity starts ({})", unix_words(t.unix_utc())),
            None => String::from("so it was never set"),
        }
    )]
    ClockNotSet {
        /// What `AT+CCLK?` answered.
        clock: qmt_proto::ModuleTime,
        /// The CA certificate's `notBefore` (UTC), when it was known and later than the clock.
        not_before: Option<qmt_proto::ModuleTime>,
    },

    /// `AT+QNTP` ended with `+QNTP: <err>` other than 0: the module's clock was not set.
    #[error(
        "the clock sync (AT+QNTP) failed with +QNTP error {code}: check the NTP server's name and that the data context is active, or set ignorelocaltime on the SSL context",
        code = .result.code()
    )]
    NtpFailed {
        /// The `+QNTP` result.
        result: qmt_proto::NtpResult,
    },

    /// The serial port could not be opened, or refused the command (its queue or write buffer is
    /// full: back-pressure, retry later; or it is closed).
    #[error("serial port: {reason}")]
    Port {
        /// What the port layer said (no command parameters).
        reason: String,
    },

    /// `Modem::client` was asked for a client index that already has a live `Client`.
    #[error("client {client_idx} is already in use on this modem; drop its Client first")]
    ClientInUse {
        /// The client index.
        client_idx: qmt_proto::params::ClientIdx,
    },

    /// A hex payload (`dataformat` recv_mode 1) that does not decode.
    #[error("received payload is not valid hex: {0}")]
    BadHexPayload(HexError),
}

/// A UTC instant as `2024-05-17 01:30:00`.
fn unix_words(unix: i64) -> String {
    match qmt_proto::ModuleTime::from_unix(unix, 0) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        None => format!("{unix} s after 1970"),
    }
}

/// What to do about a refused CONNACK (MQTT 3.1.1 §3.2.2.3).
fn connack_advice(c: &ConnackCode) -> &'static str {
    match *c {
        ConnackCode::Accepted => "accepted",
        ConnackCode::UnacceptableProtocolVersion => {
            "unacceptable protocol version: set the version option (3 = MQTT 3.1, 4 = MQTT 3.1.1)"
        }
        ConnackCode::IdentifierRejected => {
            "identifier rejected: use another client id (MQTT 3.1 brokers allow 23 bytes)"
        }
        ConnackCode::ServerUnavailable => "server unavailable: retry later",
        ConnackCode::BadCredentials => "bad user name or password: check the credentials",
        ConnackCode::NotAuthorized => "not authorized: check the broker's access rules",
        ConnackCode::Unknown(_) => "undocumented code: check the broker",
    }
}

/// What to do about a failed open (spec §4 table).
fn open_advice(r: &OpenResult) -> &'static str {
    match *r {
        OpenResult::Opened => "opened",
        OpenResult::FailedToOpen => "failed to open the network: check the PDP context and retry",
        OpenResult::WrongParameter => "wrong parameter: check host and port",
        OpenResult::IdentifierOccupied => {
            "client_idx is occupied (left open earlier?): close it with AT+QMTCLOSE, then open again"
        }
        OpenResult::PdpActivationFailed => {
            "failed to activate PDP: check the SIM, APN and the pdpcid option"
        }
        OpenResult::DomainNameParseFailed => "failed to resolve the host name: check it and DNS",
        OpenResult::NetworkError => "network connection error: check the server and the port",
        OpenResult::Unknown(_) => "undocumented result: retry, then check the module's firmware",
    }
}

impl PublishFailure {
    /// The cause of a publish that failed with `error` (any [`ClientError`]), so that every
    /// failed publish is a [`ClientError::PublishFailed`] with a cause, however it failed.
    pub fn from_error(error: &ClientError) -> PublishFailure {
        match error {
            ClientError::PublishFailed { cause, .. } => cause.clone(),
            ClientError::Module { cme, .. } => PublishFailure::Refused(cme.clone()),
            ClientError::Timeout { waited, .. } => PublishFailure::NoResult(*waited),
            ClientError::LinkLost { code, .. } => PublishFailure::LinkLost(*code),
            ClientError::PingTimeout => PublishFailure::PingTimeout,
            ClientError::ModuleRestarted => PublishFailure::ModuleRestarted,
            ClientError::Closed | ClientError::NotConnected => PublishFailure::Closed,
            other => PublishFailure::NotWritten {
                reason: other.to_string(),
            },
        }
    }
}

/// A registration state in words, for [`ClientError::NotRegistered`].
fn reg_words(stat: &qmt_proto::RegStat) -> &'static str {
    crate::status::stat_words(*stat)
}

impl ClientError {
    /// A lost link with the spec's recommended action for `code`.
    pub fn link_lost(code: StatCode) -> ClientError {
        ClientError::LinkLost {
            code,
            action: code.recommended_action(),
        }
    }

    /// The module's refusal of `command` (named without parameters), from its final code;
    /// `None` for `OK`.
    pub fn from_final(command: &qmt_proto::Command, code: &FinalCode<'_>) -> Option<ClientError> {
        ModuleError::from_final(code).map(|cme| ClientError::Module {
            command: command_name(command),
            cme,
        })
    }

    /// Whether retrying the same operation later may succeed (network and module conditions);
    /// `false` for errors of the request itself.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            ClientError::Invalid(_)
                | ClientError::PayloadTooLarge { .. }
                | ClientError::InProgress { .. }
                | ClientError::BadHexPayload(_)
                | ClientError::ClientInUse { .. }
                | ClientError::ClockNotSet { .. }
        )
    }
}

/// The name of a command without its parameters (`AT+QMTCONN`, `AT+QMTCFG="keepalive"`): safe
/// for errors and logs, since parameters may hold secrets (qmt-proto's `Command::name`).
pub fn command_name(command: &qmt_proto::Command) -> String {
    command.name().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmt_proto::Command;
    use qmt_proto::command::{Conn, Credentials};
    use qmt_proto::params::{ClientId, ClientIdx, Password, UserName};

    #[test]
    fn messages_say_what_to_do() {
        let e = ClientError::link_lost(StatCode::PingFailed);
        assert_eq!(
            e.to_string(),
            "the link was lost (+QMTSTAT 2: sending PINGREQ timed out or failed); recommended: deactivate and reactivate the PDP context, then reopen"
        );
        let e = ClientError::Refused {
            connack: ConnackCode::BadCredentials,
        };
        assert!(e.to_string().contains("CONNACK 4"), "{e}");
        assert!(e.to_string().contains("check the credentials"), "{e}");
        let e = ClientError::OpenFailed {
            result: OpenResult::IdentifierOccupied,
        };
        assert!(e.to_string().contains("AT+QMTCLOSE"), "{e}");
        let e = ClientError::Timeout {
            command: "AT+QMTOPEN result (client 0)".into(),
            waited: Duration::from_secs(120),
        };
        assert!(
            e.to_string()
                .starts_with("AT+QMTOPEN result (client 0) got no answer within 120s")
        );
        let e = ClientError::ChecksumMismatch {
            file: "UFS:ca.pem".into(),
            ours: 0x384a,
            module: 0x0001,
        };
        assert!(e.to_string().contains("384a") && e.to_string().contains("0001"));
    }

    #[test]
    fn module_errors_keep_code_and_text() {
        let conn = Command::Conn(Conn {
            client_idx: ClientIdx::new(0).unwrap(),
            client_id: ClientId::new("dev").unwrap(),
            credentials: Some(Credentials {
                username: UserName::new("u").unwrap(),
                password: Password::new("hunter2").unwrap(),
            }),
        });
        assert_eq!(ClientError::from_final(&conn, &FinalCode::Ok), None);
        let e = ClientError::from_final(&conn, &FinalCode::CmeErrorText("operation not allowed"))
            .unwrap();
        assert_eq!(
            e.to_string(),
            "AT+QMTCONN was refused by the module: +CME ERROR: operation not allowed"
        );
        let e = ClientError::from_final(&conn, &FinalCode::CmeError(3)).unwrap();
        assert_eq!(
            e,
            ClientError::Module {
                command: "AT+QMTCONN".into(),
                cme: ModuleError::Cme(3)
            }
        );
        // The password never shows, in Display or Debug.
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        assert_eq!(
            ModuleError::from_final(&FinalCode::Error),
            Some(ModuleError::Error)
        );
    }

    #[test]
    fn command_names_carry_no_parameters() {
        use qmt_proto::cfg::{Cfg, CfgValue};
        use qmt_proto::params::{DeviceName, DeviceSecret, ProductKey};
        let ali = Command::Cfg(Cfg::set(
            ClientIdx::new(0).unwrap(),
            CfgValue::AliAuth {
                product_key: ProductKey::new("pk").unwrap(),
                device_name: DeviceName::new("dn").unwrap(),
                device_secret: DeviceSecret::new("s3cr3t").unwrap(),
            },
        ));
        assert_eq!(command_name(&ali), "AT+QMTCFG=\"aliauth\"");
        assert_eq!(command_name(&Command::OpenRead), "AT+QMTOPEN?");
        assert_eq!(command_name(&Command::SubTest), "AT+QMTSUB=?");
    }

    #[test]
    fn transient_classification() {
        assert!(ClientError::link_lost(StatCode::ClosedByPeer).is_transient());
        assert!(
            !ClientError::PayloadTooLarge {
                len: 1501,
                max: 1500
            }
            .is_transient()
        );
    }
}
