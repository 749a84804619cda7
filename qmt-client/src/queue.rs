//! The bounded event queue between the dispatcher/acceptor threads and one [`Connection`]
//! (DESIGN.md "Bounded everything").
//!
//! # Policy
//! The queue holds at most [`ModemConfig::event_capacity`](crate::ModemConfig::event_capacity)
//! messages (`capacity`, at least 1) plus at most [`CONTROL_LIMIT`] other events. What happens
//! when a consumer is slower than the module:
//!
//! - **Buffered receive mode** (`recv/mode` 1, [`MsgRecvMode::Buffered`]): back-pressure, no loss.
//!   A message announced with `+QMTRECV: <idx>,<recv_id>` is only read (`AT+QMTRECV=<idx>,<id>`)
//!   when the queue has room for it; a read in flight reserves its place. While the queue is full,
//!   announced ids wait (at most five: the module's slots), the module keeps the messages in its
//!   slots and, once all five are full, stops acknowledging new publishes, so the broker holds
//!   them. Taking an event from the [`Connection`] makes room and resumes the reads.
//! - **Inline receive mode** (`recv/mode` 0): the module pushes `+QMTRECV` lines whether or not
//!   anybody reads, so holding them would only move the unbounded buffer elsewhere. When the
//!   queue holds `capacity` messages, the **oldest inline message** is dropped and counted; the
//!   consumer's next receive returns [`Event::Lagged`] with [`LagSource::Connection`] and the
//!   number dropped since its previous receive (like `tokio::sync::broadcast`). A buffered-mode
//!   message is never dropped (its slot is already free in the module); when only such messages
//!   are queued, the new inline message itself is dropped and counted.
//! - **Other events** (link loss, recovery, failed publishes, …) do not count against `capacity`
//!   and are not displaced by messages. They are few per cause (one per pending publish, a handful
//!   per loss), but a link that flaps forever while nobody reads would still grow them without
//!   bound: beyond [`CONTROL_LIMIT`] queued, the oldest of them is dropped and counted in the same
//!   [`Event::Lagged`].
//!
//! A dropped [`Connection`] discards what is pushed (nobody listens) and never holds up reads.
//!
//! [`Connection`]: crate::Connection
//! [`MsgRecvMode::Buffered`]: qmt_proto::cfg::MsgRecvMode

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::event::{Event, LagSource};

/// At most this many events other than messages wait in one connection's queue; beyond it the
/// oldest of them is dropped and counted (see the module docs).
pub const CONTROL_LIMIT: usize = 64;

/// The default [`ModemConfig::event_capacity`](crate::ModemConfig::event_capacity).
pub const DEFAULT_CAPACITY: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An inline `+QMTRECV` message: may be dropped.
    Inline,
    /// A message read from a module slot: never dropped.
    Stored,
    /// Any other event.
    Control,
}

#[derive(Debug)]
struct Inner {
    q: VecDeque<(Kind, Event)>,
    capacity: usize,
    messages: usize,
    controls: usize,
    /// Buffered-mode reads in flight: their messages have a reserved place.
    reserved: usize,
    /// Reads were held back for lack of room: the consumer must resume them.
    starved: bool,
    /// Dropped since the consumer's previous receive.
    lagged: u64,
    /// Dropped in all.
    dropped_total: u64,
    /// The producer (the modem's slot) is gone: after the queue drains, receives end.
    closed: bool,
    /// The consumer is gone: pushes are discarded.
    receiver_gone: bool,
}

/// What a receive found.
pub(crate) enum Take {
    /// An event; `resume`: room appeared and held-back reads should be resumed.
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
    pub(crate) fn new(capacity: usize) -> EventQueue {
        EventQueue {
            inner: Mutex::new(Inner {
                q: VecDeque::new(),
                capacity: capacity.max(1),
                messages: 0,
                controls: 0,
                reserved: 0,
                starved: false,
                lagged: 0,
                dropped_total: 0,
                closed: false,
                receiver_gone: false,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, kind: Kind, event: Event) {
        let mut g = self.lock();
        if g.receiver_gone || g.closed {
            return;
        }
        let inner = &mut *g;
        match kind {
            Kind::Inline => {
                if inner.messages + inner.reserved >= inner.capacity {
                    match inner.q.iter().position(|(k, _)| *k == Kind::Inline) {
                        Some(at) => {
                            inner.q.remove(at);
                            inner.messages -= 1;
                        }
                        None => {
                            inner.lagged += 1;
                            inner.dropped_total += 1;
                            return;
                        }
                    }
                    inner.lagged += 1;
                    inner.dropped_total += 1;
                }
                inner.messages += 1;
            }
            Kind::Stored => {
                inner.reserved = inner.reserved.saturating_sub(1);
                inner.messages += 1;
            }
            Kind::Control => {
                if inner.controls >= CONTROL_LIMIT {
                    if let Some(at) = inner.q.iter().position(|(k, _)| *k == Kind::Control) {
                        inner.q.remove(at);
                        inner.controls -= 1;
                        inner.lagged += 1;
                        inner.dropped_total += 1;
                    }
                }
                inner.controls += 1;
            }
        }
        inner.q.push_back((kind, event));
        drop(g);
        self.cv.notify_all();
    }

    /// An inline-mode message (may displace the oldest inline message).
    pub(crate) fn push_inline(&self, event: Event) {
        self.push(Kind::Inline, event);
    }

    /// A message read from a module slot, into the place [`reserve_read`](Self::reserve_read)
    /// reserved.
    pub(crate) fn push_stored(&self, event: Event) {
        self.push(Kind::Stored, event);
    }

    /// Any other event.
    pub(crate) fn push_control(&self, event: Event) {
        self.push(Kind::Control, event);
    }

    /// Reserves the place of one buffered-mode message about to be read; `false` (and the
    /// consumer will resume reads when it makes room) while the queue is full.
    pub(crate) fn reserve_read(&self) -> bool {
        let mut g = self.lock();
        if g.receiver_gone || g.closed {
            return true;
        }
        if g.messages + g.reserved < g.capacity {
            g.reserved += 1;
            true
        } else {
            g.starved = true;
            false
        }
    }

    /// Gives back a reservation whose read brought no message (failed, or an empty slot).
    pub(crate) fn unreserve(&self) {
        let mut g = self.lock();
        g.reserved = g.reserved.saturating_sub(1);
    }

    /// The producer is gone: receives end once the queue is drained.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }

    /// The consumer is gone.
    pub(crate) fn receiver_dropped(&self) {
        let mut g = self.lock();
        g.receiver_gone = true;
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
            Some((kind, event)) => {
                match kind {
                    Kind::Inline | Kind::Stored => inner.messages -= 1,
                    Kind::Control => inner.controls -= 1,
                }
                let resume = inner.starved && inner.messages + inner.reserved < inner.capacity;
                if resume {
                    inner.starved = false;
                }
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
            g = match deadline {
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        return Take::Empty;
                    }
                    self.cv
                        .wait_timeout(g, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
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
        // Distinguishable events: PublishFailed-free, cheap.
        Event::Lagged {
            dropped: u64::from(n),
            source: LagSource::Transport,
        }
    }

    fn next(q: &EventQueue) -> Option<Event> {
        match q.try_take() {
            Take::Event(e, _) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn inline_messages_drop_oldest_and_count() {
        let q = EventQueue::new(2);
        for n in 1..=5 {
            q.push_inline(ev(n));
        }
        assert_eq!(q.len(), 2);
        assert_eq!(
            next(&q),
            Some(Event::Lagged {
                dropped: 3,
                source: LagSource::Connection
            })
        );
        assert_eq!(next(&q), Some(ev(4)));
        assert_eq!(next(&q), Some(ev(5)));
        assert_eq!(next(&q), None);
        assert_eq!(q.dropped(), 3);
    }

    #[test]
    fn control_events_are_not_displaced_by_messages_and_are_bounded() {
        let q = EventQueue::new(1);
        q.push_control(ev(100));
        q.push_inline(ev(1));
        q.push_inline(ev(2));
        assert!(matches!(next(&q), Some(Event::Lagged { dropped: 1, .. })));
        assert_eq!(next(&q), Some(ev(100)));
        assert_eq!(next(&q), Some(ev(2)));
        for n in 0..(CONTROL_LIMIT as u16 + 3) {
            q.push_control(ev(n));
        }
        assert_eq!(q.len(), CONTROL_LIMIT);
        assert!(matches!(next(&q), Some(Event::Lagged { dropped: 3, .. })));
        assert_eq!(next(&q), Some(ev(3)));
    }

    #[test]
    fn buffered_reads_wait_for_room_and_are_never_dropped() {
        let q = EventQueue::new(2);
        assert!(q.reserve_read());
        assert!(q.reserve_read());
        assert!(!q.reserve_read(), "full: the read waits");
        q.push_stored(ev(1));
        q.push_stored(ev(2));
        // An inline message cannot displace stored ones: it is dropped itself.
        q.push_inline(ev(3));
        assert!(matches!(next(&q), Some(Event::Lagged { dropped: 1, .. })));
        // Taking one makes room and says so once.
        assert!(matches!(q.try_take(), Take::Event(e, true) if e == ev(1)));
        assert!(q.reserve_read());
        assert!(!q.reserve_read());
        q.unreserve();
        assert!(matches!(q.try_take(), Take::Event(e, true) if e == ev(2)));
        assert!(matches!(q.try_take(), Take::Empty));
    }

    #[test]
    fn closing_ends_after_draining_and_a_gone_receiver_holds_nothing_up() {
        let q = EventQueue::new(1);
        q.push_control(ev(1));
        q.close();
        assert_eq!(next(&q), Some(ev(1)));
        assert!(matches!(q.take(None), Take::Closed));
        let q = EventQueue::new(1);
        q.receiver_dropped();
        q.push_inline(ev(1));
        assert_eq!(q.len(), 0);
        assert!(q.reserve_read() && q.reserve_read());
    }
}
