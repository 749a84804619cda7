//! Host commands: round trips of every variant under proptest, lenient parsing, the errors each
//! invalid parameter gets, redaction of secrets, and a snapshot of the exact bytes of every form.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;

use qmt_proto::cfg::{DataEncoding, MsgRecvMode, NameCase, SslMode, ViewMode, Will, WillEx};
use qmt_proto::command::{
    CmeeMode, Conn, Credentials, DataPhase, FileSize, FileUpload, Open, PubEx, Recv, Sub, Uns,
    UploadTimeout,
};
use qmt_proto::error::{ParamError, ParseError};
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::net::{
    ApnAuth, ContextConfig, ContextType, Functionality, IdentityQuery, PowerDownMode, RegDomain,
    RegUrcMode,
};
use qmt_proto::params::*;
use qmt_proto::sibling::{Bc26Pub, Ec2xPub};
use qmt_proto::ssl::{CipherSuite, SecLevel, SslVersion};
use qmt_proto::uart::{BaudRate, FlowControl};
use qmt_proto::{
    Cfg, CfgInfo, CfgName, CfgValue, Command, LtsMode, NtpSync, SslCfg, SslInfo, SslName, SslOp,
    SslValue,
};

// ------------------------------------------------------------------------------------------------
// Strategies.

type Ctor<T> = fn(i64) -> Result<T, ParamError>;
type StrCtor<T> = fn(String) -> Result<T, ParamError>;

fn ranged<T: Clone + std::fmt::Debug + 'static>(lo: i64, hi: i64, f: Ctor<T>) -> BoxedStrategy<T> {
    (lo..=hi).prop_map(move |n| f(n).unwrap()).boxed()
}

/// Any text a quoted AT string can carry (no `"`, CR, LF; any other char incl. UTF-8 and `,`),
/// kept within the type's limits by its constructor.
fn quoted<T: Clone + std::fmt::Debug + 'static>(
    min: usize,
    max: usize,
    f: StrCtor<T>,
) -> BoxedStrategy<T> {
    let any = format!("[^\"\r\n]{{{min},{}}}", max.min(48));
    let edge = format!("[a-z0-9]{{{max}}}");
    let any = proptest::string::string_regex(&any).unwrap();
    let edge = proptest::string::string_regex(&edge).unwrap();
    prop_oneof![4 => any, 1 => edge]
        .prop_filter_map("fits the type", move |s| f(s).ok())
        .boxed()
}

fn topic() -> BoxedStrategy<Topic> {
    prop_oneof![
        2 => quoted(1, 256, Topic::new),
        // Topic filters and names with wildcards, `$` and UTF-8.
        2 => "(\\$aws|[a-zA-Zé中]{1,8})(/(\\+|[a-z0-9_ä€]{1,6}))*(/#)?"
            .prop_filter_map("topic", |s| Topic::new(s).ok()),
    ]
    .boxed()
}

fn secret_text<T: Clone + std::fmt::Debug + 'static>(
    min: usize,
    f: StrCtor<T>,
) -> BoxedStrategy<T> {
    quoted(min, 256, f)
}

fn idx() -> BoxedStrategy<ClientIdx> {
    ranged(0, 5, ClientIdx::new)
}
fn qos() -> BoxedStrategy<Qos> {
    ranged(0, 2, Qos::new)
}
fn nonzero_msgid() -> BoxedStrategy<MsgId> {
    prop_oneof![
        ranged(1, 65535, MsgId::new),
        Just(MsgId::new(65535).unwrap())
    ]
    .boxed()
}
fn ctx() -> BoxedStrategy<SslCtxIdx> {
    ranged(0, 5, SslCtxIdx::new)
}
fn file_name() -> BoxedStrategy<FileName> {
    prop_oneof![
        "UFS:[a-z_]{1,16}\\.(pem|crt|key)".prop_map(|s| FileName::new(s).unwrap()),
        quoted(1, 80, FileName::new),
    ]
    .boxed()
}

fn ssl_mode() -> BoxedStrategy<SslMode> {
    prop_oneof![
        Just(SslMode::Disabled { ctx: None }),
        ctx().prop_map(|c| SslMode::Disabled { ctx: Some(c) }),
        ctx().prop_map(|ctx| SslMode::Enabled { ctx }),
    ]
    .boxed()
}

fn will() -> BoxedStrategy<Will> {
    prop_oneof![
        Just(Will::Off),
        (
            qos(),
            any::<bool>(),
            topic(),
            quoted(0, 256, WillMessage::new)
        )
            .prop_map(|(qos, retain, topic, message)| Will::On {
                qos,
                retain,
                topic,
                message
            }),
    ]
    .boxed()
}

fn will_ex() -> BoxedStrategy<WillEx> {
    prop_oneof![
        Just(WillEx::Off),
        (qos(), any::<bool>(), topic(), ranged(0, 256, WillLen::new)).prop_map(
            |(qos, retain, topic, len)| WillEx::On {
                qos,
                retain,
                topic,
                len
            }
        ),
    ]
    .boxed()
}

fn encoding() -> BoxedStrategy<DataEncoding> {
    ranged(0, 1, DataEncoding::new)
}

/// Every sub-command of §3 with every optional-tail shape.
fn cfg_value() -> BoxedStrategy<CfgValue> {
    Union::new(vec![
        ranged(3, 4, MqttVersion::new)
            .prop_map(CfgValue::Version)
            .boxed(),
        ranged(1, 15, PdpCid::new)
            .prop_map(CfgValue::PdpCid)
            .boxed(),
        ssl_mode().prop_map(CfgValue::Ssl).boxed(),
        ranged(0, 3600, KeepAlive::new)
            .prop_map(CfgValue::KeepAlive)
            .boxed(),
        any::<bool>()
            .prop_map(|clean_session| CfgValue::Session { clean_session })
            .boxed(),
        (
            ranged(1, 60, PktTimeout::new),
            ranged(0, 10, RetryTimes::new),
            any::<bool>(),
        )
            .prop_map(
                |(pkt_timeout, retry_times, timeout_notice)| CfgValue::Timeout {
                    pkt_timeout,
                    retry_times,
                    timeout_notice,
                },
            )
            .boxed(),
        will().prop_map(CfgValue::Will).boxed(),
        will_ex().prop_map(CfgValue::WillEx).boxed(),
        (
            ranged(0, 1, MsgRecvMode::new),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(msg_recv_mode, msg_len_enable)| CfgValue::RecvMode {
                msg_recv_mode,
                msg_len_enable,
            })
            .boxed(),
        (
            quoted(1, 256, ProductKey::new),
            quoted(1, 256, DeviceName::new),
            secret_text(1, DeviceSecret::new),
        )
            .prop_map(
                |(product_key, device_name, device_secret)| CfgValue::AliAuth {
                    product_key,
                    device_name,
                    device_secret,
                },
            )
            .boxed(),
        ranged(5, 60, QmtpingInterval::new)
            .prop_map(CfgValue::QmtPing)
            .boxed(),
        encoding().prop_map(CfgValue::SendMode).boxed(),
        (
            quoted(1, 256, ProductId::new),
            secret_text(1, AccessKey::new),
        )
            .prop_map(|(product_id, access_key)| CfgValue::OneNet {
                product_id,
                access_key,
            })
            .boxed(),
        (
            quoted(1, 256, ProductId::new),
            secret_text(1, DeviceSecret::new),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(
                |(product_id, device_secret, hw_time_enable)| CfgValue::HwAuth {
                    product_id,
                    device_secret,
                    hw_time_enable,
                },
            )
            .boxed(),
        (
            quoted(1, 256, ProductId::new),
            secret_text(1, ProductSecret::new),
            quoted(1, 256, NodeId::new),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(
                |(product_id, product_secret, node_id, hw_time_enable)| CfgValue::HwProdId {
                    product_id,
                    product_secret,
                    node_id,
                    hw_time_enable,
                },
            )
            .boxed(),
        (encoding(), encoding())
            .prop_map(|(send_mode, recv_mode)| CfgValue::DataFormat {
                send_mode,
                recv_mode,
            })
            .boxed(),
        ranged(0, 1, ViewMode::new)
            .prop_map(CfgValue::ViewMode)
            .boxed(),
        (
            any::<bool>(),
            proptest::option::of(ranged(1, 120, EditTime::new)),
        )
            .prop_map(|(edit_mode, edit_time)| CfgValue::EditTimeout {
                edit_mode,
                edit_time,
            })
            .boxed(),
    ])
    .boxed()
}

fn name_case() -> BoxedStrategy<NameCase> {
    prop_oneof![
        Just(NameCase::Lower),
        Just(NameCase::Upper),
        any::<u32>().prop_map(NameCase::Mixed)
    ]
    .boxed()
}

fn cfg() -> BoxedStrategy<Cfg> {
    let query = (idx(), proptest::sample::select(CfgName::ALL.to_vec()))
        .prop_map(|(i, n)| Cfg::query(i, n));
    let set = (idx(), cfg_value()).prop_map(|(i, v)| Cfg::set(i, v));
    (prop_oneof![query, set], name_case())
        .prop_map(|(c, case)| c.with_name_case(case))
        .boxed()
}

fn ssl_value() -> BoxedStrategy<SslValue> {
    prop_oneof![
        file_name().prop_map(SslValue::CaCert),
        file_name().prop_map(SslValue::ClientCert),
        file_name().prop_map(SslValue::ClientKey),
        ranged(0, 2, SecLevel::new).prop_map(SslValue::SecLevel),
        ranged(0, 4, SslVersion::new).prop_map(SslValue::SslVersion),
        any::<u16>().prop_map(|n| SslValue::CipherSuite(CipherSuite(n))),
        any::<bool>().prop_map(SslValue::IgnoreLocalTime),
    ]
    .boxed()
}

fn ssl_cfg() -> BoxedStrategy<SslCfg> {
    let op = prop_oneof![
        proptest::sample::select(SslName::ALL.to_vec()).prop_map(SslOp::Query),
        ssl_value().prop_map(SslOp::Set),
    ];
    (ctx(), op).prop_map(|(ctx, op)| SslCfg { ctx, op }).boxed()
}

fn pubex() -> BoxedStrategy<PubEx> {
    let qos0 = (
        idx(),
        any::<bool>(),
        topic(),
        ranged(0, 1500, PayloadLen::new),
    )
        .prop_map(|(i, r, t, l)| {
            PubEx::new(i, MsgId::new(0).unwrap(), Qos::AtMostOnce, r, t, l).unwrap()
        });
    let qos12 = (
        idx(),
        nonzero_msgid(),
        ranged(1, 2, Qos::new),
        any::<bool>(),
        topic(),
        vec(any::<u8>(), 0..=1500),
    )
        .prop_map(|(i, m, q, r, t, payload)| PubEx::for_payload(i, m, q, r, t, &payload).unwrap());
    prop_oneof![qos0, qos12].boxed()
}

/// The `AT+QMTPUB` forms of sibling modules: EC2x/EG9x/BG9x ended by Ctrl-Z or counted, BC26
/// with the message inline.
fn qmtpub() -> BoxedStrategy<Command> {
    let head = prop_oneof![
        (idx(), Just(MsgId::new(0).unwrap()), Just(Qos::AtMostOnce)),
        (idx(), nonzero_msgid(), ranged(1, 2, Qos::new)),
    ];
    (
        head,
        any::<bool>(),
        topic(),
        0..3u8,
        ranged(1, 4096, MsgLen::new),
        quoted(0, 700, InlineMessage::new),
    )
        .prop_map(|((i, m, q), r, t, form, len, msg)| match form {
            0 => Command::Ec2xPub(Ec2xPub::until_ctrl_z(i, m, q, r, t).unwrap()),
            1 => Command::Ec2xPub(Ec2xPub::counted(i, m, q, r, t, len).unwrap()),
            _ => Command::Bc26Pub(Bc26Pub::new(i, m, q, r, t, msg).unwrap()),
        })
        .boxed()
}

fn file_upload() -> BoxedStrategy<FileUpload> {
    let size = ranged(1, i64::from(FileSize::MAX), FileSize::new);
    let timeout = ranged(1, 3600, UploadTimeout::new);
    prop_oneof![
        file_name().prop_map(FileUpload::without_size),
        (file_name(), size.clone()).prop_map(|(n, s)| FileUpload::new(n, s)),
        (file_name(), size, timeout).prop_map(|(n, s, t)| FileUpload::with_timeout(n, s, t)),
    ]
    .boxed()
}

fn cid() -> BoxedStrategy<ContextId> {
    ranged(1, 15, ContextId::new)
}

fn pin() -> BoxedStrategy<Pin> {
    "[0-9]{4,8}".prop_map(|s| Pin::new(s).unwrap()).boxed()
}

fn context_config() -> BoxedStrategy<ContextConfig> {
    (
        cid(),
        ranged(1, 3, ContextType::new),
        quoted(0, 99, Apn::new),
        quoted(0, 127, ApnUser::new),
        quoted(0, 127, ApnPassword::new),
        ranged(0, 3, ApnAuth::new),
    )
        .prop_map(|(cid, ctype, apn, user, password, auth)| ContextConfig {
            cid,
            ctype,
            apn,
            user,
            password,
            auth,
        })
        .boxed()
}

fn reg_domain() -> BoxedStrategy<RegDomain> {
    proptest::sample::select(RegDomain::ALL.to_vec()).boxed()
}

/// Every command of spec §10.1–§10.6 with valid random values.
fn net_command() -> BoxedStrategy<Command> {
    Union::new(vec![
        proptest::sample::select(IdentityQuery::ALL.to_vec())
            .prop_map(Command::Identify)
            .boxed(),
        Just(Command::PinRead).boxed(),
        pin().prop_map(Command::PinEnter).boxed(),
        Just(Command::SimStatRead).boxed(),
        Just(Command::Csq).boxed(),
        Just(Command::Qcsq).boxed(),
        Just(Command::QnwInfo).boxed(),
        Just(Command::CopsRead).boxed(),
        (reg_domain(), ranged(0, 5, RegUrcMode::new))
            .prop_map(|(d, n)| Command::RegSet(d, n))
            .boxed(),
        reg_domain().prop_map(Command::RegRead).boxed(),
        context_config().prop_map(Command::ContextSet).boxed(),
        cid().prop_map(Command::ContextRead).boxed(),
        Just(Command::ActRead).boxed(),
        cid().prop_map(Command::Act).boxed(),
        cid().prop_map(Command::Deact).boxed(),
        Just(Command::AttachRead).boxed(),
        cid().prop_map(Command::AddrRead).boxed(),
        (any::<u8>(), any::<bool>())
            .prop_map(|(n, reset)| Command::CfunSet {
                fun: Functionality::from_code(n),
                reset,
            })
            .boxed(),
        Just(Command::CfunRead).boxed(),
        ranged(0, 1, PowerDownMode::new)
            .prop_map(Command::PowerDown)
            .boxed(),
        (prop::bool::ANY, prop::bool::ANY)
            .prop_map(|(a, b)| {
                let f = |rts| {
                    if rts {
                        FlowControl::RtsCts
                    } else {
                        FlowControl::None
                    }
                };
                Command::IfcSet {
                    dce_by_dte: f(a),
                    dte_by_dce: f(b),
                }
            })
            .boxed(),
        Just(Command::IfcRead).boxed(),
        prop::sample::select(BaudRate::ALLOWED.to_vec())
            .prop_map(|r| Command::IprSet(BaudRate::new(i64::from(r)).unwrap()))
            .boxed(),
        Just(Command::IprRead).boxed(),
        file_clock_command(),
    ])
    .boxed()
}

/// Every command of spec §10.8 and §10.9 with valid random values.
fn file_clock_command() -> BoxedStrategy<Command> {
    Union::new(vec![
        proptest::option::of(file_name())
            .prop_map(Command::FileList)
            .boxed(),
        file_name().prop_map(Command::FileDelete).boxed(),
        Just(Command::ClockRead).boxed(),
        (
            cid(),
            quoted(1, 100, HostName::new),
            proptest::option::of(ranged(1, 65535, Port::new)),
        )
            .prop_map(|(cid, server, port)| Command::Ntp(NtpSync { cid, server, port }))
            .boxed(),
        proptest::option::of(ranged(0, 2, LtsMode::new))
            .prop_map(Command::NetworkTime)
            .boxed(),
    ])
    .boxed()
}

/// Every command variant with valid random values.
fn command() -> BoxedStrategy<Command> {
    let credentials = (quoted(0, 256, UserName::new), secret_text(0, Password::new))
        .prop_map(|(username, password)| Credentials { username, password });
    Union::new(vec![
        Just(Command::At).boxed(),
        any::<bool>().prop_map(Command::Echo).boxed(),
        ranged(0, 2, CmeeMode::new).prop_map(Command::Cmee).boxed(),
        Just(Command::CfgTest).boxed(),
        cfg().prop_map(Command::Cfg).boxed(),
        Just(Command::OpenTest).boxed(),
        Just(Command::OpenRead).boxed(),
        (
            idx(),
            quoted(1, 100, HostName::new),
            ranged(1, 65535, Port::new),
        )
            .prop_map(|(client_idx, host, port)| {
                Command::Open(Open {
                    client_idx,
                    host,
                    port,
                })
            })
            .boxed(),
        Just(Command::CloseTest).boxed(),
        idx().prop_map(Command::Close).boxed(),
        Just(Command::ConnTest).boxed(),
        Just(Command::ConnRead).boxed(),
        (
            idx(),
            quoted(1, 256, ClientId::new),
            proptest::option::of(credentials),
        )
            .prop_map(|(client_idx, client_id, credentials)| {
                Command::Conn(Conn {
                    client_idx,
                    client_id,
                    credentials,
                })
            })
            .boxed(),
        Just(Command::DiscTest).boxed(),
        idx().prop_map(Command::Disc).boxed(),
        Just(Command::SubTest).boxed(),
        (idx(), nonzero_msgid(), vec((topic(), qos()), 1..=5))
            .prop_map(|(i, m, t)| Command::Sub(Sub::new(i, m, t).unwrap()))
            .boxed(),
        Just(Command::UnsTest).boxed(),
        (idx(), nonzero_msgid(), vec(topic(), 1..=5))
            .prop_map(|(i, m, t)| Command::Uns(Uns::new(i, m, t).unwrap()))
            .boxed(),
        Just(Command::PubExTest).boxed(),
        pubex().prop_map(Command::PubEx).boxed(),
        Just(Command::PubTest).boxed(),
        qmtpub(),
        Just(Command::RecvTest).boxed(),
        Just(Command::RecvRead).boxed(),
        (idx(), proptest::option::of(ranged(0, 4, RecvId::new)))
            .prop_map(|(client_idx, recv_id)| {
                Command::Recv(Recv {
                    client_idx,
                    recv_id,
                })
            })
            .boxed(),
        file_upload().prop_map(Command::FileUpload).boxed(),
        ssl_cfg().prop_map(Command::SslCfg).boxed(),
        net_command(),
    ])
    .boxed()
}

/// Rewrites a command line the way a person might type it: lower case and a space after every
/// comma, outside quoted strings (inside them, case is data).
fn humanise(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    for &b in line {
        if b == b'"' {
            in_quotes = !in_quotes;
        }
        if in_quotes {
            out.push(b);
        } else {
            out.push(b.to_ascii_lowercase());
            if b == b',' {
                out.push(b' ');
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_command_round_trips(cmd in command()) {
        let bytes = cmd.to_bytes();
        prop_assert_eq!(bytes.last(), Some(&b'\r'));
        prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\r' || b == b'\n').count(), 1);
        prop_assert_eq!(Command::parse(&bytes), Ok(cmd.clone()));
        // Without the CR, lower case and spaced.
        prop_assert_eq!(Command::parse(&bytes[..bytes.len() - 1]), Ok(cmd.clone()));
        prop_assert_eq!(Command::parse(&humanise(&bytes)), Ok(cmd.clone()));
        // Display is the line without CR (secrets aside).
        let shown = cmd.to_string();
        prop_assert!(!shown.ends_with('\r'));
        if !shown.contains(qmt_proto::REDACTED) {
            prop_assert_eq!(shown.as_bytes(), &bytes[..bytes.len() - 1]);
        }
    }

    /// The commands of spec §10 alone (in `command()` they are one arm among many).
    #[test]
    fn net_commands_round_trip(cmd in net_command()) {
        let bytes = cmd.to_bytes();
        prop_assert_eq!(Command::parse(&bytes), Ok(cmd.clone()));
        prop_assert_eq!(Command::parse(&humanise(&bytes)), Ok(cmd.clone()));
        prop_assert_eq!(cmd.data_phase(), None);
        prop_assert_eq!(cmd.info_client(), None);
        prop_assert_eq!((cmd.name().kind(), cmd.name().form()), cmd.kind());
    }

    /// A random PIN and APN password never show in `Display` or `Debug`, but are on the wire.
    #[test]
    fn net_secrets_never_shown(pin in pin(), password in "[A-Za-z0-9]{16,32}", cfg in context_config()) {
        let secret = pin.expose().to_string();
        let cmd = Command::PinEnter(pin);
        prop_assert!(String::from_utf8_lossy(&cmd.to_bytes()).contains(&secret));
        let shown = format!("{cmd} {cmd:?} {cmd:#?} {}", cmd.name());
        prop_assert!(!shown.contains(&secret), "{}", shown);
        prop_assert_eq!(cmd.to_string(), "AT+CPIN=\"<redacted>\"");
        let cmd = Command::ContextSet(ContextConfig { password: ApnPassword::new(&password).unwrap(), ..cfg });
        prop_assert!(String::from_utf8_lossy(&cmd.to_bytes()).contains(&password));
        let shown = format!("{cmd} {cmd:?} {cmd:#?} {}", cmd.name());
        prop_assert!(!shown.contains(&password), "{}", shown);
        prop_assert!(cmd.to_string().contains(qmt_proto::REDACTED));
    }

    /// `AT+QMTCFG` and `AT+QSSLCFG` have the most shapes: more cases for them alone.
    #[test]
    fn cfg_commands_round_trip(cfg in cfg(), ssl in ssl_cfg()) {
        for cmd in [Command::Cfg(cfg), Command::SslCfg(ssl)] {
            let bytes = cmd.to_bytes();
            prop_assert_eq!(Command::parse(&bytes), Ok(cmd.clone()));
            prop_assert_eq!(Command::parse(&humanise(&bytes)), Ok(cmd.clone()));
        }
    }

    #[test]
    fn cfg_info_round_trips(value in cfg_value()) {
        let info = CfgInfo::Value(value);
        let mut line = Vec::new();
        info.encode(&mut line);
        prop_assert!(line.starts_with(b"+QMTCFG: \""));
        prop_assert_eq!(CfgInfo::parse(&line), Ok(info));
    }

    #[test]
    fn ssl_info_round_trips(ctx in ctx(), value in ssl_value()) {
        let info = SslInfo { ctx, value };
        let mut line = Vec::new();
        info.encode(&mut line);
        prop_assert_eq!(SslInfo::parse(&line), Ok(info));
    }

    #[test]
    fn parse_never_panics_on_noise(bytes in vec(any::<u8>(), 0..300)) {
        let _ = Command::parse(&bytes);
        let _ = CfgInfo::parse(&bytes);
        let _ = SslInfo::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_damaged_commands(
        cmd in command(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = cmd.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Command::parse(&bytes);
        bytes.truncate(cut.index(bytes.len()));
        let _ = Command::parse(&bytes);
        let mut info = b"+QMTCFG: ".to_vec();
        info.extend_from_slice(bytes.get(10..).unwrap_or_default());
        let _ = CfgInfo::parse(&info);
    }

    /// Random secrets never show in `Display` or `Debug`, but are on the wire.
    #[test]
    fn secrets_never_shown(secret in "[A-Za-z0-9]{16,32}", i in idx()) {
        let cmds = secret_commands(&secret, i);
        for cmd in cmds {
            prop_assert!(String::from_utf8_lossy(&cmd.to_bytes()).contains(&secret));
            let shown = format!("{cmd} {cmd:?} {cmd:#?}");
            prop_assert!(!shown.contains(&secret), "{}", shown);
            prop_assert!(cmd.to_string().contains(qmt_proto::REDACTED));
        }
    }
}

fn secret_commands(secret: &str, i: ClientIdx) -> Vec<Command> {
    let cfg = |v| Command::Cfg(Cfg::set(i, v));
    vec![
        Command::Conn(Conn {
            client_idx: i,
            client_id: ClientId::new("dev").unwrap(),
            credentials: Some(Credentials {
                username: UserName::new("user").unwrap(),
                password: Password::new(secret).unwrap(),
            }),
        }),
        cfg(CfgValue::AliAuth {
            product_key: ProductKey::new("pk").unwrap(),
            device_name: DeviceName::new("dn").unwrap(),
            device_secret: DeviceSecret::new(secret).unwrap(),
        }),
        cfg(CfgValue::OneNet {
            product_id: ProductId::new("pid").unwrap(),
            access_key: AccessKey::new(secret).unwrap(),
        }),
        cfg(CfgValue::HwAuth {
            product_id: ProductId::new("pid").unwrap(),
            device_secret: DeviceSecret::new(secret).unwrap(),
            hw_time_enable: Some(true),
        }),
        cfg(CfgValue::HwProdId {
            product_id: ProductId::new("pid").unwrap(),
            product_secret: ProductSecret::new(secret).unwrap(),
            node_id: NodeId::new("node").unwrap(),
            hw_time_enable: None,
        }),
    ]
}

#[test]
fn secrets_are_redacted_in_display_and_debug() {
    let cmds = secret_commands("hunter2-S3CRET", ClientIdx::new(1).unwrap());
    let shown: Vec<String> = cmds.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        [
            r#"AT+QMTCONN=1,"dev","user","<redacted>""#,
            r#"AT+QMTCFG="aliauth",1,"pk","dn","<redacted>""#,
            r#"AT+QMTCFG="onenet",1,"pid","<redacted>""#,
            r#"AT+QMTCFG="hwauth",1,"pid","<redacted>",1"#,
            r#"AT+QMTCFG="hwprodid",1,"pid","<redacted>","node""#,
        ]
    );
    for cmd in &cmds {
        assert!(!format!("{cmd:?}").contains("hunter2"), "{cmd:?}");
        // Parsed commands redact too.
        let parsed = Command::parse(&cmd.to_bytes()).unwrap();
        assert!(!format!("{parsed} {parsed:?}").contains("hunter2"));
    }
    // The module's query answers (CfgInfo) redact in Debug but carry the secret on the wire.
    let info = CfgInfo::parse(br#"+QMTCFG: "aliauth","pk","dn","hunter2-S3CRET""#).unwrap();
    assert!(!format!("{info:?}").contains("hunter2"));
    let mut wire = Vec::new();
    info.encode(&mut wire);
    assert_eq!(wire, br#"+QMTCFG: "aliauth","pk","dn","hunter2-S3CRET""#);
}

// ------------------------------------------------------------------------------------------------
// Lenient parsing.

#[test]
fn lower_case_and_spaces_parse() {
    let cases: &[(&str, &str)] = &[
        (
            "at+qmtsub=0, 1, \"a/+/#\", 1, \"b\", 2\r",
            "AT+QMTSUB=0,1,\"a/+/#\",1,\"b\",2\r",
        ),
        (
            "at+qmtopen=1,\"Host.Example\",  8883",
            "AT+QMTOPEN=1,\"Host.Example\",8883\r",
        ),
        (
            "At+QmtPubEx=0,7,2,1,\"T\",0",
            "AT+QMTPUBEX=0,7,2,1,\"T\",0\r",
        ),
        ("at+qmtcfg=\"keepalive\",0", "AT+QMTCFG=\"keepalive\",0\r"),
        ("at+qmtcfg=\"SSL\",0,1,2", "AT+QMTCFG=\"SSL\",0,1,2\r"),
        (
            "at+qsslcfg=\"CipherSuite\",2,0Xffff",
            "AT+QSSLCFG=\"ciphersuite\",2,0xFFFF\r",
        ),
        (
            "AT+QSSLCFG=\"ciphersuite\",2,\"0x35\"",
            "AT+QSSLCFG=\"ciphersuite\",2,0x0035\r",
        ),
        (
            "at+qfupl=\"UFS:a.pem\", 10, 5",
            "AT+QFUPL=\"UFS:a.pem\",10,5\r",
        ),
        ("ate0", "ATE0\r"),
        ("at", "AT\r"),
        ("at+cmee=2 ", "AT+CMEE=2\r"),
        ("at+qmtrecv?\r\n", "AT+QMTRECV?\r"),
        ("AT+QMTCONN= 0,\"c\"", "AT+QMTCONN=0,\"c\"\r"),
    ];
    for (input, canonical) in cases {
        let cmd = Command::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&cmd.to_bytes()),
            *canonical,
            "{input:?}"
        );
    }
}

#[test]
fn kind_and_form() {
    let p = |s: &str| Command::parse(s.as_bytes()).unwrap().kind();
    assert_eq!(p("AT"), (CommandKind::At, Form::Execute));
    assert_eq!(p("ATE1"), (CommandKind::Echo, Form::Execute));
    assert_eq!(p("AT+CMEE=1"), (CommandKind::Cmee, Form::Write));
    assert_eq!(p("AT+QMTCFG=?"), (CommandKind::QmtCfg, Form::Test));
    assert_eq!(
        p("AT+QMTCFG=\"pdpcid\",0"),
        (CommandKind::QmtCfg, Form::Write)
    );
    assert_eq!(p("AT+QMTOPEN?"), (CommandKind::QmtOpen, Form::Read));
    assert_eq!(p("AT+QMTCONN?"), (CommandKind::QmtConn, Form::Read));
    assert_eq!(p("AT+QMTRECV?"), (CommandKind::QmtRecv, Form::Read));
    assert_eq!(p("AT+QMTCLOSE=?"), (CommandKind::QmtClose, Form::Test));
    assert_eq!(
        p("AT+QMTPUBEX=0,0,0,0,\"t\",1"),
        (CommandKind::QmtPubEx, Form::Write)
    );
    assert_eq!(p("AT+QFUPL=\"UFS:a\""), (CommandKind::QfUpl, Form::Write));
    assert_eq!(
        p("AT+QSSLCFG=\"seclevel\",1"),
        (CommandKind::QsslCfg, Form::Write)
    );
    // Spec §10.
    assert_eq!(p("ATI"), (CommandKind::Ati, Form::Execute));
    assert_eq!(p("AT+GSN"), (CommandKind::Gsn, Form::Execute));
    assert_eq!(p("AT+CGSN"), (CommandKind::Gsn, Form::Execute));
    assert_eq!(p("AT+CPIN?"), (CommandKind::Cpin, Form::Read));
    assert_eq!(p("AT+CPIN=\"1234\""), (CommandKind::Cpin, Form::Write));
    assert_eq!(p("AT+CEREG?"), (CommandKind::Cereg, Form::Read));
    assert_eq!(p("AT+CGREG=2"), (CommandKind::Cgreg, Form::Write));
    assert_eq!(p("AT+QICSGP=1"), (CommandKind::Qicsgp, Form::Write));
    assert_eq!(p("AT+QIACT?"), (CommandKind::Qiact, Form::Read));
    assert_eq!(p("AT+QIDEACT=1"), (CommandKind::Qideact, Form::Write));
    assert_eq!(p("AT+CFUN=1,1"), (CommandKind::Cfun, Form::Write));
    assert_eq!(p("AT+QPOWD"), (CommandKind::Qpowd, Form::Write));
    // Spec §10.7.
    assert_eq!(p("AT+IFC=2,2"), (CommandKind::Ifc, Form::Write));
    assert_eq!(p("AT+IFC?"), (CommandKind::Ifc, Form::Read));
    assert_eq!(p("AT+IPR=115200"), (CommandKind::Ipr, Form::Write));
    assert_eq!(p("AT+IPR?"), (CommandKind::Ipr, Form::Read));
}

#[test]
fn serial_line_commands_round_trip_and_refuse_what_a_module_does_not_take() {
    for (input, canonical) in [
        ("at+ifc=2,2", "AT+IFC=2,2\r"),
        ("AT+IFC=0, 0", "AT+IFC=0,0\r"),
        ("at+ifc?", "AT+IFC?\r"),
        ("at+ipr=921600", "AT+IPR=921600\r"),
        ("AT+IPR?", "AT+IPR?\r"),
    ] {
        let cmd = Command::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(String::from_utf8_lossy(&cmd.to_bytes()), canonical);
        assert_eq!(Command::parse(&cmd.to_bytes()), Ok(cmd), "{input:?}");
    }
    for (line, want) in [
        ("AT+IFC=1,1", "flow_control"),
        ("AT+IFC=2,3", "flow_control"),
        ("AT+IPR=115201", "rate"),
        ("AT+IPR=0", "rate"),
    ] {
        match Command::parse(line.as_bytes()) {
            Err(ParseError::Param(e)) => assert_eq!(param(&e), want, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    for line in ["AT+IFC=2", "AT+IFC", "AT+IPR"] {
        assert_eq!(
            Command::parse(line.as_bytes()),
            Err(ParseError::Syntax),
            "{line}"
        );
    }
}

#[test]
fn net_commands_parse_leniently() {
    let cases: &[(&str, &str)] = &[
        ("ati", "ATI\r"),
        ("at+cgsn", "AT+GSN\r"),
        ("at+cereg=2", "AT+CEREG=2\r"),
        ("at+creg?", "AT+CREG?\r"),
        ("at+qpowd", "AT+QPOWD=1\r"),
        ("AT+QPOWD=0", "AT+QPOWD=0\r"),
        ("at+cfun=1,0", "AT+CFUN=1\r"),
        ("AT+CFUN=4", "AT+CFUN=4\r"),
        (
            "at+qicsgp=1, 1, \"CMNET\", \"\", \"\"",
            "AT+QICSGP=1,1,\"CMNET\",\"\",\"\",0\r",
        ),
        ("at+qicsgp=15", "AT+QICSGP=15\r"),
        ("at+cgpaddr=1", "AT+CGPADDR=1\r"),
    ];
    for (input, canonical) in cases {
        let cmd = Command::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&cmd.to_bytes()),
            *canonical,
            "{input:?}"
        );
    }
    assert_eq!(
        Command::parse(b"AT+CFUN=1,1"),
        Ok(Command::CfunSet {
            fun: Functionality::Full,
            reset: true
        })
    );
    assert_eq!(
        Command::parse(b"AT+QPOWD"),
        Ok(Command::PowerDown(PowerDownMode::Normal))
    );
    // Invalid §10 values are named, and a PIN's digits never appear in the error.
    for (line, want) in [
        ("AT+CPIN=\"12a4\"", "pin"),
        ("AT+CPIN=\"123\"", "pin"),
        ("AT+CPIN=\"123456789\"", "pin"),
        ("AT+QIACT=0", "cid"),
        ("AT+QIDEACT=16", "cid"),
        ("AT+CGPADDR=16", "cid"),
        ("AT+QICSGP=1,4,\"a\",\"\",\"\",0", "type"),
        ("AT+QICSGP=1,1,\"a\",\"\",\"\",4", "auth"),
        ("AT+CEREG=6", "n"),
        ("AT+QPOWD=2", "n"),
        ("AT+CFUN=256", "fun"),
        ("AT+CFUN=1,2", "rst"),
        ("AT+QNTP=0,\"pool.ntp.org\"", "cid"),
        ("AT+QNTP=1,\"pool.ntp.org\",0", "port"),
        ("AT+QNTP=1,\"\"", "host_name"),
        ("AT+QLTS=3", "mode"),
        ("AT+QFDEL=\"\"", "filename"),
    ] {
        match Command::parse(line.as_bytes()) {
            Err(ParseError::Param(e)) => {
                assert_eq!(param(&e), want, "{line}");
                if line.starts_with("AT+CPIN") {
                    let digits = &line[9..line.len() - 1];
                    assert!(!e.to_string().contains(digits), "{line}: {e}");
                }
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    let long_apn = format!("AT+QICSGP=1,1,\"{}\",\"\",\"\",0", "a".repeat(100));
    assert!(matches!(
        Command::parse(long_apn.as_bytes()),
        Err(ParseError::Param(ParamError::Length { param: "APN", .. }))
    ));
    for line in [
        "AT+CSQ?",
        "AT+CPIN",
        "AT+CEREG",
        "AT+QIACT",
        "AT+CGATT=1",
        "ATI?",
        "AT+QFDEL",
        "AT+CCLK",
        "AT+QNTP",
        "AT+QNTP=1",
        "AT+QFLST=*",
    ] {
        assert_eq!(
            Command::parse(line.as_bytes()),
            Err(ParseError::Syntax),
            "{line}"
        );
    }
}

#[test]
fn pin_and_apn_password_are_redacted() {
    let pin = Command::PinEnter(Pin::new("4711").unwrap());
    assert_eq!(pin.to_bytes(), b"AT+CPIN=\"4711\"\r");
    assert_eq!(pin.to_string(), "AT+CPIN=\"<redacted>\"");
    assert_eq!(format!("{pin:?}"), "PinEnter(<redacted>)");
    assert_eq!(pin.name().to_string(), "AT+CPIN");
    let ctx = Command::ContextSet(ContextConfig {
        cid: ContextId::new(1).unwrap(),
        ctype: ContextType::Ipv4,
        apn: Apn::new("internet").unwrap(),
        user: ApnUser::new("me").unwrap(),
        password: ApnPassword::new("hunter2-S3CRET").unwrap(),
        auth: ApnAuth::Chap,
    });
    assert_eq!(
        ctx.to_bytes(),
        b"AT+QICSGP=1,1,\"internet\",\"me\",\"hunter2-S3CRET\",2\r"
    );
    assert_eq!(
        ctx.to_string(),
        "AT+QICSGP=1,1,\"internet\",\"me\",\"<redacted>\",2"
    );
    for cmd in [&pin, &ctx] {
        let shown = format!("{cmd:?} {cmd:#?}");
        assert!(
            !shown.contains("4711") && !shown.contains("hunter2"),
            "{shown}"
        );
        let parsed = Command::parse(&cmd.to_bytes()).unwrap();
        let shown = format!("{parsed} {parsed:?}");
        assert!(
            !shown.contains("4711") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}

#[test]
fn data_phases() {
    let p = |s: &str| Command::parse(s.as_bytes()).unwrap().data_phase();
    assert_eq!(
        p("AT+QMTPUBEX=0,0,0,0,\"t\",1500"),
        Some(DataPhase::Prompt { len: 1500 })
    );
    assert_eq!(
        p("AT+QMTPUBEX=0,3,1,0,\"t\",0"),
        Some(DataPhase::Prompt { len: 0 })
    );
    assert_eq!(
        p("AT+QMTCFG=\"willex\",0,1,1,0,\"w\",256"),
        Some(DataPhase::Prompt { len: 256 })
    );
    assert_eq!(p("AT+QMTCFG=\"willex\",0,0"), None);
    assert_eq!(p("AT+QMTCFG=\"willex\",0"), None);
    assert_eq!(p("AT+QMTCFG=\"will\",0,1,1,0,\"w\",\"m\""), None);
    assert_eq!(
        p("AT+QFUPL=\"UFS:a\",1758,100"),
        Some(DataPhase::Connect { len: 1758 })
    );
    assert_eq!(
        p("AT+QFUPL=\"UFS:a\",7"),
        Some(DataPhase::Connect { len: 7 })
    );
    assert_eq!(p("AT+QFUPL=\"UFS:a\""), None);
    assert_eq!(p("AT+QMTSUB=0,1,\"t\",0"), None);
    assert_eq!(DataPhase::Connect { len: 9 }.data_len(), Some(9));
    // The willex constructor derives the length from the message.
    let w = WillEx::for_message(
        Qos::AtMostOnce,
        false,
        Topic::new("w").unwrap(),
        b"bye\r\n\"x",
    )
    .unwrap();
    let cmd = Command::Cfg(Cfg::set(ClientIdx::new(0).unwrap(), CfgValue::WillEx(w)));
    assert_eq!(cmd.data_phase(), Some(DataPhase::Prompt { len: 7 }));
    assert_eq!(cmd.to_bytes(), b"AT+QMTCFG=\"willex\",0,1,0,0,\"w\",7\r");
}

// ------------------------------------------------------------------------------------------------
// Invalid input.

fn param(e: &ParamError) -> &'static str {
    match e {
        ParamError::OutOfRange { param, .. }
        | ParamError::Length { param, .. }
        | ParamError::ForbiddenByte { param, .. }
        | ParamError::ControlByte { param, .. }
        | ParamError::Invalid { param, .. } => param,
    }
}

#[test]
fn invalid_parameters_are_named_by_parse() {
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(String, &str)> = vec![
        // §4
        ("AT+QMTOPEN=6,\"h\",1883".into(), "client_idx"),
        ("AT+QMTOPEN=-1,\"h\",1883".into(), "client_idx"),
        ("AT+QMTOPEN=0,\"h\",0".into(), "port"),
        ("AT+QMTOPEN=0,\"h\",65536".into(), "port"),
        (format!("AT+QMTOPEN=0,\"{}\",1", long(101)), "host_name"),
        ("AT+QMTOPEN=0,\"\",1".into(), "host_name"),
        ("AT+QMTOPEN=0,\"h\rx\",1".into(), "host_name"),
        ("AT+QMTCONN=0,\"a\nb\"".into(), "clientid"),
        ("AT+QMTCONN=0,\"\"".into(), "clientid"),
        (
            format!("AT+QMTCONN=0,\"c\",\"u\",\"{}\"", long(257)),
            "password",
        ),
        ("AT+QMTCLOSE=7".into(), "client_idx"),
        ("AT+QMTDISC=9".into(), "client_idx"),
        // §5
        ("AT+QMTSUB=0,0,\"t\",0".into(), "msgid"),
        ("AT+QMTSUB=0,65536,\"t\",0".into(), "msgid"),
        ("AT+QMTSUB=0,1,\"t\",3".into(), "qos"),
        (format!("AT+QMTSUB=0,1,\"{}\",0", long(257)), "topic"),
        ("AT+QMTSUB=0,1,\"\",0".into(), "topic"),
        ("AT+QMTSUB=0,1".into(), "number of topics"),
        (
            "AT+QMTSUB=0,1,\"a\",0,\"b\",0,\"c\",0,\"d\",0,\"e\",0,\"f\",0".into(),
            "number of topics",
        ),
        (
            "AT+QMTSUB=0,1,\"a\",0,\"b\",0,\"c\",0,\"d\",0,\"e\",0,\"f\",0,\"g\",0,\"h\",0".into(),
            "number of topics",
        ),
        ("AT+QMTUNS=0,0,\"t\"".into(), "msgid"),
        ("AT+QMTUNS=0,1".into(), "number of topics"),
        (
            "AT+QMTUNS=0,1,\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"".into(),
            "number of topics",
        ),
        ("AT+QMTPUBEX=0,5,0,0,\"t\",1".into(), "msgid"),
        ("AT+QMTPUBEX=0,0,1,0,\"t\",1".into(), "msgid"),
        ("AT+QMTPUBEX=0,0,2,0,\"t\",1".into(), "msgid"),
        ("AT+QMTPUBEX=0,0,0,0,\"t\",1501".into(), "length"),
        ("AT+QMTPUBEX=0,0,0,2,\"t\",1".into(), "retain"),
        ("AT+QMTPUBEX=0,0,3,0,\"t\",1".into(), "qos"),
        ("AT+QMTPUBEX=0,0,0,0,\"t\r\n\",1".into(), "topic"),
        // `AT+QMTPUB` of sibling modules: the same rules as `AT+QMTPUBEX` in each form.
        ("AT+QMTPUB=0,5,0,0,\"t\"".into(), "msgid"),
        ("AT+QMTPUB=0,0,1,0,\"t\",1".into(), "msgid"),
        ("AT+QMTPUB=0,0,2,0,\"t\",\"m\"".into(), "msgid"),
        ("AT+QMTPUB=6,0,0,0,\"t\"".into(), "client_idx"),
        ("AT+QMTPUB=0,0,3,0,\"t\"".into(), "qos"),
        ("AT+QMTPUB=0,0,0,2,\"t\"".into(), "retain"),
        ("AT+QMTPUB=0,0,0,0,\"\"".into(), "topic"),
        ("AT+QMTPUB=0,0,0,0,\"t\",0".into(), "msglen"),
        ("AT+QMTPUB=0,0,0,0,\"t\",4097".into(), "msglen"),
        (format!("AT+QMTPUB=0,0,0,0,\"t\",\"{}\"", long(701)), "msg"),
        ("AT+QMTRECV=0,5".into(), "recv_id"),
        ("AT+QMTRECV=6".into(), "client_idx"),
        // §3
        ("AT+QMTCFG=\"version\",0,5".into(), "vsn"),
        ("AT+QMTCFG=\"version\",6".into(), "client_idx"),
        ("AT+QMTCFG=\"pdpcid\",0,0".into(), "cid"),
        ("AT+QMTCFG=\"pdpcid\",0,16".into(), "cid"),
        ("AT+QMTCFG=\"ssl\",0,1".into(), "SSL_ctx_idx"),
        ("AT+QMTCFG=\"SSL\",0,1".into(), "SSL_ctx_idx"),
        ("AT+QMTCFG=\"ssl\",0,2,0".into(), "SSL_enable"),
        ("AT+QMTCFG=\"ssl\",0,1,6".into(), "SSL_ctx_idx"),
        ("AT+QMTCFG=\"keepalive\",0,3601".into(), "keep_alive_time"),
        ("AT+QMTCFG=\"session\",0,2".into(), "clean_session"),
        ("AT+QMTCFG=\"timeout\",0,0,3,0".into(), "pkt_timeout"),
        ("AT+QMTCFG=\"timeout\",0,61,3,0".into(), "pkt_timeout"),
        ("AT+QMTCFG=\"timeout\",0,5,11,0".into(), "retry_times"),
        ("AT+QMTCFG=\"timeout\",0,5,3,2".into(), "timeout_notice"),
        ("AT+QMTCFG=\"will\",0,1".into(), "will_fg"),
        ("AT+QMTCFG=\"will\",0,0,1,0,\"t\",\"m\"".into(), "will_fg"),
        ("AT+QMTCFG=\"will\",0,2".into(), "will_fg"),
        ("AT+QMTCFG=\"will\",0,1,3,0,\"t\",\"m\"".into(), "qos"),
        (
            "AT+QMTCFG=\"will\",0,1,1,2,\"t\",\"m\"".into(),
            "will_retain",
        ),
        ("AT+QMTCFG=\"will\",0,1,1,0,\"\",\"m\"".into(), "topic"),
        (
            format!("AT+QMTCFG=\"will\",0,1,1,0,\"t\",\"{}\"", long(257)),
            "willmessage",
        ),
        ("AT+QMTCFG=\"willex\",0,1".into(), "will_fg"),
        ("AT+QMTCFG=\"willex\",0,1,1,0,\"t\",257".into(), "will_len"),
        ("AT+QMTCFG=\"recv/mode\",0,2".into(), "msg_recv_mode"),
        ("AT+QMTCFG=\"recv/mode\",0,0,2".into(), "msg_len_enable"),
        (
            "AT+QMTCFG=\"aliauth\",0,\"\",\"d\",\"s\"".into(),
            "product key",
        ),
        (
            "AT+QMTCFG=\"aliauth\",0,\"k\",\"\",\"s\"".into(),
            "device name",
        ),
        (
            "AT+QMTCFG=\"aliauth\",0,\"k\",\"d\",\"\"".into(),
            "device secret",
        ),
        ("AT+QMTCFG=\"qmtping\",0,4".into(), "qmtping_interval"),
        ("AT+QMTCFG=\"qmtping\",0,61".into(), "qmtping_interval"),
        ("AT+QMTCFG=\"send/mode\",0,2".into(), "send_mode/recv_mode"),
        ("AT+QMTCFG=\"onenet\",0,\"p\",\"\"".into(), "access key"),
        (
            "AT+QMTCFG=\"hwauth\",0,\"p\",\"s\",2".into(),
            "hw_time_enable",
        ),
        ("AT+QMTCFG=\"hwprodid\",0,\"p\",\"s\",\"\"".into(), "nodeid"),
        (
            "AT+QMTCFG=\"hwprodid\",0,\"p\",\"\",\"n\"".into(),
            "product secret",
        ),
        (
            "AT+QMTCFG=\"dataformat\",0,0,2".into(),
            "send_mode/recv_mode",
        ),
        ("AT+QMTCFG=\"view/mode\",0,2".into(), "view_mode"),
        ("AT+QMTCFG=\"edit/timeout\",0,2".into(), "edit_mode"),
        ("AT+QMTCFG=\"edit/timeout\",0,1,0".into(), "edit_time"),
        ("AT+QMTCFG=\"edit/timeout\",0,1,121".into(), "edit_time"),
        ("AT+QMTCFG=\"nosuch\",0".into(), "name"),
        // §7
        ("AT+QSSLCFG=\"seclevel\",6,1".into(), "SSL_ctx_idx"),
        ("AT+QSSLCFG=\"seclevel\",0,3".into(), "seclevel"),
        ("AT+QSSLCFG=\"sslversion\",0,5".into(), "sslversion"),
        (
            "AT+QSSLCFG=\"ignorelocaltime\",0,2".into(),
            "ignorelocaltime",
        ),
        ("AT+QSSLCFG=\"cacert\",0,\"\"".into(), "filename"),
        (
            format!("AT+QSSLCFG=\"clientkey\",0,\"{}\"", long(81)),
            "filename",
        ),
        ("AT+QSSLCFG=\"nosuch\",0".into(), "name"),
        ("AT+QFUPL=\"UFS:a\",0".into(), "file_size"),
        ("AT+QFUPL=\"UFS:a\",10485761".into(), "file_size"),
        ("AT+QFUPL=\"UFS:a\",10,0".into(), "timeout"),
        ("AT+QFUPL=\"UFS:a\",10,3601".into(), "timeout"),
        ("AT+QFUPL=\"\"".into(), "filename"),
        // basics
        ("AT+CMEE=3".into(), "n"),
        ("ATE2".into(), "echo"),
    ];
    for (line, want) in &cases {
        match Command::parse(line.as_bytes()) {
            Err(ParseError::Param(e)) => assert_eq!(param(&e), *want, "{line:?}: {e}"),
            other => panic!("{line:?}: expected a ParamError on {want}, got {other:?}"),
        }
    }
}

#[test]
fn syntax_errors() {
    let cases: &[&[u8]] = &[
        b"",
        b"A",
        b"XT",
        b"AT+",
        b"AT+QMTNOPE=0",
        b"AT+QMTOPEN",
        b"AT+QMTCLOSE?",
        b"AT+QMTOPEN=0,\"h\"st\",1883",
        b"AT+QMTOPEN=0,h,1883",
        b"AT+QMTOPEN=0,\"h\",1883,",
        b"AT+QMTOPEN=0,\"h\",1883 x",
        b"AT+QMTOPEN=0,\"h\",99999999999999999999999",
        b"AT+QMTCONN=0,\"c\",\"u\"",
        b"AT+QMTDISC=0,",
        b"AT+QMTDISC=",
        b"AT+QMTPUBEX=0,0,0,0,\"t\"",
        b"AT+QMTSUB=0,1,\"t\"",
        b"AT+QMTCFG=\"timeout\",0,5",
        b"AT+QMTCFG=\"aliauth\",0,\"k\"",
        b"AT+QMTCFG=\"ssl\"",
        b"AT+QMTCFG=ssl,0",
        b"AT+QSSLCFG=\"ciphersuite\",0,FFFF",
        b"AT+QSSLCFG=\"ciphersuite\",0,0x10000",
        b"AT+QSSLCFG=?",
        b"AT+QFUPL?",
        b"AT+QMTCONN=0,\"\xff\"",
        b"AT\rAT",
        b"AT+QMTOPEN=0,\"h\",1883\r\x00",
    ];
    for line in cases {
        assert_eq!(
            Command::parse(line),
            Err(ParseError::Syntax),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn invalid_values_are_refused_by_constructors() {
    let i = ClientIdx::new(0).unwrap();
    let t = |s: &str| Topic::new(s).unwrap();
    let m = |n| MsgId::new(n).unwrap();
    let six: Vec<_> = (0..6)
        .map(|n| (t(&format!("t{n}")), Qos::AtMostOnce))
        .collect();
    let cases: Vec<(ParamError, &str)> = vec![
        (
            Sub::new(i, m(1), six.clone()).unwrap_err(),
            "number of topics",
        ),
        (Sub::new(i, m(1), []).unwrap_err(), "number of topics"),
        (Sub::new(i, m(0), six[..1].to_vec()).unwrap_err(), "msgid"),
        (
            Uns::new(i, m(1), six.iter().map(|p| p.0.clone())).unwrap_err(),
            "number of topics",
        ),
        (Uns::new(i, m(1), []).unwrap_err(), "number of topics"),
        (Uns::new(i, m(0), [t("a")]).unwrap_err(), "msgid"),
        (
            PubEx::for_payload(i, m(1), Qos::AtMostOnce, false, t("a"), b"x").unwrap_err(),
            "msgid",
        ),
        (
            PubEx::for_payload(i, m(0), Qos::ExactlyOnce, false, t("a"), b"x").unwrap_err(),
            "msgid",
        ),
        (
            PubEx::for_payload(i, m(0), Qos::AtMostOnce, false, t("a"), &[0; 1501]).unwrap_err(),
            "length",
        ),
        (SslMode::new(true, None).unwrap_err(), "SSL_ctx_idx"),
        (
            FileUpload::from_parts(
                FileName::new("UFS:a").unwrap(),
                None,
                Some(UploadTimeout::new(5).unwrap()),
            )
            .unwrap_err(),
            "timeout",
        ),
        (
            WillEx::for_message(Qos::AtMostOnce, false, t("a"), &[0; 257]).unwrap_err(),
            "will_len",
        ),
        (Topic::new("a\"b").unwrap_err(), "topic"),
        (Topic::new("a\rb").unwrap_err(), "topic"),
        (Topic::new("a".repeat(257)).unwrap_err(), "topic"),
        (HostName::new("a".repeat(101)).unwrap_err(), "host_name"),
        (Password::new("a\nb").unwrap_err(), "password"),
        (FileSize::new(0).unwrap_err(), "file_size"),
        (UploadTimeout::new(3601).unwrap_err(), "timeout"),
        (CmeeMode::new(3).unwrap_err(), "n"),
        (SecLevel::new(3).unwrap_err(), "seclevel"),
        (SslVersion::new(-1).unwrap_err(), "sslversion"),
    ];
    for (e, want) in &cases {
        assert_eq!(param(e), *want, "{e}");
    }
    // The messages name the parameter and the range.
    assert_eq!(
        Sub::new(i, m(1), six).unwrap_err().to_string(),
        "number of topics = 6 is out of range (allowed: 1-5)"
    );
    assert_eq!(
        SslMode::new(true, None).unwrap_err().to_string(),
        "SSL_ctx_idx: required when SSL_enable is 1"
    );
    // Valid edges are accepted.
    assert!(PubEx::for_payload(i, m(65535), Qos::ExactlyOnce, true, t("a"), &[0; 1500]).is_ok());
    assert!(PubEx::for_payload(i, m(0), Qos::AtMostOnce, false, t("a"), b"").is_ok());
}

// ------------------------------------------------------------------------------------------------
// Information lines.

#[test]
fn cfg_info_lines() {
    let ok = |s: &str| CfgInfo::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        ok("+QMTCFG: \"recv/mode\",0,1"),
        CfgInfo::Value(CfgValue::RecvMode {
            msg_recv_mode: MsgRecvMode::InUrc,
            msg_len_enable: Some(true)
        })
    );
    assert_eq!(
        ok("+qmtcfg: \"KEEPALIVE\",120\r"),
        CfgInfo::Value(CfgValue::KeepAlive(KeepAlive::new(120).unwrap()))
    );
    assert_eq!(
        ok("+QMTCFG: \"ssl\",1,2"),
        CfgInfo::Value(CfgValue::Ssl(SslMode::Enabled {
            ctx: SslCtxIdx::new(2).unwrap()
        }))
    );
    let test = ok("+QMTCFG: \"version\",(0-5),(3,4)");
    assert_eq!(
        test,
        CfgInfo::Test {
            name: "version".into(),
            ranges: "(0-5),(3,4)".into()
        }
    );
    let mut line = Vec::new();
    test.encode(&mut line);
    assert_eq!(line, b"+QMTCFG: \"version\",(0-5),(3,4)");
    assert_eq!(
        ok("+QMTCFG: \"will\",(0-5),(0,1),(0-2),(0,1),\"willtopic\",\"willmessage\""),
        CfgInfo::Test {
            name: "will".into(),
            ranges: "(0-5),(0,1),(0-2),(0,1),\"willtopic\",\"willmessage\"".into()
        }
    );
    // The answer carries no client_idx: `"ssl",0,1,2` has one value too many.
    assert_eq!(
        CfgInfo::parse(b"+QMTCFG: \"ssl\",0,1,2"),
        Err(ParseError::Syntax)
    );
    assert!(matches!(
        CfgInfo::parse(b"+QMTCFG: \"ssl\",1"),
        Err(ParseError::Param(_))
    ));
    assert_eq!(CfgInfo::parse(b"+QMTOPEN: 0,0"), Err(ParseError::Syntax));
}

#[test]
fn ssl_info_lines() {
    let info = SslInfo::parse(b"+QSSLCFG: \"ciphersuite\",2,0XFFFF").unwrap();
    assert_eq!(
        info,
        SslInfo {
            ctx: SslCtxIdx::new(2).unwrap(),
            value: SslValue::CipherSuite(CipherSuite::ALL)
        }
    );
    let mut line = Vec::new();
    info.encode(&mut line);
    assert_eq!(line, b"+QSSLCFG: \"ciphersuite\",2,0xFFFF");
    let info = SslInfo::parse(b"+QSSLCFG: \"cacert\",1,\"UFS:ca.pem\"").unwrap();
    assert_eq!(
        info.value,
        SslValue::CaCert(FileName::new("UFS:ca.pem").unwrap())
    );
    assert_eq!(
        SslInfo::parse(b"+QSSLCFG: \"seclevel\",1"),
        Err(ParseError::Syntax)
    );
}

// ------------------------------------------------------------------------------------------------
// Snapshot of the exact bytes of every command form and shape.

fn all_forms() -> Vec<Command> {
    let i = ClientIdx::new(0).unwrap();
    let i5 = ClientIdx::new(5).unwrap();
    let t = |s: &str| Topic::new(s).unwrap();
    let m = |n| MsgId::new(n).unwrap();
    let c = |n| SslCtxIdx::new(n).unwrap();
    let f = |s: &str| FileName::new(s).unwrap();
    let mut v = vec![
        Command::At,
        Command::Echo(false),
        Command::Echo(true),
        Command::Cmee(CmeeMode::Disabled),
        Command::Cmee(CmeeMode::Numeric),
        Command::Cmee(CmeeMode::Verbose),
        Command::CfgTest,
    ];
    for name in CfgName::ALL {
        v.push(Command::Cfg(Cfg::query(i, name)));
    }
    let values = vec![
        CfgValue::Version(MqttVersion::V3_1),
        CfgValue::Version(MqttVersion::V3_1_1),
        CfgValue::PdpCid(PdpCid::new(15).unwrap()),
        CfgValue::Ssl(SslMode::Disabled { ctx: None }),
        CfgValue::Ssl(SslMode::Disabled { ctx: Some(c(1)) }),
        CfgValue::Ssl(SslMode::Enabled { ctx: c(2) }),
        CfgValue::KeepAlive(KeepAlive::new(0).unwrap()),
        CfgValue::KeepAlive(KeepAlive::new(3600).unwrap()),
        CfgValue::Session {
            clean_session: false,
        },
        CfgValue::Session {
            clean_session: true,
        },
        CfgValue::Timeout {
            pkt_timeout: PktTimeout::new(5).unwrap(),
            retry_times: RetryTimes::new(3).unwrap(),
            timeout_notice: true,
        },
        CfgValue::Will(Will::Off),
        CfgValue::Will(Will::On {
            qos: Qos::AtLeastOnce,
            retain: true,
            topic: t("dev/1/status"),
            message: WillMessage::new("offline, gone").unwrap(),
        }),
        CfgValue::WillEx(WillEx::Off),
        CfgValue::WillEx(WillEx::On {
            qos: Qos::ExactlyOnce,
            retain: false,
            topic: t("dev/1/status"),
            len: WillLen::new(13).unwrap(),
        }),
        CfgValue::RecvMode {
            msg_recv_mode: MsgRecvMode::Buffered,
            msg_len_enable: None,
        },
        CfgValue::RecvMode {
            msg_recv_mode: MsgRecvMode::InUrc,
            msg_len_enable: Some(true),
        },
        CfgValue::AliAuth {
            product_key: ProductKey::new("pk").unwrap(),
            device_name: DeviceName::new("dn").unwrap(),
            device_secret: DeviceSecret::new("ds").unwrap(),
        },
        CfgValue::QmtPing(QmtpingInterval::new(60).unwrap()),
        CfgValue::SendMode(DataEncoding::Hex),
        CfgValue::OneNet {
            product_id: ProductId::new("pid").unwrap(),
            access_key: AccessKey::new("ak").unwrap(),
        },
        CfgValue::HwAuth {
            product_id: ProductId::new("pid").unwrap(),
            device_secret: DeviceSecret::new("ds").unwrap(),
            hw_time_enable: None,
        },
        CfgValue::HwAuth {
            product_id: ProductId::new("pid").unwrap(),
            device_secret: DeviceSecret::new("ds").unwrap(),
            hw_time_enable: Some(false),
        },
        CfgValue::HwProdId {
            product_id: ProductId::new("pid").unwrap(),
            product_secret: ProductSecret::new("ps").unwrap(),
            node_id: NodeId::new("node").unwrap(),
            hw_time_enable: None,
        },
        CfgValue::DataFormat {
            send_mode: DataEncoding::Text,
            recv_mode: DataEncoding::Hex,
        },
        CfgValue::ViewMode(ViewMode::SeparateLine),
        CfgValue::EditTimeout {
            edit_mode: false,
            edit_time: None,
        },
        CfgValue::EditTimeout {
            edit_mode: true,
            edit_time: Some(EditTime::new(120).unwrap()),
        },
    ];
    for value in values {
        v.push(Command::Cfg(Cfg::set(i5, value)));
    }
    v.push(Command::Cfg(
        Cfg::set(i, CfgValue::Ssl(SslMode::Enabled { ctx: c(2) })).with_name_case(NameCase::Upper),
    ));
    v.extend([
        Command::OpenTest,
        Command::OpenRead,
        Command::Open(Open {
            client_idx: i5,
            host: HostName::new("192.0.2.1").unwrap(),
            port: Port::new(65535).unwrap(),
        }),
        Command::CloseTest,
        Command::Close(i5),
        Command::ConnTest,
        Command::ConnRead,
        Command::Conn(Conn {
            client_idx: i,
            client_id: ClientId::new("dev-1").unwrap(),
            credentials: None,
        }),
        Command::Conn(Conn {
            client_idx: i,
            client_id: ClientId::new("dev-1").unwrap(),
            credentials: Some(Credentials {
                username: UserName::new("").unwrap(),
                password: Password::new("").unwrap(),
            }),
        }),
        Command::DiscTest,
        Command::Disc(i),
        Command::SubTest,
        Command::Sub(Sub::new(i, m(1), [(t("a/+/c"), Qos::AtMostOnce)]).unwrap()),
        Command::Sub(
            Sub::new(
                i,
                m(65535),
                [
                    (t("a/#"), Qos::AtMostOnce),
                    (t("b"), Qos::AtLeastOnce),
                    (t("c"), Qos::ExactlyOnce),
                    (t("d/é"), Qos::AtMostOnce),
                    (t("$SYS/x"), Qos::AtLeastOnce),
                ],
            )
            .unwrap(),
        ),
        Command::UnsTest,
        Command::Uns(Uns::new(i, m(2), [t("a/+/c")]).unwrap()),
        Command::Uns(Uns::new(i, m(3), [t("a"), t("b"), t("c"), t("d"), t("e")]).unwrap()),
        Command::PubExTest,
        Command::PubEx(PubEx::for_payload(i, m(0), Qos::AtMostOnce, false, t("t"), b"").unwrap()),
        Command::PubEx(
            PubEx::for_payload(i, m(7), Qos::ExactlyOnce, true, t("t/中"), b"hello").unwrap(),
        ),
        // Sibling modules (qmt_proto::sibling): EC2x/EG9x/BG9x and BC26.
        Command::PubTest,
        Command::Ec2xPub(Ec2xPub::until_ctrl_z(i, m(0), Qos::AtMostOnce, false, t("t")).unwrap()),
        Command::Ec2xPub(
            Ec2xPub::until_ctrl_z(i5, m(65535), Qos::ExactlyOnce, true, t("a/b")).unwrap(),
        ),
        Command::Ec2xPub(
            Ec2xPub::for_payload(i, m(3), Qos::AtLeastOnce, false, t("t"), b"hello").unwrap(),
        ),
        Command::Ec2xPub(
            Ec2xPub::counted(
                i,
                m(0),
                Qos::AtMostOnce,
                true,
                t("t/中"),
                MsgLen::new(4096).unwrap(),
            )
            .unwrap(),
        ),
        Command::Bc26Pub(
            Bc26Pub::new(
                i,
                m(0),
                Qos::AtMostOnce,
                false,
                t("t"),
                InlineMessage::new("").unwrap(),
            )
            .unwrap(),
        ),
        Command::Bc26Pub(
            Bc26Pub::new(
                i5,
                m(9),
                Qos::AtLeastOnce,
                true,
                t("dev/up"),
                InlineMessage::new("{temp:21, ok}").unwrap(),
            )
            .unwrap(),
        ),
        Command::RecvTest,
        Command::RecvRead,
        Command::Recv(Recv {
            client_idx: i,
            recv_id: None,
        }),
        Command::Recv(Recv {
            client_idx: i,
            recv_id: Some(RecvId::new(4).unwrap()),
        }),
        Command::FileUpload(FileUpload::without_size(f("UFS:a.pem"))),
        Command::FileUpload(FileUpload::new(f("UFS:a.pem"), FileSize::new(1).unwrap())),
        Command::FileUpload(FileUpload::with_timeout(
            f("UFS:a.pem"),
            FileSize::new(10_485_760).unwrap(),
            UploadTimeout::new(3600).unwrap(),
        )),
    ]);
    for name in SslName::ALL {
        v.push(Command::SslCfg(SslCfg {
            ctx: c(5),
            op: SslOp::Query(name),
        }));
    }
    for value in [
        SslValue::CaCert(f("UFS:ca.pem")),
        SslValue::ClientCert(f("UFS:client.pem")),
        SslValue::ClientKey(f("UFS:client.key")),
        SslValue::SecLevel(SecLevel::NoAuth),
        SslValue::SslVersion(SslVersion::Tls1_2),
        SslValue::CipherSuite(CipherSuite(0x003c)),
        SslValue::CipherSuite(CipherSuite::ALL),
        SslValue::IgnoreLocalTime(false),
    ] {
        v.push(Command::SslCfg(SslCfg {
            ctx: c(0),
            op: SslOp::Set(value),
        }));
    }
    // Spec §10.
    let cid = |n| ContextId::new(n).unwrap();
    v.extend(IdentityQuery::ALL.map(Command::Identify));
    v.extend([
        Command::PinRead,
        Command::PinEnter(Pin::new("1234").unwrap()),
        Command::SimStatRead,
        Command::Csq,
        Command::Qcsq,
        Command::QnwInfo,
        Command::CopsRead,
    ]);
    for d in RegDomain::ALL {
        v.push(Command::RegSet(d, RegUrcMode::Location));
        v.push(Command::RegRead(d));
    }
    v.push(Command::RegSet(RegDomain::Eps, RegUrcMode::Off));
    v.extend([
        Command::ContextSet(ContextConfig {
            cid: cid(1),
            ctype: ContextType::Ipv4,
            apn: Apn::new("internet").unwrap(),
            user: ApnUser::new("").unwrap(),
            password: ApnPassword::new("").unwrap(),
            auth: ApnAuth::None,
        }),
        Command::ContextSet(ContextConfig {
            cid: cid(15),
            ctype: ContextType::Ipv4v6,
            apn: Apn::new("CMNET").unwrap(),
            user: ApnUser::new("user").unwrap(),
            password: ApnPassword::new("pw").unwrap(),
            auth: ApnAuth::PapOrChap,
        }),
        Command::ContextRead(cid(1)),
        Command::ActRead,
        Command::Act(cid(1)),
        Command::Deact(cid(1)),
        Command::AttachRead,
        Command::AddrRead(cid(1)),
        Command::CfunSet {
            fun: Functionality::Full,
            reset: false,
        },
        Command::CfunSet {
            fun: Functionality::Full,
            reset: true,
        },
        Command::CfunSet {
            fun: Functionality::RadioOff,
            reset: false,
        },
        Command::CfunSet {
            fun: Functionality::Minimum,
            reset: false,
        },
        Command::CfunRead,
        Command::PowerDown(PowerDownMode::Immediate),
        Command::PowerDown(PowerDownMode::Normal),
        Command::IfcSet {
            dce_by_dte: FlowControl::RtsCts,
            dte_by_dce: FlowControl::RtsCts,
        },
        Command::IfcSet {
            dce_by_dte: FlowControl::None,
            dte_by_dce: FlowControl::None,
        },
        Command::IfcRead,
        Command::IprSet(BaudRate::new(921_600).unwrap()),
        Command::IprRead,
        Command::FileList(None),
        Command::FileList(Some(FileName::new("*").unwrap())),
        Command::FileList(Some(FileName::new("UFS:*").unwrap())),
        Command::FileDelete(FileName::new("UFS:cacert.pem").unwrap()),
        Command::FileDelete(FileName::new("*").unwrap()),
        Command::ClockRead,
        Command::Ntp(NtpSync {
            cid: cid(1),
            server: HostName::new("pool.ntp.org").unwrap(),
            port: None,
        }),
        Command::Ntp(NtpSync {
            cid: cid(1),
            server: HostName::new("203.107.6.88").unwrap(),
            port: Some(Port::new(123).unwrap()),
        }),
        Command::NetworkTime(None),
        Command::NetworkTime(Some(LtsMode::CurrentLocal)),
    ]);
    v
}

#[test]
fn every_form_snapshot() {
    let forms = all_forms();
    // The list covers every (kind, form) pair of the spec and every variant round-trips.
    let pairs: HashSet<_> = forms.iter().map(Command::kind).collect();
    assert_eq!(pairs.len(), 26 + 29 + 4 + 7 + 2, "{pairs:?}");
    let mut lines = String::new();
    for cmd in &forms {
        assert_eq!(Command::parse(&cmd.to_bytes()).as_ref(), Ok(cmd));
        lines.push_str(&String::from_utf8_lossy(&cmd.to_bytes()).replace('\r', "\\r"));
        lines.push('\n');
    }
    insta::assert_snapshot!("every_command_form", lines);
}

#[test]
fn display_snapshot() {
    let lines: Vec<String> = all_forms()
        .iter()
        .filter(|c| c.to_string().contains('<'))
        .map(|c| c.to_string())
        .collect();
    insta::assert_snapshot!("display_redacts_secrets", lines.join("\n"));
}
