//! An independent MQTT client (rumqttc) on the sim's broker: publishes to the simulated module
//! and watches what the broker delivers (messages, wills).
//!
//! The rumqttc connection is driven by a background thread that forwards every event to a
//! channel; the thread ends when the [`Peer`] is dropped (its request channel closes) or the
//! connection fails.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, Publish, QoS};

/// A connected rumqttc client.
pub struct Peer {
    client: Client,
    events: mpsc::Receiver<Event>,
    /// Publishes that arrived while waiting for something else.
    pending: Vec<Publish>,
}

impl Peer {
    /// Connects with this client id and waits for the CONNACK.
    pub fn connect(broker: SocketAddr, id: &str) -> Peer {
        let mut opts = MqttOptions::new(id, broker.ip().to_string(), broker.port());
        opts.set_keep_alive(Duration::from_secs(30));
        let (client, mut conn) = Client::new(opts, 64);
        let (tx, events) = mpsc::channel();
        let name = format!("peer-{id}");
        let spawned = thread::Builder::new().name(name).spawn(move || {
            for event in conn.iter() {
                match event {
                    Ok(e) => {
                        if tx.send(e).is_err() {
                            return;
                        }
                    }
                    // The client was dropped, or the broker went away: nothing more to report.
                    Err(_) => return,
                }
            }
        });
        if let Err(e) = spawned {
            panic!("cannot spawn the rumqttc thread: {e}");
        }
        let mut peer = Peer {
            client,
            events,
            pending: Vec::new(),
        };
        peer.wait_for(
            "CONNACK",
            |p| matches!(p, Packet::ConnAck(a) if a.code == rumqttc::ConnectReturnCode::Success),
        );
        peer
    }

    /// Subscribes and waits for the SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) {
        if let Err(e) = self.client.subscribe(filter, qos) {
            panic!("subscribe {filter}: {e}");
        }
        self.wait_for("SUBACK", |p| matches!(p, Packet::SubAck(_)));
    }

    /// Publishes and, for QoS 1, waits for the broker's PUBACK.
    pub fn publish(&mut self, topic: &str, qos: QoS, payload: &[u8]) {
        if let Err(e) = self.client.publish(topic, qos, false, payload.to_vec()) {
            panic!("publish {topic}: {e}");
        }
        if qos == QoS::AtLeastOnce {
            self.wait_for("PUBACK", |p| matches!(p, Packet::PubAck(_)));
        }
    }

    /// The next publish the broker delivers to this peer.
    pub fn expect_publish(&mut self, timeout: Duration) -> Publish {
        if !self.pending.is_empty() {
            return self.pending.remove(0);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Incoming(Packet::Publish(p))) => return p,
                Ok(_) => {}
                Err(_) => panic!("no publish delivered within {timeout:?}"),
            }
        }
    }

    fn wait_for(&mut self, what: &str, pred: impl Fn(&Packet) -> bool) {
        let timeout = Duration::from_secs(10);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Incoming(p)) if pred(&p) => return,
                Ok(Event::Incoming(Packet::Publish(p))) => self.pending.push(p),
                Ok(_) => {}
                Err(_) => panic!("no {what} within {timeout:?}"),
            }
        }
    }
}
