//! A test-only reader of the text captures in `examples/captures/` (`examples/captures/README.md`)
//! into a replay [`Script`]: `>> X` is a host command (`X`), or after a prompt the host's raw
//! data; `<< X` is the module line `\r\nX\r\n`, `<< >` the prompt `\r\n> `; anything else is a
//! note. The captures have no timestamps, so every step is untimed.

use qmt_sim::replay::Script;

/// The capture's module side.
pub fn script(text: &str) -> Script {
    let mut s = Script::new();
    let mut data_next = false;
    for line in text.lines() {
        if let Some(host) = line.strip_prefix(">> ") {
            if std::mem::take(&mut data_next) {
                s.push_data(host.as_bytes(), None).unwrap();
            } else {
                s.push_command(host.as_bytes(), None).unwrap();
            }
        } else if let Some(module) = line.strip_prefix("<< ") {
            if module == ">" {
                s.push_module(b"\r\n> ", None);
                data_next = true;
            } else {
                s.push_module(format!("\r\n{module}\r\n").as_bytes(), None);
                data_next = module == "CONNECT";
            }
        }
    }
    s
}

/// A capture of `examples/captures/`, by file name.
pub fn read(name: &str) -> String {
    let path = format!("{}/../examples/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
