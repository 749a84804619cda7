//! What the CLI tests that run `qmt sim` processes share: the process, a capped `qmt` run, and
//! temporary files.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The cap of one run.
pub const CAP: Duration = Duration::from_secs(90);

/// A `qmt sim` process, killed when the test ends.
pub struct SimProcess {
    pub child: Child,
    /// The pty path it printed.
    pub path: String,
    /// Its first line ("qmt sim: module on /dev/pts/N (broker …)").
    pub first: String,
}

impl SimProcess {
    pub fn start(flags: &[&str]) -> SimProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qmt"))
            .arg("sim")
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qmt sim starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("a first line");
        // "qmt sim: module on /dev/pts/N (broker …)"
        let path = first
            .split_whitespace()
            .find(|w| w.starts_with("/dev/"))
            .unwrap_or_else(|| panic!("no pty path in {first:?}"))
            .to_owned();
        // Keep reading its stdout so the sim never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        SimProcess { child, path, first }
    }

    /// The sim's pty, opened as a host's serial port (reads time out after 100 ms).
    pub fn port(&self) -> Box<dyn serialport::SerialPort> {
        serialport::new(&self.path, 115_200)
            .timeout(Duration::from_millis(100))
            .open()
            .expect("the printed pty opens")
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `qmt args…`, killed after [`CAP`].
pub fn qmt(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmt"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qmt starts");
    let deadline = Instant::now() + CAP;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_file(name: &str, data: &[u8]) -> (TempDir, String) {
    let dir = std::env::temp_dir().join(format!("qmt-files-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let shown = path.to_str().unwrap().to_owned();
    (TempDir(dir), shown)
}
