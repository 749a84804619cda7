//! The borrowed path allocates nothing: framing a stream of `+QMTRECV` messages and typing every
//! line (URCs, results, finals) makes zero heap allocations, counted by a global allocator.
//!
//! The lines of spec §10 (boot URCs, registration, SIM, signal, PDP context) are typed without
//! allocating too, context-free and by the command in flight.
//!
//! Only `+QMTCFG`/`+QSSLCFG` answers (owned configuration values) are allowed to allocate; they are
//! not in this stream. Formatting a command's name (`Command::name`, what logs show) allocates
//! nothing either.

// A `GlobalAlloc` can only be implemented with `unsafe`; it forwards to the system allocator and
// counts. This test binary is the only place the workspace allows it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use at_codec::{Decoder, Frame};
use qmt_proto::{ModuleLine, RecvHook, Urc};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on (`None` when off). Const-initialised,
    /// so touching it does not allocate.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            if let Some(n) = c.get() {
                c.set(Some(n + 1));
            }
        });
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

#[test]
fn framing_and_typing_urcs_does_not_allocate() {
    // A realistic stream, built before counting starts.
    let mut wire = Vec::new();
    for i in 0..200u32 {
        let payload = format!("{{\"seq\":{i},\"text\":\"a,b\\r\\n> \"}}\r\n");
        wire.extend_from_slice(
            format!(
                "\r\n+QMTRECV: {},{},\"sensors/{i}/data\",{},",
                i % 6,
                i % 65536,
                payload.len()
            )
            .as_bytes(),
        );
        wire.extend_from_slice(payload.as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(b"\r\n+QMTRECV: 1,0,\"t\",\"{\"method\":\"set\"}\"\r\n");
        wire.extend_from_slice(b"\r\nOK\r\n\r\n> \r\nOK\r\n\r\n+QMTPUBEX: 0,7,0\r\n");
        wire.extend_from_slice(
            b"\r\n+QMTSUB: 0,1,0,2,1,128\r\n\r\n+QMTSTAT: 0,1\r\n\r\n+CME ERROR: 3\r\n",
        );
    }

    let mut framer = Box::new(Decoder::<4096, RecvHook>::with_hook(RecvHook::auto()));
    let mut messages = 0usize;
    let mut payload_bytes = 0usize;
    let mut other = 0usize;
    let n = allocations(|| {
        for read in wire.chunks(64) {
            framer.decode(read, |frame| match frame {
                Frame::Line(l) => match ModuleLine::parse(l) {
                    ModuleLine::Urc(Urc::Recv(r)) => {
                        messages += 1;
                        payload_bytes += r.payload.len();
                    }
                    ModuleLine::Unknown(_) => panic!("untyped line"),
                    _ => other += 1,
                },
                Frame::Prompt => other += 1,
                Frame::Data(_) | Frame::Overflow { .. } => panic!("unexpected frame"),
            });
        }
    });
    assert_eq!(messages, 400, "every message typed");
    assert!(payload_bytes > 200 * 30);
    assert_eq!(other, 200 * 7);
    assert_eq!(n, 0, "allocations on the borrowed path");
}

#[test]
fn the_counter_does_count() {
    // Guards the test above against a counter that never counts.
    let n = allocations(|| {
        let v = std::hint::black_box(vec![1u8; 10]);
        drop(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn command_names_format_without_allocating() {
    use std::fmt::Write as _;

    /// A fixed buffer on the stack, so that writing into it cannot allocate either.
    struct Stack {
        buf: [u8; 128],
        len: usize,
    }
    impl std::fmt::Write for Stack {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            self.buf
                .get_mut(self.len..end)
                .ok_or(std::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    let commands: Vec<qmt_proto::Command> = [
        &br#"AT+QMTCFG="aliauth",0,"pk","dn","secret""#[..],
        br#"AT+QSSLCFG="cacert",1,"UFS:ca.pem""#,
        b"AT+QMTSUB=?",
        b"AT+QMTOPEN?",
        br#"AT+QMTCONN=0,"id","u","p""#,
    ]
    .iter()
    .map(|line| qmt_proto::Command::parse(line).expect("a valid command"))
    .collect();
    let mut out = Stack {
        buf: [0; 128],
        len: 0,
    };
    let n = allocations(|| {
        for c in &commands {
            write!(out, "{}|", c.name()).expect("fits the buffer");
        }
    });
    assert_eq!(
        std::str::from_utf8(&out.buf[..out.len]),
        Ok(r#"AT+QMTCFG="aliauth"|AT+QSSLCFG="cacert"|AT+QMTSUB=?|AT+QMTOPEN?|AT+QMTCONN|"#)
    );
    assert_eq!(n, 0, "allocations formatting command names");
}

#[test]
fn typing_network_lines_does_not_allocate() {
    use qmt_proto::Info;
    use qmt_proto::kind::{CommandKind as K, Form};

    // Spec §10 lines, context-free and classified against the command in flight.
    let free: &[&[u8]] = &[
        b"APP RDY",
        b"+CFUN: 1",
        b"+CPIN: READY",
        b"+QUSIM: 1",
        b"+QIND: SMS DONE",
        b"+QSIMSTAT: 1,0",
        b"+CEREG: 1,\"1A2B\",\"01C3D04\",7",
        b"+QIURC: \"pdpdeact\",1",
        b"+QCCID: 89860116838002543581",
        b"+CSQ: 31,99",
        b"+QCSQ: \"LTE\",-52,-81,195,-10",
        b"+QNWINFO: \"FDD LTE\",\"46001\",\"LTE BAND 3\",1650",
        b"+COPS: 0,0,\"CHINA MOBILE\",7",
        b"+QICSGP: 1,\"internet\",\"\",\"\",0",
        b"+QIACT: 1,1,1,\"10.7.157.1\"",
        b"+CGATT: 1",
        b"+IFC: 0,0",
        b"+IPR: 115200",
        b"+CGPADDR: 1,\"10.7.157.1\"",
        b"NORMAL POWER DOWN",
        b"+QFLST: \"UFS:cacert.pem\",1758",
        b"+CCLK: \"24/05/17,09:30:00+32\"",
        b"+QNTP: 0,\"2024/05/17,09:30:00+32\"",
        b"+QLTS: \"2019/01/13,03:40:48+32,0\"",
    ];
    let classified: &[(K, Form, &[u8])] = &[
        (K::Gsn, Form::Execute, b"861234567890123"),
        (K::Ati, Form::Execute, b"Revision: EC200UCNAAR02A01M08"),
        (K::Cereg, Form::Read, b"+CEREG: 2,1,\"1A2B\",\"01C3D04\",7"),
        (K::Cpin, Form::Read, b"+CPIN: SIM PIN"),
        (K::Cfun, Form::Read, b"+CFUN: 4"),
        (K::Qflst, Form::Write, b"+QFLST: \"UFS:a.pem\",4"),
        (K::Cclk, Form::Read, b"+CCLK: \"00/01/01,00:00:05+00\""),
    ];
    let mut typed = 0usize;
    let n = allocations(|| {
        for l in free {
            if !matches!(ModuleLine::parse(l), ModuleLine::Unknown(_)) {
                typed += 1;
            }
        }
        for (k, f, l) in classified {
            if Info::parse_for(*k, *f, l).is_some() {
                typed += 1;
            }
        }
    });
    assert_eq!(typed, free.len() + classified.len(), "every line typed");
    assert_eq!(n, 0, "allocations typing §10 lines");
}
