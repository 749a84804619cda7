//! `cargo xtask burst`: the field report "qmt sub prints 5,153 of a 20,000-message burst",
//! reproduced and measured in one run.
//!
//! mosquitto on a free loopback port; `qmt sim --broker` (the simulated module, on a pty) talking
//! to it; two subscribers to the same topic on the same broker: `qmt sub --port <the sim's pty>`
//! (the module's AT traffic, parsed by qmt) and `mosquitto_sub` (plain MQTT, the yardstick). Once
//! both have subscribed (mosquitto's `subscribe` log says so), `burst TOPIC COUNT` is typed into the
//! sim's console: another client publishes COUNT QoS 0 messages. The table then shows what each
//! subscriber printed and what it cost in CPU.
//!
//! It is a measurement, not a test: nothing about time is asserted, and it fails only when the run
//! cannot be set up (a missing tool, a process that does not start or subscribe).
//!
//! The subscribers' CPU times come from `wait4`'s rusage when they are reaped (microseconds, every
//! thread included): `/proc/<pid>/stat` counts in clock ticks (10 ms), too coarse for the tenth of a
//! second a subscriber spends on a burst. `/proc` still gives the thread counts (sampled every few
//! ms) and the context figures of the sim and the broker.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::{Failure, Step, run, step};

/// What `cargo xtask burst` is asked to do.
pub struct BurstArgs {
    /// Messages in the burst.
    pub count: u64,
    /// Their topic (also the subscribers' filter).
    pub topic: String,
    /// Subscribers still running this long after the burst was typed are killed.
    pub cap: Duration,
    /// A subscriber that printed nothing new for this long while every other one has finished is
    /// killed (it lost messages and would wait for them until the cap).
    pub idle: Duration,
}

/// How often the subscribers' `/proc` entries are read (thread counts, exit).
const SAMPLE_EVERY: Duration = Duration::from_millis(3);

/// How long the start-up steps (broker listening, pty path printed, both subscribed) may take.
const SETUP_WAIT: Duration = Duration::from_secs(60);

/// Runs the measurement and prints the table.
pub fn burst(root: &Path, args: &BurstArgs) -> Step {
    step("cargo build --release -p qmt-cli");
    run(root, "cargo", &["build", "--release", "-p", "qmt-cli"])?;
    let qmt = target_dir(root).join("release/qmt");
    if !qmt.is_file() {
        return Err(Failure(format!("no {} after the build", qmt.display())));
    }
    let sbin = ["/usr/sbin", "/usr/local/sbin"];
    let (Some(mosquitto), Some(mosquitto_sub)) =
        (find("mosquitto", &sbin), find("mosquitto_sub", &[]))
    else {
        return Err(Failure(
            "mosquitto and mosquitto_sub are needed: apt-get install -y mosquitto mosquitto-clients"
                .into(),
        ));
    };
    let clk_tck = clock_ticks(root);
    let dir = std::env::temp_dir().join(format!("qmt-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let mut procs = Procs::default();
    let result = measure(
        &mut procs,
        &dir,
        &qmt,
        &mosquitto,
        &mosquitto_sub,
        clk_tck,
        args,
    );
    procs.stop_all();
    println!("logs: {}", dir.display());
    result
}

/// The target directory cargo builds into: `CARGO_TARGET_DIR` (relative to the workspace root
/// when relative), else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

/// `sysconf(_SC_CLK_TCK)` through `getconf`, the unit of `/proc/<pid>/stat` times (100 on every
/// Linux this runs on, the fallback).
fn clock_ticks(root: &Path) -> f64 {
    crate::output(root, "getconf", &["CLK_TCK"])
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn find(bin: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// The processes this run started, killed (by their own handle) when it ends.
#[derive(Default)]
struct Procs {
    children: Vec<(&'static str, Child)>,
}

impl Procs {
    fn push(&mut self, name: &'static str, child: Child) -> u32 {
        let pid = child.id();
        self.children.push((name, child));
        pid
    }

    fn get(&mut self, name: &str) -> Option<&mut Child> {
        self.children
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
    }

    fn stop_all(&mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// One `/proc/<pid>/stat` reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Stat {
    /// The state letter: `R`, `S`, … `Z` once the process has exited.
    state: char,
    /// User and system time, in clock ticks (all threads, live and exited).
    utime: u64,
    stime: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(11) stime(12).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
    })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The `Threads:` line of `/proc/<pid>/status`.
fn parse_threads(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

fn read_threads(pid: u32) -> Option<u32> {
    parse_threads(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Counts the lines a child writes to its stdout (a pipe), on a thread.
fn count_lines(mut out: impl std::io::Read + Send + 'static) -> (Arc<AtomicU64>, JoinHandle<()>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let handle = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let lines = buf[..n].iter().filter(|b| **b == b'\n').count();
                    c.fetch_add(lines as u64, Ordering::Relaxed);
                }
            }
        }
    });
    (count, handle)
}

/// Collects everything a child writes to a pipe, on a thread.
fn collect(mut out: impl std::io::Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A subscriber under watch.
struct Watched {
    name: &'static str,
    pid: u32,
    lines: Arc<AtomicU64>,
    counter: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    last: Stat,
    max_threads: u32,
    last_count: u64,
    last_change: Instant,
    /// Why it was killed, if it was.
    killed: Option<String>,
    /// Set when it has exited (or was killed) and was reaped.
    end: Option<End>,
}

struct End {
    status: ExitStatus,
    /// Seconds from the burst to the exit.
    after: f64,
    /// CPU seconds in user and system mode, from the rusage of `wait4`.
    user: f64,
    sys: f64,
}

/// Reaps the child `pid` if it has exited (without blocking): its status and CPU times.
///
/// Once reaped, the `Child` handle that started it must not be waited on or killed: its
/// `try_wait` then fails (ECHILD), which [`Procs::stop_all`] takes as "nothing to kill".
#[allow(unsafe_code)]
fn try_reap(pid: u32) -> Option<(ExitStatus, f64, f64)> {
    use std::os::unix::process::ExitStatusExt as _;
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain integers and `timeval`s, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, writable locals of the types wait4 expects, and wait4
    // keeps neither beyond the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    if reaped != pid {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some((
        ExitStatus::from_raw(status),
        secs(usage.ru_utime),
        secs(usage.ru_stime),
    ))
}

fn measure(
    procs: &mut Procs,
    dir: &Path,
    qmt: &Path,
    mosquitto: &Path,
    mosquitto_sub: &Path,
    clk_tck: f64,
    args: &BurstArgs,
) -> Step {
    let count = args.count.to_string();
    let topic = args.topic.as_str();

    // ---- the broker ------------------------------------------------------------------------
    step("mosquitto on a free loopback port");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| Failure(format!("no free port: {e}")))?
        .port();
    // `user root`: mosquitto started as root otherwise drops to its own user, which cannot write
    // our log. No queue limit, so that the broker is not where messages are lost; `subscribe`
    // logs each SUBSCRIBE (how we know both subscribers are ready) without a line per message.
    let conf = format!(
        "user root\npersistence false\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
         max_queued_messages 0\nlog_dest stderr\nlog_type subscribe\nlog_type notice\n\
         log_type warning\nlog_type error\n"
    );
    let conf_path = dir.join("mosquitto.conf");
    let log_path = dir.join("mosquitto.log");
    std::fs::write(&conf_path, conf).map_err(|e| Failure(format!("mosquitto.conf: {e}")))?;
    let log = std::fs::File::create(&log_path).map_err(|e| Failure(format!("log: {e}")))?;
    let broker = Command::new(mosquitto)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| Failure(format!("cannot start mosquitto: {e}")))?;
    let broker_pid = procs.push("mosquitto", broker);
    let until = Instant::now() + SETUP_WAIT;
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > until || read_stat(broker_pid).is_none_or(|s| s.state == 'Z') {
            return Err(Failure(format!(
                "mosquitto does not listen on {port}; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    println!("mosquitto listening on 127.0.0.1:{port}");

    // ---- the simulated module --------------------------------------------------------------
    step("qmt sim --broker (the simulated module, on a pty, using that mosquitto)");
    let sim_err =
        std::fs::File::create(dir.join("sim.stderr")).map_err(|e| Failure(format!("{e}")))?;
    let mut sim = Command::new(qmt)
        .args(["sim", "--broker", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(sim_err)
        .spawn()
        .map_err(|e| Failure(format!("cannot start qmt sim: {e}")))?;
    let sim_in: Option<ChildStdin> = sim.stdin.take();
    let sim_out = sim.stdout.take();
    let sim_pid = procs.push("qmt sim", sim);
    let (Some(mut sim_in), Some(sim_out)) = (sim_in, sim_out) else {
        return Err(Failure("qmt sim: no stdin/stdout pipe".into()));
    };
    // The banner's first line: `qmt sim: module on /dev/pts/N (broker ADDR, external)`. The rest
    // of its stdout is drained, so that the sim never blocks on a full pipe.
    let mut sim_out = BufReader::new(sim_out);
    let mut banner = String::new();
    let pty = loop {
        banner.clear();
        match sim_out.read_line(&mut banner) {
            Ok(0) | Err(_) => {
                return Err(Failure(format!(
                    "qmt sim printed no pty path; its stderr:\n{}",
                    std::fs::read_to_string(dir.join("sim.stderr")).unwrap_or_default()
                )));
            }
            Ok(_) => {}
        }
        if let Some(path) = banner
            .split_once("module on ")
            .and_then(|(_, rest)| rest.split_once(" (broker"))
            .map(|(path, _)| path.trim().to_owned())
        {
            break path;
        }
    };
    if !banner.contains("external") {
        return Err(Failure(format!(
            "qmt sim did not take the external broker: {}",
            banner.trim()
        )));
    }
    let sim_console = collect(sim_out);
    println!("{}", banner.trim());

    // ---- the subscribers -------------------------------------------------------------------
    step("subscribers: qmt sub --port <pty> and mosquitto_sub, same broker, same topic");
    let qmt_id = format!("qmt-burst-sub-{}", std::process::id());
    let mosq_id = format!("mosq-burst-sub-{}", std::process::id());
    let qmt_args = [
        "sub", "--port", &pty, "-t", topic, "-q", "0", "-C", &count, "-i", &qmt_id,
    ];
    println!("qmt {}", qmt_args.join(" "));
    let mut qmt_sub = Command::new(qmt)
        .args(qmt_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure(format!("cannot start qmt sub: {e}")))?;
    let port_s = port.to_string();
    let mosq_args = [
        "-h",
        "127.0.0.1",
        "-p",
        &port_s,
        "-t",
        topic,
        "-q",
        "0",
        "-C",
        &count,
        "-i",
        &mosq_id,
    ];
    println!("mosquitto_sub {}", mosq_args.join(" "));
    let mut mosq_sub = Command::new(mosquitto_sub)
        .args(mosq_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure(format!("cannot start mosquitto_sub: {e}")))?;
    let mut watched = Vec::new();
    for (name, child) in [("qmt sub", &mut qmt_sub), ("mosquitto_sub", &mut mosq_sub)] {
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Failure(format!("{name}: no stdout/stderr pipe")));
        };
        let (lines, counter) = count_lines(out);
        watched.push(Watched {
            name,
            pid: child.id(),
            lines,
            counter: Some(counter),
            stderr: Some(collect(err)),
            last: Stat::default(),
            max_threads: 0,
            last_count: 0,
            last_change: Instant::now(),
            killed: None,
            end: None,
        });
    }
    procs.push("qmt sub", qmt_sub);
    procs.push("mosquitto_sub", mosq_sub);

    // Both subscribed: mosquitto logs `<id> <qos> <topic>` per subscription.
    let until = Instant::now() + SETUP_WAIT;
    for id in [&qmt_id, &mosq_id] {
        let needle = format!(": {id} 0 {topic}");
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.lines().any(|l| l.contains(&needle)) {
                break;
            }
            for w in &mut watched {
                sample(w);
            }
            if let Some(w) = watched.iter().find(|w| w.last.state == 'Z') {
                let name = w.name;
                return Err(Failure(format!(
                    "{name} exited before subscribing; its stderr:\n{}",
                    finish_stderr(procs, &mut watched, name)
                )));
            }
            if Instant::now() > until {
                return Err(Failure(format!(
                    "{id} did not subscribe within {} s; mosquitto's log:\n{log}",
                    SETUP_WAIT.as_secs()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    println!("both subscribed");

    // ---- the burst -------------------------------------------------------------------------
    step(&format!(
        "burst {topic} {count} (typed into the sim's console)"
    ));
    let burst_at = Instant::now();
    writeln!(sim_in, "burst {topic} {count}")
        .and_then(|()| sim_in.flush())
        .map_err(|e| Failure(format!("cannot type into qmt sim: {e}")))?;
    loop {
        let now = Instant::now();
        for i in 0..watched.len() {
            let others_done = watched
                .iter()
                .enumerate()
                .all(|(j, o)| j == i || o.end.is_some());
            let w = &mut watched[i];
            if w.end.is_some() {
                continue;
            }
            sample(w);
            let count = w.lines.load(Ordering::Relaxed);
            if count != w.last_count {
                w.last_count = count;
                w.last_change = now;
            }
            if let Some((status, user, sys)) = try_reap(w.pid) {
                w.end = Some(End {
                    status,
                    after: burst_at.elapsed().as_secs_f64(),
                    user,
                    sys,
                });
                continue;
            }
            if w.killed.is_some() {
                continue;
            }
            let why = if now - burst_at > args.cap {
                format!("killed at the {} s cap", args.cap.as_secs())
            } else if others_done && now - w.last_change > args.idle {
                format!(
                    "killed: nothing new for {} s after the other one finished",
                    args.idle.as_secs()
                )
            } else {
                continue;
            };
            // Killed, it is reaped like any exited process, by a later round.
            if let Some(child) = procs.get(w.name) {
                let _ = child.kill();
            }
            w.killed = Some(why);
        }
        if watched.iter().all(|w| w.end.is_some()) {
            break;
        }
        thread::sleep(SAMPLE_EVERY);
    }

    // ---- figures ---------------------------------------------------------------------------
    let sim_stat = read_stat(sim_pid);
    let broker_stat = read_stat(broker_pid);
    let mut stderrs = Vec::new();
    for w in &mut watched {
        if let Some(h) = w.counter.take() {
            let _ = h.join();
        }
        let err = w.stderr.take().map(|h| h.join().unwrap_or_default());
        stderrs.push(err.unwrap_or_default());
    }
    // The sim's console output is not needed; its thread ends when the sim is stopped.
    drop(sim_console);
    drop(sim_in);

    print_table(&watched, &stderrs, args, clk_tck);
    let secs = |s: Option<Stat>| {
        s.map_or_else(
            || "-".to_owned(),
            |s| format!("{:.2}", (s.utime + s.stime) as f64 / clk_tck),
        )
    };
    println!(
        "context: CPU s so far of qmt sim (the simulated module) {}, of mosquitto {}",
        secs(sim_stat),
        secs(broker_stat)
    );
    Ok(())
}

/// Reads a subscriber's `/proc` entries: its times and state, and its thread count.
fn sample(w: &mut Watched) {
    if let Some(s) = read_stat(w.pid) {
        w.last = s;
    }
    if let Some(t) = read_threads(w.pid) {
        w.max_threads = w.max_threads.max(t);
    }
}

/// The stderr of a subscriber that ended early (reaped here).
fn finish_stderr(procs: &mut Procs, watched: &mut [Watched], name: &str) -> String {
    if let Some(child) = procs.get(name) {
        let _ = child.wait();
    }
    watched
        .iter_mut()
        .find(|w| w.name == name)
        .and_then(|w| w.stderr.take())
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default()
}

/// Whether a stderr line of qmt sub reports lost or late messages.
fn mentions_loss(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["lost", "drop", "lag", "behind", "overflow", "discard"]
        .iter()
        .any(|w| l.contains(w))
}

/// The first whole number in a line (`qmt sub: 129 event(s) lost: …` → 129).
fn first_number(line: &str) -> Option<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
}

fn print_table(watched: &[Watched], stderrs: &[String], args: &BurstArgs, clk_tck: f64) {
    println!(
        "\nburst of {} QoS 0 messages on {}: what each subscriber printed and its CPU",
        args.count, args.topic
    );
    println!(
        "{:<14} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>12} {:>11}  end",
        "subscriber",
        "received",
        "missing",
        "secs",
        "user s",
        "sys s",
        "CPU s",
        "µs CPU/msg",
        "max threads"
    );
    let times = |w: &Watched| match &w.end {
        Some(e) => (e.user, e.sys),
        // Not reaped (cannot happen once the watch loop ends): the last /proc reading.
        None => (w.last.utime as f64 / clk_tck, w.last.stime as f64 / clk_tck),
    };
    let cpu = |w: &Watched| {
        let (u, s) = times(w);
        u + s
    };
    for w in watched {
        let received = w.lines.load(Ordering::Relaxed);
        let end = w.end.as_ref();
        let how = match (&w.killed, end.map(|e| e.status)) {
            (Some(why), _) => why.clone(),
            (None, Some(s)) => s
                .code()
                .map_or_else(|| s.to_string(), |c| format!("exit {c}")),
            (None, None) => "?".to_owned(),
        };
        let (user, sys) = times(w);
        println!(
            "{:<14} {:>9} {:>9} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>12.1} {:>11}  {how}",
            w.name,
            received,
            args.count.saturating_sub(received),
            end.map_or(0.0, |e| e.after),
            user,
            sys,
            cpu(w),
            cpu(w) * 1e6 / args.count.max(1) as f64,
            w.max_threads,
        );
    }
    println!(
        "(secs: from the burst to the exit; µs CPU/msg: CPU s / {} messages published)",
        args.count
    );
    if let (Some(q), Some(m)) = (
        watched.iter().find(|w| w.name == "qmt sub"),
        watched.iter().find(|w| w.name == "mosquitto_sub"),
    ) {
        let ratio = if cpu(m) > 0.0 {
            cpu(q) / cpu(m)
        } else {
            f64::INFINITY
        };
        println!("CPU ratio qmt sub / mosquitto_sub: {ratio:.2} (goal ≤ 1.5)");
    }
    if let Some((w, err)) = watched
        .iter()
        .zip(stderrs)
        .find(|(w, _)| w.name == "qmt sub")
    {
        let loss: Vec<&str> = err.lines().filter(|l| mentions_loss(l)).collect();
        let reported: u64 = loss.iter().filter_map(|l| first_number(l)).sum();
        println!(
            "{} stderr lines that mention drops/lag: {} (the counts in them add up to {reported})",
            w.name,
            loss.len()
        );
        for l in loss.iter().take(5) {
            println!("  {l}");
        }
        if loss.len() > 5 {
            println!("  … and {} more", loss.len() - 5);
        }
        let other: Vec<&str> = err.lines().filter(|l| !mentions_loss(l)).collect();
        for l in other.iter().take(5) {
            println!("  (other stderr) {l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let text = "4242 (qmt (sub) x) Z 1 4242 4242 0 -1 4194560 900 0 0 0 312 45 0 0 20 0 7";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'Z',
                utime: 312,
                stime: 45
            })
        );
        assert_eq!(parse_stat("4242 (qmt) S 1 2"), None);
    }

    #[test]
    fn threads_line_is_read() {
        let status = "Name:\tqmt\nState:\tS (sleeping)\nThreads:\t7\nSigQ:\t0/1\n";
        assert_eq!(parse_threads(status), Some(7));
        assert_eq!(parse_threads("Name:\tqmt\n"), None);
    }

    #[test]
    fn loss_lines_are_told_from_others() {
        assert!(mentions_loss(
            "qmt sub: 120 event(s) lost: this program fell behind the module"
        ));
        assert!(mentions_loss("the serial port's URC queue overflowed"));
        assert!(!mentions_loss("qmt sub: reconnected"));
        assert_eq!(first_number("qmt sub: 129 event(s) lost"), Some(129));
        assert_eq!(first_number("qmt sub: reconnected"), None);
    }
}
