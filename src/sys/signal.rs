//! Signal dispositions, and the self-pipe that turns caught signals into a
//! readable descriptor for a `poll` loop.

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
/// kill the supervisor. The spawn layer (`sys::spawn`) restores the default
/// in every child, so services are not affected.
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN registers no handler code.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
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
/// Signals that have a handler in this process, one bit per signal number:
/// all that a new child must reset before it can run anything (the spawn
/// layer resets these, not every signal the system knows).
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// The signals this process catches (bit N: signal N).
pub fn caught() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// Forget the handlers: called in a forked child once it has reset them.
pub fn forget_caught() {
    CAUGHT.store(0, Ordering::Relaxed);
}

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
            CAUGHT.fetch_or(1 << sig as i32, Ordering::Relaxed);
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
        // A short read emptied the pipe: no second read to hear EAGAIN.
        while matches!(nix::unistd::read(&self.read, &mut buf), Ok(n) if n == buf.len()) {}
        Received(PENDING.swap(0, Ordering::SeqCst))
    }
}

/// A set of received signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received(u64);

impl Received {
    pub fn has(self, sig: Signal) -> bool {
        self.0 & (1 << sig as i32) != 0
    }
}
