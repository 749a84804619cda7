//! Result codes, states and error codes the module reports (spec §4–§6).
//!
//! Every enum here maps a number of the spec's tables to a named variant and keeps any other number
//! in `Unknown(n)`: result codes outside the documented tables are common in the field (spec §6
//! variation 8), so converting a number never fails and never loses it. `from_code(n).code() == n`
//! holds for every `n`.

macro_rules! code_enum {
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
            /// A number outside the spec's table (spec §6 variation 8). The number is kept so it can
            /// be logged and re-encoded; `from_code` never builds this variant for a known number.
            Unknown(i64),
        }

        impl $name {
            /// Maps the number on the wire; numbers outside the table become `Unknown(n)`.
            /// Never fails.
            pub const fn from_code(n: i64) -> Self {
                match n {
                    $( $val => Self::$var, )*
                    _ => Self::Unknown(n),
                }
            }

            /// The number on the wire.
            pub const fn code(self) -> i64 {
                match self {
                    $( Self::$var => $val, )*
                    Self::Unknown(n) => n,
                }
            }

            /// Whether the number is one of the spec's table.
            pub const fn is_known(self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl From<i64> for $name {
            fn from(n: i64) -> Self {
                Self::from_code(n)
            }
        }

        impl From<$name> for i64 {
            fn from(c: $name) -> i64 {
                c.code()
            }
        }
    };
}
/// The pattern of this module for result codes defined elsewhere (`file`, `clock`).
pub(crate) use code_enum as result_code_enum;

code_enum!(
    /// `result` of `+QMTOPEN: <client_idx>,<result>`, the outcome of `AT+QMTOPEN` (spec §4).
    OpenResult {
        /// -1: failed to open the network.
        FailedToOpen = -1,
        /// 0: the network connection is open.
        Opened = 0,
        /// 1: a parameter was wrong.
        WrongParameter = 1,
        /// 2: the MQTT client identifier (`client_idx`) is occupied: that client is already open,
        /// for example left open before a host restart (ARCHITECTURE.md "Start-up recovery").
        IdentifierOccupied = 2,
        /// 3: failed to activate the PDP context.
        PdpActivationFailed = 3,
        /// 4: failed to parse the domain name.
        DomainNameParseFailed = 4,
        /// 5: network connection error.
        NetworkError = 5,
    }
);

code_enum!(
    /// `result` of `+QMTCLOSE: <client_idx>,<result>`, the outcome of `AT+QMTCLOSE` (spec §4).
    CloseResult {
        /// -1: failed to close the network connection.
        Failed = -1,
        /// 0: closed.
        Closed = 0,
    }
);

code_enum!(
    /// `result` of `+QMTDISC: <client_idx>,<result>`, the outcome of `AT+QMTDISC` (spec §4).
    DiscResult {
        /// -1: failed to disconnect.
        Failed = -1,
        /// 0: disconnected: the module sent DISCONNECT and closed the TCP connection.
        Disconnected = 0,
    }
);

code_enum!(
    /// `result` shared by the outcomes of `AT+QMTCONN`, `AT+QMTSUB`, `AT+QMTUNS` and `AT+QMTPUBEX`
    /// (spec §4 table "result (shared by CONN, SUB, UNS, PUBEX)").
    PacketResult {
        /// 0: the packet was sent and the server's ACK received (for a QoS 0 publish: sent).
        Acked = 0,
        /// 1: the packet is being retransmitted; the value that follows, if any, is the
        /// retransmission count (reported when `timeout_notice` = 1, spec §9).
        Retransmission = 1,
        /// 2: failed to send the packet (after the last retry).
        Failed = 2,
    }
);

code_enum!(
    /// `ret_code` of `+QMTCONN: <client_idx>,0,<ret_code>`: the MQTT 3.1.1 CONNACK return code
    /// (spec §4).
    ConnackCode {
        /// 0: connection accepted.
        Accepted = 0,
        /// 1: refused, unacceptable protocol version (see `AT+QMTCFG="version"`).
        UnacceptableProtocolVersion = 1,
        /// 2: refused, identifier rejected (MQTT 3.1 brokers may refuse client ids over 23 bytes).
        IdentifierRejected = 2,
        /// 3: refused, server unavailable.
        ServerUnavailable = 3,
        /// 4: refused, bad user name or password.
        BadCredentials = 4,
        /// 5: refused, not authorized.
        NotAuthorized = 5,
    }
);

code_enum!(
    /// `state` of the read answer `+QMTCONN: <client_idx>,<state>` to `AT+QMTCONN?` (spec §4).
    ConnState {
        /// 1: initializing.
        Initializing = 1,
        /// 2: connecting.
        Connecting = 2,
        /// 3: connected.
        Connected = 3,
        /// 4: disconnecting.
        Disconnecting = 4,
    }
);

code_enum!(
    /// `result` of the URC `+QMTPING: <client_idx>,<result>` (spec §6): keep-alive failed and the
    /// client is closed.
    PingResult {
        /// 1: no answer to PINGREQ in time.
        TimedOut = 1,
    }
);

code_enum!(
    /// `store_status_n` of the read answer to `AT+QMTRECV?` (spec §5): whether a buffer slot holds
    /// a message.
    StoreStatus {
        /// 0: the slot is empty.
        Empty = 0,
        /// 1: the slot holds a message; read it with `AT+QMTRECV=<client_idx>,<recv_id>`.
        Stored = 1,
    }
);

code_enum!(
    /// One granted-QoS value of `+QMTSUB: <client_idx>,<msgid>,0,<value>[,<value>…]`: the SUBACK
    /// return code for each topic of the subscription, in order (spec §5, MQTT 3.1.1 §3.9.3).
    GrantedQos {
        /// 0: subscribed with QoS 0.
        AtMostOnce = 0,
        /// 1: subscribed with QoS 1.
        AtLeastOnce = 1,
        /// 2: subscribed with QoS 2.
        ExactlyOnce = 2,
        /// 128: the server refused the subscription to this topic.
        Failure = 128,
    }
);

code_enum!(
    /// `err_code` of the URC `+QMTSTAT: <client_idx>,<err_code>` (spec §6): the client's link state
    /// changed and the client is no longer usable. See [`StatCode::recommended_action`].
    ///
    /// A `+QMTSTAT` can arrive shortly after `AT+QMTCLOSE` for a client that has been opened again
    /// since (spec §6 variation 6): the driver, not this type, decides whether it is stale.
    StatCode {
        /// 1: connection closed or reset by the peer.
        ClosedByPeer = 1,
        /// 2: sending PINGREQ timed out or failed.
        PingFailed = 2,
        /// 3: sending CONNECT timed out or failed.
        ConnectFailed = 3,
        /// 4: receiving CONNACK timed out or failed.
        ConnackFailed = 4,
        /// 5: the client sent DISCONNECT and the server closed the connection: a normal end.
        Disconnected = 5,
        /// 6: the client closed the connection because sending packets kept failing.
        SendFailures = 6,
        /// 7: the link is not working or the server is unavailable.
        LinkDown = 7,
        /// 8: the client closed the MQTT connection itself (meaning uncertain in the spec).
        ClosedByClient = 8,
    }
);

/// What the spec recommends after a `+QMTSTAT` (spec §6 table "+QMTSTAT err_code").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecommendedAction {
    /// Code 1: re-run `AT+QMTOPEN`, then `AT+QMTCONN`.
    Reopen,
    /// Code 2: deactivate and reactivate the PDP context, then reopen.
    ResetPdpThenReopen,
    /// Codes 3 and 4: check the username/password and that the client id is unique, then reopen.
    CheckCredentialsThenReopen,
    /// Code 5: a normal end; nothing to do.
    Nothing,
    /// Code 6: check the data, then reopen (the network may be congested).
    CheckDataThenReopen,
    /// Code 7: make sure the link and the server are up, then reopen.
    CheckLinkThenReopen,
    /// Code 8: reopen if the connection is still wanted.
    ReopenIfWanted,
    /// Codes 9–255 (reserved) and any other number: treat as "connection lost" and reopen.
    ConnectionLost,
}

impl RecommendedAction {
    /// The spec's wording of the action.
    pub const fn text(self) -> &'static str {
        match self {
            RecommendedAction::Reopen => "re-run AT+QMTOPEN then AT+QMTCONN",
            RecommendedAction::ResetPdpThenReopen => {
                "deactivate and reactivate the PDP context, then reopen"
            }
            RecommendedAction::CheckCredentialsThenReopen => {
                "check username/password and that the client id is unique, then reopen"
            }
            RecommendedAction::Nothing => "normal end; nothing to do",
            RecommendedAction::CheckDataThenReopen => {
                "check the data, then reopen (network may be congested)"
            }
            RecommendedAction::CheckLinkThenReopen => {
                "make sure the link and the server are up, then reopen"
            }
            RecommendedAction::ReopenIfWanted => "reopen if the connection is still wanted",
            RecommendedAction::ConnectionLost => "treat as \"connection lost\"",
        }
    }

    /// Whether the action ends with reopening the client (everything but [`Nothing`](Self::Nothing)).
    pub const fn reopens(self) -> bool {
        !matches!(self, RecommendedAction::Nothing)
    }
}

impl StatCode {
    /// The spec's recommended action for this code (spec §6). Reserved and unknown codes map to
    /// [`RecommendedAction::ConnectionLost`].
    pub const fn recommended_action(self) -> RecommendedAction {
        match self {
            StatCode::ClosedByPeer => RecommendedAction::Reopen,
            StatCode::PingFailed => RecommendedAction::ResetPdpThenReopen,
            StatCode::ConnectFailed | StatCode::ConnackFailed => {
                RecommendedAction::CheckCredentialsThenReopen
            }
            StatCode::Disconnected => RecommendedAction::Nothing,
            StatCode::SendFailures => RecommendedAction::CheckDataThenReopen,
            StatCode::LinkDown => RecommendedAction::CheckLinkThenReopen,
            StatCode::ClosedByClient => RecommendedAction::ReopenIfWanted,
            StatCode::Unknown(_) => RecommendedAction::ConnectionLost,
        }
    }

    /// The spec's meaning of the code, in words.
    pub const fn meaning(self) -> &'static str {
        match self {
            StatCode::ClosedByPeer => "connection closed or reset by peer",
            StatCode::PingFailed => "sending PINGREQ timed out or failed",
            StatCode::ConnectFailed => "sending CONNECT timed out or failed",
            StatCode::ConnackFailed => "receiving CONNACK timed out or failed",
            StatCode::Disconnected => {
                "the client sent DISCONNECT and the server closed the connection"
            }
            StatCode::SendFailures => {
                "the client closed the connection because sending packets kept failing"
            }
            StatCode::LinkDown => "the link is not working or the server is unavailable",
            StatCode::ClosedByClient => "the client closed the MQTT connection itself",
            StatCode::Unknown(_) => "reserved code: connection lost",
        }
    }
}

impl GrantedQos {
    /// The granted QoS, or `None` for a failure or an unknown value.
    pub const fn qos(self) -> Option<crate::params::Qos> {
        match self {
            GrantedQos::AtMostOnce => Some(crate::params::Qos::AtMostOnce),
            GrantedQos::AtLeastOnce => Some(crate::params::Qos::AtLeastOnce),
            GrantedQos::ExactlyOnce => Some(crate::params::Qos::ExactlyOnce),
            GrantedQos::Failure | GrantedQos::Unknown(_) => None,
        }
    }
}
