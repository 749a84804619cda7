//! `+QMTRECV` messages: the payload rules of spec §6, the split form, hex payloads, and the
//! [`RecvHook`] that tells the framer (at-codec) how long a counted `+QMTRECV` line is.
//!
//! # The payload rules (spec §6 "Payload form inside +QMTRECV")
//!
//! A message line is `+QMTRECV: <client_idx>,<msgid>,"<topic>"[,<payload_len>],<payload>`. Call
//! everything after the comma that follows the topic's closing quote the *rest*. [`Recv::parse`]
//! decides deterministically, in this order:
//!
//! 1. **Lengthed** (rule 1): the rest starts with a canonical decimal number `n` (digits, no leading
//!    zero unless it is `0`, no sign, no spaces), then a `,`, then a *body*. If the body is exactly
//!    `n` bytes, it is the payload ([`PayloadForm::Unquoted`]). If it is exactly `n + 2` bytes,
//!    starts with `"` and its byte `n + 1` is `"`, the payload is the `n` bytes between the quotes
//!    ([`PayloadForm::Quoted`]). The payload may hold any byte: CR, LF, `"`, `,`, NUL, `> `.
//! 2. **Split** (variation 2): the rest is `n`, then CR LF, then exactly `n` bytes: the header line
//!    and the data run the framer delivered separately, joined (see [`Recv::from_split`]).
//! 3. **Unlengthed** (rule 2, variation 1) — whenever 1 and 2 do not fit *exactly*: the whole rest is
//!    the payload; if it is at least 2 bytes long and both starts and ends with `"`, those two quotes
//!    are removed ([`PayloadForm::Quoted`]; the closing quote is the **last** `"` of the line, so
//!    unescaped quotes inside stay in the payload). Otherwise it is taken as it is.
//!
//! So `+QMTRECV: 0,0,"t",30,This…` is lengthed only if exactly 30 (or 32 with quotes) bytes follow
//! `30,`; `+QMTRECV: 0,0,"t",5,hello world` is the unlengthed payload `5,hello world`. A driver that
//! knows `msg_len_enable` = 0 for the client can check [`Recv::payload_len`] against it; an
//! unlengthed payload that happens to read as a consistent length is the one case the line alone
//! cannot tell apart.
//!
//! Parsing borrows from the line and never allocates.

use alloc::vec::Vec;
use core::fmt;

use at_codec::{Counted, Early, PayloadHook};

use crate::params::{ClientIdx, MsgId};
use crate::syntax::Out;

/// The `+QMTRECV:` prefix as the module writes it.
pub(crate) const RECV_PREFIX: &str = "+QMTRECV:";

/// How the payload was carried on the line, kept so that [`Recv::encode`] reproduces the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadForm {
    /// The payload bytes follow the comma as they are (`…,30,This is test data, hello MQTT.`).
    Unquoted,
    /// The payload is enclosed in one pair of double quotes (`…,36,"This is the payload…"`).
    Quoted,
    /// Spec §6 variation 2 (some EC200U firmware): the header line ends with the length and the raw
    /// payload follows as a separate data run (`+QMTRECV: 0,0,"t",23` CR LF `<23 bytes>`). Always
    /// has a length.
    Split,
}

/// A received MQTT message: the `+QMTRECV` URC of recv/mode 0, or a message line answering
/// `AT+QMTRECV=<client_idx>[,<recv_id>]` (spec §5, §6). Borrows topic and payload from the line.
///
/// The module-level docs give the parsing rules.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recv<'a> {
    /// The client that received the message.
    pub client_idx: ClientIdx,
    /// The MQTT packet identifier of the incoming PUBLISH: 0 for QoS 0 on EC200x/EC600x/EG912Y
    /// (spec §6). Kept as written, whatever it is: some BG9x firmware numbers every message, QoS 0
    /// included, so a nonzero `msgid` does not prove QoS 1 or 2 (qmt-client's `ReceivedQos` says
    /// how it decides).
    pub msgid: MsgId,
    /// The topic name, as the module quoted it (UTF-8, no `"`).
    pub topic: &'a str,
    /// `Some(n)` when the line carried `<payload_len>` (msg_len_enable = 1, or the split form).
    /// Parsing guarantees `n == payload.len()`; [`encode`](Self::encode) writes `payload.len()`.
    pub payload_len: Option<usize>,
    /// The payload bytes, quotes removed. In hex recv mode (`dataformat` recv_mode = 1) these are
    /// hex digits: see [`decode_hex_payload_into`](Self::decode_hex_payload_into).
    pub payload: &'a [u8],
    /// How the payload was carried.
    pub form: PayloadForm,
}

impl fmt::Debug for Recv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("client_idx", &self.client_idx)
            .field("msgid", &self.msgid)
            .field("topic", &self.topic)
            .field("payload_len", &self.payload_len)
            .field("payload", &ByteStr(self.payload))
            .field("form", &self.form)
            .finish()
    }
}

/// Debug-prints bytes as an escaped byte string literal.
pub(crate) struct ByteStr<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for ByteStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

// ------------------------------------------------------------------------------------------------
// The one `+QMTRECV` header parser.
//
// A message head is read in three places: by `Recv::parse` (a whole line), by `RecvHook::counted`
// (a whole line head, at its end) and by `RecvHook::early` (the start of a line still arriving).
// All three use the functions below, so they cannot disagree on what a header is. They differ only
// at the end of the input: in a stream (`STREAM`) a number or a run of spaces may go on in the next
// read, so the answer there is `Stop::More`; in a whole line they end with it. Each runs once or
// twice per received message, the hottest path of the crate: index-based, one pass, no iterator
// adaptors, inlined.

/// Why the header parser found no header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The input ended inside the header: more bytes of a stream may complete it (a whole line has
    /// no header).
    More,
    /// Not a header, whatever follows.
    No,
}

/// Where the fields of `<client_idx>,<msgid>,"<topic>"` are.
struct Header {
    client_idx: u64,
    msgid: u64,
    /// Index of the topic's first byte.
    topic: usize,
    /// Index of the topic's closing `"`.
    topic_end: usize,
}

/// Digits at `at` in `i`: the value and the index after them. More than `max` digits (at most
/// 19, so no overflow) are `No`, as is no digit at all.
#[inline(always)]
fn uint<const STREAM: bool>(i: &[u8], at: usize, max: usize) -> Result<(u64, usize), Stop> {
    let mut v: u64 = 0;
    let mut n = at;
    loop {
        let Some(&b) = i.get(n) else {
            if STREAM {
                return Err(Stop::More);
            }
            break;
        };
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if n - at == max {
            return Err(Stop::No);
        }
        v = v * 10 + u64::from(d);
        n += 1;
    }
    if n == at {
        return Err(Stop::No);
    }
    Ok((v, n))
}

/// The index after the spaces at `at` in `i`.
#[inline(always)]
fn spaces<const STREAM: bool>(i: &[u8], mut at: usize) -> Result<usize, Stop> {
    loop {
        match i.get(at) {
            Some(b' ') => at += 1,
            Some(_) => return Ok(at),
            None if STREAM => return Err(Stop::More),
            None => return Ok(at),
        }
    }
}

/// `i` without its leading spaces (the other lines' parsers, which work on slices).
#[inline]
pub(crate) fn skip_spaces(mut i: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = i {
        i = rest;
    }
    i
}

/// The index after the byte `want` at `at` in `i`.
#[inline(always)]
fn byte(i: &[u8], at: usize, want: u8) -> Result<usize, Stop> {
    match i.get(at) {
        Some(&b) if b == want => Ok(at + 1),
        Some(_) => Err(Stop::No),
        None => Err(Stop::More),
    }
}

/// `+QMTRECV:` (any case) and the spaces after it at the start of `i`: the index of the first
/// field. The module's own upper case is one compare; other cases are rare.
#[inline(always)]
fn prefix<const STREAM: bool>(i: &[u8]) -> Result<usize, Stop> {
    let p = RECV_PREFIX.as_bytes();
    match i.get(..p.len()) {
        Some(head) if head == p || head.eq_ignore_ascii_case(p) => spaces::<STREAM>(i, p.len()),
        Some(_) => Err(Stop::No),
        None if STREAM && i.eq_ignore_ascii_case(p.get(..i.len()).unwrap_or(p)) => Err(Stop::More),
        None => Err(Stop::No),
    }
}

/// The index of the first field of a whole line that starts with `+QMTRECV:` (any case) and
/// spaces, for `ModuleLine::parse`'s fast path.
#[inline(always)]
pub(crate) fn fields_start(line: &[u8]) -> Option<usize> {
    prefix::<false>(line).ok()
}

/// `<client_idx>,<msgid>,"<topic>"` at `at` in `i` (spaces after commas tolerated). `client` may
/// refuse the client as soon as its index is read. In a stream the topic must not hold CR or LF:
/// the line may end there, and [`PayloadHook::early`]'s promise is about a prefix without them.
#[inline(always)]
fn header<const STREAM: bool>(
    i: &[u8],
    at: usize,
    client: impl FnOnce(u64) -> bool,
) -> Result<Header, Stop> {
    let (client_idx, at) = uint::<STREAM>(i, at, 19)?;
    if !client(client_idx) {
        return Err(Stop::No);
    }
    let at = spaces::<STREAM>(i, byte(i, at, b',')?)?;
    let (msgid, at) = uint::<STREAM>(i, at, 19)?;
    let at = spaces::<STREAM>(i, byte(i, at, b',')?)?;
    let topic = byte(i, at, b'"')?;
    let rest = i.get(topic..).ok_or(Stop::More)?;
    let topic_end = topic + find_topic_end(rest, STREAM).ok_or(Stop::More)?;
    if STREAM && i.get(topic_end) != Some(&b'"') {
        // A CR or LF in the topic: the line may end there.
        return Err(Stop::No);
    }
    Ok(Header {
        client_idx,
        msgid,
        topic,
        topic_end,
    })
}

/// The `,<len>` after a header: a canonical decimal length (no sign, no leading zero unless it is
/// `0`, at most 9 digits) and the index after it.
#[inline(always)]
fn length<const STREAM: bool>(i: &[u8], h: &Header) -> Result<(usize, usize), Stop> {
    let at = byte(i, h.topic_end + 1, b',')?;
    let (v, after) = uint::<STREAM>(i, at, 9)?;
    if after - at > 1 && i.get(at) == Some(&b'0') {
        return Err(Stop::No);
    }
    Ok((usize::try_from(v).map_err(|_| Stop::No)?, after))
}

/// Bytes that end a topic scan: the closing quote, and (for [`RecvHook`]'s early answer) a CR or
/// LF, which may be a line end.
const QUOTE: u64 = u64::from_ne_bytes([b'"'; 8]);
const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `w` that is 0 is set (and possibly of bytes above a 0 byte, so
/// only the lowest set bit is exact).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Index of the first `"` in `i` (with `stop_at_line_end`: of the first `"`, CR or LF).
///
/// Topics are short (tens of bytes), where a call to `memchr` costs more than the search: so the
/// first 64 bytes are searched 8 at a time here, and only the rest with `memchr`.
#[inline(always)]
fn find_topic_end(i: &[u8], stop_at_line_end: bool) -> Option<usize> {
    let short = i.get(..64).unwrap_or(i);
    let mut words = short.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        // Little-endian, so that the lowest set bit is the first byte in memory.
        let w = u64::from_le_bytes(b);
        let mut hit = zero_bytes(w ^ QUOTE);
        if stop_at_line_end {
            hit |= zero_bytes(w ^ CR) | zero_bytes(w ^ LF);
        }
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let stop = |b: &u8| *b == b'"' || (stop_at_line_end && (*b == b'\r' || *b == b'\n'));
    if let Some(k) = words.remainder().iter().position(stop) {
        return Some(at + k);
    }
    let rest = i.get(short.len()..)?;
    let k = if stop_at_line_end {
        memchr::memchr3(b'"', b'\r', b'\n', rest)?
    } else {
        memchr::memchr(b'"', rest)?
    };
    Some(short.len() + k)
}

/// If `body` is `"<n bytes>"`, the bytes between the quotes.
fn quoted_exact(body: &[u8], n: usize) -> Option<&[u8]> {
    if body.len() != n.checked_add(2)? || body.first() != Some(&b'"') || body.last() != Some(&b'"')
    {
        return None;
    }
    body.get(1..=n)
}

/// If `rest` is `"<anything>"` (at least the two quotes), the bytes between the first and the last
/// byte.
fn quoted_unlengthed(rest: &[u8]) -> Option<&[u8]> {
    if rest.len() >= 2 && rest.first() == Some(&b'"') && rest.last() == Some(&b'"') {
        rest.get(1..rest.len() - 1)
    } else {
        None
    }
}

/// The topic `line[from..to]` as text, where `line[..from]` is known to be ASCII (the prefix and
/// the fields before the topic, already parsed) and `line[to]` is the closing `"`.
///
/// The validator (`core::str::from_utf8`) checks aligned ASCII two words at a time but walks an
/// unaligned start and the last bytes one by one, which on topics of tens of bytes is most of its
/// time. So it first runs on a *window*: from a word-aligned address up to 7 of the ASCII bytes
/// before the topic, to a whole number of word pairs (which may reach into the payload). If the
/// window is UTF-8, the topic is a slice of it between two character boundaries (both ends touch
/// ASCII). Otherwise (a window past the line's end, a non-UTF-8 payload) the topic alone decides:
/// the answer is always exactly `from_utf8` of the topic's bytes.
#[inline(always)]
fn topic_str(line: &[u8], from: usize, to: usize) -> Option<&str> {
    let word = core::mem::size_of::<usize>();
    let back = line.as_ptr().addr().wrapping_add(from) % word;
    if let Some(start) = from.checked_sub(back) {
        let len = to.checked_sub(start)?.div_ceil(2 * word) * (2 * word);
        let window = start.checked_add(len).and_then(|end| line.get(start..end));
        if let Some(text) = window.and_then(|w| core::str::from_utf8(w).ok()) {
            if let Some(topic) = text.get(from - start..to - start) {
                return Some(topic);
            }
        }
    }
    core::str::from_utf8(line.get(from..to)?).ok()
}

impl<'a> Recv<'a> {
    /// Parses a whole message line `+QMTRECV: <client_idx>,<msgid>,"<topic>"[,<len>],<payload>`
    /// (without the framing CR LF; the prefix is case-insensitive), or a split-form header and its
    /// data joined by CR LF. `None` if the line is not a message line or a number is out of range.
    /// Never allocates, never panics.
    pub fn parse(line: &'a [u8]) -> Option<Recv<'a>> {
        Self::parse_fields(line, prefix::<false>(line).ok()?)
    }

    /// Parses the fields `line[at..]`, which follow `+QMTRECV:` and its spaces (`line[..at]` is
    /// that ASCII prefix).
    #[inline(always)]
    pub(crate) fn parse_fields(line: &'a [u8], at: usize) -> Option<Recv<'a>> {
        let h = header::<false>(line, at, |_| true).ok()?;
        let client_idx = ClientIdx::new(i64::try_from(h.client_idx).ok()?).ok()?;
        let msgid = MsgId::new(i64::try_from(h.msgid).ok()?).ok()?;
        let topic = topic_str(line, h.topic, h.topic_end)?;
        let rest = line.get(h.topic_end + 1..)?.strip_prefix(b",")?;
        let make = |payload_len, payload, form| Recv {
            client_idx,
            msgid,
            topic,
            payload_len,
            payload,
            form,
        };

        // Rules 1 and 2: a length, only if the byte counts agree with it exactly.
        if let Ok((n, after)) = length::<false>(line, &h) {
            let tail = line.get(after..)?;
            if let Some(body) = tail.strip_prefix(b",") {
                if body.len() == n {
                    return Some(make(Some(n), body, PayloadForm::Unquoted));
                }
                if let Some(p) = quoted_exact(body, n) {
                    return Some(make(Some(n), p, PayloadForm::Quoted));
                }
            } else if let Some(data) = tail.strip_prefix(b"\r\n") {
                if data.len() == n {
                    return Some(make(Some(n), data, PayloadForm::Split));
                }
            }
        }
        // Rule 3: no (consistent) length: the rest of the line, one pair of quotes removed.
        Some(match quoted_unlengthed(rest) {
            Some(p) => make(None, p, PayloadForm::Quoted),
            None => make(None, rest, PayloadForm::Unquoted),
        })
    }

    /// Assembles the split form of spec §6 variation 2 from the header line
    /// `+QMTRECV: <client_idx>,<msgid>,"<topic>",<len>` (without CR LF) and the data run the framer
    /// delivered after it (see [`LenMode::Split`]). `None` unless the header has that exact shape
    /// and `data` is exactly `<len>` bytes.
    pub fn from_split(header_line: &'a [u8], data: &'a [u8]) -> Option<Recv<'a>> {
        let h = header::<false>(header_line, prefix::<false>(header_line).ok()?, |_| true).ok()?;
        let client_idx = ClientIdx::new(i64::try_from(h.client_idx).ok()?).ok()?;
        let msgid = MsgId::new(i64::try_from(h.msgid).ok()?).ok()?;
        let topic = core::str::from_utf8(header_line.get(h.topic..h.topic_end)?).ok()?;
        let (n, after) = length::<false>(header_line, &h).ok()?;
        if after != header_line.len() || data.len() != n {
            return None;
        }
        Some(Recv {
            client_idx,
            msgid,
            topic,
            payload_len: Some(n),
            payload: data,
            form: PayloadForm::Split,
        })
    }

    /// Appends the line's exact bytes, without the framing CR LF. For [`PayloadForm::Split`] that is
    /// the header, CR LF and the data, as the module sends them between the framing CR LFs.
    /// A length, when present, is written as `payload.len()`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Out(out);
        o.raw(b"+QMTRECV: ")
            .num(self.client_idx)
            .comma()
            .num(self.msgid)
            .comma()
            .quoted(self.topic)
            .comma();
        let has_len = self.payload_len.is_some() || self.form == PayloadForm::Split;
        if has_len {
            o.num(self.payload.len());
        }
        match self.form {
            PayloadForm::Split => {
                o.raw(b"\r\n").raw(self.payload);
            }
            PayloadForm::Quoted => {
                if has_len {
                    o.comma();
                }
                o.quoted(self.payload);
            }
            PayloadForm::Unquoted => {
                if has_len {
                    o.comma();
                }
                o.raw(self.payload);
            }
        }
    }

    /// Whether `Recv::parse` of [`encode`](Self::encode)'s output gives this value back. False
    /// when the topic holds `"` or `payload_len` disagrees with the payload, and for the unlengthed
    /// payloads the line cannot carry unambiguously: an unquoted one that starts and ends with `"`,
    /// or one that starts like a consistent length (`5,hello`). A driver never needs this; tests do.
    pub fn round_trips(&self) -> bool {
        if self.topic.as_bytes().contains(&b'"') {
            return false;
        }
        match (self.payload_len, self.form) {
            (Some(n), _) => n == self.payload.len(),
            (None, PayloadForm::Split) => false,
            (None, PayloadForm::Quoted) => true,
            (None, PayloadForm::Unquoted) => {
                let mut line = Vec::new();
                self.encode(&mut line);
                Recv::parse(&line).as_ref() == Some(self)
            }
        }
    }

    /// Decodes a hex payload (`AT+QMTCFG="dataformat",<idx>,<send>,1`: spec §6 rule 3) into `out`,
    /// without allocating. Returns the number of bytes written.
    pub fn decode_hex_payload_into(&self, out: &mut [u8]) -> Result<usize, HexError> {
        decode_hex_into(self.payload, out)
    }

    /// Decodes a hex payload into a new vector (convenience over
    /// [`decode_hex_payload_into`](Self::decode_hex_payload_into)).
    pub fn decode_hex_payload(&self) -> Result<Vec<u8>, HexError> {
        decode_hex(self.payload)
    }
}

/// A hex payload that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HexError {
    /// An odd number of hex digits.
    OddLength,
    /// A byte that is not a hex digit, at this position.
    InvalidDigit {
        /// Position of the byte in the hex text.
        at: usize,
    },
    /// The output buffer is shorter than the decoded data.
    BufferTooSmall {
        /// The bytes the decoded data needs.
        needed: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::OddLength => f.write_str("hex payload has an odd number of digits"),
            HexError::InvalidDigit { at } => write!(f, "hex payload has a non-hex byte at {at}"),
            HexError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for HexError {}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex text (two digits per byte, either case) into `out`, without allocating. Returns the
/// number of bytes written (`hex.len() / 2`). Nothing is written unless the whole text is valid and
/// fits.
pub fn decode_hex_into(hex: &[u8], out: &mut [u8]) -> Result<usize, HexError> {
    if hex.len() % 2 != 0 {
        return Err(HexError::OddLength);
    }
    let needed = hex.len() / 2;
    if let Some(at) = hex.iter().position(|&b| hex_val(b).is_none()) {
        return Err(HexError::InvalidDigit { at });
    }
    let Some(dst) = out.get_mut(..needed) else {
        return Err(HexError::BufferTooSmall { needed });
    };
    for (d, pair) in dst.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = hex_val(pair[0]).unwrap_or(0);
        let lo = hex_val(pair[1]).unwrap_or(0);
        *d = hi << 4 | lo;
    }
    Ok(needed)
}

/// Decodes hex text into a new vector (convenience over [`decode_hex_into`]).
pub fn decode_hex(hex: &[u8]) -> Result<Vec<u8>, HexError> {
    let mut v = alloc::vec![0u8; hex.len() / 2];
    let n = decode_hex_into(hex, &mut v)?;
    v.truncate(n);
    Ok(v)
}

/// The digits [`encode_hex_into`] writes: upper case ([`decode_hex_into`] reads either case).
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes `bytes` as hex text (two upper-case digits per byte) into `out`, without allocating:
/// the data a host writes after `> ` in hex send mode (`AT+QMTCFG="send/mode"` or `"dataformat"`
/// send 1). Returns the number of bytes written (`2 * bytes.len()`); nothing is written unless
/// it all fits ([`HexError::BufferTooSmall`]). [`decode_hex_into`] is the inverse.
///
/// ```
/// use qmt_proto::recv::{decode_hex, encode_hex_into};
///
/// let mut buf = [0u8; 8];
/// let n = encode_hex_into(b"\x00\xabz", &mut buf)?;
/// assert_eq!(&buf[..n], b"00AB7A");
/// assert_eq!(decode_hex(&buf[..n])?, b"\x00\xabz");
/// # Ok::<(), qmt_proto::recv::HexError>(())
/// ```
pub fn encode_hex_into(bytes: &[u8], out: &mut [u8]) -> Result<usize, HexError> {
    let needed = bytes
        .len()
        .checked_mul(2)
        .ok_or(HexError::BufferTooSmall { needed: usize::MAX })?;
    let Some(dst) = out.get_mut(..needed) else {
        return Err(HexError::BufferTooSmall { needed });
    };
    for (pair, &b) in dst.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&[
            HEX_DIGITS[usize::from(b >> 4)],
            HEX_DIGITS[usize::from(b & 0x0f)],
        ]);
    }
    Ok(needed)
}

/// Encodes `bytes` as hex text into a new vector (convenience over [`encode_hex_into`]).
pub fn encode_hex(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len().saturating_mul(2));
    for &b in bytes {
        v.push(HEX_DIGITS[usize::from(b >> 4)]);
        v.push(HEX_DIGITS[usize::from(b & 0x0f)]);
    }
    v
}

/// What a driver knows about one client's `+QMTRECV` lines (`AT+QMTCFG="recv/mode"`'s
/// `msg_len_enable`, and the firmware's habit), for [`RecvHook`].
///
/// The default is [`On`](Self::On), what [`RecvHook::auto`] assumes for every client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LenMode {
    /// msg_len_enable = 0: lines carry no length, so nothing is counted. A payload that starts
    /// with `30,` is text, and a line ends at its first CR LF (spec §6 rule 2).
    Off,
    /// msg_len_enable = 1, or unknown (the syntactic default of [`RecvHook::auto`]): a head
    /// `+QMTRECV: <idx>,<msgid>,"<topic>",<len>,` is counted inline.
    #[default]
    On,
    /// Like [`On`](Self::On), and also a head that *ends* with the length
    /// (`+QMTRECV: 0,0,"t",23`) announces a following data run of that length (spec §6
    /// variation 2). Only for firmware known to do this: otherwise that head is an unlengthed
    /// payload `23`, and counting would swallow the next 23 bytes of output.
    Split,
}

/// The [`PayloadHook`] for `+QMTRECV` lines: tells at-codec how long a counted message line is, so
/// CR LF inside a lengthed payload (spec §6 rule 1) is not taken as a line end.
///
/// For a head `+QMTRECV: <idx>,<msgid>,"<topic>",<len>,…` it answers
/// `Counted::Inline(header_len + len)`, where `header_len` counts the bytes up to and including the
/// comma after `<len>`. The framer ends the line at the first CR LF at or after that offset, which
/// is right for both payload forms:
///
/// * unquoted: the body is `header + payload` (`header_len + len` bytes), so the first CR LF at or
///   after the offset is the one right after the payload. CR LF inside the payload start before the
///   offset and are skipped; a payload ending in CR gives `… CR CR LF`, whose first CR LF *at or
///   after* the offset is the real line end.
/// * quoted: the body is `header + " + payload + "` (`header_len + len + 2` bytes). The offset
///   falls on the last payload byte; the pair starting there is (last byte, `"`) and the next is
///   (`"`, CR), neither a CR LF, so the first CR LF at or after the offset is the one after the
///   closing quote.
///
/// In [`LenMode::Split`] a head ending right after `<len>` gives `Counted::Following(len)`: the
/// framer ends the header line there and delivers the next `len` bytes as a data frame; join them
/// with [`Recv::from_split`].
///
/// The decision uses only the header, which cannot hold CR LF (the topic is quoted without CR LF),
/// as the hook contract requires — except the split test, which needs the head's end, i.e. the
/// CR LF itself. The same `Inline` answers come early ([`PayloadHook::early`]), from the header
/// alone, so the framer jumps over the payload. Heads not starting with `+`, other prefixes, `client_idx` above 5, lengths above
/// [`max_len`](Self::max_len) and malformed headers all answer `Counted::None`. Never panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvHook {
    modes: [LenMode; 6],
    max_len: usize,
}

impl Default for RecvHook {
    fn default() -> Self {
        Self::auto()
    }
}

impl RecvHook {
    /// The default bound on a counted payload: larger lengths are not believed (the line then ends
    /// at its first CR LF, and the framer's own line limit applies).
    pub const DEFAULT_MAX_LEN: usize = 65_536;

    /// Syntactic counting for every client ([`LenMode::On`]): any head with a length field
    /// followed by a comma is counted.
    pub const fn auto() -> Self {
        Self {
            modes: [LenMode::On; 6],
            max_len: Self::DEFAULT_MAX_LEN,
        }
    }

    /// The same mode for every client.
    pub const fn all(mode: LenMode) -> Self {
        Self {
            modes: [mode; 6],
            max_len: Self::DEFAULT_MAX_LEN,
        }
    }

    /// Sets one client's mode (builder style).
    pub const fn with(mut self, client_idx: ClientIdx, mode: LenMode) -> Self {
        self.modes[client_idx.get() as usize] = mode;
        self
    }

    /// Sets one client's mode, for example after `AT+QMTCFG="recv/mode",<idx>,0,<msg_len_enable>`
    /// returned `OK`.
    pub fn set(&mut self, client_idx: ClientIdx, mode: LenMode) {
        if let Some(m) = self.modes.get_mut(usize::from(client_idx.get())) {
            *m = mode;
        }
    }

    /// One client's mode.
    pub fn mode(&self, client_idx: ClientIdx) -> LenMode {
        self.modes
            .get(usize::from(client_idx.get()))
            .copied()
            .unwrap_or(LenMode::On)
    }

    /// Sets the largest payload length believed (default [`DEFAULT_MAX_LEN`](Self::DEFAULT_MAX_LEN)).
    pub const fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The largest payload length believed.
    pub const fn max_len(&self) -> usize {
        self.max_len
    }
}

impl RecvHook {
    /// The head `+QMTRECV: <idx>,<msgid>,"<topic>",<len>` of a message whose client's lines carry
    /// lengths (not [`LenMode::Off`]) and whose length is believed (at most
    /// [`max_len`](Self::max_len)): the length, the index after it, and the client's mode. The
    /// one parse behind both [`PayloadHook::counted`] and [`PayloadHook::early`] (`STREAM`), so
    /// the early answer is the late one by construction.
    #[inline(always)]
    fn counted_head<const STREAM: bool>(&self, i: &[u8]) -> Result<(usize, usize, LenMode), Stop> {
        let at = prefix::<STREAM>(i)?;
        let mut mode = LenMode::Off;
        let h = header::<STREAM>(i, at, |client_idx| {
            // Refused at once, so that an early answer for such a client is not asked again.
            match usize::try_from(client_idx)
                .ok()
                .and_then(|c| self.modes.get(c))
            {
                Some(&m) if m != LenMode::Off => {
                    mode = m;
                    true
                }
                _ => false,
            }
        })?;
        let (len, after) = length::<STREAM>(i, &h)?;
        if len > self.max_len {
            return Err(Stop::No);
        }
        Ok((len, after, mode))
    }

    /// [`PayloadHook::early`]'s work: the counted offset, or why there is none yet: the same
    /// head as [`PayloadHook::counted`], up to the comma after `<len>` — the prefix `p` of the
    /// promise, which holds no CR or LF (a stream's topic may not).
    #[inline]
    fn early_inline(&self, start: &[u8]) -> Result<usize, Stop> {
        let (len, after, _) = self.counted_head::<true>(start)?;
        let header_len = byte(start, after, b',')?;
        header_len.checked_add(len).ok_or(Stop::No)
    }
}

impl PayloadHook for RecvHook {
    /// Answers from the header alone, for the lines [`counted`](Self::counted) would count inline.
    #[inline]
    fn early(&self, start: &[u8]) -> Early {
        if start.first() != Some(&b'+') {
            return Early::Unknown;
        }
        match self.early_inline(start) {
            Ok(m) => Early::Inline(m),
            Err(Stop::More) => Early::More,
            Err(Stop::No) => Early::Unknown,
        }
    }

    fn counted(&self, head: &[u8]) -> Counted {
        if head.first() != Some(&b'+') {
            return Counted::None;
        }
        let Ok((len, after, mode)) = self.counted_head::<false>(head) else {
            return Counted::None;
        };
        match head.get(after) {
            // The header ends just after this comma.
            Some(b',') => (after + 1)
                .checked_add(len)
                .map_or(Counted::None, Counted::Inline),
            None if mode == LenMode::Split => Counted::Following(len),
            _ => Counted::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    proptest! {
        /// The windowed topic check answers exactly what `from_utf8` of the topic answers, at any
        /// address alignment, whatever the bytes around the topic are (multi-byte characters
        /// across the window's ends, invalid UTF-8 after the topic, a window past the end).
        #[test]
        fn topic_str_is_from_utf8_of_the_topic(
            bytes in prop::collection::vec(
                prop_oneof![
                    4 => 0x20u8..0x7f,
                    1 => Just(b'"'),
                    1 => 0x80u8..=0xff,
                    1 => prop::sample::select(vec![0xc3u8, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f]),
                ],
                0..80,
            ),
            pad in 0usize..16,
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let mut buf = vec![0u8; pad];
            buf.extend_from_slice(&bytes);
            let line = &buf[pad..];
            let (from, to) = if line.is_empty() {
                (0, 0)
            } else {
                let (x, y) = (a.index(line.len() + 1), b.index(line.len() + 1));
                (x.min(y), x.max(y))
            };
            prop_assert_eq!(topic_str(line, from, to), core::str::from_utf8(&line[from..to]).ok());
        }
    }

    proptest! {
        /// Hex encoding is upper case, two digits a byte, and decoding gives the bytes back; the
        /// allocating and the buffer forms agree.
        #[test]
        fn hex_round_trips(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let hex = encode_hex(&data);
            prop_assert_eq!(hex.len(), 2 * data.len());
            prop_assert!(hex.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
            prop_assert_eq!(decode_hex(&hex), Ok(data.clone()));
            let mut buf = [0u8; 128];
            let n = encode_hex_into(&data, &mut buf);
            prop_assert_eq!(n, Ok(hex.len()));
            prop_assert_eq!(&buf[..hex.len()], &hex[..]);
        }
    }

    /// The one header parser read as a whole head (`counted`) and as the start of a stream
    /// (`early`): they differ only where the input ends.
    #[test]
    fn whole_heads_and_stream_starts() {
        let idx = |n| ClientIdx::new(n).unwrap_or_else(|e| panic!("{e}"));
        let hook = RecvHook::all(LenMode::Split).with(idx(1), LenMode::Off);
        // The length may still grow in a stream; in a whole head it ends the header.
        let head = b"+QMTRECV: 0,0,\"t\",23";
        assert_eq!(hook.counted(head), Counted::Following(23));
        assert_eq!(hook.early(head), Early::More);
        // With the comma after it, both count the header and 23 bytes.
        let head = b"+QMTRECV:  0, 7,\"a/b\",23,";
        assert_eq!(hook.counted(head), Counted::Inline(head.len() + 23));
        assert_eq!(hook.early(head), Early::Inline(head.len() + 23));
        assert_eq!(
            hook.early(b"+qmtrecv: 0,7,\"a/b\",23,x"),
            Early::Inline(23 + 23)
        );
        // A cut prefix, number or space run: more may come, or it is not a header at all.
        for start in [
            &b"+QMTRE"[..],
            b"+QMTRECV: ",
            b"+QMTRECV: 0",
            b"+QMTRECV: 0,1,\"t",
        ] {
            assert_eq!(hook.early(start), Early::More, "{}", start.escape_ascii());
            assert_eq!(
                hook.counted(start),
                Counted::None,
                "{}",
                start.escape_ascii()
            );
        }
        // Refused early: a client whose lines carry no length (as soon as its index has ended),
        // a CR in the topic (the line may end there), a leading zero, a length over the bound.
        for start in [
            &b"+QMTRECV: 1,"[..],
            b"+QMTRECV: 6,",
            b"+QMTRECV: 0,1,\"t\r",
            b"+QMTRECV: 0,1,\"t\",023,",
            b"+QMTRECV: 0,1,\"t\",65537,",
            b"+QMTSTAT: 0,1",
        ] {
            assert_eq!(
                hook.early(start),
                Early::Unknown,
                "{}",
                start.escape_ascii()
            );
        }
        // A whole line's topic may hold a CR: the parser of whole lines reads it.
        let r = Recv::parse(b"+QMTRECV: 0,1,\"t\r\",2,ab").unwrap_or_else(|| panic!("parses"));
        assert_eq!(
            (r.topic, r.payload, r.payload_len),
            ("t\r", &b"ab"[..], Some(2))
        );
    }

    #[test]
    fn hex_encoding_of_known_bytes() {
        assert_eq!(encode_hex(b""), b"");
        assert_eq!(encode_hex(b"\x00\x09\x0a\xff Az"), b"00090AFF20417A");
        let mut small = [b'-'; 5];
        assert_eq!(
            encode_hex_into(b"abc", &mut small),
            Err(HexError::BufferTooSmall { needed: 6 })
        );
        assert_eq!(small, [b'-'; 5], "nothing written when it does not fit");
        let mut exact = [0u8; 6];
        assert_eq!(encode_hex_into(b"abc", &mut exact), Ok(6));
        assert_eq!(&exact, b"616263");
    }

    #[test]
    fn topic_str_edges() {
        let line = b"+QMTRECV: 0,1,\"t\xc3\xa9\",3,\xff\xfe\xfd";
        assert_eq!(topic_str(line, 15, 18), Some("t\u{e9}"));
        assert_eq!(topic_str(line, 15, 17), None);
        assert_eq!(topic_str(line, 5, 3), None);
        assert_eq!(topic_str(line, 0, 99), None);
        assert_eq!(topic_str(b"", 0, 0), Some(""));
    }
}
