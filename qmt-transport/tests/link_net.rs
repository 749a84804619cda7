//! Spec §10 at the link level: bare information lines are classified by the command in flight
//! only, and a registration URC and the query answer of the same prefix are told apart by shape.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::net::{PinState, RegDomain, RegStat, RegUrcMode};
use qmt_proto::{Info, ModuleLine, Urc};
use qmt_transport::link::LinkEvent;
use qmt_transport::time::Instant;

const IMEI: &str = "861234567890123";

#[test]
fn bare_imei_is_information_only_while_gsn_is_in_flight() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+GSN"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+GSN\r");
    link.feed(&framed(&[IMEI, "OK"]), t);
    assert_eq!(events(&mut link), [done(token, &[IMEI], "OK")]);
    assert_eq!(
        Info::parse_for(CommandKind::Gsn, Form::Execute, IMEI.as_bytes()),
        Some(Info::Bare(IMEI.as_bytes()))
    );
    assert_eq!(link.stats().unknown, 0);

    // The same digits with no command in flight mean nothing: an Unknown URC, counted.
    link.feed(&framed(&[IMEI]), t);
    assert_eq!(events(&mut link), [urc(IMEI)]);
    assert_eq!(
        ModuleLine::parse(IMEI.as_bytes()),
        ModuleLine::Unknown(IMEI.as_bytes())
    );
    assert_eq!(link.stats().unknown, 1);

    // And while another command is in flight, they are not its information either.
    let token = link.submit(cmd("AT+CSQ"), None, t).unwrap();
    link.feed(&framed(&[IMEI, "+CSQ: 20,99", "OK"]), t);
    assert_eq!(
        events(&mut link),
        [urc(IMEI), done(token, &["+CSQ: 20,99"], "OK")]
    );
}

#[test]
fn ati_lines_are_information_and_boot_urcs_between_them_are_not() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("ATI"), None, t).unwrap();
    link.feed(
        &framed(&[
            "Quectel",
            "+QIND: PB DONE",
            "EC200U",
            "Revision: EC200UCNAAR02A01M08",
            "OK",
        ]),
        t,
    );
    assert_eq!(
        events(&mut link),
        [
            urc("+QIND: PB DONE"),
            done(
                token,
                &["Quectel", "EC200U", "Revision: EC200UCNAAR02A01M08"],
                "OK"
            )
        ]
    );
    assert_eq!(link.stats().unknown, 0);
}

#[test]
fn reg_urc_and_query_answer_in_one_feed_are_told_apart() {
    for domain in RegDomain::ALL {
        let p = domain.prefix();
        let urc_line = format!("{p}: 1,\"1A2B\",\"01C3D04\",7");
        let answer = format!("{p}: 2,1,\"1A2B\",\"01C3D04\",7");
        let t = Instant::ZERO;
        let mut link = link(t);
        let read = format!("{}?", domain.kind().at_name());
        let token = link.submit(cmd(&read), None, t).unwrap();
        assert_eq!(written(&mut link), format!("{read}\r"));
        // The URC before and after the answer, all in one feed.
        link.feed(&framed(&[&urc_line, &answer, &urc_line, "OK"]), t);
        let evs = events(&mut link);
        assert_eq!(
            evs,
            [
                urc(&urc_line),
                urc(&urc_line),
                done(token, &[answer.as_str()], "OK")
            ],
            "{p}"
        );
        let LinkEvent::Completed { result: Ok(r), .. } = &evs[2] else {
            panic!("{evs:?}")
        };
        assert!(matches!(
            Info::parse_for(domain.kind(), Form::Read, r.info[0].bytes()),
            Some(Info::Reg {
                mode: RegUrcMode::Location,
                stat: RegStat::Home,
                ..
            })
        ));
        let LinkEvent::Urc(u) = &evs[0] else {
            panic!("{evs:?}")
        };
        assert!(matches!(
            ModuleLine::parse(u.bytes()),
            ModuleLine::Urc(Urc::Reg {
                stat: RegStat::Home,
                ..
            })
        ));
        assert_eq!(link.stats().unknown, 0, "{p}");
    }
}

#[test]
fn another_domains_answer_is_not_this_querys() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+CEREG?"), None, t).unwrap();
    link.feed(&framed(&["+CGREG: 0,1", "+CEREG: 0,1", "OK"]), t);
    assert_eq!(
        events(&mut link),
        [urc("+CGREG: 0,1"), done(token, &["+CEREG: 0,1"], "OK")]
    );
    // The stray query-shaped line is Unknown context-free, and counted.
    assert_eq!(link.stats().unknown, 1);
}

#[test]
fn cpin_answer_vs_cpin_urc() {
    let t = Instant::ZERO;
    let mut link = link(t);
    let token = link.submit(cmd("AT+CPIN?"), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+CPIN?\r");
    link.feed(&framed(&["+CPIN: SIM PIN", "OK"]), t);
    assert_eq!(events(&mut link), [done(token, &["+CPIN: SIM PIN"], "OK")]);
    // Entering the PIN answers OK; the URC that follows is a URC, and the PIN never shows.
    let token = link.submit(cmd("AT+CPIN=\"4711\""), None, t).unwrap();
    assert_eq!(written(&mut link), "AT+CPIN=\"4711\"\r");
    link.feed(&framed(&["OK", "+CPIN: READY"]), t);
    let evs = events(&mut link);
    assert_eq!(evs, [done(token, &[], "OK"), urc("+CPIN: READY")]);
    assert!(!format!("{evs:?} {link:?}").contains("4711"));
    assert_eq!(
        ModuleLine::parse(b"+CPIN: READY"),
        ModuleLine::Urc(Urc::Pin(PinState::Ready))
    );
}
