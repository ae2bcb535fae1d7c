//! Unsigned decimal numbers as daemontools reads them (`scan_ulong`):
//! leading digits, the count of digits telling the caller where the rest
//! (a unit letter, a port after `:`) begins.

/// The value of the leading digits of `text` (no digits: 0; too many for
/// a u64: `u64::MAX`) and how many bytes they take.
pub fn scan_ulong(text: &[u8]) -> (u64, usize) {
    let (value, len) = scan(text);
    (value.unwrap_or(u64::MAX), len)
}

/// `text` as a whole: digits only, at least one, fitting a u64.
pub fn whole(text: &[u8]) -> Option<u64> {
    match scan(text) {
        (value, len) if len > 0 && len == text.len() => value,
        _ => None,
    }
}

/// The leading digits' value (None past u64) and their count.
fn scan(text: &[u8]) -> (Option<u64>, usize) {
    let mut value = Some(0u64);
    let mut len = 0;
    for &b in text.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.and_then(|n| n.checked_mul(10)?.checked_add(u64::from(b - b'0')));
        len += 1;
    }
    (value, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_digits_and_their_count() {
        assert_eq!(scan_ulong(b"100k"), (100, 3));
        assert_eq!(scan_ulong(b"0042"), (42, 4));
        assert_eq!(scan_ulong(b"x1"), (0, 0));
        assert_eq!(scan_ulong(b""), (0, 0));
        assert_eq!(scan_ulong(b"18446744073709551615:"), (u64::MAX, 20));
        assert_eq!(scan_ulong(b"99999999999999999999999m"), (u64::MAX, 23));
    }

    #[test]
    fn whole_numbers_only() {
        assert_eq!(whole(b"12"), Some(12));
        assert_eq!(whole(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(whole(b"18446744073709551616"), None);
        assert_eq!(whole(b""), None);
        assert_eq!(whole(b"12k"), None);
        assert_eq!(whole(b"-1"), None);
    }
}
