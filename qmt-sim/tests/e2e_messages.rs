//! Messages end to end: the host on the sim's pty, the sim's MQTT session over real TCP to its
//! embedded rumqttd broker, and an independent rumqttc client on the same broker.
//!
//! Incoming messages in every receive form (recv/mode 0 with and without the length, recv/mode 1
//! slots, hex), `AT+QMTPUBEX` payloads at every QoS with bytes that look like framing, hex send
//! mode, wills (`will`, binary `willex`) fired by a connection dropped without DISCONNECT, and a
//! persistent session (clean session 0) that queues a message while the client is away.
#![allow(clippy::unwrap_used)]

mod support;

use qmt_sim::{Fault, Sim, SimConfig};
use rumqttc::QoS;
use support::session::{Host, Peer, Wire, recv_line};

fn sim() -> qmt_sim::SimHandle {
    Sim::start(SimConfig::default()).unwrap()
}

/// Host with client 0 open and connected (`client_id`), after `cfg` commands.
fn connected(sim: &qmt_sim::SimHandle, client_id: &str, cfg: &[&str]) -> Host {
    let mut h = Host::start(sim);
    for c in cfg {
        h.ok(c);
    }
    h.open(0, "broker.example", 1883);
    h.conn(0, client_id);
    h
}

/// Splits `+QMTRECV: <idx>,<msgid>,<rest>` into (idx, msgid, rest).
fn recv_parts(line: &str) -> (u8, u16, &str) {
    let body = line
        .strip_prefix("+QMTRECV: ")
        .unwrap_or_else(|| panic!("not a +QMTRECV line: {line:?}"));
    let mut it = body.splitn(3, ',');
    let idx = it.next().unwrap().parse().unwrap();
    let msgid = it.next().unwrap().parse().unwrap();
    (idx, msgid, it.next().unwrap_or_else(|| panic!("{line:?}")))
}

// ---- (a) receive forms -------------------------------------------------------------------------

#[test]
fn a_message_from_another_client_arrives_inline_with_and_without_length() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-recv-inline", &[r#"AT+QMTCFG="recv/mode",0,0,0"#]);
    // Subscribed at QoS 0: rumqttd forwards at the subscription's QoS (not the minimum), so a
    // QoS 0 subscription is what makes a QoS 0 delivery (msgid 0).
    h.sub(0, 1, "e2e/in/#", 0, 0);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-recv-inline-peer");

    // recv/mode 0, msg_len_enable 0: `+QMTRECV: idx,msgid,"topic","payload"`.
    peer.publish("e2e/in/a", QoS::AtMostOnce, b"no length here");
    h.urc(r#"+QMTRECV: 0,0,"e2e/in/a","no length here""#);

    // A QoS 1 delivery: the msgid is the broker's packet id, never 0.
    h.sub(0, 2, "e2e/in1/#", 1, 1);
    peer.publish("e2e/in1/b", QoS::AtLeastOnce, b"qos one");
    let line = h.next_line();
    let (idx, msgid, rest) = recv_parts(&line);
    assert_eq!((idx, rest), (0, r#""e2e/in1/b","qos one""#), "{line:?}");
    assert_ne!(msgid, 0, "{line:?}");

    // msg_len_enable 1 (set while connected: the sim applies it to the next message).
    h.ok(r#"AT+QMTCFG="recv/mode",0,0,1"#);
    assert_eq!(
        h.cmd(r#"AT+QMTCFG="recv/mode",0"#),
        [r#"+QMTCFG: "recv/mode",0,1"#, "OK"]
    );
    peer.publish("e2e/in/c", QoS::AtMostOnce, b"with length");
    h.urc(&recv_line(0, 0, "e2e/in/c", b"with length"));
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn recv_mode_1_stores_messages_in_slots_read_by_id() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-recv-slots", &[r#"AT+QMTCFG="recv/mode",0,1,1"#]);
    h.sub(0, 1, "e2e/slot", 0, 0);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-recv-slots-peer");

    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,0,0,0,0,0", "OK"]);
    peer.publish("e2e/slot", QoS::AtMostOnce, b"first");
    h.urc("+QMTRECV: 0,0");
    peer.publish("e2e/slot", QoS::AtMostOnce, b"second, with \"quotes\"");
    h.urc("+QMTRECV: 0,1");
    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,1,1,0,0,0", "OK"]);

    // Reading slot 1 gives exactly its payload and frees it; slot 0 is untouched.
    assert_eq!(
        h.cmd("AT+QMTRECV=0,1"),
        [
            recv_line(0, 0, "e2e/slot", b"second, with \"quotes\""),
            "OK".to_owned()
        ]
    );
    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,1,0,0,0,0", "OK"]);
    // An empty slot reads as nothing.
    assert_eq!(h.cmd("AT+QMTRECV=0,1"), ["OK"]);

    // The next message takes the first free slot (1 again).
    peer.publish("e2e/slot", QoS::AtMostOnce, b"third");
    h.urc("+QMTRECV: 0,1");
    assert_eq!(
        h.cmd("AT+QMTRECV=0,0"),
        [recv_line(0, 0, "e2e/slot", b"first"), "OK".to_owned()]
    );
    assert_eq!(
        h.cmd("AT+QMTRECV=0"),
        [recv_line(0, 0, "e2e/slot", b"third"), "OK".to_owned()]
    );
    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,0,0,0,0,0", "OK"]);

    // msg_len_enable 0: the stored message reads without its length.
    h.ok(r#"AT+QMTCFG="recv/mode",0,1,0"#);
    peer.publish("e2e/slot", QoS::AtMostOnce, b"fourth");
    h.urc("+QMTRECV: 0,0");
    assert_eq!(
        h.cmd("AT+QMTRECV=0,0"),
        [r#"+QMTRECV: 0,0,"e2e/slot","fourth""#, "OK"]
    );
}

// ---- (b) exact bytes both ways -----------------------------------------------------------------

/// Payloads that look like framing to a careless parser.
const TRICKY: &[&[u8]] = &[
    b"plain",
    b"line one\r\nline two\r\n",
    b"\r\nOK\r\n",
    b"say \"hi\", \"there\"",
    b"nul\0in\0the\0middle\0",
    b"> ",
    b"> prompt\r\n> ",
    b"\"",
];

#[test]
fn pubex_payloads_arrive_at_another_client_with_the_exact_bytes_at_every_qos() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-pub-exact", &[]);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-pub-exact-peer");
    peer.subscribe("e2e/exact/#", QoS::ExactlyOnce);

    let all_bytes: Vec<u8> = (0..=255).collect();
    let mut msgid = 0;
    for qos in 0..=2u8 {
        for (n, payload) in TRICKY
            .iter()
            .copied()
            .chain([all_bytes.as_slice()])
            .enumerate()
        {
            let id = if qos == 0 {
                0
            } else {
                msgid += 1;
                msgid
            };
            let topic = format!("e2e/exact/{qos}/{n}");
            h.pubex(0, id, qos, &topic, payload);
            let got = peer.recv();
            assert_eq!(got.topic, topic);
            assert_eq!(got.payload.as_ref(), payload, "qos {qos}, payload {n}");
            // (No check of the delivered QoS here: rumqttd forwards at the subscription's QoS.
            // e2e_mosquitto checks it against a broker that delivers min(pub, sub).)
        }
    }
}

#[test]
fn payloads_from_another_client_arrive_intact_in_qmtrecv_with_length() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-recv-exact", &[r#"AT+QMTCFG="recv/mode",0,0,1"#]);
    h.sub(0, 1, "e2e/rev", 0, 0);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-recv-exact-peer");
    for payload in TRICKY {
        peer.publish("e2e/rev", QoS::AtMostOnce, payload);
        // AtPort frames with RecvHook: the length is authoritative, an embedded CR LF is data.
        h.urc(&recv_line(0, 0, "e2e/rev", payload));
    }
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn every_byte_value_from_another_client_arrives_on_the_wire_unchanged() {
    let sim = sim();
    let mut w = Wire::open(&sim);
    w.expect("RDY");
    w.send("ATE0");
    w.expect_bytes(b"ATE0\r");
    w.expect("OK");
    for (cmd, answer) in [
        (r#"AT+QMTCFG="recv/mode",0,0,1"#, None),
        (
            r#"AT+QMTOPEN=0,"broker.example",1883"#,
            Some("+QMTOPEN: 0,0"),
        ),
        (r#"AT+QMTCONN=0,"e2e-wire-bytes""#, Some("+QMTCONN: 0,0,0")),
        (r#"AT+QMTSUB=0,1,"e2e/bytes",0"#, Some("+QMTSUB: 0,1,0,0")),
    ] {
        w.send(cmd);
        w.expect("OK");
        if let Some(a) = answer {
            w.expect(a);
        }
    }
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-wire-bytes-peer");
    let payload: Vec<u8> = (0..=255).rev().collect();
    peer.publish("e2e/bytes", QoS::AtMostOnce, &payload);
    let mut want = b"\r\n+QMTRECV: 0,0,\"e2e/bytes\",256,\"".to_vec();
    want.extend_from_slice(&payload);
    want.extend_from_slice(b"\"\r\n");
    w.expect_bytes(&want);
}

// ---- (c) hex -----------------------------------------------------------------------------------

#[test]
fn hex_send_and_receive_modes() {
    let sim = sim();
    let mut h = connected(
        &sim,
        "e2e-hex",
        &[
            r#"AT+QMTCFG="dataformat",0,1,1"#,
            r#"AT+QMTCFG="recv/mode",0,0,1"#,
        ],
    );
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-hex-peer");
    peer.subscribe("e2e/hex/out", QoS::AtLeastOnce);
    h.sub(0, 1, "e2e/hex/in", 0, 0);

    // Send: `length` counts hex characters; the broker gets the decoded bytes.
    h.pubex(0, 7, 1, "e2e/hex/out", b"48690D0A00FF22");
    let got = peer.recv();
    assert_eq!(got.payload.as_ref(), b"Hi\r\n\0\xff\"");
    // Lower-case hex is hex too.
    h.pubex(0, 0, 0, "e2e/hex/out", b"abcdef");
    assert_eq!(peer.recv().payload.as_ref(), b"\xab\xcd\xef");

    // Receive: the payload is upper-case hex text, its length counting hex characters.
    peer.publish("e2e/hex/in", QoS::AtMostOnce, b"\x00\x01\r\n\xfe\"ok");
    h.urc(r#"+QMTRECV: 0,0,"e2e/hex/in",16,"00010D0AFE226F6B""#);

    // Odd or non-hex data: error (CMEE 0: plain ERROR), nothing published.
    h.port.send(r#"AT+QMTPUBEX=0,0,0,0,"e2e/hex/out",3"#);
    assert_eq!(h.next_line(), "> ");
    h.port.send_raw(b"ABC");
    assert_eq!(h.port.read_until_final(support::session::T), ["ERROR"]);
    h.port.send(r#"AT+QMTPUBEX=0,0,0,0,"e2e/hex/out",2"#);
    assert_eq!(h.next_line(), "> ");
    h.port.send_raw(b"zz");
    assert_eq!(h.port.read_until_final(support::session::T), ["ERROR"]);
    // The next valid one is the next the peer sees.
    h.pubex(0, 0, 0, "e2e/hex/out", b"2E");
    assert_eq!(peer.recv().payload.as_ref(), b".");
}

// ---- (d) will ----------------------------------------------------------------------------------

#[test]
fn wills_are_published_when_a_power_cycle_drops_the_connections() {
    let sim = sim();
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-will-peer");
    peer.subscribe("e2e/will/#", QoS::AtLeastOnce);

    let mut h = Host::start(&sim);
    h.ok(r#"AT+QMTCFG="will",0,1,1,0,"e2e/will/text","client 0 is gone""#);
    let binary: &[u8] = b"\x00\xff\r\n\"> \x01";
    h.port.send(&format!(
        r#"AT+QMTCFG="willex",1,1,1,0,"e2e/will/bin",{}"#,
        binary.len()
    ));
    assert_eq!(h.next_line(), "> ");
    h.port.send_raw(binary);
    assert_eq!(h.port.read_until_final(support::session::T), ["OK"]);
    for (idx, id) in [(0, "e2e-will-0"), (1, "e2e-will-1")] {
        h.open(idx, "broker.example", 1883);
        h.conn(idx, id);
    }

    // A power cycle drops both sockets without DISCONNECT: the broker publishes both wills.
    sim.inject(Fault::PowerCycle).unwrap();
    h.urc("RDY");
    let mut got: Vec<(String, Vec<u8>, u8)> = (0..2)
        .map(|_| {
            let p = peer.recv();
            (p.topic.clone(), p.payload.to_vec(), p.qos as u8)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("e2e/will/bin".to_owned(), binary.to_vec(), 1),
            ("e2e/will/text".to_owned(), b"client 0 is gone".to_vec(), 1),
        ]
    );
}

#[test]
fn no_will_after_a_clean_disconnect() {
    let sim = sim();
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-nowill-peer");
    peer.subscribe("e2e/nowill/#", QoS::AtLeastOnce);
    let mut h = Host::start(&sim);
    h.ok(r#"AT+QMTCFG="will",0,1,1,0,"e2e/nowill/0","must not appear""#);
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-nowill-0");
    h.disc(0);
    // Then a client whose will must fire: it is the first message the peer sees.
    h.ok(r#"AT+QMTCFG="will",1,1,1,0,"e2e/nowill/1","marker""#);
    h.open(1, "broker.example", 1883);
    h.conn(1, "e2e-nowill-1");
    sim.inject(Fault::PowerCycle).unwrap();
    h.urc("RDY");
    let p = peer.recv();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_ref()),
        ("e2e/nowill/1", b"marker".as_slice())
    );
}

// ---- (e) persistent session --------------------------------------------------------------------

#[test]
fn clean_session_0_gets_the_message_published_while_away() {
    let sim = sim();
    let mut h = connected(
        &sim,
        "e2e-persist",
        &[
            r#"AT+QMTCFG="session",0,0"#,
            r#"AT+QMTCFG="recv/mode",0,0,1"#,
        ],
    );
    h.sub(0, 1, "e2e/persist", 1, 1);
    h.disc(0);

    let mut peer = Peer::connect(sim.broker_addr(), "e2e-persist-peer");
    peer.publish("e2e/persist", QoS::AtLeastOnce, b"queued while away");

    // Same client id, clean session still 0: the broker delivers the queued message (whether it
    // queued it, or sent it to the closing connection and now re-sends it unacknowledged).
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-persist");
    let line = h.next_line();
    let (idx, msgid, rest) = recv_parts(&line);
    assert_eq!(
        (idx, rest),
        (0, r#""e2e/persist",17,"queued while away""#),
        "{line:?}"
    );
    assert_ne!(msgid, 0, "QoS 1 delivery: {line:?}");
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn clean_session_1_does_not_get_it() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-clean", &[r#"AT+QMTCFG="recv/mode",0,0,1"#]);
    h.sub(0, 1, "e2e/clean", 1, 1);
    h.disc(0);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-clean-peer");
    peer.publish("e2e/clean", QoS::AtLeastOnce, b"lost");
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-clean");
    // Subscribed again (QoS 0: a QoS 0 delivery, msgid 0), the next message is the first to
    // arrive.
    h.sub(0, 2, "e2e/clean", 0, 0);
    peer.publish("e2e/clean", QoS::AtMostOnce, b"fresh");
    h.urc(&recv_line(0, 0, "e2e/clean", b"fresh"));
}

// ---- more: six clients, size limits, close -----------------------------------------------------

#[test]
fn six_clients_of_one_module_talk_to_each_other_through_the_broker() {
    let sim = sim();
    let mut h = Host::start(&sim);
    for idx in 0..6u8 {
        h.ok(&format!(r#"AT+QMTCFG="recv/mode",{idx},0,1"#));
        h.open(idx, "broker.example", 1883);
        h.conn(idx, &format!("e2e-six-{idx}"));
        h.sub(idx, 1, &format!("e2e/six/{idx}"), 1, 1);
    }
    assert_eq!(
        h.cmd("AT+QMTCONN?"),
        [
            "+QMTCONN: 0,3",
            "+QMTCONN: 1,3",
            "+QMTCONN: 2,3",
            "+QMTCONN: 3,3",
            "+QMTCONN: 4,3",
            "+QMTCONN: 5,3",
            "OK"
        ]
    );
    for i in 0..6u8 {
        let j = (i + 1) % 6;
        h.pubex_data(
            i,
            100 + u16::from(i),
            1,
            &format!("e2e/six/{j}"),
            format!("{i}->{j}").as_bytes(),
        );
    }
    // Twelve lines in the broker's order: six results and six deliveries (the delivery's msgid
    // is the broker's packet id, shown as `*`).
    let mut got: Vec<String> = (0..12)
        .map(|_| {
            let l = h.next_line();
            match l.strip_prefix("+QMTRECV: ") {
                Some(body) => {
                    let (idx, msgid, rest) = recv_parts(&l);
                    assert_ne!(msgid, 0, "{body}");
                    format!("+QMTRECV: {idx},*,{rest}")
                }
                None => l,
            }
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..6u8)
        .flat_map(|i| {
            let j = (i + 1) % 6;
            [
                format!("+QMTPUBEX: {i},{},0", 100 + u16::from(i)),
                format!(r#"+QMTRECV: {j},*,"e2e/six/{j}",4,"{i}->{j}""#),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn the_largest_payloads_go_both_ways_intact() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-large", &[r#"AT+QMTCFG="recv/mode",0,0,1"#]);
    h.sub(0, 1, "e2e/large/in", 0, 0);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-large-peer");
    peer.subscribe("e2e/large/out", QoS::AtLeastOnce);

    // 1500 bytes, the spec's maximum for AT+QMTPUBEX, every byte value present.
    let out: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 256) as u8).collect();
    h.pubex(0, 1, 1, "e2e/large/out", &out);
    assert_eq!(peer.recv().payload.as_ref(), out.as_slice());
    // 1501: refused before the prompt (CMEE 0: ERROR).
    assert_eq!(
        h.cmd(r#"AT+QMTPUBEX=0,2,1,0,"e2e/large/out",1501"#),
        ["ERROR"]
    );

    // 4000 bytes in: one +QMTRECV line, CR LF inside included, framed by its length.
    let text: Vec<u8> = (0..4000u32)
        .map(|i| match i % 50 {
            48 => b'\r',
            49 => b'\n',
            n => b'a' + (n % 26) as u8,
        })
        .collect();
    peer.publish("e2e/large/in", QoS::AtMostOnce, &text);
    h.urc(&recv_line(0, 0, "e2e/large/in", &text));
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn qmtclose_drops_the_connection_without_disconnect() {
    let sim = sim();
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-close-peer");
    peer.subscribe("e2e/close/will", QoS::AtLeastOnce);
    let mut h = Host::start(&sim);
    h.ok(r#"AT+QMTCFG="will",0,1,0,0,"e2e/close/will","closed, not disconnected""#);
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-close");
    h.ok("AT+QMTCLOSE=0");
    h.urc("+QMTCLOSE: 0,0");
    // Closing the network connection is no MQTT DISCONNECT: the broker publishes the will.
    let p = peer.recv();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_ref()),
        ("e2e/close/will", b"closed, not disconnected".as_slice())
    );
    assert_eq!(h.cmd("AT+QMTOPEN?"), ["OK"]);
    // The client opens again.
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-close");
}

#[test]
fn with_all_five_slots_full_the_next_message_waits_for_a_read() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-slots-full", &[r#"AT+QMTCFG="recv/mode",0,1,1"#]);
    h.sub(0, 1, "e2e/full", 1, 1);
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-slots-full-peer");
    for n in 0..6 {
        peer.publish("e2e/full", QoS::AtLeastOnce, format!("m{n}").as_bytes());
    }
    for slot in 0..5 {
        h.urc(&format!("+QMTRECV: 0,{slot}"));
    }
    // The sixth is not stored (spec §9: not acknowledged until a slot is read).
    h.quiet(std::time::Duration::from_millis(500));
    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,1,1,1,1,1", "OK"]);
    // Reading slot 2 frees it: the sixth message takes it.
    let read = h.cmd("AT+QMTRECV=0,2");
    assert_eq!(read.len(), 2, "{read:?}");
    let (_, msgid, rest) = recv_parts(&read[0]);
    assert_ne!(msgid, 0);
    assert_eq!(rest, r#""e2e/full",2,"m2""#);
    h.urc("+QMTRECV: 0,2");
    let all = h.cmd("AT+QMTRECV=0");
    let payloads: Vec<&str> = all
        .iter()
        .filter_map(|l| l.strip_prefix("+QMTRECV: "))
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    // Slot order: 0, 1, 2 (now the sixth), 3, 4.
    assert_eq!(
        payloads,
        [r#""m0""#, r#""m1""#, r#""m5""#, r#""m3""#, r#""m4""#],
        "{all:?}"
    );
    assert_eq!(h.cmd("AT+QMTRECV?"), ["+QMTRECV: 0,0,0,0,0,0", "OK"]);
}

#[test]
fn a_retained_publish_reaches_a_later_subscriber() {
    let sim = sim();
    let mut h = Host::start(&sim);
    for idx in 0..2u8 {
        h.ok(&format!(r#"AT+QMTCFG="recv/mode",{idx},0,1"#));
        h.open(idx, "broker.example", 1883);
        h.conn(idx, &format!("e2e-retain-{idx}"));
    }
    // QoS 1, retain 1: the result comes with the broker's PUBACK, so the broker holds the
    // retained message before client 1 subscribes (QoS 0 would be reported as soon as sent).
    h.port.send(r#"AT+QMTPUBEX=0,1,1,1,"e2e/retained",4"#);
    assert_eq!(h.next_line(), "> ");
    h.port.send_raw(b"kept");
    assert_eq!(h.port.read_until_final(support::session::T), ["OK"]);
    h.urc("+QMTPUBEX: 0,1,0");
    // A later subscriber (QoS 0) gets it; the order of its SUBACK result and the retained
    // delivery is left open.
    h.ok(r#"AT+QMTSUB=1,1,"e2e/retained",0"#);
    h.urcs_any_order(&[
        "+QMTSUB: 1,1,0,0",
        r#"+QMTRECV: 1,0,"e2e/retained",4,"kept""#,
    ]);
}

#[test]
fn after_unsubscribing_messages_stop() {
    let sim = sim();
    let mut h = connected(&sim, "e2e-uns", &[r#"AT+QMTCFG="recv/mode",0,0,1"#]);
    h.ok(r#"AT+QMTSUB=0,1,"e2e/uns/a",0,"e2e/uns/b",0"#);
    h.urc("+QMTSUB: 0,1,0,0,0");
    let mut peer = Peer::connect(sim.broker_addr(), "e2e-uns-peer");
    peer.publish("e2e/uns/a", QoS::AtMostOnce, b"a1");
    h.urc(&recv_line(0, 0, "e2e/uns/a", b"a1"));
    h.ok(r#"AT+QMTUNS=0,2,"e2e/uns/a""#);
    h.urc("+QMTUNS: 0,2,0");
    peer.publish("e2e/uns/a", QoS::AtMostOnce, b"a2");
    peer.publish("e2e/uns/b", QoS::AtMostOnce, b"b1");
    // On one connection the broker keeps the order: a2 would come before b1.
    h.urc(&recv_line(0, 0, "e2e/uns/b", b"b1"));
    h.quiet(std::time::Duration::from_millis(300));
}

#[test]
fn a_second_connection_with_the_same_client_id_takes_over() {
    let sim = sim();
    let mut h = Host::start(&sim);
    h.open(0, "broker.example", 1883);
    h.conn(0, "e2e-same-id");
    h.open(1, "broker.example", 1883);
    h.conn(1, "e2e-same-id");
    // The broker drops the older connection (spec §4): client 0 reports the closed link.
    h.urc("+QMTSTAT: 0,1");
    assert_eq!(h.cmd("AT+QMTCONN?"), ["+QMTCONN: 1,3", "OK"]);
}
