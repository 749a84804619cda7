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
    assert_eq!(c.position() as usize, bytes.len(), "one packet per transmit");
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
    assert!(matches!(sent(&mut s)[..], [VariablePacket::ConnectPacket(_)]));
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
        assert_eq!(events(&mut s), [SessionEvent::ConnAck { code }], "code {code}");
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
    s.unsubscribe(2, &["topic/example".to_owned(), "x/#".to_owned()], clock.at(1));
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
        &enc(&SubackPacket::new(9, vec![SubscribeReturnCode::MaximumQoSLevel1])),
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
    s.publish(0, Qos::AtMostOnce, true, "topic/pub", b"This is test data, hello MQTT.", clock.at(1));
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
    assert_eq!(s.poll_timeout(), Some(clock.at(7)), "PUBREL timer from PUBREC");
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
    assert_eq!(dec(&pubrel[0]), VariablePacket::PubrelPacket(PubrelPacket::new(8)));
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
