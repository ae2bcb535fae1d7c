//! Process facilities nix lacks a safe form of: `fork`, `nice`.

use std::io;

/// Add `increment` to the nice level (`nice(2)`, which nix lacks).
pub fn nice(increment: i32) -> io::Result<()> {
    nix::errno::Errno::clear();
    // SAFETY: nice takes an integer and touches no memory.
    let result = unsafe { libc::nice(increment) };
    // -1 is also a valid new level: only errno tells a failure.
    let errno = nix::errno::Errno::last_raw();
    if result == -1 && errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(())
}

/// Which side of a `fork` this process is on.
pub enum Forked {
    Parent(nix::unistd::Pid),
    Child,
}

/// `fork(2)`, for the single-threaded network servers (`tcpserver`,
/// `spawn-fcgi -F`): the child sets up its descriptors and `exec`s, or
/// exits.
///
/// Callers must be single-threaded: tend's tools start no threads.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the tools calling this are single-threaded, so the child
    // cannot inherit a lock held by another thread; it only sets up
    // descriptors, prints, and execs or exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}
