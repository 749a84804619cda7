//! `qmt demo`: a whole MQTT session through a simulated module, step by step, with the AT
//! traffic shown: the first command to run for someone new to qmt.
//!
//! It starts a [`qmt_sim::Sim`] (embedded broker) in this process as a module just powered on
//! ([`SimConfig::cold`]: boot URCs, a network search, no data context), opens a [`Modem`] on its
//! pty with bring-up (SIM, registration, APN, PDP context: spec §10) and runs: configure, open,
//! connect, subscribe, publish at QoS 0/1/2 and receive each message back, a link drop
//! (`Fault::BrokerClose`) and a lost bearer (`Fault::PdpDeact`) recovered automatically,
//! disconnect, close.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use qmt_cli::trace::Tracer;
use qmt_client::sansio::NetworkConfig;
use qmt_sim::{SimCard, SimPin};

use crate::pubsub::NetworkArgs;
use qmt_client::{BackoffConfig, RecoveryEvent, RecoveryPolicy};
use qmt_client::{ClientOptions, Connection, Event, Modem, ModemConfig, Qos};
use qmt_sim::{Fault, Sim, SimConfig};

/// How long the demo waits for one expected event.
const WAIT: Duration = Duration::from_secs(30);

const TOPIC: &str = "qmt/demo/hello";
const FILTER: &str = "qmt/demo/#";

/// Runs the demo; exit 0 when every step succeeded.
pub fn run(network: &NetworkArgs) -> ExitCode {
    match session(network) {
        Ok(()) => {
            println!(
                "\nAll steps succeeded. Next: `qmt sim` to drive a simulated module yourself."
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qmt demo: {e}");
            ExitCode::from(1)
        }
    }
}

fn header(n: u32, title: &str) {
    println!("\n── {n}. {title} ──");
}

fn ok(text: &str) {
    println!("  ✓ {text}");
}

/// A failed step: printed with ✗, and returned as the one-line error.
fn failed(step: &str, e: impl std::fmt::Display) -> String {
    println!("  ✗ {step}: {e}");
    format!("{step} failed: {e}")
}

fn session(args: &NetworkArgs) -> Result<(), String> {
    // The flags configure both sides: the simulated SIM wants the PIN given, the simulated
    // network the APN given; --no-bring-up runs on a module that is already up.
    let network = args.config().map_err(|f| failed("arguments", f.message))?;
    let mut sim_config = if network.is_some() {
        SimConfig::cold()
    } else {
        SimConfig::default()
    };
    if let Some(pin) = args.pin.as_deref().and_then(SimPin::new) {
        sim_config.network.sim = SimCard::Locked(pin);
    }
    sim_config.network.expected_apn.clone_from(&args.apn);
    let bring_up = network.is_some();
    let network = match network {
        Some(n) if n.apn.is_none() => Some(NetworkConfig {
            apn: Some(qmt_proto::params::Apn::new("internet").map_err(|e| failed("APN", e))?),
            ..n
        }),
        other => other,
    };
    println!("qmt demo: an MQTT session through a simulated Quectel module");
    println!("(lines starting with >> are what the host wrote, << what the module answered)");

    let mut tracer = Tracer::new(|line| println!("      {line}"));
    let sim = Sim::start(SimConfig {
        trace: Some(Box::new(move |dir, bytes| tracer.trace(dir, bytes))),
        ..sim_config
    })
    .map_err(|e| failed("starting the simulated module", e))?;
    println!(
        "simulated module on {}, embedded MQTT broker on {}",
        sim.pty_path().display(),
        sim.broker_addr()
    );

    header(
        1,
        "Open the modem and bring the network up: RDY, AT sync, ATE0, AT+CMEE=2, stale clients, then identity, SIM, registration, APN, PDP context",
    );
    let config = ModemConfig {
        recovery: RecoveryPolicy {
            enabled: true,
            backoff: BackoffConfig {
                initial: Duration::from_millis(500),
                ..BackoffConfig::default()
            },
            ..RecoveryPolicy::enabled()
        },
        network,
        ..ModemConfig::default()
    };
    let mut opening =
        Modem::open_request(sim.pty_path(), config).map_err(|e| failed("open the modem", e))?;
    // Each bring-up stage as it is entered (the AT lines of each are traced above it).
    let mut shown = 0;
    let mut show = |opening: &qmt_client::Opening| {
        let stages = opening.stages();
        for s in stages.iter().skip(shown) {
            println!("    · {s}");
        }
        shown = stages.len();
    };
    let modem = loop {
        show(&opening);
        if let Some(r) = opening.wait_timeout(Duration::from_millis(20)) {
            show(&opening);
            break r.map_err(|e| failed("open the modem", e))?;
        }
    };
    let s = modem.startup();
    ok(&format!(
        "modem ready (RDY seen: {}, AT attempts: {}, stale clients closed: {})",
        s.rdy_seen,
        s.sync_attempts,
        s.closed_stale.len()
    ));
    if let Some(net) = &s.network {
        let ip = net
            .pdp
            .iter()
            .find(|c| c.active)
            .and_then(|c| c.ip.clone())
            .unwrap_or_default();
        ok(&format!(
            "network up: {} {}, IMEI {}, {}, {} dBm, IP {ip}",
            net.model.as_deref().unwrap_or("?"),
            net.firmware.as_deref().unwrap_or("?"),
            net.imei.as_deref().unwrap_or("?"),
            net.operator.as_deref().unwrap_or("registered"),
            net.signal_dbm()
                .map_or_else(|| "?".to_owned(), |d| d.to_string()),
        ));
    }

    header(2, "Configure, open and connect client 0");
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id("qmt-demo")
        .keep_alive(60)
        .build()
        .map_err(|e| failed("options", e))?;
    let (client, events) = modem
        .client(0, options)
        .map_err(|e| failed("client 0", e))?;
    client.connect().map_err(|e| failed("connect", e))?;
    ok("connected to the broker as \"qmt-demo\"");

    header(3, &format!("Subscribe to {FILTER}"));
    let granted = client
        .subscribe(&[(FILTER, Qos::ExactlyOnce)])
        .map_err(|e| failed("subscribe", e))?;
    ok(&format!("subscribed, granted {granted:?}"));

    header(
        4,
        "Publish at QoS 0, 1 and 2, and receive each message back",
    );
    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
        let n = qos as u8;
        let payload = format!("hello at QoS {n}");
        client
            .publish(TOPIC, &payload, qos, false)
            .map_err(|e| failed(&format!("publish at QoS {n}"), e))?;
        let got = expect_message(&events).map_err(|e| failed("receive", e))?;
        if got != payload {
            return Err(failed("receive", format!("got {got:?}, sent {payload:?}")));
        }
        ok(&format!("QoS {n}: published and received back {got:?}"));
    }

    header(
        5,
        "A link drop: the broker closes the connection; automatic recovery",
    );
    sim.inject(Fault::BrokerClose(None))
        .map_err(|e| failed("inject the fault", e))?;
    let lost = wait_for(&events, |e| matches!(e, Event::LinkLost { .. }))
        .map_err(|e| failed("link drop", e))?;
    if let Event::LinkLost { code, action, .. } = lost {
        ok(&format!(
            "link lost: +QMTSTAT {} ({}); recommended: {}",
            code.code(),
            code.meaning(),
            action.text()
        ));
    }
    let restored = wait_for(&events, |e| {
        matches!(
            e,
            Event::Recovery {
                event: RecoveryEvent::Restored { .. } | RecoveryEvent::GaveUp { .. },
                ..
            }
        )
    })
    .map_err(|e| failed("recovery", e))?;
    match restored {
        Event::Recovery {
            event:
                RecoveryEvent::Restored {
                    attempts,
                    resubscribed,
                },
            ..
        } => ok(&format!(
            "recovered: reopened, reconnected and re-subscribed {resubscribed} filter(s) (attempt {attempts})"
        )),
        other => return Err(failed("recovery", format!("{other:?}"))),
    }
    client
        .publish(TOPIC, "back again", Qos::AtLeastOnce, false)
        .map_err(|e| failed("publish after recovery", e))?;
    let got = expect_message(&events).map_err(|e| failed("receive after recovery", e))?;
    ok(&format!(
        "published after recovery and received back {got:?}"
    ));

    if bring_up {
        header(
            6,
            "The network drops the bearer (+QIURC: \"pdpdeact\"): the recovery ladder resets the context, then the client recovers",
        );
        sim.inject(Fault::PdpDeact { cid: 1 })
            .map_err(|e| failed("inject the fault", e))?;
        let mut rungs = Vec::new();
        loop {
            let e = wait_for(&events, |e| {
                matches!(
                    e,
                    Event::Network(_)
                        | Event::Recovery {
                            event: RecoveryEvent::Restored { .. } | RecoveryEvent::GaveUp { .. },
                            ..
                        }
                )
            })
            .map_err(|e| failed("pdpdeact", e))?;
            match e {
                Event::Network(stage) => {
                    println!("    · {stage}");
                    rungs.push(stage);
                }
                Event::Recovery {
                    event: RecoveryEvent::Restored { attempts, .. },
                    ..
                } => {
                    ok(&format!(
                        "bearer repaired ({} ladder step(s)), client recovered (attempt {attempts})",
                        rungs.len()
                    ));
                    break;
                }
                other => return Err(failed("pdpdeact", format!("{other:?}"))),
            }
        }
        client
            .publish(TOPIC, "after the bearer came back", Qos::AtLeastOnce, false)
            .map_err(|e| failed("publish after the repair", e))?;
        let got = expect_message(&events).map_err(|e| failed("receive after the repair", e))?;
        ok(&format!(
            "published after the repair and received back {got:?}"
        ));
    }

    header(7, "Disconnect");
    client.disconnect().map_err(|e| failed("disconnect", e))?;
    ok("disconnected (the module sent DISCONNECT and closed the connection)");

    header(8, "Close");
    let was_open = client.is_open();
    client.close().map_err(|e| failed("close", e))?;
    if was_open {
        ok("closed: client 0 is free again");
    } else {
        ok("closed: client 0 is free again (AT+QMTDISC already closed its connection)");
    }
    Ok(())
}

/// The first event for which `pred` holds, within [`WAIT`].
fn wait_for(events: &Connection, pred: impl Fn(&Event) -> bool) -> Result<Event, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if pred(&e) => return Ok(e),
            Ok(Event::Recovery { event, .. }) => println!("    · recovery: {event:?}"),
            Ok(_) => {}
            Err(_) => return Err(format!("nothing within {WAIT:?}")),
        }
    }
}

/// The payload of the next message, as text.
fn expect_message(events: &Connection) -> Result<String, String> {
    match wait_for(events, |e| matches!(e, Event::Message(_)))? {
        Event::Message(m) => Ok(String::from_utf8_lossy(m.payload()).into_owned()),
        _ => Err("not a message".into()),
    }
}
