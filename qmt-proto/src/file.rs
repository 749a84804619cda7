//! The module's file system (spec §10.8): listing (`AT+QFLST`) and deleting (`AT+QFDEL`) the
//! files that `AT+QFUPL` (spec §7) uploads, and the `+CME ERROR` codes of file commands.
//!
//! TLS certificates and keys live in the user file system (`UFS:`). An upload to a name that
//! already exists fails with `+CME ERROR: 407` on many firmware, so a driver lists first
//! ([`Info::FileEntry`](crate::Info::FileEntry) per file) and deletes what it replaces. The
//! `+QFUPL` answer is sometimes not seen on real modules: a listing of the one name confirms an
//! upload by its size.
//!
//! ```
//! use qmt_proto::file::FileError;
//! use qmt_proto::kind::{CommandKind, Form};
//! use qmt_proto::{Command, Info};
//!
//! assert_eq!(Command::parse(br#"AT+QFLST="UFS:*""#)?.to_bytes(), b"AT+QFLST=\"UFS:*\"\r");
//! let line = br#"+QFLST: "UFS:cacert.pem",1758"#;
//! let Some(Info::FileEntry { name, size }) = Info::parse_for(CommandKind::Qflst, Form::Write, line) else {
//!     panic!()
//! };
//! assert_eq!((name, size), ("UFS:cacert.pem", 1758));
//! assert_eq!(FileError::from_code(407), FileError::AlreadyExists);
//! assert_eq!(FileError::AlreadyExists.meaning(), "file already exists");
//! # Ok::<(), qmt_proto::error::ParseError>(())
//! ```

use crate::codes::result_code_enum;

result_code_enum!(
    /// The `+CME ERROR: <n>` codes of the file commands (`AT+QFUPL`, `AT+QFLST`, `AT+QFDEL`;
    /// spec §10.8, **uncertain**: the exact table differs between firmware). Numbers outside it
    /// are kept in `Unknown(n)`.
    FileError {
        /// 400: invalid input value.
        InvalidInput = 400,
        /// 402: read zero bytes.
        ReadZero = 402,
        /// 403: the drive is full.
        DriveFull = 403,
        /// 405: file not found.
        NotFound = 405,
        /// 406: invalid file name.
        InvalidName = 406,
        /// 407: the file already exists (an upload to an existing name: delete it first).
        AlreadyExists = 407,
        /// 409: failed to write the file.
        WriteFailed = 409,
        /// 410: failed to open the file.
        OpenFailed = 410,
        /// 420: no space left.
        NoSpace = 420,
        /// 421: timeout (the data of an upload did not come in time).
        Timeout = 421,
        /// 423: the file is too large.
        TooLarge = 423,
        /// 425: invalid parameter.
        InvalidParameter = 425,
    }
);

impl FileError {
    /// The spec's meaning of the code, in words.
    pub const fn meaning(self) -> &'static str {
        match self {
            FileError::InvalidInput => "invalid input value",
            FileError::ReadZero => "read zero bytes",
            FileError::DriveFull => "drive full",
            FileError::NotFound => "file not found",
            FileError::InvalidName => "invalid file name",
            FileError::AlreadyExists => "file already exists",
            FileError::WriteFailed => "failed to write the file",
            FileError::OpenFailed => "failed to open the file",
            FileError::NoSpace => "no space left",
            FileError::Timeout => "timeout",
            FileError::TooLarge => "file too large",
            FileError::InvalidParameter => "invalid parameter",
            FileError::Unknown(_) => "unknown file error",
        }
    }

    /// Whether a `+CME ERROR` number lies in the file errors' range 400–426 (spec §10.8).
    pub const fn in_range(n: i64) -> bool {
        n >= 400 && n <= 426
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_every_number() {
        for n in 390..=430 {
            assert_eq!(FileError::from_code(n).code(), n);
            assert_eq!(
                FileError::from_code(n).is_known(),
                FileError::from_code(n) != FileError::Unknown(n)
            );
        }
        assert_eq!(FileError::from_code(405), FileError::NotFound);
        assert_eq!(FileError::from_code(401).meaning(), "unknown file error");
        assert!(FileError::in_range(426) && !FileError::in_range(427) && !FileError::in_range(399));
    }
}
