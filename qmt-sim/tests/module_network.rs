//! The module core's network side (spec §10), driven by scripted host bytes and time: boot, SIM,
//! identity, registration and its URCs, signal and operator, APN and PDP contexts, the bearer
//! `AT+QMTOPEN` needs, CFUN and power-down, and the §10 faults.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qmt_proto::params::ClientIdx;
use qmt_sim::fault::Fault;
use qmt_sim::module::Module;
use qmt_sim::net::{NetAction, NetEvent};
use qmt_sim::{BootUrcs, NetworkSim, RegOutcome, SimCard, SimPin};

/// A host on the serial line, with its own clock.
struct Host {
    m: Module,
    now: Instant,
}

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}

/// `\r\n<line>\r\n` for each line.
fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("\r\n{l}\r\n")).collect()
}

const BOOT_FULL: [&str; 6] = [
    "RDY",
    "+CFUN: 1",
    "+CPIN: READY",
    "+QUSIM: 1",
    "+QIND: SMS DONE",
    "+QIND: PB DONE",
];

impl Host {
    /// A module with this network, powered up now; nothing read yet.
    fn with(network: NetworkSim) -> Host {
        let now = Instant::now();
        Host {
            m: Module::with_network(now, network),
            now,
        }
    }

    /// A module with this network, booted (after its boot delay), echo off.
    fn booted(network: NetworkSim) -> Host {
        let delay = network.boot_delay;
        let mut h = Host::with(network);
        assert!(h.wait(delay).contains("RDY"));
        assert_eq!(h.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
        h
    }

    fn read(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(chunk) = self.m.poll_output() {
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    fn send(&mut self, s: &str) -> String {
        self.m.feed(s.as_bytes(), self.now);
        self.read()
    }

    /// Lets `d` pass, firing every deadline on the way.
    fn wait(&mut self, d: Duration) -> String {
        let end = self.now + d;
        while let Some(t) = self.m.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.m.handle_timeout(self.now);
        }
        self.now = end;
        self.m.handle_timeout(self.now);
        self.read()
    }

    fn net(&mut self) -> Vec<NetAction> {
        std::iter::from_fn(|| self.m.poll_net()).collect()
    }

    fn inject(&mut self, f: Fault) -> String {
        self.m.inject(f, self.now);
        self.read()
    }

    /// `AT+QMTOPEN` of client `idx`; `Some(output)` when the module went to the network (and the
    /// connection was played as successful), `None` with the module's answer otherwise.
    fn open(&mut self, idx: i64) -> String {
        let mut out = self.send(&format!("AT+QMTOPEN={idx},\"broker.test\",1883\r"));
        if let [NetAction::Connect { client_idx, .. }] = self.net().as_slice() {
            self.m.handle_net(
                NetEvent::Connected {
                    client_idx: *client_idx,
                },
                self.now,
            );
            out.push_str(&self.read());
        }
        out
    }
}

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
