//! Six clients of one modem at once, from six threads; start-up recovery of a client left open by
//! an earlier `Modem`.

mod support;

use std::thread;

use qmt_client::{ClientError, Qos};
use support::{expect_message, modem, opts, sim};

#[test]
fn six_clients_from_six_threads() {
    let sim = sim();
    let modem = modem(&sim);
    thread::scope(|s| {
        for idx in 0..6i64 {
            let modem = modem.clone();
            s.spawn(move || {
                let (client, conn) = modem
                    .client(idx, opts(&format!("qmt-six-{idx}")).build().unwrap())
                    .unwrap();
                client.connect().unwrap();
                let topic = format!("qmt/six/{idx}");
                client.subscribe(&[(&topic, Qos::AtLeastOnce)]).unwrap();
                // Publishes from a second thread on a clone of the same client.
                let publisher = client.clone();
                let t = topic.clone();
                let h = thread::spawn(move || {
                    for i in 0..5 {
                        publisher
                            .publish(&t, format!("{idx}:{i}"), Qos::AtLeastOnce, false)
                            .unwrap();
                    }
                });
                let mut got: Vec<String> = (0..5)
                    .map(|_| {
                        let m = expect_message(&conn, "own message");
                        assert_eq!(i64::from(m.client_idx.get()), idx);
                        assert_eq!(m.topic(), topic);
                        m.payload_str().unwrap().to_owned()
                    })
                    .collect();
                h.join().unwrap();
                got.sort();
                let want: Vec<String> = (0..5).map(|i| format!("{idx}:{i}")).collect();
                assert_eq!(got, want, "client {idx}");
                client.disconnect().unwrap();
            });
        }
    });
    // The index range is checked.
    assert!(matches!(
        modem.client(6, opts("x").build().unwrap()),
        Err(ClientError::Invalid(_))
    ));
}

#[test]
fn a_client_left_open_by_an_earlier_modem_is_closed_at_start_up() {
    let sim = sim();
    {
        let first = modem(&sim);
        let (client, _conn) = first.client(0, opts("qmt-stale").build().unwrap()).unwrap();
        client.connect().unwrap();
        let (other, _c) = first
            .client(3, opts("qmt-stale-3").build().unwrap())
            .unwrap();
        other.connect().unwrap();
        // The host process "dies": everything dropped without a disconnect.
    }
    let second = modem(&sim);
    let mut stale: Vec<u8> = second
        .startup()
        .closed_stale
        .iter()
        .map(|i| i.get())
        .collect();
    stale.sort_unstable();
    assert_eq!(stale, [0, 3]);
    let (client, conn) = second
        .client(0, opts("qmt-stale").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/stale", Qos::AtLeastOnce)])
        .unwrap();
    client
        .publish("qmt/stale", "again", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(expect_message(&conn, "message").payload(), b"again");
}

#[test]
fn a_new_client_connects_on_an_index_whose_dropped_client_the_module_still_has_open() {
    let sim = sim();
    let modem = modem(&sim);
    let (first, first_conn) = modem
        .client(4, opts("qmt-reuse-first").build().unwrap())
        .unwrap();
    first.connect().unwrap();
    first.subscribe(&[("qmt/reuse", Qos::AtLeastOnce)]).unwrap();
    // Its handles dropped while connected: the module-side client stays open and connected.
    drop((first, first_conn));
    let (second, conn) = modem
        .client(4, opts("qmt-reuse-second").build().unwrap())
        .unwrap();
    second.connect().unwrap();
    second
        .subscribe(&[("qmt/reuse", Qos::AtLeastOnce)])
        .unwrap();
    second
        .publish("qmt/reuse", "second", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        expect_message(&conn, "the second client's message").payload_str(),
        Some("second")
    );
}
