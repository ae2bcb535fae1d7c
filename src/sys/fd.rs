//! Descriptors placed at fixed numbers.

use std::ffi::c_int;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// Put a copy of `fd` on descriptor number `target` (not close-on-exec),
/// in this process: a tool redirecting its own standard descriptors
/// (`svscanboot`, `tcpserver -q`). Whatever was open on `target` is closed.
pub fn dup_to(fd: impl AsFd, target: RawFd) -> io::Result<()> {
    dup_raw(fd.as_fd().as_raw_fd(), target).map_err(io::Error::from_raw_os_error)
}

/// [`dup_to`] on descriptor numbers, with the errno on failure: also the
/// spawn layer's child side, which may only make system calls. A
/// descriptor already on its target only loses its close-on-exec flag.
pub fn dup_raw(fd: RawFd, target: RawFd) -> Result<(), c_int> {
    // SAFETY: fcntl(F_SETFD) and dup2 take descriptor numbers and touch no
    // memory; dup2 closes whatever was on `target` atomically, and the new
    // descriptor is left open on purpose, for the program exec'd next.
    let rc = unsafe {
        if fd == target { libc::fcntl(fd, libc::F_SETFD, 0) } else { libc::dup2(fd, target) }
    };
    if rc == -1 {
        // SAFETY: reading this thread's errno.
        return Err(unsafe { *libc::__errno_location() });
    }
    Ok(())
}
