//! Reading captures: raw bytes as read from a module's port, or a text log in the `>>`/`<<` form of
//! spec §8.

/// Who sent a piece of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The host (`>>`): a command line or raw data after a prompt.
    Host,
    /// The module (`<<`): everything a port read returns, echo included.
    Module,
}

/// One piece of a capture, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Who sent it.
    pub dir: Direction,
    /// For the host: one log line's text (a command without its CR, or raw data).
    /// For the module: the bytes as they would arrive on the port.
    pub bytes: Vec<u8>,
    /// Line number in a text log (1-based), or 0 for a raw capture.
    pub line: usize,
}

/// Whether `bytes` is a text log: its first line that is neither blank nor a `#` comment starts
/// with `>>` or `<<`.
pub fn is_text_log(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .map(trim_end_cr)
        .find(|l| !l.iter().all(u8::is_ascii_whitespace) && !l.starts_with(b"#"))
        .is_some_and(|l| l.starts_with(b">>") || l.starts_with(b"<<"))
}

fn trim_end_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits a capture into pieces. A raw capture is one module piece. In a text log, `>> X` is the
/// host piece `X`; `<< X` becomes the module bytes `\r\nX\r\n` (and `<< >` the prompt `\r\n> `),
/// exactly what the module sends (spec §8); other lines (comments, notes) are skipped.
pub fn pieces(bytes: &[u8]) -> Vec<Piece> {
    if !is_text_log(bytes) {
        return vec![Piece {
            dir: Direction::Module,
            bytes: bytes.to_vec(),
            line: 0,
        }];
    }
    let mut out: Vec<Piece> = Vec::new();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = trim_end_cr(raw);
        let (dir, rest) = if let Some(rest) = line.strip_prefix(b">>") {
            (Direction::Host, rest)
        } else if let Some(rest) = line.strip_prefix(b"<<") {
            (Direction::Module, rest)
        } else {
            continue;
        };
        // One space separates the marker from the text; the text itself is kept as it is.
        let text = rest.strip_prefix(b" ").unwrap_or(rest);
        let bytes = match dir {
            Direction::Host => text.to_vec(),
            Direction::Module if text == b">" || text == b"> " => b"\r\n> ".to_vec(),
            Direction::Module => [b"\r\n", text, b"\r\n"].concat(),
        };
        out.push(Piece {
            dir,
            bytes,
            line: n + 1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_logs_are_recognised_after_comments() {
        assert!(is_text_log(b"# note\n\n>> AT\n<< OK\n"));
        assert!(!is_text_log(b"\r\nOK\r\n"));
        assert!(!is_text_log(
            b"RDY\r\n>> looks like a log but is not first\n"
        ));
    }

    #[test]
    fn text_log_pieces_rebuild_module_framing() {
        let p =
            pieces(b"# c\r\n>> AT+QMTOPEN?\r\n<< OK\n   (note)\n<< >\n>> data, with spaces  \n");
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[0],
            Piece {
                dir: Direction::Host,
                bytes: b"AT+QMTOPEN?".to_vec(),
                line: 2
            }
        );
        assert_eq!(p[1].bytes, b"\r\nOK\r\n");
        assert_eq!(p[2].bytes, b"\r\n> ");
        assert_eq!(p[3].bytes, b"data, with spaces  ");
    }

    #[test]
    fn raw_capture_is_one_module_piece() {
        let p = pieces(b"RDY\r\n");
        assert_eq!(
            p,
            vec![Piece {
                dir: Direction::Module,
                bytes: b"RDY\r\n".to_vec(),
                line: 0
            }]
        );
    }
}
