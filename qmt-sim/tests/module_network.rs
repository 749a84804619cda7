//! The module core's network side (spec §10), driven by scripted host bytes and time: boot, SIM,
//! identity, registration and its URCs, signal and operator, APN and PDP contexts, the bearer
//! `AT+QMTOPEN` needs, CFUN and power-down, and the §10 faults.
#![allow(clippy::unwrap_used)]

mod host;

use std::time::Duration;

use host::{Host, lines};
use qmt_proto::params::ClientIdx;
use qmt_sim::fault::Fault;
use qmt_sim::net::NetAction;
use qmt_sim::{BootUrcs, NetworkSim, RegOutcome, SimCard, SimPin};

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}

const BOOT_FULL: [&str; 6] = [
    "RDY",
    "+CFUN: 1",
    "+CPIN: READY",
    "+QUSIM: 1",
    "+QIND: SMS DONE",
    "+QIND: PB DONE",
];

// ---------------------------------------------------------------------------------------------
// Boot.

#[test]
fn default_boots_with_rdy_alone_and_opens_at_once() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
}

#[test]
fn full_boot_urcs_in_order() {
    let mut h = Host::with(NetworkSim {
        boot_urcs: BootUrcs::Full,
        ..NetworkSim::default()
    });
    assert_eq!(h.read(), lines(&BOOT_FULL));
}

#[test]
fn slow_boot_answers_nothing_then_boots() {
    let mut h = Host::with(NetworkSim {
        boot_delay: Duration::from_secs(5),
        ..NetworkSim::cold()
    });
    assert_eq!(h.read(), "");
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    // A host probing with AT every 500 ms hears nothing, not even its echo.
    for _ in 0..9 {
        assert_eq!(h.send("AT\r"), "");
        assert_eq!(h.wait(Duration::from_millis(500)), "");
    }
    assert_eq!(h.wait(Duration::from_millis(500)), lines(&BOOT_FULL));
    assert_eq!(h.send("AT\r"), "AT\r\r\nOK\r\n");
}

#[test]
fn no_sim_and_locked_sim_boot_urcs() {
    let mut h = Host::with(NetworkSim {
        sim: SimCard::Absent,
        ..NetworkSim::cold()
    });
    assert_eq!(h.read(), lines(&["RDY", "+CFUN: 1", "+CPIN: NOT READY"]));
    assert_eq!(h.m.poll_timeout(), None, "no SIM: no search");
    let mut h = Host::with(NetworkSim {
        sim: SimCard::Locked(SimPin::new("1234").unwrap()),
        ..NetworkSim::cold()
    });
    assert_eq!(
        h.read(),
        lines(&["RDY", "+CFUN: 1", "+CPIN: SIM PIN", "+QUSIM: 1"])
    );
}

#[test]
fn power_cycle_boots_again_with_the_same_network() {
    let mut h = Host::booted(NetworkSim {
        boot_delay: Duration::from_secs(2),
        ..NetworkSim::cold()
    });
    assert_eq!(h.inject(Fault::PowerCycle), "");
    assert_eq!(h.send("AT\r"), "");
    assert_eq!(h.wait(Duration::from_secs(2)), lines(&BOOT_FULL));
}

// ---------------------------------------------------------------------------------------------
// The bearer MQTT needs.

#[test]
fn cold_open_fails_without_a_bearer() {
    let mut h = Host::booted(NetworkSim::cold());
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    assert!(h.net().is_empty());
    // Registered after 1.5 s, still no context.
    h.wait(Duration::from_secs(2));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
}

#[test]
fn pdp_deact_drops_bound_clients_and_open_fails_after() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    h.send("AT+QMTCFG=\"pdpcid\",1,2\r");
    assert_eq!(
        h.open(1),
        lines(&["OK", "+QMTOPEN: 1,3"]),
        "context 2 inactive"
    );
    // Deactivating an inactive context does nothing.
    assert_eq!(h.inject(Fault::PdpDeact { cid: 2 }), "");
    assert_eq!(
        h.inject(Fault::PdpDeact { cid: 1 }),
        lines(&["+QIURC: \"pdpdeact\",1", "+QMTSTAT: 0,1"])
    );
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(0) }]);
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
}

#[test]
fn registration_loss_drops_the_bearer_and_regain_does_not_restore_it() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(h.open(2), lines(&["OK", "+QMTOPEN: 2,0"]));
    assert_eq!(
        h.inject(Fault::RegistrationLost),
        lines(&["+QIURC: \"pdpdeact\",1", "+QMTSTAT: 2,1"])
    );
    assert_eq!(h.open(2), lines(&["OK", "+QMTOPEN: 2,3"]));
    assert_eq!(h.inject(Fault::RegistrationRegained), "");
    assert_eq!(h.open(2), lines(&["OK", "+QMTOPEN: 2,3"]));
}

#[test]
fn sim_removed_says_not_ready_and_drops_everything() {
    let mut h = Host::booted(NetworkSim {
        sim_hotswap: true,
        ..NetworkSim::default()
    });
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(
        h.inject(Fault::SimRemoved),
        lines(&[
            "+CPIN: NOT READY",
            "+QSIMSTAT: 1,0",
            "+QIURC: \"pdpdeact\",1",
            "+QMTSTAT: 0,1"
        ])
    );
    assert_eq!(
        h.inject(Fault::SimInserted),
        lines(&["+QSIMSTAT: 1,1", "+CPIN: READY"])
    );
}

#[test]
fn registration_outcomes_gate_the_default_bearer() {
    for (outcome, opens) in [
        (RegOutcome::Home, true),
        (RegOutcome::Roaming, true),
        (RegOutcome::Denied, false),
        (RegOutcome::NoService, false),
    ] {
        let mut h = Host::booted(NetworkSim {
            registration: outcome,
            reg_delay: Duration::from_secs(1),
            ..NetworkSim::default()
        });
        assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]), "{outcome:?}");
        h.wait(Duration::from_secs(1));
        let want = if opens {
            "+QMTOPEN: 1,0"
        } else {
            "+QMTOPEN: 1,3"
        };
        assert_eq!(h.open(1), lines(&["OK", want]), "{outcome:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Commands (§10 through qmt_proto::Command::parse).

#[test]
fn identity_answers() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(
        h.send("ATI\r"),
        lines(&["Quectel", "EC200U", "Revision: EC200UCNAAR02A01M08", "OK"])
    );
    assert_eq!(h.send("AT+CGMI\r"), lines(&["Quectel", "OK"]));
    assert_eq!(h.send("AT+CGMM\r"), lines(&["EC200U", "OK"]));
    assert_eq!(h.send("AT+CGMR\r"), lines(&["EC200UCNAAR02A01M08", "OK"]));
    assert_eq!(h.send("AT+GSN\r"), lines(&["869487050123457", "OK"]));
    assert_eq!(h.send("AT+CGSN\r"), lines(&["869487050123457", "OK"]));
    assert_eq!(
        h.send("AT+QCCID\r"),
        lines(&["+QCCID: 89860121801234567890", "OK"])
    );
    assert_eq!(h.send("AT+CIMI\r"), lines(&["460011234567890", "OK"]));
    let mut h = Host::booted(NetworkSim {
        identity: qmt_sim::Identity {
            model: "EC600S".into(),
            revision: "EC600SCNLAR01A01M08".into(),
            ..qmt_sim::Identity::default()
        },
        ..NetworkSim::default()
    });
    assert_eq!(
        h.send("ATI\r"),
        lines(&["Quectel", "EC600S", "Revision: EC600SCNLAR01A01M08", "OK"])
    );
}

#[test]
fn no_sim_answers_error_10() {
    let mut h = Host::booted(NetworkSim {
        sim: SimCard::Absent,
        ..NetworkSim::default()
    });
    assert_eq!(h.send("AT+CPIN?\r"), lines(&["+CME ERROR: 10"]));
    assert_eq!(h.send("AT+CIMI\r"), lines(&["+CME ERROR: 10"]));
    assert_eq!(h.send("AT+QCCID\r"), lines(&["+CME ERROR: 10"]));
    assert_eq!(h.send("AT+QSIMSTAT?\r"), lines(&["+QSIMSTAT: 0,0", "OK"]));
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 0,0", "OK"]));
    assert_eq!(h.send("AT+CGATT?\r"), lines(&["+CGATT: 0", "OK"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    // Verbose mode words it.
    h.send("AT+CMEE=2\r");
    assert_eq!(
        h.send("AT+CPIN?\r"),
        lines(&["+CME ERROR: SIM not inserted"])
    );
}

#[test]
fn pin_right_then_ready_and_registered() {
    let mut h = Host::booted(NetworkSim {
        sim: SimCard::Locked(SimPin::new("1234").unwrap()),
        ..NetworkSim::default()
    });
    assert_eq!(h.send("AT+CPIN?\r"), lines(&["+CPIN: SIM PIN", "OK"]));
    assert_eq!(h.send("AT+CIMI\r"), lines(&["+CME ERROR: 11"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    assert_eq!(h.send("AT+CPIN=\"0000\"\r"), lines(&["+CME ERROR: 16"]));
    assert_eq!(h.send("AT+CPIN=\"1234\"\r"), lines(&["OK", "+CPIN: READY"]));
    assert_eq!(h.send("AT+CPIN?\r"), lines(&["+CPIN: READY", "OK"]));
    assert_eq!(h.send("AT+CPIN=\"1234\"\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 0,1", "OK"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
}

#[test]
fn three_wrong_pins_lock_the_sim() {
    let mut h = Host::booted(NetworkSim {
        sim: SimCard::Locked(SimPin::new("1234").unwrap()),
        ..NetworkSim::default()
    });
    for _ in 0..3 {
        assert_eq!(h.send("AT+CPIN=\"4321\"\r"), lines(&["+CME ERROR: 16"]));
    }
    assert_eq!(h.send("AT+CPIN?\r"), lines(&["+CPIN: SIM PUK", "OK"]));
    assert_eq!(h.send("AT+CPIN=\"1234\"\r"), lines(&["+CME ERROR: 12"]));
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 0,0", "OK"]));
}

#[test]
fn registration_searches_then_registers_with_urcs_per_n() {
    let mut h = Host::booted(NetworkSim::cold());
    assert_eq!(h.send("AT+CREG=1\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+CEREG=2\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 2,2", "OK"]));
    assert_eq!(h.send("AT+CGREG?\r"), lines(&["+CGREG: 0,2", "OK"]));
    assert_eq!(h.send("AT+CGATT?\r"), lines(&["+CGATT: 0", "OK"]));
    assert_eq!(
        h.send("AT+QNWINFO\r"),
        lines(&["+QNWINFO: No Service", "OK"])
    );
    assert_eq!(h.send("AT+COPS?\r"), lines(&["+COPS: 0", "OK"]));
    assert_eq!(h.send("AT+QCSQ\r"), lines(&["+QCSQ: \"NOSERVICE\"", "OK"]));
    assert_eq!(h.wait(Duration::from_millis(1499)), "");
    assert_eq!(
        h.wait(Duration::from_millis(1)),
        lines(&["+CREG: 1", "+CEREG: 1,\"1A2B\",\"01C3D04\",7"])
    );
    // The query answer: one more leading field than the URC.
    assert_eq!(
        h.send("AT+CEREG?\r"),
        lines(&["+CEREG: 2,1,\"1A2B\",\"01C3D04\",7", "OK"])
    );
    assert_eq!(h.send("AT+CREG?\r"), lines(&["+CREG: 1,1", "OK"]));
    assert_eq!(h.send("AT+CGREG?\r"), lines(&["+CGREG: 0,1", "OK"]));
    assert_eq!(h.send("AT+CGATT?\r"), lines(&["+CGATT: 1", "OK"]));
    assert_eq!(h.send("AT+CSQ\r"), lines(&["+CSQ: 24,99", "OK"]));
    assert_eq!(
        h.send("AT+QCSQ\r"),
        lines(&["+QCSQ: \"LTE\",-65,-95,100,-9", "OK"])
    );
    assert_eq!(
        h.send("AT+QNWINFO\r"),
        lines(&["+QNWINFO: \"FDD LTE\",\"46001\",\"LTE BAND 3\",1650", "OK"])
    );
    assert_eq!(
        h.send("AT+COPS?\r"),
        lines(&["+COPS: 0,0,\"CHN-UNICOM\",7", "OK"])
    );
    assert_eq!(h.send("AT+CEREG=3\r"), lines(&["ERROR"]));
}

#[test]
fn registration_denied_and_roaming() {
    let mut h = Host::booted(NetworkSim {
        registration: RegOutcome::Denied,
        ..NetworkSim::cold()
    });
    h.send("AT+CEREG=2\r");
    assert_eq!(h.wait(Duration::from_secs(2)), lines(&["+CEREG: 3"]));
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 2,3", "OK"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]));

    let mut h = Host::booted(NetworkSim {
        registration: RegOutcome::Roaming,
        signal: qmt_sim::SignalLevel {
            rssi: 10,
            ..qmt_sim::SignalLevel::default()
        },
        ..NetworkSim::cold()
    });
    h.send("AT+CGREG=1\r");
    assert_eq!(h.wait(Duration::from_secs(2)), lines(&["+CGREG: 5"]));
    assert_eq!(h.send("AT+CGREG?\r"), lines(&["+CGREG: 1,5", "OK"]));
    assert_eq!(h.send("AT+CSQ\r"), lines(&["+CSQ: 10,99", "OK"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["OK"]));
}

#[test]
fn registration_lost_and_regained() {
    let mut h = Host::booted(NetworkSim::default());
    h.send("AT+CEREG=2\r");
    h.send("AT+CREG=1\r");
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(
        h.inject(Fault::RegistrationLost),
        lines(&[
            "+CREG: 2",
            "+CEREG: 2",
            "+QIURC: \"pdpdeact\",1",
            "+QMTSTAT: 0,1"
        ])
    );
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 2,2", "OK"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]));
    assert_eq!(
        h.inject(Fault::RegistrationRegained),
        lines(&["+CREG: 1", "+CEREG: 1,\"1A2B\",\"01C3D04\",7"])
    );
    assert_eq!(h.send("AT+QIACT?\r"), lines(&["OK"]));
}

#[test]
fn wrong_apn_activation_fails_and_qiact_cgpaddr_answer() {
    let mut h = Host::booted(NetworkSim {
        expected_apn: Some("iot.example".into()),
        ..NetworkSim::cold()
    });
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]), "not registered");
    h.wait(Duration::from_secs(2));
    assert_eq!(
        h.send("AT+QICSGP=1\r"),
        lines(&["+QICSGP: 1,\"\",\"\",\"\",0", "OK"])
    );
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]), "empty APN");
    assert_eq!(
        h.send("AT+QICSGP=1,1,\"internet\",\"\",\"\",0\r"),
        lines(&["OK"])
    );
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]), "wrong APN");
    h.send("AT+CMEE=1\r");
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["+CME ERROR: 148"]));
    h.send("AT+CMEE=0\r");
    assert_eq!(
        h.send("AT+QICSGP=1,1,\"iot.example\",\"user\",\"s3cret\",1\r"),
        lines(&["OK"])
    );
    assert_eq!(
        h.send("AT+QICSGP=1\r"),
        lines(&["+QICSGP: 1,\"iot.example\",\"user\",\"\",1", "OK"])
    );
    assert_eq!(h.send("AT+QIACT?\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QIACT?\r"),
        lines(&["+QIACT: 1,1,1,\"10.65.0.3\"", "OK"])
    );
    assert_eq!(
        h.send("AT+CGPADDR=1\r"),
        lines(&["+CGPADDR: 1,\"10.65.0.3\"", "OK"])
    );
    assert_eq!(
        h.send("AT+CGPADDR=2\r"),
        lines(&["+CGPADDR: 2,\"0.0.0.0\"", "OK"])
    );
    // Already active: ERROR (the chosen answer; spec §10.6 uncertain).
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(h.send("AT+QIDEACT=1\r"), lines(&["OK", "+QMTSTAT: 0,1"]));
    assert_eq!(h.send("AT+QIACT?\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QIDEACT=1\r"), lines(&["OK"]));
}

#[test]
fn pdp_deact_then_open_fails_until_qideact_and_qiact() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(
        h.send("AT+QIACT?\r"),
        lines(&["+QIACT: 1,1,1,\"10.65.0.3\"", "OK"])
    );
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(
        h.inject(Fault::PdpDeact { cid: 1 }),
        lines(&["+QIURC: \"pdpdeact\",1", "+QMTSTAT: 0,1"])
    );
    assert_eq!(h.send("AT+QIACT?\r"), lines(&["OK"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["ERROR"]), "QIDEACT first");
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    assert_eq!(h.send("AT+QIDEACT=1\r"), lines(&["OK"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    assert_eq!(h.send("AT+QIACT=1\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QIACT?\r"),
        lines(&["+QIACT: 1,1,1,\"10.65.0.4\"", "OK"])
    );
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
}

#[test]
fn cfun_0_and_4_drop_registration_and_contexts() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(h.send("AT+CFUN?\r"), lines(&["+CFUN: 1", "OK"]));
    h.send("AT+CEREG=1\r");
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(
        h.send("AT+CFUN=4\r"),
        lines(&["OK", "+QMTSTAT: 0,1", "+CEREG: 0"])
    );
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(0) }]);
    assert_eq!(h.send("AT+CFUN?\r"), lines(&["+CFUN: 4", "OK"]));
    assert_eq!(h.send("AT+CSQ\r"), lines(&["+CSQ: 99,99", "OK"]));
    assert_eq!(h.send("AT+QIACT?\r"), lines(&["OK"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,3"]));
    // Back on: the default network registers at once and context 1 comes back by itself.
    assert_eq!(h.send("AT+CFUN=1\r"), lines(&["OK", "+CEREG: 1"]));
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(
        h.send("AT+CFUN=0\r"),
        lines(&["OK", "+QMTSTAT: 0,1", "+CEREG: 0"])
    );
    assert_eq!(h.send("AT+CFUN=2\r"), lines(&["ERROR"]));
}

#[test]
fn cfun_1_1_restarts_with_the_boot_urcs() {
    let mut h = Host::booted(NetworkSim::cold());
    h.wait(Duration::from_secs(2));
    h.send("AT+QIACT=1\r");
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    let mut want = lines(&["OK"]);
    want.push_str(&lines(&BOOT_FULL));
    assert_eq!(h.send("AT+CFUN=1,1\r"), want);
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(0) }]);
    // Echo is back on; the search starts again; nothing is active.
    assert_eq!(
        h.send("AT+CEREG?\r"),
        format!("AT+CEREG?\r{}", lines(&["+CEREG: 0,2", "OK"]))
    );
    assert_eq!(
        h.send("AT+QIACT?\r"),
        format!("AT+QIACT?\r{}", lines(&["OK"]))
    );
}

#[test]
fn qpowd_says_powered_down_then_nothing() {
    let mut h = Host::booted(NetworkSim::default());
    assert_eq!(h.open(0), lines(&["OK", "+QMTOPEN: 0,0"]));
    assert_eq!(h.send("AT+QPOWD\r"), lines(&["OK", "POWERED DOWN"]));
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(0) }]);
    assert_eq!(h.send("AT\r"), "");
    assert_eq!(h.wait(Duration::from_secs(30)), "");
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(h.inject(Fault::StrayUrc("+X".into())), lines(&["+X"]));
    // Power comes back.
    assert_eq!(h.inject(Fault::PowerCycle), lines(&["RDY"]));
    assert_eq!(h.send("AT\r"), "AT\r\r\nOK\r\n");
    assert_eq!(
        h.send("AT+QPOWD=0\r"),
        "AT+QPOWD=0\r\r\nOK\r\n\r\nPOWERED DOWN\r\n"
    );
}

#[test]
fn delays_past_the_clock_never_panic() {
    let mut h = Host::with(NetworkSim {
        boot_delay: Duration::MAX,
        reg_delay: Duration::MAX,
        ..NetworkSim::cold()
    });
    assert_eq!(h.read(), lines(&BOOT_FULL), "taken as no boot delay");
    h.send("ATE0\r");
    assert_eq!(h.wait(Duration::from_secs(3600)), "");
    assert_eq!(h.send("AT+CEREG?\r"), lines(&["+CEREG: 0,2", "OK"]));
}
