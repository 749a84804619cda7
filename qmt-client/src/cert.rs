//! The validity start (`notBefore`) of an X.509 certificate, for the clock check before a TLS
//! open (spec §10.9: a module whose clock is earlier than the CA certificate's validity fails
//! every handshake unless `ignorelocaltime` is on).
//!
//! A small DER walk, no crypto and no dependency: `Certificate ::= SEQUENCE { tbsCertificate
//! SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE,
//! validity SEQUENCE { notBefore Time, … } … } … }` (RFC 5280 §4.1), where `Time` is a UTCTime
//! `YYMMDDHHMMSSZ` or a GeneralizedTime `YYYYMMDDHHMMSSZ`. PEM input is decoded first (every
//! `CERTIFICATE` block of a bundle; the earliest `notBefore` counts, since any of them may be
//! the one that anchors the server's chain). Nothing here panics on any input: every length is
//! checked against what is left.

use alloc::vec::Vec;

use qmt_proto::ModuleTime;

/// Why a certificate's `notBefore` could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// PEM text without a `-----BEGIN CERTIFICATE-----` … `-----END CERTIFICATE-----` block.
    #[error("no PEM CERTIFICATE block")]
    NoCertificate,
    /// The base64 body of a PEM block is invalid at this byte offset of the body.
    #[error("invalid base64 in the PEM body at byte {at}")]
    Base64 {
        /// The offset in the body.
        at: usize,
    },
    /// The DER structure ends before a length says it should.
    #[error("the certificate is truncated")]
    Truncated,
    /// A DER element is not what an X.509 certificate has there (the element's name).
    #[error("not an X.509 certificate: unexpected {0}")]
    Unexpected(&'static str),
    /// `notBefore` is not a valid UTCTime or GeneralizedTime.
    #[error("the certificate's notBefore is not a valid time")]
    BadTime,
}

/// The earliest `notBefore` of the certificates in `cert` (PEM, or one DER certificate), as a
/// UTC time with a four-digit year.
pub fn not_before(cert: &[u8]) -> Result<ModuleTime, CertError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    if cert.first() == Some(&0x30) {
        return der_not_before(cert);
    }
    let mut rest = cert;
    let mut earliest: Option<ModuleTime> = None;
    while let Some(start) = find(rest, BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = find(body, END).ok_or(CertError::NoCertificate)?;
        let der = base64_decode(&body[..end])?;
        let t = der_not_before(&der)?;
        if earliest.is_none_or(|e| t.unix_utc() < e.unix_utc()) {
            earliest = Some(t);
        }
        rest = &body[end + END.len()..];
    }
    earliest.ok_or(CertError::NoCertificate)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 (RFC 4648 §4) with white space ignored and `=` padding only at the end.
pub(crate) fn base64_decode(text: &[u8]) -> Result<Vec<u8>, CertError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for (at, &c) in text.iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => {
                padding += 1;
                if padding > 2 {
                    return Err(CertError::Base64 { at });
                }
                continue;
            }
            _ => return Err(CertError::Base64 { at }),
        };
        if padding > 0 {
            // Data after the padding.
            return Err(CertError::Base64 { at });
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 6 leftover bits cannot end a quantum (one character alone).
    if bits >= 6 {
        return Err(CertError::Base64 { at: text.len() });
    }
    Ok(out)
}

/// One DER element: its tag and contents; advances `input` past it.
fn element<'a>(input: &mut &'a [u8]) -> Result<(u8, &'a [u8]), CertError> {
    let (&tag, rest) = input.split_first().ok_or(CertError::Truncated)?;
    if tag & 0x1f == 0x1f {
        // High tag numbers do not occur in the elements walked here.
        return Err(CertError::Unexpected("high tag number"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(CertError::Truncated)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        // 0x80 is the indefinite form (not DER); more than 4 length bytes is not a certificate.
        if n == 0 || n > 4 {
            return Err(CertError::Unexpected("length form"));
        }
        let (bytes, after) = rest.split_at_checked(n).ok_or(CertError::Truncated)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (content, after) = rest.split_at_checked(len).ok_or(CertError::Truncated)?;
    *input = after;
    Ok((tag, content))
}

fn expect<'a>(input: &mut &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], CertError> {
    let (t, content) = element(input)?;
    if t == tag {
        Ok(content)
    } else {
        Err(CertError::Unexpected(what))
    }
}

/// `notBefore` of one DER certificate.
fn der_not_before(der: &[u8]) -> Result<ModuleTime, CertError> {
    const SEQUENCE: u8 = 0x30;
    let mut i = der;
    let mut cert = expect(&mut i, SEQUENCE, "Certificate")?;
    let mut tbs = expect(&mut cert, SEQUENCE, "tbsCertificate")?;
    if tbs.first() == Some(&0xa0) {
        element(&mut tbs)?; // [0] EXPLICIT version
    }
    expect(&mut tbs, 0x02, "serialNumber")?;
    expect(&mut tbs, SEQUENCE, "signature")?;
    expect(&mut tbs, SEQUENCE, "issuer")?;
    let mut validity = expect(&mut tbs, SEQUENCE, "validity")?;
    match element(&mut validity)? {
        (0x17, t) => parse_time(t, false),
        (0x18, t) => parse_time(t, true),
        _ => Err(CertError::Unexpected("notBefore")),
    }
}

/// UTCTime `YYMMDDHHMMSSZ` (years 50–99 are 1950–1999, RFC 5280 §4.1.2.5.1) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`, as a UTC [`ModuleTime`].
fn parse_time(t: &[u8], generalized: bool) -> Result<ModuleTime, CertError> {
    let year_len = if generalized { 4 } else { 2 };
    if t.len() != year_len + 11 || t.last() != Some(&b'Z') {
        return Err(CertError::BadTime);
    }
    let mut fields = [0u16; 6];
    let mut at = 0;
    for (k, f) in fields.iter_mut().enumerate() {
        let n = if k == 0 { year_len } else { 2 };
        for &b in t.get(at..at + n).ok_or(CertError::BadTime)? {
            if !b.is_ascii_digit() {
                return Err(CertError::BadTime);
            }
            *f = *f * 10 + u16::from(b - b'0');
        }
        at += n;
    }
    let [mut year, month, day, hour, minute, second] = fields;
    if !generalized {
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let small = |v: u16, lo: u16, hi: u16| {
        if (lo..=hi).contains(&v) {
            u8::try_from(v).map_err(|_| CertError::BadTime)
        } else {
            Err(CertError::BadTime)
        }
    };
    Ok(ModuleTime {
        year,
        month: small(month, 1, 12)?,
        day: small(day, 1, 31)?,
        hour: small(hour, 0, 23)?,
        minute: small(minute, 0, 59)?,
        // 60: a leap second, allowed by X.680.
        second: small(second, 0, 60)?,
        zone_quarters: 0,
        long_year: true,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::string::String;

    fn rcgen_ca(year: i32, month: u8, day: u8) -> (Vec<u8>, Vec<u8>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(year, month, day);
        params.not_after = rcgen::date_time_ymd(2060, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem().into_bytes(), cert.der().to_vec())
    }

    #[test]
    fn reads_not_before_of_an_rcgen_certificate_in_pem_and_der() {
        let (pem, der) = rcgen_ca(2024, 3, 15);
        let want = ModuleTime::parse(b"2024/03/15,00:00:00+00").unwrap();
        assert_eq!(not_before(&pem).unwrap(), want);
        assert_eq!(not_before(&der).unwrap(), want);
        // A GeneralizedTime (years from 2050 on, RFC 5280).
        let (pem, _) = rcgen_ca(2051, 7, 1);
        assert_eq!(not_before(&pem).unwrap().year, 2051);
        // UTCTime of the last century.
        let (pem, _) = rcgen_ca(1999, 12, 31);
        assert_eq!(
            not_before(&pem).unwrap(),
            ModuleTime::parse(b"1999/12/31,00:00:00+00").unwrap()
        );
    }

    #[test]
    fn a_bundle_gives_its_earliest_not_before() {
        let (late, _) = rcgen_ca(2030, 1, 1);
        let (early, _) = rcgen_ca(2021, 6, 1);
        let mut bundle = late.clone();
        bundle.extend_from_slice(b"\r\n");
        bundle.extend_from_slice(&early);
        assert_eq!(not_before(&bundle).unwrap().year, 2021);
    }

    #[test]
    fn truncated_and_garbage_input_are_typed_errors() {
        let (pem, der) = rcgen_ca(2024, 3, 15);
        // Every prefix of the DER fails without a panic (most of them as truncated).
        for n in 0..der.len() {
            let r = der_not_before(&der[..n]);
            assert!(r.is_err(), "prefix {n}");
        }
        assert_eq!(der_not_before(&der[..40]), Err(CertError::Truncated));
        assert_eq!(not_before(b""), Err(CertError::NoCertificate));
        assert_eq!(not_before(b"hello"), Err(CertError::NoCertificate));
        assert_eq!(
            not_before(b"-----BEGIN CERTIFICATE-----\nMIIB"),
            Err(CertError::NoCertificate)
        );
        assert_eq!(
            not_before(b"-----BEGIN CERTIFICATE-----\nab!c\n-----END CERTIFICATE-----"),
            Err(CertError::Base64 { at: 3 })
        );
        assert_eq!(
            not_before(b"-----BEGIN CERTIFICATE-----\nAgEA\n-----END CERTIFICATE-----"),
            Err(CertError::Unexpected("Certificate"))
        );
        // Indefinite length, over-long length forms.
        assert_eq!(
            der_not_before(&[0x30, 0x80, 0, 0]),
            Err(CertError::Unexpected("length form"))
        );
        assert_eq!(
            der_not_before(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(CertError::Unexpected("length form"))
        );
        assert_eq!(
            der_not_before(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(CertError::Truncated)
        );
        // Every single-byte corruption of the PEM is an error or a time, never a panic.
        for at in 0..pem.len() {
            let mut bad = pem.clone();
            bad[at] ^= 0x55;
            let _ = not_before(&bad);
        }
        for at in 0..der.len() {
            let mut bad = der.clone();
            bad[at] ^= 0xff;
            let _ = not_before(&bad);
        }
    }

    #[test]
    fn times_are_checked() {
        assert_eq!(
            parse_time(b"240315101112Z", false).unwrap(),
            ModuleTime::parse(b"2024/03/15,10:11:12+00").unwrap()
        );
        assert_eq!(parse_time(b"500101000000Z", false).unwrap().year, 1950);
        assert_eq!(parse_time(b"20240315101112Z", true).unwrap().year, 2024);
        for bad in [
            &b"241315101112Z"[..],
            b"240300101112Z",
            b"240315241112Z",
            b"240315106012Z",
            b"240315101161Z",
            b"240315101112",
            b"24031510111Z",
            b"2403151011120",
            b"24031510111aZ",
        ] {
            assert_eq!(parse_time(bad, false), Err(CertError::BadTime), "{bad:?}");
        }
        assert_eq!(parse_time(b"240315101112Z", true), Err(CertError::BadTime));
    }

    #[test]
    fn base64_decodes_and_refuses() {
        assert_eq!(base64_decode(b"TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode(b"TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode(b"TQ==").unwrap(), b"M");
        assert_eq!(base64_decode(b"T W\r\nF u").unwrap(), b"Man");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert_eq!(base64_decode(b"+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert_eq!(base64_decode(b"TQ=a"), Err(CertError::Base64 { at: 3 }));
        assert_eq!(base64_decode(b"TQ==="), Err(CertError::Base64 { at: 4 }));
        assert_eq!(base64_decode(b"TWFuT"), Err(CertError::Base64 { at: 5 }));
        assert_eq!(base64_decode(b"TW-u"), Err(CertError::Base64 { at: 2 }));
    }
}
