//! Where a command's module is, for every command that opens one (`pub`, `sub`, `status`,
//! `files`): the simulated module started in this process, or a serial port (`auto` resolved),
//! with the AT traffic traced on the side that moves the bytes.

use std::path::{Path, PathBuf};

use qmt_cli::trace::Tracer;
use qmt_client::{ClientError, Modem, ModemConfig};
use qmt_sim::{Sim, SimConfig, SimHandle};
use qmt_transport::reactor::{TraceDir as PortTraceDir, TraceHook};

use crate::failure::{Failure, exit};

/// Where the module is, for the commands that only talk to it (`status`, `files`): a serial
/// port with its line settings, or the simulated module in this process.
#[derive(clap::Args, Debug)]
pub struct ModuleArgs {
    /// The module's serial port (AT port), e.g. /dev/ttyUSB2, or `auto`: the single Quectel AT
    /// port `qmt ports` finds.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "sim",
        conflicts_with = "sim"
    )]
    port: Option<PathBuf>,
    /// The serial port's baud rate.
    #[arg(long, value_name = "BAUD", default_value_t = 115_200)]
    baud: u32,
    #[command(flatten)]
    serial: crate::serial::SerialArgs,
    /// Use the simulated module (in this process) instead of a serial port.
    #[arg(long)]
    sim: bool,
    /// Show the AT traffic on stderr (secrets and uploaded contents redacted).
    #[arg(long)]
    trace: bool,
}

impl ModuleArgs {
    /// Sets the port's line in `config` and starts the sim (configured by `sim`) or resolves the
    /// port, as [`module`] does.
    pub fn start(
        &self,
        sim: impl FnOnce() -> SimConfig,
        config: &mut ModemConfig,
    ) -> Result<(Option<SimHandle>, PathBuf), Failure> {
        config.port.baud_rate = self.baud;
        config.serial = self.serial.setup();
        module(self.sim.then(sim), self.port.as_deref(), self.trace, config)
    }
}

/// Starts the simulated module (`sim` is its configuration) or resolves `port`, and sets the
/// trace: the sim traces its own side; on a real port the reactor shows the bytes it moves.
/// The returned handle keeps the sim alive.
pub fn module(
    sim: Option<SimConfig>,
    port: Option<&Path>,
    trace: bool,
    config: &mut ModemConfig,
) -> Result<(Option<SimHandle>, PathBuf), Failure> {
    match sim {
        Some(mut sim_config) => {
            if trace {
                let mut tracer = Tracer::default();
                sim_config.trace = Some(Box::new(move |dir, bytes| tracer.trace(dir, bytes)));
            }
            let sim = Sim::start(sim_config).map_err(|e| {
                Failure::new(
                    exit::OTHER,
                    format!("cannot start the simulated module: {e}"),
                )
            })?;
            let path = sim.pty_path().to_path_buf();
            Ok((Some(sim), path))
        }
        None => {
            if trace {
                config.port.trace = Some(port_tracer());
            }
            // `required_unless_present = "sim"` makes `port` present.
            let path = crate::ports::resolve(port.unwrap_or(Path::new("")))?;
            Ok((None, path))
        }
    }
}

/// Opens the modem on `path` and waits for start-up; failures get their exit code.
pub fn open(path: &Path, config: ModemConfig) -> Result<(Modem, String), Failure> {
    let shown = path.display().to_string();
    let modem = Modem::open(path, config).map_err(|e| match e {
        ClientError::Port { reason } => Failure::new(exit::PORT, reason),
        ClientError::NoAnswer { .. } => Failure::new(exit::TIMEOUT, e.to_string()),
        other => Failure::new(exit::OTHER, format!("{shown}: {other}")),
    })?;
    Ok((modem, shown))
}

/// The reactor's trace of a real port, printed like the sim's (secrets redacted).
fn port_tracer() -> TraceHook {
    let tracer = std::sync::Mutex::new(Tracer::default());
    TraceHook(std::sync::Arc::new(move |dir, bytes| {
        let dir = match dir {
            PortTraceDir::Host => qmt_sim::TraceDir::Host,
            PortTraceDir::Module => qmt_sim::TraceDir::Module,
        };
        if let Ok(mut t) = tracer.lock() {
            t.trace(dir, bytes);
        }
    }))
}
