//! The bounded event queue with a slow consumer (ARCHITECTURE.md "Bounds and policies"): by
//! default nothing is lost — in buffered receive mode (recv/mode 1) the modem stops reading the
//! module's slots while the queue is full, in inline mode (recv/mode 0) it stops reading the port;
//! with `Overflow::DropOldest` the oldest inline messages are dropped and counted in one
//! `Event::Lagged`.

mod support;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::{Event, LagSource, Modem, ModemConfig, Overflow, Qos};
use qmt_proto::cfg::MsgRecvMode;
use qmt_sim::Fault;
use rumqttc::QoS;
use support::{Peer, T, expect_message, opts, sim};

const CAPACITY: usize = 4;

fn small_queue_modem(sim: &qmt_sim::SimHandle) -> Modem {
    small_queue_modem_with(sim, Overflow::BackPressure)
}

fn small_queue_modem_with(sim: &qmt_sim::SimHandle, overflow: Overflow) -> Modem {
    Modem::open(
        sim.pty_path(),
        ModemConfig {
            event_capacity: CAPACITY,
            overflow,
            ..ModemConfig::default()
        },
    )
    .expect("modem on the sim")
}

/// Polls `cond` (a state of the queue, no time measured) until it holds, or panics after `T`.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {T:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn buffered_mode_applies_back_pressure_and_loses_nothing() {
    let sim = sim();
    let modem = small_queue_modem(&sim);
    let options = opts("qmt-bp-buffered")
        .recv_mode(MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bp/buffered", Qos::AtLeastOnce)])
        .unwrap();

    // Far more than the queue (4) plus the module's slots (5): the broker must hold the rest.
    const N: usize = 30;
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-bp-buffered-peer");
    let sent: BTreeSet<String> = (0..N).map(|i| format!("m{i}")).collect();
    for p in &sent {
        peer.publish("qmt/bp/buffered", QoS::AtLeastOnce, p.as_bytes());
    }
    // The consumer has not read anything: the queue fills to its capacity and stays there.
    wait_until("the queue fills", || conn.len() >= CAPACITY);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(conn.len(), CAPACITY, "the queue never holds more messages");

    let mut got = BTreeSet::new();
    while got.len() < N {
        match conn.recv_timeout(T) {
            Ok(Event::Message(m)) => {
                let text = m.payload_str().unwrap().to_owned();
                assert!(got.insert(text.clone()), "{text} twice");
                assert!(conn.len() <= CAPACITY, "queue above its capacity");
            }
            Ok(other) => panic!("unexpected event {other:?} (buffered mode loses nothing)"),
            Err(e) => panic!("{e:?} after {} of {N} messages: {:?}", got.len(), got),
        }
    }
    assert_eq!(got, sent);
    assert_eq!(conn.dropped(), 0);
    // Still working.
    client
        .publish("qmt/bp/buffered", "after", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(expect_message(&conn, "own message").payload(), b"after");
}

#[test]
fn inline_mode_stops_reading_for_a_slow_consumer_and_loses_nothing() {
    let sim = sim();
    let modem = small_queue_modem(&sim);
    let (client, conn) = modem
        .client(1, opts("qmt-bp-inline-bp").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bp/inline", Qos::AtMostOnce)])
        .unwrap();
    const N: usize = 300;
    sim.inject(Fault::Burst {
        topic: "qmt/bp/inline".into(),
        count: N,
    })
    .unwrap();
    wait_until("the queue fills", || conn.len() >= CAPACITY);
    thread::sleep(Duration::from_millis(300));
    // The port is not read while the consumer is full: the queue holds at most its capacity
    // plus the messages of one piece the driver fed (512 bytes).
    let held = conn.len();
    assert!(held < CAPACITY + 40, "{held} queued");
    // A consumer that takes everything gets everything, in order.
    for i in 0..N {
        let m = expect_message(&conn, &format!("burst message {i}"));
        assert_eq!(m.payload_str(), Some(i.to_string().as_str()));
        assert!(conn.len() < CAPACITY + 40, "queue above its bound");
    }
    assert_eq!(conn.dropped(), 0);
    // Commands still work after the pause.
    client
        .publish("qmt/bp/inline", "after", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(expect_message(&conn, "own message").payload(), b"after");
}

#[test]
fn inline_mode_with_drop_oldest_drops_and_counts_them() {
    let sim = sim();
    let modem = small_queue_modem_with(&sim, Overflow::DropOldest);
    let (client, conn) = modem
        .client(1, opts("qmt-bp-inline").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bp/inline", Qos::AtMostOnce)])
        .unwrap();

    const N: u64 = 50;
    sim.inject(Fault::Burst {
        topic: "qmt/bp/inline".into(),
        count: N as usize,
    })
    .unwrap();
    // Every message is either queued or counted as dropped, and the queue stays bounded.
    wait_until("all messages queued or dropped", || {
        conn.dropped() + conn.len() as u64 >= N
    });
    assert_eq!(conn.len(), CAPACITY);
    assert_eq!(conn.dropped(), N - CAPACITY as u64);

    // First the count, then the newest messages in order (the burst's payloads are 0, 1, …).
    assert_eq!(
        conn.recv_timeout(T).unwrap(),
        Event::Lagged {
            dropped: N - CAPACITY as u64,
            source: LagSource::Connection
        }
    );
    let rest: Vec<String> = (0..CAPACITY)
        .map(|_| {
            expect_message(&conn, "a kept message")
                .payload_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = (N - CAPACITY as u64..N).map(|i| i.to_string()).collect();
    assert_eq!(rest, want);
}

/// Found by the soak: messages the module stored and announced (`+QMTRECV: <idx>,<recv_id>`) but
/// the modem had not read yet die with the module's RAM when it restarts. The server saw them
/// acknowledged and will not send them again: the loss is reported, never silent.
#[test]
fn stored_messages_lost_in_a_module_restart_are_reported() {
    let sim = sim();
    let modem = small_queue_modem(&sim);
    let options = opts("qmt-bp-restart")
        .recv_mode(MsgRecvMode::Buffered, true)
        .build()
        .unwrap();
    let (client, conn) = modem.client(2, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bp/restart", Qos::AtLeastOnce)])
        .unwrap();
    // The queue (4) fills; the other 3 stay announced in the module's slots (5).
    const N: usize = 7;
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-bp-restart-peer");
    for i in 0..N {
        peer.publish(
            "qmt/bp/restart",
            QoS::AtLeastOnce,
            format!("m{i}").as_bytes(),
        );
    }
    wait_until("the queue fills", || conn.len() >= CAPACITY);
    // Time for the module to store and announce the rest (nothing is read while the queue is full).
    thread::sleep(Duration::from_millis(500));
    sim.inject(Fault::PowerCycle).unwrap();

    let mut messages = 0;
    let mut lost = 0;
    let deadline = Instant::now() + T;
    while messages + lost < N as u64 && Instant::now() < deadline {
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Message(_)) => messages += 1,
            Ok(Event::Lagged {
                dropped,
                source: LagSource::ModuleRestart,
            }) => lost += dropped,
            Ok(Event::ModuleRestarted | Event::LinkLost { .. }) | Err(_) => {}
            Ok(other) => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(
        messages, CAPACITY as u64,
        "the queued messages are delivered"
    );
    assert_eq!(lost, (N - CAPACITY) as u64, "every lost message is counted");
}
