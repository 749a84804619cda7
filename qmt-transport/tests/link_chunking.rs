//! Chunking invariance (ARCHITECTURE.md): a scripted session — commands, the module's output with
//! echo on or off and URCs interleaved — fed in any chunking gives exactly the events of the
//! script, the same as fed whole.

#![allow(clippy::unwrap_used)]

mod link_support;

use link_support::*;
use proptest::prelude::*;
use qmt_transport::link::{LinkEvent, LinkStats, Token};
use qmt_transport::time::Instant;

/// URCs that are information for none of the commands below.
const URCS: &[&str] = &[
    "+QMTSTAT: 0,1",
    "+QMTRECV: 0,0,\"t\",4,\"a\r\nb\"",
    "+QMTRECV: 1,2,\"x/y\",3,O\r\n",
    "+QMTPING: 0,1",
    "+QMTOPEN: 0,0",
    "+QMTCONN: 0,0,0",
    "\u{1}junk",
];

#[derive(Clone, Debug)]
struct Step {
    /// Index into the command table of `script`.
    command: usize,
    data: Vec<u8>,
    /// URCs after the echo, before the final code, after the final code.
    urcs: [Vec<usize>; 3],
    error: bool,
}

fn step() -> impl Strategy<Value = Step> {
    let urcs = || proptest::collection::vec(0..URCS.len(), 0..3);
    (
        0usize..5,
        proptest::collection::vec(
            prop_oneof![
                Just(b'a'),
                Just(b'O'),
                Just(b'K'),
                Just(b'\r'),
                Just(b'\n'),
                Just(b' '),
                Just(b'>')
            ],
            0..12,
        ),
        [urcs(), urcs(), urcs()],
        any::<bool>(),
    )
        .prop_map(|(command, data, urcs, error)| Step {
            command,
            data,
            urcs,
            error,
        })
}

/// The module's output for the whole session, the expected events, and the submissions.
#[allow(clippy::type_complexity)]
fn script(
    steps: &[Step],
    echo_on: bool,
) -> (Vec<u8>, Vec<LinkEvent>, Vec<(String, Option<Vec<u8>>)>) {
    let mut out = Vec::new();
    let mut expected = Vec::new();
    let mut submits = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let (text, info, result): (String, &[&str], Option<&str>) = match s.command {
            0 => ("AT".into(), &[], None),
            1 => (
                "AT+QMTCONN?".into(),
                &["+QMTCONN: 0,3", "+QMTCONN: 1,1"],
                None,
            ),
            2 => ("AT+QMTOPEN?".into(), &["+QMTOPEN: 0,\"h\",1883"], None),
            3 => (
                "AT+QMTCFG=\"version\",0".into(),
                &["+QMTCFG: \"version\",4"],
                None,
            ),
            _ => (
                format!("AT+QMTPUBEX=0,1,1,0,\"t\",{}", s.data.len()),
                &[],
                Some("+QMTPUBEX: 0,1,0"),
            ),
        };
        let publish = s.command == 4;
        submits.push((text.clone(), publish.then(|| s.data.clone())));
        if echo_on {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\r');
        }
        let urcs = |k: usize| s.urcs[k].iter().map(|&u| URCS[u]).collect::<Vec<_>>();
        out.extend(framed(&urcs(0)));
        expected.extend(urcs(0).into_iter().map(urc));
        let final_code = if s.error { "ERROR" } else { "OK" };
        let info = if s.error { &[][..] } else { info };
        if publish && !s.error {
            out.extend(framed(&["> "]));
            if echo_on {
                out.extend_from_slice(&s.data);
            }
        }
        out.extend(framed(info));
        out.extend(framed(&urcs(1)));
        expected.extend(urcs(1).into_iter().map(urc));
        out.extend(framed(&[final_code]));
        expected.push(done(Token(i as u64), info, final_code));
        if let (Some(r), false) = (result, s.error) {
            out.extend(framed(&[r]));
            expected.push(urc(r));
        }
        out.extend(framed(&urcs(2)));
        expected.extend(urcs(2).into_iter().map(urc));
    }
    (out, expected, submits)
}

fn run(
    submits: &[(String, Option<Vec<u8>>)],
    output: &[u8],
    cuts: &[usize],
) -> (Vec<LinkEvent>, LinkStats) {
    let t = Instant::ZERO;
    let mut link = link_with(Default::default(), 64, t);
    for (text, data) in submits {
        link.submit(cmd(text), data.clone(), t).unwrap();
    }
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.min(output.len()).max(at);
        link.feed(&output[at..cut], t);
        let _ = transmits(&mut link);
        at = cut;
    }
    link.feed(&output[at..], t);
    (events(&mut link), link.stats())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunking_gives_the_scripted_events(
        steps in proptest::collection::vec(step(), 1..8),
        echo_on in any::<bool>(),
        mut cuts in proptest::collection::vec(0usize..2000, 0..40),
    ) {
        let (output, expected, submits) = script(&steps, echo_on);
        cuts.sort_unstable();
        let (whole, whole_stats) = run(&submits, &output, &[]);
        prop_assert_eq!(&whole, &expected);
        let (chunked, chunked_stats) = run(&submits, &output, &cuts);
        prop_assert_eq!(&chunked, &expected);
        prop_assert_eq!(whole_stats, chunked_stats);
        let bytewise: Vec<usize> = (0..output.len()).collect();
        let (single, _) = run(&submits, &output, &bytewise);
        prop_assert_eq!(&single, &expected);
        if !echo_on {
            prop_assert_eq!(whole_stats.echoes, 0);
        }
    }

    /// Garbage never panics and never stops a following command from completing.
    #[test]
    fn garbage_never_panics(
        noise in proptest::collection::vec(any::<u8>(), 0..600),
        mut cuts in proptest::collection::vec(0usize..700, 0..10),
    ) {
        cuts.sort_unstable();
        let t = Instant::ZERO;
        let mut link = link(t);
        link.submit(cmd("AT+QMTPUBEX=0,1,1,0,\"t\",3"), Some(b"abc".to_vec()), t).unwrap();
        link.submit(cmd("AT+QFUPL=\"UFS:f\",2"), Some(b"xy".to_vec()), t).unwrap();
        let mut at = 0;
        for &cut in &cuts {
            let cut = cut.min(noise.len()).max(at);
            link.feed(&noise[at..cut], t);
            at = cut;
            let _ = transmits(&mut link);
        }
        link.feed(&noise[at..], t);
        link.handle_timeout(t + std::time::Duration::from_secs(3600));
        let _ = events(&mut link);
        // After a restart, whatever state the noise left, the queue drains again.
        link.feed(b"\r\n\r\nRDY\r\n", t);
        let token = link.submit(cmd("AT"), None, t).unwrap();
        for _ in 0..12 {
            link.feed(b"\r\nOK\r\n", t);
        }
        let evs = events(&mut link);
        prop_assert!(evs.iter().any(|e| matches!(e, LinkEvent::Completed { token: tk, .. } if *tk == token)), "{:?}", evs);
    }
}
