//! The sans-IO link core (`qmt_transport::link::Link`) against arbitrary module output, with a
//! scripted command sequence and a fake clock, so that timeouts, late replies, markers, prompts,
//! `CONNECT` and `RDY` all happen.
//!
//! Input layout: byte 0 = script (bits 0–2: number `n` of commands; bits 3–5: how many of them are
//! submitted up front, the others one after each fed chunk; bit 6: queue capacity 1 instead of
//! 32), bytes 1..=n = indices into `TABLE`, then byte `k` (mod 32) = number of step bytes, the `k`
//! step bytes (used cyclically; bits 0–4: chunk size − 1, bits 5–7: how far the clock advances
//! before the chunk, see `STEP`), the rest = the module's output.
//!
//! Invariants:
//! - nothing panics;
//! - every token `submit` returned completes exactly once, no unknown token completes: after the
//!   input, `handle_timeout` is driven until `poll_timeout` is `None`; a token still open then is
//!   only allowed while the link is resyncing with every marker outstanding (module docs), and
//!   `close` completes it;
//! - data is written only after its own command (the chunk right before it in the transmit
//!   order) and never more often than the module output so far holds invitations (each `> ` /
//!   `CONNECT` holds a `>` byte or the word `CONNECT`, case-insensitively: a sound upper bound);
//! - the same steps with every chunk fed byte-wise (same clock) give the same events and the same
//!   transmitted bytes (chunking invariance).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use qmt_proto::Command;
use qmt_transport::link::{Link, LinkConfig, LinkEvent, Token};
use qmt_transport::time::Instant;

/// Valid commands, with the data of their data phase (never equal to any command's bytes: no CR).
const TABLE: &[(&[u8], Option<&[u8]>)] = &[
    (b"AT", None),
    (b"ATE0", None),
    (b"ATE1", None),
    (b"AT+QMTOPEN=0,\"broker.example\",1883", None),
    (b"AT+QMTOPEN?", None),
    (b"AT+QMTCONN=0,\"client\"", None),
    (b"AT+QMTCONN?", None),
    (b"AT+QMTSUB=0,1,\"t/#\",1", None),
    (b"AT+QMTUNS=0,2,\"t/#\"", None),
    (b"AT+QMTPUBEX=0,1,1,0,\"t\",5", Some(b"hello")),
    (b"AT+QMTPUBEX=0,0,0,0,\"t\",4", Some(b"OK\r\n")),
    (b"AT+QFUPL=\"UFS:a.pem\",4,10", Some(b"abcd")),
    (b"AT+QMTCFG=\"recv/mode\",0,0,1", None),
    (b"AT+QMTRECV?", None),
    (b"AT+QMTRECV=0,1", None),
    (b"AT+QMTDISC=0", None),
    (b"AT+QMTCLOSE=0", None),
    (b"AT+QSSLCFG=\"sslversion\",1", None),
    // Spec §10: bare information lines (AT+GSN, ATI), registration query vs URC, PDP, CFUN reset.
    (b"AT+GSN", None),
    (b"ATI", None),
    (b"AT+CPIN?", None),
    (b"AT+CEREG?", None),
    (b"AT+CGREG=2", None),
    (b"AT+CSQ", None),
    (b"AT+QICSGP=1", None),
    (b"AT+QIACT?", None),
    (b"AT+QIACT=1", None),
    (b"AT+QIDEACT=1", None),
    (b"AT+CFUN=1,1", None),
];

/// Clock advance before a chunk: around each deadline of `Timeouts::default()`.
const STEP: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(299),
    Duration::from_millis(301),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(121),
];

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<LinkEvent>,
    tx: Vec<Vec<u8>>,
}

struct Run<'a> {
    link: Link,
    now: Instant,
    submitted: Vec<(Token, Vec<u8>, Option<&'a [u8]>)>,
    events: Vec<LinkEvent>,
    tx: Vec<Vec<u8>>,
    /// Invitations (`>` bytes, `CONNECT` words) in the module output fed so far.
    invites: usize,
    data_sent: usize,
    fed: Vec<u8>,
}

impl<'a> Run<'a> {
    fn submit(&mut self, i: u8) {
        let (line, data) = TABLE[usize::from(i) % TABLE.len()];
        let cmd = Command::parse(line).expect("TABLE holds valid commands");
        let bytes = cmd.to_bytes();
        if let Ok(token) = self.link.submit(cmd, data.map(<[u8]>::to_vec), self.now) {
            assert!(self.submitted.iter().all(|(t, ..)| *t != token));
            self.submitted.push((token, bytes, data));
        }
        self.drain();
    }

    fn feed(&mut self, chunk: &[u8], bytewise: bool) {
        self.fed.extend_from_slice(chunk);
        self.invites = self.fed.iter().filter(|&&b| b == b'>').count()
            + self
                .fed
                .windows(7)
                .filter(|w| w.eq_ignore_ascii_case(b"CONNECT"))
                .count();
        if bytewise {
            for b in chunk {
                self.link.feed(std::slice::from_ref(b), self.now);
            }
        } else {
            self.link.feed(chunk, self.now);
        }
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.link.poll_timeout().is_some_and(|t| t <= self.now) {
            self.link.handle_timeout(self.now);
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(bytes) = self.link.poll_transmit() {
            let is_data = self
                .submitted
                .iter()
                .any(|(_, _, d)| d.is_some_and(|d| d == &bytes[..]));
            if is_data {
                self.data_sent += 1;
                // A prompt that never came in time (`Timeouts::prompt`, line damage) lets the
                // data go all the same; the link counts each such write.
                let blind = usize::try_from(self.link.stats().prompts_damaged).unwrap_or(0);
                assert!(
                    self.data_sent <= self.invites + blind,
                    "data written without a prompt/CONNECT: {:?} after {:?}",
                    bytes.escape_ascii().to_string(),
                    self.fed.escape_ascii().to_string()
                );
                let prev = self.tx.last().expect("data after a command");
                assert!(
                    self.submitted
                        .iter()
                        .any(|(_, c, d)| c == prev && d.is_some_and(|d| d == &bytes[..])),
                    "data not right after its own command"
                );
            }
            self.tx.push(bytes);
        }
        while let Some(ev) = self.link.poll_event() {
            self.events.push(ev);
        }
    }
}

fn run(
    script: &[u8],
    upfront: usize,
    small_queue: bool,
    steps: &[u8],
    stream: &[u8],
    bytewise: bool,
) -> Outcome {
    let start = Instant::ZERO;
    let config = LinkConfig {
        queue_capacity: if small_queue { 1 } else { 32 },
        ..LinkConfig::default()
    };
    let mut r = Run {
        link: Link::new(config, start),
        now: start,
        submitted: Vec::new(),
        events: Vec::new(),
        tx: Vec::new(),
        invites: 0,
        data_sent: 0,
        fed: Vec::new(),
    };
    let (first, later) = script.split_at(upfront.min(script.len()));
    for &i in first {
        r.submit(i);
    }
    let mut later = later.iter();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let s = steps.get(i % steps.len().max(1)).copied().unwrap_or(0x1f);
        i += 1;
        r.advance(STEP[usize::from(s >> 5)]);
        let (chunk, tail) = rest.split_at((usize::from(s & 0x1f) + 1).min(rest.len()));
        rest = tail;
        r.feed(chunk, bytewise);
        if let Some(&c) = later.next() {
            r.submit(c);
        }
    }
    for &c in later {
        r.submit(c);
    }
    // Far into the future: every deadline passes.
    for _ in 0..64 {
        let Some(t) = r.link.poll_timeout() else {
            break;
        };
        r.now = r.now.max(t);
        r.link.handle_timeout(r.now);
        r.drain();
    }
    assert!(r.link.poll_timeout().is_none(), "deadlines never end");
    let done = |events: &[LinkEvent], t: Token| {
        events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Completed { token, .. } if *token == t))
            .count()
    };
    let open = r
        .submitted
        .iter()
        .filter(|(t, ..)| done(&r.events, *t) == 0)
        .count();
    if open > 0 {
        assert!(
            r.link.resyncing(),
            "{open} commands open with no deadline and no resync: {:?}",
            r.link
        );
    }
    let outcome = Outcome {
        events: r.events.clone(),
        tx: r.tx.clone(),
    };
    r.link.close(r.now);
    r.drain();
    for (t, ..) in &r.submitted {
        assert_eq!(done(&r.events, *t), 1, "token {t:?} completions");
    }
    for e in &r.events {
        if let LinkEvent::Completed { token, .. } = e {
            assert!(
                r.submitted.iter().any(|(t, ..)| t == token),
                "unknown token"
            );
        }
    }
    outcome
}

fuzz_target!(|data: &[u8]| {
    let Some((&h, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(h & 7).min(rest.len());
    let (script, rest) = rest.split_at(n);
    let upfront = usize::from((h >> 3) & 7);
    let small_queue = h & 0x40 != 0;
    let Some((&k, rest)) = rest.split_first() else {
        return;
    };
    let k = usize::from(k % 32).min(rest.len());
    let (steps, stream) = rest.split_at(k);
    let a = run(script, upfront, small_queue, steps, stream, false);
    let b = run(script, upfront, small_queue, steps, stream, true);
    assert_eq!(a, b, "byte-wise feeding changed the outcome");
});
