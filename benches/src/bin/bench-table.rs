//! Prints one table of the `framing` bench group: contender, read size, MB/s (median), ratio to
//! the memchr baseline of the same read size, and whether the contender's counts matched the
//! truth; then the ARCHITECTURE.md performance targets, met or missed and by how much.
//!
//! Reads criterion's `<target>/criterion/framing/<contender>/<read>/new/estimates.json` and the
//! bench's `<target>/qmt-bench/verify.json`. Run `cargo bench -p qmt-benches` first. It reports and
//! never gates: the exit code is 0 whether targets are met or not (1 only when there is nothing to
//! read).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use qmt_benches::contenders::{Contender, ReadModel};
use serde_json::Value;

/// One cell of the table.
struct Row {
    contender: &'static str,
    read: String,
    /// Median time for the whole stream, in ns.
    median_ns: Option<f64>,
    verified: Option<bool>,
    summary: String,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| qmt_benches::target_dir().join("criterion"))
}

fn main() -> ExitCode {
    let crit = criterion_dir().join("framing");
    let verify_path = qmt_benches::verify::verify_path();
    let verify = read_json(&verify_path);
    if verify.is_none() {
        eprintln!(
            "no {} (run `cargo bench -p qmt-benches` first)",
            verify_path.display()
        );
    }
    let results = verify
        .as_ref()
        .and_then(|v| v["results"].as_array().cloned())
        .unwrap_or_default();
    // The stream length: from verify.json, else criterion's throughput.
    let stream_len = verify
        .as_ref()
        .and_then(|v| v["stream_len"].as_u64())
        .or_else(|| {
            let b = read_json(&crit.join("memchr/4096/new/benchmark.json"))?;
            b["throughput"]["Bytes"].as_u64()
        });

    let mut rows = Vec::new();
    for contender in Contender::ALL {
        for model in ReadModel::ALL {
            let read = model.label();
            let est = read_json(
                &crit
                    .join(contender.name())
                    .join(&read)
                    .join("new/estimates.json"),
            );
            let median_ns = est.and_then(|e| e["median"]["point_estimate"].as_f64());
            let v = results
                .iter()
                .find(|r| r["contender"] == contender.name() && r["read"] == read.as_str());
            rows.push(Row {
                contender: contender.name(),
                read,
                median_ns,
                verified: v.and_then(|v| v["verified"].as_bool()),
                summary: v
                    .and_then(|v| v["summary"].as_str())
                    .unwrap_or("")
                    .to_owned(),
            });
        }
    }
    if rows.iter().all(|r| r.median_ns.is_none()) {
        eprintln!(
            "no criterion estimates under {} (run `cargo bench -p qmt-benches` first)",
            crit.display()
        );
        return ExitCode::FAILURE;
    }

    let find = |c: &str, read: &str| {
        rows.iter()
            .find(|r| r.contender == c && r.read == read)
            .and_then(|r| r.median_ns)
    };
    // Throughput ratio to the baseline = baseline time / contender time.
    let ratio = |c: &str, read: &str| Some(find("memchr", read)? / find(c, read)?);
    let mbps = |ns: f64| stream_len.map(|len| len as f64 / ns * 1e3);

    match stream_len {
        Some(len) => println!(
            "framing: {:.2} MiB stream (generate(42, 4 << 20)), median of criterion's samples",
            len as f64 / (1 << 20) as f64
        ),
        None => println!("framing: stream length unknown (no verify.json): MB/s not shown"),
    }
    println!();
    println!(
        "| {:<11} | {:>5} | {:>9} | {:>8} | {:<8} | notes",
        "contender", "read", "MB/s", "× memchr", "verified"
    );
    println!(
        "|{:-<13}|{:->7}|{:->11}|{:->10}|{:-<10}|{:-<7}",
        "", "", "", "", "", ""
    );
    for r in &rows {
        let speed = r
            .median_ns
            .and_then(mbps)
            .map_or("—".to_owned(), |m| format!("{m:.0}"));
        let rat = ratio(r.contender, &r.read).map_or("—".to_owned(), |x| format!("{x:.2}×"));
        let (ver, note) = match r.verified {
            Some(true) => ("yes", String::new()),
            Some(false) => ("NO", format!("WRONG: {}", r.summary)),
            None => ("?", "not verified (no verify.json entry)".to_owned()),
        };
        let note = if r.median_ns.is_none() {
            format!("not timed {note}")
        } else {
            note
        };
        println!(
            "| {:<11} | {:>5} | {:>9} | {:>8} | {:<8} | {}",
            r.contender, r.read, speed, rat, ver, note
        );
    }

    println!();
    println!(
        "ARCHITECTURE.md performance targets (ratios within this one run; noisy on a shared machine):"
    );
    let target = |what: String, got: Option<f64>, min: f64| match got {
        Some(x) if x >= min => println!(
            "  met     {what}: {x:.2}× (≥ {min:.2}×, by +{:.2}×)",
            x - min
        ),
        Some(x) => println!(
            "  MISSED  {what}: {x:.2}× (≥ {min:.2}×, short by {:.2}×)",
            min - x
        ),
        None => println!("  ?       {what}: no measurement (≥ {min:.2}×)"),
    };
    for read in ["whole", "64", "4096"] {
        target(
            format!("at-codec framing vs memchr, {read:>5} reads"),
            ratio("at-codec", read),
            0.6,
        );
    }
    target(
        "typed decode vs memchr,     4096 reads".to_owned(),
        ratio("typed", "4096"),
        0.45,
    );
    target(
        "typed decode vs memchr,       64 reads".to_owned(),
        ratio("typed", "64"),
        0.25,
    );
    let atat_verified = rows
        .iter()
        .find(|r| r.contender == "atat" && r.read == "4096")
        .and_then(|r| r.verified);
    target(
        format!(
            "typed faster than atat,     4096 reads{}",
            if atat_verified == Some(false) {
                " (atat unverified: it loses items)"
            } else {
                ""
            }
        ),
        (|| Some(find("atat", "4096")? / find("typed", "4096")?))(),
        5.0,
    );
    ExitCode::SUCCESS
}
