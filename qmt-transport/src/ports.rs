//! Finding the module's AT port: the serial ports this machine has, what sysfs says about the
//! USB ones, the role of each interface of a Quectel EC200x/EC600x/EG912Y, and an `AT` probe.
//!
//! A USB-attached module shows up as several ttys (`ttyUSB0`…`ttyUSB3` for the EC200S family,
//! seven for the EC200U); only one of them is the AT command port qmt wants, and which one depends
//! on the product id. [`list_ports`] reads `/sys/class/tty` (no libudev): for each tty with a real
//! device it resolves the `device` link, walks up to the USB interface directory (the one with
//! `bInterfaceNumber`) and the USB device directory (`idVendor`, `idProduct`, `manufacturer`,
//! `product`, `serial`), and looks the triple (vendor, product, interface) up in a table of
//! Quectel layouts. docs/usb-ports.md lists the table's entries and where each comes from (the
//! Linux `option` driver's commit messages, their usb-devices listings); entries the sources do
//! not pin down are marked uncertain there.
//!
//! [`probe`] opens a port the way every qmt driver does ([`crate::reactor::open_serial`]: with
//! the advisory lock), writes exactly `AT\r`, reads for a short time and says what came back.
//! Nothing else is ever written, so probing a port that is not a module's does no harm.
//!
//! ```no_run
//! use qmt_transport::{PortRole, list_ports};
//!
//! let at_ports: Vec<_> = list_ports()?
//!     .into_iter()
//!     .filter(|p| p.role == Some(PortRole::At))
//!     .collect();
//! for p in &at_ports {
//!     println!("{} ({})", p.path.display(), p.model.unwrap_or("Quectel"));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::borrow::ToOwned;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use mio::{Events, Interest, Poll, Token};

use crate::lock::Holder;
use crate::reactor::{OpenError, PortConfig, open_serial};

/// Quectel's USB vendor id.
pub const QUECTEL_VID: u16 = 0x2c7c;

/// How long [`probe`] waits for an answer by default: an idle module answers `AT` within a few
/// milliseconds, a busy one (a PDP activation in flight) within a few hundred.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// What a tty of a Quectel module is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// The AT command port: the one qmt talks to.
    At,
    /// The modem port (PPP dial-up; it also takes AT commands, but holds data calls).
    Modem,
    /// Diagnostics or logs (Quectel/Qualcomm DIAG, the Unisoc AP/CP log ports): binary, never AT.
    Diagnostics,
    /// GNSS sentences (NMEA 0183), read-only.
    Nmea,
}

impl PortRole {
    /// The role as `qmt ports` prints it (`AT`, `modem`, `diagnostics`, `NMEA`).
    pub fn name(self) -> &'static str {
        match self {
            PortRole::At => "AT",
            PortRole::Modem => "modem",
            PortRole::Diagnostics => "diagnostics",
            PortRole::Nmea => "NMEA",
        }
    }
}

impl fmt::Display for PortRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What sysfs says about a USB serial port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbPort {
    /// USB vendor id (`idVendor`).
    pub vid: u16,
    /// USB product id (`idProduct`).
    pub pid: u16,
    /// The USB interface the tty belongs to (`bInterfaceNumber`), when sysfs has it.
    pub interface: Option<u8>,
    /// The device's manufacturer string (Quectel's Unisoc/ASR modules say `Android`).
    pub manufacturer: Option<String>,
    /// The device's product string.
    pub product: Option<String>,
    /// The device's serial number string.
    pub serial: Option<String>,
}

/// One serial port of this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The device to open, e.g. `/dev/ttyUSB2`.
    pub path: PathBuf,
    /// USB details, for a USB serial port.
    pub usb: Option<UsbPort>,
    /// The interface's role, for a Quectel module in the table (docs/usb-ports.md).
    pub role: Option<PortRole>,
    /// The models that use this product id, for a Quectel module in the table.
    pub model: Option<&'static str>,
}

impl PortInfo {
    /// Whether this is a port of a Quectel module (vendor 0x2c7c), known model or not.
    pub fn is_quectel(&self) -> bool {
        self.usb.as_ref().is_some_and(|u| u.vid == QUECTEL_VID)
    }
}

/// One line of the layout table: interface `interface` of product `pid` (vendor 0x2c7c).
struct Layout {
    pid: u16,
    interface: u8,
    role: PortRole,
}

/// The product ids of the table and the models that use them (docs/usb-ports.md).
const MODELS: &[(u16, &str)] = &[
    (0x0901, "EC200U/EC600U"),
    (0x6001, "EG912Y"),
    (0x6002, "EC200S/EC200N/EC600S/EC600N"),
    (0x6005, "EC200A"),
    (0x6026, "EC200T"),
];

/// Interface roles per product, from docs/usb-ports.md (which gives the source of each line and
/// marks the uncertain ones). Interfaces 0 and 1 of all of these are the ECM/RNDIS network
/// function, which has no tty.
const LAYOUTS: &[Layout] = &[
    // EC200U / EC600U (Unisoc UIS8910): AT + AP log + CP log + NMEA + DIAG + MOS + modem.
    l(0x0901, 2, PortRole::At),
    l(0x0901, 3, PortRole::Diagnostics),
    l(0x0901, 4, PortRole::Diagnostics),
    l(0x0901, 5, PortRole::Nmea),
    l(0x0901, 6, PortRole::Diagnostics),
    l(0x0901, 7, PortRole::Modem),
    // EG912Y: DIAG, AT, MODEM.
    l(0x6001, 2, PortRole::Diagnostics),
    l(0x6001, 3, PortRole::At),
    l(0x6001, 4, PortRole::Modem),
    // EC200S-CN and the ASR family sharing its id: debug, AT, PPP.
    l(0x6002, 2, PortRole::Diagnostics),
    l(0x6002, 3, PortRole::At),
    l(0x6002, 4, PortRole::Modem),
    // EC200A: DIAG, AT, MODEM.
    l(0x6005, 2, PortRole::Diagnostics),
    l(0x6005, 3, PortRole::At),
    l(0x6005, 4, PortRole::Modem),
    // EC200T: the EC200S layout (uncertain).
    l(0x6026, 2, PortRole::Diagnostics),
    l(0x6026, 3, PortRole::At),
    l(0x6026, 4, PortRole::Modem),
];

const fn l(pid: u16, interface: u8, role: PortRole) -> Layout {
    Layout {
        pid,
        interface,
        role,
    }
}

/// The role of interface `interface` of USB device `vid:pid`, from the table.
pub fn role_of(vid: u16, pid: u16, interface: u8) -> Option<PortRole> {
    if vid != QUECTEL_VID {
        return None;
    }
    LAYOUTS
        .iter()
        .find(|e| e.pid == pid && e.interface == interface)
        .map(|e| e.role)
}

/// The models that use Quectel product id `pid`, from the table.
pub fn model_of(vid: u16, pid: u16) -> Option<&'static str> {
    if vid != QUECTEL_VID {
        return None;
    }
    MODELS.iter().find(|(p, _)| *p == pid).map(|(_, m)| *m)
}

/// The serial ports of this machine, from `/sys/class/tty`, devices in `/dev`, sorted by name.
///
/// # Errors
/// When `/sys/class/tty` cannot be read (no sysfs: not Linux, or a container without it).
pub fn list_ports() -> io::Result<Vec<PortInfo>> {
    list_ports_in(Path::new("/sys"))
}

/// [`list_ports`] with another sysfs root (the directory holding `class/tty`), e.g. a fake tree
/// built by a test. Device paths are still `/dev/<name>`.
///
/// Listed: every tty whose `device` link resolves, except the legacy 8250 UARTs the kernel
/// registers whether or not there is hardware (`serial8250` devices whose `type` attribute is
/// missing or 0, "unknown UART"). Virtual consoles and ptys have no `device` link.
///
/// # Errors
/// When `<sysfs_root>/class/tty` cannot be read.
pub fn list_ports_in(sysfs_root: &Path) -> io::Result<Vec<PortInfo>> {
    let class = sysfs_root.join("class").join("tty");
    let mut ports = Vec::new();
    for entry in fs::read_dir(&class)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let tty_dir = class.join(&name);
        let Ok(device) = fs::canonicalize(tty_dir.join("device")) else {
            continue;
        };
        if is_phantom_8250(&tty_dir, &device) {
            continue;
        }
        let usb = usb_of(&device, sysfs_root);
        let (role, model) = match &usb {
            Some(u) => (
                u.interface.and_then(|i| role_of(u.vid, u.pid, i)),
                model_of(u.vid, u.pid),
            ),
            None => (None, None),
        };
        ports.push(PortInfo {
            path: Path::new("/dev").join(&name),
            usb,
            role,
            model,
        });
    }
    ports.sort_by_key(|p| natural_key(&p.path));
    Ok(ports)
}

/// `ttyUSB10` after `ttyUSB9`.
fn natural_key(path: &Path) -> (String, u64) {
    let name = path.to_string_lossy();
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_owned(), num.parse().unwrap_or(0))
}

/// A legacy 8250 port with no UART behind it: the 8250 driver registers `nr_uarts` of them
/// (Linux lists 32 ttyS on many PCs); `type` 0 is `PORT_UNKNOWN`.
fn is_phantom_8250(tty_dir: &Path, device: &Path) -> bool {
    if device.file_name().is_none_or(|n| n != "serial8250") {
        return false;
    }
    read_attr(&tty_dir.join("type")).is_none_or(|t| t.parse::<u32>().is_ok_and(|t| t == 0))
}

/// Walks up from a tty's device directory to its USB interface and USB device, within `root`:
/// `ttyUSB*` (usb-serial) sit one level below the interface, `ttyACM*` are the interface.
fn usb_of(device: &Path, root: &Path) -> Option<UsbPort> {
    let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut interface = None;
    let mut dir = Some(device);
    // An interface is at most two levels above the tty's device, its USB device one more.
    for _ in 0..4 {
        let d = dir.filter(|d| d.starts_with(&root) && *d != root)?;
        if interface.is_none()
            && let Some(n) = read_attr(&d.join("bInterfaceNumber"))
        {
            interface = u8::from_str_radix(&n, 16).ok();
        }
        if let Some(vid) = read_hex(&d.join("idVendor")) {
            return Some(UsbPort {
                vid,
                pid: read_hex(&d.join("idProduct"))?,
                interface,
                manufacturer: read_attr(&d.join("manufacturer")),
                product: read_attr(&d.join("product")),
                serial: read_attr(&d.join("serial")),
            });
        }
        dir = d.parent();
    }
    None
}

fn read_attr(path: &Path) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn read_hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(&read_attr(path)?, 16).ok()
}

/// What [`probe`] found on a port.
#[derive(Debug)]
pub enum ProbeResult {
    /// An AT interpreter answered (`OK`, or an `ERROR` final result); an echo is allowed.
    Answers,
    /// Bytes came that are not an answer to `AT`: another program is talking on the port (e.g.
    /// ModemManager probing it), a diagnostics or NMEA port, or a wrong baud rate.
    Garbage {
        /// The first bytes received (at most 32).
        sample: Vec<u8>,
    },
    /// Nothing but (perhaps) the echo of `AT` within the timeout.
    Silent,
    /// Another process holds the port (its lock, or `TIOCEXCL`).
    Busy {
        /// The process, when `/proc` shows it.
        holder: Option<Holder>,
    },
    /// The port could not be opened, written or read.
    Error(io::Error),
}

impl ProbeResult {
    /// A one-word name (`answers`, `garbage`, `silent`, `busy`, `error`), as `--json` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeResult::Answers => "answers",
            ProbeResult::Garbage { .. } => "garbage",
            ProbeResult::Silent => "silent",
            ProbeResult::Busy { .. } => "busy",
            ProbeResult::Error(_) => "error",
        }
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeResult::Answers => f.write_str("answers AT"),
            ProbeResult::Garbage { sample } => {
                write!(f, "garbage ({:?}…)", String::from_utf8_lossy(sample))
            }
            ProbeResult::Silent => f.write_str("silent"),
            ProbeResult::Busy { holder: Some(h) } => write!(f, "busy (held by {h})"),
            ProbeResult::Busy { holder: None } => f.write_str("busy"),
            ProbeResult::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Opens `path` with the advisory lock, writes `AT\r`, reads until a final result or `timeout`,
/// and says what came back. Writes nothing else.
pub fn probe(path: &Path, timeout: Duration) -> ProbeResult {
    let mut stream = match open_serial(&path.to_string_lossy(), &PortConfig::default()) {
        Ok(s) => s,
        Err(OpenError::Busy { holder, .. }) => return ProbeResult::Busy { holder },
        Err(OpenError::Device { source, .. }) => return ProbeResult::Error(source),
        Err(e) => return ProbeResult::Error(io::Error::other(e.to_string())),
    };
    match exchange(&mut stream, timeout) {
        Ok(bytes) => classify(&bytes),
        Err(e) => ProbeResult::Error(e),
    }
}

/// Writes `AT\r` and collects what the port sends until a final result or the deadline.
fn exchange(stream: &mut mio_serial::SerialStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(stream, Token(0), Interest::READABLE | Interest::WRITABLE)?;
    let mut events = Events::with_capacity(4);
    let deadline = Instant::now() + timeout;
    let mut to_write: &[u8] = b"AT\r";
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        while !to_write.is_empty() {
            match stream.write(to_write) {
                Ok(n) => to_write = &to_write[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if has_final(&got) || got.len() > 4096 {
            return Ok(got);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(got);
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The lines of what came back, without empty ones.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty())
}

fn is_final(line: &[u8]) -> bool {
    line == b"OK" || line == b"ERROR" || line.starts_with(b"+CME ERROR")
}

fn has_final(bytes: &[u8]) -> bool {
    lines(bytes).any(is_final)
}

/// Answers when a final result came; garbage when anything but the echo did; silent otherwise.
fn classify(bytes: &[u8]) -> ProbeResult {
    if has_final(bytes) {
        return ProbeResult::Answers;
    }
    if lines(bytes).any(|l| l != b"AT") {
        return ProbeResult::Garbage {
            sample: bytes.iter().copied().take(32).collect(),
        };
    }
    ProbeResult::Silent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_answers_with_or_without_echo_and_urcs() {
        for bytes in [
            &b"AT\r\r\nOK\r\n"[..],
            b"\r\nOK\r\n",
            b"\r\nRDY\r\nAT\r\r\nOK\r\n",
            b"\r\nERROR\r\n",
            b"\r\n+CME ERROR: 3\r\n",
        ] {
            assert!(matches!(classify(bytes), ProbeResult::Answers), "{bytes:?}");
        }
    }

    #[test]
    fn classify_garbage_and_silence() {
        let ProbeResult::Garbage { sample } = classify(b"\x7e\x00\xff\x12$GPGGA,,,") else {
            panic!("garbage expected")
        };
        assert_eq!(&sample[..3], b"\x7e\x00\xff");
        assert!(matches!(classify(b"AT\r"), ProbeResult::Silent));
        assert!(matches!(classify(b""), ProbeResult::Silent));
        assert!(matches!(classify(b"\r\n\r\n"), ProbeResult::Silent));
    }

    #[test]
    fn the_table_is_for_quectel_only() {
        assert_eq!(role_of(QUECTEL_VID, 0x6002, 3), Some(PortRole::At));
        assert_eq!(role_of(0x1234, 0x6002, 3), None);
        assert_eq!(role_of(QUECTEL_VID, 0x6002, 0), None);
        assert_eq!(model_of(QUECTEL_VID, 0x6001), Some("EG912Y"));
        assert_eq!(model_of(QUECTEL_VID, 0x0125), None);
        // One role per interface.
        for (i, a) in LAYOUTS.iter().enumerate() {
            for b in &LAYOUTS[i + 1..] {
                assert!(
                    (a.pid, a.interface) != (b.pid, b.interface),
                    "{:#06x} if {}",
                    a.pid,
                    a.interface
                );
            }
            assert!(model_of(QUECTEL_VID, a.pid).is_some());
        }
    }

    #[test]
    fn names_sort_naturally() {
        let mut v = [
            "/dev/ttyUSB10",
            "/dev/ttyUSB9",
            "/dev/ttyACM0",
            "/dev/ttyUSB0",
        ]
        .map(PathBuf::from)
        .to_vec();
        v.sort_by_key(|p| natural_key(p));
        assert_eq!(
            v,
            [
                "/dev/ttyACM0",
                "/dev/ttyUSB0",
                "/dev/ttyUSB9",
                "/dev/ttyUSB10"
            ]
            .map(PathBuf::from)
        );
    }
}
