//! End-to-end helpers: a host that speaks AT over the sim's pty ([`Host`], line level;
//! [`Wire`], exact bytes), an independent MQTT client on the broker ([`Peer`], rumqttc) and
//! the AT steps of a TLS setup ([`upload`], [`ssl_context`]).
//!
//! Every wait is bounded by a generous timeout (the test machine is loaded) and panics with
//! what it waited for and what it saw.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use qmt_proto::checksum::qfupl_checksum;
use qmt_sim::SimHandle;
use rumqttc::{Client, Event, MqttOptions, Outgoing, Packet, Publish, QoS};

use super::AtPort;

/// The wait for one expected line or event. Generous: two cores shared with fuzzers.
pub const T: Duration = Duration::from_secs(20);

// ---- Host: line level --------------------------------------------------------------------------

/// The host on the sim's serial line, after power-up (`RDY`) and `ATE0`.
pub struct Host {
    pub port: AtPort,
    /// URCs that arrived while a command waited for its prompt or final code, in order.
    stash: std::collections::VecDeque<String>,
}

impl Host {
    /// Opens the sim's pty, waits for `RDY` and turns echo off.
    pub fn start(sim: &SimHandle) -> Host {
        let mut port = AtPort::open(sim.pty_path());
        assert_eq!(port.expect_line(|_| true, T), "RDY");
        port.send("ATE0");
        assert_eq!(port.read_until_final(T), ["ATE0", "OK"]);
        Host {
            port,
            stash: Default::default(),
        }
    }

    /// The next module line outside a command (stashed URCs first).
    pub fn next_line(&mut self) -> String {
        match self.stash.pop_front() {
            Some(l) => l,
            None => self.port.expect_line(|_| true, T),
        }
    }

    /// Sends a command and returns its lines up to the final code.
    pub fn cmd(&mut self, line: &str) -> Vec<String> {
        self.port.send(line);
        self.port.read_until_final(T)
    }

    /// Sends a command that must answer `OK` alone.
    pub fn ok(&mut self, line: &str) {
        assert_eq!(self.cmd(line), ["OK"], "answer to {line}");
    }

    /// The next module line, which must be exactly `want`.
    pub fn urc(&mut self, want: &str) {
        let got = self.next_line();
        assert_eq!(got, want, "waiting for {want:?}");
    }

    /// The next lines, which must be exactly `want` in any order (two results whose order
    /// depends on the broker, e.g. a publish's own ACK and its delivery back to the client).
    pub fn urcs_any_order(&mut self, want: &[&str]) {
        let mut left: Vec<&str> = want.to_vec();
        let mut seen = Vec::new();
        while !left.is_empty() {
            let got = self.next_line();
            match left.iter().position(|w| *w == got) {
                Some(i) => {
                    left.remove(i);
                }
                None => panic!("unexpected line {got:?}; expected {left:?}; seen {seen:?}"),
            }
            seen.push(got);
        }
    }

    /// No module line within `window`.
    pub fn quiet(&mut self, window: Duration) {
        let mut got: Vec<String> = self.stash.drain(..).collect();
        got.extend(self.port.lines_within(window));
        assert!(got.is_empty(), "unexpected lines: {got:?}");
    }

    /// `AT+QMTOPEN` → `OK`, `+QMTOPEN: idx,0`.
    pub fn open(&mut self, idx: u8, host: &str, port: u16) {
        self.ok(&format!("AT+QMTOPEN={idx},\"{host}\",{port}"));
        self.urc(&format!("+QMTOPEN: {idx},0"));
    }

    /// `AT+QMTCONN` → `OK`, `+QMTCONN: idx,0,0`.
    pub fn conn(&mut self, idx: u8, client_id: &str) {
        self.ok(&format!("AT+QMTCONN={idx},\"{client_id}\""));
        self.urc(&format!("+QMTCONN: {idx},0,0"));
    }

    /// `AT+QMTSUB` of one topic → `OK`, `+QMTSUB: idx,msgid,0,<granted>`.
    pub fn sub(&mut self, idx: u8, msgid: u16, topic: &str, qos: u8, granted: u8) {
        self.ok(&format!("AT+QMTSUB={idx},{msgid},\"{topic}\",{qos}"));
        self.urc(&format!("+QMTSUB: {idx},{msgid},0,{granted}"));
    }

    /// `AT+QMTDISC` → `OK`, `+QMTDISC: idx,0`.
    pub fn disc(&mut self, idx: u8) {
        self.ok(&format!("AT+QMTDISC={idx}"));
        self.urc(&format!("+QMTDISC: {idx},0"));
    }

    /// `AT+QMTPUBEX` up to its `OK`: the prompt, then `data` written raw. The result line is
    /// left to the caller (its order against deliveries depends on the broker).
    pub fn pubex_data(&mut self, idx: u8, msgid: u16, qos: u8, topic: &str, data: &[u8]) {
        self.port.send(&format!(
            "AT+QMTPUBEX={idx},{msgid},{qos},0,\"{topic}\",{}",
            data.len()
        ));
        // URCs (results of earlier commands) may come before the prompt and the final code.
        loop {
            let l = self.port.expect_line(|_| true, T);
            if l == "> " {
                break;
            }
            assert!(!super::is_final(&l), "{l:?} instead of the prompt");
            self.stash.push_back(l);
        }
        self.port.send_raw(data);
        loop {
            let l = self.port.expect_line(|_| true, T);
            if super::is_final(&l) {
                assert_eq!(l, "OK", "after the data");
                break;
            }
            self.stash.push_back(l);
        }
    }

    /// `AT+QMTPUBEX` with its result `+QMTPUBEX: idx,msgid,0` next.
    pub fn pubex(&mut self, idx: u8, msgid: u16, qos: u8, topic: &str, data: &[u8]) {
        self.pubex_data(idx, msgid, qos, topic, data);
        self.urc(&format!("+QMTPUBEX: {idx},{msgid},0"));
    }
}

/// `+QMTRECV: idx,msgid,"topic",len,"payload"` as the sim writes it (msg_len_enable 1; the
/// sim always quotes the payload, module docs).
pub fn recv_line(idx: u8, msgid: u16, topic: &str, payload: &[u8]) -> String {
    format!(
        "+QMTRECV: {idx},{msgid},\"{topic}\",{},\"{}\"",
        payload.len(),
        String::from_utf8_lossy(payload)
    )
}

/// Uploads `data` as `UFS:<name>` and checks `+QFUPL: <size>,<checksum>` against our own
/// computation of the spec §7 checksum.
pub fn upload(host: &mut Host, name: &str, data: &[u8]) {
    host.port
        .send(&format!("AT+QFUPL=\"UFS:{name}\",{},100", data.len()));
    assert_eq!(host.port.expect_line(|_| true, T), "CONNECT");
    host.port.send_raw(data);
    assert_eq!(
        host.port.read_until_final(T),
        [
            format!("+QFUPL: {},{:04x}", data.len(), qfupl_checksum(data)),
            "OK".to_owned()
        ]
    );
}

/// Uploads the CA (and for `seclevel` 2 the client certificate and key) and configures SSL
/// context `ctx` with them, as spec §8.2 does.
pub fn ssl_context(
    host: &mut Host,
    ctx: u8,
    seclevel: u8,
    ca: &[u8],
    client: Option<&super::CertKey>,
) {
    upload(host, "cacert.pem", ca);
    host.ok(&format!("AT+QSSLCFG=\"cacert\",{ctx},\"UFS:cacert.pem\""));
    if let Some(c) = client {
        upload(host, "client.pem", &c.cert_pem);
        upload(host, "user_key.pem", &c.key_pem);
        host.ok(&format!(
            "AT+QSSLCFG=\"clientcert\",{ctx},\"UFS:client.pem\""
        ));
        host.ok(&format!(
            "AT+QSSLCFG=\"clientkey\",{ctx},\"UFS:user_key.pem\""
        ));
    }
    host.ok(&format!("AT+QSSLCFG=\"seclevel\",{ctx},{seclevel}"));
    host.ok(&format!("AT+QSSLCFG=\"sslversion\",{ctx},4"));
    host.ok(&format!("AT+QSSLCFG=\"ciphersuite\",{ctx},0xFFFF"));
    host.ok(&format!("AT+QSSLCFG=\"ignorelocaltime\",{ctx},1"));
}

// ---- Wire: exact bytes -------------------------------------------------------------------------

/// The serial line at byte level: expected module output is compared byte for byte, in order,
/// with nothing skipped.
pub struct Wire {
    port: AtPort,
    buf: Vec<u8>,
}

impl Wire {
    pub fn open(sim: &SimHandle) -> Wire {
        Wire {
            port: AtPort::open(sim.pty_path()),
            buf: Vec::new(),
        }
    }

    /// `>>` a command line: `line\r`.
    pub fn send(&mut self, line: &str) {
        self.port.send(line);
    }

    /// `>>` raw data after a prompt.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.port.send_raw(bytes);
    }

    /// `<<` exactly these bytes next. Fails as soon as a received byte differs.
    pub fn expect_bytes(&mut self, want: &[u8]) {
        let deadline = Instant::now() + T;
        loop {
            let n = self.buf.len().min(want.len());
            if self.buf[..n] != want[..n] {
                panic!(
                    "module output differs:\n  expected: \"{}\"\n  received: \"{}\"",
                    want.escape_ascii(),
                    self.buf.escape_ascii()
                );
            }
            if n == want.len() {
                self.buf.drain(..n);
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.port.read_chunk(left) {
                Some(c) => self.buf.extend_from_slice(&c),
                None => panic!(
                    "module output incomplete after {T:?}:\n  expected: \"{}\"\n  received: \"{}\"",
                    want.escape_ascii(),
                    self.buf.escape_ascii()
                ),
            }
        }
    }

    /// `<< line`: exactly `\r\n<line>\r\n` next.
    pub fn expect(&mut self, line: &str) {
        self.expect_bytes(format!("\r\n{line}\r\n").as_bytes());
    }

    /// `<<` these lines next, each exactly, in any order (at most a few: every permutation is
    /// tried against the bytes received).
    pub fn expect_any_order(&mut self, lines: &[&str]) {
        let framed: Vec<Vec<u8>> = lines
            .iter()
            .map(|l| format!("\r\n{l}\r\n").into_bytes())
            .collect();
        let total: usize = framed.iter().map(Vec::len).sum();
        let deadline = Instant::now() + T;
        while self.buf.len() < total {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.port.read_chunk(left) {
                Some(c) => self.buf.extend_from_slice(&c),
                None => panic!(
                    "module output incomplete after {T:?}: expected {lines:?} in any order, \
                     received \"{}\"",
                    self.buf.escape_ascii()
                ),
            }
        }
        let got: Vec<u8> = self.buf.drain(..total).collect();
        let mut rest = framed;
        let mut at = 0;
        // Greedy matching is exact here: framed lines are distinct and start with CR LF.
        while !rest.is_empty() {
            let Some(i) = rest.iter().position(|f| got[at..].starts_with(f)) else {
                panic!(
                    "module output differs: expected {lines:?} in any order, received \"{}\"",
                    got.escape_ascii()
                );
            };
            at += rest.remove(i).len();
        }
    }

    /// `<< > `: exactly the prompt `\r\n> ` next, with no line end.
    pub fn expect_prompt(&mut self) {
        self.expect_bytes(b"\r\n> ");
    }

    /// Nothing more from the module within `window`.
    pub fn quiet(&mut self, window: Duration) {
        if self.buf.is_empty() {
            if let Some(c) = self.port.read_chunk(window) {
                self.buf.extend_from_slice(&c);
            }
        }
        assert!(
            self.buf.is_empty(),
            "unexpected module output: \"{}\"",
            self.buf.escape_ascii()
        );
    }
}

// ---- Peer: an independent MQTT client ----------------------------------------------------------

/// An independent MQTT client (rumqttc, sync API) on a broker's plain listener. Its event loop
/// runs on a thread that forwards every event; the peer disconnects on drop.
pub struct Peer {
    client: Client,
    events: mpsc::Receiver<Event>,
    /// Publishes received but not yet taken by [`Peer::recv`].
    inbox: Vec<Publish>,
}

impl Peer {
    /// Connects with a clean session and waits for the CONNACK.
    pub fn connect(addr: SocketAddr, client_id: &str) -> Peer {
        let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        opts.set_keep_alive(Duration::from_secs(60));
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut conn) = Client::new(opts, 16);
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(e) => {
                        if tx.send(e).is_err() {
                            return;
                        }
                    }
                    // No reconnection: the test that owns this peer decides.
                    Err(_) => return,
                }
            }
        });
        let mut peer = Peer {
            client,
            events,
            inbox: Vec::new(),
        };
        peer.wait(
            |e| matches!(e, Event::Incoming(Packet::ConnAck(_))),
            "CONNACK",
        );
        peer
    }

    /// Waits for an event matching `pred`; publishes seen meanwhile are kept for [`Peer::recv`].
    fn wait(&mut self, pred: impl Fn(&Event) -> bool, what: &str) {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if pred(&e) => return,
                Ok(Event::Incoming(Packet::Publish(p))) => self.inbox.push(p),
                Ok(_) => {}
                Err(e) => panic!("rumqttc peer: no {what} within {T:?} ({e})"),
            }
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) {
        super::ok(self.client.subscribe(filter, qos), "peer subscribe");
        self.wait(
            |e| matches!(e, Event::Incoming(Packet::SubAck(_))),
            "SUBACK",
        );
    }

    /// Publishes and waits until the exchange is complete: sent (QoS 0), PUBACK (1), PUBCOMP (2).
    pub fn publish(&mut self, topic: &str, qos: QoS, payload: &[u8]) {
        super::ok(
            self.client.publish(topic, qos, false, payload.to_vec()),
            "peer publish",
        );
        match qos {
            QoS::AtMostOnce => self.wait(
                |e| matches!(e, Event::Outgoing(Outgoing::Publish(_))),
                "publish sent",
            ),
            QoS::AtLeastOnce => self.wait(
                |e| matches!(e, Event::Incoming(Packet::PubAck(_))),
                "PUBACK",
            ),
            QoS::ExactlyOnce => self.wait(
                |e| matches!(e, Event::Incoming(Packet::PubComp(_))),
                "PUBCOMP",
            ),
        }
    }

    /// The next message received.
    pub fn recv(&mut self) -> Publish {
        if !self.inbox.is_empty() {
            return self.inbox.remove(0);
        }
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Incoming(Packet::Publish(p))) => return p,
                Ok(_) => {}
                Err(e) => panic!("rumqttc peer: no message within {T:?} ({e})"),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
    }
}

// ---- a mosquitto with a configuration of the test's own ----------------------------------------

/// A mosquitto with one plain listener and `extra` configuration lines (e.g. `allow_anonymous
/// false`, `password_file …`), killed on drop. `None` (with the support's loud notice, or a
/// panic with `QMT_REQUIRE_MOSQUITTO=1`) when mosquitto is not installed.
pub struct CustomMosquitto {
    child: std::process::Child,
    pub dir: std::path::PathBuf,
    pub addr: SocketAddr,
}

impl CustomMosquitto {
    /// `users`: name/password pairs written with `mosquitto_passwd` to `<dir>/passwd`, which
    /// `extra` may name as `{dir}/passwd` (`{dir}` is replaced).
    pub fn start(extra: &str, users: &[(&str, &str)]) -> Option<CustomMosquitto> {
        use std::process::{Command, Stdio};
        let Some(bin) = super::find_mosquitto() else {
            // The support's launcher prints the notice (or panics when mosquitto is required).
            let none = super::Mosquitto::start(super::MosquittoOpts::default());
            assert!(none.is_none());
            return None;
        };
        let dir = super::temp_dir("mosquitto-custom");
        for (i, (user, pass)) in users.iter().enumerate() {
            let passwd = bin.with_file_name("mosquitto_passwd");
            let passwd = if passwd.is_file() {
                passwd
            } else {
                std::path::PathBuf::from("/usr/bin/mosquitto_passwd")
            };
            let mut cmd = Command::new(passwd);
            cmd.arg("-b");
            if i == 0 {
                cmd.arg("-c");
            }
            let status = super::ok(
                cmd.arg(dir.join("passwd"))
                    .arg(user)
                    .arg(pass)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status(),
                "mosquitto_passwd",
            );
            assert!(status.success(), "mosquitto_passwd failed: {status}");
        }
        let addr = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, super::free_port()));
        let conf = format!(
            "persistence false\nlistener {} 127.0.0.1\n{}\n",
            addr.port(),
            extra.replace("{dir}", &dir.display().to_string())
        );
        super::ok(
            std::fs::write(dir.join("mosquitto.conf"), conf),
            "mosquitto.conf",
        );
        let log = super::ok(std::fs::File::create(dir.join("mosquitto.log")), "log");
        let child = super::ok(
            Command::new(&bin)
                .arg("-c")
                .arg(dir.join("mosquitto.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn(),
            "spawning mosquitto",
        );
        let m = CustomMosquitto { child, dir, addr };
        super::wait_accepting(addr, "mosquitto", Duration::from_secs(10));
        Some(m)
    }

    /// Mosquitto's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for CustomMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
