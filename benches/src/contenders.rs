//! The parsers the benches race, each run over a stream in a [`ReadModel`] and reporting what it
//! found as [`Counts`].
//!
//! # The read model
//! A serial reader appends each read to a fixed buffer, calls the parser until it consumes
//! nothing, and keeps the unconsumed bytes for the next read. Every byte is copied once into the
//! parser's buffer (that copy is the "read"); contenders differ only in how they parse.
//!
//! - at-codec owns its buffer (`Decoder<4096, _>`): a read is [`Decoder::decode`], which feeds and
//!   drains until the read is used up.
//! - The others parse a borrowed slice, so they share [`SerialBuffer`]: 4096 bytes for chunked
//!   reads, the stream's length for [`ReadModel::Whole`]. It compacts once per read when the read
//!   does not fit, and — like atat's `Ingress::read_from` — clears the buffer when it is full and
//!   the parser consumes nothing (counted in [`Counts::cleared`]).
//!
//! atat's own `Ingress` additionally moves the buffer's rest to the front after *every* digested
//! item; [`SerialBuffer`] advances an offset instead, so atat is timed on its digester and URC
//! parser, not on that memmove.

use at_codec::{Decoder, Frame};
use qmt_proto::{FinalCode, ModuleLine, RecvHook, Urc};

use crate::Truth;

/// How the stream reaches the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadModel {
    /// One read holding the whole stream.
    Whole,
    /// Reads of this many bytes (the last one shorter).
    Chunks(usize),
}

impl ReadModel {
    /// The three models the benches run: whole, 64-byte and 4096-byte reads.
    pub const ALL: [ReadModel; 3] = [
        ReadModel::Whole,
        ReadModel::Chunks(64),
        ReadModel::Chunks(4096),
    ];

    /// The label used in criterion ids and reports: `whole`, `64`, `4096`.
    pub fn label(self) -> String {
        match self {
            ReadModel::Whole => "whole".to_owned(),
            ReadModel::Chunks(n) => n.to_string(),
        }
    }

    /// Calls `read` with each read of `stream`.
    pub fn reads<'a>(self, stream: &'a [u8], mut read: impl FnMut(&'a [u8])) {
        match self {
            ReadModel::Whole => read(stream),
            ReadModel::Chunks(n) => stream.chunks(n).for_each(read),
        }
    }

    /// The [`SerialBuffer`] capacity for this model and stream.
    fn buffer_len(self, stream: &[u8]) -> usize {
        match self {
            ReadModel::Whole => stream.len().max(BUF),
            ReadModel::Chunks(_) => BUF,
        }
    }
}

/// The parser buffer of the chunked read models: 4 KiB, at-codec's `Decoder<4096, _>` too.
pub const BUF: usize = 4096;

/// What a contender found. The kinds a contender cannot see stay 0 and are not checked (see
/// [`Contender::checks`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// What it found, in the kinds of the ground truth.
    pub found: Truth,
    /// Items it yielded that are none of those kinds: untyped lines, data frames, overflows,
    /// atat responses carrying text (lines it swallowed into a command response).
    pub other: u64,
    /// Lines it recognised by prefix but failed to parse (atat's `AtatUrc::parse` returned `None`,
    /// at-commands' `finish` returned an error).
    pub failed: u64,
    /// Parses that panicked (caught; atat only).
    pub panicked: u64,
    /// Times the buffer was full with nothing consumable and was cleared.
    pub cleared: u64,
}

/// The contenders of the `framing` bench group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contender {
    /// A bare `memchr` CR LF line split: the speed of light for framing.
    Memchr,
    /// at-codec framing only (`Decoder<4096, RecvHook>`).
    AtCodec,
    /// at-codec framing and `ModuleLine::parse` of every line (the borrowed path).
    Typed,
    /// atat 0.25: `AtDigester` with a derived URC enum, and `AtatUrc::parse` of every URC.
    Atat,
    /// at-commands 0.5: `CommandParser` on each line of a memchr split.
    AtCommands,
}

/// A field of [`Truth`] that a contender's result is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// [`Truth::lines`].
    Lines,
    /// [`Truth::recv`].
    Recv,
    /// [`Truth::recv_payload_bytes`].
    RecvPayloadBytes,
    /// [`Truth::prompts`].
    Prompts,
    /// [`Truth::ok`].
    Ok,
    /// [`Truth::error`].
    Error,
    /// [`Truth::cme`].
    Cme,
    /// [`Truth::pubex`].
    PubEx,
    /// [`Truth::sub`].
    Sub,
    /// [`Truth::stat`].
    Stat,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 10] = [
        Field::Lines,
        Field::Recv,
        Field::RecvPayloadBytes,
        Field::Prompts,
        Field::Ok,
        Field::Error,
        Field::Cme,
        Field::PubEx,
        Field::Sub,
        Field::Stat,
    ];

    /// The field's name (as in [`Truth`]).
    pub fn name(self) -> &'static str {
        match self {
            Field::Lines => "lines",
            Field::Recv => "recv",
            Field::RecvPayloadBytes => "recv_payload_bytes",
            Field::Prompts => "prompts",
            Field::Ok => "ok",
            Field::Error => "error",
            Field::Cme => "cme",
            Field::PubEx => "pubex",
            Field::Sub => "sub",
            Field::Stat => "stat",
        }
    }

    /// The field's value in `t`.
    pub fn get(self, t: &Truth) -> u64 {
        match self {
            Field::Lines => t.lines,
            Field::Recv => t.recv,
            Field::RecvPayloadBytes => t.recv_payload_bytes,
            Field::Prompts => t.prompts,
            Field::Ok => t.ok,
            Field::Error => t.error,
            Field::Cme => t.cme,
            Field::PubEx => t.pubex,
            Field::Sub => t.sub,
            Field::Stat => t.stat,
        }
    }
}

impl Contender {
    /// All contenders, baseline first.
    pub const ALL: [Contender; 5] = [
        Contender::Memchr,
        Contender::AtCodec,
        Contender::Typed,
        Contender::Atat,
        Contender::AtCommands,
    ];

    /// The name used in criterion ids and reports.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Memchr => "memchr",
            Contender::AtCodec => "at-codec",
            Contender::Typed => "typed",
            Contender::Atat => "atat",
            Contender::AtCommands => "at-commands",
        }
    }

    /// The fields of [`Truth`] this contender reports, and is checked on. Framers see lines and
    /// prompts; atat yields items (URCs, responses, prompts), not lines.
    pub fn checks(self) -> &'static [Field] {
        match self {
            Contender::Memchr | Contender::AtCodec => &[Field::Lines, Field::Prompts],
            Contender::Atat => &Field::ALL[1..],
            Contender::Typed | Contender::AtCommands => &Field::ALL,
        }
    }

    /// Runs the contender over `stream` read in `model`.
    pub fn run(self, stream: &[u8], model: ReadModel) -> Counts {
        match self {
            Contender::Memchr => memchr_lines(stream, model),
            Contender::AtCodec => at_codec_frames(stream, model),
            Contender::Typed => typed(stream, model),
            Contender::Atat => atat::run(stream, model),
            Contender::AtCommands => at_commands::run(stream, model),
        }
    }
}

/// A serial reader's fixed buffer: reads are appended, the parser is called until it consumes
/// nothing, unconsumed bytes are kept.
#[derive(Debug)]
pub struct SerialBuffer {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Times the buffer was full, the parser consumed nothing, and the buffer was cleared.
    pub cleared: u64,
}

impl SerialBuffer {
    /// A buffer of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self {
            buf: vec![0; len].into_boxed_slice(),
            start: 0,
            end: 0,
            cleared: 0,
        }
    }

    /// Appends `read` (in parts if it does not fit) and after each part calls `parse` on the
    /// unconsumed bytes until it returns 0; `parse` returns how many bytes it consumed.
    pub fn read(&mut self, mut read: &[u8], mut parse: impl FnMut(&[u8]) -> usize) {
        let cap = self.buf.len();
        while !read.is_empty() {
            if self.start > 0 && cap - self.end < read.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == cap {
                // Full and nothing consumable: what atat's `Ingress::read_from` does.
                self.start = 0;
                self.end = 0;
                self.cleared += 1;
            }
            let n = read.len().min(cap - self.end);
            self.buf[self.end..self.end + n].copy_from_slice(&read[..n]);
            self.end += n;
            read = &read[n..];
            loop {
                let c = parse(&self.buf[self.start..self.end]);
                if c == 0 {
                    break;
                }
                self.start += c;
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
        }
    }
}

/// One item of a memchr split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// A line without its CR LF (never empty).
    Line(&'a [u8]),
    /// A line starting with `> `: the prompt (a bare split sees it when the next line's CR LF
    /// arrives).
    Prompt,
}

/// A bare memchr CR LF splitter over a [`SerialBuffer`]'s unconsumed bytes: one line per call.
/// `scanned` remembers how far the unconsumed bytes were already searched, so a long line read in
/// small pieces is not searched again from its start.
#[inline]
pub fn next_line<'a>(data: &'a [u8], scanned: &mut usize) -> Option<(Split<'a>, usize)> {
    let mut from = *scanned;
    loop {
        let Some(i) = memchr::memchr(b'\n', &data[from..]) else {
            *scanned = data.len();
            return None;
        };
        let lf = from + i;
        if lf > 0 && data[lf - 1] == b'\r' {
            *scanned = 0;
            let line = &data[..lf - 1];
            let item = if line.starts_with(b"> ") {
                Split::Prompt
            } else {
                Split::Line(line)
            };
            return Some((item, lf + 1));
        }
        from = lf + 1;
    }
}

/// Runs [`next_line`] over `stream` in `model`, calling `on` for each non-empty item.
pub fn split_lines(stream: &[u8], model: ReadModel, mut on: impl FnMut(Split<'_>)) -> SerialBuffer {
    let mut sb = SerialBuffer::new(model.buffer_len(stream));
    let mut scanned = 0;
    model.reads(stream, |read| {
        sb.read(read, |data| match next_line(data, &mut scanned) {
            Some((Split::Line(l), n)) => {
                if !l.is_empty() {
                    on(Split::Line(l));
                }
                n
            }
            Some((item, n)) => {
                on(item);
                n
            }
            None => 0,
        });
    });
    sb
}

fn memchr_lines(stream: &[u8], model: ReadModel) -> Counts {
    let mut c = Counts::default();
    let sb = split_lines(stream, model, |item| match item {
        Split::Line(_) => c.found.lines += 1,
        Split::Prompt => c.found.prompts += 1,
    });
    c.cleared = sb.cleared;
    c
}

/// The framer as a driver holds it: boxed (4 KiB buffer), `+QMTRECV` lengths believed.
pub type Framer = Decoder<BUF, RecvHook>;

/// A fresh [`Framer`].
pub fn framer() -> Box<Framer> {
    Box::new(Framer::with_hook(RecvHook::auto()))
}

fn at_codec_frames(stream: &[u8], model: ReadModel) -> Counts {
    let mut c = Counts::default();
    let mut dec = framer();
    model.reads(stream, |read| {
        dec.decode(read, |f| match f {
            Frame::Line(_) => c.found.lines += 1,
            Frame::Prompt => c.found.prompts += 1,
            Frame::Data(_) | Frame::Overflow { .. } => c.other += 1,
        });
    });
    c
}

/// Counts one typed line.
#[inline]
pub fn count_typed(c: &mut Counts, line: ModuleLine<'_>) {
    let t = &mut c.found;
    match line {
        ModuleLine::Urc(Urc::Recv(r)) => {
            t.recv += 1;
            t.recv_payload_bytes += r.payload.len() as u64;
        }
        ModuleLine::Final(FinalCode::Ok) => t.ok += 1,
        ModuleLine::Final(FinalCode::Error) => t.error += 1,
        ModuleLine::Final(FinalCode::CmeError(_)) => t.cme += 1,
        ModuleLine::Urc(Urc::PubEx { .. }) => t.pubex += 1,
        ModuleLine::Urc(Urc::Sub { .. }) => t.sub += 1,
        ModuleLine::Urc(Urc::Stat { .. }) => t.stat += 1,
        ModuleLine::Prompt => {
            t.prompts += 1;
            return;
        }
        _ => c.other += 1,
    }
    c.found.lines += 1;
}

/// at-codec framing and `ModuleLine::parse` of every line: the borrowed path, which allocates
/// nothing (see `tests/no_alloc.rs`).
pub fn typed(stream: &[u8], model: ReadModel) -> Counts {
    let mut c = Counts::default();
    let mut dec = framer();
    model.reads(stream, |read| {
        dec.decode(read, |f| match f {
            Frame::Line(l) => count_typed(&mut c, ModuleLine::parse(l)),
            Frame::Prompt => count_typed(&mut c, ModuleLine::Prompt),
            Frame::Data(_) | Frame::Overflow { .. } => c.other += 1,
        });
    });
    c
}

/// atat 0.25, used as its docs intend: an [`AtDigester`](::atat::AtDigester) over the URC enum
/// derived with `#[derive(AtatUrc)]`, and `AtatUrc::parse` of each URC it digests (what atat's
/// `Ingress` does before publishing a URC).
pub mod atat {
    use super::{Counts, ReadModel, SerialBuffer};
    use ::atat::atat_derive::{AtatResp, AtatUrc};
    use ::atat::heapless::String;
    use ::atat::serde_at::de::length_delimited::LengthDelimited;
    use ::atat::{AtDigester, AtatUrc as _, DigestResult, Digester, InternalError};

    /// `+QMTRECV: <client_idx>,<msgid>,"<topic>",<len>,<payload>`: serde_at's `LengthDelimited`
    /// exists for exactly this line (its docs use `+QMTRECV`); it takes quoted and unquoted
    /// payloads.
    #[derive(Clone, Debug, AtatResp)]
    pub struct QmtRecv {
        /// The client.
        pub client_idx: u8,
        /// The packet id.
        pub msgid: u16,
        /// The topic (up to 64 bytes; the stream's are at most 60).
        pub topic: String<64>,
        /// Length and payload (up to 1500 bytes, the spec's maximum).
        pub payload: LengthDelimited<1500>,
    }

    /// `+QMTSTAT: <client_idx>,<err_code>`.
    #[derive(Clone, Debug, AtatResp)]
    pub struct QmtStat {
        /// The client.
        pub client_idx: u8,
        /// Why the link changed.
        pub err_code: u8,
    }

    /// `+QMTPUBEX: <client_idx>,<msgid>,<result>[,<value>]`.
    #[derive(Clone, Debug, AtatResp)]
    pub struct QmtPubEx {
        /// The client.
        pub client_idx: u8,
        /// The packet id.
        pub msgid: u16,
        /// Packet result.
        pub result: u8,
        /// Retransmission count (result 1).
        pub value: Option<u16>,
    }

    /// `+QMTSUB: <client_idx>,<msgid>,<result>[,<value>]`.
    #[derive(Clone, Debug, AtatResp)]
    pub struct QmtSub {
        /// The client.
        pub client_idx: u8,
        /// The packet id.
        pub msgid: u16,
        /// Packet result.
        pub result: u8,
        /// Granted QoS (result 0) or retransmission count (result 1).
        pub value: Option<u16>,
    }

    /// The URCs of the stream, as an atat user declares them.
    // atat is no_std: URCs hold their payload inline (heapless), as its docs do; boxing the
    // message would be a heap allocation per URC that an atat user does not make.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, Debug, AtatUrc)]
    pub enum QmtUrc {
        /// A received message.
        #[at_urc("+QMTRECV")]
        Recv(QmtRecv),
        /// A link-state change.
        #[at_urc("+QMTSTAT")]
        Stat(QmtStat),
        /// A publish result.
        #[at_urc("+QMTPUBEX")]
        PubEx(QmtPubEx),
        /// A subscribe result.
        #[at_urc("+QMTSUB")]
        Sub(QmtSub),
    }

    /// `AtatUrc::parse`, with a panic caught and reported as `Err` (serde_at's `LengthDelimited`
    /// can slice past the end of a line: `tests/contenders.rs`).
    fn parse_urc(line: &[u8]) -> Result<Option<QmtUrc>, ()> {
        std::panic::catch_unwind(|| QmtUrc::parse(line)).map_err(|_| ())
    }

    /// Runs the digester over `stream` in `model` and counts what it yields. Set a silent panic
    /// hook first if panics are expected (the benches do).
    pub fn run(stream: &[u8], model: ReadModel) -> Counts {
        let mut c = Counts::default();
        let mut digester = AtDigester::<QmtUrc>::new();
        let mut sb = SerialBuffer::new(model.buffer_len(stream));
        model.reads(stream, |read| {
            sb.read(read, |data| {
                let (result, swallowed) = digester.digest(data);
                let t = &mut c.found;
                match result {
                    DigestResult::None => {}
                    DigestResult::Prompt(_) => t.prompts += 1,
                    DigestResult::Urc(line) => match parse_urc(line) {
                        Ok(Some(QmtUrc::Recv(r))) => {
                            t.recv += 1;
                            t.recv_payload_bytes += r.payload.bytes.len() as u64;
                        }
                        Ok(Some(QmtUrc::Stat(_))) => t.stat += 1,
                        Ok(Some(QmtUrc::PubEx(_))) => t.pubex += 1,
                        Ok(Some(QmtUrc::Sub(_))) => t.sub += 1,
                        Ok(None) => c.failed += 1,
                        Err(()) => c.panicked += 1,
                    },
                    DigestResult::Response(Ok(text)) => {
                        t.ok += 1;
                        if !text.is_empty() {
                            // Lines swallowed into a command's response.
                            c.other += 1;
                        }
                    }
                    DigestResult::Response(Err(InternalError::Error)) => t.error += 1,
                    DigestResult::Response(Err(InternalError::CmeError(_))) => t.cme += 1,
                    DigestResult::Response(Err(_)) => c.other += 1,
                }
                swallowed
            });
        });
        c.cleared = sb.cleared;
        c
    }
}

/// at-commands 0.5: its `CommandParser` builder applied to each line of a memchr split, one
/// parser chain per line prefix, as its docs show.
pub mod at_commands {
    use super::{Counts, ReadModel, Split, split_lines};
    use ::at_commands::parser::CommandParser;

    /// Types one line; the payload of `+QMTRECV` is the raw rest of the line, unquoted when it is
    /// the quoted form (`len + 2` bytes in quotes).
    #[inline]
    pub fn count_line(c: &mut Counts, line: &[u8]) {
        let t = &mut c.found;
        t.lines += 1;
        let ok = if line.starts_with(b"+QMTRECV:") {
            match CommandParser::parse(line)
                .expect_identifier(b"+QMTRECV:")
                .expect_int_parameter()
                .expect_int_parameter()
                .expect_string_parameter()
                .expect_int_parameter()
                .expect_raw_string()
                .finish()
            {
                Ok((_idx, _msgid, _topic, len, payload)) => {
                    let p = payload.as_bytes();
                    let p = match p {
                        [b'"', inner @ .., b'"'] if inner.len() as i64 == i64::from(len) => inner,
                        _ => p,
                    };
                    t.recv += 1;
                    t.recv_payload_bytes += p.len() as u64;
                    true
                }
                Err(_) => false,
            }
        } else if line.starts_with(b"+QMTPUBEX:") {
            let r = CommandParser::parse(line)
                .expect_identifier(b"+QMTPUBEX:")
                .expect_int_parameter()
                .expect_int_parameter()
                .expect_int_parameter()
                .expect_optional_int_parameter()
                .finish();
            t.pubex += u64::from(r.is_ok());
            r.is_ok()
        } else if line.starts_with(b"+QMTSUB:") {
            let r = CommandParser::parse(line)
                .expect_identifier(b"+QMTSUB:")
                .expect_int_parameter()
                .expect_int_parameter()
                .expect_int_parameter()
                .expect_optional_int_parameter()
                .finish();
            t.sub += u64::from(r.is_ok());
            r.is_ok()
        } else if line.starts_with(b"+QMTSTAT:") {
            let r = CommandParser::parse(line)
                .expect_identifier(b"+QMTSTAT:")
                .expect_int_parameter()
                .expect_int_parameter()
                .finish();
            t.stat += u64::from(r.is_ok());
            r.is_ok()
        } else if line.starts_with(b"+CME ERROR:") {
            let r = CommandParser::parse(line)
                .expect_identifier(b"+CME ERROR:")
                .expect_int_parameter()
                .finish();
            t.cme += u64::from(r.is_ok());
            r.is_ok()
        } else if line == b"OK" {
            t.ok += 1;
            true
        } else if line == b"ERROR" {
            t.error += 1;
            true
        } else {
            c.other += 1;
            true
        };
        if !ok {
            c.failed += 1;
        }
    }

    /// Splits `stream` with memchr in `model` and types every line.
    pub fn run(stream: &[u8], model: ReadModel) -> Counts {
        let mut c = Counts::default();
        let sb = split_lines(stream, model, |item| match item {
            Split::Line(l) => count_line(&mut c, l),
            Split::Prompt => c.found.prompts += 1,
        });
        c.cleared = sb.cleared;
        c
    }
}
