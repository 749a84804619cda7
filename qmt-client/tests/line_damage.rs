//! UART damage (spec §10.7) end to end: the sim drops, flips or inserts bytes on the line in
//! both directions while a peer sends messages to the client. The driver never hangs, reports
//! the messages whose payload lost or gained bytes (`Event::MessageDamaged`), never delivers one
//! of those, and keeps working once the damage stops.

mod support;

use std::time::{Duration, Instant};

use qmt_client::{Event, Qos};
use qmt_sim::Fault;
use rumqttc::QoS;
use support::{Peer, modem_with_recovery, opts, sim};

#[test]
fn damaged_messages_are_reported_never_delivered_and_the_client_recovers() {
    let sim = sim();
    let modem = modem_with_recovery(&sim);
    let (client, conn) = modem
        .client(0, opts("qmt-damage").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/damage", Qos::AtMostOnce)])
        .unwrap();
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-damage-peer");
    // Payloads of one length each: a delivered payload of another length lost or gained bytes.
    let payload = |i: usize| format!("message-{i:05}-{}", "x".repeat(40));
    sim.inject(Fault::LineDamage {
        per_million: 2_000,
        seed: 11,
    })
    .unwrap();
    const N: usize = 400;
    for i in 0..N {
        peer.publish("qmt/damage", QoS::AtMostOnce, payload(i).as_bytes());
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let len = payload(0).len();
    let (mut whole, mut flipped, mut damaged) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match conn.recv_timeout(Duration::from_secs(3)) {
            Ok(Event::Message(m)) => {
                // Never a payload that lost or gained bytes.
                assert_eq!(m.payload().len(), len, "{m:?}");
                let i: Option<usize> = std::str::from_utf8(m.payload())
                    .ok()
                    .and_then(|s| s.get(8..13)?.parse().ok());
                if i.is_some_and(|i| m.payload() == payload(i).as_bytes()) {
                    whole += 1;
                } else {
                    // A flipped bit: no AT driver can see it.
                    flipped += 1;
                }
            }
            Ok(Event::MessageDamaged { .. }) => damaged += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    println!("{whole} whole, {flipped} with a flipped bit, {damaged} reported damaged of {N}");
    assert!(
        damaged > 0,
        "2 damaged bytes per 1,000: some payloads lost or gained bytes"
    );
    assert!(whole > N / 2, "most messages arrive whole: {whole}");
    // The damage stops: the client works again (recovering first if a command was hit).
    sim.inject(Fault::LineDamage {
        per_million: 0,
        seed: 0,
    })
    .unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if client
            .publish("qmt/damage/after", "ok", Qos::AtLeastOnce, false)
            .is_ok()
        {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(ok, "publishing works again once the line is clean");
}
