//! Issue 8, through the API: every `ClientOptions` setting and every `Client` operation parameter
//! out of range, too long or holding a byte a quoted AT string cannot carry is refused with a
//! typed error that names the spec's parameter and the allowed range, never echoes the value, and
//! the sim's trace of host→module bytes proves that nothing of the failing operation reached the
//! port.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::{Arc, Mutex};

use qmt_client::{Client, ClientError, ClientOptionsBuilder, Modem, ModemConfig, Qos};
use qmt_proto::cfg::DataEncoding;
use qmt_proto::error::ParamError;
use qmt_sim::{Sim, SimConfig, SimHandle, TraceDir};
use support::opts;

/// Every byte the host wrote to the sim's pty.
type Wire = Arc<Mutex<Vec<u8>>>;

fn traced_sim() -> (SimHandle, Wire) {
    let wire = Wire::default();
    let w = Arc::clone(&wire);
    let sim = Sim::start(SimConfig {
        trace: Some(Box::new(move |dir, bytes| {
            if matches!(dir, TraceDir::Host) {
                w.lock().unwrap().extend_from_slice(bytes);
            }
        })),
        ..SimConfig::default()
    })
    .unwrap();
    (sim, wire)
}

fn wire_len(w: &Wire) -> usize {
    w.lock().unwrap().len()
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The error is typed (`Invalid` naming `param`, or `PayloadTooLarge`), its message names the
/// parameter and the allowed values, and neither its message nor its Debug form holds `value`.
fn check_error(case: &str, e: &ClientError, param: &str, allowed: &str, value: &str) {
    match e {
        ClientError::Invalid(
            ParamError::OutOfRange { param: p, .. }
            | ParamError::Length { param: p, .. }
            | ParamError::ForbiddenByte { param: p, .. }
            | ParamError::Invalid { param: p, .. },
        ) => assert_eq!(*p, param, "{case}: wrong parameter in {e:?}"),
        ClientError::PayloadTooLarge { .. } => {}
        other => panic!("{case}: not a parameter error: {other:?}"),
    }
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{case}: not one line: {msg:?}");
    assert!(msg.contains(param), "{case}: {msg:?} does not name {param}");
    assert!(
        msg.contains(allowed),
        "{case}: {msg:?} does not say what is allowed ({allowed})"
    );
    assert!(
        msg.contains("nothing was written"),
        "{case}: {msg:?} does not say nothing was written"
    );
    // Numbers are echoed (harmless); strings never are: they may be secrets.
    if value.len() >= 4 {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(value), "{case}: the value leaked: {shown}");
    }
}

const FORBIDDEN: [char; 3] = ['"', '\r', '\n'];
const FORBIDDEN_MSG: &str = "CR, LF are forbidden";

/// One string parameter: too long, and once per forbidden byte. `make` puts the value in the
/// builder. `min` > 0 adds the empty value.
fn string_cases(
    cases: &mut Vec<(
        String,
        ClientOptionsBuilder,
        &'static str,
        &'static str,
        String,
    )>,
    param: &'static str,
    max: usize,
    min: usize,
    allowed: &'static str,
    make: impl Fn(String) -> ClientOptionsBuilder,
) {
    let long = format!("{param}-SECRET-").repeat(max).replace(' ', "_")[..max + 1].to_owned();
    cases.push((
        format!("{param} {} bytes", max + 1),
        make(long.clone()),
        param,
        allowed,
        long,
    ));
    if min > 0 {
        cases.push((
            format!("{param} empty"),
            make(String::new()),
            param,
            allowed,
            String::new(),
        ));
    }
    for c in FORBIDDEN {
        let v = format!("{}-hunter2{c}tail", param.replace(' ', "_"));
        cases.push((
            format!("{param} holding {c:?}"),
            make(v.clone()),
            param,
            FORBIDDEN_MSG,
            v,
        ));
    }
}

#[test]
fn every_bad_option_is_refused_at_build_before_any_port_is_opened() {
    let (sim, wire) = traced_sim();
    type Case = (
        String,
        ClientOptionsBuilder,
        &'static str,
        &'static str,
        String,
    );
    let base = || opts("qmt-bad-opts");
    let num = |name: &str, b: ClientOptionsBuilder, param, allowed| -> Case {
        (name.to_owned(), b, param, allowed, String::new())
    };
    let mut cases: Vec<Case> = vec![
        num(
            "keepalive 3601",
            base().keep_alive(3601),
            "keep_alive_time",
            "0-3600",
        ),
        num(
            "keepalive -1",
            base().keep_alive(-1),
            "keep_alive_time",
            "0-3600",
        ),
        num(
            "pkt_timeout 0",
            base().timeout(0, 3, false),
            "pkt_timeout",
            "1-60",
        ),
        num(
            "pkt_timeout 61",
            base().timeout(61, 3, false),
            "pkt_timeout",
            "1-60",
        ),
        num(
            "retry 11",
            base().timeout(5, 11, false),
            "retry_times",
            "0-10",
        ),
        num(
            "retry -1",
            base().timeout(5, -1, true),
            "retry_times",
            "0-10",
        ),
        num("pdpcid 0", base().pdp_cid(0), "cid", "1-15"),
        num("pdpcid 16", base().pdp_cid(16), "cid", "1-15"),
        num("qmtping 4", base().qmtping(4), "qmtping_interval", "5-60"),
        num("qmtping 61", base().qmtping(61), "qmtping_interval", "5-60"),
        num(
            "edit_time 0",
            base().edit_timeout(true, Some(0)),
            "edit_time",
            "1-120",
        ),
        num(
            "edit_time 121",
            base().edit_timeout(true, Some(121)),
            "edit_time",
            "1-120",
        ),
        num("port 0", base().port(0), "port", "1-65535"),
        num("port 65536", base().port(65536), "port", "1-65535"),
        num(
            "vsn 5",
            base().version(5),
            "vsn",
            "3 (MQTT 3.1), 4 (MQTT 3.1.1)",
        ),
        num("ssl ctx 6", base().tls(6), "SSL_ctx_idx", "0-5"),
        num("ssl ctx -1", base().tls(-1), "SSL_ctx_idx", "0-5"),
        num(
            "willex 257 bytes",
            base().will_bytes(Qos::AtMostOnce, false, "w/t", vec![b'x'; 257]),
            "will_len",
            "0-256",
        ),
        num(
            "aliauth with credentials",
            base()
                .ali_auth("pk", "dn", "ds")
                .credentials("user", "pass"),
            "username",
            "aliauth is set",
        ),
        num(
            "two cloud authentications",
            base().ali_auth("pk", "dn", "ds").onenet("pid", "key"),
            "aliauth/onenet/hwauth/hwprodid",
            "at most one",
        ),
    ];
    let c = &mut cases;
    string_cases(c, "host_name", 100, 1, "1-100 bytes", |v| {
        opts("id").host(v)
    });
    string_cases(c, "clientid", 256, 1, "1-256 bytes", |v| {
        opts("id").client_id(v)
    });
    string_cases(c, "username", 256, 0, "0-256 bytes", |v| {
        base().credentials(v, "pw")
    });
    string_cases(c, "password", 256, 0, "0-256 bytes", |v| {
        base().credentials("user", v)
    });
    string_cases(c, "topic", 256, 1, "1-256 bytes", |v| {
        base().will(Qos::AtLeastOnce, false, v, "bye")
    });
    // The same checks guard willex's topic.
    for bad in ["a\"b", "a\rb", "a\nb"] {
        c.push((
            format!("willex topic {bad:?}"),
            base().will_bytes(Qos::AtLeastOnce, false, bad, b"bye".to_vec()),
            "topic",
            FORBIDDEN_MSG,
            String::new(),
        ));
    }
    string_cases(c, "willmessage", 256, 0, "0-256 bytes", |v| {
        base().will(Qos::AtLeastOnce, true, "w/t", v)
    });
    string_cases(c, "product key", 256, 1, "1-256 bytes", |v| {
        base().ali_auth(v, "dn", "ds")
    });
    string_cases(c, "device name", 256, 1, "1-256 bytes", |v| {
        base().ali_auth("pk", v, "ds")
    });
    string_cases(c, "device secret", 256, 1, "1-256 bytes", |v| {
        base().ali_auth("pk", "dn", v)
    });
    string_cases(c, "product id", 256, 1, "1-256 bytes", |v| {
        base().onenet(v, "key")
    });
    string_cases(c, "access key", 256, 1, "1-256 bytes", |v| {
        base().onenet("pid", v)
    });
    // hwauth's device secret and hwprodid's fields.
    let hw = |v: String| base().hw_auth("pid", v, None);
    for (name, b) in [
        ("device secret (hwauth) too long", hw("d".repeat(257))),
        ("device secret (hwauth) with CR", hw("hw-hunter2\r".into())),
    ] {
        c.push((name.into(), b, "device secret", "", String::new()));
    }
    string_cases(c, "product secret", 256, 1, "1-256 bytes", |v| {
        base().hw_prod_id("pid", v, "node", Some(true))
    });
    string_cases(c, "nodeid", 256, 1, "1-256 bytes", |v| {
        base().hw_prod_id("pid", "psecret", v, None)
    });

    assert!(cases.len() > 80, "{} cases", cases.len());
    for (name, builder, param, allowed, value) in cases {
        // The builder's Debug form never shows a secret either.
        if param.contains("secret") || param == "password" || param == "access key" {
            let shown = format!("{builder:?}");
            assert!(
                value.is_empty() || !shown.contains(&value),
                "{name}: {shown}"
            );
        }
        let e = builder.build().unwrap_err();
        let allowed = if allowed.is_empty() {
            if name.contains("CR") {
                FORBIDDEN_MSG
            } else {
                "1-256 bytes"
            }
        } else {
            allowed
        };
        check_error(&name, &e, param, allowed, &value);
    }
    // The QoS of a will (and of every operation) is a type: 3 cannot be made.
    let e = ClientError::from(Qos::new(3).unwrap_err());
    check_error("qos 3", &e, "qos", "0-2", "");

    // Nothing was opened: the sim saw no byte at all. Then a modem does write (the trace works).
    assert_eq!(wire_len(&wire), 0, "{:?}", wire.lock().unwrap());
    let _modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    assert!(count(&wire.lock().unwrap(), b"AT") > 0);
}

/// After `failing` (which must fail), a good publish completes: everything the host wrote since
/// `before` is that publish alone, so the failing call wrote nothing (the round trip proves any
/// earlier write would have been seen first).
fn assert_nothing_written(case: &str, client: &Client, wire: &Wire, before: usize) {
    client
        .publish("qmt/bad/ok", "ok", Qos::AtLeastOnce, false)
        .unwrap_or_else(|e| panic!("{case}: the client no longer works: {e}"));
    let w = wire.lock().unwrap();
    let delta = &w[before..];
    assert!(
        delta.starts_with(b"AT+QMTPUBEX=") && count(delta, b"AT+") == 1,
        "{case}: bytes of the failing call reached the port: {:?}",
        String::from_utf8_lossy(delta)
    );
}

type Op = Box<dyn Fn(&Client, &Client, &Modem) -> ClientError>;

#[test]
fn every_bad_operation_parameter_is_refused_before_a_byte_is_written() {
    let (sim, wire) = traced_sim();
    let modem = Modem::open(sim.pty_path(), ModemConfig::default()).unwrap();
    let (client, _conn) = modem
        .client(0, opts("qmt-bad-ops").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    let (hex, _hconn) = modem
        .client(
            1,
            opts("qmt-bad-ops-hex")
                .send_mode(DataEncoding::Hex)
                .build()
                .unwrap(),
        )
        .unwrap();
    hex.connect().unwrap();
    assert!(count(&wire.lock().unwrap(), b"AT+QMTCONN=") == 2);

    let long_topic = "qmt/LONGTOPIC/".repeat(20)[..257].to_owned();
    let six: Vec<String> = (0..6).map(|n| format!("qmt/f/{n}")).collect();
    let mut cases: Vec<(String, Op, &str, &str, String)> = vec![
        (
            "publish payload 1501 bytes".into(),
            Box::new(|c, _, _| {
                c.publish("qmt/bad", vec![b'p'; 1501], Qos::AtLeastOnce, false)
                    .unwrap_err()
            }),
            "payload",
            "at most 1500",
            String::new(),
        ),
        (
            "publish payload 751 bytes in hex mode".into(),
            Box::new(|_, h, _| {
                h.publish("qmt/bad", vec![b'p'; 751], Qos::AtMostOnce, false)
                    .unwrap_err()
            }),
            "payload",
            "at most 750",
            String::new(),
        ),
        (
            "publish_request payload 1501 bytes".into(),
            Box::new(|c, _, _| {
                c.publish_request("qmt/bad", vec![b'p'; 1501], Qos::ExactlyOnce, true)
                    .unwrap_err()
            }),
            "payload",
            "at most 1500",
            String::new(),
        ),
        (
            "subscribe 6 filters".into(),
            Box::new({
                let six = six.clone();
                move |c, _, _| {
                    let f: Vec<(&str, Qos)> =
                        six.iter().map(|t| (t.as_str(), Qos::AtMostOnce)).collect();
                    c.subscribe(&f).unwrap_err()
                }
            }),
            "number of topics",
            "1-5",
            String::new(),
        ),
        (
            "subscribe no filter".into(),
            Box::new(|c, _, _| c.subscribe(&[]).unwrap_err()),
            "number of topics",
            "1-5",
            String::new(),
        ),
        (
            "unsubscribe 6 filters".into(),
            Box::new({
                let six = six.clone();
                move |c, _, _| {
                    let f: Vec<&str> = six.iter().map(String::as_str).collect();
                    c.unsubscribe(&f).unwrap_err()
                }
            }),
            "number of topics",
            "1-5",
            String::new(),
        ),
        (
            "unsubscribe no filter".into(),
            Box::new(|c, _, _| c.unsubscribe(&[]).unwrap_err()),
            "number of topics",
            "1-5",
            String::new(),
        ),
        (
            "client_idx 6".into(),
            Box::new(|_, _, m| {
                m.client(6, opts("x").build().unwrap())
                    .map(|_| ())
                    .unwrap_err()
            }),
            "client_idx",
            "0-5",
            String::new(),
        ),
    ];
    // Topics of every operation: too long, empty, each forbidden byte.
    let mut bad_topics: Vec<(String, &str)> = vec![
        (long_topic.clone(), "1-256 bytes"),
        (String::new(), "1-256 bytes"),
    ];
    for c in FORBIDDEN {
        bad_topics.push((format!("qmt/bad{c}topic"), FORBIDDEN_MSG));
    }
    for (t, allowed) in bad_topics {
        let show = format!("{:?}", &t[..t.len().min(24)]);
        let (t1, t2, t3, t4) = (t.clone(), t.clone(), t.clone(), t.clone());
        let ops: [(&str, Op); 4] = [
            (
                "publish",
                Box::new(move |c, _, _| c.publish(&t1, "x", Qos::AtLeastOnce, false).unwrap_err()),
            ),
            (
                "publish_request",
                Box::new(move |c, _, _| {
                    c.publish_request(&t2, "x", Qos::AtMostOnce, false)
                        .map(|_| ())
                        .unwrap_err()
                }),
            ),
            (
                "subscribe",
                Box::new(move |c, _, _| {
                    c.subscribe(&[("qmt/ok", Qos::AtMostOnce), (&t3, Qos::AtLeastOnce)])
                        .unwrap_err()
                }),
            ),
            (
                "unsubscribe",
                Box::new(move |c, _, _| c.unsubscribe(&["qmt/ok", &t4]).unwrap_err()),
            ),
        ];
        for (op, f) in ops {
            let value = if t.len() > 4 {
                t.clone()
            } else {
                String::new()
            };
            cases.push((format!("{op} topic {show}"), f, "topic", allowed, value));
        }
    }
    for (name, op, param, allowed, value) in cases {
        let before = wire_len(&wire);
        let e = op(&client, &hex, &modem);
        check_error(&name, &e, param, allowed, &value);
        assert_nothing_written(&name, &client, &wire, before);
    }
    client.disconnect().unwrap();
    hex.disconnect().unwrap();
}
