//! The counted-payload hook: how an upper layer tells the framer that a line carries raw bytes.
//!
//! The framer knows no command. But some module lines carry a payload of known length that may hold
//! CR LF (`+QMTRECV: 0,5,"t",30,<30 raw bytes>` with `msg_len_enable`=1, spec §6 rule 1), and some
//! firmware puts the payload on the next "line" (`+QMTRECV: 0,0,"t",23` CR LF `<23 raw bytes>`,
//! spec §6 variation 2). Only the layer that knows the commands can recognise those heads, so the
//! framer asks it through [`PayloadHook`] each time it finds a candidate line end.

/// What a line head announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// An ordinary line: it ends at the first CR LF.
    None,
    /// The line's body (from its first byte, without the final CR LF) is at least this many bytes
    /// long: CR LF before that offset are payload, not a line end. The line ends at the first CR LF
    /// at or after the offset.
    Inline(usize),
    /// The line ends at this CR LF, and the next this-many bytes are a raw data run, delivered as one
    /// [`Frame::Data`](crate::Frame::Data). A CR LF after the run is skipped like any blank line.
    Following(usize),
}

/// Decides, from the head of a line, whether the line carries a counted payload.
///
/// `head` is the line from its first byte up to (not including) the first CR LF found after it. An
/// implementation must decide from a prefix of `head` that cannot hold a CR LF (a header), so the
/// answer is the same whatever chunking delivered the bytes; the framer relies on that for chunking
/// invariance.
pub trait PayloadHook {
    /// Classifies a line head. Called once per candidate line end, so keep it cheap: reject on the
    /// first byte when you can.
    fn counted(&self, head: &[u8]) -> Counted;
}

/// A hook that never counts: every line ends at its first CR LF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoHook;

impl PayloadHook for NoHook {
    #[inline]
    fn counted(&self, _head: &[u8]) -> Counted {
        Counted::None
    }
}

impl<H: PayloadHook + ?Sized> PayloadHook for &H {
    #[inline]
    fn counted(&self, head: &[u8]) -> Counted {
        (**self).counted(head)
    }
}
