//! Packet identifiers (`msgid`, spec §2) of one client.
//!
//! SUB, UNS and QoS 1/2 PUBEX share one MQTT packet-identifier space per client (MQTT 3.1.1
//! §2.3.1): an id stays reserved from the command until its result (or failure) and is then
//! released. QoS 0 publishes carry `msgid` 0 and reserve nothing (spec §2: "exactly 0 when
//! `qos`=0").
//!
//! Ids are handed out round-robin from 1 to 65535 and wrap to 1, skipping ids still in flight, so
//! a late result of an abandoned operation is unlikely to meet a reused id.

use alloc::vec::Vec;

use qmt_proto::params::{MsgId, Qos};

use crate::error::ClientError;

/// Allocates `msgid`s 1..=65535 for one client, skipping those in flight.
#[derive(Clone)]
pub struct MsgIdAllocator {
    /// The id tried next (1..=65535).
    next: u16,
    /// The ids in flight, sorted: 2 bytes per id in flight (ids are bounded by the requests in
    /// progress, not by the id space: a bitmap of all 65,535 would cost 8 KiB per client, half
    /// the RAM of the smallest MCU the firmware example aims at).
    in_flight: Vec<u16>,
}

impl Default for MsgIdAllocator {
    fn default() -> Self {
        MsgIdAllocator::new()
    }
}

impl core::fmt::Debug for MsgIdAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MsgIdAllocator")
            .field("next", &self.next)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl MsgIdAllocator {
    /// An allocator whose first id is 1.
    pub fn new() -> MsgIdAllocator {
        MsgIdAllocator::starting_at(1)
    }

    /// An allocator whose first id is `first` (0 is taken as 1). Useful to start at a random id so
    /// that a restarted host does not reuse the ids of its predecessor at once.
    pub fn starting_at(first: u16) -> MsgIdAllocator {
        MsgIdAllocator {
            next: first.max(1),
            in_flight: Vec::new(),
        }
    }

    #[cfg(test)]
    /// Whether `id` is reserved.
    pub fn is_in_flight(&self, id: u16) -> bool {
        self.in_flight.binary_search(&id).is_ok()
    }

    #[cfg(test)]
    /// How many ids are reserved.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Reserves the next free id in 1..=65535 (for SUB, UNS and QoS 1/2 PUBEX).
    pub fn allocate(&mut self) -> Result<MsgId, ClientError> {
        if self.in_flight.len() >= 65535 {
            return Err(ClientError::NoFreeMsgId);
        }
        let mut id = self.next;
        loop {
            match self.in_flight.binary_search(&id) {
                Ok(_) => id = if id == u16::MAX { 1 } else { id + 1 },
                Err(at) => {
                    self.in_flight.insert(at, id);
                    break;
                }
            }
        }
        self.next = if id == u16::MAX { 1 } else { id + 1 };
        MsgId::new(i64::from(id)).map_err(ClientError::from)
    }

    /// The id for a publish of `qos`: 0 (nothing reserved) for QoS 0, else [`allocate`](Self::allocate).
    pub fn for_publish(&mut self, qos: Qos) -> Result<MsgId, ClientError> {
        match qos {
            Qos::AtMostOnce => MsgId::new(0).map_err(ClientError::from),
            Qos::AtLeastOnce | Qos::ExactlyOnce => self.allocate(),
        }
    }

    /// Releases `id` once its result came (or the operation failed). Releasing 0 or a free id does
    /// nothing; returns whether it was reserved.
    pub fn release(&mut self, id: MsgId) -> bool {
        match self.in_flight.binary_search(&id.get()) {
            Ok(at) if id.get() != 0 => {
                self.in_flight.remove(at);
                true
            }
            _ => false,
        }
    }

    /// Releases every id (the client was closed or the module restarted: no result will come).
    pub fn release_all(&mut self) {
        self.in_flight.clear();
        self.in_flight.shrink_to_fit();
    }

    /// Marks `id` in flight again (a QoS 2 id kept for a resend, after [`release_all`](Self::release_all)).
    pub fn reserve(&mut self, id: MsgId) {
        let id = id.get();
        if id == 0 {
            return;
        }
        if let Err(at) = self.in_flight.binary_search(&id) {
            self.in_flight.insert(at, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> MsgId {
        MsgId::new(i64::from(n)).unwrap()
    }

    #[test]
    fn starts_at_one_and_counts_up() {
        let mut a = MsgIdAllocator::new();
        assert_eq!(a.allocate().unwrap(), id(1));
        assert_eq!(a.allocate().unwrap(), id(2));
        assert_eq!(a.in_flight(), 2);
        assert!(a.release(id(1)));
        assert!(!a.release(id(1)), "double release is a no-op");
        // Round robin: 1 is free again but 3 comes next.
        assert_eq!(a.allocate().unwrap(), id(3));
    }

    #[test]
    fn qos0_uses_zero_and_reserves_nothing() {
        let mut a = MsgIdAllocator::new();
        assert_eq!(a.for_publish(Qos::AtMostOnce).unwrap(), id(0));
        assert_eq!(a.in_flight(), 0);
        assert!(!a.release(id(0)));
        assert_eq!(a.for_publish(Qos::ExactlyOnce).unwrap(), id(1));
    }

    #[test]
    fn wraps_to_one_skipping_in_flight_ids() {
        let mut a = MsgIdAllocator::starting_at(65534);
        assert_eq!(a.allocate().unwrap(), id(65534));
        assert_eq!(a.allocate().unwrap(), id(65535));
        // Wraps past 0 to 1.
        assert_eq!(a.allocate().unwrap(), id(1));
        let mut b = MsgIdAllocator::starting_at(65535);
        // 65535, then 1 and 2 are taken and still in flight: after wrapping, 3 is next.
        assert_eq!(b.allocate().unwrap(), id(65535));
        assert_eq!(b.allocate().unwrap(), id(1));
        assert_eq!(b.allocate().unwrap(), id(2));
        assert!(b.release(id(65535)));
        let mut c = b.clone();
        c.next = 1;
        assert_eq!(c.allocate().unwrap(), id(3), "1 and 2 are in flight");
        assert_eq!(b.allocate().unwrap(), id(3));
    }

    #[test]
    fn exhaustion_is_an_error_and_release_recovers() {
        let mut a = MsgIdAllocator::new();
        for n in 1..=65535u32 {
            assert_eq!(u32::from(a.allocate().unwrap().get()), n);
        }
        assert_eq!(a.allocate(), Err(ClientError::NoFreeMsgId));
        assert!(a.release(id(4242)));
        assert_eq!(a.allocate().unwrap(), id(4242));
        a.release_all();
        assert_eq!(a.in_flight(), 0);
        assert!(!a.is_in_flight(4242));
    }

    proptest::proptest! {
        /// Against a model (a set of ids and a cursor): every operation sequence gives the same
        /// ids, reservations and releases.
        #[test]
        fn behaves_as_the_model(
            first in 0u16..=u16::MAX,
            ops in proptest::collection::vec((0u8..4, 0u16..=u16::MAX), 0..300),
        ) {
            let mut a = MsgIdAllocator::starting_at(first);
            let mut set = alloc::collections::BTreeSet::new();
            let mut next = first.max(1);
            for (op, n) in ops {
                match op {
                    0 | 1 => {
                        let mut want = next;
                        while set.contains(&want) {
                            want = if want == u16::MAX { 1 } else { want + 1 };
                        }
                        set.insert(want);
                        next = if want == u16::MAX { 1 } else { want + 1 };
                        proptest::prop_assert_eq!(a.allocate().unwrap(), id(want));
                    }
                    2 => {
                        // Release an id in flight (the n-th) or a free one.
                        let pick = set.iter().nth(usize::from(n) % (set.len() + 1)).copied();
                        let target = pick.unwrap_or(n);
                        let was = target != 0 && set.remove(&target);
                        proptest::prop_assert_eq!(a.release(id(target)), was);
                    }
                    _ => {
                        if n != 0 {
                            set.insert(n);
                        }
                        a.reserve(id(n));
                    }
                }
                proptest::prop_assert_eq!(a.in_flight(), set.len());
                proptest::prop_assert_eq!(a.is_in_flight(n), set.contains(&n));
            }
        }
    }
}
