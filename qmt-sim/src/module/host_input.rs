//! Host input in command mode: bytes in any chunking become command lines (spec §1).
//!
//! A line ends at CR; an LF right after that CR is dropped (hosts that send CR LF), and an LF
//! alone also ends a line (hosts vary). A line is kept up to [`MAX_LINE`] bytes; the rest of a
//! longer line is dropped and the line is reported as overflowed. Data phases (after `> ` or
//! `CONNECT`) are not seen here: the module core takes those bytes itself.

/// The longest command line kept, in bytes (without its terminator).
pub(crate) const MAX_LINE: usize = 4096;

/// A finished command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The bytes before the terminator (at most [`MAX_LINE`]).
    pub(crate) bytes: Vec<u8>,
    /// The terminator that ended it: CR or LF.
    pub(crate) terminator: u8,
    /// Whether bytes past [`MAX_LINE`] were dropped.
    pub(crate) overflowed: bool,
}

/// Assembles command lines byte by byte.
#[derive(Debug, Default)]
pub(crate) struct LineAssembler {
    buf: Vec<u8>,
    overflowed: bool,
    after_cr: bool,
}

impl LineAssembler {
    /// One byte from the host; a finished line when it ended one.
    pub(crate) fn push(&mut self, b: u8) -> Option<Line> {
        let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
        match b {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => Some(Line {
                bytes: std::mem::take(&mut self.buf),
                terminator: b,
                overflowed: std::mem::take(&mut self.overflowed),
            }),
            _ => {
                if self.buf.len() < MAX_LINE {
                    self.buf.push(b);
                } else {
                    self.overflowed = true;
                }
                None
            }
        }
    }

    /// A data phase starts: the next byte is data, even an LF right after the command's CR.
    pub(crate) fn forget_cr(&mut self) {
        self.after_cr = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(Vec<u8>, u8, bool)> {
        let mut a = LineAssembler::default();
        input
            .iter()
            .filter_map(|&b| a.push(b))
            .map(|l| (l.bytes, l.terminator, l.overflowed))
            .collect()
    }

    #[test]
    fn cr_lf_and_lone_lf_end_lines() {
        assert_eq!(
            lines(b"AT\r\nATE0\rAT+X\n\r"),
            vec![
                (b"AT".to_vec(), b'\r', false),
                (b"ATE0".to_vec(), b'\r', false),
                (b"AT+X".to_vec(), b'\n', false),
                (Vec::new(), b'\r', false),
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_and_flagged() {
        let mut input = vec![b'A'; MAX_LINE + 10];
        input.push(b'\r');
        let got = lines(&input);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert!(got[0].2);
    }
}
