//! The shell's network side, driven by a fake core ([`NetCore`]) through the pty: resolution,
//! TCP and TLS connects, send, receive, close, and the shell-level faults.

mod support;

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::Duration;

use mqtt::packet::{ConnectPacket, PingreqPacket, SubscribePacket, VariablePacket};
use mqtt::{Decodable, Encodable, QualityOfService, TopicFilter};
use qmt_sim::net::TlsConfig;
use qmt_sim::{Fault, ResolveAll, Sim, SimConfig, SimHandle};
use support::cores::{NetCore, hex, unhex};
use support::{AtPort, TestPki, TlsEchoServer};

const T: Duration = Duration::from_secs(5);

fn net_sim(config: SimConfig, tls: Option<TlsConfig>) -> (SimHandle, AtPort) {
    let sim = support::ok(Sim::start_with(config, move |_| NetCore::new(tls)), "sim");
    let port = AtPort::open(sim.pty_path());
    (sim, port)
}

fn cmd(port: &mut AtPort, line: &str) {
    assert_eq!(port.read_until_final_after(line), ["OK"], "{line}");
}

trait Cmd {
    fn read_until_final_after(&mut self, line: &str) -> Vec<String>;
}
impl Cmd for AtPort {
    fn read_until_final_after(&mut self, line: &str) -> Vec<String> {
        self.send(line);
        self.read_until_final(T)
    }
}

fn encode(p: &impl Encodable) -> String {
    let mut v = Vec::new();
    support::ok(p.encode(&mut v), "encode");
    hex(&v)
}

fn connect_packet(id: &str) -> String {
    let mut c = ConnectPacket::new(id);
    c.set_keep_alive(60);
    c.set_clean_session(true);
    encode(&c)
}

/// Reads `RECV <idx> <hex>` lines until `want` bytes of client `idx` arrived.
fn recv_bytes(port: &mut AtPort, idx: u8, want: usize) -> Vec<u8> {
    let prefix = format!("RECV {idx} ");
    let mut got = Vec::new();
    while got.len() < want {
        let line = port.expect_line(|l| l.starts_with(&prefix), T);
        got.extend(unhex(&line[prefix.len()..]).unwrap_or_else(|| panic!("bad hex: {line}")));
    }
    got
}

/// MQTT packets in these bytes.
fn packets(bytes: &[u8]) -> Vec<VariablePacket> {
    let mut cur = Cursor::new(bytes);
    let mut out = Vec::new();
    while (cur.position() as usize) < bytes.len() {
        out.push(support::ok(VariablePacket::decode(&mut cur), "decode"));
    }
    out
}

#[test]
fn any_name_reaches_the_embedded_broker_and_mqtt_flows() {
    let (sim, mut port) = net_sim(SimConfig::default(), None);
    cmd(
        &mut port,
        "OPEN 0 iot-as-mqtt.cn-shanghai.aliyuncs.com 1883",
    );
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
    cmd(
        &mut port,
        &format!("SEND 0 {}", connect_packet("qmt-net-0")),
    );
    assert_eq!(recv_bytes(&mut port, 0, 4), [0x20, 0x02, 0x00, 0x00]); // CONNACK accepted

    // Burst: another client publishes; the subscription receives every message, in order.
    let sub = SubscribePacket::new(
        7,
        vec![(
            TopicFilter::new("burst/t").unwrap(),
            QualityOfService::Level0,
        )],
    );
    cmd(&mut port, &format!("SEND 0 {}", encode(&sub)));
    let suback = recv_bytes(&mut port, 0, 5);
    assert!(matches!(
        packets(&suback)[..],
        [VariablePacket::SubackPacket(_)]
    ));
    sim.inject(Fault::Burst {
        topic: "burst/t".into(),
        count: 20,
    })
    .unwrap();
    let mut payloads = Vec::new();
    let mut buf = Vec::new();
    while payloads.len() < 20 {
        let line = port.expect_line(|l| l.starts_with("RECV 0 "), T);
        buf.extend(unhex(&line["RECV 0 ".len()..]).unwrap());
        // Decode whole packets only (a publish may be split across reads).
        let mut cur = Cursor::new(&buf[..]);
        let mut used = 0;
        while let Ok(p) = VariablePacket::decode(&mut cur) {
            used = cur.position() as usize;
            match p {
                VariablePacket::PublishPacket(p) => {
                    assert_eq!(p.topic_name(), "burst/t");
                    payloads.push(String::from_utf8(p.payload().to_vec()).unwrap());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        buf.drain(..used);
    }
    let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(payloads, want);

    // Close: the shell flushes and closes, and reports nothing.
    cmd(&mut port, "CLOSE 0");
    let after = port.lines_within(Duration::from_millis(300));
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn broker_close_fault_reports_closed() {
    let (sim, mut port) = net_sim(SimConfig::default(), None);
    cmd(&mut port, "OPEN 2 a.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 2");
    sim.inject(Fault::BrokerClose(None)).unwrap();
    assert_eq!(port.expect_line(|_| true, T), "CLOSED 2");
    // The client can open again.
    cmd(&mut port, "OPEN 2 a.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 2");
}

#[test]
fn server_closing_the_connection_reports_closed() {
    let (_sim, mut port) = net_sim(SimConfig::default(), None);
    cmd(&mut port, "OPEN 1 a.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 1");
    // Not MQTT: the broker drops the connection.
    cmd(&mut port, "SEND 1 ffffffffffff");
    assert_eq!(port.expect_line(|l| l.starts_with("CLOSED"), T), "CLOSED 1");
}

#[test]
fn dns_failure_fault_and_restore() {
    let (sim, mut port) = net_sim(SimConfig::default(), None);
    sim.inject(Fault::DnsFailure(Some("Bad.Example".into())))
        .unwrap();
    cmd(&mut port, "OPEN 0 bad.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "FAILED 0 Dns");
    cmd(&mut port, "OPEN 1 good.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 1");
    sim.inject(Fault::DnsFailure(None)).unwrap();
    cmd(&mut port, "OPEN 3 good.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "FAILED 3 Dns");
    sim.inject(Fault::DnsRestore).unwrap();
    cmd(&mut port, "OPEN 0 bad.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
}

#[test]
fn refused_connection_is_a_network_error() {
    let closed = SocketAddr::from(([127, 0, 0, 1], support::free_port()));
    let config = SimConfig {
        resolve: vec![("closed.example".into(), closed)],
        ..SimConfig::default()
    };
    let (_sim, mut port) = net_sim(config, None);
    cmd(&mut port, "OPEN 4 closed.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "FAILED 4 Network");
}

#[test]
fn system_resolution_uses_the_hosts_port() {
    let config = SimConfig {
        resolve_all_to: ResolveAll::System,
        ..SimConfig::default()
    };
    let (sim, mut port) = net_sim(config, None);
    let broker_port = sim.broker_addr().port();
    cmd(&mut port, &format!("OPEN 0 127.0.0.1 {broker_port}"));
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
    cmd(&mut port, &format!("OPEN 1 localhost {broker_port}"));
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 1");
}

#[test]
fn broker_stall_holds_replies_until_resume() {
    let (sim, mut port) = net_sim(SimConfig::default(), None);
    cmd(&mut port, "OPEN 0 a.example 1883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
    sim.inject(Fault::BrokerStall(Some(
        qmt_proto::params::ClientIdx::new(0).unwrap(),
    )))
    .unwrap();
    cmd(
        &mut port,
        &format!("SEND 0 {}", connect_packet("qmt-stall")),
    );
    let quiet = port.lines_within(Duration::from_millis(300));
    assert!(quiet.is_empty(), "the CONNACK must be held back: {quiet:?}");
    // Resumed: what the stall held (the CONNACK) arrives, nothing was lost, then new replies.
    sim.inject(Fault::BrokerResume(None)).unwrap();
    assert_eq!(recv_bytes(&mut port, 0, 4), [0x20, 0x02, 0x00, 0x00]); // CONNACK, accepted
    cmd(
        &mut port,
        &format!("SEND 0 {}", encode(&PingreqPacket::new())),
    );
    assert_eq!(recv_bytes(&mut port, 0, 2), [0xd0, 0x00]); // PINGRESP
}

// ---- TLS -----------------------------------------------------------------------------------

fn tls_config(pki: &TestPki, seclevel: u8, sslversion: u8) -> TlsConfig {
    TlsConfig {
        ctx: 2,
        ca_cert: Some(pki.ca_pem.clone()),
        client_cert: Some(pki.client.cert_pem.clone()),
        client_key: Some(pki.client.key_pem.clone()),
        seclevel,
        sslversion,
        ignore_local_time: false,
    }
}

fn tls_sim(server: &TlsEchoServer, tls: TlsConfig) -> (SimHandle, AtPort) {
    let config = SimConfig {
        resolve: vec![("secure.example".into(), server.addr)],
        ..SimConfig::default()
    };
    net_sim(config, Some(tls))
}

#[test]
fn mutual_tls_connect_and_echo() {
    let pki = TestPki::new("qmt test CA");
    let server = TlsEchoServer::start(&pki, &pki.server_cert(&["secure.example"]), true);
    let (_sim, mut port) = tls_sim(&server, tls_config(&pki, 2, 4));
    cmd(&mut port, "OPEN 5 secure.example 8883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 5");
    cmd(&mut port, &format!("SEND 5 {}", hex(b"hello over TLS")));
    assert_eq!(recv_bytes(&mut port, 5, 14), b"hello over TLS");
    cmd(&mut port, "CLOSE 5");
    assert!(port.lines_within(Duration::from_millis(200)).is_empty());
}

#[test]
fn tls_failures_are_tls_errors() {
    let pki = TestPki::new("qmt test CA");
    let other = TestPki::new("another CA");
    let server = TlsEchoServer::start(&pki, &pki.server_cert(&["secure.example"]), false);
    // Wrong CA.
    let (_s1, mut port) = tls_sim(&server, tls_config(&other, 1, 4));
    cmd(&mut port, "OPEN 0 secure.example 8883");
    assert_eq!(port.expect_line(|_| true, T), "FAILED 0 Tls");
    // TLS 1.0 is not available.
    let (_s2, mut port) = tls_sim(&server, tls_config(&pki, 1, 1));
    cmd(&mut port, "OPEN 0 secure.example 8883");
    assert_eq!(port.expect_line(|_| true, T), "FAILED 0 Tls");
    // seclevel 0 accepts a server no CA vouches for.
    let (_s3, mut port) = tls_sim(&server, tls_config(&other, 0, 3));
    cmd(&mut port, "OPEN 0 secure.example 8883");
    assert_eq!(port.expect_line(|_| true, T), "CONNECTED 0");
    cmd(&mut port, &format!("SEND 0 {}", hex(b"x")));
    assert_eq!(recv_bytes(&mut port, 0, 1), b"x");
}

#[test]
fn tls_server_demanding_a_client_cert_refuses_seclevel_1() {
    let pki = TestPki::new("qmt test CA");
    let server = TlsEchoServer::start(&pki, &pki.server_cert(&["secure.example"]), true);
    let (_sim, mut port) = tls_sim(&server, tls_config(&pki, 1, 4));
    cmd(&mut port, "OPEN 0 secure.example 8883");
    // TLS 1.3: the client learns of the refusal only after its handshake completes, from the
    // server's alert, so it may first report CONNECTED and then lose the connection.
    let first = port.expect_line(|_| true, T);
    if first == "CONNECTED 0" {
        // The alert may arrive before or after this send: CLOSED is a URC like any other.
        port.send(&format!("SEND 0 {}", hex(b"x")));
        assert_eq!(port.expect_line(|l| l.starts_with("CLOSED"), T), "CLOSED 0");
    } else {
        assert_eq!(first, "FAILED 0 Tls");
    }
}
