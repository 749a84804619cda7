//! Shared by the framing tests of at-codec and qmt-proto (`#[path]`-included there): frames as
//! owned values to compare, and input cut into chunks.
#![allow(dead_code)]

use at_codec::Frame;

/// A [`Frame`] that owns its bytes, to collect and compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Line(Vec<u8>),
    Prompt,
    Data(Vec<u8>),
    Overflow(usize),
}

impl From<Frame<'_>> for Owned {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Line(l) => Owned::Line(l.to_vec()),
            Frame::Prompt => Owned::Prompt,
            Frame::Data(d) => Owned::Data(d.to_vec()),
            Frame::Overflow { len } => Owned::Overflow(len),
        }
    }
}

/// Splits `bytes` at the given cut points (taken modulo the length).
pub fn chunk<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for p in points {
        out.push(&bytes[at..p]);
        at = p;
    }
    out.push(&bytes[at..]);
    out
}
