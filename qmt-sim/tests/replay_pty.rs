//! `Sim` in replay mode on a real pty: the quirks of spec §6 "Variations" are only bytes in the
//! script and reach the host exactly, a late result stays late, uncovered commands are reported
//! through the handle, and no broker is started.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use qmt_sim::replay::{ReplayConfig, Script, Speed};
use qmt_sim::{BrokerChoice, Fault, Sim, SimConfig};
use support::AtPort;

const T: Duration = Duration::from_secs(10);

#[test]
fn spec_6_variations_reach_the_host_byte_for_byte_and_late() {
    let ok = b"\r\nOK\r\n\r\n".as_slice(); // variation 7: a blank line after the final code
    let late = b"\r\n+QMTSUB: 0,1,0,1\r\n".as_slice();
    // Variation 2: the split form, its raw payload on the next line.
    let split =
        b"\r\n+QMTRECV: 0,0,\"pump/01/cmd\",23\r\n{\"relay1\":1,\"relay2\":0}\r\n".as_slice();
    // Variation 1: unescaped quotes inside a quoted payload, no length.
    let quotes = b"\r\n+QMTRECV: 0,1,\"pump/01/cmd\",\"{\"method\":\"set\",\"params\":true}\"\r\n"
        .as_slice();
    // Variations 4 and 8: a BG95-style result prefix and a code outside the table.
    let odd = b"\r\n+QMTPUB: 0,0,0\r\n\r\n+QMTOPEN: 0,-1\r\n".as_slice();
    let mut s = Script::new();
    s.push_command(br#"AT+QMTSUB=0,1,"pump/01/cmd",1"#, Some(10_000))
        .unwrap();
    s.push_module(ok, Some(10_005));
    s.push_module(late, Some(10_305)); // a late result: 300 ms after the OK
    s.push_module(split, Some(10_310));
    s.push_module(quotes, Some(10_320));
    s.push_module(odd, Some(10_330));
    let sim = Sim::start(SimConfig {
        replay: Some(s.into()),
        ..SimConfig::default()
    })
    .unwrap();
    assert!(!sim.broker_is_embedded());
    assert_eq!(sim.broker_addr().port(), 0, "no broker in replay mode");

    let mut port = AtPort::open(sim.pty_path());
    let sent = Instant::now();
    port.send(r#"at+qmtsub=0,1,"other/topic",1"#); // lower case, another topic
    let want: Vec<u8> = [ok, late, split, quotes, odd].concat();
    let got = port.read_exact_timed(want.len(), T);
    let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&want)
    );
    // The read that brought the first byte of the late result came at least 300 ms after the
    // command (its scheduled time is 305 ms after the command reached the sim).
    let mut seen = 0;
    let late_at = got
        .iter()
        .find(|(_, b)| {
            seen += b.len();
            seen > ok.len()
        })
        .map(|(t, _)| *t)
        .unwrap();
    assert!(
        late_at.duration_since(sent) >= Duration::from_millis(300),
        "the late result came {:?} after the command",
        late_at.duration_since(sent)
    );
    assert_eq!(sim.replay_stats().unwrap().played, 1);
}

#[test]
fn uncovered_commands_are_reported_through_the_handle_and_faults_are_ignored() {
    let mut s = Script::new();
    s.push_command(b"AT+CSQ", None).unwrap();
    s.push_module(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n", None);
    let sim = Sim::start(SimConfig {
        replay: Some(ReplayConfig {
            script: s,
            speed: Speed::new(4.0).unwrap(),
        }),
        ..SimConfig::default()
    })
    .unwrap();
    let mut port = AtPort::open(sim.pty_path());
    port.send(r#"AT+QMTCONN=0,"dev","user","hunter2""#);
    assert_eq!(port.read_until_final(T), ["ERROR"]);
    // Faults that need a network or a module model are ignored; the replay goes on.
    sim.inject(Fault::BrokerClose(None)).unwrap();
    sim.inject(Fault::PowerCycle).unwrap();
    port.send("AT+CSQ");
    assert_eq!(port.read_until_final(T), ["+CSQ: 20,99", "OK"]);
    port.send("AT+CSQ");
    assert_eq!(port.read_until_final(T), ["+CSQ: 20,99", "OK"]);
    let stats = sim.replay_stats().unwrap();
    assert_eq!((stats.played, stats.repeated), (1, 1));
    assert_eq!(stats.uncovered.len(), 1, "{stats:?}");
    assert!(stats.uncovered[0].starts_with("AT+QMTCONN"), "{stats:?}");
    assert!(!stats.uncovered[0].contains("hunter2"), "{stats:?}");

    // A simulated module has no replay stats.
    let plain = Sim::start_with(
        SimConfig {
            broker: BrokerChoice::External(([127, 0, 0, 1], 1).into()),
            ..SimConfig::default()
        },
        |_| support::cores::EchoCore::default(),
    )
    .unwrap();
    assert_eq!(plain.replay_stats(), None);
}
