//! Module lines that carry what the host sent are made to carry the host's values, so that a host
//! whose client index, packet ids or file differ from the log's still recognises its answers:
//!
//! - `+QMT…: <idx>,…` of a log client the host addresses by another index (an `AT+QMTOPEN=1,…`
//!   answered by the log's `AT+QMTOPEN=0,…`) names the host's index;
//! - the two-phase result of a SUB, UNS or PUBEX (`+QMTSUB: <idx>,<msgid>,…`) names the host's
//!   `msgid`;
//! - `+QFUPL: <size>,<checksum>` after an upload whose data differs from the log's is the size and
//!   checksum (spec §7) of the host's data.
//!
//! Lines are recognised where a chunk starts or after an LF inside it (a line split across two
//! chunks is left as it is).

use qmt_proto::checksum::qfupl_checksum;

/// The log's ids of one command and the host's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ids {
    pub(super) prefixes: &'static [&'static [u8]],
    pub(super) log_idx: u8,
    pub(super) log_msgid: u16,
    pub(super) host_msgid: u16,
}

/// What to rewrite in the chunks of one use of an exchange.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rewrite {
    /// The host's client index for each of the log's.
    pub(super) clients: [u8; 6],
    pub(super) ids: Option<Ids>,
    /// The host's upload: its size and checksum.
    pub(super) upload: Option<(usize, u16)>,
}

impl Rewrite {
    /// Only the client indices.
    pub(super) fn clients(clients: [u8; 6]) -> Rewrite {
        Rewrite {
            clients,
            ids: None,
            upload: None,
        }
    }

    /// The upload's answer will be the host's `data`'s.
    pub(super) fn upload(&mut self, data: &[u8]) {
        self.upload = Some((data.len(), qfupl_checksum(data)));
    }

    /// The chunk with the host's values.
    pub(super) fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 4);
        let mut pos = 0;
        let mut line_start = true;
        while pos < bytes.len() {
            if line_start {
                line_start = false;
                if let Some((used, head)) = self.head(&bytes[pos..]) {
                    out.extend_from_slice(&head);
                    pos += used;
                    continue;
                }
            }
            let b = bytes[pos];
            out.push(b);
            pos += 1;
            line_start = b == b'\n';
        }
        out
    }

    /// The rewritten head of a line, and how many bytes of `line` it replaces.
    fn head(&self, line: &[u8]) -> Option<(usize, Vec<u8>)> {
        if let (Some((size, sum)), Some(rest)) = (self.upload, line.strip_prefix(b"+QFUPL: ")) {
            let n1 = run(rest, u8::is_ascii_digit);
            let n2 = run(rest.get(n1 + 1..)?, u8::is_ascii_hexdigit);
            if n1 == 0 || rest.get(n1) != Some(&b',') || n2 == 0 {
                return None;
            }
            let head = format!("+QFUPL: {size},{sum:04x}").into_bytes();
            return Some((8 + n1 + 1 + n2, head));
        }
        if !line.starts_with(b"+QMT") {
            return None;
        }
        let colon = line.iter().take(16).position(|&b| b == b':')?;
        if line.get(colon + 1) != Some(&b' ') {
            return None;
        }
        let prefix = &line[..colon + 2];
        let fields = &line[colon + 2..];
        let idx = match fields {
            [d @ b'0'..=b'5', b',', ..] => d - b'0',
            _ => return None,
        };
        let mut head = prefix.to_vec();
        head.push(b'0' + self.clients[usize::from(idx)]);
        let mut used = prefix.len() + 1;
        if let Some(ids) = self.ids {
            let msgid = &fields[2..];
            let n = run(msgid, u8::is_ascii_digit);
            let is_result = ids.prefixes.iter().any(|p| line.starts_with(p));
            if is_result
                && idx == ids.log_idx
                && n > 0
                && msgid.get(n) == Some(&b',')
                && parse_u16(&msgid[..n]) == Some(ids.log_msgid)
            {
                head.push(b',');
                head.extend_from_slice(ids.host_msgid.to_string().as_bytes());
                used += 1 + n;
            }
        }
        (head != line[..used]).then_some((used, head))
    }
}

/// How many leading bytes satisfy `pred`.
fn run(bytes: &[u8], pred: fn(&u8) -> bool) -> usize {
    bytes.iter().take_while(|b| pred(b)).count()
}

fn parse_u16(digits: &[u8]) -> Option<u16> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: [u8; 6] = [0, 1, 2, 3, 4, 5];

    #[test]
    fn client_index_and_msgid_of_the_result_line() {
        let mut clients = IDENTITY;
        clients[0] = 2;
        let r = Rewrite {
            clients,
            ids: Some(Ids {
                prefixes: &[b"+QMTSUB: "],
                log_idx: 0,
                log_msgid: 1,
                host_msgid: 513,
            }),
            upload: None,
        };
        assert_eq!(
            r.apply(b"\r\nOK\r\n\r\n+QMTSUB: 0,1,0,2\r\n+QMTRECV: 0,7,\"t\",1,x\r\n"),
            b"\r\nOK\r\n\r\n+QMTSUB: 2,513,0,2\r\n+QMTRECV: 2,7,\"t\",1,x\r\n"
        );
        // Another command's result with the same numbers keeps its msgid; test answers and
        // quoted fields are not client indices.
        assert_eq!(
            r.apply(b"+QMTUNS: 0,1,0\r\n+QMTOPEN: (0-5),\"hostname\"\r\n+QMTCFG: \"ssl\",0\r\n"),
            b"+QMTUNS: 2,1,0\r\n+QMTOPEN: (0-5),\"hostname\"\r\n+QMTCFG: \"ssl\",0\r\n"
        );
    }

    #[test]
    fn upload_answer_is_the_hosts() {
        let mut r = Rewrite::clients(IDENTITY);
        r.upload(b"abcd");
        let sum = qfupl_checksum(b"abcd");
        assert_eq!(
            r.apply(b"\r\n+QFUPL: 1758,384a\r\n\r\nOK\r\n"),
            format!("\r\n+QFUPL: 4,{sum:04x}\r\n\r\nOK\r\n").into_bytes()
        );
    }

    #[test]
    fn identity_leaves_bytes_alone() {
        let r = Rewrite::clients(IDENTITY);
        let bytes = b"\r\n+QMTSTAT: 0,1\r\n+QMT\r\n+QMTX: 9,1\r\n";
        assert_eq!(r.apply(bytes), bytes);
    }
}
