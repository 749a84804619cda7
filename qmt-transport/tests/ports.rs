//! Finding ports: a fake sysfs tree laid out as Linux has it (every entry of the Quectel table,
//! a non-Quectel USB adapter, an ACM modem, legacy 8250 ports, a virtual console), the `AT` probe
//! against real ptys (the simulated module, a pty that answers garbage, one that says nothing),
//! and the advisory lock (a second open is `Busy`, a drop releases it).

#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qmt_sim::{Sim, SimConfig};
use qmt_transport::reactor::{OpenError, PortConfig, open_serial};
use qmt_transport::{PortInfo, PortRole, ProbeResult, QUECTEL_VID, list_ports_in, probe};
use serialport::SerialPort as _;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("qmt-ports-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("{text}\n")).unwrap();
}

/// `class/tty/<name>` → `class_dir` (relative, as the kernel makes it), whose `device` links to
/// `device_rel` (relative to `class_dir`).
fn class_entry(root: &Path, name: &str, class_dir: &Path, device_rel: Option<&str>) {
    fs::create_dir_all(class_dir).unwrap();
    let class = root.join("class/tty");
    fs::create_dir_all(&class).unwrap();
    let rel = Path::new("../..").join(class_dir.strip_prefix(root).unwrap());
    symlink(rel, class.join(name)).unwrap();
    if let Some(target) = device_rel {
        symlink(target, class_dir.join("device")).unwrap();
    }
}

/// A USB device `usb1/<port>` with vendor/product strings.
fn usb_device(root: &Path, port: &str, vid: u16, pid: u16, product: &str) -> PathBuf {
    let dev = root.join("devices/pci0000:00/0000:00:14.0/usb1").join(port);
    write(&dev.join("idVendor"), &format!("{vid:04x}"));
    write(&dev.join("idProduct"), &format!("{pid:04x}"));
    write(&dev.join("manufacturer"), "Android");
    write(&dev.join("product"), product);
    write(&dev.join("serial"), "0000");
    dev
}

/// A usb-serial tty (option, ftdi_sio…): `<dev>/<port>:1.<if>/<tty>/tty/<tty>`, `device` → the
/// usb-serial port directory.
fn usb_serial_tty(root: &Path, dev: &Path, interface: u8, tty: &str) {
    let port = dev.file_name().unwrap().to_string_lossy().into_owned();
    let intf = dev.join(format!("{port}:1.{interface}"));
    write(&intf.join("bInterfaceNumber"), &format!("{interface:02x}"));
    let serial_port = intf.join(tty);
    fs::create_dir_all(&serial_port).unwrap();
    let target = format!("../../../{tty}");
    class_entry(root, tty, &serial_port.join("tty").join(tty), Some(&target));
}

/// A cdc-acm tty: `<dev>/<port>:1.<if>/tty/<tty>`, `device` → the interface directory.
fn acm_tty(root: &Path, dev: &Path, interface: u8, tty: &str) {
    let port = dev.file_name().unwrap().to_string_lossy().into_owned();
    let name = format!("{port}:1.{interface}");
    let intf = dev.join(&name);
    write(&intf.join("bInterfaceNumber"), &format!("{interface:02x}"));
    let target = format!("../../../{name}");
    class_entry(root, tty, &intf.join("tty").join(tty), Some(&target));
}

/// A product id, its models, and the role of each of its interfaces.
type Layout = (u16, &'static str, &'static [(u8, PortRole)]);

/// The Quectel layouts of docs/usb-ports.md.
const TABLE: &[Layout] = &[
    (
        0x0901,
        "EC200U/EC600U",
        &[
            (2, PortRole::At),
            (3, PortRole::Diagnostics),
            (4, PortRole::Diagnostics),
            (5, PortRole::Nmea),
            (6, PortRole::Diagnostics),
            (7, PortRole::Modem),
        ],
    ),
    (
        0x6001,
        "EG912Y",
        &[
            (2, PortRole::Diagnostics),
            (3, PortRole::At),
            (4, PortRole::Modem),
        ],
    ),
    (
        0x6002,
        "EC200S/EC200N/EC600S/EC600N",
        &[
            (2, PortRole::Diagnostics),
            (3, PortRole::At),
            (4, PortRole::Modem),
        ],
    ),
    (
        0x6005,
        "EC200A",
        &[
            (2, PortRole::Diagnostics),
            (3, PortRole::At),
            (4, PortRole::Modem),
        ],
    ),
    (
        0x6026,
        "EC200T",
        &[
            (2, PortRole::Diagnostics),
            (3, PortRole::At),
            (4, PortRole::Modem),
        ],
    ),
];

fn find<'a>(ports: &'a [PortInfo], name: &str) -> &'a PortInfo {
    ports
        .iter()
        .find(|p| p.path == Path::new("/dev").join(name))
        .unwrap_or_else(|| panic!("{name} not listed in {ports:#?}"))
}

#[test]
fn a_fake_sysfs_tree_gives_every_table_role_and_skips_what_is_not_a_port() {
    let tmp = TempDir::new("sysfs");
    let root = &tmp.0;
    let mut n = 0;
    let mut expected = Vec::new();
    for (i, (pid, model, layout)) in TABLE.iter().enumerate() {
        let dev = usb_device(root, &format!("1-{}", i + 1), QUECTEL_VID, *pid, "Android");
        // An interface outside the table (EC200U's 8, the MOS port) has no role.
        let mut interfaces: Vec<(u8, Option<PortRole>)> =
            layout.iter().map(|(i, r)| (*i, Some(*r))).collect();
        if *pid == 0x0901 {
            interfaces.push((8, None));
        }
        for (interface, role) in interfaces {
            let tty = format!("ttyUSB{n}");
            n += 1;
            usb_serial_tty(root, &dev, interface, &tty);
            expected.push((tty, *pid, *model, interface, role));
        }
    }
    // An FTDI adapter, a u-blox ACM modem, legacy 8250 ports with and without a UART, and a
    // virtual console.
    let ftdi = usb_device(root, "2-1", 0x0403, 0x6001, "FT232R USB UART");
    usb_serial_tty(root, &ftdi, 0, "ttyUSB40");
    let ublox = usb_device(root, "2-2", 0x1546, 0x01a8, "u-blox GNSS receiver");
    acm_tty(root, &ublox, 0, "ttyACM0");
    let serial8250 = root.join("devices/platform/serial8250");
    for (tty, uart_type) in [("ttyS0", "4"), ("ttyS1", "0"), ("ttyS2", "")] {
        let dir = serial8250.join("tty").join(tty);
        class_entry(root, tty, &dir, Some("../../../serial8250"));
        if !uart_type.is_empty() {
            write(&dir.join("type"), uart_type);
        }
    }
    class_entry(root, "tty0", &root.join("devices/virtual/tty/tty0"), None);

    let ports = list_ports_in(root).unwrap();

    for (tty, pid, model, interface, role) in &expected {
        let p = find(&ports, tty);
        let usb = p.usb.as_ref().unwrap();
        assert_eq!((usb.vid, usb.pid), (QUECTEL_VID, *pid), "{tty}");
        assert_eq!(usb.interface, Some(*interface), "{tty}");
        assert_eq!(p.role, *role, "{tty}: {pid:#06x} if {interface}");
        assert_eq!(p.model, Some(*model), "{tty}");
        assert!(p.is_quectel());
        assert_eq!(usb.manufacturer.as_deref(), Some("Android"));
        assert_eq!(usb.serial.as_deref(), Some("0000"));
    }
    // Exactly one AT port per module.
    let at: Vec<_> = ports
        .iter()
        .filter(|p| p.role == Some(PortRole::At))
        .collect();
    assert_eq!(at.len(), TABLE.len());

    let ftdi = find(&ports, "ttyUSB40");
    let usb = ftdi.usb.as_ref().unwrap();
    assert_eq!((usb.vid, usb.pid, usb.interface), (0x0403, 0x6001, Some(0)));
    assert_eq!(usb.product.as_deref(), Some("FT232R USB UART"));
    assert_eq!(
        (ftdi.role, ftdi.model, ftdi.is_quectel()),
        (None, None, false)
    );

    let acm = find(&ports, "ttyACM0");
    let usb = acm.usb.as_ref().unwrap();
    assert_eq!((usb.vid, usb.pid, usb.interface), (0x1546, 0x01a8, Some(0)));
    assert_eq!(acm.role, None);

    let s0 = find(&ports, "ttyS0");
    assert_eq!((s0.usb.as_ref(), s0.role), (None, None));
    for gone in ["ttyS1", "ttyS2", "tty0"] {
        assert!(
            ports.iter().all(|p| p.path != Path::new("/dev").join(gone)),
            "{gone} listed"
        );
    }
    assert_eq!(ports.len(), expected.len() + 3);
    // Sorted by name, numbers as numbers.
    let names: Vec<_> = ports.iter().map(|p| p.path.clone()).collect();
    let ttyusb: Vec<_> = names
        .iter()
        .filter(|p| p.to_string_lossy().starts_with("/dev/ttyUSB"))
        .collect();
    assert_eq!(ttyusb.first().unwrap(), &&PathBuf::from("/dev/ttyUSB0"));
    assert_eq!(ttyusb.last().unwrap(), &&PathBuf::from("/dev/ttyUSB40"));
}

#[test]
fn a_missing_sysfs_is_an_error_not_an_empty_list() {
    let tmp = TempDir::new("nosys");
    let err = list_ports_in(&tmp.0).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn the_simulated_module_answers_the_probe() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let result = probe(sim.pty_path(), Duration::from_secs(2));
    assert!(matches!(result, ProbeResult::Answers), "{result:?}");
    // The probe released its lock: the port opens again.
    drop(open_serial(&sim.pty_path().to_string_lossy(), &PortConfig::default()).unwrap());
}

#[test]
fn a_pty_that_answers_noise_is_garbage() {
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    master.set_timeout(Duration::from_secs(5)).unwrap();
    let noise = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while !got.ends_with(b"\r") {
            let n = master.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        // What a DIAG port or a prober on the other side might send.
        master.write_all(b"\x7e\x00\xff\x12\x34garbage").unwrap();
        (got, master)
    });
    let result = probe(Path::new(&path), Duration::from_millis(500));
    let (written, _master) = noise.join().unwrap();
    assert_eq!(written, b"AT\r", "the probe writes exactly AT<CR>");
    let ProbeResult::Garbage { sample } = result else {
        panic!("garbage expected: {result:?}")
    };
    assert_eq!(&sample[..3], b"\x7e\x00\xff");
}

#[test]
fn a_pty_that_says_nothing_is_silent() {
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    let started = std::time::Instant::now();
    let result = probe(Path::new(&path), Duration::from_millis(200));
    assert!(matches!(result, ProbeResult::Silent), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_missing_port_is_an_error() {
    let result = probe(
        Path::new("/dev/qmt-no-such-port"),
        Duration::from_millis(50),
    );
    let ProbeResult::Error(e) = result else {
        panic!("error expected: {result:?}")
    };
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn a_port_is_locked_while_open_and_free_after_drop() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let path = sim.pty_path().to_string_lossy().into_owned();
    for exclusive in [true, false] {
        let config = PortConfig {
            exclusive,
            ..PortConfig::default()
        };
        let first = open_serial(&path, &config).unwrap();
        // Whatever the second opener asks for, the lock stops it.
        for second in [true, false] {
            let config2 = PortConfig {
                exclusive: second,
                ..PortConfig::default()
            };
            let err = open_serial(&path, &config2).unwrap_err();
            let OpenError::Busy { path: p, holder } = &err else {
                panic!("busy expected ({exclusive}/{second}): {err:?}")
            };
            assert_eq!(p, &path);
            // This process is never named as the holder of its own port.
            assert_eq!(holder, &None);
            let msg = err.to_string();
            assert!(msg.contains(&path) && msg.contains("busy"), "{msg}");
        }
        assert!(matches!(
            probe(sim.pty_path(), Duration::from_millis(100)),
            ProbeResult::Busy { .. }
        ));
        drop(first);
        let again = open_serial(&path, &config).unwrap();
        drop(again);
    }
}
