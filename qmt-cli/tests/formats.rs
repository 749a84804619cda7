//! Property: a session decodes to the same typed events whatever text form its log takes.
//!
//! Sessions are the spec's golden transcripts as bundled (`examples/captures/aliyun.log`,
//! `aws-tls.log`) and a §10 bring-up written here, cut into exchanges (a command and everything
//! up to the next one), of which a random subset is kept. Each is rendered in the project's own
//! `>>`/`<<` form (the reference), in a text form drawn at random — CR LF, LF or CR-only lines;
//! no markers (echo on, with or without a blank line after the echo, prompt and data on one line
//! or two) or markers of each kind (`>>`/`<<`, `->`/`<-`, `TX:`/`RX:`, `send`/`recv`, `>`/`<`,
//! any case, colon or not); each timestamp style, with or without a monitor's separator and a
//! tag; CR/LF printed as dots; typographic quotes; notes between exchanges — and, when it has no
//! data phase, as the raw bytes a port with echo on returns. Decoding (the library behind
//! `qmt decode --json`) must give the same events (kind, typed name, text; not the timestamps
//! and line numbers), the notes apart, and the raw bytes the same with the commands as echoes.

use std::path::Path;

use proptest::prelude::*;
use qmt_cli::decode::{Options, run};

/// One line of a session.
#[derive(Clone, Debug)]
enum Turn {
    Command(String),
    Module(String),
    Data(String),
}

/// A command and everything up to the next one.
type Exchange = Vec<Turn>;

/// Spec §10 bring-up, written for this test.
const BRING_UP: &str = "\
>> AT+CPIN?
<< +CPIN: READY
<< OK
>> AT+CREG?
<< +CREG: 0,1
<< OK
>> AT+CSQ
<< +CSQ: 24,99
<< OK
>> AT+CGMM
<< EC200U
<< OK
>> AT+GSN
<< 861234567890123
<< OK
>> AT+QIACT?
<< +QIACT: 1,1,1,\"10.7.1.23\"
<< OK
";

/// Cuts a log in the project's form into exchanges (its comments dropped).
fn exchanges(native: &str) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut after_prompt = false;
    for line in native.lines() {
        if let Some(text) = line.strip_prefix(">> ") {
            if after_prompt {
                out.last_mut()
                    .expect("data follows a command")
                    .push(Turn::Data(text.into()));
                after_prompt = false;
            } else {
                out.push(vec![Turn::Command(text.into())]);
            }
        } else if let Some(text) = line.strip_prefix("<< ") {
            after_prompt = text == ">" || text == "CONNECT";
            out.last_mut()
                .expect("the module answers a command")
                .push(Turn::Module(text.into()));
        }
    }
    out
}

fn capture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/captures")
            .join(name),
    )
    .expect("capture readable")
}

/// The typed events of a decode (kind, name, value), and how many notes it held.
fn decode(log: &[u8]) -> (Vec<(String, String, String)>, usize) {
    let mut out = Vec::new();
    run(
        log,
        &Options {
            json: true,
            ..Options::default()
        },
        &mut out,
    )
    .expect("decoding into memory");
    let text = String::from_utf8(out).expect("JSON is UTF-8");
    let mut events = Vec::new();
    let mut notes = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        if v.get("summary").is_some() {
            continue;
        }
        let kind = v["kind"].as_str().expect("kind").to_string();
        if kind == "note" {
            notes += 1;
            continue;
        }
        events.push((
            kind,
            v["name"].as_str().unwrap_or("").to_string(),
            v["value"].as_str().expect("value").to_string(),
        ));
    }
    (events, notes)
}

/// Timestamp styles.
#[derive(Clone, Copy, Debug)]
enum Time {
    Clock,
    ClockMillis,
    BracketClock,
    BracketClockMillis,
    IsoT,
    IsoSpace,
    Seconds,
    BracketSeconds,
}

impl Time {
    fn render(self, ms: u64) -> String {
        let (h, m, s, f) = (
            (ms / 3_600_000) % 24,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000,
        );
        match self {
            Time::Clock => format!("{h:02}:{m:02}:{s:02}"),
            Time::ClockMillis => format!("{h:02}:{m:02}:{s:02}.{f:03}"),
            Time::BracketClock => format!("[{h:02}:{m:02}:{s:02}]"),
            Time::BracketClockMillis => format!("[{h:02}:{m:02}:{s:02}.{f:03}]"),
            Time::IsoT => format!("2024-05-01T{h:02}:{m:02}:{s:02}.{f:03}Z"),
            Time::IsoSpace => format!("2024-05-01 {h:02}:{m:02}:{s:02}.{f:03}"),
            Time::Seconds => format!("{}.{f:03}", ms / 1000),
            Time::BracketSeconds => format!("[{:5}.{f:03}]", ms / 1000),
        }
    }
}

/// What a logger writes after the timestamp.
#[derive(Clone, Copy, Debug)]
enum Sep {
    None,
    Arrow,
    Angle,
    AngleTag,
}

/// Direction markers: host's and module's, as written.
#[derive(Clone, Copy, Debug)]
enum Markers {
    Chevrons,
    Arrows,
    TxRx { upper: bool, colon: bool },
    SendRecv { upper: bool, colon: bool },
    Angles,
}

impl Markers {
    fn pair(self) -> (String, String) {
        let word = |w: &str, upper: bool, colon: bool| {
            let w = if upper {
                w.to_ascii_uppercase()
            } else {
                w.to_string()
            };
            if colon { format!("{w}:") } else { w }
        };
        match self {
            Markers::Chevrons => (">>".into(), "<<".into()),
            Markers::Arrows => ("->".into(), "<-".into()),
            Markers::TxRx { upper, colon } => (word("tx", upper, colon), word("rx", upper, colon)),
            Markers::SendRecv { upper, colon } => {
                (word("send", upper, colon), word("recv", upper, colon))
            }
            Markers::Angles => (">".into(), "<".into()),
        }
    }
}

/// How the lines themselves are written.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// No markers: the command as its echo, optionally a blank line after it; the prompt and the
    /// data on one line or two. With `twice`, the command line as typed and then as echoed.
    Unmarked {
        blank: bool,
        inline_prompt: bool,
        twice: bool,
    },
    /// Markers; with `echo`, the module's echo of each command and data line as a module line.
    Marked { markers: Markers, echo: bool },
    /// CR and LF as dots; one chunk per exchange (unmarked, echo on) or TX/RX chunks.
    Dotted { marked: bool },
}

#[derive(Clone, Debug)]
struct Style {
    ending: &'static str,
    time: Option<Time>,
    sep: Sep,
    body: Body,
    quotes: bool,
}

const NOTES: [&str; 5] = [
    "modem task started",
    "waiting for the network, 3 tries left",
    "# reconnect logic begins here",
    "// heap free: 12345",
    "publish done, going to sleep now",
];

/// `"` → alternately “ and ”.
fn typographic(s: &str) -> String {
    let mut open = true;
    s.chars()
        .map(|c| {
            if c == '"' {
                open = !open;
                if open { '\u{201D}' } else { '\u{201C}' }
            } else {
                c
            }
        })
        .collect()
}

/// The session in the project's own form.
fn native(session: &[Exchange]) -> String {
    let mut s = String::new();
    for turn in session.iter().flatten() {
        match turn {
            Turn::Command(t) | Turn::Data(t) => s.push_str(&format!(">> {t}\n")),
            Turn::Module(t) => s.push_str(&format!("<< {t}\n")),
        }
    }
    s
}

/// The session as the raw bytes of a port with echo on (no data phases).
fn raw(session: &[Exchange]) -> Vec<u8> {
    let mut b = Vec::new();
    for turn in session.iter().flatten() {
        match turn {
            Turn::Command(t) => b.extend_from_slice(format!("{t}\r").as_bytes()),
            Turn::Module(t) => b.extend_from_slice(format!("\r\n{t}\r\n").as_bytes()),
            Turn::Data(_) => unreachable!("raw renderings have no data phase"),
        }
    }
    b
}

/// The body lines of one exchange: (direction marker: Some(host?) or None, text).
fn body_lines(ex: &Exchange, body: Body) -> Vec<(Option<bool>, String)> {
    let mut out = Vec::new();
    match body {
        Body::Unmarked {
            blank,
            inline_prompt,
            twice,
        } => {
            let mut i = 0;
            while i < ex.len() {
                match &ex[i] {
                    Turn::Command(c) => {
                        out.push((None, c.clone()));
                        if twice {
                            out.push((None, c.clone()));
                        }
                        if blank {
                            out.push((None, String::new()));
                        }
                    }
                    Turn::Module(m) if m == ">" && inline_prompt => {
                        if let Some(Turn::Data(d)) = ex.get(i + 1) {
                            out.push((None, format!("> {d}")));
                            i += 1;
                        } else {
                            out.push((None, ">".into()));
                        }
                    }
                    Turn::Module(m) | Turn::Data(m) => out.push((None, m.clone())),
                }
                i += 1;
            }
        }
        Body::Marked { echo, .. } => {
            for turn in ex {
                match turn {
                    Turn::Command(t) | Turn::Data(t) => {
                        out.push((Some(true), t.clone()));
                        if echo {
                            out.push((Some(false), t.clone()));
                        }
                    }
                    Turn::Module(t) => out.push((Some(false), t.clone())),
                }
            }
        }
        Body::Dotted { marked: false } => {
            let mut chunk = String::new();
            for turn in ex {
                match turn {
                    Turn::Command(c) => chunk.push_str(&format!("{c}.")),
                    Turn::Module(m) if m == ">" => chunk.push_str("..> "),
                    Turn::Module(m) => chunk.push_str(&format!("..{m}..")),
                    Turn::Data(d) => chunk.push_str(d),
                }
            }
            out.push((None, chunk));
        }
        Body::Dotted { marked: true } => {
            let mut rx = String::new();
            for turn in ex {
                match turn {
                    Turn::Command(c) => out.push((Some(true), format!("{c}."))),
                    Turn::Data(d) => {
                        if !rx.is_empty() {
                            out.push((Some(false), std::mem::take(&mut rx)));
                        }
                        out.push((Some(true), d.clone()));
                    }
                    Turn::Module(m) if m == ">" => rx.push_str("..> "),
                    Turn::Module(m) => rx.push_str(&format!("..{m}..")),
                }
            }
            if !rx.is_empty() {
                out.push((Some(false), rx));
            }
        }
    }
    out
}

/// The session in `style`, with `notes` (note index) before the exchange of the same position.
fn render(
    session: &[Exchange],
    style: &Style,
    notes: &[Option<usize>],
    start: u64,
    steps: &[u64],
) -> Vec<u8> {
    let (host, module) = match style.body {
        Body::Marked { markers, .. } => markers.pair(),
        Body::Dotted { marked: true } => ("TX:".into(), "RX:".into()),
        _ => (String::new(), String::new()),
    };
    let mut t = start;
    let mut step = steps.iter().cycle();
    let mut lines: Vec<String> = Vec::new();
    let mut push = |dir: Option<bool>, text: String, lines: &mut Vec<String>| {
        if text.is_empty() && dir.is_none() {
            lines.push(String::new());
            return;
        }
        t += step.next().copied().unwrap_or(1);
        let mut l = String::new();
        if let Some(time) = style.time {
            l.push_str(&time.render(t));
            l.push(' ');
            match style.sep {
                Sep::None => {}
                Sep::Arrow => l.push_str("-> "),
                Sep::Angle => l.push_str("> "),
                Sep::AngleTag => l.push_str("> bgxx: "),
            }
        }
        match dir {
            Some(true) => l.push_str(&format!("{host} ")),
            Some(false) => l.push_str(&format!("{module} ")),
            None => {}
        }
        l.push_str(&if style.quotes {
            typographic(&text)
        } else {
            text
        });
        lines.push(l);
    };
    for (i, ex) in session.iter().enumerate() {
        if let Some(n) = notes.get(i).copied().flatten() {
            push(None, NOTES[n % NOTES.len()].to_string(), &mut lines);
        }
        for (dir, text) in body_lines(ex, style.body) {
            push(dir, text, &mut lines);
        }
    }
    let mut out = lines.join(style.ending);
    out.push_str(style.ending);
    out.into_bytes()
}

fn time_strategy() -> impl Strategy<Value = Option<Time>> {
    prop_oneof![
        Just(None),
        Just(Some(Time::Clock)),
        Just(Some(Time::ClockMillis)),
        Just(Some(Time::BracketClock)),
        Just(Some(Time::BracketClockMillis)),
        Just(Some(Time::IsoT)),
        Just(Some(Time::IsoSpace)),
        Just(Some(Time::Seconds)),
        Just(Some(Time::BracketSeconds)),
    ]
}

fn markers_strategy() -> impl Strategy<Value = Markers> {
    prop_oneof![
        Just(Markers::Chevrons),
        Just(Markers::Arrows),
        (any::<bool>(), any::<bool>()).prop_map(|(upper, colon)| Markers::TxRx { upper, colon }),
        (any::<bool>(), any::<bool>())
            .prop_map(|(upper, colon)| Markers::SendRecv { upper, colon }),
        Just(Markers::Angles),
    ]
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(blank, inline_prompt, twice)| {
            Body::Unmarked {
                blank,
                inline_prompt,
                twice,
            }
        }),
        (markers_strategy(), any::<bool>())
            .prop_map(|(markers, echo)| Body::Marked { markers, echo }),
        any::<bool>().prop_map(|marked| Body::Dotted { marked }),
    ]
}

fn style_strategy() -> impl Strategy<Value = Style> {
    (
        prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
        time_strategy(),
        prop_oneof![
            Just(Sep::None),
            Just(Sep::Arrow),
            Just(Sep::Angle),
            Just(Sep::AngleTag)
        ],
        body_strategy(),
        any::<bool>(),
    )
        .prop_map(|(ending, time, sep, body, quotes)| Style {
            ending,
            // A separator is what a monitor writes after its timestamp.
            sep: if time.is_some() { sep } else { Sep::None },
            time,
            body,
            quotes,
        })
}

/// All exchanges of the three sessions, and which of them to keep.
fn session_strategy() -> impl Strategy<Value = Vec<Exchange>> {
    let all: Vec<Vec<Exchange>> = vec![
        exchanges(&capture("aliyun.log")),
        exchanges(&capture("aws-tls.log")),
        exchanges(BRING_UP),
    ];
    (0..all.len(), prop::collection::vec(any::<bool>(), 24)).prop_map(move |(i, keep)| {
        let s = &all[i];
        let kept: Vec<Exchange> = s
            .iter()
            .zip(keep.iter().cycle())
            .filter(|(_, k)| **k)
            .map(|(e, _)| e.clone())
            .collect();
        if kept.is_empty() { s.clone() } else { kept }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn every_text_form_decodes_like_the_projects_form(
        session in session_strategy(),
        style in style_strategy(),
        notes in prop::collection::vec(prop::option::weighted(0.3, 0..NOTES.len()), 24),
        start in 0u64..86_000_000,
        steps in prop::collection::vec(0u64..3000, 1..8),
    ) {
        let (want, want_notes) = decode(native(&session).as_bytes());
        prop_assert_eq!(want_notes, 0);
        prop_assert!(want.iter().all(|(k, _, _)| k != "unknown" && k != "invalid"), "{:?}", want);

        let log = render(&session, &style, &notes, start, &steps);
        let (got, got_notes) = decode(&log);
        // The module's echo of a command (or of data) is an `echo` event right after it, with
        // the same text: one for each line the rendering echoed.
        let echoed = match style.body {
            Body::Unmarked { twice: true, .. } => session
                .iter()
                .flatten()
                .filter(|t| matches!(t, Turn::Command(_)))
                .count(),
            Body::Marked { echo: true, .. } => session
                .iter()
                .flatten()
                .filter(|t| !matches!(t, Turn::Module(_)))
                .count(),
            _ => 0,
        };
        let mut echoes = 0;
        let mut got_plain: Vec<(String, String, String)> = Vec::new();
        for ev in got {
            let echo_of_last = ev.0 == "echo"
                && got_plain.last().is_some_and(|last| {
                    (last.0 == "command" && last.2 == ev.2) || last.0 == "data"
                });
            if echo_of_last {
                echoes += 1;
            } else {
                got_plain.push(ev);
            }
        }
        let got = got_plain;
        prop_assert_eq!(echoes, echoed, "log:\n{}", String::from_utf8_lossy(&log));
        // In the project's own form (`>>`/`<<` at the line start), `#` lines are the file's
        // comments, not notes.
        let native_form = matches!(
            style.body,
            Body::Marked {
                markers: Markers::Chevrons,
                ..
            }
        ) && style.time.is_none();
        let inserted = notes
            .iter()
            .take(session.len())
            .flatten()
            .filter(|&&n| !(native_form && NOTES[n].starts_with('#')))
            .count();
        prop_assert_eq!(
            &got, &want,
            "log:\n{}", String::from_utf8_lossy(&log)
        );
        prop_assert_eq!(got_notes, inserted, "log:\n{}", String::from_utf8_lossy(&log));
    }

    #[test]
    fn raw_bytes_decode_like_the_projects_form(session in session_strategy()) {
        let plain: Vec<Exchange> = session
            .into_iter()
            .filter(|ex| !ex.iter().any(|t| matches!(t, Turn::Data(_))))
            .collect();
        prop_assume!(!plain.is_empty());
        let (want, _) = decode(native(&plain).as_bytes());
        // A raw capture shows a command only by its echo.
        let want: Vec<(String, String, String)> = want
            .into_iter()
            .map(|(k, n, v)| (if k == "command" { "echo".to_string() } else { k }, n, v))
            .collect();
        let bytes = raw(&plain);
        let (got, notes) = decode(&bytes);
        prop_assert_eq!(notes, 0);
        prop_assert_eq!(&got, &want, "raw: {}", String::from_utf8_lossy(&bytes));
    }
}

/// Pieces of log lines in every form, for logs that fit none.
const SOUP: [&str; 24] = [
    "AT+CPIN?",
    "+CPIN: READY",
    "OK",
    "..",
    "...",
    ".",
    "> ",
    ">> ",
    "<< ",
    "-> ",
    "<- ",
    "TX: ",
    "recv ",
    "< ",
    "18:13:18.620 ",
    "[   12.345] ",
    "2024-05-01T12:00:00.123Z ",
    "bgxx: ",
    "\u{201C}",
    "\t// c",
    "CONNECT",
    "AT+QFUPL=\"UFS:a\",40,5",
    "AT+QMTPUBEX=0,0,0,0,\"t\",3",
    "note text here",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes, reading and decoding them never panics and the counts add up.
    #[test]
    fn any_log_decodes_without_panic(
        parts in prop::collection::vec(
            prop_oneof![
                (0..SOUP.len()).prop_map(|i| SOUP[i].as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..6),
                prop_oneof![Just(b"\n".to_vec()), Just(b"\r\n".to_vec()), Just(b"\r".to_vec())],
            ],
            0..60,
        ),
    ) {
        let log = parts.concat();
        let mut out = Vec::new();
        let s = run(&log, &Options::default(), &mut out).expect("writing into memory");
        prop_assert_eq!(s.events, s.by_kind.values().sum::<usize>());
        prop_assert_eq!(s.notes, s.by_kind.get("note").copied().unwrap_or(0));
        prop_assert_eq!(s.unknown, s.by_kind.get("unknown").copied().unwrap_or(0));
    }
}
