//! The §10 commands (spec §10.1–10.6) on the module core: each parsed by
//! `qmt_proto::Command::parse`, answered from the [`Network`](super::network) state and written
//! with the `qmt_proto` encoders; and the network side's notes written as typed URCs.

use std::time::Instant;

use qmt_proto::net::{
    ApnAuth, ContextType, Functionality, IdentityQuery, PowerDownKind, RegLocation, RegStat,
    RegUrcMode, Signal,
};
use qmt_proto::params::ContextId;
use qmt_proto::urc::Values;
use qmt_proto::{Command, Info, Urc};
use tracing::debug;

use super::errors::CmeError;
use super::network::{ActError, Note, SimError};
use super::{Link, Module, Power};

fn sim_error(e: SimError) -> CmeError {
    match e {
        SimError::NotInserted => CmeError::SimNotInserted,
        SimError::PinRequired => CmeError::SimPinRequired,
        SimError::PukRequired => CmeError::SimPukRequired,
        SimError::WrongPin => CmeError::IncorrectPassword,
        SimError::NotAllowed => CmeError::OperationNotAllowed,
    }
}

/// A context id the state machine handed out (1–15).
fn cid_of(n: u8) -> Option<ContextId> {
    ContextId::new(i64::from(n)).ok()
}

impl Module {
    /// Answers one §10 command.
    pub(super) fn execute_net(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Identify(q) => self.identify(q),
            Command::PinRead => match self.network.pin_state() {
                Ok(code) => {
                    self.info(Info::Pin(code));
                    self.ok();
                }
                Err(e) => self.error(sim_error(e)),
            },
            Command::PinEnter(pin) => match self.network.enter_pin(pin.expose(), now) {
                // `+CPIN: READY` follows as a URC, after the OK.
                Ok(()) => self.ok(),
                Err(e) => self.error(sim_error(e)),
            },
            Command::SimStatRead => {
                let (enabled, inserted) = self.network.sim_stat();
                self.info(Info::SimStat { enabled, inserted });
                self.ok();
            }
            Command::Csq => {
                let signal = self
                    .network
                    .signal()
                    .map_or(Signal { rssi: 99, ber: 99 }, |s| Signal {
                        rssi: s.rssi,
                        ber: s.ber,
                    });
                self.info(Info::Signal(signal));
                self.ok();
            }
            Command::Qcsq => {
                let values = self
                    .network
                    .is_registered()
                    .then(|| self.network.signal().copied())
                    .flatten()
                    .map(|s| format!("{},{},{},{}", s.rssi_dbm(), s.rsrp, s.sinr, s.rsrq));
                match values.as_deref().and_then(|v| Values::parse(v.as_bytes())) {
                    Some(values) => self.info(Info::Qcsq {
                        sysmode: "LTE",
                        values,
                    }),
                    None => self.info(Info::Qcsq {
                        sysmode: "NOSERVICE",
                        values: Values::EMPTY,
                    }),
                }
                self.ok();
            }
            Command::QnwInfo => {
                if self.network.is_registered() {
                    let op = self.network.operator().clone();
                    self.info(Info::NwInfo {
                        act: &op.act_name,
                        oper: &op.mcc_mnc,
                        band: &op.band,
                        channel: op.channel,
                    });
                } else {
                    self.info(Info::NwInfoNoService);
                }
                self.ok();
            }
            Command::CopsRead => {
                if self.network.is_registered() {
                    let op = self.network.operator().clone();
                    self.info(Info::Cops {
                        mode: 0,
                        format: Some(0),
                        oper: Some(&op.name),
                        act: Some(op.act),
                    });
                } else {
                    self.info(Info::Cops {
                        mode: 0,
                        format: None,
                        oper: None,
                        act: None,
                    });
                }
                self.ok();
            }
            Command::RegSet(d, mode) => match mode {
                RegUrcMode::Off | RegUrcMode::Stat | RegUrcMode::Location => {
                    self.network.set_mode(d, mode.code());
                    self.ok();
                }
                // 3GPP's 3–5 (reject cause, PSM timers) are not documented for these modules.
                RegUrcMode::Other(_) => self.error(CmeError::IncorrectParameters),
            },
            Command::RegRead(d) => {
                let (n, stat, with_location) = self.network.reg(d);
                let op = self.network.operator().clone();
                self.info(Info::Reg {
                    domain: d,
                    mode: RegUrcMode::from_code(n),
                    stat: RegStat::from_code(stat),
                    location: with_location.then_some(RegLocation {
                        area: &op.area,
                        cell: &op.cell,
                        act: Some(op.act),
                    }),
                });
                self.ok();
            }
            Command::ContextSet(c) => {
                // ContextConfig's Debug redacts the password.
                debug!(cid = c.cid.get(), apn = %c.apn.as_str(), "context set");
                self.network.set_context(
                    c.cid.get(),
                    c.ctype.get(),
                    c.apn.as_str(),
                    c.user.as_str(),
                    c.password.expose(),
                    c.auth.get(),
                );
                self.ok();
            }
            Command::ContextRead(cid) => {
                let ctx = self.network.context(cid.get()).cloned();
                if let Some(ctx) = ctx {
                    // The password is not written back (qmt-proto's answer type has none).
                    if let (Ok(ctype), Ok(auth)) = (
                        ContextType::new(i64::from(ctx.ctype)),
                        ApnAuth::new(i64::from(ctx.auth)),
                    ) {
                        self.info(Info::Context {
                            ctype,
                            apn: &ctx.apn,
                            user: &ctx.user,
                            auth,
                        });
                    }
                }
                self.ok();
            }
            Command::ActRead => {
                let active: Vec<(u8, u8, String)> = self
                    .network
                    .active()
                    .map(|(cid, ctype, ip)| (cid, ctype, ip.to_owned()))
                    .collect();
                for (cid, ctype, ip) in &active {
                    if let (Some(cid), Ok(ctype)) =
                        (cid_of(*cid), ContextType::new(i64::from(*ctype)))
                    {
                        self.info(Info::Act {
                            cid,
                            active: true,
                            ctype,
                            ip: Some(ip),
                        });
                    }
                }
                self.ok();
            }
            Command::Act(cid) => match self.network.activate(cid.get()) {
                Ok(()) => {
                    debug!(cid = cid.get(), ip = ?self.network.addr(cid.get()), "context active");
                    self.ok();
                }
                Err(e) => {
                    debug!(cid = cid.get(), error = ?e, "context activation failed");
                    self.error(match e {
                        ActError::NoService => CmeError::NoNetworkService,
                        ActError::WrongApn => CmeError::PdpActivationFailed,
                        ActError::NotAllowed => CmeError::OperationNotAllowed,
                    });
                }
            },
            Command::Deact(cid) => {
                self.ok();
                self.network.deactivate(cid.get());
            }
            Command::AttachRead => {
                self.info(Info::Attach(self.network.attached()));
                self.ok();
            }
            Command::AddrRead(cid) => {
                let ip = self.network.addr(cid.get()).unwrap_or("0.0.0.0").to_owned();
                self.info(Info::Addr { cid, ip: &ip });
                self.ok();
            }
            Command::CfunSet { fun, reset } => {
                let code = fun.code();
                if !matches!(code, 0 | 1 | 4) {
                    self.error(CmeError::IncorrectParameters);
                    return;
                }
                self.ok();
                if reset {
                    debug!(fun = code, "AT+CFUN reset: the module restarts");
                    self.restart(now);
                } else {
                    self.network.set_fun(code, now);
                }
            }
            Command::CfunRead => {
                self.info(Info::Cfun(Functionality::from_code(self.network.fun())));
                self.ok();
            }
            Command::PowerDown(_) => {
                self.ok();
                self.urc(Urc::PowerDown(PowerDownKind::Powered));
                self.power_down();
            }
            other => {
                debug!(command = %other, "not a §10 command");
                self.error(CmeError::OperationNotSupported);
            }
        }
    }

    fn identify(&mut self, q: IdentityQuery) {
        let id = self.network.config().identity.clone();
        let bare = |m: &mut Module, s: &str| m.info(Info::Bare(s.as_bytes()));
        match q {
            IdentityQuery::Ati => {
                bare(self, &id.manufacturer);
                bare(self, &id.model);
                bare(self, &format!("Revision: {}", id.revision));
            }
            IdentityQuery::Manufacturer => bare(self, &id.manufacturer),
            IdentityQuery::Model => bare(self, &id.model),
            IdentityQuery::Revision => bare(self, &id.revision),
            IdentityQuery::Imei => bare(self, &id.imei),
            IdentityQuery::Iccid => match self.network.iccid() {
                Ok(iccid) => {
                    let iccid = iccid.to_owned();
                    self.info(Info::Iccid(&iccid));
                }
                Err(e) => return self.error(sim_error(e)),
            },
            IdentityQuery::Imsi => match self.network.imsi() {
                Ok(imsi) => {
                    let imsi = imsi.to_owned();
                    bare(self, &imsi);
                }
                Err(e) => return self.error(sim_error(e)),
            },
        }
        self.ok();
    }

    /// `AT+QPOWD`: every connection is dropped without a word, and the module hears and says
    /// nothing more until a power cycle.
    fn power_down(&mut self) {
        for idx in qmt_proto::params::ClientIdx::all() {
            if !matches!(self.client(idx).link, Link::NotOpen) {
                self.close_link(idx);
            }
        }
        self.data = None;
        self.network.power_down();
        self.power = Power::Off;
    }

    /// Writes one of the network side's notes as its URC.
    pub(super) fn note_urc(&mut self, note: Note) {
        match note {
            Note::Cfun(fun) => self.urc(Urc::Cfun(Functionality::from_code(fun))),
            Note::Pin(code) => self.urc(Urc::Pin(code)),
            Note::Qusim => self.urc(Urc::Qusim(1)),
            Note::Qind(what) => self.urc(Urc::Qind(what)),
            Note::SimStat { enabled, inserted } => self.urc(Urc::SimStat { enabled, inserted }),
            Note::Reg {
                domain: d,
                stat,
                location,
            } => {
                let op = self.network.operator().clone();
                self.urc(Urc::Reg {
                    domain: d,
                    stat: RegStat::from_code(stat),
                    location: location.then_some(RegLocation {
                        area: &op.area,
                        cell: &op.cell,
                        act: Some(op.act),
                    }),
                });
            }
            Note::PdpDeact(cid) => {
                if let Some(cid) = cid_of(cid) {
                    self.urc(Urc::PdpDeact { cid });
                }
            }
            Note::Down(cid) => self.context_down(cid),
        }
    }
}
