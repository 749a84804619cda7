//! `qmt files`: the module's file system for users (spec §7, §10.8) — list what is stored (TLS
//! certificates and keys in `UFS:`), delete a file, upload one. Contents are never printed; the
//! trace redacts uploads.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use qmt_client::{ClientError, Modem, ModemConfig};
use qmt_sim::{NetworkSim, SimConfig, SimHandle};

use crate::failure::{Failure, exit};

/// `qmt files` flags.
#[derive(Args, Debug)]
pub struct FilesArgs {
    #[command(flatten)]
    module: crate::open::ModuleArgs,
    /// With --sim: a file in the simulated module at start (repeatable), NAME=PATH.
    #[arg(long = "sim-file", value_name = "NAME=PATH", value_parser = crate::sim::parse_file, requires = "sim")]
    sim_files: Vec<(String, Vec<u8>)>,
    #[command(subcommand)]
    action: Action,
}

/// What `qmt files` does.
#[derive(Subcommand, Debug)]
enum Action {
    /// List the module's files (AT+QFLST="*"): name and size.
    List {
        /// A JSON array on stdout, one object per file with the keys `name` and `size`.
        #[arg(long)]
        json: bool,
    },
    /// Delete a file (AT+QFDEL); `UFS:` is added to a name without a drive.
    Rm {
        /// The file's name on the module.
        name: String,
    },
    /// Upload a file (AT+QFUPL, the module's checksum checked). An existing name is refused
    /// unless --replace (then it is deleted first).
    Put {
        /// The local file.
        file: PathBuf,
        /// The name on the module (default: the local file's name); `UFS:` is added to a name
        /// without a drive.
        #[arg(long = "as", value_name = "NAME")]
        name: Option<String>,
        /// Delete a file of the same name first.
        #[arg(long)]
        replace: bool,
    },
}

/// Runs `qmt files`.
pub fn run(args: FilesArgs) -> ExitCode {
    match files(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report("files"),
    }
}

fn full(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        format!("UFS:{name}")
    }
}

fn files(args: &FilesArgs) -> Result<(), Failure> {
    // Read the local file before the port is touched: a bad path is a bad argument.
    let upload = match &args.action {
        Action::Put { file, name, .. } => {
            let data = std::fs::read(file)
                .map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", file.display())))?;
            let name = match name {
                Some(n) => n.clone(),
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| {
                        Failure::new(exit::USAGE, format!("{}: no file name", file.display()))
                    })?,
            };
            Some((full(&name), data))
        }
        _ => None,
    };
    let (_sim, modem, shown) = open(args)?;
    let fail = |e: ClientError| Failure::new(exit::OTHER, format!("{shown}: {e}"));
    match &args.action {
        Action::List { json } => {
            let list = modem.files().map_err(fail)?;
            if *json {
                let v: Vec<serde_json::Value> = list
                    .iter()
                    .map(|(name, size)| serde_json::json!({ "name": name, "size": size }))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for (name, size) in &list {
                    println!("{size:>10}  {name}");
                }
                println!("{} file(s)", list.len());
            }
        }
        Action::Rm { name } => {
            modem.delete_file(name).map_err(fail)?;
            println!("deleted {}", full(name));
        }
        Action::Put { replace, .. } => {
            let Some((name, data)) = upload else {
                return Ok(());
            };
            let exists = modem
                .files()
                .map_err(fail)?
                .iter()
                .any(|(n, _)| full(n).eq_ignore_ascii_case(&name));
            if exists {
                if !*replace {
                    return Err(Failure::new(
                        exit::OTHER,
                        format!("{name} exists on the module: give --replace to overwrite it"),
                    ));
                }
                modem.delete_file(&name).map_err(fail)?;
            }
            let size = modem.upload_file(&name, data).map_err(fail)?;
            println!("uploaded {name} ({size} bytes, checksum verified)");
        }
    }
    Ok(())
}

/// Opens the modem on the port (or `auto`) or on an in-process sim.
fn open(args: &FilesArgs) -> Result<(Option<SimHandle>, Modem, String), Failure> {
    let mut config = ModemConfig::default();
    let sim_config = || SimConfig {
        network: NetworkSim {
            files: args.sim_files.clone(),
            ..NetworkSim::default()
        },
        ..SimConfig::default()
    };
    let (sim, path) = args.module.start(sim_config, &mut config)?;
    // Files only: the MQTT clients of another process are left alone.
    config.close_stale = false;
    let (modem, shown) = crate::open::open(&path, config)?;
    Ok((sim, modem, shown))
}
