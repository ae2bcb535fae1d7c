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

/// runit's svlogd pattern match (pmatch): like [`matches`], and a `+`
/// matches the pattern character after it one or more times. As in runit, a
/// line used up by a `+` run matches whatever pattern is left.
pub fn sv_matches(pattern: &[u8], line: &[u8]) -> bool {
    let mut pat = pattern;
    let mut buf = line;
    loop {
        let Some((&ch, rest)) = pat.split_first() else {
            return buf.is_empty();
        };
        pat = rest;
        match ch {
            b'*' => {
                let Some(&next) = pat.first() else {
                    return true;
                };
                match buf.iter().position(|&b| b == next) {
                    Some(at) => buf = &buf[at..],
                    None => return false,
                }
            }
            b'+' => {
                let Some((&want, rest)) = pat.split_first() else {
                    return false;
                };
                pat = rest;
                if buf.first() != Some(&want) {
                    return false;
                }
                while let Some(&b) = buf.first() {
                    if b != want {
                        break;
                    }
                    buf = &buf[1..];
                }
                if buf.is_empty() {
                    return true;
                }
            }
            _ => match buf.split_first() {
                Some((&b, rest)) if b == ch => buf = rest,
                _ => return false,
            },
        }
    }
}

#[cfg(test)]
mod sv_tests {
    use super::sv_matches;

    #[test]
    fn plus_repeats_the_next_character() {
        assert!(sv_matches(b"a+b", b"ab"));
        assert!(sv_matches(b"a+b", b"abbb"));
        assert!(!sv_matches(b"a+b", b"aaab"));
        assert!(!sv_matches(b"a+b", b"a"));
        assert!(sv_matches(b"+ab", b"aaab"));
        // runit: the line ends inside a `+` run: match.
        assert!(sv_matches(b"+ax", b"aa"));
    }

    #[test]
    fn star_as_in_daemontools() {
        assert!(sv_matches(b"*: *: pid *", b"tcpsvd: info: pid 1977 from 10.4.1.14"));
        assert!(!sv_matches(b"*pid*", b"tcpsvd: info: pid 1977 from 10.4.1.14"));
        assert!(sv_matches(b"*", b""));
    }
}
