//! Bring-up and `qmt status` as a user runs them (spec §10): the real `qmt` binary against
//! `qmt sim` processes configured as a registered module, an unregistered one, one without SIM,
//! one that wants a PIN, and one that refuses the APN.
//!
//! Each run has a cap only so that a hang ends the test; no duration is asserted.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::process::Output;

use support::{SimProcess, qmt, text};

/// `qmt pub`/`qmt sub`'s exit code for "no network or SIM" (qmt-cli's `failure::exit::NETWORK`).
const EXIT_NETWORK: i32 = 6;

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

const KEYS: [&str; 10] = [
    "model",
    "firmware",
    "imei",
    "iccid",
    "sim",
    "operator",
    "registration",
    "signal_dbm",
    "pdp",
    "mqtt_clients",
];

#[test]
fn status_of_a_registered_module_names_everything() {
    let out = qmt(&["status", "--sim", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    for k in KEYS {
        assert!(v.get(k).is_some(), "no key {k}: {v}");
    }
    assert_eq!(v["model"], "EC200U");
    assert_eq!(v["imei"], "869487050123457");
    assert_eq!(v["sim"], "ready");
    assert_eq!(v["registered"], true);
    assert_eq!(v["registration"]["cereg"]["stat"], 1);
    assert_eq!(v["signal_dbm"], -65);
    assert_eq!(v["pdp"][0]["cid"], 1);
    assert_eq!(v["pdp"][0]["active"], true);

    // The text form says the same, one line per field.
    let out = qmt(&["status", "--sim"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.contains("EC200U") && t.contains("-65 dBm") && t.contains("registered"),
        "{t}"
    );
}

#[test]
fn status_of_an_unregistered_module_works_and_says_so() {
    let sim = SimProcess::start(&["--no-service", "--rssi", "99"]);
    let out = qmt(&["status", "--port", &sim.path, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    for k in KEYS {
        assert!(v.get(k).is_some(), "no key {k}: {v}");
    }
    assert_eq!(v["registered"], false, "{v}");
    assert_eq!(v["signal_dbm"], serde_json::Value::Null, "{v}");
    assert_eq!(v["model"], "EC200U", "identity still answers: {v}");
    let out = qmt(&["status", "--port", &sim.path]);
    let t = text(&out.stdout);
    assert!(t.contains("not registered"), "{t}");

    // A module without SIM: the SIM field says it.
    let sim = SimProcess::start(&["--no-sim"]);
    let out = qmt(&["status", "--port", &sim.path, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["sim"], "not inserted");
}

#[test]
fn a_missing_sim_a_wrong_pin_and_a_wrong_apn_exit_6_with_the_cause() {
    let sim = SimProcess::start(&["--no-sim"]);
    let out = qmt(&["pub", "--port", &sim.path, "-t", "t", "-m", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_NETWORK), "{err}");
    assert!(err.contains("no SIM"), "{err}");

    let sim = SimProcess::start(&["--pin", "4321"]);
    let out = qmt(&[
        "pub", "--port", &sim.path, "--pin", "1234", "-t", "t", "-m", "x",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_NETWORK), "{err}");
    assert!(err.contains("refused the PIN"), "{err}");
    assert!(
        !err.contains("1234") && !text(&out.stdout).contains("1234"),
        "{err}"
    );

    // Without the PIN: what to do is named.
    let sim = SimProcess::start(&["--pin", "4321"]);
    let out = qmt(&["pub", "--port", &sim.path, "-t", "t", "-m", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_NETWORK), "{err}");
    assert!(err.contains("--pin"), "{err}");

    let sim = SimProcess::start(&["--cold", "--reg-delay", "0", "--expect-apn", "iot.example"]);
    let out = qmt(&[
        "pub", "--port", &sim.path, "--apn", "internet", "-t", "t", "-m", "x",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_NETWORK), "{err}");
    assert!(err.contains("\"internet\""), "{err}");
}

#[test]
fn the_right_pin_and_apn_bring_a_cold_module_up_to_a_publish() {
    let sim = SimProcess::start(&[
        "--cold",
        "--reg-delay",
        "1",
        "--pin",
        "4321",
        "--expect-apn",
        "iot.example",
    ]);
    let out = qmt(&[
        "pub",
        "--port",
        &sim.path,
        "--pin",
        "4321",
        "--apn",
        "iot.example",
        "--trace",
        "-t",
        "t",
        "-m",
        "x",
        "-q",
        "1",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Every stage went over the wire, in order, and the PIN never did in clear.
    let order = [
        "AT+CPIN?",
        "AT+CPIN=",
        "AT+CEREG?",
        // The set form carries the APN password: its parameters are redacted.
        "AT+QICSGP=\" <parameters redacted>",
        "AT+QIACT=1",
        "AT+QMTOPEN=",
        "AT+QMTPUBEX=",
    ];
    let mut at = 0;
    for cmd in order {
        let found = err[at..]
            .find(cmd)
            .unwrap_or_else(|| panic!("{cmd} missing or out of order:\n{err}"));
        at += found;
    }
    assert!(!err.contains("4321"), "the PIN was shown:\n{err}");
}

#[test]
fn no_bring_up_on_a_module_without_a_context_names_the_missing_bearer() {
    let sim = SimProcess::start(&["--cold", "--reg-delay", "0"]);
    let out = qmt(&[
        "pub",
        "--port",
        &sim.path,
        "--no-bring-up",
        "-t",
        "t",
        "-m",
        "x",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_NETWORK), "{err}");
    assert!(err.contains("PDP context 1 is not active"), "{err}");
}

/// `qmt pub`/`qmt sub`'s exit code for "TLS needs the module's clock" (`failure::exit::CLOCK`).
const EXIT_CLOCK: i32 = 7;

/// Spec §10.9: TLS on a module whose clock was never set (`qmt sim --clock-unset 2000`, its SSL
/// context checking validity) exits 7 before anything is opened, saying how to fix it; with
/// `--ntp` the clock is synced with AT+QNTP, and a failed sync exits 7 naming its error.
#[test]
fn tls_with_an_unset_clock_exits_7_and_ntp_is_tried() {
    let sim = SimProcess::start(&["--clock-unset", "2000"]);
    let out = qmt(&["pub", "--port", &sim.path, "--tls", "-t", "t", "-m", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_CLOCK), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("never set") && err.contains("--ntp") && err.contains("ignorelocaltime"),
        "{err}"
    );

    let sim = SimProcess::start(&["--clock-unset", "1980", "--ntp-fail", "565"]);
    let out = qmt(&[
        "pub",
        "--port",
        &sim.path,
        "--tls",
        "--ntp",
        "pool.ntp.org",
        "-t",
        "t",
        "-m",
        "x",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_CLOCK), "{err}");
    assert!(err.contains("AT+QNTP") && err.contains("565"), "{err}");
}
