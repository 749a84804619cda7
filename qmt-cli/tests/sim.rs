//! `qmt sim` as a user runs it: the binary prints a pty path, a host talks AT over it, and faults
//! typed on its standard input reach the serial line at once.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::SimProcess;

/// Reads from the port until `want` appears in what arrived (or the time is up).
fn read_until(port: &mut dyn Read, want: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        match port.read(&mut buf) {
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the pty: {e}"),
        }
        if String::from_utf8_lossy(&seen).contains(want) {
            break;
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn qmt_sim_serves_a_pty_and_takes_faults_on_stdin() {
    let mut sim = SimProcess::start(&["--fault", "urc +QMTSTAT: 5,7"]);
    let mut stdin = sim.child.stdin.take().expect("stdin");
    assert!(sim.first.contains("embedded"), "{}", sim.first);

    let mut port = sim.port();
    let t = Duration::from_secs(10);
    // Power-up RDY and the --fault given at start both waited in the pty for the host.
    let got = read_until(&mut port, "+QMTSTAT: 5,7", t);
    assert!(
        got.contains("RDY") && got.contains("+QMTSTAT: 5,7"),
        "{got:?}"
    );

    port.write_all(b"AT+QMTCFG=\"keepalive\",0\r")
        .expect("write");
    let got = read_until(&mut port, "OK\r\n", t);
    assert!(
        got.contains("+QMTCFG: \"keepalive\",120\r\n\r\nOK\r\n"),
        "{got:?}"
    );

    // A fault typed on the console arrives at once; a bad one is refused without stopping the sim.
    writeln!(stdin, "explode").expect("stdin");
    writeln!(stdin, "urc +QMTSTAT: 0,1").expect("stdin");
    let got = read_until(&mut port, "+QMTSTAT: 0,1", t);
    assert!(got.contains("\r\n+QMTSTAT: 0,1\r\n"), "{got:?}");
    writeln!(stdin, "power-cycle").expect("stdin");
    let got = read_until(&mut port, "RDY", t);
    assert!(got.contains("\r\nRDY\r\n"), "{got:?}");
    port.write_all(b"AT\r").expect("write");
    let got = read_until(&mut port, "OK\r\n", t);
    assert!(
        got.contains("AT\r\r\nOK\r\n"),
        "echo is back on after the power cycle: {got:?}"
    );
}

#[test]
fn qmt_sim_cold_leaves_the_bring_up_to_the_host() {
    let mut sim = SimProcess::start(&[
        "--cold",
        "--reg-delay",
        "0.3",
        "--expect-apn",
        "iot.example",
        "--rssi",
        "17",
    ]);
    let mut stdin = sim.child.stdin.take().expect("stdin");
    let mut port = sim.port();
    let t = Duration::from_secs(10);
    let got = read_until(&mut port, "+QIND: PB DONE\r\n", t);
    assert!(
        got.contains("RDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"),
        "{got:?}"
    );
    std::thread::sleep(Duration::from_millis(400));
    port.write_all(b"ATE0\rAT+CSQ\r").expect("write");
    let got = read_until(&mut port, "+CSQ: 17,99\r\n\r\nOK\r\n", t);
    assert!(got.contains("+CSQ: 17,99"), "{got:?}");
    port.write_all(b"AT+QIACT=1\r").expect("write");
    let got = read_until(&mut port, "ERROR\r\n", t);
    assert!(got.ends_with("\r\nERROR\r\n"), "wrong (empty) APN: {got:?}");
    port.write_all(b"AT+QICSGP=1,1,\"iot.example\",\"\",\"\",0\rAT+QIACT=1\rAT+QIACT?\r")
        .expect("write");
    let got = read_until(&mut port, "OK\r\n\r\nOK\r\n\r\n+QIACT: 1,1,1,", t);
    assert!(got.contains("+QIACT: 1,1,1,\"10.65."), "{got:?}");
    // The bearer fault typed on the console.
    writeln!(stdin, "pdp-deact 1").expect("stdin");
    let got = read_until(&mut port, "pdpdeact", t);
    assert!(got.contains("+QIURC: \"pdpdeact\",1"), "{got:?}");
}

#[test]
fn qmt_sim_files_and_clock_flags() {
    let ca = std::env::temp_dir().join(format!("qmt-sim-flags-{}.pem", std::process::id()));
    std::fs::write(&ca, b"abcd").expect("write ca");
    let file_flag = format!("UFS:cacert.pem={}", ca.display());
    let sim = SimProcess::start(&[
        "--file",
        &file_flag,
        "--no-qfupl-answer",
        "--clock-unset",
        "1980",
        "--network-time",
        "1735689600",
        "--tz",
        "-20",
        "--ntp-delay",
        "0.2",
    ]);
    let mut port = sim.port();
    let t = Duration::from_secs(10);
    read_until(&mut port, "RDY\r\n", t);
    port.write_all(b"ATE0\rAT+QFLST=\"*\"\r").expect("write");
    let got = read_until(
        &mut port,
        "OK\r\n\r\n+QFLST: \"UFS:cacert.pem\",4\r\n\r\nOK\r\n",
        t,
    );
    assert!(got.contains("+QFLST: \"UFS:cacert.pem\",4"), "{got:?}");
    port.write_all(b"AT+QFUPL=\"UFS:k.pem\",2,5\r")
        .expect("write");
    read_until(&mut port, "CONNECT\r\n", t);
    port.write_all(b"ab").expect("write");
    let got = read_until(&mut port, "OK\r\n", t);
    assert!(!got.contains("+QFUPL"), "answer left out: {got:?}");
    port.write_all(b"AT+CCLK?\r").expect("write");
    let got = read_until(&mut port, "OK\r\n", t);
    assert!(
        got.contains("+CCLK: \"80/01/0"),
        "unset 1980 clock: {got:?}"
    );
    port.write_all(b"AT+QNTP=1,\"pool.ntp.org\"\r")
        .expect("write");
    // 2025-01-01 00:00 UTC at -20 quarter hours (UTC-5) is 2024-12-31 19:00.
    let got = read_until(&mut port, "-20\"\r\n", t);
    assert!(got.contains("+QNTP: 0,\"2024/12/31,19:00:0"), "{got:?}");
    let _ = std::fs::remove_file(&ca);
}
