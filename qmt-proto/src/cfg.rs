//! `AT+QMTCFG` (spec §3): the optional MQTT settings of a client, as a host command ([`Cfg`]) and
//! as the module's answer to a query or to the test command ([`CfgInfo`]).
//!
//! Every sub-command of the §3 table is a [`CfgName`]; its values are one [`CfgValue`] variant,
//! shared by the set command (`AT+QMTCFG="<name>",<client_idx>,<values…>`) and the query answer
//! (`+QMTCFG: "<name>",<values…>`, which has no `client_idx`).
//!
//! ## Spelling of the name
//! Names are case-insensitive (spec §1). Responses use lower case and so does the encoder by
//! default, but the seed's own transcript (§8.2) sends `AT+QMTCFG="SSL",0,1,2`. To rebuild such a
//! line byte for byte, a [`Cfg`] remembers how its name is spelled ([`NameCase`]):
//! [`Cfg::with_name_case`] chooses it, [`Command::parse`](crate::command::Command::parse) records
//! what it read. Two commands that differ only in spelling are different values (they are
//! different bytes), and `parse(encode(cfg)) == cfg` holds for every spelling.

use alloc::string::String;
use alloc::vec::Vec;

use winnow::combinator::{opt, peek};
use winnow::token::rest;

use crate::cmdsyntax::{R, at_end, code_enum, flag, lex, more, num, put_flag, secret, sep, text};
use crate::error::{ParamError, ParseError};
use crate::params::{
    AccessKey, ClientIdx, DeviceName, DeviceSecret, EditTime, KeepAlive, MqttVersion, NodeId,
    PdpCid, PktTimeout, ProductId, ProductKey, ProductSecret, QmtpingInterval, Qos, RetryTimes,
    SslCtxIdx, Topic, WillLen, WillMessage,
};
use crate::syntax::{Out, prefix, quoted, quoted_str};

/// The 18 sub-commands of `AT+QMTCFG` (spec §3 table), in the table's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CfgName {
    /// `version`: MQTT protocol version.
    Version,
    /// `pdpcid`: PDP context the client uses.
    PdpCid,
    /// `ssl`: plain TCP or TLS, and which SSL context.
    Ssl,
    /// `keepalive`: keep-alive interval.
    KeepAlive,
    /// `session`: clean session or not.
    Session,
    /// `timeout`: packet timeout, retries, and whether to report timeouts.
    Timeout,
    /// `will`: will message given as text.
    Will,
    /// `willex`: will message given as raw data after `> `.
    WillEx,
    /// `recv/mode`: received messages inside the URC or buffered.
    RecvMode,
    /// `aliauth`: Alibaba Cloud device credentials.
    AliAuth,
    /// `qmtping`: ping interval.
    QmtPing,
    /// `send/mode`: publish data as text or hex.
    SendMode,
    /// `onenet`: China Mobile OneNET credentials.
    OneNet,
    /// `hwauth`: Huawei IoT device credentials.
    HwAuth,
    /// `hwprodid`: Huawei IoT product credentials.
    HwProdId,
    /// `dataformat`: send and receive data as text or hex.
    DataFormat,
    /// `view/mode`: how received messages are displayed.
    ViewMode,
    /// `edit/timeout`: data-input timeout after `> `.
    EditTimeout,
}

impl CfgName {
    /// Every sub-command, in the order of the spec's table.
    pub const ALL: [CfgName; 18] = [
        CfgName::Version,
        CfgName::PdpCid,
        CfgName::Ssl,
        CfgName::KeepAlive,
        CfgName::Session,
        CfgName::Timeout,
        CfgName::Will,
        CfgName::WillEx,
        CfgName::RecvMode,
        CfgName::AliAuth,
        CfgName::QmtPing,
        CfgName::SendMode,
        CfgName::OneNet,
        CfgName::HwAuth,
        CfgName::HwProdId,
        CfgName::DataFormat,
        CfgName::ViewMode,
        CfgName::EditTimeout,
    ];

    /// The name as the module writes it (lower case).
    pub const fn as_str(self) -> &'static str {
        match self {
            CfgName::Version => "version",
            CfgName::PdpCid => "pdpcid",
            CfgName::Ssl => "ssl",
            CfgName::KeepAlive => "keepalive",
            CfgName::Session => "session",
            CfgName::Timeout => "timeout",
            CfgName::Will => "will",
            CfgName::WillEx => "willex",
            CfgName::RecvMode => "recv/mode",
            CfgName::AliAuth => "aliauth",
            CfgName::QmtPing => "qmtping",
            CfgName::SendMode => "send/mode",
            CfgName::OneNet => "onenet",
            CfgName::HwAuth => "hwauth",
            CfgName::HwProdId => "hwprodid",
            CfgName::DataFormat => "dataformat",
            CfgName::ViewMode => "view/mode",
            CfgName::EditTimeout => "edit/timeout",
        }
    }

    /// Looks a name up, ignoring ASCII case.
    pub fn from_name(name: &[u8]) -> Option<CfgName> {
        CfgName::ALL
            .into_iter()
            .find(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
    }

    /// A name the spec does not know is a parameter error on `name`.
    fn lookup(name: &[u8]) -> Result<CfgName, ParamError> {
        CfgName::from_name(name).ok_or(ParamError::Invalid {
            param: "name",
            reason: "not an AT+QMTCFG sub-command",
        })
    }
}

/// How the sub-command name of a [`Cfg`] is spelled on the wire (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NameCase {
    /// All lower case, as the module writes it (`"ssl"`). The default.
    #[default]
    Lower,
    /// All upper case (`"SSL"`, as in the seed's transcript, spec §8.2).
    Upper,
    /// Mixed case, as some person typed it: bit `n` set means byte `n` of the name is upper case.
    /// [`Cfg::with_name_case`] and the parser normalise uniform spellings to `Lower`/`Upper`.
    Mixed(u32),
}

impl NameCase {
    /// The case of a spelling of `name` (same length, ASCII-case-insensitively equal).
    fn of(spelled: &[u8]) -> NameCase {
        let letters = || spelled.iter().filter(|b| b.is_ascii_alphabetic());
        if letters().all(u8::is_ascii_lowercase) {
            NameCase::Lower
        } else if letters().all(u8::is_ascii_uppercase) {
            NameCase::Upper
        } else {
            let mask = spelled
                .iter()
                .take(32)
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0u32, |m, (n, _)| m | (1 << n));
            NameCase::Mixed(mask)
        }
    }

    /// Writes `name` (lower case) in this case.
    fn spell(self, name: &str, out: &mut Vec<u8>) {
        out.extend(name.bytes().enumerate().map(|(n, b)| {
            let upper = match self {
                NameCase::Lower => false,
                NameCase::Upper => true,
                NameCase::Mixed(mask) => n < 32 && mask & (1 << n) != 0,
            };
            if upper { b.to_ascii_uppercase() } else { b }
        }));
    }
}

code_enum!(
    /// `msg_recv_mode` of `recv/mode` (spec §3): where the payload of a received PUBLISH goes.
    MsgRecvMode, "msg_recv_mode", "0-1" {
        /// 0: inside the `+QMTRECV: <idx>,<msgid>,"<topic>",…` URC.
        InUrc = 0,
        /// 1: stored in one of the client's five buffer slots, announced by
        /// `+QMTRECV: <idx>,<recv_id>` and read with `AT+QMTRECV`.
        Buffered = 1,
    }
);

code_enum!(
    /// `send_mode` / `recv_mode` of `send/mode` and `dataformat` (spec §3): how data is given.
    DataEncoding, "send_mode/recv_mode", "0-1" {
        /// 0: as text, the bytes themselves.
        Text = 0,
        /// 1: as a hex string, two hex digits per byte.
        Hex = 1,
    }
);

code_enum!(
    /// `view_mode` of `view/mode` (spec §3, **uncertain** meaning): how a received message is shown.
    ViewMode, "view_mode", "0-1" {
        /// 0: the payload on the URC line.
        Inline = 0,
        /// 1: the payload on its own line after the URC header.
        SeparateLine = 1,
    }
);

/// `<SSL_enable>[,<SSL_ctx_idx>]` of `ssl` (spec §3). Enabling TLS names the context, so
/// `Enabled` carries one; `Disabled` may carry one (the syntax allows it; the module ignores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// `0[,<ctx>]`: plain TCP.
    Disabled {
        /// An SSL context that is written but unused.
        ctx: Option<SslCtxIdx>,
    },
    /// `1,<ctx>`: TLS with the `AT+QSSLCFG` context `ctx` (0–5).
    Enabled {
        /// The SSL context.
        ctx: SslCtxIdx,
    },
}

impl SslMode {
    /// From the wire values: `SSL_enable` 1 requires `SSL_ctx_idx`.
    pub fn new(enable: bool, ctx: Option<SslCtxIdx>) -> Result<SslMode, ParamError> {
        match (enable, ctx) {
            (false, ctx) => Ok(SslMode::Disabled { ctx }),
            (true, Some(ctx)) => Ok(SslMode::Enabled { ctx }),
            (true, None) => Err(ParamError::Invalid {
                param: "SSL_ctx_idx",
                reason: "required when SSL_enable is 1",
            }),
        }
    }
}

/// `<will_fg>[,<will_qos>,<will_retain>,"<willtopic>","<willmessage>"]` of `will` (spec §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Will {
    /// `0`: no will message.
    Off,
    /// `1,…`: the broker publishes `message` on `topic` when the client vanishes without DISCONNECT.
    On {
        /// `will_qos`.
        qos: Qos,
        /// `will_retain`: the broker retains the will message.
        retain: bool,
        /// `willtopic`, 1–256 bytes.
        topic: Topic,
        /// `willmessage`, 0–256 bytes of text (no `"`, CR, LF; use [`WillEx`] for any bytes).
        message: WillMessage,
    },
}

/// `<will_fg>[,<will_qos>,<will_retain>,"<willtopic>",<will_len>]` of `willex` (spec §3). With
/// `On` the module answers `> ` and the host writes the `len` bytes of the will message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WillEx {
    /// `0`: no will message.
    Off,
    /// `1,…`: a will message of `len` raw bytes, written after the prompt.
    On {
        /// `will_qos`.
        qos: Qos,
        /// `will_retain`.
        retain: bool,
        /// `willtopic`, 1–256 bytes.
        topic: Topic,
        /// `will_len`, 0–256: how many bytes follow the prompt.
        len: WillLen,
    },
}

impl WillEx {
    /// `On` with `len` taken from the message itself, so they cannot disagree (0–256 bytes).
    pub fn for_message(
        qos: Qos,
        retain: bool,
        topic: Topic,
        message: &[u8],
    ) -> Result<WillEx, ParamError> {
        let len = WillLen::new(i64::try_from(message.len()).unwrap_or(i64::MAX))?;
        Ok(WillEx::On {
            qos,
            retain,
            topic,
            len,
        })
    }
}

/// The values of one `AT+QMTCFG` sub-command (spec §3 table): what a set command writes after
/// `client_idx`, and what a query answer holds after the name. Optional tails are `Option`s.
///
/// Every field's type checks its own range, so a `CfgValue` is always valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CfgValue {
    /// `version`: `<vsn>`, 3 = MQTT 3.1, 4 = MQTT 3.1.1.
    Version(MqttVersion),
    /// `pdpcid`: `<cid>` 1–15.
    PdpCid(PdpCid),
    /// `ssl`: `<SSL_enable>[,<SSL_ctx_idx>]`.
    Ssl(SslMode),
    /// `keepalive`: `<keep_alive_time>` 0–3600 s (0 = none; the server drops a client silent for
    /// 1.5 × this).
    KeepAlive(KeepAlive),
    /// `session`: `<clean_session>`.
    Session {
        /// `true` (1, default): clean session. `false` (0): the server keeps subscriptions and
        /// queued QoS 1/2 messages across connections.
        clean_session: bool,
    },
    /// `timeout`: `<pkt_timeout>,<retry_times>,<timeout_notice>`.
    Timeout {
        /// Seconds to wait for an ACK before retransmitting (1–60, default 5).
        pkt_timeout: PktTimeout,
        /// Retransmissions before giving up (0–10, default 3).
        retry_times: RetryTimes,
        /// Report a transmission timeout (`result` 1 lines) or not.
        timeout_notice: bool,
    },
    /// `will`: the will message as text.
    Will(Will),
    /// `willex`: the will message as raw data after `> `.
    WillEx(WillEx),
    /// `recv/mode`: `<msg_recv_mode>[,<msg_len_enable>]` (defaults 0,0).
    RecvMode {
        /// Payload in the URC or buffered.
        msg_recv_mode: MsgRecvMode,
        /// Whether `+QMTRECV` carries `<payload_len>` (advisable: it lets a parser take binary
        /// payloads exactly). `None` leaves it unchanged.
        msg_len_enable: Option<bool>,
    },
    /// `aliauth`: Alibaba Cloud one-device-one-secret; `AT+QMTCONN` then needs no credentials.
    AliAuth {
        /// `product key`.
        product_key: ProductKey,
        /// `device name`.
        device_name: DeviceName,
        /// `device secret` (redacted in logs).
        device_secret: DeviceSecret,
    },
    /// `qmtping`: `<qmtping_interval>` 5–60 (unit uncertain, taken as seconds).
    QmtPing(QmtpingInterval),
    /// `send/mode`: `<send_mode>`, publish data as text or hex.
    SendMode(DataEncoding),
    /// `onenet`: China Mobile OneNET.
    OneNet {
        /// `product id`.
        product_id: ProductId,
        /// `access key` (redacted in logs).
        access_key: AccessKey,
    },
    /// `hwauth`: Huawei IoT device authentication.
    HwAuth {
        /// `product id`.
        product_id: ProductId,
        /// `device secret` (redacted in logs).
        device_secret: DeviceSecret,
        /// `hw_time_enable`: timestamp check. The spec shows it only in the query answer; the
        /// set command accepts it too (tolerant choice), and constructors leave it `None`.
        hw_time_enable: Option<bool>,
    },
    /// `hwprodid`: Huawei IoT product-level authentication.
    HwProdId {
        /// `product id`.
        product_id: ProductId,
        /// `product secret` (redacted in logs).
        product_secret: ProductSecret,
        /// `nodeid`.
        node_id: NodeId,
        /// `hw_time_enable`, as for [`CfgValue::HwAuth`].
        hw_time_enable: Option<bool>,
    },
    /// `dataformat`: `<send_mode>,<recv_mode>`. With `recv_mode` hex, received payloads are hex.
    DataFormat {
        /// How publish data is given.
        send_mode: DataEncoding,
        /// How received payloads are shown.
        recv_mode: DataEncoding,
    },
    /// `view/mode`: `<view_mode>`.
    ViewMode(ViewMode),
    /// `edit/timeout`: `<edit_mode>[,<edit_time>]`.
    EditTimeout {
        /// Whether the data-input timeout after `> ` is on.
        edit_mode: bool,
        /// The timeout, 1–120 s.
        edit_time: Option<EditTime>,
    },
}

impl CfgValue {
    /// The sub-command these values belong to.
    pub fn name(&self) -> CfgName {
        match self {
            CfgValue::Version(_) => CfgName::Version,
            CfgValue::PdpCid(_) => CfgName::PdpCid,
            CfgValue::Ssl(_) => CfgName::Ssl,
            CfgValue::KeepAlive(_) => CfgName::KeepAlive,
            CfgValue::Session { .. } => CfgName::Session,
            CfgValue::Timeout { .. } => CfgName::Timeout,
            CfgValue::Will(_) => CfgName::Will,
            CfgValue::WillEx(_) => CfgName::WillEx,
            CfgValue::RecvMode { .. } => CfgName::RecvMode,
            CfgValue::AliAuth { .. } => CfgName::AliAuth,
            CfgValue::QmtPing(_) => CfgName::QmtPing,
            CfgValue::SendMode(_) => CfgName::SendMode,
            CfgValue::OneNet { .. } => CfgName::OneNet,
            CfgValue::HwAuth { .. } => CfgName::HwAuth,
            CfgValue::HwProdId { .. } => CfgName::HwProdId,
            CfgValue::DataFormat { .. } => CfgName::DataFormat,
            CfgValue::ViewMode(_) => CfgName::ViewMode,
            CfgValue::EditTimeout { .. } => CfgName::EditTimeout,
        }
    }

    /// Writes the values (no leading comma).
    fn write(&self, o: &mut Out<'_>, redact: bool) {
        match self {
            CfgValue::Version(v) => {
                o.num(v.get());
            }
            CfgValue::PdpCid(v) => {
                o.num(v);
            }
            CfgValue::Ssl(SslMode::Disabled { ctx }) => {
                o.num(0);
                if let Some(ctx) = ctx {
                    o.comma().num(ctx);
                }
            }
            CfgValue::Ssl(SslMode::Enabled { ctx }) => {
                o.num(1).comma().num(ctx);
            }
            CfgValue::KeepAlive(v) => {
                o.num(v);
            }
            CfgValue::Session { clean_session } => put_flag(o, *clean_session),
            CfgValue::Timeout {
                pkt_timeout,
                retry_times,
                timeout_notice,
            } => {
                o.num(pkt_timeout).comma().num(retry_times).comma();
                put_flag(o, *timeout_notice);
            }
            CfgValue::Will(Will::Off) | CfgValue::WillEx(WillEx::Off) => {
                o.num(0);
            }
            CfgValue::Will(Will::On {
                qos,
                retain,
                topic,
                message,
            }) => {
                o.num(1).comma().num(qos).comma();
                put_flag(o, *retain);
                o.comma()
                    .quoted(topic.as_str())
                    .comma()
                    .quoted(message.as_str());
            }
            CfgValue::WillEx(WillEx::On {
                qos,
                retain,
                topic,
                len,
            }) => {
                o.num(1).comma().num(qos).comma();
                put_flag(o, *retain);
                o.comma().quoted(topic.as_str()).comma().num(len);
            }
            CfgValue::RecvMode {
                msg_recv_mode,
                msg_len_enable,
            } => {
                o.num(msg_recv_mode);
                if let Some(b) = msg_len_enable {
                    o.comma();
                    put_flag(o, *b);
                }
            }
            CfgValue::AliAuth {
                product_key,
                device_name,
                device_secret,
            } => {
                o.quoted(product_key.as_str())
                    .comma()
                    .quoted(device_name.as_str())
                    .comma();
                secret(o, device_secret.expose(), redact);
            }
            CfgValue::QmtPing(v) => {
                o.num(v);
            }
            CfgValue::SendMode(v) => {
                o.num(v);
            }
            CfgValue::OneNet {
                product_id,
                access_key,
            } => {
                o.quoted(product_id.as_str()).comma();
                secret(o, access_key.expose(), redact);
            }
            CfgValue::HwAuth {
                product_id,
                device_secret,
                hw_time_enable,
            } => {
                o.quoted(product_id.as_str()).comma();
                secret(o, device_secret.expose(), redact);
                if let Some(b) = hw_time_enable {
                    o.comma();
                    put_flag(o, *b);
                }
            }
            CfgValue::HwProdId {
                product_id,
                product_secret,
                node_id,
                hw_time_enable,
            } => {
                o.quoted(product_id.as_str()).comma();
                secret(o, product_secret.expose(), redact);
                o.comma().quoted(node_id.as_str());
                if let Some(b) = hw_time_enable {
                    o.comma();
                    put_flag(o, *b);
                }
            }
            CfgValue::DataFormat {
                send_mode,
                recv_mode,
            } => {
                o.num(send_mode).comma().num(recv_mode);
            }
            CfgValue::ViewMode(v) => {
                o.num(v);
            }
            CfgValue::EditTimeout {
                edit_mode,
                edit_time,
            } => {
                put_flag(o, *edit_mode);
                if let Some(t) = edit_time {
                    o.comma().num(t);
                }
            }
        }
    }

    /// Parses the values of `name` (starting at the first value).
    fn parse(name: CfgName, i: &mut &[u8]) -> R<CfgValue> {
        use CfgName as N;
        Ok(match name {
            N::Version => CfgValue::Version(num(i, MqttVersion::new)?),
            N::PdpCid => CfgValue::PdpCid(num(i, PdpCid::new)?),
            N::Ssl => {
                let enable = flag(i, "SSL_enable")?;
                let ctx = if more(i)? {
                    Some(num(i, SslCtxIdx::new)?)
                } else {
                    None
                };
                CfgValue::Ssl(SslMode::new(enable, ctx)?)
            }
            N::KeepAlive => CfgValue::KeepAlive(num(i, KeepAlive::new)?),
            N::Session => CfgValue::Session {
                clean_session: flag(i, "clean_session")?,
            },
            N::Timeout => {
                let pkt_timeout = num(i, PktTimeout::new)?;
                sep(i)?;
                let retry_times = num(i, RetryTimes::new)?;
                sep(i)?;
                let timeout_notice = flag(i, "timeout_notice")?;
                CfgValue::Timeout {
                    pkt_timeout,
                    retry_times,
                    timeout_notice,
                }
            }
            N::Will => {
                if !will_head(i)? {
                    return Ok(CfgValue::Will(Will::Off));
                }
                let (qos, retain, topic) = will_common(i)?;
                sep(i)?;
                let message = text(i, WillMessage::new)?;
                CfgValue::Will(Will::On {
                    qos,
                    retain,
                    topic,
                    message,
                })
            }
            N::WillEx => {
                if !will_head(i)? {
                    return Ok(CfgValue::WillEx(WillEx::Off));
                }
                let (qos, retain, topic) = will_common(i)?;
                sep(i)?;
                let len = num(i, WillLen::new)?;
                CfgValue::WillEx(WillEx::On {
                    qos,
                    retain,
                    topic,
                    len,
                })
            }
            N::RecvMode => {
                let msg_recv_mode = num(i, MsgRecvMode::new)?;
                let msg_len_enable = if more(i)? {
                    Some(flag(i, "msg_len_enable")?)
                } else {
                    None
                };
                CfgValue::RecvMode {
                    msg_recv_mode,
                    msg_len_enable,
                }
            }
            N::AliAuth => {
                let product_key = text(i, ProductKey::new)?;
                sep(i)?;
                let device_name = text(i, DeviceName::new)?;
                sep(i)?;
                let device_secret = text(i, DeviceSecret::new)?;
                CfgValue::AliAuth {
                    product_key,
                    device_name,
                    device_secret,
                }
            }
            N::QmtPing => CfgValue::QmtPing(num(i, QmtpingInterval::new)?),
            N::SendMode => CfgValue::SendMode(num(i, DataEncoding::new)?),
            N::OneNet => {
                let product_id = text(i, ProductId::new)?;
                sep(i)?;
                let access_key = text(i, AccessKey::new)?;
                CfgValue::OneNet {
                    product_id,
                    access_key,
                }
            }
            N::HwAuth => {
                let product_id = text(i, ProductId::new)?;
                sep(i)?;
                let device_secret = text(i, DeviceSecret::new)?;
                let hw_time_enable = hw_time(i)?;
                CfgValue::HwAuth {
                    product_id,
                    device_secret,
                    hw_time_enable,
                }
            }
            N::HwProdId => {
                let product_id = text(i, ProductId::new)?;
                sep(i)?;
                let product_secret = text(i, ProductSecret::new)?;
                sep(i)?;
                let node_id = text(i, NodeId::new)?;
                let hw_time_enable = hw_time(i)?;
                CfgValue::HwProdId {
                    product_id,
                    product_secret,
                    node_id,
                    hw_time_enable,
                }
            }
            N::DataFormat => {
                let send_mode = num(i, DataEncoding::new)?;
                sep(i)?;
                let recv_mode = num(i, DataEncoding::new)?;
                CfgValue::DataFormat {
                    send_mode,
                    recv_mode,
                }
            }
            N::ViewMode => CfgValue::ViewMode(num(i, ViewMode::new)?),
            N::EditTimeout => {
                let edit_mode = flag(i, "edit_mode")?;
                let edit_time = if more(i)? {
                    Some(num(i, EditTime::new)?)
                } else {
                    None
                };
                CfgValue::EditTimeout {
                    edit_mode,
                    edit_time,
                }
            }
        })
    }
}

/// `<will_fg>` and the comma after it: whether the four will parameters follow. `will_fg` 1
/// requires them (spec §3 note 1); `will_fg` 0 takes none.
fn will_head(i: &mut &[u8]) -> R<bool> {
    let fg = flag(i, "will_fg")?;
    match (fg, more(i)?) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(ParamError::Invalid {
            param: "will_fg",
            reason: "will_fg 1 requires will_qos, will_retain, willtopic and the message",
        }
        .into()),
        (false, true) => Err(ParamError::Invalid {
            param: "will_fg",
            reason: "will_fg 0 takes no further values",
        }
        .into()),
    }
}

/// `<will_qos>,<will_retain>,"<willtopic>"`.
fn will_common(i: &mut &[u8]) -> R<(Qos, bool, Topic)> {
    let qos = num(i, Qos::new)?;
    sep(i)?;
    let retain = flag(i, "will_retain")?;
    sep(i)?;
    let topic = text(i, Topic::new)?;
    Ok((qos, retain, topic))
}

/// `[,<hw_time_enable>]`.
fn hw_time(i: &mut &[u8]) -> R<Option<bool>> {
    Ok(if more(i)? {
        Some(flag(i, "hw_time_enable")?)
    } else {
        None
    })
}

/// Query or set, the part of a [`Cfg`] after `client_idx`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CfgOp {
    /// `AT+QMTCFG="<name>",<client_idx>`: answers `+QMTCFG: "<name>",<values…>` ([`CfgInfo`]).
    Query(CfgName),
    /// `AT+QMTCFG="<name>",<client_idx>,<values…>`: answers `OK`.
    Set(CfgValue),
}

/// `AT+QMTCFG="<name>",<client_idx>[,<values…>]` (spec §3): query or set one option of a client.
/// Takes effect at the next `AT+QMTOPEN`/`AT+QMTCONN` of that client (note 5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cfg {
    client_idx: ClientIdx,
    op: CfgOp,
    name_case: NameCase,
}

impl Cfg {
    /// A query of `name` for `client_idx`.
    pub fn query(client_idx: ClientIdx, name: CfgName) -> Cfg {
        Cfg {
            client_idx,
            op: CfgOp::Query(name),
            name_case: NameCase::Lower,
        }
    }

    /// A set of `value` for `client_idx`.
    pub fn set(client_idx: ClientIdx, value: CfgValue) -> Cfg {
        Cfg {
            client_idx,
            op: CfgOp::Set(value),
            name_case: NameCase::Lower,
        }
    }

    /// The same command with its name spelled in `case` (`NameCase::Upper` writes `"SSL"`).
    /// A `Mixed` mask that spells the name uniformly is normalised to `Lower`/`Upper`.
    pub fn with_name_case(mut self, case: NameCase) -> Cfg {
        let mut spelled = Vec::new();
        case.spell(self.name().as_str(), &mut spelled);
        self.name_case = NameCase::of(&spelled);
        self
    }

    /// The client (0–5).
    pub fn client_idx(&self) -> ClientIdx {
        self.client_idx
    }

    /// Query or set.
    pub fn op(&self) -> &CfgOp {
        &self.op
    }

    /// The sub-command.
    pub fn name(&self) -> CfgName {
        match &self.op {
            CfgOp::Query(name) => *name,
            CfgOp::Set(value) => value.name(),
        }
    }

    /// How the name is spelled on the wire.
    pub fn name_case(&self) -> NameCase {
        self.name_case
    }

    /// `willex` set with `will_fg` 1: the number of bytes written after `> `.
    pub(crate) fn will_len(&self) -> Option<usize> {
        match &self.op {
            CfgOp::Set(CfgValue::WillEx(WillEx::On { len, .. })) => Some(usize::from(len.get())),
            _ => None,
        }
    }

    /// The command line without `\r`.
    pub(crate) fn write(&self, o: &mut Out<'_>, redact: bool) {
        o.raw(b"AT+QMTCFG=\"");
        self.name_case.spell(self.name().as_str(), o.0);
        o.raw(b"\",").num(self.client_idx);
        if let CfgOp::Set(value) = &self.op {
            o.comma();
            value.write(o, redact);
        }
    }

    /// The parameters after `AT+QMTCFG=`.
    pub(crate) fn parse_params(i: &mut &[u8]) -> R<Cfg> {
        let spelled = lex(i, quoted)?;
        let name = CfgName::lookup(spelled)?;
        sep(i)?;
        let client_idx = num(i, ClientIdx::new)?;
        let op = if more(i)? {
            CfgOp::Set(CfgValue::parse(name, i)?)
        } else {
            CfgOp::Query(name)
        };
        Ok(Cfg {
            client_idx,
            op,
            name_case: NameCase::of(spelled),
        })
    }
}

/// A `+QMTCFG:` information line (spec §3): the answer to a query, or one line of the answer to
/// `AT+QMTCFG=?`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CfgInfo {
    /// `+QMTCFG: "<name>",<values…>`: the current values of a sub-command (no `client_idx`).
    Value(CfgValue),
    /// `+QMTCFG: "<name>",<ranges>` of the test command, e.g. `+QMTCFG: "version",(0-5),(3,4)`.
    /// The ranges are kept as the module wrote them, from the first `(`: they document, they are
    /// not values. The name is kept as written (it may be one this crate does not know).
    Test {
        /// The sub-command name, without quotes.
        name: String,
        /// Everything after `"<name>",`.
        ranges: String,
    },
}

impl CfgInfo {
    /// Parses one `+QMTCFG:` line (without CR LF; a trailing CR or spaces are tolerated). The
    /// prefix and the name are case-insensitive.
    pub fn parse(line: &[u8]) -> Result<CfgInfo, ParseError> {
        let mut i = line;
        lex(&mut i, prefix("+QMTCFG:"))?;
        let name = lex(&mut i, quoted_str)?;
        sep(&mut i)?;
        let info = if lex(&mut i, opt(peek(b'(')))?.is_some() {
            let ranges = lex(&mut i, rest)?;
            let end = ranges
                .iter()
                .rposition(|&b| !matches!(b, b' ' | b'\r'))
                .map_or(0, |p| p + 1);
            let ranges = core::str::from_utf8(ranges.get(..end).unwrap_or_default())
                .map_err(|_| ParseError::Syntax)?;
            CfgInfo::Test {
                name: String::from(name),
                ranges: String::from(ranges),
            }
        } else {
            CfgInfo::Value(CfgValue::parse(CfgName::lookup(name.as_bytes())?, &mut i)?)
        };
        if at_end(i) {
            Ok(info)
        } else {
            Err(ParseError::Syntax)
        }
    }

    /// Appends the line's exact bytes (without CR LF). Secrets are written as they are: this is
    /// the wire form (the simulator sends it); `Debug` redacts them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let o = &mut Out(out);
        o.raw(b"+QMTCFG: ");
        match self {
            CfgInfo::Value(value) => {
                o.quoted(value.name().as_str()).comma();
                value.write(o, false);
            }
            CfgInfo::Test { name, ranges } => {
                o.quoted(name).comma().raw(ranges.as_bytes());
            }
        }
    }
}
