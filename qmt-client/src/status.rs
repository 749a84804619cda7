//! What the module is and where it stands, as bring-up and `Modem::status` report it (spec §10):
//! the stages and rungs of bring-up and repair, and the status snapshot. Plain types, used by the
//! core (`sansio`), the errors and the events alike.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use qmt_proto::{RegStat, Signal};

/// A stage of bring-up, reported as it is entered ([`CoreEvent::Stage`](crate::sansio::CoreEvent::Stage)) so a user sees what is
/// being waited for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading model, firmware, IMEI and ICCID.
    Identify,
    /// Waiting for the SIM (entering the PIN if one is configured).
    Sim,
    /// Waiting for registration: the best state seen and how long it has been.
    Registration {
        /// The `<stat>` of the packet domain (`+CEREG`, else `+CGREG`).
        stat: RegStat,
        /// Since the wait began.
        waited: Duration,
    },
    /// Setting the APN of the context (`AT+QICSGP`), only when it differs.
    Apn,
    /// Activating the PDP context (`AT+QIACT`), or reusing an active one.
    Pdp,
    /// The bearer is up: MQTT can open.
    Up {
        /// The context's IP address, if the module said it.
        ip: Option<String>,
    },
    /// A rung of the recovery ladder (a lost bearer or registration being repaired).
    Repair(Rung),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Identify => f.write_str("identifying the module"),
            Stage::Sim => f.write_str("waiting for the SIM"),
            Stage::Registration { stat, waited } => write!(
                f,
                "waiting for registration: {}, {} s",
                stat_words(*stat),
                waited.as_secs()
            ),
            Stage::Apn => f.write_str("setting the APN"),
            Stage::Pdp => f.write_str("activating the data context"),
            Stage::Up { ip: Some(ip) } => write!(f, "network up, IP {ip}"),
            Stage::Up { ip: None } => f.write_str("network up"),
            Stage::Repair(r) => write!(f, "repairing: {r}"),
        }
    }
}

/// A rung of the recovery ladder (spec §10.1, §10.6): each is reported before it is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    /// The bearer was lost (`+QIURC: "pdpdeact"`, or `+QMTSTAT: <idx>,2`): `AT+QIDEACT` then
    /// `AT+QIACT`.
    PdpReset,
    /// Registration was lost: waiting for it to come back.
    WaitRegistration,
    /// The SIM went away (`+CPIN: NOT READY`): waiting for it (`+CPIN: READY`), then bring-up
    /// from the SIM on.
    WaitSim,
    /// The PDP reset failed repeatedly: the radio is cycled (`AT+CFUN=0`, `AT+CFUN=1`).
    RadioCycle,
    /// The radio cycle did not help: the module is reset (`AT+CFUN=1,1`), rate-limited.
    ModuleReset,
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rung::PdpReset => "resetting the data context (AT+QIDEACT, AT+QIACT)",
            Rung::WaitRegistration => "waiting for the network to come back",
            Rung::WaitSim => "the SIM is out: waiting for it",
            Rung::RadioCycle => "cycling the radio (AT+CFUN=0, AT+CFUN=1)",
            Rung::ModuleReset => "resetting the module (AT+CFUN=1,1)",
        })
    }
}

/// A registration state in words (spec §10.5).
pub fn stat_words(stat: RegStat) -> &'static str {
    match stat {
        RegStat::NotSearching => "not registered, not searching",
        RegStat::Home => "registered (home)",
        RegStat::Searching => "searching",
        RegStat::Denied => "denied",
        RegStat::Unknown => "unknown",
        RegStat::Roaming => "registered (roaming)",
        _ => "unknown state",
    }
}

/// The SIM as the module reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SimState {
    /// Not asked yet, or the module did not say.
    #[default]
    Unknown,
    /// `+CPIN: READY`.
    Ready,
    /// `+CPIN: SIM PIN`: the PIN is needed.
    PinRequired,
    /// `+CPIN: SIM PUK`: three wrong PINs; the PUK is needed.
    PukRequired,
    /// `+CME ERROR: 10`.
    NotInserted,
    /// Anything else the module said (`SIM busy`, `NOT READY`, `PH-NET PIN` …).
    Other(String),
}

impl fmt::Display for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimState::Unknown => f.write_str("unknown"),
            SimState::Ready => f.write_str("ready"),
            SimState::PinRequired => f.write_str("PIN required"),
            SimState::PukRequired => f.write_str("PUK required"),
            SimState::NotInserted => f.write_str("not inserted"),
            SimState::Other(s) => f.write_str(s),
        }
    }
}

/// One registration answer (`+CREG?`, `+CGREG?` or `+CEREG?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The `<stat>`.
    pub stat: RegStat,
    /// Location area or tracking area code, hex, when the module gave it (`<n>` 2).
    pub area: Option<String>,
    /// Cell id, hex.
    pub cell: Option<String>,
    /// Access technology (`<AcT>`: 0 GSM, 2 UTRAN, 7 E-UTRAN, 8 CAT-M, 9 NB-IoT).
    pub act: Option<u8>,
}

/// One PDP context (`+QIACT:` and `+QICSGP:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdpContext {
    /// The context id.
    pub cid: u8,
    /// Whether it is active.
    pub active: bool,
    /// Its IP address, when active.
    pub ip: Option<String>,
    /// Its APN, when it was read.
    pub apn: Option<String>,
}

/// One MQTT client of the module (`AT+QMTOPEN?`, `AT+QMTCONN?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttClientState {
    /// The client index, 0–5.
    pub client_idx: u8,
    /// The server it is open to, if open.
    pub server: Option<(String, u16)>,
    /// Its MQTT state, if the module said.
    pub state: Option<String>,
}

/// The module at a glance, as `mmcli -m 0` shows a modem: identity, SIM, network, bearer and
/// MQTT. Fields the module did not answer are `None` (a module without SIM or network still
/// gives a snapshot). Holds no secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModemStatus {
    /// `AT+CGMI`.
    pub manufacturer: Option<String>,
    /// `AT+CGMM`.
    pub model: Option<String>,
    /// `AT+CGMR`.
    pub firmware: Option<String>,
    /// `AT+GSN`.
    pub imei: Option<String>,
    /// `AT+QCCID`.
    pub iccid: Option<String>,
    /// `AT+CPIN?`.
    pub sim: SimState,
    /// `AT+COPS?` (the operator's name or number).
    pub operator: Option<String>,
    /// `AT+QNWINFO`: access technology (`FDD LTE`), or `No Service`.
    pub access: Option<String>,
    /// `AT+QNWINFO`: band.
    pub band: Option<String>,
    /// `AT+CREG?` (circuit-switched).
    pub creg: Option<Registration>,
    /// `AT+CGREG?` (packet, 2G/3G).
    pub cgreg: Option<Registration>,
    /// `AT+CEREG?` (packet, LTE).
    pub cereg: Option<Registration>,
    /// `AT+CSQ`.
    pub signal: Option<Signal>,
    /// `AT+QCSQ`: the system mode and its values (LTE: RSSI, RSRP, SINR, RSRQ).
    pub qcsq: Option<(String, Vec<i64>)>,
    /// `AT+QIACT?` (and the APN from `AT+QICSGP`).
    pub pdp: Vec<PdpContext>,
    /// `AT+QMTOPEN?` and `AT+QMTCONN?`.
    pub mqtt_clients: Vec<MqttClientState>,
}
