//! A progress line on stderr for long waits ("waiting for the network… 12 s"), updated in place
//! and cleared when the wait ends; only when stderr is a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use qmt_client::{ClientError, OpHandle};

/// How long a wait runs before the line appears (short waits show nothing).
const QUIET: Duration = Duration::from_millis(800);

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// Whether progress lines are shown.
#[derive(Debug)]
pub struct Progress {
    on: bool,
}

impl Progress {
    /// Progress lines when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        Progress {
            on: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Polls `poll` (which waits at most the duration it is given) until it yields, drawing
    /// `label… N s` meanwhile.
    pub fn run<T>(&self, label: &str, mut poll: impl FnMut(Duration) -> Option<T>) -> T {
        self.run_labeled(|d| (poll(d), label.to_owned()))
    }

    /// Like [`run`](Self::run), with a label that may change while waiting (a bring-up stage):
    /// the seconds shown count from when the label last changed.
    pub fn run_labeled<T>(&self, mut poll: impl FnMut(Duration) -> (Option<T>, String)) -> T {
        let mut started = Instant::now();
        let mut current = String::new();
        let mut shown = None;
        loop {
            let (done, label) = poll(TICK);
            if let Some(v) = done {
                if shown.is_some() {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[K");
                    let _ = err.flush();
                }
                return v;
            }
            if label != current {
                current = label;
                started = Instant::now();
                shown = None;
            }
            let elapsed = started.elapsed();
            if self.on && elapsed >= QUIET && shown != Some(elapsed.as_secs()) {
                shown = Some(elapsed.as_secs());
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[K{current}… {} s", elapsed.as_secs());
                let _ = err.flush();
            }
        }
    }
}

/// Waits for an operation's handle with a progress line.
pub fn wait_handle<T>(
    progress: &Progress,
    label: &str,
    mut handle: OpHandle<T>,
) -> Result<T, ClientError> {
    progress.run(label, |d| handle.wait_timeout(d))
}
