//! Faults a test or a `qmt sim` user can inject, to see what a host driver does with them.

use qmt_proto::params::ClientIdx;

/// A fault. Line-level faults are applied by the module core ([`crate::module::Module::inject`]);
/// network-level ones by the IO shell, which owns the sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    // --- applied by the module core -------------------------------------------------------
    /// A power cycle: every client is dropped without a word to its server, all state is lost
    /// (configuration, echo back on; files and the clock stay), and the module says `RDY` again
    /// (spec §9).
    PowerCycle,
    /// These bytes are written to the serial line as they are, between frames (noise).
    Garbage(Vec<u8>),
    /// This line is sent as an unsolicited line (`\r\n<line>\r\n`), e.g. a stale `+QMTSTAT`.
    StrayUrc(String),
    /// The five receive slots of this client (recv/mode 1) are filled with placeholder messages,
    /// so further incoming publishes are not acknowledged until the host reads a slot.
    FillRecvSlots(ClientIdx),
    /// The network deactivates PDP context `cid` (1–15; spec §10.6): `+QIURC: "pdpdeact",<cid>`,
    /// every MQTT client bound to it (`pdpcid`) drops with `+QMTSTAT: <idx>,1`, and `AT+QMTOPEN`
    /// on it fails (`+QMTOPEN: <idx>,3`) until the host `AT+QIDEACT`s and `AT+QIACT`s it again.
    /// Nothing happens to a context that is not active.
    PdpDeact {
        /// The context, 1–15.
        cid: u8,
    },
    /// Coverage is lost: registration goes to searching (stat 2, URCs per `AT+C(G|E)REG=<n>`) and
    /// every active context is deactivated as by [`Fault::PdpDeact`].
    RegistrationLost,
    /// Coverage is back after [`Fault::RegistrationLost`]: registration ends as configured (URCs
    /// per `<n>`). Contexts stay down: the host reactivates them.
    RegistrationRegained,
    /// The SIM is pulled out: `+CPIN: NOT READY`, `+QSIMSTAT: 1,0` when hot-swap detection is on,
    /// registration is lost (stat 0) and every context with it.
    SimRemoved,
    /// The SIM is put back: `+QSIMSTAT: 1,1` when hot-swap detection is on, `+CPIN: READY` (or
    /// `SIM PIN`), and registration starts again.
    SimInserted,
    /// From now on `AT+QFUPL` leaves out (`false`) or writes (`true`) its `+QFUPL: <size>,<checksum>`
    /// answer (spec §10.8: sometimes not seen on real modules).
    QfuplAnswer(bool),

    // --- applied by the IO shell -----------------------------------------------------------
    /// The server closes this client's connection (or every client's, with `None`).
    BrokerClose(Option<ClientIdx>),
    /// The server stops answering: bytes from it are held back from now on (no CONNACK,
    /// PINGRESP, PUBACK … reach the module), for this client or every client. The connection
    /// stays open; [`Fault::BrokerResume`] delivers what was held, as a link that recovers does.
    BrokerStall(Option<ClientIdx>),
    /// The server answers again after a [`Fault::BrokerStall`].
    BrokerResume(Option<ClientIdx>),
    /// Name resolution fails for this host name (or every name, with `None`) from now on.
    DnsFailure(Option<String>),
    /// Name resolution works again.
    DnsRestore,
    /// Output to the serial line is cut into writes of at most `max_chunk` bytes, `delay_ms`
    /// apart (0 turns it off).
    SplitWrites {
        /// Largest write, in bytes.
        max_chunk: usize,
        /// Pause between writes, in milliseconds.
        delay_ms: u64,
    },
    /// Another client publishes `count` messages on `topic` to the broker, QoS 0, payload
    /// `<seq>` as decimal text.
    Burst {
        /// Topic to publish on.
        topic: String,
        /// How many messages.
        count: usize,
    },
    /// UART damage (spec §10.7) in both directions: each byte on the line is, with probability
    /// `per_million` / 1,000,000, dropped, flipped (one bit) or preceded by an inserted byte, one
    /// third each (0 turns it off). Deterministic for a `seed`.
    LineDamage {
        /// Damaged bytes per million bytes.
        per_million: u32,
        /// Seed of the damage's random choices.
        seed: u64,
    },
}

/// Why a fault description did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultParseError(pub String);

impl core::fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (try: {})", self.0, Fault::SYNTAX)
    }
}

impl std::error::Error for FaultParseError {}

impl Fault {
    /// The text forms [`Fault::from_str`](core::str::FromStr) accepts, as `qmt sim --fault` and its
    /// console take them.
    pub const SYNTAX: &'static str = "close [IDX] | stall [IDX] | resume [IDX] | dns-fail [NAME] | \
        dns-restore | garbage TEXT | urc LINE | split MAX:DELAY_MS | power-cycle | fill-slots IDX | \
        burst TOPIC COUNT | pdp-deact CID | reg-lost | reg-regained | sim-remove | sim-insert | qfupl-answer on|off | \
        damage RATE [SEED]";
}

/// `close 0`, `stall`, `dns-fail broker.example.com`, `garbage \x00\xffnoise`, `urc +QMTSTAT: 0,1`,
/// `split 3:5`, `power-cycle`, `fill-slots 0`, `burst topic/pub 100`, … (see [`Fault::SYNTAX`]).
/// `garbage` understands the escapes `\r`, `\n`, `\\` and `\xNN`.
impl core::str::FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Fault, FaultParseError> {
        let s = s.trim();
        let (verb, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let rest = rest.trim();
        let err = |msg: String| FaultParseError(msg);
        let idx = |r: &str| -> Result<Option<ClientIdx>, FaultParseError> {
            if r.is_empty() {
                return Ok(None);
            }
            let n: i64 = r
                .parse()
                .map_err(|_| err(format!("client index `{r}` is not a number")))?;
            ClientIdx::new(n).map(Some).map_err(|e| err(e.to_string()))
        };
        match verb.to_ascii_lowercase().as_str() {
            "close" => Ok(Fault::BrokerClose(idx(rest)?)),
            "stall" => Ok(Fault::BrokerStall(idx(rest)?)),
            "resume" => Ok(Fault::BrokerResume(idx(rest)?)),
            "dns-fail" => Ok(Fault::DnsFailure(
                (!rest.is_empty()).then(|| rest.to_owned()),
            )),
            "dns-restore" => Ok(Fault::DnsRestore),
            "power-cycle" => Ok(Fault::PowerCycle),
            "urc" if !rest.is_empty() => Ok(Fault::StrayUrc(rest.to_owned())),
            "garbage" if !rest.is_empty() => Ok(Fault::Garbage(unescape(rest).map_err(err)?)),
            "pdp-deact" => {
                let cid = rest
                    .parse::<u8>()
                    .ok()
                    .filter(|c| (1..=15).contains(c))
                    .ok_or_else(|| err(format!("pdp-deact: CID `{rest}` is not 1-15")))?;
                Ok(Fault::PdpDeact { cid })
            }
            "reg-lost" => Ok(Fault::RegistrationLost),
            "reg-regained" => Ok(Fault::RegistrationRegained),
            "sim-remove" => Ok(Fault::SimRemoved),
            "sim-insert" => Ok(Fault::SimInserted),
            "qfupl-answer" => match rest {
                "on" => Ok(Fault::QfuplAnswer(true)),
                "off" => Ok(Fault::QfuplAnswer(false)),
                _ => Err(err(format!("qfupl-answer `{rest}`: expected on or off"))),
            },
            "fill-slots" => idx(rest)?
                .map(Fault::FillRecvSlots)
                .ok_or_else(|| err("fill-slots needs a client index".into())),
            "split" => {
                let (max, delay) = rest
                    .split_once(':')
                    .ok_or_else(|| err(format!("split `{rest}`: expected MAX:DELAY_MS")))?;
                let max_chunk = max
                    .parse()
                    .map_err(|_| err(format!("split: MAX `{max}`")))?;
                let delay_ms = delay
                    .parse()
                    .map_err(|_| err(format!("split: DELAY_MS `{delay}`")))?;
                Ok(Fault::SplitWrites {
                    max_chunk,
                    delay_ms,
                })
            }
            "damage" => {
                let mut words = rest.split_whitespace();
                let rate = words.next().unwrap_or_default();
                let p: f64 = rate
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=1.0).contains(p))
                    .ok_or_else(|| {
                        err(format!(
                            "damage: RATE `{rate}` is not a probability 0-1 (e.g. 1e-4)"
                        ))
                    })?;
                let seed = match words.next() {
                    Some(s) => s
                        .parse()
                        .map_err(|_| err(format!("damage: SEED `{s}` is not a number")))?,
                    None => 1,
                };
                Ok(Fault::LineDamage {
                    per_million: (p * 1e6).round() as u32,
                    seed,
                })
            }
            "burst" => {
                let (topic, count) = rest
                    .rsplit_once(char::is_whitespace)
                    .ok_or_else(|| err("burst needs TOPIC COUNT".into()))?;
                let count = count
                    .parse()
                    .map_err(|_| err(format!("burst: COUNT `{count}`")))?;
                Ok(Fault::Burst {
                    topic: topic.trim().to_owned(),
                    count,
                })
            }
            _ => Err(err(format!("unknown fault `{s}`"))),
        }
    }
}

/// `\r`, `\n`, `\\` and `\xNN` escapes.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let v = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("bad escape `\\x{}`", String::from_utf8_lossy(&hex)))?;
                out.push(v);
            }
            other => {
                return Err(format!(
                    "bad escape `\\{}`",
                    other.map(|c| (c as char).to_string()).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(n: i64) -> ClientIdx {
        ClientIdx::new(n).expect("valid")
    }

    #[test]
    fn text_forms_parse() {
        let cases: [(&str, Fault); 21] = [
            ("pdp-deact 1", Fault::PdpDeact { cid: 1 }),
            ("qfupl-answer off", Fault::QfuplAnswer(false)),
            ("qfupl-answer on", Fault::QfuplAnswer(true)),
            ("reg-lost", Fault::RegistrationLost),
            ("reg-regained", Fault::RegistrationRegained),
            ("sim-remove", Fault::SimRemoved),
            ("sim-insert", Fault::SimInserted),
            ("close 2", Fault::BrokerClose(Some(idx(2)))),
            ("close", Fault::BrokerClose(None)),
            ("STALL 0", Fault::BrokerStall(Some(idx(0)))),
            ("resume", Fault::BrokerResume(None)),
            (
                "dns-fail a.example",
                Fault::DnsFailure(Some("a.example".into())),
            ),
            ("dns-restore", Fault::DnsRestore),
            (
                "garbage \\x00\\xffab\\r\\n",
                Fault::Garbage(vec![0, 0xff, b'a', b'b', b'\r', b'\n']),
            ),
            ("urc +QMTSTAT: 0,1", Fault::StrayUrc("+QMTSTAT: 0,1".into())),
            (
                "split 3:5",
                Fault::SplitWrites {
                    max_chunk: 3,
                    delay_ms: 5,
                },
            ),
            ("power-cycle", Fault::PowerCycle),
            (
                "damage 1e-4 7",
                Fault::LineDamage {
                    per_million: 100,
                    seed: 7,
                },
            ),
            (
                "damage 0",
                Fault::LineDamage {
                    per_million: 0,
                    seed: 1,
                },
            ),
            ("fill-slots 1", Fault::FillRecvSlots(idx(1))),
            (
                "burst topic/a b 10",
                Fault::Burst {
                    topic: "topic/a b".into(),
                    count: 10,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Fault>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        for (text, says) in [
            ("close 9", "client_idx = 9 is out of range"),
            ("fill-slots", "needs a client index"),
            ("pdp-deact 16", "CID `16` is not 1-15"),
            ("pdp-deact", "is not 1-15"),
            ("split 3", "expected MAX:DELAY_MS"),
            ("burst t x", "COUNT `x`"),
            ("garbage \\q", "bad escape"),
            ("explode", "unknown fault"),
        ] {
            let e = text.parse::<Fault>().expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
