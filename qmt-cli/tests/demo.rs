//! `qmt demo` runs a whole session through a simulated module and says so, step by step.

use std::process::Command;

#[test]
fn demo_runs_every_step_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_qmt"))
        .arg("demo")
        .output()
        .expect("run qmt demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for step in [
        "✓ modem ready",
        "✓ connected to the broker",
        "✓ subscribed, granted [ExactlyOnce]",
        "✓ QoS 0: published and received back \"hello at QoS 0\"",
        "✓ QoS 1: published and received back \"hello at QoS 1\"",
        "✓ QoS 2: published and received back \"hello at QoS 2\"",
        "✓ link lost: +QMTSTAT 1",
        "✓ recovered: reopened, reconnected and re-subscribed 1 filter(s)",
        "✓ published after recovery and received back \"back again\"",
        "✓ disconnected",
        "✓ closed",
        "All steps succeeded.",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    // The AT traffic is shown, indented, with the connect's parameters redacted.
    assert!(stdout.contains("      >> \"AT+QMTOPEN=0,"), "{stdout}");
    assert!(
        stdout.contains("AT+QMTCONN=\" <parameters redacted>"),
        "{stdout}"
    );
}
