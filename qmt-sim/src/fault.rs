//! Faults a test or a `qmt sim` user can inject, to see what a host driver does with them.

use qmt_proto::params::ClientIdx;

/// A fault. Line-level faults are applied by the module core ([`crate::module::Module::inject`]);
/// network-level ones by the IO shell, which owns the sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    // --- applied by the module core -------------------------------------------------------
    /// A power cycle: every client is dropped without a word to its server, all state is lost
    /// (configuration, files, echo back on), and the module says `RDY` again (spec §9).
    PowerCycle,
    /// These bytes are written to the serial line as they are, between frames (noise).
    Garbage(Vec<u8>),
    /// This line is sent as an unsolicited line (`\r\n<line>\r\n`), e.g. a stale `+QMTSTAT`.
    StrayUrc(String),
    /// The five receive slots of this client (recv/mode 1) are filled with placeholder messages,
    /// so further incoming publishes are not acknowledged until the host reads a slot.
    FillRecvSlots(ClientIdx),

    // --- applied by the IO shell -----------------------------------------------------------
    /// The server closes this client's connection (or every client's, with `None`).
    BrokerClose(Option<ClientIdx>),
    /// The server stops answering: bytes from it are dropped from now on (no CONNACK, PINGRESP,
    /// PUBACK …), for this client or every client. The connection stays open.
    BrokerStall(Option<ClientIdx>),
    /// The server answers again after a [`Fault::BrokerStall`].
    BrokerResume(Option<ClientIdx>),
    /// Name resolution fails for this host name (or every name, with `None`) from now on.
    DnsFailure(Option<String>),
    /// Name resolution works again.
    DnsRestore,
    /// Output to the serial line is cut into writes of at most `max_chunk` bytes, `delay_ms`
    /// apart (0 turns it off).
    SplitWrites {
        /// Largest write, in bytes.
        max_chunk: usize,
        /// Pause between writes, in milliseconds.
        delay_ms: u64,
    },
    /// Another client publishes `count` messages on `topic` to the broker, QoS 0, payload
    /// `<seq>` as decimal text.
    Burst {
        /// Topic to publish on.
        topic: String,
        /// How many messages.
        count: usize,
    },
}
