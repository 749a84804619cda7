//! Buffered receive mode (`recv/mode` 1, spec §5): messages announced by
//! `+QMTRECV: <idx>,<recv_id>` are read with `AT+QMTRECV=<idx>,<recv_id>` only while the
//! client's consumer has room (back-pressure end to end: the module keeps the message in its slot,
//! and with all five slots full it stops acknowledging the broker).

use alloc::vec::Vec;

use qmt_proto::params::{ClientIdx, RecvId};
use qmt_transport::link::CommandError;

use super::{Purpose, State};
use crate::error::ModuleError;
use crate::event::{Event, LagSource, read_stored};

impl State {
    /// Reads announced messages of `idx` while its consumer has room (each read reserves its
    /// message's place); the rest wait for [`super::ModemCore::consumed`].
    pub(super) fn pump_reads(&mut self, idx: ClientIdx) {
        let restarts = self.restarts;
        let mut reads = Vec::new();
        let Some(slot) = self.slot(idx) else { return };
        while let Some(&recv_id) = slot.stored.front() {
            if slot.outstanding >= slot.capacity {
                tracing::trace!(
                    client = idx.get(),
                    waiting = slot.stored.len(),
                    "consumer full: stored messages stay in the module"
                );
                break;
            }
            slot.stored.pop_front();
            slot.outstanding += 1;
            slot.reading.push((recv_id, false));
            reads.push(recv_id);
        }
        for recv_id in reads {
            self.send(
                read_stored(idx, recv_id),
                None,
                Purpose::ReadSlot {
                    idx,
                    recv_id,
                    restarts,
                    delivered: false,
                },
            );
        }
    }

    /// A slot read ended; `delivered`: its message went to the consumer.
    pub(super) fn read_done(
        &mut self,
        idx: ClientIdx,
        recv_id: RecvId,
        restarts: u64,
        delivered: bool,
        result: Result<Result<(), ModuleError>, CommandError>,
    ) {
        let restarted_now = self.restarts != restarts;
        // Its answer was a line that fits no shape and no damaged message was reported: the
        // message's head was hit on the line (spec §10.7), and the read freed the slot.
        let head_damaged = self.exchange_garbled && !self.exchange_damage_reported;
        let mut damaged = false;
        let Some(slot) = self.slot(idx) else { return };
        let mut restarted = restarted_now;
        if let Some(at) = slot.reading.iter().position(|r| r.0 == recv_id) {
            restarted |= slot.reading.remove(at).1;
        }
        if !delivered {
            // The reservation brought no message.
            slot.outstanding = slot.outstanding.saturating_sub(1);
        }
        // The module announced the message; not finding it means a restart took it.
        let gone = match result {
            Ok(_) if delivered => false,
            Ok(_) => {
                if !restarted && head_damaged {
                    damaged = true;
                } else if !restarted {
                    // A second read of a message already read (an announcement and a rescan
                    // both led here).
                    tracing::debug!(
                        client = idx.get(),
                        recv_id = recv_id.get(),
                        "slot already read"
                    );
                }
                restarted
            }
            Err(CommandError::ModuleRestarted { .. }) => true,
            Err(CommandError::Timeout { .. }) => {
                // The message is still in the module: read it again.
                if !slot.stored.contains(&recv_id) {
                    slot.stored.push_front(recv_id);
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading a stored message failed");
                false
            }
        };
        if damaged {
            tracing::warn!(
                client = idx.get(),
                recv_id = recv_id.get(),
                "a stored message's answer was damaged on the line: message lost"
            );
            self.stats.damaged_messages += 1;
            self.exchange_damage_reported = true;
            self.client_event(
                idx,
                Event::MessageDamaged {
                    msgid: None,
                    topic: None,
                },
            );
        }
        if gone {
            tracing::warn!(
                client = idx.get(),
                recv_id = recv_id.get(),
                "an announced stored message was gone when read (module restarted)"
            );
            self.client_event(
                idx,
                Event::Lagged {
                    dropped: 1,
                    source: LagSource::ModuleRestart,
                },
            );
        }
        self.pump_reads(idx);
    }

    /// Asks which slots hold messages (`AT+QMTRECV?`): after a buffered-mode client connects,
    /// messages a persistent session stored while this host was away were announced to nobody.
    pub(super) fn rescan(&mut self) {
        self.send(
            qmt_proto::Command::RecvRead,
            None,
            Purpose::Rescan { found: Vec::new() },
        );
    }

    /// `AT+QMTRECV?` answered: slots holding messages not announced (or whose announcement was
    /// not seen) are read.
    pub(super) fn rescan_done(&mut self, found: Vec<(ClientIdx, RecvId)>) {
        let mut clients = Vec::new();
        for (idx, recv_id) in found {
            let Some(slot) = self.slot(idx) else { continue };
            if !slot.options.receives_buffered()
                || slot.stored.contains(&recv_id)
                || slot.reading.iter().any(|r| r.0 == recv_id)
            {
                continue;
            }
            tracing::debug!(
                client = idx.get(),
                recv_id = recv_id.get(),
                "a stored message whose announcement was not seen"
            );
            slot.stored.push_back(recv_id);
            if !clients.contains(&idx) {
                clients.push(idx);
            }
        }
        for idx in clients {
            self.pump_reads(idx);
        }
    }
}
