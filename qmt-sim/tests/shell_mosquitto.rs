//! The mosquitto helper, and the shell against mosquitto's plain, TLS and mutual-TLS listeners.
//! Skipped (loudly) when mosquitto is not installed, unless `QMT_REQUIRE_MOSQUITTO=1`.

mod support;

use std::time::Duration;

use qmt_sim::net::TlsConfig;
use qmt_sim::{BrokerChoice, Sim, SimConfig};
use support::cores::{NetCore, hex, unhex};
use support::{AtPort, Mosquitto, MosquittoOpts, TestPki};

const T: Duration = Duration::from_secs(5);

fn connect_hex() -> String {
    use mqtt::Encodable;
    let mut c = mqtt::packet::ConnectPacket::new("qmt-mosq");
    c.set_keep_alive(60);
    c.set_clean_session(true);
    let mut v = Vec::new();
    support::ok(c.encode(&mut v), "encode");
    hex(&v)
}

/// Opens client 0 to `host` through the sim, sends CONNECT and expects CONNACK 0.
fn mqtt_connect(port: &mut AtPort, host: &str) {
    port.send(&format!("OPEN 0 {host} 8883"));
    assert_eq!(port.read_until_final(T), ["OK"]);
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
    port.send(&format!("SEND 0 {}", connect_hex()));
    assert_eq!(port.read_until_final(T), ["OK"]);
    let line = port.expect_line(|l| l.starts_with("RECV 0 "), T);
    assert_eq!(
        unhex(&line["RECV 0 ".len()..]),
        Some(vec![0x20, 0x02, 0x00, 0x00])
    );
}

#[test]
fn mosquitto_plain_tls_and_mutual_tls() {
    let pki = TestPki::new("qmt mosquitto CA");
    let Some(m) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let (tls, mtls) = (m.tls.unwrap(), m.mutual_tls.unwrap());
    let tls_cfg = |seclevel| TlsConfig {
        ctx: 2,
        ca_cert: Some(pki.ca_pem.clone()),
        client_cert: Some(pki.client.cert_pem.clone()),
        client_key: Some(pki.client.key_pem.clone()),
        seclevel,
        sslversion: 4,
        ignore_local_time: true,
    };

    // Plain: the external broker is the default target of every name.
    let plain = Sim::start_with(
        SimConfig {
            broker: BrokerChoice::External(m.plain),
            ..SimConfig::default()
        },
        |_| NetCore::new(None),
    )
    .unwrap();
    assert!(!plain.broker_is_embedded());
    mqtt_connect(
        &mut AtPort::open(plain.pty_path()),
        "iot-as-mqtt.cn-shanghai.aliyuncs.com",
    );

    // TLS, server verified (seclevel 1), under the spec's AWS host name.
    let aws = "alzgnxur10j8ux.iot.us-east-1.amazonaws.com";
    let sim = Sim::start_with(
        SimConfig {
            broker: BrokerChoice::External(m.plain),
            resolve: vec![(aws.into(), tls)],
            ..SimConfig::default()
        },
        {
            let c = tls_cfg(1);
            move |_| NetCore::new(Some(c))
        },
    )
    .unwrap();
    mqtt_connect(&mut AtPort::open(sim.pty_path()), aws);

    // Mutual TLS (seclevel 2), as in the spec's transcript 8.2.
    let sim = Sim::start_with(
        SimConfig {
            broker: BrokerChoice::External(m.plain),
            resolve: vec![(aws.into(), mtls)],
            ..SimConfig::default()
        },
        {
            let c = tls_cfg(2);
            move |_| NetCore::new(Some(c))
        },
    )
    .unwrap();
    mqtt_connect(&mut AtPort::open(sim.pty_path()), aws);

    // Mutual TLS without a client certificate: refused.
    let sim = Sim::start_with(
        SimConfig {
            broker: BrokerChoice::External(m.plain),
            resolve: vec![(aws.into(), mtls)],
            ..SimConfig::default()
        },
        {
            let c = tls_cfg(1);
            move |_| NetCore::new(Some(c))
        },
    )
    .unwrap();
    let mut port = AtPort::open(sim.pty_path());
    port.send(&format!("OPEN 0 {aws} 8883"));
    assert_eq!(port.read_until_final(T), ["OK"]);
    let first = port.expect_line(|_| true, T);
    if first == "CONNECTED 0" {
        // TLS 1.3 reports the refusal after the client's handshake completed.
        port.send(&format!("SEND 0 {}", connect_hex()));
        assert_eq!(port.expect_line(|l| l.starts_with("CLOSED"), T), "CLOSED 0");
    } else {
        assert_eq!(first, "FAILED 0 Tls");
    }
}
