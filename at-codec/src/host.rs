//! Host side: command lines and raw data into a caller's buffer.
//!
//! A host sends every command as `AT…<CR>` (spec §1), and after a `> ` prompt or a `CONNECT` line
//! exactly the announced number of raw bytes, with no terminator.

use core::fmt;

/// Why bytes could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        capacity: usize,
    },
    /// A command line holds a CR or LF, which would end it early and make the rest a second
    /// command.
    LineBreak {
        /// Position of the byte in the command.
        at: usize,
    },
    /// A command line does not start with `AT` (either case).
    NotAt,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed, capacity } => {
                write!(
                    f,
                    "output buffer too small: {needed} bytes needed, {capacity} available"
                )
            }
            EncodeError::LineBreak { at } => {
                write!(f, "command holds a line break at byte {at}")
            }
            EncodeError::NotAt => f.write_str("command does not start with AT"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Writes the command line `command` (such as `AT+QMTOPEN?`, without terminator) followed by CR
/// into `out`, returning the number of bytes written. Nothing is written on error.
///
/// ```
/// let mut out = [0u8; 32];
/// let n = at_codec::write_command(b"AT+QMTOPEN?", &mut out).unwrap();
/// assert_eq!(&out[..n], b"AT+QMTOPEN?\r");
/// ```
pub fn write_command(command: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if !matches!(command, [b'A' | b'a', b'T' | b't', ..]) {
        return Err(EncodeError::NotAt);
    }
    if let Some(at) = memchr::memchr2(b'\r', b'\n', command) {
        return Err(EncodeError::LineBreak { at });
    }
    let needed = command.len() + 1;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall {
            needed,
            capacity: out.len(),
        });
    }
    out[..command.len()].copy_from_slice(command);
    out[command.len()] = b'\r';
    Ok(needed)
}

/// Writes the raw data the module waits for after `> ` or `CONNECT` into `out`, returning the
/// number of bytes written. Raw data is sent as it is: any byte value, no terminator.
///
/// ```
/// let mut out = [0u8; 8];
/// assert_eq!(at_codec::write_data(b"a\r\n\"", &mut out), Ok(4));
/// ```
pub fn write_data(data: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if out.len() < data.len() {
        return Err(EncodeError::BufferTooSmall {
            needed: data.len(),
            capacity: out.len(),
        });
    }
    out[..data.len()].copy_from_slice(data);
    Ok(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_refuses_line_breaks_and_short_buffers_and_writes_nothing() {
        let mut out = [0xAAu8; 8];
        assert_eq!(
            write_command(b"AT\rATZ", &mut out),
            Err(EncodeError::LineBreak { at: 2 })
        );
        assert_eq!(
            write_command(b"ATI", &mut out[..3]),
            Err(EncodeError::BufferTooSmall {
                needed: 4,
                capacity: 3
            })
        );
        assert_eq!(
            write_command(b"+QMTOPEN?", &mut out),
            Err(EncodeError::NotAt)
        );
        assert_eq!(out, [0xAA; 8]);
        assert_eq!(write_command(b"at", &mut out), Ok(3));
        assert_eq!(&out[..3], b"at\r");
    }

    #[test]
    fn data_is_copied_verbatim() {
        let mut out = [0u8; 4];
        assert_eq!(write_data(&[0, 13, 10, 255], &mut out), Ok(4));
        assert_eq!(out, [0, 13, 10, 255]);
        assert!(write_data(&[0; 5], &mut out).is_err());
    }
}
