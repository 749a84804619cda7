//! Start-up as states of the core: probe with `AT` until the module answers (spec §10.1), `ATE0`,
//! `AT+CMEE=2`, then close the clients an earlier host process left open.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use qmt_proto::Command;
use qmt_proto::Info;
use qmt_proto::ModuleLine;
use qmt_proto::Urc;
use qmt_proto::codes::ConnState;
use qmt_proto::command::CmeeMode;
use qmt_proto::params::ClientIdx;
use qmt_proto::uart::{BaudRate, FlowControl};
use qmt_transport::link::CommandError;
use qmt_transport::time::Instant;

use super::{CoreEvent, OpKey, PortChange, Purpose, Qos, State, Waiter};
use crate::correlate::Completion;
use crate::error::{ClientError, ModuleError};

/// What start-up found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Startup {
    /// The module said `RDY` during start-up (it was booting).
    pub rdy_seen: bool,
    /// How many `AT` it took to get an `OK`.
    pub sync_attempts: u32,
    /// Clients found open (left by an earlier host process) and closed.
    pub closed_stale: Vec<ClientIdx>,
    /// With bring-up: what it learnt on the way (identity, SIM, registration, the context).
    pub network: Option<Box<super::ModemStatus>>,
}

/// What a port that never answered `AT` said (for [`ClientError::NoAnswer`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// Bytes read in all.
    pub bytes: u64,
    /// Of them, lines a module writes (`OK`, `RDY`, a URC…): a module that talks but never
    /// answered `AT` (busy, or `AT` is not reaching it).
    pub lines: u64,
    /// The first bytes read, for the message (at most 16).
    pub sample: Vec<u8>,
}

impl Heard {
    /// What the bytes suggest, in words.
    pub fn describe(&self) -> String {
        if self.bytes == 0 {
            return "nothing was heard".to_owned();
        }
        let sample: String = self.sample.iter().map(|b| format!("{b:02x}")).collect();
        if self.lines == 0 {
            format!(
                "{} bytes were heard that are not AT output (first: {sample}): a wrong baud rate or a port that is not the AT interface",
                self.bytes
            )
        } else {
            format!(
                "{} bytes were heard ({} module lines) but no answer to AT",
                self.bytes, self.lines
            )
        }
    }
}

/// The serial settings start-up makes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Ifc,
    Ipr,
}

#[derive(Debug)]
enum Phase {
    /// Not started: the first `handle_timeout` starts it.
    Idle,
    /// `AT` is out (`in_flight`), or the next one goes at `next`.
    Probing {
        in_flight: bool,
        next: Instant,
    },
    Echo,
    Cmee,
    /// `AT+IFC=<f>,<f>` (spec §10.7).
    Ifc(FlowControl),
    /// `AT+IPR=<rate>` (spec §10.7).
    Ipr(BaudRate),
    /// `AT+QMTOPEN?` (`second`: after the stale clients were closed).
    OpenRead {
        second: bool,
        open: Vec<ClientIdx>,
    },
    /// `AT+QMTCONN?`.
    ConnRead {
        connected: Vec<ClientIdx>,
    },
    /// Disconnecting or closing stale clients one at a time.
    Closing {
        remaining: VecDeque<(ClientIdx, bool)>,
        waiting: bool,
        second: bool,
    },
    /// Synchronised; the network is being brought up (`network.rs`).
    BringUp,
    Ready,
    Failed,
}

/// Start-up's state (see the module docs).
#[derive(Debug)]
pub(super) struct StartupState {
    phase: Phase,
    started: Instant,
    boot_wait: Duration,
    interval: Duration,
    close_stale: bool,
    port: String,
    report: Startup,
    heard: Heard,
    /// Clients found open by the first `AT+QMTOPEN?`.
    found: Vec<ClientIdx>,
    serial: super::SerialSetup,
}

impl StartupState {
    /// The flow control start-up sets, if any.
    pub(super) fn serial_flow(&self) -> Option<FlowControl> {
        self.serial.flow
    }

    pub(super) fn new(now: Instant, config: &super::CoreConfig) -> StartupState {
        StartupState {
            phase: Phase::Idle,
            started: now,
            boot_wait: config.boot_wait,
            interval: config.probe_interval,
            close_stale: config.close_stale,
            port: config.port_name.clone(),
            report: Startup::default(),
            heard: Heard::default(),
            found: Vec::new(),
            serial: config.serial,
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Whether the module was synchronised (echo off, verbose errors), bring-up or not.
    pub(super) fn synced(&self) -> bool {
        matches!(self.phase, Phase::Ready | Phase::BringUp)
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle => Some(self.started),
            Phase::Probing {
                in_flight: false,
                next,
            } => Some(next),
            _ => None,
        }
    }

    /// Bytes read while probing (what a silent port's message reports).
    pub(super) fn heard_bytes(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Idle | Phase::Probing { .. }) {
            self.heard.bytes += bytes.len() as u64;
            let room = 16usize.saturating_sub(self.heard.sample.len());
            self.heard
                .sample
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// A URC while starting: `RDY` (the module booted) and any typed line count as heard.
    pub(super) fn on_urc(&mut self, line: &ModuleLine<'_>) {
        if matches!(line, ModuleLine::Unknown(_)) {
            return;
        }
        self.heard.lines += 1;
        if matches!(line, ModuleLine::Urc(Urc::Rdy)) {
            self.report.rdy_seen = true;
        }
    }

    pub(super) fn on_info(&mut self, info: &Info<'_>) {
        match (&mut self.phase, info) {
            (Phase::OpenRead { open, .. }, Info::OpenRead { client_idx, .. }) => {
                open.push(*client_idx);
            }
            (
                Phase::ConnRead { connected },
                Info::ConnRead {
                    client_idx,
                    state: ConnState::Connected | ConnState::Connecting,
                },
            ) => connected.push(*client_idx),
            _ => {}
        }
    }

    pub(super) fn closed(&mut self, events: &mut VecDeque<CoreEvent>) {
        if !matches!(self.phase, Phase::Ready | Phase::Failed) {
            self.phase = Phase::Failed;
            events.push_back(CoreEvent::StartupFailed(ClientError::Closed));
        }
    }
}

impl State {
    /// Start-up's timers: the first probe, and the next after a silent one.
    pub(super) fn startup_timer(&mut self, now: Instant) {
        match self.startup.phase {
            Phase::Idle => self.probe(now),
            Phase::Probing {
                in_flight: false,
                next,
            } if now >= next => self.probe(now),
            _ => {}
        }
    }

    fn probe(&mut self, now: Instant) {
        self.startup.report.sync_attempts += 1;
        self.startup.phase = Phase::Probing {
            in_flight: true,
            next: now + self.startup.interval,
        };
        self.send(Command::At, None, Purpose::Startup);
    }

    fn startup_fail(&mut self, e: ClientError) {
        self.startup.phase = Phase::Failed;
        self.events.push_back(CoreEvent::StartupFailed(e));
    }

    /// A start-up command ended.
    pub(super) fn startup_done(
        &mut self,
        result: Result<Result<(), ModuleError>, CommandError>,
        now: Instant,
    ) {
        let phase = core::mem::replace(&mut self.startup.phase, Phase::Failed);
        match phase {
            Phase::Probing { next, .. } => match result {
                Ok(Ok(())) => {
                    self.startup.phase = Phase::Echo;
                    self.send(Command::Echo(false), None, Purpose::Startup);
                }
                // Answered, but not OK (a module still booting may say ERROR), or restarted, or
                // silent: probe again until the boot allowance is spent.
                Ok(Err(_))
                | Err(CommandError::Timeout { .. } | CommandError::ModuleRestarted { .. }) => {
                    let waited = now.saturating_duration_since(self.startup.started);
                    if waited >= self.startup.boot_wait {
                        let e = ClientError::NoAnswer {
                            port: self.startup.port.clone(),
                            attempts: self.startup.report.sync_attempts,
                            waited,
                            heard: self.startup.heard.describe(),
                        };
                        self.startup_fail(e);
                    } else {
                        self.startup.phase = Phase::Probing {
                            in_flight: false,
                            next: next.max(now),
                        };
                        if next <= now {
                            self.probe(now);
                        }
                    }
                }
                Err(e) => self.startup_fail(super::command_error("AT", e)),
            },
            Phase::Echo | Phase::Cmee => {
                let (name, next) = match phase {
                    Phase::Echo => ("ATE0", Phase::Cmee),
                    _ => (
                        "AT+CMEE=2",
                        Phase::OpenRead {
                            second: false,
                            open: Vec::new(),
                        },
                    ),
                };
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(cme)) => {
                        return self.startup_fail(ClientError::Module {
                            command: name.to_owned(),
                            cme,
                        });
                    }
                    Err(e) => return self.startup_fail(super::command_error(name, e)),
                }
                match next {
                    Phase::Cmee => {
                        self.startup.phase = Phase::Cmee;
                        self.send(Command::Cmee(CmeeMode::Verbose), None, Purpose::Startup);
                    }
                    _ => self.serial_setup(None, now),
                }
            }
            Phase::Ifc(flow) => {
                if let Err(e) = check("AT+IFC", result) {
                    return self.startup_fail(e);
                }
                self.events
                    .push_back(CoreEvent::Port(PortChange::Flow(flow)));
                self.port_hold = true;
                self.serial_setup(Some(Step::Ifc), now);
            }
            Phase::Ipr(rate) => {
                if let Err(e) = check("AT+IPR", result) {
                    return self.startup_fail(e);
                }
                self.events
                    .push_back(CoreEvent::Port(PortChange::Baud(rate)));
                self.port_hold = true;
                self.serial_setup(Some(Step::Ipr), now);
            }
            Phase::OpenRead { second, open } => {
                if let Err(e) = check("AT+QMTOPEN?", result) {
                    return self.startup_fail(e);
                }
                if open.is_empty() {
                    return self.startup_ready(now);
                }
                if second {
                    // A DISC leaves the client closed on most firmware; close what is still open.
                    let remaining = open.into_iter().map(|i| (i, false)).collect();
                    self.startup.phase = Phase::Closing {
                        remaining,
                        waiting: false,
                        second: true,
                    };
                    self.close_next_stale(now);
                } else {
                    self.startup.found = open;
                    self.startup.phase = Phase::ConnRead {
                        connected: Vec::new(),
                    };
                    self.send(Command::ConnRead, None, Purpose::Startup);
                }
            }
            Phase::ConnRead { connected } => {
                if let Err(e) = check("AT+QMTCONN?", result) {
                    return self.startup_fail(e);
                }
                let remaining = self
                    .startup
                    .found
                    .iter()
                    .map(|&i| (i, connected.contains(&i)))
                    .collect();
                self.startup.phase = Phase::Closing {
                    remaining,
                    waiting: false,
                    second: false,
                };
                self.close_next_stale(now);
            }
            other => self.startup.phase = other,
        }
    }

    /// Disconnects (if connected) or closes the next stale client; when none is left, asks again
    /// which are open (first round) or finishes.
    fn close_next_stale(&mut self, now: Instant) {
        let Phase::Closing {
            remaining,
            waiting,
            second,
        } = &mut self.startup.phase
        else {
            return;
        };
        let Some((idx, connected)) = remaining.pop_front() else {
            if *second {
                self.startup_ready(now);
            } else {
                self.startup.phase = Phase::OpenRead {
                    second: true,
                    open: Vec::new(),
                };
                self.send(Command::OpenRead, None, Purpose::Startup);
            }
            return;
        };
        *waiting = true;
        let second = *second;
        if !second {
            tracing::info!(
                client = idx.get(),
                "closing a client left open by an earlier host"
            );
        }
        self.correlator.mark_open(idx);
        let (key, command) = if connected {
            (OpKey::disc(idx), Command::Disc(idx))
        } else {
            (OpKey::close(idx), Command::Close(idx))
        };
        let waiter = Waiter::Step {
            idx,
            seq: u64::MAX,
            msgid: None,
            after: super::After::Nothing,
        };
        if let Err(e) = self.issue(key, Qos::AtMostOnce, command, None, waiter, now) {
            tracing::warn!(client = idx.get(), error = %e, "closing a stale client failed");
            self.close_next_stale(now);
        }
    }

    /// A stale client's DISC/CLOSE ended (steps with `seq` `u64::MAX`).
    pub(super) fn stale_closed(
        &mut self,
        idx: ClientIdx,
        result: Result<(), ClientError>,
        now: Instant,
    ) {
        let second = matches!(self.startup.phase, Phase::Closing { second: true, .. });
        if let Err(e) = result {
            if second {
                return self.startup_fail(e);
            }
            tracing::warn!(client = idx.get(), error = %e, "closing a stale client failed");
        }
        self.close_next_stale(now);
    }

    /// Synchronised, stale clients closed: the network comes next (if configured).
    /// The serial line's settings after `AT+CMEE=2` (`done`: the last one set), then on to the
    /// stale clients.
    fn serial_setup(&mut self, done: Option<Step>, now: Instant) {
        let serial = self.startup.serial;
        if let (None, Some(flow)) = (done, serial.flow) {
            self.startup.phase = Phase::Ifc(flow);
            let cmd = Command::IfcSet {
                dce_by_dte: flow,
                dte_by_dce: flow,
            };
            return self.send(cmd, None, Purpose::Startup);
        }
        if let (None | Some(Step::Ifc), Some(rate)) = (done, serial.baud) {
            self.startup.phase = Phase::Ipr(rate);
            return self.send(Command::IprSet(rate), None, Purpose::Startup);
        }
        if self.startup.close_stale {
            self.startup.phase = Phase::OpenRead {
                second: false,
                open: Vec::new(),
            };
            self.send(Command::OpenRead, None, Purpose::Startup);
        } else {
            self.startup_ready(now);
        }
    }

    fn startup_ready(&mut self, now: Instant) {
        self.startup.report.closed_stale = core::mem::take(&mut self.startup.found);
        self.startup.phase = Phase::BringUp;
        self.bring_up(now);
    }

    /// Start-up is complete (bring-up included): requests are taken from now on.
    pub(super) fn startup_complete(&mut self) {
        self.startup.phase = Phase::Ready;
        if self.network.enabled() {
            self.startup.report.network = Some(Box::new(self.network.seen.clone()));
        }
        let report = self.startup.report.clone();
        self.events.push_back(CoreEvent::Ready(report));
    }

    /// Start-up failed at the network (`network.rs`).
    pub(super) fn startup_failed(&mut self, e: ClientError) {
        self.startup_fail(e);
    }
}

fn check(
    name: &str,
    result: Result<Result<(), ModuleError>, CommandError>,
) -> Result<(), ClientError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cme)) => Err(ClientError::Module {
            command: name.to_owned(),
            cme,
        }),
        Err(e) => Err(super::command_error(name, e)),
    }
}

#[allow(dead_code)]
fn _completion_is_used(_: Completion) {}
