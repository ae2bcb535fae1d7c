//! Command-line options the way the C tools tend replaces read them: one
//! parser for every tool whose options are single letters, in two styles.
//!
//! - [`Style::Djb`]: daemontools', runit's and ucspi-tcp's `sgetopt`.
//!   Options end at the first operand, at `-` alone, and at any word that
//!   begins with `--`, which is consumed (so `softlimit --foo true` runs
//!   `true`, as Debian's does). A complaint reads `tool: illegal option --
//!   x`.
//! - [`Style::Gnu`]: glibc's `getopt` (spawn-fcgi). Options may follow
//!   operands (glibc moves the operands after them) unless
//!   `POSIXLY_CORRECT` is set; only `--` itself ends them, and `--foo` is
//!   the letter `-`. A complaint reads `tool: invalid option -- 'x'`.
//!
//! Written out rather than taken from lexopt, which reads `-m=` as `-m`
//! with an empty value, where getopt (and `softlimit -m=`) means `=`, and
//! knows neither of these ends of options.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::fail::{Failure, FailureKind};

/// Whose getopt to behave as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Djb,
    Gnu,
}

/// One tool's options: letters that stand alone, letters that take a
/// value (the rest of the word, or the next word).
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    pub flags: &'a str,
    pub valued: &'a str,
    pub style: Style,
}

/// What getopt itself refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Complaint {
    Unknown(u8),
    MissingValue(u8),
}

impl Complaint {
    /// getopt's line for it, without the newline.
    pub fn line(self, tool: &str, style: Style) -> String {
        let (problem, letter) = match (self, style) {
            (Complaint::Unknown(l), Style::Djb) => ("illegal option", l),
            (Complaint::Unknown(l), Style::Gnu) => ("invalid option", l),
            (Complaint::MissingValue(l), _) => ("option requires an argument", l),
        };
        let letter = String::from_utf8_lossy(&[letter]).into_owned();
        match style {
            Style::Djb => format!("{tool}: {problem} -- {letter}"),
            Style::Gnu => format!("{tool}: {problem} -- '{letter}'"),
        }
    }
}

/// Why parsing stopped early: getopt's own complaint, or the tool's
/// handler said so.
#[derive(Debug)]
pub enum Stop<E> {
    Complaint(Complaint),
    Handler(E),
}

impl<'a> Spec<'a> {
    /// Daemontools-style options.
    pub fn djb(flags: &'a str, valued: &'a str) -> Self {
        Spec { flags, valued, style: Style::Djb }
    }

    /// Walk `args`: each option goes to `on`, in order; the operands are
    /// returned, in order.
    pub fn parse<E>(
        &self,
        args: Vec<OsString>,
        mut on: impl FnMut(char, Option<OsString>) -> Result<(), E>,
    ) -> Result<Vec<OsString>, Stop<E>> {
        let permute = self.style == Style::Gnu && std::env::var_os("POSIXLY_CORRECT").is_none();
        let mut operands = Vec::new();
        let mut args = args.into_iter();
        while let Some(word) = args.next() {
            let bytes = word.as_bytes();
            if bytes == b"--" {
                break;
            }
            if bytes.len() < 2 || bytes[0] != b'-' {
                operands.push(word);
                if permute {
                    continue;
                }
                break;
            }
            if self.style == Style::Djb && bytes[1] == b'-' {
                break;
            }
            let mut at = 1;
            while at < bytes.len() {
                let letter = bytes[at];
                at += 1;
                if letter.is_ascii() && self.flags.contains(char::from(letter)) {
                    on(char::from(letter), None).map_err(Stop::Handler)?;
                } else if letter.is_ascii() && self.valued.contains(char::from(letter)) {
                    let value = if at < bytes.len() {
                        OsString::from(OsStr::from_bytes(&bytes[at..]))
                    } else {
                        args.next().ok_or(Stop::Complaint(Complaint::MissingValue(letter)))?
                    };
                    on(char::from(letter), Some(value)).map_err(Stop::Handler)?;
                    break;
                } else {
                    return Err(Stop::Complaint(Complaint::Unknown(letter)));
                }
            }
        }
        operands.extend(args);
        Ok(operands)
    }
}

/// Parse daemontools-style options of `tool` (see [`Spec::parse`]); a
/// complaint is printed as getopt does, followed by `usage`'s message.
pub fn options(
    args: Vec<OsString>,
    tool: &str,
    flags: &str,
    valued: &str,
    usage: impl Fn() -> Failure,
    on: impl FnMut(char, Option<OsString>) -> Result<(), Failure>,
) -> Result<Vec<OsString>, Failure> {
    Spec::djb(flags, valued).parse(args, on).map_err(|stop| match stop {
        Stop::Handler(failure) => failure,
        Stop::Complaint(complaint) => {
            let usage = usage();
            let shown = match usage.kind {
                FailureKind::Usage => format!("{tool}: usage: {}", usage.message),
                _ => usage.message,
            };
            Failure::bare(usage.code, format!("{}\n{shown}", complaint.line(tool, Style::Djb)))
        }
    })
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

    fn gnu(list: &[&str]) -> Result<(Seen, Vec<OsString>), Stop<()>> {
        let mut seen = Vec::new();
        let spec = Spec { flags: "ab", valued: "v", style: Style::Gnu };
        let rest = spec.parse(args(list), |letter, value| {
            seen.push((letter, value));
            Ok::<(), ()>(())
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
    fn a_word_beginning_with_two_dashes_ends_djb_options_and_is_dropped() {
        assert_eq!(
            parse(&["-a", "--force", "-b", "x"]).unwrap(),
            (vec![('a', None)], args(&["-b", "x"]))
        );
        // Inside a cluster a dash is just an unknown letter.
        let failure = parse(&["-a-b"]).unwrap_err();
        assert!(failure.message.starts_with("tool: illegal option -- -\n"), "{}", failure.message);
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
        assert_eq!(Complaint::Unknown(b'x').line("t", Style::Gnu), "t: invalid option -- 'x'");
        assert_eq!(
            Complaint::MissingValue(b'p').line("t", Style::Gnu),
            "t: option requires an argument -- 'p'"
        );
    }

    #[test]
    fn gnu_options_may_follow_operands() {
        // The test binary's environment has no POSIXLY_CORRECT (glibc's
        // switch back to stopping at the first operand).
        assert!(std::env::var_os("POSIXLY_CORRECT").is_none());
        let (seen, rest) = gnu(&["app", "-a", "arg", "-v", "1", "--", "-b"]).unwrap();
        assert_eq!(seen, vec![('a', None), ('v', Some("1".into()))]);
        assert_eq!(rest, args(&["app", "arg", "-b"]));
        assert!(matches!(gnu(&["--foo"]), Err(Stop::Complaint(Complaint::Unknown(b'-')))));
        assert!(matches!(gnu(&["x", "-v"]), Err(Stop::Complaint(Complaint::MissingValue(b'v')))));
    }
}
