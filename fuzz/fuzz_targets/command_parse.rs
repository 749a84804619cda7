//! One host command line of arbitrary bytes.
//!
//! - `Command::parse` never panics; its error `Display`s.
//! - `Ok(cmd)`: `cmd.to_bytes()` parses back to `cmd` (ARCHITECTURE.md "Round trips"), the bytes end in
//!   exactly one `\r` and hold no other CR or LF, it parses without that `\r` too, and
//!   `Display`/`Debug`/`kind`/`data_phase` never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmt_proto::Command;

fuzz_target!(|data: &[u8]| {
    let cmd = match Command::parse(data) {
        Ok(cmd) => cmd,
        Err(e) => {
            let _ = e.to_string();
            let _ = format!("{e:?}");
            return;
        }
    };
    let bytes = cmd.to_bytes();
    assert_eq!(bytes.last(), Some(&b'\r'));
    assert!(
        !bytes[..bytes.len() - 1]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n'),
        "encoded command holds a line end: {:?}",
        bytes.escape_ascii().to_string()
    );
    let again = Command::parse(&bytes);
    assert_eq!(
        again.as_ref(),
        Ok(&cmd),
        "parse(to_bytes(parse(x))) != parse(x) for x = {:?}, encoded = {:?}",
        data.escape_ascii().to_string(),
        bytes.escape_ascii().to_string()
    );
    // Without the final CR too (spec §1: the terminator is optional on input).
    assert_eq!(Command::parse(&bytes[..bytes.len() - 1]).as_ref(), Ok(&cmd));
    let shown = cmd.to_string();
    let _ = format!("{cmd:?}");
    assert!(!shown.contains('\r') && !shown.contains('\n'));
    let _ = (cmd.kind(), cmd.data_phase());
});
