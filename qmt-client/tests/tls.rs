//! TLS with mutual authentication against mosquitto: the CA, the client certificate and its key
//! are uploaded by `connect` (each upload verified against the module's `+QFUPL` checksum), the
//! SSL context configured, and the session runs over TLS. Skipped loudly without mosquitto
//! (a failure with `QMT_REQUIRE_MOSQUITTO=1`).

mod support;

use qmt_client::{ClientError, ClientOptions, Modem, ModemConfig, Qos, TlsFiles};
use qmt_sim::{BrokerChoice, ResolveAll, Sim, SimConfig};
use rumqttc::QoS;
use support::sim_support::{Mosquitto, MosquittoOpts, TestPki};
use support::{Peer, T, expect_message};

#[test]
fn mutual_tls_against_mosquitto() {
    let pki = TestPki::new("qmt-client test CA");
    let Some(mosquitto) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: true,
    }) else {
        return;
    };
    let Some(mutual) = mosquitto.mutual_tls else {
        panic!("no mutual-TLS listener")
    };
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
    let options = ClientOptions::builder()
        .host("localhost")
        .client_id("qmt-client-tls")
        .tls(2)
        .tls_files(files)
        .build()
        .unwrap();
    // The key never shows in Debug output.
    let shown = format!("{options:?}");
    let key_line = String::from_utf8_lossy(&pki.client.key_pem)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(!shown.contains(&key_line), "{shown}");

    let (client, conn) = modem.client(0, options).unwrap();
    if let Err(e) = client.connect() {
        panic!(
            "TLS connect failed: {e}\nmosquitto log:\n{}",
            mosquitto.log()
        );
    }
    client.subscribe(&[("qmt/tls", Qos::AtLeastOnce)]).unwrap();
    let mut peer = Peer::connect(mosquitto.plain, "qmt-client-tls-peer");
    peer.subscribe("qmt/tls", QoS::AtLeastOnce);
    client
        .publish("qmt/tls", b"over tls\r\n\0", Qos::ExactlyOnce, false)
        .unwrap();
    assert_eq!(&peer.expect_publish(T).payload[..], b"over tls\r\n\0");
    assert_eq!(
        expect_message(&conn, "own message").payload(),
        b"over tls\r\n\0"
    );
    peer.publish("qmt/tls", QoS::AtLeastOnce, b"from peer");
    let _ = peer.expect_publish(T);
    assert_eq!(
        expect_message(&conn, "peer's message").payload(),
        b"from peer"
    );
    client.disconnect().unwrap();

    // Without the client certificate the mutual-TLS listener refuses the handshake.
    let (bare, _c) = modem
        .client(
            1,
            ClientOptions::builder()
                .host("localhost")
                .client_id("qmt-client-tls-bare")
                .tls(3)
                .tls_files(TlsFiles::new().ca_cert("cacert.pem", pki.ca_pem.clone()))
                .build()
                .unwrap(),
        )
        .unwrap();
    // With TLS 1.3 the server checks the client certificate after the module's handshake is
    // done, so the refusal shows as a failed open, a lost link, or a CONN on a closed client.
    let e = bare.connect().unwrap_err();
    assert!(
        e.is_transient() && !matches!(e, ClientError::Timeout { .. }),
        "{e:?}"
    );
}

/// Provisioning against the sim's file system (spec §10.8): a stale `UFS:cacert.pem` left on the
/// module is deleted before the upload (the sim refuses an upload to an existing name with 407),
/// a module that leaves out the `+QFUPL` answer is confirmed by `AT+QFLST="<name>"`, and the next
/// connect skips the upload of the file this core left there.
#[test]
fn provisioning_replaces_a_stale_file_confirms_without_qfupl_and_skips_on_reconnect() {
    let pki = TestPki::new("qmt-client provisioning CA");
    let Some(mosquitto) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: false,
    }) else {
        return;
    };
    let Some(tls) = mosquitto.tls else {
        panic!("no TLS listener")
    };
    let host_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let seen = host_lines.clone();
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(mosquitto.plain),
        resolve_all_to: ResolveAll::To(tls),
        trace: Some(Box::new(move |dir, bytes| {
            if dir == qmt_sim::shell::TraceDir::Host {
                seen.lock().unwrap().extend_from_slice(bytes);
            }
        })),
        network: qmt_sim::NetworkSim {
            files: vec![("UFS:cacert.pem".to_owned(), b"an old CA".to_vec())],
            qfupl_answer: false,
            ..qmt_sim::NetworkSim::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    let options = ClientOptions::builder()
        .host("localhost")
        .client_id("qmt-client-provisioning")
        .tls(1)
        .tls_files(TlsFiles::new().ca_cert("cacert.pem", pki.ca_pem.clone()))
        .build()
        .unwrap();
    let (client, _conn) = modem.client(0, options).unwrap();
    if let Err(e) = client.connect() {
        panic!(
            "TLS connect failed: {e}\nmosquitto log:\n{}",
            mosquitto.log()
        );
    }
    client.disconnect().unwrap();
    client.connect().unwrap();
    client.disconnect().unwrap();
    let host = String::from_utf8_lossy(&host_lines.lock().unwrap()).into_owned();
    let count = |s: &str| host.matches(s).count();
    assert_eq!(count("AT+QFLST=\"*\"\r"), 2, "{host}");
    assert_eq!(count("AT+QFDEL=\"UFS:cacert.pem\"\r"), 1, "{host}");
    assert_eq!(count("AT+QFUPL=\"UFS:cacert.pem\""), 1, "{host}");
    assert_eq!(count("AT+QFLST=\"UFS:cacert.pem\"\r"), 1, "{host}");
}

/// The clock check before a TLS open (spec §10.9) against the sim's unset clock (2000-01-01):
/// with `ignorelocaltime` off and no NTP server the connect fails with `ClockNotSet` before any
/// `AT+QMTOPEN`; with one, `AT+QNTP` sets the clock and the TLS session opens.
#[test]
fn an_unset_clock_fails_the_tls_open_or_is_synced_with_qntp() {
    let pki = TestPki::new("qmt-client clock CA");
    let Some(mosquitto) = Mosquitto::start(MosquittoOpts {
        tls: Some(&pki),
        mutual_tls: false,
    }) else {
        return;
    };
    let Some(tls) = mosquitto.tls else {
        panic!("no TLS listener")
    };
    let host_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let seen = host_lines.clone();
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(mosquitto.plain),
        resolve_all_to: ResolveAll::To(tls),
        trace: Some(Box::new(move |dir, bytes| {
            if dir == qmt_sim::shell::TraceDir::Host {
                seen.lock().unwrap().extend_from_slice(bytes);
            }
        })),
        network: qmt_sim::NetworkSim {
            clock: qmt_sim::ClockSim {
                ntp_delay: std::time::Duration::from_millis(300),
                ..qmt_sim::ClockSim::unset(qmt_sim::ClockSim::UNSET_2000)
            },
            ..qmt_sim::NetworkSim::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    let options = |ntp: bool| {
        let b = ClientOptions::builder()
            .host("localhost")
            .client_id("qmt-client-clock")
            .tls(1)
            .tls_files(
                TlsFiles::new()
                    .ca_cert("cacert.pem", pki.ca_pem.clone())
                    .ignore_local_time(false),
            );
        if ntp { b.ntp_server("pool.ntp.org") } else { b }
            .build()
            .unwrap()
    };
    let (client, _conn) = modem.client(0, options(false)).unwrap();
    let e = client.connect().unwrap_err();
    let ClientError::ClockNotSet { clock, not_before } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(clock.year, 2000, "{e}");
    // rcgen's CA is valid from 1975: the clock is past it, the "never set" rule caught it.
    assert_eq!(*not_before, None, "{e}");
    assert!(e.to_string().contains("never set"), "{e}");
    {
        let host = String::from_utf8_lossy(&host_lines.lock().unwrap()).into_owned();
        assert!(host.contains("AT+CCLK?\r"), "{host}");
        assert!(
            !host.contains("AT+QMTOPEN=0,") && !host.contains("AT+QNTP"),
            "{host}"
        );
    }
    drop(client);

    let (client, _conn) = modem.client(1, options(true)).unwrap();
    if let Err(e) = client.connect() {
        panic!(
            "TLS connect after NTP failed: {e}\nmosquitto log:\n{}",
            mosquitto.log()
        );
    }
    client.disconnect().unwrap();
    let host = String::from_utf8_lossy(&host_lines.lock().unwrap()).into_owned();
    let ntp = host
        .find("AT+QNTP=1,\"pool.ntp.org\"\r")
        .expect("AT+QNTP sent");
    let open = host.find("AT+QMTOPEN=1,").expect("AT+QMTOPEN sent");
    assert!(ntp < open, "{host}");
}
