//! Command-line options the way daemontools' and runit's C tools read
//! them (their getopt), for every tool whose options are single letters:
//! the chain-loading tools and svlogd.

use std::ffi::OsString;

use crate::fail::Failure;

/// Parse getopt-style options as daemontools' tools do: letters in `flags`
/// stand alone, letters in `valued` take an argument (the rest of the word,
/// or the next word); options end at the first non-option, `-` or `--`.
/// Each option goes to `on`, in order. Returns the rest of the command
/// line. An unknown letter or a missing argument is reported as getopt
/// does, then `usage`.
///
/// Written out rather than taken from lexopt, which reads `-m=` as `-m`
/// with an empty value, where getopt (and `softlimit -m=`) means `=`.
pub fn options(
    args: Vec<OsString>,
    tool: &str,
    flags: &str,
    valued: &str,
    usage: impl Fn() -> Failure,
    mut on: impl FnMut(char, Option<OsString>) -> Result<(), Failure>,
) -> Result<Vec<OsString>, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let complain = |problem: &str, letter: char| {
        let usage = usage();
        let shown = match usage.kind {
            crate::fail::FailureKind::Usage => format!("{tool}: usage: {}", usage.message),
            _ => usage.message,
        };
        Failure::bare(usage.code, format!("{tool}: {problem} -- {letter}\n{shown}"))
    };
    let mut args = args.into_iter().peekable();
    while let Some(word) = args.next_if(|w| w.len() > 1 && w.as_bytes()[0] == b'-') {
        if word == "--" {
            break;
        }
        let bytes = word.as_bytes();
        let mut at = 1;
        while at < bytes.len() {
            let letter = char::from(bytes[at]);
            at += 1;
            if flags.contains(letter) {
                on(letter, None)?;
            } else if valued.contains(letter) {
                let value = if at < bytes.len() {
                    OsString::from(std::ffi::OsStr::from_bytes(&bytes[at..]))
                } else {
                    args.next().ok_or_else(|| complain("option requires an argument", letter))?
                };
                on(letter, Some(value))?;
                break;
            } else {
                return Err(complain("illegal option", letter));
            }
        }
    }
    Ok(args.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    type Seen = Vec<(char, Option<OsString>)>;

    /// The options seen, in order, and the rest of the command line.
    fn parse(list: &[&str]) -> Result<(Seen, Vec<OsString>), Failure> {
        let mut seen = Vec::new();
        let usage = || Failure::usage("tool [-ab] [-v value] child");
        let rest = options(args(list), "tool", "ab", "v", usage, |letter, value| {
            seen.push((letter, value));
            Ok(())
        })?;
        Ok((seen, rest))
    }

    #[test]
    fn letters_values_and_the_end_of_options() {
        let (seen, rest) = parse(&["-ab", "-vx", "-v", "-=", "-a", "child", "-b"]).unwrap();
        let want = vec![
            ('a', None),
            ('b', None),
            ('v', Some("x".into())),
            ('v', Some("-=".into())),
            ('a', None),
        ];
        assert_eq!(seen, want);
        assert_eq!(rest, args(&["child", "-b"]));
        assert_eq!(parse(&["--", "-a"]).unwrap(), (vec![], args(&["-a"])));
        assert_eq!(parse(&["-", "-a"]).unwrap(), (vec![], args(&["-", "-a"])));
        assert_eq!(parse(&["-bva"]).unwrap().0, vec![('b', None), ('v', Some("a".into()))]);
    }

    #[test]
    fn complaints_as_getopt_words_them() {
        let failure = parse(&["-ax"]).unwrap_err();
        assert_eq!(
            failure.message,
            "tool: illegal option -- x\ntool: usage: tool [-ab] [-v value] child"
        );
        assert_eq!(failure.code, 100);
        let failure = parse(&["-a", "-v"]).unwrap_err();
        assert!(failure.message.starts_with("tool: option requires an argument -- v\n"));
    }
}
