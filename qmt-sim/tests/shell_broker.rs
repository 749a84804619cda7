//! The embedded broker: real MQTT with an independent client (rumqttc).

mod support;

use std::time::{Duration, Instant};

use qmt_sim::EmbeddedBroker;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// Publishes on a topic the client subscribed to and waits for its own message.
fn round_trip(addr: std::net::SocketAddr, client_id: &str, payload: Vec<u8>) {
    let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(128 * 1024, 128 * 1024);
    let (client, mut conn) = Client::new(opts, 16);
    support::ok(client.subscribe("qmt/echo", QoS::AtLeastOnce), "subscribe");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut published = false;
    while Instant::now() < deadline {
        let event = conn.recv_timeout(Duration::from_secs(1));
        match event {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) if !published => {
                support::ok(
                    client.publish("qmt/echo", QoS::AtLeastOnce, false, payload.clone()),
                    "publish",
                );
                published = true;
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                assert_eq!(p.topic, "qmt/echo");
                assert_eq!(p.payload.as_ref(), payload.as_slice());
                return;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("connection error: {e}"),
            Err(_) => {}
        }
    }
    panic!("no message back within 10 s (published: {published})");
}

#[test]
fn embedded_broker_delivers_a_clients_own_message() {
    let broker = EmbeddedBroker::start().unwrap();
    assert!(broker.addr().ip().is_loopback());
    round_trip(
        broker.addr(),
        "qmt-test-own",
        b"hello from rumqttc".to_vec(),
    );
}

#[test]
fn embedded_broker_carries_64_kib_payloads() {
    let broker = EmbeddedBroker::start().unwrap();
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    round_trip(broker.addr(), "qmt-test-big", payload);
}

#[test]
fn two_brokers_start_on_different_ports() {
    let a = EmbeddedBroker::start().unwrap();
    let b = EmbeddedBroker::start().unwrap();
    assert_ne!(a.addr().port(), b.addr().port());
    round_trip(a.addr(), "qmt-test-a", b"a".to_vec());
    round_trip(b.addr(), "qmt-test-b", b"b".to_vec());
}
