//! Forms of sibling Quectel modules that real logs show: the `AT+QMTPUB` publish.
//!
//! EC200x/EC600x/EG912Y publish with `AT+QMTPUBEX` (spec §5) and answer `AT+QMTPUB` with `ERROR`.
//! Logs of their siblings use `AT+QMTPUB` in three forms, which [`Command::parse`] tells apart by
//! their parameters:
//!
//! | form | modules | type | data after the command |
//! |---|---|---|---|
//! | `AT+QMTPUB=<idx>,<msgid>,<qos>,<retain>,"<topic>"` | EC2x, EG9x, BG9x | [`Ec2xPub`], no `msglen` | `> `, then the payload and Ctrl-Z ([`CTRL_Z`]); ESC ([`ESC`]) cancels ([`DataPhase::PromptCtrlZ`]) |
//! | `AT+QMTPUB=<idx>,<msgid>,<qos>,<retain>,"<topic>",<msglen>` | EC2x, EG9x, BG9x | [`Ec2xPub`] with `msglen` | `> `, then exactly `msglen` bytes ([`DataPhase::Prompt`]) |
//! | `AT+QMTPUB=<idx>,<msgid>,<qos>,<retain>,"<topic>","<msg>"` | BC26, BC20 (NB-IoT) | [`Bc26Pub`] | none: the message is the last parameter |
//!
//! Each answers `OK` (after the data), then `+QMTPUB: <idx>,<msgid>,<result>[,<value>]`: the line
//! qmt-proto types as [`Urc::PubEx`](crate::Urc::PubEx) with
//! [`PubPrefix::Pub`](crate::urc::PubPrefix::Pub) (spec §6 variation 4). `msgid` follows the rule
//! of `AT+QMTPUBEX`: 0 exactly when `qos` is 0. `AT+QMTPUB=?` is [`Command::PubTest`]; its answer
//! `+QMTPUB: (…` is an [`Info::Test`](crate::Info::Test) line.
//!
//! # Where the sources disagree
//! - `<msglen>`: the `AT+QMTPUB=?` answer of EC2x/BG9x firmware in real logs gives `(1-4096)`; the
//!   BG77 application note 1–1548; the BC660K note 0–1460 (text mode; 0–730 in hex mode).
//!   [`MsgLen`] takes 1–4096, the widest: a firmware with a smaller limit answers `ERROR` before
//!   its prompt, and nothing is written.
//! - The Ctrl-Z form's payload: the BC660K note says the bytes past its limit (1460) are dropped,
//!   without an error. qmt refuses more than [`CTRL_Z_MAX_LEN`] (4096, the counted form's limit)
//!   before writing anything; a payload between a firmware's own limit and 4096 may still be cut.
//!   Where the firmware has the counted form, it is the safer one.
//! - The inline form: the BC26/BC20 notes give `"<msg>"` as the sixth parameter (at most 700
//!   bytes outside data mode); the BC660K note has `<msg_len>,"<msg>"` instead (seven parameters,
//!   not typed here: a syntax error); users report BC28 firmware answering the inline form with
//!   `ERROR`.
//! - `<topic>` is quoted in every example, while some syntax lines of the notes leave the quotes
//!   out; qmt writes and reads it quoted.
//! - The client index is 0–5 on EC2x/BG9x and 0–4 on BC660K; [`ClientIdx`] (0–5) holds both.
//! - The wait for the result is `pkt_timeout` × `retry_times` on EC2x (as for `AT+QMTPUBEX`),
//!   `pkt_timeout` × (`retry_times` + 1) on BC660K.
//!
//! [`Command::parse`]: crate::Command::parse
//! [`Command::PubTest`]: crate::Command::PubTest
//! [`DataPhase::PromptCtrlZ`]: crate::DataPhase::PromptCtrlZ
//! [`DataPhase::Prompt`]: crate::DataPhase::Prompt

use crate::cmdsyntax::{R, flag, more, num, put_flag, sep, text};
use crate::error::ParamError;
use crate::params::{ClientIdx, InlineMessage, MsgId, MsgLen, Qos, Topic, check_pub_msgid};
use crate::syntax::Out;

/// Ctrl-Z (0x1A): ends the data of an `AT+QMTPUB` without `<msglen>` (EC2x/EG9x/BG9x).
pub const CTRL_Z: u8 = 0x1A;

/// ESC (0x1B): cancels the data of an `AT+QMTPUB` without `<msglen>`; the module publishes
/// nothing.
pub const ESC: u8 = 0x1B;

/// The longest payload qmt writes before a Ctrl-Z (the counted form's limit, [`MsgLen::MAX`]; see
/// the module docs for the firmware that cuts earlier).
pub const CTRL_Z_MAX_LEN: usize = MsgLen::MAX as usize;

/// Checks a payload for the Ctrl-Z form: at most [`CTRL_Z_MAX_LEN`] bytes (`Length`), and neither
/// [`CTRL_Z`] nor [`ESC`] in it (`ControlByte`, naming the first): the module would end the
/// message at the one, or drop it at the other.
pub fn check_ctrl_z_payload(payload: &[u8]) -> Result<(), ParamError> {
    if payload.len() > CTRL_Z_MAX_LEN {
        return Err(ParamError::Length {
            param: "payload",
            len: payload.len(),
            allowed: "0-4096 bytes",
        });
    }
    match payload.iter().position(|&b| b == CTRL_Z || b == ESC) {
        Some(at) => Err(ParamError::ControlByte {
            param: "payload",
            byte: payload[at],
            at,
        }),
        None => Ok(()),
    }
}

/// What every `AT+QMTPUB` form starts with: `<client_idx>,<msgid>,<qos>,<retain>,"<topic>"`,
/// with `msgid` 0 exactly when `qos` is 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PubHead {
    client_idx: ClientIdx,
    msgid: MsgId,
    qos: Qos,
    retain: bool,
    topic: Topic,
}

impl PubHead {
    /// The head of a publish on `topic`.
    ///
    /// # Errors
    /// `msgid` is not 0 at QoS 0, or 0 at QoS 1 or 2.
    pub fn new(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
    ) -> Result<PubHead, ParamError> {
        check_pub_msgid(qos, msgid)?;
        Ok(PubHead {
            client_idx,
            msgid,
            qos,
            retain,
            topic,
        })
    }

    /// The client (0–5; BC26's `<connectID>`).
    pub fn client_idx(&self) -> ClientIdx {
        self.client_idx
    }

    /// The packet identifier (0 for QoS 0).
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The quality of service.
    pub fn qos(&self) -> Qos {
        self.qos
    }

    /// Whether the broker retains the message.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// The topic name.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// `AT+QMTPUB=<idx>,<msgid>,<qos>,<retain>,"<topic>"`.
    fn write(&self, o: &mut Out<'_>) {
        o.raw(b"AT+QMTPUB=")
            .num(self.client_idx)
            .comma()
            .num(self.msgid)
            .comma()
            .num(self.qos)
            .comma();
        put_flag(o, self.retain);
        o.comma().quoted(self.topic.as_str());
    }
}

/// `AT+QMTPUB=<client_idx>,<msgid>,<qos>,<retain>,"<topic>"[,<msglen>]`: the publish of EC2x, EG9x
/// and BG9x modules (see the [module docs](self) for the sources).
///
/// Without `msglen` the module answers `> ` and reads the payload until Ctrl-Z ([`CTRL_Z`]; ESC
/// cancels); the payload cannot hold either byte ([`check_ctrl_z_payload`]). With `msglen` it
/// reads exactly that many bytes, like `AT+QMTPUBEX`. Then `OK`, and later
/// `+QMTPUB: <client_idx>,<msgid>,<result>[,<value>]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ec2xPub {
    head: PubHead,
    msglen: Option<MsgLen>,
}

impl Ec2xPub {
    /// The form without `<msglen>`: the payload follows `> ` and ends with Ctrl-Z. `msgid` is 0
    /// exactly when `qos` is 0.
    pub fn until_ctrl_z(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
    ) -> Result<Ec2xPub, ParamError> {
        Ok(Ec2xPub {
            head: PubHead::new(client_idx, msgid, qos, retain, topic)?,
            msglen: None,
        })
    }

    /// The form with `<msglen>`: exactly `msglen` bytes follow `> `.
    pub fn counted(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
        msglen: MsgLen,
    ) -> Result<Ec2xPub, ParamError> {
        Ok(Ec2xPub {
            head: PubHead::new(client_idx, msgid, qos, retain, topic)?,
            msglen: Some(msglen),
        })
    }

    /// Like [`Ec2xPub::counted`] with `msglen` = `payload.len()` (1–4096 bytes; anything else is
    /// refused with the parameter `msglen`, before anything is written).
    pub fn for_payload(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
        payload: &[u8],
    ) -> Result<Ec2xPub, ParamError> {
        let msglen = MsgLen::new(i64::try_from(payload.len()).unwrap_or(i64::MAX))?;
        Ec2xPub::counted(client_idx, msgid, qos, retain, topic, msglen)
    }

    /// Client, packet id, QoS, retain flag and topic.
    pub fn head(&self) -> &PubHead {
        &self.head
    }

    /// How many bytes follow `> `; `None` for the form that ends them with Ctrl-Z.
    pub fn msglen(&self) -> Option<MsgLen> {
        self.msglen
    }

    /// The command line without `\r`.
    pub(crate) fn write(&self, o: &mut Out<'_>) {
        self.head.write(o);
        if let Some(n) = self.msglen {
            o.comma().num(n);
        }
    }
}

/// `AT+QMTPUB=<connectID>,<msgID>,<qos>,<retain>,"<topic>","<msg>"`: the publish of BC26 and BC20
/// (NB-IoT) modules, with the message inline as its last parameter (see the [module docs](self)).
/// No prompt: `OK`, then `+QMTPUB: <connectID>,<msgID>,<result>[,<value>]`.
///
/// The message is a quoted AT string ([`InlineMessage`]: 0–700 bytes, no `"`, CR or LF); binary
/// payloads need a module with a data phase.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bc26Pub {
    head: PubHead,
    message: InlineMessage,
}

impl Bc26Pub {
    /// A publish of `message` on `topic`; `msgid` is 0 exactly when `qos` is 0.
    pub fn new(
        client_idx: ClientIdx,
        msgid: MsgId,
        qos: Qos,
        retain: bool,
        topic: Topic,
        message: InlineMessage,
    ) -> Result<Bc26Pub, ParamError> {
        Ok(Bc26Pub {
            head: PubHead::new(client_idx, msgid, qos, retain, topic)?,
            message,
        })
    }

    /// Client (`<connectID>`), packet id, QoS, retain flag and topic.
    pub fn head(&self) -> &PubHead {
        &self.head
    }

    /// The message.
    pub fn message(&self) -> &InlineMessage {
        &self.message
    }

    /// The command line without `\r`.
    pub(crate) fn write(&self, o: &mut Out<'_>) {
        self.head.write(o);
        o.comma().quoted(self.message.as_str());
    }
}

/// The write form of `AT+QMTPUB`, one of the two types.
pub(crate) enum QmtPub {
    Ec2x(Ec2xPub),
    Bc26(Bc26Pub),
}

/// The parameters of `AT+QMTPUB=…`: after the topic, nothing is the Ctrl-Z form, a number the
/// counted form, a quoted string the BC26 form.
pub(crate) fn parse_write(i: &mut &[u8]) -> R<QmtPub> {
    let client_idx = num(i, ClientIdx::new)?;
    sep(i)?;
    let msgid = num(i, MsgId::new)?;
    sep(i)?;
    let qos = num(i, Qos::new)?;
    sep(i)?;
    let retain = flag(i, "retain")?;
    sep(i)?;
    let topic = text(i, Topic::new)?;
    if !more(i)? {
        return Ok(QmtPub::Ec2x(Ec2xPub::until_ctrl_z(
            client_idx, msgid, qos, retain, topic,
        )?));
    }
    if i.first() == Some(&b'"') {
        let message = text(i, InlineMessage::new)?;
        return Ok(QmtPub::Bc26(Bc26Pub::new(
            client_idx, msgid, qos, retain, topic, message,
        )?));
    }
    let msglen = num(i, MsgLen::new)?;
    Ok(QmtPub::Ec2x(Ec2xPub::counted(
        client_idx, msgid, qos, retain, topic, msglen,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn ctrl_z_payloads_are_checked() {
        assert_eq!(check_ctrl_z_payload(b""), Ok(()));
        assert_eq!(check_ctrl_z_payload(b"line 1\r\nline 2\0\""), Ok(()));
        assert_eq!(check_ctrl_z_payload(&[b'a'; CTRL_Z_MAX_LEN]), Ok(()));
        assert_eq!(
            check_ctrl_z_payload(b"ab\x1acd\x1b"),
            Err(ParamError::ControlByte {
                param: "payload",
                byte: CTRL_Z,
                at: 2
            })
        );
        let e = check_ctrl_z_payload(b"\x1b").unwrap_err();
        assert_eq!(
            e,
            ParamError::ControlByte {
                param: "payload",
                byte: ESC,
                at: 0
            }
        );
        assert!(
            e.to_string().starts_with("payload holds byte 0x1b at 0"),
            "{e}"
        );
        assert!(matches!(
            check_ctrl_z_payload(&[b'a'; CTRL_Z_MAX_LEN + 1]),
            Err(ParamError::Length { len: 4097, .. })
        ));
    }
}
