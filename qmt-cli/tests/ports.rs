//! `qmt ports` on this machine: exit 0, one line per port the library lists and a summary; the
//! `--json` array has one object per port with the documented keys; `--port auto` for
//! pub/sub/status picks the single AT port or stops with exit 3 naming why.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Output, Stdio};

use qmt_transport::{PortRole, list_ports};

const QMT: &str = env!("CARGO_BIN_EXE_qmt");

fn qmt(args: &[&str]) -> Output {
    Command::new(QMT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn qmt_ports_lists_this_machine_and_exits_0() {
    let ports = list_ports().unwrap();
    let out = qmt(&["ports"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for p in &ports {
        let path = p.path.display().to_string();
        assert!(
            lines.iter().any(|l| l.starts_with(&path)),
            "{path} missing from:\n{stdout}"
        );
    }
    let at = ports
        .iter()
        .filter(|p| p.role == Some(PortRole::At))
        .count();
    let summary = match at {
        0 if ports.iter().any(|p| p.is_quectel()) => "no port of it is a known AT port",
        0 => "no Quectel module found",
        1 => "AT port: ",
        _ => "Quectel AT ports: ",
    };
    assert!(stdout.contains(summary), "{stdout}");
}

#[test]
fn qmt_ports_json_is_one_object_per_port() {
    let ports = list_ports().unwrap();
    let out = qmt(&["ports", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), ports.len());
    let mut keys = vec![
        "busy",
        "holder",
        "interface",
        "model",
        "path",
        "pid",
        "probe",
        "role",
        "vid",
    ];
    keys.sort_unstable();
    for (o, p) in arr.iter().zip(&ports) {
        let obj = o.as_object().unwrap();
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys);
        assert_eq!(obj["path"], p.path.display().to_string());
        assert!(obj["busy"].is_boolean());
        // Not probed without --probe.
        assert!(obj["probe"].is_null());
        match &p.usb {
            Some(u) => {
                assert_eq!(obj["vid"], format!("{:04x}", u.vid));
                assert_eq!(obj["pid"], format!("{:04x}", u.pid));
            }
            None => assert!(obj["vid"].is_null() && obj["pid"].is_null()),
        }
        assert_eq!(obj["role"].as_str(), p.role.map(PortRole::name));
    }
}

#[test]
fn port_auto_without_exactly_one_module_stops_with_exit_3_and_names_why() {
    let ports = list_ports().unwrap();
    let at: Vec<_> = ports
        .iter()
        .filter(|p| p.role == Some(PortRole::At))
        .collect();
    if at.len() == 1 {
        // A machine with one module: auto is that port, whatever happens next.
        let out = qmt(&["status", "--port", "auto"]);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("using {}", at[0].path.display())),
            "{stderr}"
        );
        return;
    }
    for args in [
        &["status", "--port", "auto"][..],
        &["pub", "--port", "auto", "-t", "qmt/t", "-m", "x"],
        &["sub", "--port", "auto", "-t", "qmt/t"],
    ] {
        let out = qmt(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("--port auto: "), "{stderr}");
        assert!(stderr.contains("--port PATH"), "{stderr}");
        if at.is_empty() {
            assert!(
                stderr.contains("no Quectel module found") || stderr.contains("no known AT role"),
                "{stderr}"
            );
        } else {
            for p in &at {
                assert!(stderr.contains(&p.path.display().to_string()), "{stderr}");
            }
        }
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn probe_results_are_named_in_json() {
    let out = qmt(&["ports", "--probe", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for o in v.as_array().unwrap() {
        let probe = &o["probe"];
        assert!(
            probe.is_null()
                || ["answers", "garbage", "silent", "busy", "error"]
                    .contains(&probe.as_str().unwrap()),
            "{o}"
        );
        // Only USB ports are probed (a legacy UART is not written to).
        if o["vid"].is_null() {
            assert!(probe.is_null(), "{o}");
        }
    }
}

#[test]
fn an_explicit_port_is_used_as_given() {
    // Only the word `auto` is looked up; a path is opened as given (a missing one is exit 3).
    let out = qmt(&["status", "--port", "/dev/qmt-no-such-port"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("/dev/qmt-no-such-port"));
}
