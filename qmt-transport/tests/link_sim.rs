//! The link against the simulator's module core (sans-IO, in process): real echo (ATE1 at
//! power-up), real prompts, data echo, CONNECT.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use qmt_sim::module::Module;
use qmt_transport::link::{Link, LinkEvent};
use qmt_transport::time::Instant;

/// `module_t` is the simulator's (std) time, `t` the link's.
fn pump(link: &mut Link, module: &mut Module, module_t: std::time::Instant, t: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(b) = link.poll_transmit() {
            module.feed(&b, module_t);
            moved = true;
        }
        while let Some(b) = module.poll_output() {
            link.feed(&b, t);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

const SESSION: &[(&str, Option<&[u8]>)] = &[
    ("AT", None),
    ("AT+QMTCFG=\"version\",0", None),
    ("AT+QMTOPEN=?", None),
    ("AT+QMTCFG=\"willex\",0,1,1,0,\"w/t\",7", Some(b"OK\r\n> x")),
    ("AT+QFUPL=\"UFS:a.pem\",9", Some(b"-----\nAT\r")),
    ("AT+QMTOPEN?", None),
    ("AT+QMTCONN?", None),
    // No client is connected: the simulator takes the data, echoes it, and answers ERROR.
    ("AT+QMTPUBEX=0,0,0,0,\"t\",2", Some(b"OK")),
];

/// Runs `SESSION` against a freshly powered-up simulated module. `read_rdy_first`: the host
/// reads the power-up `RDY` before writing anything; otherwise the first command races it.
fn session(echo_off_first: bool, read_rdy_first: bool) -> (Vec<LinkEvent>, Link) {
    let module_t = std::time::Instant::now();
    let t = Instant::ZERO;
    let mut module = Module::new(module_t);
    let mut link = link(t);
    if read_rdy_first {
        pump(&mut link, &mut module, module_t, t);
    }
    if echo_off_first {
        link.submit(cmd("ATE0"), None, t).unwrap();
    }
    for (c, d) in SESSION {
        link.submit(cmd(c), d.map(<[u8]>::to_vec), t).unwrap();
    }
    pump(&mut link, &mut module, module_t, t);
    let mut evs = events(&mut link);
    if echo_off_first {
        let ate0 = evs.remove(1);
        assert!(
            matches!(&ate0, LinkEvent::Completed { result: Ok(r), .. } if r.final_code.bytes() == b"OK"),
            "{ate0:?}"
        );
    }
    (evs, link)
}

fn final_codes(evs: &[LinkEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            LinkEvent::Completed { result: Ok(r), .. } => {
                String::from_utf8_lossy(r.final_code.bytes()).into_owned()
            }
            LinkEvent::Completed { result: Err(e), .. } => e.to_string(),
            LinkEvent::Urc(l) => String::from_utf8_lossy(l.bytes()).into_owned(),
            LinkEvent::Damaged(l) => format!("damaged {}", String::from_utf8_lossy(l.bytes())),
        })
        .collect()
}

fn strip_tokens(evs: &[LinkEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            LinkEvent::Completed { result, .. } => format!("{result:?}"),
            LinkEvent::Urc(l) => format!("{l:?}"),
            LinkEvent::Damaged(l) => format!("damaged {l:?}"),
        })
        .collect()
}

#[test]
fn echo_on_and_off_against_the_simulator() {
    let (on, link_on) = session(false, true);
    let (off, link_off) = session(true, true);
    assert_eq!(strip_tokens(&on), strip_tokens(&off));
    assert_eq!(
        final_codes(&on),
        ["RDY", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "ERROR"]
    );
    // Command echoes of 8 commands + data echoes ("OK", prompt, "x", "-----\nAT").
    assert_eq!(link_on.stats().echoes, 8 + 4);
    assert_eq!(link_off.stats().echoes, 1, "only ATE0's own echo");
    for l in [&link_on, &link_off] {
        assert_eq!(l.stats().unknown, 0);
    }
    let LinkEvent::Completed { result: Ok(r), .. } = &on[5] else {
        panic!("{on:?}")
    };
    assert!(matches!(
        r.info[0].parse(),
        qmt_proto::ModuleLine::Info(qmt_proto::Info::QfUpl { upload_size: 9, .. })
    ));
}

/// The first command is written before the host read the power-up `RDY`: the module answers it
/// after `RDY`. The link completes it with `ModuleRestarted`, consumes its late answer, and every
/// following command still gets its own answer.
#[test]
fn a_command_racing_the_power_up_rdy() {
    let (evs, link) = session(false, false);
    assert_eq!(
        final_codes(&evs),
        [
            "AT: the module restarted (RDY) before it answered",
            "RDY",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "ERROR"
        ]
    );
    let (reference, _) = session(false, true);
    assert_eq!(strip_tokens(&evs[2..]), strip_tokens(&reference[2..]));
    assert_eq!(link.stats().late_finals, 1);
}
