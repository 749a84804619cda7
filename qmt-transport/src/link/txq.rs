//! The bytes the link has decided to write, in one reused buffer.
//!
//! Each command is encoded straight into the buffer ([`Command::encode`]) and each data phase is
//! copied in after its prompt, so once the buffer has grown to the largest burst, putting a
//! command on the wire allocates nothing (ARCHITECTURE.md "Bounds and policies"). Every run of
//! bytes is tagged with its exchange, because a data phase that is still unwritten when the module
//! ends its command must be withdrawn: the module would read it as commands.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use qmt_proto::Command;

/// One run of bytes: a command line or a data phase.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// The exchange the bytes belong to.
    serial: u64,
    /// Whether they are a data phase (only those are ever withdrawn).
    data: bool,
    /// How many of its bytes are still unwritten.
    len: usize,
}

/// Unwritten bytes, oldest first.
#[derive(Debug, Default)]
pub(crate) struct TxQueue {
    /// `buf[head..]` is unwritten; the written prefix is reclaimed when the queue empties.
    buf: Vec<u8>,
    head: usize,
    runs: VecDeque<Run>,
}

impl TxQueue {
    /// Appends `command`'s line (with its `\r`).
    pub(crate) fn push_command(&mut self, serial: u64, command: &Command) {
        let start = self.buf.len();
        command.encode(&mut self.buf);
        self.push_run(serial, false, self.buf.len() - start);
    }

    /// Appends a data phase.
    pub(crate) fn push_data(&mut self, serial: u64, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.push_run(serial, true, data.len());
    }

    fn push_run(&mut self, serial: u64, data: bool, len: usize) {
        if len > 0 {
            self.runs.push_back(Run { serial, data, len });
        }
    }

    /// Whether nothing is left to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// How many runs are waiting (for `Debug`).
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Copies unwritten bytes into `out`, as many as fit, and counts them written.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some(run) = self.runs.front_mut() else {
                break;
            };
            let take = run.len.min(out.len() - n);
            out[n..n + take].copy_from_slice(&self.buf[self.head..self.head + take]);
            self.head += take;
            n += take;
            run.len -= take;
            if run.len == 0 {
                self.runs.pop_front();
            }
        }
        self.reclaim();
        n
    }

    /// Takes the next whole run (or what is left of it) as an owned buffer.
    pub(crate) fn pop_run(&mut self) -> Option<Vec<u8>> {
        let run = self.runs.pop_front()?;
        let bytes = self.buf[self.head..self.head + run.len].to_vec();
        self.head += run.len;
        self.reclaim();
        Some(bytes)
    }

    /// Withdraws the unwritten part of exchange `serial`'s data phase.
    pub(crate) fn withdraw_data(&mut self, serial: u64) {
        let mut at = self.head;
        let mut i = 0;
        while i < self.runs.len() {
            let run = self.runs[i];
            if run.data && run.serial == serial {
                self.buf.drain(at..at + run.len);
                self.runs.remove(i);
            } else {
                at += run.len;
                i += 1;
            }
        }
        self.reclaim();
    }

    /// Forgets every unwritten byte.
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
        self.buf.clear();
        self.head = 0;
    }

    fn reclaim(&mut self) {
        if self.runs.is_empty() {
            self.buf.clear();
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut TxQueue, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = q.read(&mut buf);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn reads_in_order_across_any_chunking() {
        for chunk in 1..8 {
            let mut q = TxQueue::default();
            q.push_command(0, &Command::At);
            q.push_data(0, b"hello");
            q.push_command(1, &Command::OpenRead);
            assert_eq!(
                drain(&mut q, chunk),
                b"AT\rhelloAT+QMTOPEN?\r",
                "chunk {chunk}"
            );
            assert!(q.is_empty());
            assert!(q.buf.capacity() > 0, "the buffer is kept for reuse");
        }
    }

    #[test]
    fn withdraws_only_the_unwritten_data_of_one_exchange() {
        let mut q = TxQueue::default();
        q.push_command(0, &Command::At);
        q.push_data(0, b"abcdef");
        q.push_command(1, &Command::At);
        q.push_data(1, b"xyz");
        let mut head = [0u8; 5];
        assert_eq!(q.read(&mut head), 5);
        assert_eq!(&head, b"AT\rab");
        q.withdraw_data(0);
        q.withdraw_data(7);
        assert_eq!(drain(&mut q, 3), b"AT\rxyz");
    }

    #[test]
    fn pop_run_gives_whole_runs() {
        let mut q = TxQueue::default();
        q.push_command(3, &Command::At);
        q.push_data(3, b"");
        q.push_data(3, b"d");
        assert_eq!(q.pop_run().as_deref(), Some(&b"AT\r"[..]));
        assert_eq!(q.pop_run().as_deref(), Some(&b"d"[..]));
        assert_eq!(q.pop_run(), None);
    }
}
