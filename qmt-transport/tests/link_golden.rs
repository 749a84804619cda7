//! Spec §8.1 (MQTT without TLS) driven through the link: the host's exact bytes, and the
//! completions and URCs the module's lines become.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use qmt_transport::link::{LinkEvent, Token};
use qmt_transport::time::Instant;

/// (command, data, module lines) as in spec §8.1.
const TRANSCRIPT: &[(&str, Option<&str>, &[&str])] = &[
    ("AT+QMTCFG=\"recv/mode\",0,0,1", None, &["OK"]),
    (
        "AT+QMTCFG=\"aliauth\",0,\"oyjtmPI5a5j\",\"MQTT_TEST\",\"wN9Y6pZSlly7Exa5qVzcmigEGO4kAazZ\"",
        None,
        &["OK"],
    ),
    (
        "AT+QMTOPEN=?",
        None,
        &["+QMTOPEN: (0-5),\"hostname\",(1-65535)", "OK"],
    ),
    (
        "AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883",
        None,
        &["OK", "+QMTOPEN: 0,0"],
    ),
    (
        "AT+QMTOPEN?",
        None,
        &[
            "+QMTOPEN: 0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883",
            "OK",
        ],
    ),
    (
        "AT+QMTCONN=?",
        None,
        &[
            "+QMTCONN: (0-5),\"clientid\",\"username\",\"password\"",
            "OK",
        ],
    ),
    (
        "AT+QMTCONN=0,\"clientExample\"",
        None,
        &["OK", "+QMTCONN: 0,0,0"],
    ),
    (
        "AT+QMTSUB=?",
        None,
        &["+QMTSUB: (0-5),<msgid>,list of [\"topic\",qos]", "OK"],
    ),
    (
        "AT+QMTSUB=0,1,\"topic/example\",2",
        None,
        &["OK", "+QMTSUB: 0,1,0,2"],
    ),
    (
        "AT+QMTSUB=0,1,\"topic/pub\",0",
        None,
        &[
            "OK",
            "+QMTSUB: 0,1,0,0",
            "+QMTRECV: 0,0,\"topic/example\",36,\"This is the payload related to topic\"",
        ],
    ),
    (
        "AT+QMTUNS=0,2,\"topic/example\"",
        None,
        &["OK", "+QMTUNS: 0,2,0"],
    ),
    (
        "AT+QMTPUBEX=?",
        None,
        &[
            "+QMTPUBEX: (0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
            "OK",
        ],
    ),
    (
        "AT+QMTPUBEX=0,0,0,0,\"topic/pub\",30",
        Some("This is test data, hello MQTT."),
        &[
            "> ",
            "OK",
            "+QMTPUBEX: 0,0,0",
            "+QMTRECV: 0,0,\"topic/pub\",30,This is test data, hello MQTT.",
        ],
    ),
    ("AT+QMTDISC=0", None, &["OK", "+QMTDISC: 0,0"]),
];

fn expected() -> Vec<LinkEvent> {
    let mut out = Vec::new();
    for (i, (_, _, lines)) in TRANSCRIPT.iter().enumerate() {
        let token = Token(i as u64);
        let end = lines.iter().position(|l| *l == "OK").unwrap();
        let info: Vec<&str> = lines[..end]
            .iter()
            .copied()
            .filter(|l| *l != "> ")
            .collect();
        out.push(done(token, &info, "OK"));
        out.extend(lines[end + 1..].iter().map(|l| urc(l)));
    }
    out
}

fn host_bytes() -> String {
    TRANSCRIPT
        .iter()
        .map(|(c, d, _)| format!("{c}\r{}", d.unwrap_or("")))
        .collect()
}

#[test]
fn golden_8_1_step_by_step() {
    for echo_on in [false, true] {
        let t = Instant::ZERO;
        let mut link = link(t);
        let mut wire = String::new();
        for (c, d, lines) in TRANSCRIPT {
            link.submit(cmd(c), d.map(|d| d.as_bytes().to_vec()), t)
                .unwrap();
            let w = written(&mut link);
            assert_eq!(w, format!("{c}\r"));
            wire += &w;
            if echo_on {
                link.feed(format!("{c}\r").as_bytes(), t);
            }
            for l in *lines {
                link.feed(&framed(&[l]), t);
                if *l == "> " {
                    let w = written(&mut link);
                    assert_eq!(Some(w.as_str()), *d);
                    wire += &w;
                    if echo_on {
                        link.feed(w.as_bytes(), t);
                    }
                }
            }
        }
        assert_eq!(wire, host_bytes());
        assert_eq!(events(&mut link), expected(), "echo {echo_on}");
        let s = link.stats();
        assert_eq!(s.echoes, if echo_on { 15 } else { 0 });
        assert_eq!((s.unknown, s.late_finals, s.overflows), (0, 0, 0));
    }
}

/// Every command submitted at once and the module's whole output in one read: two-phase results
/// now arrive while the next command is in flight (`+QMTOPEN: 0,0` during `AT+QMTOPEN?`, trap 2),
/// and still become URCs.
#[test]
fn golden_8_1_all_at_once() {
    let t = Instant::ZERO;
    let mut link = link(t);
    for (c, d, _) in TRANSCRIPT {
        link.submit(cmd(c), d.map(|d| d.as_bytes().to_vec()), t)
            .unwrap();
    }
    let module: Vec<u8> = TRANSCRIPT
        .iter()
        .flat_map(|(_, _, lines)| framed(lines))
        .collect();
    link.feed(&module, t);
    // The publish's data was due after the prompt, but the same read already holds the
    // publish's final code: the module no longer waits for data, so the link does not write it
    // (the module would read it as a command line).
    let data = "This is test data, hello MQTT.";
    assert_eq!(written(&mut link), host_bytes().replace(data, ""));
    assert_eq!(events(&mut link), expected());
}
