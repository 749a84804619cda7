//! `ClientError::Refused` end to end: mosquitto with `allow_anonymous false` and a password file;
//! a wrong password gets CONNACK 5 ("not authorized", mosquitto's answer to bad credentials in
//! MQTT 3.1.1), no credentials too, the right ones connect. Skipped loudly without mosquitto
//! (a failure with `QMT_REQUIRE_MOSQUITTO=1`).

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::{ClientError, Modem, ModemConfig, Qos};
use qmt_proto::codes::ConnackCode;
use qmt_sim::{BrokerChoice, Sim, SimConfig};
use support::opts;
use support::sim_support::{find_mosquitto, free_port, temp_dir};

/// mosquitto with one user (`qmt` / `right-password`) and no anonymous access; killed on drop.
struct AuthBroker {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl AuthBroker {
    fn start() -> Option<AuthBroker> {
        let bin = find_mosquitto();
        let passwd = bin
            .as_ref()
            .and_then(|b| b.parent())
            .map(|d| d.join("mosquitto_passwd"))
            .filter(|p| p.is_file())
            .or_else(|| Some(PathBuf::from("/usr/bin/mosquitto_passwd")).filter(|p| p.is_file()));
        let (Some(bin), Some(passwd)) = (bin, passwd) else {
            if std::env::var("QMT_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1") {
                panic!(
                    "mosquitto (and mosquitto_passwd) not installed, and QMT_REQUIRE_MOSQUITTO=1"
                );
            }
            eprintln!(
                "\n*** SKIPPED: mosquitto or mosquitto_passwd not installed (apt-get install \
                 mosquitto mosquitto-clients); set QMT_REQUIRE_MOSQUITTO=1 to make this a failure ***\n"
            );
            return None;
        };
        let dir = temp_dir("mosquitto-auth");
        let pw = dir.join("passwd");
        let status = Command::new(&passwd)
            .args(["-c", "-b"])
            .arg(&pw)
            .args(["qmt", "right-password"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd failed: {status}");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let conf = format!(
            "allow_anonymous false\npassword_file {}\npersistence false\nlistener {} 127.0.0.1\n",
            pw.display(),
            addr.port()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("writing mosquitto.conf");
        let log = std::fs::File::create(dir.join("mosquitto.log")).expect("creating the log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning mosquitto");
        let mut broker = AuthBroker { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("mosquitto exited ({status}); log:\n{}", broker.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto does not accept; log:\n{}",
                broker.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(broker)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for AuthBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn wrong_password_is_refused_with_the_connack_code() {
    let Some(broker) = AuthBroker::start() else {
        return;
    };
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(broker.addr),
        ..SimConfig::default()
    })
    .unwrap();
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();

    let (wrong, _c0) = modem
        .client(
            0,
            opts("qmt-refused-wrong")
                .credentials("qmt", "wrong-password")
                .build()
                .unwrap(),
        )
        .unwrap();
    let e = wrong.connect().unwrap_err();
    assert_eq!(
        e,
        ClientError::Refused {
            connack: ConnackCode::NotAuthorized
        },
        "mosquitto log:\n{}",
        broker.log()
    );
    let text = e.to_string();
    assert!(text.contains("CONNACK 5"), "{text}");
    assert!(!format!("{e} {e:?}").contains("wrong-password"));
    // A refused connect closes the client again: the index can be used at once.
    assert!(!wrong.is_open());

    let (anonymous, _c1) = modem
        .client(1, opts("qmt-refused-anon").build().unwrap())
        .unwrap();
    assert!(
        matches!(anonymous.connect(), Err(ClientError::Refused { .. })),
        "anonymous access is off"
    );

    let (right, _c2) = modem
        .client(
            2,
            opts("qmt-refused-right")
                .credentials("qmt", "right-password")
                .build()
                .unwrap(),
        )
        .unwrap();
    right.connect().unwrap();
    right
        .publish("qmt/refused", "in", Qos::AtLeastOnce, false)
        .unwrap();
    right.disconnect().unwrap();
}
