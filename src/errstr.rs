//! Error descriptions in the words daemontools uses.
//!
//! daemontools prints `errno` through its own table (`error_str`), not
//! `strerror`, and operators and scripts match on those words
//! (`supervise not running`, `file does not exist`). tend prints the same
//! words so that its messages are byte-for-byte those of the C programs.

use std::io;

/// The daemontools description of an errno value.
pub fn errno_str(errno: i32) -> &'static str {
    use libc::*;
    match errno {
        0 => "no error",
        EINTR => "interrupted system call",
        ENOMEM => "out of memory",
        ENOENT => "file does not exist",
        ETXTBSY => "text busy",
        EIO => "input/output error",
        EEXIST => "file already exists",
        ETIMEDOUT => "timed out",
        EINPROGRESS => "operation in progress",
        EAGAIN => "temporary failure",
        EPIPE => "broken pipe",
        EPERM => "permission denied",
        EACCES => "access denied",
        ENXIO => "device not configured",
        EPROTO => "protocol error",
        EISDIR => "is a directory",
        ECONNREFUSED => "connection refused",
        ESRCH => "no such process",
        E2BIG => "argument list too long",
        ENOEXEC => "exec format error",
        EBADF => "file descriptor not open",
        ECHILD => "no child processes",
        EDEADLK => "operation would cause deadlock",
        EFAULT => "bad address",
        ENOTBLK => "not a block device",
        EBUSY => "device busy",
        EXDEV => "cross-device link",
        ENODEV => "device does not support operation",
        ENOTDIR => "not a directory",
        EINVAL => "invalid argument",
        ENFILE => "system cannot open more files",
        EMFILE => "process cannot open more files",
        ENOTTY => "not a tty",
        EFBIG => "file too big",
        ENOSPC => "out of disk space",
        ESPIPE => "unseekable descriptor",
        EROFS => "read-only file system",
        EMLINK => "too many links",
        EDOM => "input out of range",
        ERANGE => "output out of range",
        EALREADY => "operation already in progress",
        ENOTSOCK => "not a socket",
        EDESTADDRREQ => "destination address required",
        EMSGSIZE => "message too long",
        EPROTOTYPE => "incorrect protocol type",
        ENOPROTOOPT => "protocol not available",
        EPROTONOSUPPORT => "protocol not supported",
        ESOCKTNOSUPPORT => "socket type not supported",
        EOPNOTSUPP => "operation not supported",
        EPFNOSUPPORT => "protocol family not supported",
        EAFNOSUPPORT => "address family not supported",
        EADDRINUSE => "address already used",
        EADDRNOTAVAIL => "address not available",
        ENETDOWN => "network down",
        ENETUNREACH => "network unreachable",
        ENETRESET => "network reset",
        ECONNABORTED => "connection aborted",
        ECONNRESET => "connection reset",
        ENOBUFS => "out of buffer space",
        EISCONN => "already connected",
        ENOTCONN => "not connected",
        ESHUTDOWN => "socket shut down",
        ETOOMANYREFS => "too many references",
        ELOOP => "symbolic link loop",
        ENAMETOOLONG => "file name too long",
        EHOSTDOWN => "host down",
        EHOSTUNREACH => "host unreachable",
        ENOTEMPTY => "directory not empty",
        EUSERS => "too many users",
        EDQUOT => "disk quota exceeded",
        ESTALE => "stale NFS file handle",
        EREMOTE => "too many levels of remote in path",
        ENOLCK => "no locks available",
        ENOSYS => "system call not available",
        _ => "unknown error",
    }
}

/// The daemontools description of an I/O error.
pub fn io_str(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(errno) => errno_str(errno),
        None => match err.kind() {
            io::ErrorKind::NotFound => "file does not exist",
            io::ErrorKind::PermissionDenied => "access denied",
            io::ErrorKind::UnexpectedEof => "unexpected end of file",
            io::ErrorKind::WriteZero => "unable to write",
            _ => "unknown error",
        },
    }
}

/// The daemontools description of a nix errno.
pub fn nix_str(err: nix::errno::Errno) -> &'static str {
    errno_str(err as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errors_read_as_daemontools_prints_them() {
        assert_eq!(errno_str(libc::ENOENT), "file does not exist");
        assert_eq!(errno_str(libc::ENXIO), "device not configured");
        assert_eq!(errno_str(libc::EACCES), "access denied");
        assert_eq!(errno_str(libc::EAGAIN), "temporary failure");
        assert_eq!(errno_str(99999), "unknown error");
    }

    #[test]
    fn io_errors_use_the_errno_table() {
        let err = io::Error::from_raw_os_error(libc::ENOTDIR);
        assert_eq!(io_str(&err), "not a directory");
    }
}
