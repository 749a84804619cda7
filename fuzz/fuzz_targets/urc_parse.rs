//! One module line of arbitrary bytes.
//!
//! - `ModuleLine::parse` never panics, and whatever it types (anything but `Unknown`) re-encodes
//!   to bytes that parse back to the same value (ARCHITECTURE.md "Round trips").
//! - `Info::parse_for` (the command-aware classifier) never panics for any (command, form), and
//!   what it types re-encodes to bytes it types the same way again.
//! - The `RecvHook` answers every mode without panicking, and never announces an inline count
//!   shorter than the header it has read (the framer relies on that).
#![no_main]

use at_codec::{Counted, PayloadHook};
use libfuzzer_sys::fuzz_target;
use qmt_proto::kind::{CommandKind, Form};
use qmt_proto::recv::LenMode;
use qmt_proto::{Info, ModuleLine, RecvHook};

const KINDS: [CommandKind; CommandKind::ALL.len()] = CommandKind::ALL;
const FORMS: [Form; 4] = [Form::Test, Form::Read, Form::Write, Form::Execute];

fuzz_target!(|data: &[u8]| {
    let line = ModuleLine::parse(data);
    let _ = format!("{line:?}");
    if !matches!(line, ModuleLine::Unknown(_)) {
        let mut enc = Vec::new();
        line.encode(&mut enc);
        let again = ModuleLine::parse(&enc);
        assert_eq!(
            again,
            line,
            "parse(encode(parse(x))) != parse(x) for x = {:?}, encoded = {:?}",
            data.escape_ascii().to_string(),
            enc.escape_ascii().to_string()
        );
        let mut framed = Vec::new();
        line.encode_framed(&mut framed);
    }

    for kind in KINDS {
        for form in FORMS {
            let Some(info) = Info::parse_for(kind, form, data) else {
                continue;
            };
            let _ = format!("{info:?}");
            let mut enc = Vec::new();
            info.encode(&mut enc);
            let again = Info::parse_for(kind, form, &enc);
            assert_eq!(
                again.as_ref(),
                Some(&info),
                "{kind:?} {form:?}: parse_for(encode(parse_for(x))) differs for x = {:?}, encoded = {:?}",
                data.escape_ascii().to_string(),
                enc.escape_ascii().to_string()
            );
        }
    }

    for hook in [
        RecvHook::all(LenMode::Off),
        RecvHook::all(LenMode::On),
        RecvHook::all(LenMode::Split),
        RecvHook::auto().with_max_len(8),
    ] {
        match hook.counted(data) {
            Counted::None => {}
            Counted::Inline(n) => {
                assert!(
                    n <= data.len() + hook.max_len(),
                    "inline count {n} past header + max_len"
                );
                assert!(n > 0, "an inline count covers at least the header");
            }
            Counted::Following(n) => {
                assert!(n <= hook.max_len());
                assert_ne!(
                    hook,
                    RecvHook::all(LenMode::On),
                    "Following only in Split mode"
                );
            }
        }
    }
});
