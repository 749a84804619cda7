//! `qmt status`: the module at a glance, as `mmcli -m 0` shows a modem — model, firmware, IMEI,
//! ICCID, SIM, operator and access technology, registration per domain, signal, PDP contexts and
//! MQTT clients (spec §10). It brings nothing up and changes nothing: it works on a module that is
//! not registered, and says so.

use std::process::ExitCode;

use clap::Args;
use qmt_client::ModemConfig;
use qmt_client::sansio::{ModemStatus, Registration, stat_words};
use qmt_sim::SimConfig;

use crate::failure::{Failure, exit};

/// `qmt status` flags.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    module: crate::open::ModuleArgs,
    /// One JSON object on stdout (keys: model, firmware, imei, iccid, sim, operator, access,
    /// registration, signal_dbm, signal, pdp, mqtt_clients).
    #[arg(long)]
    json: bool,
}

/// Runs `qmt status`.
pub fn run(args: StatusArgs) -> ExitCode {
    match status(&args) {
        Ok(s) => {
            if args.json {
                println!("{}", to_json(&s));
            } else {
                print!("{}", to_text(&s));
            }
            ExitCode::SUCCESS
        }
        Err(f) => f.report("status"),
    }
}

fn status(args: &StatusArgs) -> Result<ModemStatus, Failure> {
    let mut config = ModemConfig::default();
    let (_sim, path) = args.module.start(SimConfig::default, &mut config)?;
    // Status only looks: stale clients are part of what it shows, not something to close.
    config.close_stale = false;
    let (modem, shown) = crate::open::open(&path, config)?;
    modem
        .status()
        .map_err(|e| Failure::new(exit::OTHER, format!("{shown}: {e}")))
}

fn reg_json(r: Option<&Registration>) -> serde_json::Value {
    match r {
        None => serde_json::Value::Null,
        Some(r) => serde_json::json!({
            "stat": r.stat.code(),
            "state": stat_words(r.stat),
            "area": r.area,
            "cell": r.cell,
            "act": r.act,
        }),
    }
}

/// The status as one JSON object (the keys `qmt status --help` names).
pub fn to_json(s: &ModemStatus) -> serde_json::Value {
    serde_json::json!({
        "manufacturer": s.manufacturer,
        "model": s.model,
        "firmware": s.firmware,
        "imei": s.imei,
        "iccid": s.iccid,
        "sim": s.sim.to_string(),
        "operator": s.operator,
        "access": s.access,
        "band": s.band,
        "registered": s.registered(),
        "registration": {
            "creg": reg_json(s.creg.as_ref()),
            "cgreg": reg_json(s.cgreg.as_ref()),
            "cereg": reg_json(s.cereg.as_ref()),
        },
        "signal_dbm": s.signal_dbm(),
        "signal": s.signal.map(|q| serde_json::json!({ "rssi": q.rssi, "ber": q.ber })),
        "qcsq": s.qcsq.as_ref().map(|(mode, values)| serde_json::json!({ "sysmode": mode, "values": values })),
        "pdp": s.pdp.iter().map(|c| serde_json::json!({
            "cid": c.cid, "active": c.active, "ip": c.ip, "apn": c.apn,
        })).collect::<Vec<_>>(),
        "mqtt_clients": s.mqtt_clients.iter().map(|c| serde_json::json!({
            "client_idx": c.client_idx,
            "server": c.server.as_ref().map(|(h, p)| format!("{h}:{p}")),
            "state": c.state,
        })).collect::<Vec<_>>(),
    })
}

/// The status as aligned text, `mmcli`-style.
pub fn to_text(s: &ModemStatus) -> String {
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "--".to_owned());
    let reg = |r: &Option<Registration>| match r {
        None => "--".to_owned(),
        Some(r) => {
            let mut t = stat_words(r.stat).to_owned();
            if let (Some(a), Some(c)) = (&r.area, &r.cell) {
                t.push_str(&format!(" (area {a}, cell {c})"));
            }
            t
        }
    };
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<14}| {v}\n"));
    line("model", or(&s.model));
    line("firmware", or(&s.firmware));
    line("imei", or(&s.imei));
    line("iccid", or(&s.iccid));
    line("sim", s.sim.to_string());
    line("operator", or(&s.operator));
    line(
        "access",
        match (&s.access, &s.band) {
            (Some(a), Some(b)) => format!("{a}, {b}"),
            (a, _) => or(a),
        },
    );
    line(
        "registered",
        if s.registered() {
            "yes".to_owned()
        } else {
            "no: the module is not registered for data".to_owned()
        },
    );
    line("  +CREG", reg(&s.creg));
    line("  +CGREG", reg(&s.cgreg));
    line("  +CEREG", reg(&s.cereg));
    line(
        "signal",
        match (s.signal, s.signal_dbm()) {
            (Some(q), Some(dbm)) => format!("{dbm} dBm (CSQ {})", q.rssi),
            (Some(q), None) => format!("unknown (CSQ {})", q.rssi),
            (None, _) => "--".to_owned(),
        },
    );
    if let Some((mode, values)) = &s.qcsq {
        let values: Vec<String> = values.iter().map(i64::to_string).collect();
        line("qcsq", format!("{mode} {}", values.join(",")));
    }
    if s.pdp.is_empty() {
        line("pdp", "no context active".to_owned());
    }
    for c in &s.pdp {
        line(
            &format!("pdp {}", c.cid),
            format!(
                "{}{}{}",
                if c.active { "active" } else { "inactive" },
                c.ip.as_ref()
                    .map(|ip| format!(", IP {ip}"))
                    .unwrap_or_default(),
                c.apn
                    .as_ref()
                    .map(|a| format!(", APN \"{a}\""))
                    .unwrap_or_default(),
            ),
        );
    }
    if s.mqtt_clients.is_empty() {
        line("mqtt", "no client open".to_owned());
    }
    for c in &s.mqtt_clients {
        line(
            &format!("mqtt {}", c.client_idx),
            format!(
                "{}{}",
                c.server
                    .as_ref()
                    .map(|(h, p)| format!("open to {h}:{p}"))
                    .unwrap_or_else(|| "not open".to_owned()),
                c.state
                    .as_ref()
                    .map(|st| format!(", {st}"))
                    .unwrap_or_default()
            ),
        );
    }
    format!("modem\n{out}")
}
