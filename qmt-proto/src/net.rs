//! The network side of a module (spec §10.1–§10.6): power and functionality, identity, the SIM,
//! signal and operator, registration, and the PDP context that `AT+QMTOPEN` uses.
//!
//! The MQTT commands of §3–§5 only work once the module is up, its SIM is ready, it is registered
//! on a network and a PDP context (the data bearer) is active. This module holds the values of the
//! commands and lines that get it there; the commands themselves are [`Command`](crate::Command)
//! variants, their answers [`Info`](crate::Info) variants and the unsolicited lines
//! [`Urc`](crate::Urc) variants.
//!
//! Registration is the subtle part (spec §10.5): `+CREG`, `+CGREG` and `+CEREG` are each both a URC
//! and the answer to a query, and the query answer has one more leading field (`<n>`) than the URC.
//! The two are told apart by their *shape* — a URC has one leading number, a query answer two —
//! and by the command in flight, never by the prefix alone:
//!
//! ```
//! use qmt_proto::kind::{CommandKind, Form};
//! use qmt_proto::net::{RegDomain, RegStat, RegUrcMode};
//! use qmt_proto::{Info, ModuleLine, Urc};
//!
//! // The URC of `<n>` = 2: stat 1 (registered, home), then the location.
//! let urc = ModuleLine::parse(br#"+CEREG: 1,"1A2B","01C3D04",7"#);
//! let ModuleLine::Urc(Urc::Reg { domain, stat, location }) = urc else { panic!("{urc:?}") };
//! assert_eq!((domain, stat), (RegDomain::Eps, RegStat::Home));
//! assert_eq!(location.map(|l| l.cell), Some("01C3D04"));
//!
//! // The query answer: `<n>` 2 first. Context-free it is no URC; `AT+CEREG?` makes it information.
//! let answer = br#"+CEREG: 2,1,"1A2B","01C3D04",7"#;
//! assert!(matches!(ModuleLine::parse(answer), ModuleLine::Unknown(_)));
//! let Some(Info::Reg { mode, stat, .. }) = Info::parse_for(CommandKind::Cereg, Form::Read, answer) else {
//!     panic!()
//! };
//! assert_eq!((mode, stat), (RegUrcMode::Location, RegStat::Home));
//! assert!(stat.is_registered());
//! ```

use core::fmt;

use crate::cmdsyntax::code_enum;
use crate::kind::CommandKind;
use crate::params::{Apn, ApnPassword, ApnUser, ContextId};

/// Defines a value reported by the module whose documented numbers get names and every other
/// number is kept in `Other(n)`: converting never fails (like [`crate::codes`], for `u8` fields).
macro_rules! open_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $var:ident = $val:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vdoc])* $var, )*
            /// A number the spec does not name, kept as it is; `from_code` never builds this
            /// variant for a named number.
            Other(u8),
        }

        impl $name {
            /// Maps the number on the wire; unnamed numbers become `Other(n)`. Never fails.
            pub const fn from_code(n: u8) -> Self {
                match n {
                    $( $val => Self::$var, )*
                    _ => Self::Other(n),
                }
            }

            /// The number on the wire.
            pub const fn code(self) -> u8 {
                match self {
                    $( Self::$var => $val, )*
                    Self::Other(n) => n,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.code(), f)
            }
        }
    };
}

// ------------------------------------------------------------------------------------------------
// §10.1 Power and functionality.

open_enum!(
    /// `<fun>` of `AT+CFUN` and `+CFUN:` (spec §10.1): how much of the module is switched on.
    Functionality {
        /// 0: minimum functionality (radio and SIM off).
        Minimum = 0,
        /// 1: full functionality: what a module must be in to register.
        Full = 1,
        /// 4: radio off (flight mode); the SIM stays usable, e.g. to set the APN before the first
        /// attach.
        RadioOff = 4,
    }
);

code_enum!(
    /// `<n>` of `AT+QPOWD=<n>` (spec §10.1): how the module powers down. The module then prints
    /// the URC `POWERED DOWN`.
    PowerDownMode, "n", "0-1" {
        /// 0: at once.
        Immediate = 0,
        /// 1: normally, detaching from the network first (the default of `AT+QPOWD`).
        Normal = 1,
    }
);

/// Which power-down URC the module printed (spec §10.1): all three mean the module is going off
/// and will answer nothing until it is powered (or woken) again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerDownKind {
    /// `POWERED DOWN`: after `AT+QPOWD`, or the power key.
    Powered,
    /// `NORMAL POWER DOWN`.
    Normal,
    /// `PSM POWER DOWN`: the module enters power saving mode.
    Psm,
}

impl PowerDownKind {
    /// Every kind.
    pub const ALL: [PowerDownKind; 3] = [
        PowerDownKind::Powered,
        PowerDownKind::Normal,
        PowerDownKind::Psm,
    ];

    /// The line as the module writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PowerDownKind::Powered => "POWERED DOWN",
            PowerDownKind::Normal => "NORMAL POWER DOWN",
            PowerDownKind::Psm => "PSM POWER DOWN",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// §10.2 Identity.

/// What an identity command asks for (spec §10.2). Each is a command of its own on the wire;
/// all answer with information lines and `OK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityQuery {
    /// `ATI`: three bare lines: `Quectel`, the model, `Revision: <firmware>`.
    Ati,
    /// `AT+CGMI`: the manufacturer, one bare line.
    Manufacturer,
    /// `AT+CGMM`: the model, one bare line.
    Model,
    /// `AT+CGMR`: the firmware revision, one bare line.
    Revision,
    /// `AT+GSN`: the IMEI, 15 digits on a bare line. `AT+CGSN` parses to this too (and is written
    /// back as `AT+GSN`).
    Imei,
    /// `AT+QCCID`: the SIM's ICCID, as `+QCCID: <iccid>`.
    Iccid,
    /// `AT+CIMI`: the SIM's IMSI, one bare line (`+CME ERROR: 10` without a SIM).
    Imsi,
}

impl IdentityQuery {
    /// Every query.
    pub const ALL: [IdentityQuery; 7] = [
        IdentityQuery::Ati,
        IdentityQuery::Manufacturer,
        IdentityQuery::Model,
        IdentityQuery::Revision,
        IdentityQuery::Imei,
        IdentityQuery::Iccid,
        IdentityQuery::Imsi,
    ];

    /// The command that asks it.
    pub const fn kind(self) -> CommandKind {
        match self {
            IdentityQuery::Ati => CommandKind::Ati,
            IdentityQuery::Manufacturer => CommandKind::Cgmi,
            IdentityQuery::Model => CommandKind::Cgmm,
            IdentityQuery::Revision => CommandKind::Cgmr,
            IdentityQuery::Imei => CommandKind::Gsn,
            IdentityQuery::Iccid => CommandKind::Qccid,
            IdentityQuery::Imsi => CommandKind::Cimi,
        }
    }

    /// Whether the answer is bare information lines (no `+X:` prefix), which only the command in
    /// flight can classify: every query but [`Iccid`](Self::Iccid).
    pub const fn answers_bare(self) -> bool {
        !matches!(self, IdentityQuery::Iccid)
    }
}

// ------------------------------------------------------------------------------------------------
// §10.3 SIM.

/// `<code>` of `+CPIN:` (spec §10.3): whether the SIM is ready, or what it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinState<'a> {
    /// `READY`: no PIN needed (or already given).
    Ready,
    /// `SIM PIN`: waiting for the PIN (`AT+CPIN="<pin>"`).
    SimPin,
    /// `SIM PUK`: the PIN was blocked; waiting for the PUK.
    SimPuk,
    /// `SIM PIN2`.
    SimPin2,
    /// `SIM PUK2`.
    SimPuk2,
    /// `PH-NET PIN`: network personalisation (a locked module).
    PhNetPin,
    /// `NOT READY`: the SIM was removed or is being reset (a URC).
    NotReady,
    /// Another code, kept as written (never empty).
    Other(&'a str),
}

impl<'a> PinState<'a> {
    /// The named codes, in the spec's order.
    pub const NAMED: [PinState<'static>; 7] = [
        PinState::Ready,
        PinState::SimPin,
        PinState::SimPuk,
        PinState::SimPin2,
        PinState::SimPuk2,
        PinState::PhNetPin,
        PinState::NotReady,
    ];

    /// Maps the text after `+CPIN: ` (ASCII case-insensitive); `None` only when it is empty.
    pub fn parse(text: &'a str) -> Option<PinState<'a>> {
        if text.is_empty() {
            return None;
        }
        Some(
            PinState::NAMED
                .into_iter()
                .find(|s| s.as_str().eq_ignore_ascii_case(text))
                .unwrap_or(PinState::Other(text)),
        )
    }

    /// The code as the module writes it.
    pub const fn as_str(self) -> &'a str {
        match self {
            PinState::Ready => "READY",
            PinState::SimPin => "SIM PIN",
            PinState::SimPuk => "SIM PUK",
            PinState::SimPin2 => "SIM PIN2",
            PinState::SimPuk2 => "SIM PUK2",
            PinState::PhNetPin => "PH-NET PIN",
            PinState::NotReady => "NOT READY",
            PinState::Other(s) => s,
        }
    }

    /// Whether the SIM is usable.
    pub const fn is_ready(self) -> bool {
        matches!(self, PinState::Ready)
    }
}

// ------------------------------------------------------------------------------------------------
// §10.4 Signal.

/// `+CSQ: <rssi>,<ber>` (spec §10.4): the received signal strength and the bit error rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signal {
    /// 0–31 (see [`dbm`](Self::dbm)), 99 unknown or not detectable; 100–191 on some firmware
    /// for TD-SCDMA (**uncertain**).
    pub rssi: u8,
    /// 0–7, 99 unknown.
    pub ber: u8,
}

impl Signal {
    /// The signal strength in dBm: −113 + 2·rssi for rssi 0–31; `None` for 99 (unknown) and
    /// anything else.
    pub const fn dbm(self) -> Option<i16> {
        if self.rssi <= 31 {
            Some(-113 + 2 * self.rssi as i16)
        } else {
            None
        }
    }
}

// ------------------------------------------------------------------------------------------------
// §10.5 Registration.

/// Which registration a `+CREG`, `+CGREG` or `+CEREG` line is about (spec §10.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegDomain {
    /// `+CREG`: circuit-switched (voice, SMS).
    Cs,
    /// `+CGREG`: packet-switched over GPRS/UMTS.
    Ps,
    /// `+CEREG`: packet-switched over LTE (EPS): what an LTE Cat.1 module needs for data.
    Eps,
}

impl RegDomain {
    /// The three domains.
    pub const ALL: [RegDomain; 3] = [RegDomain::Cs, RegDomain::Ps, RegDomain::Eps];

    /// The line prefix, without its colon: `+CREG`, `+CGREG`, `+CEREG`.
    pub const fn prefix(self) -> &'static str {
        match self {
            RegDomain::Cs => "+CREG",
            RegDomain::Ps => "+CGREG",
            RegDomain::Eps => "+CEREG",
        }
    }

    /// The command that sets and reads it: `AT+CREG`, `AT+CGREG`, `AT+CEREG`.
    pub const fn kind(self) -> CommandKind {
        match self {
            RegDomain::Cs => CommandKind::Creg,
            RegDomain::Ps => CommandKind::Cgreg,
            RegDomain::Eps => CommandKind::Cereg,
        }
    }

    /// The domain a command kind sets and reads, if it is one of the three.
    pub const fn of_kind(kind: CommandKind) -> Option<RegDomain> {
        match kind {
            CommandKind::Creg => Some(RegDomain::Cs),
            CommandKind::Cgreg => Some(RegDomain::Ps),
            CommandKind::Cereg => Some(RegDomain::Eps),
            _ => None,
        }
    }
}

/// `<n>` of `AT+CREG=<n>` (and `+CGREG`, `+CEREG`; spec §10.5): which registration URCs the
/// module sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegUrcMode {
    /// 0: none.
    Off,
    /// 1: `+CEREG: <stat>` on every change.
    Stat,
    /// 2: `+CEREG: <stat>,"<tac>","<ci>",<AcT>`: the location too.
    Location,
    /// 3–5 (3GPP TS 27.007 adds the reject cause and PSM timers; not documented for these
    /// modules), or, in a query answer, any number the module reports.
    Other(u8),
}

impl RegUrcMode {
    /// Checks a value for `AT+CEREG=<n>`: 0–2, and 3–5 of TS 27.007 as `Other`.
    pub fn new(value: i64) -> Result<Self, crate::error::ParamError> {
        match u8::try_from(value) {
            Ok(n @ 0..=5) => Ok(Self::from_code(n)),
            _ => Err(crate::error::ParamError::OutOfRange {
                param: "n",
                value,
                allowed: "0-5",
            }),
        }
    }

    /// Maps the number on the wire; numbers other than 0–2 become `Other(n)`. Never fails.
    pub const fn from_code(n: u8) -> Self {
        match n {
            0 => RegUrcMode::Off,
            1 => RegUrcMode::Stat,
            2 => RegUrcMode::Location,
            _ => RegUrcMode::Other(n),
        }
    }

    /// The number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            RegUrcMode::Off => 0,
            RegUrcMode::Stat => 1,
            RegUrcMode::Location => 2,
            RegUrcMode::Other(n) => n,
        }
    }
}

impl fmt::Display for RegUrcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.code(), f)
    }
}

open_enum!(
    /// `<stat>` of a registration line (spec §10.5). An LTE module is usable for data when
    /// `+CEREG` (or, on some networks, `+CGREG`) reports [`Home`](Self::Home) or
    /// [`Roaming`](Self::Roaming); [`Denied`](Self::Denied) is final; the rest mean keep waiting
    /// (peers wait 50–60 s before they escalate).
    RegStat {
        /// 0: not registered, not searching.
        NotSearching = 0,
        /// 1: registered, home network.
        Home = 1,
        /// 2: not registered, searching.
        Searching = 2,
        /// 3: registration denied.
        Denied = 3,
        /// 4: unknown (e.g. out of coverage).
        Unknown = 4,
        /// 5: registered, roaming.
        Roaming = 5,
    }
);

impl RegStat {
    /// Registered, home or roaming (1 or 5).
    pub const fn is_registered(self) -> bool {
        matches!(self, RegStat::Home | RegStat::Roaming)
    }

    /// Registration was denied (3): waiting longer will not help.
    pub const fn is_final_failure(self) -> bool {
        matches!(self, RegStat::Denied)
    }
}

/// Where the module is registered: the location part of a registration line with `<n>` 2
/// (spec §10.5), borrowed from the line.
///
/// A `+CGREG` line may end with a fifth field `"<rac>"` (routing area code); it is accepted and
/// not kept, so such a line encodes back without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegLocation<'a> {
    /// `<lac>` (`+CREG`, `+CGREG`) or `<tac>` (`+CEREG`): the location or tracking area code,
    /// hex text as written (`1A2B`).
    pub area: &'a str,
    /// `<ci>`: the cell id, hex text as written (`01C3D04`).
    pub cell: &'a str,
    /// `<AcT>`: the access technology (0 GSM, 2 UTRAN, 7 E-UTRAN, 8 CAT-M, 9 NB-IoT), if given.
    pub act: Option<u8>,
}

// ------------------------------------------------------------------------------------------------
// §10.6 PDP context.

code_enum!(
    /// `<type>` of `AT+QICSGP` and `+QIACT:` (spec §10.6): the IP version of a PDP context.
    ContextType, "type", "1-3" {
        /// 1: IPv4.
        Ipv4 = 1,
        /// 2: IPv6.
        Ipv6 = 2,
        /// 3: IPv4 and IPv6.
        Ipv4v6 = 3,
    }
);

code_enum!(
    /// `<auth>` of `AT+QICSGP` (spec §10.6): how the module authenticates to the APN.
    ApnAuth, "auth", "0-3" {
        /// 0: none.
        None = 0,
        /// 1: PAP.
        Pap = 1,
        /// 2: CHAP.
        Chap = 2,
        /// 3: PAP or CHAP.
        PapOrChap = 3,
    }
);

/// The settings of one PDP context: `AT+QICSGP=<cid>,<type>,"<APN>","<user>","<password>",<auth>`
/// (spec §10.6). The password is redacted in `Debug` (and in the command's `Display`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContextConfig {
    /// The context, 1–15 (the one `AT+QMTCFG="pdpcid"` names; 1 by default).
    pub cid: ContextId,
    /// IPv4, IPv6 or both.
    pub ctype: ContextType,
    /// The access point name, 0–99 bytes (empty: the network's default).
    pub apn: Apn,
    /// The APN user name, 0–127 bytes.
    pub user: ApnUser,
    /// The APN password, 0–127 bytes. A secret.
    pub password: ApnPassword,
    /// How to authenticate.
    pub auth: ApnAuth,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_dbm() {
        assert_eq!(Signal { rssi: 0, ber: 99 }.dbm(), Some(-113));
        assert_eq!(Signal { rssi: 31, ber: 0 }.dbm(), Some(-51));
        assert_eq!(Signal { rssi: 99, ber: 99 }.dbm(), None);
        assert_eq!(Signal { rssi: 150, ber: 99 }.dbm(), None);
    }

    #[test]
    fn codes_keep_every_number() {
        for n in 0..=u8::MAX {
            assert_eq!(RegStat::from_code(n).code(), n);
            assert_eq!(Functionality::from_code(n).code(), n);
            assert_eq!(RegUrcMode::from_code(n).code(), n);
        }
        assert!(RegStat::Home.is_registered() && RegStat::Roaming.is_registered());
        assert!(!RegStat::Searching.is_registered());
        assert!(RegStat::Denied.is_final_failure());
        assert!(RegUrcMode::new(6).is_err());
        assert_eq!(RegUrcMode::new(2), Ok(RegUrcMode::Location));
    }

    #[test]
    fn pin_states() {
        for s in PinState::NAMED {
            assert_eq!(PinState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PinState::parse("sim pin"), Some(PinState::SimPin));
        assert_eq!(
            PinState::parse("PH-SIM PIN"),
            Some(PinState::Other("PH-SIM PIN"))
        );
        assert_eq!(PinState::parse(""), None);
    }
}
