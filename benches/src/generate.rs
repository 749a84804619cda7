//! A deterministic, seeded generator of realistic module output (spec §1, §5, §6).
//!
//! The stream is what a gateway's serial port sees from a busy module: mostly `+QMTRECV`
//! messages (msg_len_enable = 1, payload unquoted or quoted), interleaved with the answers of the
//! host's own commands — `OK`, `ERROR`, `+CME ERROR: <n>`, the `> ` data prompt of `AT+QMTPUBEX`
//! followed by its `OK`, the two-phase results `+QMTPUBEX`/`+QMTSUB` — and the odd `+QMTSTAT`.
//! Every line is built from qmt-proto's typed values and written with
//! [`ModuleLine::encode_framed`], so the wire form is the module's own (`\r\n<line>\r\n`, the prompt
//! `\r\n> ` without a line end).
//!
//! Payloads (20–1500 bytes) and topics (10–60 bytes) are drawn from printable ASCII, so they hold
//! `>`, `@`, `\`, `,` and `"` (topics never hold `"`: a quoted AT string cannot carry it). The
//! [`Truth`] of a stream counts what a correct parser must find in it.

use qmt_proto::codes::{PacketResult, StatCode};
use qmt_proto::params::{ClientIdx, MsgId};
use qmt_proto::recv::PayloadForm;
use qmt_proto::urc::{PubPrefix, Values};
use qmt_proto::{FinalCode, ModuleLine, Recv, Urc};

/// A generated stream of module output and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The bytes as the module sends them.
    pub bytes: Vec<u8>,
    /// What a correct parser finds in `bytes`.
    pub truth: Truth,
}

/// Ground-truth counts of a stream: what a parser that frames and types every line correctly
/// reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Truth {
    /// Frames that are lines (every frame but the prompts).
    pub lines: u64,
    /// `+QMTRECV` messages.
    pub recv: u64,
    /// Payload bytes of all `+QMTRECV` messages (quotes not counted).
    pub recv_payload_bytes: u64,
    /// `> ` data prompts.
    pub prompts: u64,
    /// `OK` final result codes.
    pub ok: u64,
    /// `ERROR` final result codes.
    pub error: u64,
    /// `+CME ERROR: <n>` final result codes.
    pub cme: u64,
    /// `+QMTPUBEX` publish results.
    pub pubex: u64,
    /// `+QMTSUB` subscribe results.
    pub sub: u64,
    /// `+QMTSTAT` link-state URCs.
    pub stat: u64,
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick test data; no
/// dependency, and the same numbers on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (`lo <= hi`). The modulo bias is irrelevant for test data.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// Printable ASCII, 0x20..=0x7E: what payloads are drawn from.
fn printable(rng: &mut SplitMix64) -> u8 {
    rng.range(0x20, 0x7E) as u8
}

fn client(rng: &mut SplitMix64) -> ClientIdx {
    // 0..=5 is the checked range of ClientIdx.
    ClientIdx::new(rng.range(0, 5) as i64).unwrap_or_else(|_| unreachable!())
}

fn msgid(rng: &mut SplitMix64, lo: u64) -> MsgId {
    MsgId::new(rng.range(lo, 65_535) as i64).unwrap_or_else(|_| unreachable!())
}

/// Error codes a module really reports (spec §1 `+CME ERROR`; 3 operation not allowed, 4 not
/// supported, 10 SIM not inserted, 30 no network service, 50 incorrect parameters, …).
const CME_CODES: [u32; 8] = [3, 4, 10, 30, 50, 100, 515, 550];

/// Generates about `target_len` bytes (it stops after the first event that reaches it) of module
/// output from `seed`. The same seed and length give the same bytes on every run and platform.
///
/// The stream never ends inside a prompt phase: the `OK` after a prompt is always there.
///
/// ```
/// let s = qmt_benches::generate(7, 64 << 10);
/// assert!(s.bytes.len() >= 64 << 10);
/// assert!(s.truth.recv > 0);
/// assert_eq!(s, qmt_benches::generate(7, 64 << 10));
/// ```
pub fn generate(seed: u64, target_len: usize) -> Stream {
    let mut g = Gen {
        rng: SplitMix64::new(seed),
        out: Vec::with_capacity(target_len + 4096),
        truth: Truth::default(),
        topic: String::new(),
        payload: Vec::new(),
    };
    while g.out.len() < target_len {
        g.event();
    }
    Stream {
        bytes: g.out,
        truth: g.truth,
    }
}

struct Gen {
    rng: SplitMix64,
    out: Vec<u8>,
    truth: Truth,
    // Scratch buffers, reused.
    topic: String,
    payload: Vec<u8>,
}

impl Gen {
    fn line(&mut self, line: ModuleLine<'_>) {
        line.encode_framed(&mut self.out);
        let t = &mut self.truth;
        match line {
            ModuleLine::Prompt => {
                t.prompts += 1;
                return;
            }
            ModuleLine::Final(FinalCode::Ok) => t.ok += 1,
            ModuleLine::Final(FinalCode::Error) => t.error += 1,
            ModuleLine::Final(FinalCode::CmeError(_)) => t.cme += 1,
            ModuleLine::Urc(Urc::Recv(r)) => {
                t.recv += 1;
                t.recv_payload_bytes += r.payload.len() as u64;
            }
            ModuleLine::Urc(Urc::PubEx { .. }) => t.pubex += 1,
            ModuleLine::Urc(Urc::Sub { .. }) => t.sub += 1,
            ModuleLine::Urc(Urc::Stat { .. }) => t.stat += 1,
            other => unreachable!("the generator does not write {other:?}"),
        }
        t.lines += 1;
    }

    /// One thing that happens on the line.
    fn event(&mut self) {
        let roll = self.rng.range(0, 99);
        match roll {
            // Most traffic: received messages.
            0..=79 => self.recv(),
            // The host publishes: prompt, (the host writes the data), OK, and later the result.
            80..=87 => {
                self.line(ModuleLine::Prompt);
                self.line(FinalCode::Ok.into());
                self.pubex_result();
            }
            // A late publish result on its own, between messages.
            88..=90 => self.pubex_result(),
            // The host subscribes: OK, later the result with the granted QoS.
            91..=93 => {
                self.line(FinalCode::Ok.into());
                let qos: &[u8] = match self.rng.range(0, 2) {
                    0 => b"0",
                    1 => b"1",
                    _ => b"2",
                };
                let urc = Urc::Sub {
                    client_idx: client(&mut self.rng),
                    msgid: msgid(&mut self.rng, 1),
                    result: PacketResult::Acked,
                    values: Values::parse(qos).unwrap_or(Values::EMPTY),
                };
                self.line(urc.into());
            }
            // A command the module refuses.
            94..=95 => self.line(FinalCode::Error.into()),
            96..=97 => {
                let n = CME_CODES[self.rng.range(0, CME_CODES.len() as u64 - 1) as usize];
                self.line(FinalCode::CmeError(n).into());
            }
            // A link drops.
            _ => {
                let urc = Urc::Stat {
                    client_idx: client(&mut self.rng),
                    err_code: StatCode::from_code(self.rng.range(1, 8) as i64),
                };
                self.line(urc.into());
            }
        }
    }

    fn pubex_result(&mut self) {
        let urc = Urc::PubEx {
            prefix: PubPrefix::PubEx,
            client_idx: client(&mut self.rng),
            msgid: msgid(&mut self.rng, 0),
            result: PacketResult::Acked,
            value: None,
        };
        self.line(urc.into());
    }

    fn recv(&mut self) {
        let rng = &mut self.rng;
        let topic_len = rng.range(10, 60) as usize;
        self.topic.clear();
        while self.topic.len() < topic_len {
            let b = printable(rng);
            if b != b'"' {
                self.topic.push(char::from(b));
            }
        }
        // Mostly telemetry-sized payloads, some large ones.
        let payload_len = if rng.percent(70) {
            rng.range(20, 200)
        } else {
            rng.range(201, 1500)
        } as usize;
        self.payload.clear();
        self.payload
            .extend((0..payload_len).map(|_| printable(&mut *rng)));
        let form = if rng.percent(20) {
            PayloadForm::Quoted
        } else {
            PayloadForm::Unquoted
        };
        let recv = Recv {
            client_idx: client(rng),
            msgid: msgid(rng, 0),
            topic: "",
            payload_len: Some(payload_len),
            payload: &[],
            form,
        };
        let topic = std::mem::take(&mut self.topic);
        let payload = std::mem::take(&mut self.payload);
        self.line(ModuleLine::Urc(Urc::Recv(Recv {
            topic: &topic,
            payload: &payload,
            ..recv
        })));
        self.topic = topic;
        self.payload = payload;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_codec::{Decoder, Frame};
    use qmt_proto::RecvHook;

    /// Recounts a stream by framing it with at-codec and typing every frame with qmt-proto, fed in
    /// reads of `read` bytes. Panics on anything the generator does not write.
    fn recount(bytes: &[u8], read: usize) -> Truth {
        let mut dec = Box::new(Decoder::<4096, RecvHook>::with_hook(RecvHook::auto()));
        let mut t = Truth::default();
        for chunk in bytes.chunks(read) {
            dec.decode(chunk, |f| match f {
                Frame::Prompt => t.prompts += 1,
                Frame::Line(l) => {
                    t.lines += 1;
                    match ModuleLine::parse(l) {
                        ModuleLine::Final(FinalCode::Ok) => t.ok += 1,
                        ModuleLine::Final(FinalCode::Error) => t.error += 1,
                        ModuleLine::Final(FinalCode::CmeError(_)) => t.cme += 1,
                        ModuleLine::Urc(Urc::Recv(r)) => {
                            assert_eq!(r.payload_len, Some(r.payload.len()));
                            t.recv += 1;
                            t.recv_payload_bytes += r.payload.len() as u64;
                        }
                        ModuleLine::Urc(Urc::PubEx { .. }) => t.pubex += 1,
                        ModuleLine::Urc(Urc::Sub { .. }) => t.sub += 1,
                        ModuleLine::Urc(Urc::Stat { .. }) => t.stat += 1,
                        other => panic!("unexpected line {other:?}"),
                    }
                }
                other => panic!("unexpected frame {other:?}"),
            });
        }
        assert!(dec.finish().is_none(), "the stream ends between frames");
        t
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(1, 100_000);
        assert_eq!(a, generate(1, 100_000));
        assert_ne!(a.bytes, generate(2, 100_000).bytes);
        assert!(a.bytes.len() >= 100_000 && a.bytes.len() < 100_000 + 2_000);
    }

    #[test]
    fn the_prng_is_pinned() {
        // splitmix64's reference output for seed 0; pins the streams across versions.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn stream_parses_to_exactly_its_truth_in_any_read_size() {
        let s = generate(42, 512 << 10);
        for read in [1 << 20, 4096, 64, 7] {
            assert_eq!(recount(&s.bytes, read), s.truth, "reads of {read}");
        }
    }

    #[test]
    fn truth_is_consistent_and_has_every_kind() {
        let s = generate(3, 1 << 20);
        let t = s.truth;
        assert_eq!(
            t.lines,
            t.recv + t.ok + t.error + t.cme + t.pubex + t.sub + t.stat
        );
        for (name, n) in [
            ("prompts", t.prompts),
            ("ok", t.ok),
            ("error", t.error),
            ("cme", t.cme),
            ("pubex", t.pubex),
            ("sub", t.sub),
            ("stat", t.stat),
        ] {
            assert!(n > 10, "{name}: {n}");
        }
        // Mostly +QMTRECV, by count and by bytes.
        assert!(t.recv * 10 > t.lines * 6, "{t:?}");
        assert!(
            t.recv_payload_bytes * 10 > s.bytes.len() as u64 * 7,
            "{t:?}"
        );
        // Payloads hold the awkward bytes.
        for b in [b'>', b'@', b'\\', b',', b'"'] {
            assert!(s.bytes.contains(&b));
        }
    }
}
