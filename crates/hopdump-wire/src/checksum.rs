//! The Internet checksum (RFC 1071) and tcpdump's "what it should have been" arithmetic.

/// Adds `data` as big-endian 16-bit words (an odd last byte is padded with zero).
#[inline]
pub(crate) fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            acc += u64::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds the carries and complements: 0 means the covered bytes (checksum field included) verify.
#[inline]
pub(crate) fn finish(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// tcpdump's `in_cksum_shouldbe`: the value the checksum field should have held.
pub(crate) fn shouldbe(field: u16, computed: u16) -> u16 {
    let mut s = u32::from(field) + u32::from(computed);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Pseudo-header sum for IPv4 upper layers.
pub(crate) fn pseudo4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u32) -> u64 {
    let mut acc = add(0, &src);
    acc = add(acc, &dst);
    acc + u64::from(proto) + u64::from(len & 0xffff)
}

/// Pseudo-header sum for IPv6 upper layers.
pub(crate) fn pseudo6(src: &[u8; 16], dst: &[u8; 16], proto: u8, len: u32) -> u64 {
    let mut acc = add(0, src);
    acc = add(acc, dst);
    acc + u64::from(proto) + u64::from(len >> 16) + u64::from(len & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // IPv4 header from RFC 1071-style worked examples: checksum field included verifies to 0.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(add(0, &hdr)), 0);
        let mut bad = hdr;
        bad[10] = 0;
        bad[11] = 0;
        let c = finish(add(0, &bad));
        assert_eq!(c, 0xb861);
        assert_eq!(shouldbe(0, c), 0xb861);
    }

    #[test]
    fn odd_length_pads() {
        assert_eq!(add(0, &[1]), 0x100);
    }
}
