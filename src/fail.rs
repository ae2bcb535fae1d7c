//! How a tool fails: the exit code and the daemontools-style message.
//!
//! Every tool returns `Result<i32, Failure>`; the dispatcher prints the
//! message on stderr as `tool: fatal: ...` (or `tool: usage: ...`) and exits
//! with the code. 111 means "temporary failure, try again", 100 means "you
//! asked for something that cannot work" (bad usage, unknown account).

use std::fmt;
use std::io::{self, Write};

use crate::errstr;

/// Exit code for a temporary failure.
pub const TEMPORARY: i32 = 111;
/// Exit code for a usage error or a permanent failure.
pub const PERMANENT: i32 = 100;

/// A failure that ends a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Printed as `tool: fatal: message`.
    Fatal,
    /// Printed as `tool: usage: message`.
    Usage,
    /// Printed as `message` alone (for tools whose usage line is not
    /// prefixed, like `svc options: ...`).
    Bare,
}

impl Failure {
    /// A temporary failure (exit 111): `tool: fatal: message`.
    pub fn temporary(message: impl Into<String>) -> Failure {
        Failure { code: TEMPORARY, kind: FailureKind::Fatal, message: message.into() }
    }

    /// A permanent failure (exit 100): `tool: fatal: message`.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure { code: PERMANENT, kind: FailureKind::Fatal, message: message.into() }
    }

    /// A usage error (exit 100): `tool: usage: synopsis`.
    pub fn usage(synopsis: impl Into<String>) -> Failure {
        Failure { code: PERMANENT, kind: FailureKind::Usage, message: synopsis.into() }
    }

    /// A message printed as it is, with the given exit code.
    pub fn bare(code: i32, message: impl Into<String>) -> Failure {
        Failure { code, kind: FailureKind::Bare, message: message.into() }
    }

    /// A temporary failure caused by a system error:
    /// `tool: fatal: unable to WHAT: reason`.
    pub fn sys(what: impl fmt::Display, err: &io::Error) -> Failure {
        Failure::temporary(format!("unable to {what}: {}", errstr::io_str(err)))
    }

    /// Print the message on stderr for `tool`.
    pub fn report(&self, tool: &str) {
        let line = match self.kind {
            FailureKind::Fatal => format!("{tool}: fatal: {}\n", self.message),
            FailureKind::Usage => format!("{tool}: usage: {}\n", self.message),
            FailureKind::Bare => format!("{}\n", self.message),
        };
        let _ = io::stderr().write_all(line.as_bytes());
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<nix::errno::Errno> for Failure {
    fn from(err: nix::errno::Errno) -> Failure {
        Failure::temporary(errstr::nix_str(err))
    }
}

/// Print `tool: warning: message` on stderr.
pub fn warn(tool: &str, message: impl fmt::Display) {
    let line = format!("{tool}: warning: {message}\n");
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Extension for turning I/O results into `Failure`s with context.
pub trait Context<T> {
    /// On error: `unable to WHAT: reason`, exit 111.
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Failure>;
}

impl<T> Context<T> for io::Result<T> {
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|err| Failure::sys(what, &err))
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|err| Failure::sys(what, &io::Error::from(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_failure_reads_like_daemontools() {
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        let failure = Failure::sys("open supervise/control", &err);
        assert_eq!(failure.code, 111);
        assert_eq!(failure.message, "unable to open supervise/control: file does not exist");
    }

    #[test]
    fn usage_is_permanent() {
        assert_eq!(Failure::usage("svok dir").code, 100);
    }
}
