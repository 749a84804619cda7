//! The network side of the module as states of the core (spec §10): bring-up from power-on to a
//! usable data bearer, the status snapshot, and the repair of a lost bearer.
//!
//! Every step is a batch of queries: the core writes them, their information lines fill a
//! [`ModemStatus`], and when the last one has ended the step decides what comes next from what
//! was learnt. Nothing blocks and nothing is guessed from timing: a registration URC moves the
//! wait on at once, polling only covers networks that send none.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use qmt_proto::codes::ConnState;
use qmt_proto::params::{Apn, ApnPassword, ApnUser, ContextId, Pin};
use qmt_proto::{
    ApnAuth, Command, ContextConfig, ContextType, Functionality, IdentityQuery, Info, PinState,
    RegDomain, RegStat, RegUrcMode, Signal, Urc,
};
use qmt_transport::link::CommandError;
use qmt_transport::time::Instant;

use super::{CoreEvent, Purpose, State};
use crate::correlate::Completion;
use crate::error::{ClientError, ModuleError};
use crate::status::*;

/// Bring-up settings: opt-in per modem ([`crate::ModemConfig::network`]). Every value is checked
/// when it is set, so a bad APN or PIN is refused before any byte is written. `Debug` never shows
/// the PIN or the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The APN to use; `None` keeps whatever the context has (the network's default).
    pub apn: Option<Apn>,
    /// The APN user and password (PAP or CHAP), if the operator wants them.
    pub credentials: Option<(ApnUser, ApnPassword)>,
    /// The SIM PIN, entered when the SIM asks for it.
    pub pin: Option<Pin>,
    /// The PDP context MQTT uses (`AT+QMTCFG="pdpcid"`; spec §10.6: 1–15). Default 1.
    pub cid: ContextId,
    /// How long to wait for registration before giving up (spec §10.5: peers wait 50–60 s).
    pub registration_wait: Duration,
    /// How long a SIM may stay busy or not ready after boot (spec §10.3: `+CME ERROR: 14`).
    pub sim_wait: Duration,
    /// How often registration is polled while no URC moves it on.
    pub poll_interval: Duration,
    /// The most module resets (`AT+CFUN=1,1`) the recovery ladder may do in an hour (spec §10.1:
    /// escalate gently). 0 never resets.
    pub resets_per_hour: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            apn: None,
            credentials: None,
            pin: None,
            cid: ContextId::DEFAULT,
            registration_wait: Duration::from_secs(60),
            sim_wait: Duration::from_secs(20),
            poll_interval: Duration::from_secs(2),
            resets_per_hour: 3,
        }
    }
}

impl NetworkConfig {
    /// Bring-up with this APN (checked: spec §10.6).
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for an APN the module does not take.
    pub fn with_apn(apn: &str) -> Result<NetworkConfig, ClientError> {
        Ok(NetworkConfig {
            apn: Some(Apn::new(apn)?),
            ..NetworkConfig::default()
        })
    }

    /// Adds the APN user and password.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] when either is too long.
    pub fn credentials(mut self, user: &str, password: &str) -> Result<Self, ClientError> {
        self.credentials = Some((ApnUser::new(user)?, ApnPassword::new(password)?));
        Ok(self)
    }

    /// Adds the SIM PIN.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] unless it is 4–8 digits.
    pub fn pin(mut self, pin: &str) -> Result<Self, ClientError> {
        self.pin = Some(Pin::new(pin)?);
        Ok(self)
    }

    /// The `AT+QICSGP` this configuration asks for, if it names an APN.
    fn context(&self) -> Option<ContextConfig> {
        let apn = self.apn.clone()?;
        let (user, password, auth) = match &self.credentials {
            Some((u, p)) => (u.clone(), p.clone(), ApnAuth::PapOrChap),
            None => (
                ApnUser::new("").ok()?,
                ApnPassword::new("").ok()?,
                ApnAuth::None,
            ),
        };
        Some(ContextConfig {
            cid: self.cid,
            ctype: ContextType::Ipv4,
            apn,
            user,
            password,
            auth,
        })
    }
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("apn", &self.apn)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field(
                "password",
                &self.credentials.as_ref().map(|_| qmt_proto::REDACTED),
            )
            .field("pin", &self.pin.as_ref().map(|_| qmt_proto::REDACTED))
            .field("cid", &self.cid)
            .field("registration_wait", &self.registration_wait)
            .finish_non_exhaustive()
    }
}

fn sim_state(p: &PinState) -> SimState {
    match p {
        PinState::Ready => SimState::Ready,
        PinState::SimPin => SimState::PinRequired,
        PinState::SimPuk => SimState::PukRequired,
        other => SimState::Other(format!("{other:?}")),
    }
}

/// One query or action of the network side; its information lines go to [`ModemStatus::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Query {
    Identify(IdentityQuery),
    Pin,
    PinEnter,
    Cops,
    NwInfo,
    RegSet(RegDomain),
    RegRead(RegDomain),
    Csq,
    Qcsq,
    ContextRead(ContextId),
    ContextSet,
    ActRead,
    Act,
    Deact,
    OpenRead,
    ConnRead,
    Cfun(Functionality),
    Reset,
}

/// Who a query is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum For {
    /// Bring-up or repair.
    Network,
    /// A status request.
    Status(super::OpId),
}

/// A status request or an OPEN diagnosis: its snapshot so far and its queries still out.
#[derive(Debug)]
struct StatusRun {
    op: super::OpId,
    status: ModemStatus,
    pending: usize,
    why: Why,
}

/// What a [`StatusRun`] is for.
#[derive(Debug)]
enum Why {
    /// [`super::ModemCore::query_status`].
    Request,
    /// `AT+QMTOPEN` failed with `+QMTOPEN: <idx>,3` or `,-1` (spec §10.6: the usual symptoms of a
    /// missing bearer): find the cause and name it instead.
    Diagnose { cid: u8, error: ClientError },
}

/// Where bring-up (or repair) is.
#[derive(Debug)]
enum Phase {
    /// No bring-up configured, or not started.
    Off,
    Identify,
    /// `pin_sent`: the PIN went out; `retry_at`: when to ask `AT+CPIN?` again.
    Sim {
        pin_sent: bool,
        retry_at: Option<Instant>,
    },
    /// Setting URC modes, then polling.
    RegSet,
    Registration {
        next_poll: Option<Instant>,
    },
    ApnRead,
    ApnSet,
    PdpRead,
    Deact {
        then_act: bool,
    },
    Act,
    ActConfirm,
    Up,
    /// Radio off/on (`AT+CFUN=0`, `AT+CFUN=1`), then back to registration.
    Cycle,
    /// `AT+CFUN=1,1` went out: waiting for `RDY`.
    Rebooting,
    /// A repair failed: the next try (from the SIM on) is due `at`.
    Retry {
        at: Instant,
    },
    Failed,
}

/// How long after a failed repair the ladder tries again (a SIM or registration URC earlier).
const REPAIR_RETRY: Duration = Duration::from_secs(30);

/// The network side's state (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct Network {
    config: Option<NetworkConfig>,
    phase: Phase,
    /// What the network queries learnt.
    pub(super) seen: ModemStatus,
    /// Queries of the current step still out.
    pending: usize,
    /// The current step's refusals, by query.
    refused: Vec<(Query, ModuleError)>,
    /// When the current wait (SIM, registration) began.
    since: Instant,
    /// Activation failures in a row (the ladder escalates on them).
    act_failures: u32,
    /// The APN was changed: an active context must be reactivated to use it.
    apn_changed: bool,
    /// The network deactivated the context (`+QIURC: "pdpdeact"`) and it has not been
    /// `AT+QIDEACT`ed since: spec §10.6, the host must deactivate it before reactivating.
    dropped: bool,
    /// Whether bring-up finished once (later runs are repairs).
    was_up: bool,
    /// Module resets done, for the rate limit.
    resets: VecDeque<Instant>,
    /// The latest time the network side was told (for a retry scheduled where none is given).
    now: Instant,
    /// Radio cycles since the bearer was last up (the second failure escalates to a reset).
    cycles: u32,
    /// Status requests and OPEN diagnoses running.
    status: Vec<StatusRun>,
}

impl Network {
    pub(super) fn new(config: Option<NetworkConfig>, now: Instant) -> Network {
        Network {
            config,
            phase: Phase::Off,
            seen: ModemStatus::default(),
            pending: 0,
            refused: Vec::new(),
            since: now,
            act_failures: 0,
            apn_changed: false,
            dropped: false,
            was_up: false,
            resets: VecDeque::new(),
            cycles: 0,
            now,
            status: Vec::new(),
        }
    }

    /// Whether the bearer is usable (or bring-up is not configured, so it is assumed).
    pub(super) fn is_up(&self) -> bool {
        self.config.is_none() || matches!(self.phase, Phase::Up)
    }

    /// Whether bring-up is configured.
    pub(super) fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// The context MQTT uses, when bring-up is configured.
    pub(super) fn cid(&self) -> Option<ContextId> {
        self.config.as_ref().map(|c| c.cid)
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sim {
                retry_at: Some(t), ..
            } => Some(t),
            Phase::Registration { next_poll: Some(t) } => Some(t),
            Phase::Retry { at } => Some(at),
            _ => None,
        }
    }

    pub(super) fn on_info(&mut self, whom: For, query: Query, info: &Info<'_>) {
        match whom {
            For::Network => self.seen.record(query, info),
            For::Status(op) => {
                if let Some(run) = self.status.iter_mut().find(|r| r.op == op) {
                    run.status.record(query, info);
                }
            }
        }
    }
}

/// The `+CME ERROR` number a refusal stands for, from its number or its verbose text (3GPP
/// 27.007 §9.2, the texts `AT+CMEE=2` gives).
pub(super) fn cme_number(e: &ModuleError) -> Option<u32> {
    match e {
        ModuleError::Cme(n) => Some(*n),
        ModuleError::CmeText(t) => {
            let t = t.to_ascii_lowercase();
            [
                ("sim not inserted", 10),
                ("sim pin required", 11),
                ("sim puk required", 12),
                ("sim failure", 13),
                ("sim busy", 14),
                ("sim wrong", 15),
                ("incorrect password", 16),
            ]
            .iter()
            .find(|(text, _)| t.contains(text))
            .map(|(_, n)| *n)
        }
        _ => None,
    }
}

impl State {
    fn net_send(&mut self, whom: For, query: Query, command: Command) {
        match whom {
            For::Network => {
                self.network.pending += 1;
                if query == Query::ActRead {
                    // `AT+QIACT?` lists the active contexts only: one it leaves out is inactive.
                    for c in &mut self.network.seen.pdp {
                        c.active = false;
                        c.ip = None;
                    }
                }
            }
            For::Status(op) => {
                if let Some(run) = self.network.status.iter_mut().find(|r| r.op == op) {
                    run.pending += 1;
                }
            }
        }
        self.send(command, None, Purpose::Net { whom, query });
    }

    fn stage(&mut self, stage: Stage) {
        tracing::info!(%stage, "network");
        self.events.push_back(CoreEvent::Stage(stage));
    }

    /// Start-up is done: bring the network up if configured, else start-up is complete.
    pub(super) fn bring_up(&mut self, now: Instant) {
        if self.network.config.is_none() {
            return self.startup_complete();
        }
        self.network.phase = Phase::Identify;
        self.stage(Stage::Identify);
        for q in [
            IdentityQuery::Model,
            IdentityQuery::Revision,
            IdentityQuery::Imei,
            IdentityQuery::Iccid,
        ] {
            self.net_send(For::Network, Query::Identify(q), Command::Identify(q));
        }
        let _ = now;
    }

    fn fail_network(&mut self, e: ClientError) {
        tracing::warn!(error = %e, "network bring-up failed");
        if self.network.was_up {
            // A repair that failed (a SIM pulled, a network gone): said once per try, and tried
            // again later from the SIM on — a field device must come back on its own. A SIM or
            // registration URC brings the next try forward.
            self.events.push_back(CoreEvent::NetworkFailed(e));
            self.network.phase = Phase::Retry {
                at: self.network.now + REPAIR_RETRY,
            };
        } else {
            self.network.phase = Phase::Failed;
            self.startup_failed(e);
        }
    }

    /// A network query ended.
    pub(super) fn net_done(
        &mut self,
        whom: For,
        query: Query,
        result: Result<Result<(), ModuleError>, CommandError>,
        now: Instant,
    ) {
        if let For::Status(op) = whom {
            return self.status_done(op, query, result);
        }
        self.network.now = now;
        self.network.pending = self.network.pending.saturating_sub(1);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.network.refused.push((query, e)),
            Err(e) => {
                // No answer at all (timeout, closed): the step cannot decide on it.
                let name = query_name(query);
                self.network
                    .refused
                    .push((query, ModuleError::CmeText(format!("{name}: {e}"))));
            }
        }
        if self.network.pending == 0 {
            let refused = core::mem::take(&mut self.network.refused);
            self.net_step(refused, now);
        }
    }

    /// The current step's queries have all ended: decide the next.
    fn net_step(&mut self, refused: Vec<(Query, ModuleError)>, now: Instant) {
        let Some(config) = self.network.config.clone() else {
            return;
        };
        let refusal = |q: Query| refused.iter().find(|(r, _)| *r == q).map(|(_, e)| e);
        match self.network.phase {
            Phase::Identify => {
                self.network.since = now;
                self.enter_sim(now);
            }
            Phase::Sim { pin_sent, .. } => {
                if let Some(e) = refusal(Query::PinEnter) {
                    let err = match cme_number(e) {
                        Some(16) => ClientError::SimPinWrong,
                        Some(12) => ClientError::SimPukRequired,
                        _ => ClientError::Module {
                            command: "AT+CPIN".to_owned(),
                            cme: e.clone(),
                        },
                    };
                    return self.fail_network(err);
                }
                if pin_sent && refusal(Query::Pin).is_none() && refused.is_empty() {
                    // The PIN was taken: ask again shortly (the module says READY by URC too).
                    if !matches!(self.network.seen.sim, SimState::Ready) {
                        self.network.phase = Phase::Sim {
                            pin_sent: true,
                            retry_at: Some(now + Duration::from_millis(500)),
                        };
                        return;
                    }
                }
                if let Some(e) = refusal(Query::Pin) {
                    match cme_number(e) {
                        Some(10) => return self.fail_network(ClientError::SimNotInserted),
                        Some(11) => return self.fail_network(ClientError::SimPinRequired),
                        Some(12) => return self.fail_network(ClientError::SimPukRequired),
                        _ => return self.sim_retry(&config, now),
                    }
                }
                match self.network.seen.sim.clone() {
                    SimState::Ready => self.enter_registration(now),
                    SimState::PinRequired => match &config.pin {
                        Some(pin) if !pin_sent => {
                            self.network.phase = Phase::Sim {
                                pin_sent: true,
                                retry_at: None,
                            };
                            self.net_send(
                                For::Network,
                                Query::PinEnter,
                                Command::PinEnter(pin.clone()),
                            );
                        }
                        Some(_) => self.fail_network(ClientError::SimPinWrong),
                        None => self.fail_network(ClientError::SimPinRequired),
                    },
                    SimState::PukRequired => self.fail_network(ClientError::SimPukRequired),
                    _ => self.sim_retry(&config, now),
                }
            }
            Phase::RegSet => {
                self.network.since = now;
                self.poll_registration(now);
            }
            Phase::Registration { .. } => self.registration_checked(&config, now),
            Phase::ApnRead => {
                let want = config.context();
                let have = self
                    .network
                    .seen
                    .pdp
                    .iter()
                    .find(|c| c.cid == config.cid.get())
                    .and_then(|c| c.apn.clone());
                match want {
                    Some(ctx)
                        if have.as_deref() != Some(ctx.apn.as_str())
                            || config.credentials.is_some() =>
                    {
                        // Credentials cannot be compared (the module's answer holds the
                        // password, which is never kept): they are always written.
                        self.network.phase = Phase::ApnSet;
                        self.stage(Stage::Apn);
                        self.network.apn_changed = true;
                        self.net_send(For::Network, Query::ContextSet, Command::ContextSet(ctx));
                    }
                    _ => self.enter_pdp(),
                }
            }
            Phase::ApnSet => {
                if let Some(e) = refusal(Query::ContextSet) {
                    return self.fail_network(ClientError::Module {
                        command: "AT+QICSGP".to_owned(),
                        cme: e.clone(),
                    });
                }
                self.enter_pdp();
            }
            Phase::PdpRead => {
                let active = self
                    .network
                    .seen
                    .pdp
                    .iter()
                    .any(|c| c.cid == config.cid.get() && c.active);
                if active && !self.network.apn_changed {
                    return self.network_up(now);
                }
                // Active with an old APN, or dropped by the network (`pdpdeact` while the
                // registration was lost, say): `AT+QIDEACT` first (spec §10.6).
                if active || self.network.dropped {
                    self.network.phase = Phase::Deact { then_act: true };
                    self.net_send(For::Network, Query::Deact, Command::Deact(config.cid));
                } else {
                    self.activate(&config);
                }
            }
            Phase::Deact { then_act } => {
                self.network.seen.context_mut(config.cid.get()).active = false;
                self.network.dropped = false;
                if then_act {
                    self.activate(&config);
                }
            }
            Phase::Act => {
                if refusal(Query::Act).is_some() {
                    self.network.act_failures += 1;
                    if self.network.act_failures < 2 {
                        // Spec §10.6: deactivate before reactivating, then try once more.
                        self.network.phase = Phase::Deact { then_act: true };
                        return self.net_send(
                            For::Network,
                            Query::Deact,
                            Command::Deact(config.cid),
                        );
                    }
                    let apn = config
                        .apn
                        .as_ref()
                        .map(|a| a.as_str().to_owned())
                        .or_else(|| {
                            self.network
                                .seen
                                .pdp
                                .iter()
                                .find(|c| c.cid == config.cid.get())
                                .and_then(|c| c.apn.clone())
                        })
                        .unwrap_or_default();
                    if self.network.was_up {
                        return self.escalate(&config, now);
                    }
                    return self.fail_network(ClientError::PdpActivationFailed { apn });
                }
                self.network.act_failures = 0;
                self.network.apn_changed = false;
                self.network.phase = Phase::ActConfirm;
                self.net_send(For::Network, Query::ActRead, Command::ActRead);
            }
            Phase::ActConfirm => self.network_up(now),
            Phase::Cycle => {
                self.network.since = now;
                self.enter_registration(now);
            }
            // `RDY` moves a reboot on (`network_rdy`); a refused reset waits for registration.
            Phase::Rebooting => {
                if refusal(Query::Reset).is_some() {
                    self.network.since = now;
                    self.enter_registration(now);
                }
            }
            Phase::Off | Phase::Up | Phase::Failed | Phase::Retry { .. } => {}
        }
    }

    fn enter_sim(&mut self, _now: Instant) {
        self.network.phase = Phase::Sim {
            pin_sent: false,
            retry_at: None,
        };
        self.stage(Stage::Sim);
        self.net_send(For::Network, Query::Pin, Command::PinRead);
    }

    fn sim_retry(&mut self, config: &NetworkConfig, now: Instant) {
        let waited = now.saturating_duration_since(self.network.since);
        if waited >= config.sim_wait {
            return self.fail_network(ClientError::StageTimeout {
                stage: "SIM",
                waited,
            });
        }
        let pin_sent = matches!(self.network.phase, Phase::Sim { pin_sent: true, .. });
        self.network.phase = Phase::Sim {
            pin_sent,
            retry_at: Some(now + Duration::from_secs(1)),
        };
    }

    fn enter_registration(&mut self, _now: Instant) {
        self.network.phase = Phase::RegSet;
        // URCs with location (`<n>` 2): registration changes arrive at once, and the status
        // snapshot shows the cell.
        for d in [RegDomain::Ps, RegDomain::Eps] {
            self.net_send(
                For::Network,
                Query::RegSet(d),
                Command::RegSet(d, RegUrcMode::Location),
            );
        }
    }

    fn poll_registration(&mut self, _now: Instant) {
        self.network.phase = Phase::Registration { next_poll: None };
        for d in [RegDomain::Ps, RegDomain::Eps] {
            self.net_send(For::Network, Query::RegRead(d), Command::RegRead(d));
        }
        self.net_send(For::Network, Query::Csq, Command::Csq);
    }

    fn registration_checked(&mut self, config: &NetworkConfig, now: Instant) {
        let seen = &self.network.seen;
        if seen.registered() {
            return self.after_registration(config);
        }
        let stat = seen.packet_stat().unwrap_or(RegStat::Unknown);
        let waited = now.saturating_duration_since(self.network.since);
        let denied = [seen.cereg.as_ref(), seen.cgreg.as_ref()]
            .iter()
            .flatten()
            .any(|r| r.stat == RegStat::Denied);
        if denied && !self.network.was_up {
            return self.fail_network(ClientError::RegistrationDenied);
        }
        if waited >= config.registration_wait {
            let no_signal = seen.signal.is_none_or(|s| s.dbm().is_none());
            let e = if no_signal {
                ClientError::NoSignal { waited }
            } else {
                ClientError::NotRegistered { stat, waited }
            };
            if self.network.was_up {
                return self.escalate(config, now);
            }
            return self.fail_network(e);
        }
        self.stage(Stage::Registration { stat, waited });
        self.network.phase = Phase::Registration {
            next_poll: Some(now + config.poll_interval),
        };
    }

    fn after_registration(&mut self, config: &NetworkConfig) {
        if let Some(cid) = config.apn.as_ref().map(|_| config.cid) {
            self.network.phase = Phase::ApnRead;
            self.net_send(
                For::Network,
                Query::ContextRead(cid),
                Command::ContextRead(cid),
            );
        } else {
            self.enter_pdp();
        }
    }

    fn enter_pdp(&mut self) {
        self.network.phase = Phase::PdpRead;
        self.stage(Stage::Pdp);
        self.net_send(For::Network, Query::ActRead, Command::ActRead);
    }

    fn activate(&mut self, config: &NetworkConfig) {
        self.network.phase = Phase::Act;
        self.net_send(For::Network, Query::Act, Command::Act(config.cid));
    }

    fn network_up(&mut self, now: Instant) {
        let cid = self.network.cid().map_or(1, |c| c.get());
        let ip = self
            .network
            .seen
            .pdp
            .iter()
            .find(|c| c.cid == cid)
            .and_then(|c| c.ip.clone());
        self.network.phase = Phase::Up;
        self.network.act_failures = 0;
        self.network.cycles = 0;
        self.stage(Stage::Up { ip });
        if self.network.was_up {
            // The clients' recoveries waited for the bearer (`Network::is_up`): they go now.
            self.recovery_timers(now);
        } else {
            self.network.was_up = true;
            self.startup_complete();
        }
    }

    /// The network's timers: the SIM retry and the registration poll.
    pub(super) fn network_timer(&mut self, now: Instant) {
        self.network.now = now;
        match self.network.phase {
            Phase::Retry { at } if now >= at => {
                self.stage(Stage::Repair(Rung::WaitRegistration));
                self.network.since = now;
                self.enter_sim(now);
            }
            Phase::Sim {
                pin_sent,
                retry_at: Some(t),
            } if now >= t => {
                self.network.phase = Phase::Sim {
                    pin_sent,
                    retry_at: None,
                };
                self.net_send(For::Network, Query::Pin, Command::PinRead);
            }
            Phase::Registration { next_poll: Some(t) } if now >= t => self.poll_registration(now),
            _ => {}
        }
    }

    /// A URC the network side acts on: registration changes, a lost bearer, the SIM.
    pub(super) fn network_urc(&mut self, urc: &Urc<'_>, now: Instant) {
        self.network.now = now;
        // A SIM back, or coverage back, brings a failed repair's next try forward.
        if let Phase::Retry { .. } = self.network.phase {
            let back = match urc {
                Urc::Pin(p) => matches!(p, PinState::Ready),
                Urc::Reg { stat, .. } => stat.is_registered(),
                _ => false,
            };
            if back {
                self.network.phase = Phase::Retry { at: now };
            }
        }
        match urc {
            Urc::Reg {
                domain,
                stat,
                location,
            } => {
                self.network.seen.set_reg(*domain, *stat, location.as_ref());
                let Some(config) = self.network.config.clone() else {
                    return;
                };
                match self.network.phase {
                    Phase::Registration { next_poll: Some(_) }
                        if self.network.seen.registered() =>
                    {
                        self.after_registration(&config);
                    }
                    // An LTE Cat 1 module may report only `+CEREG`: its loss counts even while an
                    // older `+CGREG` said registered; a `+CGREG` loss counts when `+CEREG` agrees.
                    Phase::Up
                        if !stat.is_registered()
                            && (*domain == RegDomain::Eps
                                || (*domain == RegDomain::Ps
                                    && !self
                                        .network
                                        .seen
                                        .cereg
                                        .as_ref()
                                        .is_some_and(|r| r.stat.is_registered()))) =>
                    {
                        // Registration lost: wait for it; the bearer goes with it. An older
                        // "registered" of the other domain no longer counts (the poll asks again).
                        if *domain == RegDomain::Eps {
                            self.network.seen.cgreg = None;
                        }
                        self.stage(Stage::Repair(Rung::WaitRegistration));
                        self.network.since = now;
                        self.network.phase = Phase::Registration {
                            next_poll: Some(now + config.poll_interval),
                        };
                    }
                    _ => {}
                }
            }
            Urc::PdpDeact { cid } => {
                self.network.seen.context_mut(cid.get()).active = false;
                if self.network.cid() == Some(*cid) {
                    self.network.dropped = true;
                }
                if self.network.cid() == Some(*cid) && matches!(self.network.phase, Phase::Up) {
                    self.pdp_reset();
                }
            }
            Urc::Pin(p) => {
                self.network.seen.sim = sim_state(p);
                let up = matches!(
                    self.network.phase,
                    Phase::Up | Phase::Registration { .. } | Phase::RegSet
                );
                if self.network.was_up && up && !p.is_ready() {
                    // Spec §10.3: the SIM was removed or reset. Registration and the bearer go
                    // with it; nothing can be done until it is back.
                    self.stage(Stage::Repair(Rung::WaitSim));
                    self.network.phase = Phase::Retry {
                        at: now + REPAIR_RETRY,
                    };
                    return;
                }
                if let Phase::Sim {
                    retry_at: Some(_),
                    pin_sent,
                } = self.network.phase
                {
                    if matches!(p, PinState::Ready) {
                        self.network.phase = Phase::Sim {
                            pin_sent,
                            retry_at: Some(now),
                        };
                    }
                }
            }
            _ => {}
        }
    }

    /// The bearer is gone (`pdpdeact`, or `+QMTSTAT: <idx>,2` with bring-up on): the first rung.
    pub(super) fn pdp_reset(&mut self) {
        let Some(config) = self.network.config.clone() else {
            return;
        };
        if !matches!(self.network.phase, Phase::Up) {
            return;
        }
        self.stage(Stage::Repair(Rung::PdpReset));
        self.network.phase = Phase::Deact { then_act: true };
        self.net_send(For::Network, Query::Deact, Command::Deact(config.cid));
    }

    /// Repeated failure: cycle the radio, then (rate-limited) reset the module; after a rung the
    /// wait for registration starts again.
    fn escalate(&mut self, config: &NetworkConfig, now: Instant) {
        self.network.act_failures = 0;
        let hour = Duration::from_secs(3600);
        while self
            .network
            .resets
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= hour)
        {
            self.network.resets.pop_front();
        }
        let may_reset = (self.network.resets.len() as u32) < config.resets_per_hour;
        self.network.cycles += 1;
        if self.network.cycles >= 2 && may_reset {
            self.network.cycles = 0;
            self.network.resets.push_back(now);
            self.network.phase = Phase::Rebooting;
            self.stage(Stage::Repair(Rung::ModuleReset));
            self.net_send(
                For::Network,
                Query::Reset,
                Command::CfunSet {
                    fun: Functionality::Full,
                    reset: true,
                },
            );
        } else {
            if self.network.cycles >= 2 {
                tracing::warn!(
                    limit = config.resets_per_hour,
                    "module reset skipped: the hourly limit is reached"
                );
            }
            self.network.phase = Phase::Cycle;
            self.stage(Stage::Repair(Rung::RadioCycle));
            for fun in [Functionality::Minimum, Functionality::Full] {
                self.net_send(
                    For::Network,
                    Query::Cfun(fun),
                    Command::CfunSet { fun, reset: false },
                );
            }
        }
    }

    /// `RDY`: the module restarted (by the ladder's reset or by itself); the network comes up
    /// again from the SIM on, once start-up has set echo and errors again.
    pub(super) fn network_rdy(&mut self, now: Instant) {
        if self.network.config.is_none() || matches!(self.network.phase, Phase::Off | Phase::Failed)
        {
            return;
        }
        // `pending` is kept: the query on the wire fails with the restart and the queued ones are
        // still answered after `RDY`; each still ends once, so the count stays true.
        self.network.refused.clear();
        self.network.seen.pdp.clear();
        self.network.dropped = false;
        self.network.since = now;
        self.enter_sim(now);
    }

    /// A status request (see [`super::ModemCore::query_status`]).
    pub(super) fn start_status(&mut self, op: super::OpId) {
        self.network.status.push(StatusRun {
            op,
            status: ModemStatus::default(),
            pending: 0,
            why: Why::Request,
        });
        let whom = For::Status(op);
        let mut queries: Vec<(Query, Command)> = [
            IdentityQuery::Manufacturer,
            IdentityQuery::Model,
            IdentityQuery::Revision,
            IdentityQuery::Imei,
            IdentityQuery::Iccid,
        ]
        .into_iter()
        .map(|q| (Query::Identify(q), Command::Identify(q)))
        .collect();
        queries.extend([
            (Query::Pin, Command::PinRead),
            (Query::Cops, Command::CopsRead),
            (Query::NwInfo, Command::QnwInfo),
        ]);
        for d in RegDomain::ALL {
            queries.push((Query::RegRead(d), Command::RegRead(d)));
        }
        queries.extend([
            (Query::Csq, Command::Csq),
            (Query::Qcsq, Command::Qcsq),
            (Query::ActRead, Command::ActRead),
        ]);
        if let Some(cid) = self.network.cid() {
            queries.push((Query::ContextRead(cid), Command::ContextRead(cid)));
        }
        queries.extend([
            (Query::OpenRead, Command::OpenRead),
            (Query::ConnRead, Command::ConnRead),
        ]);
        for (q, c) in queries {
            self.net_send(whom, q, c);
        }
    }

    fn status_done(
        &mut self,
        op: super::OpId,
        query: Query,
        result: Result<Result<(), ModuleError>, CommandError>,
    ) {
        let Some(at) = self.network.status.iter().position(|r| r.op == op) else {
            return;
        };
        let run = &mut self.network.status[at];
        run.pending = run.pending.saturating_sub(1);
        if query == Query::Pin {
            if let Ok(Err(e)) = &result {
                run.status.sim = match cme_number(e) {
                    Some(10) => SimState::NotInserted,
                    Some(11) => SimState::PinRequired,
                    Some(12) => SimState::PukRequired,
                    _ => SimState::Other(e.to_string()),
                };
            }
        }
        // A port that went away ends the request; refusals only leave fields empty.
        let closed = matches!(result, Err(CommandError::Closed { .. }));
        if !closed && run.pending > 0 {
            return;
        }
        let run = self.network.status.remove(at);
        match (run.why, closed) {
            (Why::Request, true) => self.done(op, Err(ClientError::Closed)),
            (Why::Request, false) => self.done(op, Ok(Completion::Status(Box::new(run.status)))),
            (Why::Diagnose { error, .. }, true) => self.done(op, Err(error)),
            (Why::Diagnose { cid, error }, false) => {
                let e = diagnosis(&run.status, cid).unwrap_or(error);
                self.done(op, Err(e));
            }
        }
    }

    /// `AT+QMTOPEN` of a user's connect failed with `error`: ask SIM, registration and the
    /// context, and end `op` with the cause they show (or `error` when they show none).
    pub(super) fn diagnose_open(&mut self, op: super::OpId, cid: u8, error: ClientError) {
        self.network.status.push(StatusRun {
            op,
            status: ModemStatus::default(),
            pending: 0,
            why: Why::Diagnose { cid, error },
        });
        let whom = For::Status(op);
        self.net_send(whom, Query::Pin, Command::PinRead);
        for d in [RegDomain::Ps, RegDomain::Eps] {
            self.net_send(whom, Query::RegRead(d), Command::RegRead(d));
        }
        self.net_send(whom, Query::Csq, Command::Csq);
        self.net_send(whom, Query::ActRead, Command::ActRead);
    }
}

/// What SIM, registration and the contexts say is wrong, if anything, for a client on `cid`.
fn diagnosis(s: &ModemStatus, cid: u8) -> Option<ClientError> {
    match s.sim {
        SimState::NotInserted => return Some(ClientError::SimNotInserted),
        SimState::PinRequired => return Some(ClientError::SimPinRequired),
        SimState::PukRequired => return Some(ClientError::SimPukRequired),
        _ => {}
    }
    let stat = s.packet_stat();
    if stat == Some(RegStat::Denied) {
        return Some(ClientError::RegistrationDenied);
    }
    if let Some(stat) = stat.filter(|st| !st.is_registered()) {
        if s.signal.is_some_and(|q| q.dbm().is_none()) {
            return Some(ClientError::NoSignal {
                waited: Duration::ZERO,
            });
        }
        return Some(ClientError::NotRegistered {
            stat,
            waited: Duration::ZERO,
        });
    }
    if !s.pdp.iter().any(|c| c.cid == cid && c.active) {
        return Some(ClientError::NoDataContext { cid });
    }
    None
}

fn query_name(q: Query) -> &'static str {
    match q {
        Query::Identify(_) => "identity query",
        Query::Pin | Query::PinEnter => "AT+CPIN",
        Query::Cops => "AT+COPS?",
        Query::NwInfo => "AT+QNWINFO",
        Query::RegSet(_) | Query::RegRead(_) => "registration",
        Query::Csq => "AT+CSQ",
        Query::Qcsq => "AT+QCSQ",
        Query::ContextRead(_) | Query::ContextSet => "AT+QICSGP",
        Query::ActRead | Query::Act => "AT+QIACT",
        Query::Deact => "AT+QIDEACT",
        Query::OpenRead => "AT+QMTOPEN?",
        Query::ConnRead => "AT+QMTCONN?",
        Query::Cfun(_) | Query::Reset => "AT+CFUN",
    }
}

impl ModemStatus {
    /// The packet-domain registration that decides whether data works: `+CEREG`, else `+CGREG`
    /// (spec §10.5: some networks report it in `+CGREG` only; either registered is enough).
    pub fn packet_stat(&self) -> Option<RegStat> {
        let e = self.cereg.as_ref().map(|r| r.stat);
        let g = self.cgreg.as_ref().map(|r| r.stat);
        match (e, g) {
            (Some(s), _) if s.is_registered() => Some(s),
            (_, Some(s)) if s.is_registered() => Some(s),
            (Some(s), _) => Some(s),
            (None, g) => g,
        }
    }

    /// Whether the module is registered for data.
    pub fn registered(&self) -> bool {
        self.packet_stat().is_some_and(RegStat::is_registered)
    }

    /// `AT+CSQ` in dBm (spec §10.4), `None` when unknown.
    pub fn signal_dbm(&self) -> Option<i16> {
        self.signal.and_then(Signal::dbm)
    }

    fn context_mut(&mut self, cid: u8) -> &mut PdpContext {
        if let Some(i) = self.pdp.iter().position(|c| c.cid == cid) {
            return &mut self.pdp[i];
        }
        self.pdp.push(PdpContext {
            cid,
            active: false,
            ip: None,
            apn: None,
        });
        self.pdp.sort_by_key(|c| c.cid);
        let i = self.pdp.iter().position(|c| c.cid == cid).unwrap_or(0);
        &mut self.pdp[i]
    }

    fn client_mut(&mut self, idx: u8) -> &mut MqttClientState {
        if let Some(i) = self.mqtt_clients.iter().position(|c| c.client_idx == idx) {
            return &mut self.mqtt_clients[i];
        }
        self.mqtt_clients.push(MqttClientState {
            client_idx: idx,
            server: None,
            state: None,
        });
        self.mqtt_clients.sort_by_key(|c| c.client_idx);
        let i = self
            .mqtt_clients
            .iter()
            .position(|c| c.client_idx == idx)
            .unwrap_or(0);
        &mut self.mqtt_clients[i]
    }

    /// Takes in one information line answering `query`.
    fn record(&mut self, query: Query, info: &Info<'_>) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
        match (query, info) {
            (Query::Identify(IdentityQuery::Manufacturer), Info::Bare(b)) => {
                self.manufacturer = Some(text(b));
            }
            (Query::Identify(IdentityQuery::Model), Info::Bare(b)) => self.model = Some(text(b)),
            (Query::Identify(IdentityQuery::Revision), Info::Bare(b)) => {
                let t = text(b);
                let t = t
                    .strip_prefix("Revision:")
                    .map_or(t.clone(), |r| r.trim().to_owned());
                self.firmware = Some(t);
            }
            (Query::Identify(IdentityQuery::Imei), Info::Bare(b)) => self.imei = Some(text(b)),
            (Query::Identify(IdentityQuery::Iccid), Info::Iccid(s)) => {
                self.iccid = Some((*s).to_owned());
            }
            (Query::Pin, Info::Pin(p)) => self.sim = sim_state(p),
            (Query::Cops, Info::Cops { oper, .. }) => {
                self.operator = oper.map(str::to_owned);
            }
            (Query::NwInfo, Info::NwInfo { act, band, .. }) => {
                self.access = Some((*act).to_owned());
                self.band = Some((*band).to_owned());
            }
            (Query::NwInfo, Info::NwInfoNoService) => {
                self.access = Some("No Service".to_owned());
                self.band = None;
            }
            (
                Query::RegRead(_),
                Info::Reg {
                    domain,
                    stat,
                    location,
                    ..
                },
            ) => self.set_reg(*domain, *stat, location.as_ref()),
            (Query::Csq, Info::Signal(s)) => self.signal = Some(*s),
            (Query::Qcsq, Info::Qcsq { sysmode, values }) => {
                self.qcsq = Some(((*sysmode).to_owned(), values.iter().collect()));
            }
            (
                Query::ActRead,
                Info::Act {
                    cid, active, ip, ..
                },
            ) => {
                let c = self.context_mut(cid.get());
                c.active = *active;
                c.ip = ip.map(str::to_owned);
            }
            (Query::ContextRead(cid), Info::Context { apn, .. }) => {
                self.context_mut(cid.get()).apn = Some((*apn).to_owned());
            }
            (
                Query::OpenRead,
                Info::OpenRead {
                    client_idx,
                    host,
                    port,
                },
            ) => {
                let port = port.get();
                self.client_mut(client_idx.get()).server = Some(((*host).to_owned(), port));
            }
            (Query::ConnRead, Info::ConnRead { client_idx, state }) => {
                self.client_mut(client_idx.get()).state = Some(conn_words(*state).to_owned());
            }
            _ => {}
        }
    }

    fn set_reg(
        &mut self,
        domain: RegDomain,
        stat: RegStat,
        location: Option<&qmt_proto::RegLocation<'_>>,
    ) {
        let reg = Registration {
            stat,
            area: location.map(|l| l.area.to_owned()),
            cell: location.map(|l| l.cell.to_owned()),
            act: location.and_then(|l| l.act),
        };
        match domain {
            RegDomain::Cs => self.creg = Some(reg),
            RegDomain::Ps => self.cgreg = Some(reg),
            RegDomain::Eps => self.cereg = Some(reg),
        }
    }
}

fn conn_words(state: ConnState) -> &'static str {
    match state {
        ConnState::Initializing => "initializing",
        ConnState::Connecting => "connecting",
        ConnState::Connected => "connected",
        ConnState::Disconnecting => "disconnecting",
        _ => "unknown",
    }
}
