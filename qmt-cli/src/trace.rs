//! Printing the AT traffic of a simulated module with secrets redacted (shared by `qmt sim
//! --trace` and `qmt demo`).

use qmt_sim::TraceDir;

use crate::decode::escape;

macro_rules! emit {
    ($t:expr, $($arg:tt)*) => {
        $t.emit(&format!($($arg)*))
    };
}

/// Prints the AT traffic line by line with secrets redacted: parameters of secret-bearing
/// commands (and their echo and read-back), and the bytes of every `AT+QFUPL` upload.
pub struct Tracer {
    /// Where each formatted line goes.
    sink: Box<dyn FnMut(&str) + Send>,
    host_line: Vec<u8>,
    module_line: Vec<u8>,
    /// Between `AT+QFUPL=` and its result: host bytes are file contents (keys), never shown.
    upload: bool,
    /// After a `> ` prompt: host bytes are a payload without a line end.
    data: bool,
}

impl Default for Tracer {
    /// Lines go to standard error.
    fn default() -> Self {
        Tracer::new(|line| eprintln!("{line}"))
    }
}

impl Tracer {
    /// A tracer that hands every formatted line (`>> AT…`, `<< OK`) to `sink`.
    pub fn new(sink: impl FnMut(&str) + Send + 'static) -> Tracer {
        Tracer {
            sink: Box::new(sink),
            host_line: Vec::new(),
            module_line: Vec::new(),
            upload: false,
            data: false,
        }
    }

    /// Traces bytes of one direction (the signature of `qmt_sim::TraceFn`).
    pub fn trace(&mut self, dir: TraceDir, bytes: &[u8]) {
        match dir {
            TraceDir::Host => self.host(bytes),
            TraceDir::Module => self.module(bytes),
        }
    }

    fn emit(&mut self, line: &str) {
        (self.sink)(line);
    }

    fn host(&mut self, bytes: &[u8]) {
        if self.upload {
            emit!(self, ">> <{} bytes of upload data, not shown>", bytes.len());
            return;
        }
        if self.data {
            emit!(self, ">> {}", escape(bytes, 200));
            return;
        }
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            if b == b'\r' {
                let line = std::mem::take(&mut self.host_line);
                emit!(self, ">> {}", redact(&line));
                if line.to_ascii_uppercase().starts_with(b"AT+QFUPL=") {
                    self.upload = true;
                    if !rest.is_empty() {
                        emit!(self, ">> <{} bytes of upload data, not shown>", rest.len());
                    }
                    return;
                }
            } else if b != b'\n' {
                self.host_line.push(b);
            }
        }
    }

    fn module(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.module_line.push(b);
            let line = &self.module_line;
            if b == b'\n' || line.as_slice() == b"> " {
                let line = std::mem::take(&mut self.module_line);
                let text = line.trim_ascii_end();
                if text == b">" {
                    emit!(self, "<< > ");
                    self.data = true;
                    continue;
                }
                if text.is_empty() {
                    continue;
                }
                emit!(self, "<< {}", redact(text));
                self.data = false;
                if text.starts_with(b"+QFUPL:")
                    || text == b"ERROR"
                    || text.starts_with(b"+CME ERROR")
                {
                    self.upload = false;
                }
            }
        }
    }
}

/// The line, escaped; the parameters of secret-bearing lines are replaced.
fn redact(line: &[u8]) -> String {
    let upper = line.to_ascii_uppercase();
    let names: [&[u8]; 4] = [
        b"\"ALIAUTH\"",
        b"\"ONENET\"",
        b"\"HWAUTH\"",
        b"\"HWPRODID\"",
    ];
    let cfg_secret = |rest: &[u8]| names.iter().any(|n| rest.trim_ascii_start().starts_with(n));
    // Spec §10.3 and §10.6: the PIN, and the APN password of `AT+QICSGP` (its set form and the
    // module's read-back) are secrets too.
    let secret = upper.starts_with(b"AT+QMTCONN=")
        || (upper.starts_with(b"AT+QMTCFG=") && cfg_secret(&upper[10..]))
        || (upper.starts_with(b"+QMTCFG:") && cfg_secret(&upper[8..]))
        || upper.starts_with(b"AT+CPIN=")
        || (upper.starts_with(b"AT+QICSGP=") && upper.contains(&b','))
        || upper.starts_with(b"+QICSGP:");
    if secret {
        let head = line
            .iter()
            .position(|&b| b == b'=' || b == b':')
            .map_or(line, |i| &line[..=i]);
        format!("{} <parameters redacted>", escape(head, 40))
    } else {
        escape(line, 200)
    }
}
