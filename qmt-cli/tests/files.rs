//! `qmt files` as a user runs it (spec §7, §10.8): the real `qmt` binary against the in-process
//! sim (`--sim --sim-file`) and a `qmt sim` process (`--port`), so that an upload is seen by the
//! next listing.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use support::{SimProcess, qmt, temp_file, text};

#[test]
fn list_shows_preloaded_files_as_text_and_json() {
    let (_d, path) = temp_file("old.pem", b"0123456789");
    let arg = format!("UFS:old.pem={path}");
    let out = qmt(&["files", "--sim", "--sim-file", &arg, "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{ "name": "UFS:old.pem", "size": 10 }])
    );
    let out = qmt(&["files", "--sim", "--sim-file", &arg, "list"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("UFS:old.pem") && shown.contains("10"),
        "{shown}"
    );
    assert!(
        !shown.contains("0123456789"),
        "contents are never printed: {shown}"
    );
}

#[test]
fn put_refuses_an_existing_name_unless_replace_and_rm_deletes() {
    let (_d, path) = temp_file("ca.pem", b"-----BEGIN CERTIFICATE-----\nSECRETBODY\n");
    let preload = format!("UFS:ca.pem={path}");
    let sim = SimProcess::start(&["--file", &preload]);
    let port = sim.path.as_str();
    let out = qmt(&["files", "--port", port, "put", &path]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("UFS:ca.pem exists") && err.contains("--replace"),
        "{err}"
    );

    // With --replace (traced: the contents stay redacted).
    let out = qmt(&[
        "files", "--port", port, "--trace", "put", &path, "--as", "new.pem",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("SECRETBODY"),
        "{}",
        text(&out.stderr)
    );
    let out = qmt(&[
        "files",
        "--port",
        port,
        "--trace",
        "put",
        &path,
        "--replace",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The trace shows each line as a quoted string.
    assert!(err.contains(r#"AT+QFDEL=\"UFS:ca.pem\""#), "{err}");
    assert!(err.contains("bytes of upload data, not shown"), "{err}");
    assert!(!err.contains("SECRETBODY"), "{err}");
    assert!(text(&out.stdout).contains("checksum verified"));

    let list = |port: &str| -> serde_json::Value {
        let out = qmt(&["files", "--port", port, "list", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = list(port);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"UFS:ca.pem") && names.contains(&"UFS:new.pem"),
        "{v}"
    );

    let out = qmt(&["files", "--port", port, "rm", "new.pem"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!list(port).to_string().contains("new.pem"));
    // A missing file: the module's error, exit 1.
    let out = qmt(&["files", "--port", port, "rm", "new.pem"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("AT+QFDEL") && err.contains("file not found"),
        "{err}"
    );
    // An unreadable local file is a bad argument, before the port is opened.
    let out = qmt(&["files", "--port", port, "put", "/nonexistent/x.pem"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
