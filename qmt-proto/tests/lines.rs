//! Module lines: round trips under proptest for every variant, the spec §6 variations, the
//! command-aware classifier, `+QMTSTAT` actions, `Unknown` fallbacks and the `RecvHook` table.
#![allow(clippy::unwrap_used, missing_docs)]

use at_codec::{Counted, PayloadHook};
use proptest::prelude::*;
use qmt_proto::codes::*;
use qmt_proto::kind::{CommandKind as K, Form};
use qmt_proto::line::TestLine;
use qmt_proto::net::{
    ApnAuth, ContextType, Functionality, PinState, PowerDownKind, RegDomain, RegLocation, RegStat,
    RegUrcMode, Signal,
};
use qmt_proto::params::{ClientIdx, ContextId, MsgId, Port, RecvId};
use qmt_proto::recv::{HexError, LenMode, PayloadForm, decode_hex, decode_hex_into};
use qmt_proto::urc::{ConnValue, PubPrefix, Values};
use qmt_proto::{FinalCode, Info, ModuleLine, ModuleTime, NtpResult, Recv, RecvHook, Urc};

fn c(n: i64) -> ClientIdx {
    ClientIdx::new(n).unwrap()
}
fn m(n: i64) -> MsgId {
    MsgId::new(n).unwrap()
}
fn enc(l: &ModuleLine<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    l.encode(&mut v);
    v
}
fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
fn leak_bytes(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}
fn recv_of(l: &[u8]) -> Recv<'_> {
    match ModuleLine::parse(l) {
        ModuleLine::Urc(Urc::Recv(r)) => r,
        other => panic!("not a message line: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn client() -> impl Strategy<Value = ClientIdx> {
    (0..=5i64).prop_map(c)
}
fn msgid() -> impl Strategy<Value = MsgId> {
    (0..=65535i64).prop_map(m)
}
/// A code number: mostly near the tables, sometimes any i64 (variation 8).
fn code() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -3..10i64, 1 => 100..300i64, 1 => any::<i64>()]
}
fn topic() -> impl Strategy<Value = &'static str> {
    "[^\"\r\n]{0,24}".prop_map(leak_str)
}
fn values() -> impl Strategy<Value = Values<'static>> {
    prop::collection::vec(prop_oneof![0..3i64, Just(128i64), any::<i64>()], 0..6).prop_map(|v| {
        let s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        Values::parse(leak_bytes(s.join(",").into_bytes())).unwrap()
    })
}
fn payload() -> impl Strategy<Value = &'static [u8]> {
    // Every byte value, CR LF and quotes included.
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        prop::collection::vec(prop::sample::select(b"\r\n\",> \0ab1".to_vec()), 0..20),
    ]
    .prop_map(leak_bytes)
}
fn form() -> impl Strategy<Value = PayloadForm> {
    prop_oneof![
        Just(PayloadForm::Unquoted),
        Just(PayloadForm::Quoted),
        Just(PayloadForm::Split)
    ]
}

/// A message in every form: lengthed (any bytes), split, unlengthed quoted/unquoted.
fn recv() -> impl Strategy<Value = Recv<'static>> {
    (client(), msgid(), topic(), payload(), form(), any::<bool>())
        .prop_map(|(client_idx, msgid, topic, payload, form, with_len)| {
            let with_len = with_len || form == PayloadForm::Split;
            Recv {
                client_idx,
                msgid,
                topic,
                payload_len: with_len.then_some(payload.len()),
                payload,
                form,
            }
        })
        // Drops the few unlengthed payloads the line cannot carry unambiguously (an unquoted
        // payload that starts and ends with `"`, or starts like a consistent length).
        .prop_filter("representable", |r| r.round_trips())
}

fn urc() -> impl Strategy<Value = Urc<'static>> {
    prop_oneof![
        (client(), code()).prop_map(|(client_idx, r)| Urc::Open {
            client_idx,
            result: OpenResult::from_code(r)
        }),
        (client(), code()).prop_map(|(client_idx, r)| Urc::Close {
            client_idx,
            result: CloseResult::from_code(r)
        }),
        (client(), code(), prop::option::of(code())).prop_map(|(client_idx, r, v)| {
            let result = PacketResult::from_code(r);
            Urc::Conn {
                client_idx,
                result,
                value: v.map(|v| ConnValue::interpret(result, v)),
            }
        }),
        (client(), code()).prop_map(|(client_idx, r)| Urc::Disc {
            client_idx,
            result: DiscResult::from_code(r)
        }),
        (client(), msgid(), code(), values(), any::<bool>()).prop_map(
            |(client_idx, msgid, r, values, sub)| {
                let result = PacketResult::from_code(r);
                if sub {
                    Urc::Sub {
                        client_idx,
                        msgid,
                        result,
                        values,
                    }
                } else {
                    Urc::Uns {
                        client_idx,
                        msgid,
                        result,
                        values,
                    }
                }
            }
        ),
        (
            client(),
            msgid(),
            code(),
            prop::option::of(code()),
            any::<bool>()
        )
            .prop_map(|(client_idx, msgid, r, value, ex)| Urc::PubEx {
                prefix: if ex { PubPrefix::PubEx } else { PubPrefix::Pub },
                client_idx,
                msgid,
                result: PacketResult::from_code(r),
                value,
            }),
        (client(), code()).prop_map(|(client_idx, e)| Urc::Stat {
            client_idx,
            err_code: StatCode::from_code(e)
        }),
        (client(), code()).prop_map(|(client_idx, r)| Urc::Ping {
            client_idx,
            result: PingResult::from_code(r)
        }),
        recv().prop_map(Urc::Recv),
        (client(), 0..=4i64).prop_map(|(client_idx, id)| Urc::RecvStored {
            client_idx,
            recv_id: RecvId::new(id).unwrap()
        }),
        Just(Urc::Rdy),
        net_urc(),
    ]
}

// §10 strategies.

fn cid() -> impl Strategy<Value = ContextId> {
    (1..=15i64).prop_map(|n| ContextId::new(n).unwrap())
}
fn domain() -> impl Strategy<Value = RegDomain> {
    prop::sample::select(RegDomain::ALL.to_vec())
}
fn pin_state() -> impl Strategy<Value = PinState<'static>> {
    prop_oneof![
        3 => prop::sample::select(PinState::NAMED.to_vec()),
        1 => "[A-Z][A-Z0-9 -]{0,10}[A-Z0-9]"
            .prop_map(|s| PinState::Other(leak_str(s)))
            .prop_filter("not a named code", |p| PinState::parse(p.as_str()) == Some(*p)),
    ]
}
fn location() -> impl Strategy<Value = Option<RegLocation<'static>>> {
    prop::option::of(
        (
            "[0-9A-F]{0,8}",
            "[0-9A-F]{0,8}",
            prop::option::of(any::<u8>()),
        )
            .prop_map(|(area, cell, act)| RegLocation {
                area: leak_str(area),
                cell: leak_str(cell),
                act,
            }),
    )
}
/// Printable text with no space at either end (the parser trims them).
fn words() -> impl Strategy<Value = &'static str> {
    "([!-~]([ -~]{0,20}[!-~])?)?".prop_map(leak_str)
}
/// Text a quoted string can carry.
fn qtext() -> impl Strategy<Value = &'static str> {
    "[^\"\r\n]{0,16}".prop_map(leak_str)
}

/// The URCs of spec §10.
fn net_urc() -> impl Strategy<Value = Urc<'static>> {
    prop_oneof![
        Just(Urc::AppRdy),
        pin_state().prop_map(Urc::Pin),
        any::<u8>().prop_map(|n| Urc::Cfun(Functionality::from_code(n))),
        any::<u8>().prop_map(Urc::Qusim),
        words().prop_map(Urc::Qind),
        (any::<bool>(), any::<bool>())
            .prop_map(|(enabled, inserted)| Urc::SimStat { enabled, inserted }),
        (domain(), any::<u8>(), location()).prop_map(|(domain, stat, location)| Urc::Reg {
            domain,
            stat: RegStat::from_code(stat),
            location
        }),
        cid().prop_map(|cid| Urc::PdpDeact { cid }),
        prop::sample::select(PowerDownKind::ALL.to_vec()).prop_map(Urc::PowerDown),
        (code(), prop::option::of(module_time())).prop_map(|(err, time)| Urc::Ntp {
            result: NtpResult::from_code(err),
            time
        }),
    ]
}

/// A valid module time in either year form (spec §10.9).
fn module_time() -> impl Strategy<Value = ModuleTime> {
    (
        (0u16..=9999, any::<bool>()),
        1u8..=12,
        1u8..=31,
        0u8..=23,
        0u8..=59,
        0u8..=59,
        -96i8..=96,
    )
        .prop_map(
            |((y, long_year), month, day, hour, minute, second, zone_quarters)| ModuleTime {
                year: match (long_year, y % 100) {
                    (true, _) => y,
                    (false, yy) if yy >= 80 => 1900 + yy,
                    (false, yy) => 2000 + yy,
                },
                month,
                day,
                hour,
                minute,
                second,
                zone_quarters,
                long_year,
            },
        )
}

/// The information lines of spec §10.8 and §10.9.
fn file_clock_info() -> impl Strategy<Value = Info<'static>> {
    prop_oneof![
        ("[^\"\r\n]{1,40}", any::<u64>()).prop_map(|(name, size)| Info::FileEntry {
            name: leak_str(name),
            size
        }),
        module_time().prop_map(Info::Clock),
        (module_time(), prop::option::of(0u8..=99))
            .prop_map(|(time, dst)| Info::NetworkTime { time, dst }),
    ]
}

fn ctype() -> impl Strategy<Value = ContextType> {
    (1..=3i64).prop_map(|n| ContextType::new(n).unwrap())
}

/// The information lines of spec §10 that are typed context-free.
fn net_info() -> impl Strategy<Value = Info<'static>> {
    prop_oneof![
        "[0-9A-F]{19,20}".prop_map(|s| Info::Iccid(leak_str(s))),
        (any::<u8>(), any::<u8>()).prop_map(|(rssi, ber)| Info::Signal(Signal { rssi, ber })),
        ("[A-Z-]{1,10}", values()).prop_map(|(m, values)| Info::Qcsq {
            sysmode: leak_str(m),
            values
        }),
        (qtext(), qtext(), qtext(), any::<u32>()).prop_map(|(act, oper, band, channel)| {
            Info::NwInfo {
                act,
                oper,
                band,
                channel,
            }
        }),
        Just(Info::NwInfoNoService),
        (
            any::<u8>(),
            prop::option::of((
                any::<u8>(),
                prop::option::of((qtext(), prop::option::of(any::<u8>())))
            ))
        )
            .prop_map(|(mode, rest)| {
                let (format, oper, act) = match rest {
                    None => (None, None, None),
                    Some((f, None)) => (Some(f), None, None),
                    Some((f, Some((o, a)))) => (Some(f), Some(o), a),
                };
                Info::Cops {
                    mode,
                    format,
                    oper,
                    act,
                }
            }),
        (ctype(), qtext(), qtext(), (0..=3i64)).prop_map(|(ctype, apn, user, auth)| {
            Info::Context {
                ctype,
                apn,
                user,
                auth: ApnAuth::new(auth).unwrap(),
            }
        }),
        (cid(), any::<bool>(), ctype(), prop::option::of(qtext())).prop_map(
            |(cid, active, ctype, ip)| Info::Act {
                cid,
                active,
                ctype,
                ip
            }
        ),
        any::<bool>().prop_map(Info::Attach),
        (cid(), qtext()).prop_map(|(cid, ip)| Info::Addr { cid, ip }),
    ]
}

/// The command kinds of spec §10.
const NET_KINDS: [K; 28] = [
    K::Ati,
    K::Cgmi,
    K::Cgmm,
    K::Cgmr,
    K::Gsn,
    K::Qccid,
    K::Cimi,
    K::Cpin,
    K::QsimStat,
    K::Csq,
    K::Qcsq,
    K::QnwInfo,
    K::Cops,
    K::Creg,
    K::Cgreg,
    K::Cereg,
    K::Qicsgp,
    K::Qiact,
    K::Qideact,
    K::Cgatt,
    K::Cgpaddr,
    K::Cfun,
    K::Qpowd,
    K::Qflst,
    K::Qfdel,
    K::Cclk,
    K::Qntp,
    K::Qlts,
];

const TEST_KINDS: [K; 8] = [
    K::QmtOpen,
    K::QmtClose,
    K::QmtConn,
    K::QmtDisc,
    K::QmtSub,
    K::QmtUns,
    K::QmtPubEx,
    K::QmtPub,
];

/// Context-free information lines (ConnRead and Message need the command: see below; the
/// `+QMTCFG`/`+QSSLCFG` types are still uninhabited stubs).
fn info() -> impl Strategy<Value = Info<'static>> {
    prop_oneof![
        (client(), "[^\"\r\n]{0,40}", 1..=65535i64).prop_map(|(client_idx, host, port)| {
            Info::OpenRead {
                client_idx,
                host: leak_str(host),
                port: Port::new(port).unwrap(),
            }
        }),
        (client(), prop::array::uniform5(code())).prop_map(|(client_idx, s)| Info::RecvStatus {
            client_idx,
            slots: s.map(StoreStatus::from_code)
        }),
        (any::<u64>(), any::<u16>()).prop_map(|(upload_size, checksum)| Info::QfUpl {
            upload_size,
            checksum
        }),
        (
            prop::sample::select(TEST_KINDS.to_vec()),
            "\\(([ -~]{0,30}[!-~])?"
        )
            .prop_map(|(command, params)| Info::Test(TestLine {
                command,
                params: leak_str(params)
            })),
        net_info(),
        file_clock_info(),
    ]
}

fn final_code() -> impl Strategy<Value = FinalCode<'static>> {
    prop_oneof![
        Just(FinalCode::Ok),
        Just(FinalCode::Error),
        any::<u32>().prop_map(FinalCode::CmeError),
        // Verbose text: starts with a non-digit, non-space character.
        "[A-Za-z\u{4e00}-\u{4e10}][^\r\n]{0,30}".prop_map(|t| FinalCode::CmeErrorText(leak_str(t))),
        any::<u32>().prop_map(FinalCode::CmsError),
    ]
}

/// Lines no parser claims: an unknown prefix, or a word that is not a result code.
fn unknown() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        "#[ -~]{0,30}",
        "\\+ZZ[A-Z]{0,6}: [ -~]{0,20}",
        "[a-z]{11,14}"
    ]
    .prop_map(|s| leak_bytes(s.into_bytes()))
}

fn module_line() -> impl Strategy<Value = ModuleLine<'static>> {
    prop_oneof![
        1 => final_code().prop_map(ModuleLine::Final),
        1 => info().prop_map(ModuleLine::Info),
        4 => urc().prop_map(ModuleLine::Urc),
        1 => Just(ModuleLine::Connect),
        1 => Just(ModuleLine::Prompt),
        1 => unknown().prop_map(ModuleLine::Unknown),
    ]
}

/// Simulates at-codec's use of the hook: the head is the bytes up to the first CR LF; an
/// `Inline(k)` line ends at the first CR LF at or after `k`. Returns the line body length.
fn framed_line_len(hook: &RecvHook, wire: &[u8]) -> Option<usize> {
    let first_crlf = wire.windows(2).position(|w| w == b"\r\n")?;
    match hook.counted(&wire[..first_crlf]) {
        Counted::None => Some(first_crlf),
        Counted::Inline(k) => wire
            .get(k..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| k + p),
        Counted::Following(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// parse(encode(x)) == x for every context-free variant.
    #[test]
    fn every_module_line_round_trips(line in module_line()) {
        let bytes = enc(&line);
        prop_assert_eq!(ModuleLine::parse(&bytes), line);
    }

    /// encode_framed = CR LF + line + CR LF (the prompt has no line end).
    #[test]
    fn framed_encoding(line in module_line()) {
        let mut framed = Vec::new();
        line.encode_framed(&mut framed);
        let bytes = enc(&line);
        prop_assert!(framed.starts_with(b"\r\n"));
        if line == ModuleLine::Prompt {
            prop_assert_eq!(framed, b"\r\n> ".to_vec());
        } else {
            prop_assert_eq!(&framed[2..framed.len() - 2], &bytes[..]);
            prop_assert!(framed.ends_with(b"\r\n"));
        }
    }

    /// The context-dependent information lines round-trip through the classifier.
    #[test]
    fn conn_read_round_trips(client_idx in client(), s in code()) {
        let i = Info::ConnRead { client_idx, state: ConnState::from_code(s) };
        let mut bytes = Vec::new();
        i.encode(&mut bytes);
        prop_assert_eq!(Info::parse_for(K::QmtConn, Form::Read, &bytes), Some(i));
        // Context-free, the same bytes are a connect result.
        let is_conn = matches!(ModuleLine::parse(&bytes), ModuleLine::Urc(Urc::Conn { value: None, .. }));
        prop_assert!(is_conn);
    }

    #[test]
    fn stored_message_round_trips(r in recv()) {
        let i = Info::Message(r);
        let mut bytes = Vec::new();
        i.encode(&mut bytes);
        prop_assert_eq!(Info::parse_for(K::QmtRecv, Form::Write, &bytes), Some(i));
        prop_assert_eq!(Info::parse_for(K::QmtRecv, Form::Read, &bytes), None);
    }

    /// Rule 1: a lengthed payload holding any bytes (CR LF included) is framed as one line by the
    /// hook and parses back exactly.
    #[test]
    fn lengthed_payload_frames_and_parses(client_idx in client(), msgid in msgid(), topic in topic(),
                                          payload in payload(), quoted in any::<bool>(),
                                          tail in prop::collection::vec(any::<u8>(), 0..20)) {
        let r = Recv {
            client_idx, msgid, topic, payload_len: Some(payload.len()), payload,
            form: if quoted { PayloadForm::Quoted } else { PayloadForm::Unquoted },
        };
        let mut wire = Vec::new();
        r.encode(&mut wire);
        let body_len = wire.len();
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&tail); // whatever follows must not matter
        prop_assert_eq!(framed_line_len(&RecvHook::auto(), &wire), Some(body_len));
        prop_assert_eq!(Recv::parse(&wire[..body_len]), Some(r));
    }

    /// Never panics, whatever the bytes, and `Unknown` keeps them all.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        if let ModuleLine::Unknown(b) = ModuleLine::parse(&bytes) {
            prop_assert_eq!(b, &bytes[..]);
        }
        let _ = RecvHook::all(LenMode::Split).counted(&bytes);
        let _ = RecvHook::auto().with_max_len(usize::MAX).counted(&bytes);
        for k in TEST_KINDS.iter().chain(&[K::QmtRecv, K::QfUpl, K::QmtCfg, K::QsslCfg, K::At]).chain(&NET_KINDS) {
            for f in [Form::Test, Form::Read, Form::Write, Form::Execute] {
                let _ = Info::parse_for(*k, f, &bytes);
            }
        }
    }

    /// Never panics on near-valid lines: a valid line with bytes changed, cut or inserted.
    #[test]
    fn mutated_lines_never_panic(line in module_line(), at in any::<prop::sample::Index>(),
                                 b in any::<u8>(), op in 0..3u8) {
        let mut bytes = enc(&line);
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            match op { 0 => bytes[i] = b, 1 => bytes.truncate(i), _ => bytes.insert(i, b) }
        }
        let _ = ModuleLine::parse(&bytes);
        let _ = RecvHook::all(LenMode::Split).counted(&bytes);
        let _ = Info::parse_for(K::QmtConn, Form::Read, &bytes);
        for k in NET_KINDS {
            for f in [Form::Read, Form::Write, Form::Execute] {
                let _ = Info::parse_for(k, f, &bytes);
            }
        }
    }

    /// Registration: the query answer round-trips through the classifier only, is no line
    /// context-free, and is never taken for the URC (nor the URC for it).
    #[test]
    fn reg_query_and_urc_are_told_apart(domain in domain(), n in any::<u8>(), stat in any::<u8>(),
                                         location in location()) {
        let stat = RegStat::from_code(stat);
        let info = Info::Reg { domain, mode: RegUrcMode::from_code(n), stat, location };
        let mut query = Vec::new();
        info.encode(&mut query);
        prop_assert_eq!(Info::parse_for(domain.kind(), Form::Read, &query), Some(info));
        prop_assert_eq!(ModuleLine::parse(&query), ModuleLine::Unknown(&query[..]));
        let urc = ModuleLine::Urc(Urc::Reg { domain, stat, location });
        let bytes = enc(&urc);
        prop_assert_eq!(ModuleLine::parse(&bytes), urc);
        prop_assert_eq!(Info::parse_for(domain.kind(), Form::Read, &bytes), None);
        // Another domain's query does not claim it.
        for other in RegDomain::ALL.into_iter().filter(|d| *d != domain) {
            prop_assert_eq!(Info::parse_for(other.kind(), Form::Read, &query), None);
        }
    }

    /// Answers whose prefix is shared with a URC round-trip through the classifier; context-free
    /// they are the URC.
    #[test]
    fn shared_prefix_answers_round_trip(p in pin_state(), fun in any::<u8>(), e in any::<bool>(),
                                        ins in any::<bool>()) {
        let fun = Functionality::from_code(fun);
        for (kind, info, urc) in [
            (K::Cpin, Info::Pin(p), Urc::Pin(p)),
            (K::Cfun, Info::Cfun(fun), Urc::Cfun(fun)),
            (K::QsimStat, Info::SimStat { enabled: e, inserted: ins },
             Urc::SimStat { enabled: e, inserted: ins }),
        ] {
            let mut bytes = Vec::new();
            info.encode(&mut bytes);
            prop_assert_eq!(Info::parse_for(kind, Form::Read, &bytes), Some(info));
            prop_assert_eq!(ModuleLine::parse(&bytes), ModuleLine::Urc(urc));
            prop_assert_eq!(Info::parse_for(kind, Form::Write, &bytes), None);
        }
    }

    /// File and clock answers are information for their own command only (spec §10.8, §10.9),
    /// and context-free they are the same information; `+QNTP` is a URC, never information.
    #[test]
    fn file_and_clock_lines_are_classified_by_their_command(info in file_clock_info(),
                                                            time in module_time(), err in code()) {
        let mut bytes = Vec::new();
        info.encode(&mut bytes);
        let own = match info {
            Info::FileEntry { .. } => [(K::Qflst, Form::Execute), (K::Qflst, Form::Write)],
            Info::Clock(_) => [(K::Cclk, Form::Read), (K::Cclk, Form::Read)],
            _ => [(K::Qlts, Form::Execute), (K::Qlts, Form::Write)],
        };
        prop_assert_eq!(ModuleLine::parse(&bytes), ModuleLine::Info(info.clone()));
        for k in NET_KINDS {
            for f in [Form::Read, Form::Write, Form::Execute] {
                let want = own.contains(&(k, f)).then(|| info.clone());
                prop_assert_eq!(Info::parse_for(k, f, &bytes), want, "{:?} {:?}", k, f);
            }
        }
        let ntp = Urc::Ntp { result: NtpResult::from_code(err), time: Some(time) };
        let line = enc(&ModuleLine::Urc(ntp));
        prop_assert_eq!(ModuleLine::parse(&line), ModuleLine::Urc(ntp));
        prop_assert_eq!(Info::parse_for(K::Qntp, Form::Write, &line), None);
    }

    /// Bare lines are information only for an identity command.
    #[test]
    fn bare_lines_round_trip(line in "[A-Za-z0-9][ -~]{0,30}") {
        let bytes = line.as_bytes();
        prop_assume!(matches!(ModuleLine::parse(bytes), ModuleLine::Unknown(_)));
        for kind in [K::Ati, K::Cgmi, K::Cgmm, K::Cgmr, K::Gsn, K::Cimi] {
            let info = Info::parse_for(kind, Form::Execute, bytes);
            prop_assert_eq!(info.clone(), Some(Info::Bare(bytes)));
            let mut out = Vec::new();
            info.unwrap().encode(&mut out);
            prop_assert_eq!(&out[..], bytes);
        }
        prop_assert_eq!(Info::parse_for(K::Qccid, Form::Execute, bytes), None);
        prop_assert_eq!(Info::parse_for(K::Csq, Form::Execute, bytes), None);
        prop_assert_eq!(Info::parse_for(K::QmtOpen, Form::Read, bytes), None);
    }

    /// Code enums keep every number (variation 8).
    #[test]
    fn codes_keep_every_number(n in any::<i64>()) {
        prop_assert_eq!(OpenResult::from_code(n).code(), n);
        prop_assert_eq!(StatCode::from_code(n).code(), n);
        prop_assert_eq!(ConnackCode::from_code(n).code(), n);
        prop_assert_eq!(GrantedQos::from_code(n).code(), n);
        let line = format!("+QMTSTAT: 3,{n}");
        prop_assert_eq!(
            ModuleLine::parse(line.as_bytes()),
            ModuleLine::Urc(Urc::Stat { client_idx: c(3), err_code: StatCode::from_code(n) })
        );
    }

    /// Hex payloads decode into a caller's buffer.
    #[test]
    fn hex_round_trip(data in prop::collection::vec(any::<u8>(), 0..64), upper in any::<bool>()) {
        let hex: String = data.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect();
        let mut buf = [0u8; 64];
        let n = decode_hex_into(hex.as_bytes(), &mut buf).unwrap();
        prop_assert_eq!(&buf[..n], &data[..]);
        prop_assert_eq!(decode_hex(hex.as_bytes()).unwrap(), data);
    }
}

// ---------------------------------------------------------------------------------------------
// Spec §6 rules and variations
// ---------------------------------------------------------------------------------------------

#[test]
fn rule_1_lengthed_payload_holds_any_byte() {
    let all: Vec<u8> = (0..=255u8).collect();
    for form in [
        PayloadForm::Unquoted,
        PayloadForm::Quoted,
        PayloadForm::Split,
    ] {
        let r = Recv {
            client_idx: c(5),
            msgid: m(65535),
            topic: "bin/ärger/😀",
            payload_len: Some(256),
            payload: &all,
            form,
        };
        let mut line = Vec::new();
        r.encode(&mut line);
        assert_eq!(Recv::parse(&line), Some(r), "{form:?}");
    }
    // CR LF, quotes, commas, NUL and a prompt inside: exactly 13 bytes after `13,`.
    let line = b"+QMTRECV: 1,7,\"t\",13,a\r\nb\"c,\0> d\"e";
    assert_eq!(
        recv_of(line),
        Recv {
            client_idx: c(1),
            msgid: m(7),
            topic: "t",
            payload_len: Some(13),
            payload: b"a\r\nb\"c,\0> d\"e",
            form: PayloadForm::Unquoted,
        }
    );
    // Quoted: the quotes are skipped only when byte 0 and byte len+1 are `"`.
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",5,\"a\r\nb\"\"");
    assert_eq!((r.payload, r.form), (&b"a\r\nb\""[..], PayloadForm::Quoted));
    // Exactly 5 bytes that happen to be quoted text: the length wins, the quotes are payload.
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",5,\"abc\"");
    assert_eq!(
        (r.payload, r.form, r.payload_len),
        (&b"\"abc\""[..], PayloadForm::Unquoted, Some(5))
    );
    // Empty payloads.
    assert_eq!(recv_of(b"+QMTRECV: 0,0,\"t\",0,").payload, b"");
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",0,\"\"");
    assert_eq!((r.payload, r.form), (&b""[..], PayloadForm::Quoted));
}

#[test]
fn rule_2_unlengthed_payload_is_the_rest_of_the_line() {
    let r = recv_of(b"+QMTRECV: 0,3,\"a/b\",hello, world");
    assert_eq!(
        (r.payload, r.payload_len, r.form),
        (&b"hello, world"[..], None, PayloadForm::Unquoted)
    );
    let r = recv_of(b"+QMTRECV: 0,3,\"a/b\",\"hello, world\"");
    assert_eq!(
        (r.payload, r.form),
        (&b"hello, world"[..], PayloadForm::Quoted)
    );
    // Trailing spaces are payload.
    assert_eq!(recv_of(b"+QMTRECV: 0,3,\"a/b\",x  ").payload, b"x  ");
    // A lone quote is not a pair.
    let r = recv_of(b"+QMTRECV: 0,3,\"a/b\",\"");
    assert_eq!((r.payload, r.form), (&b"\""[..], PayloadForm::Unquoted));
}

/// `30,` is a length only when the rest is consistent with it (documented rule in `recv.rs`).
#[test]
fn ambiguous_length_is_decided_by_byte_count() {
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",30,This is test data, hello MQTT.");
    assert_eq!(
        (r.payload_len, r.payload),
        (Some(30), &b"This is test data, hello MQTT."[..])
    );
    // 31 bytes follow `30,`: not consistent, so the whole rest is an unlengthed payload.
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",30,This is test data, hello MQTT!!");
    assert_eq!(
        (r.payload_len, r.payload),
        (None, &b"30,This is test data, hello MQTT!!"[..])
    );
    // Consistent by accident: read as a length (the line alone cannot tell).
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",5,hello");
    assert_eq!((r.payload_len, r.payload), (Some(5), &b"hello"[..]));
    // A non-canonical length (leading zero) is not a length.
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",05,hello");
    assert_eq!((r.payload_len, r.payload), (None, &b"05,hello"[..]));
    // Digits alone: the payload "23", not a length.
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",23");
    assert_eq!((r.payload_len, r.payload), (None, &b"23"[..]));
    // The unlengthed value that would read as a length does not round-trip, and says so.
    let odd = Recv {
        payload_len: None,
        payload: b"5,hello",
        form: PayloadForm::Unquoted,
        ..r
    };
    assert!(!odd.round_trips());
}

#[test]
fn variation_1_unescaped_quotes_run_to_the_last_quote() {
    let line = b"+QMTRECV: 0,1,\"topic\",\"{\"method\":\"set\",\"params\":true}\"";
    assert_eq!(
        recv_of(line),
        Recv {
            client_idx: c(0),
            msgid: m(1),
            topic: "topic",
            payload_len: None,
            payload: b"{\"method\":\"set\",\"params\":true}",
            form: PayloadForm::Quoted,
        }
    );
    assert_eq!(enc(&ModuleLine::parse(line)), line);
}

#[test]
fn variation_2_split_form() {
    let header = b"+QMTRECV: 0,0,\"pump/01/cmd\",23";
    let data = b"{\"relay1\":1,\"relay2\":0}";
    assert_eq!(data.len(), 23);
    // The hook announces the data run only when configured for split firmware.
    let split = RecvHook::auto().with(c(0), LenMode::Split);
    assert_eq!(split.counted(header), Counted::Following(23));
    assert_eq!(RecvHook::auto().counted(header), Counted::None);
    assert_eq!(RecvHook::all(LenMode::Off).counted(header), Counted::None);
    // Only client 0 is configured: client 1's identical head is an unlengthed payload "23".
    assert_eq!(
        split.counted(b"+QMTRECV: 1,0,\"pump/01/cmd\",23"),
        Counted::None
    );
    // Split firmware may still send the inline form.
    assert_eq!(
        split.counted(b"+QMTRECV: 0,0,\"t\",2,ab"),
        Counted::Inline(22)
    );

    let r = Recv::from_split(header, data).unwrap();
    let expected = Recv {
        client_idx: c(0),
        msgid: m(0),
        topic: "pump/01/cmd",
        payload_len: Some(23),
        payload: data,
        form: PayloadForm::Split,
    };
    assert_eq!(r, expected);
    // Encoding gives the header, CR LF and the data; parsing that gives the same value back.
    let mut joined = Vec::new();
    r.encode(&mut joined);
    assert_eq!(joined, [&header[..], b"\r\n", &data[..]].concat());
    assert_eq!(Recv::parse(&joined), Some(expected));
    // Wrong data length or a header that is not header-only: refused.
    assert_eq!(Recv::from_split(header, &data[..22]), None);
    assert_eq!(Recv::from_split(b"+QMTRECV: 0,0,\"t\",2,ab", b"ab"), None);
    assert_eq!(Recv::from_split(b"+QMTRECV: 0,0,\"t\"", b""), None);
    // Context-free, the header line alone is an unlengthed payload "23".
    assert_eq!(recv_of(header).payload, b"23");
}

#[test]
fn variation_3_conn_without_ret_code() {
    let l = ModuleLine::parse(b"+QMTCONN: 0,0");
    let u = Urc::Conn {
        client_idx: c(0),
        result: PacketResult::Acked,
        value: None,
    };
    assert_eq!(l, ModuleLine::Urc(u));
    assert_eq!(u.connack(), Some(ConnackCode::Accepted));
    assert_eq!(enc(&l), b"+QMTCONN: 0,0");
    // With ret_code, and result 1 carrying a retransmission count, not a CONNACK code.
    assert_eq!(
        Urc::parse(b"+QMTCONN: 2,0,4").unwrap().connack(),
        Some(ConnackCode::BadCredentials)
    );
    assert_eq!(
        Urc::parse(b"+QMTCONN: 2,1,4"),
        Some(Urc::Conn {
            client_idx: c(2),
            result: PacketResult::Retransmission,
            value: Some(ConnValue::Retransmissions(4))
        })
    );
    assert_eq!(Urc::parse(b"+QMTCONN: 2,1,4").unwrap().connack(), None);
    assert_eq!(
        Urc::parse(b"+QMTCONN: 2,0,9").unwrap().connack(),
        Some(ConnackCode::Unknown(9))
    );
}

#[test]
fn variation_4_qmtpub_prefix_is_kept() {
    let l = ModuleLine::parse(b"+QMTPUB: 0,5,1,2");
    assert_eq!(
        l,
        ModuleLine::Urc(Urc::PubEx {
            prefix: PubPrefix::Pub,
            client_idx: c(0),
            msgid: m(5),
            result: PacketResult::Retransmission,
            value: Some(2),
        })
    );
    assert_eq!(enc(&l), b"+QMTPUB: 0,5,1,2");
    let l = ModuleLine::parse(b"+QMTPUBEX: 0,5,2");
    assert!(matches!(
        l,
        ModuleLine::Urc(Urc::PubEx {
            prefix: PubPrefix::PubEx,
            value: None,
            ..
        })
    ));
    assert_eq!(enc(&l), b"+QMTPUBEX: 0,5,2");
}

#[test]
fn variation_5_case_and_spaces_are_tolerated() {
    assert_eq!(ModuleLine::parse(b"ok"), ModuleLine::Final(FinalCode::Ok));
    assert_eq!(
        ModuleLine::parse(b"Error "),
        ModuleLine::Final(FinalCode::Error)
    );
    let stat = ModuleLine::Urc(Urc::Stat {
        client_idx: c(1),
        err_code: StatCode::ClosedByPeer,
    });
    assert_eq!(ModuleLine::parse(b"+qmtstat: 1,1"), stat);
    assert_eq!(ModuleLine::parse(b"+QMTSTAT:1,1"), stat);
    assert_eq!(ModuleLine::parse(b"+QMTSTAT:  1, 1  "), stat);
    assert_eq!(ModuleLine::parse(b"+QMTSTAT: 1,1\r"), stat);
    assert_eq!(recv_of(b"+qmtrecv: 0, 0, \"t\",2,ab").payload, b"ab");
    assert_eq!(
        ModuleLine::parse(b"+cpin: ready"),
        ModuleLine::Urc(Urc::Pin(PinState::Ready))
    );
    assert_eq!(
        ModuleLine::parse(b"powered down"),
        ModuleLine::Urc(Urc::PowerDown(PowerDownKind::Powered))
    );
}

#[test]
fn variation_7_blank_lines_and_prompts() {
    assert_eq!(ModuleLine::parse(b""), ModuleLine::Unknown(b""));
    assert_eq!(ModuleLine::parse(b">"), ModuleLine::Prompt);
    assert_eq!(ModuleLine::parse(b"> "), ModuleLine::Prompt);
    assert_eq!(enc(&ModuleLine::Prompt), b"> ");
    // A prompt followed by echoed payload is not a prompt line.
    assert_eq!(
        ModuleLine::parse(b"> hello"),
        ModuleLine::Unknown(b"> hello")
    );
}

#[test]
fn variation_8_codes_outside_the_tables() {
    assert_eq!(
        ModuleLine::parse(b"+QMTOPEN: 0,-1"),
        ModuleLine::Urc(Urc::Open {
            client_idx: c(0),
            result: OpenResult::FailedToOpen
        })
    );
    assert_eq!(
        ModuleLine::parse(b"+QMTOPEN: 0,42"),
        ModuleLine::Urc(Urc::Open {
            client_idx: c(0),
            result: OpenResult::Unknown(42)
        })
    );
    assert_eq!(
        ModuleLine::parse(b"+QMTCLOSE: 4,-7"),
        ModuleLine::Urc(Urc::Close {
            client_idx: c(4),
            result: CloseResult::Unknown(-7)
        })
    );
    assert_eq!(
        ModuleLine::parse(b"+QMTPING: 1,2"),
        ModuleLine::Urc(Urc::Ping {
            client_idx: c(1),
            result: PingResult::Unknown(2)
        })
    );
    let l = ModuleLine::parse(b"+QMTSUB: 0,9,0,1,128,7");
    let ModuleLine::Urc(Urc::Sub { values, .. }) = l else {
        panic!("{l:?}")
    };
    assert_eq!(
        values.granted_qos().collect::<Vec<_>>(),
        [
            GrantedQos::AtLeastOnce,
            GrantedQos::Failure,
            GrantedQos::Unknown(7)
        ]
    );
    assert_eq!(values.len(), 3);
    let l = ModuleLine::parse(b"+QMTUNS: 0,9,1,3");
    let ModuleLine::Urc(Urc::Uns { result, values, .. }) = l else {
        panic!("{l:?}")
    };
    assert_eq!(
        (result, values.first()),
        (PacketResult::Retransmission, Some(3))
    );
}

// ---------------------------------------------------------------------------------------------
// Command-aware classification (ARCHITECTURE.md traps 1 and 2 at the line level)
// ---------------------------------------------------------------------------------------------

#[test]
fn parse_for_open_read_vs_open_result() {
    let read = b"+QMTOPEN: 0,\"host\",1883";
    assert_eq!(
        Info::parse_for(K::QmtOpen, Form::Read, read),
        Some(Info::OpenRead {
            client_idx: c(0),
            host: "host",
            port: Port::new(1883).unwrap()
        })
    );
    // The result of an earlier open is not information for `AT+QMTOPEN?`.
    assert_eq!(
        Info::parse_for(K::QmtOpen, Form::Read, b"+QMTOPEN: 0,0"),
        None
    );
    // The read answer is not information for another command or form.
    assert_eq!(Info::parse_for(K::QmtOpen, Form::Write, read), None);
    assert_eq!(Info::parse_for(K::QmtConn, Form::Read, read), None);
    // Context-free the read answer is still typed as what it is (trap 2: never a URC).
    assert!(matches!(
        ModuleLine::parse(read),
        ModuleLine::Info(Info::OpenRead { .. })
    ));
}

#[test]
fn parse_for_conn_read_vs_conn_result_and_stat() {
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+QMTCONN: 0,3"),
        Some(Info::ConnRead {
            client_idx: c(0),
            state: ConnState::Connected
        })
    );
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+qmtconn: 5,9"),
        Some(Info::ConnRead {
            client_idx: c(5),
            state: ConnState::Unknown(9)
        })
    );
    // Trap 1: a `+QMTSTAT` between `+QMTCONN: 0,3` and `OK` is not part of the response.
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+QMTSTAT: 0,1"),
        None
    );
    // A connect result with ret_code is not a read answer.
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+QMTCONN: 0,0,0"),
        None
    );
    // Without the command in flight, `+QMTCONN: 0,3` is a connect result.
    assert_eq!(
        ModuleLine::parse(b"+QMTCONN: 0,3"),
        ModuleLine::Urc(Urc::Conn {
            client_idx: c(0),
            result: PacketResult::Unknown(3),
            value: None
        })
    );
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Write, b"+QMTCONN: 0,3"),
        None
    );
    assert_eq!(Info::parse_for(K::QmtConn, Form::Read, b"OK"), None);
    assert_eq!(
        Info::parse_for(K::QmtConn, Form::Read, b"+QMTCONN: 6,3"),
        None
    );
}

#[test]
fn parse_for_recv_qfupl_and_tests() {
    let msg = b"+QMTRECV: 0,4,\"a\",\"hi\"";
    assert!(matches!(
        Info::parse_for(K::QmtRecv, Form::Write, msg),
        Some(Info::Message(_))
    ));
    assert!(matches!(
        ModuleLine::parse(msg),
        ModuleLine::Urc(Urc::Recv(_))
    ));
    // A "stored" announcement during `AT+QMTRECV=0` is a URC, not a message.
    assert_eq!(
        Info::parse_for(K::QmtRecv, Form::Write, b"+QMTRECV: 0,3"),
        None
    );
    assert_eq!(
        ModuleLine::parse(b"+QMTRECV: 0,3"),
        ModuleLine::Urc(Urc::RecvStored {
            client_idx: c(0),
            recv_id: RecvId::new(3).unwrap()
        })
    );
    let status = b"+QMTRECV: 1,0,1,0,0,1";
    let expected = Info::RecvStatus {
        client_idx: c(1),
        slots: [0, 1, 0, 0, 1].map(StoreStatus::from_code),
    };
    assert_eq!(
        Info::parse_for(K::QmtRecv, Form::Read, status),
        Some(expected.clone())
    );
    assert_eq!(ModuleLine::parse(status), ModuleLine::Info(expected));
    assert_eq!(Info::parse_for(K::QmtRecv, Form::Write, status), None);

    assert_eq!(
        Info::parse_for(K::QfUpl, Form::Write, b"+QFUPL: 1758,384a"),
        Some(Info::QfUpl {
            upload_size: 1758,
            checksum: 0x384a
        })
    );
    assert_eq!(
        Info::parse_for(K::QmtOpen, Form::Write, b"+QFUPL: 1758,384a"),
        None
    );

    let t = b"+QMTOPEN: (0-5),\"hostname\",(1-65535)";
    assert!(matches!(
        Info::parse_for(K::QmtOpen, Form::Test, t),
        Some(Info::Test(_))
    ));
    assert_eq!(Info::parse_for(K::QmtConn, Form::Test, t), None);
    assert_eq!(Info::parse_for(K::QmtOpen, Form::Read, t), None);
    assert_eq!(
        ModuleLine::parse(b"+QMTCLOSE: (0-5)"),
        ModuleLine::Info(Info::Test(TestLine {
            command: K::QmtClose,
            params: "(0-5)"
        }))
    );
    assert_eq!(
        ModuleLine::parse(b"+QMTUNS: (0-5),<msgid>,list of [\"topic\"]"),
        ModuleLine::Info(Info::Test(TestLine {
            command: K::QmtUns,
            params: "(0-5),<msgid>,list of [\"topic\"]"
        }))
    );
    // `+QMTCFG:`/`+QSSLCFG:` go to the (stub) config parsers; their Err is Unknown for now.
    let cfg = b"+QMTCFG: \"keepalive\",0,120";
    assert!(matches!(
        ModuleLine::parse(cfg),
        ModuleLine::Unknown(_) | ModuleLine::Info(Info::Cfg(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Final codes, StatCode actions, Unknown fallbacks
// ---------------------------------------------------------------------------------------------

#[test]
fn final_codes() {
    assert_eq!(
        ModuleLine::parse(b"+CME ERROR: 10"),
        ModuleLine::Final(FinalCode::CmeError(10))
    );
    assert_eq!(
        ModuleLine::parse(b"+CME ERROR: SIM not inserted"),
        ModuleLine::Final(FinalCode::CmeErrorText("SIM not inserted"))
    );
    assert_eq!(
        ModuleLine::parse(b"+CMS ERROR: 500"),
        ModuleLine::Final(FinalCode::CmsError(500))
    );
    assert_eq!(
        ModuleLine::parse(b"+CME ERROR: "),
        ModuleLine::Unknown(b"+CME ERROR: ")
    );
    assert_eq!(
        ModuleLine::parse(b"+CMS ERROR: x"),
        ModuleLine::Unknown(b"+CMS ERROR: x")
    );
    assert_eq!(
        enc(&ModuleLine::Final(FinalCode::CmeErrorText(
            "operation not allowed"
        ))),
        b"+CME ERROR: operation not allowed"
    );
    assert_eq!(ModuleLine::parse(b"CONNECT"), ModuleLine::Connect);
    assert_eq!(ModuleLine::parse(b"RDY"), ModuleLine::Urc(Urc::Rdy));
}

#[test]
fn stat_code_actions() {
    use RecommendedAction as A;
    let table = [
        (1, StatCode::ClosedByPeer, A::Reopen),
        (2, StatCode::PingFailed, A::ResetPdpThenReopen),
        (3, StatCode::ConnectFailed, A::CheckCredentialsThenReopen),
        (4, StatCode::ConnackFailed, A::CheckCredentialsThenReopen),
        (5, StatCode::Disconnected, A::Nothing),
        (6, StatCode::SendFailures, A::CheckDataThenReopen),
        (7, StatCode::LinkDown, A::CheckLinkThenReopen),
        (8, StatCode::ClosedByClient, A::ReopenIfWanted),
        (9, StatCode::Unknown(9), A::ConnectionLost),
        (255, StatCode::Unknown(255), A::ConnectionLost),
        (0, StatCode::Unknown(0), A::ConnectionLost),
        (-1, StatCode::Unknown(-1), A::ConnectionLost),
    ];
    for (n, code, action) in table {
        assert_eq!(StatCode::from_code(n), code);
        assert_eq!(code.recommended_action(), action, "{n}");
        assert_eq!(action.reopens(), action != A::Nothing);
        assert!(!action.text().is_empty());
    }
    assert_eq!(A::Reopen.text(), "re-run AT+QMTOPEN then AT+QMTCONN");
    assert_eq!(
        StatCode::ClosedByPeer.meaning(),
        "connection closed or reset by peer"
    );
}

#[test]
fn unknown_fallbacks() {
    for line in [
        &b"+QMTOPEN: 9,0"[..],                  // client_idx out of range
        b"+QMTSTAT: 6,1",                       // client_idx out of range
        b"+QMTSTAT: -1,1",                      // negative client_idx
        b"+QMTOPEN: 0,\"host\",0",              // port 0
        b"+QMTOPEN: 0,\"host\",65536",          // port too large
        b"+QMTOPEN: 0,\"host\"",                // missing port
        b"+QMTRECV: 0,5",                       // recv_id out of range
        b"+QMTRECV: 0,70000,\"t\",x",           // msgid out of range
        b"+QMTRECV: 0,0,\"\xff\",x",            // topic not UTF-8
        b"+QMTRECV: 0,0,\"t\"",                 // no payload field
        b"+QMTRECV: 0,0,\"t",                   // unterminated topic
        b"+QMTSUB: 0,1,0,x",                    // value not a number
        b"+QMTSUB: 0,1,0,",                     // empty value
        b"+QMTOPEN: 0,99999999999999999999999", // overflow
        b"+QMTOPEN: 0,0,0",                     // too many fields
        b"+QMTPUBEX: 0,1,0,1,2",                // too many fields
        b"+QMTFOO: 1,2",                        // unknown prefix
        b"+CPIN: ",                             // no code
        b"+CFUN: 256",                          // fun out of range
        b"+QSIMSTAT: 1,2",                      // inserted not 0/1
        b"+QIURC: \"recv\",0",                  // not pdpdeact
        b"+QIURC: \"pdpdeact\",16",             // cid out of range
        b"+CEREG: 2,1,\"1A2B\",\"01C3D04\",7",  // the query shape, context-free
        b"+CEREG: 0,1",                         // the query shape, context-free
        b"+CEREG: 1,\"1A2B\"",                  // location without the cell
        b"+CREG: 1,\"1A2B\",\"01C3D04\",300",   // AcT out of range
        b"+CSQ: 31",                            // ber missing
        b"+QIACT: 1,2,1",                       // state not 0/1
        b"+QICSGP: 4,\"apn\",\"\",\"\",0",      // type out of range
        b"+CGPADDR: 1",                         // no address
        b"+QCCID: ",                            // no ICCID
        b"APP RDY NOW",
        b"+QFUPL: 10,xyz1",  // checksum not hex
        b"+QFUPL: 10,12345", // checksum too long
        b"OKAY",
        b"CONNECT 115200",
        b"+",
        b":",
        b"\xff\xfe",
    ] {
        assert_eq!(
            ModuleLine::parse(line),
            ModuleLine::Unknown(line),
            "{}",
            line.escape_ascii()
        );
        // Unknown encodes back to its bytes.
        assert_eq!(enc(&ModuleLine::Unknown(line)), line);
    }
}

// ---------------------------------------------------------------------------------------------
// RecvHook table and hex
// ---------------------------------------------------------------------------------------------

#[test]
fn recv_hook_table() {
    let auto = RecvHook::auto();
    let off0 = RecvHook::auto().with(c(0), LenMode::Off);
    let split = RecvHook::all(LenMode::Split);
    let small = RecvHook::auto().with_max_len(10);
    // (hook, head, expected)
    let h: &[u8] = b"+QMTRECV: 0,0,\"topic/pub\",30,";
    assert_eq!(h.len(), 29);
    let table: &[(&RecvHook, &[u8], Counted)] = &[
        (
            &auto,
            b"+QMTRECV: 0,0,\"topic/pub\",30,This is test data, hello MQTT.",
            Counted::Inline(59),
        ),
        (
            &auto,
            b"+QMTRECV: 0,0,\"topic/pub\",30,This is",
            Counted::Inline(59),
        ), // cut by an inner CR LF
        (
            &auto,
            b"+QMTRECV: 0,0,\"topic/example\",36,\"This is the payload related to topic\"",
            Counted::Inline(33 + 36),
        ),
        (&auto, b"+qmtrecv:0,0,\"t\",3,abc", Counted::Inline(19 + 3)),
        (
            &auto,
            b"+QMTRECV: 0, 0, \"t\",3,abc",
            Counted::Inline(22 + 3),
        ),
        (&auto, b"+QMTRECV: 0,0,\"t\",0,", Counted::Inline(20)),
        (&auto, b"+QMTRECV: 0,0,\"pump/01/cmd\",23", Counted::None),
        (
            &split,
            b"+QMTRECV: 0,0,\"pump/01/cmd\",23",
            Counted::Following(23),
        ),
        (&split, b"+QMTRECV: 0,0,\"pump/01/cmd\",23 ", Counted::None),
        (&split, b"+QMTRECV: 0,0,\"t\",0", Counted::Following(0)),
        (&off0, b"+QMTRECV: 0,0,\"t\",3,abc", Counted::None),
        (&off0, b"+QMTRECV: 1,0,\"t\",3,abc", Counted::Inline(20 + 3)),
        (&small, b"+QMTRECV: 0,0,\"t\",10,", Counted::Inline(21 + 10)),
        (&small, b"+QMTRECV: 0,0,\"t\",11,", Counted::None),
        (&auto, b"+QMTRECV: 0,0,\"t\",hello", Counted::None), // unlengthed
        (&auto, b"+QMTRECV: 0,0,\"t\",\"3,abc\"", Counted::None), // quoted unlengthed
        (&auto, b"+QMTRECV: 0,0,\"t\",03,abc", Counted::None), // non-canonical length
        (&auto, b"+QMTRECV: 0,0,\"t\",99999999999,", Counted::None), // absurd length
        (&auto, b"+QMTRECV: 6,0,\"t\",3,abc", Counted::None), // client_idx out of range
        (&auto, b"+QMTRECV: 0,3", Counted::None),             // stored announcement
        (&auto, b"+QMTRECV: 0,0,\"t", Counted::None),         // topic cut
        (&auto, b"+QMTSTAT: 0,1", Counted::None),
        (&auto, b"QMTRECV: 0,0,\"t\",3,abc", Counted::None), // no '+'
        (&auto, b"", Counted::None),
        (&auto, b"+", Counted::None),
        (&auto, b"+QMTRECV:", Counted::None),
    ];
    for (i, (hook, head, want)) in table.iter().enumerate() {
        assert_eq!(
            hook.counted(head),
            *want,
            "row {i}: {}",
            head.escape_ascii()
        );
    }
    assert_eq!(split.mode(c(3)), LenMode::Split);
    let mut hk = RecvHook::auto();
    hk.set(c(2), LenMode::Off);
    assert_eq!((hk.mode(c(2)), hk.mode(c(1))), (LenMode::Off, LenMode::On));
    assert_eq!(RecvHook::default(), RecvHook::auto());
}

/// The hook frames a lengthed payload holding CR LF as one line, in both forms, and a payload
/// ending in CR.
#[test]
fn recv_hook_frames_embedded_crlf() {
    let hook = RecvHook::auto();
    for (wire, body) in [
        (
            &b"+QMTRECV: 0,0,\"t\",4,a\r\nb\r\nOK\r\n"[..],
            &b"+QMTRECV: 0,0,\"t\",4,a\r\nb"[..],
        ),
        (
            b"+QMTRECV: 0,0,\"t\",4,\"a\r\nb\"\r\nOK\r\n",
            b"+QMTRECV: 0,0,\"t\",4,\"a\r\nb\"",
        ),
        (
            b"+QMTRECV: 0,0,\"t\",2,a\r\r\nOK\r\n",
            b"+QMTRECV: 0,0,\"t\",2,a\r",
        ),
        (
            b"+QMTRECV: 0,0,\"t\",2,\r\n\r\nOK\r\n",
            b"+QMTRECV: 0,0,\"t\",2,\r\n",
        ),
    ] {
        assert_eq!(
            framed_line_len(&hook, wire),
            Some(body.len()),
            "{}",
            wire.escape_ascii()
        );
        assert!(Recv::parse(body).unwrap().payload_len.is_some());
    }
}

#[test]
fn hex_payloads() {
    let r = recv_of(b"+QMTRECV: 0,0,\"t\",8,\"48690d0A\"");
    let mut buf = [0u8; 4];
    assert_eq!(r.decode_hex_payload_into(&mut buf), Ok(4));
    assert_eq!(&buf, b"Hi\r\n");
    assert_eq!(r.decode_hex_payload().unwrap(), b"Hi\r\n");
    let mut small = [0u8; 3];
    assert_eq!(
        r.decode_hex_payload_into(&mut small),
        Err(HexError::BufferTooSmall { needed: 4 })
    );
    assert_eq!(small, [0, 0, 0]);
    assert_eq!(decode_hex(b"abc"), Err(HexError::OddLength));
    assert_eq!(decode_hex(b"a0zz"), Err(HexError::InvalidDigit { at: 2 }));
    assert_eq!(decode_hex(b""), Ok(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Spec §10: the lines around MQTT
// ---------------------------------------------------------------------------------------------

/// The spec's example pair (§10.5), for all three prefixes: the URC (stat 1, `<n>` 2's location)
/// and the query answer (n 2, stat 1) differ only in the leading field.
#[test]
fn reg_urc_vs_query_answer_spec_pair() {
    for domain in RegDomain::ALL {
        let p = domain.prefix();
        let urc = format!("{p}: 1,\"1A2B\",\"01C3D04\",7");
        let query = format!("{p}: 2,1,\"1A2B\",\"01C3D04\",7");
        let location = Some(RegLocation {
            area: "1A2B",
            cell: "01C3D04",
            act: Some(7),
        });
        assert_eq!(
            ModuleLine::parse(urc.as_bytes()),
            ModuleLine::Urc(Urc::Reg {
                domain,
                stat: RegStat::Home,
                location
            }),
            "{urc}"
        );
        assert_eq!(
            Info::parse_for(domain.kind(), Form::Read, query.as_bytes()),
            Some(Info::Reg {
                domain,
                mode: RegUrcMode::Location,
                stat: RegStat::Home,
                location
            }),
            "{query}"
        );
        // Context-free the query's shape is no URC; with the query in flight the URC is no
        // answer: the shape decides, not the prefix.
        assert!(matches!(
            ModuleLine::parse(query.as_bytes()),
            ModuleLine::Unknown(_)
        ));
        assert_eq!(
            Info::parse_for(domain.kind(), Form::Read, urc.as_bytes()),
            None
        );
        // Both encode back exactly.
        let Some(info) = Info::parse_for(domain.kind(), Form::Read, query.as_bytes()) else {
            panic!()
        };
        let mut out = Vec::new();
        info.encode(&mut out);
        assert_eq!(out, query.as_bytes());
        assert_eq!(enc(&ModuleLine::parse(urc.as_bytes())), urc.as_bytes());
    }
}

#[test]
fn reg_short_forms_and_tolerance() {
    // `<n>` 0 or 1: stat only.
    assert_eq!(
        ModuleLine::parse(b"+CEREG: 5"),
        ModuleLine::Urc(Urc::Reg {
            domain: RegDomain::Eps,
            stat: RegStat::Roaming,
            location: None
        })
    );
    assert_eq!(
        Info::parse_for(K::Cereg, Form::Read, b"+CEREG: 0,2"),
        Some(Info::Reg {
            domain: RegDomain::Eps,
            mode: RegUrcMode::Off,
            stat: RegStat::Searching,
            location: None
        })
    );
    // Without AcT, lower case, spaces, a stat outside the table.
    assert_eq!(
        ModuleLine::parse(b"+creg: 9, \"00A1\", \"1F\""),
        ModuleLine::Urc(Urc::Reg {
            domain: RegDomain::Cs,
            stat: RegStat::Other(9),
            location: Some(RegLocation {
                area: "00A1",
                cell: "1F",
                act: None
            })
        })
    );
    // `+CGREG` with the routing area: accepted, not kept.
    assert_eq!(
        Info::parse_for(
            K::Cgreg,
            Form::Read,
            b"+CGREG: 2,1,\"1A2B\",\"01C3D04\",7,\"3C\""
        ),
        Some(Info::Reg {
            domain: RegDomain::Ps,
            mode: RegUrcMode::Location,
            stat: RegStat::Home,
            location: Some(RegLocation {
                area: "1A2B",
                cell: "01C3D04",
                act: Some(7)
            })
        })
    );
    // A registration answer of another domain is not this query's.
    assert_eq!(Info::parse_for(K::Creg, Form::Read, b"+CEREG: 0,1"), None);
    assert_eq!(Info::parse_for(K::Cereg, Form::Write, b"+CEREG: 0,1"), None);
    assert!(RegStat::Home.is_registered() && RegStat::Roaming.is_registered());
    assert!(RegStat::Denied.is_final_failure());
}

#[test]
fn boot_urcs() {
    // Spec §10.1: the boot sequence, in order.
    let boot: [(&[u8], Urc<'_>); 9] = [
        (b"RDY", Urc::Rdy),
        (b"APP RDY", Urc::AppRdy),
        (b"+CFUN: 1", Urc::Cfun(Functionality::Full)),
        (b"+CPIN: READY", Urc::Pin(PinState::Ready)),
        (b"+CPIN: SIM PIN", Urc::Pin(PinState::SimPin)),
        (b"+CPIN: NOT READY", Urc::Pin(PinState::NotReady)),
        (b"+QUSIM: 1", Urc::Qusim(1)),
        (b"+QIND: SMS DONE", Urc::Qind("SMS DONE")),
        (b"+QIND: PB DONE", Urc::Qind("PB DONE")),
    ];
    for (line, urc) in boot {
        assert_eq!(
            ModuleLine::parse(line),
            ModuleLine::Urc(urc),
            "{}",
            line.escape_ascii()
        );
        assert_eq!(enc(&ModuleLine::Urc(urc)), line);
    }
    for (line, kind) in [
        (&b"POWERED DOWN"[..], PowerDownKind::Powered),
        (b"NORMAL POWER DOWN", PowerDownKind::Normal),
        (b"PSM POWER DOWN", PowerDownKind::Psm),
    ] {
        assert_eq!(
            ModuleLine::parse(line),
            ModuleLine::Urc(Urc::PowerDown(kind))
        );
        assert_eq!(enc(&ModuleLine::Urc(Urc::PowerDown(kind))), line);
    }
    assert_eq!(
        ModuleLine::parse(b"+CFUN: 4"),
        ModuleLine::Urc(Urc::Cfun(Functionality::RadioOff))
    );
    assert_eq!(
        ModuleLine::parse(b"+CPIN: PH-NET PIN"),
        ModuleLine::Urc(Urc::Pin(PinState::PhNetPin))
    );
    assert_eq!(
        ModuleLine::parse(b"+CPIN: PH-SIM PIN"),
        ModuleLine::Urc(Urc::Pin(PinState::Other("PH-SIM PIN")))
    );
    assert_eq!(
        ModuleLine::parse(b"+QIND: \"csq\",20,99"),
        ModuleLine::Urc(Urc::Qind("\"csq\",20,99"))
    );
    assert_eq!(
        ModuleLine::parse(b"+QSIMSTAT: 1,0"),
        ModuleLine::Urc(Urc::SimStat {
            enabled: true,
            inserted: false
        })
    );
    assert_eq!(
        ModuleLine::parse(b"+QIURC: \"pdpdeact\",1"),
        ModuleLine::Urc(Urc::PdpDeact {
            cid: ContextId::new(1).unwrap()
        })
    );
    assert_eq!(
        ModuleLine::parse(b"+QIURC: \"PDPDEACT\", 15"),
        ModuleLine::Urc(Urc::PdpDeact {
            cid: ContextId::new(15).unwrap()
        })
    );
}

#[test]
fn identity_answers() {
    // Bare lines only while an identity command is in flight.
    for (kind, line) in [
        (K::Gsn, &b"861234567890123"[..]),
        (K::Cimi, b"460011234567890"),
        (K::Cgmi, b"Quectel"),
        (K::Cgmm, b"EC200U"),
        (K::Cgmr, b"EC200UCNAAR02A01M08"),
        (K::Ati, b"Quectel"),
        (K::Ati, b"EC200U"),
        (K::Ati, b"Revision: EC200UCNAAR02A01M08"),
    ] {
        assert_eq!(
            Info::parse_for(kind, Form::Execute, line),
            Some(Info::Bare(line))
        );
        assert_eq!(ModuleLine::parse(line), ModuleLine::Unknown(line));
        // Not for another command, and never a final code, a prefixed line or a known URC.
        assert_eq!(Info::parse_for(K::QmtOpen, Form::Read, line), None);
    }
    for line in [
        &b"OK"[..],
        b"ERROR",
        b"RDY",
        b"+QMTSTAT: 0,1",
        b"+CPIN: READY",
        b"",
        b"  ",
    ] {
        assert_eq!(
            Info::parse_for(K::Gsn, Form::Execute, line),
            None,
            "{}",
            line.escape_ascii()
        );
    }
    let iccid = b"+QCCID: 89860116838002543581";
    assert_eq!(
        Info::parse_for(K::Qccid, Form::Execute, iccid),
        Some(Info::Iccid("89860116838002543581"))
    );
    assert_eq!(
        Info::parse_for(K::Qccid, Form::Execute, b"89860116838002543581"),
        None
    );
}

#[test]
fn sim_signal_operator_and_context_answers() {
    let cases: Vec<(K, Form, &[u8], Info<'_>)> = vec![
        (
            K::Cpin,
            Form::Read,
            b"+CPIN: READY",
            Info::Pin(PinState::Ready),
        ),
        (
            K::Cpin,
            Form::Read,
            b"+CPIN: SIM PUK2",
            Info::Pin(PinState::SimPuk2),
        ),
        (
            K::QsimStat,
            Form::Read,
            b"+QSIMSTAT: 0,1",
            Info::SimStat {
                enabled: false,
                inserted: true,
            },
        ),
        (
            K::Csq,
            Form::Execute,
            b"+CSQ: 31,99",
            Info::Signal(Signal { rssi: 31, ber: 99 }),
        ),
        (
            K::Qcsq,
            Form::Execute,
            b"+QCSQ: \"LTE\",-52,-81,195,-10",
            Info::Qcsq {
                sysmode: "LTE",
                values: Values::parse(b"-52,-81,195,-10").unwrap(),
            },
        ),
        (
            K::Qcsq,
            Form::Execute,
            b"+QCSQ: \"NOSERVICE\"",
            Info::Qcsq {
                sysmode: "NOSERVICE",
                values: Values::EMPTY,
            },
        ),
        (
            K::QnwInfo,
            Form::Execute,
            b"+QNWINFO: \"FDD LTE\",\"46001\",\"LTE BAND 3\",1650",
            Info::NwInfo {
                act: "FDD LTE",
                oper: "46001",
                band: "LTE BAND 3",
                channel: 1650,
            },
        ),
        (
            K::QnwInfo,
            Form::Execute,
            b"+QNWINFO: No Service",
            Info::NwInfoNoService,
        ),
        (
            K::Cops,
            Form::Read,
            b"+COPS: 0,0,\"CHINA MOBILE\",7",
            Info::Cops {
                mode: 0,
                format: Some(0),
                oper: Some("CHINA MOBILE"),
                act: Some(7),
            },
        ),
        (
            K::Cops,
            Form::Read,
            b"+COPS: 0",
            Info::Cops {
                mode: 0,
                format: None,
                oper: None,
                act: None,
            },
        ),
        (
            K::Qicsgp,
            Form::Write,
            b"+QICSGP: 1,\"internet\",\"\",\"\",0",
            Info::Context {
                ctype: ContextType::Ipv4,
                apn: "internet",
                user: "",
                auth: ApnAuth::None,
            },
        ),
        (
            K::Qiact,
            Form::Read,
            b"+QIACT: 1,1,1,\"10.7.157.1\"",
            Info::Act {
                cid: ContextId::new(1).unwrap(),
                active: true,
                ctype: ContextType::Ipv4,
                ip: Some("10.7.157.1"),
            },
        ),
        (K::Cgatt, Form::Read, b"+CGATT: 1", Info::Attach(true)),
        (
            K::Ifc,
            Form::Read,
            b"+IFC: 2,2",
            Info::Ifc {
                dce_by_dte: qmt_proto::uart::FlowControl::RtsCts,
                dte_by_dce: qmt_proto::uart::FlowControl::RtsCts,
            },
        ),
        (K::Ipr, Form::Read, b"+IPR: 921600", Info::Ipr(921_600)),
        (
            K::Cgpaddr,
            Form::Write,
            b"+CGPADDR: 1,\"10.7.157.1\"",
            Info::Addr {
                cid: ContextId::new(1).unwrap(),
                ip: "10.7.157.1",
            },
        ),
        (
            K::Cfun,
            Form::Read,
            b"+CFUN: 1",
            Info::Cfun(Functionality::Full),
        ),
    ];
    for (kind, form, line, info) in cases {
        let shown = line.escape_ascii().to_string();
        assert_eq!(
            Info::parse_for(kind, form, line),
            Some(info.clone()),
            "{shown}"
        );
        let mut out = Vec::new();
        info.encode(&mut out);
        assert_eq!(out, line, "{shown}");
        // Not information for another command in flight.
        assert_eq!(
            Info::parse_for(K::QmtOpen, Form::Read, line),
            None,
            "{shown}"
        );
        assert_eq!(
            Info::parse_for(K::Gsn, Form::Execute, line),
            None,
            "{shown}"
        );
    }
}

#[test]
fn tolerated_variants() {
    // Unquoted operator and address (some firmware), written back quoted.
    assert_eq!(
        Info::parse_for(
            K::QnwInfo,
            Form::Execute,
            b"+QNWINFO: \"FDD LTE\",46011,\"LTE BAND 3\",1825"
        ),
        Some(Info::NwInfo {
            act: "FDD LTE",
            oper: "46011",
            band: "LTE BAND 3",
            channel: 1825
        })
    );
    assert_eq!(
        Info::parse_for(K::Cgpaddr, Form::Write, b"+CGPADDR: 1,10.0.0.2"),
        Some(Info::Addr {
            cid: ContextId::new(1).unwrap(),
            ip: "10.0.0.2"
        })
    );
    // `+QICSGP:` without `<auth>`; the password is never kept.
    let line = b"+QICSGP: 3,\"apn\",\"me\",\"hunter2\"";
    let info = Info::parse_for(K::Qicsgp, Form::Write, line).unwrap();
    assert_eq!(
        info,
        Info::Context {
            ctype: ContextType::Ipv4v6,
            apn: "apn",
            user: "me",
            auth: ApnAuth::None
        }
    );
    let mut out = Vec::new();
    info.encode(&mut out);
    assert_eq!(out, b"+QICSGP: 3,\"apn\",\"me\",\"\",0");
    assert!(!format!("{info:?}").contains("hunter2"));
    // An inactive context without an address.
    assert_eq!(
        ModuleLine::parse(b"+QIACT: 2,0,2"),
        ModuleLine::Info(Info::Act {
            cid: ContextId::new(2).unwrap(),
            active: false,
            ctype: ContextType::Ipv6,
            ip: None
        })
    );
}

/// The lines of spec §10.8 and §10.9 as the module writes them, and tolerated or refused variants.
#[test]
fn file_and_clock_lines() {
    assert_eq!(
        Info::parse_for(K::Qflst, Form::Write, br#"+QFLST: "UFS:cacert.pem",1758"#),
        Some(Info::FileEntry {
            name: "UFS:cacert.pem",
            size: 1758
        })
    );
    assert_eq!(
        ModuleLine::parse(br#"+qflst:  "RAM:a", 0"#),
        ModuleLine::Info(Info::FileEntry {
            name: "RAM:a",
            size: 0
        })
    );
    let Some(Info::Clock(t)) =
        Info::parse_for(K::Cclk, Form::Read, br#"+CCLK: "00/01/01,00:00:42+00""#)
    else {
        panic!()
    };
    assert_eq!((t.year, t.second, t.long_year), (2000, 42, false));
    let ntp = ModuleLine::parse(br#"+QNTP: 0,"2024/05/17,09:30:00+32""#);
    let ModuleLine::Urc(Urc::Ntp {
        result,
        time: Some(time),
    }) = ntp
    else {
        panic!("{ntp:?}")
    };
    assert_eq!(
        (result, time.year, time.long_year),
        (NtpResult::Synced, 2024, true)
    );
    assert_eq!(
        ModuleLine::parse(b"+QNTP: 565"),
        ModuleLine::Urc(Urc::Ntp {
            result: NtpResult::from_code(565),
            time: None
        })
    );
    let Some(Info::NetworkTime { time, dst }) = Info::parse_for(
        K::Qlts,
        Form::Execute,
        br#"+QLTS: "2019/01/13,03:40:48+32,0""#,
    ) else {
        panic!()
    };
    assert_eq!((time.year, time.hour, dst), (2019, 3, Some(0)));
    for bad in [
        &br#"+QFLST: "UFS:a""#[..],              // no size
        br#"+QFLST: UFS:a,12"#,                  // unquoted name
        br#"+QFLST: "UFS:a",-1"#,                // negative size
        br#"+CCLK: 24/05/17,09:30:00+32"#,       // unquoted time
        br#"+CCLK: "24/13/17,09:30:00+32""#,     // month 13
        br#"+QNTP: 0,"yesterday""#,              // not a time
        br#"+QLTS: "2019/01/13,03:40:48+32,x""#, // bad dst
    ] {
        assert!(
            matches!(ModuleLine::parse(bad), ModuleLine::Unknown(_)),
            "{:?}",
            bad.escape_ascii().to_string()
        );
    }
}
