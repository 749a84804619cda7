//! Every QoS 1/2 publish that fails after its handle was returned reaches its caller as
//! `ClientError::PublishFailed` and every client's listener as `Event::PublishFailed`, with the
//! same cause, however it failed: the module refused the command (`+CME ERROR`), the module gave
//! up (`+QMTPUBEX: idx,msgid,2`), or the link was lost. Retransmission notices are
//! `Event::Retransmitting`.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use qmt_client::OpKind;
use qmt_client::PublishFailure;
use qmt_client::{ClientError, Event, Qos};
use qmt_proto::codes::{PacketResult, StatCode};
use qmt_proto::params::ClientIdx;
use qmt_sim::Fault;
use support::{T, expect_event, modem, opts, sim};

fn failed_event(conn: &qmt_client::Connection) -> (u16, Qos, PublishFailure) {
    match expect_event(conn, "publish failed", |e| {
        matches!(e, Event::PublishFailed { .. })
    }) {
        Event::PublishFailed {
            msgid, qos, cause, ..
        } => (msgid, qos, cause),
        _ => unreachable!(),
    }
}

#[test]
fn a_publish_the_module_refuses_is_an_event_too() {
    let sim = sim();
    let modem = modem(&sim);
    let (client, conn) = modem
        .client(3, opts("qmt-fail-refused").build().unwrap())
        .unwrap();
    // A stray "+QMTOPEN: 3,0" makes the host believe client 3 is open; the module knows better
    // and refuses the AT+QMTPUBEX with +CME ERROR.
    sim.inject(Fault::StrayUrc("+QMTOPEN: 3,0".into())).unwrap();
    let deadline = Instant::now() + T;
    while !client.is_open() {
        assert!(
            Instant::now() < deadline,
            "the stray +QMTOPEN never arrived"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let e = client
        .publish("qmt/fail/refused", "x", Qos::AtLeastOnce, false)
        .unwrap_err();
    let ClientError::PublishFailed {
        msgid,
        qos: Qos::AtLeastOnce,
        cause: PublishFailure::Refused(cme),
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(
        failed_event(&conn),
        (
            *msgid,
            Qos::AtLeastOnce,
            PublishFailure::Refused(cme.clone())
        )
    );
}

#[test]
fn a_publish_the_module_gives_up_on_is_reported_with_its_retransmissions() {
    let sim = sim();
    let modem = modem(&sim);
    // pkt_timeout 1 s, one retransmission, with notices.
    let options = opts("qmt-fail-gaveup").timeout(1, 1, true).build().unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    sim.inject(Fault::BrokerStall(Some(ClientIdx::new(0).unwrap())))
        .unwrap();
    let handle = client
        .publish_request("qmt/fail/gaveup", "x", Qos::ExactlyOnce, false)
        .unwrap();
    let progress = expect_event(&conn, "retransmission notice", |e| {
        matches!(e, Event::Retransmitting { .. })
    });
    let Event::Retransmitting {
        op: OpKind::Pub,
        msgid,
        count,
        ..
    } = progress
    else {
        panic!("{progress:?}")
    };
    assert_ne!(msgid, 0);
    assert_eq!(count, Some(1));
    let e = handle.wait().unwrap_err();
    assert_eq!(
        e,
        ClientError::PublishFailed {
            msgid,
            qos: Qos::ExactlyOnce,
            cause: PublishFailure::ModuleGaveUp(PacketResult::Failed)
        }
    );
    assert_eq!(
        failed_event(&conn),
        (
            msgid,
            Qos::ExactlyOnce,
            PublishFailure::ModuleGaveUp(PacketResult::Failed)
        )
    );
}

#[test]
fn a_publish_in_flight_when_the_link_is_lost_is_reported() {
    let sim = sim();
    let modem = modem(&sim);
    let options = opts("qmt-fail-lost").timeout(2, 5, true).build().unwrap();
    let (client, conn) = modem.client(1, options).unwrap();
    client.connect().unwrap();
    let idx = ClientIdx::new(1).unwrap();
    sim.inject(Fault::BrokerStall(Some(idx))).unwrap();
    // Nobody waits on the handle: the event alone must tell.
    let handle = client
        .publish_request("qmt/fail/lost", "x", Qos::AtLeastOnce, false)
        .unwrap();
    // In flight for sure once the module retransmits it.
    expect_event(&conn, "retransmission notice", |e| {
        matches!(e, Event::Retransmitting { .. })
    });
    sim.inject(Fault::BrokerClose(Some(idx))).unwrap();
    let (msgid, qos, cause) = failed_event(&conn);
    assert_ne!(msgid, 0);
    assert_eq!(qos, Qos::AtLeastOnce);
    assert_eq!(cause, PublishFailure::LinkLost(StatCode::ClosedByPeer));
    drop(handle);
}
