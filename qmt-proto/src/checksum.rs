//! The 16-bit XOR checksum `AT+QFUPL` reports in `+QFUPL: <upload_size>,<checksum>` (spec §7).

/// Computes the `AT+QFUPL` checksum of `data` (spec §7): the data is read as big-endian 16-bit
/// words, an odd last byte is padded with `0x00` as the low byte, and all words are XOR-ed together.
///
/// The module prints it as four lowercase hex digits (`+QFUPL: 1758,384a`); a driver compares that
/// with this function's result on the bytes it wrote (see [`Info::QfUpl`](crate::line::Info::QfUpl)).
///
/// ```
/// use qmt_proto::checksum::qfupl_checksum;
/// assert_eq!(qfupl_checksum(&[0x12, 0x34, 0x56, 0x78]), 0x1234 ^ 0x5678);
/// assert_eq!(qfupl_checksum(&[0xab]), 0xab00);
/// ```
pub fn qfupl_checksum(data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    let mut sum = 0u16;
    for w in &mut chunks {
        sum ^= u16::from_be_bytes([w[0], w[1]]);
    }
    if let [last] = chunks.remainder() {
        sum ^= u16::from_be_bytes([*last, 0]);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::qfupl_checksum;

    // Vectors computed by hand, word by word.
    #[test]
    fn hand_computed_vectors() {
        // No data: no words, XOR of nothing is 0.
        assert_eq!(qfupl_checksum(b""), 0x0000);
        // One byte 0xAB: padded word 0xAB00.
        assert_eq!(qfupl_checksum(&[0xab]), 0xab00);
        // 0x1234 ^ 0x5678 = 0x444C.
        assert_eq!(qfupl_checksum(&[0x12, 0x34, 0x56, 0x78]), 0x444c);
        // 0x0102 ^ 0x0300 (padded) = 0x0202.
        assert_eq!(qfupl_checksum(&[0x01, 0x02, 0x03]), 0x0202);
        // "ABCD": 0x4142 ^ 0x4344 = 0x0206.
        assert_eq!(qfupl_checksum(b"ABCD"), 0x0206);
        // "ABCDE": 0x0206 ^ 0x4500 = 0x4706.
        assert_eq!(qfupl_checksum(b"ABCDE"), 0x4706);
        // A word XOR-ed with itself cancels: big-endian order matters, 0x1234 ^ 0x3412 = 0x2626.
        assert_eq!(qfupl_checksum(&[0x12, 0x34, 0x12, 0x34]), 0x0000);
        assert_eq!(qfupl_checksum(&[0x12, 0x34, 0x34, 0x12]), 0x2626);
        // "-----BEGIN" (the start of a PEM file): 0x2d2d ^ 0x2d2d ^ 0x2d42 ^ 0x4547 ^ 0x494e
        // = 0x2d42 ^ 0x4547 = 0x6805; 0x6805 ^ 0x494e = 0x214b.
        assert_eq!(qfupl_checksum(b"-----BEGIN"), 0x214b);
    }
}
