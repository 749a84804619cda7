//! Tests and cuts on one line of a text log: is it an AT command, a comment, prose; where does a
//! trailing `// comment` start; ANSI colours to drop.

/// Whether `t` is a host command line as a person reads a log: `AT` in any case, then the end of
/// the line, an extended command (`+`, `&`, `$`, `#`, `%`, `^`, `*`, `\`) or a basic one (a letter
/// followed by a digit, `=`, `?`, `*`, `#`, `;` or the end: `ATE0`, `ATI`, `ATD*99#`). Words such
/// as "Attempting" are not.
pub fn is_at_command(t: &[u8]) -> bool {
    if t.len() < 2 || !t[..2].eq_ignore_ascii_case(b"AT") {
        return false;
    }
    match t.get(2) {
        None => true,
        Some(b'+' | b'&' | b'$' | b'#' | b'%' | b'^' | b'*' | b'\\') => true,
        Some(c) if c.is_ascii_alphabetic() => matches!(
            t.get(3),
            None | Some(b'0'..=b'9' | b'=' | b'?' | b'*' | b'#' | b';' | b' ' | b'\t')
        ),
        _ => false,
    }
}

/// `t` without ASCII whitespace at either end.
pub fn trim(t: &[u8]) -> &[u8] {
    t.trim_ascii()
}

/// Whether `t` is a comment line of a log: `#`, `//`, `/*`, `;` or `--` first.
pub fn is_comment(t: &[u8]) -> bool {
    t.starts_with(b"#")
        || t.starts_with(b"//")
        || t.starts_with(b"/*")
        || t.starts_with(b";")
        || t.starts_with(b"--")
}

/// Whether `t` reads as a sentence: three or more words with a lower-case letter. No module line
/// does (verbose errors come after `+CME ERROR:`, which is typed before this is asked).
pub fn is_prose(t: &[u8]) -> bool {
    t.split(|b| b.is_ascii_whitespace())
        .filter(|w| w.iter().any(u8::is_ascii_lowercase))
        .count()
        >= 3
}

/// Splits a `// comment` off the end of `t`: `//` after whitespace, outside double quotes. With
/// `tab_only`, the whitespace must hold a tab (a module line's payload may hold ` //`). Returns
/// the text before the comment (trimmed) and the comment (`//` included).
pub fn split_comment(t: &[u8], tab_only: bool) -> (&[u8], Option<&[u8]>) {
    let mut quoted = false;
    let mut ws_start: Option<usize> = None;
    for (i, &b) in t.iter().enumerate() {
        match b {
            b'"' => {
                quoted = !quoted;
                ws_start = None;
            }
            b' ' | b'\t' if !quoted => {
                ws_start.get_or_insert(i);
            }
            b'/' if !quoted && t.get(i + 1) == Some(&b'/') => {
                if let Some(ws) = ws_start {
                    if !tab_only || t[ws..i].contains(&b'\t') {
                        return (trim(&t[..ws]), Some(&t[i..]));
                    }
                }
                ws_start = None;
            }
            _ => ws_start = None,
        }
    }
    (t, None)
}

/// `line` without ANSI colour and cursor sequences (`ESC [ … letter`), which loggers that colour
/// their output leave in a copied log; `None` when it has none.
pub fn strip_ansi(line: &[u8]) -> Option<Vec<u8>> {
    if !line.contains(&0x1b) {
        return None;
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0x1b && line.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < line.len() && !line[j].is_ascii_alphabetic() {
                j += 1;
            }
            i = j + 1;
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_commands_as_people_type_them() {
        for t in [
            &b"AT"[..],
            b"at+qmtsub=0,1,\"t\",1",
            b"ATE0",
            b"ATI",
            b"AT&F",
            b"ATD*99#",
            b"AT+CPIN?",
        ] {
            assert!(is_at_command(t), "{}", String::from_utf8_lossy(t));
        }
        for t in [
            &b"Attempting to connect"[..],
            b"at the end",
            b"A",
            b"OK",
            b"+QMTOPEN: 0,0",
        ] {
            assert!(!is_at_command(t), "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn comments_split_off_outside_quotes() {
        assert_eq!(
            split_comment(b"AT+QMTOPEN?\t// which clients are open", false),
            (&b"AT+QMTOPEN?"[..], Some(&b"// which clients are open"[..]))
        );
        assert_eq!(
            split_comment(b"AT+QMTOPEN=0,\"a //b\",1883", false),
            (&b"AT+QMTOPEN=0,\"a //b\",1883"[..], None)
        );
        assert_eq!(
            split_comment(b"AT+QMTCFG=\"x\",0  // two spaces", false).1,
            Some(&b"// two spaces"[..])
        );
        assert_eq!(split_comment(b"OK  // two spaces", true).1, None);
        assert_eq!(split_comment(b"OK\t// a tab", true).0, b"OK");
        assert_eq!(split_comment(b"http://x", false).1, None);
    }

    #[test]
    fn prose_and_comments() {
        assert!(is_prose(b"Connecting to the broker now"));
        assert!(!is_prose(b"Revision: EC200UCNAAR02A01M08"));
        // Two lower-case words: a verbose error is no sentence.
        assert!(!is_prose(b"+CME ERROR: SIM not inserted"));
        assert!(is_comment(b"# setup") && is_comment(b"// x") && !is_comment(b"+CSQ: 1,2"));
    }

    #[test]
    fn ansi_colours_are_dropped() {
        assert_eq!(
            strip_ansi(b"\x1b[0;32mI (12) app: up\x1b[0m").as_deref(),
            Some(&b"I (12) app: up"[..])
        );
        assert_eq!(strip_ansi(b"OK"), None);
    }
}
