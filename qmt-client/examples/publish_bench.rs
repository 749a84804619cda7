//! Publishes per second through the whole qmt stack (Client → reactor → pty → qmt-sim → broker)
//! against an rumqttc client publishing directly to the same embedded broker, in one run.
//!
//! ```text
//! cargo run -p qmt-client --release --example publish_bench [-- N [WINDOW]]
//! ```
//!
//! For each QoS (0 and 1): blocking publishes (one at a time, each waited for) and pipelined ones
//! (`publish_request`, up to WINDOW in flight; rumqttc: its own in-flight window). The table's
//! ratio is qmt / rumqttc for the same QoS and mode.
//!
//! What bounds the ratio: the AT channel carries one command at a time. Each publish is
//! `AT+QMTPUBEX=…` → `> ` prompt → payload → `OK` → `+QMTPUBEX: idx,msgid,0`: two round trips on
//! the serial line (command/prompt, data/OK) that no pipelining can overlap, plus for QoS 1 the
//! broker's PUBACK before the result line (this one pipelining does overlap with the next
//! command). rumqttc writes PUBLISH packets back to back on one TCP stream and, for QoS 1, keeps
//! up to 100 unacknowledged.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::{ClientOptions, Modem, ModemConfig, Qos};
use qmt_sim::{BrokerChoice, EmbeddedBroker, Sim, SimConfig};
use rumqttc::{Event, MqttOptions, Outgoing, Packet, QoS};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PAYLOAD: [u8; 64] = [b'x'; 64];
const TOPIC: &str = "qmt/bench";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blocking,
    Pipelined,
}

impl Mode {
    fn name(self, window: usize) -> String {
        match self {
            Mode::Blocking => "blocking".into(),
            Mode::Pipelined => format!("pipelined ({window} in flight)"),
        }
    }
}

/// The qmt path: `n` publishes of 64 bytes through the Client; the elapsed time.
fn qmt_run(
    client: &qmt_client::Client,
    qos: Qos,
    mode: Mode,
    n: usize,
    window: usize,
) -> Result<Duration> {
    let start = Instant::now();
    match mode {
        Mode::Blocking => {
            for _ in 0..n {
                client.publish(TOPIC, PAYLOAD, qos, false)?;
            }
        }
        Mode::Pipelined => {
            let mut in_flight = VecDeque::with_capacity(window);
            for _ in 0..n {
                if in_flight.len() == window {
                    if let Some(h) = in_flight.pop_front() {
                        qmt_client::OpHandle::wait(h)?;
                    }
                }
                in_flight.push_back(client.publish_request(TOPIC, PAYLOAD, qos, false)?);
            }
            for h in in_flight {
                h.wait()?;
            }
        }
    }
    Ok(start.elapsed())
}

/// An rumqttc client on `broker` whose event loop runs on a thread and reports, per publish,
/// its completion: the PUBLISH written (QoS 0) or its PUBACK (QoS 1).
struct Direct {
    client: rumqttc::Client,
    done: mpsc::Receiver<()>,
    qos: QoS,
}

impl Direct {
    fn connect(broker: std::net::SocketAddr, id: &str, qos: QoS) -> Result<Direct> {
        let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
        options.set_keep_alive(Duration::from_secs(60));
        let (client, mut connection) = rumqttc::Client::new(options, 256);
        let (tx, done) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        thread::spawn(move || {
            for event in connection.iter() {
                let complete = match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = ready_tx.send(());
                        false
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => qos == QoS::AtMostOnce,
                    Ok(Event::Incoming(Packet::PubAck(_))) => qos == QoS::AtLeastOnce,
                    Ok(_) => false,
                    Err(e) => {
                        eprintln!("rumqttc: {e}");
                        return;
                    }
                };
                if complete && tx.send(()).is_err() {
                    return;
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(10))?;
        Ok(Direct { client, done, qos })
    }

    fn run(&self, mode: Mode, n: usize) -> Result<Duration> {
        let start = Instant::now();
        for _ in 0..n {
            self.client
                .publish(TOPIC, self.qos, false, PAYLOAD.to_vec())?;
            if mode == Mode::Blocking {
                self.done.recv_timeout(Duration::from_secs(10))?;
            }
        }
        if mode == Mode::Pipelined {
            for _ in 0..n {
                self.done.recv_timeout(Duration::from_secs(10))?;
            }
        }
        Ok(start.elapsed())
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let window: usize = args.next().map_or(Ok(8), |a| a.parse())?;

    // One broker for both paths.
    let broker = EmbeddedBroker::start()?;
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(broker.addr()),
        ..SimConfig::default()
    })?;
    let modem = Modem::open(sim.pty_path(), ModemConfig::default())?;
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id("qmt-bench")
        .build()?;
    let (client, _events) = modem.client(0, options)?;
    client.connect()?;

    println!(
        "{n} publishes of {} bytes each; one embedded broker at {}\n",
        PAYLOAD.len(),
        broker.addr()
    );
    println!(
        "{:<8} {:<4} {:<24} {:>6} {:>9} {:>12} {:>8} {:>10}",
        "path", "QoS", "mode", "N", "seconds", "publishes/s", "µs/pub", "vs rumqttc"
    );
    for (qos, direct_qos) in [
        (Qos::AtMostOnce, QoS::AtMostOnce),
        (Qos::AtLeastOnce, QoS::AtLeastOnce),
    ] {
        let direct = Direct::connect(
            broker.addr(),
            &format!("rumqttc-bench-{}", direct_qos as u8),
            direct_qos,
        )?;
        for mode in [Mode::Blocking, Mode::Pipelined] {
            // A short warm-up of both paths.
            qmt_run(&client, qos, mode, 20.min(n), window)?;
            direct.run(mode, 20.min(n))?;
            let base = direct.run(mode, n)?;
            let ours = qmt_run(&client, qos, mode, n, window)?;
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            let ratio = rate(ours) / rate(base);
            let q = qos as u8;
            let name = mode.name(window);
            let rumqttc_name = match mode {
                Mode::Blocking => "blocking",
                Mode::Pipelined => "pipelined (inflight 100)",
            };
            println!(
                "{:<8} {:<4} {:<24} {:>6} {:>9.3} {:>12.0} {:>8.1} {:>10}",
                "rumqttc",
                q,
                rumqttc_name,
                n,
                base.as_secs_f64(),
                rate(base),
                1e6 / rate(base),
                "1.000"
            );
            println!(
                "{:<8} {:<4} {:<24} {:>6} {:>9.3} {:>12.0} {:>8.1} {:>10.3}",
                "qmt",
                q,
                name,
                n,
                ours.as_secs_f64(),
                rate(ours),
                1e6 / rate(ours),
                ratio
            );
        }
    }
    println!(
        "\nBound: one AT command on the serial line at a time; each AT+QMTPUBEX costs two serial\n\
         round trips (command -> `> `, payload -> OK) before the next can start, plus the\n\
         +QMTPUBEX result line (after the broker's PUBACK for QoS 1). Pipelining overlaps only the\n\
         broker's part; rumqttc writes PUBLISH packets back to back on one TCP stream."
    );
    client.disconnect()?;
    Ok(())
}
