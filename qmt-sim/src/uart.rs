//! The serial line's speed: a pty moves bytes as fast as the kernel copies them, a UART moves one
//! byte every 10 bit times (8N1). [`Pacer`] gives the sim a UART's timing in both directions, so
//! that a host's throughput can be measured against the line's physical limit (spec §10.7).
//!
//! - **Module → host**: bytes leave at the byte time of the module's current rate. A rate change
//!   (`AT+IPR`) applies once what was queued before it has left: its `OK` goes at the old rate.
//! - **Host → module**: the pty is read only as fast as a UART would bring the bytes in; what the
//!   host wrote beyond that waits in the pty (and the host's writes block when it is full, as a
//!   UART's transmit FIFO would). Each byte reaches the module's command interpreter
//!   [`LineConfig::latency`] after it arrived: the module's processing time.
//!
//! The pacer is sans-IO: the shell asks how many bytes may move now and when to look again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How the simulated serial line behaves ([`crate::SimConfig::line`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineConfig {
    /// The module's UART rate in bits per second at start (`AT+IPR` changes it). `None`: not
    /// paced, bytes move as fast as the pty takes them (the default; tests stay fast).
    pub baud: Option<u32>,
    /// The module's processing time, added between a byte's arrival and the module seeing it.
    pub latency: Duration,
}

/// How far ahead of `now` bytes may be put on the line in one go: the shell's timers are
/// millisecond-grained and a loaded machine wakes it late; a window of 5 ms keeps the line busy
/// between two wake-ups, so the rate is the line's even when each wake-up is a little late.
pub(crate) const WINDOW: Duration = Duration::from_millis(5);

/// A UART's timing for both directions of the line (see the module docs).
#[derive(Debug)]
pub(crate) struct Pacer {
    byte_time: Option<Duration>,
    latency: Duration,
    /// When the line to the host is free again (everything written so far has left).
    tx_free_at: Instant,
    /// When the line from the host is free again.
    rx_free_at: Instant,
    /// Bytes from the host, with the time the module sees them.
    rx_pipe: VecDeque<(Instant, Vec<u8>)>,
}

impl Pacer {
    pub(crate) fn new(config: LineConfig, now: Instant) -> Pacer {
        Pacer {
            byte_time: config.baud.map(byte_time),
            latency: config.latency,
            tx_free_at: now,
            rx_free_at: now,
            rx_pipe: VecDeque::new(),
        }
    }

    /// Whether bytes are paced at all.
    pub(crate) fn paced(&self) -> bool {
        self.byte_time.is_some()
    }

    /// A new rate (`AT+IPR`); the caller applies it when the bytes queued before it have left.
    pub(crate) fn set_baud(&mut self, baud: u32) {
        if self.byte_time.is_some() {
            self.byte_time = Some(byte_time(baud));
        }
    }

    /// How many bytes may be written to the host now.
    pub(crate) fn tx_allowance(&self, now: Instant) -> usize {
        allowance(self.byte_time, self.tx_free_at, now)
    }

    /// `n` bytes were written to the host at `now`.
    pub(crate) fn tx_sent(&mut self, n: usize, now: Instant) {
        if let Some(bt) = self.byte_time {
            self.tx_free_at = self.tx_free_at.max(now) + bt * n as u32;
        }
    }

    /// When more bytes may be written, if the line is busy now.
    pub(crate) fn tx_next(&self, now: Instant) -> Option<Instant> {
        (self.tx_allowance(now) == 0).then(|| self.room_at(self.tx_free_at, now))
    }

    /// How many bytes may be read from the host now.
    pub(crate) fn rx_allowance(&self, now: Instant) -> usize {
        allowance(self.byte_time, self.rx_free_at, now)
    }

    /// Bytes read from the host at `now`: they reach the module when they have arrived, plus the
    /// latency.
    pub(crate) fn rx_arrived(&mut self, bytes: &[u8], now: Instant) {
        let arrived = match self.byte_time {
            Some(bt) => {
                self.rx_free_at = self.rx_free_at.max(now) + bt * bytes.len() as u32;
                self.rx_free_at
            }
            None => now,
        };
        let due = arrived + self.latency;
        // One entry per due time keeps the pipe short when a chunk arrives in pieces.
        match self.rx_pipe.back_mut() {
            Some((t, b)) if *t == due => b.extend_from_slice(bytes),
            _ => self.rx_pipe.push_back((due, bytes.to_vec())),
        }
    }

    /// Bytes the module sees by `now`, in order.
    pub(crate) fn rx_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.rx_pipe.front().is_some_and(|(t, _)| *t <= now) {
            return self.rx_pipe.pop_front().map(|(_, b)| b);
        }
        None
    }

    /// The next time something happens on the host → module side: bytes due at the module, or
    /// room on the line to read more.
    pub(crate) fn rx_next(&self, now: Instant) -> Option<Instant> {
        let due = self.rx_pipe.front().map(|(t, _)| *t);
        let room = (self.rx_allowance(now) == 0).then(|| self.room_at(self.rx_free_at, now));
        match (due, room) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a line busy until `free_at` has room for one more byte in the window.
    fn room_at(&self, free_at: Instant, now: Instant) -> Instant {
        let bt = self.byte_time.unwrap_or_default();
        (free_at + bt).checked_sub(WINDOW).unwrap_or(now).max(now)
    }

    /// Whether bytes wait for their time to reach the module.
    pub(crate) fn rx_pending(&self) -> bool {
        !self.rx_pipe.is_empty()
    }
}

/// UART damage ([`crate::Fault::LineDamage`]): bytes dropped, flipped or inserted at random, at a
/// rate, deterministically for a seed.
#[derive(Debug)]
pub(crate) struct Damage {
    per_million: u32,
    rng: u64,
    /// Bytes dropped, flipped and inserted so far.
    pub(crate) counts: [u64; 3],
}

impl Damage {
    pub(crate) fn new(per_million: u32, seed: u64) -> Damage {
        Damage {
            per_million,
            // SplitMix64's increment keeps a zero seed from sticking at zero.
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            counts: [0; 3],
        }
    }

    /// `bytes` as they arrive at the other end of a damaged line.
    pub(crate) fn apply(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 1);
        for &b in bytes {
            if self.per_million == 0 || (self.next() % 1_000_000) as u32 >= self.per_million {
                out.push(b);
                continue;
            }
            match self.next() % 3 {
                0 => self.counts[0] += 1,
                1 => {
                    self.counts[1] += 1;
                    out.push(b ^ (1 << (self.next() % 8)));
                }
                _ => {
                    self.counts[2] += 1;
                    out.push(self.next() as u8);
                    out.push(b);
                }
            }
        }
        out
    }

    /// SplitMix64.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// 10 bits per byte (start, 8 data, stop).
fn byte_time(baud: u32) -> Duration {
    Duration::from_nanos(10_000_000_000 / u64::from(baud.max(1)))
}

fn allowance(byte_time: Option<Duration>, free_at: Instant, now: Instant) -> usize {
    let Some(bt) = byte_time else {
        return usize::MAX;
    };
    let busy = free_at.saturating_duration_since(now);
    let room = WINDOW.saturating_sub(busy);
    (room.as_nanos() / bt.as_nanos().max(1)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_drops_flips_and_inserts_at_its_rate() {
        let mut d = Damage::new(10_000, 7);
        let input = vec![b'a'; 1_000_000];
        let out = d.apply(&input);
        let total: u64 = d.counts.iter().sum();
        // 1 % of a million bytes, give or take.
        assert!((9_000..11_000).contains(&total), "{:?}", d.counts);
        assert!(d.counts.iter().all(|&c| c > 2_500), "{:?}", d.counts);
        assert_eq!(
            out.len() as i64,
            input.len() as i64 - d.counts[0] as i64 + d.counts[2] as i64
        );
        // Off: nothing changes; and a seed gives the same damage again.
        assert_eq!(Damage::new(0, 7).apply(b"hello"), b"hello");
        assert_eq!(
            Damage::new(500_000, 3).apply(b"hello world"),
            Damage::new(500_000, 3).apply(b"hello world")
        );
    }

    #[test]
    fn an_unpaced_line_moves_everything_at_once() {
        let t = Instant::now();
        let mut p = Pacer::new(LineConfig::default(), t);
        assert_eq!(p.tx_allowance(t), usize::MAX);
        p.rx_arrived(b"AT\r", t);
        assert_eq!(p.rx_due(t).as_deref(), Some(&b"AT\r"[..]));
        assert_eq!(p.tx_next(t), None);
    }

    #[test]
    fn a_paced_line_moves_one_byte_per_ten_bit_times() {
        let t = Instant::now();
        let mut p = Pacer::new(
            LineConfig {
                baud: Some(115_200),
                latency: Duration::ZERO,
            },
            t,
        );
        // 5 ms at 86.8 µs a byte: 57 bytes.
        assert_eq!(p.tx_allowance(t), 57);
        // 1,152 bytes take 100 ms: the line is busy until then.
        p.tx_sent(1152, t);
        assert_eq!(p.tx_allowance(t), 0);
        let next = p.tx_next(t).unwrap();
        assert!(
            next > t + Duration::from_micros(95_080) && next <= t + Duration::from_micros(95_090)
        );
        assert_eq!(p.tx_allowance(next), 1);
        assert_eq!(p.tx_allowance(t + Duration::from_millis(100)), 57);
        // A faster rate: more bytes in the same window.
        p.set_baud(1_000_000);
        assert_eq!(p.tx_allowance(t + Duration::from_millis(100)), 500);
    }

    #[test]
    fn input_reaches_the_module_after_its_line_time_and_the_latency() {
        let t = Instant::now();
        let mut p = Pacer::new(
            LineConfig {
                baud: Some(9_600),
                latency: Duration::from_millis(1),
            },
            t,
        );
        // 5 ms at 1.04 ms a byte: four bytes may be read now.
        assert_eq!(p.rx_allowance(t), 4);
        p.rx_arrived(b"ABCD", t);
        assert_eq!(p.rx_allowance(t), 0);
        // The fourth byte has arrived after 4.17 ms; the module sees them 1 ms later.
        assert!(p.rx_due(t + Duration::from_micros(5160)).is_none());
        assert_eq!(
            p.rx_due(t + Duration::from_micros(5167)).as_deref(),
            Some(&b"ABCD"[..])
        );
        assert!(!p.rx_pending());
    }
}
