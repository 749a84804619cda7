//! The module core's AT channel, driven by scripted host bytes and a hand-played network: framing,
//! echo, error modes, every test form, every `AT+QMTCFG` sub-command, QMTOPEN/QMTCLOSE, QFUPL,
//! QSSLCFG, receive slots, chunking invariance and faults. Passes with the stub MQTT session.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::params::ClientIdx;
use qmt_sim::fault::Fault;
use qmt_sim::module::Module;
use qmt_sim::net::{ConnectError, NetAction, NetEvent, TlsConfig};

/// A host on the serial line and the network, playing by hand.
struct Host {
    m: Module,
    now: Instant,
}

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}

impl Host {
    /// A module after power-up, whose `RDY` has been read.
    fn new() -> Host {
        let now = Instant::now();
        let mut h = Host {
            m: Module::new(now),
            now,
        };
        assert_eq!(h.read(), "\r\nRDY\r\n");
        h
    }

    /// A module with echo off (after `ATE0`).
    fn quiet() -> Host {
        let mut h = Host::new();
        assert_eq!(h.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
        h
    }

    fn read(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(chunk) = self.m.poll_output() {
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    fn send(&mut self, s: &str) -> String {
        self.send_bytes(s.as_bytes())
    }

    fn send_bytes(&mut self, b: &[u8]) -> String {
        self.m.feed(b, self.now);
        self.read()
    }

    fn net(&mut self) -> Vec<NetAction> {
        std::iter::from_fn(|| self.m.poll_net()).collect()
    }

    fn event(&mut self, e: NetEvent) -> String {
        self.m.handle_net(e, self.now);
        self.read()
    }

    /// `AT+QMTOPEN` of client `idx` and a successful connection.
    fn open(&mut self, idx: i64) {
        assert_eq!(
            self.send(&format!("AT+QMTOPEN={idx},\"broker.test\",1883\r")),
            "\r\nOK\r\n"
        );
        assert!(matches!(self.net().as_slice(), [NetAction::Connect { .. }]));
        assert_eq!(
            self.event(NetEvent::Connected { client_idx: c(idx) }),
            format!("\r\n+QMTOPEN: {idx},0\r\n")
        );
    }
}

/// `\r\n<line>\r\n` for each line.
fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("\r\n{l}\r\n")).collect()
}

// ---------------------------------------------------------------------------------------------
// Power-up, echo, errors, framing.

#[test]
fn power_up_says_rdy_and_echoes_commands() {
    let mut h = Host::new();
    assert_eq!(h.send("AT\r"), "AT\r\r\nOK\r\n");
    assert_eq!(h.m.poll_timeout(), None);
    assert!(h.net().is_empty());
}

#[test]
fn ate0_and_ate1_switch_echo() {
    let mut h = Host::new();
    assert_eq!(h.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
    assert_eq!(h.send("AT\r"), "\r\nOK\r\n");
    assert_eq!(h.send("ATE1\r"), "\r\nOK\r\n");
    assert_eq!(h.send("at\r"), "at\r\r\nOK\r\n");
}

/// EC200x firmware does not know the `AT+QMTPUB` of its siblings (qmt_proto::sibling): every
/// form, well formed or not, is refused like an unknown command, with no prompt.
#[test]
fn the_qmtpub_of_sibling_modules_is_not_supported() {
    let mut h = Host::quiet();
    let forms = [
        "AT+QMTPUB=?\r",
        "AT+QMTPUB=0,0,0,0,\"t\"\r",
        "AT+QMTPUB=0,1,1,0,\"t\",5\r",
        "AT+QMTPUB=0,0,0,0,\"t\",\"msg\"\r",
        "AT+QMTPUB=9,0,0,0,\"t\"\r",
        "AT+QMTPUB=0,0,0,0,\"t\",0\r",
    ];
    for form in forms {
        assert_eq!(h.send(form), lines(&["ERROR"]), "{form:?}");
    }
    assert_eq!(h.send("AT+CMEE=1\r"), lines(&["OK"]));
    for form in forms {
        assert_eq!(h.send(form), lines(&["+CME ERROR: 4"]), "{form:?}");
    }
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
}

#[test]
fn cmee_modes_shape_errors() {
    let mut h = Host::quiet();
    // Not open: operation not allowed.
    let conn = "AT+QMTCONN=0,\"id\"\r";
    assert_eq!(h.send(conn), lines(&["ERROR"]));
    assert_eq!(h.send("AT+CMEE=1\r"), lines(&["OK"]));
    assert_eq!(h.send(conn), lines(&["+CME ERROR: 3"]));
    assert_eq!(
        h.send("AT+QMTOPEN=9,\"h\",1883\r"),
        lines(&["+CME ERROR: 50"])
    );
    assert_eq!(h.send("AT+FOO\r"), lines(&["+CME ERROR: 4"]));
    assert_eq!(h.send("ATX9\r"), lines(&["+CME ERROR: 4"]));
    assert_eq!(h.send("AT+QSSLCFG=?\r"), lines(&["+CME ERROR: 4"]));
    assert_eq!(h.send("AT+CMEE=2\r"), lines(&["OK"]));
    assert_eq!(h.send(conn), lines(&["+CME ERROR: operation not allowed"]));
    assert_eq!(
        h.send("AT+QMTSUB=0,0,\"t\",1\r"),
        lines(&["+CME ERROR: incorrect parameters"])
    );
    assert_eq!(
        h.send("AT+XYZ=1\r"),
        lines(&["+CME ERROR: operation not supported"])
    );
    assert_eq!(h.send("AT+CMEE=0\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QMTOPEN=0,broker,1883\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+CMEE=3\r"), lines(&["ERROR"]));
}

#[test]
fn line_endings_empty_lines_noise_and_long_lines() {
    let mut h = Host::new();
    // CR LF: the LF is not a second (empty) line; LF alone ends a line.
    assert_eq!(h.send("AT\r\n"), "AT\r\r\nOK\r\n");
    assert_eq!(h.send("AT\n"), "AT\n\r\nOK\r\n");
    // Empty lines: nothing at all.
    assert_eq!(h.send("\r\r\n\n"), "");
    // A line that is not a command: echoed, not answered.
    assert_eq!(h.send("hello\r"), "hello\r");
    // Lower-case commands are accepted (spec §6 variation 5).
    assert_eq!(h.send("at+qmtopen?\r"), "at+qmtopen?\r\r\nOK\r\n");
    assert_eq!(h.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
    // A line over 4096 bytes: an error, and the channel still works.
    let mut long = b"AT+QMTCFG=\"version\",0,".to_vec();
    long.resize(5000, b'4');
    long.push(b'\r');
    assert_eq!(h.send_bytes(&long), lines(&["ERROR"]));
    assert_eq!(h.send("AT+CMEE=2\r"), lines(&["OK"]));
    long.truncate(4200);
    long.push(b'\r');
    assert_eq!(
        h.send_bytes(&long),
        lines(&["+CME ERROR: text string too long"])
    );
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
    // Arbitrary bytes never panic and never wedge the channel.
    h.send_bytes(&[0, 0xff, b'"', b'A', b'T', b'+', 0x80, b'\r', b'\n', 0x1a]);
    assert_eq!(h.send("\rAT\r"), lines(&["OK"]));
}

// ---------------------------------------------------------------------------------------------
// Test forms.

#[test]
fn every_test_form_answers_as_the_spec_shows() {
    let mut h = Host::quiet();
    let cases = [
        ("AT+QMTOPEN=?", "+QMTOPEN: (0-5),\"hostname\",(1-65535)"),
        ("AT+QMTCLOSE=?", "+QMTCLOSE: (0-5)"),
        (
            "AT+QMTCONN=?",
            "+QMTCONN: (0-5),\"clientid\",\"username\",\"password\"",
        ),
        ("AT+QMTDISC=?", "+QMTDISC: (0-5)"),
        (
            "AT+QMTSUB=?",
            "+QMTSUB: (0-5),<msgid>,list of [\"topic\",qos]",
        ),
        ("AT+QMTUNS=?", "+QMTUNS: (0-5),<msgid>,list of [\"topic\"]"),
        (
            "AT+QMTPUBEX=?",
            "+QMTPUBEX: (0-5),<msgid>,(0-2),(0,1),\"topic\",\"length\"",
        ),
    ];
    for (cmd, answer) in cases {
        assert_eq!(h.send(&format!("{cmd}\r")), lines(&[answer, "OK"]), "{cmd}");
    }
    assert_eq!(h.send("AT+QMTRECV=?\r"), lines(&["OK"]));

    let cfg = h.send("AT+QMTCFG=?\r");
    let expected = lines(&[
        "+QMTCFG: \"version\",(0-5),(3,4)",
        "+QMTCFG: \"pdpcid\",(0-5),(1-15)",
        "+QMTCFG: \"ssl\",(0-5),(0,1),(0-5)",
        "+QMTCFG: \"keepalive\",(0-5),(0-3600)",
        "+QMTCFG: \"session\",(0-5),(0,1)",
        "+QMTCFG: \"timeout\",(0-5),(1-60),(0-10),(0,1)",
        "+QMTCFG: \"will\",(0-5),(0,1),(0-2),(0,1),\"willtopic\",\"willmessage\"",
        "+QMTCFG: \"willex\",(0-5),(0,1),(0-2),(0,1),\"willtopic\",(0-256)",
        "+QMTCFG: \"recv/mode\",(0-5),(0,1),(0,1)",
        "+QMTCFG: \"aliauth\",(0-5),\"productkey\",\"devicename\",\"devicesecret\"",
        "+QMTCFG: \"qmtping\",(0-5),(5-60)",
        "+QMTCFG: \"send/mode\",(0-5),(0,1)",
        "+QMTCFG: \"onenet\",(0-5),\"productid\",\"accesskey\"",
        "+QMTCFG: \"hwauth\",(0-5),\"productid\",\"devicesecret\",(0,1)",
        "+QMTCFG: \"hwprodid\",(0-5),\"productid\",\"productsecret\",\"nodeid\",(0,1)",
        "+QMTCFG: \"dataformat\",(0-5),(0,1),(0,1)",
        "+QMTCFG: \"view/mode\",(0-5),(0,1)",
        "+QMTCFG: \"edit/timeout\",(0-5),(0,1),(1-120)",
        "OK",
    ]);
    assert_eq!(cfg, expected);
    // Every line is a typed test line of qmt-proto.
    for l in cfg.split("\r\n").filter(|l| l.starts_with('+')) {
        assert!(
            matches!(
                qmt_proto::ModuleLine::parse(l.as_bytes()),
                qmt_proto::ModuleLine::Info(qmt_proto::Info::Cfg(qmt_proto::CfgInfo::Test { .. }))
            ),
            "{l}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// AT+QMTCFG.

#[test]
fn qmtcfg_defaults() {
    let mut h = Host::quiet();
    let cases = [
        ("version", "4"),
        ("pdpcid", "1"),
        ("ssl", "0"),
        ("keepalive", "120"),
        ("session", "1"),
        ("timeout", "5,3,0"),
        ("will", "0"),
        ("willex", "0"),
        ("recv/mode", "0,0"),
        ("qmtping", "5"),
        ("send/mode", "0"),
        ("dataformat", "0,0"),
        ("view/mode", "0"),
        ("edit/timeout", "0"),
    ];
    for (name, values) in cases {
        assert_eq!(
            h.send(&format!("AT+QMTCFG=\"{name}\",3\r")),
            lines(&[&format!("+QMTCFG: \"{name}\",{values}"), "OK"]),
            "{name}"
        );
    }
    // Credentials never set: OK alone.
    for name in ["aliauth", "onenet", "hwauth", "hwprodid"] {
        assert_eq!(h.send(&format!("AT+QMTCFG=\"{name}\",3\r")), lines(&["OK"]));
    }
}

#[test]
fn qmtcfg_every_sub_command_round_trips_per_client() {
    let mut h = Host::quiet();
    // (set values, query answer values)
    let cases = [
        ("version", "3", "3"),
        ("pdpcid", "7", "7"),
        ("ssl", "1,2", "1,2"),
        ("keepalive", "0", "0"),
        ("session", "0", "0"),
        ("timeout", "10,5,1", "10,5,1"),
        (
            "will",
            "1,1,1,\"dead/topic\",\"bye now\"",
            "1,1,1,\"dead/topic\",\"bye now\"",
        ),
        ("recv/mode", "1,1", "1,1"),
        (
            "aliauth",
            "\"pk\",\"dev\",\"s3cr3t\"",
            "\"pk\",\"dev\",\"s3cr3t\"",
        ),
        ("qmtping", "60", "60"),
        ("send/mode", "1", "1"),
        ("onenet", "\"pid\",\"akey\"", "\"pid\",\"akey\""),
        ("hwauth", "\"pid\",\"dsec\"", "\"pid\",\"dsec\""),
        (
            "hwprodid",
            "\"pid\",\"psec\",\"node\"",
            "\"pid\",\"psec\",\"node\"",
        ),
        ("dataformat", "1,1", "1,1"),
        ("view/mode", "1", "1"),
        ("edit/timeout", "1,20", "1,20"),
    ];
    for (name, set, answer) in cases {
        assert_eq!(
            h.send(&format!("AT+QMTCFG=\"{name}\",2,{set}\r")),
            lines(&["OK"]),
            "set {name}"
        );
        assert_eq!(
            h.send(&format!("AT+QMTCFG=\"{name}\",2\r")),
            lines(&[&format!("+QMTCFG: \"{name}\",{answer}"), "OK"]),
            "query {name}"
        );
    }
    // Secrets never show in the module's Debug output.
    let shown = format!("{:?}", h.m);
    for secret in ["s3cr3t", "akey", "dsec", "psec"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // Another client kept its defaults.
    assert_eq!(
        h.send("AT+QMTCFG=\"keepalive\",1\r"),
        lines(&["+QMTCFG: \"keepalive\",120", "OK"])
    );
    // Names are case-insensitive; answers are lower case. `send/mode` and `dataformat` share the
    // send setting.
    assert_eq!(h.send("AT+QMTCFG=\"SEND/MODE\",2,0\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTCFG=\"dataformat\",2\r"),
        lines(&["+QMTCFG: \"dataformat\",0,1", "OK"])
    );
    // recv/mode without msg_len_enable keeps it.
    assert_eq!(h.send("AT+QMTCFG=\"recv/mode\",2,0\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTCFG=\"recv/mode\",2\r"),
        lines(&["+QMTCFG: \"recv/mode\",0,1", "OK"])
    );
    // Out of range and unknown names.
    assert_eq!(
        h.send("AT+QMTCFG=\"keepalive\",2,3601\r"),
        lines(&["ERROR"])
    );
    assert_eq!(h.send("AT+QMTCFG=\"nosuch\",2\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QMTCFG=\"ssl\",2,1\r"), lines(&["ERROR"]));
}

#[test]
fn willex_prompts_takes_exact_bytes_then_ok() {
    let mut h = Host::quiet();
    assert_eq!(h.send("AT+QMTCFG=\"willex\",0,1,2,1,\"w/t\",7\r"), "\r\n> ");
    // Seven raw bytes, CR LF and a quote among them; LF right after the command is data too.
    assert_eq!(h.send_bytes(b"a\r\n\"b"), "");
    assert_eq!(h.send_bytes(b"c\x00"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTCFG=\"willex\",0\r"),
        lines(&["+QMTCFG: \"willex\",1,2,1,\"w/t\",7", "OK"])
    );
    // will_fg 0: no prompt.
    assert_eq!(h.send("AT+QMTCFG=\"willex\",0,0\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTCFG=\"willex\",0\r"),
        lines(&["+QMTCFG: \"willex\",0", "OK"])
    );
    // will_len 0: prompt, then OK at once.
    assert_eq!(
        h.send("AT+QMTCFG=\"willex\",0,1,0,0,\"w\",0\r"),
        "\r\n> \r\nOK\r\n"
    );
}

#[test]
fn willex_data_is_echoed_with_echo_on() {
    let mut h = Host::new();
    let cmd = "AT+QMTCFG=\"willex\",0,1,0,0,\"w\",3\r";
    assert_eq!(h.send(cmd), format!("{cmd}\r\n> "));
    assert_eq!(h.send("xyz"), "xyz\r\nOK\r\n");
}

#[test]
fn edit_timeout_ends_an_incomplete_data_phase() {
    let mut h = Host::quiet();
    assert_eq!(h.send("AT+QMTCFG=\"edit/timeout\",0,1,2\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QMTCFG=\"willex\",0,1,0,0,\"w\",5\r"), "\r\n> ");
    assert_eq!(h.send("ab"), "");
    let deadline = h.m.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Duration::from_secs(2));
    h.m.handle_timeout(h.now + Duration::from_secs(1));
    assert_eq!(h.read(), "");
    h.now = deadline;
    h.m.handle_timeout(deadline);
    assert_eq!(h.read(), lines(&["ERROR"]));
    assert_eq!(h.m.poll_timeout(), None);
    // Back in command mode: the next bytes are a command, not data.
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTCFG=\"willex\",0\r"),
        lines(&["+QMTCFG: \"willex\",0", "OK"])
    );
}

// ---------------------------------------------------------------------------------------------
// AT+QMTOPEN / AT+QMTCLOSE / AT+QMTDISC / AT+QMTCONN without a broker.

#[test]
fn qmtopen_connects_and_reports() {
    let mut h = Host::quiet();
    assert_eq!(
        h.send("AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883\r"),
        lines(&["OK"])
    );
    assert_eq!(
        h.net(),
        vec![NetAction::Connect {
            client_idx: c(0),
            host: "iot-as-mqtt.cn-shanghai.aliyuncs.com".into(),
            port: 1883,
            tls: None,
        }]
    );
    // Still opening: not listed, and occupied.
    assert_eq!(h.send("AT+QMTOPEN?\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTOPEN=0,\"other\",1\r"),
        lines(&["OK", "+QMTOPEN: 0,2"])
    );
    assert!(h.net().is_empty());
    assert_eq!(
        h.event(NetEvent::Connected { client_idx: c(0) }),
        lines(&["+QMTOPEN: 0,0"])
    );
    assert_eq!(
        h.send("AT+QMTOPEN?\r"),
        lines(&[
            "+QMTOPEN: 0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883",
            "OK"
        ])
    );
    assert_eq!(
        h.send("AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883\r"),
        lines(&["OK", "+QMTOPEN: 0,2"])
    );
    // Open but not connected: state 1.
    assert_eq!(h.send("AT+QMTCONN?\r"), lines(&["+QMTCONN: 0,1", "OK"]));
    // SUB/UNS/PUBEX need a connected client.
    assert_eq!(h.send("AT+QMTSUB=0,1,\"t\",1\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QMTUNS=0,1,\"t\"\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QMTPUBEX=0,0,0,0,\"t\",3\r"), lines(&["ERROR"]));
    // Malformed: ERROR at once, nothing on the network.
    assert_eq!(h.send("AT+QMTOPEN=1,\"h\",0\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QMTOPEN=1,\"h\"\r"), lines(&["ERROR"]));
    assert!(h.net().is_empty());
}

#[test]
fn qmtopen_failures_map_to_results() {
    let mut h = Host::quiet();
    let cases = [
        (ConnectError::Dns, "+QMTOPEN: 1,4"),
        (ConnectError::Network, "+QMTOPEN: 1,5"),
        (ConnectError::Tls, "+QMTOPEN: 1,-1"),
    ];
    for (error, answer) in cases {
        assert_eq!(h.send("AT+QMTOPEN=1,\"nowhere\",1883\r"), lines(&["OK"]));
        assert_eq!(h.net().len(), 1);
        assert_eq!(
            h.event(NetEvent::ConnectFailed {
                client_idx: c(1),
                error
            }),
            lines(&[answer])
        );
        // Back to not open: closing is refused, opening again is allowed.
        assert_eq!(h.send("AT+QMTCLOSE=1\r"), lines(&["ERROR"]));
    }
    // A failure report for a client that is not opening is ignored.
    assert_eq!(
        h.event(NetEvent::ConnectFailed {
            client_idx: c(1),
            error: ConnectError::Dns
        }),
        ""
    );
}

#[test]
fn qmtopen_uses_the_ssl_context_and_uploaded_files() {
    let mut h = Host::quiet();
    let ca = b"-----BEGIN CERTIFICATE-----\r\nCA\r\n-----END CERTIFICATE-----\r\n";
    let key = b"-----BEGIN PRIVATE KEY-----\nK\n";
    assert_eq!(
        h.send(&format!("AT+QFUPL=\"UFS:cacert.pem\",{},100\r", ca.len())),
        lines(&["CONNECT"])
    );
    let ans = h.send_bytes(ca);
    assert_eq!(
        ans,
        lines(&[
            &format!("+QFUPL: {},{:04x}", ca.len(), qfupl_checksum(ca)),
            "OK"
        ])
    );
    h.send(&format!("AT+QFUPL=\"UFS:user_key.pem\",{}\r", key.len()));
    h.send_bytes(key);
    for cmd in [
        "AT+QSSLCFG=\"cacert\",2,\"UFS:cacert.pem\"",
        "AT+QSSLCFG=\"clientcert\",2,\"UFS:missing.pem\"",
        "AT+QSSLCFG=\"clientkey\",2,\"UFS:user_key.pem\"",
        "AT+QSSLCFG=\"seclevel\",2,2",
        "AT+QSSLCFG=\"sslversion\",2,3",
        "AT+QSSLCFG=\"ignorelocaltime\",2,1",
        "AT+QMTCFG=\"SSL\",0,1,2",
    ] {
        assert_eq!(h.send(&format!("{cmd}\r")), lines(&["OK"]), "{cmd}");
    }
    assert_eq!(
        h.send("AT+QMTOPEN=0,\"aws.example\",8883\r"),
        lines(&["OK"])
    );
    assert_eq!(
        h.net(),
        vec![NetAction::Connect {
            client_idx: c(0),
            host: "aws.example".into(),
            port: 8883,
            tls: Some(TlsConfig {
                ctx: 2,
                ca_cert: Some(ca.to_vec()),
                client_cert: None,
                client_key: Some(key.to_vec()),
                seclevel: 2,
                sslversion: 3,
                ignore_local_time: true,
            }),
        }]
    );
    // The key never shows in Debug output of the action.
    let shown = format!("{:?}", h.m);
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[test]
fn qmtclose_and_qmtdisc_close_the_connection() {
    let mut h = Host::quiet();
    h.open(0);
    assert_eq!(h.send("AT+QMTCLOSE=0\r"), lines(&["OK", "+QMTCLOSE: 0,0"]));
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(0) }]);
    assert_eq!(h.send("AT+QMTOPEN?\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QMTCLOSE=0\r"), lines(&["ERROR"]));

    h.open(3);
    assert_eq!(h.send("AT+QMTDISC=3\r"), lines(&["OK", "+QMTDISC: 3,0"]));
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(3) }]);
    assert_eq!(h.send("AT+QMTDISC=3\r"), lines(&["ERROR"]));

    // Closing while opening cancels; a late Connected is answered with Close.
    assert_eq!(h.send("AT+QMTOPEN=4,\"slow\",1883\r"), lines(&["OK"]));
    h.net();
    assert_eq!(h.send("AT+QMTCLOSE=4\r"), lines(&["OK", "+QMTCLOSE: 4,0"]));
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(4) }]);
    assert_eq!(h.event(NetEvent::Connected { client_idx: c(4) }), "");
    assert_eq!(h.net(), vec![NetAction::Close { client_idx: c(4) }]);
}

#[test]
fn broker_close_reports_qmtstat_1() {
    let mut h = Host::quiet();
    h.open(2);
    assert_eq!(
        h.event(NetEvent::Closed { client_idx: c(2) }),
        lines(&["+QMTSTAT: 2,1"])
    );
    assert_eq!(h.send("AT+QMTOPEN?\r"), lines(&["OK"]));
    // Closed while opening: a network error.
    assert_eq!(h.send("AT+QMTOPEN=2,\"b\",1\r"), lines(&["OK"]));
    assert_eq!(
        h.event(NetEvent::Closed { client_idx: c(2) }),
        lines(&["+QMTOPEN: 2,5"])
    );
    // Nothing for a client that is not open.
    assert_eq!(h.event(NetEvent::Closed { client_idx: c(2) }), "");
}

#[test]
fn qmtconn_needs_an_open_client_and_starts_a_session() {
    let mut h = Host::quiet();
    assert_eq!(h.send("AT+QMTCONN=0,\"id\"\r"), lines(&["ERROR"]));
    h.open(0);
    assert_eq!(
        h.send("AT+QMTCONN=0,\"id\",\"user\",\"pw\"\r"),
        lines(&["OK"])
    );
    // CONNECT sent, no CONNACK yet: state 2; a second CONN is refused.
    assert_eq!(h.send("AT+QMTCONN?\r"), lines(&["+QMTCONN: 0,2", "OK"]));
    assert_eq!(h.send("AT+QMTCONN=0,\"id\"\r"), lines(&["ERROR"]));
}

// ---------------------------------------------------------------------------------------------
// AT+QFUPL / AT+QSSLCFG.

#[test]
fn qfupl_takes_exact_bytes_and_reports_the_checksum() {
    let mut h = Host::quiet();
    let data = b"line one\r\nline two\r\n\x00\xff odd";
    assert_eq!(
        h.send(&format!("AT+QFUPL=\"UFS:f.bin\",{},10\r", data.len())),
        lines(&["CONNECT"])
    );
    // In pieces; nothing until the last byte.
    assert_eq!(h.send_bytes(&data[..5]), "");
    assert_eq!(h.send_bytes(&data[5..data.len() - 1]), "");
    let sum = qfupl_checksum(data);
    assert_eq!(
        h.send_bytes(&data[data.len() - 1..]),
        lines(&[&format!("+QFUPL: {},{sum:04x}", data.len()), "OK"])
    );
    // The byte after the data is a command again.
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
    // Known vector: 0x1234 ^ 0x5678 = 0x444c.
    h.send("AT+QFUPL=\"UFS:v\",4\r");
    assert_eq!(
        h.send_bytes(&[0x12, 0x34, 0x56, 0x78]),
        lines(&["+QFUPL: 4,444c", "OK"])
    );
    // Without a size: a file error (before the name is looked at).
    assert_eq!(h.send("AT+QFUPL=\"UFS:v\"\r"), lines(&["+CME ERROR: 400"]));
    assert_eq!(
        h.send("AT+QFUPL=\"UFS:new\"\r"),
        lines(&["+CME ERROR: 400"])
    );
}

#[test]
fn qfupl_times_out() {
    let mut h = Host::quiet();
    assert_eq!(h.send("AT+QFUPL=\"UFS:a\",10\r"), lines(&["CONNECT"]));
    h.send("abc");
    // Default timeout 5 s.
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.m.handle_timeout(h.now + Duration::from_secs(5));
    assert_eq!(h.read(), lines(&["+CME ERROR: 421"]));
    assert_eq!(h.send("AT+CMEE=2\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QFUPL=\"UFS:a\",10,1\r"), lines(&["CONNECT"]));
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.m.handle_timeout(h.now + Duration::from_secs(2));
    assert_eq!(h.read(), lines(&["+CME ERROR: time out"]));
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
}

#[test]
fn qsslcfg_defaults_set_and_query() {
    let mut h = Host::quiet();
    let defaults = [
        ("seclevel", "0"),
        ("sslversion", "4"),
        ("ciphersuite", "0xFFFF"),
        ("ignorelocaltime", "0"),
    ];
    for (name, v) in defaults {
        assert_eq!(
            h.send(&format!("AT+QSSLCFG=\"{name}\",5\r")),
            lines(&[&format!("+QSSLCFG: \"{name}\",5,{v}"), "OK"])
        );
    }
    assert_eq!(h.send("AT+QSSLCFG=\"cacert\",5\r"), lines(&["OK"]));
    let sets = [
        ("cacert", "\"UFS:ca.pem\""),
        ("clientcert", "\"UFS:c.pem\""),
        ("clientkey", "\"UFS:k.pem\""),
        ("seclevel", "1"),
        ("sslversion", "2"),
        ("ciphersuite", "0x0035"),
        ("ignorelocaltime", "1"),
    ];
    for (name, v) in sets {
        assert_eq!(
            h.send(&format!("AT+QSSLCFG=\"{name}\",1,{v}\r")),
            lines(&["OK"])
        );
        assert_eq!(
            h.send(&format!("AT+QSSLCFG=\"{name}\",1\r")),
            lines(&[&format!("+QSSLCFG: \"{name}\",1,{v}"), "OK"])
        );
    }
    // Context 5 kept its defaults; bad values are refused.
    assert_eq!(
        h.send("AT+QSSLCFG=\"seclevel\",5\r"),
        lines(&["+QSSLCFG: \"seclevel\",5,0", "OK"])
    );
    assert_eq!(h.send("AT+QSSLCFG=\"seclevel\",1,3\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QSSLCFG=\"seclevel\",6\r"), lines(&["ERROR"]));
}

// ---------------------------------------------------------------------------------------------
// Receive slots (with placeholder messages from the fault).

#[test]
fn receive_slots_status_and_read() {
    let mut h = Host::quiet();
    assert_eq!(h.send("AT+QMTRECV?\r"), lines(&["OK"]));
    h.m.inject(Fault::FillRecvSlots(c(1)), h.now);
    assert_eq!(
        h.read(),
        lines(&[
            "+QMTRECV: 1,0",
            "+QMTRECV: 1,1",
            "+QMTRECV: 1,2",
            "+QMTRECV: 1,3",
            "+QMTRECV: 1,4"
        ])
    );
    assert_eq!(
        h.send("AT+QMTRECV?\r"),
        lines(&["+QMTRECV: 1,1,1,1,1,1", "OK"])
    );
    assert_eq!(
        h.send("AT+QMTRECV=1,2\r"),
        lines(&[
            "+QMTRECV: 1,0,\"qmt-sim/placeholder\",\"placeholder 2\"",
            "OK"
        ])
    );
    assert_eq!(h.send("AT+QMTRECV=1,2\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QMTRECV?\r"),
        lines(&["+QMTRECV: 1,1,1,0,1,1", "OK"])
    );
    // Length and hex forms follow the client's settings at read time.
    h.send("AT+QMTCFG=\"recv/mode\",1,1,1\r");
    assert_eq!(
        h.send("AT+QMTRECV=1,0\r"),
        lines(&[
            "+QMTRECV: 1,0,\"qmt-sim/placeholder\",13,\"placeholder 0\"",
            "OK"
        ])
    );
    h.send("AT+QMTCFG=\"dataformat\",1,0,1\r");
    assert_eq!(
        h.send("AT+QMTRECV=1,1\r"),
        lines(&[
            "+QMTRECV: 1,0,\"qmt-sim/placeholder\",26,\"706C616365686F6C6465722031\"",
            "OK"
        ])
    );
    h.send("AT+QMTCFG=\"dataformat\",1,0,0\r");
    h.send("AT+QMTCFG=\"view/mode\",1,1\r");
    // The rest at once; view/mode 1: the payload on its own line.
    assert_eq!(
        h.send("AT+QMTRECV=1\r"),
        lines(&[
            "+QMTRECV: 1,0,\"qmt-sim/placeholder\",13\r\nplaceholder 3",
            "+QMTRECV: 1,0,\"qmt-sim/placeholder\",13\r\nplaceholder 4",
            "OK"
        ])
    );
    assert_eq!(h.send("AT+QMTRECV?\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QMTRECV=1,5\r"), lines(&["ERROR"]));
}

// ---------------------------------------------------------------------------------------------
// Chunking invariance and faults.

#[test]
fn byte_at_a_time_gives_identical_output() {
    let script: &[u8] = b"AT\r\nATE1\rAT+QMTCFG=\"version\",0,3\rAT+QMTCFG=\"version\",0\r\
        AT+QMTCFG=\"willex\",1,1,1,0,\"t\",4\rab\r\nAT+QMTCFG=\"willex\",1\r\
        AT+QFUPL=\"UFS:x\",3\r\r\n\rAT+QSSLCFG=\"cacert\",0,\"UFS:x\"\rnoise\nAT+QMTOPEN=?\r\
        AT+QMTOPEN=0,\"h\",1883\rAT+QMTCONN?\rAT+CMEE=2\rAT+QMTSUB=0,1,\"t\",1\r";
    let now = Instant::now();
    let whole = {
        let mut m = Module::new(now);
        m.feed(script, now);
        let mut out = Vec::new();
        while let Some(o) = m.poll_output() {
            out.extend(o);
        }
        let net: Vec<_> = std::iter::from_fn(|| m.poll_net()).collect();
        (out, net)
    };
    for chunk in [1, 2, 3, 7, 64] {
        let mut m = Module::new(now);
        let mut out = Vec::new();
        for piece in script.chunks(chunk) {
            m.feed(piece, now);
            while let Some(o) = m.poll_output() {
                out.extend(o);
            }
        }
        let net: Vec<_> = std::iter::from_fn(|| m.poll_net()).collect();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole.0),
            "chunk {chunk}"
        );
        assert_eq!(net, whole.1);
    }
    // And the whole run did what the script says.
    let text = String::from_utf8(whole.0).unwrap();
    assert!(text.contains("\r\n+QMTCFG: \"version\",3\r\n"));
    assert!(text.contains("\r\n+QMTCFG: \"willex\",1,1,0,\"t\",4\r\n"));
    assert!(text.contains(&format!(
        "\r\n+QFUPL: 3,{:04x}\r\n",
        qfupl_checksum(b"\r\n\r")
    )));
    assert!(text.ends_with("\r\n+CME ERROR: operation not allowed\r\n"));
    assert_eq!(whole.1.len(), 1);
}

#[test]
fn power_cycle_resets_everything_and_says_rdy() {
    let mut h = Host::quiet();
    h.send("AT+QMTCFG=\"keepalive\",0,30\r");
    h.send("AT+QSSLCFG=\"seclevel\",0,2\r");
    h.send("AT+CMEE=2\r");
    h.send("AT+QFUPL=\"UFS:ca\",2\r");
    h.send("ca");
    h.open(0);
    h.open(5);
    h.send("AT+QMTOPEN=3,\"pending\",1\r");
    h.net();
    h.m.inject(Fault::FillRecvSlots(c(2)), h.now);
    h.read();
    // A half-typed command is lost with the power.
    h.send("AT+QMTCFG=\"keep");
    h.m.inject(Fault::PowerCycle, h.now);
    assert_eq!(h.read(), "\r\nRDY\r\n");
    let mut closed = h.net();
    closed.sort_by_key(|a| match a {
        NetAction::Close { client_idx } => client_idx.get(),
        _ => 99,
    });
    assert_eq!(
        closed,
        vec![
            NetAction::Close { client_idx: c(0) },
            NetAction::Close { client_idx: c(3) },
            NetAction::Close { client_idx: c(5) },
        ]
    );
    // Echo is back on, CMEE is 0, configuration, SSL contexts and slots are gone; files are in
    // flash and stay (module/files.rs).
    // (The lone CR is an empty line: ignored, not echoed; the half-typed line is gone.)
    assert_eq!(h.send("\rAT\r"), "AT\r\r\nOK\r\n");
    h.send("ATE0\r");
    assert_eq!(
        h.send("AT+QMTCFG=\"keepalive\",0\r"),
        lines(&["+QMTCFG: \"keepalive\",120", "OK"])
    );
    assert_eq!(
        h.send("AT+QSSLCFG=\"seclevel\",0\r"),
        lines(&["+QSSLCFG: \"seclevel\",0,0", "OK"])
    );
    assert_eq!(h.send("AT+QMTCONN=0,\"x\"\r"), lines(&["ERROR"]));
    assert_eq!(h.send("AT+QMTRECV?\r"), lines(&["OK"]));
    h.send("AT+QMTCFG=\"ssl\",0,1,0\r");
    h.send("AT+QSSLCFG=\"cacert\",0,\"UFS:ca\"\r");
    h.send("AT+QMTOPEN=0,\"h\",1\r");
    match h.net().as_slice() {
        [NetAction::Connect { tls: Some(t), .. }] => {
            assert_eq!(t.ca_cert.as_deref(), Some(&b"ca"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_and_stray_urcs_go_out_between_frames() {
    let mut h = Host::quiet();
    h.m.inject(Fault::Garbage(b"\x00\xffjunk".to_vec()), h.now);
    h.m.inject(Fault::StrayUrc("+QMTSTAT: 0,1".into()), h.now);
    h.m.inject(Fault::BrokerClose(None), h.now);
    let mut out = Vec::new();
    while let Some(o) = h.m.poll_output() {
        out.extend(o);
    }
    assert_eq!(out, b"\x00\xffjunk\r\n+QMTSTAT: 0,1\r\n");
    assert!(h.net().is_empty());
    assert_eq!(h.send("AT\r"), lines(&["OK"]));
}

#[test]
fn random_host_bytes_never_panic_or_wedge() {
    // Deterministic xorshift; fragments of real commands mixed with noise.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: [&[u8]; 12] = [
        b"AT+QMTPUBEX=0,0,0,0,\"t\",5\r",
        b"AT+QMTCFG=\"willex\",0,1,0,0,\"w\",3\r",
        b"AT+QFUPL=\"UFS:f\",4,1\r",
        b"AT+QMTCFG=\"edit/timeout\",0,1,1\r",
        b"AT+QMTOPEN=0,\"h\",1\r",
        b"AT+QMTRECV=0\r",
        b"AT+CMEE=2\r",
        b"\r\n",
        b"\"",
        b"AT+QSSLCFG=\"ciphersuite\",0,0x",
        b"ATE1\r",
        b"\x00\xff\x1a",
    ];
    let now = Instant::now();
    let mut m = Module::new(now);
    let mut t = now;
    for _ in 0..20_000 {
        let r = next();
        if r % 5 == 0 {
            let len = usize::try_from(r >> 8).unwrap() % 16;
            let bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
            m.feed(&bytes, t);
        } else {
            m.feed(pieces[usize::try_from(r >> 8).unwrap() % pieces.len()], t);
        }
        if r % 7 == 0 {
            t += Duration::from_millis(700);
            m.handle_timeout(t);
        }
        if r % 11 == 0 {
            m.handle_net(NetEvent::Connected { client_idx: c(0) }, t);
        }
        while m.poll_output().is_some() {}
        while m.poll_net().is_some() {}
    }
    // Whatever state it was left in, a data phase ends within its timeout and commands work.
    m.inject(Fault::PowerCycle, t);
    while m.poll_output().is_some() {}
    m.feed(b"ATE0\rAT\r", t);
    let mut out = Vec::new();
    while let Some(o) = m.poll_output() {
        out.extend(o);
    }
    assert_eq!(out, b"ATE0\r\r\nOK\r\n\r\nOK\r\n");
}
