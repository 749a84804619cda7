//! The whole `qmt decode` pipeline (`qmt_cli::decode::run`) on arbitrary captures: text logs
//! (`>>`/`<<` lines) and raw module bytes, with text and JSON output and each `LenMode`. It never
//! panics, never fails writing to a sink, and its summary counts add up.
//!
//! Input layout: byte 0 chooses the options (bit 0: JSON; bits 1–2: `LenMode` On/Off/Split/On;
//! bit 3: prepend `<< ` so that a raw capture is read as a one-line text log), the rest is the
//! capture.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmt_cli::decode::{Options, run};
use qmt_proto::recv::LenMode;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, capture)) = data.split_first() else {
        return;
    };
    let opts = Options {
        json: sel & 1 != 0,
        recv_len: match (sel >> 1) & 3 {
            1 => LenMode::Off,
            2 => LenMode::Split,
            _ => LenMode::On,
        },
    };
    let owned;
    let capture = if sel & 8 != 0 {
        owned = [&b"<< "[..], capture].concat();
        &owned[..]
    } else {
        capture
    };
    let summary = match run(capture, &opts, &mut std::io::sink()) {
        Ok(s) => s,
        Err(e) => panic!("writing to a sink failed: {e}"),
    };
    assert_eq!(summary.events, summary.by_kind.values().sum::<usize>());
    assert_eq!(summary.events, summary.by_name.values().sum::<usize>());
    assert_eq!(
        summary.unknown,
        summary.by_kind.get("unknown").copied().unwrap_or(0)
    );
    assert_eq!(
        summary.overflows,
        summary.by_kind.get("overflow").copied().unwrap_or(0)
    );
    assert_eq!(
        summary.bad_commands,
        summary.by_kind.get("invalid").copied().unwrap_or(0)
    );
});
