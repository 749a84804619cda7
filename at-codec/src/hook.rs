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

/// What the first bytes of a line already tell, before the line's end has arrived
/// ([`PayloadHook::early`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Early {
    /// Nothing early: the framer asks [`PayloadHook::counted`] at the line end, as without an
    /// early answer, and does not ask early again for this line.
    Unknown,
    /// The bytes so far may still grow into a counted header: ask again when more have arrived.
    More,
    /// The line is counted: [`PayloadHook::counted`] would answer [`Counted::Inline`] with this
    /// offset for the line's head, whatever the bytes after the header are.
    Inline(usize),
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

    /// Answers early, from the bytes of the line buffered so far (`start`, which may hold the
    /// line's end and more). It lets the framer jump over a counted payload instead of searching
    /// it for CR LF, and spares the call to [`counted`](Self::counted) at the line end.
    ///
    /// [`Early::Inline`]`(m)` is a promise: some prefix `p` of `start` holds no CR and no LF byte,
    /// and `counted(h) == Counted::Inline(m)` for every `h` that starts with `p`. So the line's
    /// first CR LF lies after `p`, and the answer equals the one the framer would get at the line
    /// end. When unsure, answer [`Early::Unknown`] (the default): framing stays the same, only
    /// slower. Called at most a few times per line (once per read while [`Early::More`]).
    #[inline]
    fn early(&self, start: &[u8]) -> Early {
        let _ = start;
        Early::Unknown
    }
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

    #[inline]
    fn early(&self, start: &[u8]) -> Early {
        (**self).early(start)
    }
}
