//! The serial line between host and module (spec §10.7): flow control and baud rate.
//!
//! A UART without flow control loses bytes under load (a 1,500-byte payload at 115,200 baud is
//! 130 ms of line time, longer than many hosts leave a FIFO unread). `AT+IFC=2,2` makes the module
//! honour RTS and drive CTS; the host's port must be set the same way, or the module waits forever
//! for a CTS the host never raises. `AT+IPR=<rate>` changes the module's rate: its `OK` still comes
//! at the old rate, and the host switches after reading it.
//!
//! ```
//! use qmt_proto::uart::{BaudRate, FlowControl};
//! use qmt_proto::{Command, Info, ModuleLine};
//! use qmt_proto::kind::{CommandKind, Form};
//!
//! let cmd = Command::IfcSet { dce_by_dte: FlowControl::RtsCts, dte_by_dce: FlowControl::RtsCts };
//! assert_eq!(cmd.to_bytes(), b"AT+IFC=2,2\r");
//! let rate = BaudRate::new(921_600).unwrap();
//! assert_eq!(Command::IprSet(rate).to_bytes(), b"AT+IPR=921600\r");
//! assert!(BaudRate::new(1234).is_err());
//!
//! let Some(Info::Ipr(r)) = Info::parse_for(CommandKind::Ipr, Form::Read, b"+IPR: 115200") else {
//!     panic!()
//! };
//! assert_eq!(r, 115_200);
//! # let _ = ModuleLine::parse(b"OK");
//! ```

use core::fmt;
use core::time::Duration;

use crate::error::ParamError;

/// One direction's flow control in `AT+IFC=<dce_by_dte>,<dte_by_dce>` (spec §10.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowControl {
    /// 0: none.
    None,
    /// 2: hardware, RTS (host → module) or CTS (module → host).
    RtsCts,
    /// A number the spec does not name (1 is XON/XOFF on some firmware), kept as it is.
    Other(u8),
}

impl FlowControl {
    /// Maps the number on the wire; unnamed numbers become `Other(n)`. Never fails.
    pub const fn from_code(n: u8) -> FlowControl {
        match n {
            0 => FlowControl::None,
            2 => FlowControl::RtsCts,
            n => FlowControl::Other(n),
        }
    }

    /// The number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            FlowControl::None => 0,
            FlowControl::RtsCts => 2,
            FlowControl::Other(n) => n,
        }
    }

    /// Checks a value the host is about to send: 0 or 2 (spec §10.7).
    ///
    /// # Errors
    /// [`ParamError::OutOfRange`] for anything else.
    pub fn new(n: i64) -> Result<FlowControl, ParamError> {
        match n {
            0 => Ok(FlowControl::None),
            2 => Ok(FlowControl::RtsCts),
            _ => Err(ParamError::OutOfRange {
                param: "flow_control",
                value: n,
                allowed: "0 (none) or 2 (RTS/CTS)",
            }),
        }
    }
}

impl fmt::Display for FlowControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.code(), f)
    }
}

/// A UART rate the module accepts in `AT+IPR=<rate>` (spec §10.7 names 115200 and 921600; the
/// others are the usual rates of these modules' UARTs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BaudRate(u32);

impl BaudRate {
    /// The rates accepted by [`BaudRate::new`].
    pub const ALLOWED: [u32; 10] = [
        4_800, 9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600, 1_000_000,
    ];

    /// The modules' default rate.
    pub const DEFAULT: BaudRate = BaudRate(115_200);

    /// Checks the rate.
    ///
    /// # Errors
    /// [`ParamError::OutOfRange`] for a rate the modules do not offer.
    pub fn new(rate: i64) -> Result<BaudRate, ParamError> {
        match u32::try_from(rate) {
            Ok(r) if BaudRate::ALLOWED.contains(&r) => Ok(BaudRate(r)),
            _ => Err(ParamError::OutOfRange {
                param: "rate",
                value: rate,
                allowed: "4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000",
            }),
        }
    }

    /// Bits per second.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The time one byte takes on the line: 10 bits (start, 8 data, stop; 8N1).
    pub fn byte_time(self) -> Duration {
        Duration::from_nanos(10_000_000_000 / u64::from(self.0))
    }
}

impl fmt::Display for BaudRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn codes_round_trip_and_only_0_and_2_are_sent() {
        for n in 0..=255u8 {
            assert_eq!(FlowControl::from_code(n).code(), n);
        }
        assert!(FlowControl::new(1).is_err());
        assert_eq!(FlowControl::new(2).unwrap(), FlowControl::RtsCts);
    }

    #[test]
    fn byte_time_is_ten_bits() {
        assert_eq!(
            BaudRate::new(115_200).unwrap().byte_time(),
            Duration::from_nanos(86_805)
        );
        assert_eq!(
            BaudRate::new(1_000_000).unwrap().byte_time(),
            Duration::from_micros(10)
        );
        assert!(BaudRate::new(115_201).is_err());
        assert!(BaudRate::new(-1).is_err());
    }
}
