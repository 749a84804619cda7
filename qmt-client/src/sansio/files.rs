//! The module's files for users (spec §7, §10.8): list (`AT+QFLST="*"`), delete (`AT+QFDEL`)
//! and upload (`AT+QFUPL`, its `+QFUPL: <size>,<checksum>` checked, or a missing answer
//! confirmed by `AT+QFLST="<name>"` as in provisioning, session.rs). Each request is one state
//! of the core that ends with a [`CoreEvent::Done`](super::CoreEvent::Done).

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use qmt_proto::Command;
use qmt_proto::checksum::qfupl_checksum;
use qmt_proto::command::FileUpload;
use qmt_proto::params::{FileName, FileSize};

use super::{OpId, Purpose, State};
use crate::correlate::Completion;
use crate::error::ClientError;
use crate::options::UploadCheck;

/// A file request of [`ModemCore::file_request`](super::ModemCore::file_request).
#[derive(Clone, PartialEq, Eq)]
pub enum FileRequest {
    /// Every file (`AT+QFLST="*"`): ends with [`Completion::Files`].
    List,
    /// `AT+QFDEL="<name>"`: ends with [`Completion::FileDeleted`].
    Delete(String),
    /// `AT+QFUPL="<name>",<size>` and the bytes: ends with [`Completion::FileUploaded`].
    Upload {
        /// The name on the module (`UFS:` added when it has no drive).
        name: String,
        /// The contents (never shown in `Debug`).
        data: Vec<u8>,
    },
}

impl core::fmt::Debug for FileRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileRequest::List => f.write_str("List"),
            FileRequest::Delete(n) => f.debug_tuple("Delete").field(n).finish(),
            FileRequest::Upload { name, data } => {
                write!(f, "Upload {{ name: {name:?}, len: {} }}", data.len())
            }
        }
    }
}

/// What a file command's answer held: its `+QFLST` lines and its `+QFUPL` answer.
pub(super) type FileAnswer = (Vec<(String, u64)>, Option<(u64, u16)>);

/// What a file command is for.
pub(super) enum FileStep {
    List,
    Delete,
    Upload(UploadCheck),
    Confirm(UploadCheck),
}

/// A file name with its drive, `UFS:` when it has none (spec §7).
fn full(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        format!("UFS:{name}")
    }
}

impl State {
    /// Checks `request` and queues its command; nothing is written when it is invalid.
    pub(super) fn start_file(&mut self, op: OpId, request: FileRequest) -> Result<(), ClientError> {
        let (command, data, step) = match request {
            FileRequest::List => (
                Command::FileList(Some(FileName::new("*")?)),
                None,
                FileStep::List,
            ),
            FileRequest::Delete(name) => (
                Command::FileDelete(FileName::new(full(&name))?),
                None,
                FileStep::Delete,
            ),
            FileRequest::Upload { name, data } => {
                let name = full(&name);
                let size = FileSize::new(i64::try_from(data.len()).unwrap_or(i64::MAX))?;
                let check = UploadCheck {
                    file: name.clone(),
                    size: u64::from(size.get()),
                    checksum: qfupl_checksum(&data),
                };
                (
                    Command::FileUpload(FileUpload::new(FileName::new(name)?, size)),
                    Some(data),
                    FileStep::Upload(check),
                )
            }
        };
        self.send(
            command,
            data,
            Purpose::File {
                op,
                step,
                listed: Vec::new(),
                qfupl: None,
            },
        );
        Ok(())
    }

    /// A file command ended.
    pub(super) fn file_done(
        &mut self,
        op: OpId,
        step: FileStep,
        answer: Result<FileAnswer, ClientError>,
    ) {
        let (listed, qfupl) = match answer {
            Ok(a) => a,
            Err(e) => return self.done(op, Err(e)),
        };
        let result = match step {
            FileStep::List => Ok(Completion::Files(listed)),
            FileStep::Delete => Ok(Completion::FileDeleted),
            FileStep::Upload(check) => match qfupl {
                Some((size, sum)) => check.verify(size, sum).map(|()| {
                    self.uploaded
                        .insert(check.file.to_ascii_uppercase(), (size, sum));
                    Completion::FileUploaded { size }
                }),
                None => {
                    // No `+QFUPL` answer (spec §10.8): a listing of the name confirms the size.
                    match FileName::new(check.file.clone()) {
                        Ok(name) => {
                            self.send(
                                Command::FileList(Some(name)),
                                None,
                                Purpose::File {
                                    op,
                                    step: FileStep::Confirm(check),
                                    listed: Vec::new(),
                                    qfupl: None,
                                },
                            );
                            return;
                        }
                        Err(e) => Err(e.into()),
                    }
                }
            },
            FileStep::Confirm(check) => {
                let stored = listed
                    .iter()
                    .find(|(n, _)| full(n).eq_ignore_ascii_case(&check.file))
                    .map(|&(_, s)| s);
                if stored == Some(check.size) {
                    self.uploaded.insert(
                        check.file.to_ascii_uppercase(),
                        (check.size, check.checksum),
                    );
                    Ok(Completion::FileUploaded { size: check.size })
                } else {
                    Err(ClientError::UploadIncomplete {
                        file: check.file,
                        sent: check.size,
                        stored: stored.unwrap_or(0),
                    })
                }
            }
        };
        self.done(op, result);
    }
}
