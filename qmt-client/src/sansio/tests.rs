//! The client core with the module played by hand: scripted bytes, fake time.

#![allow(clippy::unwrap_used)]

use core::time::Duration;

use qmt_proto::codes::{GrantedQos, StatCode};
use qmt_proto::params::{ClientIdx, Qos, Topic};
use qmt_transport::time::Instant;

use super::*;
use crate::error::PublishFailure;
use crate::event::ReceivedQos;
use crate::recovery::{BackoffConfig, RecoveryEvent};
use qmt_proto::uart::{BaudRate, FlowControl};

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
        let now = Instant::ZERO;
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

    /// Drains output and events until neither gives anything (the call-order contract).
    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            let mut progress = false;
            loop {
                let n = self.core.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                progress = true;
                self.host.extend_from_slice(&buf[..n]);
            }
            while let Some(ev) = self.core.poll_event() {
                progress = true;
                self.events.push(ev);
            }
            if !progress {
                break;
            }
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
        String::from_utf8_lossy(&core::mem::take(&mut self.host)).into_owned()
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
        let o = options();
        (H::connected_with(&o, recovery), o)
    }

    /// A client 0 connected on `o` (host `broker`, client id `dev`).
    fn connected_with(o: &ClientOptions, recovery: bool) -> H {
        let mut h = H::ready();
        h.add(o.clone(), recovery);
        let op = h.submit(Request::Connect);
        h.configure(o);
        h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
        h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
        assert_eq!(h.done(op), Ok(Completion::Connected));
        h
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
fn a_connect_on_an_index_the_module_still_has_open_closes_it_first_and_goes_on() {
    // Client 0 connected, then removed (its handles dropped): the module-side client is left
    // open and connected, as `remove_client` says.
    let (mut h, o) = H::connected(false);
    h.core.remove_client(c0(), h.now);
    h.drain();
    assert_eq!(h.written(), "");
    // A new client on index 0 connects: the open finds the index occupied (`+QMTOPEN: 0,2`),
    // closes it, opens again and connects.
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,2");
    h.answer("AT+QMTCLOSE=0", "OK|+QMTCLOSE: 0,0");
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
    assert!(h.core.is_open(c0()));
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
    // The failure is diagnosed (spec §10.6): SIM, registration, signal, contexts all fine, so
    // the module's own result stands.
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.answer("AT+CGREG?", "+CGREG: 0,1|OK");
    h.answer("AT+CEREG?", "+CEREG: 0,1|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.0.0.2\"|OK");
    assert!(matches!(h.done(op), Err(ClientError::OpenFailed { .. })));
}

#[test]
fn a_failed_open_without_bring_up_names_the_missing_bearer() {
    for (answers, want) in [
        (
            [
                "+CME ERROR: 10",
                "+CGREG: 0,0|OK",
                "+CEREG: 0,0|OK",
                "+CSQ: 99,99|OK",
                "OK",
            ],
            ClientError::SimNotInserted,
        ),
        (
            [
                "+CPIN: READY|OK",
                "+CGREG: 0,2|OK",
                "+CEREG: 0,2|OK",
                "+CSQ: 18,99|OK",
                "OK",
            ],
            ClientError::NotRegistered {
                stat: qmt_proto::RegStat::Searching,
                waited: Duration::ZERO,
            },
        ),
        (
            [
                "+CPIN: READY|OK",
                "+CGREG: 0,1|OK",
                "+CEREG: 0,1|OK",
                "+CSQ: 18,99|OK",
                "OK",
            ],
            ClientError::NoDataContext { cid: 1 },
        ),
    ] {
        let mut h = H::ready();
        let o = options();
        h.add(o.clone(), false);
        let op = h.submit(Request::Connect);
        h.configure(&o);
        h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,3");
        for (cmd, a) in ["AT+CPIN?", "AT+CGREG?", "AT+CEREG?", "AT+CSQ", "AT+QIACT?"]
            .iter()
            .zip(answers)
        {
            h.answer(cmd, a);
        }
        assert_eq!(h.done(op), Err(want));
    }
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

// ------------------------------------------------------------------------------------------------
// Bring-up, status and the recovery ladder (spec §10; `network.rs`).

fn net_config() -> NetworkConfig {
    NetworkConfig::with_apn("internet").unwrap()
}

impl H {
    /// Synchronised with bring-up configured; the host has just written the first identity
    /// query.
    fn syncing(network: NetworkConfig) -> H {
        let mut h = H::new(CoreConfig {
            network: Some(network),
            ..CoreConfig::default()
        });
        h.answer("AT", "OK");
        h.answer("ATE0", "OK");
        h.answer("AT+CMEE=2", "OK");
        h.answer("AT+QMTOPEN?", "OK");
        h
    }

    /// Identity answered, the SIM asked.
    fn at_sim(network: NetworkConfig) -> H {
        let mut h = H::syncing(network);
        h.answer("AT+CGMM", "EC200U|OK");
        h.answer("AT+CGMR", "EC200UCNAAR02A01M08|OK");
        h.answer("AT+GSN", "866123456789012|OK");
        h.answer("AT+QCCID", "+QCCID: 89860012345678901234|OK");
        h
    }

    /// SIM ready, URC modes set: the first registration poll is out.
    fn at_registration(network: NetworkConfig) -> H {
        let mut h = H::at_sim(network);
        h.answer("AT+CPIN?", "+CPIN: READY|OK");
        h.answer("AT+CGREG=2", "OK");
        h.answer("AT+CEREG=2", "OK");
        h
    }

    /// The whole bring-up on a cold module: a context activated with `internet`.
    fn up() -> H {
        let mut h = H::at_registration(net_config());
        h.answer("AT+CGREG?", "+CGREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
        h.answer("AT+CEREG?", "+CEREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
        h.answer("AT+CSQ", "+CSQ: 20,99|OK");
        h.answer("AT+QICSGP=1", "+QICSGP: 1,\"\",\"\",\"\",0|OK");
        h.answer("AT+QICSGP=1,1,\"internet\",\"\",\"\",0", "OK");
        h.answer("AT+QIACT?", "OK");
        h.answer("AT+QIACT=1", "OK");
        h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.7\"|OK");
        h
    }

    fn stages(&mut self) -> Vec<Stage> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            CoreEvent::Stage(s) => {
                out.push(s.clone());
                false
            }
            _ => true,
        });
        out
    }

    fn startup_failure(&mut self) -> ClientError {
        self.drain();
        match self
            .events
            .iter()
            .position(|e| matches!(e, CoreEvent::StartupFailed(_)))
        {
            Some(at) => match self.events.remove(at) {
                CoreEvent::StartupFailed(e) => e,
                _ => unreachable!(),
            },
            None => panic!("start-up did not fail: {:?}", self.events),
        }
    }
}

#[test]
fn a_cold_module_is_brought_up_stage_by_stage_then_ready() {
    let mut h = H::up();
    let stages = h.stages();
    assert_eq!(
        stages,
        [
            Stage::Identify,
            Stage::Sim,
            Stage::Apn,
            Stage::Pdp,
            Stage::Up {
                ip: Some("10.64.1.7".to_owned())
            },
        ]
    );
    let Some(CoreEvent::Ready(startup)) = h.events.first().cloned() else {
        panic!("{:?}", h.events);
    };
    let net = startup.network.unwrap();
    assert_eq!(net.model.as_deref(), Some("EC200U"));
    assert_eq!(net.firmware.as_deref(), Some("EC200UCNAAR02A01M08"));
    assert_eq!(net.imei.as_deref(), Some("866123456789012"));
    assert_eq!(net.iccid.as_deref(), Some("89860012345678901234"));
    assert_eq!(net.sim, SimState::Ready);
    assert!(net.registered());
    assert_eq!(net.signal_dbm(), Some(-73));
    assert!(h.core.is_ready());
    assert!(h.core.network_up());
}

#[test]
fn bring_up_waits_for_registration_by_poll_and_by_urc() {
    let mut h = H::at_registration(NetworkConfig::default());
    h.answer("AT+CGREG?", "+CGREG: 2,2|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,2|OK");
    h.answer("AT+CSQ", "+CSQ: 14,99|OK");
    let stages = h.stages();
    assert!(
        matches!(
            stages.last(),
            Some(Stage::Registration {
                stat: qmt_proto::RegStat::Searching,
                ..
            })
        ),
        "{stages:?}"
    );
    assert!(!h.core.is_ready());
    // No URC: the next poll after the interval.
    h.advance(Duration::from_secs(2));
    h.answer("AT+CGREG?", "+CGREG: 2,2|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,2|OK");
    h.answer("AT+CSQ", "+CSQ: 14,99|OK");
    // A URC in the URC shape moves it on at once (no APN configured: straight to the context,
    // which is active already and reused).
    h.line("+CEREG: 5,\"1A2B\",\"01C3D04\",7");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.0.0.2\"|OK");
    assert!(h.core.is_ready(), "{:?}", h.events);
    assert_eq!(h.written(), "");
}

#[test]
fn no_sim_pin_and_puk_are_typed_errors() {
    let mut h = H::at_sim(net_config());
    h.answer("AT+CPIN?", "+CME ERROR: SIM not inserted");
    assert_eq!(h.startup_failure(), ClientError::SimNotInserted);

    let mut h = H::at_sim(net_config());
    h.answer("AT+CPIN?", "+CPIN: SIM PIN|OK");
    assert_eq!(h.startup_failure(), ClientError::SimPinRequired);

    let mut h = H::at_sim(net_config());
    h.answer("AT+CPIN?", "+CPIN: SIM PUK|OK");
    assert_eq!(h.startup_failure(), ClientError::SimPukRequired);
}

#[test]
fn the_pin_is_entered_once_and_a_wrong_one_is_not_retried() {
    let config = net_config().pin("1234").unwrap();
    assert!(!format!("{config:?}").contains("1234"));
    let mut h = H::at_sim(config.clone());
    h.answer("AT+CPIN?", "+CPIN: SIM PIN|OK");
    h.answer("AT+CPIN=\"1234\"", "+CME ERROR: 16");
    let e = h.startup_failure();
    assert_eq!(e, ClientError::SimPinWrong);
    assert!(!e.to_string().contains("1234"));
    assert_eq!(h.written(), "");

    // The right PIN: OK, then READY (asked again shortly; the URC counts too).
    let mut h = H::at_sim(config);
    h.answer("AT+CPIN?", "+CPIN: SIM PIN|OK");
    h.answer("AT+CPIN=\"1234\"", "OK");
    h.line("+CPIN: READY");
    h.advance(Duration::from_millis(500));
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.expect("AT+CGREG=2");
}

#[test]
fn a_busy_sim_is_asked_again_until_the_sim_wait() {
    let mut h = H::at_sim(net_config());
    h.answer("AT+CPIN?", "+CME ERROR: SIM busy");
    assert_eq!(h.written(), "");
    h.advance(Duration::from_secs(1));
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.expect("AT+CGREG=2");
}

#[test]
fn denial_no_signal_and_no_registration_are_told_apart() {
    let mut h = H::at_registration(net_config());
    h.answer("AT+CGREG?", "+CGREG: 2,3|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,3|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    assert_eq!(h.startup_failure(), ClientError::RegistrationDenied);

    for (csq, no_signal) in [("+CSQ: 99,99", true), ("+CSQ: 9,99", false)] {
        let mut h = H::at_registration(net_config());
        for _ in 0..31 {
            h.answer("AT+CGREG?", "+CGREG: 2,2|OK");
            h.answer("AT+CEREG?", "+CEREG: 2,2|OK");
            h.answer("AT+CSQ", &format!("{csq}|OK"));
            if h.events
                .iter()
                .any(|e| matches!(e, CoreEvent::StartupFailed(_)))
            {
                break;
            }
            h.advance(Duration::from_secs(2));
        }
        match h.startup_failure() {
            ClientError::NoSignal { waited } => {
                assert!(no_signal);
                assert!(waited >= Duration::from_secs(60));
            }
            ClientError::NotRegistered { stat, waited } => {
                assert!(!no_signal);
                assert_eq!(stat, qmt_proto::RegStat::Searching);
                assert!(waited >= Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_failed_activation_is_retried_after_a_deactivation_then_named() {
    let mut h = H::at_registration(net_config());
    h.answer("AT+CGREG?", "+CGREG: 2,1|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    // The APN is already right: no AT+QICSGP write.
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QIACT=1", "ERROR");
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "ERROR");
    assert_eq!(
        h.startup_failure(),
        ClientError::PdpActivationFailed {
            apn: "internet".to_owned()
        }
    );
}

#[test]
fn a_pdpdeact_is_repaired_before_recovery_reopens() {
    let mut h = H::up();
    h.events.clear();
    let o = options();
    h.add(o.clone(), true);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
    h.events.clear();

    // The network takes the bearer away; the module drops the client.
    h.line("+QIURC: \"pdpdeact\",1");
    h.line("+QMTSTAT: 0,1");
    h.answer("AT+QIDEACT=1", "OK");
    // Recovery's backoff passes while the bearer is down: nothing reopens before it is up.
    h.advance(Duration::from_millis(300));
    h.answer("AT+QIACT=1", "OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.8\"|OK");
    let stages = h.stages();
    assert_eq!(
        stages,
        [
            Stage::Repair(Rung::PdpReset),
            Stage::Up {
                ip: Some("10.64.1.8".to_owned())
            }
        ]
    );
    // Then recovery, whose backoff has passed, reopens and reconnects at once.
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert!(h.core.is_open(c0()), "{:?}", h.events);
    assert!(h.written().is_empty());
}

#[test]
fn a_context_the_network_dropped_while_unregistered_is_deactivated_before_reactivation() {
    // Regression (issue 14, found end to end): the pdpdeact that comes with a lost registration
    // arrives while the ladder waits for registration; once registered again, the context was
    // activated straight away, which the module refuses until AT+QIDEACT (spec §10.6), so one
    // of the two activation attempts was spent on a refusal.
    let mut h = H::up();
    h.events.clear();
    h.line("+CGREG: 2");
    h.line("+CEREG: 2");
    assert_eq!(h.stages(), [Stage::Repair(Rung::WaitRegistration)]);
    h.line("+QIURC: \"pdpdeact\",1");
    assert_eq!(h.written(), "");
    h.line("+CEREG: 1,\"1A2B\",\"01C3D04\",7");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.9\"|OK");
    assert_eq!(
        h.stages(),
        [
            Stage::Pdp,
            Stage::Up {
                ip: Some("10.64.1.9".to_owned())
            }
        ]
    );
    assert!(h.core.network_up());
    assert_eq!(h.written(), "");
}

/// Registration comes back after a radio cycle or a reset; the context is read and activation
/// fails twice (with the deactivation between): the ladder's next rung follows.
fn registered_then_activation_fails(h: &mut H) {
    h.answer("AT+CGREG=2", "OK");
    h.answer("AT+CEREG=2", "OK");
    h.answer("AT+CGREG?", "+CGREG: 2,1|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QIACT=1", "ERROR");
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "ERROR");
}

fn radio_cycle(h: &mut H) {
    h.answer("AT+CFUN=0", "OK");
    h.answer("AT+CFUN=1", "OK");
}

#[test]
fn module_resets_are_rate_limited_and_the_next_escalation_cycles_the_radio() {
    let config = NetworkConfig {
        resets_per_hour: 1,
        ..net_config()
    };
    let mut h = H::at_registration(config);
    h.answer("AT+CGREG?", "+CGREG: 2,1|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.7\"|OK");
    assert!(h.core.is_ready() && h.core.network_up());
    h.events.clear();

    // The bearer is lost and activation keeps failing: PDP reset, radio cycle, module reset.
    h.line("+QIURC: \"pdpdeact\",1");
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "ERROR");
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "ERROR");
    radio_cycle(&mut h);
    registered_then_activation_fails(&mut h);
    h.answer("AT+CFUN=1,1", "OK");
    assert_eq!(h.written(), "", "nothing until the module restarted");
    h.line("RDY");
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    // After the restart it still fails: a radio cycle, then the escalation that would reset the
    // module cycles the radio again (one reset an hour), and again.
    registered_then_activation_fails(&mut h);
    radio_cycle(&mut h);
    registered_then_activation_fails(&mut h);
    radio_cycle(&mut h);
    registered_then_activation_fails(&mut h);
    radio_cycle(&mut h);
    let repairs: Vec<Rung> = h
        .stages()
        .into_iter()
        .filter_map(|s| match s {
            Stage::Repair(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        repairs,
        [
            Rung::PdpReset,
            Rung::RadioCycle,
            Rung::ModuleReset,
            Rung::RadioCycle,
            Rung::RadioCycle,
            Rung::RadioCycle,
        ]
    );
    // An hour after the reset (the clock jumps: no timer is due meanwhile but the answer to
    // the command on the wire), the next escalation may reset again.
    h.now += Duration::from_secs(3600);
    registered_then_activation_fails(&mut h);
    h.answer("AT+CFUN=1,1", "OK");
    assert!(
        h.stages().contains(&Stage::Repair(Rung::ModuleReset)),
        "{:?}",
        h.events
    );
}

#[test]
fn a_registration_urc_during_the_query_is_a_urc_and_the_answer_is_the_query_s() {
    let mut h = H::at_registration(NetworkConfig::default());
    h.answer("AT+CGREG?", "+CGREG: 2,2|OK");
    // The spec's pair, in one feed: the URC (stat 1) while AT+CEREG? is in flight, then the
    // query answer (n 2, stat 2: searching still, as the query was answered first).
    h.expect("AT+CEREG?");
    h.feed(b"\r\n+CEREG: 1,\"1A2B\",\"01C3D04\",7\r\n\r\n+CEREG: 2,2,\"1A2B\",\"01C3D04\",7\r\n\r\nOK\r\n");
    // The query answer is what the step decides on (searching); the URC that came during it
    // was registered, which the next poll or URC confirms.
    assert_eq!(
        h.core.network().cereg.as_ref().map(|r| r.stat),
        Some(qmt_proto::RegStat::Searching)
    );
}

#[test]
fn status_asks_everything_and_tolerates_refusals() {
    let mut h = H::ready();
    let op = h.core.query_status(h.now).unwrap();
    h.answer("AT+CGMI", "Quectel|OK");
    h.answer("AT+CGMM", "EC200U|OK");
    h.answer("AT+CGMR", "EC200UCNAAR02A01M08|OK");
    h.answer("AT+GSN", "866123456789012|OK");
    h.answer("AT+QCCID", "+CME ERROR: SIM not inserted");
    h.answer("AT+CPIN?", "+CME ERROR: SIM not inserted");
    h.answer("AT+COPS?", "+COPS: 0|OK");
    h.answer("AT+QNWINFO", "+QNWINFO: No Service|OK");
    h.answer("AT+CREG?", "+CREG: 0,0|OK");
    h.answer("AT+CGREG?", "+CGREG: 0,0|OK");
    h.answer("AT+CEREG?", "+CEREG: 0,0|OK");
    h.answer("AT+CSQ", "+CSQ: 99,99|OK");
    h.answer("AT+QCSQ", "+QCSQ: \"NOSERVICE\"|OK");
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QMTOPEN?", "OK");
    h.answer("AT+QMTCONN?", "OK");
    let Ok(Completion::Status(s)) = h.done(op) else {
        panic!()
    };
    assert_eq!(s.manufacturer.as_deref(), Some("Quectel"));
    assert_eq!(s.model.as_deref(), Some("EC200U"));
    assert_eq!(s.iccid, None);
    assert_eq!(s.sim, SimState::NotInserted);
    assert!(!s.registered());
    assert_eq!(s.signal_dbm(), None);
    assert_eq!(s.access.as_deref(), Some("No Service"));
    assert!(s.pdp.is_empty());
}

#[test]
fn a_cereg_loss_counts_even_when_cgreg_said_registered_last() {
    let mut h = H::up();
    h.events.clear();
    // An LTE Cat 1 module that reports only +CEREG: the loss is noticed.
    h.line("+CEREG: 2");
    assert_eq!(h.stages(), [Stage::Repair(Rung::WaitRegistration)]);
    // Back: the bearer is checked again before MQTT goes on.
    h.line("+CEREG: 1");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.7\"|OK");
    assert_eq!(
        h.stages(),
        [
            Stage::Pdp,
            Stage::Up {
                ip: Some("10.64.1.7".to_owned())
            }
        ]
    );
}

#[test]
fn a_sim_pulled_and_put_back_is_waited_for_then_brought_up_again() {
    let mut h = H::up();
    h.events.clear();
    h.line("+CPIN: NOT READY");
    h.line("+CEREG: 0");
    assert_eq!(h.stages(), [Stage::Repair(Rung::WaitSim)]);
    assert!(!h.core.network_up());
    // Nothing is asked while the SIM is out (before the retry).
    h.advance(Duration::from_secs(10));
    assert_eq!(h.written(), "");
    // The SIM is back: bring-up goes on from the SIM at once.
    h.line("+CPIN: READY");
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.stages(),
        [Stage::Repair(Rung::WaitRegistration), Stage::Sim]
    );
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.answer("AT+CGREG=2", "OK");
    h.answer("AT+CEREG=2", "OK");
    h.answer("AT+CGREG?", "+CGREG: 2,1|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"internet\",\"\",\"\",0|OK");
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QIACT=1", "OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.9\"|OK");
    assert!(h.core.network_up());
}

#[test]
fn a_repair_that_fails_is_said_and_tried_again_later() {
    let mut h = H::up();
    h.events.clear();
    h.line("+CPIN: NOT READY");
    h.stages();
    // The retry finds no SIM: said once, tried again later.
    h.advance(Duration::from_secs(30));
    h.answer("AT+CPIN?", "+CME ERROR: 10");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, CoreEvent::NetworkFailed(ClientError::SimNotInserted))),
        "{:?}",
        h.events
    );
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, CoreEvent::StartupFailed(_)))
    );
    h.advance(Duration::from_secs(30));
    h.expect("AT+CPIN?");
}

#[test]
fn a_restart_while_the_sim_is_out_comes_back_when_the_sim_does() {
    let mut h = H::up();
    h.events.clear();
    h.line("+CPIN: NOT READY");
    // The module restarts (power cycle) with the SIM still out: start-up's echo and errors go
    // again, then the SIM is asked, and its absence is said, not final.
    h.line("RDY");
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    h.answer("AT+CPIN?", "+CME ERROR: 10");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, CoreEvent::NetworkFailed(ClientError::SimNotInserted))),
        "{:?}",
        h.events
    );
    // The SIM is put back: bring-up goes on at once.
    h.line("+CPIN: READY");
    h.advance(Duration::from_millis(1));
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.expect("AT+CGREG=2");
}

#[test]
fn a_ping_failure_of_an_index_that_is_not_ours_resets_nothing() {
    let mut h = H::up();
    h.events.clear();
    // A stray line for client 5, which this host never created: the bearer is left alone.
    h.line("+QMTPING: 5,1");
    h.line("+QMTSTAT: 5,2");
    assert_eq!(h.written(), "");
    assert!(h.stages().is_empty());
    // The same for a client of ours: the spec's PDP reset.
    let o = options();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK|+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
    h.line("+QMTSTAT: 0,2");
    assert_eq!(h.stages(), [Stage::Repair(Rung::PdpReset)]);
    h.expect("AT+QIDEACT=1");
}

#[test]
fn a_resend_of_a_delivered_message_after_a_persistent_reconnect_is_dropped() {
    // Found by the 30-minute soak: messages delivered, their PUBRECs lost in a stalled link, then
    // the module restarted (forgetting them) and the broker sent them again after the reconnect.
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .clean_session(false)
        .build()
        .unwrap();
    let mut h = H::connected_with(&o, true);
    h.line("+QMTRECV: 0,5,\"t/x\",2,s5");
    h.line("+QMTRECV: 0,6,\"t/x\",2,s6");
    assert_eq!(h.client_events().len(), 2);
    h.line("+QMTSTAT: 0,1");
    recover(&mut h, &o);
    h.drain();
    // The broker's resends come first, then what is new.
    h.line("+QMTRECV: 0,5,\"t/x\",2,s5");
    h.line("+QMTRECV: 0,6,\"t/x\",2,s6");
    h.line("+QMTRECV: 0,7,\"t/x\",2,s7");
    // After the first new message, the same id, topic and payload is a new message again.
    h.line("+QMTRECV: 0,5,\"t/x\",2,s5");
    let got: Vec<(u16, Vec<u8>)> = h
        .client_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.msgid.get(), m.payload().to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(7, b"s7".to_vec()), (5, b"s5".to_vec())]);
    assert_eq!(h.core.stats().redeliveries_dropped, 2);
}

#[test]
fn a_numbered_qos_0_message_is_typed_qos_0_and_never_dropped_as_a_resend() {
    // Some BG9x firmware numbers every message, QoS 0 included: `+QMTRECV: 0,5,…` on a filter
    // granted QoS 0 is a QoS 0 message, and the same number, topic and payload after a persistent
    // reconnect (the module numbers again, a sensor repeats its reading) is a new message.
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .clean_session(false)
        .build()
        .unwrap();
    let mut h = H::connected_with(&o, true);
    let sub = h.submit(Request::Subscribe(vec![(
        Topic::new("sensors/#").unwrap(),
        Qos::AtMostOnce,
    )]));
    h.answer("AT+QMTSUB=0,1,\"sensors/#\",0", "OK|+QMTSUB: 0,1,0,0");
    assert!(h.done(sub).is_ok());
    h.drain();
    h.line("+QMTRECV: 0,5,\"sensors/t\",2,21");
    // A topic the QoS 0 filter does not cover keeps the msgid's word: QoS 1/2.
    h.line("+QMTRECV: 0,6,\"other\",2,on");
    h.line("+QMTSTAT: 0,1");
    recover(&mut h, &o);
    h.answer("AT+QMTSUB=0,2,\"sensors/#\",0", "OK|+QMTSUB: 0,2,0,0");
    h.line("+QMTRECV: 0,5,\"sensors/t\",2,21");
    h.line("+QMTRECV: 0,6,\"other\",2,on");
    let got: Vec<(u16, String, ReceivedQos)> = h
        .client_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.msgid.get(), m.topic().to_owned(), m.qos)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            (5, "sensors/t".to_owned(), ReceivedQos::AtMostOnce),
            (6, "other".to_owned(), ReceivedQos::AtLeastOnce),
            (5, "sensors/t".to_owned(), ReceivedQos::AtMostOnce),
        ],
        "the QoS 0 reading is delivered twice, the QoS 1/2 resend once"
    );
    assert_eq!(h.core.stats().redeliveries_dropped, 1);
}

#[test]
fn a_clean_session_delivers_an_equal_message_after_a_reconnect() {
    // A clean session starts packet ids at 1 again: equal is not a resend.
    let (mut h, o) = H::connected(true);
    h.line("+QMTRECV: 0,1,\"t/x\",2,on");
    h.line("+QMTSTAT: 0,1");
    recover(&mut h, &o);
    h.drain();
    h.line("+QMTRECV: 0,1,\"t/x\",2,on");
    let n = h
        .client_events()
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(n, 2);
    assert_eq!(h.core.stats().redeliveries_dropped, 0);
}

/// A cold bring-up up to `AT+QIACT=1` on the wire, unanswered.
fn activating() -> H {
    let mut h = H::at_registration(net_config());
    h.answer("AT+CGREG?", "+CGREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"\",\"\",\"\",0|OK");
    h.answer("AT+QICSGP=1,1,\"internet\",\"\",\"\",0", "OK");
    h.answer("AT+QIACT?", "OK");
    h.expect("AT+QIACT=1");
    h
}

/// The marker the link sends after a lost command, answered (spec §9: in order).
fn answer_marker(h: &mut H) {
    h.answer(
        "AT+QMTOPEN=?",
        "+QMTOPEN: (0-5),\"<host_name>\",(1-65535)|OK",
    );
}

#[test]
fn a_restart_while_qiact_is_in_flight_brings_the_network_up_again() {
    // The link is lost mid-activation: the module restarts (power cut, watchdog) before it
    // answers. The activation is retired by a marker, the context deactivated in case the
    // module took it, and bring-up runs again on the restarted module.
    let mut h = activating();
    h.stages();
    h.feed(b"\r\nRDY\r\n");
    assert!(!h.core.is_ready());
    answer_marker(&mut h);
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    h.answer("AT+CPIN?", "+CPIN: READY|OK");
    h.answer("AT+CGREG=2", "OK");
    h.answer("AT+CEREG=2", "OK");
    h.answer("AT+CGREG?", "+CGREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
    h.answer("AT+CEREG?", "+CEREG: 2,1,\"1A2B\",\"01C3D04\",7|OK");
    h.answer("AT+CSQ", "+CSQ: 20,99|OK");
    // The restart forgot the APN: it is set again.
    h.answer("AT+QICSGP=1", "+QICSGP: 1,\"\",\"\",\"\",0|OK");
    h.answer("AT+QICSGP=1,1,\"internet\",\"\",\"\",0", "OK");
    h.answer("AT+QIACT?", "OK");
    h.answer("AT+QIACT=1", "OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.8\"|OK");
    assert_eq!(
        h.stages(),
        [
            Stage::Sim,
            Stage::Apn,
            Stage::Pdp,
            Stage::Up {
                ip: Some("10.64.1.8".to_owned())
            }
        ]
    );
    assert!(h.core.is_ready() && h.core.network_up(), "{:?}", h.events);
}

#[test]
fn an_unanswered_qiact_times_out_then_is_deactivated_and_tried_again() {
    // Spec §10.6: AT+QIACT may take up to 150 s. Past that, the module is resynchronised and
    // the activation tried once more after a deactivation.
    let mut h = activating();
    h.advance(Duration::from_secs(149));
    assert_eq!(h.written(), "", "still waiting within 150 s");
    h.advance(Duration::from_secs(2));
    answer_marker(&mut h);
    h.answer("AT+QIDEACT=1", "OK");
    h.answer("AT+QIACT=1", "OK");
    h.answer("AT+QIACT?", "+QIACT: 1,1,1,\"10.64.1.9\"|OK");
    assert!(h.core.is_ready() && h.core.network_up(), "{:?}", h.events);
    assert!(matches!(
        h.stages().last(),
        Some(Stage::Up { ip: Some(ip) }) if ip == "10.64.1.9"
    ));
}

#[test]
fn start_up_sets_flow_control_and_rate_and_holds_bytes_until_the_port_follows() {
    let mut core = ModemCore::new(
        CoreConfig {
            serial: SerialSetup {
                flow: Some(FlowControl::RtsCts),
                baud: Some(BaudRate::new(921_600).unwrap()),
            },
            ..CoreConfig::default()
        },
        Instant::ZERO,
    );
    let now = Instant::ZERO;
    let mut buf = [0u8; 64];
    let mut step = |core: &mut ModemCore, answer: &[u8]| -> String {
        core.handle_input(answer, now);
        let n = core.poll_transmit(&mut buf);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    core.handle_timeout(now);
    assert_eq!(step(&mut core, b""), "AT\r");
    assert_eq!(step(&mut core, b"\r\nOK\r\n"), "ATE0\r");
    assert_eq!(step(&mut core, b"\r\nOK\r\n"), "AT+CMEE=2\r");
    assert_eq!(step(&mut core, b"\r\nOK\r\n"), "AT+IFC=2,2\r");
    // Nothing more is written until the driver took the change.
    assert_eq!(step(&mut core, b"\r\nOK\r\n"), "");
    assert_eq!(
        core.poll_event(),
        Some(CoreEvent::Port(PortChange::Flow(FlowControl::RtsCts)))
    );
    assert_eq!(step(&mut core, b""), "AT+IPR=921600\r");
    assert_eq!(step(&mut core, b"\r\nOK\r\n"), "");
    assert_eq!(
        core.poll_event(),
        Some(CoreEvent::Port(PortChange::Baud(
            BaudRate::new(921_600).unwrap()
        )))
    );
    assert_eq!(step(&mut core, b""), "AT+QMTOPEN?\r");
    // A module that refuses the rate stops start-up with the command named.
    let mut h = H::new(CoreConfig {
        serial: SerialSetup {
            flow: None,
            baud: Some(BaudRate::new(460_800).unwrap()),
        },
        ..CoreConfig::default()
    });
    h.answer("AT", "OK");
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    h.answer("AT+IPR=460800", "+CME ERROR: 50");
    assert!(
        matches!(h.startup_failure(), ClientError::Module { ref command, .. } if command == "AT+IPR"),
        "{:?}",
        h.events
    );
}

// ------------------------------------------------------------------------------------------------
// TLS provisioning (spec §7, §10.8; session.rs "Provisioning").

fn tls_options(ca: &[u8]) -> ClientOptions {
    ClientOptions::builder()
        .host("broker")
        .port(8883)
        .client_id("dev")
        .tls(2)
        .tls_files(crate::options::TlsFiles::new().ca_cert("ca.pem", ca.to_vec()))
        .build()
        .unwrap()
}

impl H {
    /// Answers `OK` to every command until the host writes one starting with `prefix`; returns it.
    fn ok_until(&mut self, prefix: &str) -> String {
        for _ in 0..64 {
            let w = self.written();
            let cmd = w.trim_end_matches('\r').to_owned();
            assert!(!cmd.is_empty(), "the host stopped before {prefix}");
            if cmd.starts_with(prefix) {
                return cmd;
            }
            assert!(!cmd.starts_with("AT+QFUPL"), "unexpected upload {cmd}");
            self.line("OK");
        }
        panic!("no {prefix}");
    }

    /// Opens and connects client 0 (the configure step is done).
    fn open_conn(&mut self, op: OpId) {
        let open = self.ok_until("AT+QMTOPEN");
        assert_eq!(open, "AT+QMTOPEN=0,\"broker\",8883");
        self.line("OK");
        self.line("+QMTOPEN: 0,0");
        self.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
        assert_eq!(self.done(op), Ok(Completion::Connected));
    }

    /// Disconnects client 0.
    fn disc(&mut self) {
        let op = self.submit(Request::Disconnect);
        self.answer("AT+QMTDISC=0", "OK|+QMTDISC: 0,0");
        assert_eq!(self.done(op), Ok(Completion::Disconnected));
    }

    /// The upload of `data` as `UFS:ca.pem`, the module answering `answer` after the data.
    fn upload_ca(&mut self, data: &[u8], answer: &str) {
        self.expect(&format!("AT+QFUPL=\"UFS:ca.pem\",{}", data.len()));
        self.line("CONNECT");
        assert_eq!(self.written().as_bytes(), data);
        for l in answer.split('|') {
            self.line(l);
        }
    }
}

#[test]
fn provisioning_lists_first_and_skips_a_file_it_uploaded_itself() {
    let mut h = H::ready();
    let ca = b"-----BEGIN CERTIFICATE-----\nabc\n";
    let sum = qmt_proto::checksum::qfupl_checksum(ca);
    h.add(tls_options(ca), false);
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "OK");
    h.upload_ca(ca, &format!("+QFUPL: {},{sum:04x}|OK", ca.len()));
    h.open_conn(op);
    h.disc();
    // The module lists the file with the size written, and this core knows its checksum.
    let op = h.submit(Request::Connect);
    h.answer(
        "AT+QFLST=\"*\"",
        &format!(
            "+QFLST: \"UFS:ca.pem\",{}|+QFLST: \"UFS:other\",9|OK",
            ca.len()
        ),
    );
    h.open_conn(op);
}

#[test]
fn provisioning_deletes_a_file_it_does_not_know_before_uploading() {
    let mut h = H::ready();
    let ca = b"new CA";
    let sum = qmt_proto::checksum::qfupl_checksum(ca);
    h.add(tls_options(ca), false);
    let op = h.submit(Request::Connect);
    // Same name and even the same size, but not uploaded by this core: content unknown.
    h.answer(
        "AT+QFLST=\"*\"",
        &format!("+QFLST: \"UFS:ca.pem\",{}|OK", ca.len()),
    );
    h.answer("AT+QFDEL=\"UFS:ca.pem\"", "OK");
    h.upload_ca(ca, &format!("+QFUPL: {},{sum:04x}|OK", ca.len()));
    h.open_conn(op);
}

#[test]
fn a_missing_qfupl_answer_is_confirmed_by_listing_the_name() {
    let mut h = H::ready();
    let ca = b"abcd";
    h.add(tls_options(ca), false);
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "OK");
    h.upload_ca(ca, "OK");
    h.answer("AT+QFLST=\"UFS:ca.pem\"", "+QFLST: \"UFS:ca.pem\",4|OK");
    h.open_conn(op);
    h.disc();
    // Confirmed by size, so remembered: the next connect skips it.
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "+QFLST: \"UFS:ca.pem\",4|OK");
    h.open_conn(op);
}

#[test]
fn a_missing_qfupl_answer_and_a_short_file_fail_the_connect() {
    let mut h = H::ready();
    let ca = b"abcd";
    h.add(tls_options(ca), false);
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "OK");
    h.upload_ca(ca, "OK");
    h.answer("AT+QFLST=\"UFS:ca.pem\"", "+QFLST: \"UFS:ca.pem\",2|OK");
    assert_eq!(
        h.done(op),
        Err(ClientError::UploadIncomplete {
            file: "UFS:ca.pem".into(),
            sent: 4,
            stored: 2
        })
    );
    assert_eq!(h.written(), "", "nothing opened");
}

#[test]
fn a_file_whose_size_changed_is_deleted_and_uploaded_again() {
    let mut h = H::ready();
    let ca = b"abcd";
    h.add(tls_options(ca), false);
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "OK");
    h.upload_ca(ca, "+QFUPL: 4,0206|OK");
    h.open_conn(op);
    h.disc();
    // Someone replaced it (another size): this core's memory does not match.
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "+QFLST: \"UFS:ca.pem\",10|OK");
    h.answer("AT+QFDEL=\"UFS:ca.pem\"", "OK");
    h.upload_ca(ca, "+QFUPL: 4,0206|OK");
    h.open_conn(op);
}

#[test]
fn a_slot_read_whose_answer_head_was_damaged_reports_the_message() {
    // Found by the damage soak: `+QMT\x15RECV: 1,1183,…` answered a read, which freed the slot.
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
    h.line("+QMTRECV: 0,1");
    h.answer("AT+QMTRECV=0,1", "+QMT\u{15}RECV: 0,9,\"t\",3,\"abc\"|OK");
    let events = h.client_events();
    assert!(
        events.contains(&Event::MessageDamaged {
            msgid: None,
            topic: None
        }),
        "{events:?}"
    );
    assert_eq!(h.core.stats().damaged_messages, 1);
    // The garbled line also made the client look at its slots.
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,0,0,0|OK");
    // A read answered `OK` alone with no damage (the slot was read already) reports nothing.
    h.line("+QMTRECV: 0,2");
    h.answer("AT+QMTRECV=0,2", "OK");
    assert!(
        !h.client_events()
            .iter()
            .any(|e| matches!(e, Event::MessageDamaged { .. })),
    );
    assert_eq!(h.core.stats().damaged_messages, 1);
}

#[test]
fn a_garbled_open_result_is_checked_with_the_open_list() {
    // Found by the damage soak: `+QMTOPN: 1,4` left the client waiting the spec's 120 s (the
    // link now repairs such a head; damage elsewhere in the line still needs this).
    let mut h = H::ready();
    let o = options();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK");
    // The result `+QMTOPEN: 0,0` with its comma changed (a head one byte off is repaired by the
    // link): the client is open all the same.
    h.line("+QMTOPEN: 0;0");
    h.answer("AT+QMTOPEN?", "+QMTOPEN: 0,\"broker\",1883|OK");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
}

#[test]
fn a_garbled_line_cuts_the_wait_of_an_open_that_is_not_open() {
    let mut h = H::ready();
    let o = options();
    h.add(o.clone(), false);
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK");
    // `+QMTOPEN: 0,4` (DNS failure) damaged: not open, and no result will come.
    h.line("+QMTOPEN: 0;4");
    h.answer("AT+QMTOPEN?", "OK");
    h.advance(Duration::from_secs(9));
    assert!(!h.is_done(op));
    h.advance(Duration::from_secs(2));
    assert!(
        matches!(h.done(op), Err(ClientError::Timeout { .. })),
        "10 s after the check, not 120 s"
    );
    // A result that does come in time still counts.
    let op = h.submit(Request::Connect);
    h.configure(&o);
    h.answer("AT+QMTOPEN=0,\"broker\",1883", "OK");
    h.line("\u{1}garbage");
    h.answer("AT+QMTOPEN?", "OK");
    h.advance(Duration::from_secs(3));
    h.line("+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
}

#[test]
fn a_garbled_line_makes_buffered_clients_look_at_their_slots_again() {
    // Spec §10.7: line damage may have hit the announcement `+QMTRECV: <idx>,<recv_id>`.
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
    h.line("+QMTRXCV: 0,3");
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,0,1,0|OK");
    h.answer("AT+QMTRECV=0,3", "+QMTRECV: 0,9,\"t\",3,abc|OK");
    assert!(matches!(h.client_events().as_slice(), [Event::Message(m)] if m.payload() == b"abc"));
    // At most once a second.
    h.line("\u{1}garbage");
    assert_eq!(h.written(), "");
    h.advance(Duration::from_millis(1100));
    h.line("\u{1}garbage");
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,0,0,0,0|OK");
    // Then every 3 s for a minute after the last garbled line, garbled lines or not: a stored
    // message whose announcement was lost since is read.
    h.advance(Duration::from_millis(3100));
    h.answer("AT+QMTRECV?", "+QMTRECV: 0,0,1,0,0,0|OK");
    h.answer("AT+QMTRECV=0,1", "+QMTRECV: 0,10,\"t\",3,def|OK");
    assert!(matches!(h.client_events().as_slice(), [Event::Message(m)] if m.payload() == b"def"));
    let mut looks = 0;
    for _ in 0..25 {
        h.advance(Duration::from_millis(3100));
        let w = h.written();
        if w == "AT+QMTRECV?\r" {
            looks += 1;
            h.line("+QMTRECV: 0,0,0,0,0,0");
            h.line("OK");
        } else {
            assert_eq!(w, "");
        }
    }
    // About a minute of looks (the garbled line was 4 s before), then none.
    assert!((17..=20).contains(&looks), "{looks} looks");
    h.advance(Duration::from_secs(30));
    assert_eq!(
        h.written(),
        "",
        "a minute after the last garbled line it stops"
    );
}

// ------------------------------------------------------------------------------------------------
// The clock check before a TLS open (spec §10.9; session.rs "The clock").

/// A CA certificate (PEM) valid from 2024-03-15.
fn ca_2024_03_15() -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = rcgen::date_time_ymd(2024, 3, 15);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem().into_bytes()
}

fn clock_options(ca: &[u8], ntp: bool) -> ClientOptions {
    let mut b = ClientOptions::builder()
        .host("broker")
        .port(8883)
        .client_id("dev")
        .tls(2)
        .tls_files(
            crate::options::TlsFiles::new()
                .ca_cert("ca.pem", ca.to_vec())
                .ignore_local_time(false),
        );
    if ntp {
        b = b.ntp_server("pool.ntp.org");
    }
    b.build().unwrap()
}

impl H {
    /// Connect of client 0 up to its `AT+CCLK?` (listing, upload and settings answered).
    fn connect_to_clock(&mut self, ca: &[u8]) -> OpId {
        let sum = qmt_proto::checksum::qfupl_checksum(ca);
        let op = self.submit(Request::Connect);
        self.answer("AT+QFLST=\"*\"", "OK");
        self.upload_ca(ca, &format!("+QFUPL: {},{sum:04x}|OK", ca.len()));
        assert_eq!(self.ok_until("AT+CCLK"), "AT+CCLK?");
        op
    }

    /// The next command is the open (nothing in between), then the connect completes.
    fn open_next(&mut self, op: OpId) {
        self.expect("AT+QMTOPEN=0,\"broker\",8883");
        self.line("OK");
        self.line("+QMTOPEN: 0,0");
        self.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
        assert_eq!(self.done(op), Ok(Completion::Connected));
    }
}

#[test]
fn a_clock_past_the_ca_validity_opens_without_ntp() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    h.add(clock_options(&ca, true), false);
    let op = h.connect_to_clock(&ca);
    h.line("+CCLK: \"24/03/15,08:00:01+32\"");
    h.line("OK");
    h.open_next(op);
}

#[test]
fn a_clock_before_the_ca_validity_fails_before_any_open_without_ntp() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    h.add(clock_options(&ca, false), false);
    let op = h.connect_to_clock(&ca);
    // 2024-03-15 07:59:59 at UTC+8 is 2024-03-14 23:59:59 UTC: one second too early.
    h.line("+CCLK: \"24/03/15,07:59:59+32\"");
    h.line("OK");
    let e = h.done(op).unwrap_err();
    assert_eq!(
        e,
        ClientError::ClockNotSet {
            clock: qmt_proto::ModuleTime::parse(b"24/03/15,07:59:59+32").unwrap(),
            not_before: Some(qmt_proto::ModuleTime::parse(b"2024/03/15,00:00:00+00").unwrap()),
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("--ntp") && text.contains("ignorelocaltime") && text.contains("2024-03-15"),
        "{text}"
    );
    assert!(!e.is_transient());
    assert_eq!(h.written(), "", "nothing opened");
}

#[test]
fn an_unset_clock_is_synced_with_qntp_then_opened() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    h.add(clock_options(&ca, true), false);
    let op = h.connect_to_clock(&ca);
    h.line("+CCLK: \"00/01/01,00:00:08+00\"");
    h.line("OK");
    h.expect("AT+QNTP=1,\"pool.ntp.org\"");
    h.line("OK");
    h.advance(Duration::from_secs(30));
    assert_eq!(h.written(), "", "the open waits for +QNTP");
    assert!(h.events.is_empty(), "{:?}", h.events);
    h.line("+QNTP: 0,\"2025/01/01,00:00:00+00\"");
    h.open_next(op);
}

#[test]
fn a_qntp_result_before_its_ok_is_kept() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    h.add(clock_options(&ca, true), false);
    let op = h.connect_to_clock(&ca);
    h.line("+CCLK: \"80/01/06,00:00:00+00\"");
    h.line("OK");
    h.expect("AT+QNTP=1,\"pool.ntp.org\"");
    h.line("+QNTP: 0,\"2025/01/01,00:00:00+00\"");
    h.line("OK");
    h.open_next(op);
}

#[test]
fn a_failed_or_missing_qntp_result_fails_the_connect() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    h.add(clock_options(&ca, true), false);
    let op = h.connect_to_clock(&ca);
    h.line("+CCLK: \"00/01/01,00:00:08+00\"");
    h.line("OK");
    h.expect("AT+QNTP=1,\"pool.ntp.org\"");
    h.line("OK");
    h.line("+QNTP: 565");
    let e = h.done(op).unwrap_err();
    assert_eq!(
        e,
        ClientError::NtpFailed {
            result: qmt_proto::NtpResult::from_code(565)
        }
    );
    assert!(e.to_string().contains("565"), "{e}");
    assert_eq!(h.written(), "", "nothing opened");

    // No result within the link's QNTP deadline (125 s).
    // The CA was uploaded and confirmed before: skipped now.
    let op = h.submit(Request::Connect);
    h.answer(
        "AT+QFLST=\"*\"",
        &format!("+QFLST: \"UFS:ca.pem\",{}|OK", ca.len()),
    );
    assert_eq!(h.ok_until("AT+CCLK"), "AT+CCLK?");
    h.line("+CCLK: \"00/01/01,00:00:09+00\"");
    h.line("OK");
    h.expect("AT+QNTP=1,\"pool.ntp.org\"");
    h.line("OK");
    h.advance(Duration::from_secs(124));
    assert!(h.events.is_empty(), "{:?}", h.events);
    h.advance(Duration::from_secs(2));
    assert!(
        matches!(h.done(op), Err(ClientError::Timeout { .. })),
        "times out"
    );
    assert_eq!(h.written(), "", "nothing opened");
}

#[test]
fn ignorelocaltime_on_skips_the_clock_check() {
    let mut h = H::ready();
    let ca = ca_2024_03_15();
    // TlsFiles' default: ignorelocaltime 1.
    h.add(tls_options(&ca), false);
    let sum = qmt_proto::checksum::qfupl_checksum(&ca);
    let op = h.submit(Request::Connect);
    h.answer("AT+QFLST=\"*\"", "OK");
    h.upload_ca(&ca, &format!("+QFUPL: {},{sum:04x}|OK", ca.len()));
    let mut sent = Vec::new();
    loop {
        let w = h.written();
        let cmd = w.trim_end_matches('\r').to_owned();
        assert!(!cmd.is_empty());
        if cmd.starts_with("AT+QMTOPEN") {
            break;
        }
        sent.push(cmd);
        h.line("OK");
    }
    assert!(
        sent.contains(&"AT+QSSLCFG=\"ignorelocaltime\",2,1".to_owned()),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|c| c.starts_with("AT+CCLK")), "{sent:?}");
    h.line("OK");
    h.line("+QMTOPEN: 0,0");
    h.answer("AT+QMTCONN=0,\"dev\"", "OK|+QMTCONN: 0,0,0");
    assert_eq!(h.done(op), Ok(Completion::Connected));
}

#[test]
fn tls_without_files_asks_the_context_for_ignorelocaltime() {
    let mut h = H::ready();
    let options = ClientOptions::builder()
        .host("broker")
        .port(8883)
        .client_id("dev")
        .tls(3)
        .build()
        .unwrap();
    h.add(options, false);
    // The context ignores the clock: no AT+CCLK?.
    let op = h.submit(Request::Connect);
    assert_eq!(h.ok_until("AT+QSSLCFG"), "AT+QSSLCFG=\"ignorelocaltime\",3");
    h.line("+QSSLCFG: \"ignorelocaltime\",3,1");
    h.line("OK");
    h.open_next(op);
    h.disc();
    // It checks the clock: only the unset rule applies (no CA to read).
    let op = h.submit(Request::Connect);
    h.ok_until("AT+QSSLCFG");
    h.line("+QSSLCFG: \"ignorelocaltime\",3,0");
    h.line("OK");
    h.answer("AT+CCLK?", "+CCLK: \"23/12/31,23:59:59+00\"|OK");
    assert!(matches!(
        h.done(op),
        Err(ClientError::ClockNotSet {
            not_before: None,
            ..
        })
    ));
    assert_eq!(h.written(), "", "nothing opened");
    // A firmware that refuses the query: the clock is checked; a set clock opens.
    let op = h.submit(Request::Connect);
    h.ok_until("AT+QSSLCFG");
    h.line("+CME ERROR: 50");
    h.answer("AT+CCLK?", "+CCLK: \"25/06/01,12:00:00+00\"|OK");
    h.open_next(op);
}

// ------------------------------------------------------------------------------------------------
// File requests (files.rs; spec §7, §10.8).

impl H {
    fn file(&mut self, r: FileRequest) -> OpId {
        let op = self.core.file_request(r, self.now).unwrap();
        self.drain();
        op
    }
}

#[test]
fn file_requests_list_delete_and_upload() {
    let mut h = H::ready();
    let op = h.file(FileRequest::List);
    h.answer(
        "AT+QFLST=\"*\"",
        "+QFLST: \"UFS:a.pem\",12|+QFLST: \"UFS:b\",0|OK",
    );
    assert_eq!(
        h.done(op),
        Ok(Completion::Files(vec![
            ("UFS:a.pem".into(), 12),
            ("UFS:b".into(), 0)
        ]))
    );
    let op = h.file(FileRequest::Delete("a.pem".into()));
    h.answer("AT+QFDEL=\"UFS:a.pem\"", "+CME ERROR: 405");
    assert!(
        matches!(h.done(op), Err(ClientError::Module { ref command, .. }) if command == "AT+QFDEL")
    );
    let data = b"secret key bytes".to_vec();
    let sum = qmt_proto::checksum::qfupl_checksum(&data);
    let op = h.file(FileRequest::Upload {
        name: "k.pem".into(),
        data: data.clone(),
    });
    h.expect("AT+QFUPL=\"UFS:k.pem\",16");
    h.line("CONNECT");
    assert_eq!(h.written().as_bytes(), &data[..]);
    h.line(&format!("+QFUPL: 16,{sum:04x}"));
    h.line("OK");
    assert_eq!(h.done(op), Ok(Completion::FileUploaded { size: 16 }));
    // A wrong checksum is an error.
    let op = h.file(FileRequest::Upload {
        name: "UFS:k2".into(),
        data: data.clone(),
    });
    h.expect("AT+QFUPL=\"UFS:k2\",16");
    h.line("CONNECT");
    h.written();
    h.line(&format!("+QFUPL: 16,{:04x}", sum ^ 1));
    h.line("OK");
    assert!(matches!(
        h.done(op),
        Err(ClientError::ChecksumMismatch { .. })
    ));
    // No +QFUPL answer: confirmed by listing the name.
    let op = h.file(FileRequest::Upload {
        name: "c".into(),
        data: b"abc".to_vec(),
    });
    h.expect("AT+QFUPL=\"UFS:c\",3");
    h.line("CONNECT");
    h.written();
    h.line("OK");
    h.answer("AT+QFLST=\"UFS:c\"", "+QFLST: \"UFS:c\",3|OK");
    assert_eq!(h.done(op), Ok(Completion::FileUploaded { size: 3 }));
    // Invalid names are refused before anything is written.
    assert!(matches!(
        h.core
            .file_request(FileRequest::Delete("a\"b".into()), h.now),
        Err(ClientError::Invalid(_))
    ));
    assert_eq!(h.written(), "");
    // The Debug of an upload does not show its bytes.
    let shown = format!(
        "{:?}",
        FileRequest::Upload {
            name: "k".into(),
            data: data.clone()
        }
    );
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn a_qos2_publish_cut_off_by_a_restart_is_sent_again_with_its_id_after_the_reconnect() {
    // The 30-minute soak: a module restart mid-handshake leaves the id at the broker; mosquitto
    // counts such ids against its in-flight quota and, once full, acknowledges and drops.
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .clean_session(false)
        .build()
        .unwrap();
    let mut h = H::connected_with(&o, true);
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"q2".to_vec(),
        qos: Qos::ExactlyOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,1,2,0,\"t\",2");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "q2");
    h.feed(b"\r\nOK\r\n\r\nRDY\r\n");
    assert!(matches!(
        h.done(op),
        Err(ClientError::PublishFailed {
            cause: PublishFailure::ModuleRestarted,
            ..
        })
    ));
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    recover(&mut h, &o);
    // The same id and payload, before anything else.
    h.expect("AT+QMTPUBEX=0,1,2,0,\"t\",2");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "q2");
    h.feed(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,1,0\r\n");
    assert_eq!(h.core.stats().resent, 1);
    // The id is free again, and a new publish takes the next one.
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: Qos::ExactlyOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,2,2,0,\"t\",1");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "x");
    h.feed(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,2,0\r\n");
    assert_eq!(h.done(op), Ok(Completion::Published));
}

#[test]
fn a_qos2_publish_whose_result_may_have_been_a_garbled_line_is_not_sent_again() {
    // The damage soak: `+QMTPUBEX: 0,2005\x0e3,0` (the handshake had finished), then a restart:
    // sending it again duplicated it at the subscriber.
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .clean_session(false)
        .build()
        .unwrap();
    let mut h = H::connected_with(&o, true);
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"q2".to_vec(),
        qos: Qos::ExactlyOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,1,2,0,\"t\",2");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "q2");
    h.feed(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,1\x0e,0\r\n\r\nRDY\r\n");
    assert!(matches!(
        h.done(op),
        Err(ClientError::PublishFailed {
            cause: PublishFailure::ModuleRestarted,
            ..
        })
    ));
    h.answer("ATE0", "OK");
    h.answer("AT+CMEE=2", "OK");
    recover(&mut h, &o);
    assert_eq!(h.written(), "", "nothing sent again");
    assert_eq!(h.core.stats().resent, 0);
    // Publishing goes on.
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: Qos::ExactlyOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,2,2,0,\"t\",1");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "x");
    h.feed(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,2,0\r\n");
    assert_eq!(h.done(op), Ok(Completion::Published));
}

#[test]
fn a_qos2_publish_cut_off_by_a_link_loss_alone_is_not_sent_again() {
    // The module stayed up and finishes its half itself; a clean session keeps nothing.
    for clean in [true, false] {
        let o = ClientOptions::builder()
            .host("broker")
            .client_id("dev")
            .clean_session(clean)
            .build()
            .unwrap();
        let mut h = H::connected_with(&o, true);
        let op = h.submit(Request::Publish {
            topic: "t".into(),
            payload: b"q2".to_vec(),
            qos: Qos::ExactlyOnce,
            retain: false,
        });
        h.expect("AT+QMTPUBEX=0,1,2,0,\"t\",2");
        h.feed(b"\r\n> ");
        assert_eq!(h.written(), "q2");
        h.feed(b"\r\nOK\r\n\r\n+QMTSTAT: 0,1\r\n");
        assert!(h.done(op).is_err());
        recover(&mut h, &o);
        assert_eq!(h.written(), "", "clean {clean}: nothing sent again");
        assert_eq!(h.core.stats().resent, 0);
    }
}

#[test]
fn a_qos2_publish_without_a_result_in_time_is_not_sent_again() {
    // The module may still finish it: sending it again could only duplicate it.
    let o = ClientOptions::builder()
        .host("broker")
        .client_id("dev")
        .clean_session(false)
        .build()
        .unwrap();
    let mut h = H::connected_with(&o, true);
    let op = h.submit(Request::Publish {
        topic: "t".into(),
        payload: b"q2".to_vec(),
        qos: Qos::ExactlyOnce,
        retain: false,
    });
    h.expect("AT+QMTPUBEX=0,1,2,0,\"t\",2");
    h.feed(b"\r\n> ");
    assert_eq!(h.written(), "q2");
    h.feed(b"\r\nOK\r\n");
    h.advance(Duration::from_secs(600));
    assert!(matches!(
        h.done(op),
        Err(ClientError::PublishFailed {
            cause: PublishFailure::NoResult(_),
            ..
        })
    ));
    h.line("+QMTSTAT: 0,1");
    recover(&mut h, &o);
    assert_eq!(h.written(), "");
    assert_eq!(h.core.stats().resent, 0);
}
