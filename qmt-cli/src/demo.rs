//! `qmt demo`: a whole MQTT session through a simulated module, step by step, with the AT
//! traffic shown: the first command to run for someone new to qmt.
//!
//! It starts a [`qmt_sim::Sim`] (embedded broker) in this process, opens a [`Modem`] on its pty
//! and runs: configure, open, connect, subscribe, publish at QoS 0/1/2 and receive each message
//! back, a link drop (`Fault::BrokerClose`) recovered automatically, disconnect, close.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use qmt_cli::trace::Tracer;
use qmt_client::{BackoffConfig, RecoveryEvent, RecoveryPolicy};
use qmt_client::{ClientOptions, Connection, Event, Modem, ModemConfig, Qos};
use qmt_sim::{Fault, Sim, SimConfig};

/// How long the demo waits for one expected event.
const WAIT: Duration = Duration::from_secs(30);

const TOPIC: &str = "qmt/demo/hello";
const FILTER: &str = "qmt/demo/#";

/// Runs the demo; exit 0 when every step succeeded.
pub fn run() -> ExitCode {
    match session() {
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

fn session() -> Result<(), String> {
    println!("qmt demo: an MQTT session through a simulated Quectel module");
    println!("(lines starting with >> are what the host wrote, << what the module answered)");

    let mut tracer = Tracer::new(|line| println!("      {line}"));
    let sim = Sim::start(SimConfig {
        trace: Some(Box::new(move |dir, bytes| tracer.trace(dir, bytes))),
        ..SimConfig::default()
    })
    .map_err(|e| failed("starting the simulated module", e))?;
    println!(
        "simulated module on {}, embedded MQTT broker on {}",
        sim.pty_path().display(),
        sim.broker_addr()
    );

    header(
        1,
        "Open the modem: wait for RDY, sync with AT, ATE0, AT+CMEE=2, close stale clients",
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
        ..ModemConfig::default()
    };
    let modem = Modem::open(sim.pty_path(), config).map_err(|e| failed("open the modem", e))?;
    let s = modem.startup();
    ok(&format!(
        "modem ready (RDY seen: {}, AT attempts: {}, stale clients closed: {})",
        s.rdy_seen,
        s.sync_attempts,
        s.closed_stale.len()
    ));

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

    header(6, "Disconnect");
    client.disconnect().map_err(|e| failed("disconnect", e))?;
    ok("disconnected (the module sent DISCONNECT and closed the connection)");

    header(7, "Close");
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
