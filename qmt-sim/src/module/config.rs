//! Per-client `AT+QMTCFG` settings (spec §3) and the `AT+QSSLCFG` contexts (spec §7): storage,
//! defaults, query answers and the `AT+QMTCFG=?` table.

use std::time::Duration;

use qmt_proto::cfg::{
    DataEncoding, MsgRecvMode, SslMode, ViewMode, Will as CfgWill, WillEx as CfgWillEx,
};
use qmt_proto::params::{
    AccessKey, DeviceName, DeviceSecret, EditTime, FileName, KeepAlive, MqttVersion, NodeId,
    PdpCid, PktTimeout, ProductId, ProductKey, ProductSecret, QmtpingInterval, RetryTimes,
};
use qmt_proto::ssl::{CipherSuite, SecLevel, SslVersion};
use qmt_proto::{CfgName, CfgValue, SslName, SslValue};

use crate::mqtt::Will;

/// The data-input timeout used when `edit/timeout` is on without an `edit_time` (the spec gives no
/// default; qmt-sim's choice).
pub(super) const DEFAULT_EDIT_TIME: Duration = Duration::from_secs(30);

/// Which of `will` / `willex` was set last: that one is the will sent with CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WillSource {
    Will,
    WillEx,
}

/// The cloud credentials of `aliauth`, `onenet`, `hwauth`, `hwprodid`.
#[derive(Clone, Debug, Default)]
struct CloudAuth {
    ali: Option<(ProductKey, DeviceName, DeviceSecret)>,
    onenet: Option<(ProductId, AccessKey)>,
    hwauth: Option<(ProductId, DeviceSecret, Option<bool>)>,
    hwprodid: Option<(ProductId, ProductSecret, NodeId, Option<bool>)>,
}

/// Every `AT+QMTCFG` setting of one client. `Debug` is derived from the proto types, which redact
/// the secrets.
#[derive(Clone, Debug)]
pub(super) struct ClientConfig {
    pub(super) version: MqttVersion,
    pub(super) pdpcid: PdpCid,
    pub(super) ssl: SslMode,
    pub(super) keepalive: KeepAlive,
    pub(super) clean_session: bool,
    pub(super) pkt_timeout: PktTimeout,
    pub(super) retry_times: RetryTimes,
    pub(super) timeout_notice: bool,
    will: CfgWill,
    willex: CfgWillEx,
    /// The raw bytes written after the `willex` prompt.
    willex_data: Vec<u8>,
    will_source: WillSource,
    pub(super) recv_mode: MsgRecvMode,
    pub(super) msg_len_enable: bool,
    auth: CloudAuth,
    qmtping: QmtpingInterval,
    /// Shared by `send/mode` and the send half of `dataformat` (one setting, two spellings).
    pub(super) send_mode: DataEncoding,
    pub(super) recv_encoding: DataEncoding,
    pub(super) view_mode: ViewMode,
    edit_mode: bool,
    edit_time: Option<EditTime>,
}

/// A default: a constant inside its type's range (every `Module::new` builds them all, so a
/// wrong constant fails every test at once, never on host input).
fn def<T>(r: Result<T, qmt_proto::error::ParamError>) -> T {
    r.expect("qmt-sim default inside the spec's range")
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            version: MqttVersion::V3_1_1,
            pdpcid: def(PdpCid::new(1)),
            ssl: SslMode::Disabled { ctx: None },
            keepalive: def(KeepAlive::new(120)),
            clean_session: true,
            pkt_timeout: def(PktTimeout::new(5)),
            retry_times: def(RetryTimes::new(3)),
            timeout_notice: false,
            will: CfgWill::Off,
            willex: CfgWillEx::Off,
            willex_data: Vec::new(),
            will_source: WillSource::Will,
            recv_mode: MsgRecvMode::InUrc,
            msg_len_enable: false,
            auth: CloudAuth::default(),
            qmtping: def(QmtpingInterval::new(5)),
            send_mode: DataEncoding::Text,
            recv_encoding: DataEncoding::Text,
            view_mode: ViewMode::Inline,
            edit_mode: false,
            edit_time: None,
        }
    }
}

impl ClientConfig {
    /// Applies a set command. A `willex` with `will_fg` 1 is applied by [`Self::set_willex_data`]
    /// once its data arrived.
    pub(super) fn set(&mut self, value: CfgValue) {
        match value {
            CfgValue::Version(v) => self.version = v,
            CfgValue::PdpCid(v) => self.pdpcid = v,
            CfgValue::Ssl(v) => self.ssl = v,
            CfgValue::KeepAlive(v) => self.keepalive = v,
            CfgValue::Session { clean_session } => self.clean_session = clean_session,
            CfgValue::Timeout {
                pkt_timeout,
                retry_times,
                timeout_notice,
            } => {
                self.pkt_timeout = pkt_timeout;
                self.retry_times = retry_times;
                self.timeout_notice = timeout_notice;
            }
            CfgValue::Will(w) => {
                self.will = w;
                self.will_source = WillSource::Will;
            }
            CfgValue::WillEx(w) => {
                self.willex = w;
                self.willex_data.clear();
                self.will_source = WillSource::WillEx;
            }
            CfgValue::RecvMode {
                msg_recv_mode,
                msg_len_enable,
            } => {
                self.recv_mode = msg_recv_mode;
                if let Some(b) = msg_len_enable {
                    self.msg_len_enable = b;
                }
            }
            CfgValue::AliAuth {
                product_key,
                device_name,
                device_secret,
            } => self.auth.ali = Some((product_key, device_name, device_secret)),
            CfgValue::QmtPing(v) => self.qmtping = v,
            CfgValue::SendMode(v) => self.send_mode = v,
            CfgValue::OneNet {
                product_id,
                access_key,
            } => self.auth.onenet = Some((product_id, access_key)),
            CfgValue::HwAuth {
                product_id,
                device_secret,
                hw_time_enable,
            } => self.auth.hwauth = Some((product_id, device_secret, hw_time_enable)),
            CfgValue::HwProdId {
                product_id,
                product_secret,
                node_id,
                hw_time_enable,
            } => {
                self.auth.hwprodid = Some((product_id, product_secret, node_id, hw_time_enable));
            }
            CfgValue::DataFormat {
                send_mode,
                recv_mode,
            } => {
                self.send_mode = send_mode;
                self.recv_encoding = recv_mode;
            }
            CfgValue::ViewMode(v) => self.view_mode = v,
            CfgValue::EditTimeout {
                edit_mode,
                edit_time,
            } => {
                self.edit_mode = edit_mode;
                self.edit_time = edit_time;
            }
        }
    }

    /// A `willex` set with `will_fg` 1 whose `will_len` bytes arrived.
    pub(super) fn set_willex_data(&mut self, value: CfgWillEx, data: Vec<u8>) {
        self.willex = value;
        self.willex_data = data;
        self.will_source = WillSource::WillEx;
    }

    /// The values a query answers, or `None` when the sub-command has nothing stored (the cloud
    /// credentials before they are set: the answer is then `OK` alone).
    pub(super) fn query(&self, name: CfgName) -> Option<CfgValue> {
        Some(match name {
            CfgName::Version => CfgValue::Version(self.version),
            CfgName::PdpCid => CfgValue::PdpCid(self.pdpcid),
            CfgName::Ssl => CfgValue::Ssl(self.ssl),
            CfgName::KeepAlive => CfgValue::KeepAlive(self.keepalive),
            CfgName::Session => CfgValue::Session {
                clean_session: self.clean_session,
            },
            CfgName::Timeout => CfgValue::Timeout {
                pkt_timeout: self.pkt_timeout,
                retry_times: self.retry_times,
                timeout_notice: self.timeout_notice,
            },
            CfgName::Will => CfgValue::Will(self.will.clone()),
            CfgName::WillEx => CfgValue::WillEx(self.willex.clone()),
            CfgName::RecvMode => CfgValue::RecvMode {
                msg_recv_mode: self.recv_mode,
                msg_len_enable: Some(self.msg_len_enable),
            },
            CfgName::AliAuth => {
                let (product_key, device_name, device_secret) = self.auth.ali.clone()?;
                CfgValue::AliAuth {
                    product_key,
                    device_name,
                    device_secret,
                }
            }
            CfgName::QmtPing => CfgValue::QmtPing(self.qmtping),
            CfgName::SendMode => CfgValue::SendMode(self.send_mode),
            CfgName::OneNet => {
                let (product_id, access_key) = self.auth.onenet.clone()?;
                CfgValue::OneNet {
                    product_id,
                    access_key,
                }
            }
            CfgName::HwAuth => {
                let (product_id, device_secret, hw_time_enable) = self.auth.hwauth.clone()?;
                CfgValue::HwAuth {
                    product_id,
                    device_secret,
                    hw_time_enable,
                }
            }
            CfgName::HwProdId => {
                let (product_id, product_secret, node_id, hw_time_enable) =
                    self.auth.hwprodid.clone()?;
                CfgValue::HwProdId {
                    product_id,
                    product_secret,
                    node_id,
                    hw_time_enable,
                }
            }
            CfgName::DataFormat => CfgValue::DataFormat {
                send_mode: self.send_mode,
                recv_mode: self.recv_encoding,
            },
            CfgName::ViewMode => CfgValue::ViewMode(self.view_mode),
            CfgName::EditTimeout => CfgValue::EditTimeout {
                edit_mode: self.edit_mode,
                edit_time: self.edit_time,
            },
        })
    }

    /// The data-input timeout after `> `, when `edit/timeout` is on.
    pub(super) fn edit_timeout(&self) -> Option<Duration> {
        self.edit_mode.then(|| {
            self.edit_time.map_or(DEFAULT_EDIT_TIME, |t| {
                Duration::from_secs(u64::from(t.get()))
            })
        })
    }

    /// The will CONNECT carries: the one of `will` / `willex` set last, if it is on.
    pub(super) fn will(&self) -> Option<Will> {
        match self.will_source {
            WillSource::Will => match &self.will {
                CfgWill::Off => None,
                CfgWill::On {
                    qos,
                    retain,
                    topic,
                    message,
                } => Some(Will {
                    qos: *qos,
                    retain: *retain,
                    topic: topic.as_str().to_owned(),
                    message: message.as_str().as_bytes().to_vec(),
                }),
            },
            WillSource::WillEx => match &self.willex {
                CfgWillEx::Off => None,
                CfgWillEx::On {
                    qos, retain, topic, ..
                } => Some(Will {
                    qos: *qos,
                    retain: *retain,
                    topic: topic.as_str().to_owned(),
                    message: self.willex_data.clone(),
                }),
            },
        }
    }

    /// User name and password for CONNECT when `AT+QMTCONN` gave none: derived from the cloud
    /// credentials, first configured of `aliauth`, `onenet`, `hwauth`, `hwprodid`.
    ///
    /// Simplified on purpose (the sim computes no signatures): Alibaba's real password is an
    /// HMAC of the client id, device name, product key (and timestamp) keyed by the device secret,
    /// and its client id carries `|securemode=…,signmethod=…|`; OneNET and Huawei IoT sign tokens
    /// likewise. The sim sends the secret itself, so a test broker can check it directly:
    /// - `aliauth`: `<device name>&<product key>` / `<device secret>`
    /// - `onenet`: `<product id>` / `<access key>`
    /// - `hwauth`: `<product id>` / `<device secret>`
    /// - `hwprodid`: `<product id>_<nodeid>` / `<product secret>`
    pub(super) fn cloud_credentials(&self) -> Option<(String, String)> {
        if let Some((key, name, secret)) = &self.auth.ali {
            return Some((
                format!("{}&{}", name.as_str(), key.as_str()),
                secret.expose().to_owned(),
            ));
        }
        if let Some((id, key)) = &self.auth.onenet {
            return Some((id.as_str().to_owned(), key.expose().to_owned()));
        }
        if let Some((id, secret, _)) = &self.auth.hwauth {
            return Some((id.as_str().to_owned(), secret.expose().to_owned()));
        }
        if let Some((id, secret, node, _)) = &self.auth.hwprodid {
            return Some((
                format!("{}_{}", id.as_str(), node.as_str()),
                secret.expose().to_owned(),
            ));
        }
        None
    }
}

/// The ranges of one sub-command in the answer to `AT+QMTCFG=?` (after `"<name>",`).
pub(super) fn cfg_test_ranges(name: CfgName) -> &'static str {
    match name {
        CfgName::Version => "(0-5),(3,4)",
        CfgName::PdpCid => "(0-5),(1-15)",
        CfgName::Ssl => "(0-5),(0,1),(0-5)",
        CfgName::KeepAlive => "(0-5),(0-3600)",
        CfgName::Session => "(0-5),(0,1)",
        CfgName::Timeout => "(0-5),(1-60),(0-10),(0,1)",
        CfgName::Will => "(0-5),(0,1),(0-2),(0,1),\"willtopic\",\"willmessage\"",
        CfgName::WillEx => "(0-5),(0,1),(0-2),(0,1),\"willtopic\",(0-256)",
        CfgName::RecvMode => "(0-5),(0,1),(0,1)",
        CfgName::AliAuth => "(0-5),\"productkey\",\"devicename\",\"devicesecret\"",
        CfgName::QmtPing => "(0-5),(5-60)",
        CfgName::SendMode => "(0-5),(0,1)",
        CfgName::OneNet => "(0-5),\"productid\",\"accesskey\"",
        CfgName::HwAuth => "(0-5),\"productid\",\"devicesecret\",(0,1)",
        CfgName::HwProdId => "(0-5),\"productid\",\"productsecret\",\"nodeid\",(0,1)",
        CfgName::DataFormat => "(0-5),(0,1),(0,1)",
        CfgName::ViewMode => "(0-5),(0,1)",
        CfgName::EditTimeout => "(0-5),(0,1),(1-120)",
    }
}

/// One `AT+QSSLCFG` context (spec §7). Defaults: no files, `seclevel` 0, `sslversion` 4,
/// `ciphersuite` 0xFFFF, `ignorelocaltime` 0.
#[derive(Clone, Debug)]
pub(super) struct SslContext {
    pub(super) cacert: Option<FileName>,
    pub(super) clientcert: Option<FileName>,
    pub(super) clientkey: Option<FileName>,
    pub(super) seclevel: SecLevel,
    pub(super) sslversion: SslVersion,
    pub(super) ciphersuite: CipherSuite,
    pub(super) ignore_local_time: bool,
}

impl Default for SslContext {
    fn default() -> Self {
        SslContext {
            cacert: None,
            clientcert: None,
            clientkey: None,
            seclevel: SecLevel::NoAuth,
            sslversion: SslVersion::All,
            ciphersuite: CipherSuite::ALL,
            ignore_local_time: false,
        }
    }
}

impl SslContext {
    /// Applies a set command.
    pub(super) fn set(&mut self, value: SslValue) {
        match value {
            SslValue::CaCert(f) => self.cacert = Some(f),
            SslValue::ClientCert(f) => self.clientcert = Some(f),
            SslValue::ClientKey(f) => self.clientkey = Some(f),
            SslValue::SecLevel(v) => self.seclevel = v,
            SslValue::SslVersion(v) => self.sslversion = v,
            SslValue::CipherSuite(v) => self.ciphersuite = v,
            SslValue::IgnoreLocalTime(v) => self.ignore_local_time = v,
        }
    }

    /// The value a query answers; `None` for a file path that was never set (answer: `OK` alone).
    pub(super) fn query(&self, name: SslName) -> Option<SslValue> {
        Some(match name {
            SslName::CaCert => SslValue::CaCert(self.cacert.clone()?),
            SslName::ClientCert => SslValue::ClientCert(self.clientcert.clone()?),
            SslName::ClientKey => SslValue::ClientKey(self.clientkey.clone()?),
            SslName::SecLevel => SslValue::SecLevel(self.seclevel),
            SslName::SslVersion => SslValue::SslVersion(self.sslversion),
            SslName::CipherSuite => SslValue::CipherSuite(self.ciphersuite),
            SslName::IgnoreLocalTime => SslValue::IgnoreLocalTime(self.ignore_local_time),
        })
    }
}
