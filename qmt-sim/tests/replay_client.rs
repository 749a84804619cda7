//! The real client (qmt-client's blocking `Modem` and `Client`) against `Sim` replaying the spec's
//! golden transcripts (§8, `examples/captures/`) on a real pty, with another host, client id and
//! password than the log's: it completes the session the log shows.
#![allow(clippy::unwrap_used)]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use qmt_client::{ClientOptions, Connection, Event, Message, Modem, ModemConfig, Qos, TlsFiles};
use qmt_proto::codes::GrantedQos;
use qmt_sim::replay::Script;
use qmt_sim::{Sim, SimConfig, SimHandle};

/// The wait for one event. Generous: two cores shared with other builds.
const T: Duration = Duration::from_secs(30);

fn replay(script: Script) -> SimHandle {
    Sim::start(SimConfig {
        replay: Some(script.into()),
        ..SimConfig::default()
    })
    .unwrap()
}

/// The next message; other events are collected and shown on failure.
fn next_message(conn: &Connection, what: &str) -> Message {
    let mut seen = Vec::new();
    loop {
        match conn.recv_timeout(T) {
            Ok(Event::Message(m)) => return m,
            Ok(other) => seen.push(other),
            Err(e) => panic!("{what}: {e:?} within {T:?}; events so far: {seen:#?}"),
        }
    }
}

#[test]
fn the_client_completes_the_aliyun_session_of_the_log() {
    let sim = replay(capture::script(&capture::read("aliyun.log")));
    assert!(!sim.broker_is_embedded(), "a replay starts no broker");
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    // The log opens iot-as-mqtt.cn-shanghai.aliyuncs.com as "clientExample" with aliauth.
    let options = ClientOptions::builder()
        .host("broker.local")
        .client_id("replay-host-1")
        .credentials("bob", "hunter2")
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();

    let granted = client
        .subscribe(&[("topic/example", Qos::ExactlyOnce)])
        .unwrap();
    assert_eq!(granted, [GrantedQos::ExactlyOnce]);
    // The client's msgid is 2, the log's 1: the result names the client's.
    let granted = client.subscribe(&[("topic/pub", Qos::AtMostOnce)]).unwrap();
    assert_eq!(granted, [GrantedQos::AtMostOnce]);
    let m = next_message(&conn, "the message published by another client");
    assert_eq!(
        (m.topic(), m.payload_str()),
        (
            "topic/example",
            Some("This is the payload related to topic")
        )
    );

    client.unsubscribe(&["topic/example"]).unwrap();
    client
        .publish(
            "topic/pub",
            "This is test data, hello MQTT.",
            Qos::AtMostOnce,
            false,
        )
        .unwrap();
    // Spec §8.1 shows this payload unquoted; the client takes it as the log shows it.
    let m = next_message(&conn, "the client's own message back");
    assert_eq!(
        (m.topic(), m.payload_str()),
        ("topic/pub", Some("This is test data, hello MQTT."))
    );
    client.disconnect().unwrap();

    let stats = sim.replay_stats().unwrap();
    assert!(stats.uncovered.is_empty(), "{stats:?}");
    assert_eq!(stats.repeated, 0, "{stats:?}");
}

#[test]
fn the_client_completes_the_aws_tls_session_of_the_log() {
    // qmt-client lists the module's files before it uploads (qmt-client/src/sansio/session.rs,
    // "Provisioning"), a step the vendor note's host does not take: the script gets the answer of
    // a module with no files, by hand.
    let text = format!(">> AT+QFLST=\"*\"\n<< OK\n{}", capture::read("aws-tls.log"));
    let sim = replay(capture::script(&text));
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    // Files of other sizes and contents than the log's (`<1758 bytes of cacert.pem>` …).
    let files = TlsFiles::new()
        .ca_cert("ca.pem", "-----BEGIN CERTIFICATE-----\nnot the log's CA\n")
        .client_cert("me.pem", "-----BEGIN CERTIFICATE-----\nnor its cert\n")
        .client_key("me.key", "-----BEGIN PRIVATE KEY-----\nnor its key\n");
    let options = ClientOptions::builder()
        .host("mqtt.example.net")
        .client_id("replay-host-2")
        .credentials("alice", "s3cret")
        .tls(2)
        .tls_files(files)
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();

    let topic = "$aws/things/M26_0206/shadow/update/accepted";
    let granted = client.subscribe(&[(topic, Qos::AtLeastOnce)]).unwrap();
    assert_eq!(granted, [GrantedQos::AtLeastOnce]);
    client
        .publish(
            topic,
            "This is publish data from client",
            Qos::AtLeastOnce,
            false,
        )
        .unwrap();
    let m = next_message(&conn, "the client's own message back");
    assert_eq!(
        (m.topic(), m.payload_str()),
        (topic, Some("This is publish data from client"))
    );
    client.disconnect().unwrap();

    let stats = sim.replay_stats().unwrap();
    assert!(stats.uncovered.is_empty(), "{stats:?}");
}
