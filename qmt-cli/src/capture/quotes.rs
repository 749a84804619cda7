//! Typographic quotes (“ ” ‘ ’ and kin) that forum software puts in place of ASCII quotes: read
//! as `"` and `'`, and counted so that the summary can say the log was altered.

/// The UTF-8 sequences replaced, and their ASCII reading.
const TYPOGRAPHIC: [(&[u8], u8); 12] = [
    ("\u{201C}".as_bytes(), b'"'),  // “
    ("\u{201D}".as_bytes(), b'"'),  // ”
    ("\u{201E}".as_bytes(), b'"'),  // „
    ("\u{201F}".as_bytes(), b'"'),  // ‟
    ("\u{2033}".as_bytes(), b'"'),  // ″
    ("\u{00AB}".as_bytes(), b'"'),  // «
    ("\u{00BB}".as_bytes(), b'"'),  // »
    ("\u{2018}".as_bytes(), b'\''), // ‘
    ("\u{2019}".as_bytes(), b'\''), // ’
    ("\u{201A}".as_bytes(), b'\''), // ‚
    ("\u{201B}".as_bytes(), b'\''), // ‛
    ("\u{2032}".as_bytes(), b'\''), // ′
];

/// `line` with its typographic quotes made ASCII; `None` when it has none.
pub fn ascii_quotes(line: &[u8]) -> Option<Vec<u8>> {
    // Every sequence starts with 0xC2 or 0xE2: most lines are passed over by this scan alone.
    if !line.iter().any(|&b| b == 0xC2 || b == 0xE2) {
        return None;
    }
    let mut out = Vec::with_capacity(line.len());
    let mut changed = false;
    let mut i = 0;
    'outer: while i < line.len() {
        for (seq, ascii) in TYPOGRAPHIC {
            if line[i..].starts_with(seq) {
                out.push(ascii);
                i += seq.len();
                changed = true;
                continue 'outer;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typographic_quotes_become_ascii() {
        assert_eq!(
            ascii_quotes("AT+QMTOPEN=0,“broker.example”,1883".as_bytes()).as_deref(),
            Some(&b"AT+QMTOPEN=0,\"broker.example\",1883"[..])
        );
        assert_eq!(
            ascii_quotes("it’s".as_bytes()).as_deref(),
            Some(&b"it's"[..])
        );
        assert_eq!(ascii_quotes(b"AT+QMTOPEN?"), None);
        // Other non-ASCII text is kept.
        assert_eq!(ascii_quotes("温度 25 °C".as_bytes()), None);
    }
}
