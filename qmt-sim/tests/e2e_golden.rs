//! The golden transcripts of spec §8, replayed over the sim's pty against real brokers, byte for
//! byte: every `>>` host line is sent as written (`<line>\r`; data after `> ` / `CONNECT` raw),
//! every `<<` module line is expected exactly as `\r\n<line>\r\n` (the prompt as `\r\n> `), in
//! order, with nothing skipped and nothing extra at the end.
//!
//! Each transcript starts with `ATE0` (the module powers up with echo on; the transcripts show
//! no echo). Where a line cannot be the transcript's, the test says why next to it:
//! - §8.1's last `+QMTRECV` shows an unquoted payload; the sim always quotes payloads
//!   (a documented choice, `qmt-sim/src/module.rs`).
//! - §8.2 uploads certificates made at run time, so `+QFUPL: <size>,<checksum>` is computed here
//!   (`qmt_proto::checksum::qfupl_checksum`) instead of the transcript's `1758,384a` etc.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use qmt_proto::checksum::qfupl_checksum;
use qmt_sim::{BrokerChoice, ResolveAll, Sim, SimConfig};
use rumqttc::QoS;
use support::session::{Peer, Wire};
use support::{Mosquitto, MosquittoOpts, TestPki};

/// After the last line: how long nothing more may arrive.
const QUIET: Duration = Duration::from_millis(500);

/// Power-up and `ATE0` (not in the transcripts: they show no echo).
fn power_up(w: &mut Wire) {
    w.expect("RDY");
    w.send("ATE0");
    w.expect_bytes(b"ATE0\r"); // echo is still on for this one command
    w.expect("OK");
}

/// `>> AT+QFUPL="<name>",<size>,100`, `<< CONNECT`, the data, `<< +QFUPL: <size>,<checksum>`,
/// `<< OK`, the checksum computed here (the transcript's belongs to its own files).
fn qfupl(w: &mut Wire, name: &str, data: &[u8]) {
    w.send(&format!("AT+QFUPL=\"{name}\",{},100", data.len()));
    w.expect("CONNECT");
    w.send_raw(data);
    w.expect(&format!(
        "+QFUPL: {},{:04x}",
        data.len(),
        qfupl_checksum(data)
    ));
    w.expect("OK");
}

#[test]
fn golden_8_1_without_tls_against_the_embedded_broker() {
    // Default config: the embedded rumqttd, and every host name resolves to it.
    let sim = Sim::start(SimConfig::default()).unwrap();
    let mut w = Wire::open(&sim);
    power_up(&mut w);

    w.send(r#"AT+QMTCFG="recv/mode",0,0,1"#);
    w.expect("OK");
    w.send(r#"AT+QMTCFG="aliauth",0,"oyjtmPI5a5j","MQTT_TEST","wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ""#);
    w.expect("OK");
    w.send("AT+QMTOPEN=?");
    w.expect(r#"+QMTOPEN: (0-5),"hostname",(1-65535)"#);
    w.expect("OK");
    w.send(r#"AT+QMTOPEN=0,"iot-as-mqtt.cn-shanghai.aliyuncs.com",1883"#);
    w.expect("OK");
    w.expect("+QMTOPEN: 0,0");
    w.send("AT+QMTOPEN?");
    w.expect(r#"+QMTOPEN: 0,"iot-as-mqtt.cn-shanghai.aliyuncs.com",1883"#);
    w.expect("OK");
    w.send("AT+QMTCONN=?");
    w.expect(r#"+QMTCONN: (0-5),"clientid","username","password""#);
    w.expect("OK");
    w.send(r#"AT+QMTCONN=0,"clientExample""#);
    w.expect("OK");
    w.expect("+QMTCONN: 0,0,0");
    w.send("AT+QMTSUB=?");
    w.expect(r#"+QMTSUB: (0-5),<msgid>,list of ["topic",qos]"#);
    w.expect("OK");
    w.send(r#"AT+QMTSUB=0,1,"topic/example",2"#);
    w.expect("OK");
    w.expect("+QMTSUB: 0,1,0,2");
    w.send(r#"AT+QMTSUB=0,1,"topic/pub",0"#);
    w.expect("OK");
    w.expect("+QMTSUB: 0,1,0,0");

    // (a message published by another client on topic/example arrives): an independent
    // rumqttc client publishes it, QoS 0.
    let mut other = Peer::connect(sim.broker_addr(), "golden-8-1-other");
    other.publish(
        "topic/example",
        QoS::AtMostOnce,
        b"This is the payload related to topic",
    );
    // Broker-dependent msgid: the transcript's broker delivered at QoS 0 (msgid 0); rumqttd
    // 0.20 forwards every message at the subscription's QoS (here 2, not min(0, 2) as MQTT
    // 3.1.1 §3.8.4 asks), so the module reports rumqttd's first packet id for it, 1.
    w.expect(r#"+QMTRECV: 0,1,"topic/example",36,"This is the payload related to topic""#);

    w.send(r#"AT+QMTUNS=0,2,"topic/example""#);
    w.expect("OK");
    w.expect("+QMTUNS: 0,2,0");
    w.send("AT+QMTPUBEX=?");
    w.expect(r#"+QMTPUBEX: (0-5),<msgid>,(0-2),(0,1),"topic","length""#);
    w.expect("OK");
    w.send(r#"AT+QMTPUBEX=0,0,0,0,"topic/pub",30"#);
    w.expect_prompt();
    w.send_raw(b"This is test data, hello MQTT."); // exactly 30 bytes, no terminator
    w.expect("OK");
    w.expect("+QMTPUBEX: 0,0,0");
    // (the client is subscribed to topic/pub, so the broker sends its own message back)
    // The transcript shows the payload unquoted; the sim always quotes it (module docs).
    w.expect(r#"+QMTRECV: 0,0,"topic/pub",30,"This is test data, hello MQTT.""#);
    w.send("AT+QMTDISC=0");
    w.expect("OK");
    w.expect("+QMTDISC: 0,0");
    w.quiet(QUIET);
}

#[test]
fn golden_8_2_mutual_tls_against_mosquitto() {
    // Certificates made at run time; the server's is valid for the transcript's AWS host name.
    let pki = TestPki::new("qmt e2e golden CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(m.plain),
        resolve_all_to: ResolveAll::To(m.mutual_tls.unwrap()),
        ..SimConfig::default()
    })
    .unwrap();
    let mut w = Wire::open(&sim);
    power_up(&mut w);

    w.send(r#"AT+QMTCFG="recv/mode",0,0,1"#);
    w.expect("OK");
    w.send(r#"AT+QMTCFG="SSL",0,1,2"#);
    w.expect("OK");
    // Sizes and checksums differ from the transcript's (1758,384a · 1220,2d53 · 1679,335f):
    // these are this run's generated files.
    qfupl(&mut w, "UFS:cacert.pem", &pki.ca_pem);
    qfupl(&mut w, "UFS:client.pem", &pki.client.cert_pem);
    qfupl(&mut w, "UFS:user_key.pem", &pki.client.key_pem);
    w.send(r#"AT+QSSLCFG="cacert",2,"UFS:cacert.pem""#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="clientcert",2,"UFS:client.pem""#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="clientkey",2,"UFS:user_key.pem""#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="seclevel",2,2"#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="sslversion",2,4"#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="ciphersuite",2,0xFFFF"#);
    w.expect("OK");
    w.send(r#"AT+QSSLCFG="ignorelocaltime",2,1"#);
    w.expect("OK");
    w.send(r#"AT+QMTOPEN=0,"alzgnxur10j8ux.iot.us-east-1.amazonaws.com",8883"#);
    w.expect("OK");
    w.expect("+QMTOPEN: 0,0");
    w.send(r#"AT+QMTCONN=0,"M26_0206""#);
    w.expect("OK");
    w.expect("+QMTCONN: 0,0,0");
    w.send(r#"AT+QMTSUB=0,1,"$aws/things/M26_0206/shadow/update/accepted",1"#);
    w.expect("OK");
    w.expect("+QMTSUB: 0,1,0,1");
    w.send(r#"AT+QMTPUBEX=0,1,1,0,"$aws/things/M26_0206/shadow/update/accepted",32"#);
    w.expect_prompt();
    w.send_raw(b"This is publish data from client"); // 32 bytes
    w.expect("OK");
    // The publish's PUBACK (`+QMTPUBEX`) and the broker's delivery of the message back to this
    // subscriber (`+QMTRECV`) are two packets whose order is the broker's: the transcript shows
    // PUBACK first, mosquitto queues the delivery first. Either order is accepted; the recv
    // msgid 1 is the broker's first packet id for this client.
    w.expect_any_order(&[
        "+QMTPUBEX: 0,1,0",
        r#"+QMTRECV: 0,1,"$aws/things/M26_0206/shadow/update/accepted",32,"This is publish data from client""#,
    ]);
    w.send("AT+QMTDISC=0");
    w.expect("OK");
    w.expect("+QMTDISC: 0,0");
    w.quiet(QUIET);
}
