//! The prefix of a log's lines, before the AT text: a timestamp, a separator a monitor prints
//! after it (`18:13:18.620 -> `), a tag naming the port (`bgxx: `), and a direction marker —
//! each optional, detected once for the whole log.

use core::fmt;

use super::marker::MarkerStyle;
use super::piece::Direction;
use super::time::{Clock, TimeStyle, Timestamp, parse_prefix};

/// A separator a logger writes between its timestamp and the line (`->` in the Arduino serial
/// monitor: not a direction there, since every line has it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Separator {
    /// `->`.
    Arrow,
    /// `>`.
    Angle,
    /// `-`.
    Dash,
    /// `|`.
    Bar,
    /// `:`.
    Colon,
}

impl Separator {
    const ALL: [Separator; 5] = [
        Separator::Arrow,
        Separator::Angle,
        Separator::Dash,
        Separator::Bar,
        Separator::Colon,
    ];

    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Separator::Arrow => "->",
            Separator::Angle => ">",
            Separator::Dash => "-",
            Separator::Bar => "|",
            Separator::Colon => ":",
        }
    }

    /// The marker that would make this symbol a direction instead: a log that also has it at
    /// the same place is marked, not separated.
    fn counterpart(self) -> Option<&'static [u8]> {
        match self {
            Separator::Arrow => Some(b"<-"),
            Separator::Angle => Some(b"<"),
            _ => None,
        }
    }

    /// `text` after this separator and the blanks after it; `None` when it does not start with it
    /// followed by a blank or the end.
    fn strip(self, text: &[u8]) -> Option<&[u8]> {
        let rest = text.strip_prefix(self.as_str().as_bytes())?;
        match rest.first() {
            None => Some(rest),
            Some(b' ' | b'\t') => Some(rest.trim_ascii_start()),
            _ => None,
        }
    }
}

impl fmt::Display for Separator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a log's lines begin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The timestamps' style.
    pub time: Option<TimeStyle>,
    /// A separator after the timestamp (or at the line start when there are none).
    pub separator: Option<Separator>,
    /// A tag after that (`bgxx` of `bgxx: `, or of `[bgxx] `).
    pub tag: Option<String>,
    /// The direction markers.
    pub markers: Option<MarkerStyle>,
}

/// One line cut by its [`Layout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    /// Its timestamp.
    pub time: Option<Timestamp>,
    /// Its direction marker.
    pub dir: Option<Direction>,
    /// The text after the prefix (with the marker's colon and blanks removed; for the
    /// project's own form exactly one space after `>>`/`<<`, the rest kept as it is).
    pub text: &'a [u8],
}

/// Share of lines (numerator, denominator) a timestamp style must start to be the log's.
const TIME_SHARE: (usize, usize) = (1, 2);
/// Share of lines a separator must start: all but the odd continuation line.
const SEPARATOR_SHARE: (usize, usize) = (9, 10);
/// Share of lines a tag must start.
const TAG_SHARE: (usize, usize) = (1, 2);
/// Share of lines a marker style must start (the rest: notes and continuation lines).
const MARKER_SHARE: (usize, usize) = (1, 4);

fn at_least(count: usize, of: usize, (num, den): (usize, usize)) -> bool {
    count > 0 && count * den >= of * num
}

impl Layout {
    /// The layout of `lines` (blank ones are ignored). `markers` forces the marker style
    /// (`Some(None)`: no markers).
    pub fn detect(lines: &[&[u8]], markers: Option<Option<MarkerStyle>>) -> Layout {
        let lines: Vec<&[u8]> = lines
            .iter()
            .map(|l| l.trim_ascii())
            .filter(|l| !l.is_empty())
            .collect();
        let mut layout = Layout {
            time: detect_time(&lines),
            ..Layout::default()
        };
        // What follows the timestamp, on the lines that have one (all lines without timestamps).
        let mut rests: Vec<&[u8]> = lines
            .iter()
            .filter_map(|l| layout.after_time(l).map(|(_, rest)| rest))
            .filter(|r| !r.is_empty())
            .collect();

        layout.separator = Separator::ALL.into_iter().find(|sep| {
            if markers.flatten().is_some_and(|m| sep_is_marker(*sep, m)) {
                return false;
            }
            let count = rests.iter().filter(|r| sep.strip(r).is_some()).count();
            let against = sep
                .counterpart()
                .map_or(0, |c| rests.iter().filter(|r| r.starts_with(c)).count());
            against == 0 && at_least(count, rests.len(), SEPARATOR_SHARE)
        });
        if let Some(sep) = layout.separator {
            for r in &mut rests {
                if let Some(rest) = sep.strip(r) {
                    *r = rest;
                }
            }
        }

        layout.tag = detect_tag(&rests);
        if let Some(tag) = &layout.tag {
            for r in &mut rests {
                if let Some(rest) = strip_tag(tag, r) {
                    *r = rest;
                }
            }
        }

        layout.markers = match markers {
            Some(forced) => forced,
            None => detect_markers(&rests),
        };
        layout
    }

    /// Whether this is the project's own form (spec §8): `>>`/`<<` at the line start and nothing
    /// before them. Its lines are kept exactly as written and its `#` lines are the file's
    /// comments, not the log's.
    pub fn is_native(&self) -> bool {
        self.markers == Some(MarkerStyle::Chevrons)
            && self.time.is_none()
            && self.separator.is_none()
            && self.tag.is_none()
    }

    /// The timestamp at the start of `line` in this layout's style, and what follows it (blanks
    /// skipped). `Some((None, line))` when the layout has no timestamps; `None` when it has but
    /// this line has none.
    fn after_time<'a>(&self, line: &'a [u8]) -> Option<(Option<Timestamp>, &'a [u8])> {
        let Some(style) = self.time else {
            return Some((None, line));
        };
        let (found, ms, len) = parse_prefix(line)?;
        if !style.same_form(found) {
            return None;
        }
        let text = String::from_utf8_lossy(&line[..len]).into_owned();
        Some((Some(Timestamp { ms, text }), line[len..].trim_ascii_start()))
    }

    /// Cuts one line by this layout. A line without the layout's timestamp (a continuation, a
    /// note) keeps its text from the start, after an optional marker.
    pub fn split<'a>(&self, line: &'a [u8]) -> Parts<'a> {
        let native = self.is_native();
        // A log pasted into a forum is often indented (a code block); the project's own form is
        // read exactly as written.
        let line = if native {
            line
        } else {
            line.trim_ascii_start()
        };
        let (time, mut rest) = match self.after_time(line) {
            Some(v) => v,
            None => (None, line),
        };
        if let Some(sep) = self.separator {
            // Only after a timestamp when the log has them: a line of its own may start with
            // the symbol (a `> ` prompt).
            if time.is_some() || self.time.is_none() {
                if let Some(r) = sep.strip(rest) {
                    rest = r;
                }
            }
        }
        if let Some(tag) = &self.tag {
            if let Some(r) = strip_tag(tag, rest) {
                rest = r;
            }
        }
        let mut dir = None;
        if let Some(style) = self.markers {
            if let Some((d, r)) = style.strip(rest) {
                dir = Some(d);
                rest = if native {
                    // The project's own form: one space separates the marker from the text,
                    // which is kept as it is (qmt-cli/src/capture.rs, `>>`/`<<`).
                    r.strip_prefix(b" ").unwrap_or(r)
                } else {
                    r.trim_ascii_start()
                };
            }
        }
        Parts {
            time,
            dir,
            text: rest,
        }
    }
}

/// Whether `sep` is one of `markers`' own symbols (then it cannot be a separator).
fn sep_is_marker(sep: Separator, markers: MarkerStyle) -> bool {
    matches!(
        (sep, markers),
        (Separator::Arrow, MarkerStyle::Arrows) | (Separator::Angle, MarkerStyle::Angles)
    )
}

/// The timestamp style most lines start with, if enough do.
fn detect_time(lines: &[&[u8]]) -> Option<TimeStyle> {
    // (clock, bracketed) → (lines, any with a fraction)
    let mut counts: Vec<(Clock, bool, usize, bool)> = Vec::new();
    for l in lines {
        if let Some((style, _, _)) = parse_prefix(l) {
            match counts
                .iter_mut()
                .find(|c| (c.0, c.1) == (style.clock, style.bracketed))
            {
                Some(c) => {
                    c.2 += 1;
                    c.3 |= style.fraction;
                }
                None => counts.push((style.clock, style.bracketed, 1, style.fraction)),
            }
        }
    }
    let best = counts.iter().max_by_key(|c| c.2)?;
    at_least(best.2, lines.len(), TIME_SHARE).then_some(TimeStyle {
        clock: best.0,
        bracketed: best.1,
        fraction: best.3,
    })
}

/// A tag at the start of `text`: `name:` or `[name]`, then a blank. Names start with a letter and
/// hold letters, digits, `_`, `.`, `-` (at most 32).
fn tag_of(text: &[u8]) -> Option<&[u8]> {
    let (name, close) = if let Some(inner) = text.strip_prefix(b"[") {
        (inner, b']')
    } else {
        (text, b':')
    };
    let end = name.iter().position(|&b| b == close)?;
    let n = &name[..end];
    let ok = !n.is_empty()
        && n.len() <= 32
        && n[0].is_ascii_alphabetic()
        && n.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let blank_after = matches!(name.get(end + 1), Some(b' ' | b'\t'));
    (ok && blank_after).then_some(n)
}

/// `text` after `tag` (in either form) and the blanks after it.
fn strip_tag<'a>(tag: &str, text: &'a [u8]) -> Option<&'a [u8]> {
    let n = tag_of(text)?;
    if n != tag.as_bytes() {
        return None;
    }
    let skip = if text.first() == Some(&b'[') {
        n.len() + 2
    } else {
        n.len() + 1
    };
    Some(text[skip..].trim_ascii_start())
}

/// The tag most lines start with, if enough do and it is no direction word.
fn detect_tag(rests: &[&[u8]]) -> Option<String> {
    let mut counts: Vec<(&[u8], usize)> = Vec::new();
    for r in rests {
        if let Some(n) = tag_of(r) {
            match counts.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1 += 1,
                None => counts.push((n, 1)),
            }
        }
    }
    let (name, count) = counts.into_iter().max_by_key(|c| c.1)?;
    let is_marker = [&b"tx"[..], b"rx", b"send", b"recv"]
        .iter()
        .any(|w| name.eq_ignore_ascii_case(w));
    (!is_marker && at_least(count, rests.len(), TAG_SHARE))
        .then(|| String::from_utf8_lossy(name).into_owned())
}

/// The marker style most lines start with, if enough do (and, for `->`/`<-` and `>`/`<`, both
/// directions appear).
fn detect_markers(rests: &[&[u8]]) -> Option<MarkerStyle> {
    let mut best: Option<(MarkerStyle, usize)> = None;
    for style in MarkerStyle::ALL {
        let (mut host, mut module) = (0, 0);
        for r in rests {
            match style.strip(r) {
                Some((Direction::Host, _)) => host += 1,
                Some((Direction::Module, _)) => module += 1,
                None => {}
            }
        }
        if style.needs_both() && (host == 0 || module == 0) {
            continue;
        }
        let total = host + module;
        if at_least(total, rests.len(), MARKER_SHARE) && best.is_none_or(|(_, n)| total > n) {
            best = Some((style, total));
        }
    }
    best.map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(log: &str) -> Layout {
        let lines: Vec<&[u8]> = log.lines().map(str::as_bytes).collect();
        Layout::detect(&lines, None)
    }

    #[test]
    fn the_project_form() {
        let l = detect("# c\n>> AT\n<< OK\n");
        assert!(l.is_native());
        let p = l.split(b">>  AT+QMTOPEN?  ");
        assert_eq!(p.dir, Some(Direction::Host));
        assert_eq!(p.text, b" AT+QMTOPEN?  ");
    }

    #[test]
    fn a_serial_monitor_arrow_is_a_separator() {
        let l =
            detect("18:13:18.620 -> AT+CPIN?\n18:13:18.640 -> +CPIN: READY\n18:13:18.641 -> OK\n");
        assert_eq!(l.separator, Some(Separator::Arrow));
        assert_eq!(l.markers, None);
        assert_eq!(
            l.time.map(|t| t.to_string()).as_deref(),
            Some("HH:MM:SS.mmm")
        );
        let p = l.split(b"18:13:18.640 -> +CPIN: READY");
        assert_eq!(p.text, b"+CPIN: READY");
        assert_eq!(p.time.map(|t| t.text).as_deref(), Some("18:13:18.640"));
    }

    #[test]
    fn arrows_in_both_directions_are_markers() {
        // Nine lines of ten start with `->`: a separator's share, but one `<-` makes them markers.
        let mut log = String::new();
        for i in 0..9 {
            log.push_str(&format!("12:00:00.{i:03} -> AT\n"));
        }
        log.push_str("12:00:00.100 <- OK\n");
        let l = detect(&log);
        assert_eq!(l.separator, None);
        assert_eq!(l.markers, Some(MarkerStyle::Arrows));
    }

    #[test]
    fn timestamp_separator_tag_and_marker() {
        let l = detect(
            "06:37:04.740 > bgxx: >> AT+CSQ\n06:37:04.790 > bgxx: << +CSQ: 20,99\n06:37:04.791 > bgxx: << OK\n",
        );
        assert_eq!(l.separator, Some(Separator::Angle));
        assert_eq!(l.tag.as_deref(), Some("bgxx"));
        assert_eq!(l.markers, Some(MarkerStyle::Chevrons));
        assert!(!l.is_native());
        let p = l.split(b"06:37:04.790 > bgxx: << +CSQ: 20,99");
        assert_eq!(
            (p.dir, p.text),
            (Some(Direction::Module), &b"+CSQ: 20,99"[..])
        );
    }

    #[test]
    fn bracketed_times_and_tx_rx() {
        let l = detect("[14:33:25] TX: AT\n[14:33:25] RX: OK\n[14:33:26] app started\n");
        assert_eq!(l.markers, Some(MarkerStyle::TxRx));
        assert_eq!(l.time.map(|t| t.to_string()).as_deref(), Some("[HH:MM:SS]"));
        assert_eq!(l.split(b"[14:33:26] app started").dir, None);
    }

    #[test]
    fn an_unmarked_log_with_prompts_has_no_angle_markers() {
        let l = detect("AT+QMTPUBEX=0,0,0,0,\"t\",5\n> hello\nOK\n");
        assert_eq!(l, Layout::default());
    }
}
