//! Module output → owned pieces: at-codec frames, with a split-form `+QMTRECV` header joined to
//! its data run (spec §6 variation 2).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use at_codec::{Decoder, Frame};
use qmt_proto::RecvHook;

/// The framer's buffer: the longest line the link can deliver (longer ones are counted overflows).
pub const LINE_LIMIT: usize = 4096;

/// One unit of module output, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A line without CR LF; a split-form `+QMTRECV` is `header\r\ndata`.
    Line(Vec<u8>),
    /// The data prompt `> `.
    Prompt,
    /// A line or data run longer than the buffer, discarded.
    Overflow {
        /// Its length.
        len: usize,
    },
}

/// An at-codec decoder with the `+QMTRECV` hook, and the split-form join.
#[derive(Clone, Debug)]
pub(crate) struct Framer {
    dec: Box<Decoder<LINE_LIMIT, RecvHook>>,
    /// A split-form header waiting for its data run.
    header: Option<Vec<u8>>,
}

impl Framer {
    pub(crate) fn new(hook: RecvHook) -> Framer {
        Framer {
            dec: Box::new(Decoder::with_hook(hook)),
            header: None,
        }
    }

    pub(crate) fn hook(&self) -> RecvHook {
        *self.dec.hook()
    }

    pub(crate) fn hook_mut(&mut self) -> &mut RecvHook {
        self.dec.hook_mut()
    }

    /// Copies as much of `bytes` into the decoder as fits; returns how many it took.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> usize {
        self.dec.feed(bytes)
    }

    /// The next complete piece, or `None` when more bytes are needed.
    pub(crate) fn next_piece(&mut self) -> Option<Piece> {
        loop {
            let frame = match self.dec.next_frame()? {
                Frame::Line(l) => Piece::Line(l.to_vec()),
                Frame::Prompt => Piece::Prompt,
                Frame::Overflow { len } => Piece::Overflow { len },
                Frame::Data(d) => {
                    // The data run of the split form: one line `header\r\ndata`, which
                    // `qmt_proto::Recv::parse` reads back.
                    let mut line = self.header.take().unwrap_or_default();
                    line.extend_from_slice(b"\r\n");
                    line.extend_from_slice(d);
                    return Some(Piece::Line(line));
                }
            };
            match frame {
                Piece::Line(l) if self.dec.awaiting_data().is_some() => {
                    // Hold the header back until its data run (at-codec's contract: the next
                    // frame is that run, or an overflow if it is too long).
                    self.header = Some(l);
                }
                Piece::Overflow { .. } => {
                    // A discarded data run takes its header with it: alone, the header would
                    // parse as an unlengthed message whose payload is the length.
                    self.header = None;
                    return Some(frame);
                }
                other => return Some(other),
            }
        }
    }

    /// The next complete piece like [`next_piece`](Self::next_piece), with a line's bytes put in
    /// `line` (cleared first; its capacity is reused, so a warm buffer allocates nothing): the
    /// returned `Piece::Line` is empty, its bytes are in `line`.
    pub(crate) fn next_piece_into(&mut self, line: &mut Vec<u8>) -> Option<Piece> {
        loop {
            match self.dec.next_frame()? {
                Frame::Line(l) => {
                    line.clear();
                    line.extend_from_slice(l);
                }
                Frame::Prompt => return Some(Piece::Prompt),
                Frame::Overflow { len } => {
                    self.header = None;
                    return Some(Piece::Overflow { len });
                }
                Frame::Data(d) => {
                    line.clear();
                    if let Some(h) = self.header.take() {
                        line.extend_from_slice(&h);
                    }
                    line.extend_from_slice(b"\r\n");
                    line.extend_from_slice(d);
                    return Some(Piece::Line(Vec::new()));
                }
            }
            if self.dec.awaiting_data().is_some() {
                // Hold the header back until its data run (split form, rare: owned).
                self.header = Some(line.clone());
                continue;
            }
            return Some(Piece::Line(Vec::new()));
        }
    }

    /// At the end of the input, once [`next_piece_into`](Self::next_piece_into) has nothing more:
    /// what the decoder still holds (at-codec's `Decoder::finish`), as pieces with their line
    /// bytes. A cut split-form data run cannot be joined (`Recv::from_split` wants every byte), so
    /// its header and the bytes that came are two lines, the bytes only if there are any. The
    /// framer is empty afterwards.
    pub(crate) fn finish(&mut self) -> Vec<(Piece, Vec<u8>)> {
        let header = self.header.take();
        let mut out = Vec::new();
        let line = |bytes: &[u8]| (Piece::Line(Vec::new()), bytes.to_vec());
        match self.dec.finish() {
            None => out.extend(header.as_deref().map(line)),
            Some(Frame::Line(l)) => {
                out.extend(header.as_deref().map(line));
                out.push(line(l));
            }
            Some(Frame::Prompt) => {
                out.extend(header.as_deref().map(line));
                out.push((Piece::Prompt, Vec::new()));
            }
            // The header goes with its discarded run, as in `next_piece_into`.
            Some(Frame::Overflow { len }) => out.push((Piece::Overflow { len }, Vec::new())),
            Some(Frame::Data(d)) => {
                out.extend(header.as_deref().map(line));
                if !d.is_empty() {
                    out.push(line(d));
                }
            }
        }
        out
    }

    /// Feeds all of `bytes`, handing every completed piece to `on_piece`.
    pub(crate) fn decode(&mut self, mut bytes: &[u8], mut on_piece: impl FnMut(Piece)) {
        loop {
            let n = self.feed(bytes);
            bytes = bytes.get(n..).unwrap_or_default();
            let mut any = false;
            while let Some(p) = self.next_piece() {
                any = true;
                on_piece(p);
            }
            // at-codec: draining always makes room, so `n == 0 && !any` cannot repeat; the check
            // only guards against a loop without progress.
            if bytes.is_empty() || (n == 0 && !any) {
                return;
            }
        }
    }
}

/// What the module echoes for `data` written after a prompt (ATE1): the pieces the framer makes of
/// the data followed by the line end that precedes the final code.
pub(crate) fn echo_pieces(hook: RecvHook, data: &[u8]) -> VecDeque<Piece> {
    let mut framer = Framer::new(hook);
    let mut out = VecDeque::new();
    framer.decode(data, |p| out.push_back(p));
    framer.decode(b"\r\n", |p| out.push_back(p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_echo_pieces_follow_the_framing() {
        let pieces: Vec<_> = echo_pieces(RecvHook::auto(), b"\r\nab\r\n\r\ncd\r").into();
        assert_eq!(
            pieces,
            [Piece::Line(b"ab".to_vec()), Piece::Line(b"cd".to_vec())]
        );
        assert!(echo_pieces(RecvHook::auto(), b"").is_empty());
        let pieces: Vec<_> = echo_pieces(RecvHook::auto(), b"> x").into();
        assert_eq!(pieces, [Piece::Prompt, Piece::Line(b"x".to_vec())]);
    }

    #[test]
    fn split_form_is_joined() {
        let hook = RecvHook::all(qmt_proto::recv::LenMode::Split);
        let mut f = Framer::new(hook);
        let mut out = Vec::new();
        f.decode(b"\r\n+QMTRECV: 0,0,\"t\",4\r\na\r\nb\r\nOK\r\n", |p| {
            out.push(p)
        });
        assert_eq!(
            out,
            [
                Piece::Line(b"+QMTRECV: 0,0,\"t\",4\r\na\r\nb".to_vec()),
                Piece::Line(b"OK".to_vec())
            ]
        );
    }
}
