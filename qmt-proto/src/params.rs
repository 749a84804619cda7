//! Checked parameter types (spec §2 and the parameter tables of §3–§7).
//!
//! Every number the spec bounds is a newtype whose constructor checks the range, and every string
//! that travels inside double quotes is a newtype whose constructor checks its length and refuses the
//! bytes a quoted AT string cannot carry (`"`, CR, LF: spec §1 defines no escape). A value of these
//! types that exists is valid, so a command built from them can always be encoded.

use alloc::string::String;
use core::fmt;

use crate::error::ParamError;

macro_rules! bounded_int {
    ($(#[$doc:meta])* $name:ident($repr:ty), $param:literal, $min:expr, $max:expr, $allowed:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($repr);

        impl $name {
            /// The smallest allowed value.
            pub const MIN: $repr = $min;
            /// The largest allowed value.
            pub const MAX: $repr = $max;

            /// Checks the range of the spec.
            pub fn new(value: i64) -> Result<Self, ParamError> {
                if value < Self::MIN as i64 || value > Self::MAX as i64 {
                    return Err(ParamError::OutOfRange { param: $param, value, allowed: $allowed });
                }
                // The range check above makes the conversion lossless.
                Ok(Self(value as $repr))
            }

            /// The value.
            pub const fn get(self) -> $repr {
                self.0
            }
        }

        /// The bare number: the field name around it already says what it is, and logs of
        /// typed lines stay short (`client_idx: 0`, not `client_idx: ClientIdx(0)`).
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ParamError;
            fn try_from(value: i64) -> Result<Self, ParamError> {
                Self::new(value)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.0
            }
        }
    };
}

bounded_int!(
    /// `client_idx`: one of the module's six independent MQTT clients (spec §2).
    ClientIdx(u8), "client_idx", 0, 5, "0-5"
);
bounded_int!(
    /// `msgid`: the MQTT packet identifier the host chooses (spec §2). The per-command rules
    /// (1–65535 for SUB/UNS, 0 exactly when `qos` is 0 for PUBEX) are checked by the commands.
    MsgId(u16), "msgid", 0, 65535, "0-65535"
);
bounded_int!(
    /// `keep_alive_time` in seconds; 0 disables keep-alive (spec §3 `keepalive`).
    KeepAlive(u16), "keep_alive_time", 0, 3600, "0-3600"
);
bounded_int!(
    /// `cid`: the PDP context the client uses (spec §3 `pdpcid`).
    PdpCid(u8), "cid", 1, 15, "1-15"
);
bounded_int!(
    /// `SSL_ctx_idx` / `ssl_ctx_id`: an SSL context configured with `AT+QSSLCFG` (spec §3 `ssl`, §7).
    SslCtxIdx(u8), "SSL_ctx_idx", 0, 5, "0-5"
);
bounded_int!(
    /// `pkt_timeout` in seconds: how long the module waits for an ACK before retransmitting (spec §2).
    PktTimeout(u8), "pkt_timeout", 1, 60, "1-60"
);
bounded_int!(
    /// `retry_times`: retransmissions before the module gives up (spec §2).
    RetryTimes(u8), "retry_times", 0, 10, "0-10"
);
bounded_int!(
    /// `qmtping_interval` (spec §3 `qmtping`; the unit is uncertain, treated as seconds).
    QmtpingInterval(u8), "qmtping_interval", 5, 60, "5-60"
);
bounded_int!(
    /// `edit_time` in seconds: how long the module waits for data after `> ` (spec §3 `edit/timeout`).
    EditTime(u8), "edit_time", 1, 120, "1-120"
);
bounded_int!(
    /// `recv_id`: one of the five message slots of a client in buffered receive mode (spec §5).
    RecvId(u8), "recv_id", 0, 4, "0-4"
);
bounded_int!(
    /// `port` of the MQTT server (spec §4 `AT+QMTOPEN`).
    Port(u16), "port", 1, 65535, "1-65535"
);
bounded_int!(
    /// `will_len`: length of a `willex` will message written after the prompt (spec §3 `willex`).
    WillLen(u16), "will_len", 0, 256, "0-256"
);
bounded_int!(
    /// `length` of an `AT+QMTPUBEX` payload (spec §5: at most 1500 bytes; longer input is cut by
    /// the module, so the driver refuses it before writing anything).
    PayloadLen(u16), "length", 0, 1500, "0-1500"
);

bounded_int!(
    /// `<msglen>` of the counted `AT+QMTPUB` of EC2x/EG9x/BG9x modules
    /// ([`Ec2xPub`](crate::sibling::Ec2xPub)): the host writes exactly this many bytes after `> `.
    /// 1–4096, the range those modules' `AT+QMTPUB=?` gives (`(1-4096)` in real logs); the sources
    /// disagree, see [`crate::sibling`] (a firmware with a smaller limit answers `ERROR`).
    MsgLen(u16), "msglen", 1, 4096, "1-4096"
);

bounded_int!(
    /// `cid`: a PDP context of `AT+QICSGP`, `AT+QIACT`, `AT+QIDEACT`, `AT+CGPADDR` and the
    /// `+QIURC: "pdpdeact"` URC (spec §10.6), 1–15. The same contexts as [`PdpCid`] of
    /// `AT+QMTCFG="pdpcid"`.
    ContextId(u8), "cid", 1, 15, "1-15"
);

impl ContextId {
    /// Context 1: the one modules activate by default and MQTT uses unless told otherwise
    /// (`pdpcid` 1, spec §3).
    pub const DEFAULT: ContextId = ContextId(1);
}

bounded_int!(
    /// `file_size` of `AT+QFUPL` (spec §7), 1–10 485 760 bytes. The spec gives no range; this is
    /// qmt's choice: an upload of nothing is not an upload, and 10 MiB is well above the module's
    /// user file system (certificates and keys are a few KiB), so a wrong size is caught before the
    /// module waits for bytes that never come.
    FileSize(u32), "file_size", 1, 10 * 1024 * 1024, "1-10485760"
);
bounded_int!(
    /// `timeout` of `AT+QFUPL` in seconds (spec §7, default 5): how long the module waits for the
    /// file's bytes after `CONNECT`. The spec gives no range; qmt allows 1–3600 s.
    UploadTimeout(u16), "timeout", 1, 3600, "1-3600"
);

impl ClientIdx {
    /// All six client indices, in order.
    pub fn all() -> impl Iterator<Item = ClientIdx> {
        (0..=5).map(ClientIdx)
    }
}

/// MQTT quality of service (`qos`, spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qos {
    /// 0: at most once. The module awaits no acknowledgement.
    AtMostOnce = 0,
    /// 1: at least once (PUBACK).
    AtLeastOnce = 1,
    /// 2: exactly once (PUBREC, PUBREL, PUBCOMP).
    ExactlyOnce = 2,
}

impl Qos {
    /// Checks the range 0–2.
    pub fn new(value: i64) -> Result<Self, ParamError> {
        match value {
            0 => Ok(Qos::AtMostOnce),
            1 => Ok(Qos::AtLeastOnce),
            2 => Ok(Qos::ExactlyOnce),
            _ => Err(ParamError::OutOfRange {
                param: "qos",
                value,
                allowed: "0-2",
            }),
        }
    }

    /// The number on the wire.
    pub const fn get(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// The `msgid` rule of a publish (spec §2, `AT+QMTPUBEX`; the same in the `AT+QMTPUB` notes of
/// EC2x/BG9x/BC26): 0 exactly when `qos` is 0, since a QoS 0 PUBLISH has no packet identifier.
pub(crate) fn check_pub_msgid(qos: Qos, msgid: MsgId) -> Result<(), ParamError> {
    match (qos, msgid.get()) {
        (Qos::AtMostOnce, 0) => Ok(()),
        (Qos::AtMostOnce, _) => Err(ParamError::Invalid {
            param: "msgid",
            reason: "must be 0 when qos is 0",
        }),
        (_, 0) => Err(ParamError::Invalid {
            param: "msgid",
            reason: "must be 1-65535 when qos is 1 or 2",
        }),
        _ => Ok(()),
    }
}

/// MQTT protocol version (`vsn`, spec §3 `version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MqttVersion {
    /// 3: MQTT v3.1 (protocol name `MQIsdp`).
    V3_1 = 3,
    /// 4: MQTT v3.1.1 (protocol name `MQTT`).
    V3_1_1 = 4,
}

impl MqttVersion {
    /// Checks the values 3 and 4.
    pub fn new(value: i64) -> Result<Self, ParamError> {
        match value {
            3 => Ok(MqttVersion::V3_1),
            4 => Ok(MqttVersion::V3_1_1),
            _ => Err(ParamError::OutOfRange {
                param: "vsn",
                value,
                allowed: "3 (MQTT 3.1), 4 (MQTT 3.1.1)",
            }),
        }
    }

    /// The number on the wire.
    pub const fn get(self) -> u8 {
        self as u8
    }
}

/// Checks that `value` can travel inside double quotes and that its length is in `min..=max`.
pub(crate) fn check_quoted(
    param: &'static str,
    value: &[u8],
    min: usize,
    max: usize,
    allowed: &'static str,
) -> Result<(), ParamError> {
    if value.len() < min || value.len() > max {
        return Err(ParamError::Length {
            param,
            len: value.len(),
            allowed,
        });
    }
    if let Some(at) = value
        .iter()
        .position(|&b| matches!(b, b'"' | b'\r' | b'\n'))
    {
        return Err(ParamError::ForbiddenByte {
            param,
            byte: value[at],
            at,
        });
    }
    Ok(())
}

macro_rules! quoted_string {
    ($(#[$doc:meta])* $name:ident, $param:literal, $min:expr, $max:expr, $allowed:literal, $secret:tt $(, check = $check:path)?) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The shortest allowed length in bytes.
            pub const MIN_LEN: usize = $min;
            /// The longest allowed length in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks the length and refuses `"`, CR and LF.
            pub fn new(value: impl Into<String>) -> Result<Self, ParamError> {
                let value = value.into();
                check_quoted($param, value.as_bytes(), $min, $max, $allowed)?;
                $($check(value.as_bytes())?;)?
                Ok(Self(value))
            }

            /// The value, without quotes.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        quoted_string!(@fmt $name, $secret);

        impl TryFrom<&str> for $name {
            type Error = ParamError;
            fn try_from(value: &str) -> Result<Self, ParamError> {
                Self::new(value)
            }
        }
    };
    (@fmt $name:ident, public) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    (@fmt $name:ident, secret) => {
        /// Redacted: secrets never appear in logs.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::REDACTED)
            }
        }
        /// Redacted: secrets never appear in logs. Use `expose()` to get the value for encoding.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::REDACTED)
            }
        }
        impl $name {
            /// The secret itself. Only the encoder should need it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }
    };
}

quoted_string!(
    /// `topic` / `willtopic`: an MQTT topic name or filter (`+` and `#` allowed in filters), 1–256 bytes.
    Topic, "topic", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// `host_name`: domain name or IP address of the MQTT server, 1–100 bytes (spec §4).
    HostName, "host_name", 1, 100, "1-100 bytes", public
);
quoted_string!(
    /// `clientid`: the MQTT client identifier, 1–256 bytes (the spec gives no limit; MQTT 3.1
    /// brokers may refuse more than 23 bytes with CONNACK 2).
    ClientId, "clientid", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// `username` of `AT+QMTCONN`, 0–256 bytes.
    UserName, "username", 0, 256, "0-256 bytes", public
);
quoted_string!(
    /// `password` of `AT+QMTCONN`, 0–256 bytes. Redacted in `Debug` and `Display`.
    Password, "password", 0, 256, "0-256 bytes", secret
);
quoted_string!(
    /// `willmessage` of the text `will` form, 0–256 bytes.
    WillMessage, "willmessage", 0, 256, "0-256 bytes", public
);
quoted_string!(
    /// `product key` of `aliauth` (Alibaba Cloud), 1–256 bytes.
    ProductKey, "product key", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// `device name` of `aliauth` (Alibaba Cloud), 1–256 bytes.
    DeviceName, "device name", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// `device secret` of `aliauth` and `hwauth`, 1–256 bytes. Redacted in `Debug` and `Display`.
    DeviceSecret, "device secret", 1, 256, "1-256 bytes", secret
);
quoted_string!(
    /// `product id` of `onenet`, `hwauth` and `hwprodid`, 1–256 bytes.
    ProductId, "product id", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// `access key` of `onenet` (China Mobile OneNET), 1–256 bytes. Redacted in `Debug` and `Display`.
    AccessKey, "access key", 1, 256, "1-256 bytes", secret
);
quoted_string!(
    /// `product secret` of `hwprodid` (Huawei), 1–256 bytes. Redacted in `Debug` and `Display`.
    ProductSecret, "product secret", 1, 256, "1-256 bytes", secret
);
quoted_string!(
    /// `nodeid` of `hwprodid` (Huawei), 1–256 bytes.
    NodeId, "nodeid", 1, 256, "1-256 bytes", public
);
quoted_string!(
    /// A file name of the module's file system (`"UFS:cacert.pem"`), 1–80 bytes (spec §7).
    FileName, "filename", 1, 80, "1-80 bytes", public
);

quoted_string!(
    /// `<msg>` of the BC26 (NB-IoT) `AT+QMTPUB` that carries its message inline
    /// ([`Bc26Pub`](crate::sibling::Bc26Pub)), 0–700 bytes (the BC26/BC20 notes' limit outside
    /// data mode). A quoted AT string: no `"`, CR or LF (spec §1 defines no escape).
    InlineMessage, "msg", 0, 700, "0-700 bytes", public
);

quoted_string!(
    /// `<APN>` of `AT+QICSGP` (spec §10.6): the access point name, 0–99 bytes (empty: the
    /// network's default).
    Apn, "APN", 0, 99, "0-99 bytes", public
);
quoted_string!(
    /// `<user>` of `AT+QICSGP` (spec §10.6), 0–127 bytes.
    ApnUser, "user", 0, 127, "0-127 bytes", public
);
quoted_string!(
    /// `<password>` of `AT+QICSGP` (spec §10.6), 0–127 bytes. Redacted in `Debug` and `Display`.
    ApnPassword, "password", 0, 127, "0-127 bytes", secret
);
quoted_string!(
    /// `<pin>` of `AT+CPIN="<pin>"` (spec §10.3): 4–8 digits. Redacted in `Debug` and `Display`;
    /// an error about it names its length, never its digits.
    Pin, "pin", 4, 8, "4-8 digits", secret, check = only_digits
);

/// Refuses a PIN holding anything but digits, without saying which byte or where.
fn only_digits(value: &[u8]) -> Result<(), ParamError> {
    if value.iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(ParamError::Invalid {
            param: "pin",
            reason: "must be 4-8 digits",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn ranges_are_checked_and_named() {
        assert!(ClientIdx::new(5).is_ok());
        let e = ClientIdx::new(6).unwrap_err();
        assert_eq!(
            e.to_string(),
            "client_idx = 6 is out of range (allowed: 0-5)"
        );
        assert!(KeepAlive::new(3601).is_err());
        assert!(PdpCid::new(0).is_err());
        assert!(Qos::new(3).is_err());
        assert!(MqttVersion::new(5).is_err());
        assert!(PayloadLen::new(1501).is_err());
    }

    #[test]
    fn quoted_strings_refuse_forbidden_bytes_and_lengths() {
        assert!(Topic::new("a/+/#").is_ok());
        assert!(Topic::new("").is_err());
        assert!(Topic::new("a".repeat(257)).is_err());
        let e = Topic::new("a\"b").unwrap_err();
        assert_eq!(
            e,
            ParamError::ForbiddenByte {
                param: "topic",
                byte: b'"',
                at: 1
            }
        );
        assert!(HostName::new("h\r").is_err());
        assert!(HostName::new("a".repeat(101)).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let p = Password::new("hunter2").unwrap();
        assert!(!format!("{p:?} {p}").contains("hunter2"));
        assert_eq!(p.expose(), "hunter2");
        let pin = Pin::new("4711").unwrap();
        assert!(!format!("{pin:?} {pin}").contains("4711"));
        assert_eq!(pin.expose(), "4711");
        for bad in ["471", "123456789", "47a1", "4\"11"] {
            let e = Pin::new(bad).unwrap_err().to_string();
            assert!(e.starts_with("pin"), "{e}");
            assert!(!e.contains(bad), "{e}");
        }
        let a = ApnPassword::new("s3cret").unwrap();
        assert!(!format!("{a:?} {a}").contains("s3cret"));
        let e = Password::new("a\nb").unwrap_err().to_string();
        assert_eq!(
            e,
            "password holds byte 0x0a at 1, which a quoted AT string cannot carry (\", CR, LF are forbidden)"
        );
    }
}
