//! Measuring qmt's protocol layers (ARCHITECTURE.md "Performance targets").
//!
//! - [`generate`]: a deterministic, seeded generator of realistic module output with its ground
//!   truth ([`Stream`], [`Truth`]), reusable by fuzz seeds and tests.
//! - [`contenders`]: the parsers the criterion bench `framing` races — a bare memchr line split,
//!   at-codec framing, at-codec + qmt-proto typing, atat and at-commands — each run in the same
//!   serial-reader model and counted in the ground truth's kinds.
//! - [`verify`]: checks a contender's counts against the truth, and writes and reads
//!   `target/qmt-bench/verify.json` for the table printer `bench-table`.
//!
//! ```
//! use qmt_benches::contenders::{Contender, ReadModel};
//!
//! let stream = qmt_benches::generate(42, 64 << 10);
//! let counts = Contender::Typed.run(&stream.bytes, ReadModel::Chunks(64));
//! assert_eq!(counts.found, stream.truth);
//! ```

pub mod contenders;
pub mod generate;
pub mod verify;

pub use generate::{SplitMix64, Stream, Truth, generate};

/// The seed of the benchmark stream.
pub const BENCH_SEED: u64 = 42;
/// The length of the benchmark stream: about 4 MiB.
pub const BENCH_LEN: usize = 4 << 20;

/// Cargo's target directory, found the way criterion finds it: `$CARGO_TARGET_DIR`, else
/// `cargo metadata` (when run by cargo), else `target/` of this workspace.
pub fn target_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    let from_metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(std::path::PathBuf::from(v["target_directory"].as_str()?))
    });
    from_metadata
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}
