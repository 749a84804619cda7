//! A log's lines: whether the bytes are text at all (or raw bytes from the port), how its lines
//! end (CR LF, LF, or CR alone: what a copy through another tool leaves of `\r\n`), and the lines
//! themselves.

use core::fmt;

/// How a text log's lines end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n`.
    CrLf,
    /// `\n` alone.
    Lf,
    /// `\r` alone.
    Cr,
}

impl LineEnding {
    /// The ending most of `bytes`' lines have: CR alone only when there is no LF at all.
    pub fn detect(bytes: &[u8]) -> LineEnding {
        let (mut crlf, mut lf, mut cr) = (0usize, 0usize, 0usize);
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    crlf += 1;
                    i += 1;
                }
                b'\r' => cr += 1,
                b'\n' => lf += 1,
                _ => {}
            }
            i += 1;
        }
        if crlf == 0 && lf == 0 && cr > 0 {
            LineEnding::Cr
        } else if crlf > lf {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    /// The lines of `bytes`, without their endings (for CR LF and LF: split at LF, one CR before
    /// it dropped).
    pub fn lines(self, bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
        let sep = if self == LineEnding::Cr { b'\r' } else { b'\n' };
        let trim_cr = self != LineEnding::Cr;
        bytes.split(move |&b| b == sep).map(move |l| {
            if trim_cr {
                l.strip_suffix(b"\r").unwrap_or(l)
            } else {
                l
            }
        })
    }
}

impl fmt::Display for LineEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineEnding::CrLf => "CR LF",
            LineEnding::Lf => "LF",
            LineEnding::Cr => "CR",
        })
    }
}

/// Whether `bytes` are what a port read returned rather than a log written for people: control
/// bytes a text never holds (NUL, and the other C0 bytes but tab, CR, LF, an ANSI colour's
/// ESC and a Ctrl-Z ending a line), a module line's leading CR LF at the very start, or an echoed command's CR followed by
/// the module's CR LF (`AT\r\r\nOK`).
pub fn looks_raw(bytes: &[u8]) -> bool {
    let control = bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\t' | b'\r' | b'\n' => false,
        0x1b => bytes.get(i + 1) != Some(&b'['),
        // The Ctrl-Z that ends a sibling module's `AT+QMTPUB` payload, at the end of its line
        // (qmt_proto::sibling).
        0x1a => !matches!(bytes.get(i + 1), None | Some(b'\r' | b'\n')),
        0..0x20 | 0x7f => true,
        _ => false,
    });
    control || bytes.starts_with(b"\r\n") || bytes.windows(3).any(|w| w == b"\r\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ctrl_z_ends_a_line_of_text_but_elsewhere_is_raw() {
        assert!(!looks_raw(b"AT+QMTPUB=0,0,0,0,\"t\"\n>\nhello\x1a\nOK\n"));
        assert!(!looks_raw(b"hello\x1a"));
        assert!(looks_raw(b"hel\x1alo\n"));
    }

    #[test]
    fn endings_are_detected_and_split() {
        let crlf = b"AT\r\nOK\r\n";
        assert_eq!(LineEnding::detect(crlf), LineEnding::CrLf);
        let lines: Vec<&[u8]> = LineEnding::CrLf.lines(crlf).collect();
        assert_eq!(lines, [&b"AT"[..], b"OK", b""]);
        assert_eq!(LineEnding::detect(b"AT\nOK\n"), LineEnding::Lf);
        let cr = b"AT\rOK\r";
        assert_eq!(LineEnding::detect(cr), LineEnding::Cr);
        let lines: Vec<&[u8]> = LineEnding::Cr.lines(cr).collect();
        assert_eq!(lines, [&b"AT"[..], b"OK", b""]);
        // One LF among CRs: the CRs are inside lines (a LF text).
        assert_eq!(LineEnding::detect(b"a\rb\nc"), LineEnding::Lf);
    }

    #[test]
    fn raw_bytes_are_told_from_text() {
        assert!(looks_raw(b"\r\nOK\r\n"));
        assert!(looks_raw(b"RDY\r\nAT\r\r\nOK\r\n"));
        assert!(looks_raw(b"+QMTRECV: 0,1,\"t\",1,\x00\r\n"));
        assert!(!looks_raw(b"AT\r\nOK\r\n"));
        assert!(!looks_raw(b"AT\n\nOK\n"));
        assert!(!looks_raw(b"\x1b[0;32mI (12) app: up\x1b[0m\nAT\n"));
        assert!(!looks_raw(b"AT+CPIN?...+CPIN: READY....OK.."));
    }
}
