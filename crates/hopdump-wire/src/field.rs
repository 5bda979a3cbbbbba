//! Bounds-checked big-endian field reads: the only way this crate touches packet bytes,
//! so no decoder or printer can index out of range.

/// The bytes ran out before a field that was needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("packet truncated")
    }
}

impl std::error::Error for Truncated {}

/// Result of a read that may run off the end of the captured bytes.
pub type Res<T = ()> = Result<T, Truncated>;

#[inline]
pub(crate) fn arr<const N: usize>(b: &[u8], off: usize) -> Res<[u8; N]> {
    let s = b.get(off..).and_then(|t| t.get(..N)).ok_or(Truncated)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

#[inline]
pub(crate) fn u8_at(b: &[u8], off: usize) -> Res<u8> {
    b.get(off).copied().ok_or(Truncated)
}

#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Res<u16> {
    arr::<2>(b, off).map(u16::from_be_bytes)
}

#[inline]
pub(crate) fn be24(b: &[u8], off: usize) -> Res<u32> {
    arr::<3>(b, off).map(|[x, y, z]| u32::from_be_bytes([0, x, y, z]))
}

#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> Res<u32> {
    arr::<4>(b, off).map(u32::from_be_bytes)
}

/// True when `n` bytes starting at `off` were captured (tcpdump's `ND_TTEST_LEN`).
#[inline]
pub(crate) fn has(b: &[u8], off: usize, n: usize) -> bool {
    off.checked_add(n).is_some_and(|end| end <= b.len())
}

/// The bytes from `off` on (empty when `off` is past the end).
#[inline]
pub(crate) fn tail(b: &[u8], off: usize) -> &[u8] {
    b.get(off..).unwrap_or(&[])
}

/// At most the first `n` bytes (tcpdump's snapshot-length push).
#[inline]
pub(crate) fn cut(b: &[u8], n: usize) -> &[u8] {
    b.get(..n).unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(be16(&b, 0), Ok(0x0102));
        assert_eq!(be24(&b, 2), Ok(0x030405));
        assert_eq!(be32(&b, 1), Ok(0x02030405));
        assert_eq!(be32(&b, 2), Err(Truncated));
        assert_eq!(u8_at(&b, 5), Err(Truncated));
        assert_eq!(be16(&b, usize::MAX), Err(Truncated));
        assert!(has(&b, 5, 0));
        assert!(!has(&b, usize::MAX, 2));
        assert_eq!(tail(&b, 9), &[] as &[u8]);
        assert_eq!(cut(&b, 2), &[1, 2]);
        assert_eq!(cut(&b, 9), &b);
    }
}
