//! qmt against the physical limit of the serial line (spec §10.7): publishes and received
//! messages per second through a UART-paced simulated module, as a fraction of what the line
//! itself allows. A bench that prints figures; it asserts no wall-clock limit.
//!
//! ```text
//! cargo run -p qmt-client --release --example wire_bound [-- --seconds S --latency MS]
//! cargo xtask wire-bound
//! ```
//!
//! For 115,200 and 921,600 baud, QoS 0 and 1, 64- and 1,024-byte payloads:
//!
//! - **publish**: a client publishes for `S` seconds (default 3), pipelined (8 requests in flight,
//!   so the core always has the next command ready). The AT channel carries one command at a
//!   time and each publish is a sequence the host cannot overlap: the command line goes out, the
//!   module answers `> `, the payload goes out, the module answers `OK`. The **wire bound** is
//!   that sequence's bytes at the line's byte time (10 bits a byte):
//!   `(command + "\r\n> " + payload + "\r\nOK\r\n") × 10 / baud`. The `+QMTPUBEX: <idx>,<msgid>,0`
//!   result goes to the host while the host sends the next command (the line is full duplex),
//!   so it is not in the sequence. With the module's latency (`--latency`, default 1 ms, added
//!   by the sim to every byte the host sends) the module answers twice per publish, so the
//!   **line + module bound** adds two latencies.
//! - **receive**: a peer (rumqttc) publishes about `S` seconds of line time to the client's
//!   subscription at once; the module writes `+QMTRECV: 0,<msgid>,"<topic>",<len>,"<payload>"`
//!   lines back to back. The wire bound is those lines' bytes at the byte time (the module's
//!   latency does not apply: nothing is asked). The rate is taken from the first message's
//!   arrival to the last's.
//!
//! The ratio columns are qmt's rate over each bound.

use std::time::{Duration, Instant};

use qmt_client::{ClientOptions, Event, Modem, ModemConfig, Qos};
use qmt_sim::{LineConfig, Sim, SimConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "qmt/wire";
const WINDOW: usize = 8;

struct Args {
    seconds: f64,
    latency_ms: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 3.0,
        latency_ms: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let value = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--seconds" => args.seconds = value.parse()?,
            "--latency" => args.latency_ms = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(args)
}

/// The bytes of one publish's host/module sequence (see the module docs), for message id
/// `msgid`.
fn publish_sequence_bytes(qos: Qos, len: usize, msgid: u16) -> usize {
    let q = qos as u8;
    let cmd = format!("AT+QMTPUBEX=0,{msgid},{q},0,\"{TOPIC}\",{len}\r");
    cmd.len() + "\r\n> ".len() + len + "\r\nOK\r\n".len()
}

/// The bytes of one `+QMTRECV` line as the sim writes it (spec §6, the counted form).
fn recv_line_bytes(len: usize, msgid: u16) -> usize {
    format!("\r\n+QMTRECV: 0,{msgid},\"{TOPIC}\",{len},\"\"\r\n").len() + len
}

fn byte_time(baud: u32) -> f64 {
    10.0 / f64::from(baud)
}

struct Row {
    what: &'static str,
    baud: u32,
    qos: Qos,
    len: usize,
    count: usize,
    rate: f64,
    wire: f64,
    line_module: f64,
}

fn publish_row(args: &Args, baud: u32, qos: Qos, len: usize) -> Result<Row> {
    let latency = Duration::from_millis(args.latency_ms);
    let sim = Sim::start(SimConfig {
        line: LineConfig {
            baud: Some(baud),
            latency,
        },
        ..SimConfig::default()
    })?;
    let modem = Modem::open(sim.pty_path(), ModemConfig::default())?;
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id(format!("wire-pub-{baud}-{len}-{}", qos as u8))
        .build()?;
    let (client, _events) = modem.client(0, options)?;
    client.connect()?;
    let payload = vec![b'p'; len];
    // Warm-up: a few publishes, so the first command's start-up costs are not measured.
    for _ in 0..5 {
        client.publish(TOPIC, payload.clone(), qos, false)?;
    }
    let mut in_flight = std::collections::VecDeque::with_capacity(WINDOW);
    let mut count = 0usize;
    let mut bytes = 0usize;
    let start = Instant::now();
    let window = Duration::from_secs_f64(args.seconds);
    while start.elapsed() < window {
        if in_flight.len() == WINDOW {
            if let Some(h) = in_flight.pop_front() {
                qmt_client::OpHandle::wait(h)?;
                count += 1;
            }
        }
        in_flight.push_back(client.publish_request(TOPIC, payload.clone(), qos, false)?);
    }
    for h in in_flight {
        h.wait()?;
        count += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Message ids count up from 1 (QoS 1; QoS 0 uses 0): the bound uses the ids' real lengths.
    for i in 0..count {
        let msgid = if qos == Qos::AtMostOnce {
            0
        } else {
            ((5 + i) % 65_535 + 1) as u16
        };
        bytes += publish_sequence_bytes(qos, len, msgid);
    }
    let per_pub = bytes as f64 / count as f64 * byte_time(baud);
    client.disconnect()?;
    Ok(Row {
        what: "publish",
        baud,
        qos,
        len,
        count,
        rate: count as f64 / elapsed,
        wire: 1.0 / per_pub,
        line_module: 1.0 / (per_pub + 2.0 * latency.as_secs_f64()),
    })
}

fn receive_row(args: &Args, baud: u32, len: usize) -> Result<Row> {
    let sim = Sim::start(SimConfig {
        line: LineConfig {
            baud: Some(baud),
            latency: Duration::ZERO,
        },
        ..SimConfig::default()
    })?;
    let modem = Modem::open(sim.pty_path(), ModemConfig::default())?;
    let options = ClientOptions::builder()
        .host("broker.example.com")
        .client_id(format!("wire-recv-{baud}-{len}"))
        .build()?;
    let (client, events) = modem.client(0, options)?;
    client.connect()?;
    client.subscribe(&[(TOPIC, Qos::AtLeastOnce)])?;
    // About `seconds` of line time, sent by a peer at once: the module writes them back to back.
    let per_line = recv_line_bytes(len, 100) as f64 * byte_time(baud);
    let count = ((args.seconds / per_line) as usize).clamp(20, 5000);
    let broker = sim.broker_addr();
    let mut peer_options = rumqttc::MqttOptions::new(
        format!("wire-peer-{baud}-{len}"),
        broker.ip().to_string(),
        broker.port(),
    );
    peer_options.set_max_packet_size(64 * 1024, 64 * 1024);
    let (peer, mut connection) = rumqttc::Client::new(peer_options, count + 16);
    let payload = vec![b'r'; len];
    for _ in 0..count {
        peer.publish(TOPIC, rumqttc::QoS::AtMostOnce, false, payload.clone())?;
    }
    std::thread::spawn(move || {
        for event in connection.iter() {
            if event.is_err() {
                return;
            }
        }
    });
    let mut got = 0usize;
    let mut bytes = 0usize;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    while got < count {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Message(m)) => {
                let now = Instant::now();
                if first.is_none() {
                    first = Some(now);
                } else {
                    // The first line's own time is before `first`: count the ones after it.
                    bytes += recv_line_bytes(m.payload().len(), m.msgid.get());
                }
                last = now;
                got += 1;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let first = first.ok_or("no message arrived")?;
    let elapsed = last.duration_since(first).as_secs_f64();
    let lines = got.saturating_sub(1).max(1);
    let per_line = bytes as f64 / lines as f64 * byte_time(baud);
    client.disconnect()?;
    Ok(Row {
        what: "receive",
        baud,
        qos: Qos::AtLeastOnce,
        len,
        count: got,
        rate: lines as f64 / elapsed,
        wire: 1.0 / per_line,
        line_module: 1.0 / per_line,
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    println!(
        "wire bound: {} s per publish case, module latency {} ms, {} requests in flight\n",
        args.seconds, args.latency_ms, WINDOW
    );
    println!(
        "{:<8} {:>7} {:>3} {:>6} {:>6} {:>9} {:>10} {:>8} {:>13} {:>8}",
        "what", "baud", "QoS", "bytes", "N", "per s", "wire bound", "ratio", "line+module", "ratio"
    );
    let mut rows = Vec::new();
    for baud in [115_200, 921_600] {
        for qos in [Qos::AtMostOnce, Qos::AtLeastOnce] {
            for len in [64, 1024] {
                rows.push(publish_row(&args, baud, qos, len)?);
                print_row(rows.last().ok_or("no row")?);
            }
        }
        for len in [64, 1024] {
            rows.push(receive_row(&args, baud, len)?);
            print_row(rows.last().ok_or("no row")?);
        }
    }
    println!(
        "\nwire bound: the bytes each operation puts on the line in sequence, at 10 bits a byte;\n\
         line+module: the same plus the module's latency for each of its two answers (publish);\n\
         receive: a peer's QoS 0 messages, delivered at QoS 0 (msgid 0) as +QMTRECV lines."
    );
    Ok(())
}

fn print_row(r: &Row) {
    println!(
        "{:<8} {:>7} {:>3} {:>6} {:>6} {:>9.1} {:>10.1} {:>7.1}% {:>13.1} {:>7.1}%",
        r.what,
        r.baud,
        r.qos as u8,
        r.len,
        r.count,
        r.rate,
        r.wire,
        100.0 * r.rate / r.wire,
        r.line_module,
        100.0 * r.rate / r.line_module
    );
}
