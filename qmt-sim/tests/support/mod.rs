//! Test support for qmt-sim: a host-side AT port on the sim's pty, a mosquitto launcher, a test
//! PKI (rcgen) and a rustls echo server.
//!
//! Helpers panic with a message that says what was waited for; they are test code.
#![allow(dead_code, missing_docs)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use at_codec::{Decoder, Frame};
use qmt_proto::RecvHook;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub mod cores;
pub mod peer;
pub mod session;

// ---- AtPort ------------------------------------------------------------------------------------

/// The host side of the sim's serial line: the pty slave opened with `serialport`.
pub struct AtPort {
    port: Box<dyn serialport::SerialPort>,
    decoder: Box<Decoder<8192, RecvHook>>,
    lines: VecDeque<String>,
}

/// Final result codes (spec §1).
pub fn is_final(line: &str) -> bool {
    line == "OK"
        || line == "ERROR"
        || line.starts_with("+CME ERROR:")
        || line.starts_with("+CMS ERROR:")
}

impl AtPort {
    /// Opens the pty slave path.
    pub fn open(path: &Path) -> AtPort {
        let port = match serialport::new(path.to_string_lossy(), 115_200)
            .timeout(Duration::from_millis(50))
            .open()
        {
            Ok(p) => p,
            Err(e) => panic!("cannot open {}: {e}", path.display()),
        };
        AtPort {
            port,
            decoder: Box::new(Decoder::with_hook(RecvHook::auto())),
            lines: VecDeque::new(),
        }
    }

    /// Writes `line\r`.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r").as_bytes());
    }

    /// Writes these bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Err(e) = self.port.write_all(bytes).and_then(|()| self.port.flush()) {
            panic!("writing {} bytes to the pty failed: {e}", bytes.len());
        }
    }

    /// One read of raw bytes (bypassing the line decoder), or `None` after `timeout`.
    pub fn read_chunk(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            match self.port.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => return Some(buf[..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the pty failed: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Reads raw bytes until `want` bytes arrived; each read with its arrival time.
    pub fn read_exact_timed(&mut self, want: usize, timeout: Duration) -> Vec<(Instant, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut total = 0;
        while total < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_chunk(left) {
                Some(c) => {
                    total += c.len();
                    got.push((Instant::now(), c));
                }
                None => panic!("only {total} of {want} bytes within {timeout:?}: {got:?}"),
            }
        }
        got
    }

    /// Decodes module output until a line is available or the deadline passes.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(l) = self.lines.pop_front() {
                return Some(l);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let Some(chunk) = self.read_chunk(left.min(Duration::from_millis(100))) else {
                continue;
            };
            let lines = &mut self.lines;
            self.decoder.decode(&chunk, |f| match f {
                Frame::Line(l) => lines.push_back(String::from_utf8_lossy(l).into_owned()),
                Frame::Prompt => lines.push_back("> ".to_owned()),
                Frame::Data(d) => lines.push_back(String::from_utf8_lossy(d).into_owned()),
                Frame::Overflow { len } => lines.push_back(format!("<overflow {len}>")),
            });
        }
    }

    /// Module lines up to and including the final result code (`OK`, `ERROR`, `+CME ERROR`).
    pub fn read_until_final(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            match self.next_line(deadline) {
                Some(l) => {
                    let done = is_final(&l);
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                None => panic!("no final result code within {timeout:?}; lines so far: {got:?}"),
            }
        }
    }

    /// The first line matching `pred` (an expected URC); other lines before it are skipped.
    pub fn expect_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            match self.next_line(deadline) {
                Some(l) if pred(&l) => return l,
                Some(l) => skipped.push(l),
                None => panic!("no matching line within {timeout:?}; skipped: {skipped:?}"),
            }
        }
    }

    /// Module lines arriving within `window`.
    pub fn lines_within(&mut self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut got = Vec::new();
        while let Some(l) = self.next_line(deadline) {
            got.push(l);
        }
        got
    }
}

// ---- free ports --------------------------------------------------------------------------------

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Waits until `addr` accepts TCP, or panics naming `what`.
pub fn wait_accepting(addr: SocketAddr, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() >= deadline {
            panic!("{what} on {addr} did not accept connections within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "qmt-sim-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}

fn write_file(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("cannot write {}: {e}", path.display());
    }
}

// ---- TestPki -----------------------------------------------------------------------------------

pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A certificate and its private key, as PEM.
#[derive(Clone)]
pub struct CertKey {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl CertKey {
    pub fn certs(&self) -> Vec<CertificateDer<'static>> {
        ok(
            CertificateDer::pem_slice_iter(&self.cert_pem).collect::<Result<Vec<_>, _>>(),
            "cert PEM",
        )
    }
    pub fn key(&self) -> PrivateKeyDer<'static> {
        ok(PrivateKeyDer::from_pem_slice(&self.key_pem), "key PEM")
    }
}

/// A test CA (rcgen, made at run time) that issues server and client certificates.
pub struct TestPki {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub ca_pem: Vec<u8>,
    /// A server certificate for `localhost`, `127.0.0.1` and the spec's host names.
    pub server: CertKey,
    /// A client certificate (CN `qmt-sim-client`).
    pub client: CertKey,
}

impl TestPki {
    pub fn new(ca_name: &str) -> TestPki {
        let mut params = ok(CertificateParams::new(Vec::<String>::new()), "CA params");
        params.distinguished_name.push(DnType::CommonName, ca_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = ok(KeyPair::generate(), "CA key");
        let cert = ok(params.self_signed(&key), "CA cert");
        let ca_pem = cert.pem().into_bytes();
        let issuer = Issuer::new(params, key);
        let mut pki = TestPki {
            issuer,
            ca_pem,
            server: CertKey {
                cert_pem: Vec::new(),
                key_pem: Vec::new(),
            },
            client: CertKey {
                cert_pem: Vec::new(),
                key_pem: Vec::new(),
            },
        };
        pki.server = pki.server_cert(&[
            "localhost",
            "127.0.0.1",
            "iot-as-mqtt.cn-shanghai.aliyuncs.com",
            "alzgnxur10j8ux.iot.us-east-1.amazonaws.com",
        ]);
        pki.client = pki.client_cert("qmt-sim-client");
        pki
    }

    /// A server certificate for these DNS names / IP addresses.
    pub fn server_cert(&self, names: &[&str]) -> CertKey {
        let params = ok(
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "server params",
        );
        self.issue(params, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate valid only in the past (for `ignorelocaltime`).
    pub fn expired_server_cert(&self, names: &[&str]) -> CertKey {
        let mut params = ok(
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "server params",
        );
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        self.issue(params, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with this common name.
    pub fn client_cert(&self, cn: &str) -> CertKey {
        let mut params = ok(
            CertificateParams::new(Vec::<String>::new()),
            "client params",
        );
        params.distinguished_name.push(DnType::CommonName, cn);
        self.issue(params, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, mut params: CertificateParams, eku: ExtendedKeyUsagePurpose) -> CertKey {
        params.extended_key_usages = vec![eku];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = ok(KeyPair::generate(), "leaf key");
        let cert = ok(params.signed_by(&key, &self.issuer), "leaf cert");
        CertKey {
            cert_pem: cert.pem().into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        }
    }

    /// The CA as a rustls root store.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&self.ca_pem) {
            ok(roots.add(ok(c, "CA PEM")), "CA root");
        }
        roots
    }
}

// ---- a rustls echo server ----------------------------------------------------------------------

/// A TLS server on 127.0.0.1 that echoes what each client sends, on a background thread.
pub struct TlsEchoServer {
    pub addr: SocketAddr,
}

impl TlsEchoServer {
    /// `client_auth`: require a client certificate issued by `pki`'s CA.
    pub fn start(pki: &TestPki, server: &CertKey, client_auth: bool) -> TlsEchoServer {
        let provider = qmt_sim::tls::provider();
        let builder = ok(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(rustls::ALL_VERSIONS),
            "server versions",
        );
        let builder = if client_auth {
            let verifier = ok(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(pki.roots()),
                    provider,
                )
                .build(),
                "client verifier",
            );
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = Arc::new(ok(
            builder.with_single_cert(server.certs(), server.key()),
            "server cert",
        ));
        let listener = ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)), "bind");
        let addr = ok(listener.local_addr(), "local addr");
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                thread::spawn(move || echo_tls(config, stream));
            }
        });
        TlsEchoServer { addr }
    }
}

fn echo_tls(config: Arc<rustls::ServerConfig>, sock: TcpStream) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
        }
    }
}

// ---- Mosquitto ---------------------------------------------------------------------------------

/// Which listeners a [`Mosquitto`] opens besides the plain one.
#[derive(Default)]
pub struct MosquittoOpts<'a> {
    /// A TLS listener with `pki`'s server certificate.
    pub tls: Option<&'a TestPki>,
    /// Also a mutual-TLS listener requiring a client certificate from `pki`'s CA.
    pub mutual_tls: bool,
}

/// A mosquitto broker started for a test, killed on drop.
pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
    /// The plain MQTT listener.
    pub plain: SocketAddr,
    /// The TLS listener, if requested.
    pub tls: Option<SocketAddr>,
    /// The mutual-TLS listener, if requested.
    pub mutual_tls: Option<SocketAddr>,
}

/// Finds `mosquitto` on PATH (and in /usr/sbin, where Debian puts it).
pub fn find_mosquitto() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

impl Mosquitto {
    /// Starts mosquitto, or returns `None` with a loud notice when it is not installed
    /// (panics instead when `QMT_REQUIRE_MOSQUITTO=1`).
    pub fn start(opts: MosquittoOpts<'_>) -> Option<Mosquitto> {
        let Some(bin) = find_mosquitto() else {
            if std::env::var("QMT_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1") {
                panic!("mosquitto not installed, and QMT_REQUIRE_MOSQUITTO=1");
            }
            eprintln!(
                "\n*** SKIPPED: mosquitto not installed (apt-get install mosquitto); \
                 set QMT_REQUIRE_MOSQUITTO=1 to make this a failure ***\n"
            );
            return None;
        };
        let dir = temp_dir("mosquitto");
        let plain = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let mut conf = format!(
            "# written by qmt-sim tests\n\
             allow_anonymous true\n\
             persistence false\n\
             listener {} 127.0.0.1\n",
            plain.port()
        );
        let mut tls = None;
        let mut mutual_tls = None;
        if let Some(pki) = opts.tls {
            write_file(&dir.join("ca.pem"), &pki.ca_pem);
            write_file(&dir.join("server.pem"), &pki.server.cert_pem);
            write_file(&dir.join("server.key"), &pki.server.key_pem);
            let files = format!(
                "cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
                d = dir.display()
            );
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            conf += &format!("listener {} 127.0.0.1\n{files}", addr.port());
            tls = Some(addr);
            if opts.mutual_tls {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
                conf += &format!(
                    "listener {} 127.0.0.1\n{files}require_certificate true\n",
                    addr.port()
                );
                mutual_tls = Some(addr);
            }
        }
        write_file(&dir.join("mosquitto.conf"), conf.as_bytes());
        let log = ok(std::fs::File::create(dir.join("mosquitto.log")), "log file");
        let child = ok(
            Command::new(&bin)
                .arg("-c")
                .arg(dir.join("mosquitto.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn(),
            "spawning mosquitto",
        );
        let mut m = Mosquitto {
            child,
            dir,
            plain,
            tls,
            mutual_tls,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in [Some(plain), tls, mutual_tls].into_iter().flatten() {
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if let Ok(Some(status)) = m.child.try_wait() {
                    panic!("mosquitto exited ({status}); log:\n{}", m.log());
                }
                if Instant::now() >= deadline {
                    panic!("mosquitto does not accept on {addr}; log:\n{}", m.log());
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Some(m)
    }

    /// Mosquitto's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
