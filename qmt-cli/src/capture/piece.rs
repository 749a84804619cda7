//! What a log is made of, in order: [`Piece`]s of the host, of the module, and notes.

use super::time::Timestamp;

/// Who sent a piece of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The host: a command line, or raw data after a prompt.
    Host,
    /// The module: everything a port read returns, echo included.
    Module,
}

/// What a piece is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PieceKind {
    /// A command line the host wrote, without its CR.
    Command,
    /// Raw data the host wrote after a `> ` prompt or `CONNECT` (spec §1).
    Data,
    /// Bytes the module sent, as they arrive on the port (`\r\n<line>\r\n`, `\r\n> `).
    Module,
    /// A line of the log that is no AT traffic: an application's print, a comment.
    Note,
}

impl PieceKind {
    /// Who sent it; `None` for a note.
    pub fn direction(self) -> Option<Direction> {
        match self {
            PieceKind::Command | PieceKind::Data => Some(Direction::Host),
            PieceKind::Module => Some(Direction::Module),
            PieceKind::Note => None,
        }
    }
}

/// One piece of a capture, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// What it is (and so who sent it: [`Piece::direction`]).
    pub kind: PieceKind,
    /// A command line (no CR), the raw data, the module's bytes as they would arrive on the
    /// port, or a note's text.
    pub bytes: Vec<u8>,
    /// Line number in a text log (1-based), or 0 for a raw capture.
    pub line: usize,
    /// The timestamp of its log line, when the log has them.
    pub time: Option<Timestamp>,
}

impl Piece {
    /// Who sent it; `None` for a note.
    pub fn direction(&self) -> Option<Direction> {
        self.kind.direction()
    }

    /// Its timestamp in milliseconds (counted as the log's clock counts: see
    /// [`Clock`](super::time::Clock)).
    pub fn time_ms(&self) -> Option<u64> {
        self.time.as_ref().map(|t| t.ms)
    }
}
