//! Messages the broker sends again after a reconnect, when the module forgot it had them.
//!
//! With a persistent session, a broker sends again every QoS 1/2 `PUBLISH` it has no
//! acknowledgement for when the client reconnects (MQTT 3.1.1 §4.4). The module answers QoS 2
//! itself and keeps the ids it acknowledged in RAM, so it delivers such a resend only once — until
//! it restarts (a power cycle, `AT+CFUN=1,1`, a watchdog reset). A module that delivered a
//! message as `+QMTRECV`, whose `PUBREC` (or `PUBACK`) never reached the broker because the link
//! stalled or the module restarted first, delivers the resend as a new message: the application
//! would see a QoS 2 message twice. The host cannot see the `DUP` flag (`+QMTRECV` does not carry
//! it), so it recognises the resend by what it is: the same packet id, topic and payload as a
//! message delivered in the previous connection.
//!
//! [`Redelivery`] remembers the last [`REMEMBERED`] such messages of a client. It is armed when a
//! persistent session connects again, and while armed, a message equal to a remembered one is
//! dropped, after every reconnect that brings it again. It disarms at the first message whose
//! packet id comes after the newest remembered one (a broker sends its unacknowledged messages
//! first, before anything new, and counts ids up) or [`WINDOW`] after the connect, whichever
//! comes first. A clean session is never armed: the broker sends nothing again and reuses packet ids
//! from 1, so an equal message is a new one.
//!
//! A genuine message is dropped only if, right after a reconnect and before anything else, the
//! broker sends a new message with the same packet id, topic and payload as one it had already
//! sent. Brokers that count packet ids up (mosquitto, EMQX) reuse an id only after 65,535 others.

use core::time::Duration;

use crate::event::{Message, ReceivedQos};
use qmt_transport::time::Instant;

/// How many delivered messages a client remembers: more than a broker's usual in-flight window
/// (mosquitto's `max_inflight_messages` is 20).
pub(crate) const REMEMBERED: usize = 32;

/// How long after a reconnect resends are looked for.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);

/// What identifies a delivered message: its packet id and a digest of its topic and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Seen {
    msgid: u16,
    digest: u64,
}

impl Seen {
    fn of(m: &Message) -> Option<Seen> {
        let msgid = m.msgid.get();
        if msgid == 0 || m.qos == ReceivedQos::AtMostOnce {
            // QoS 0: never sent again. That includes a message some BG9x firmware numbered
            // (it numbers every message) on filters granted QoS 0 (`ReceivedQos::infer`): its
            // number is the module's, and an equal one after a reconnect is a new message.
            return None;
        }
        Some(Seen {
            msgid,
            digest: digest(m.topic().as_bytes(), m.payload()),
        })
    }
}

/// FNV-1a (64 bit) over the topic, a separator and the payload: a digest, not a defence against
/// someone choosing collisions (the broker is trusted to send what the publisher sent).
fn digest(topic: &[u8], payload: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in topic.iter().chain(&[0xff]).chain(payload) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    // The lengths too, so that moving bytes between topic and payload changes the digest.
    h ^ ((topic.len() as u64) << 32 | payload.len() as u64)
}

/// One client's memory of delivered messages, and whether resends are being looked for.
///
/// Call order: [`delivered`](Self::delivered) for each message before it is given out (it says
/// whether to give it out), [`connecting`](Self::connecting) when `AT+QMTCONN` is sent and
/// [`connected`](Self::connected) when it succeeds.
#[derive(Debug)]
pub(crate) struct Redelivery {
    ring: [Seen; REMEMBERED],
    /// Where the next entry goes.
    next: usize,
    /// How many entries are valid.
    len: usize,
    armed: bool,
    /// The packet id of the last message remembered: brokers count ids up, so a resend has an
    /// id at or before it and a new message one after it.
    newest: u16,
    /// When looking for resends stops; `None` while the connect is still running.
    until: Option<Instant>,
    /// Resends dropped, over the client's life.
    pub(crate) dropped: u64,
}

impl Redelivery {
    pub(crate) fn new() -> Redelivery {
        Redelivery {
            ring: [Seen::default(); REMEMBERED],
            next: 0,
            len: 0,
            armed: false,
            newest: 0,
            until: None,
            dropped: 0,
        }
    }

    /// `AT+QMTCONN` is being sent: a persistent session may get resends from its first line on.
    pub(crate) fn connecting(&mut self, clean_session: bool) {
        if clean_session {
            self.len = 0;
            self.armed = false;
        } else {
            self.armed = self.len > 0;
        }
        self.until = None;
    }

    /// The connect succeeded: resends come now, and are looked for until [`WINDOW`] has passed.
    pub(crate) fn connected(&mut self, now: Instant) {
        if self.armed {
            self.until = Some(now + WINDOW);
        }
    }

    /// A message arrives: whether to deliver it (`false` for a resend of one delivered before).
    pub(crate) fn delivered(&mut self, m: &Message, now: Instant) -> bool {
        let Some(seen) = Seen::of(m) else {
            return true;
        };
        if self.armed && self.until.is_some_and(|t| now >= t) {
            self.armed = false;
        }
        if self.armed {
            if self.position(seen).is_some() {
                // Kept: a broker whose acknowledgement never came sends it again after each
                // reconnect (the 30-minute damage soak: three reconnects in 6 s, the third copy
                // delivered when the first drop had forgotten it).
                self.dropped += 1;
                return false;
            }
            // A message after the newest remembered one: the broker has finished sending again.
            // One at or before it is a resend whose first delivery was lost (to line damage, a
            // restart): delivered, and the looking goes on (the 30-minute damage soak: such a
            // message first disarmed the filter and let six resends after it through).
            if is_after(seen.msgid, self.newest) {
                self.armed = false;
            }
        }
        self.newest = seen.msgid;
        self.ring[self.next] = seen;
        self.next = (self.next + 1) % REMEMBERED;
        self.len = (self.len + 1).min(REMEMBERED);
        true
    }

    fn position(&self, seen: Seen) -> Option<usize> {
        self.ring
            .iter()
            .take(self.len)
            .position(|s| s.msgid != 0 && *s == seen)
    }
}

/// Whether packet id `id` comes after `newest` in a count that wraps (ids 1–65,535): within the
/// half of the id space ahead of it.
fn is_after(id: u16, newest: u16) -> bool {
    let ahead = id.wrapping_sub(newest);
    ahead != 0 && ahead < 0x8000
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use qmt_proto::params::{ClientIdx, MsgId};

    fn msg(id: u16, topic: &str, payload: &[u8]) -> Message {
        Message::new(
            ClientIdx::new(0).unwrap(),
            topic,
            payload,
            MsgId::new(i64::from(id)).unwrap(),
        )
    }

    #[test]
    fn a_resend_after_a_persistent_reconnect_is_dropped() {
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(7, "a", b"x"), t));
        assert!(r.delivered(&msg(8, "a", b"y"), t));
        r.connecting(false);
        r.connected(t);
        assert!(!r.delivered(&msg(8, "a", b"y"), t));
        assert!(!r.delivered(&msg(7, "a", b"x"), t));
        // The first new message ends the resends; an equal one after it is new.
        assert!(r.delivered(&msg(9, "a", b"z"), t));
        assert!(r.delivered(&msg(7, "a", b"x"), t));
        assert_eq!(r.dropped, 2);
    }

    #[test]
    fn a_resend_brought_by_several_reconnects_is_dropped_each_time() {
        // The 30-minute damage soak: the broker's acknowledgement never came, and three
        // reconnects in 6 s each brought the same ten QoS 2 messages again.
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(7, "a", b"x"), t));
        for _ in 0..3 {
            r.connecting(false);
            r.connected(t);
            assert!(!r.delivered(&msg(7, "a", b"x"), t));
        }
        assert_eq!(r.dropped, 3);
    }

    #[test]
    fn a_resend_whose_first_delivery_was_lost_does_not_end_the_looking() {
        // The 30-minute damage soak: the first resend after a reconnect was a message lost to
        // line damage before; taken as new, it let the six resends after it through.
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(5, "a", b"x"), t));
        assert!(r.delivered(&msg(6, "a", b"y"), t));
        r.connecting(false);
        r.connected(t);
        assert!(
            r.delivered(&msg(4, "a", b"lost"), t),
            "never delivered: delivered now"
        );
        assert!(!r.delivered(&msg(5, "a", b"x"), t));
        assert!(!r.delivered(&msg(6, "a", b"y"), t));
        assert!(r.delivered(&msg(7, "a", b"z"), t), "after the newest: new");
        assert!(r.delivered(&msg(5, "a", b"x"), t), "looking ended");
        assert_eq!(r.dropped, 2);
        // Packet ids wrap.
        assert!(is_after(1, 65535));
        assert!(!is_after(65535, 1));
        assert!(!is_after(9, 9));
    }

    #[test]
    fn only_the_same_id_topic_and_payload_is_a_resend() {
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(7, "a", b"x"), t));
        r.connecting(false);
        r.connected(t);
        assert!(r.delivered(&msg(7, "a", b"other"), t), "another payload");
        r.connecting(false);
        r.connected(t);
        assert!(r.delivered(&msg(7, "b", b"x"), t), "another topic");
        r.connecting(false);
        r.connected(t);
        assert!(r.delivered(&msg(6, "a", b"x"), t), "another id");
        r.connecting(false);
        r.connected(t);
        // QoS 0 is never a resend, and does not end the resends either.
        assert!(r.delivered(&msg(0, "a", b"x"), t));
        assert!(!r.delivered(&msg(7, "a", b"x"), t));
    }

    #[test]
    fn a_numbered_qos_0_message_is_never_remembered_nor_dropped() {
        // BG9x firmware numbers QoS 0 messages too; typed QoS 0 by the client's grants, the same
        // number, topic and payload again after a persistent reconnect is a new reading.
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        let mut numbered = msg(5, "sensors/t", b"21");
        numbered.qos = ReceivedQos::AtMostOnce;
        assert!(r.delivered(&numbered, t));
        assert!(r.delivered(&msg(6, "a", b"x"), t));
        r.connecting(false);
        r.connected(t);
        assert!(r.delivered(&numbered, t), "a new message, not a resend");
        assert!(
            !r.delivered(&msg(6, "a", b"x"), t),
            "QoS 1/2 resends still go"
        );
        assert!(r.delivered(&numbered, t));
        assert_eq!(r.dropped, 1);
        // Typed QoS 1/2, the same line is a resend: the type is what decides.
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(5, "sensors/t", b"21"), t));
        r.connecting(false);
        r.connected(t);
        assert!(!r.delivered(&msg(5, "sensors/t", b"21"), t));
    }

    #[test]
    fn a_clean_session_or_an_expired_window_drops_nothing() {
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        assert!(r.delivered(&msg(1, "a", b"x"), t));
        r.connecting(true);
        r.connected(t);
        assert!(
            r.delivered(&msg(1, "a", b"x"), t),
            "clean: ids start again at 1"
        );
        r.connecting(false);
        r.connected(t);
        assert!(r.delivered(&msg(2, "a", b"x"), t + WINDOW), "window over");
        assert_eq!(r.dropped, 0);
    }

    #[test]
    fn the_memory_is_bounded_and_keeps_the_latest() {
        let t = Instant::ZERO;
        let mut r = Redelivery::new();
        for id in 1..=(REMEMBERED as u16 + 5) {
            assert!(r.delivered(&msg(id, "a", b"x"), t));
        }
        r.connecting(false);
        r.connected(t);
        assert!(!r.delivered(&msg(REMEMBERED as u16 + 5, "a", b"x"), t));
        assert!(r.delivered(&msg(1, "a", b"x"), t), "forgotten: delivered");
    }

    #[test]
    fn the_digest_tells_topic_from_payload() {
        assert_ne!(digest(b"ab", b"c"), digest(b"a", b"bc"));
        assert_ne!(digest(b"a", b""), digest(b"", b"a"));
    }
}
