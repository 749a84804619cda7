//! What a capture was detected as ([`Format`]), and what `qmt decode --format` may force
//! ([`FormatName`], [`Forced`]).

use core::fmt;

use super::layout::Layout;
use super::lines::LineEnding;
use super::marker::MarkerStyle;

/// How a capture is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Raw bytes as read from the module's port: module bytes only, commands seen by their echo.
    #[default]
    Raw,
    /// A text log written for people.
    Text(TextFormat),
}

/// How a text log is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFormat {
    /// How its lines end.
    pub ending: LineEnding,
    /// CR and LF were printed as dots (`AT+CPIN?...+CPIN: READY....OK..`).
    pub dotted: bool,
    /// The prefix of its lines: timestamps, separator, tag, direction markers.
    pub layout: Layout,
    /// Lines whose typographic quotes (“ ” ‘ ’, from forum software) were read as ASCII quotes.
    pub typographic_quotes: usize,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Raw => f.write_str("raw bytes from the port"),
            Format::Text(t) => t.fmt(f),
        }
    }
}

/// `LF text, timestamps HH:MM:SS.mmm, markers ->/<-`.
impl fmt::Display for TextFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} text", self.ending)?;
        if self.dotted {
            f.write_str(", CR/LF printed as dots")?;
        }
        let l = &self.layout;
        if let Some(t) = l.time {
            write!(f, ", timestamps {t}")?;
        }
        if let Some(s) = l.separator {
            write!(f, ", separator \"{s}\"")?;
        }
        if let Some(tag) = &l.tag {
            write!(f, ", tag \"{tag}\"")?;
        }
        match l.markers {
            Some(m) => write!(f, ", markers {m}")?,
            None => f.write_str(", no direction markers")?,
        }
        match self.typographic_quotes {
            0 => Ok(()),
            1 => f.write_str(", typographic quotes on 1 line read as ASCII quotes"),
            n => write!(f, ", typographic quotes on {n} lines read as ASCII quotes"),
        }
    }
}

/// A name `qmt decode --format` takes: each forces one aspect of the format, the others are
/// still detected. The command line takes them as they are (`clap::ValueEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum FormatName {
    /// Raw bytes as read from the port.
    Raw,
    /// A text log (never raw bytes).
    Text,
    /// A text log whose CR and LF were printed as dots.
    Dotted,
    /// Direction markers `>>` (host) / `<<` (module).
    Chevrons,
    /// Direction markers `->` / `<-`.
    Arrows,
    /// Direction markers `TX:` / `RX:` (any case, colon optional).
    TxRx,
    /// Direction markers `send` / `recv` (any case, colon optional).
    SendRecv,
    /// Direction markers `>` / `<`.
    Angles,
    /// No direction markers: commands are the `AT` lines, the rest is the module's (and a `->` or
    /// `>` after each timestamp is the logger's separator).
    Unmarked,
}

impl FormatName {
    /// Every name.
    pub const ALL: [FormatName; 9] = [
        FormatName::Raw,
        FormatName::Text,
        FormatName::Dotted,
        FormatName::Chevrons,
        FormatName::Arrows,
        FormatName::TxRx,
        FormatName::SendRecv,
        FormatName::Angles,
        FormatName::Unmarked,
    ];

    /// As `--format` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Raw => "raw",
            FormatName::Text => "text",
            FormatName::Dotted => "dotted",
            FormatName::Chevrons => "chevrons",
            FormatName::Arrows => "arrows",
            FormatName::TxRx => "tx-rx",
            FormatName::SendRecv => "send-recv",
            FormatName::Angles => "angles",
            FormatName::Unmarked => "unmarked",
        }
    }

    /// The marker style it forces (`Some(None)`: none), if it is about markers.
    fn markers(self) -> Option<Option<MarkerStyle>> {
        match self {
            FormatName::Chevrons => Some(Some(MarkerStyle::Chevrons)),
            FormatName::Arrows => Some(Some(MarkerStyle::Arrows)),
            FormatName::TxRx => Some(Some(MarkerStyle::TxRx)),
            FormatName::SendRecv => Some(Some(MarkerStyle::SendRecv)),
            FormatName::Angles => Some(Some(MarkerStyle::Angles)),
            FormatName::Unmarked => Some(None),
            FormatName::Raw | FormatName::Text | FormatName::Dotted => None,
        }
    }
}

impl fmt::Display for FormatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller forces; `None` fields are detected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forced {
    /// `Some(true)`: raw bytes; `Some(false)`: a text log.
    pub raw: Option<bool>,
    /// CR/LF printed as dots, or not.
    pub dotted: Option<bool>,
    /// The direction markers (`Some(None)`: none).
    pub markers: Option<Option<MarkerStyle>>,
}

/// Two `--format` names that contradict each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatConflict(pub FormatName, pub FormatName);

impl fmt::Display for FormatConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--format {} and {} contradict each other",
            self.0, self.1
        )
    }
}

impl std::error::Error for FormatConflict {}

impl Forced {
    /// What `names` force together: `raw` with nothing else, at most one marker name.
    pub fn from_names(names: &[FormatName]) -> Result<Forced, FormatConflict> {
        let mut forced = Forced::default();
        let mut raw_by: Option<FormatName> = None;
        let mut markers_by: Option<FormatName> = None;
        for &name in names {
            let raw = name == FormatName::Raw;
            if let Some(prev) = raw_by {
                if forced.raw != Some(raw) {
                    return Err(FormatConflict(prev, name));
                }
            }
            forced.raw = Some(raw);
            raw_by.get_or_insert(name);
            if name == FormatName::Dotted {
                forced.dotted = Some(true);
            }
            if let Some(m) = name.markers() {
                if let Some(prev) = markers_by.filter(|p| *p != name) {
                    return Err(FormatConflict(prev, name));
                }
                forced.markers = Some(m);
                markers_by = Some(name);
            }
        }
        Ok(forced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::time::{Clock, TimeStyle};

    #[test]
    fn description_of_a_text_format() {
        let f = Format::Text(TextFormat {
            ending: LineEnding::Lf,
            dotted: false,
            layout: Layout {
                time: Some(TimeStyle {
                    clock: Clock::TimeOfDay,
                    bracketed: false,
                    fraction: true,
                }),
                markers: Some(MarkerStyle::Arrows),
                ..Layout::default()
            },
            typographic_quotes: 0,
        });
        assert_eq!(
            f.to_string(),
            "LF text, timestamps HH:MM:SS.mmm, markers ->/<-"
        );
        assert_eq!(Format::Raw.to_string(), "raw bytes from the port");
    }

    #[test]
    fn forced_names_combine_or_conflict() {
        use FormatName as N;
        assert_eq!(
            Forced::from_names(&[N::Dotted, N::TxRx]),
            Ok(Forced {
                raw: Some(false),
                dotted: Some(true),
                markers: Some(Some(MarkerStyle::TxRx)),
            })
        );
        assert_eq!(
            Forced::from_names(&[N::Raw, N::Dotted]),
            Err(FormatConflict(N::Raw, N::Dotted))
        );
        assert_eq!(
            Forced::from_names(&[N::Arrows, N::Unmarked]),
            Err(FormatConflict(N::Arrows, N::Unmarked))
        );
        assert_eq!(Forced::from_names(&[]), Ok(Forced::default()));
    }
}
