//! Issue 8, secrets audit: sessions with a password, an `aliauth` device secret and a mutual-TLS
//! private key run through qmt-client against the sim with a process-wide `tracing` subscriber at
//! TRACE level capturing every event and span field; no secret byte appears in the captured logs,
//! in the Debug form of any public value the sessions touched, or in any error.
//!
//! The TLS part and the wrong-password refusal need mosquitto: without it they are skipped loudly
//! (a failure with `QMT_REQUIRE_MOSQUITTO=1`); the password and device-secret parts always run.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use qmt_client::{ClientError, ClientOptions, Modem, ModemConfig, Qos, RecoveryPolicy, TlsFiles};
use qmt_sim::{BrokerChoice, ResolveAll, Sim, SimConfig};
use support::sim_support::session::CustomMosquitto;
use support::sim_support::{Mosquitto, MosquittoOpts, TestPki};
use support::{expect_message, modem, opts, sim};

const PASSWORD: &str = "pw-Zq9xK7-S3cr3t!";
const WRONG_PASSWORD: &str = "pw-Wr0ng-Jh2mV8-x";
const DEVICE_SECRET: &str = "ds-Wm4pL2-AliS3cr3t";

/// Every event (target, message and fields) and every span's fields, from every thread, at every
/// level. Process-wide: a thread-local subscriber races with tracing's interest cache, and the
/// modem, reactor and sim log from their own threads.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

impl Capture {
    fn global() -> &'static Capture {
        static CAPTURE: OnceLock<Capture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone())
                .expect("no other global subscriber in this test binary");
            capture
        })
    }

    fn push(&self, text: &str) {
        self.0.lock().unwrap().push_str(text);
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl tracing::field::Visit for Capture {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        self.push(&format!("{}={value:?} ", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.push(&format!("{}={value} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.push(&format!("span {} ", span.metadata().name()));
        span.record(&mut self.clone());
        self.push("\n");
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
        self.push("\n");
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        self.push(&format!("{} {}: ", m.level(), m.target()));
        event.record(&mut self.clone());
        self.push("\n");
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Debug strings and error messages of everything the sessions touched.
#[derive(Default)]
struct Shown(Vec<String>);

impl Shown {
    fn debug(&mut self, v: &dyn Debug) {
        self.0.push(format!("{v:?}"));
        self.0.push(format!("{v:#?}"));
    }
    fn error(&mut self, e: &ClientError) {
        self.0.push(e.to_string());
        self.debug(e);
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            self.0.push(s.to_string());
            src = s.source();
        }
    }
}

/// The secrets to look for: whole values, and for a PEM key the whole file plus every 16-byte
/// run of its base64 body (so that any leaked piece of 31 bytes or more is caught), and one
/// distinctive slice from its middle.
fn needles(secrets: &[&str], key_pem: Option<&[u8]>) -> Vec<String> {
    let mut n: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
    if let Some(pem) = key_pem {
        let pem = String::from_utf8(pem.to_vec()).unwrap();
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        assert!(body.len() >= 64, "a real key body: {pem}");
        let mid = body.len() / 2;
        n.push(body[mid..mid + 16].to_owned());
        n.extend(
            body.as_bytes()
                .chunks_exact(16)
                .map(|c| String::from_utf8(c.to_vec()).unwrap()),
        );
        n.push(pem);
    }
    n
}

fn assert_no_secret(what: &str, hay: &str, needles: &[String]) {
    for s in needles {
        if let Some(at) = hay.find(s.as_str()) {
            let from = at.saturating_sub(200);
            let to = (at + s.len() + 200).min(hay.len());
            panic!(
                "a secret ({} bytes) leaked into {what}: …{}…",
                s.len(),
                hay.get(from..to).unwrap_or("<not on a char boundary>")
            );
        }
    }
}

/// Password and device secret against the sim's embedded broker: connect, subscribe, publish at
/// every QoS, receive, disconnect, close.
fn password_and_device_secret(shown: &mut Shown) {
    let sim = sim();
    let modem = modem(&sim);
    let builder = opts("qmt-audit-pw")
        .credentials("audit-user", PASSWORD)
        .keep_alive(30)
        .will(Qos::AtLeastOnce, false, "qmt/audit/will", "gone");
    shown.debug(&builder);
    let options = builder.build().unwrap();
    shown.debug(&options);
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    let granted = client
        .subscribe(&[("qmt/audit/pw", Qos::ExactlyOnce)])
        .unwrap();
    shown.debug(&granted);
    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
        client
            .publish("qmt/audit/pw", format!("at {qos}"), qos, false)
            .unwrap();
        let m = expect_message(&conn, "own message");
        shown.debug(&m);
    }
    let pending = client
        .publish_request("qmt/audit/pw", "handle", Qos::AtLeastOnce, false)
        .unwrap();
    shown.debug(&pending);
    pending.wait().unwrap();
    shown.debug(&expect_message(&conn, "handle's message"));
    // Errors the session can give: oversized, invalid secret, in use.
    shown.error(
        &client
            .publish("qmt/audit/pw", vec![0u8; 1501], Qos::AtMostOnce, false)
            .unwrap_err(),
    );
    shown.error(
        &opts("x")
            .credentials("u", format!("{PASSWORD}\r"))
            .build()
            .unwrap_err(),
    );
    shown.error(
        &modem
            .client(0, opts("dup").credentials("u", PASSWORD).build().unwrap())
            .map(|_| ())
            .unwrap_err(),
    );
    shown.debug(&client);
    shown.debug(&conn);
    shown.debug(&modem);
    shown.debug(modem.startup());

    // aliauth (its own client: aliauth and user/password are exclusive).
    let ali = opts("qmt-audit-ali").ali_auth("pk-audit", "dn-audit", DEVICE_SECRET);
    shown.debug(&ali);
    shown.error(&ali.clone().credentials("u", PASSWORD).build().unwrap_err());
    let ali = ali.build().unwrap();
    shown.debug(&ali);
    let (aclient, aconn) = modem
        .client_with_recovery(1, ali, RecoveryPolicy::disabled())
        .unwrap();
    aclient.connect().unwrap();
    aclient
        .publish("qmt/audit/pw", "from ali", Qos::AtLeastOnce, false)
        .unwrap();
    shown.debug(&expect_message(&conn, "ali's message"));
    shown.debug(&aclient);
    aclient.disconnect().unwrap();
    aclient.close().unwrap();

    client.unsubscribe(&["qmt/audit/pw"]).unwrap();
    client.disconnect().unwrap();
    shown.error(
        &client
            .publish("qmt/audit/pw", "late", Qos::AtLeastOnce, false)
            .unwrap_err(),
    );
    client.close().unwrap();
    for ev in conn.try_iter().chain(aconn.try_iter()) {
        shown.debug(&ev);
    }
}

/// Mutual TLS with the private key uploaded, then a refused connect with a wrong password.
/// `None` when mosquitto is missing (the support has said so loudly).
fn tls_and_wrong_password(shown: &mut Shown, pki: &TestPki) -> Option<()> {
    let mosquitto = Mosquitto::start(MosquittoOpts {
        tls: Some(pki),
        mutual_tls: true,
    })?;
    let mutual = mosquitto.mutual_tls.unwrap();
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(mosquitto.plain),
        resolve_all_to: ResolveAll::To(mutual),
        ..SimConfig::default()
    })
    .unwrap();
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    let files = TlsFiles::new()
        .ca_cert("cacert.pem", pki.ca_pem.clone())
        .client_cert("client.pem", pki.client.cert_pem.clone())
        .client_key("user_key.pem", pki.client.key_pem.clone());
    shown.debug(&files);
    shown.debug(&files.provision_commands(2).unwrap());
    let builder = ClientOptions::builder()
        .host("localhost")
        .client_id("qmt-audit-tls")
        .credentials("tls-user", PASSWORD)
        .tls(2)
        .tls_files(files);
    shown.debug(&builder);
    let options = builder.build().unwrap();
    shown.debug(&options);
    let (client, conn) = modem.client(0, options).unwrap();
    if let Err(e) = client.connect() {
        panic!(
            "TLS connect failed: {e}\nmosquitto log:\n{}",
            mosquitto.log()
        );
    }
    client
        .subscribe(&[("qmt/audit/tls", Qos::AtLeastOnce)])
        .unwrap();
    client
        .publish("qmt/audit/tls", "over tls", Qos::ExactlyOnce, false)
        .unwrap();
    shown.debug(&expect_message(&conn, "own message over TLS"));
    shown.debug(&client);
    client.disconnect().unwrap();
    client.close().unwrap();
    for ev in conn.try_iter() {
        shown.debug(&ev);
    }
    drop((client, conn, modem, sim));

    // A broker that checks passwords: the wrong one is refused (CONNACK 4/5), the right one not.
    let broker = CustomMosquitto::start(
        "allow_anonymous false\npassword_file {dir}/passwd",
        &[("audit-user", PASSWORD)],
    )?;
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(broker.addr),
        ..SimConfig::default()
    })
    .unwrap();
    let modem = support::modem(&sim);
    let wrong = opts("qmt-audit-wrong")
        .credentials("audit-user", WRONG_PASSWORD)
        .build()
        .unwrap();
    shown.debug(&wrong);
    let (bad, bad_conn) = modem
        .client_with_recovery(2, wrong, RecoveryPolicy::disabled())
        .unwrap();
    let e = bad.connect().unwrap_err();
    assert!(
        matches!(e, ClientError::Refused { .. }),
        "{e:?}\nmosquitto log:\n{}",
        broker.log()
    );
    shown.error(&e);
    let handle = bad.connect_request().unwrap();
    shown.debug(&handle);
    if let Err(e) = handle.wait() {
        shown.error(&e);
    }
    shown.debug(&bad);
    let _ = bad.close();
    for ev in bad_conn.try_iter() {
        shown.debug(&ev);
    }
    let (good, _c) = modem
        .client(
            3,
            opts("qmt-audit-right")
                .credentials("audit-user", PASSWORD)
                .build()
                .unwrap(),
        )
        .unwrap();
    good.connect().unwrap();
    good.disconnect().unwrap();
    Some(())
}

#[test]
fn no_secret_in_logs_debug_or_errors_at_trace_level() {
    let capture = Capture::global();
    let pki = TestPki::new("qmt-client secrets audit CA");
    let mut shown = Shown::default();

    password_and_device_secret(&mut shown);
    let tls = tls_and_wrong_password(&mut shown, &pki);

    let log = capture.text();
    // The capture saw the sessions, at every level and from every thread, including the
    // commands that carried the secrets (so the checks below can fail).
    let mut wants = vec![
        "TRACE ",
        "DEBUG qmt_client::sansio",
        "AT+QMTCONN=0,\"qmt-audit-pw\",\"audit-user\",",
        "AT+QMTCFG=\"aliauth\",1,\"pk-audit\",\"dn-audit\",",
        "AT+QMTPUBEX",
        "AT+QMTSUB",
    ];
    if tls.is_some() {
        wants.extend([
            "AT+QFUPL=\"UFS:user_key.pem\"",
            "AT+QMTCONN=2,\"qmt-audit-wrong\",\"audit-user\",",
        ]);
    }
    for want in wants {
        assert!(log.contains(want), "no {want:?} in the capture:\n{log}");
    }

    let needles = needles(
        &[PASSWORD, WRONG_PASSWORD, DEVICE_SECRET],
        tls.map(|()| &pki.client.key_pem[..]),
    );
    assert_no_secret("the captured logs", &log, &needles);
    assert!(shown.0.len() > 50, "{} values shown", shown.0.len());
    for s in &shown.0 {
        assert_no_secret("a Debug string or error message", s, &needles);
    }
    // The redaction is visible where a secret was held.
    assert!(shown.0.iter().any(|s| s.contains(qmt_proto::REDACTED)));
    if tls.is_none() {
        eprintln!(
            "secrets_audit: mosquitto is not installed: the TLS private-key and wrong-password \
             parts were SKIPPED"
        );
    }
}
