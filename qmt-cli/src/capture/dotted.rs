//! Dotted CR/LF: loggers that print every byte that is not printable as `.`, so that
//! `AT+CPIN?\r` then `\r\n+CPIN: READY\r\n\r\nOK\r\n` reads `AT+CPIN?...+CPIN: READY....OK..`.
//!
//! Real dots live in host names, addresses and payloads, so dots are taken as CR and LF only in
//! a log detected (or forced) as dotted, and only where they can be line ends: a run of two or
//! more (a CR LF at least), or one dot at the start or end of a logged chunk (the CR after a
//! command, a CR LF split across reads). An odd run after a line that is not a command holds one
//! real dot: a module line's CR LF (and the next one's) come in pairs, so `MQTT...` is `MQTT.`
//! and a CR LF, while after a command the odd dot is its CR (`AT+CPIN?...`).

use super::text::{is_at_command, trim};

/// Whether the texts look dotted: a run of two dots straight before the start of a module line
/// (`..OK`, `..ERROR`, `..+CPIN:`, `..> `, `..RDY`, `..CONNECT`), which no other log shows.
pub fn detect<'a>(texts: impl IntoIterator<Item = &'a [u8]>) -> bool {
    texts.into_iter().any(|t| {
        t.windows(2).enumerate().any(|(i, w)| {
            if w != b".." {
                return false;
            }
            let after = &t[i + 2..];
            after.starts_with(b"OK")
                || after.starts_with(b"ERROR")
                || after.starts_with(b"> ")
                || after.starts_with(b"RDY")
                || after.starts_with(b"CONNECT")
                || (after.first() == Some(&b'+')
                    && after.get(1).is_some_and(u8::is_ascii_uppercase))
        })
    })
}

/// The lines of one dotted chunk, in order, without the dots that stood for CR and LF.
pub fn split(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'.' {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < text.len() && text[j] == b'.' {
            j += 1;
        }
        let run = j - i;
        if run >= 2 || i == 0 || j == text.len() {
            let before = &text[start..i];
            let keep_one = run % 2 == 1 && !trim(before).is_empty() && !is_at_command(trim(before));
            let end = if keep_one { i + 1 } else { i };
            if end > start {
                out.push(&text[start..end]);
            }
            start = j;
        }
        i = j;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &str) -> Vec<&str> {
        split(t.as_bytes())
            .into_iter()
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn the_example_of_the_issue() {
        assert_eq!(
            lines("AT+CPIN?...+CPIN: READY....OK.."),
            ["AT+CPIN?", "+CPIN: READY", "OK"]
        );
    }

    #[test]
    fn real_dots_stay() {
        assert_eq!(
            lines("AT+QMTOPEN=0,\"iot.example.com\",1883...OK......+QMTOPEN: 0,0.."),
            [
                "AT+QMTOPEN=0,\"iot.example.com\",1883",
                "OK",
                "+QMTOPEN: 0,0"
            ]
        );
        // A payload ending with a dot, then CR LF: three dots.
        assert_eq!(
            lines("..+QMTRECV: 0,0,\"t\",6,hello....."),
            ["+QMTRECV: 0,0,\"t\",6,hello."]
        );
        assert_eq!(lines("> hello MQTT...OK.."), ["> hello MQTT.", "OK"]);
        assert_eq!(
            lines("..+QIACT: 1,1,1,\"10.7.1.23\"....OK.."),
            ["+QIACT: 1,1,1,\"10.7.1.23\"", "OK"]
        );
    }

    #[test]
    fn chunk_ends() {
        assert_eq!(lines("AT+CSQ."), ["AT+CSQ"]);
        assert_eq!(lines(".OK.."), ["OK"]);
        assert_eq!(lines("...."), Vec::<&str>::new());
    }

    #[test]
    fn detection() {
        assert!(detect([&b"AT+CPIN?...+CPIN: READY....OK.."[..]]));
        assert!(!detect([
            &b"AT+QMTOPEN=0,\"a.b\",1883"[..],
            b"OK",
            b"Waiting..."
        ]));
    }
}
