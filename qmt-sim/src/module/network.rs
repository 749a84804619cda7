//! The network side of the simulated module (spec §10.1–10.6): the SIM, registration, signal and
//! operator, and the PDP contexts (the data bearer `AT+QMTOPEN` uses), sans-IO.
//!
//! [`NetworkSim`] is the configuration: what SIM is inserted, how registration goes, what the
//! network expects as APN. [`NetworkSim::default`] is a module that is already usable (SIM ready,
//! registered at home, context 1 active), as every MQTT test assumes; [`NetworkSim::cold`] is a
//! module whose host must do the bring-up itself.
//!
//! `Network` is the state machine the module core drives. It is fed commands as plain values and
//! `now`, and it queues `Note`s (boot URCs, registration URCs, contexts going down) that the core
//! turns into lines and into MQTT consequences. It never writes bytes itself.
//!
//! # Choices where the spec is silent or uncertain
//!
//! - **Default bearer**: EC200U firmware activates context 1 by itself once registered, with the
//!   network's default APN (the context's APN is empty); the default configuration models that
//!   (`auto_context`), so a host that never touches `AT+QIACT` can open MQTT connections on
//!   `pdpcid` 1. Other contexts start inactive.
//! - **Registration** is one state shared by `+CREG`, `+CGREG` and `+CEREG` (an LTE Cat.1 module
//!   registers every domain together). Searching is stat 2, a radio that is off (`AT+CFUN=0/4`, no
//!   SIM, locked SIM) is stat 0. URCs carry the location (`"<tac>","<ci>",<AcT>`) with `<n>` 2 only
//!   while registered (1 or 5); query answers likewise.
//! - **Losing registration** (fault) deactivates every active context as the network does:
//!   `+QIURC: "pdpdeact",<cid>` for each, which the host must `AT+QIDEACT` before reactivating.
//!   `AT+CFUN=0/4` deactivates them quietly (the host asked for it): they are simply inactive.
//! - **`AT+QIACT`** on an active context answers `ERROR` (spec §10.6 **[uncertain]**: "some
//!   firmware"); on a context the network deactivated (not yet `AT+QIDEACT`ed) also `ERROR`.
//!   Activation fails (`ERROR`) while not registered, and when an expected APN is configured and
//!   the context's APN differs from it (an empty APN differs too). `AT+QIDEACT` of an inactive
//!   context answers `OK`.
//! - **SIM errors** (10 not inserted, 11 PIN required, 12 PUK required, 16 incorrect password) are
//!   `+CME ERROR: <n>` in every `AT+CMEE` mode, as the spec's §10.3 shows them. Three wrong PINs
//!   lock the SIM (`SIM PUK`); PUK entry is not simulated (every `AT+CPIN` answers 12 then).
//! - **Addresses**: each activation gets `10.<64+cid>.<a>.<b>` from a counter, so a reactivated
//!   context has a new address.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use qmt_proto::net::{PinState, RegDomain};

/// Contexts 1–15 (spec §10.6).
pub(super) const CONTEXTS: usize = 15;
/// The highest context id.
const MAX_CID: u8 = 15;

/// A SIM PIN, 4–8 digits. Never printed: `Debug` shows `SimPin(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SimPin(String);

impl SimPin {
    /// The PIN, when `pin` is 4–8 ASCII digits.
    pub fn new(pin: &str) -> Option<SimPin> {
        ((4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()))
            .then(|| SimPin(pin.to_owned()))
    }

    /// The digits (a secret: do not log them).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SimPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimPin(<redacted>)")
    }
}

/// `1234` → a PIN; anything but 4–8 digits is refused (the text is not repeated: it is a secret).
impl std::str::FromStr for SimPin {
    type Err = String;

    fn from_str(s: &str) -> Result<SimPin, String> {
        SimPin::new(s).ok_or_else(|| "a PIN is 4 to 8 digits".to_owned())
    }
}

/// The SIM card in the module's holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimCard {
    /// No SIM: `AT+CPIN?` and `AT+CIMI` answer `+CME ERROR: 10`, no registration.
    Absent,
    /// A SIM without PIN lock: `+CPIN: READY`.
    Ready,
    /// A SIM locked with this PIN: `+CPIN: SIM PIN` until `AT+CPIN="<pin>"`; three wrong PINs
    /// lock it (`SIM PUK`).
    Locked(SimPin),
}

/// How registration ends once the module searched for [`NetworkSim::reg_delay`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOutcome {
    /// Registered, home network (stat 1).
    Home,
    /// Registered, roaming (stat 5).
    Roaming,
    /// Registration denied (stat 3): final.
    Denied,
    /// No network found: searching (stat 2) for ever.
    NoService,
}

impl RegOutcome {
    /// The `<stat>` it ends in.
    pub const fn stat(self) -> u8 {
        match self {
            RegOutcome::Home => 1,
            RegOutcome::Roaming => 5,
            RegOutcome::Denied => 3,
            RegOutcome::NoService => 2,
        }
    }
}

/// Which URCs announce the end of boot (spec §10.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BootUrcs {
    /// `RDY` alone (what qmt-sim always sent before §10: the default, which existing hosts and
    /// transcripts expect).
    #[default]
    RdyOnly,
    /// `RDY`, `+CFUN: 1`, `+CPIN: <state>`, then with a SIM `+QUSIM: 1`, and with a ready SIM
    /// `+QIND: SMS DONE`, `+QIND: PB DONE`.
    Full,
}

/// What the module says about itself (spec §10.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `AT+CGMI`, first line of `ATI`.
    pub manufacturer: String,
    /// `AT+CGMM`, second line of `ATI`.
    pub model: String,
    /// `AT+CGMR`, `Revision: …` of `ATI`.
    pub revision: String,
    /// `AT+GSN` / `AT+CGSN`: 15 digits.
    pub imei: String,
    /// `AT+QCCID`: the SIM's ICCID (19–20 characters).
    pub iccid: String,
    /// `AT+CIMI`: the SIM's IMSI (15 digits).
    pub imsi: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            manufacturer: "Quectel".into(),
            model: "EC200U".into(),
            revision: "EC200UCNAAR02A01M08".into(),
            imei: "869487050123457".into(),
            iccid: "89860121801234567890".into(),
            imsi: "460011234567890".into(),
        }
    }
}

/// The network the module camps on (spec §10.4, §10.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Numeric operator (MCC MNC), `AT+QNWINFO`'s `<oper>`.
    pub mcc_mnc: String,
    /// Long alphanumeric name, `AT+COPS?`'s `<oper>`.
    pub name: String,
    /// `AT+QNWINFO`'s `<act>`, e.g. `FDD LTE`.
    pub act_name: String,
    /// `AT+QNWINFO`'s `<band>`, e.g. `LTE BAND 3`.
    pub band: String,
    /// `AT+QNWINFO`'s `<channel>` (EARFCN).
    pub channel: u32,
    /// Access technology number of `AT+COPS?` and the registration location (7 E-UTRAN).
    pub act: u8,
    /// Tracking (or location) area code, hex text.
    pub area: String,
    /// Cell id, hex text.
    pub cell: String,
}

impl Default for Operator {
    fn default() -> Self {
        Operator {
            mcc_mnc: "46001".into(),
            name: "CHN-UNICOM".into(),
            act_name: "FDD LTE".into(),
            band: "LTE BAND 3".into(),
            channel: 1650,
            act: 7,
            area: "1A2B".into(),
            cell: "01C3D04".into(),
        }
    }
}

/// Signal quality (spec §10.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalLevel {
    /// `AT+CSQ` `<rssi>`: 0–31 (dBm = −113 + 2·rssi), 99 unknown.
    pub rssi: u8,
    /// `AT+CSQ` `<ber>`: 0–7, 99 unknown.
    pub ber: u8,
    /// `AT+QCSQ` LTE RSRP in dBm.
    pub rsrp: i16,
    /// `AT+QCSQ` LTE SINR, in 1/5 dB steps.
    pub sinr: i16,
    /// `AT+QCSQ` LTE RSRQ in dB.
    pub rsrq: i16,
}

impl Default for SignalLevel {
    fn default() -> Self {
        SignalLevel {
            rssi: 24,
            ber: 99,
            rsrp: -95,
            sinr: 100,
            rsrq: -9,
        }
    }
}

impl SignalLevel {
    /// RSSI in dBm (−113 + 2·rssi), for `AT+QCSQ`; −113 when unknown.
    pub fn rssi_dbm(&self) -> i16 {
        if self.rssi <= 31 {
            -113 + 2 * i16::from(self.rssi)
        } else {
            -113
        }
    }
}

/// The SIM, the network and the bearer of a simulated module: everything of spec §10 that is
/// configured rather than commanded. See [`NetworkSim::default`] and [`NetworkSim::cold`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSim {
    /// Time from power-on (or reset) to `RDY`; before it the module reads and answers nothing
    /// (spec §10.1: up to ~13 s on real modules).
    pub boot_delay: Duration,
    /// Which URCs announce the end of boot.
    pub boot_urcs: BootUrcs,
    /// Model, firmware, IMEI, ICCID, IMSI.
    pub identity: Identity,
    /// The SIM card.
    pub sim: SimCard,
    /// SIM hot-swap detection on: `AT+QSIMSTAT?` answers enable 1 and a removed SIM sends
    /// `+QSIMSTAT: 1,0`.
    pub sim_hotswap: bool,
    /// How long the module searches (stat 2) once the radio is on and the SIM ready.
    pub reg_delay: Duration,
    /// How the search ends.
    pub registration: RegOutcome,
    /// The network.
    pub operator: Operator,
    /// Signal quality.
    pub signal: SignalLevel,
    /// The APN the network accepts for `AT+QIACT`; `None` accepts any.
    pub expected_apn: Option<String>,
    /// The firmware activates context 1 itself (with the network's default APN, the context's
    /// own APN left empty) whenever the module registers and context 1 is inactive.
    pub auto_context: bool,
    /// The module's clock and the network's time (spec §10.9).
    pub clock: super::clock::ClockSim,
    /// Files in the module's file system at power-up (name, bytes; spec §10.8), e.g. a CA
    /// certificate left by an earlier provisioning. A name without a drive is on `UFS:`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Whether `AT+QFUPL` answers `+QFUPL: <size>,<checksum>` before its `OK` (spec §10.8: the
    /// answer is sometimes not seen on real modules; `false` leaves it out).
    pub qfupl_answer: bool,
}

impl Default for NetworkSim {
    /// A module that is usable at once: `RDY` alone at power-up (no delay), SIM ready, registered
    /// at home without searching, context 1 active (see [`NetworkSim::auto_context`]), any APN
    /// accepted. Every MQTT transcript runs on it unchanged.
    fn default() -> Self {
        NetworkSim {
            boot_delay: Duration::ZERO,
            boot_urcs: BootUrcs::RdyOnly,
            identity: Identity::default(),
            sim: SimCard::Ready,
            sim_hotswap: false,
            reg_delay: Duration::ZERO,
            registration: RegOutcome::Home,
            operator: Operator::default(),
            signal: SignalLevel::default(),
            expected_apn: None,
            auto_context: true,
            clock: super::clock::ClockSim::default(),
            files: Vec::new(),
            qfupl_answer: true,
        }
    }
}

impl NetworkSim {
    /// A module the host must bring up: the full boot URCs, SIM ready, registration after 1.5 s of
    /// searching, no context active (the host sets the APN with `AT+QICSGP` and activates with
    /// `AT+QIACT`; `AT+QMTOPEN` fails with `+QMTOPEN: <idx>,3` until then).
    pub fn cold() -> NetworkSim {
        NetworkSim {
            boot_urcs: BootUrcs::Full,
            reg_delay: Duration::from_millis(1500),
            auto_context: false,
            ..NetworkSim::default()
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The state machine.

/// The index of a domain in the `<n>` table.
fn slot_of(d: RegDomain) -> usize {
    match d {
        RegDomain::Cs => 0,
        RegDomain::Ps => 1,
        RegDomain::Eps => 2,
    }
}

/// A SIM-related refusal (`+CME ERROR` in every mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SimError {
    /// 10.
    NotInserted,
    /// 11.
    PinRequired,
    /// 12.
    PukRequired,
    /// 16.
    WrongPin,
    /// 3: `AT+CPIN="…"` on a SIM that wants none.
    NotAllowed,
}

/// Why `AT+QIACT` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ActError {
    /// Not registered (or radio off).
    NoService,
    /// The context's APN is not the one the network accepts.
    WrongApn,
    /// Already active, or deactivated by the network and not yet `AT+QIDEACT`ed.
    NotAllowed,
}

/// Something the core must write or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Note {
    /// `+CFUN: <fun>` (boot).
    Cfun(u8),
    /// `+CPIN: <code>`.
    Pin(PinState<'static>),
    /// `+QUSIM: 1`.
    Qusim,
    /// `+QIND: <text>`.
    Qind(&'static str),
    /// `+QSIMSTAT: <enabled>,<inserted>`.
    SimStat { enabled: bool, inserted: bool },
    /// A registration URC: stat, with the location when `location`.
    Reg {
        domain: RegDomain,
        stat: u8,
        location: bool,
    },
    /// `+QIURC: "pdpdeact",<cid>`.
    PdpDeact(u8),
    /// The context went down (for any reason): every MQTT connection on it is gone.
    Down(u8),
}

/// A context's activation state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CtxState {
    Inactive,
    Active {
        ip: String,
    },
    /// Deactivated by the network; `AT+QIDEACT` makes it inactive.
    Dropped,
}

/// An APN password: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct Password(pub(super) String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One PDP context: its `AT+QICSGP` settings and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Context {
    /// 1 IPv4, 2 IPv6, 3 IPv4v6.
    pub(super) ctype: u8,
    pub(super) apn: String,
    pub(super) user: String,
    pub(super) password: Password,
    /// 0 none, 1 PAP, 2 CHAP, 3 PAP or CHAP.
    pub(super) auth: u8,
    pub(super) state: CtxState,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            ctype: 1,
            apn: String::new(),
            user: String::new(),
            password: Password::default(),
            auth: 0,
            state: CtxState::Inactive,
        }
    }
}

/// The SIM as the module sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SimState {
    Absent,
    Locked { wrong: u8 },
    Puk,
    Ready,
}

/// The network side's state (see the module docs).
#[derive(Debug)]
pub(super) struct Network {
    cfg: NetworkSim,
    /// Boot finished (`RDY` sent) and not powered down.
    on: bool,
    fun: u8,
    sim: SimState,
    stat: u8,
    /// When the current search ends.
    reg_at: Option<Instant>,
    /// A `RegistrationLost` fault holds the module searching.
    lost: bool,
    modes: [u8; 3],
    contexts: [Context; CONTEXTS],
    activations: u32,
    notes: VecDeque<Note>,
}

fn registered(stat: u8) -> bool {
    stat == 1 || stat == 5
}

impl Network {
    /// The state at power-on, before boot ends.
    pub(super) fn new(cfg: NetworkSim) -> Network {
        let sim = match cfg.sim {
            SimCard::Absent => SimState::Absent,
            SimCard::Ready => SimState::Ready,
            SimCard::Locked(_) => SimState::Locked { wrong: 0 },
        };
        Network {
            cfg,
            on: false,
            fun: 1,
            sim,
            stat: 0,
            reg_at: None,
            lost: false,
            modes: [0; 3],
            contexts: Default::default(),
            activations: 0,
            notes: VecDeque::new(),
        }
    }

    /// The state at power-on after a restart (power cycle, `AT+CFUN=1,1`): as configured, except
    /// what lies outside the module: a SIM pulled out ([`Network::remove_sim`]) is still out and
    /// lost coverage ([`Network::lose`]) is still lost, until the faults that undo them.
    pub(super) fn restarted(&self) -> Network {
        let mut n = Network::new(self.cfg.clone());
        if self.sim == SimState::Absent {
            n.sim = SimState::Absent;
        } else if n.sim == SimState::Absent {
            // Inserted by a fault into a module configured without one: it stays in (unlocked).
            n.sim = SimState::Ready;
        }
        n.lost = self.lost;
        n
    }

    /// The configuration it was built from.
    pub(super) fn config(&self) -> &NetworkSim {
        &self.cfg
    }

    /// Boot ended (the core sent `RDY`): queues the rest of the boot URCs and starts registering.
    pub(super) fn boot(&mut self, now: Instant) {
        self.on = true;
        if self.cfg.boot_urcs == BootUrcs::Full {
            self.notes.push_back(Note::Cfun(self.fun));
            self.notes.push_back(Note::Pin(self.pin_code()));
            if self.sim != SimState::Absent {
                self.notes.push_back(Note::Qusim);
            }
            if self.sim == SimState::Ready {
                self.notes.push_back(Note::Qind("SMS DONE"));
                self.notes.push_back(Note::Qind("PB DONE"));
            }
        }
        self.update_radio(now);
    }

    /// Powered down (`AT+QPOWD`): nothing more happens until the core builds a new one.
    pub(super) fn power_down(&mut self) {
        self.on = false;
        self.reg_at = None;
    }

    /// What the core must write or do next.
    pub(super) fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// The end of the current search, if one runs.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.reg_at
    }

    /// Time passed.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.reg_at.is_some_and(|t| t <= now) {
            self.reg_at = None;
            let stat = self.cfg.registration.stat();
            self.set_stat(stat);
        }
    }

    // --- SIM ----------------------------------------------------------------------------------

    fn pin_code(&self) -> PinState<'static> {
        match self.sim {
            SimState::Absent => PinState::NotReady,
            SimState::Locked { .. } => PinState::SimPin,
            SimState::Puk => PinState::SimPuk,
            SimState::Ready => PinState::Ready,
        }
    }

    /// `AT+CPIN?`.
    pub(super) fn pin_state(&self) -> Result<PinState<'static>, SimError> {
        match self.sim {
            SimState::Absent => Err(SimError::NotInserted),
            _ => Ok(self.pin_code()),
        }
    }

    /// `AT+CPIN="<pin>"`: `Ok` means `OK` (then `+CPIN: READY` is queued).
    pub(super) fn enter_pin(&mut self, pin: &str, now: Instant) -> Result<(), SimError> {
        match self.sim {
            SimState::Absent => Err(SimError::NotInserted),
            SimState::Ready => Err(SimError::NotAllowed),
            SimState::Puk => Err(SimError::PukRequired),
            SimState::Locked { wrong } => {
                let right = match &self.cfg.sim {
                    SimCard::Locked(p) => p.expose() == pin,
                    _ => true,
                };
                if right {
                    self.sim = SimState::Ready;
                    self.notes.push_back(Note::Pin(PinState::Ready));
                    self.update_radio(now);
                    Ok(())
                } else {
                    let wrong = wrong.saturating_add(1);
                    self.sim = if wrong >= 3 {
                        SimState::Puk
                    } else {
                        SimState::Locked { wrong }
                    };
                    Err(SimError::WrongPin)
                }
            }
        }
    }

    /// What the SIM must be for reading its IMSI.
    fn sim_ready(&self) -> Result<(), SimError> {
        match self.sim {
            SimState::Absent => Err(SimError::NotInserted),
            SimState::Locked { .. } => Err(SimError::PinRequired),
            SimState::Puk => Err(SimError::PukRequired),
            SimState::Ready => Ok(()),
        }
    }

    /// `AT+CIMI`.
    pub(super) fn imsi(&self) -> Result<&str, SimError> {
        self.sim_ready().map(|()| self.cfg.identity.imsi.as_str())
    }

    /// `AT+QCCID` (readable without the PIN).
    pub(super) fn iccid(&self) -> Result<&str, SimError> {
        match self.sim {
            SimState::Absent => Err(SimError::NotInserted),
            _ => Ok(self.cfg.identity.iccid.as_str()),
        }
    }

    /// `AT+QSIMSTAT?`: (enabled, inserted).
    pub(super) fn sim_stat(&self) -> (bool, bool) {
        (self.cfg.sim_hotswap, self.sim != SimState::Absent)
    }

    /// Fault: the SIM is pulled out.
    pub(super) fn remove_sim(&mut self, now: Instant) {
        if self.sim == SimState::Absent {
            return;
        }
        self.sim = SimState::Absent;
        if self.on {
            self.notes.push_back(Note::Pin(PinState::NotReady));
            if self.cfg.sim_hotswap {
                self.notes.push_back(Note::SimStat {
                    enabled: true,
                    inserted: false,
                });
            }
        }
        self.update_radio(now);
    }

    /// Fault: the configured SIM is put back (locked again if it has a PIN).
    pub(super) fn insert_sim(&mut self, now: Instant) {
        if self.sim != SimState::Absent {
            return;
        }
        self.sim = match self.cfg.sim {
            SimCard::Locked(_) => SimState::Locked { wrong: 0 },
            // A configuration without SIM gets a plain one.
            SimCard::Ready | SimCard::Absent => SimState::Ready,
        };
        if self.on {
            if self.cfg.sim_hotswap {
                self.notes.push_back(Note::SimStat {
                    enabled: true,
                    inserted: true,
                });
            }
            self.notes.push_back(Note::Pin(self.pin_code()));
        }
        self.update_radio(now);
    }

    // --- functionality and registration --------------------------------------------------------

    /// `AT+CFUN?`.
    pub(super) fn fun(&self) -> u8 {
        self.fun
    }

    /// `AT+CFUN=<fun>` without reset (0, 1 or 4; the caller checks): 0 and 4 turn the radio off,
    /// registration and every context go down.
    pub(super) fn set_fun(&mut self, fun: u8, now: Instant) {
        self.fun = fun;
        if fun != 1 {
            for cid in 1..=MAX_CID {
                self.take_down(cid, false);
            }
        }
        self.update_radio(now);
    }

    fn radio_wanted(&self) -> bool {
        self.on && self.fun == 1 && self.sim == SimState::Ready
    }

    /// Starts or stops registering after the radio, SIM or power changed.
    fn update_radio(&mut self, now: Instant) {
        if !self.radio_wanted() {
            self.reg_at = None;
            self.set_stat(0);
            return;
        }
        if self.stat != 0 || self.reg_at.is_some() {
            return;
        }
        if self.lost {
            self.set_stat(2);
        } else if self.cfg.reg_delay.is_zero() {
            let stat = self.cfg.registration.stat();
            self.set_stat(stat);
        } else {
            self.set_stat(2);
            // A delay past the clock's range never ends: searching for ever.
            self.reg_at = now.checked_add(self.cfg.reg_delay);
        }
    }

    fn set_stat(&mut self, stat: u8) {
        if stat == self.stat {
            return;
        }
        let was = registered(self.stat);
        self.stat = stat;
        for d in RegDomain::ALL {
            let n = self.modes[slot_of(d)];
            if n >= 1 {
                self.notes.push_back(Note::Reg {
                    domain: d,
                    stat,
                    location: n == 2 && registered(stat),
                });
            }
        }
        if was && !registered(stat) {
            // The network ends every bearer.
            for cid in 1..=MAX_CID {
                self.take_down(cid, true);
            }
        }
        if !was && registered(stat) && self.cfg.auto_context {
            if let Some(ctx) = self.contexts.first() {
                if ctx.state == CtxState::Inactive {
                    self.bring_up(1);
                }
            }
        }
    }

    /// The current `<stat>`.
    #[cfg(test)]
    pub(super) fn stat(&self) -> u8 {
        self.stat
    }

    /// Whether the module is registered (home or roaming).
    pub(super) fn is_registered(&self) -> bool {
        registered(self.stat)
    }

    /// `AT+C(G|E)REG=<n>` (0–2; the caller checks).
    pub(super) fn set_mode(&mut self, domain: RegDomain, n: u8) {
        self.modes[slot_of(domain)] = n;
    }

    /// `AT+C(G|E)REG?`: `(<n>, <stat>, with location)`.
    pub(super) fn reg(&self, domain: RegDomain) -> (u8, u8, bool) {
        let n = self.modes[slot_of(domain)];
        (n, self.stat, n == 2 && registered(self.stat))
    }

    /// Fault: coverage is lost; searching until [`Network::regain`].
    pub(super) fn lose(&mut self) {
        self.lost = true;
        self.reg_at = None;
        if self.radio_wanted() {
            self.set_stat(2);
        }
    }

    /// Fault: coverage is back; registers at once (as configured).
    pub(super) fn regain(&mut self, now: Instant) {
        self.lost = false;
        if self.radio_wanted() && !registered(self.stat) && self.reg_at.is_none() {
            let stat = self.cfg.registration.stat();
            self.set_stat(stat);
        } else {
            self.update_radio(now);
        }
    }

    /// The network's identity and signal.
    pub(super) fn operator(&self) -> &Operator {
        &self.cfg.operator
    }

    /// `AT+CSQ` values: the configured ones while the radio is on, else 99,99.
    pub(super) fn signal(&self) -> Option<&SignalLevel> {
        (self.radio_wanted() && self.stat != 0).then_some(&self.cfg.signal)
    }

    /// `AT+CGATT?`.
    pub(super) fn attached(&self) -> bool {
        self.on && self.fun == 1 && registered(self.stat)
    }

    // --- PDP contexts -------------------------------------------------------------------------

    fn slot(&self, cid: u8) -> Option<&Context> {
        self.contexts.get(usize::from(cid).checked_sub(1)?)
    }

    fn slot_mut(&mut self, cid: u8) -> Option<&mut Context> {
        self.contexts.get_mut(usize::from(cid).checked_sub(1)?)
    }

    /// `AT+QICSGP=<cid>` (cid 1–15; `None` outside).
    pub(super) fn context(&self, cid: u8) -> Option<&Context> {
        self.slot(cid)
    }

    /// `AT+QICSGP=<cid>,…`: the settings (the state is kept; they apply at the next activation).
    pub(super) fn set_context(
        &mut self,
        cid: u8,
        ctype: u8,
        apn: &str,
        user: &str,
        password: &str,
        auth: u8,
    ) {
        if let Some(c) = self.slot_mut(cid) {
            c.ctype = ctype;
            c.apn = apn.to_owned();
            c.user = user.to_owned();
            c.password = Password(password.to_owned());
            c.auth = auth;
        }
    }

    fn bring_up(&mut self, cid: u8) {
        self.activations = self.activations.wrapping_add(1);
        let n = self.activations;
        let ip = format!(
            "10.{}.{}.{}",
            64 + u32::from(cid),
            (n / 250) % 256,
            2 + n % 250
        );
        if let Some(c) = self.slot_mut(cid) {
            c.state = CtxState::Active { ip };
        }
    }

    /// Deactivates a context; `by_network` announces it with `+QIURC: "pdpdeact"` and leaves it
    /// dropped (the host must `AT+QIDEACT`), otherwise it is just inactive.
    fn take_down(&mut self, cid: u8, by_network: bool) {
        let Some(c) = self.slot_mut(cid) else {
            return;
        };
        if !matches!(c.state, CtxState::Active { .. }) {
            return;
        }
        if by_network {
            c.state = CtxState::Dropped;
            self.notes.push_back(Note::PdpDeact(cid));
        } else {
            c.state = CtxState::Inactive;
        }
        self.notes.push_back(Note::Down(cid));
    }

    /// `AT+QIACT=<cid>`.
    pub(super) fn activate(&mut self, cid: u8) -> Result<(), ActError> {
        let Some(c) = self.slot(cid) else {
            return Err(ActError::NotAllowed);
        };
        if c.state != CtxState::Inactive {
            return Err(ActError::NotAllowed);
        }
        if !self.attached() {
            return Err(ActError::NoService);
        }
        if self
            .cfg
            .expected_apn
            .as_deref()
            .is_some_and(|want| want != c.apn)
        {
            return Err(ActError::WrongApn);
        }
        self.bring_up(cid);
        Ok(())
    }

    /// `AT+QIDEACT=<cid>`: the context is inactive afterwards (connections on it are gone).
    pub(super) fn deactivate(&mut self, cid: u8) {
        self.take_down(cid, false);
        if let Some(c) = self.slot_mut(cid) {
            c.state = CtxState::Inactive;
        }
    }

    /// Fault: the network deactivates this context (nothing if it is not active).
    pub(super) fn network_deact(&mut self, cid: u8) {
        self.take_down(cid, true);
    }

    /// `(cid, ctype, ip)` of every active context, for `AT+QIACT?`.
    pub(super) fn active(&self) -> impl Iterator<Item = (u8, u8, &str)> {
        (1u8..)
            .zip(self.contexts.iter())
            .filter_map(|(cid, c)| match &c.state {
                CtxState::Active { ip } => Some((cid, c.ctype, ip.as_str())),
                _ => None,
            })
    }

    /// The address of an active context.
    pub(super) fn addr(&self, cid: u8) -> Option<&str> {
        match &self.slot(cid)?.state {
            CtxState::Active { ip } => Some(ip),
            _ => None,
        }
    }

    /// Whether an MQTT connection can be opened on this context: registered and the context
    /// active.
    pub(super) fn bearer_ready(&self, cid: u8) -> bool {
        self.attached() && self.addr(cid).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(n: &mut Network) -> Vec<Note> {
        std::iter::from_fn(|| n.poll_note()).collect()
    }

    #[test]
    fn a_restart_keeps_the_sim_out_and_the_coverage_lost() {
        let now = Instant::now();
        let mut n = Network::new(NetworkSim::default());
        n.boot(now);
        n.remove_sim(now);
        let mut r = n.restarted();
        r.boot(now);
        assert_eq!(r.pin_state(), Err(SimError::NotInserted));
        assert!(!r.is_registered());
        r.insert_sim(now);
        assert!(r.is_registered(), "re-inserted: registers");
        assert!(r.bearer_ready(1), "auto context");

        let mut n = Network::new(NetworkSim::default());
        n.boot(now);
        n.lose();
        let mut r = n.restarted();
        r.boot(now);
        assert_eq!(r.stat(), 2, "still searching after the restart");
        r.regain(now);
        assert!(r.is_registered());

        let mut n = Network::new(NetworkSim::default());
        n.boot(now);
        let mut r = n.restarted();
        r.boot(now);
        assert!(r.bearer_ready(1), "nothing carried over: as configured");
    }

    #[test]
    fn default_is_registered_with_context_1_active_at_boot() {
        let now = Instant::now();
        let mut n = Network::new(NetworkSim::default());
        assert!(!n.bearer_ready(1));
        n.boot(now);
        assert_eq!(notes(&mut n), vec![]);
        assert_eq!(n.stat(), 1);
        assert!(n.bearer_ready(1));
        assert!(!n.bearer_ready(2));
        assert_eq!(n.poll_timeout(), None);
        assert_eq!(n.active().count(), 1);
    }

    #[test]
    fn cold_searches_then_registers_and_reports_per_mode() {
        let now = Instant::now();
        let mut n = Network::new(NetworkSim::cold());
        n.set_mode(RegDomain::Eps, 2);
        n.set_mode(RegDomain::Cs, 1);
        n.boot(now);
        let boot = notes(&mut n);
        assert_eq!(
            boot.get(..5),
            Some(
                &[
                    Note::Cfun(1),
                    Note::Pin(PinState::Ready),
                    Note::Qusim,
                    Note::Qind("SMS DONE"),
                    Note::Qind("PB DONE"),
                ][..]
            )
        );
        assert_eq!(n.stat(), 2);
        let t = n.poll_timeout().expect("searching");
        assert_eq!(t, now + Duration::from_millis(1500));
        n.handle_timeout(t - Duration::from_millis(1));
        assert_eq!(n.stat(), 2);
        n.handle_timeout(t);
        assert_eq!(
            notes(&mut n),
            vec![
                Note::Reg {
                    domain: RegDomain::Cs,
                    stat: 1,
                    location: false
                },
                Note::Reg {
                    domain: RegDomain::Eps,
                    stat: 1,
                    location: true
                },
            ]
        );
        assert_eq!(n.reg(RegDomain::Eps), (2, 1, true));
        assert_eq!(n.reg(RegDomain::Ps), (0, 1, false));
        assert!(!n.bearer_ready(1), "cold: no context active");
    }

    #[test]
    fn pin_right_wrong_and_puk() {
        let now = Instant::now();
        let pin = SimPin::new("1234").unwrap();
        assert_eq!(format!("{pin:?}"), "SimPin(<redacted>)");
        let cfg = NetworkSim {
            sim: SimCard::Locked(pin),
            ..NetworkSim::default()
        };
        let mut n = Network::new(cfg.clone());
        n.boot(now);
        assert_eq!(n.pin_state(), Ok(PinState::SimPin));
        assert_eq!(n.stat(), 0);
        assert_eq!(n.imsi(), Err(SimError::PinRequired));
        assert_eq!(n.enter_pin("0000", now), Err(SimError::WrongPin));
        assert_eq!(n.enter_pin("1234", now), Ok(()));
        assert_eq!(notes(&mut n), vec![Note::Pin(PinState::Ready)]);
        assert_eq!(n.stat(), 1);
        assert!(n.bearer_ready(1));

        let mut n = Network::new(cfg);
        n.boot(now);
        for _ in 0..3 {
            assert_eq!(n.enter_pin("9999", now), Err(SimError::WrongPin));
        }
        assert_eq!(n.pin_state(), Ok(PinState::SimPuk));
        assert_eq!(n.enter_pin("1234", now), Err(SimError::PukRequired));
    }

    #[test]
    fn loss_drops_contexts_until_deactivated() {
        let now = Instant::now();
        let mut n = Network::new(NetworkSim::default());
        n.boot(now);
        n.set_mode(RegDomain::Eps, 1);
        n.lose();
        assert_eq!(
            notes(&mut n),
            vec![
                Note::Reg {
                    domain: RegDomain::Eps,
                    stat: 2,
                    location: false
                },
                Note::PdpDeact(1),
                Note::Down(1),
            ]
        );
        n.regain(now);
        assert_eq!(n.stat(), 1);
        assert!(!n.bearer_ready(1), "dropped stays dropped");
        assert_eq!(n.activate(1), Err(ActError::NotAllowed));
        n.deactivate(1);
        assert_eq!(n.activate(1), Ok(()));
        assert!(n.bearer_ready(1));
    }

    #[test]
    fn activation_needs_registration_and_the_expected_apn() {
        let now = Instant::now();
        let mut n = Network::new(NetworkSim {
            expected_apn: Some("iot.example".into()),
            auto_context: false,
            ..NetworkSim::cold()
        });
        n.boot(now);
        assert_eq!(n.activate(1), Err(ActError::NoService));
        n.handle_timeout(now + Duration::from_secs(2));
        assert_eq!(n.activate(1), Err(ActError::WrongApn));
        n.set_context(1, 1, "iot.example", "", "secret", 0);
        assert!(!format!("{:?}", n.context(1)).contains("secret"));
        assert_eq!(n.activate(1), Ok(()));
        assert_eq!(n.activate(1), Err(ActError::NotAllowed));
        assert_eq!(n.activate(16), Err(ActError::NotAllowed));
        assert!(n.addr(1).is_some_and(|ip| ip.starts_with("10.65.")));
        n.set_fun(4, now);
        assert_eq!(notes(&mut n).last(), Some(&Note::Down(1)));
        assert_eq!(n.addr(1), None);
        assert_eq!(n.stat(), 0);
    }
}
