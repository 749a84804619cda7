//! Fake module cores that exercise the shell without the real module.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use qmt_proto::params::ClientIdx;
use qmt_sim::net::{NetAction, NetEvent, TlsConfig};
use qmt_sim::{Core, Fault};

/// Echoes every byte the host writes; a `StrayUrc(s)` fault comes out as `\r\n<s>\r\n`, any
/// other fault the shell forwards as `\r\n+FAULT: <Debug>\r\n`.
#[derive(Default)]
pub struct EchoCore {
    out: VecDeque<Vec<u8>>,
}

impl Core for EchoCore {
    fn feed(&mut self, bytes: &[u8], _now: Instant) {
        self.out.push_back(bytes.to_vec());
    }
    fn handle_net(&mut self, _event: NetEvent, _now: Instant) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        None
    }
    fn inject(&mut self, fault: Fault, _now: Instant) {
        let line = match fault {
            Fault::StrayUrc(s) => s,
            other => format!("+FAULT: {other:?}"),
        };
        self.out.push_back(format!("\r\n{line}\r\n").into_bytes());
    }
}

/// A line-commanded core that plays the network by hand:
/// `OPEN <idx> <host> <port>` (with the preset TLS settings), `SEND <idx> <hex>`, `CLOSE <idx>`,
/// `TIMER <ms>`; each answered `OK`. Network events come out as lines `CONNECTED <idx>`,
/// `FAILED <idx> <Dns|Network|Tls>`, `RECV <idx> <hex>`, `CLOSED <idx>`; an expired timer as
/// `TICK <ms late>`.
pub struct NetCore {
    tls: Option<TlsConfig>,
    input: Vec<u8>,
    out: VecDeque<Vec<u8>>,
    actions: VecDeque<NetAction>,
    timer: Option<Instant>,
}

impl NetCore {
    pub fn new(tls: Option<TlsConfig>) -> NetCore {
        NetCore {
            tls,
            input: Vec::new(),
            out: VecDeque::new(),
            actions: VecDeque::new(),
            timer: None,
        }
    }

    fn line(&mut self, s: &str) {
        self.out.push_back(format!("\r\n{s}\r\n").into_bytes());
    }

    fn command(&mut self, cmd: &str, now: Instant) -> bool {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let idx = |w: Option<&&str>| {
            w.and_then(|w| w.parse::<i64>().ok())
                .and_then(|n| ClientIdx::new(n).ok())
        };
        match words.first().copied() {
            Some("OPEN") => {
                let (Some(client_idx), Some(host), Some(port)) = (
                    idx(words.get(1)),
                    words.get(2),
                    words.get(3).and_then(|p| p.parse().ok()),
                ) else {
                    return false;
                };
                self.actions.push_back(NetAction::Connect {
                    client_idx,
                    host: host.to_string(),
                    port,
                    tls: self.tls.clone(),
                });
            }
            Some("SEND") => {
                let (Some(client_idx), Some(bytes)) =
                    (idx(words.get(1)), words.get(2).and_then(|h| unhex(h)))
                else {
                    return false;
                };
                self.actions
                    .push_back(NetAction::Send { client_idx, bytes });
            }
            Some("CLOSE") => {
                let Some(client_idx) = idx(words.get(1)) else {
                    return false;
                };
                self.actions.push_back(NetAction::Close { client_idx });
            }
            Some("TIMER") => {
                let Some(ms) = words.get(1).and_then(|m| m.parse().ok()) else {
                    return false;
                };
                self.timer = Some(now + Duration::from_millis(ms));
            }
            _ => return false,
        }
        true
    }
}

impl Core for NetCore {
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        for &b in bytes {
            if b == b'\r' {
                let cmd = String::from_utf8_lossy(&self.input).trim().to_owned();
                self.input.clear();
                let ok = self.command(&cmd, now);
                self.line(if ok { "OK" } else { "ERROR" });
            } else if b != b'\n' {
                self.input.push(b);
            }
        }
    }
    fn handle_net(&mut self, event: NetEvent, _now: Instant) {
        let line = match event {
            NetEvent::Connected { client_idx } => format!("CONNECTED {client_idx}"),
            NetEvent::ConnectFailed { client_idx, error } => {
                format!("FAILED {client_idx} {error:?}")
            }
            NetEvent::Received { client_idx, bytes } => {
                format!("RECV {client_idx} {}", hex(&bytes))
            }
            NetEvent::Closed { client_idx } => format!("CLOSED {client_idx}"),
        };
        self.line(&line);
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.timer.take_if(|t| *t <= now) {
            self.line(&format!("TICK {}", now.duration_since(t).as_millis()));
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
    fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
    fn poll_net(&mut self) -> Option<NetAction> {
        self.actions.pop_front()
    }
    fn inject(&mut self, fault: Fault, _now: Instant) {
        self.line(&format!("+FAULT: {fault:?}"));
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
