//! The session against a broker played by hand with `mqtt-protocol`, with fake `Instant`s.
#![allow(clippy::unwrap_used)]

use super::*;

use ::mqtt::control::variable_header::{ConnectReturnCode, ProtocolLevel};
use ::mqtt::packet::{
    ConnackPacket, PingrespPacket, SubackPacket, UnsubackPacket, suback::SubscribeReturnCode,
};

const SECRET: &str = "hunter2-secret";

fn config() -> SessionConfig {
    SessionConfig {
        version: MqttVersion::V3_1_1,
        client_id: "dev-1".to_owned(),
        username: Some("user".to_owned()),
        password: Some(SECRET.to_owned()),
        keep_alive: 0,
        clean_session: true,
        pkt_timeout: Duration::from_secs(5),
        retry_times: 3,
        timeout_notice: true,
        will: None,
    }
}

/// A fixed origin and `secs` after it.
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
    fn ms(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

fn enc<P: Encodable>(p: &P) -> Vec<u8> {
    let mut v = Vec::new();
    p.encode(&mut v).unwrap();
    v
}

fn dec(bytes: &[u8]) -> VariablePacket {
    let mut c = Cursor::new(bytes);
    let p = VariablePacket::decode(&mut c).unwrap();
    assert_eq!(
        c.position() as usize,
        bytes.len(),
        "one packet per transmit"
    );
    p
}

fn raw(s: &mut Session) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn sent(s: &mut Session) -> Vec<VariablePacket> {
    raw(s).iter().map(|b| dec(b)).collect()
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn connack(code: u8) -> Vec<u8> {
    enc(&ConnackPacket::new(false, ConnectReturnCode::from_u8(code)))
}

fn publish(qos: u8, id: u16, topic: &str, payload: &[u8], dup: bool, retain: bool) -> Vec<u8> {
    let q = match qos {
        0 => QoSWithPacketIdentifier::Level0,
        1 => QoSWithPacketIdentifier::Level1(id),
        _ => QoSWithPacketIdentifier::Level2(id),
    };
    let mut p = PublishPacket::new(TopicName::new(topic).unwrap(), q, payload.to_vec());
    p.set_dup(dup);
    p.set_retain(retain);
    enc(&p)
}

fn message(msgid: u16, qos: Qos, topic: &str, payload: &[u8]) -> SessionEvent {
    SessionEvent::Message {
        msgid,
        qos,
        retain: false,
        topic: topic.to_owned(),
        payload: payload.to_vec(),
    }
}

/// A session that has sent CONNECT and got CONNACK 0 at `clock.at(0)`, drained.
fn connected(config: SessionConfig, clock: &Clock) -> Session {
    let mut s = Session::connect(config, clock.at(0));
    assert!(matches!(
        sent(&mut s)[..],
        [VariablePacket::ConnectPacket(_)]
    ));
    s.handle_bytes(&connack(0), clock.at(0));
    assert_eq!(events(&mut s), [SessionEvent::ConnAck { code: 0 }]);
    assert!(s.is_connected());
    s
}

/// The DUP flag of a PUBLISH (read from the fixed header: `PublishPacket::dup` in mqtt-protocol
/// 0.12 tests the wrong bit).
fn dup_bit(bytes: &[u8]) -> bool {
    bytes[0] & 0x08 != 0
}

// ---- CONNECT --------------------------------------------------------------------------------

#[test]
fn connect_3_1_1_carries_every_field() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.keep_alive = 60;
    cfg.clean_session = false;
    cfg.will = Some(Will {
        qos: Qos::AtLeastOnce,
        retain: true,
        topic: "dev/1/status".to_owned(),
        message: b"off\r\n\0line".to_vec(),
    });
    let mut s = Session::connect(cfg, clock.at(0));
    let packets = sent(&mut s);
    let [VariablePacket::ConnectPacket(c)] = &packets[..] else {
        panic!("expected one CONNECT, got {packets:?}");
    };
    assert_eq!(c.protocol_name(), "MQTT");
    assert_eq!(c.protocol_level(), ProtocolLevel::Version311);
    assert_eq!(c.client_identifier(), "dev-1");
    assert_eq!(c.keep_alive(), 60);
    assert!(!c.clean_session());
    assert_eq!(c.user_name(), Some("user"));
    assert_eq!(c.password(), Some(SECRET));
    assert_eq!(c.will(), Some(("dev/1/status", &b"off\r\n\0line"[..])));
    assert_eq!(c.will_qos(), 1);
    assert!(c.will_retain());
    assert!(s.awaiting_connack());
    assert!(!s.is_connected());
    assert_eq!(s.poll_timeout(), Some(clock.at(5)));
}

#[test]
fn connect_3_1_uses_mqisdp_level_3_without_credentials_or_will() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.version = MqttVersion::V3_1;
    cfg.username = None;
    cfg.password = None;
    let mut s = Session::connect(cfg, clock.at(0));
    let packets = sent(&mut s);
    let [VariablePacket::ConnectPacket(c)] = &packets[..] else {
        panic!("expected one CONNECT, got {packets:?}");
    };
    assert_eq!(c.protocol_name(), "MQIsdp");
    assert_eq!(c.protocol_level(), ProtocolLevel::Version310);
    assert_eq!(c.keep_alive(), 0);
    assert!(c.clean_session());
    assert_eq!(c.user_name(), None);
    assert_eq!(c.password(), None);
    assert_eq!(c.will(), None);
}

#[test]
fn connect_with_an_invalid_will_topic_fails_at_once_and_sends_nothing() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.will = Some(Will {
        qos: Qos::AtMostOnce,
        retain: false,
        topic: "a/#".to_owned(),
        message: Vec::new(),
    });
    let mut s = Session::connect(cfg, clock.at(0));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Conn,
            msgid: 0
        }]
    );
    assert!(s.is_dead());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn connack_accepted() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    assert!(!s.awaiting_connack());
    assert!(!s.is_dead());
    // keep_alive 0 and nothing in flight: no deadline at all.
    assert_eq!(s.poll_timeout(), None);
    assert!(raw(&mut s).is_empty());
}

#[test]
fn connack_refused_codes_are_reported_and_end_the_session() {
    for code in 1..=5u8 {
        let clock = Clock::new();
        let mut s = Session::connect(config(), clock.at(0));
        raw(&mut s);
        s.handle_bytes(&connack(code), clock.at(1));
        assert_eq!(
            events(&mut s),
            [SessionEvent::ConnAck { code }],
            "code {code}"
        );
        assert!(!s.is_connected());
        assert!(s.is_dead());
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(clock.at(100));
        s.publish(0, Qos::AtMostOnce, false, "t", b"x", clock.at(100));
        assert!(raw(&mut s).is_empty());
        assert!(events(&mut s).is_empty());
    }
}

#[test]
fn connect_retransmitted_then_failed_with_notice() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.retry_times = 2;
    let mut s = Session::connect(cfg, clock.at(0));
    let first = raw(&mut s);
    assert_eq!(first.len(), 1);

    s.handle_timeout(clock.ms(4999));
    assert!(raw(&mut s).is_empty());
    assert!(events(&mut s).is_empty());

    for (n, t) in [(1u8, 5u64), (2, 10)] {
        assert_eq!(s.poll_timeout(), Some(clock.at(t)));
        s.handle_timeout(clock.at(t));
        assert_eq!(raw(&mut s), first, "CONNECT resent as is");
        assert_eq!(
            events(&mut s),
            [SessionEvent::Retransmitted {
                op: Op::Conn,
                msgid: 0,
                count: n
            }]
        );
    }
    assert_eq!(s.poll_timeout(), Some(clock.at(15)));
    s.handle_timeout(clock.at(15));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Conn,
            msgid: 0
        }]
    );
    assert!(s.is_dead());
    assert_eq!(s.poll_timeout(), None);
    // A late CONNACK changes nothing.
    s.handle_bytes(&connack(0), clock.at(16));
    assert!(events(&mut s).is_empty());
    assert!(!s.is_connected());
}

#[test]
fn connect_retransmitted_silently_without_notice() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.timeout_notice = false;
    let mut s = Session::connect(cfg, clock.at(0));
    raw(&mut s);
    for t in [5, 10, 15] {
        s.handle_timeout(clock.at(t));
        assert_eq!(sent(&mut s).len(), 1, "resent at {t}");
        assert!(events(&mut s).is_empty());
    }
    s.handle_timeout(clock.at(20));
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Conn,
            msgid: 0
        }]
    );
    assert!(s.is_dead());
}

#[test]
fn connect_with_zero_retries_fails_at_the_first_timeout() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.retry_times = 0;
    let mut s = Session::connect(cfg, clock.at(0));
    raw(&mut s);
    // A late call acts once, not once per elapsed period.
    s.handle_timeout(clock.at(60));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Conn,
            msgid: 0
        }]
    );
}

#[test]
fn connack_after_a_retransmission_connects() {
    let clock = Clock::new();
    let mut s = Session::connect(config(), clock.at(0));
    s.handle_timeout(clock.at(5));
    assert_eq!(sent(&mut s).len(), 2);
    s.handle_bytes(&connack(0), clock.at(6));
    assert_eq!(
        events(&mut s),
        [
            SessionEvent::Retransmitted {
                op: Op::Conn,
                msgid: 0,
                count: 1
            },
            SessionEvent::ConnAck { code: 0 }
        ]
    );
    assert!(s.is_connected());
    assert_eq!(s.poll_timeout(), None);
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------

#[test]
fn subscribe_and_suback() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    let filters = [
        ("topic/example".to_owned(), Qos::ExactlyOnce),
        ("a/+/b".to_owned(), Qos::AtMostOnce),
        ("x/#".to_owned(), Qos::AtLeastOnce),
    ];
    s.subscribe(1, &filters, clock.at(1));
    let packets = sent(&mut s);
    let [VariablePacket::SubscribePacket(p)] = &packets[..] else {
        panic!("expected SUBSCRIBE, got {packets:?}");
    };
    assert_eq!(p.packet_identifier(), 1);
    let got: Vec<(String, QualityOfService)> = p
        .subscribes()
        .iter()
        .map(|(f, q)| (f.to_string(), *q))
        .collect();
    assert_eq!(
        got,
        [
            ("topic/example".to_owned(), QualityOfService::Level2),
            ("a/+/b".to_owned(), QualityOfService::Level0),
            ("x/#".to_owned(), QualityOfService::Level1),
        ]
    );
    assert_eq!(s.in_flight().collect::<Vec<_>>(), [1]);
    assert_eq!(s.poll_timeout(), Some(clock.at(6)));

    let ack = SubackPacket::new(
        1,
        vec![
            SubscribeReturnCode::MaximumQoSLevel2,
            SubscribeReturnCode::Failure,
            SubscribeReturnCode::MaximumQoSLevel1,
        ],
    );
    s.handle_bytes(&enc(&ack), clock.at(2));
    assert_eq!(
        events(&mut s),
        [SessionEvent::SubAck {
            msgid: 1,
            granted: vec![2, 0x80, 1]
        }]
    );
    assert_eq!(s.in_flight().count(), 0);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn unsubscribe_and_unsuback() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.unsubscribe(
        2,
        &["topic/example".to_owned(), "x/#".to_owned()],
        clock.at(1),
    );
    let packets = sent(&mut s);
    let [VariablePacket::UnsubscribePacket(p)] = &packets[..] else {
        panic!("expected UNSUBSCRIBE, got {packets:?}");
    };
    assert_eq!(p.packet_identifier(), 2);
    let got: Vec<String> = p.subscribes().iter().map(|f| f.to_string()).collect();
    assert_eq!(got, ["topic/example", "x/#"]);
    // An UNSUBACK for another id is ignored.
    s.handle_bytes(&enc(&UnsubackPacket::new(3)), clock.at(2));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.stats().ignored, 1);
    s.handle_bytes(&enc(&UnsubackPacket::new(2)), clock.at(2));
    assert_eq!(events(&mut s), [SessionEvent::UnsubAck { msgid: 2 }]);
}

#[test]
fn subscribe_resent_unchanged_then_failed_without_notice() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.timeout_notice = false;
    cfg.retry_times = 1;
    let mut s = connected(cfg, &clock);
    s.subscribe(9, &[("t".to_owned(), Qos::AtLeastOnce)], clock.at(1));
    let first = raw(&mut s);
    s.handle_timeout(clock.at(6));
    assert_eq!(raw(&mut s), first, "SUBSCRIBE resent as is");
    assert!(events(&mut s).is_empty());
    s.handle_timeout(clock.at(11));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Sub,
            msgid: 9
        }]
    );
    // A failed operation does not end the session.
    assert!(s.is_connected());
    // A late SUBACK is ignored.
    s.handle_bytes(
        &enc(&SubackPacket::new(
            9,
            vec![SubscribeReturnCode::MaximumQoSLevel1],
        )),
        clock.at(12),
    );
    assert!(events(&mut s).is_empty());
}

#[test]
fn unsubscribe_retransmitted_with_notice() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.unsubscribe(4, &["t".to_owned()], clock.at(0));
    let first = raw(&mut s);
    s.handle_timeout(clock.at(5));
    assert_eq!(raw(&mut s), first);
    assert_eq!(
        events(&mut s),
        [SessionEvent::Retransmitted {
            op: Op::Uns,
            msgid: 4,
            count: 1
        }]
    );
}

#[test]
fn invalid_operations_fail_at_once() {
    let clock = Clock::new();
    let mut s = Session::connect(config(), clock.at(0));
    raw(&mut s);
    // Before the CONNACK.
    s.subscribe(1, &[("t".to_owned(), Qos::AtMostOnce)], clock.at(0));
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Sub,
            msgid: 1
        }]
    );
    s.handle_bytes(&connack(0), clock.at(0));
    events(&mut s);

    s.subscribe(0, &[("t".to_owned(), Qos::AtMostOnce)], clock.at(1));
    s.subscribe(2, &[], clock.at(1));
    s.subscribe(3, &[("a/#/b".to_owned(), Qos::AtMostOnce)], clock.at(1));
    s.unsubscribe(4, &["".to_owned()], clock.at(1));
    s.publish(0, Qos::AtLeastOnce, false, "t", b"x", clock.at(1));
    s.publish(5, Qos::AtLeastOnce, false, "a/+", b"x", clock.at(1));
    assert!(raw(&mut s).is_empty());
    let fail = |op, msgid| SessionEvent::Failed { op, msgid };
    assert_eq!(
        events(&mut s),
        [
            fail(Op::Sub, 0),
            fail(Op::Sub, 2),
            fail(Op::Sub, 3),
            fail(Op::Uns, 4),
            fail(Op::Pub, 0),
            fail(Op::Pub, 5),
        ]
    );

    // A packet id in flight is refused; the running exchange goes on.
    s.publish(7, Qos::AtLeastOnce, false, "t", b"x", clock.at(1));
    assert_eq!(sent(&mut s).len(), 1);
    s.subscribe(7, &[("t".to_owned(), Qos::AtMostOnce)], clock.at(1));
    assert!(raw(&mut s).is_empty());
    assert_eq!(events(&mut s), [fail(Op::Sub, 7)]);
    s.handle_bytes(&enc(&PubackPacket::new(7)), clock.at(2));
    assert_eq!(events(&mut s), [SessionEvent::Published { msgid: 7 }]);
}

// ---- PUBLISH out ----------------------------------------------------------------------------

#[test]
fn publish_qos0_is_published_when_queued() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.publish(
        0,
        Qos::AtMostOnce,
        true,
        "topic/pub",
        b"This is test data, hello MQTT.",
        clock.at(1),
    );
    assert_eq!(events(&mut s), [SessionEvent::Published { msgid: 0 }]);
    let packets = sent(&mut s);
    let [VariablePacket::PublishPacket(p)] = &packets[..] else {
        panic!("expected PUBLISH, got {packets:?}");
    };
    assert_eq!(p.qos(), QoSWithPacketIdentifier::Level0);
    assert!(p.retain());
    assert_eq!(p.topic_name(), "topic/pub");
    assert_eq!(p.payload(), b"This is test data, hello MQTT.");
    assert_eq!(s.poll_timeout(), None, "no ACK awaited for QoS 0");
}

#[test]
fn publish_qos1_completes_on_puback() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    let payload = [0u8, b'\r', b'\n', b'"', 0xff];
    s.publish(1, Qos::AtLeastOnce, false, "t/1", &payload, clock.at(1));
    let bytes = raw(&mut s);
    assert!(!dup_bit(&bytes[0]));
    let VariablePacket::PublishPacket(p) = dec(&bytes[0]) else {
        panic!("expected PUBLISH");
    };
    assert_eq!(p.qos(), QoSWithPacketIdentifier::Level1(1));
    assert!(!p.retain());
    assert_eq!(p.payload(), payload);
    assert!(events(&mut s).is_empty());
    // A PUBCOMP or PUBREC for a QoS 1 publish is not its ACK.
    s.handle_bytes(&enc(&PubcompPacket::new(1)), clock.at(2));
    s.handle_bytes(&enc(&PubrecPacket::new(1)), clock.at(2));
    assert!(events(&mut s).is_empty());
    assert!(raw(&mut s).is_empty());
    s.handle_bytes(&enc(&PubackPacket::new(1)), clock.at(2));
    assert_eq!(events(&mut s), [SessionEvent::Published { msgid: 1 }]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn publish_qos2_runs_pubrec_pubrel_pubcomp() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.publish(300, Qos::ExactlyOnce, false, "t/2", b"exactly", clock.at(1));
    let packets = sent(&mut s);
    let [VariablePacket::PublishPacket(p)] = &packets[..] else {
        panic!("expected PUBLISH, got {packets:?}");
    };
    assert_eq!(p.qos(), QoSWithPacketIdentifier::Level2(300));
    // PUBACK is not the QoS 2 answer.
    s.handle_bytes(&enc(&PubackPacket::new(300)), clock.at(2));
    assert!(raw(&mut s).is_empty());
    s.handle_bytes(&enc(&PubrecPacket::new(300)), clock.at(2));
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubrelPacket(PubrelPacket::new(300))]
    );
    assert!(events(&mut s).is_empty());
    assert_eq!(
        s.poll_timeout(),
        Some(clock.at(7)),
        "PUBREL timer from PUBREC"
    );
    s.handle_bytes(&enc(&PubcompPacket::new(300)), clock.at(3));
    assert_eq!(events(&mut s), [SessionEvent::Published { msgid: 300 }]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn publish_retransmitted_with_dup_then_failed() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.publish(5, Qos::AtLeastOnce, true, "t", b"data", clock.at(0));
    let first = raw(&mut s);
    assert!(!dup_bit(&first[0]));
    for n in 1..=3u8 {
        let t = 5 * u64::from(n);
        assert_eq!(s.poll_timeout(), Some(clock.at(t)));
        s.handle_timeout(clock.at(t));
        let again = raw(&mut s);
        assert_eq!(again.len(), 1);
        assert!(dup_bit(&again[0]), "DUP set on retransmission {n}");
        // Only the DUP bit differs.
        assert_eq!(again[0][0], first[0][0] | 0x08);
        assert_eq!(again[0][1..], first[0][1..]);
        assert_eq!(
            events(&mut s),
            [SessionEvent::Retransmitted {
                op: Op::Pub,
                msgid: 5,
                count: n
            }]
        );
    }
    s.handle_timeout(clock.at(20));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Pub,
            msgid: 5
        }]
    );
    assert!(s.is_connected());
    assert_eq!(s.poll_timeout(), None);
    s.handle_bytes(&enc(&PubackPacket::new(5)), clock.at(21));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.stats().ignored, 1);
}

#[test]
fn publish_qos2_pubrel_retransmitted_then_failed() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.retry_times = 2;
    let mut s = connected(cfg, &clock);
    s.publish(8, Qos::ExactlyOnce, false, "t", b"x", clock.at(0));
    raw(&mut s);
    // One PUBLISH retransmission first.
    s.handle_timeout(clock.at(5));
    assert!(dup_bit(&raw(&mut s)[0]));
    assert_eq!(
        events(&mut s),
        [SessionEvent::Retransmitted {
            op: Op::Pub,
            msgid: 8,
            count: 1
        }]
    );
    s.handle_bytes(&enc(&PubrecPacket::new(8)), clock.at(6));
    let pubrel = raw(&mut s);
    assert_eq!(
        dec(&pubrel[0]),
        VariablePacket::PubrelPacket(PubrelPacket::new(8))
    );
    // PUBREL has its own retransmissions, counted from 1.
    for (n, t) in [(1u8, 11u64), (2, 16)] {
        assert_eq!(s.poll_timeout(), Some(clock.at(t)));
        s.handle_timeout(clock.at(t));
        assert_eq!(raw(&mut s), pubrel, "PUBREL resent at {t}");
        assert_eq!(
            events(&mut s),
            [SessionEvent::Retransmitted {
                op: Op::Pub,
                msgid: 8,
                count: n
            }]
        );
    }
    // A repeated PUBREC is answered with PUBREL again.
    s.handle_bytes(&enc(&PubrecPacket::new(8)), clock.at(17));
    assert_eq!(raw(&mut s), pubrel);
    s.handle_timeout(clock.at(21));
    assert!(raw(&mut s).is_empty());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Failed {
            op: Op::Pub,
            msgid: 8
        }]
    );
}

// ---- PUBLISH in -----------------------------------------------------------------------------

#[test]
fn incoming_qos0_1_2_delivered_and_acknowledged() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.handle_bytes(&publish(0, 0, "a", b"zero", false, true), clock.at(1));
    assert_eq!(
        events(&mut s),
        [SessionEvent::Message {
            msgid: 0,
            qos: Qos::AtMostOnce,
            retain: true,
            topic: "a".to_owned(),
            payload: b"zero".to_vec()
        }]
    );
    assert!(raw(&mut s).is_empty(), "QoS 0 is not acknowledged");

    s.handle_bytes(&publish(1, 11, "b", b"one", false, false), clock.at(1));
    assert_eq!(events(&mut s), [message(11, Qos::AtLeastOnce, "b", b"one")]);
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubackPacket(PubackPacket::new(11))]
    );

    s.handle_bytes(&publish(2, 12, "c", b"two", false, false), clock.at(1));
    assert_eq!(events(&mut s), [message(12, Qos::ExactlyOnce, "c", b"two")]);
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubrecPacket(PubrecPacket::new(12))]
    );
    // The server did not see the PUBREC and sends the PUBLISH again, with DUP: PUBREC again,
    // no second delivery.
    s.handle_bytes(&publish(2, 12, "c", b"two", true, false), clock.at(2));
    assert!(events(&mut s).is_empty());
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubrecPacket(PubrecPacket::new(12))]
    );
    assert_eq!(s.stats().duplicates, 1);
    s.handle_bytes(&enc(&PubrelPacket::new(12)), clock.at(3));
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubcompPacket(PubcompPacket::new(12))]
    );
    assert!(events(&mut s).is_empty());
    // Released: the id may now carry a new message.
    s.handle_bytes(&publish(2, 12, "c", b"new", false, false), clock.at(4));
    assert_eq!(events(&mut s), [message(12, Qos::ExactlyOnce, "c", b"new")]);
    assert_eq!(sent(&mut s).len(), 1);
    // A PUBREL for an unknown id is still answered with PUBCOMP (MQTT 3.1.1 §4.3.3).
    s.handle_bytes(&enc(&PubrelPacket::new(99)), clock.at(5));
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubcompPacket(PubcompPacket::new(99))]
    );
}

#[test]
fn held_while_not_accepting_then_released_in_order_one_at_a_time() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.subscribe(1, &[("#".to_owned(), Qos::ExactlyOnce)], clock.at(0));
    raw(&mut s);
    s.set_accepting(false, clock.at(1));
    assert!(!s.is_accepting());
    let mut bytes = publish(1, 21, "t", b"m1", false, false);
    bytes.extend(publish(0, 0, "t", b"m2", false, false));
    bytes.extend(publish(2, 22, "t", b"m3", false, false));
    bytes.extend(enc(&SubackPacket::new(
        1,
        vec![SubscribeReturnCode::MaximumQoSLevel2],
    )));
    bytes.extend(publish(1, 23, "t", b"m4", false, false));
    // The server repeats a held one: not held twice.
    bytes.extend(publish(1, 21, "t", b"m1", true, false));
    s.handle_bytes(&bytes, clock.at(1));
    assert_eq!(s.held(), 4);
    assert_eq!(s.stats().duplicates, 1);
    // The SUBACK overtakes the held messages; nothing is delivered or acknowledged.
    assert_eq!(
        events(&mut s),
        [SessionEvent::SubAck {
            msgid: 1,
            granted: vec![2]
        }]
    );
    assert!(raw(&mut s).is_empty());
    // A PUBREL for a held (not yet PUBREC'd) publish is not answered.
    s.handle_bytes(&enc(&PubrelPacket::new(22)), clock.at(1));
    assert!(raw(&mut s).is_empty());

    s.set_accepting(true, clock.at(2));
    assert_eq!(
        s.poll_event(),
        Some(message(21, Qos::AtLeastOnce, "t", b"m1"))
    );
    // The core's slots are full again.
    s.set_accepting(false, clock.at(2));
    assert_eq!(s.poll_event(), None);
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PubackPacket(PubackPacket::new(21))]
    );
    assert_eq!(s.held(), 3);

    s.set_accepting(true, clock.at(3));
    assert_eq!(
        events(&mut s),
        [
            message(0, Qos::AtMostOnce, "t", b"m2"),
            message(22, Qos::ExactlyOnce, "t", b"m3"),
            message(23, Qos::AtLeastOnce, "t", b"m4"),
        ]
    );
    assert_eq!(
        sent(&mut s),
        [
            VariablePacket::PubrecPacket(PubrecPacket::new(22)),
            VariablePacket::PubackPacket(PubackPacket::new(23)),
        ]
    );
    assert_eq!(s.held(), 0);
}

#[test]
fn holding_is_bounded() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.set_accepting(false, clock.at(1));
    for i in 0..MAX_HELD + 3 {
        s.handle_bytes(&publish(0, 0, "t", &[i as u8], false, false), clock.at(1));
    }
    assert_eq!(s.held(), MAX_HELD);
    assert_eq!(s.stats().dropped, 3);
    s.set_accepting(true, clock.at(2));
    let got = events(&mut s);
    assert_eq!(got.len(), MAX_HELD);
    assert_eq!(got[0], message(0, Qos::AtMostOnce, "t", &[0]));
}

#[test]
fn acknowledged_publishes_are_held_past_the_qos0_bound() {
    // A QoS 1/2 publish dropped unacknowledged would stay in the server's in-flight window until
    // the next connection; QoS 0 ones past the bound are dropped.
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.set_accepting(false, clock.at(1));
    for i in 0..MAX_HELD {
        s.handle_bytes(&publish(0, 0, "t", &[i as u8], false, false), clock.at(1));
    }
    s.handle_bytes(&publish(1, 7, "t", b"q1", false, false), clock.at(1));
    s.handle_bytes(&publish(2, 8, "t", b"q2", false, false), clock.at(1));
    s.handle_bytes(&publish(0, 0, "t", b"q0", false, false), clock.at(1));
    assert_eq!(s.held(), MAX_HELD + 2);
    assert_eq!(s.stats().dropped, 1);
    s.set_accepting(true, clock.at(2));
    let got = events(&mut s);
    assert_eq!(got.len(), MAX_HELD + 2);
    assert_eq!(got[MAX_HELD], message(7, Qos::AtLeastOnce, "t", b"q1"));
    assert_eq!(got[MAX_HELD + 1], message(8, Qos::ExactlyOnce, "t", b"q2"));
    s.set_accepting(false, clock.at(3));
    for i in 0..MAX_HELD_ACKED {
        let id = 100 + i as u16;
        s.handle_bytes(&publish(1, id, "t", b"x", false, false), clock.at(3));
    }
    s.handle_bytes(&publish(1, 5000, "t", b"x", false, false), clock.at(3));
    assert_eq!(s.held(), MAX_HELD_ACKED);
    assert_eq!(
        s.stats().dropped,
        2,
        "a server ignoring its window is cut off"
    );
}

// ---- keep-alive -----------------------------------------------------------------------------

#[test]
fn pingreq_after_keep_alive_of_silence_and_pingresp_rearms() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.keep_alive = 10;
    let mut s = connected(cfg, &clock);
    assert_eq!(s.poll_timeout(), Some(clock.at(10)));
    // Packets from the server do not reset the client's clock.
    s.handle_bytes(&publish(0, 0, "t", b"x", false, false), clock.at(5));
    events(&mut s);
    assert_eq!(s.poll_timeout(), Some(clock.at(10)));
    s.handle_timeout(clock.ms(9999));
    assert!(raw(&mut s).is_empty());
    s.handle_timeout(clock.at(10));
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PingreqPacket(PingreqPacket::new())]
    );
    // Waiting pkt_timeout for PINGRESP; no second PINGREQ meanwhile.
    assert_eq!(s.poll_timeout(), Some(clock.at(15)));
    s.handle_bytes(&enc(&PingrespPacket::new()), clock.at(12));
    assert!(events(&mut s).is_empty());
    assert_eq!(
        s.poll_timeout(),
        Some(clock.at(20)),
        "keep-alive counts from the PINGREQ"
    );
    // Sending anything resets the clock.
    s.publish(0, Qos::AtMostOnce, false, "t", b"x", clock.at(18));
    raw(&mut s);
    events(&mut s);
    assert_eq!(s.poll_timeout(), Some(clock.at(28)));
    s.handle_timeout(clock.at(20));
    assert!(raw(&mut s).is_empty());
    s.handle_timeout(clock.at(28));
    assert_eq!(
        sent(&mut s),
        [VariablePacket::PingreqPacket(PingreqPacket::new())]
    );
    // A stray second PINGRESP is ignored.
    s.handle_bytes(&enc(&PingrespPacket::new()), clock.at(29));
    s.handle_bytes(&enc(&PingrespPacket::new()), clock.at(29));
    assert_eq!(s.stats().ignored, 1);
    assert!(s.is_connected());
}

#[test]
fn no_pingresp_is_a_ping_timeout_and_the_session_is_dead() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.keep_alive = 30;
    cfg.pkt_timeout = Duration::from_secs(3);
    let mut s = connected(cfg, &clock);
    s.handle_timeout(clock.at(30));
    assert_eq!(sent(&mut s).len(), 1);
    s.handle_timeout(clock.at(32));
    assert!(events(&mut s).is_empty());
    s.publish(4, Qos::AtLeastOnce, false, "t", b"x", clock.at(32));
    raw(&mut s);
    s.handle_timeout(clock.at(33));
    assert_eq!(events(&mut s), [SessionEvent::PingTimeout]);
    assert!(s.is_dead());
    assert!(!s.is_connected());
    assert_eq!(s.poll_timeout(), None);
    // Nothing more: no bytes, no events, whatever comes in.
    s.handle_bytes(&enc(&PubackPacket::new(4)), clock.at(34));
    s.handle_bytes(&publish(1, 1, "t", b"x", false, false), clock.at(34));
    s.handle_timeout(clock.at(100));
    s.subscribe(5, &[("t".to_owned(), Qos::AtMostOnce)], clock.at(100));
    s.disconnect(clock.at(100));
    assert!(raw(&mut s).is_empty());
    assert!(events(&mut s).is_empty());
}

#[test]
fn keep_alive_zero_never_pings() {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.handle_timeout(clock.at(100_000));
    assert!(raw(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
}

// ---- DISCONNECT -----------------------------------------------------------------------------

#[test]
fn disconnect_is_the_last_packet() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.keep_alive = 10;
    let mut s = connected(cfg, &clock);
    s.publish(1, Qos::AtLeastOnce, false, "t", b"x", clock.at(1));
    s.disconnect(clock.at(1));
    let packets = sent(&mut s);
    assert!(matches!(
        packets[..],
        [
            VariablePacket::PublishPacket(_),
            VariablePacket::DisconnectPacket(_)
        ]
    ));
    assert!(s.is_closed());
    assert!(!s.is_connected());
    assert_eq!(s.poll_timeout(), None);
    s.publish(2, Qos::AtLeastOnce, false, "t", b"x", clock.at(2));
    s.handle_bytes(&enc(&PubackPacket::new(1)), clock.at(2));
    s.handle_timeout(clock.at(60));
    s.disconnect(clock.at(60));
    assert!(raw(&mut s).is_empty());
    assert!(events(&mut s).is_empty());
}

// ---- framing and untrusted input ------------------------------------------------------------

/// A server conversation after the CONNACK: SUBACK, incoming QoS 1 and 2 (with a long payload:
/// a two-byte remaining length), UNSUBACK, PUBACK, an incoming QoS 0 with an empty payload, a
/// PUBREL for an id never received.
fn server_script() -> Vec<u8> {
    let mut b = enc(&SubackPacket::new(
        1,
        vec![SubscribeReturnCode::MaximumQoSLevel1],
    ));
    b.extend(publish(1, 40, "x/y", b"hello", false, true));
    b.extend(publish(2, 41, "x/z", &[0xA5; 300], false, false));
    b.extend(enc(&UnsubackPacket::new(2)));
    b.extend(enc(&PubackPacket::new(3)));
    b.extend(publish(0, 0, "x/0", b"", false, false));
    b.extend(enc(&PubrelPacket::new(77)));
    b
}

/// Feeds `chunks` to a connected session with SUBSCRIBE 1, UNSUBSCRIBE 2 and PUBLISH 3 in
/// flight, draining events and packets after each chunk.
fn run_script(chunks: &[&[u8]]) -> (Vec<SessionEvent>, Vec<Vec<u8>>) {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.subscribe(1, &[("x/#".to_owned(), Qos::AtLeastOnce)], clock.at(0));
    s.unsubscribe(2, &["x/#".to_owned()], clock.at(0));
    s.publish(3, Qos::AtLeastOnce, false, "p", b"q", clock.at(0));
    assert_eq!(raw(&mut s).len(), 3);
    assert!(events(&mut s).is_empty());
    let mut evs = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        s.handle_bytes(chunk, clock.at(1));
        evs.extend(events(&mut s));
        out.extend(raw(&mut s));
    }
    (evs, out)
}

#[test]
fn any_split_of_the_input_gives_the_same_events_and_packets() {
    let script = server_script();
    let (whole_events, whole_out) = run_script(&[&script]);
    assert_eq!(
        whole_events,
        [
            SessionEvent::SubAck {
                msgid: 1,
                granted: vec![1]
            },
            SessionEvent::Message {
                msgid: 40,
                qos: Qos::AtLeastOnce,
                retain: true,
                topic: "x/y".to_owned(),
                payload: b"hello".to_vec()
            },
            message(41, Qos::ExactlyOnce, "x/z", &[0xA5; 300]),
            SessionEvent::UnsubAck { msgid: 2 },
            SessionEvent::Published { msgid: 3 },
            message(0, Qos::AtMostOnce, "x/0", b""),
        ]
    );
    // PUBCOMP 77 is queued at once; PUBACK 40 and PUBREC 41 when their messages are delivered.
    let decoded: Vec<VariablePacket> = whole_out.iter().map(|b| dec(b)).collect();
    assert_eq!(
        decoded,
        [
            VariablePacket::PubcompPacket(PubcompPacket::new(77)),
            VariablePacket::PubackPacket(PubackPacket::new(40)),
            VariablePacket::PubrecPacket(PubrecPacket::new(41)),
        ]
    );

    let singles: Vec<&[u8]> = script.chunks(1).collect();
    let (single_events, single_out) = run_script(&singles);
    assert_eq!(single_events, whole_events, "one byte at a time");
    // Fed byte by byte, each ACK goes out as soon as its message is delivered.
    let sorted = |mut v: Vec<Vec<u8>>| {
        v.sort();
        v
    };
    assert_eq!(sorted(single_out), sorted(whole_out.clone()));

    for cut in 0..=script.len() {
        let (a, b) = script.split_at(cut);
        let (e, o) = run_script(&[a, b]);
        assert_eq!(e, whole_events, "cut at {cut}");
        assert_eq!(sorted(o), sorted(whole_out.clone()), "cut at {cut}");
    }
}

#[test]
fn connack_one_byte_at_a_time() {
    let clock = Clock::new();
    let mut s = Session::connect(config(), clock.at(0));
    raw(&mut s);
    let bytes = connack(0);
    for (i, b) in bytes.iter().enumerate() {
        assert!(!s.is_connected(), "after {i} bytes");
        assert!(events(&mut s).is_empty());
        s.handle_bytes(std::slice::from_ref(b), clock.at(1));
    }
    assert_eq!(events(&mut s), [SessionEvent::ConnAck { code: 0 }]);
    assert!(s.is_connected());
}

fn assert_protocol_error(bytes: &[u8], what: &str) {
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.publish(1, Qos::AtLeastOnce, false, "t", b"x", clock.at(0));
    raw(&mut s);
    s.handle_bytes(bytes, clock.at(1));
    assert_eq!(events(&mut s), [SessionEvent::ProtocolError], "{what}");
    assert!(s.is_dead(), "{what}");
    assert!(!s.is_connected(), "{what}");
    assert_eq!(s.poll_timeout(), None, "{what}");
    s.handle_bytes(&enc(&PubackPacket::new(1)), clock.at(2));
    s.handle_timeout(clock.at(100));
    assert!(raw(&mut s).is_empty(), "{what}");
    assert!(events(&mut s).is_empty(), "{what}");
}

#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x00\x00", "reserved type 0"),
        (b"\xF0\x00", "reserved type 15"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not MQTT at all"),
        (
            b"\x40\xFF\xFF\xFF\xFF\x01",
            "remaining length over four bytes",
        ),
        (b"\x40\xFF\xFF\xFF\x7F", "packet larger than the limit"),
        (b"\x20\x02\x02\x00", "CONNACK with reserved flags"),
        (b"\x36\x05\x00\x01t\x00\x01", "PUBLISH with QoS 3"),
        (b"\x41\x02\x00\x01", "PUBACK with flags"),
        (b"\x40\x03\x00\x01\x00", "PUBACK with a byte left over"),
        (b"\x40\x01\x00", "PUBACK too short"),
        (b"\x30\x04\x00\x05ab", "topic longer than the packet"),
        (b"\x30\x04\x00\x02\xff\xfe", "topic not UTF-8"),
        (b"\x30\x03\x00\x01+", "wildcard in a topic name"),
        (b"\x90\x03\x00\x01\x03", "SUBACK with return code 3"),
        (b"\x40\x82\x00\x00\x01", "non-minimal remaining length"),
        (
            b"\x32\x06\x00\x09abc\x00\x01",
            "string prefix longer than the packet",
        ),
        (b"\x10\x00", "CONNECT from the server"),
        (b"\x82\x00", "SUBSCRIBE from the server"),
        (b"\xC0\x00", "PINGREQ from the server"),
        (b"\xE0\x00", "DISCONNECT from the server"),
    ];
    for (bytes, what) in cases {
        assert_protocol_error(bytes, what);
    }
    // Valid packets before the garbage still count; the PUBACK before it completes.
    let clock = Clock::new();
    let mut s = connected(config(), &clock);
    s.publish(1, Qos::AtLeastOnce, false, "t", b"x", clock.at(0));
    raw(&mut s);
    let mut bytes = enc(&PubackPacket::new(1));
    bytes.extend(b"\x00\x00");
    s.handle_bytes(&bytes, clock.at(1));
    assert_eq!(
        events(&mut s),
        [
            SessionEvent::Published { msgid: 1 },
            SessionEvent::ProtocolError
        ]
    );
}

#[test]
fn random_bytes_never_panic() {
    // A deterministic xorshift; every session must end in a sane state.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let clock = Clock::new();
    for round in 0..2000 {
        let mut s = connected(config(), &clock);
        s.subscribe(1, &[("t".to_owned(), Qos::AtLeastOnce)], clock.at(0));
        s.publish(2, Qos::ExactlyOnce, false, "t", b"x", clock.at(0));
        let len = (next() % 64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards plausible fixed headers.
        if let Some(b) = bytes.first_mut() {
            *b = [
                0x20, 0x30, 0x32, 0x34, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0,
            ][round % 11]
                | (*b & 0x01);
        }
        if let Some(b) = bytes.get_mut(1) {
            *b = (*b % 64).min(len.saturating_sub(2) as u8);
        }
        for chunk in bytes.chunks(1 + (next() % 7) as usize) {
            s.handle_bytes(chunk, clock.at(1));
        }
        s.handle_timeout(clock.at(1000));
        let evs = events(&mut s);
        raw(&mut s);
        if evs.contains(&SessionEvent::ProtocolError) {
            assert!(s.is_dead());
            assert_eq!(s.poll_timeout(), None);
        }
    }
}

#[test]
fn packets_before_the_connack_are_ignored() {
    let clock = Clock::new();
    let mut s = Session::connect(config(), clock.at(0));
    raw(&mut s);
    let mut bytes = publish(1, 3, "t", b"early", false, false);
    bytes.extend(enc(&PingrespPacket::new()));
    bytes.extend(connack(0));
    bytes.extend(connack(0));
    s.handle_bytes(&bytes, clock.at(1));
    assert_eq!(events(&mut s), [SessionEvent::ConnAck { code: 0 }]);
    assert!(raw(&mut s).is_empty());
    assert_eq!(s.stats().ignored, 3);
    assert!(s.is_connected());
}

// ---- secrets --------------------------------------------------------------------------------

#[test]
fn debug_hides_the_password() {
    let clock = Clock::new();
    let cfg = config();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains(qmt_proto::REDACTED), "{shown}");
    assert!(shown.contains("dev-1"), "{shown}");
    // Nor does the session, with the CONNECT (which holds the password) still queued.
    let s = Session::connect(cfg, clock.at(0));
    let shown = format!("{s:?} {s:#?}");
    assert!(!shown.contains(SECRET), "{shown}");
    let bytes_as_debug = format!("{:?}", SECRET.as_bytes());
    let inner = &bytes_as_debug[1..bytes_as_debug.len() - 1];
    assert!(!shown.contains(inner), "{shown}");
}

/// Records every field of every trace event and span, at every level, per thread.
///
/// It is installed once as the process-wide subscriber: tracing caches each callsite's interest
/// globally, so a thread-local subscriber (`with_default`) races with other test threads that hit
/// the same callsites without one, and loses events. Per-thread buffers keep tests apart.
#[derive(Clone, Default)]
struct Capture(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::thread::ThreadId, String>>>,
);

impl Capture {
    /// The process-wide capture, installed on first use.
    fn global() -> &'static Capture {
        static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone())
                .expect("no other global subscriber in this test binary");
            capture
        })
    }

    fn push(&self, text: &str) {
        let mut map = self.0.lock().unwrap();
        map.entry(std::thread::current().id())
            .or_default()
            .push_str(text);
    }

    /// Everything this thread logged so far.
    fn this_thread(&self) -> String {
        let map = self.0.lock().unwrap();
        map.get(&std::thread::current().id())
            .cloned()
            .unwrap_or_default()
    }
}

impl tracing::field::Visit for Capture {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn core::fmt::Debug) {
        self.push(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
        self.push("\n");
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn traces_never_show_the_password() {
    let capture = Capture::global();
    {
        let clock = Clock::new();
        let mut cfg = config();
        cfg.keep_alive = 10;
        cfg.retry_times = 1;
        let mut s = Session::connect(cfg, clock.at(0));
        s.handle_timeout(clock.at(5)); // CONNECT retransmitted
        s.handle_bytes(&connack(0), clock.at(6));
        s.publish(1, Qos::AtLeastOnce, false, "t", b"x", clock.at(6));
        s.handle_bytes(&publish(1, 2, "t", b"y", false, false), clock.at(6));
        events(&mut s);
        raw(&mut s);
        s.handle_bytes(b"\x00\x00", clock.at(7));
    }
    let log = capture.this_thread();
    assert!(log.contains("mqtt tx CONNECT"), "{log}");
    assert!(log.contains("mqtt rx CONNACK"), "{log}");
    assert!(log.contains("protocol error"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn a_qos2_handshake_a_lost_connection_cut_off_is_finished_on_the_next_one() {
    // MQTT 3.1.1 §4.4, with the session kept: the PUBREL (or the PUBLISH, DUP) again, so the
    // server frees the id; the host was told of the failure, so the end is not reported.
    let clock = Clock::new();
    let mut cfg = config();
    cfg.clean_session = false;
    let mut s = connected(cfg.clone(), &clock);
    s.publish(7, Qos::ExactlyOnce, false, "t", b"a", clock.at(1));
    s.publish(8, Qos::ExactlyOnce, false, "t", b"b", clock.at(1));
    sent(&mut s);
    s.handle_bytes(&enc(&PubrecPacket::new(7)), clock.at(1));
    sent(&mut s);
    let kept = s.kept_state().unwrap();
    let mut next = Session::connect(cfg, clock.at(2));
    next.restore(kept);
    sent(&mut next);
    next.handle_bytes(
        &enc(&ConnackPacket::new(true, ConnectReturnCode::from_u8(0))),
        clock.at(2),
    );
    events(&mut next);
    let raw_packets = raw(&mut next);
    let packets: Vec<VariablePacket> = raw_packets
        .iter()
        .map(|b| VariablePacket::decode(&mut &b[..]).unwrap())
        .collect();
    assert!(
        packets
            .iter()
            .any(|p| matches!(p, VariablePacket::PubrelPacket(r) if r.packet_identifier() == 7)),
        "{packets:?}"
    );
    let again = raw_packets
        .iter()
        .find(|b| {
            matches!(
                VariablePacket::decode(&mut &b[..]),
                Ok(VariablePacket::PublishPacket(_))
            )
        })
        .expect("the PUBLISH of 8 again");
    assert!(dup_bit(again), "sent again with DUP");
    next.handle_bytes(&enc(&PubcompPacket::new(7)), clock.at(3));
    next.handle_bytes(&enc(&PubrecPacket::new(8)), clock.at(3));
    assert_eq!(
        sent(&mut next),
        [VariablePacket::PubrelPacket(PubrelPacket::new(8))]
    );
    next.handle_bytes(&enc(&PubcompPacket::new(8)), clock.at(3));
    assert!(events(&mut next).is_empty(), "nothing reported for them");
    assert_eq!(next.poll_timeout(), None);
}
