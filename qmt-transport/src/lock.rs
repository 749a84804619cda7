//! Who holds a serial port, and the advisory lock that keeps two qmt processes off one port.
//!
//! Every port this crate opens ([`crate::reactor::open_serial`]) carries an exclusive `flock` on
//! its open file description, whatever [`crate::reactor::PortConfig::exclusive`] says about
//! `TIOCEXCL`: a second qmt process (or any program that also uses `flock`, such as `picocom`)
//! then fails to open it with [`crate::reactor::OpenError::Busy`] instead of sharing the line and
//! stealing half of each answer. The lock goes with the last descriptor of the port: dropping the
//! stream releases it, a crash too.
//!
//! A lock only stops programs that ask for it. ModemManager does not: it opens every new modem
//! port and probes it with AT commands, which is why a port it probes answers garbage. The
//! [`holders`] scan of `/proc/<pid>/fd` names such a program when the kernel lets this process
//! see its descriptors (same user, or root), and [`modem_manager`] says whether ModemManager
//! runs at all; docs/usb-ports.md has the remedies.

use std::borrow::ToOwned;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

/// A process that has a port open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`), e.g. `ModemManager`, `qmt`, `minicom`.
    pub name: String,
}

impl Holder {
    /// Whether this is ModemManager (which probes modem ports without taking a lock).
    pub fn is_modem_manager(&self) -> bool {
        self.name == MODEM_MANAGER
    }

    /// What to do about this holder, one sentence.
    pub fn remedy(&self) -> String {
        if self.is_modem_manager() {
            modem_manager_remedy()
        } else {
            format!(
                "stop it (kill {}) or close the port there, or use another port",
                self.pid
            )
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// The process name ModemManager runs under.
const MODEM_MANAGER: &str = "ModemManager";

/// How to keep ModemManager off a module's ports (docs/usb-ports.md "When a port is busy").
pub fn modem_manager_remedy() -> String {
    "stop ModemManager (`sudo systemctl stop ModemManager`), or make it ignore the module with a \
     udev rule setting ENV{ID_MM_DEVICE_IGNORE}=\"1\" for its USB ids (see docs/usb-ports.md)"
        .to_owned()
}

/// The processes other than this one that have `path` open, found through `/proc/*/fd`.
/// Processes whose descriptors this process may not read are not seen.
pub fn holders(path: &Path) -> Vec<Holder> {
    holders_in(Path::new("/proc"), path, std::process::id())
}

/// [`holders`] with another `/proc` and another own pid (for tests).
fn holders_in(proc_root: &Path, path: &Path, own_pid: u32) -> Vec<Holder> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut found = Vec::new();
    for (pid, dir) in processes(proc_root) {
        if pid == own_pid {
            continue;
        }
        let Ok(fds) = fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link == target));
        if holds {
            found.push(Holder {
                pid,
                name: comm(&dir),
            });
        }
    }
    found.sort_by_key(|h| h.pid);
    found
}

/// The pid of a running ModemManager, if any.
pub fn modem_manager() -> Option<u32> {
    processes(Path::new("/proc"))
        .find(|(_, dir)| comm(dir) == MODEM_MANAGER)
        .map(|(pid, _)| pid)
}

/// `(pid, /proc/<pid>)` for every process.
fn processes(proc_root: &Path) -> impl Iterator<Item = (u32, PathBuf)> {
    fs::read_dir(proc_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        })
}

fn comm(dir: &Path) -> String {
    fs::read_to_string(dir.join("comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Takes an exclusive `flock` on the open file description behind `port` without blocking.
///
/// `serialport` already takes one when it sets `TIOCEXCL` (and a *shared* one otherwise); this
/// makes it exclusive in both cases, so the lock does not depend on `PortConfig::exclusive`. A
/// lock converted on a duplicate descriptor belongs to the shared description: it stays after
/// the duplicate closes and goes when the port's own descriptor does.
///
/// # Errors
/// `WouldBlock` when another description holds a lock on the device; other IO errors as the OS
/// gives them.
pub(crate) fn lock_exclusive(port: &impl AsRawFd) -> io::Result<()> {
    let file = File::from(borrow(port).try_clone_to_owned()?);
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The descriptor of an open port, borrowed for as long as the port.
///
/// `mio-serial`'s stream implements `AsRawFd` but not `AsFd`, and std has no safe way from one
/// to the other; this is the one place that needs `unsafe`.
#[allow(unsafe_code)]
fn borrow(port: &impl AsRawFd) -> BorrowedFd<'_> {
    // SAFETY: the descriptor belongs to `port`, which stays open for the lifetime of the borrow
    // (it cannot be closed while `port` is borrowed), and it is not `-1`.
    unsafe { BorrowedFd::borrow_raw(port.as_raw_fd()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::string::ToString;

    #[test]
    fn holders_are_found_through_proc_fd_links() {
        let root = std::env::temp_dir().join(format!("qmt-lock-proc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dev = root.join("dev-ttyUSB2");
        fs::create_dir_all(&root).unwrap();
        fs::write(&dev, b"").unwrap();
        for (pid, name, holds) in [
            (812, "ModemManager", true),
            (900, "bash", false),
            (77, "me", true),
        ] {
            let dir = root.join(pid.to_string());
            fs::create_dir_all(dir.join("fd")).unwrap();
            fs::write(dir.join("comm"), format!("{name}\n")).unwrap();
            let target = if holds {
                dev.clone()
            } else {
                root.join("other")
            };
            symlink(&target, dir.join("fd").join("3")).unwrap();
        }
        fs::create_dir_all(root.join("self")).unwrap();
        let found = holders_in(&root, &dev, 77);
        assert_eq!(
            found,
            vec![Holder {
                pid: 812,
                name: "ModemManager".into()
            }]
        );
        assert!(found[0].is_modem_manager());
        assert!(found[0].remedy().contains("systemctl stop ModemManager"));
        assert!(found[0].remedy().contains("ID_MM_DEVICE_IGNORE"));
        assert_eq!(found[0].to_string(), "ModemManager (pid 812)");
        fs::remove_dir_all(&root).unwrap();
    }
}
