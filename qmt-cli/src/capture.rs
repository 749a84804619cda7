//! Reading captures as people post them: raw bytes as read from a module's port, or a text log in
//! any of the common forms, detected automatically ([`read`]).
//!
//! A text log may end its lines with CR LF, LF or CR ([`LineEnding`]); start them with a
//! timestamp (`HH:MM:SS`, `HH:MM:SS.mmm`, bracketed or not, ISO 8601, seconds since start:
//! [`TimeStyle`]), a monitor's separator (`18:13:18.620 -> `), a tag (`bgxx: `) and a direction
//! marker (`>>`/`<<` — the project's own form of spec §8 —, `->`/`<-`, `TX:`/`RX:`,
//! `send`/`recv`, `>`/`<`: [`MarkerStyle`]), each optional ([`Layout`]); print CR and LF as dots
//! ([`dotted`]); show the module's echo; carry `// comments` after a tab; and have typographic
//! quotes from forum software ([`quotes`]). Where the direction is not marked, the lines are
//! sorted as a person reads them ([`classify`]): AT commands are the host's, AT traffic the
//! module's, other lines notes.
//!
//! The result is the log's [`Format`] and its [`Piece`]s in order, each with its line number and
//! timestamp: what `qmt decode` replays through the link core (qmt-cli/src/decode.rs) and what a
//! replaying simulator needs ([`pieces`]).

pub mod classify;
pub mod dotted;
pub mod format;
pub mod layout;
pub mod lines;
pub mod marker;
pub mod piece;
pub mod quotes;
pub mod text;
pub mod time;

use std::borrow::Cow;

pub use format::{Forced, Format, FormatConflict, FormatName, TextFormat};
pub use layout::{Layout, Separator};
pub use lines::LineEnding;
pub use marker::MarkerStyle;
pub use piece::{Direction, Piece, PieceKind};
pub use time::{Clock, TimeStyle, Timestamp};

use classify::{LogLine, Sorter};

/// A capture, read: how it is written and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// Its format, as detected (or forced).
    pub format: Format,
    /// Its pieces, in order.
    pub pieces: Vec<Piece>,
}

/// Whether `bytes` is a text log in the project's own form: its first line that is neither blank
/// nor a `#` comment starts with `>>` or `<<`.
pub fn is_text_log(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.iter().all(u8::is_ascii_whitespace) && !l.starts_with(b"#"))
        .is_some_and(|l| l.starts_with(b">>") || l.starts_with(b"<<"))
}

/// The pieces of a capture whose format is detected: host command lines (without CR), host data,
/// module bytes as they arrive on the port, and notes; each with its log line number (0 in a raw
/// capture) and timestamp. This is the replay API: a driver that plays a log back against a host
/// (a future `qmt sim --replay`) writes the [`PieceKind::Module`] bytes, expects the
/// [`PieceKind::Command`] and [`PieceKind::Data`] ones, may pace them by [`Piece::time_ms`], and
/// skips the notes.
///
/// ```
/// use qmt_cli::capture::{pieces, PieceKind};
///
/// let p = pieces(b"12:00:00.000 -> AT+CPIN?\n12:00:00.040 -> +CPIN: READY\n12:00:00.041 -> OK\n");
/// assert_eq!(p[0].kind, PieceKind::Command);
/// assert_eq!(p[0].bytes, b"AT+CPIN?");
/// assert_eq!(p[1].bytes, b"\r\n+CPIN: READY\r\n");
/// assert_eq!((p[2].line, p[2].time_ms()), (3, Some(43_200_041)));
/// ```
pub fn pieces(bytes: &[u8]) -> Vec<Piece> {
    read(bytes, &Forced::default()).pieces
}

/// Reads a capture: detects its format (what `forced` leaves open) and cuts it into pieces.
/// Never fails: what fits no form is raw module bytes, or notes.
pub fn read(bytes: &[u8], forced: &Forced) -> Log {
    let text_forced =
        forced.raw == Some(false) || forced.dotted.is_some() || forced.markers.is_some();
    let raw = match forced.raw {
        Some(raw) => raw,
        None => !text_forced && !is_text_log(bytes) && lines::looks_raw(bytes),
    };
    if raw {
        return Log {
            format: Format::Raw,
            pieces: vec![Piece {
                kind: PieceKind::Module,
                bytes: bytes.to_vec(),
                line: 0,
                time: None,
            }],
        };
    }

    let ending = LineEnding::detect(bytes);
    let mut typographic_quotes = 0;
    let lines: Vec<Cow<'_, [u8]>> = ending
        .lines(bytes)
        .map(|l| {
            let l = match text::strip_ansi(l) {
                Some(owned) => Cow::Owned(owned),
                None => Cow::Borrowed(l),
            };
            match quotes::ascii_quotes(&l) {
                Some(ascii) => {
                    typographic_quotes += 1;
                    Cow::Owned(ascii)
                }
                None => l,
            }
        })
        .collect();
    let refs: Vec<&[u8]> = lines.iter().map(|l| &**l).collect();
    // A file whose first line is `>>`/`<<` is the project's own form, however many notes follow.
    let markers = forced
        .markers
        .or_else(|| is_text_log(bytes).then_some(Some(MarkerStyle::Chevrons)));
    let layout = Layout::detect(&refs, markers);
    let parts: Vec<layout::Parts<'_>> = refs.iter().map(|l| layout.split(l)).collect();
    let dotted = forced
        .dotted
        .unwrap_or_else(|| dotted::detect(parts.iter().map(|p| p.text)));
    let native = layout.is_native() && !dotted;

    let mut sorter = Sorter::new(native);
    for (i, p) in parts.into_iter().enumerate() {
        let line = i + 1;
        if dotted {
            for seg in dotted::split(p.text) {
                sorter.push(LogLine {
                    line,
                    time: p.time.clone(),
                    dir: p.dir,
                    text: seg,
                });
            }
        } else {
            sorter.push(LogLine {
                line,
                time: p.time,
                dir: p.dir,
                text: p.text,
            });
        }
    }
    Log {
        format: Format::Text(TextFormat {
            ending,
            dotted,
            layout,
            typographic_quotes,
        }),
        pieces: sorter.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_text(log: &Log) -> Vec<(PieceKind, String, usize)> {
        log.pieces
            .iter()
            .map(|p| {
                (
                    p.kind,
                    String::from_utf8_lossy(&p.bytes).into_owned(),
                    p.line,
                )
            })
            .collect()
    }

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
        let p = pieces(b"# c\r\n>> AT+QMTOPEN?\r\n<< OK\n<< >\n>> data, with spaces  \n");
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[0],
            Piece {
                kind: PieceKind::Command,
                bytes: b"AT+QMTOPEN?".to_vec(),
                line: 2,
                time: None,
            }
        );
        assert_eq!(p[1].bytes, b"\r\nOK\r\n");
        assert_eq!(p[2].bytes, b"\r\n> ");
        assert_eq!(p[3].bytes, b"data, with spaces  ");
    }

    #[test]
    fn raw_capture_is_one_module_piece() {
        let log = read(b"\r\nRDY\r\n", &Forced::default());
        assert_eq!(log.format, Format::Raw);
        assert_eq!(
            log.pieces,
            vec![Piece {
                kind: PieceKind::Module,
                bytes: b"\r\nRDY\r\n".to_vec(),
                line: 0,
                time: None,
            }]
        );
    }

    #[test]
    fn forced_raw_and_forced_text() {
        let raw = Forced {
            raw: Some(true),
            ..Forced::default()
        };
        assert_eq!(read(b">> AT\n<< OK\n", &raw).format, Format::Raw);
        let text = Forced {
            raw: Some(false),
            ..Forced::default()
        };
        let log = read(b"\r\nOK\r\n", &text);
        assert!(matches!(log.format, Format::Text(_)));
        assert_eq!(
            kinds_and_text(&log),
            [(PieceKind::Module, "\r\nOK\r\n".into(), 2)]
        );
    }

    #[test]
    fn dotted_lines_with_markers_and_quotes() {
        let log = read(
            "[10:00:00.100] TX: AT+QMTOPEN=0,“iot.example.com”,1883.\n[10:00:00.180] RX: ..OK......+QMTOPEN: 0,0..\n"
                .as_bytes(),
            &Forced::default(),
        );
        let Format::Text(f) = &log.format else {
            panic!("{:?}", log.format)
        };
        assert!(f.dotted);
        assert_eq!(f.typographic_quotes, 1);
        assert_eq!(
            log.format.to_string(),
            "LF text, CR/LF printed as dots, timestamps [HH:MM:SS.mmm], markers TX:/RX:, typographic quotes on 1 line read as ASCII quotes"
        );
        assert_eq!(
            kinds_and_text(&log),
            [
                (
                    PieceKind::Command,
                    "AT+QMTOPEN=0,\"iot.example.com\",1883".into(),
                    1
                ),
                (PieceKind::Module, "\r\nOK\r\n".into(), 2),
                (PieceKind::Module, "\r\n+QMTOPEN: 0,0\r\n".into(), 2),
            ]
        );
        assert_eq!(
            log.pieces[1].time.as_ref().map(|t| t.text.as_str()),
            Some("[10:00:00.180]")
        );
    }

    #[test]
    fn the_project_form_with_many_notes() {
        let log = read(
            b">> AT\n<< OK\nnote one\nnote two\nnote three\nnote four\n",
            &Forced::default(),
        );
        assert_eq!(log.format.to_string(), "LF text, markers >>/<<");
        assert_eq!(log.pieces[0].kind, PieceKind::Command);
        assert_eq!(log.pieces.len(), 6);
    }

    #[test]
    fn cr_only_text() {
        let log = read(b"AT+CSQ\r+CSQ: 20,99\rOK\r", &Forced::default());
        assert_eq!(log.format.to_string(), "CR text, no direction markers");
        assert_eq!(
            kinds_and_text(&log),
            [
                (PieceKind::Command, "AT+CSQ".into(), 1),
                (PieceKind::Module, "\r\n+CSQ: 20,99\r\n".into(), 2),
                (PieceKind::Module, "\r\nOK\r\n".into(), 3),
            ]
        );
    }
}
