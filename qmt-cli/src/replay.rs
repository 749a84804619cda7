//! `qmt sim --replay LOG`: a field log, in any form `qmt decode` reads ([`crate::capture`]),
//! turned into the [`Script`] that qmt-sim's replay core plays (`qmt_sim::replay`).
//!
//! Host command lines become the script's commands, the data after a prompt its host data, and
//! module lines what the module answered (its echo included: the core takes the log's echo out
//! and echoes the host's own bytes), with the log's timestamps when it has them. Notes are left
//! out. A raw capture shows commands only by their echo: a line that starts with `AT` and ends
//! with the echo's CR is taken as the command, as `qmt decode` reads it.
//!
//! ```
//! use qmt_cli::capture::Forced;
//! use qmt_cli::replay::script_from_log;
//!
//! let log = b"12:00:00.000 -> AT+QMTOPEN=0,\"iot.example\",1883\n\
//!             12:00:00.010 -> OK\n\
//!             12:00:01.200 -> +QMTOPEN: 0,0\n";
//! let replay = script_from_log(log, &Forced::default());
//! assert_eq!(replay.script.exchanges(), 1);
//! assert_eq!(replay.skipped, 0);
//! ```

use qmt_sim::replay::Script;

use crate::capture::{Forced, Format, PieceKind, read};

/// A log read for replay.
#[derive(Debug)]
pub struct ReplayLog {
    /// What the replay core plays.
    pub script: Script,
    /// The log's format, as `qmt decode` detected it.
    pub format: Format,
    /// Host lines the script could not take (not an `AT` command, or data before any command).
    pub skipped: usize,
}

/// Reads `bytes` (a log in any form `qmt decode` reads; `forced` as its `--format`) into a
/// replay script.
pub fn script_from_log(bytes: &[u8], forced: &Forced) -> ReplayLog {
    let log = read(bytes, forced);
    let mut script = Script::new();
    let mut skipped = 0;
    for piece in &log.pieces {
        let at = piece.time_ms();
        let ok = match piece.kind {
            PieceKind::Command => script.push_command(&piece.bytes, at).is_ok(),
            PieceKind::Data => script.push_data(&piece.bytes, at).is_ok(),
            PieceKind::Module if log.format == Format::Raw => {
                raw_into(&mut script, &piece.bytes, at);
                true
            }
            PieceKind::Module => {
                script.push_module(&piece.bytes, at);
                true
            }
            PieceKind::Note => true,
        };
        if !ok {
            skipped += 1;
        }
    }
    ReplayLog {
        script,
        format: log.format,
        skipped,
    }
}

/// Raw port bytes: cut at each echoed command (a line starting with `AT`, any case, ended by a
/// CR that is not part of a CR LF), which becomes a command; the echo stays in the module's bytes
/// (the core takes it out).
fn raw_into(script: &mut Script, bytes: &[u8], at: Option<u64>) {
    let mut from = 0;
    let mut line_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            let line = &bytes[line_start..i];
            if line.len() >= 2 && line[..2].eq_ignore_ascii_case(b"AT") {
                if line_start > from {
                    script.push_module(&bytes[from..line_start], at);
                }
                if script.push_command(line, at).is_ok() {
                    from = line_start;
                }
            }
            line_start = i + 1;
        } else if b == b'\n' {
            line_start = i + 1;
        }
        i += 1;
    }
    if from < bytes.len() {
        script.push_module(&bytes[from..], at);
    }
}

#[cfg(test)]
mod tests {
    use qmt_sim::replay::{Part, Step};

    use super::*;

    #[test]
    fn a_raw_capture_is_cut_at_its_echoes() {
        let r = script_from_log(
            b"\r\nRDY\r\nAT\r\r\nOK\r\nAT+QMTOPEN=0,\"h\",1883\r\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n",
            &Forced::default(),
        );
        assert_eq!(r.format, Format::Raw);
        assert_eq!(r.script.exchanges(), 2);
        let steps = r.script.steps();
        assert!(matches!(&steps[0], Step::Urc(c) if c.bytes == b"\r\nRDY\r\n"));
        let Step::Exchange(open) = &steps[2] else {
            panic!("{steps:?}")
        };
        assert_eq!(open.command, b"AT+QMTOPEN=0,\"h\",1883");
        let module: Vec<u8> = open
            .parts
            .iter()
            .flat_map(|p| match p {
                Part::Module(c) => c.bytes.clone(),
                Part::HostData(_) => Vec::new(),
            })
            .collect();
        assert_eq!(
            module,
            b"AT+QMTOPEN=0,\"h\",1883\r\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n"
        );
    }

    #[test]
    fn a_text_log_keeps_its_times_data_and_drops_notes() {
        let r = script_from_log(
            b"[10:00:00.000] AT+QMTPUBEX=0,0,0,0,\"t\",5\n\
              [10:00:00.020] >\n\
              [10:00:00.030] hello\n\
              [10:00:00.050] OK\n\
              [10:00:00.400] +QMTPUBEX: 0,0,0\n\
              [10:00:01.000] an application print\n",
            &Forced::default(),
        );
        assert_eq!(r.script.exchanges(), 1);
        assert_eq!(r.skipped, 0);
        let Step::Exchange(publish) = &r.script.steps()[0] else {
            panic!("{:?}", r.script.steps())
        };
        assert!(
            publish
                .parts
                .iter()
                .any(|p| matches!(p, Part::HostData(d) if d == b"hello"))
        );
        let last = publish.parts.last().expect("parts");
        assert!(
            matches!(last, Part::Module(c) if c.bytes == b"\r\n+QMTPUBEX: 0,0,0\r\n"
                && c.delay.as_millis() == 350),
            "{last:?}"
        );
    }
}
