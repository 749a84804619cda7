//! End to end through the reactor and the real link, against simulated modules on ptys that
//! speak real MQTT to a real broker.

mod reactor_support;

use std::thread;
use std::time::Instant;

use qmt_sim::{BrokerChoice, EmbeddedBroker, Fault, Sim, SimConfig};
use qmt_transport::link::CommandError;
use qmt_transport::reactor::{CloseReason, PortConfig, PortEvent, Reactor, SubmitError};
use reactor_support::{T, cmd, expect_closed, expect_urc, mqtt_up, ok, open, recv_payload};

#[test]
fn a_full_mqtt_session_on_one_port() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &sim, PortConfig::default());

    mqtt_up(&port, &events, "qmt-reactor-1", "qmt/reactor", 1);

    // Publish to our own subscription: the result, and the message back.
    ok(
        &port,
        "AT+QMTPUBEX=0,7,1,0,\"qmt/reactor\",11",
        Some(b"hello\r\nworld"[..11].as_ref()),
    );
    let mut got_result = false;
    let mut got_message = None;
    while !(got_result && got_message.is_some()) {
        let l = expect_urc(
            &events,
            |l| l.starts_with("+QMTPUBEX:") || l.starts_with("+QMTRECV:"),
            "+QMTPUBEX result and +QMTRECV",
        );
        if l.starts_with("+QMTPUBEX:") {
            assert_eq!(l, "+QMTPUBEX: 0,7,0");
            got_result = true;
        } else {
            got_message = recv_payload(&l);
        }
    }
    assert_eq!(got_message.as_deref(), Some(&b"hello\r\nworl"[..]));

    ok(&port, "AT+QMTDISC=0", None);
    assert_eq!(
        expect_urc(&events, |l| l.starts_with("+QMTDISC:"), "+QMTDISC result"),
        "+QMTDISC: 0,0"
    );
    let stats = port.stats();
    assert!(stats.bytes_written > 0 && stats.bytes_read > 0, "{stats:?}");
    assert_eq!(stats.urcs_dropped, 0);
}

#[test]
fn four_ports_from_several_threads() {
    let broker = EmbeddedBroker::start().unwrap();
    let sims: Vec<_> = (0..4)
        .map(|_| {
            Sim::start(SimConfig {
                broker: BrokerChoice::External(broker.addr()),
                ..SimConfig::default()
            })
            .unwrap()
        })
        .collect();
    let reactor = Reactor::start().unwrap();
    let ports: Vec<_> = sims
        .iter()
        .map(|s| open(&reactor, s, PortConfig::default()))
        .collect();

    thread::scope(|s| {
        for (n, (port, events)) in ports.iter().enumerate() {
            // Two submitters share each port: the link keeps one command on the wire.
            let p2 = port.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    ok(&p2, "AT", None);
                }
            });
            s.spawn(move || {
                let topic = format!("qmt/multi/{n}");
                mqtt_up(port, events, &format!("qmt-multi-{n}"), &topic, 0);
                for i in 0..20 {
                    let payload = format!("port {n} message {i}");
                    ok(
                        port,
                        &format!("AT+QMTPUBEX=0,0,0,0,\"{topic}\",{}", payload.len()),
                        Some(payload.as_bytes()),
                    );
                    let l = expect_urc(events, |l| l.starts_with("+QMTRECV:"), "own message");
                    assert_eq!(recv_payload(&l).unwrap(), payload.as_bytes());
                }
                ok(port, "AT+QMTDISC=0", None);
            });
        }
    });
    for (port, _) in &ports {
        assert_eq!(port.closed(), None);
    }
}

#[test]
fn a_port_closed_under_load_fails_its_commands_and_spares_the_others() {
    let broker = EmbeddedBroker::start().unwrap();
    let config = || SimConfig {
        broker: BrokerChoice::External(broker.addr()),
        ..SimConfig::default()
    };
    let mut doomed = Sim::start(config()).unwrap();
    let survivor = Sim::start(config()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (a, a_events) = open(&reactor, &doomed, PortConfig::default());
    let (b, _b_events) = open(&reactor, &survivor, PortConfig::default());
    ok(&a, "ATE0", None);
    ok(&b, "ATE0", None);

    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let hammer = |port: qmt_transport::reactor::Port, started: std::sync::mpsc::Sender<()>| {
        thread::spawn(move || {
            let mut done = 0u64;
            loop {
                // Several commands in flight: the link queues them behind the one on the wire.
                let pending: Result<Vec<_>, _> =
                    (0..4).map(|_| port.submit(cmd("AT"), None)).collect();
                let pending = match pending {
                    Ok(p) => p,
                    Err(e) => return (done, Some(format!("submit: {e}"))),
                };
                for p in pending {
                    match p.wait() {
                        Ok(_) => done += 1,
                        Err(e) => return (done, Some(format!("wait: {e}"))),
                    }
                }
                if done == 40 {
                    let _ = started.send(());
                }
                if done >= 400_000 {
                    return (done, None);
                }
            }
        })
    };
    let a_load = hammer(a.clone(), started_tx.clone());
    started_rx.recv_timeout(T).unwrap();
    doomed.shutdown();

    let (done, err) = a_load.join().unwrap();
    let err = err.unwrap_or_else(|| panic!("{done} commands and no failure"));
    assert!(
        err.contains("closed") || err.contains("Closed"),
        "the failure names the closed port: {err}"
    );
    assert_eq!(expect_closed(&a_events), CloseReason::Hangup);
    assert!(matches!(
        a.submit(cmd("AT"), None),
        Err(SubmitError::Closed { .. })
    ));

    // The other port still works.
    for _ in 0..20 {
        ok(&b, "AT", None);
    }
    assert_eq!(b.closed(), None);
}

#[test]
fn in_flight_commands_of_a_closed_port_complete_with_closed() {
    let mut sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &sim, PortConfig::default());
    ok(&port, "ATE0", None);
    // The module answers one byte every 50 ms from now on: `\r\nOK\r\n` takes 300 ms, so the
    // three commands are still on the wire or queued when the module goes away.
    sim.inject(Fault::SplitWrites {
        max_chunk: 1,
        delay_ms: 50,
    })
    .unwrap();
    let queued: Vec<_> = (0..3)
        .map(|_| port.submit(cmd("AT+QMTOPEN?"), None).unwrap())
        .collect();
    sim.shutdown();
    for p in queued {
        match p.wait() {
            Err(CommandError::Closed { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(expect_closed(&events), CloseReason::Hangup);
}

#[test]
fn a_flood_into_a_slow_consumer_is_bounded_and_counted() {
    const CAPACITY: usize = 16;
    const COUNT: usize = 3000;
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(
        &reactor,
        &sim,
        PortConfig {
            urc_capacity: CAPACITY,
            ..PortConfig::default()
        },
    );
    mqtt_up(&port, &events, "qmt-flood", "qmt/flood", 0);
    let before = port.stats().urcs;
    sim.inject(Fault::Burst {
        topic: "qmt/flood".into(),
        count: COUNT,
    })
    .unwrap();

    // The consumer reads nothing while half the burst arrives; commands still complete.
    let deadline = Instant::now() + T;
    while port.stats().urcs < before + (COUNT as u64) / 2 {
        assert!(Instant::now() < deadline, "the burst did not arrive");
        ok(&port, "AT", None);
        assert!(events.len() <= CAPACITY);
    }
    let lagged = match events.try_recv() {
        Ok(PortEvent::Lagged { dropped }) => dropped,
        other => panic!("expected Lagged first, got {other:?}"),
    };
    assert!(lagged >= (COUNT / 2 - CAPACITY) as u64, "{lagged}");

    // Drain to the last message; every URC is either received or counted as dropped.
    let mut received = 0u64;
    let mut dropped = lagged;
    let last = (COUNT - 1).to_string();
    loop {
        match events.recv_timeout(T) {
            Ok(PortEvent::Urc(l)) => {
                received += 1;
                let l = String::from_utf8_lossy(l.bytes()).into_owned();
                if recv_payload(&l).as_deref() == Some(last.as_bytes()) {
                    break;
                }
            }
            Ok(PortEvent::Lagged { dropped: d }) => dropped += d,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(dropped, events.dropped());
    assert_eq!(received + dropped, port.stats().urcs - before);
    assert!(matches!(
        events.try_recv(),
        Err(std::sync::mpsc::TryRecvError::Empty)
    ));
}
