//! daemontools' pattern match for multilog's `+PATTERN` and `-PATTERN`.
//!
//! A `*` matches any string that does not contain the pattern character
//! after it; a `*` at the end of the pattern matches anything. Every other
//! byte matches itself. The whole line (up to [`HEAD`] bytes, without the
//! newline, with the time stamp if any) must match.

/// How much of a line multilog looks at: for patterns, `e` and `=FILE`.
pub const HEAD: usize = 1000;

/// Whether `line` matches `pattern`.
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let mut pat = pattern;
    let mut buf = line;
    loop {
        let Some((&ch, rest)) = pat.split_first() else {
            return buf.is_empty();
        };
        pat = rest;
        if ch == b'*' {
            let Some(&next) = pat.first() else {
                return true;
            };
            match buf.iter().position(|&b| b == next) {
                Some(at) => buf = &buf[at..],
                None => return false,
            }
            continue;
        }
        match buf.split_first() {
            Some((&b, rest)) if b == ch => buf = rest,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn literal() {
        assert!(matches(b"abc", b"abc"));
        assert!(!matches(b"abc", b"abcd"));
        assert!(!matches(b"abc", b"ab"));
        assert!(matches(b"", b""));
        assert!(!matches(b"", b"x"));
    }

    #[test]
    fn star() {
        assert!(matches(b"*", b""));
        assert!(matches(b"*", b"anything at all"));
        assert!(matches(b"fatal: *", b"fatal: disk full"));
        assert!(!matches(b"fatal: *", b"warning: fatal: x"));
        assert!(matches(b"* fatal: *", b"@4000 fatal: x"));
        // `*` stops at the first occurrence of the next character.
        assert!(!matches(b"* fatal: *", b"a b fatal: x"));
        assert!(matches(b"*x", b"abcx"));
        assert!(!matches(b"*x", b"abcxx"));
        assert!(matches(b"a*b*c", b"aXXbYYc"));
        assert!(!matches(b"a*b", b"aXX"));
    }
}
