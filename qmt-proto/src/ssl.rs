//! `AT+QSSLCFG` (spec §7): the options of an SSL context used by `AT+QMTCFG="ssl"`, as a host
//! command ([`SslCfg`]) and as the module's answer to a query ([`SslInfo`]).
//!
//! Names are case-insensitive when parsed and written in lower case (as in spec §8.2).

use alloc::vec::Vec;
use core::fmt;

use winnow::Parser;
use winnow::ascii::{Caseless, hex_uint};
use winnow::combinator::{alt, delimited};

use crate::cmdsyntax::{R, at_end, code_enum, flag, lex, more, num, put_flag, sep, text};
use crate::error::{ParamError, ParseError};
use crate::params::{FileName, SslCtxIdx};
use crate::syntax::{Out, prefix, quoted};

/// The options of spec §7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslName {
    /// `cacert`: path of the CA certificate.
    CaCert,
    /// `clientcert`: path of the client certificate.
    ClientCert,
    /// `clientkey`: path of the client private key.
    ClientKey,
    /// `seclevel`: what is authenticated.
    SecLevel,
    /// `sslversion`: SSL/TLS protocol version.
    SslVersion,
    /// `ciphersuite`: cipher suites offered.
    CipherSuite,
    /// `ignorelocaltime`: whether certificate validity is checked against the module's clock.
    IgnoreLocalTime,
}

impl SslName {
    /// Every option, in the order of the spec's table.
    pub const ALL: [SslName; 7] = [
        SslName::CaCert,
        SslName::ClientCert,
        SslName::ClientKey,
        SslName::SecLevel,
        SslName::SslVersion,
        SslName::CipherSuite,
        SslName::IgnoreLocalTime,
    ];

    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            SslName::CaCert => "cacert",
            SslName::ClientCert => "clientcert",
            SslName::ClientKey => "clientkey",
            SslName::SecLevel => "seclevel",
            SslName::SslVersion => "sslversion",
            SslName::CipherSuite => "ciphersuite",
            SslName::IgnoreLocalTime => "ignorelocaltime",
        }
    }

    /// Looks a name up, ignoring ASCII case.
    pub fn from_name(name: &[u8]) -> Option<SslName> {
        SslName::ALL
            .into_iter()
            .find(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
    }

    fn lookup(name: &[u8]) -> Result<SslName, ParamError> {
        SslName::from_name(name).ok_or(ParamError::Invalid {
            param: "name",
            reason: "not an AT+QSSLCFG option",
        })
    }
}

code_enum!(
    /// `seclevel` (spec §7): which side is authenticated.
    SecLevel, "seclevel", "0-2" {
        /// 0: no authentication.
        NoAuth = 0,
        /// 1: the module verifies the server's certificate (needs `cacert`).
        VerifyServer = 1,
        /// 2: server and client are verified (needs `cacert`, `clientcert`, `clientkey`).
        VerifyServerAndClient = 2,
    }
);

code_enum!(
    /// `sslversion` (spec §7).
    SslVersion, "sslversion", "0-4" {
        /// 0: SSL 3.0.
        Ssl3_0 = 0,
        /// 1: TLS 1.0.
        Tls1_0 = 1,
        /// 2: TLS 1.1.
        Tls1_1 = 2,
        /// 3: TLS 1.2.
        Tls1_2 = 3,
        /// 4: all of them.
        All = 4,
    }
);

/// `ciphersuite` (spec §7): a TLS cipher-suite code, written `0x` and four upper-case hex digits;
/// `0xFFFF` means all suites the module supports. Parsing accepts `0x`/`0X`, either case and
/// one to four digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CipherSuite(pub u16);

impl CipherSuite {
    /// `0xFFFF`: every supported suite.
    pub const ALL: CipherSuite = CipherSuite(0xFFFF);
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04X}", self.0)
    }
}

/// The value of one `AT+QSSLCFG` option (spec §7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SslValue {
    /// `cacert`: `"UFS:<file>"`, uploaded with `AT+QFUPL`.
    CaCert(FileName),
    /// `clientcert`: `"UFS:<file>"`.
    ClientCert(FileName),
    /// `clientkey`: `"UFS:<file>"` (the path, not the key).
    ClientKey(FileName),
    /// `seclevel`.
    SecLevel(SecLevel),
    /// `sslversion`.
    SslVersion(SslVersion),
    /// `ciphersuite`.
    CipherSuite(CipherSuite),
    /// `ignorelocaltime`: `true` (1) ignores the clock when checking certificate validity (spec §3
    /// note 3: needed when the module has no valid time).
    IgnoreLocalTime(bool),
}

impl SslValue {
    /// The option this value belongs to.
    pub fn name(&self) -> SslName {
        match self {
            SslValue::CaCert(_) => SslName::CaCert,
            SslValue::ClientCert(_) => SslName::ClientCert,
            SslValue::ClientKey(_) => SslName::ClientKey,
            SslValue::SecLevel(_) => SslName::SecLevel,
            SslValue::SslVersion(_) => SslName::SslVersion,
            SslValue::CipherSuite(_) => SslName::CipherSuite,
            SslValue::IgnoreLocalTime(_) => SslName::IgnoreLocalTime,
        }
    }

    fn write(&self, o: &mut Out<'_>) {
        match self {
            SslValue::CaCert(f) | SslValue::ClientCert(f) | SslValue::ClientKey(f) => {
                o.quoted(f.as_str());
            }
            SslValue::SecLevel(v) => {
                o.num(v);
            }
            SslValue::SslVersion(v) => {
                o.num(v);
            }
            SslValue::CipherSuite(v) => {
                o.num(v);
            }
            SslValue::IgnoreLocalTime(b) => put_flag(o, *b),
        }
    }

    fn parse(name: SslName, i: &mut &[u8]) -> R<SslValue> {
        Ok(match name {
            SslName::CaCert => SslValue::CaCert(text(i, FileName::new)?),
            SslName::ClientCert => SslValue::ClientCert(text(i, FileName::new)?),
            SslName::ClientKey => SslValue::ClientKey(text(i, FileName::new)?),
            SslName::SecLevel => SslValue::SecLevel(num(i, SecLevel::new)?),
            SslName::SslVersion => SslValue::SslVersion(num(i, SslVersion::new)?),
            SslName::CipherSuite => {
                // Some firmware quotes it: accept `"0xFFFF"` too.
                let hex = || (Caseless("0x"), hex_uint::<_, u16, _>).map(|(_, n)| n);
                SslValue::CipherSuite(CipherSuite(lex(
                    i,
                    alt((delimited(b'"', hex(), b'"'), hex())),
                )?))
            }
            SslName::IgnoreLocalTime => SslValue::IgnoreLocalTime(flag(i, "ignorelocaltime")?),
        })
    }
}

/// Query or set, the part of an [`SslCfg`] after `ssl_ctx_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SslOp {
    /// `AT+QSSLCFG="<name>",<ssl_ctx_id>`: answers `+QSSLCFG: "<name>",<ssl_ctx_id>,<value>` ([`SslInfo`]).
    Query(SslName),
    /// `AT+QSSLCFG="<name>",<ssl_ctx_id>,<value>`: answers `OK`.
    Set(SslValue),
}

/// `AT+QSSLCFG="<name>",<ssl_ctx_id>[,<value>]` (spec §7): query or set one option of an SSL
/// context. Every field's type is valid by construction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslCfg {
    /// `ssl_ctx_id`: the context (0–5) that `AT+QMTCFG="ssl",<idx>,1,<ctx>` refers to.
    pub ctx: SslCtxIdx,
    /// Query or set.
    pub op: SslOp,
}

impl SslCfg {
    /// The option concerned.
    pub fn name(&self) -> SslName {
        match &self.op {
            SslOp::Query(name) => *name,
            SslOp::Set(value) => value.name(),
        }
    }

    /// The command line without `\r`.
    pub(crate) fn write(&self, o: &mut Out<'_>) {
        o.raw(b"AT+QSSLCFG=")
            .quoted(self.name().as_str())
            .comma()
            .num(self.ctx);
        if let SslOp::Set(value) = &self.op {
            o.comma();
            value.write(o);
        }
    }

    /// The parameters after `AT+QSSLCFG=`.
    pub(crate) fn parse_params(i: &mut &[u8]) -> R<SslCfg> {
        let name = SslName::lookup(lex(i, quoted)?)?;
        sep(i)?;
        let ctx = num(i, SslCtxIdx::new)?;
        let op = if more(i)? {
            SslOp::Set(SslValue::parse(name, i)?)
        } else {
            SslOp::Query(name)
        };
        Ok(SslCfg { ctx, op })
    }
}

/// The information line `+QSSLCFG: "<name>",<ssl_ctx_id>,<value>` (answer to a query, spec §7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslInfo {
    /// The context (0–5).
    pub ctx: SslCtxIdx,
    /// The option and its current value.
    pub value: SslValue,
}

impl SslInfo {
    /// Parses one `+QSSLCFG:` line (without CR LF; a trailing CR or spaces are tolerated).
    pub fn parse(line: &[u8]) -> Result<SslInfo, ParseError> {
        let mut i = line;
        lex(&mut i, prefix("+QSSLCFG:"))?;
        let name = SslName::lookup(lex(&mut i, quoted)?)?;
        sep(&mut i)?;
        let ctx = num(&mut i, SslCtxIdx::new)?;
        sep(&mut i)?;
        let value = SslValue::parse(name, &mut i)?;
        if at_end(i) {
            Ok(SslInfo { ctx, value })
        } else {
            Err(ParseError::Syntax)
        }
    }

    /// Appends the line's exact bytes (without CR LF).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let o = &mut Out(out);
        o.raw(b"+QSSLCFG: ")
            .quoted(self.value.name().as_str())
            .comma()
            .num(self.ctx)
            .comma();
        self.value.write(o);
    }
}
