//! Binary payloads (CR LF, `"`, `,`, NUL, high bytes) both ways, in text and hex data modes, with
//! the payload in the URC and in the module's buffer (recv/mode 1, read with `AT+QMTRECV`),
//! checked against an independent rumqttc client.

mod support;

use qmt_client::Qos;
use qmt_proto::cfg::{DataEncoding, MsgRecvMode};
use rumqttc::QoS;
use support::{Peer, T, expect_message, modem, opts, sim};

const NASTY: &[u8] = b"a\r\nb\"c,d\0e\r\n\xff\xfe\"";

#[allow(clippy::unwrap_used)]
fn round_trip(idx: i64, encoding: DataEncoding, recv: MsgRecvMode, len: bool) {
    let sim = sim();
    let modem = modem(&sim);
    let tag = format!("{idx}-{encoding:?}-{recv:?}-{len}").to_lowercase();
    let topic = format!("qmt/bin/{tag}");
    let options = opts(&format!("qmt-bin-{tag}"))
        .data_format(encoding, encoding)
        .recv_mode(recv, len)
        .build()
        .unwrap();
    let (client, conn) = modem.client(idx, options).unwrap();
    client.connect().unwrap();
    client.subscribe(&[(&topic, Qos::AtLeastOnce)]).unwrap();
    let mut peer = Peer::connect(sim.broker_addr(), &format!("peer-{tag}"));
    peer.subscribe(&topic, QoS::AtLeastOnce);

    // Module → broker: the peer gets exactly the bytes; the client gets its own message back.
    client
        .publish(&topic, NASTY, Qos::AtLeastOnce, false)
        .unwrap();
    let p = peer.expect_publish(T);
    assert_eq!(&p.payload[..], NASTY, "{tag}: what the broker got");
    let m = expect_message(&conn, "own message back");
    assert_eq!(m.payload(), NASTY, "{tag}: own message back");
    assert_eq!(m.topic(), topic);

    // Broker → module: a message from the peer, and one more to show nothing was misframed.
    peer.publish(&topic, QoS::AtLeastOnce, NASTY);
    let _echo = peer.expect_publish(T);
    let m = expect_message(&conn, "peer's message");
    assert_eq!(m.payload(), NASTY, "{tag}: peer's message");
    peer.publish(&topic, QoS::AtLeastOnce, b"after");
    let m = expect_message(&conn, "the next message");
    assert_eq!(m.payload(), b"after", "{tag}: the message after");
    client.disconnect().unwrap();
}

#[test]
fn binary_text_mode_in_urc() {
    round_trip(0, DataEncoding::Text, MsgRecvMode::InUrc, true);
}

#[test]
fn binary_hex_mode_in_urc() {
    round_trip(1, DataEncoding::Hex, MsgRecvMode::InUrc, true);
}

#[test]
fn binary_text_mode_buffered() {
    round_trip(2, DataEncoding::Text, MsgRecvMode::Buffered, true);
}

#[test]
fn binary_hex_mode_buffered() {
    round_trip(3, DataEncoding::Hex, MsgRecvMode::Buffered, false);
}

#[test]
fn buffered_mode_reads_every_slot_under_a_burst() {
    let sim = sim();
    let modem = modem(&sim);
    let options = opts("qmt-buffered-burst")
        .recv_mode(MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    let (client, conn) = modem.client(4, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/burst", Qos::AtLeastOnce)])
        .unwrap();
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-buffered-burst-peer");
    for i in 0..20 {
        peer.publish("qmt/burst", QoS::AtLeastOnce, format!("{i}").as_bytes());
    }
    let mut got: Vec<u32> = (0..20)
        .map(|_| {
            let m = expect_message(&conn, "buffered message");
            m.payload_str().unwrap().parse().unwrap()
        })
        .collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}
