//! Issue 14 end to end: bring-up from power-on to MQTT (spec §10) with `Modem::open` /
//! `open_request` and `ModemConfig::network`, against qmt-sim on a real pty and the embedded
//! broker: a cold boot to a publish with every stage seen, a slow boot, SIM and PIN failures,
//! registration outcomes, a wrong APN, registration lost and a pdpdeact mid-session (the ladder's
//! events, recovery, nothing acknowledged lost), the reset rate limit, and the diagnosis of a
//! failed OPEN without bring-up.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use qmt_client::sansio::{NetworkConfig, Rung, SimState, Stage};
use qmt_client::{BackoffConfig, ClientError, Event, Modem, ModemConfig, Qos, RecoveryEvent};
use qmt_client::{Opening, RecoveryPolicy};
use qmt_proto::RegStat;
use qmt_sim::SimPin;
use qmt_sim::{Fault, NetworkSim, RegOutcome, SignalLevel, Sim, SimCard, SimConfig, SimHandle};
use qmt_transport::reactor::{PortConfig, TraceDir, TraceHook};
use rumqttc::QoS;
use support::{Peer, T, expect_event, expect_message, opts};

/// The cap on one whole bring-up (only to stop a hang; never a timing assertion).
const OPEN_CAP: Duration = Duration::from_secs(90);

/// Every byte the host wrote to the port, from the port's trace hook, and the threads that
/// wrote them (the modem's reactor).
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>, Arc<Mutex<BTreeSet<String>>>);

impl Written {
    fn hook(&self) -> TraceHook {
        let (buf, threads) = (Arc::clone(&self.0), Arc::clone(&self.1));
        TraceHook(Arc::new(move |dir, bytes| {
            if dir == TraceDir::Host {
                buf.lock().unwrap().extend_from_slice(bytes);
                threads.lock().unwrap().insert(thread_tag());
            }
        }))
    }

    fn threads(&self) -> BTreeSet<String> {
        self.1.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// How many times the host wrote exactly `cmd` (CR-terminated).
    fn count(&self, cmd: &str) -> usize {
        self.text().matches(&format!("{cmd}\r")).count()
    }
}

fn cold_sim(network: NetworkSim) -> SimHandle {
    Sim::start(SimConfig {
        network,
        ..SimConfig::cold()
    })
    .unwrap()
}

fn config(network: NetworkConfig) -> ModemConfig {
    ModemConfig {
        network: Some(network),
        ..ModemConfig::default()
    }
}

/// Recovery on, with a first delay long enough for a peer to publish during the outage.
fn slow_recovery() -> RecoveryPolicy {
    RecoveryPolicy {
        backoff: BackoffConfig {
            initial: Duration::from_secs(2),
            jitter: 0.0,
            ..BackoffConfig::default()
        },
        ..support::fast_recovery()
    }
}

/// Opens with bring-up and polls [`Opening::stage`] until start-up ends: the result and each
/// distinct stage seen, in order.
fn open_watching(sim: &SimHandle, config: ModemConfig) -> (Result<Modem, ClientError>, Vec<Stage>) {
    let mut opening: Opening = Modem::open_request(sim.pty_path(), config).unwrap();
    let mut seen: Vec<Stage> = Vec::new();
    let note = |s: Option<Stage>, seen: &mut Vec<Stage>| {
        if let Some(s) = s {
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
    };
    let deadline = Instant::now() + OPEN_CAP;
    loop {
        note(opening.stage(), &mut seen);
        if let Some(r) = opening.wait_timeout(Duration::from_millis(2)) {
            note(opening.stage(), &mut seen);
            return (r, seen);
        }
        assert!(
            Instant::now() < deadline,
            "start-up still running after {OPEN_CAP:?}; stages {seen:?}"
        );
    }
}

/// The place of a stage in bring-up's order.
fn rank(s: &Stage) -> u8 {
    match s {
        Stage::Identify => 0,
        Stage::Sim => 1,
        Stage::Registration { .. } => 2,
        Stage::Apn => 3,
        Stage::Pdp => 4,
        Stage::Up { .. } => 5,
        Stage::Repair(_) => 9,
    }
}

fn open_err(sim: &SimHandle, network: NetworkConfig) -> ClientError {
    match Modem::open(sim.pty_path(), config(network)) {
        Ok(m) => panic!("bring-up succeeded: {:?}", m.startup()),
        Err(e) => e,
    }
}

// ------------------------------------------------------------------------------------------------

#[test]
fn cold_boot_runs_every_stage_then_a_qos1_publish_reaches_a_peer() {
    let capture = Capture::global();
    let sim = cold_sim(NetworkSim {
        expected_apn: Some("iot.example".into()),
        ..NetworkSim::cold()
    });
    let written = Written::default();
    let (modem, stages) = open_watching(
        &sim,
        ModemConfig {
            port: PortConfig {
                trace: Some(written.hook()),
                ..PortConfig::default()
            },
            ..config(NetworkConfig::with_apn("iot.example").unwrap())
        },
    );
    let modem = modem.unwrap();

    // The stages seen by polling are in bring-up's order; the 1.5 s search and the end are
    // always seen.
    let ranks: Vec<u8> = stages.iter().map(rank).collect();
    assert!(
        ranks
            .windows(2)
            .all(|w| w[0] < w[1] || (w[0] == 2 && w[1] == 2)),
        "{stages:?}"
    );
    assert!(
        stages.iter().any(|s| matches!(
            s,
            Stage::Registration {
                stat: RegStat::Searching,
                ..
            }
        )),
        "{stages:?}"
    );
    let Some(Stage::Up { ip: Some(ip) }) = stages.last().cloned() else {
        panic!("{stages:?}")
    };
    assert!(ip.starts_with("10.65."), "{ip}");

    // Every stage, from the log of this modem's reactor: each once and in order, with the
    // search reported while it lasted.
    let mut logged: Vec<String> = capture
        .stages_on(&written.threads())
        .into_iter()
        .map(|s| match s.split_once(", ") {
            // The wait's seconds are not asserted.
            Some((head, _)) if head.starts_with("waiting for registration") => head.to_owned(),
            _ => s,
        })
        .collect();
    logged.dedup();
    assert_eq!(
        logged,
        [
            "identifying the module".to_owned(),
            "waiting for the SIM".to_owned(),
            "waiting for registration: searching".to_owned(),
            "setting the APN".to_owned(),
            "activating the data context".to_owned(),
            format!("network up, IP {ip}"),
        ]
    );

    // Each stage's commands went out, in order, before MQTT.
    let text = written.text();
    let mut at = 0;
    for cmd in [
        "AT+CGMM\r",
        "AT+QCCID\r",
        "AT+CPIN?\r",
        "AT+CEREG=2\r",
        "AT+CEREG?\r",
        "AT+QICSGP=1\r",
        "AT+QICSGP=1,1,\"iot.example\",\"\",\"\",0\r",
        "AT+QIACT?\r",
        "AT+QIACT=1\r",
        "AT+QIACT?\r",
    ] {
        let Some(i) = text[at..].find(cmd) else {
            panic!("{cmd:?} not written after byte {at}: {text:?}")
        };
        at += i + cmd.len();
    }
    // MQTT has not started yet (`AT+QMTOPEN=?` may have gone out: the link's resync marker
    // after a probe that timed out on a loaded machine).
    assert!(!text.contains("AT+QMTOPEN=0,"), "{text:?}");

    // The start-up report: identity, SIM, registration and the context.
    let net = modem.startup().network.clone().unwrap();
    assert_eq!(net.model.as_deref(), Some("EC200U"));
    assert_eq!(net.imei.as_deref(), Some("869487050123457"));
    assert_eq!(net.iccid.as_deref(), Some("89860121801234567890"));
    assert_eq!(net.sim, SimState::Ready);
    assert!(net.registered(), "{net:?}");
    let ctx = net.pdp.iter().find(|c| c.cid == 1).unwrap();
    assert!(ctx.active);
    assert_eq!(ctx.ip.as_deref(), Some(ip.as_str()));
    // And asked afresh.
    let status = modem.status().unwrap();
    assert_eq!(status.operator.as_deref(), Some("CHN-UNICOM"));
    assert!(
        status
            .pdp
            .iter()
            .any(|c| c.cid == 1 && c.active && c.apn.as_deref() == Some("iot.example")),
        "{status:?}"
    );

    // MQTT over the bearer: a QoS 1 publish reaches an independent subscriber.
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-bu-cold-peer");
    peer.subscribe("qmt/bu/cold", QoS::AtLeastOnce);
    let (client, _conn) = modem
        .client(0, opts("qmt-bu-cold").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .publish("qmt/bu/cold", "from a cold boot", Qos::AtLeastOnce, false)
        .unwrap();
    let p = peer.expect_publish(T);
    assert_eq!(&p.payload[..], b"from a cold boot");
}

#[test]
fn a_slow_boot_is_probed_until_rdy_then_brought_up() {
    let sim = cold_sim(NetworkSim {
        boot_delay: Duration::from_secs(3),
        ..NetworkSim::cold()
    });
    let modem = Modem::open(sim.pty_path(), config(NetworkConfig::default())).unwrap();
    let s = modem.startup();
    assert!(s.rdy_seen, "{s:?}");
    assert!(s.sync_attempts >= 2, "{s:?}");
    assert!(s.network.as_ref().unwrap().registered(), "{s:?}");
    let (client, _conn) = modem
        .client(1, opts("qmt-bu-slow").build().unwrap())
        .unwrap();
    client.connect().unwrap();
}

// ------------------------------------------------------------------------------------------------
// SIM and PIN.

const PIN: &str = "73915246";
const WRONG_PIN: &str = "48160527";

fn thread_tag() -> String {
    format!("{:?}", std::thread::current().id())
}

/// Every tracing event and span field from every thread (process-wide: the reactor and the sim
/// log from their own threads), each event's line tagged with its thread.
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

    /// The bring-up stages the client logged (`stage=` in Display form) on these threads.
    fn stages_on(&self, threads: &BTreeSet<String>) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|l| {
                let (tag, rest) = l.split_once(' ')?;
                if !threads.contains(tag) || !rest.contains(" qmt_client") {
                    return None;
                }
                let (_, stage) = rest.split_once("stage=")?;
                Some(stage.split(" message=").next()?.trim().to_owned())
            })
            .collect()
    }
}

/// One event's or span's fields, written into one line (pushed at once: threads interleave).
struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = Line(format!("{} span: ", thread_tag()));
        span.record(&mut line);
        self.push(&(line.0 + "\n"));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = Line(format!("{} record: ", thread_tag()));
        values.record(&mut line);
        self.push(&(line.0 + "\n"));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        let mut line = Line(format!("{} {} {}: ", thread_tag(), m.level(), m.target()));
        event.record(&mut line);
        self.push(&(line.0 + "\n"));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn no_sim_and_pin_right_and_wrong_and_the_pin_is_never_shown() {
    let capture = Capture::global();
    let mut shown: Vec<String> = Vec::new();

    let sim = cold_sim(NetworkSim {
        sim: SimCard::Absent,
        ..NetworkSim::cold()
    });
    let e = open_err(&sim, NetworkConfig::with_apn("internet").unwrap());
    assert_eq!(e, ClientError::SimNotInserted);
    shown.push(format!("{e} {e:?}"));

    // A locked SIM without a PIN configured.
    let locked = || {
        cold_sim(NetworkSim {
            sim: SimCard::Locked(SimPin::new(PIN).unwrap()),
            ..NetworkSim::cold()
        })
    };
    let sim = locked();
    let e = open_err(&sim, NetworkConfig::default());
    assert_eq!(e, ClientError::SimPinRequired);
    shown.push(format!("{e} {e:?}"));

    // The right PIN: up, and MQTT works.
    let sim = locked();
    let right = NetworkConfig::default().pin(PIN).unwrap();
    shown.push(format!("{right:?}"));
    let cfg = config(right);
    shown.push(format!("{cfg:?}"));
    let (modem, stages) = open_watching(&sim, cfg);
    let modem = modem.unwrap();
    shown.push(format!("{modem:?} {stages:?}"));
    for s in &stages {
        shown.push(s.to_string());
    }
    assert_eq!(
        modem.startup().network.as_ref().unwrap().sim,
        SimState::Ready
    );
    let status = modem.status().unwrap();
    assert_eq!(status.sim, SimState::Ready);
    shown.push(format!("{status:?}"));
    let (client, _conn) = modem
        .client(0, opts("qmt-bu-pin").build().unwrap())
        .unwrap();
    client.connect().unwrap();

    // A wrong PIN: typed, not retried (one AT+CPIN="…" only).
    let sim = locked();
    let written = Written::default();
    let wrong = ModemConfig {
        port: PortConfig {
            trace: Some(written.hook()),
            ..PortConfig::default()
        },
        ..config(NetworkConfig::default().pin(WRONG_PIN).unwrap())
    };
    shown.push(format!("{wrong:?}"));
    let opening = Modem::open_request(sim.pty_path(), wrong).unwrap();
    shown.push(format!("{opening:?}"));
    let e = opening.wait().unwrap_err();
    assert_eq!(e, ClientError::SimPinWrong);
    shown.push(format!("{e} {e:?}"));
    // The capture could have seen the PIN: it went to the module (raw bytes, by design only in
    // the port's own trace hook).
    assert_eq!(written.count(&format!("AT+CPIN=\"{WRONG_PIN}\"")), 1);

    let log = capture.text();
    assert!(
        log.contains("qmt_client"),
        "the capture saw nothing of the client"
    );
    assert!(
        log.contains("network"),
        "the capture saw no bring-up: {log}"
    );
    for secret in [PIN, WRONG_PIN] {
        assert!(!log.contains(secret), "the PIN is in the logs");
        for s in &shown {
            assert!(!s.contains(secret), "the PIN is shown: {s}");
        }
    }
    assert!(shown.iter().any(|s| s.contains(qmt_proto::REDACTED)));
}

// ------------------------------------------------------------------------------------------------
// Registration.

#[test]
fn registration_searching_then_registered_is_waited_for() {
    let sim = cold_sim(NetworkSim {
        reg_delay: Duration::from_secs(3),
        ..NetworkSim::cold()
    });
    let (modem, stages) = open_watching(&sim, config(NetworkConfig::default()));
    let modem = modem.unwrap();
    assert!(
        stages.iter().any(|s| matches!(
            s,
            Stage::Registration {
                stat: RegStat::Searching,
                ..
            }
        )),
        "{stages:?}"
    );
    assert!(
        matches!(stages.last(), Some(Stage::Up { ip: Some(_) })),
        "{stages:?}"
    );
    let net = modem.startup().network.clone().unwrap();
    assert_eq!(net.packet_stat(), Some(RegStat::Home));
}

#[test]
fn registration_denied_is_a_typed_error() {
    let sim = cold_sim(NetworkSim {
        registration: RegOutcome::Denied,
        ..NetworkSim::cold()
    });
    assert_eq!(
        open_err(&sim, NetworkConfig::default()),
        ClientError::RegistrationDenied
    );
}

#[test]
fn no_service_is_not_registered_and_without_signal_is_no_signal() {
    let short = NetworkConfig {
        registration_wait: Duration::from_secs(2),
        poll_interval: Duration::from_millis(300),
        ..NetworkConfig::default()
    };
    let sim = cold_sim(NetworkSim {
        registration: RegOutcome::NoService,
        ..NetworkSim::cold()
    });
    match open_err(&sim, short.clone()) {
        ClientError::NotRegistered { stat, waited } => {
            assert_eq!(stat, RegStat::Searching);
            assert!(waited >= short.registration_wait, "{waited:?}");
        }
        other => panic!("{other:?}"),
    }

    let sim = cold_sim(NetworkSim {
        registration: RegOutcome::NoService,
        signal: SignalLevel {
            rssi: 99,
            ..SignalLevel::default()
        },
        ..NetworkSim::cold()
    });
    let e = open_err(&sim, short.clone());
    assert!(
        matches!(e, ClientError::NoSignal { waited } if waited >= short.registration_wait),
        "{e:?}"
    );
}

#[test]
fn a_wrong_apn_is_pdp_activation_failed_naming_it() {
    let sim = cold_sim(NetworkSim {
        expected_apn: Some("iot.example".into()),
        ..NetworkSim::cold()
    });
    assert_eq!(
        open_err(&sim, NetworkConfig::with_apn("internet").unwrap()),
        ClientError::PdpActivationFailed {
            apn: "internet".to_owned()
        }
    );
}

// ------------------------------------------------------------------------------------------------
// The ladder mid-session.

fn restored(e: &Event) -> bool {
    matches!(
        e,
        Event::Recovery {
            event: RecoveryEvent::Restored { .. },
            ..
        }
    )
}

#[test]
fn registration_lost_and_regained_mid_session_is_waited_for_and_recovered() {
    let sim = cold_sim(NetworkSim::cold());
    let written = Written::default();
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: support::fast_recovery(),
            port: PortConfig {
                trace: Some(written.hook()),
                ..PortConfig::default()
            },
            ..config(NetworkConfig::default())
        },
    )
    .unwrap();
    let (client, conn) = modem
        .client(3, opts("qmt-bu-reg").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bu/reg", Qos::AtLeastOnce)])
        .unwrap();

    let before = written.text().len();
    sim.inject(Fault::RegistrationLost).unwrap();
    expect_event(&conn, "the ladder waits for registration", |e| {
        matches!(e, Event::Network(Stage::Repair(Rung::WaitRegistration)))
    });
    expect_event(&conn, "the client's link is lost", |e| {
        matches!(
            e,
            Event::LinkLost { .. }
                | Event::Recovery {
                    event: RecoveryEvent::Lost { .. },
                    ..
                }
        )
    });
    assert!(!modem.network().registered());
    sim.inject(Fault::RegistrationRegained).unwrap();
    // Up, then recovery (which waited for the bearer) restores the session; no other rung in
    // between (registration polls and the context's stage may come before the end).
    let mut order = Vec::new();
    loop {
        let e = expect_event(&conn, "up, then restored", |e| {
            matches!(e, Event::Network(_)) || restored(e)
        });
        let done = restored(&e);
        order.push(e);
        if done {
            break;
        }
    }
    assert!(
        matches!(
            order.as_slice(),
            [
                ..,
                Event::Network(Stage::Up { ip: Some(_) }),
                Event::Recovery { .. }
            ]
        ),
        "{order:#?}"
    );
    assert!(
        !order
            .iter()
            .any(|e| matches!(e, Event::Network(Stage::Repair(_)))),
        "{order:#?}"
    );
    assert!(modem.network().registered());
    // The context the network dropped with the registration is deactivated, then activated
    // once (spec §10.6: AT+QIDEACT before reactivating; no refused AT+QIACT first).
    let after = written.text()[before..].to_owned();
    let deact = after.find("AT+QIDEACT=1\r");
    let act = after.find("AT+QIACT=1\r");
    assert!(deact.is_some() && act.is_some() && deact < act, "{after:?}");
    assert_eq!(after.matches("AT+QIACT=1\r").count(), 1, "{after:?}");
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-bu-reg-peer");
    peer.publish("qmt/bu/reg", QoS::AtLeastOnce, b"after the outage");
    assert_eq!(
        expect_message(&conn, "traffic resumes").payload(),
        b"after the outage"
    );
}

#[test]
fn pdpdeact_mid_session_is_repaired_and_no_qos1_message_is_lost() {
    let sim = cold_sim(NetworkSim::cold());
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: slow_recovery(),
            ..config(NetworkConfig::with_apn("internet").unwrap())
        },
    )
    .unwrap();
    let options = opts("qmt-bu-pdp").clean_session(false).build().unwrap();
    let (client, conn) = modem.client(2, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/bu/pdp", Qos::AtLeastOnce)])
        .unwrap();
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-bu-pdp-peer");
    peer.subscribe("qmt/bu/pdp/up", QoS::AtLeastOnce);
    peer.publish("qmt/bu/pdp", QoS::AtLeastOnce, b"before");
    assert_eq!(expect_message(&conn, "before").payload(), b"before");
    client
        .publish("qmt/bu/pdp/up", "mine before", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(&peer.expect_publish(T).payload[..], b"mine before");
    let first_ip = modem.network().pdp[0].ip.clone().unwrap();

    sim.inject(Fault::PdpDeact { cid: 1 }).unwrap();
    // The ladder's first rung and the client's loss, then peers publish while it is down
    // (recovery waits 2 s before its first attempt).
    let mut order: Vec<Event> = Vec::new();
    let (mut rung, mut lost) = (false, false);
    while !(rung && lost) {
        let e = expect_event(&conn, "the rung and the loss", |e| {
            matches!(e, Event::Network(_) | Event::LinkLost { .. })
        });
        match &e {
            Event::Network(Stage::Repair(Rung::PdpReset)) => rung = true,
            Event::LinkLost { .. } => lost = true,
            _ => {}
        }
        order.push(e);
    }
    let sent: BTreeSet<String> = (0..10).map(|i| format!("outage {i}")).collect();
    for p in &sent {
        peer.publish("qmt/bu/pdp", QoS::AtLeastOnce, p.as_bytes());
    }
    let mut got = BTreeSet::new();
    loop {
        let e = expect_event(&conn, "up, restored, the messages", |e| {
            matches!(e, Event::Network(_) | Event::Message(_)) || restored(e)
        });
        if let Event::Message(m) = &e {
            let text = m.payload_str().unwrap().to_owned();
            assert!(sent.contains(&text), "unexpected {text:?}");
            assert!(got.insert(text.clone()), "{text:?} twice");
            continue;
        }
        let done = restored(&e);
        order.push(e);
        if done {
            break;
        }
    }
    while got != sent {
        let m = expect_message(&conn, "a message published during the outage");
        let text = m.payload_str().unwrap().to_owned();
        assert!(sent.contains(&text), "unexpected {text:?}");
        got.insert(text);
    }
    let ladder: Vec<&Event> = order
        .iter()
        .filter(|e| matches!(e, Event::Network(_)) || restored(e))
        .collect();
    assert!(
        matches!(
            ladder.as_slice(),
            [
                Event::Network(Stage::Repair(Rung::PdpReset)),
                Event::Network(Stage::Up { ip: Some(_) }),
                Event::Recovery { .. },
            ]
        ),
        "{order:#?}"
    );
    // A new activation (the sim gives each one a new address), and the client works as before.
    let Some(Event::Network(Stage::Up { ip: Some(ip) })) = ladder.get(1).copied() else {
        unreachable!()
    };
    assert_ne!(ip, &first_ip);
    client
        .publish("qmt/bu/pdp/up", "mine after", Qos::AtLeastOnce, false)
        .unwrap();
    assert_eq!(&peer.expect_publish(T).payload[..], b"mine after");
}

#[test]
fn module_resets_are_rate_limited_and_the_next_escalation_cycles_the_radio() {
    // Registered at once after every (re)start, so a lost registration is the only trouble.
    let sim = Sim::start(SimConfig::default()).unwrap();
    let written = Written::default();
    let network = NetworkConfig {
        registration_wait: Duration::from_secs(1),
        poll_interval: Duration::from_millis(250),
        resets_per_hour: 1,
        ..NetworkConfig::default()
    };
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            port: PortConfig {
                trace: Some(written.hook()),
                ..PortConfig::default()
            },
            ..config(network)
        },
    )
    .unwrap();
    // A client only to hear the ladder.
    let (_client, conn) = modem
        .client(0, opts("qmt-bu-ladder").build().unwrap())
        .unwrap();
    let rungs = |what: &str, until: fn(&Stage) -> bool| -> Vec<Stage> {
        let mut out = Vec::new();
        loop {
            let Event::Network(s) = expect_event(&conn, what, |e| matches!(e, Event::Network(_)))
            else {
                unreachable!()
            };
            let done = until(&s);
            out.push(s);
            if done {
                return out;
            }
        }
    };

    // No coverage: wait, cycle the radio, wait, reset the module (the one reset allowed this
    // hour). A restart does not bring coverage back (the sim keeps it lost, as a real network
    // would); when coverage returns, the restarted module registers and the bearer is up again.
    sim.inject(Fault::RegistrationLost).unwrap();
    let mut first = rungs("the first escalation, to a reset", |s| {
        matches!(s, Stage::Repair(Rung::ModuleReset))
    });
    sim.inject(Fault::RegistrationRegained).unwrap();
    first.extend(rungs("up after the reset", |s| {
        matches!(s, Stage::Up { .. })
    }));
    let repairs: Vec<&Stage> = first
        .iter()
        .filter(|s| matches!(s, Stage::Repair(_)))
        .collect();
    assert_eq!(
        repairs[..3],
        [
            &Stage::Repair(Rung::WaitRegistration),
            &Stage::Repair(Rung::RadioCycle),
            &Stage::Repair(Rung::ModuleReset),
        ],
        "{first:?}"
    );
    assert!(
        !repairs[3..].contains(&&Stage::Repair(Rung::ModuleReset)),
        "{first:?}"
    );
    assert_eq!(written.count("AT+CFUN=1,1"), 1);

    // Again: the reset is not allowed now; the escalation that would reset cycles the radio.
    sim.inject(Fault::RegistrationLost).unwrap();
    let mut second: Vec<Stage> = Vec::new();
    while second
        .iter()
        .filter(|s| **s == Stage::Repair(Rung::RadioCycle))
        .count()
        < 2
    {
        second.extend(rungs("the second escalation", |s| {
            matches!(s, Stage::Repair(Rung::RadioCycle | Rung::ModuleReset))
        }));
        assert!(
            !second.contains(&Stage::Repair(Rung::ModuleReset)),
            "a second reset within the hour: {second:?}"
        );
    }
    second.retain(|s| matches!(s, Stage::Repair(_)));
    assert_eq!(
        second,
        [
            Stage::Repair(Rung::WaitRegistration),
            Stage::Repair(Rung::RadioCycle),
            Stage::Repair(Rung::RadioCycle),
        ]
    );
    assert_eq!(written.count("AT+CFUN=1,1"), 1);
    assert!(written.count("AT+CFUN=0") >= 3, "{}", written.text());
    // Coverage back: up again.
    sim.inject(Fault::RegistrationRegained).unwrap();
    let back = rungs("up again", |s| matches!(s, Stage::Up { .. }));
    assert!(
        !back.contains(&Stage::Repair(Rung::ModuleReset)),
        "{back:?}"
    );
    assert_eq!(written.count("AT+CFUN=1,1"), 1);
}

// ------------------------------------------------------------------------------------------------

#[test]
fn without_bring_up_a_failed_open_names_the_missing_bearer_or_registration() {
    // Registered at once, but no context is active.
    let sim = cold_sim(NetworkSim {
        reg_delay: Duration::ZERO,
        ..NetworkSim::cold()
    });
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    assert!(modem.startup().network.is_none());
    let (client, _conn) = modem
        .client(0, opts("qmt-bu-none").build().unwrap())
        .unwrap();
    assert_eq!(client.connect(), Err(ClientError::NoDataContext { cid: 1 }));

    // No network at all.
    let sim = cold_sim(NetworkSim {
        registration: RegOutcome::NoService,
        ..NetworkSim::cold()
    });
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    let (client, _conn) = modem
        .client(0, opts("qmt-bu-none2").build().unwrap())
        .unwrap();
    match client.connect() {
        Err(ClientError::NotRegistered { stat, .. }) => assert_eq!(stat, RegStat::Searching),
        other => panic!("{other:?}"),
    }
}
