//! The reactor's plumbing, independent of what the link answers: open errors, ports that go
//! away, shutdown.

mod reactor_support;

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use qmt_sim::{Fault, Sim, SimConfig};
use qmt_transport::link::CommandError;
use qmt_transport::reactor::{CloseReason, OpenError, PortConfig, PortEvent, Reactor, SubmitError};
use reactor_support::{cmd, expect_closed, open};

#[test]
fn open_error_names_the_path() {
    let reactor = Reactor::start().unwrap();
    let err = reactor
        .add_port("/dev/qmt-no-such-port", PortConfig::default())
        .unwrap_err();
    assert!(matches!(err, OpenError::Device { .. }), "{err:?}");
    assert_eq!(err.path(), "/dev/qmt-no-such-port");
    let msg = err.to_string();
    assert!(msg.contains("/dev/qmt-no-such-port"), "{msg}");
}

#[test]
fn an_exclusive_port_cannot_be_opened_twice() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (_port, _events) = open(&reactor, &sim, PortConfig::default());
    let err = reactor
        .add_port(sim.pty_path(), PortConfig::default())
        .unwrap_err();
    let path = sim.pty_path().to_string_lossy().into_owned();
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains(&path), "{err}");
}

#[test]
fn a_port_whose_device_goes_away_closes_alone() {
    let mut gone = Sim::start(SimConfig::default()).unwrap();
    let stays = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &gone, PortConfig::default());
    let (other, other_events) = open(&reactor, &stays, PortConfig::default());

    // A command still on the wire when the device goes: the module answers one byte every
    // 50 ms, so `\r\nOK\r\n` takes 300 ms.
    gone.inject(Fault::SplitWrites {
        max_chunk: 1,
        delay_ms: 50,
    })
    .unwrap();
    let pending = port
        .submit(cmd("AT+QMTOPEN=0,\"broker.example.com\",1883"), None)
        .unwrap();
    gone.shutdown();

    let reason = expect_closed(&events);
    assert_eq!(reason, CloseReason::Hangup);
    assert_eq!(
        events.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Disconnected)
    );
    match pending.wait() {
        Err(CommandError::Closed { .. }) => {}
        other => panic!("in-flight command: {other:?}"),
    }
    match port.submit(cmd("AT"), None) {
        Err(SubmitError::Closed { port: p, reason }) => {
            assert_eq!(p, port.path());
            assert_eq!(reason, CloseReason::Hangup);
        }
        other => panic!("submit after close: {other:?}"),
    }

    // The other port is untouched.
    assert_eq!(other.closed(), None);
    let _ = other.submit(cmd("AT"), None).unwrap();
    assert!(
        !matches!(
            other_events.recv_timeout(Duration::from_millis(200)),
            Ok(PortEvent::Closed { .. })
        ),
        "the other port closed"
    );
}

#[test]
fn shutdown_completes_pending_commands_with_closed() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let mut reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &sim, PortConfig::default());
    // The module's answer trickles out one byte a second: the command is certainly still
    // pending when the shutdown comes (before: a race the reactor could win by reading the OK).
    sim.inject(Fault::SplitWrites {
        max_chunk: 1,
        delay_ms: 1000,
    })
    .unwrap();
    let pending = port
        .submit(cmd("AT+QMTOPEN=0,\"broker.example.com\",1883"), None)
        .unwrap();
    reactor.shutdown();
    match pending.wait() {
        Err(CommandError::Closed { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(expect_closed(&events), CloseReason::Shutdown);
    assert!(matches!(
        port.submit(cmd("AT"), None),
        Err(SubmitError::Closed {
            reason: CloseReason::Shutdown,
            ..
        })
    ));
    assert!(matches!(
        reactor.add_port(sim.pty_path(), PortConfig::default()),
        Err(OpenError::ReactorStopped { .. })
    ));
}

#[test]
fn closing_a_port_releases_the_device() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &sim, PortConfig::default());
    port.close();
    assert_eq!(expect_closed(&events), CloseReason::Closed);
    // Exclusive access is gone with the descriptor: the path opens again.
    let (_again, _ev) = reactor
        .add_port(sim.pty_path(), PortConfig::default())
        .unwrap();
}

#[test]
fn dropping_every_handle_closes_the_port() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let reactor = Reactor::start().unwrap();
    let (port, events) = open(&reactor, &sim, PortConfig::default());
    let clone = port.clone();
    drop(port);
    assert!(matches!(
        events.recv_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout) | Ok(PortEvent::Urc(_))
    ));
    drop(clone);
    assert_eq!(expect_closed(&events), CloseReason::Closed);
}
