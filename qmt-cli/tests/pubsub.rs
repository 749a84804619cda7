//! `qmt pub` / `qmt sub`, run as the real binary: against the sim's embedded broker, and against
//! a mosquitto started for the test (interop with `mosquitto_pub` / `mosquitto_sub`, refused
//! credentials), with the documented exit codes.
//!
//! Tests that need mosquitto skip loudly when it (or mosquitto-clients) is not installed, and fail
//! instead when `QMT_REQUIRE_MOSQUITTO=1`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const QMT: &str = env!("CARGO_BIN_EXE_qmt");

/// Binary payload: CR LF, a quote and NUL in the middle, high bytes.
const BINARY: &[u8] = b"line 1\r\nsays \"hi\"\0\xff\xfe end";

fn qmt(args: &[&str]) -> Output {
    Command::new(QMT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "qmt-cli-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- mosquitto ----------------------------------------------------------------------------------

fn find(bin: &str, dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(dirs.iter().map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// mosquitto, mosquitto_pub, mosquitto_sub and mosquitto_passwd, or a loud skip (a panic with
/// `QMT_REQUIRE_MOSQUITTO=1`).
struct Tools {
    broker: PathBuf,
    pub_: PathBuf,
    sub: PathBuf,
    passwd: PathBuf,
}

fn tools() -> Option<Tools> {
    let sbin = ["/usr/sbin", "/usr/local/sbin"];
    let found = (
        find("mosquitto", &sbin),
        find("mosquitto_pub", &[]),
        find("mosquitto_sub", &[]),
        find("mosquitto_passwd", &[]),
    );
    if let (Some(broker), Some(pub_), Some(sub), Some(passwd)) = found {
        return Some(Tools {
            broker,
            pub_,
            sub,
            passwd,
        });
    }
    if std::env::var("QMT_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1") {
        panic!("mosquitto / mosquitto-clients not installed, and QMT_REQUIRE_MOSQUITTO=1");
    }
    eprintln!(
        "\n*** SKIPPED: mosquitto or mosquitto-clients not installed \
         (apt-get install mosquitto mosquitto-clients); \
         set QMT_REQUIRE_MOSQUITTO=1 to make this a failure ***\n"
    );
    None
}

/// A mosquitto on a free port of 127.0.0.1, logging everything, killed on drop.
struct Mosquitto {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Mosquitto {
    /// With `user`: anonymous clients refused, only `user` with `password` accepted.
    fn start(tools: &Tools, user: Option<(&str, &str)>) -> Mosquitto {
        Mosquitto::start_with(tools, user, "")
    }

    /// Like [`start`](Self::start), with more configuration (listeners) appended.
    fn start_with(tools: &Tools, user: Option<(&str, &str)>, extra: &str) -> Mosquitto {
        let dir = temp_dir("mosquitto");
        let port = free_port();
        let mut conf = format!(
            "user root\npersistence false\nlog_dest stderr\nlog_type all\n\
             listener {port} 127.0.0.1\n"
        );
        match user {
            None => conf += "allow_anonymous true\n",
            Some((name, pass)) => {
                let file = dir.join("passwd");
                std::fs::write(&file, format!("{name}:{pass}\n")).unwrap();
                let hashed = Command::new(&tools.passwd)
                    .arg("-U")
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    hashed.status.success(),
                    "mosquitto_passwd: {}",
                    show(&hashed)
                );
                conf += &format!("allow_anonymous false\npassword_file {}\n", file.display());
            }
        }
        conf += extra;
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
        let child = Command::new(&tools.broker)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut m = Mosquitto { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = m.child.try_wait() {
                panic!("mosquitto exited ({status}); log:\n{}", m.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto does not accept on {port}; log:\n{}",
                m.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    fn port(&self) -> String {
        self.port.to_string()
    }

    /// Waits until the client `id` has subscribed.
    fn wait_subscribed(&self, id: &str) {
        let needle = format!("Received SUBSCRIBE from {id}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(&needle) {
            assert!(
                Instant::now() < deadline,
                "{id} did not subscribe within 30 s; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for a child's exit (bounded), with its output.
fn finish(mut child: Child, within: Duration, what: &str) -> Output {
    let deadline = Instant::now() + within;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what} did not exit within {within:?}; {}", show(&out));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---- the embedded broker ------------------------------------------------------------------------

#[test]
fn pub_through_the_sim_exits_0() {
    let out = qmt(&["pub", "--sim", "-t", "t", "-m", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
}

#[test]
fn trace_shows_the_publish_and_never_the_password() {
    let secret = "hunter2-do-not-show";
    let out = qmt(&[
        "pub", "--sim", "--trace", "-t", "qmt/t", "-m", "hello", "-q", "1", "-u", "bob", "-P",
        secret,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(">> \"AT+QMTPUBEX=0,1,1,0,\\\"qmt/t\\\",5\""),
        "{err}"
    );
    assert!(err.contains(">> \"hello\""), "{err}");
    assert!(err.contains("<< \"+QMTPUBEX: 0,1,0\""), "{err}");
    assert!(
        err.contains(">> \"AT+QMTCONN=\" <parameters redacted>"),
        "{err}"
    );
    assert!(!err.contains(secret) && !text(&out.stdout).contains(secret));
}

#[test]
fn sub_timeout_exits_5_naming_the_wait() {
    let out = qmt(&[
        "sub",
        "--sim",
        "-t",
        "nobody/publishes",
        "-C",
        "1",
        "-W",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert_eq!(
        text(&out.stderr),
        "qmt sub: timeout: 0 of 1 message(s) within 1 s\n"
    );
}

// ---- exit codes without a broker ----------------------------------------------------------------

#[test]
fn missing_port_exits_3_naming_it() {
    let out = qmt(&[
        "pub",
        "--port",
        "/dev/nonexistent",
        "-h",
        "b",
        "-t",
        "t",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("qmt pub: ") && err.contains("/dev/nonexistent"),
        "{err}"
    );
    let out = qmt(&["sub", "--port", "/dev/nonexistent", "-t", "t"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn bad_arguments_exit_2() {
    // No message.
    let out = qmt(&["pub", "--sim", "-t", "t"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // Neither --port nor --sim.
    let out = qmt(&["pub", "-t", "t", "-m", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // QoS 3.
    let out = qmt(&["pub", "--sim", "-t", "t", "-m", "x", "-q", "3"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // A file that is not there, named.
    let out = qmt(&["pub", "--sim", "-t", "t", "-f", "/nonexistent/payload"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("/nonexistent/payload"));
    // --help documents the exit codes.
    let out = qmt(&["sub", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("5  timeout"), "{}", show(&out));
}

#[test]
fn nobody_listening_exits_4_naming_the_open_result() {
    // The sim's TCP connect is refused at once: AT+QMTOPEN reports result 5.
    let port = free_port().to_string();
    let out = qmt(&[
        "pub",
        "--sim",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "t",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(
        text(&out.stderr),
        "qmt pub: AT+QMTOPEN failed with result 5: network connection error: check the server and the port\n"
    );
}

#[test]
fn silent_broker_exits_5_naming_the_command() {
    // Accepts TCP (the kernel's backlog) and never answers CONNECT: the module retransmits
    // (pkt_timeout 5 s, 3 retries) and reports that it could not send the packet.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let started = Instant::now();
    let out = qmt(&[
        "pub",
        "--sim",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "t",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.starts_with("qmt pub: AT+QMTCONN failed"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(15), "{err}");
    drop(listener);
}

// ---- mosquitto interop --------------------------------------------------------------------------

#[test]
fn qmt_pub_to_mosquitto_sub_exact_bytes_at_each_qos() {
    let Some(tools) = tools() else { return };
    let broker = Mosquitto::start(&tools, None);
    let dir = temp_dir("payload");
    let file = dir.join("binary.bin");
    std::fs::write(&file, BINARY).unwrap();
    let file = file.to_str().unwrap();
    let cases: [(&str, &[&str], &[u8]); 4] = [
        ("0", &["-m", "hello from qmt"], b"hello from qmt"),
        ("0", &["-f", file], BINARY),
        ("1", &["-f", file], BINARY),
        ("2", &["-f", file], BINARY),
    ];
    for (n, (qos, what, want)) in cases.into_iter().enumerate() {
        let id = format!("msub-{n}");
        let topic = format!("qmt/interop/{n}");
        let sub = Command::new(&tools.sub)
            .args(["-h", "127.0.0.1", "-p", &broker.port(), "-i", &id])
            .args(["-t", &topic, "-q", qos, "-C", "1", "-N"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        broker.wait_subscribed(&id);
        let mut args = vec!["pub", "--sim", "-h", "127.0.0.1", "-p"];
        let port = broker.port();
        args.extend([port.as_str(), "-t", &topic, "-q", qos]);
        args.extend(what);
        let out = qmt(&args);
        assert_eq!(out.status.code(), Some(0), "case {n}: {}", show(&out));
        let got = finish(sub, Duration::from_secs(20), "mosquitto_sub");
        assert!(got.status.success(), "case {n}: {}", show(&got));
        assert_eq!(got.stdout, want, "case {n} (QoS {qos})");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `qmt sub -c -i ID`: a persistent session. A message published while no `qmt sub` runs is
/// queued by mosquitto and printed by the next run with the same id; without `-c` it is not. The
/// trace shows the session and the never-retransmit `timeout` setting (the soak's finding).
#[test]
fn persistent_sub_gets_what_was_published_while_away() {
    let Some(tools) = tools() else { return };
    let broker = Mosquitto::start(&tools, None);
    let port = broker.port();
    let sub = |id: &str, extra: &[&str]| {
        let mut args = vec!["sub", "--sim", "-h", "127.0.0.1", "-p", &port, "-i", id];
        args.extend(["-t", "qmt/away", "-q", "1"]);
        args.extend(extra);
        qmt(&args)
    };
    let publish = |text: &str| {
        let out = Command::new(&tools.pub_)
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "qmt/away", "-q", "1"])
            .args(["-m", text])
            .output()
            .unwrap();
        assert!(out.status.success(), "mosquitto_pub: {}", show(&out));
    };
    for (persistent, id) in [(true, "qsub-away-c"), (false, "qsub-away-clean")] {
        let c: &[&str] = if persistent { &["-c"] } else { &[] };
        // First run: subscribe, then stop cleanly after 1 s (DISCONNECT keeps a session).
        let first = sub(id, &[c, &["-W", "1", "--trace"]].concat());
        assert_eq!(first.status.code(), Some(0), "{}", show(&first));
        let trace = text(&first.stderr);
        let cfg = [
            ">> \"AT+QMTCFG=\\\"session\\\",0,0\"",
            ">> \"AT+QMTCFG=\\\"timeout\\\",0,20,0,0\"",
        ];
        for line in cfg {
            assert_eq!(trace.contains(line), persistent, "{line} in:\n{trace}");
        }
        publish(&format!("sent while {id} was away"));
        let second = sub(id, &[c, &["-C", "1", "-W", "3"]].concat());
        if persistent {
            assert_eq!(second.status.code(), Some(0), "{}", show(&second));
            assert_eq!(text(&second.stdout), format!("sent while {id} was away\n"));
        } else {
            // A clean session starts empty: nothing comes within the wait (exit 5).
            assert_eq!(second.status.code(), Some(5), "{}", show(&second));
            assert!(second.stdout.is_empty(), "{}", show(&second));
        }
    }
    // -c needs -i (as mosquitto_sub): a fixed default id would share one session between users.
    let out = qmt(&["sub", "--sim", "-c", "-t", "t"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("--id"), "{}", show(&out));
}

/// `qmt sub` started with `args`, waited for until subscribed as `id`; then `mosquitto_pub`
/// sends `payload` (from a file); `qmt sub`'s stdout is returned (`None`: skipped).
fn mosquitto_pub_to_qmt_sub(extra: &[&str], payload: &[u8], qos: &str) -> Option<Vec<u8>> {
    let tools = tools()?;
    let broker = Mosquitto::start(&tools, None);
    let id = format!("qsub-{}", extra.len());
    let port = broker.port();
    let mut child = Command::new(QMT)
        .args(["sub", "--sim", "-h", "127.0.0.1", "-p", &port, "-i", &id])
        .args([
            "-t",
            "qmt/other",
            "-t",
            "qmt/in/#",
            "-q",
            qos,
            "-C",
            "1",
            "-v",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let needle = format!("Received SUBSCRIBE from {id}");
    while !broker.log().contains(&needle) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("qmt sub exited ({status}) before subscribing: {err}");
        }
        assert!(Instant::now() < deadline, "no SUBSCRIBE: {}", broker.log());
        thread::sleep(Duration::from_millis(20));
    }
    let dir = temp_dir("mpub");
    let file = dir.join("payload.bin");
    std::fs::write(&file, payload).unwrap();
    let out = Command::new(&tools.pub_)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "qmt/in/x",
            "-q",
            qos,
            "-f",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "mosquitto_pub: {}", show(&out));
    let got = finish(child, Duration::from_secs(20), "qmt sub");
    assert_eq!(got.status.code(), Some(0), "{}", show(&got));
    let _ = std::fs::remove_dir_all(dir);
    Some(got.stdout)
}

#[test]
fn mosquitto_pub_to_qmt_sub_text() {
    let Some(got) = mosquitto_pub_to_qmt_sub(&[], b"hello from mosquitto", "1") else {
        return;
    };
    assert_eq!(text(&got), "qmt/in/x hello from mosquitto\n");
}

#[test]
fn mosquitto_pub_to_qmt_sub_binary_buffered() {
    let Some(got) = mosquitto_pub_to_qmt_sub(&["--buffered"], BINARY, "2") else {
        return;
    };
    let mut want = b"qmt/in/x ".to_vec();
    want.extend_from_slice(BINARY);
    want.push(b'\n');
    assert_eq!(got, want);
}

#[test]
fn wrong_password_exits_4_and_the_right_one_0() {
    let Some(tools) = tools() else { return };
    let broker = Mosquitto::start(&tools, Some(("alice", "right-pass")));
    let port = broker.port();
    let run = |pass: &str| {
        qmt(&[
            "pub",
            "--sim",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "alice",
            "-P",
            pass,
            "-t",
            "t",
            "-m",
            "x",
        ])
    };
    let out = run("wrong-pass-do-not-show");
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("qmt pub: the broker refused the connection: CONNACK 5"),
        "{err}"
    );
    assert!(!err.contains("wrong-pass-do-not-show"), "{err}");
    let out = run("right-pass");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

// ---- TLS through the module ---------------------------------------------------------------------

/// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, as PEM files
/// in `dir`: ca.pem, server.pem, server.key, client.pem, client.key.
fn write_pki(dir: &std::path::Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "qmt-cli test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, cn: &str, eku, file: &str| {
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![eku];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
    };
    leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
        "server",
    );
    leaf(
        Vec::new(),
        "qmt-cli-client",
        ExtendedKeyUsagePurpose::ClientAuth,
        "client",
    );
}

#[test]
fn tls_with_ca_and_client_certificate_against_mosquitto() {
    let Some(tools) = tools() else { return };
    let pki = temp_dir("pki");
    write_pki(&pki);
    let (tls_port, mutual_port) = (free_port(), free_port());
    let files = format!(
        "cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
        d = pki.display()
    );
    let extra = format!(
        "listener {tls_port} 127.0.0.1\n{files}\
         listener {mutual_port} 127.0.0.1\n{files}require_certificate true\n"
    );
    let broker = Mosquitto::start_with(&tools, None, &extra);
    let p = |f: &str| pki.join(f).to_str().unwrap().to_owned();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    let (tls_port, mutual_port) = (tls_port.to_string(), mutual_port.to_string());

    let sub = Command::new(&tools.sub)
        .args(["-h", "127.0.0.1", "-p", &broker.port(), "-i", "tls-sub"])
        .args(["-t", "qmt/tls/#", "-C", "2", "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    broker.wait_subscribed("tls-sub");

    // Server verified against the CA (seclevel 1).
    let out = qmt(&[
        "pub",
        "--sim",
        "-h",
        "localhost",
        "-p",
        &tls_port,
        "--cafile",
        &ca,
        "-t",
        "qmt/tls/ca",
        "-m",
        "over tls",
        "-q",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        show(&out),
        broker.log()
    );
    // Mutual TLS (seclevel 2), traced: the uploads are checked and never shown.
    let out = qmt(&[
        "pub",
        "--sim",
        "--trace",
        "-h",
        "localhost",
        "-p",
        &mutual_port,
        "--cafile",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "-t",
        "qmt/tls/mutual",
        "-m",
        "mutual",
        "-q",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        show(&out),
        broker.log()
    );
    let err = text(&out.stderr);
    assert_eq!(err.matches("AT+QFUPL=").count(), 3, "{err}");
    assert_eq!(
        err.matches("bytes of upload data, not shown>").count(),
        3,
        "{err}"
    );
    assert!(err.contains(r#">> "AT+QSSLCFG=\"seclevel\",0,2""#), "{err}");
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(!err.contains(key_line), "the key shows in the trace");

    let got = finish(sub, Duration::from_secs(20), "mosquitto_sub");
    assert_eq!(
        text(&got.stdout),
        "qmt/tls/ca over tls\nqmt/tls/mutual mutual\n"
    );

    // The mutual-TLS listener refuses a module without a client certificate. With TLS 1.3 the
    // module's handshake completes before the server checks the client: the open succeeds and
    // mosquitto then closes the connection (+QMTSTAT 1 during the connect).
    let out = qmt(&[
        "pub",
        "--sim",
        "-h",
        "localhost",
        "-p",
        &mutual_port,
        "--cafile",
        &ca,
        "-t",
        "t",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("qmt pub: AT+QMTOPEN failed with result")
            || err.starts_with("qmt pub: the broker closed the connection while connecting"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(pki);
}

#[test]
fn trace_on_a_real_port_shows_the_at_traffic_without_secrets() {
    // A "real" port: the simulated module's pty, opened by path with --port, as a device would be.
    let sim = qmt_sim::Sim::start(qmt_sim::SimConfig::default()).expect("sim starts");
    let path = sim.pty_path().to_string_lossy().into_owned();
    let out = qmt(&[
        "pub",
        "--port",
        &path,
        "-h",
        "broker.example",
        "-t",
        "qmt/real",
        "-m",
        "hi",
        "-u",
        "bob",
        "-P",
        "s3cr3t-pw",
        "--trace",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#">> "AT+QMTPUBEX=0,0,0,0,\"qmt/real\",2""#),
        "{err}"
    );
    assert!(err.contains(r#"<< "+QMTPUBEX: 0,0,0""#), "{err}");
    assert!(
        err.contains(r#">> "AT+QMTCONN=" <parameters redacted>"#),
        "{err}"
    );
    assert!(
        !err.contains("s3cr3t-pw") && !text(&out.stdout).contains("s3cr3t-pw"),
        "{err}"
    );
}
