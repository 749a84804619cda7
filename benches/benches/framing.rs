//! The `framing` bench group: every contender of `qmt_benches::contenders` over the same ~4 MiB
//! stream (`generate(42, 4 << 20)`), in whole, 64-byte and 4096-byte reads.
//!
//! Before timing, each contender's counts are checked against the stream's truth; the results go
//! to `target/qmt-bench/verify.json` and a contender that mis-parses is reported as WRONG on
//! stderr — it is still timed, but the table printer (`bench-table`) marks it unverified.
//!
//! Ids are `framing/<contender>/<read>`, e.g. `framing/memchr/4096`.
//!
//! Without `--bench` (`cargo test --benches`), criterion runs each benchmark once as a test; the
//! stream is then 64 KiB and verify.json is not written, so tests stay fast.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use qmt_benches::contenders::{Contender, ReadModel};
use qmt_benches::verify::{self, Verification};
use qmt_benches::{BENCH_LEN, BENCH_SEED, generate};

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let len = if bench_mode { BENCH_LEN } else { 64 << 10 };
    let stream = generate(BENCH_SEED, len);

    // atat's URC parser panics on some lines (`tests/contenders.rs`); each panic is caught and counted,
    // and the default hook would print a message per panic.
    std::panic::set_hook(Box::new(|_| {}));

    let mut results: Vec<Verification> = Vec::new();
    for contender in Contender::ALL {
        for model in ReadModel::ALL {
            let counts = contender.run(&stream.bytes, model);
            let v = verify::check(contender, model, &counts, &stream.truth);
            if v.verified {
                eprintln!("verified {}/{}: {}", v.contender, v.read, v.summary);
            } else {
                eprintln!(
                    "WRONG    {}/{} (timed, but unverified): {}",
                    v.contender, v.read, v.summary
                );
            }
            results.push(v);
        }
    }
    if bench_mode {
        let path = verify::verify_path();
        match verify::write(&path, stream.bytes.len(), &stream.truth, &results) {
            Ok(()) => eprintln!("verification results: {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(stream.bytes.len() as u64));
    // One iteration takes milliseconds; flat sampling keeps slow contenders within the time.
    group.sampling_mode(SamplingMode::Flat);
    for contender in Contender::ALL {
        for model in ReadModel::ALL {
            let id = BenchmarkId::new(contender.name(), model.label());
            group.bench_with_input(id, &stream.bytes, |b, bytes| {
                b.iter(|| contender.run(black_box(bytes), model))
            });
        }
    }
    group.finish();
    c.final_summary();
}
