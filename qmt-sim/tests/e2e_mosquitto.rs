//! The message suite's core against mosquitto — MQTT 3.1.1 and MQTT 3.1 (`AT+QMTCFG="version"`),
//! each over plain TCP, TLS with the server verified by an uploaded CA (seclevel 1) and mutual
//! TLS (seclevel 2) — plus what MQTT 3.1 gets from the embedded rumqttd (3.1.1 only) and what a
//! wrong CA gets.
//!
//! Mosquitto absent: each test skips loudly (or fails with `QMT_REQUIRE_MOSQUITTO=1`).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use qmt_sim::{BrokerChoice, ResolveAll, Sim, SimConfig, SimHandle};
use rumqttc::QoS;
use support::session::{CustomMosquitto, Host, Peer, recv_line, ssl_context};
use support::{Mosquitto, MosquittoOpts, TestPki};

/// A host name the test server certificate is valid for.
const AWS: &str = "alzgnxur10j8ux.iot.us-east-1.amazonaws.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Plain,
    /// TLS, the server verified with the uploaded CA (seclevel 1).
    Tls,
    /// TLS with a client certificate (seclevel 2) on a listener that requires one.
    Mutual,
}

/// A sim whose every host name resolves to `target`, the external broker being mosquitto.
fn sim_to(m: &Mosquitto, target: SocketAddr) -> SimHandle {
    Sim::start(SimConfig {
        broker: BrokerChoice::External(m.plain),
        resolve_all_to: ResolveAll::To(target),
        ..SimConfig::default()
    })
    .unwrap()
}

/// The next two lines: the publish's result and its delivery back to the publishing client (a
/// subscriber of the topic), in the broker's order. The delivery's msgid is the broker's: 0 for
/// QoS 0, a packet id otherwise.
fn pub_result_and_echo(h: &mut Host, msgid: u16, qos: u8, topic: &str, payload: &[u8]) {
    let result = format!("+QMTPUBEX: 0,{msgid},0");
    let want_tail = recv_line(0, 0, topic, payload)["+QMTRECV: 0,0,".len()..].to_owned();
    let (mut saw_result, mut saw_echo) = (false, false);
    while !(saw_result && saw_echo) {
        let line = h.next_line();
        if line == result && !saw_result {
            saw_result = true;
            continue;
        }
        let body = line
            .strip_prefix("+QMTRECV: 0,")
            .unwrap_or_else(|| panic!("unexpected {line:?} (waiting for {result:?} and the echo)"));
        let (id, tail) = body.split_once(',').unwrap();
        assert_eq!(tail, want_tail, "{line:?}");
        let id: u16 = id.parse().unwrap();
        assert_eq!(
            id == 0,
            qos == 0,
            "msgid {id} for a QoS {qos} delivery: {line:?}"
        );
        assert!(!saw_echo, "delivered twice: {line:?}");
        saw_echo = true;
    }
}

/// Connect, subscribe, publish at QoS 0/1/2 (to itself and to an independent subscriber),
/// receive from an independent publisher, disconnect — with MQTT `version` 3 or 4 over `link`.
fn core_suite(version: u8, link: Link) {
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let (target, host_name) = match link {
        Link::Plain => (m.plain, "mqtt.example"),
        Link::Tls => (m.tls.unwrap(), AWS),
        Link::Mutual => (m.mutual_tls.unwrap(), AWS),
    };
    let sim = sim_to(&m, target);
    let mut h = Host::start(&sim);
    h.ok(&format!(r#"AT+QMTCFG="version",0,{version}"#));
    h.ok(r#"AT+QMTCFG="recv/mode",0,0,1"#);
    match link {
        Link::Plain => {}
        Link::Tls => {
            ssl_context(&mut h, 2, 1, &pki.ca_pem, None);
            h.ok(r#"AT+QMTCFG="ssl",0,1,2"#);
        }
        Link::Mutual => {
            ssl_context(&mut h, 2, 2, &pki.ca_pem, Some(&pki.client));
            h.ok(r#"AT+QMTCFG="ssl",0,1,2"#);
        }
    }
    let client_id = format!("e2e-mosq-v{version}-{link:?}");
    h.open(0, host_name, 8883);
    h.conn(0, &client_id);
    // mosquitto logs the protocol it accepted: p1 = MQTT 3.1 (MQIsdp), p2 = MQTT 3.1.1.
    let proto = if version == 3 { "p1" } else { "p2" };
    let log = m.log();
    assert!(
        log.contains(&format!("as {client_id} ({proto},")),
        "mosquitto did not log {client_id} with {proto}:\n{log}"
    );

    let mut peer = Peer::connect(m.plain, &format!("{client_id}-peer"));
    peer.subscribe("e2e/mosq/out/#", QoS::ExactlyOnce);
    h.sub(0, 1, "e2e/mosq/#", 2, 2);

    for qos in 0..=2u8 {
        let msgid = u16::from(qos) * 10;
        let topic = format!("e2e/mosq/out/{qos}");
        let payload = format!("qos {qos} over {link:?}\r\n\"v{version}\"\0").into_bytes();
        h.pubex_data(0, msgid, qos, &topic, &payload);
        pub_result_and_echo(&mut h, msgid, qos, &topic, &payload);
        let got = peer.recv();
        assert_eq!(got.topic, topic);
        assert_eq!(got.payload.as_ref(), payload.as_slice());
        assert_eq!(got.qos as u8, qos);
    }

    // From the independent client, QoS 1: the delivery carries a packet id.
    peer.publish("e2e/mosq/in", QoS::AtLeastOnce, b"from the peer");
    let line = h.next_line();
    let tail = line
        .strip_prefix("+QMTRECV: 0,")
        .and_then(|b| b.split_once(','))
        .map(|(id, tail)| (id != "0", tail.to_owned()));
    assert_eq!(
        tail,
        Some((true, r#""e2e/mosq/in",13,"from the peer""#.to_owned())),
        "{line:?}"
    );

    h.disc(0);
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn mqtt_3_1_1_plain() {
    core_suite(4, Link::Plain);
}

#[test]
fn mqtt_3_1_1_tls() {
    core_suite(4, Link::Tls);
}

#[test]
fn mqtt_3_1_1_mutual_tls() {
    core_suite(4, Link::Mutual);
}

#[test]
fn mqtt_3_1_plain() {
    core_suite(3, Link::Plain);
}

#[test]
fn mqtt_3_1_tls() {
    core_suite(3, Link::Tls);
}

#[test]
fn mqtt_3_1_mutual_tls() {
    core_suite(3, Link::Mutual);
}

#[test]
fn a_wrong_ca_fails_the_open_with_minus_1() {
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: false,
    }) else {
        return;
    };
    let other = TestPki::new("some other CA");
    let sim = sim_to(&m, m.tls.unwrap());
    let mut h = Host::start(&sim);
    ssl_context(&mut h, 1, 1, &other.ca_pem, None);
    h.ok(r#"AT+QMTCFG="ssl",0,1,1"#);
    h.ok(&format!(r#"AT+QMTOPEN=0,"{AWS}",8883"#));
    h.urc("+QMTOPEN: 0,-1");
    // The client is not open: nothing to connect, and it can be opened again.
    assert_eq!(h.cmd("AT+QMTOPEN?"), ["OK"]);
    assert_eq!(h.cmd(r#"AT+QMTCONN=0,"x""#), ["ERROR"]);
    // With the right CA the same client opens (the old file deleted first: an upload to an
    // existing name is refused with 407, spec §10.8).
    h.ok(r#"AT+QFDEL="UFS:cacert.pem""#);
    support::session::upload(&mut h, "cacert.pem", &pki.ca_pem);
    h.open(0, AWS, 8883);
}

#[test]
fn mqtt_3_1_against_the_embedded_rumqttd() {
    // rumqttd speaks MQTT 3.1.1 (and 5) only. Observed: it answers a CONNECT with protocol name
    // `MQIsdp`, level 3, by closing the connection without a CONNACK (no "refused: unacceptable
    // protocol version" CONNACK 1). The module reports the closed link, `+QMTSTAT: 0,1`
    // (spec §9, "Broker closes TCP"), and no `+QMTCONN` result at all (as field logs of
    // Quectel modules show for a broker that drops a CONNECT).
    let sim = Sim::start(SimConfig::default()).unwrap();
    let mut h = Host::start(&sim);
    h.ok(r#"AT+QMTCFG="version",0,3"#);
    h.open(0, "broker.example", 1883);
    h.ok(r#"AT+QMTCONN=0,"e2e-v31-rumqttd""#);
    h.urc("+QMTSTAT: 0,1");
    h.quiet(std::time::Duration::from_millis(500));
    // The client is closed: not listed, nothing to connect.
    assert_eq!(h.cmd("AT+QMTOPEN?"), ["OK"]);
    assert_eq!(h.cmd("AT+QMTCONN?"), ["OK"]);
    assert_eq!(h.cmd(r#"AT+QMTCONN=0,"e2e-v31-rumqttd""#), ["ERROR"]);
    // Back to MQTT 3.1.1, the same client opens and connects.
    h.ok(r#"AT+QMTCFG="version",0,4"#);
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-v31-rumqttd");
    assert_eq!(h.cmd("AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
}

/// A sim whose every host name resolves to `addr` (no mosquitto of the support's kind).
fn sim_at(addr: SocketAddr) -> SimHandle {
    Sim::start(SimConfig {
        broker: BrokerChoice::External(addr),
        ..SimConfig::default()
    })
    .unwrap()
}

#[test]
fn credentials_accepted_and_refused_by_mosquitto() {
    let Some(m) = CustomMosquitto::start(
        "allow_anonymous false\npassword_file {dir}/passwd",
        &[("dev", "s3cret"), ("Dev1&pk1", "ali-secret")],
    ) else {
        return;
    };
    let sim = sim_at(m.addr);
    let mut h = Host::start(&sim);
    for idx in 0..4 {
        h.open(idx, "mqtt.example", 1883);
    }
    // Right user name and password: accepted.
    h.ok(r#"AT+QMTCONN=0,"e2e-auth-0","dev","s3cret""#);
    h.urc("+QMTCONN: 0,0,0");
    // `aliauth` credentials go out as `<device name>&<product key>` / `<device secret>`
    // (module docs: no signature): accepted by a broker that knows them.
    h.ok(r#"AT+QMTCFG="aliauth",3,"pk1","Dev1","ali-secret""#);
    h.ok(r#"AT+QMTCONN=3,"e2e-auth-3""#);
    h.urc("+QMTCONN: 3,0,0");

    // Wrong password, and no credentials: mosquitto refuses with CONNACK 5 (not authorized) and
    // closes the connection.
    for (idx, args) in [(1, r#","dev","wrong""#), (2, "")] {
        h.ok(&format!(r#"AT+QMTCONN={idx},"e2e-auth-{idx}"{args}"#));
        h.urc(&format!("+QMTCONN: {idx},0,5"));
        h.urc(&format!("+QMTSTAT: {idx},1"));
    }
    assert_eq!(
        h.cmd("AT+QMTCONN?"),
        ["+QMTCONN: 0,3", "+QMTCONN: 3,3", "OK"]
    );
    // The accepted clients work.
    h.sub(0, 1, "e2e/auth", 1, 1);
    h.pubex_data(3, 1, 1, "e2e/auth", b"from 3");
    let mut lines = vec![h.next_line(), h.next_line()];
    lines.sort();
    assert_eq!(lines[0], "+QMTPUBEX: 3,1,0");
    assert!(
        lines[1].starts_with("+QMTRECV: 0,") && lines[1].ends_with(r#","e2e/auth","from 3""#),
        "{lines:?}"
    );
}

#[test]
fn keep_alive_holds_a_mosquitto_connection_open() {
    let Some(m) = CustomMosquitto::start("allow_anonymous true\nlog_type all", &[]) else {
        return;
    };
    let sim = sim_at(m.addr);
    let mut h = Host::start(&sim);
    // keep-alive 1 s: mosquitto drops a client silent for 1.5 s; the module's PINGREQs keep it.
    h.ok(r#"AT+QMTCFG="keepalive",0,1"#);
    h.open(0, "mqtt.example", 1883);
    h.conn(0, "e2e-keepalive");
    h.quiet(std::time::Duration::from_millis(4000));
    assert_eq!(h.cmd("AT+QMTCONN?"), ["+QMTCONN: 0,3", "OK"]);
    let log = m.log();
    assert!(
        !log.contains("exceeded timeout") && !log.contains("disconnected"),
        "mosquitto dropped the client:\n{log}"
    );
    // PINGREQ every second: at least 3 in 4 s (the debug log names each).
    let pings = log.matches("Received PINGREQ from e2e-keepalive").count();
    assert!(pings >= 3, "{pings} PINGREQs in 4 s:\n{log}");
}

#[test]
fn tls_server_name_must_match_unless_verification_is_off() {
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: false,
    }) else {
        return;
    };
    let other = TestPki::new("some other CA");
    let sim = sim_to(&m, m.tls.unwrap());
    let mut h = Host::start(&sim);
    // Context 1 verifies the server with the right CA; context 2 verifies nothing (seclevel 0)
    // and holds a CA that did not sign the server's certificate.
    ssl_context(&mut h, 1, 1, &pki.ca_pem, None);
    h.ok(r#"AT+QMTCFG="ssl",0,1,1"#);
    // A name the certificate is not for: refused.
    h.ok(r#"AT+QMTOPEN=0,"not-in-the-cert.example",8883"#);
    h.urc("+QMTOPEN: 0,-1");
    h.open(0, AWS, 8883);
    h.conn(0, "e2e-tls-names");

    support::session::upload(&mut h, "other.pem", &other.ca_pem);
    h.ok(r#"AT+QSSLCFG="cacert",2,"UFS:other.pem""#);
    h.ok(r#"AT+QSSLCFG="seclevel",2,0"#);
    h.ok(r#"AT+QMTCFG="ssl",1,1,2"#);
    h.open(1, "not-in-the-cert.example", 8883);
    h.conn(1, "e2e-tls-noverify");
}

#[test]
fn a_burst_of_large_messages_over_tls_arrives_complete_and_in_order() {
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let sim = sim_to(&m, m.mutual_tls.unwrap());
    let mut h = Host::start(&sim);
    ssl_context(&mut h, 2, 2, &pki.ca_pem, Some(&pki.client));
    h.ok(r#"AT+QMTCFG="ssl",0,1,2"#);
    h.ok(r#"AT+QMTCFG="recv/mode",0,0,1"#);
    h.open(0, AWS, 8883);
    h.conn(0, "e2e-tls-burst");
    h.sub(0, 1, "e2e/burst/in", 0, 0);
    let mut peer = Peer::connect(m.plain, "e2e-tls-burst-peer");
    peer.subscribe("e2e/burst/out", QoS::AtMostOnce);

    // In: 60 messages of 3000 bytes (several TLS records each) published back to back, then
    // one of 7000 bytes: every one complete, in order.
    let msg = |n: usize, len: usize| -> Vec<u8> {
        let mut v = format!("{n:04}:").into_bytes();
        v.extend((0..len - 5).map(|i| b"0123456789\r\nabcdef"[(i + n) % 18]));
        v
    };
    let sizes: Vec<usize> = (0..60).map(|_| 3000).chain([7000]).collect();
    for (n, &len) in sizes.iter().enumerate() {
        peer.publish("e2e/burst/in", QoS::AtMostOnce, &msg(n, len));
    }
    for (n, &len) in sizes.iter().enumerate() {
        h.urc(&recv_line(0, 0, "e2e/burst/in", &msg(n, len)));
    }

    // Out: 20 publishes of 1500 bytes at QoS 1, each complete at the subscriber.
    for n in 0..20u16 {
        let payload = msg(usize::from(n), 1500);
        h.pubex(0, n + 1, 1, "e2e/burst/out", &payload);
        let got = peer.recv();
        assert_eq!(got.payload.as_ref(), payload.as_slice(), "message {n}");
    }
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn disconnect_over_tls_reaches_the_broker_before_the_close() {
    // QMTDISC sends DISCONNECT and closes at once: over TLS the encrypted DISCONNECT must be
    // flushed before the socket closes, or the broker sees a dropped link and fires the will.
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let sim = sim_to(&m, m.mutual_tls.unwrap());
    let mut peer = Peer::connect(m.plain, "e2e-tls-disc-peer");
    peer.subscribe("e2e/tlsdisc/#", QoS::AtLeastOnce);
    let mut h = Host::start(&sim);
    ssl_context(&mut h, 2, 2, &pki.ca_pem, Some(&pki.client));
    for idx in 0..2u8 {
        h.ok(&format!(r#"AT+QMTCFG="ssl",{idx},1,2"#));
        h.ok(&format!(
            r#"AT+QMTCFG="will",{idx},1,1,0,"e2e/tlsdisc/{idx}","will of {idx}""#
        ));
        h.open(idx, AWS, 8883);
        h.conn(idx, &format!("e2e-tls-disc-{idx}"));
    }
    h.disc(0);
    // Client 1 is dropped by a power cycle: its will is the first (and only) one.
    sim.inject(qmt_sim::Fault::PowerCycle).unwrap();
    h.urc("RDY");
    let p = peer.recv();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_ref()),
        ("e2e/tlsdisc/1", b"will of 1".as_slice())
    );
    let log = m.log();
    assert!(
        log.contains("Client e2e-tls-disc-0 disconnected."),
        "mosquitto did not log a DISCONNECT of client 0:\n{log}"
    );
}

#[test]
fn sslversion_3_and_4_open_and_the_old_versions_fail() {
    let pki = TestPki::new("qmt e2e mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: false,
    }) else {
        return;
    };
    let sim = sim_to(&m, m.tls.unwrap());
    let mut h = Host::start(&sim);
    ssl_context(&mut h, 2, 1, &pki.ca_pem, None);
    h.ok(r#"AT+QMTCFG="ssl",0,1,2"#);
    // 0–2 (SSL 3.0, TLS 1.0, TLS 1.1): the sim's rustls offers none of them, so the open fails
    // (qmt-sim/src/tls.rs); 3 (TLS 1.2) and 4 (all) connect and speak MQTT.
    for v in 0..=4 {
        h.ok(&format!(r#"AT+QSSLCFG="sslversion",2,{v}"#));
        if v < 3 {
            h.ok(&format!(r#"AT+QMTOPEN=0,"{AWS}",8883"#));
            h.urc("+QMTOPEN: 0,-1");
        } else {
            h.open(0, AWS, 8883);
            h.conn(0, &format!("e2e-sslversion-{v}"));
            h.disc(0);
        }
    }
}
