//! Direction markers: how a log says who sent a line (`>>`/`<<`, `->`/`<-`, `TX:`/`RX:`,
//! `send`/`recv`, `>`/`<`).

use core::fmt;

use super::piece::Direction;

/// A pair of direction markers: the host's and the module's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarkerStyle {
    /// `>>` host, `<<` module: the project's own form (spec §8).
    Chevrons,
    /// `->` host, `<-` module.
    Arrows,
    /// `TX` host, `RX` module, any case, with or without a colon.
    TxRx,
    /// `send` host, `recv` module, any case, with or without a colon.
    SendRecv,
    /// `>` host, `<` module.
    Angles,
}

impl MarkerStyle {
    /// Every style, in the order detection prefers them on a tie.
    pub const ALL: [MarkerStyle; 5] = [
        MarkerStyle::Chevrons,
        MarkerStyle::Arrows,
        MarkerStyle::TxRx,
        MarkerStyle::SendRecv,
        MarkerStyle::Angles,
    ];

    /// The host's and the module's marker as written in descriptions.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            MarkerStyle::Chevrons => (">>", "<<"),
            MarkerStyle::Arrows => ("->", "<-"),
            MarkerStyle::TxRx => ("TX:", "RX:"),
            MarkerStyle::SendRecv => ("send", "recv"),
            MarkerStyle::Angles => (">", "<"),
        }
    }

    /// Whether a log needs both markers to be taken as marked in this style: a lone `>` or `->`
    /// at line starts is more likely a prompt or a monitor's separator.
    pub fn needs_both(self) -> bool {
        matches!(self, MarkerStyle::Arrows | MarkerStyle::Angles)
    }

    /// The direction `text` is marked with, and the text after the marker (its colon included);
    /// `None` when `text` does not start with a marker of this style.
    pub fn strip(self, text: &[u8]) -> Option<(Direction, &[u8])> {
        match self {
            MarkerStyle::Chevrons => symbol(text, b">>", b"<<", false),
            MarkerStyle::Arrows => symbol(text, b"->", b"<-", true),
            MarkerStyle::Angles => {
                // `>>`, `<<`, `->`, `<-` are other styles' markers.
                if text.starts_with(b">>") || text.starts_with(b"<<") || text.starts_with(b"<-") {
                    return None;
                }
                symbol(text, b">", b"<", true)
            }
            MarkerStyle::TxRx => word(text, b"tx", b"rx"),
            MarkerStyle::SendRecv => word(text, b"send", b"recv"),
        }
    }
}

impl fmt::Display for MarkerStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, module) = self.names();
        write!(f, "{host}/{module}")
    }
}

/// A symbol marker; with `spaced`, it must be followed by a space, a tab or the line end.
fn symbol<'a>(
    text: &'a [u8],
    host: &[u8],
    module: &[u8],
    spaced: bool,
) -> Option<(Direction, &'a [u8])> {
    let (dir, rest) = if let Some(rest) = text.strip_prefix(host) {
        (Direction::Host, rest)
    } else {
        (Direction::Module, text.strip_prefix(module)?)
    };
    if spaced && !matches!(rest.first(), None | Some(b' ' | b'\t')) {
        return None;
    }
    Some((dir, rest))
}

/// A word marker, any case: followed by a colon, a space, a tab or the line end.
fn word<'a>(text: &'a [u8], host: &[u8], module: &[u8]) -> Option<(Direction, &'a [u8])> {
    let starts = |w: &[u8]| text.len() >= w.len() && text[..w.len()].eq_ignore_ascii_case(w);
    let (dir, rest) = if starts(host) {
        (Direction::Host, &text[host.len()..])
    } else if starts(module) {
        (Direction::Module, &text[module.len()..])
    } else {
        return None;
    };
    match rest.first() {
        Some(b':') => Some((dir, &rest[1..])),
        None | Some(b' ' | b'\t') => Some((dir, rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Host, Module};

    /// A style, a text, and what stripping it gives.
    type Case = (
        MarkerStyle,
        &'static [u8],
        Option<(Direction, &'static [u8])>,
    );

    #[test]
    fn each_style_strips_its_markers_only() {
        let cases: [Case; 14] = [
            (MarkerStyle::Chevrons, b">> AT", Some((Host, b" AT"))),
            (MarkerStyle::Chevrons, b"<<OK", Some((Module, b"OK"))),
            (MarkerStyle::Arrows, b"-> AT", Some((Host, b" AT"))),
            (MarkerStyle::Arrows, b"<- OK", Some((Module, b" OK"))),
            (MarkerStyle::Arrows, b"->AT", None),
            (MarkerStyle::TxRx, b"TX: AT", Some((Host, b" AT"))),
            (MarkerStyle::TxRx, b"rx OK", Some((Module, b" OK"))),
            (MarkerStyle::TxRx, b"Rx:OK", Some((Module, b"OK"))),
            (MarkerStyle::TxRx, b"RXOK", None),
            (MarkerStyle::SendRecv, b"SEND: AT", Some((Host, b" AT"))),
            (MarkerStyle::SendRecv, b"Recv OK", Some((Module, b" OK"))),
            (MarkerStyle::SendRecv, b"sending data", None),
            (MarkerStyle::Angles, b"< OK", Some((Module, b" OK"))),
            (MarkerStyle::Angles, b">> AT", None),
        ];
        for (style, text, want) in cases {
            assert_eq!(
                style.strip(text),
                want,
                "{style:?} {}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(MarkerStyle::Angles.strip(b">"), Some((Host, &b""[..])));
        assert_eq!(MarkerStyle::Angles.strip(b"<-"), None);
    }
}
