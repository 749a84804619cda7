//! The async API on Linux under tokio, as a user runs it: a serial port (or `qmt sim`'s pty),
//! bring-up, connect, subscribe, publish at QoS 0/1/2 and receive each message back.
//!
//! ```sh
//! # against a simulated module started in this process (its embedded broker answers every host)
//! cargo run -p qmt-async --example tokio_pubsub
//! # against a module, or `qmt sim` running in another terminal
//! cargo run -p qmt-async --example tokio_pubsub -- --port /dev/ttyUSB2 --host test.mosquitto.org --apn internet
//! ```

#![allow(missing_docs)]

use std::error::Error;
use std::time::Duration;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use qmt_async::timer::TokioTimer;
use qmt_async::{ClientOptions, Config, CoreConfig, Event, NetworkConfig, Qos};
use qmt_sim::{Sim, SimConfig};
use qmt_transport::reactor::PortConfig;
use tokio::time::timeout;

/// Long enough for a real module's slowest step (`AT+QMTOPEN` may take 75 s, spec §4).
const STEP: Duration = Duration::from_secs(120);

struct Args {
    port: Option<String>,
    host: String,
    apn: Option<String>,
    topic: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        port: None,
        host: "broker.example".into(),
        apn: None,
        topic: "qmt/tokio-example".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = Some(value()?),
            "--host" => a.host = value()?,
            "--apn" => a.apn = Some(value()?),
            "--topic" => a.topic = value()?,
            _ => {
                return Err(format!(
                    "unknown argument {flag}\nusage: tokio_pubsub [--port PATH] [--host H] [--apn APN] [--topic T]"
                ));
            }
        }
    }
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    // No port given: a simulated module on a pty, with its embedded broker.
    let sim = match &args.port {
        Some(_) => None,
        None => Some(Sim::start(SimConfig::default())?),
    };
    let path = match (&args.port, &sim) {
        (Some(p), _) => p.clone(),
        (None, Some(sim)) => sim.pty_path().display().to_string(),
        (None, None) => unreachable!("a sim is started when no port is given"),
    };
    println!("port: {path}");

    let (reader, writer) = qmt_async::serial::open(&path, &PortConfig::default())?;
    let config = Config {
        core: CoreConfig {
            port_name: path.clone(),
            network: args
                .apn
                .as_deref()
                .map(NetworkConfig::with_apn)
                .transpose()?,
            ..CoreConfig::default()
        },
        ..Config::default()
    };
    let (modem, runner) = qmt_async::new::<CriticalSectionRawMutex, _, _, _, 512, 512>(
        reader,
        writer,
        TokioTimer::new(),
        config,
    );
    let runner = tokio::spawn(runner.run());

    let startup = timeout(STEP, modem.ready()).await??;
    println!("ready: {startup:?}");
    let options = ClientOptions::builder()
        .host(&args.host)
        .client_id("qmt-tokio-example")
        .build()?;
    let client = modem.client(0, options)?;
    timeout(STEP, client.connect()).await??;
    println!("connected to {}", args.host);
    let filter = format!("{}/#", args.topic);
    let granted = timeout(
        STEP,
        client.subscribe(&[(filter.as_str(), Qos::ExactlyOnce)]),
    )
    .await??;
    println!("subscribed to {filter}: {granted:?}");

    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
        let topic = format!("{}/{qos:?}", args.topic);
        let payload = format!("hello at {qos:?}");
        // Ends with the broker's acknowledgement (PUBACK, PUBCOMP) for QoS 1 and 2.
        timeout(STEP, client.publish(&topic, payload.as_str(), qos, false)).await??;
        println!("published {payload:?} to {topic}");
        loop {
            match timeout(STEP, client.recv()).await? {
                Some(Event::Message(m)) => {
                    println!(
                        "received {:?} on {} ({:?})",
                        m.payload_str().unwrap_or("<binary>"),
                        m.topic(),
                        m.qos
                    );
                    break;
                }
                Some(other) => println!("event: {other:?}"),
                None => return Err("the client ended".into()),
            }
        }
    }
    timeout(STEP, client.disconnect()).await??;
    println!("disconnected");
    runner.abort();
    Ok(())
}
