//! Host commands (spec §1, §3–§5, §7): every command a host sends to the module, typed.
//!
//! One [`Command`] variant per command form (test `=?`, read `?`, write `=…`, execute). The
//! parameters are the checked types of [`crate::params`] and the command structs below, whose
//! constructors enforce the rules that tie parameters together (a SUB `msgid` is never 0, a PUBEX
//! `msgid` is 0 exactly when `qos` is 0, …). So a `Command` that exists is valid and
//! [`Command::encode`] always writes a line the spec allows.
//!
//! [`Command::parse`] is the inverse: it accepts what a person or another driver may type
//! (lower-case `at+qmtsub=…`, spaces after commas, with or without the final `\r`; spec §1 and §6
//! variation 5) and checks every value through the same constructors, so an out-of-range value is a
//! [`ParseError::Param`] that names the parameter. It never panics, whatever the input.
//!
//! ```
//! use qmt_proto::command::{Command, Open};
//! use qmt_proto::params::{ClientIdx, HostName, Port};
//!
//! let open = Command::Open(Open {
//!     client_idx: ClientIdx::new(0)?,
//!     host: HostName::new("broker.example")?,
//!     port: Port::new(1883)?,
//! });
//! assert_eq!(open.to_bytes(), b"AT+QMTOPEN=0,\"broker.example\",1883\r");
//! assert_eq!(Command::parse(b"at+qmtopen=0, \"broker.example\", 1883"), Ok(open));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use winnow::Parser;
use winnow::ascii::{Caseless, space0};
use winnow::combinator::{alt, empty, opt};
use winnow::stream::AsChar;
use winnow::token::take_while;

use crate::cfg::Cfg;
use crate::clock::{LtsMode, NtpSync};
use crate::cmdsyntax::{R, at_end, code_enum, flag, lex, more, num, put_flag, secret, sep, text};
use crate::error::{ParamError, ParseError};
use crate::kind::{CommandKind, Form};
use crate::net::{
    ApnAuth, ContextConfig, ContextType, Functionality, PowerDownMode, RegDomain, RegUrcMode,
};
use crate::params::{
    Apn, ApnPassword, ApnUser, ClientId, ClientIdx, ContextId, FileName, HostName, MsgId, Password,
    PayloadLen, Pin, Port, Qos, RecvId, Topic, UserName,
};
use crate::sibling::{Bc26Pub, Ec2xPub, QmtPub};
use crate::ssl::SslCfg;
use crate::syntax::Out;
use crate::uart::{BaudRate, FlowControl};

// ------------------------------------------------------------------------------------------------
// Basic commands.

code_enum!(
    /// `<n>` of `AT+CMEE=<n>` (3GPP TS 27.007): how the module reports errors (spec §1).
    CmeeMode, "n", "0-2" {
        /// 0: a plain `ERROR`.
        Disabled = 0,
        /// 1: `+CME ERROR: <n>` with a numeric code.
        Numeric = 1,
        /// 2: `+CME ERROR: <text>` with a verbose message.
        Verbose = 2,
    }
);

// ------------------------------------------------------------------------------------------------
// §4 connection commands.

/// `AT+QMTOPEN=<client_idx>,"<host_name>",<port>` (spec §4): open the TCP (or TLS, per `ssl`)
/// connection of a client to an MQTT server. `OK` at once, then `+QMTOPEN: <client_idx>,<result>`
/// within 120 s.
///
/// Every field's type checks its own range, so the fields are public.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Open {
    /// Which of the six clients (0–5).
    pub client_idx: ClientIdx,
    /// Domain name or IP address of the server, at most 100 bytes.
    pub host: HostName,
    /// TCP port of the server, 1–65535 (1883 plain, 8883 TLS by convention).
    pub port: Port,
}

/// `username` and `password` of `AT+QMTCONN` (spec §4). They travel together: the command has
/// either both or neither.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// The MQTT user name.
    pub username: UserName,
    /// The MQTT password (redacted in `Debug` and `Display`).
    pub password: Password,
}

/// `AT+QMTCONN=<client_idx>,"<clientid>"[,"<username>","<password>"]` (spec §4): send MQTT
/// CONNECT over an opened client. `OK` at once, then `+QMTCONN: <client_idx>,<result>[,<ret_code>]`
/// within `pkt_timeout`. Omit the credentials when `aliauth` (or another cloud auth) is configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    /// Which of the six clients (0–5); it must have been opened with [`Open`].
    pub client_idx: ClientIdx,
    /// The MQTT client identifier. A second connection with the same id makes the broker drop the
    /// first one.
    pub client_id: ClientId,
    /// User name and password, if the broker wants them.
    pub credentials: Option<Credentials>,
}

// ------------------------------------------------------------------------------------------------
// §5 messaging commands.

/// Refuses `msgid` 0 where the spec wants 1–65535 (SUB, UNS).
fn nonzero_msgid(msgid: MsgId) -> Result<MsgId, ParamError> {
    if msgid.get() == 0 {
        return Err(ParamError::OutOfRange {
            param: "msgid",
            value: 0,
            allowed: "1-65535",
        });
    }
    Ok(msgid)
}

/// Checks the number of topics of one SUB or UNS command.
fn topic_count(n: usize) -> Result<(), ParamError> {
    if !(1..=MAX_TOPICS).contains(&n) {
        return Err(ParamError::OutOfRange {
            param: "number of topics",
            value: i64::try_from(n).unwrap_or(i64::MAX),
            allowed: "1-5",
        });
    }
    Ok(())
}

/// The most topics one `AT+QMTSUB` or `AT+QMTUNS` carries. The spec's safe assumption (§5,
/// **uncertain**): modules are documented with examples of up to 5; send more in several commands.
pub const MAX_TOPICS: usize = 5;

/// `AT+QMTSUB=<client_idx>,<msgid>,"<topic1>",<qos1>[,"<topic2>",<qos2>…]` (spec §5): subscribe
/// to 1–5 topic filters (`+` and `#` allowed). `OK` at once, then
/// `+QMTSUB: <client_idx>,<msgid>,<result>[,<value>]`.
///
/// Built with [`Sub::new`], which refuses `msgid` 0 and an empty or too long topic list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sub {
    client_idx: ClientIdx,
    msgid: MsgId,
    topics: Vec<(Topic, Qos)>,
}

impl Sub {
    /// A subscription of `client_idx` to 1–[`MAX_TOPICS`] `(topic filter, requested qos)` pairs.
    /// `msgid` (1–65535) is the MQTT packet identifier; the result line repeats it.
    pub fn new(
        client_idx: ClientIdx,
        msgid: MsgId,
        topics: impl IntoIterator<Item = (Topic, Qos)>,
    ) -> Result<Sub, ParamError> {
        let msgid = nonzero_msgid(msgid)?;
        let topics: Vec<_> = topics.into_iter().take(MAX_TOPICS + 1).collect();
        topic_count(topics.len())?;
        Ok(Sub {
            client_idx,
            msgid,
            topics,
        })
    }

    /// The client (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.client_idx
    }

    /// The packet identifier (1–65535).
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The 1–5 `(topic filter, qos)` pairs, in wire order.
    pub fn topics(&self) -> &[(Topic, Qos)] {
        &self.topics
    }
}

/// `AT+QMTUNS=<client_idx>,<msgid>,"<topic1>"[,"<topic2>"…]` (spec §5): unsubscribe 1–5 topic
/// filters. `OK` at once, then `+QMTUNS: <client_idx>,<msgid>,<result>[,<value>]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uns {
    client_idx: ClientIdx,
    msgid: MsgId,
    topics: Vec<Topic>,
}

impl Uns {
    /// Unsubscribes `client_idx` from 1–[`MAX_TOPICS`] topic filters; `msgid` 1–65535.
    pub fn new(
        client_idx: ClientIdx,
        msgid: MsgId,
        topics: impl IntoIterator<Item = Topic>,
    ) -> Result<Uns, ParamError> {
        let msgid = nonzero_msgid(msgid)?;
        let topics: Vec<_> = topics.into_iter().take(MAX_TOPICS + 1).collect();
        topic_count(topics.len())?;
        Ok(Uns {
            client_idx,
            msgid,
            topics,
        })
    }

    /// The client (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.client_idx
    }

    /// The packet identifier (1–65535).
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The 1–5 topic filters, in wire order.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }
}

/// `AT+QMTPUBEX=<client_idx>,<msgid>,<qos>,<retain>,"<topic>",<length>` (spec §5): publish a
/// message. The module answers `> ` and the host writes exactly `length` bytes (see
/// [`Command::data_phase`]); then `OK`, and later `+QMTPUBEX: <client_idx>,<msgid>,<result>[,<value>]`.
///
/// Prefer [`PubEx::for_payload`], which takes `length` from the payload itself so the two can
/// never disagree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PubEx {
    client_idx: ClientIdx,
    msgid: MsgId,
    qos: Qos,
    retain: bool,
    topic: Topic,
    length: PayloadLen,
}

impl PubEx {
    /// A publish of `length` bytes on `topic`. `msgid` must be 0 when `qos` is 0 (no packet
    /// identifier in a QoS 0 PUBLISH) and 1–65535 otherwise (spec §2). `retain`: the broker keeps
    /// the message for future subscribers.
    pub fn new(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
        length: PayloadLen,
    ) -> Result<PubEx, ParamError> {
        crate::params::check_pub_msgid(qos, msgid)?;
        Ok(PubEx {
            client_idx,
            msgid,
            qos,
            retain,
            topic,
            length,
        })
    }

    /// Like [`PubEx::new`] with `length` = `payload.len()` (0–1500 bytes; longer is refused with
    /// the parameter `length`, before anything is written).
    pub fn for_payload(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
        payload: &[u8],
    ) -> Result<PubEx, ParamError> {
        let length = PayloadLen::new(i64::try_from(payload.len()).unwrap_or(i64::MAX))?;
        PubEx::new(client_idx, msgid, qos, retain, topic, length)
    }

    /// The client (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.client_idx
    }

    /// The packet identifier (0 for QoS 0).
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The quality of service.
    pub fn qos(&self) -> Qos {
        self.qos
    }

    /// Whether the broker retains the message.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// The topic name.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The number of payload bytes the host writes after `> `.
    pub fn length(&self) -> PayloadLen {
        self.length
    }
}

/// `AT+QMTRECV=<client_idx>[,<recv_id>]` (spec §5): read messages stored in the module's buffer
/// (`recv/mode` 1). Answers zero or more `+QMTRECV: …` lines, then `OK`. Reading frees the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Recv {
    /// The client (0–5).
    pub client_idx: ClientIdx,
    /// One slot (0–4), or `None` to read every stored message.
    pub recv_id: Option<RecvId>,
}

// ------------------------------------------------------------------------------------------------
// §7 AT+QFUPL.

pub use crate::params::{FileSize, UploadTimeout};

// ------------------------------------------------------------------------------------------------
// §10 commands around MQTT.

pub use crate::net::IdentityQuery;

/// `AT+QFUPL="<filename>"[,<file_size>[,<timeout>]]` (spec §7): upload a file (a certificate, a
/// key) to the module's file system. With a size the module answers `CONNECT` and the host writes
/// exactly `file_size` bytes; then `+QFUPL: <upload_size>,<checksum>` and `OK`.
///
/// Without a size the module's own default applies and the data phase has no length this crate
/// could announce ([`Command::data_phase`] is `None`); drivers should always give the size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileUpload {
    name: FileName,
    size: Option<FileSize>,
    timeout: Option<UploadTimeout>,
}

impl FileUpload {
    /// An upload of `file_size` bytes to `name` (`"UFS:<file>"`), the module's default timeout.
    pub fn new(name: FileName, size: FileSize) -> FileUpload {
        FileUpload {
            name,
            size: Some(size),
            timeout: None,
        }
    }

    /// An upload with an explicit data timeout.
    pub fn with_timeout(name: FileName, size: FileSize, timeout: UploadTimeout) -> FileUpload {
        FileUpload {
            name,
            size: Some(size),
            timeout: Some(timeout),
        }
    }

    /// The bare form `AT+QFUPL="<filename>"` (no size, no timeout).
    pub fn without_size(name: FileName) -> FileUpload {
        FileUpload {
            name,
            size: None,
            timeout: None,
        }
    }

    /// Any shape the syntax allows: a timeout needs a size (parameter `timeout` refused otherwise).
    pub fn from_parts(
        name: FileName,
        size: Option<FileSize>,
        timeout: Option<UploadTimeout>,
    ) -> Result<FileUpload, ParamError> {
        if size.is_none() && timeout.is_some() {
            return Err(ParamError::Invalid {
                param: "timeout",
                reason: "needs a file_size before it",
            });
        }
        Ok(FileUpload {
            name,
            size,
            timeout,
        })
    }

    /// The file name on the module (`UFS:…`).
    pub fn name(&self) -> &FileName {
        &self.name
    }

    /// The number of bytes the host writes after `CONNECT`.
    pub fn size(&self) -> Option<FileSize> {
        self.size
    }

    /// The data timeout, if given.
    pub fn timeout(&self) -> Option<UploadTimeout> {
        self.timeout
    }
}

// ------------------------------------------------------------------------------------------------
// Command.

/// A raw data phase that follows a command (spec §1): the module invites the data, then the host
/// writes exactly `len` bytes with no terminator, or (the EC2x/EG9x/BG9x `AT+QMTPUB` without a
/// length) the payload and Ctrl-Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataPhase {
    /// The module answers the two bytes `> ` (no line end): `AT+QMTPUBEX`,
    /// `AT+QMTCFG="willex"` with `will_fg` 1, and the counted `AT+QMTPUB` of EC2x/EG9x/BG9x
    /// ([`Ec2xPub`] with `msglen`).
    Prompt {
        /// How many bytes the host writes after the prompt.
        len: usize,
    },
    /// The module answers `> ` and reads until Ctrl-Z ([`CTRL_Z`](crate::sibling::CTRL_Z), 0x1A);
    /// ESC ([`ESC`](crate::sibling::ESC), 0x1B) cancels: the `AT+QMTPUB` of EC2x/EG9x/BG9x
    /// without `msglen` ([`Ec2xPub::until_ctrl_z`]). The host chooses the length (at most
    /// [`CTRL_Z_MAX_LEN`](crate::sibling::CTRL_Z_MAX_LEN)) and writes the payload, then the
    /// Ctrl-Z; the payload holds neither byte ([`DataPhase::check_data`]).
    PromptCtrlZ,
    /// The module answers the line `CONNECT`: `AT+QFUPL` with a size.
    Connect {
        /// How many bytes the host writes after `CONNECT`.
        len: usize,
    },
}

impl DataPhase {
    /// How many raw bytes the host writes; `None` for [`DataPhase::PromptCtrlZ`], whose length
    /// the host chooses (the Ctrl-Z after them is not counted).
    pub fn data_len(&self) -> Option<usize> {
        match *self {
            DataPhase::Prompt { len } | DataPhase::Connect { len } => Some(len),
            DataPhase::PromptCtrlZ => None,
        }
    }

    /// Whether the module invites the data with `> ` (and not with `CONNECT`).
    pub fn prompted(&self) -> bool {
        matches!(self, DataPhase::Prompt { .. } | DataPhase::PromptCtrlZ)
    }

    /// The byte the host writes after the data, if any: Ctrl-Z for [`DataPhase::PromptCtrlZ`].
    pub fn terminator(&self) -> Option<u8> {
        match self {
            DataPhase::PromptCtrlZ => Some(crate::sibling::CTRL_Z),
            DataPhase::Prompt { .. } | DataPhase::Connect { .. } => None,
        }
    }

    /// Checks the data the host is about to write, before any byte is: exactly
    /// [`data_len`](Self::data_len) bytes (the parameter `data length`), or for
    /// [`DataPhase::PromptCtrlZ`] a payload without Ctrl-Z or ESC and of at most
    /// [`CTRL_Z_MAX_LEN`](crate::sibling::CTRL_Z_MAX_LEN) bytes
    /// ([`check_ctrl_z_payload`](crate::sibling::check_ctrl_z_payload)).
    pub fn check_data(&self, data: &[u8]) -> Result<(), ParamError> {
        match self.data_len() {
            None => crate::sibling::check_ctrl_z_payload(data),
            Some(len) if data.len() == len => Ok(()),
            Some(_) => Err(ParamError::OutOfRange {
                param: "data length",
                value: i64::try_from(data.len()).unwrap_or(i64::MAX),
                allowed: "the length the command announces",
            }),
        }
    }
}

/// Every host command of the spec, one variant per command form.
///
/// `Debug` and `Display` never show a secret (password, device secret, access key, product
/// secret); [`Command::encode`] writes them, since the module needs them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `AT`: is the module there? (`OK`).
    At,
    /// `ATE0` (`false`) / `ATE1` (`true`): command echo off / on (spec §1; modules start with echo on).
    Echo(bool),
    /// `AT+CMEE=<n>`: how errors are reported.
    Cmee(CmeeMode),
    /// `AT+QMTCFG=?`: list every sub-command with its ranges (spec §3).
    CfgTest,
    /// `AT+QMTCFG="<name>",<client_idx>[,<values>…]`: query or set one option (spec §3).
    Cfg(Cfg),
    /// `AT+QMTOPEN=?`.
    OpenTest,
    /// `AT+QMTOPEN?`: which clients are open, to which server.
    OpenRead,
    /// `AT+QMTOPEN=<client_idx>,"<host_name>",<port>`.
    Open(Open),
    /// `AT+QMTCLOSE=?`.
    CloseTest,
    /// `AT+QMTCLOSE=<client_idx>`: close a client's network connection (result within 30 s).
    Close(ClientIdx),
    /// `AT+QMTCONN=?`.
    ConnTest,
    /// `AT+QMTCONN?`: the state of every client (1 initializing … 4 disconnecting).
    ConnRead,
    /// `AT+QMTCONN=<client_idx>,"<clientid>"[,"<username>","<password>"]`.
    Conn(Conn),
    /// `AT+QMTDISC=?`.
    DiscTest,
    /// `AT+QMTDISC=<client_idx>`: send DISCONNECT and close the connection (result within 30 s).
    Disc(ClientIdx),
    /// `AT+QMTSUB=?`.
    SubTest,
    /// `AT+QMTSUB=<client_idx>,<msgid>,"<topic>",<qos>…`.
    Sub(Sub),
    /// `AT+QMTUNS=?`.
    UnsTest,
    /// `AT+QMTUNS=<client_idx>,<msgid>,"<topic>"…`.
    Uns(Uns),
    /// `AT+QMTPUBEX=?`.
    PubExTest,
    /// `AT+QMTPUBEX=<client_idx>,<msgid>,<qos>,<retain>,"<topic>",<length>`, then the payload.
    PubEx(PubEx),
    /// `AT+QMTRECV=?` (answers only `OK`).
    RecvTest,
    /// `AT+QMTRECV?`: which buffer slots of each client hold a message.
    RecvRead,
    /// `AT+QMTRECV=<client_idx>[,<recv_id>]`.
    Recv(Recv),
    /// `AT+QFUPL="<filename>"[,<file_size>[,<timeout>]]`, then the file's bytes.
    FileUpload(FileUpload),
    /// `AT+QSSLCFG="<name>",<ssl_ctx_id>[,<value>]`: query or set one option of an SSL context.
    SslCfg(SslCfg),
    /// `ATI`, `AT+CGMI`, `AT+CGMM`, `AT+CGMR`, `AT+GSN`, `AT+QCCID`, `AT+CIMI`: who the module
    /// and its SIM are (spec §10.2). Most answer bare lines ([`Info::Bare`](crate::Info::Bare)).
    Identify(IdentityQuery),
    /// `AT+CPIN?`: the SIM's state (`+CPIN: READY`, `+CPIN: SIM PIN`, …; spec §10.3; 5 s).
    PinRead,
    /// `AT+CPIN="<pin>"`: enter the PIN; `OK`, then the URC `+CPIN: READY` (spec §10.3). The PIN
    /// is redacted in `Debug` and `Display`.
    PinEnter(Pin),
    /// `AT+QSIMSTAT?`: whether SIM hot-swap detection is on and a SIM is inserted (spec §10.3).
    SimStatRead,
    /// `AT+CSQ`: signal quality, `+CSQ: <rssi>,<ber>` (spec §10.4).
    Csq,
    /// `AT+QCSQ`: signal per access technology, `+QCSQ: "<sysmode>"[,…]` (spec §10.4).
    Qcsq,
    /// `AT+QNWINFO`: the serving network, `+QNWINFO: "<act>","<oper>","<band>",<channel>`
    /// (spec §10.4).
    QnwInfo,
    /// `AT+COPS?`: the operator, `+COPS: <mode>[,<format>,"<oper>"[,<AcT>]]` (spec §10.4; up to
    /// 180 s).
    CopsRead,
    /// `AT+CREG=<n>`, `AT+CGREG=<n>`, `AT+CEREG=<n>`: which registration URCs the module sends
    /// (spec §10.5).
    RegSet(RegDomain, RegUrcMode),
    /// `AT+CREG?`, `AT+CGREG?`, `AT+CEREG?`: the registration state,
    /// `+CEREG: <n>,<stat>[,"<tac>","<ci>"[,<AcT>]]` (spec §10.5).
    RegRead(RegDomain),
    /// `AT+QICSGP=<cid>,<type>,"<APN>","<user>","<password>",<auth>`: configure a PDP context
    /// (spec §10.6). The password is redacted in `Debug` and `Display`.
    ContextSet(ContextConfig),
    /// `AT+QICSGP=<cid>`: read a PDP context's configuration, `+QICSGP: <type>,"<APN>",…`
    /// (spec §10.6).
    ContextRead(ContextId),
    /// `AT+QIACT?`: the active PDP contexts, one `+QIACT: <cid>,<state>,<type>[,"<ip>"]` each
    /// (spec §10.6).
    ActRead,
    /// `AT+QIACT=<cid>`: activate a PDP context (spec §10.6; up to 150 s; `ERROR` when it fails).
    Act(ContextId),
    /// `AT+QIDEACT=<cid>`: deactivate a PDP context (spec §10.6; up to 40 s).
    Deact(ContextId),
    /// `AT+CGATT?`: whether the module is attached to the packet domain, `+CGATT: <state>`
    /// (spec §10.6).
    AttachRead,
    /// `AT+CGPADDR=<cid>`: the address of a PDP context, `+CGPADDR: <cid>,"<ip>"` (spec §10.6).
    AddrRead(ContextId),
    /// `AT+CFUN=<fun>[,1]`: set the functionality; with `reset` the module restarts (`RDY`
    /// follows; spec §10.1; up to 15 s).
    CfunSet {
        /// The functionality to switch to.
        fun: Functionality,
        /// `<rst>` 1: reset the module.
        reset: bool,
    },
    /// `AT+CFUN?`: the functionality, `+CFUN: <fun>` (spec §10.1).
    CfunRead,
    /// `AT+QPOWD=<n>`: power down; `OK`, then the URC `POWERED DOWN` (spec §10.1). The bare
    /// `AT+QPOWD` parses as [`PowerDownMode::Normal`], its default.
    PowerDown(PowerDownMode),
    /// `AT+IFC=<dce_by_dte>,<dte_by_dce>`: flow control of the serial line (spec §10.7); the
    /// host's port must be set the same way.
    IfcSet {
        /// How the host holds the module back (RTS).
        dce_by_dte: FlowControl,
        /// How the module holds the host back (CTS).
        dte_by_dce: FlowControl,
    },
    /// `AT+IFC?`: the flow control, `+IFC: <dce_by_dte>,<dte_by_dce>` (spec §10.7).
    IfcRead,
    /// `AT+IPR=<rate>`: the module's baud rate; its `OK` comes at the old rate, later commands
    /// use the new one (spec §10.7).
    IprSet(BaudRate),
    /// `AT+IPR?`: the baud rate, `+IPR: <rate>` (spec §10.7).
    IprRead,
    /// `AT+QFLST` (`None`: the module's default listing) or `AT+QFLST="<pattern>"` (`"*"`,
    /// `"UFS:*"`, `"RAM:*"`, an exact name): one `+QFLST: "<name>",<size>` per file, then `OK`
    /// (spec §10.8).
    FileList(Option<FileName>),
    /// `AT+QFDEL="<name>"`: delete a file; `"*"` deletes every UFS file (spec §10.8).
    FileDelete(FileName),
    /// `AT+CCLK?`: the module's clock, `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` (spec §10.9).
    ClockRead,
    /// `AT+QNTP=<cid>,"<server>"[,<port>]`: set the clock from an NTP server; `OK`, then the URC
    /// `+QNTP: <err>,"<time>"` within 125 s (spec §10.9).
    Ntp(NtpSync),
    /// `AT+QLTS` (`None`) or `AT+QLTS=<mode>`: the time the network sent, `+QLTS: "<time>"`
    /// (spec §10.9).
    NetworkTime(Option<LtsMode>),
    /// `AT+QMTPUB=?` of sibling modules ([`crate::sibling`]); EC200x/EC600x/EG912Y answer `ERROR`.
    PubTest,
    /// `AT+QMTPUB=<client_idx>,<msgid>,<qos>,<retain>,"<topic>"[,<msglen>]`, then the payload
    /// (with Ctrl-Z when there is no `msglen`): the publish of EC2x/EG9x/BG9x modules.
    Ec2xPub(Ec2xPub),
    /// `AT+QMTPUB=<connectID>,<msgID>,<qos>,<retain>,"<topic>","<msg>"`: the publish of BC26/BC20
    /// (NB-IoT) modules, the message inline.
    Bc26Pub(Bc26Pub),
}

impl Command {
    /// Appends the exact bytes the host sends, including the terminating `\r` (spec §1).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(&mut Out(out), false);
        out.push(b'\r');
    }

    /// The exact bytes the host sends, including the terminating `\r`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// The command line without `\r`; secrets are written as-is, or as [`crate::REDACTED`].
    fn write(&self, o: &mut Out<'_>, redact: bool) {
        match self {
            Command::At => {
                o.raw(b"AT");
            }
            Command::Echo(on) => {
                o.raw(if *on { b"ATE1" } else { b"ATE0" });
            }
            Command::Cmee(n) => {
                o.raw(b"AT+CMEE=").num(n);
            }
            Command::CfgTest => {
                o.raw(b"AT+QMTCFG=?");
            }
            Command::Cfg(cfg) => cfg.write(o, redact),
            Command::OpenTest => {
                o.raw(b"AT+QMTOPEN=?");
            }
            Command::OpenRead => {
                o.raw(b"AT+QMTOPEN?");
            }
            Command::Open(c) => {
                o.raw(b"AT+QMTOPEN=")
                    .num(c.client_idx)
                    .comma()
                    .quoted(c.host.as_str());
                o.comma().num(c.port);
            }
            Command::CloseTest => {
                o.raw(b"AT+QMTCLOSE=?");
            }
            Command::Close(idx) => {
                o.raw(b"AT+QMTCLOSE=").num(idx);
            }
            Command::ConnTest => {
                o.raw(b"AT+QMTCONN=?");
            }
            Command::ConnRead => {
                o.raw(b"AT+QMTCONN?");
            }
            Command::Conn(c) => {
                o.raw(b"AT+QMTCONN=")
                    .num(c.client_idx)
                    .comma()
                    .quoted(c.client_id.as_str());
                if let Some(cred) = &c.credentials {
                    o.comma().quoted(cred.username.as_str()).comma();
                    secret(o, cred.password.expose(), redact);
                }
            }
            Command::DiscTest => {
                o.raw(b"AT+QMTDISC=?");
            }
            Command::Disc(idx) => {
                o.raw(b"AT+QMTDISC=").num(idx);
            }
            Command::SubTest => {
                o.raw(b"AT+QMTSUB=?");
            }
            Command::Sub(s) => {
                o.raw(b"AT+QMTSUB=").num(s.client_idx).comma().num(s.msgid);
                for (topic, qos) in &s.topics {
                    o.comma().quoted(topic.as_str()).comma().num(qos);
                }
            }
            Command::UnsTest => {
                o.raw(b"AT+QMTUNS=?");
            }
            Command::Uns(u) => {
                o.raw(b"AT+QMTUNS=").num(u.client_idx).comma().num(u.msgid);
                for topic in &u.topics {
                    o.comma().quoted(topic.as_str());
                }
            }
            Command::PubExTest => {
                o.raw(b"AT+QMTPUBEX=?");
            }
            Command::PubEx(p) => {
                o.raw(b"AT+QMTPUBEX=")
                    .num(p.client_idx)
                    .comma()
                    .num(p.msgid)
                    .comma()
                    .num(p.qos);
                o.comma();
                put_flag(o, p.retain);
                o.comma().quoted(p.topic.as_str()).comma().num(p.length);
            }
            Command::RecvTest => {
                o.raw(b"AT+QMTRECV=?");
            }
            Command::RecvRead => {
                o.raw(b"AT+QMTRECV?");
            }
            Command::Recv(r) => {
                o.raw(b"AT+QMTRECV=").num(r.client_idx);
                if let Some(id) = r.recv_id {
                    o.comma().num(id);
                }
            }
            Command::FileUpload(f) => {
                o.raw(b"AT+QFUPL=").quoted(f.name.as_str());
                if let Some(size) = f.size {
                    o.comma().num(size.get());
                }
                if let Some(t) = f.timeout {
                    o.comma().num(t.get());
                }
            }
            Command::SslCfg(s) => s.write(o),
            Command::Identify(q) => {
                o.raw(q.kind().at_name().as_bytes());
            }
            Command::PinRead => {
                o.raw(b"AT+CPIN?");
            }
            Command::PinEnter(pin) => {
                o.raw(b"AT+CPIN=");
                secret(o, pin.expose(), redact);
            }
            Command::SimStatRead => {
                o.raw(b"AT+QSIMSTAT?");
            }
            Command::Csq => {
                o.raw(b"AT+CSQ");
            }
            Command::Qcsq => {
                o.raw(b"AT+QCSQ");
            }
            Command::QnwInfo => {
                o.raw(b"AT+QNWINFO");
            }
            Command::CopsRead => {
                o.raw(b"AT+COPS?");
            }
            Command::RegSet(domain, n) => {
                o.raw(domain.kind().at_name().as_bytes()).raw(b"=").num(n);
            }
            Command::RegRead(domain) => {
                o.raw(domain.kind().at_name().as_bytes()).raw(b"?");
            }
            Command::ContextSet(c) => {
                o.raw(b"AT+QICSGP=")
                    .num(c.cid)
                    .comma()
                    .num(c.ctype)
                    .comma()
                    .quoted(c.apn.as_str())
                    .comma()
                    .quoted(c.user.as_str())
                    .comma();
                secret(o, c.password.expose(), redact);
                o.comma().num(c.auth);
            }
            Command::ContextRead(cid) => {
                o.raw(b"AT+QICSGP=").num(cid);
            }
            Command::ActRead => {
                o.raw(b"AT+QIACT?");
            }
            Command::Act(cid) => {
                o.raw(b"AT+QIACT=").num(cid);
            }
            Command::Deact(cid) => {
                o.raw(b"AT+QIDEACT=").num(cid);
            }
            Command::AttachRead => {
                o.raw(b"AT+CGATT?");
            }
            Command::AddrRead(cid) => {
                o.raw(b"AT+CGPADDR=").num(cid);
            }
            Command::CfunSet { fun, reset } => {
                o.raw(b"AT+CFUN=").num(fun);
                if *reset {
                    o.raw(b",1");
                }
            }
            Command::CfunRead => {
                o.raw(b"AT+CFUN?");
            }
            Command::PowerDown(n) => {
                o.raw(b"AT+QPOWD=").num(n);
            }
            Command::IfcSet {
                dce_by_dte,
                dte_by_dce,
            } => {
                o.raw(b"AT+IFC=").num(dce_by_dte).comma().num(dte_by_dce);
            }
            Command::IfcRead => {
                o.raw(b"AT+IFC?");
            }
            Command::IprSet(rate) => {
                o.raw(b"AT+IPR=").num(rate);
            }
            Command::IprRead => {
                o.raw(b"AT+IPR?");
            }
            Command::FileList(pattern) => {
                o.raw(b"AT+QFLST");
                if let Some(p) = pattern {
                    o.raw(b"=").quoted(p.as_str());
                }
            }
            Command::FileDelete(name) => {
                o.raw(b"AT+QFDEL=").quoted(name.as_str());
            }
            Command::ClockRead => {
                o.raw(b"AT+CCLK?");
            }
            Command::Ntp(n) => {
                o.raw(b"AT+QNTP=")
                    .num(n.cid)
                    .comma()
                    .quoted(n.server.as_str());
                if let Some(port) = n.port {
                    o.comma().num(port);
                }
            }
            Command::NetworkTime(mode) => {
                o.raw(b"AT+QLTS");
                if let Some(m) = mode {
                    o.raw(b"=").num(m);
                }
            }
            Command::PubTest => {
                o.raw(b"AT+QMTPUB=?");
            }
            Command::Ec2xPub(p) => p.write(o),
            Command::Bc26Pub(p) => p.write(o),
        }
    }

    /// Parses one command line, with or without its final `\r`.
    ///
    /// `AT` and the command and sub-command names are case-insensitive, spaces after commas are
    /// tolerated. Every value is checked by the same constructors as a built command: a value out of
    /// range is [`ParseError::Param`] naming the parameter, anything else [`ParseError::Syntax`].
    /// A `"` inside a quoted string cannot be told from its end (spec §1 defines no escape), so it
    /// is a syntax error; CR and LF inside quotes are `ParamError::ForbiddenByte`.
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let mut i = line;
        let cmd = command(&mut i)?;
        if at_end(i) {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax)
        }
    }

    /// The client whose index every information line answering this command carries:
    /// `AT+QMTRECV=<idx>[,<recv_id>]` answers only `+QMTRECV: <idx>,…`. A line of the same shape
    /// for another client is not the answer but a URC (the inline `+QMTRECV` of a client in
    /// receive mode 0, arriving while another client's slots are read; found by the soak).
    /// `None` when the answer names no single client.
    pub fn info_client(&self) -> Option<ClientIdx> {
        match self {
            Command::Recv(r) => Some(r.client_idx),
            _ => None,
        }
    }

    /// The command's name without its parameters, for errors and logs: parameters may hold
    /// secrets (a password, a device secret), the name never does. See [`CommandName`] for the
    /// format; formatting it does not allocate.
    ///
    /// ```
    /// use qmt_proto::Command;
    ///
    /// let conn = Command::parse(br#"AT+QMTCONN=0,"dev","user","hunter2""#)?;
    /// assert_eq!(conn.name().to_string(), "AT+QMTCONN");
    /// let keepalive = Command::parse(br#"AT+QMTCFG="keepalive",0,120"#)?;
    /// assert_eq!(keepalive.name().to_string(), r#"AT+QMTCFG="keepalive""#);
    /// assert_eq!(Command::OpenRead.name().to_string(), "AT+QMTOPEN?");
    /// assert_eq!(Command::SubTest.name().to_string(), "AT+QMTSUB=?");
    /// # Ok::<(), qmt_proto::error::ParseError>(())
    /// ```
    pub fn name(&self) -> CommandName {
        let (kind, form) = self.kind();
        let setting = match self {
            Command::Cfg(c) => Some(c.name().as_str()),
            Command::SslCfg(s) => Some(s.name().as_str()),
            _ => None,
        };
        CommandName {
            kind,
            form,
            setting,
        }
    }

    /// Which command this is, and in which form.
    pub fn kind(&self) -> (CommandKind, Form) {
        use CommandKind as K;
        use Form::{Execute, Read, Test, Write};
        match self {
            Command::At => (K::At, Execute),
            Command::Echo(_) => (K::Echo, Execute),
            Command::Cmee(_) => (K::Cmee, Write),
            Command::CfgTest => (K::QmtCfg, Test),
            Command::Cfg(_) => (K::QmtCfg, Write),
            Command::OpenTest => (K::QmtOpen, Test),
            Command::OpenRead => (K::QmtOpen, Read),
            Command::Open(_) => (K::QmtOpen, Write),
            Command::CloseTest => (K::QmtClose, Test),
            Command::Close(_) => (K::QmtClose, Write),
            Command::ConnTest => (K::QmtConn, Test),
            Command::ConnRead => (K::QmtConn, Read),
            Command::Conn(_) => (K::QmtConn, Write),
            Command::DiscTest => (K::QmtDisc, Test),
            Command::Disc(_) => (K::QmtDisc, Write),
            Command::SubTest => (K::QmtSub, Test),
            Command::Sub(_) => (K::QmtSub, Write),
            Command::UnsTest => (K::QmtUns, Test),
            Command::Uns(_) => (K::QmtUns, Write),
            Command::PubExTest => (K::QmtPubEx, Test),
            Command::PubEx(_) => (K::QmtPubEx, Write),
            Command::RecvTest => (K::QmtRecv, Test),
            Command::RecvRead => (K::QmtRecv, Read),
            Command::Recv(_) => (K::QmtRecv, Write),
            Command::FileUpload(_) => (K::QfUpl, Write),
            Command::SslCfg(_) => (K::QsslCfg, Write),
            Command::Identify(q) => (q.kind(), Execute),
            Command::PinRead => (K::Cpin, Read),
            Command::PinEnter(_) => (K::Cpin, Write),
            Command::SimStatRead => (K::QsimStat, Read),
            Command::Csq => (K::Csq, Execute),
            Command::Qcsq => (K::Qcsq, Execute),
            Command::QnwInfo => (K::QnwInfo, Execute),
            Command::CopsRead => (K::Cops, Read),
            Command::RegSet(d, _) => (d.kind(), Write),
            Command::RegRead(d) => (d.kind(), Read),
            Command::ContextSet(_) | Command::ContextRead(_) => (K::Qicsgp, Write),
            Command::ActRead => (K::Qiact, Read),
            Command::Act(_) => (K::Qiact, Write),
            Command::Deact(_) => (K::Qideact, Write),
            Command::AttachRead => (K::Cgatt, Read),
            Command::AddrRead(_) => (K::Cgpaddr, Write),
            Command::CfunSet { .. } => (K::Cfun, Write),
            Command::CfunRead => (K::Cfun, Read),
            Command::PowerDown(_) => (K::Qpowd, Write),
            Command::IfcSet { .. } => (K::Ifc, Write),
            Command::IfcRead => (K::Ifc, Read),
            Command::IprSet(_) => (K::Ipr, Write),
            Command::IprRead => (K::Ipr, Read),
            Command::FileList(None) => (K::Qflst, Execute),
            Command::FileList(Some(_)) => (K::Qflst, Write),
            Command::FileDelete(_) => (K::Qfdel, Write),
            Command::ClockRead => (K::Cclk, Read),
            Command::Ntp(_) => (K::Qntp, Write),
            Command::NetworkTime(None) => (K::Qlts, Execute),
            Command::NetworkTime(Some(_)) => (K::Qlts, Write),
            Command::PubTest => (K::QmtPub, Test),
            Command::Ec2xPub(_) | Command::Bc26Pub(_) => (K::QmtPub, Write),
        }
    }

    /// The raw data phase that follows this command, if any (spec §1): the `> ` prompt after
    /// `AT+QMTPUBEX` and after `AT+QMTCFG="willex"` with `will_fg` 1, the `CONNECT` line after
    /// `AT+QFUPL` with a size; and the `> ` after the EC2x/EG9x/BG9x `AT+QMTPUB`, counted with
    /// `msglen`, ended by Ctrl-Z without ([`crate::sibling`]).
    pub fn data_phase(&self) -> Option<DataPhase> {
        match self {
            Command::PubEx(p) => Some(DataPhase::Prompt {
                len: usize::from(p.length.get()),
            }),
            Command::Ec2xPub(p) => Some(match p.msglen() {
                Some(n) => DataPhase::Prompt {
                    len: usize::from(n.get()),
                },
                None => DataPhase::PromptCtrlZ,
            }),
            Command::Cfg(cfg) => cfg.will_len().map(|len| DataPhase::Prompt { len }),
            Command::FileUpload(f) => f
                .size
                .and_then(|s| usize::try_from(s.get()).ok())
                .map(|len| DataPhase::Connect { len }),
            _ => None,
        }
    }
}

/// The name of a command without its parameters ([`Command::name`]): what errors and logs may
/// show of a command, since its parameters may hold secrets.
///
/// `Display` writes [`CommandKind::at_name`] followed by
/// - for `AT+QMTCFG` and `AT+QSSLCFG`, the setting in quotes: `AT+QMTCFG="keepalive"` (query or
///   set alike; the name is always written in lower case, however the command spelled it);
/// - for the test form `=?`: `AT+QMTSUB=?`; for the read form `?`: `AT+QMTOPEN?`;
/// - nothing otherwise: `AT+QMTOPEN`, `AT`, `ATE`.
///
/// Every part is a `&'static str`, so a name outlives its command and formatting it does not
/// allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandName {
    kind: CommandKind,
    form: Form,
    /// The `AT+QMTCFG` / `AT+QSSLCFG` setting.
    setting: Option<&'static str>,
}

impl CommandName {
    /// Which command.
    pub fn kind(&self) -> CommandKind {
        self.kind
    }

    /// In which form.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The `AT+QMTCFG` or `AT+QSSLCFG` setting (`"keepalive"`, `"cacert"`), lower case; `None`
    /// for other commands.
    pub fn setting(&self) -> Option<&'static str> {
        self.setting
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.at_name())?;
        match (self.setting, self.form) {
            (Some(setting), _) => {
                f.write_str("=\"")?;
                f.write_str(setting)?;
                f.write_str("\"")
            }
            (None, Form::Test) => f.write_str("=?"),
            (None, Form::Read) => f.write_str("?"),
            (None, Form::Write | Form::Execute) => Ok(()),
        }
    }
}

/// The command line without `\r`, every secret replaced by [`crate::REDACTED`].
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::new();
        self.write(&mut Out(&mut v), true);
        // Every part is ASCII or comes from a `String`: the line is UTF-8.
        f.write_str(&String::from_utf8_lossy(&v))
    }
}

// ------------------------------------------------------------------------------------------------
// Parsing.

/// The names after `AT+` this crate knows (`CGSN` is the 3GPP spelling of `GSN`).
const NAMES: &[(&str, CommandKind)] = &[
    ("CMEE", CommandKind::Cmee),
    ("QMTCFG", CommandKind::QmtCfg),
    ("QMTOPEN", CommandKind::QmtOpen),
    ("QMTCLOSE", CommandKind::QmtClose),
    ("QMTCONN", CommandKind::QmtConn),
    ("QMTDISC", CommandKind::QmtDisc),
    ("QMTSUB", CommandKind::QmtSub),
    ("QMTUNS", CommandKind::QmtUns),
    ("QMTPUBEX", CommandKind::QmtPubEx),
    ("QMTPUB", CommandKind::QmtPub),
    ("QMTRECV", CommandKind::QmtRecv),
    ("QFUPL", CommandKind::QfUpl),
    ("CGMI", CommandKind::Cgmi),
    ("CGMM", CommandKind::Cgmm),
    ("CGMR", CommandKind::Cgmr),
    ("GSN", CommandKind::Gsn),
    ("CGSN", CommandKind::Gsn),
    ("QCCID", CommandKind::Qccid),
    ("CIMI", CommandKind::Cimi),
    ("CPIN", CommandKind::Cpin),
    ("QSIMSTAT", CommandKind::QsimStat),
    ("CSQ", CommandKind::Csq),
    ("QCSQ", CommandKind::Qcsq),
    ("QNWINFO", CommandKind::QnwInfo),
    ("COPS", CommandKind::Cops),
    ("CREG", CommandKind::Creg),
    ("CGREG", CommandKind::Cgreg),
    ("CEREG", CommandKind::Cereg),
    ("QICSGP", CommandKind::Qicsgp),
    ("QIACT", CommandKind::Qiact),
    ("QIDEACT", CommandKind::Qideact),
    ("CGATT", CommandKind::Cgatt),
    ("CGPADDR", CommandKind::Cgpaddr),
    ("CFUN", CommandKind::Cfun),
    ("QPOWD", CommandKind::Qpowd),
    ("IFC", CommandKind::Ifc),
    ("IPR", CommandKind::Ipr),
    ("QFLST", CommandKind::Qflst),
    ("QFDEL", CommandKind::Qfdel),
    ("CCLK", CommandKind::Cclk),
    ("QNTP", CommandKind::Qntp),
    ("QLTS", CommandKind::Qlts),
];

/// `AT`, `ATE<n>`, `ATI` or `AT+<name><form>…`.
fn command(i: &mut &[u8]) -> R<Command> {
    lex(i, Caseless("AT"))?;
    if lex(i, opt(Caseless("E")))?.is_some() {
        return num(i, |n| match n {
            0 => Ok(Command::Echo(false)),
            1 => Ok(Command::Echo(true)),
            _ => Err(ParamError::OutOfRange {
                param: "echo",
                value: n,
                allowed: "0-1",
            }),
        });
    }
    if lex(i, opt(Caseless("I")))?.is_some() {
        return Ok(Command::Identify(IdentityQuery::Ati));
    }
    if lex(i, opt(b'+'))?.is_none() {
        return Ok(Command::At);
    }
    let name = lex(i, take_while(1.., AsChar::is_alphanum))?;
    let form = lex(
        i,
        alt((
            "=?".value(Form::Test),
            "?".value(Form::Read),
            ("=", space0).value(Form::Write),
            empty.value(Form::Execute),
        )),
    )?;
    if name.eq_ignore_ascii_case(b"QSSLCFG") {
        return match form {
            Form::Write => Ok(Command::SslCfg(SslCfg::parse_params(i)?)),
            _ => Err(ParseError::Syntax),
        };
    }
    let kind = NAMES
        .iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
        .map(|&(_, k)| k)
        .ok_or(ParseError::Syntax)?;
    use CommandKind as K;
    use Form::{Execute, Read, Test, Write};
    let identify = |q: IdentityQuery| Ok(Command::Identify(q));
    if let Some(domain) = RegDomain::of_kind(kind) {
        return match form {
            Write => Ok(Command::RegSet(domain, num(i, RegUrcMode::new)?)),
            Read => Ok(Command::RegRead(domain)),
            _ => Err(ParseError::Syntax),
        };
    }
    Ok(match (kind, form) {
        (K::Cmee, Write) => Command::Cmee(num(i, CmeeMode::new)?),
        (K::QmtCfg, Test) => Command::CfgTest,
        (K::QmtCfg, Write) => Command::Cfg(Cfg::parse_params(i)?),
        (K::QmtOpen, Test) => Command::OpenTest,
        (K::QmtOpen, Read) => Command::OpenRead,
        (K::QmtOpen, Write) => {
            let client_idx = num(i, ClientIdx::new)?;
            sep(i)?;
            let host = text(i, HostName::new)?;
            sep(i)?;
            let port = num(i, Port::new)?;
            Command::Open(Open {
                client_idx,
                host,
                port,
            })
        }
        (K::QmtClose, Test) => Command::CloseTest,
        (K::QmtClose, Write) => Command::Close(num(i, ClientIdx::new)?),
        (K::QmtConn, Test) => Command::ConnTest,
        (K::QmtConn, Read) => Command::ConnRead,
        (K::QmtConn, Write) => {
            let client_idx = num(i, ClientIdx::new)?;
            sep(i)?;
            let client_id = text(i, ClientId::new)?;
            let credentials = if more(i)? {
                let username = text(i, UserName::new)?;
                sep(i)?;
                let password = text(i, Password::new)?;
                Some(Credentials { username, password })
            } else {
                None
            };
            Command::Conn(Conn {
                client_idx,
                client_id,
                credentials,
            })
        }
        (K::QmtDisc, Test) => Command::DiscTest,
        (K::QmtDisc, Write) => Command::Disc(num(i, ClientIdx::new)?),
        (K::QmtSub, Test) => Command::SubTest,
        (K::QmtSub, Write) => {
            let (client_idx, msgid) = idx_msgid(i)?;
            let mut topics = Vec::new();
            // At most one pair past the limit is read: enough to report the count, bounded work.
            while topics.len() <= MAX_TOPICS && more(i)? {
                let topic = text(i, Topic::new)?;
                sep(i)?;
                topics.push((topic, num(i, Qos::new)?));
            }
            Command::Sub(Sub::new(client_idx, msgid, topics)?)
        }
        (K::QmtUns, Test) => Command::UnsTest,
        (K::QmtUns, Write) => {
            let (client_idx, msgid) = idx_msgid(i)?;
            let mut topics = Vec::new();
            while topics.len() <= MAX_TOPICS && more(i)? {
                topics.push(text(i, Topic::new)?);
            }
            Command::Uns(Uns::new(client_idx, msgid, topics)?)
        }
        (K::QmtPubEx, Test) => Command::PubExTest,
        (K::QmtPubEx, Write) => {
            let (client_idx, msgid) = idx_msgid(i)?;
            sep(i)?;
            let qos = num(i, Qos::new)?;
            sep(i)?;
            let retain = flag(i, "retain")?;
            sep(i)?;
            let topic = text(i, Topic::new)?;
            sep(i)?;
            let length = num(i, PayloadLen::new)?;
            Command::PubEx(PubEx::new(client_idx, msgid, qos, retain, topic, length)?)
        }
        (K::QmtPub, Test) => Command::PubTest,
        (K::QmtPub, Write) => match crate::sibling::parse_write(i)? {
            QmtPub::Ec2x(p) => Command::Ec2xPub(p),
            QmtPub::Bc26(p) => Command::Bc26Pub(p),
        },
        (K::QmtRecv, Test) => Command::RecvTest,
        (K::QmtRecv, Read) => Command::RecvRead,
        (K::QmtRecv, Write) => {
            let client_idx = num(i, ClientIdx::new)?;
            let recv_id = if more(i)? {
                Some(num(i, RecvId::new)?)
            } else {
                None
            };
            Command::Recv(Recv {
                client_idx,
                recv_id,
            })
        }
        (K::QfUpl, Write) => {
            let name = text(i, FileName::new)?;
            let size = if more(i)? {
                Some(num(i, FileSize::new)?)
            } else {
                None
            };
            let timeout = if size.is_some() && more(i)? {
                Some(num(i, UploadTimeout::new)?)
            } else {
                None
            };
            Command::FileUpload(FileUpload::from_parts(name, size, timeout)?)
        }
        (K::Cgmi, Execute) => return identify(IdentityQuery::Manufacturer),
        (K::Cgmm, Execute) => return identify(IdentityQuery::Model),
        (K::Cgmr, Execute) => return identify(IdentityQuery::Revision),
        (K::Gsn, Execute) => return identify(IdentityQuery::Imei),
        (K::Qccid, Execute) => return identify(IdentityQuery::Iccid),
        (K::Cimi, Execute) => return identify(IdentityQuery::Imsi),
        (K::Cpin, Read) => Command::PinRead,
        (K::Cpin, Write) => Command::PinEnter(text(i, Pin::new)?),
        (K::QsimStat, Read) => Command::SimStatRead,
        (K::Csq, Execute) => Command::Csq,
        (K::Qcsq, Execute) => Command::Qcsq,
        (K::QnwInfo, Execute) => Command::QnwInfo,
        (K::Cops, Read) => Command::CopsRead,
        (K::Qicsgp, Write) => {
            let cid = num(i, ContextId::new)?;
            if !more(i)? {
                return Ok(Command::ContextRead(cid));
            }
            let ctype = num(i, ContextType::new)?;
            sep(i)?;
            let apn = text(i, Apn::new)?;
            sep(i)?;
            let user = text(i, ApnUser::new)?;
            sep(i)?;
            let password = text(i, ApnPassword::new)?;
            // `<auth>` is optional on the wire; without it the module uses none.
            let auth = if more(i)? {
                num(i, ApnAuth::new)?
            } else {
                ApnAuth::None
            };
            Command::ContextSet(ContextConfig {
                cid,
                ctype,
                apn,
                user,
                password,
                auth,
            })
        }
        (K::Qiact, Read) => Command::ActRead,
        (K::Qiact, Write) => Command::Act(num(i, ContextId::new)?),
        (K::Qideact, Write) => Command::Deact(num(i, ContextId::new)?),
        (K::Cgatt, Read) => Command::AttachRead,
        (K::Cgpaddr, Write) => Command::AddrRead(num(i, ContextId::new)?),
        (K::Cfun, Read) => Command::CfunRead,
        (K::Cfun, Write) => {
            let fun = num(i, |n| match u8::try_from(n) {
                Ok(n) => Ok(Functionality::from_code(n)),
                Err(_) => Err(ParamError::OutOfRange {
                    param: "fun",
                    value: n,
                    allowed: "0-255 (0 minimum, 1 full, 4 radio off)",
                }),
            })?;
            let reset = if more(i)? { flag(i, "rst")? } else { false };
            Command::CfunSet { fun, reset }
        }
        (K::Qpowd, Write) => Command::PowerDown(num(i, PowerDownMode::new)?),
        (K::Qpowd, Execute) => Command::PowerDown(PowerDownMode::Normal),
        (K::Ifc, Read) => Command::IfcRead,
        (K::Ifc, Write) => {
            let dce_by_dte = num(i, FlowControl::new)?;
            sep(i)?;
            let dte_by_dce = num(i, FlowControl::new)?;
            Command::IfcSet {
                dce_by_dte,
                dte_by_dce,
            }
        }
        (K::Ipr, Read) => Command::IprRead,
        (K::Ipr, Write) => Command::IprSet(num(i, BaudRate::new)?),
        (K::Qflst, Execute) => Command::FileList(None),
        (K::Qflst, Write) => Command::FileList(Some(text(i, FileName::new)?)),
        (K::Qfdel, Write) => Command::FileDelete(text(i, FileName::new)?),
        (K::Cclk, Read) => Command::ClockRead,
        (K::Qntp, Write) => {
            let cid = num(i, ContextId::new)?;
            sep(i)?;
            let server = text(i, HostName::new)?;
            let port = if more(i)? {
                Some(num(i, Port::new)?)
            } else {
                None
            };
            Command::Ntp(NtpSync { cid, server, port })
        }
        (K::Qlts, Execute) => Command::NetworkTime(None),
        (K::Qlts, Write) => Command::NetworkTime(Some(num(i, LtsMode::new)?)),
        _ => return Err(ParseError::Syntax),
    })
}

/// `<client_idx>,<msgid>`.
fn idx_msgid(i: &mut &[u8]) -> R<(ClientIdx, MsgId)> {
    let client_idx = num(i, ClientIdx::new)?;
    sep(i)?;
    Ok((client_idx, num(i, MsgId::new)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// One line per command shape (and every secret-bearing one), with its name.
    const NAMES: &[(&str, &str)] = &[
        ("AT", "AT"),
        ("ATE0", "ATE"),
        ("AT+CMEE=2", "AT+CMEE"),
        ("AT+QMTCFG=?", "AT+QMTCFG=?"),
        (r#"AT+QMTCFG="keepalive",0,120"#, r#"AT+QMTCFG="keepalive""#),
        (r#"AT+QMTCFG="keepalive",0"#, r#"AT+QMTCFG="keepalive""#),
        (r#"at+qmtcfg="RECV/MODE",0,0,1"#, r#"AT+QMTCFG="recv/mode""#),
        (
            r#"AT+QMTCFG="aliauth",0,"pk","dn","ali-S3CRET""#,
            r#"AT+QMTCFG="aliauth""#,
        ),
        (
            r#"AT+QMTCFG="onenet",1,"pid","one-S3CRET""#,
            r#"AT+QMTCFG="onenet""#,
        ),
        (
            r#"AT+QMTCFG="hwauth",1,"pid","hw-S3CRET",1"#,
            r#"AT+QMTCFG="hwauth""#,
        ),
        (
            r#"AT+QMTCFG="hwprodid",1,"pid","prod-S3CRET","node""#,
            r#"AT+QMTCFG="hwprodid""#,
        ),
        ("AT+QMTOPEN=?", "AT+QMTOPEN=?"),
        ("AT+QMTOPEN?", "AT+QMTOPEN?"),
        (r#"AT+QMTOPEN=0,"broker.example",1883"#, "AT+QMTOPEN"),
        ("AT+QMTCLOSE=?", "AT+QMTCLOSE=?"),
        ("AT+QMTCLOSE=0", "AT+QMTCLOSE"),
        ("AT+QMTCONN=?", "AT+QMTCONN=?"),
        ("AT+QMTCONN?", "AT+QMTCONN?"),
        (r#"AT+QMTCONN=0,"dev","user","conn-S3CRET""#, "AT+QMTCONN"),
        ("AT+QMTDISC=?", "AT+QMTDISC=?"),
        ("AT+QMTDISC=0", "AT+QMTDISC"),
        ("AT+QMTSUB=?", "AT+QMTSUB=?"),
        (r#"AT+QMTSUB=0,1,"a/b",1"#, "AT+QMTSUB"),
        ("AT+QMTUNS=?", "AT+QMTUNS=?"),
        (r#"AT+QMTUNS=0,2,"a/b""#, "AT+QMTUNS"),
        ("AT+QMTPUBEX=?", "AT+QMTPUBEX=?"),
        (r#"AT+QMTPUBEX=0,1,1,0,"a/b",5"#, "AT+QMTPUBEX"),
        ("AT+QMTPUB=?", "AT+QMTPUB=?"),
        (r#"AT+QMTPUB=0,1,1,0,"a/b""#, "AT+QMTPUB"),
        (r#"AT+QMTPUB=0,1,1,0,"a/b",5"#, "AT+QMTPUB"),
        (r#"AT+QMTPUB=0,0,0,0,"a/b","msg""#, "AT+QMTPUB"),
        ("AT+QMTRECV=?", "AT+QMTRECV=?"),
        ("AT+QMTRECV?", "AT+QMTRECV?"),
        ("AT+QMTRECV=0,1", "AT+QMTRECV"),
        (r#"AT+QFUPL="UFS:key.pem",1679,60"#, "AT+QFUPL"),
        (
            r#"AT+QSSLCFG="clientkey",2,"UFS:key.pem""#,
            r#"AT+QSSLCFG="clientkey""#,
        ),
        (r#"AT+QSSLCFG="seclevel",2"#, r#"AT+QSSLCFG="seclevel""#),
        ("ATI", "ATI"),
        ("AT+CGMI", "AT+CGMI"),
        ("AT+CGMM", "AT+CGMM"),
        ("AT+CGMR", "AT+CGMR"),
        ("AT+GSN", "AT+GSN"),
        ("AT+QCCID", "AT+QCCID"),
        ("AT+CIMI", "AT+CIMI"),
        ("AT+CPIN?", "AT+CPIN?"),
        (r#"AT+CPIN="13579""#, "AT+CPIN"),
        ("AT+QSIMSTAT?", "AT+QSIMSTAT?"),
        ("AT+CSQ", "AT+CSQ"),
        ("AT+QCSQ", "AT+QCSQ"),
        ("AT+QNWINFO", "AT+QNWINFO"),
        ("AT+COPS?", "AT+COPS?"),
        ("AT+CREG=2", "AT+CREG"),
        ("AT+CGREG?", "AT+CGREG?"),
        ("AT+CEREG=1", "AT+CEREG"),
        (
            r#"AT+QICSGP=1,1,"internet","user","apn-S3CRET",1"#,
            "AT+QICSGP",
        ),
        ("AT+QICSGP=1", "AT+QICSGP"),
        ("AT+QIACT?", "AT+QIACT?"),
        ("AT+QIACT=1", "AT+QIACT"),
        ("AT+QIDEACT=1", "AT+QIDEACT"),
        ("AT+CGATT?", "AT+CGATT?"),
        ("AT+CGPADDR=1", "AT+CGPADDR"),
        ("AT+CFUN=1,1", "AT+CFUN"),
        ("AT+CFUN?", "AT+CFUN?"),
        ("AT+QPOWD=1", "AT+QPOWD"),
        ("AT+IFC=2,2", "AT+IFC"),
        ("AT+IFC?", "AT+IFC?"),
        ("AT+IPR=921600", "AT+IPR"),
        ("AT+IPR?", "AT+IPR?"),
        ("AT+QFLST", "AT+QFLST"),
        (r#"AT+QFLST="UFS:*""#, "AT+QFLST"),
        (r#"AT+QFDEL="UFS:ca.pem""#, "AT+QFDEL"),
        ("AT+CCLK?", "AT+CCLK?"),
        (r#"AT+QNTP=1,"pool.ntp.org",123"#, "AT+QNTP"),
        ("AT+QLTS=2", "AT+QLTS"),
    ];

    #[test]
    fn names_have_no_parameters() {
        for &(line, want) in NAMES {
            let cmd = Command::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
            let name = cmd.name();
            assert_eq!(name.to_string(), want, "{line}");
            assert_eq!((name.kind(), name.form()), cmd.kind(), "{line}");
            // Nothing after the name's own characters: no parameter value can appear.
            assert!(!name.to_string().contains(','), "{line}");
        }
    }

    #[test]
    fn names_hold_no_secret() {
        for &(line, _) in NAMES {
            let cmd = Command::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
            let name = cmd.name().to_string();
            assert!(!name.contains("S3CRET"), "{line} -> {name}");
            // The same lines do carry their secrets on the wire: the check above is not vacuous.
            if line.contains("S3CRET") {
                let wire = cmd.to_bytes();
                assert!(wire.windows(6).any(|w| w == b"S3CRET"), "{line}");
            }
        }
    }

    #[test]
    fn every_command_shape_is_covered() {
        // Every command kind appears in the table above, so its name's format is pinned.
        let shapes: Vec<_> = NAMES
            .iter()
            .filter_map(|(line, _)| Command::parse(line.as_bytes()).ok())
            .map(|c| c.kind())
            .collect();
        assert_eq!(shapes.len(), NAMES.len(), "every line of the table parses");
        for kind in CommandKind::ALL {
            assert!(shapes.iter().any(|(k, _)| *k == kind), "{kind:?}");
        }
    }

    #[test]
    fn setting_is_lower_case_whatever_the_spelling() {
        let cmd =
            Command::parse(br#"AT+QMTCFG="KeepAlive",0,60"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cmd.name().setting(), Some("keepalive"));
        assert_eq!(Command::At.name().setting(), None);
        // The name outlives the command.
        let name = {
            let c = Command::OpenRead;
            c.name()
        };
        assert_eq!(name.to_string(), "AT+QMTOPEN?");
    }
}
