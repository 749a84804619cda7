//! A client's connect and recovery sequences as states of the core: configure (TLS provisioning,
//! every `AT+QMTCFG`) → `AT+QMTOPEN` (once more after `AT+QMTCLOSE` when the index is occupied) →
//! `AT+QMTCONN` → re-subscribe; and the requests carried across a loss into recovery.
//!
//! # Provisioning (spec §7, §10.8)
//!
//! With TLS files to upload, configure first lists the module's files (`AT+QFLST="*"`). An upload
//! to a name that exists fails with `+CME ERROR: 407` on many firmware, and the module has no
//! command that returns a stored file's checksum, so the rule is:
//! - same name, same size, and a checksum this core remembers for that name (the `+QFUPL`
//!   answer to an upload it made, which matched its own computation) → the upload is skipped;
//! - a file of that name otherwise (unknown content: another size, or uploaded by someone else,
//!   or before this core started) → `AT+QFDEL="<name>"`, then the upload;
//! - no such file → the upload.
//!
//! When an upload ends with `OK` but no `+QFUPL` answer (sometimes not seen on real modules),
//! `AT+QFLST="<name>"` confirms it: the name with the size written is success (and the core
//! remembers the checksum of what it wrote), anything else [`ClientError::UploadIncomplete`].
//!
//! # The clock (spec §10.9)
//!
//! A module checks the server certificate's validity against its own clock unless
//! `ignorelocaltime` is on, and an unset clock (2000 or 1980) makes every handshake fail with an
//! unhelpful `+QMTOPEN: <idx>,-1`. So the last configure command of a TLS client is `AT+CCLK?`,
//! unless the check cannot matter:
//! - its [`TlsFiles`](crate::TlsFiles) set `ignorelocaltime` (the default), or have no CA
//!   certificate (`seclevel` 0: nothing is verified) → no check;
//! - TLS without files (the context was set up outside this core) → `AT+QSSLCFG=
//!   "ignorelocaltime",<ctx>` is asked first; 1 → no check.
//!
//! The clock is stale when its year is before 2024 (never set) or it is earlier than the CA
//! certificate's `notBefore` (`crate::cert`). Then, with an NTP server in the options,
//! `AT+QNTP=<pdpcid>,"<server>"` is sent and the open waits for `+QNTP: 0` (the URC follows
//! the `OK`, within the link's QNTP deadline); `+QNTP: <err>` is [`ClientError::NtpFailed`].
//! Without one the connect fails with [`ClientError::ClockNotSet`] before anything is opened.

use alloc::borrow::ToOwned;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use qmt_proto::codes::{GrantedQos, OpenResult};
use qmt_proto::command::{Sub, Uns};
use qmt_proto::params::{ClientIdx, Qos, Topic};
use qmt_proto::ssl::{SslCfg, SslName, SslOp};
use qmt_proto::{Command, ModuleTime, NtpResult, NtpSync};
use qmt_transport::time::Instant;

use super::{After, OpId, Parked, Purpose, State, Waiter, is_loss};
use crate::correlate::{Completion, OpKey};
use crate::error::ClientError;
use crate::event::Event;
use crate::options::UploadCheck;
use crate::recovery::{LossCause, RecoveryEvent, Step};

/// Who started a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// [`super::Request::Connect`]: configure, open, connect.
    User(OpId),
    /// The client's [`crate::recovery::Recovery`]: its steps, one at a time.
    Recovery,
}

/// A configure command and what its answer must show.
struct ConfigCmd {
    command: Command,
    data: Option<Vec<u8>>,
    role: Role,
}

/// What a configure command is for, so its answer can be judged.
#[derive(Default)]
enum Role {
    /// A setting: `OK` is all.
    #[default]
    Plain,
    /// `AT+QFLST="*"` before the uploads: decides which to skip and which to delete first.
    List,
    /// `AT+QFUPL`: the `+QFUPL` answer must match.
    Upload(UploadCheck),
    /// `AT+QFLST="<name>"` after an upload without a `+QFUPL` answer: the size must match.
    Confirm(UploadCheck),
    /// `AT+QSSLCFG="ignorelocaltime",<ctx>` of a TLS client without files: 1 skips the clock
    /// check.
    IgnoreQuery,
    /// `AT+CCLK?` before the open of a TLS client: the clock must be set and not earlier than
    /// the CA certificate's `notBefore` (when known).
    Clock { not_before: Option<ModuleTime> },
    /// `AT+QNTP`: `OK`, then the `+QNTP` URC decides.
    Ntp,
}

/// Where a configure step's `AT+QNTP` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum NtpWait {
    /// No `AT+QNTP` out.
    #[default]
    Idle,
    /// Sent, its `OK` not seen yet.
    Sent,
    /// The `+QNTP` URC came before the `OK`.
    Early(NtpResult),
    /// `OK` seen; the URC is due by then.
    Until(Instant),
}

/// What a configure command's answer held.
pub(super) struct ConfigAnswer {
    /// `+QFUPL: <size>,<checksum>`.
    pub(super) qfupl: Option<(u64, u16)>,
    /// `+QFLST: "<name>",<size>` lines.
    pub(super) listed: Vec<(String, u64)>,
    /// `+CCLK: "<time>"`.
    pub(super) clock: Option<ModuleTime>,
    /// `+QSSLCFG: "ignorelocaltime",<ctx>,<0|1>`.
    pub(super) ignores_time: Option<bool>,
}

/// A file's full name: with its drive, `UFS:` when it has none (spec §7).
fn full_name(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        format!("UFS:{name}")
    }
}

fn same_file(a: &str, b: &str) -> bool {
    full_name(a).eq_ignore_ascii_case(&full_name(b))
}

/// The step running.
enum Stage {
    Configure {
        cmds: VecDeque<ConfigCmd>,
        current: Role,
        ntp: NtpWait,
    },
    Open,
    Close,
    Connect,
    Subscribe(Vec<(Topic, Qos)>),
    Unsubscribe,
}

/// One running sequence of one client.
pub(super) struct Seq {
    id: u64,
    origin: Origin,
    stage: Stage,
    /// User connect: `AT+QMTCLOSE` + `AT+QMTOPEN` were inserted once (index occupied).
    closed_once: bool,
    /// User connect: the CONN failed with this; the client is being closed before it is reported.
    refusal: Option<ClientError>,
}

impl Seq {
    /// The user request it resolves, if any.
    pub(super) fn user_op(&self) -> Option<OpId> {
        match self.origin {
            Origin::User(op) => Some(op),
            Origin::Recovery => None,
        }
    }

    pub(super) fn is_recovery(&self) -> bool {
        self.origin == Origin::Recovery
    }
}

impl State {
    /// [`super::Request::Connect`].
    pub(super) fn start_connect(
        &mut self,
        idx: ClientIdx,
        op: OpId,
        now: Instant,
    ) -> Result<(), ClientError> {
        let slot = self.slot(idx).ok_or(ClientError::Closed)?;
        if slot.seq.is_some() {
            return Err(ClientError::InProgress {
                op: crate::correlate::OpKind::Conn,
                msgid: 0,
            });
        }
        let id = self.next_seq;
        self.next_seq += 1;
        self.slot(idx).ok_or(ClientError::Closed)?.seq = Some(Seq {
            id,
            origin: Origin::User(op),
            stage: Stage::Open,
            closed_once: false,
            refusal: None,
        });
        self.run_step(idx, Step::Configure, now);
        Ok(())
    }

    /// Recovery attempts that are due start their first step.
    pub(super) fn recovery_timers(&mut self, now: Instant) {
        // While the bearer is being repaired, reopening cannot work (spec §10.6): wait for it.
        if !self.network.is_up() {
            return;
        }
        for i in 0..6 {
            let Ok(idx) = ClientIdx::new(i) else { continue };
            let Some(slot) = self.slot(idx) else { continue };
            if slot.seq.is_some() || !slot.recovery_enabled {
                continue;
            }
            if let Some(step) = slot.recovery.poll_step(now) {
                let id = self.next_seq;
                self.next_seq += 1;
                if let Some(slot) = self.slot(idx) {
                    slot.seq = Some(Seq {
                        id,
                        origin: Origin::Recovery,
                        stage: Stage::Open,
                        closed_once: false,
                        refusal: None,
                    });
                }
                self.run_step(idx, step, now);
            }
        }
    }

    /// Starts `step` of client `idx`'s sequence.
    fn run_step(&mut self, idx: ClientIdx, step: Step, now: Instant) {
        let Some(slot) = self.slot(idx) else { return };
        let Some(seq) = slot.seq.as_mut() else { return };
        let id = seq.id;
        tracing::debug!(client = idx.get(), ?step, "sequence step");
        let issued = match step {
            Step::Configure => {
                let mut cmds = VecDeque::new();
                let options = &slot.options;
                if let (Some(files), Some(ctx)) = (options.tls_files(), options.tls_context()) {
                    match files.provision_commands(i64::from(ctx.get())) {
                        Ok(steps) => {
                            if steps.iter().any(|s| s.expect.is_some()) {
                                match qmt_proto::params::FileName::new("*") {
                                    Ok(all) => cmds.push_back(ConfigCmd {
                                        command: Command::FileList(Some(all)),
                                        data: None,
                                        role: Role::List,
                                    }),
                                    Err(e) => return self.step_done(idx, id, Err(e.into()), now),
                                }
                            }
                            cmds.extend(steps.into_iter().map(|s| ConfigCmd {
                                command: s.command,
                                data: s.data,
                                role: s.expect.map_or(Role::Plain, Role::Upload),
                            }));
                        }
                        Err(e) => return self.step_done(idx, id, Err(e), now),
                    }
                }
                cmds.extend(
                    options
                        .config_commands(idx)
                        .into_iter()
                        .map(|(command, data)| ConfigCmd {
                            command,
                            data,
                            role: Role::Plain,
                        }),
                );
                cmds.extend(clock_check(options));
                seq.stage = Stage::Configure {
                    cmds,
                    current: Role::Plain,
                    ntp: NtpWait::Idle,
                };
                self.next_config(idx, id, now);
                return;
            }
            Step::Open => {
                seq.stage = Stage::Open;
                let deadlines = slot.options.deadlines();
                let command = slot.options.open_command(idx);
                self.correlator.set_deadlines(idx, deadlines);
                self.issue(
                    OpKey::open(idx),
                    Qos::AtMostOnce,
                    command,
                    None,
                    step_waiter(idx, id, None, After::Nothing),
                    now,
                )
            }
            Step::Close => {
                seq.stage = Stage::Close;
                self.issue(
                    OpKey::close(idx),
                    Qos::AtMostOnce,
                    Command::Close(idx),
                    None,
                    step_waiter(idx, id, None, After::Nothing),
                    now,
                )
            }
            Step::Connect => {
                seq.stage = Stage::Connect;
                slot.redelivery.connecting(slot.options.clean_session());
                let command = slot.options.conn_command(idx);
                self.issue(
                    OpKey::conn(idx),
                    Qos::AtMostOnce,
                    command,
                    None,
                    step_waiter(idx, id, None, After::Nothing),
                    now,
                )
            }
            Step::Subscribe(filters) => {
                seq.stage = Stage::Subscribe(filters.clone());
                match slot.msgids.allocate() {
                    Err(e) => Err(e),
                    Ok(msgid) => match Sub::new(idx, msgid, filters.iter().cloned()) {
                        Err(e) => {
                            slot.msgids.release(msgid);
                            Err(e.into())
                        }
                        Ok(sub) => self.issue(
                            OpKey::sub(idx, msgid),
                            Qos::AtLeastOnce,
                            Command::Sub(sub),
                            None,
                            step_waiter(idx, id, Some(msgid), After::Sub(filters)),
                            now,
                        ),
                    },
                }
            }
            Step::Unsubscribe(topics) => {
                seq.stage = Stage::Unsubscribe;
                match slot.msgids.allocate() {
                    Err(e) => Err(e),
                    Ok(msgid) => match Uns::new(idx, msgid, topics.iter().cloned()) {
                        Err(e) => {
                            slot.msgids.release(msgid);
                            Err(e.into())
                        }
                        Ok(uns) => self.issue(
                            OpKey::uns(idx, msgid),
                            Qos::AtLeastOnce,
                            Command::Uns(uns),
                            None,
                            step_waiter(idx, id, Some(msgid), After::Uns(topics)),
                            now,
                        ),
                    },
                }
            }
        };
        if let Err(e) = issued {
            self.step_done(idx, id, Err(e), now);
        }
    }

    /// Sends the next configure command, or ends the configure step.
    fn next_config(&mut self, idx: ClientIdx, id: u64, now: Instant) {
        let Some(slot) = self.slot(idx) else { return };
        let Some(seq) = slot.seq.as_mut().filter(|s| s.id == id) else {
            return;
        };
        let Stage::Configure {
            cmds, current, ntp, ..
        } = &mut seq.stage
        else {
            return;
        };
        match cmds.pop_front() {
            Some(c) => {
                if matches!(c.role, Role::Ntp) {
                    *ntp = NtpWait::Sent;
                }
                *current = c.role;
                let name = crate::error::command_name(&c.command);
                self.send(
                    c.command,
                    c.data,
                    Purpose::Configure {
                        idx,
                        seq: id,
                        name,
                        qfupl: None,
                        listed: Vec::new(),
                        clock: None,
                        ignores_time: None,
                    },
                );
            }
            None => {
                // The link frames this client's +QMTRECV lines as configured from now on.
                let mode = slot.options.len_mode();
                self.recv_len.push((idx, mode));
                self.step_done(idx, id, Ok(()), now);
            }
        }
    }

    /// A configure command ended (with what `+QFUPL` and `+QFLST` said).
    pub(super) fn configure_done(
        &mut self,
        idx: ClientIdx,
        id: u64,
        result: Result<ConfigAnswer, ClientError>,
        now: Instant,
    ) {
        let uploaded = &mut self.uploaded;
        let Some(slot) = self.clients[super::slot_index(idx)].as_mut() else {
            return;
        };
        let Some(seq) = slot.seq.as_mut().filter(|s| s.id == id) else {
            return;
        };
        let Stage::Configure { cmds, current, ntp } = &mut seq.stage else {
            return;
        };
        let options = &slot.options;
        let checked = match (result, core::mem::take(current)) {
            (Err(ClientError::Module { command, cme }), Role::IgnoreQuery) => {
                // A firmware that cannot answer the query: the setting is unknown, so the clock
                // is checked.
                tracing::info!(%command, %cme, "ignorelocaltime unknown: checking the clock");
                cmds.push_front(clock_read(None));
                Ok(())
            }
            (Err(e), _) => Err(e),
            (Ok(answer), Role::IgnoreQuery) => {
                if answer.ignores_time != Some(true) {
                    cmds.push_front(clock_read(None));
                }
                Ok(())
            }
            (Ok(answer), Role::Clock { not_before }) => match answer.clock {
                None => {
                    tracing::warn!("AT+CCLK? gave no time: the clock is not checked");
                    Ok(())
                }
                Some(clock) => {
                    let early = not_before.filter(|nb| clock.unix_utc() < nb.unix_utc());
                    if clock.year >= MIN_SET_YEAR && early.is_none() {
                        Ok(())
                    } else if let Some((server, port)) = options.ntp_server() {
                        tracing::info!(%clock, ?not_before, "the clock is not set: AT+QNTP");
                        // `pdpcid` and `AT+QNTP`'s `<cid>` are the same contexts (1–15).
                        qmt_proto::params::ContextId::new(i64::from(options.pdp_cid()))
                            .map(|cid| {
                                cmds.push_front(ConfigCmd {
                                    command: Command::Ntp(NtpSync {
                                        cid,
                                        server: server.clone(),
                                        port,
                                    }),
                                    data: None,
                                    role: Role::Ntp,
                                });
                            })
                            .map_err(ClientError::from)
                    } else {
                        Err(ClientError::ClockNotSet {
                            clock,
                            not_before: early,
                        })
                    }
                }
            },
            (Ok(_), Role::Ntp) => match core::mem::take(ntp) {
                NtpWait::Early(result) => ntp_outcome(result),
                _ => {
                    // The `+QNTP` URC follows the `OK` (spec §10.9): the step waits for it.
                    *ntp = NtpWait::Until(now + self.ntp_wait);
                    return;
                }
            },
            (Ok(_), Role::Plain) => Ok(()),
            (Ok(answer), Role::List) => plan_uploads(cmds, &answer.listed, uploaded),
            (Ok(answer), Role::Upload(c)) => match answer.qfupl {
                Some((size, sum)) => c.verify(size, sum).map(|()| {
                    uploaded.insert(full_name(&c.file).to_ascii_uppercase(), (size, sum));
                }),
                None => {
                    // No `+QFUPL` answer (spec §10.8): a listing of the name confirms the size.
                    tracing::info!(file = %c.file, "no +QFUPL answer: confirming with AT+QFLST");
                    qmt_proto::params::FileName::new(c.file.clone())
                        .map(|name| {
                            cmds.push_front(ConfigCmd {
                                command: Command::FileList(Some(name)),
                                data: None,
                                role: Role::Confirm(c),
                            });
                        })
                        .map_err(ClientError::from)
                }
            },
            (Ok(answer), Role::Confirm(c)) => {
                let stored = answer
                    .listed
                    .iter()
                    .find(|(name, _)| same_file(name, &c.file))
                    .map(|&(_, size)| size);
                if stored == Some(c.size) {
                    uploaded.insert(
                        full_name(&c.file).to_ascii_uppercase(),
                        (c.size, c.checksum),
                    );
                    Ok(())
                } else {
                    Err(ClientError::UploadIncomplete {
                        file: c.file.clone(),
                        sent: c.size,
                        stored: stored.unwrap_or(0),
                    })
                }
            }
        };
        match checked {
            Ok(()) => self.next_config(idx, id, now),
            Err(e) => self.step_done(idx, id, Err(e), now),
        }
    }

    /// The URC `+QNTP: <err>`: the configure step waiting for it goes on or fails.
    pub(super) fn ntp_urc(&mut self, result: NtpResult, now: Instant) {
        let mut decided = Vec::new();
        for (i, slot) in self.clients.iter_mut().enumerate() {
            let Some(seq) = slot.as_mut().and_then(|s| s.seq.as_mut()) else {
                continue;
            };
            let Stage::Configure { ntp, .. } = &mut seq.stage else {
                continue;
            };
            match *ntp {
                NtpWait::Sent => *ntp = NtpWait::Early(result),
                NtpWait::Until(_) => {
                    *ntp = NtpWait::Idle;
                    decided.push((i, seq.id));
                }
                NtpWait::Idle | NtpWait::Early(_) => {}
            }
        }
        for (i, id) in decided {
            let Ok(idx) = ClientIdx::new(i as i64) else {
                continue;
            };
            match ntp_outcome(result) {
                Ok(()) => self.next_config(idx, id, now),
                Err(e) => self.step_done(idx, id, Err(e), now),
            }
        }
    }

    /// The earliest `+QNTP` wait's deadline.
    pub(super) fn ntp_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .filter_map(|s| match s.seq.as_ref().map(|q| &q.stage) {
                Some(Stage::Configure {
                    ntp: NtpWait::Until(t),
                    ..
                }) => Some(*t),
                _ => None,
            })
            .min()
    }

    /// `+QNTP` waits that ran out fail their step; with `restarted`, every wait (a module that
    /// restarted forgot the request).
    pub(super) fn ntp_timers(&mut self, now: Instant, restarted: bool) {
        let wait = self.ntp_wait;
        let mut expired = Vec::new();
        for (i, slot) in self.clients.iter_mut().enumerate() {
            let Some(seq) = slot.as_mut().and_then(|s| s.seq.as_mut()) else {
                continue;
            };
            if let Stage::Configure { ntp, .. } = &mut seq.stage {
                if let NtpWait::Until(t) = *ntp {
                    if restarted || t <= now {
                        *ntp = NtpWait::Idle;
                        expired.push((i, seq.id));
                    }
                }
            }
        }
        for (i, id) in expired {
            let Ok(idx) = ClientIdx::new(i as i64) else {
                continue;
            };
            let e = if restarted {
                ClientError::ModuleRestarted
            } else {
                ClientError::Timeout {
                    command: String::from("the +QNTP result of AT+QNTP"),
                    waited: wait,
                }
            };
            self.step_done(idx, id, Err(e), now);
        }
    }

    /// A step of sequence `id` of client `idx` ended.
    pub(super) fn step_done(
        &mut self,
        idx: ClientIdx,
        id: u64,
        result: Result<(), ClientError>,
        now: Instant,
    ) {
        if id == u64::MAX {
            return self.stale_closed(idx, result, now);
        }
        let connected = result.is_ok()
            && self
                .slot(idx)
                .and_then(|s| s.seq.as_ref())
                .is_some_and(|s| s.id == id && matches!(s.stage, Stage::Connect));
        if connected {
            // The session is back: finish the QoS 2 handshakes a loss cut off.
            self.resend_in_doubt(idx, now);
        }
        let Some(slot) = self.slot(idx) else { return };
        let Some(seq) = slot.seq.as_mut().filter(|s| s.id == id) else {
            // A step of a sequence that was abandoned (a loss restarted recovery).
            return;
        };
        if matches!(seq.stage, Stage::Connect) && result.is_ok() {
            slot.redelivery.connected(now);
        }
        match seq.origin {
            Origin::Recovery => {
                if let (Stage::Subscribe(filters), Ok(())) = (&seq.stage, &result) {
                    // What the broker granted is in the recovery's subscriptions now.
                    let granted: Vec<(Topic, GrantedQos)> = filters
                        .iter()
                        .map(|(t, _)| {
                            let q = slot
                                .recovery
                                .subscriptions()
                                .iter()
                                .find(|(s, _)| s == t)
                                .map_or(GrantedQos::Failure, |(_, q)| granted_of(*q));
                            (t.clone(), q)
                        })
                        .collect();
                    slot.regranted.extend(granted);
                }
                let events = slot.recovery.step_done(result, now);
                let next = slot.recovery.poll_step(now);
                match next {
                    Some(step) => {
                        self.recovery_events(idx, events);
                        self.run_step(idx, step, now);
                    }
                    None => {
                        slot.seq = None;
                        self.recovery_events(idx, events);
                    }
                }
            }
            Origin::User(op) => {
                let stage = core::mem::replace(&mut seq.stage, Stage::Open);
                match (stage, result) {
                    (Stage::Configure { .. }, Ok(())) => self.run_step(idx, Step::Open, now),
                    (Stage::Open, Ok(())) => self.run_step(idx, Step::Connect, now),
                    (
                        Stage::Open,
                        Err(ClientError::OpenFailed {
                            result: OpenResult::IdentifierOccupied,
                        }),
                    ) if !seq.closed_once => {
                        tracing::debug!(
                            client = idx.get(),
                            "index occupied: closing, then opening again"
                        );
                        seq.closed_once = true;
                        self.run_step(idx, Step::Close, now);
                    }
                    (Stage::Close, r) if seq.refusal.is_none() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "closing the occupied index failed");
                        }
                        self.run_step(idx, Step::Open, now);
                    }
                    (Stage::Close, _) => {
                        let e = seq.refusal.take().unwrap_or(ClientError::Closed);
                        slot.seq = None;
                        self.done(op, Err(e));
                    }
                    (Stage::Connect, Ok(())) => {
                        slot.seq = None;
                        slot.recovery.connected();
                        let buffered = slot.options.receives_buffered();
                        self.done(op, Ok(Completion::Connected));
                        if buffered {
                            self.rescan();
                        }
                    }
                    (Stage::Connect, Err(e)) => {
                        // A module that refuses AT+QMTCONN (+CME ERROR) because the server already
                        // dropped the connection reports that drop as a +QMTSTAT before the error;
                        // lines are handled in wire order, so it is known here.
                        let e = match (&e, self.correlator.lost(idx)) {
                            (ClientError::Module { .. }, Some(code)) => {
                                ClientError::link_lost(code)
                            }
                            _ => e,
                        };
                        let Some(slot) = self.slot(idx) else { return };
                        if is_loss(&e) && slot.recovery_enabled {
                            // A loss is recovered; the request ends with the recovery.
                            slot.seq = None;
                            slot.recovery.connected();
                            slot.parked.push(Parked::Connect(op));
                            let cause = loss_cause(&e);
                            let events = slot.recovery.on_lost(cause, now);
                            self.recovery_events(idx, events);
                            return;
                        }
                        if let Some(seq) = slot.seq.as_mut() {
                            seq.refusal = Some(e);
                        }
                        self.run_step(idx, Step::Close, now);
                    }
                    (
                        Stage::Open,
                        Err(
                            e @ ClientError::OpenFailed {
                                result: OpenResult::PdpActivationFailed | OpenResult::FailedToOpen,
                            },
                        ),
                    ) => {
                        // Spec §10.6: the usual symptoms of a missing bearer; the module is
                        // asked why, and the request ends with the cause.
                        slot.seq = None;
                        let cid = slot.options.pdp_cid();
                        self.diagnose_open(op, cid, e);
                    }
                    (_, Err(e)) => {
                        slot.seq = None;
                        self.done(op, Err(e));
                    }
                    (_, Ok(())) => {
                        slot.seq = None;
                        self.done(op, Ok(Completion::Connected));
                    }
                }
            }
        }
    }

    /// Forwards recovery events of `idx` (when its recovery is on), and ends the requests parked
    /// for it when recovery restored the connection or gave up.
    pub(super) fn recovery_events(&mut self, idx: ClientIdx, events: Vec<RecoveryEvent>) {
        let Some(slot) = self.slot(idx) else { return };
        if !slot.recovery_enabled {
            return;
        }
        let mut finished: Option<Result<(), ClientError>> = None;
        for event in &events {
            match event {
                RecoveryEvent::Restored { .. } => finished = Some(Ok(())),
                RecoveryEvent::GaveUp { last_error, .. } => {
                    finished = Some(Err(last_error.clone()));
                }
                _ => {}
            }
        }
        if finished.is_some() || slot.recovery.poll_timeout().is_some() {
            // Restored, gave up, or a new attempt is scheduled: a running recovery step is void.
            if slot.seq.as_ref().is_some_and(Seq::is_recovery) && finished.is_none() {
                slot.seq = None;
            }
        }
        let parked = if finished.is_some() {
            core::mem::take(&mut slot.parked)
        } else {
            Vec::new()
        };
        let regranted = if finished.is_some() {
            core::mem::take(&mut slot.regranted)
        } else {
            Vec::new()
        };
        for event in events {
            self.client_event(
                idx,
                Event::Recovery {
                    client_idx: idx,
                    event,
                },
            );
        }
        let Some(result) = finished else { return };
        let buffered = self
            .slot(idx)
            .is_some_and(|s| s.options.receives_buffered());
        if result.is_ok() && buffered {
            // Announcements made while the link was down reached nobody.
            self.rescan();
        }
        for p in parked {
            match (p, &result) {
                (Parked::Connect(op), Ok(())) => self.done(op, Ok(Completion::Connected)),
                (Parked::Sub(op, filters), Ok(())) => {
                    let granted = filters
                        .iter()
                        .map(|(t, q)| {
                            regranted
                                .iter()
                                .rev()
                                .find(|(g, _)| g == t)
                                .map_or(granted_of(*q), |(_, g)| *g)
                        })
                        .collect();
                    self.done(op, Ok(Completion::Subscribed { granted }));
                }
                (Parked::Uns(op), Ok(())) => self.done(op, Ok(Completion::Unsubscribed)),
                (Parked::Connect(op) | Parked::Sub(op, _) | Parked::Uns(op), Err(e)) => {
                    self.done(op, Err(e.clone()));
                }
            }
        }
    }

    /// A client's connection was lost.
    pub(super) fn lost(&mut self, idx: ClientIdx, cause: LossCause, now: Instant) {
        let Some(slot) = self.slot(idx) else { return };
        let events = slot.recovery.on_lost(cause, now);
        self.recovery_events(idx, events);
    }

    /// A user SUB/UNS failed with a loss while recovery will restore the connection: it is
    /// carried into recovery (the filters are subscribed again, or unsubscribed, after the
    /// reconnect) and ends with it. Returns whether it was.
    pub(super) fn carry_into_recovery(
        &mut self,
        idx: ClientIdx,
        op: OpId,
        after: &After,
        e: &ClientError,
    ) -> bool {
        if !is_loss(e) {
            return false;
        }
        let Some(slot) = self.slot(idx) else {
            return false;
        };
        if !slot.recovery_enabled || !slot.recovery.is_recovering() {
            return false;
        }
        match after {
            After::Sub(filters) => {
                slot.recovery.subscribed(filters.iter().cloned());
                slot.parked.push(Parked::Sub(op, filters.clone()));
                true
            }
            After::Uns(topics) => {
                slot.recovery.unsubscribe_later(topics.iter().cloned());
                slot.parked.push(Parked::Uns(op));
                true
            }
            After::Nothing | After::Resend(_) => false,
        }
    }
}

/// A clock set before 2024 was never set (modules start at 2000 or 1980, spec §10.9): no
/// certificate in use today was valid then.
const MIN_SET_YEAR: u16 = 2024;

/// The command that starts the clock check of a TLS client (module docs "The clock"), if any.
fn clock_check(options: &crate::options::ClientOptions) -> Option<ConfigCmd> {
    let ctx = options.tls_context()?;
    match options.tls_files() {
        Some(files) if files.ignores_local_time() => None,
        Some(files) => {
            // No CA: seclevel 0, the server's certificate is not verified at all.
            let ca = files.ca_bytes()?;
            let not_before = crate::cert::not_before(ca)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "the CA certificate's notBefore is unknown: only an unset clock is caught");
                })
                .ok();
            Some(clock_read(not_before))
        }
        None => Some(ConfigCmd {
            command: Command::SslCfg(SslCfg {
                ctx,
                op: SslOp::Query(SslName::IgnoreLocalTime),
            }),
            data: None,
            role: Role::IgnoreQuery,
        }),
    }
}

fn clock_read(not_before: Option<ModuleTime>) -> ConfigCmd {
    ConfigCmd {
        command: Command::ClockRead,
        data: None,
        role: Role::Clock { not_before },
    }
}

fn ntp_outcome(result: NtpResult) -> Result<(), ClientError> {
    if result == NtpResult::Synced {
        Ok(())
    } else {
        Err(ClientError::NtpFailed { result })
    }
}

fn step_waiter(
    idx: ClientIdx,
    seq: u64,
    msgid: Option<qmt_proto::params::MsgId>,
    after: After,
) -> Waiter {
    Waiter::Step {
        idx,
        seq,
        msgid,
        after,
    }
}

fn granted_of(q: Qos) -> GrantedQos {
    match q {
        Qos::AtMostOnce => GrantedQos::AtMostOnce,
        Qos::AtLeastOnce => GrantedQos::AtLeastOnce,
        Qos::ExactlyOnce => GrantedQos::ExactlyOnce,
    }
}

fn loss_cause(e: &ClientError) -> LossCause {
    match e {
        ClientError::LinkLost { code, .. } => LossCause::LinkLost(*code),
        ClientError::PingTimeout => LossCause::PingTimeout,
        _ => LossCause::ModuleRestarted,
    }
}

/// After the listing (`AT+QFLST="*"`): drops the uploads of files the module holds already as
/// this core left them, and puts `AT+QFDEL` before the uploads of names that exist otherwise
/// (module docs "Provisioning").
fn plan_uploads(
    cmds: &mut VecDeque<ConfigCmd>,
    listed: &[(String, u64)],
    uploaded: &alloc::collections::BTreeMap<String, (u64, u16)>,
) -> Result<(), ClientError> {
    let mut planned = VecDeque::with_capacity(cmds.len());
    for cmd in cmds.drain(..) {
        let Role::Upload(c) = &cmd.role else {
            planned.push_back(cmd);
            continue;
        };
        let Some(&(_, size)) = listed.iter().find(|(name, _)| same_file(name, &c.file)) else {
            planned.push_back(cmd);
            continue;
        };
        let remembered = uploaded.get(&full_name(&c.file).to_ascii_uppercase());
        if size == c.size && remembered == Some(&(c.size, c.checksum)) {
            tracing::info!(file = %c.file, size, "the module holds this file already: not uploaded");
            continue;
        }
        tracing::info!(file = %c.file, size, "a file of this name exists: deleted before the upload");
        planned.push_back(ConfigCmd {
            command: Command::FileDelete(qmt_proto::params::FileName::new(c.file.clone())?),
            data: None,
            role: Role::Plain,
        });
        planned.push_back(cmd);
    }
    *cmds = planned;
    Ok(())
}
