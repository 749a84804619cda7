//! The cold preset over the real pty shell: a host brings the module up itself (boot URCs, wait
//! for registration, set the APN, activate context 1) before MQTT can open, against the embedded
//! broker.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use qmt_sim::{Fault, Sim, SimConfig};
use support::AtPort;

/// Wait for a line or an answer (generous: a loaded 2-core machine).
const T: Duration = Duration::from_secs(10);

fn cmd(port: &mut AtPort, line: &str) -> Vec<String> {
    port.send(line);
    port.read_until_final(T)
}

#[test]
fn cold_module_is_brought_up_by_the_host() {
    let sim = Sim::start(SimConfig {
        network: qmt_sim::NetworkSim {
            expected_apn: Some("iot.example".into()),
            ..qmt_sim::NetworkSim::cold()
        },
        ..SimConfig::cold()
    })
    .unwrap();
    let started = Instant::now();
    let mut port = AtPort::open(sim.pty_path());
    let boot: Vec<String> = (0..6).map(|_| port.expect_line(|_| true, T)).collect();
    assert_eq!(
        boot,
        [
            "RDY",
            "+CFUN: 1",
            "+CPIN: READY",
            "+QUSIM: 1",
            "+QIND: SMS DONE",
            "+QIND: PB DONE"
        ]
    );
    assert_eq!(cmd(&mut port, "ATE0"), ["ATE0", "OK"]);
    assert_eq!(cmd(&mut port, "AT+CPIN?"), ["+CPIN: READY", "OK"]);
    assert_eq!(cmd(&mut port, "AT+CEREG=2"), ["OK"]);
    // No bearer yet.
    assert_eq!(
        cmd(&mut port, "AT+QMTOPEN=0,\"broker.example\",1883"),
        ["OK"]
    );
    assert_eq!(port.expect_line(|_| true, T), "+QMTOPEN: 0,3");
    // Registration arrives as a URC after the search (1.5 s from power-up).
    let reg = port.expect_line(|l| l.starts_with("+CEREG:"), T);
    assert_eq!(reg, "+CEREG: 1,\"1A2B\",\"01C3D04\",7");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        cmd(&mut port, "AT+CEREG?"),
        ["+CEREG: 2,1,\"1A2B\",\"01C3D04\",7", "OK"]
    );
    assert_eq!(cmd(&mut port, "AT+QIACT=1"), ["ERROR"], "empty APN refused");
    assert_eq!(
        cmd(&mut port, "AT+QICSGP=1,1,\"iot.example\",\"\",\"\",0"),
        ["OK"]
    );
    assert_eq!(cmd(&mut port, "AT+QIACT=1"), ["OK"]);
    let act = cmd(&mut port, "AT+QIACT?");
    assert!(act[0].starts_with("+QIACT: 1,1,1,\"10.65."), "{act:?}");
    // Now MQTT opens, on the embedded broker.
    assert_eq!(
        cmd(&mut port, "AT+QMTOPEN=0,\"broker.example\",1883"),
        ["OK"]
    );
    assert_eq!(port.expect_line(|_| true, T), "+QMTOPEN: 0,0");
    assert_eq!(cmd(&mut port, "AT+QMTCONN=0,\"cold\""), ["OK"]);
    assert_eq!(port.expect_line(|_| true, T), "+QMTCONN: 0,0,0");
    // The network drops the bearer: the client goes with it.
    sim.inject(Fault::PdpDeact { cid: 1 }).unwrap();
    assert_eq!(port.expect_line(|_| true, T), "+QIURC: \"pdpdeact\",1");
    assert_eq!(port.expect_line(|_| true, T), "+QMTSTAT: 0,1");
}
