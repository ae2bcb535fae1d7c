//! The one rule for tests that cannot run here: without a Debian package,
//! root, or a facility of the machine, a test (or the part of it that needs
//! it) is skipped with a message; where the environment variable `CI` is
//! set, it fails instead, since CI provides all of them (`.ci/run`
//! installs the packages and runs as root), and a skip there would hide a
//! test that never ran.

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// Report that a test, or part of one, cannot run here because of
/// `reason`: a failure in CI, a message on stderr elsewhere. The callers
/// return (or leave the part out) afterwards, as `skip!` does.
pub fn skipping(reason: impl Display) {
    assert!(std::env::var_os("CI").is_none(), "not skipped in CI: {reason}");
    eprintln!("skipped: {reason}");
}

/// Whether `holds`; if not, a skip for `reason` (see [`skipping`]).
pub fn needs(holds: bool, reason: impl Display) -> bool {
    if !holds {
        skipping(reason);
    }
    holds
}

/// True when running as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The path of Debian's `program`, or `None` after a skip (see
/// [`skipping`]) when the package that ships it is not installed: for a
/// comparison that is only part of a test.
pub fn debian(program: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.exists());
    if found.is_none() {
        skipping(format!("Debian's {program} is not installed (.ci/run installs it)"));
    }
    found
}

/// Skip the calling test (return early) for a reason given as `format!`
/// arguments; in CI, fail.
#[macro_export]
macro_rules! skip {
    ($($reason:tt)+) => {{
        $crate::skipping(format!($($reason)+));
        return;
    }};
}

/// Skip the calling test unless it runs as root; in CI, fail.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            $crate::skip!("this test needs root");
        }
    };
}

/// The path of Debian's program, or skip the calling test; in CI, fail.
#[macro_export]
macro_rules! require_debian {
    ($program:expr) => {
        match $crate::debian($program) {
            Some(path) => path,
            None => return,
        }
    };
}
