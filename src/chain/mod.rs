//! What the chain-loading tools share: each changes one thing about the
//! process (account, environment, limits, session, lock) and then runs the
//! rest of its command line in its place.
//!
//! `setuidgid`, `envuidgid`, `envdir`, `softlimit`, `pgrphack`, `setlock`,
//! `fghack` and runit's `chpst` (which does all of it at once) are thin
//! front ends over this module, so every rule is written once.

pub mod account;
pub mod envdir;
pub mod limits;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

pub use crate::spawn::EnvChanges;
pub use account::{Account, drop_privileges};
pub use envdir::{OnDirectory, read_envdir};
pub use limits::{Limit, MEMORY, set_soft_limit};
// The chain tools' getopt, shared with svlogd.
pub use crate::getopt::options;

use crate::errstr;
use crate::fail::Failure;

/// `unable to run PROG: reason` (exit 111), after a failed exec.
pub fn run_failure(program: &OsString, err: &io::Error) -> Failure {
    Failure::temporary(format!(
        "unable to run {}: {}",
        program.to_string_lossy(),
        errstr::io_str(err)
    ))
}

/// Replace the process with the command line `argv` (looked up in `$PATH`
/// as daemontools' `pathexec`) and the changed environment; only returns,
/// as a `Failure`, when that is impossible.
pub fn exec_or_fail(argv: &[OsString], env: &EnvChanges) -> Failure {
    let err = crate::spawn::ChildSpec::command(argv).env(env).exec();
    run_failure(&argv[0], &err)
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    Open(io::Error),
    Lock(io::Error),
}

/// Open (creating, mode 0600) and lock `path` exclusively, waiting for the
/// lock or not. The lock is an `flock`, as daemontools' and runit's are,
/// and stays held across `exec` for as long as the descriptor is open.
pub fn lock_file(path: &Path, wait: bool) -> Result<Flock<File>, LockError> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(LockError::Open)?;
    let arg = if wait { FlockArg::LockExclusive } else { FlockArg::LockExclusiveNonblock };
    let locked = Flock::lock(file, arg).map_err(|(_, errno)| LockError::Lock(errno.into()))?;
    // The descriptor must survive exec: the child holds the lock.
    nix::fcntl::fcntl(&*locked, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()))
        .map_err(|errno| LockError::Lock(errno.into()))?;
    Ok(locked)
}

/// Parse a decimal count as daemontools' `scan_ulong` does, but whole:
/// anything but digits (or an empty string) is `None`.
pub fn parse_count(text: &OsString) -> Option<u64> {
    crate::decimal::whole(text.as_encoded_bytes())
}
