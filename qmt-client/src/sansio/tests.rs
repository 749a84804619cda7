//! The client core with the module played by hand: scripted bytes, fake time.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qmt_proto::codes::{GrantedQos, StatCode};
use qmt_proto::params::{ClientIdx, Qos, Topic};

use super::*;
use crate::error::PublishFailure;
use crate::recovery::{BackoffConfig, RecoveryEvent};

fn c0() -> ClientIdx {
    ClientIdx::new(0).unwrap()
}

/// A core and a clock; `host` is what the core wrote and the test has not checked yet.
struct H {
    core: ModemCore,
    now: Instant,
    host: Vec<u8>,
    events: Vec<CoreEvent>,
}

impl H {
    fn new(config: CoreConfig) -> H {
        let now = Instant::now();
        let mut h = H {
            core: ModemCore::new(config, now),
            now,
            host: Vec::new(),
            events: Vec::new(),
        };
        h.tick();
        h
    }

    /// A started core (AT, ATE0, CMEE, no stale clients).
    fn ready() -> H {
        let mut h = H::new(CoreConfig::default());
        h.answer("AT", "OK");
        h.answer("ATE0", "OK");
        h.answer("AT+CMEE=2", "OK");
        h.answer("AT+QMTOPEN?", "OK");
        assert!(
            matches!(h.events.remove(0), CoreEvent::Ready(_)),
            "{:?}",
            h.events
        );
        h
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            let n = self.core.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            self.host.extend_from_slice(&buf[..n]);
        }
        while let Some(ev) = self.core.poll_event() {
            self.events.push(ev);
        }
    }

    /// Runs due timers.
    fn tick(&mut self) {
        if let Some(t) = self.core.poll_timeout() {
            if t <= self.now {
                self.core.handle_timeout(self.now);
            }
        }
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(t) = self.core.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.core.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
        self.drain();
    }

    /// Takes what the host wrote.
    fn written(&mut self) -> String {
        self.drain();
        String::from_utf8_lossy(&std::mem::take(&mut self.host)).into_owned()
    }

    /// Asserts the host wrote exactly `cmd` CR.
    fn expect(&mut self, cmd: &str) {
        assert_eq!(self.written(), format!("{cmd}\r"));
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.core.handle_input(bytes, self.now);
        self.drain();
    }

    fn line(&mut self, line: &str) {
        self.feed(format!("\r\n{line}\r\n").as_bytes());
    }

    /// The host wrote `cmd`; the module answers `lines`.
    fn answer(&mut self, cmd: &str, lines: &str) {
        self.expect(cmd);
        for l in lines.split('|') {
            self.line(l);
        }
    }

    fn add(&mut self, options: ClientOptions, recovery: bool) {
        let policy = RecoveryPolicy {
            enabled: recovery,
            backoff: BackoffConfig {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                multiplier: 2,
                jitter: 0.0,
            },
            max_attempts: Some(5),
            seed: 1,
        };
        self.core.add_client(c0(), options, policy, 4).unwrap();
    }

    fn submit(&mut self, r: Request) -> OpId {
        let op = self.core.submit(c0(), r, self.now).unwrap();
        self.drain();
        op
    }

    /// The configure commands of `options`, answered OK.
    fn configure(&mut self, options: &ClientOptions) {
        for (c, _) in options.config_commands(c0()) {
            let text = String::from_utf8(c.to_bytes()).unwrap();
            self.answer(text.trim_end_matches('\r'), "OK");
        }
    }

    /// A client 0 connected on the default options.
    fn connected(recovery: bool) -> (H, ClientOptions) {
        let mut h = H::ready();
        let o = options();
        h.add(o.clone(), recovery);
        let op = h.submit(Request::Connect);
        h.configure(&o);
        h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
        h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
        assert_eq!(h.done(op), Ok(Completion::Connected));
        (h, o)
    }

    /// The outcome of `op` (which must have ended).
    fn done(&mut self, op: OpId) -> Result<Completion, ClientError> {
        self.drain();
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, CoreEvent::Done { op: o, .. } if *o == op))
            .unwrap_or_else(|| panic!("{op:?} not done: {:?}", self.events));
        match self.events.remove(at) {
            CoreEvent::Done { result, .. } => result,
            _ => unreachable!(),
        }
    }

    fn is_done(&self, op: OpId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, CoreEvent::Done { op: o, .. } if *o == op))
    }

    fn client_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            CoreEvent::Client { event, .. } => {
                out.push(event.clone());
                false
            }
            _ => true,
        });
        out
    }
}

fn options() -> ClientOptions {
    ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .build()
        .unwrap()
}

#[test]
fn start_up_syncs_then_is_ready() {
    let h = H::ready();
    assert!(h.core.is_ready());
    assert!(h.events.is_empty());
}

#[test]
fn requests_before_start_up_are_refused() {
    let mut h = H::new(CoreConfig::default());
    h.core
        .add_client(c0(), options(), RecoveryPolicy::disabled(), 4)
        .unwrap();
    assert_eq!(
        h.core.submit(c0(), Request::Connect, h.now),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn a_silent_port_is_probed_with_at_only_and_fails_with_what_to_check() {
    let mut h = H::new(CoreConfig {
        port_name: "/dev/ttyUSB9".into(),
        ..CoreConfig::default()
    });
    let mut probes = 0;
    let start = h.now;
    while !h
        .events
        .iter()
        .any(|e| matches!(e, CoreEvent::StartupFailed(_)))
    {
        let w = h.written();
        if !w.is_empty() {
            assert_eq!(w, "AT\r", "only AT probes, never markers");
            probes += 1;
        }
        h.advance(Duration::from_millis(100));
        assert!(h.now - start < Duration::from_secs(30), "start-up must end");
    }
    // About one probe every 500 ms for the 20 s boot allowance (spec §10.1).
    assert!((38..=42).contains(&probes), "{probes} probes");
    let Some(CoreEvent::StartupFailed(e)) = h.events.pop() else {
        unreachable!()
    };
    assert!(matches!(e, ClientError::NoAnswer { .. }), "{e:?}");
    let text = e.to_string();
    for part in ["/dev/ttyUSB9", "AT", "nothing was heard", "powered", "baud"] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(h.core.poll_timeout().is_none() || !h.core.is_ready());
}

#[test]
fn garbage_at_a_wrong_baud_rate_is_reported_as_such() {
    let mut h = H::new(CoreConfig {
        boot_wait: Duration::from_secs(2),
        ..CoreConfig::default()
    });
    for _ in 0..40 {
        if !h.written().is_empty() {
            h.feed(&[0xf8, 0x80, 0x00, 0xfe, 0x78, 0x80]);
        }
        h.advance(Duration::from_millis(100));
    }
    let e = h
        .events
        .iter()
        .find_map(|e| match e {
            CoreEvent::StartupFailed(e) => Some(e.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(e.contains("not AT output") && e.contains("f88000fe"), "{e}");
}

#[test]
fn a_module_that_boots_late_is_found() {
    let mut h = H::new(CoreConfig::default());
    for _ in 0..6 {
        assert_eq!(h.written(), "AT\r");
        h.advance(Duration::from_millis(500));
    }
    // RDY, then the next probe is answered.
    h.line("RDY");
    // From now on the module answers every command in order; a probe's OK may be taken as a
    // late answer of an earlier one: the link resynchronises, then start-up goes on.
    let mut sent = Vec::new();
    for _ in 0..40 {
        let w = h.written();
        if w.is_empty() {
            h.advance(Duration::from_millis(100));
        }
        for cmd in w.split_terminator('\r') {
            sent.push(cmd.to_owned());
            if cmd == "AT+QMTOPEN=?" {
                h.line("+QMTOPEN: (0-5),\"<host_name>\",(1-65535)");
            }
            h.line("OK");
        }
        if h.core.is_ready() {
            break;
        }
    }
    assert!(h.core.is_ready(), "{sent:?}");
    for cmd in ["ATE0", "AT+CMEE=2", "AT+QMTOPEN?"] {
        assert_eq!(sent.iter().filter(|c| *c == cmd).count(), 1, "{sent:?}");
    }
    let Some(CoreEvent::Ready(s)) = h.events.first().cloned() else {
        panic!("{:?}", h.events)
    };
    assert!(s.rdy_seen && s.sync_attempts >= 7, "{s:?}");
}

#[test]
fn stale_clients_are_disconnected_and_closed() {
    let mut h = H::new(CoreConfig::default());
    h.answer("AT", "OK");
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    h.answer("AT+QMTOPEN?", "+QMTOPEN: 1,\"old\",1883|OK");
    h.answer("AT+QMTCONN?", "+QMTCONN: 1,3|OK");
    h.answer("AT+QMTDISC=1", "OK|+QMTDISC: 1,0");
    h.answer("AT+QMTOPEN?", "OK");
    let Some(CoreEvent::Ready(s)) = h.events.pop() else {
        panic!("{:?}", h.events)
    };
    assert_eq!(s.closed_stale, [ClientIdx::new(1).unwrap()]);
}

#[test]
fn the_split_recv_form_delivers_the_payload() {
    // Issue 13 defect 1: msg_len_enable=1 and a header ending in the length.
    let (mut h, _) = H::connected(false);
    h.feed(b"\r\n+QMTRECV: 0,1,\"t/in\",54\r\n{\"method\":\"setValue\",\"params\":{\"relay1\":1,\"relay2\":0}}\r\n");
    let events = h.client_events();
    let [Event::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.topic(), "t/in");
    assert_eq!(
        m.payload(),
        br#"{"method":"setValue","params":{"relay1":1,"relay2":0}}"#
    );
}

#[test]
fn a_stat_before_a_conn_error_is_the_reported_cause_without_waiting() {
    let mut h = H::ready();
    let o = options();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.expect("AT+QMTCONN=0,\"dev\"");
    // Wire order: the server's drop, then the refusal of the CONN.
    h.feed(b"\r\n+QMTSTAT: 0,1\r\n\r\n+CME ERROR: 3\r\n");
    h.answer("AT+QMTCLOSE=0", "OK|+QMTCLOSE: 0,0");
    match h.done(op) {
        Err(ClientError::LinkLost { code, .. }) => assert_eq!(code, StatCode::ClosedByPeer),
        other => panic!("{other:?}"),
    }
}

/// Recovery after a loss: configure, open, connect (and what follows is the test's).
fn recover(h: &mut H, o: &ClientOptions) {
    h.advance(Duration::from_millis(150));
    h.configure(o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
}

#[test]
fn a_link_lost_during_subscribe_is_recovered_and_the_subscribe_completes() {
    // Issue 13 defect 2.
    let (mut h, o) = H::connected(true);
    let op = h.submit(Request::Subscribe(vec![(
        Topic::new("t/#").unwrap(),
        Qos::AtLeastOnce,
    )]));
    h.answer("AT+QMTSUB=0,1,\"t/#\",1", "OK|+QMTSTAT: 0,1");
    assert!(!h.is_done(op), "carried into recovery: {:?}", h.events);
    recover(&mut h, &o);
    h.answer("AT+QMTSUB=0,2,\"t/#\",1", "OK|+QMTSUB: 0,2,0,1");
    assert_eq!(
        h.done(op),
        Ok(Completion::Subscribed {
            granted: vec![GrantedQos::AtLeastOnce]
        })
    );
    let events = h.client_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Recovery {
                event: RecoveryEvent::Restored {
                    resubscribed: 1,
                    ..
                },
                ..
            }
        )),
        "{events:?}"
    );
    // Messages flow on the recovered subscription.
    h.line("+QMTRECV: 0,0,\"t/x\",5,hello");
    assert!(matches!(h.client_events().as_slice(), [Event::Message(m)] if m.payload() == b"hello"));
}

#[test]
fn a_link_lost_during_unsubscribe_unsubscribes_after_the_reconnect() {
    let (mut h, o) = H::connected(true);
    let sub = h.submit(Request::Subscribe(vec![(
        Topic::new("a").unwrap(),
        Qos::AtMostOnce,
    )]));
    h.answer("AT+QMTSUB=0,1,\"a\",0", "OK|+QMTSUB: 0,1,0,0");
    assert!(h.done(sub).is_ok());
    let op = h.submit(Request::Unsubscribe(vec![Topic::new("a").unwrap()]));
    h.answer("AT+QMTUNS=0,2,\"a\"", "OK|+QMTSTAT: 0,1");
    recover(&mut h, &o);
    // The filter is not subscribed again; it is unsubscribed (a persistent session keeps it).
    h.answer("AT+QMTUNS=0,3,\"a\"", "OK|+QMTUNS: 0,3,0");
    assert_eq!(h.done(op), Ok(Completion::Unsubscribed));
    assert_eq!(h.written(), "");
}

#[test]
fn a_link_lost_during_connect_is_recovered_and_connect_returns_after_it() {
    let mut h = H::ready();
    let o = options();
    h.add(o.clone(), true);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTSTAT: 0,1");
    assert!(!h.is_done(op));
    recover(&mut h, &o);
    assert_eq!(h.done(op), Ok(Completion::Connected));
}

#[test]
fn an_open_that_fails_is_reported_even_with_recovery() {
    let mut h = H::ready();
    let o = options();
    h.add(o.clone(), true);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,3");
    assert!(matches!(h.done(op), Err(ClientError::OpenFailed { .. })));
}

#[test]
fn a_link_lost_during_open_in_recovery_is_retried() {
    let (mut h, o) = H::connected(true);
    h.line("+QMTSTAT: 0,1");
    h.advance(Duration::from_millis(150));
    h.configure(&o);
    // The module drops again while opening: the attempt fails, the next one succeeds.
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,-1");
    // The second attempt's backoff is 200 ms.
    h.advance(Duration::from_millis(100));
    recover(&mut h, &o);
    let events = h.client_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Recovery {
                event: RecoveryEvent::Restored { attempts: 2, .. },
                ..
            }
        )),
        "{events:?}"
    );
}

#[test]
fn a_link_lost_during_publish_fails_it_loudly_and_recovers() {
    let (mut h, o) = H::connected(true);
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: Qos::AtLeastOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,1,1,0,\"t\",1");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "x");
    h.feed(b"\r\nOK\r\n\r\n+QMTSTAT: 0,1\r\n");
    assert!(matches!(
        h.done(op),
        Err(ClientError::PublishFailed {
            cause: PublishFailure::LinkLost(StatCode::ClosedByPeer),
            ..
        })
    ));
    assert!(
        h.client_events()
            .iter()
            .any(|e| matches!(e, Event::PublishFailed { msgid: 1, .. }))
    );
    recover(&mut h, &o);
    assert!(h.core.is_open(c0()));
}

#[test]
fn a_restart_during_a_slot_read_reports_the_lost_message() {
    let mut h = H::ready();
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .recv_mode(qmt_proto::cfg::MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert!(h.done(op).is_ok());
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,0,0,0|OK");
    h.line("+QMTRECV: 0,2");
    h.expect("AT+QMTRECV=0,2");
    h.line("RDY");
    let events = h.client_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Lagged {
                dropped: 1,
                source: LagSource::ModuleRestart
            }
        )),
        "{events:?}"
    );
}

#[test]
fn buffered_reads_wait_for_the_consumer() {
    let mut h = H::ready();
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .recv_mode(qmt_proto::cfg::MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    h.core
        .add_client(c0(), o.clone(), RecoveryPolicy::disabled(), 1)
        .unwrap();
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert!(h.done(op).is_ok());
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,0,0,0|OK");
    h.line("+QMTRECV: 0,0");
    h.line("+QMTRECV: 0,1");
    h.answer("AT+QMTRECV=0,0", "+QMTRECV: 0,1,\"t\",1,a|OK");
    // The consumer (capacity 1) holds one: the second slot waits in the module.
    assert_eq!(h.written(), "");
    assert!(h.core.is_full(c0()));
    h.core.consumed(c0(), 1, h.now);
    h.answer("AT+QMTRECV=0,1", "+QMTRECV: 0,2,\"t\",1,b|OK");
    let payloads: Vec<Vec<u8>> = h
        .client_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload().to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn a_full_consumer_stops_input_until_it_takes_messages() {
    let (mut h, _) = H::connected(false);
    for n in 0..4 {
        assert!(h.core.wants_input(), "{n}");
        h.line(&format!("+QMTRECV: 0,0,\"t\",1,{n}"));
    }
    // Capacity 4: the driver must stop reading now; nothing was dropped.
    assert!(!h.core.wants_input());
    assert_eq!(h.client_events().len(), 4);
    h.core.consumed(c0(), 2, h.now);
    assert!(h.core.wants_input());
}

#[test]
fn each_line_is_parsed_once() {
    let (mut h, _) = H::connected(false);
    let before = h.core.stats().link;
    let mut burst = Vec::new();
    for n in 0..100 {
        burst.extend_from_slice(
            format!("\r\n+QMTRECV: 0,0,\"b/x\",{},{n}\r\n", n.to_string().len()).as_bytes(),
        );
        h.core.consumed(c0(), 1, h.now);
    }
    h.feed(&burst);
    let after = h.core.stats().link;
    assert_eq!(after.lines - before.lines, 100);
    assert_eq!(after.parses - before.parses, 100);
    assert_eq!(h.client_events().len(), 100);
}

#[test]
fn events_keep_wire_order_across_a_loss() {
    let (mut h, _) = H::connected(false);
    h.feed(b"\r\n+QMTRECV: 0,0,\"t\",1,a\r\n\r\n+QMTSTAT: 0,1\r\n\r\n+QMTRECV: 0,0,\"t\",1,b\r\n");
    let kinds: Vec<&str> = h
        .client_events()
        .iter()
        .map(|e| match e {
            Event::Message(m) if m.payload() == b"a" => "a",
            Event::Message(_) => "b",
            Event::LinkLost { .. } => "lost",
            Event::Recovery { .. } => "recovery",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["a", "lost", "b"]);
}

#[test]
fn a_buffered_client_reads_what_its_slots_held_before_it_connected() {
    let mut h = H::ready();
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .recv_mode(qmt_proto::cfg::MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert!(h.done(op).is_ok());
    // A persistent session's message, stored while this host was away: announced to nobody.
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,1,0,0|OK");
    h.answer("AT+QMTRECV=0,2", "+QMTRECV: 0,9,\"t\",3,old|OK");
    assert!(matches!(h.client_events().as_slice(), [Event::Message(m)] if m.payload() == b"old"));
}
