//! `tls::client_config` against a rustls test server, per seclevel, version and time policy.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use qmt_sim::net::TlsConfig;
use qmt_sim::tls::{TlsError, client_config};
use rustls::pki_types::ServerName;
use support::{TestPki, TlsEchoServer};

fn cfg(pki: &TestPki, seclevel: u8, sslversion: u8, ignore_local_time: bool) -> TlsConfig {
    TlsConfig {
        ctx: 0,
        ca_cert: Some(pki.ca_pem.clone()),
        client_cert: Some(pki.client.cert_pem.clone()),
        client_key: Some(pki.client.key_pem.clone()),
        seclevel,
        sslversion,
        ignore_local_time,
    }
}

/// Handshakes and echoes one message; the negotiated version on success.
fn echo(
    server: &TlsEchoServer,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<rustls::ProtocolVersion, String> {
    let sock = TcpStream::connect(server.addr).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"ping").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
    assert_eq!(&buf, b"ping");
    tls.conn
        .protocol_version()
        .ok_or_else(|| "no version".to_owned())
}

#[test]
fn seclevel_1_verifies_against_the_ca() {
    let pki = TestPki::new("CA one");
    let server = TlsEchoServer::start(&pki, &pki.server, false);
    let v = echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 1, 4, false)).unwrap(),
    )
    .unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
    // The same server under a name its certificate does not carry is refused.
    let err = echo(
        &server,
        "other.example",
        client_config(&cfg(&pki, 1, 4, false)).unwrap(),
    );
    let e = err.unwrap_err();
    assert!(e.contains("not valid for name"), "{e}");
}

#[test]
fn wrong_ca_fails_and_seclevel_0_accepts_anything() {
    let pki = TestPki::new("CA one");
    let other = TestPki::new("CA two");
    let server = TlsEchoServer::start(&pki, &pki.server, false);
    let err = echo(
        &server,
        "localhost",
        client_config(&cfg(&other, 1, 4, false)).unwrap(),
    );
    let e = err.unwrap_err();
    assert!(
        e.contains("UnknownIssuer") || e.contains("unknown issuer"),
        "{e}"
    );
    // seclevel 0: wrong CA and wrong name are both accepted.
    echo(
        &server,
        "other.example",
        client_config(&cfg(&other, 0, 4, false)).unwrap(),
    )
    .unwrap();
    // seclevel 0 needs no files at all.
    let bare = TlsConfig {
        ca_cert: None,
        client_cert: None,
        client_key: None,
        ..cfg(&pki, 0, 4, false)
    };
    echo(&server, "localhost", client_config(&bare).unwrap()).unwrap();
}

#[test]
fn seclevel_2_presents_the_client_certificate() {
    let pki = TestPki::new("CA one");
    let server = TlsEchoServer::start(&pki, &pki.server, true);
    echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 2, 4, false)).unwrap(),
    )
    .unwrap();
    echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 2, 3, false)).unwrap(),
    )
    .unwrap();
    // Without the client certificate the server refuses (at the handshake or the first read).
    assert!(
        echo(
            &server,
            "localhost",
            client_config(&cfg(&pki, 1, 4, false)).unwrap()
        )
        .is_err()
    );
    assert!(
        echo(
            &server,
            "localhost",
            client_config(&cfg(&pki, 1, 3, false)).unwrap()
        )
        .is_err()
    );
    // A client certificate from another CA is refused too.
    let other = TestPki::new("CA two");
    let mut wrong = cfg(&pki, 2, 3, false);
    wrong.client_cert = Some(other.client.cert_pem.clone());
    wrong.client_key = Some(other.client.key_pem.clone());
    assert!(echo(&server, "localhost", client_config(&wrong).unwrap()).is_err());
}

#[test]
fn sslversion_3_is_tls_1_2_only() {
    let pki = TestPki::new("CA one");
    let server = TlsEchoServer::start(&pki, &pki.server, false);
    let v = echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 1, 3, false)).unwrap(),
    )
    .unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
}

#[test]
fn old_versions_and_bad_settings_are_refused() {
    let pki = TestPki::new("CA one");
    for v in [0, 1, 2, 5] {
        assert!(matches!(
            client_config(&cfg(&pki, 1, v, false)),
            Err(TlsError::UnsupportedVersion(x)) if x == v
        ));
    }
    assert!(matches!(
        client_config(&cfg(&pki, 3, 4, false)),
        Err(TlsError::BadSeclevel(3))
    ));
    let mut no_ca = cfg(&pki, 1, 4, false);
    no_ca.ca_cert = None;
    assert!(matches!(client_config(&no_ca), Err(TlsError::MissingCa(1))));
    let mut no_key = cfg(&pki, 2, 4, false);
    no_key.client_key = None;
    assert!(matches!(
        client_config(&no_key),
        Err(TlsError::MissingClientAuth)
    ));
    let mut bad_key = cfg(&pki, 2, 4, false);
    bad_key.client_key = Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n".to_vec());
    let err = client_config(&bad_key).unwrap_err();
    assert!(matches!(err, TlsError::BadPem("clientkey")), "{err}");
    let mut bad_ca = cfg(&pki, 1, 4, false);
    bad_ca.ca_cert = Some(b"not a certificate".to_vec());
    assert!(matches!(
        client_config(&bad_ca),
        Err(TlsError::BadPem("cacert"))
    ));
}

#[test]
fn ignore_local_time_accepts_an_expired_but_valid_chain_only() {
    let pki = TestPki::new("CA one");
    let expired = pki.expired_server_cert(&["localhost"]);
    let server = TlsEchoServer::start(&pki, &expired, false);
    let err = echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 1, 4, false)).unwrap(),
    );
    let e = err.unwrap_err();
    assert!(e.contains("expired"), "{e}");
    echo(
        &server,
        "localhost",
        client_config(&cfg(&pki, 1, 4, true)).unwrap(),
    )
    .unwrap();
    // Time is the only thing ignored: a wrong name or a wrong CA still fail.
    let err = echo(
        &server,
        "other.example",
        client_config(&cfg(&pki, 1, 4, true)).unwrap(),
    );
    let e = err.unwrap_err();
    assert!(e.contains("not valid for name"), "{e}");
    let other = TestPki::new("CA two");
    let err = echo(
        &server,
        "localhost",
        client_config(&cfg(&other, 1, 4, true)).unwrap(),
    );
    let e = err.unwrap_err();
    assert!(
        e.contains("UnknownIssuer") || e.contains("unknown issuer"),
        "{e}"
    );
}

#[test]
fn debug_of_tls_errors_and_configs_carries_no_key() {
    let pki = TestPki::new("CA one");
    let c = cfg(&pki, 2, 4, false);
    let key_text = String::from_utf8(pki.client.key_pem.clone()).unwrap();
    let body = key_text.lines().nth(1).unwrap();
    assert!(!format!("{c:?}").contains(body));
    let mut bad = c.clone();
    bad.client_key = Some(key_text.replace("PRIVATE KEY", "PRIVATE KEX").into_bytes());
    let err = client_config(&bad).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(body));
}
