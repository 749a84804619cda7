//! `qmt ports`: the serial ports of this machine, which of them belong to a Quectel module and
//! what each is for (docs/usb-ports.md), optionally whether each answers `AT`; and `--port auto`
//! for the commands that open a module.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use qmt_transport::lock::{self, modem_manager_remedy};
use qmt_transport::{PROBE_TIMEOUT, PortInfo, PortRole, ProbeResult, list_ports, probe};

use crate::failure::{Failure, exit};

/// `qmt ports` flags.
#[derive(Args, Debug)]
pub struct PortsArgs {
    /// Send `AT` to each Quectel port that is not a diagnostics or NMEA port (and to every
    /// non-Quectel USB serial port) and say which answer. Writes nothing else; waits 500 ms per
    /// port at most.
    #[arg(long)]
    probe: bool,
    /// One JSON array on stdout, an object per port (keys: path, vid, pid, interface, role,
    /// model, probe, busy, holder).
    #[arg(long)]
    json: bool,
}

/// One listed port with what was found about it.
struct Row {
    info: PortInfo,
    probe: Option<ProbeResult>,
    holder: Option<lock::Holder>,
}

impl Row {
    fn busy(&self) -> bool {
        self.holder.is_some() || matches!(self.probe, Some(ProbeResult::Busy { .. }))
    }
}

/// Runs `qmt ports`.
pub fn run(args: PortsArgs) -> ExitCode {
    let ports = match list_ports() {
        Ok(p) => p,
        Err(e) => {
            return Failure::new(exit::OTHER, format!("cannot read /sys/class/tty: {e}"))
                .report("ports");
        }
    };
    let rows: Vec<Row> = ports
        .into_iter()
        .map(|info| {
            let probe =
                (args.probe && worth_probing(&info)).then(|| probe(&info.path, PROBE_TIMEOUT));
            let holder = match &probe {
                Some(ProbeResult::Busy { holder }) => holder.clone(),
                _ => lock::holders(&info.path).into_iter().next(),
            };
            Row {
                info,
                probe,
                holder,
            }
        })
        .collect();
    if args.json {
        println!("{}", to_json(&rows));
    } else {
        print!("{}", to_text(&rows, lock::modem_manager()));
    }
    ExitCode::SUCCESS
}

/// Diagnostics and NMEA ports are never AT ports, and a legacy UART is rarely a module: only
/// the rest is probed.
fn worth_probing(p: &PortInfo) -> bool {
    p.usb.is_some() && !matches!(p.role, Some(PortRole::Diagnostics | PortRole::Nmea))
}

fn to_json(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let usb = r.info.usb.as_ref();
                serde_json::json!({
                    "path": r.info.path.display().to_string(),
                    "vid": usb.map(|u| format!("{:04x}", u.vid)),
                    "pid": usb.map(|u| format!("{:04x}", u.pid)),
                    "interface": usb.and_then(|u| u.interface),
                    "role": r.info.role.map(|x| x.name()),
                    "model": r.info.model,
                    "probe": r.probe.as_ref().map(ProbeResult::name),
                    "busy": r.busy(),
                    "holder": r.holder.as_ref().map(ToString::to_string),
                })
            })
            .collect(),
    )
}

fn to_text(rows: &[Row], modem_manager: Option<u32>) -> String {
    let mut out = String::new();
    for r in rows {
        let mut line = format!("{:<14}", r.info.path.display());
        match &r.info.usb {
            Some(u) => {
                line.push_str(&format!(" {:04x}:{:04x}", u.vid, u.pid));
                if let Some(i) = u.interface {
                    line.push_str(&format!(" if {i}"));
                }
                if let Some(m) = r.info.model {
                    line.push_str(&format!(" Quectel {m}"));
                } else if let Some(p) = &u.product {
                    line.push_str(&format!(" {p}"));
                }
                if let Some(role) = r.info.role {
                    line.push_str(&format!(" {role} port"));
                } else if r.info.is_quectel() {
                    line.push_str(" (role unknown)");
                }
            }
            None => line.push_str(" (not USB)"),
        }
        if let Some(p) = &r.probe {
            line.push_str(&format!(": {p}"));
        }
        match (&r.holder, &r.probe) {
            (_, Some(ProbeResult::Busy { .. })) | (None, _) => {}
            (Some(h), _) => line.push_str(&format!(" [open in {h}]")),
        }
        out.push_str(&line);
        out.push('\n');
    }
    let at: Vec<&Row> = rows
        .iter()
        .filter(|r| r.info.role == Some(PortRole::At))
        .collect();
    let quectel = rows.iter().any(|r| r.info.is_quectel());
    match at.as_slice() {
        [] if quectel => out.push_str("Quectel module found, but no port of it is a known AT port (see docs/usb-ports.md; try --probe)\n"),
        [] => out.push_str("no Quectel module found\n"),
        [one] => out.push_str(&format!(
            "AT port: {} (use --port {0} or --port auto)\n",
            one.info.path.display()
        )),
        several => out.push_str(&format!(
            "{} Quectel AT ports: {}\n",
            several.len(),
            join(several.iter().map(|r| r.info.path.as_path()))
        )),
    }
    for r in rows {
        if let Some(ProbeResult::Busy { holder }) = &r.probe {
            let remedy = match holder {
                Some(h) => h.remedy(),
                None => "another program has it open or locked; close it".to_owned(),
            };
            out.push_str(&format!("{} is busy: {remedy}\n", r.info.path.display()));
        }
    }
    let garbage = rows
        .iter()
        .any(|r| matches!(r.probe, Some(ProbeResult::Garbage { .. })));
    if let (Some(pid), true) = (modem_manager, quectel) {
        let why = if garbage {
            "and may be probing the module's ports (which then answer garbage)"
        } else {
            "and probes new modem ports"
        };
        out.push_str(&format!(
            "ModemManager runs (pid {pid}) {why}: {}\n",
            modem_manager_remedy()
        ));
    }
    out
}

fn join<'a>(paths: impl Iterator<Item = &'a Path>) -> String {
    paths
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The port a command opens: `path` itself, or for `auto` the single Quectel AT port this
/// machine has (named on stderr). One helper for `pub`, `sub` and `status`.
///
/// # Errors
/// Exit code [`exit::PORT`] when `auto` finds no AT port or several (they are listed), or sysfs
/// cannot be read.
pub fn resolve(path: &Path) -> Result<PathBuf, Failure> {
    if path != Path::new("auto") {
        return Ok(path.to_path_buf());
    }
    let ports = list_ports().map_err(|e| {
        Failure::new(
            exit::PORT,
            format!("--port auto: cannot read /sys/class/tty: {e}"),
        )
    })?;
    let at: Vec<&PortInfo> = ports
        .iter()
        .filter(|p| p.role == Some(PortRole::At))
        .collect();
    match at.as_slice() {
        [one] => {
            eprintln!(
                "qmt: --port auto: using {} (Quectel {})",
                one.path.display(),
                one.model.unwrap_or("module")
            );
            Ok(one.path.clone())
        }
        [] => {
            let quectel: Vec<&Path> = ports
                .iter()
                .filter(|p| p.is_quectel())
                .map(|p| p.path.as_path())
                .collect();
            let detail = if quectel.is_empty() {
                "no Quectel module found".to_owned()
            } else {
                format!(
                    "Quectel ports {} have no known AT role (docs/usb-ports.md); `qmt ports --probe` tells which answers",
                    join(quectel.into_iter())
                )
            };
            Err(Failure::new(
                exit::PORT,
                format!("--port auto: {detail}; give the port with --port PATH"),
            ))
        }
        several => Err(Failure::new(
            exit::PORT,
            format!(
                "--port auto: {} Quectel AT ports ({}); pick one with --port PATH",
                several.len(),
                join(several.iter().map(|p| p.path.as_path()))
            ),
        )),
    }
}
