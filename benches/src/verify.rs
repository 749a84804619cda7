//! Checking contenders against the ground truth, and the `verify.json` the table printer reads.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::Truth;
use crate::contenders::{Contender, Counts, Field, ReadModel};

/// One contender's result in one read model, checked against the truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The contender's name.
    pub contender: String,
    /// The read model's label (`whole`, `64`, `4096`).
    pub read: String,
    /// Whether every checked field matched and nothing was lost or misread.
    pub verified: bool,
    /// `field: got/expected` for each checked field that differs, plus the failure counters, or
    /// `all N checked fields match`.
    pub summary: String,
    /// The checked fields as `(name, got, expected)`.
    pub fields: Vec<(String, u64, u64)>,
    /// The contender's extra counters.
    pub counts: Counts,
}

/// Checks `counts` of `contender` in `model` against `truth`: the fields the contender reports
/// must match, and it must have no failed parses, panics, buffer clears or untyped items.
pub fn check(
    contender: Contender,
    model: ReadModel,
    counts: &Counts,
    truth: &Truth,
) -> Verification {
    let mut fields = Vec::new();
    let mut diffs = Vec::new();
    for &f in contender.checks() {
        let (got, want) = (f.get(&counts.found), f.get(truth));
        fields.push((f.name().to_owned(), got, want));
        if got != want {
            diffs.push(format!("{} {got}/{want}", f.name()));
        }
    }
    for (name, n) in [
        ("failed parses", counts.failed),
        ("panics", counts.panicked),
        ("buffer clears", counts.cleared),
        ("other items", counts.other),
    ] {
        if n > 0 {
            diffs.push(format!("{name} {n}"));
        }
    }
    let verified = diffs.is_empty();
    let summary = if verified {
        format!("all {} checked fields match", fields.len())
    } else {
        format!("got/expected: {}", diffs.join(", "))
    };
    Verification {
        contender: contender.name().to_owned(),
        read: model.label(),
        verified,
        summary,
        fields,
        counts: *counts,
    }
}

impl Verification {
    /// The JSON object written to `verify.json`.
    pub fn to_json(&self) -> Value {
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|(n, got, want)| (n.clone(), json!({ "got": got, "expected": want })))
            .collect();
        json!({
            "contender": self.contender,
            "read": self.read,
            "verified": self.verified,
            "summary": self.summary,
            "fields": fields,
            "other": self.counts.other,
            "failed": self.counts.failed,
            "panicked": self.counts.panicked,
            "cleared": self.counts.cleared,
        })
    }
}

/// Where the bench writes its verification results: `<target>/qmt-bench/verify.json`.
pub fn verify_path() -> PathBuf {
    crate::target_dir().join("qmt-bench").join("verify.json")
}

/// Writes `results` (and the stream's size and truth) as JSON to `path`, creating its directory.
pub fn write(
    path: &Path,
    stream_len: usize,
    truth: &Truth,
    results: &[Verification],
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let truth: serde_json::Map<String, Value> = Field::ALL
        .iter()
        .map(|f| (f.name().to_owned(), json!(f.get(truth))))
        .collect();
    let doc = json!({
        "stream_len": stream_len,
        "truth": truth,
        "results": results.iter().map(Verification::to_json).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
