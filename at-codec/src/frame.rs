//! Module output → frames.
//!
//! A module sends `<CR><LF><line><CR><LF>` for every response line, the two bytes `> ` for a data
//! prompt (with no line end after them), and, inside some lines or after them, counted raw payloads
//! (spec §1, §6). [`Decoder`] turns bytes arriving in any chunking into [`Frame`]s, borrowing from a
//! fixed buffer of `N` bytes that it owns: it never allocates.
//!
//! # Framing rules
//! - A line ends at the first CR LF. Trailing CRs of the line are dropped too, because an echoed
//!   command ends in the host's own `\r` and is followed at once by the response's `\r\n`
//!   (`AT\r\r\nOK\r\n`). A bare LF or a bare CR inside a line is kept as data.
//! - CR and LF bytes between frames are skipped: blank lines carry nothing, and firmware differs in
//!   where it puts them (spec §6 variation 7). So a first line without a leading CR LF is still a line.
//! - `> ` at the start of a frame is a [`Frame::Prompt`], whatever follows it at once.
//! - A [`PayloadHook`] may say that a line carries N raw bytes (inline, or as a following data run);
//!   CR LF inside those bytes do not end the line.
//! - A hook that can tell a counted line from its header ([`PayloadHook::early`]) lets the decoder
//!   jump over the payload instead of searching it for CR LF. The frames are the same either way.
//!
//! # Overflow policy
//! A line (or counted data run) longer than the buffer cannot be delivered. The decoder then discards
//! that line's bytes only — counted payload bytes included, so a CR LF inside the payload does not
//! fake a line end — and, when the line ends at its CR LF, reports it once as
//! [`Frame::Overflow`] with its full length. Framing resumes right after it: frames before and after
//! an over-long line are never lost, and the buffer is never cleared wholesale.

use crate::hook::{Counted, Early, NoHook, PayloadHook};

/// One unit of module output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A line, without its CR LF (and without trailing CRs). May hold CR LF when a [`PayloadHook`]
    /// said the line carries a counted payload.
    Line(&'a [u8]),
    /// The data prompt `> ` (spec §1): the module waits for the host's raw bytes.
    Prompt,
    /// A raw data run announced by [`Counted::Following`].
    Data(&'a [u8]),
    /// A line or data run longer than the decoder's buffer was discarded (see the module docs).
    Overflow {
        /// The discarded line's length in bytes, without its CR LF.
        len: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between frames.
    Idle,
    /// Inside a line starting at `start`. `min` is the counted body length the hook announced
    /// (0 for an ordinary line); `asked` says what the hook has answered so far.
    Line { min: usize, asked: Asked },
    /// Discarding an over-long line: `len` bytes discarded so far, `skip` counted payload bytes still
    /// to pass before a CR LF can end it, `cr` whether the last discarded byte was a CR.
    Discard { len: usize, skip: usize, cr: bool },
    /// Waiting for a data run of this many bytes.
    Data(usize),
    /// Discarding a data run longer than the buffer: `len` in all, `left` still to pass.
    DiscardData { len: usize, left: usize },
}

/// What the hook has said about the line in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// Nothing yet: [`PayloadHook::early`] may still answer.
    NotYet,
    /// `early` had no answer: [`PayloadHook::counted`] decides at the line end.
    AtEnd,
    /// `early` answered `Inline(min)` (undone by [`Decoder::hook_mut`], which may change the
    /// answer: without `early` the hook would be asked only at the line end).
    Early,
    /// `counted` answered `Inline(min)` at a CR LF before the counted offset.
    Counted,
}

impl Asked {
    /// Whether the hook's answer for the line is known (`min` is final).
    fn answered(self) -> bool {
        matches!(self, Asked::Early | Asked::Counted)
    }
}

/// Frames module output held in a fixed buffer of `N` bytes.
///
/// Feed bytes with [`feed`](Self::feed) and drain frames with [`next_frame`](Self::next_frame) until it
/// returns `None`; or let [`decode`](Self::decode) run that loop. Each frame borrows the decoder's
/// buffer, so it lives until the next call. `N` bounds the longest line that can be delivered
/// (at least 16).
///
/// ```
/// use at_codec::{Decoder, Frame};
///
/// let mut dec = Decoder::<256>::new();
/// let mut frames = Vec::new();
/// dec.decode(b"\r\nOK\r\n\r\n> ", |f| frames.push(format!("{f:?}")));
/// assert_eq!(frames, ["Line([79, 75])", "Prompt"]);
/// ```
#[derive(Clone, Debug)]
pub struct Decoder<const N: usize, H = NoHook> {
    buf: [u8; N],
    /// First byte not yet consumed.
    start: usize,
    /// One past the last valid byte.
    end: usize,
    /// Where the search for LF resumes (absolute index, ≥ `start`).
    scan: usize,
    state: State,
    hook: H,
}

impl<const N: usize> Decoder<N, NoHook> {
    /// A decoder without a payload hook: every line ends at its first CR LF.
    pub fn new() -> Self {
        Self::with_hook(NoHook)
    }
}

impl<const N: usize> Default for Decoder<N, NoHook> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, H: PayloadHook> Decoder<N, H> {
    const CAPACITY_OK: () = assert!(N >= 16, "at-codec: a Decoder needs at least 16 bytes");

    /// A decoder that asks `hook` about every line head.
    pub fn with_hook(hook: H) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_OK;
        Decoder {
            buf: [0; N],
            start: 0,
            end: 0,
            scan: 0,
            state: State::Idle,
            hook,
        }
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The hook, to change its configuration (for example when the driver enables
    /// `msg_len_enable`). Takes effect from the next line.
    pub fn hook_mut(&mut self) -> &mut H {
        self.forget_early();
        &mut self.hook
    }

    /// Puts the line in progress in the state it would have without an early answer: a change
    /// of the hook, or the end of the input, must see what the framer saw without it.
    fn forget_early(&mut self) {
        if let State::Line {
            min,
            asked: Asked::Early,
        } = self.state
        {
            // Without the early answer, the hook was asked at the first CR LF searched so far (up
            // to `scan`); otherwise it is still to be asked.
            let asked_before = self.find_crlf(self.start).is_some_and(|lf| lf < self.scan);
            self.state = if asked_before {
                State::Line {
                    min,
                    asked: Asked::Counted,
                }
            } else {
                self.scan = self.start;
                State::Line {
                    min: 0,
                    asked: Asked::NotYet,
                }
            };
        }
    }

    /// `Some(n)` right after a line whose hook answer was [`Counted::Following`]`(n)`: the next
    /// frame is that data run (or, at the end of the input, what arrived of it). Lets a caller
    /// hold the header line back until its data, without asking the hook again.
    pub fn awaiting_data(&self) -> Option<usize> {
        match self.state {
            State::Data(n) => Some(n),
            State::DiscardData { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Bytes buffered and not yet delivered as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Forgets everything buffered and any line in progress (for example after the port was
    /// reopened). Frames already delivered are unaffected.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.scan = 0;
        self.state = State::Idle;
    }

    /// Copies as much of `data` as fits into the buffer and returns how many bytes were taken.
    ///
    /// It takes 0 bytes only when the buffer is full; draining [`next_frame`](Self::next_frame)
    /// until `None` always makes room again.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scan = 0;
        } else if self.start > 0 && N - self.end < data.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            // `scan` only matters inside a line, where it is ≥ `start`.
            self.scan = self.scan.saturating_sub(self.start);
            self.start = 0;
        }
        let n = data.len().min(N - self.end);
        self.buf[self.end..self.end + n].copy_from_slice(&data[..n]);
        self.end += n;
        n
    }

    /// Feeds all of `data`, calling `on_frame` for every frame that completes.
    pub fn decode(&mut self, mut data: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        loop {
            let n = self.feed(data);
            data = &data[n..];
            while let Some(frame) = self.next_frame() {
                on_frame(frame);
            }
            if data.is_empty() {
                return;
            }
        }
    }

    /// At the end of the input (a capture file's end, a closed port): delivers what is left as a
    /// frame — an unterminated line, a lone `>`, a short data run, or the overflow in progress.
    /// Returns `None` when nothing was pending. The decoder is empty afterwards.
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        self.forget_early();
        let (start, end, state) = (self.start, self.end, self.state);
        self.reset();
        let rest = &self.buf[start..end];
        match state {
            State::Idle => {
                let skip = rest
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
                let line = trim_cr(&rest[skip..], 0);
                (!line.is_empty()).then_some(Frame::Line(line))
            }
            State::Line { min, .. } => Some(Frame::Line(trim_cr(rest, min))),
            State::Data(_) => Some(Frame::Data(rest)),
            State::Discard { len, .. } => Some(Frame::Overflow {
                len: len + rest.len(),
            }),
            State::DiscardData { len, .. } => Some(Frame::Overflow { len }),
        }
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            match self.state {
                State::Idle => {
                    while self.start < self.end && matches!(self.buf[self.start], b'\r' | b'\n') {
                        self.start += 1;
                    }
                    if self.start == self.end {
                        return None;
                    }
                    if self.buf[self.start] == b'>' {
                        if self.start + 1 == self.end {
                            // `>` alone: the space may be in the next read.
                            return None;
                        }
                        if self.buf[self.start + 1] == b' ' {
                            self.start += 2;
                            return Some(Frame::Prompt);
                        }
                    }
                    self.scan = self.start;
                    self.state = State::Line {
                        min: 0,
                        asked: Asked::NotYet,
                    };
                }
                State::Line { mut min, mut asked } => {
                    if asked == Asked::NotYet {
                        // A counted head known early: its payload is jumped over, not searched
                        // for CR LF.
                        match self.hook.early(&self.buf[self.start..self.end]) {
                            Early::Inline(m) if m.saturating_add(2) <= N => {
                                (min, asked) = (m, Asked::Early)
                            }
                            Early::More => {}
                            // Too long to deliver: the line-end path below decides how to discard
                            // it, as it would without the early answer.
                            Early::Inline(_) | Early::Unknown => asked = Asked::AtEnd,
                        }
                        self.state = State::Line { min, asked };
                    }
                    let hooked = asked.answered();
                    // The LF of a line end can be no earlier than one past the counted body.
                    let from = self
                        .scan
                        .max(self.start.saturating_add(min).saturating_add(1));
                    match self.find_crlf(from) {
                        Some(lf) => {
                            let body_end = lf - 1;
                            if !hooked {
                                let head = &self.buf[self.start..body_end];
                                match self.hook.counted(head) {
                                    Counted::None => {}
                                    Counted::Inline(m) if m <= head.len() => {
                                        self.state = State::Idle;
                                        return Some(self.take_line(body_end, m));
                                    }
                                    Counted::Inline(m) => {
                                        self.state = State::Line {
                                            min: m,
                                            asked: Asked::Counted,
                                        };
                                        if m.saturating_add(2) > N {
                                            self.begin_discard();
                                        }
                                        continue;
                                    }
                                    Counted::Following(n) => {
                                        self.state = State::Data(n);
                                        return Some(self.take_line(body_end, 0));
                                    }
                                }
                            }
                            self.state = State::Idle;
                            return Some(self.take_line(body_end, min));
                        }
                        None => {
                            // After an early answer, `scan` keeps meaning "searched up to here" for
                            // `hook_mut` (the search itself resumes past the counted body anyway).
                            self.scan = if asked == Asked::Early {
                                self.end
                            } else {
                                self.end.max(from)
                            };
                            if self.end - self.start < N {
                                return None;
                            }
                            // The line fills the whole buffer. A counted line may say so already
                            // from its head, so that its payload is skipped, not searched.
                            if !hooked {
                                if let Counted::Inline(m) =
                                    self.hook.counted(&self.buf[self.start..self.end])
                                {
                                    self.state = State::Line {
                                        min: m,
                                        asked: Asked::Counted,
                                    };
                                }
                            }
                            self.begin_discard();
                        }
                    }
                }
                State::Discard { len, skip, cr } => {
                    let avail = self.end - self.start;
                    if avail == 0 {
                        return None;
                    }
                    if skip > 0 {
                        // Counted payload bytes: a CR LF among them is data, not the line end.
                        let passed = skip.min(avail);
                        self.start += passed;
                        self.state = State::Discard {
                            len: len + passed,
                            skip: skip - passed,
                            cr: false,
                        };
                        continue;
                    }
                    // A CR at the very end of the previous read, and its LF first in this one.
                    if cr && self.buf[self.start] == b'\n' {
                        self.start += 1;
                        self.state = State::Idle;
                        return Some(Frame::Overflow { len: len - 1 });
                    }
                    match self.find_crlf(self.start + 1) {
                        Some(lf) => {
                            let discarded = len + (lf - 1 - self.start);
                            self.start = lf + 1;
                            self.state = State::Idle;
                            return Some(Frame::Overflow { len: discarded });
                        }
                        None => {
                            let cr = self.buf[self.end - 1] == b'\r';
                            self.state = State::Discard {
                                len: len + avail,
                                skip: 0,
                                cr,
                            };
                            self.start = self.end;
                            return None;
                        }
                    }
                }
                State::Data(n) => {
                    if n > N {
                        self.state = State::DiscardData { len: n, left: n };
                        continue;
                    }
                    if self.end - self.start < n {
                        return None;
                    }
                    let at = self.start;
                    self.start += n;
                    self.state = State::Idle;
                    return Some(Frame::Data(&self.buf[at..at + n]));
                }
                State::DiscardData { len, left } => {
                    let take = left.min(self.end - self.start);
                    self.start += take;
                    if take == left {
                        self.state = State::Idle;
                        return Some(Frame::Overflow { len });
                    }
                    self.state = State::DiscardData {
                        len,
                        left: left - take,
                    };
                    return None;
                }
            }
        }
    }

    /// Absolute index of the first LF at or after `from` whose previous byte (inside the current
    /// line) is a CR.
    fn find_crlf(&self, from: usize) -> Option<usize> {
        let mut at = from;
        while at < self.end {
            let lf = at + memchr::memchr(b'\n', &self.buf[at..self.end])?;
            if lf > self.start && self.buf[lf - 1] == b'\r' {
                return Some(lf);
            }
            at = lf + 1;
        }
        None
    }

    /// Delivers `start..body_end` as a line and moves past its CR LF.
    fn take_line(&mut self, body_end: usize, min: usize) -> Frame<'_> {
        let at = self.start;
        self.start = body_end + 2;
        Frame::Line(trim_cr(&self.buf[at..body_end], min))
    }

    /// Switches the line in progress to discarding: it fills the buffer, or its counted body is
    /// known to be longer than the buffer.
    fn begin_discard(&mut self) {
        let min = match self.state {
            State::Line { min, .. } => min,
            _ => 0,
        };
        let buffered = self.end - self.start;
        // Everything buffered was searched for a line end past the counted part, and none was
        // found; only a CR as the very last byte may still begin one.
        let past_counted = buffered > min;
        let cr = past_counted && self.buf[self.end - 1] == b'\r';
        self.state = State::Discard {
            len: buffered,
            skip: min.saturating_sub(buffered),
            cr,
        };
        self.start = self.end;
    }
}

/// Drops trailing CRs of a line body, but never inside its counted part.
fn trim_cr(mut line: &[u8], min: usize) -> &[u8] {
    while line.len() > min {
        match line {
            [rest @ .., b'\r'] => line = rest,
            _ => break,
        }
    }
    line
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Owned copy of a frame, for comparisons.
    #[derive(Debug, PartialEq, Eq)]
    enum F {
        L(Vec<u8>),
        P,
        D(Vec<u8>),
        O(usize),
    }

    fn own(f: Frame<'_>) -> F {
        match f {
            Frame::Line(l) => F::L(l.to_vec()),
            Frame::Prompt => F::P,
            Frame::Data(d) => F::D(d.to_vec()),
            Frame::Overflow { len } => F::O(len),
        }
    }

    fn l(s: &[u8]) -> F {
        F::L(s.to_vec())
    }

    /// `#<n>,` announces n inline bytes; `$<n>` alone announces a following run of n bytes.
    struct TestHook;
    impl PayloadHook for TestHook {
        fn counted(&self, head: &[u8]) -> Counted {
            let (kind, rest) = match head.split_first() {
                Some((k @ (b'#' | b'$'), rest)) => (*k, rest),
                _ => return Counted::None,
            };
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let n: usize = core::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            match (kind, rest.get(digits)) {
                (b'#', Some(b',')) => Counted::Inline(1 + digits + 1 + n),
                (b'$', None) => Counted::Following(n),
                _ => Counted::None,
            }
        }
    }

    fn run<const N: usize>(chunks: &[&[u8]]) -> Vec<F> {
        let mut dec = Decoder::<N, TestHook>::with_hook(TestHook);
        let mut out = Vec::new();
        for c in chunks {
            dec.decode(c, |f| out.push(own(f)));
        }
        if let Some(f) = dec.finish() {
            out.push(own(f));
        }
        out
    }

    /// Frames of `input` fed whole, and fed one byte at a time, which must agree.
    fn frames<const N: usize>(input: &[u8]) -> Vec<F> {
        let whole = run::<N>(&[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(whole, run::<N>(&bytes), "byte-wise feeding differs");
        whole
    }

    #[test]
    fn lines_blank_lines_and_a_first_line_without_leading_crlf() {
        assert_eq!(
            frames::<64>(b"RDY\r\n\r\n\r\nOK\r\n\r\n+CPIN: READY\r\n"),
            [l(b"RDY"), l(b"OK"), l(b"+CPIN: READY")]
        );
    }

    #[test]
    fn echo_keeps_only_the_command_text() {
        assert_eq!(
            frames::<64>(b"AT+QMTOPEN?\r\r\n+QMTOPEN: 0,\"h\",1\r\n\r\nOK\r\n"),
            [l(b"AT+QMTOPEN?"), l(b"+QMTOPEN: 0,\"h\",1"), l(b"OK")]
        );
    }

    #[test]
    fn ok_and_prompt_in_one_read_and_prompt_followed_by_output() {
        assert_eq!(frames::<64>(b"\r\nOK\r\n\r\n> "), [l(b"OK"), F::P]);
        assert_eq!(
            frames::<64>(b"\r\n> hello\r\nOK\r\n"),
            [F::P, l(b"hello"), l(b"OK")]
        );
        assert_eq!(frames::<64>(b"\r\n> \r\n> "), [F::P, F::P]);
        // `>` not followed by a space is an ordinary line.
        assert_eq!(frames::<64>(b"\r\n>x\r\n"), [l(b">x")]);
    }

    #[test]
    fn bare_cr_and_bare_lf_inside_a_line_are_data() {
        assert_eq!(frames::<64>(b"\r\na\rb\nc\r\n"), [l(b"a\rb\nc")]);
    }

    #[test]
    fn counted_inline_payload_keeps_crlf_quotes_nul_and_prompt() {
        let payload = b"a\r\n\"x,\0> \r\n";
        let mut input = Vec::from(&b"\r\n#11,"[..]);
        input.extend_from_slice(payload);
        input.extend_from_slice(b"\r\n\r\nOK\r\n");
        let mut expect = Vec::from(&b"#11,"[..]);
        expect.extend_from_slice(payload);
        assert_eq!(frames::<64>(&input), [F::L(expect), l(b"OK")]);
    }

    #[test]
    fn counted_payload_ending_in_cr_is_not_trimmed() {
        assert_eq!(frames::<64>(b"#2,a\r\r\nOK\r\n"), [l(b"#2,a\r"), l(b"OK")]);
    }

    #[test]
    fn following_data_run() {
        assert_eq!(
            frames::<64>(b"\r\n$5\r\na\r\nb\"\r\nOK\r\n"),
            [l(b"$5"), F::D(b"a\r\nb\"".to_vec()), l(b"OK")]
        );
    }

    #[test]
    fn overflow_is_reported_once_and_loses_nothing_around_it() {
        let mut input = Vec::from(&b"\r\nBEFORE\r\n\r\n"[..]);
        input.extend(core::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\r\n\r\nAFTER\r\n");
        let want = [l(b"BEFORE"), F::O(100), l(b"AFTER")];
        assert_eq!(frames::<32>(&input), want);
        // A CR at the end of one read and its LF at the start of the next.
        let cut = input.iter().position(|&b| b == b'A').unwrap() - 3;
        assert_eq!(run::<32>(&[&input[..cut], &input[cut..]]), want);
    }

    #[test]
    fn overflow_of_a_counted_line_skips_its_payload_crlf() {
        let mut input = Vec::from(&b"#40,"[..]);
        input.extend(core::iter::repeat_n(b"ab\r\n", 10).flatten());
        input.extend_from_slice(b"\r\nOK\r\n");
        assert_eq!(frames::<16>(&input), [F::O(44), l(b"OK")]);
    }

    #[test]
    fn overlong_data_run_is_an_overflow() {
        let mut input = Vec::from(&b"$20\r\n"[..]);
        input.extend(core::iter::repeat_n(b'\n', 20));
        input.extend_from_slice(b"\r\nOK\r\n");
        assert_eq!(frames::<16>(&input), [l(b"$20"), F::O(20), l(b"OK")]);
    }

    #[test]
    fn awaiting_data_follows_the_hook_answer_not_the_trimmed_line() {
        let mut dec = Decoder::<64, TestHook>::with_hook(TestHook);
        dec.feed(b"$3\r\nabc\r\n$2\r\r\n> ");
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"$3")));
        assert_eq!(dec.awaiting_data(), Some(3));
        assert_eq!(dec.next_frame(), Some(Frame::Data(b"abc")));
        assert_eq!(dec.awaiting_data(), None);
        // `$2\r` is not a split head (the hook sees the CR), even though the delivered line is
        // trimmed to `$2`.
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"$2")));
        assert_eq!(dec.awaiting_data(), None);
        assert_eq!(dec.next_frame(), Some(Frame::Prompt));
    }

    /// [`TestHook`] with an early answer for `#<n>,`, switched on and off through `hook_mut`.
    struct Switch(bool);
    impl PayloadHook for Switch {
        fn counted(&self, head: &[u8]) -> Counted {
            if self.0 {
                TestHook.counted(head)
            } else {
                Counted::None
            }
        }
        fn early(&self, start: &[u8]) -> Early {
            match (self.0, start) {
                (false, _) => Early::Unknown,
                (true, [b'#', b'5', b',', ..]) => Early::Inline(8),
                (true, [b'#'] | [b'#', b'5']) => Early::More,
                (true, _) => Early::Unknown,
            }
        }
    }

    #[test]
    fn early_answers_jump_the_payload_and_yield_to_hook_mut() {
        let mut dec = Decoder::<64, Switch>::with_hook(Switch(true));
        dec.feed(b"\r\n#5,a\r\nbc\r\n\r\nOK\r\n");
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"#5,a\r\nbc")));
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"OK")));
        // The header is read, its line end not yet: a hook change still applies to the line, as
        // it would without the early answer.
        dec.feed(b"#5,ab");
        assert_eq!(dec.next_frame(), None);
        dec.hook_mut().0 = false;
        dec.feed(b"\r\ncde\r\n");
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"#5,ab")));
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"cde")));
        // An unterminated counted line is trimmed as if no answer had come.
        let mut dec = Decoder::<64, Switch>::with_hook(Switch(true));
        dec.feed(b"#5,a\r\r");
        assert_eq!(dec.next_frame(), None);
        assert_eq!(dec.finish(), Some(Frame::Line(b"#5,a")));
        // Unless a CR LF inside the counted body made the hook answer already.
        let mut dec = Decoder::<64, Switch>::with_hook(Switch(true));
        dec.feed(b"#5,a\r\n\r");
        assert_eq!(dec.next_frame(), None);
        assert_eq!(dec.finish(), Some(Frame::Line(b"#5,a\r\n\r")));
    }

    #[test]
    fn finish_delivers_what_is_pending() {
        assert_eq!(run::<64>(&[b"\r\nOK\r\n\r\nHALF"]), [l(b"OK"), l(b"HALF")]);
        assert_eq!(run::<64>(&[b"\r\n>"]), [l(b">")]);
        assert_eq!(run::<64>(&[b"$4\r\nab"]), [l(b"$4"), F::D(b"ab".to_vec())]);
        assert_eq!(run::<64>(&[b"\r\n\r\n"]), []);
    }

    #[test]
    fn feed_takes_nothing_only_when_full_and_draining_makes_room() {
        let mut dec = Decoder::<16>::new();
        assert_eq!(dec.feed(&[b'a'; 20]), 16);
        assert_eq!(dec.feed(b"b"), 0);
        assert_eq!(dec.next_frame(), None);
        assert_eq!(dec.feed(b"\r\nOK\r\n"), 6);
        assert_eq!(dec.next_frame(), Some(Frame::Overflow { len: 16 }));
        assert_eq!(dec.next_frame(), Some(Frame::Line(b"OK")));
    }
}
