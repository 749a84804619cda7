//! The bounded event queue between the driver and one [`Connection`] (ARCHITECTURE.md "Bounds
//! and policies").
//!
//! # Policy
//! The core delivers at most [`ModemConfig::event_capacity`](crate::ModemConfig::event_capacity)
//! messages that the consumer has not taken yet (it counts them; the queue gives the count back as
//! the consumer takes them). What happens when a consumer is slower than the module:
//!
//! - **[`Overflow::BackPressure`]** (the default): nothing is dropped. In inline receive mode the
//!   driver stops reading the serial port while the consumer is full, so the OS buffer and the
//!   line's flow control hold the module back. In buffered receive mode (`recv/mode` 1) a message
//!   announced with `+QMTRECV: <idx>,<recv_id>` is only read when the consumer has room; the
//!   module keeps it in its slot and, with all five full, stops acknowledging new publishes, so
//!   the broker holds them.
//! - **[`Overflow::DropOldest`]**, for a UART without flow control (where not reading loses bytes
//!   in the UART): the port is always read; when the queue holds `capacity` messages the oldest is
//!   dropped and counted, and the consumer's next receive returns [`Event::Lagged`] with
//!   [`LagSource::Connection`] and the number dropped since its previous receive (like
//!   `tokio::sync::broadcast`).
//! - **Other events** (link loss, recovery, failed publishes, …) do not count against `capacity`.
//!   They are few per cause, but a link that flaps forever while nobody reads would still grow
//!   them without bound: beyond [`CONTROL_LIMIT`] queued, the oldest of them is dropped and
//!   counted in the same [`Event::Lagged`].
//!
//! A dropped [`Connection`] discards what is pushed (nobody listens) and never holds up reads.
//!
//! [`Connection`]: crate::Connection
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::event::{Event, LagSource};
use crate::sansio::Overflow;

/// At most this many events other than messages wait in one connection's queue; beyond it the
/// oldest of them is dropped and counted (see the module docs).
pub const CONTROL_LIMIT: usize = 64;

/// The default [`ModemConfig::event_capacity`](crate::ModemConfig::event_capacity).
pub const DEFAULT_CAPACITY: usize = 256;

#[derive(Debug)]
struct Inner {
    /// Events, each marked whether it is a message.
    q: VecDeque<(bool, Event)>,
    capacity: usize,
    overflow: Overflow,
    messages: usize,
    controls: usize,
    /// Messages taken (or dropped) since the driver last asked: credit for the core.
    taken: usize,
    /// The core holds messages back for this consumer: wake the driver on the next receive.
    starved: bool,
    /// Dropped since the consumer's previous receive.
    lagged: u64,
    /// Dropped in all.
    dropped_total: u64,
    /// The producer (the modem) is gone: after the queue drains, receives end.
    closed: bool,
    /// The consumer is gone: pushes are discarded (and credited).
    receiver_gone: bool,
    /// The consumer waits on the condvar.
    waiting: bool,
}

/// What a receive found.
pub(crate) enum Take {
    /// An event; `resume`: the driver held messages back and must be woken.
    Event(Event, bool),
    /// Nothing queued yet.
    Empty,
    /// Nothing queued, and the producer is gone.
    Closed,
}

/// One connection's bounded queue (see the module docs).
#[derive(Debug)]
pub(crate) struct EventQueue {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize, overflow: Overflow) -> EventQueue {
        EventQueue {
            inner: Mutex::new(Inner {
                q: VecDeque::new(),
                capacity: capacity.max(1),
                overflow,
                messages: 0,
                controls: 0,
                taken: 0,
                starved: false,
                lagged: 0,
                dropped_total: 0,
                closed: false,
                receiver_gone: false,
                waiting: false,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An event from the core, in wire order.
    pub(crate) fn push(&self, event: Event) {
        let message = matches!(event, Event::Message(_));
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.receiver_gone || inner.closed {
            if message {
                inner.taken += 1;
            }
            return;
        }
        if message {
            if inner.overflow == Overflow::DropOldest && inner.messages >= inner.capacity {
                if let Some(at) = inner.q.iter().position(|(m, _)| *m) {
                    inner.q.remove(at);
                    inner.messages -= 1;
                    inner.taken += 1;
                    inner.lagged += 1;
                    inner.dropped_total += 1;
                }
            }
            inner.messages += 1;
        } else {
            if inner.controls >= CONTROL_LIMIT {
                if let Some(at) = inner.q.iter().position(|(m, _)| !*m) {
                    inner.q.remove(at);
                    inner.controls -= 1;
                    inner.lagged += 1;
                    inner.dropped_total += 1;
                }
            }
            inner.controls += 1;
        }
        inner.q.push_back((message, event));
        let wake = inner.waiting;
        drop(g);
        if wake {
            self.cv.notify_one();
        }
    }

    /// Messages taken or dropped since the last call (the driver gives them back to the core).
    pub(crate) fn drain_taken(&self) -> usize {
        std::mem::take(&mut self.lock().taken)
    }

    /// The core holds messages back for this consumer: its next receive wakes the driver.
    /// `false` (and nothing set) when it took messages the driver has not credited yet: the
    /// driver must credit them now rather than wait for a receive that may never come.
    pub(crate) fn set_starved(&self) -> bool {
        let mut g = self.lock();
        if g.taken > 0 {
            return false;
        }
        g.starved = true;
        true
    }

    /// The producer is gone: receives end once the queue is drained.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }

    /// The consumer is gone: what is queued is credited back and discarded.
    pub(crate) fn receiver_dropped(&self) {
        let mut g = self.lock();
        g.receiver_gone = true;
        g.taken += g.messages;
        g.q.clear();
        g.messages = 0;
        g.controls = 0;
    }

    fn take_locked(inner: &mut Inner) -> Take {
        if inner.lagged > 0 {
            let dropped = std::mem::take(&mut inner.lagged);
            return Take::Event(
                Event::Lagged {
                    dropped,
                    source: LagSource::Connection,
                },
                false,
            );
        }
        match inner.q.pop_front() {
            Some((message, event)) => {
                if message {
                    inner.messages -= 1;
                    inner.taken += 1;
                } else {
                    inner.controls -= 1;
                }
                let resume = std::mem::take(&mut inner.starved);
                Take::Event(event, resume)
            }
            None if inner.closed => Take::Closed,
            None => Take::Empty,
        }
    }

    /// The next event without waiting.
    pub(crate) fn try_take(&self) -> Take {
        Self::take_locked(&mut self.lock())
    }

    /// The next event, waiting until `deadline` (forever with `None`).
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Take {
        let mut g = self.lock();
        loop {
            match Self::take_locked(&mut g) {
                Take::Empty => {}
                other => return other,
            }
            g.waiting = true;
            g = match deadline {
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        g.waiting = false;
                        return Take::Empty;
                    }
                    self.cv
                        .wait_timeout(g, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            g.waiting = false;
        }
    }

    /// Events waiting (messages and others).
    pub(crate) fn len(&self) -> usize {
        self.lock().q.len()
    }

    /// Events dropped in all.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u16) -> Event {
        Event::Lagged {
            dropped: u64::from(n),
            source: LagSource::ModuleRestart,
        }
    }

    fn msg(n: u8) -> Event {
        Event::Message(crate::Message::new(
            qmt_proto::params::ClientIdx::new(0).unwrap(),
            "t",
            &[n],
            qmt_proto::params::MsgId::new(0).unwrap(),
        ))
    }

    fn next(q: &EventQueue) -> Option<Event> {
        match q.try_take() {
            Take::Event(e, _) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn back_pressure_keeps_every_message_and_credits_what_was_taken() {
        let q = EventQueue::new(2, Overflow::BackPressure);
        for n in 1..=5 {
            q.push(msg(n));
        }
        // The core stops delivering at capacity; whatever it delivered is kept.
        assert_eq!(q.len(), 5);
        assert_eq!(q.drain_taken(), 0);
        assert!(q.set_starved());
        assert!(matches!(q.try_take(), Take::Event(e, true) if e == msg(1)));
        assert!(!q.set_starved(), "a taken message is credited first");
        assert!(matches!(q.try_take(), Take::Event(e, false) if e == msg(2)));
        assert_eq!(q.drain_taken(), 2);
        assert_eq!(q.drain_taken(), 0);
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn drop_oldest_drops_messages_counted_and_credits_them() {
        let q = EventQueue::new(2, Overflow::DropOldest);
        q.push(ev(100));
        for n in 1..=5 {
            q.push(msg(n));
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.drain_taken(), 3, "dropped messages are credited");
        assert!(matches!(
            next(&q),
            Some(Event::Lagged {
                dropped: 3,
                source: LagSource::Connection
            })
        ));
        assert_eq!(next(&q), Some(ev(100)));
        assert_eq!(next(&q), Some(msg(4)));
        assert_eq!(next(&q), Some(msg(5)));
        assert_eq!(q.dropped(), 3);
    }

    #[test]
    fn control_events_are_bounded() {
        let q = EventQueue::new(1, Overflow::BackPressure);
        for n in 0..(CONTROL_LIMIT as u16 + 3) {
            q.push(ev(n));
        }
        assert_eq!(q.len(), CONTROL_LIMIT);
        assert!(matches!(next(&q), Some(Event::Lagged { dropped: 3, .. })));
        assert_eq!(next(&q), Some(ev(3)));
    }

    #[test]
    fn closing_ends_after_draining_and_a_gone_receiver_gives_credit_back() {
        let q = EventQueue::new(1, Overflow::BackPressure);
        q.push(ev(1));
        q.close();
        assert_eq!(next(&q), Some(ev(1)));
        assert!(matches!(q.take(None), Take::Closed));
        let q = EventQueue::new(4, Overflow::BackPressure);
        q.push(msg(1));
        q.push(msg(2));
        q.receiver_dropped();
        q.push(msg(3));
        assert_eq!(q.len(), 0);
        assert_eq!(q.drain_taken(), 3);
    }
}
