//! The serial-line flags of the commands that open a module (spec §10.7): flow control and a
//! rate change, made by start-up on the module and followed by the host's port.

use clap::{Args, ValueEnum};
use qmt_client::SerialSetup;
use qmt_proto::uart::{BaudRate, FlowControl};

/// `--flow` and `--set-baud`.
#[derive(Args, Debug, Clone, Copy)]
pub struct SerialArgs {
    /// Flow control on the serial line: sets the host's port and the module (AT+IFC=2,2 or
    /// AT+IFC=0,0). Use rtscts on a UART with RTS/CTS wired: without it bytes are lost under load.
    #[arg(long, value_enum, value_name = "MODE")]
    pub flow: Option<Flow>,
    /// Switch the module to this rate at start-up (AT+IPR), then the host's port follows. The
    /// module answers at --baud first.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub set_baud: Option<BaudRate>,
}

/// `--flow` values.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// No flow control.
    None,
    /// Hardware flow control (RTS/CTS).
    Rtscts,
}

impl SerialArgs {
    /// What start-up sets.
    pub fn setup(&self) -> SerialSetup {
        SerialSetup {
            flow: self.flow.map(|f| match f {
                Flow::None => FlowControl::None,
                Flow::Rtscts => FlowControl::RtsCts,
            }),
            baud: self.set_baud,
        }
    }
}

fn parse_rate(s: &str) -> Result<BaudRate, String> {
    let n: i64 = s.parse().map_err(|_| format!("{s}: not a number"))?;
    BaudRate::new(n).map_err(|e| e.to_string())
}
