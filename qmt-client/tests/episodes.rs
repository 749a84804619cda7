//! One loss, one recovery episode: `+QMTPING: idx,1` followed by `+QMTSTAT: idx,2` (spec §9)
//! reports one `RecoveryEvent::Lost` and one `RecoveryEvent::Restored`.

mod support;

use qmt_client::RecoveryEvent;
use qmt_client::{Event, Qos};
use qmt_sim::Fault;
use support::{expect_event, modem_with_recovery, opts, sim};

#[test]
fn keep_alive_failure_is_one_episode() {
    let sim = sim();
    let modem = modem_with_recovery(&sim);
    let options = opts("qmt-episode")
        .keep_alive(1)
        .timeout(1, 1, false)
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/episode", Qos::AtLeastOnce)])
        .unwrap();

    sim.inject(Fault::BrokerStall(None)).unwrap();
    // Every event, in order, until recovery is done: both raw events arrive (typed), the
    // broker resumes after the second (the +QMTSTAT), and one Restored ends the episode.
    let mut seen = Vec::new();
    loop {
        let ev = expect_event(&conn, "the episode's events", |_| true);
        let stat = matches!(ev, Event::LinkLost { .. });
        let done = matches!(
            ev,
            Event::Recovery {
                event: RecoveryEvent::Restored { .. },
                ..
            }
        );
        seen.push(ev);
        if stat {
            sim.inject(Fault::BrokerResume(None)).unwrap();
        }
        if done {
            break;
        }
    }
    assert!(
        seen.iter().any(|e| matches!(e, Event::PingTimeout { .. })),
        "{seen:#?}"
    );
    let lost = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Recovery {
                    event: RecoveryEvent::Lost { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(lost, 1, "one Lost per episode: {seen:#?}");
}
