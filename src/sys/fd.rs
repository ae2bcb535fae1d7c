//! Descriptors placed at fixed numbers, and close-on-exec from a number up.

use std::io;
use std::os::fd::AsFd;

/// Put a copy of `fd` on descriptor number `target` (not close-on-exec),
/// for programs that expect a connection on fixed descriptors
/// (`tcpclient`'s 6 and 7). Whatever was open on `target` is closed.
pub fn dup_to(fd: impl AsFd, target: std::os::fd::RawFd) -> io::Result<()> {
    use std::os::fd::{AsRawFd, IntoRawFd};
    if fd.as_fd().as_raw_fd() == target {
        return nix::fcntl::fcntl(
            fd.as_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map(drop)
        .map_err(io::Error::from);
    }
    // SAFETY: `target` is a plain descriptor number; dup2 closes whatever
    // was there atomically. The returned OwnedFd is released at once so
    // the descriptor stays open for the program exec'd next.
    let new = unsafe { nix::unistd::dup2_raw(fd, target) }?;
    let _ = new.into_raw_fd();
    Ok(())
}

/// Mark every descriptor from `first` up close-on-exec, so that a program
/// exec'd next inherits only the lower ones (spawn-fcgi's application gets
/// its socket on 0 and nothing above 2). Descriptors are listed from
/// /proc/self/fd; numbers no longer open are skipped.
pub fn close_on_exec_from(first: i32) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: fcntl(F_SETFD) changes only the descriptor's flags; a
        // number that is not open fails with EBADF, which is ignored.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
