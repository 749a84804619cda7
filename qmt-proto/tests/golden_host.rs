//! Every host line (`>>`) of the golden transcripts of spec §8.1 and §8.2, rebuilt from typed
//! values, must be the transcript's bytes exactly, and each transcript line must parse back to the
//! typed value. The raw data written after `> ` / `CONNECT` is not a command and is skipped.
#![allow(clippy::unwrap_used)]

use qmt_proto::cfg::{CfgValue, MsgRecvMode, NameCase, SslMode};
use qmt_proto::command::{
    Conn, DataPhase, FileSize, FileUpload, Open, PubEx, Sub, Uns, UploadTimeout,
};
use qmt_proto::params::*;
use qmt_proto::ssl::{CipherSuite, SecLevel, SslVersion};
use qmt_proto::{Cfg, Command, SslCfg, SslOp, SslValue};

fn idx(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}
fn msgid(n: i64) -> MsgId {
    MsgId::new(n).unwrap()
}
fn topic(s: &str) -> Topic {
    Topic::new(s).unwrap()
}
fn ctx(n: i64) -> SslCtxIdx {
    SslCtxIdx::new(n).unwrap()
}

fn recv_mode_0_0_1() -> Command {
    Command::Cfg(Cfg::set(
        idx(0),
        CfgValue::RecvMode {
            msg_recv_mode: MsgRecvMode::InUrc,
            msg_len_enable: Some(true),
        },
    ))
}

fn upload(name: &str, size: i64) -> Command {
    Command::FileUpload(FileUpload::with_timeout(
        FileName::new(name).unwrap(),
        FileSize::new(size).unwrap(),
        UploadTimeout::new(100).unwrap(),
    ))
}

fn ssl(value: SslValue) -> Command {
    Command::SslCfg(SslCfg {
        ctx: ctx(2),
        op: SslOp::Set(value),
    })
}

/// Checks one transcript line both ways.
fn check(pairs: &[(&str, Command)]) {
    for (line, cmd) in pairs {
        let wire = format!("{line}\r");
        assert_eq!(
            String::from_utf8_lossy(&cmd.to_bytes()),
            wire,
            "encoding of {cmd:?} differs from the transcript"
        );
        assert_eq!(
            Command::parse(wire.as_bytes()).as_ref(),
            Ok(cmd),
            "parse of {line:?}"
        );
        assert_eq!(
            Command::parse(line.as_bytes()).as_ref(),
            Ok(cmd),
            "parse of {line:?} without CR"
        );
    }
}

#[test]
fn transcript_8_1_without_tls() {
    let aliauth = Command::Cfg(Cfg::set(
        idx(0),
        CfgValue::AliAuth {
            product_key: ProductKey::new("oyjtmPI5a5j").unwrap(),
            device_name: DeviceName::new("MQTT_TEST").unwrap(),
            device_secret: DeviceSecret::new("wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ").unwrap(),
        },
    ));
    let publish = Command::PubEx(
        PubEx::for_payload(
            idx(0),
            msgid(0),
            Qos::AtMostOnce,
            false,
            topic("topic/pub"),
            b"This is test data, hello MQTT.",
        )
        .unwrap(),
    );
    assert_eq!(publish.data_phase(), Some(DataPhase::Prompt { len: 30 }));
    check(&[
        (r#"AT+QMTCFG="recv/mode",0,0,1"#, recv_mode_0_0_1()),
        (
            r#"AT+QMTCFG="aliauth",0,"oyjtmPI5a5j","MQTT_TEST","wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ""#,
            aliauth,
        ),
        ("AT+QMTOPEN=?", Command::OpenTest),
        (
            r#"AT+QMTOPEN=0,"iot-as-mqtt.cn-shanghai.aliyuncs.com",1883"#,
            Command::Open(Open {
                client_idx: idx(0),
                host: HostName::new("iot-as-mqtt.cn-shanghai.aliyuncs.com").unwrap(),
                port: Port::new(1883).unwrap(),
            }),
        ),
        ("AT+QMTOPEN?", Command::OpenRead),
        ("AT+QMTCONN=?", Command::ConnTest),
        (
            r#"AT+QMTCONN=0,"clientExample""#,
            Command::Conn(Conn {
                client_idx: idx(0),
                client_id: ClientId::new("clientExample").unwrap(),
                credentials: None,
            }),
        ),
        ("AT+QMTSUB=?", Command::SubTest),
        (
            r#"AT+QMTSUB=0,1,"topic/example",2"#,
            Command::Sub(
                Sub::new(
                    idx(0),
                    msgid(1),
                    [(topic("topic/example"), Qos::ExactlyOnce)],
                )
                .unwrap(),
            ),
        ),
        (
            r#"AT+QMTSUB=0,1,"topic/pub",0"#,
            Command::Sub(
                Sub::new(idx(0), msgid(1), [(topic("topic/pub"), Qos::AtMostOnce)]).unwrap(),
            ),
        ),
        (
            r#"AT+QMTUNS=0,2,"topic/example""#,
            Command::Uns(Uns::new(idx(0), msgid(2), [topic("topic/example")]).unwrap()),
        ),
        ("AT+QMTPUBEX=?", Command::PubExTest),
        (r#"AT+QMTPUBEX=0,0,0,0,"topic/pub",30"#, publish),
        ("AT+QMTDISC=0", Command::Disc(idx(0))),
    ]);
}

#[test]
fn transcript_8_2_with_tls() {
    let aws = "$aws/things/M26_0206/shadow/update/accepted";
    let ssl_upper = Command::Cfg(
        Cfg::set(idx(0), CfgValue::Ssl(SslMode::Enabled { ctx: ctx(2) }))
            .with_name_case(NameCase::Upper),
    );
    let publish = Command::PubEx(
        PubEx::for_payload(
            idx(0),
            msgid(1),
            Qos::AtLeastOnce,
            false,
            topic(aws),
            b"This is publish data from client",
        )
        .unwrap(),
    );
    assert_eq!(publish.data_phase(), Some(DataPhase::Prompt { len: 32 }));
    assert_eq!(
        upload("UFS:cacert.pem", 1758).data_phase(),
        Some(DataPhase::Connect { len: 1758 })
    );
    check(&[
        (r#"AT+QMTCFG="recv/mode",0,0,1"#, recv_mode_0_0_1()),
        (r#"AT+QMTCFG="SSL",0,1,2"#, ssl_upper),
        (
            r#"AT+QFUPL="UFS:cacert.pem",1758,100"#,
            upload("UFS:cacert.pem", 1758),
        ),
        (
            r#"AT+QFUPL="UFS:client.pem",1220,100"#,
            upload("UFS:client.pem", 1220),
        ),
        (
            r#"AT+QFUPL="UFS:user_key.pem",1679,100"#,
            upload("UFS:user_key.pem", 1679),
        ),
        (
            r#"AT+QSSLCFG="cacert",2,"UFS:cacert.pem""#,
            ssl(SslValue::CaCert(FileName::new("UFS:cacert.pem").unwrap())),
        ),
        (
            r#"AT+QSSLCFG="clientcert",2,"UFS:client.pem""#,
            ssl(SslValue::ClientCert(
                FileName::new("UFS:client.pem").unwrap(),
            )),
        ),
        (
            r#"AT+QSSLCFG="clientkey",2,"UFS:user_key.pem""#,
            ssl(SslValue::ClientKey(
                FileName::new("UFS:user_key.pem").unwrap(),
            )),
        ),
        (
            r#"AT+QSSLCFG="seclevel",2,2"#,
            ssl(SslValue::SecLevel(SecLevel::VerifyServerAndClient)),
        ),
        (
            r#"AT+QSSLCFG="sslversion",2,4"#,
            ssl(SslValue::SslVersion(SslVersion::All)),
        ),
        (
            r#"AT+QSSLCFG="ciphersuite",2,0xFFFF"#,
            ssl(SslValue::CipherSuite(CipherSuite::ALL)),
        ),
        (
            r#"AT+QSSLCFG="ignorelocaltime",2,1"#,
            ssl(SslValue::IgnoreLocalTime(true)),
        ),
        (
            r#"AT+QMTOPEN=0,"alzgnxur10j8ux.iot.us-east-1.amazonaws.com",8883"#,
            Command::Open(Open {
                client_idx: idx(0),
                host: HostName::new("alzgnxur10j8ux.iot.us-east-1.amazonaws.com").unwrap(),
                port: Port::new(8883).unwrap(),
            }),
        ),
        (
            r#"AT+QMTCONN=0,"M26_0206""#,
            Command::Conn(Conn {
                client_idx: idx(0),
                client_id: ClientId::new("M26_0206").unwrap(),
                credentials: None,
            }),
        ),
        (
            r#"AT+QMTSUB=0,1,"$aws/things/M26_0206/shadow/update/accepted",1"#,
            Command::Sub(Sub::new(idx(0), msgid(1), [(topic(aws), Qos::AtLeastOnce)]).unwrap()),
        ),
        (
            r#"AT+QMTPUBEX=0,1,1,0,"$aws/things/M26_0206/shadow/update/accepted",32"#,
            publish,
        ),
        ("AT+QMTDISC=0", Command::Disc(idx(0))),
    ]);
}

/// The `"SSL"` spelling of §8.2 is a different command from `"ssl"` (different bytes), and the
/// lower-case spelling is the default.
#[test]
fn name_spelling_is_kept() {
    let lower = Cfg::set(idx(0), CfgValue::Ssl(SslMode::Enabled { ctx: ctx(2) }));
    assert_eq!(
        Command::Cfg(lower.clone()).to_bytes(),
        b"AT+QMTCFG=\"ssl\",0,1,2\r"
    );
    let parsed = Command::parse(b"AT+QMTCFG=\"SSL\",0,1,2\r").unwrap();
    assert_ne!(parsed, Command::Cfg(lower));
    let mixed = Command::parse(b"at+qmtcfg=\"Recv/Mode\",0,0,1").unwrap();
    assert_eq!(mixed.to_bytes(), b"AT+QMTCFG=\"Recv/Mode\",0,0,1\r");
}
