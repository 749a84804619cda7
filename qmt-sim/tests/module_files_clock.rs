//! The module core's file system and clock (spec §10.8, §10.9), driven by scripted host bytes and
//! time: uploads stored with size and checksum, listings by pattern, deletion, error 407 on an
//! existing name, the `+QFUPL` answer left out, pre-existing files, `AT+CCLK?` from a set or
//! unset clock that advances with time, `AT+QNTP` success and failure, `AT+QLTS`.
#![allow(clippy::unwrap_used)]

mod host;

use std::time::Duration;

use host::{Host, lines};
use qmt_proto::checksum::qfupl_checksum;
use qmt_sim::fault::Fault;
use qmt_sim::{ClockSim, NetworkSim};

#[test]
fn uploads_are_listed_with_size_and_deleted() {
    let mut h = Host::booted(NetworkSim::default());
    let ca = b"-----BEGIN CERTIFICATE-----\nabc\n";
    let sum = qfupl_checksum(ca);
    assert_eq!(
        h.upload("UFS:ca.pem", ca),
        format!(
            "\r\nCONNECT\r\n\r\n+QFUPL: {},{sum:04x}\r\n\r\nOK\r\n",
            ca.len()
        )
    );
    assert!(h.upload("RAM:tmp.bin", b"xy").ends_with("OK\r\n"));
    let ufs = lines(&[&format!("+QFLST: \"UFS:ca.pem\",{}", ca.len()), "OK"]);
    assert_eq!(h.send("AT+QFLST=\"*\"\r"), ufs);
    assert_eq!(h.send("AT+QFLST=\"UFS:*\"\r"), ufs);
    assert_eq!(h.send("AT+QFLST\r"), ufs);
    assert_eq!(
        h.send("AT+QFLST=\"RAM:*\"\r"),
        lines(&["+QFLST: \"RAM:tmp.bin\",2", "OK"])
    );
    assert_eq!(h.send("AT+QFLST=\"UFS:ca.pem\"\r"), ufs);
    assert_eq!(h.send("AT+QFLST=\"UFS:other.pem\"\r"), lines(&["OK"]));
    // Upload to an existing name: 407 before CONNECT, in every AT+CMEE mode (spec §10.8).
    assert_eq!(h.upload("UFS:ca.pem", b"new"), lines(&["+CME ERROR: 407"]));
    assert_eq!(h.send("AT+QFDEL=\"UFS:ca.pem\"\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QFDEL=\"UFS:ca.pem\"\r"),
        lines(&["+CME ERROR: 405"])
    );
    assert_eq!(h.send("AT+QFLST=\"*\"\r"), lines(&["OK"]));
    assert!(h.upload("UFS:ca.pem", b"new").contains("+QFUPL: 3,"));
    // "*" deletes every UFS file and leaves RAM.
    assert!(h.upload("UFS:key.pem", b"k").contains("OK"));
    assert_eq!(h.send("AT+QFDEL=\"*\"\r"), lines(&["OK"]));
    assert_eq!(h.send("AT+QFLST=\"*\"\r"), lines(&["OK"]));
    assert_eq!(
        h.send("AT+QFLST=\"RAM:*\"\r"),
        lines(&["+QFLST: \"RAM:tmp.bin\",2", "OK"])
    );
}

#[test]
fn preexisting_files_survive_a_power_cycle() {
    let mut h = Host::booted(NetworkSim {
        files: vec![("cacert.pem".to_owned(), vec![b'x'; 1758])],
        ..NetworkSim::default()
    });
    let listing = lines(&["+QFLST: \"UFS:cacert.pem\",1758", "OK"]);
    assert_eq!(h.send("AT+QFLST=\"*\"\r"), listing);
    assert_eq!(
        h.upload("UFS:cacert.pem", b"x"),
        lines(&["+CME ERROR: 407"])
    );
    assert!(h.upload("UFS:new.pem", b"abc").contains("OK"));
    h.m.inject(Fault::PowerCycle, h.now);
    assert!(h.read().contains("RDY"));
    h.send("ATE0\r");
    assert_eq!(
        h.send("AT+QFLST=\"*\"\r"),
        lines(&[
            "+QFLST: \"UFS:cacert.pem\",1758",
            "+QFLST: \"UFS:new.pem\",3",
            "OK"
        ])
    );
}

#[test]
fn qfupl_answer_can_be_left_out_by_config_and_fault() {
    let mut h = Host::booted(NetworkSim {
        qfupl_answer: false,
        ..NetworkSim::default()
    });
    assert_eq!(h.upload("UFS:a.pem", b"abcd"), lines(&["CONNECT", "OK"]));
    // The file is stored all the same: a listing confirms it by size.
    assert_eq!(
        h.send("AT+QFLST=\"UFS:a.pem\"\r"),
        lines(&["+QFLST: \"UFS:a.pem\",4", "OK"])
    );
    h.m.inject(Fault::QfuplAnswer(true), h.now);
    assert_eq!(
        h.upload("UFS:b.pem", b"abcd"),
        lines(&[
            "CONNECT",
            &format!("+QFUPL: 4,{:04x}", qfupl_checksum(b"abcd")),
            "OK"
        ])
    );
    h.m.inject(Fault::QfuplAnswer(false), h.now);
    assert_eq!(h.upload("UFS:c.pem", b"abcd"), lines(&["CONNECT", "OK"]));
}

#[test]
fn clock_is_set_by_default_and_advances() {
    let mut h = Host::booted(NetworkSim {
        clock: ClockSim {
            zone_quarters: 32,
            ..ClockSim::default()
        },
        ..NetworkSim::default()
    });
    // 2025-01-01 00:00:00 UTC is 08:00 at +32 quarter hours.
    assert_eq!(
        h.send("AT+CCLK?\r"),
        lines(&["+CCLK: \"25/01/01,08:00:00+32\"", "OK"])
    );
    h.wait(Duration::from_secs(3661));
    assert_eq!(
        h.send("AT+CCLK?\r"),
        lines(&["+CCLK: \"25/01/01,09:01:01+32\"", "OK"])
    );
    assert_eq!(
        h.send("AT+QLTS\r"),
        lines(&["+QLTS: \"2025/01/01,09:01:01+32,0\"", "OK"])
    );
    assert_eq!(
        h.send("AT+QLTS=1\r"),
        lines(&["+QLTS: \"2025/01/01,01:01:01+00,0\"", "OK"])
    );
}

#[test]
fn unset_clock_is_set_by_ntp() {
    for (unset, shown) in [
        (ClockSim::UNSET_2000, "00/01/01,00:00:00+00"),
        (ClockSim::UNSET_1980, "80/01/06,00:00:00+00"),
    ] {
        let mut h = Host::booted(NetworkSim {
            clock: ClockSim::unset(unset),
            ..NetworkSim::default()
        });
        assert_eq!(
            h.send("AT+CCLK?\r"),
            lines(&[&format!("+CCLK: \"{shown}\""), "OK"])
        );
        assert_eq!(h.send("AT+QNTP=1,\"pool.ntp.org\"\r"), lines(&["OK"]));
        // A second request while one is pending is refused.
        assert_eq!(h.send("AT+QNTP=1,\"pool.ntp.org\"\r"), "\r\nERROR\r\n");
        assert_eq!(h.wait(Duration::from_millis(999)), "");
        assert_eq!(
            h.wait(Duration::from_millis(1)),
            lines(&["+QNTP: 0,\"2025/01/01,00:00:01+00\""])
        );
        assert_eq!(
            h.send("AT+CCLK?\r"),
            lines(&["+CCLK: \"25/01/01,00:00:01+00\"", "OK"])
        );
    }
}

#[test]
fn ntp_failures() {
    let mut h = Host::booted(NetworkSim {
        clock: ClockSim {
            ntp_error: Some(565),
            ..ClockSim::unset(ClockSim::UNSET_2000)
        },
        ..NetworkSim::default()
    });
    assert_eq!(h.send("AT+QNTP=1,\"pool.ntp.org\",123\r"), lines(&["OK"]));
    assert_eq!(h.wait(Duration::from_secs(2)), lines(&["+QNTP: 565"]));
    assert!(h.send("AT+CCLK?\r").contains("\"00/01/01,00:00:02+00\""));
    // Without an active context: 561 at once.
    let mut h = Host::booted(NetworkSim::cold());
    assert_eq!(
        h.send("AT+QNTP=1,\"pool.ntp.org\"\r"),
        lines(&["OK", "+QNTP: 561"])
    );
    assert!(
        !h.wait(Duration::from_secs(5)).contains("+QNTP"),
        "one result only"
    );
}
