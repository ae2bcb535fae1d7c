//! The one module that holds `unsafe`: the few system facilities that have
//! no safe wrapper in `nix` or `std`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction, signal};

/// Restore the default action for SIGPIPE.
///
/// Rust's runtime ignores SIGPIPE before `main`, and an ignored signal
/// survives `exec`: every program that tend's chain-loading tools exec (and
/// tend's own writers, like `svstat | head`) would inherit it. daemontools'
/// programs run with the default, so tend restores it first thing.
pub fn default_sigpipe() {
    // SAFETY: installing SIG_DFL registers no handler code; nothing else
    // runs yet, so there is no race with other threads.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}

/// Ignore SIGPIPE.
///
/// For the long-lived supervisors: a warning written to a stderr whose
/// reader is gone (readproctitle under svscanboot) must fail with EPIPE, not
/// kill the supervisor. std's process spawning restores the default in
/// every child, so services are not affected.
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN registers no handler code.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
}

/// The memory that holds this process's own command line, as `ps` reads it.
///
/// Linux reports its bounds in `/proc/self/stat` (fields 48 and 49,
/// `arg_start` and `arg_end`); `readproctitle` overwrites the bytes of its
/// last argument in place so that `ps` shows recent input.
pub struct ArgvArea {
    start: usize,
    len: usize,
}

impl ArgvArea {
    /// Locate the command-line memory of this process.
    pub fn locate() -> Option<ArgvArea> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may contain spaces; fields after it
        // are counted from the last ')'.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        // `after` starts at field 3, so field N is fields[N - 3].
        let start: usize = fields.get(48 - 3)?.parse().ok()?;
        let end: usize = fields.get(49 - 3)?.parse().ok()?;
        if end <= start {
            return None;
        }
        Some(ArgvArea { start, len: end - start })
    }

    /// Copy the area out.
    pub fn read(&self) -> Vec<u8> {
        // SAFETY: [start, start + len) is this process's argv block, which
        // the kernel mapped readable and writable and which lives for the
        // whole process; Rust's own copy of the arguments is separate.
        unsafe { std::slice::from_raw_parts(self.start as *const u8, self.len).to_vec() }
    }

    /// Overwrite `bytes.len()` bytes at `offset`; returns false if they do
    /// not fit.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: bounds checked above against the argv block, see `read`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (self.start + offset) as *mut u8,
                bytes.len(),
            );
        }
        true
    }
}

/// Signals delivered through a self-pipe, so that a `poll` loop can wait on
/// them like on any descriptor.
///
/// A real handler (not a blocked mask read through signalfd) is used on
/// purpose: handlers are reset by `exec`, while a blocked mask would be
/// inherited by every service the supervisor starts.
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

/// Write end of the one self-pipe, for the handler.
static SELF_PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Signals received and not yet taken, one bit per signal number.
static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(signo: libc::c_int) {
    PENDING.fetch_or(1 << signo, Ordering::SeqCst);
    let fd = SELF_PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored
        // so the interrupted code does not see it change.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"x".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

impl SelfPipe {
    /// Catch `signals` from now on. Only one self-pipe exists per process.
    pub fn catch(signals: &[Signal]) -> io::Result<SelfPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        use std::os::fd::AsRawFd;
        SELF_PIPE_WRITE.store(write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        for &sig in signals {
            // SAFETY: the handler only touches atomics and calls write(2).
            unsafe { sigaction(sig, &action)? };
        }
        Ok(SelfPipe { read, _write: write })
    }

    /// The descriptor to poll for reading.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether a signal arrived since the last [`SelfPipe::take`], without a
    /// system call.
    pub fn pending(&self) -> bool {
        PENDING.load(Ordering::SeqCst) != 0
    }

    /// Drain the pipe; the signals received since the last call.
    pub fn take(&self) -> Received {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.read, &mut buf), Ok(n) if n > 0) {}
        Received(PENDING.swap(0, Ordering::SeqCst))
    }
}

/// A set of received signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received(u64);

impl Received {
    pub fn has(self, sig: Signal) -> bool {
        self.0 & (1 << sig as i32) != 0
    }
}

/// A broken-down local time, as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The full year (1900 + `tm_year`).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The local time (by `TZ` or `/etc/localtime`) of a Unix time, or `None`
/// when the C library cannot represent it (the year overflows an `int`).
pub fn local_time(unix_secs: i64) -> Option<LocalTime> {
    let t: libc::time_t = unix_secs;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers
    // are valid for the call and localtime_r keeps neither.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime {
        year: 1900 + i64::from(tm.tm_year),
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    })
}

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

/// The host name registered for `addr` in reverse DNS, if any
/// (`getnameinfo` with `NI_NAMEREQD`).
pub fn reverse_name(addr: std::net::IpAddr) -> Option<String> {
    let sock = nix::sys::socket::SockaddrStorage::from(std::net::SocketAddr::new(addr, 0));
    use nix::sys::socket::SockaddrLike;
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sock` is a valid sockaddr of the given length; `host` is a
    // writable buffer of the given size; no service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr(),
            sock.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

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

/// Restore the default action for `sig`: a forked child undoing its
/// parent's self-pipe handlers, so that it can be stopped before it execs.
pub fn default_signal(sig: Signal) {
    // SAFETY: installing SIG_DFL registers no handler code.
    unsafe {
        let _ = signal(sig, SigHandler::SigDfl);
    }
}
