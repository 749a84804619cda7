//! The contenders against the ground truth: qmt's own verify in every read model; the peers'
//! losses on this stream are pinned on minimal inputs, so the benchmark's WRONG marks have a
//! named cause.

use qmt_benches::contenders::{Contender, Counts, ReadModel, at_commands, atat};
use qmt_benches::verify::check;
use qmt_benches::{Truth, generate};

#[test]
fn memchr_at_codec_and_typed_match_the_truth_in_every_read_model() {
    let s = generate(42, 256 << 10);
    for c in [Contender::Memchr, Contender::AtCodec, Contender::Typed] {
        for m in ReadModel::ALL
            .into_iter()
            .chain([ReadModel::Chunks(1), ReadModel::Chunks(7)])
        {
            let v = check(c, m, &c.run(&s.bytes, m), &s.truth);
            assert!(v.verified, "{}/{}: {}", v.contender, v.read, v.summary);
        }
    }
}

#[test]
fn peers_are_checked_and_found_wrong_on_the_bench_stream() {
    std::panic::set_hook(Box::new(|_| {}));
    let s = generate(42, 256 << 10);
    for c in [Contender::Atat, Contender::AtCommands] {
        for m in ReadModel::ALL {
            let v = check(c, m, &c.run(&s.bytes, m), &s.truth);
            assert!(!v.verified, "{}/{}: {}", v.contender, v.read, v.summary);
        }
    }
    let _ = std::panic::take_hook();
}

fn atat_on(wire: &[u8]) -> Counts {
    atat::run(wire, ReadModel::Whole)
}

#[test]
fn atat_swallows_a_prompt_followed_by_ok_into_the_response() {
    // `\r\n> ` then the publish's `OK`: the digester's success rule takes everything up to
    // `\r\nOK\r\n` as one response `>`; its prompt rule needs the `>` to end the buffer.
    let c = atat_on(b"\r\n> \r\nOK\r\n");
    assert_eq!((c.found.prompts, c.found.ok, c.other), (0, 1, 1));
    // Alone at the end of a read, the prompt is seen.
    assert_eq!(atat_on(b"\r\n> ").found.prompts, 1);
}

#[test]
fn atat_swallows_errors_and_urcs_before_a_later_ok() {
    // Success is searched before errors, anywhere in the buffer: an ERROR, a +CME ERROR and a
    // message that sit before the next OK become the text of one OK response.
    let wire = b"\r\nERROR\r\n\r\n+QMTSTAT: 0,1\r\n\r\n+CME ERROR: 3\r\n\r\nOK\r\n";
    let c = atat_on(wire);
    assert_eq!(
        c.found,
        Truth {
            ok: 1,
            ..Truth::default()
        }
    );
    assert_eq!(c.other, 1);
}

#[test]
fn atat_panics_on_a_payload_ending_in_a_space() {
    // The URC matcher trims the line (`trim_ascii`), so the payload's trailing space is gone and
    // serde_at's `LengthDelimited` slices `len` bytes past the end.
    std::panic::set_hook(Box::new(|_| {}));
    let c = atat_on(b"\r\n+QMTRECV: 0,1,\"t/x\",5,abcd \r\n");
    let _ = std::panic::take_hook();
    assert_eq!((c.found.recv, c.panicked), (0, 1));
}

#[test]
fn atat_misreads_a_topic_ending_in_a_backslash() {
    // serde_at reads `\"` as an escaped quote; the module escapes nothing (spec §1).
    let c = atat_on(b"\r\n+QMTRECV: 0,1,\"t\\\",5,abcde\r\n");
    assert_eq!((c.found.recv, c.failed), (0, 1));
}

#[test]
fn at_commands_drops_leading_spaces_of_an_unquoted_payload() {
    // Every `expect_*` step skips the spaces after it, so the payload loses its leading spaces.
    let mut c = Counts::default();
    at_commands::count_line(&mut c, b"+QMTRECV: 0,1,\"t/x\",5,  abc");
    assert_eq!((c.found.recv, c.found.recv_payload_bytes), (1, 3));
}
