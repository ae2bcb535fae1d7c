//! The one `poll` loop shape of tend's long-lived processes (supervise,
//! svscan, tcpserver, the loggers): caught signals arrive through a
//! self-pipe, a few descriptor slots may each be watched or not, and one
//! deadline bounds the wait. With no deadline and nothing happening, the
//! process sleeps in `poll` and never wakes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::spawn::Ending;
use crate::sys::signal::{Received, SelfPipe};

/// The most descriptor slots a wait watches besides the self-pipe.
pub const SLOTS: usize = 3;

/// A loop's signals: caught from its creation on, each one a wake-up.
pub struct EventLoop {
    signals: SelfPipe,
}

/// What ended a [`EventLoop::wait`].
#[derive(Debug, Clone, Copy)]
pub struct Wake {
    signalled: bool,
    signals: Received,
    revents: [libc::c_short; SLOTS],
}

impl Wake {
    /// A signal arrived (its self-pipe byte was read): time to reap.
    pub fn signalled(&self) -> bool {
        self.signalled
    }

    /// The signals taken.
    pub fn signals(&self) -> Received {
        self.signals
    }

    /// Slot `slot` is readable, or at end of file, or in error.
    pub fn ready(&self, slot: usize) -> bool {
        self.revents.get(slot).is_some_and(|&r| r != 0)
    }

    /// Slot `slot` hung up or is in error (not only readable).
    pub fn hung_up(&self, slot: usize) -> bool {
        self.revents
            .get(slot)
            .is_some_and(|&r| r & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0)
    }
}

/// The poll timeout for `deadline`: -1 for none, and rounded up to the
/// millisecond, since waking a moment early would only loop.
pub fn timeout_ms(deadline: Option<Instant>, now: Instant) -> i32 {
    match deadline {
        None => -1,
        Some(at) => {
            let left = at.saturating_duration_since(now);
            left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
        }
    }
}

impl EventLoop {
    /// Catch `signals` (a process has one loop).
    pub fn new(signals: &[Signal]) -> io::Result<EventLoop> {
        Ok(EventLoop { signals: SelfPipe::catch(signals)? })
    }

    /// The self-pipe, for work that stops early when a signal is waiting.
    pub fn self_pipe(&self) -> &SelfPipe {
        &self.signals
    }

    /// The signals that came since the last wait; without a system call
    /// when none did.
    pub fn take_pending(&self) -> Received {
        if self.signals.pending() { self.signals.take() } else { Received::default() }
    }

    /// Sleep until a signal arrives, a watched slot (`Some`) is readable,
    /// or `deadline` passes. A signal that is waiting when poll returns is
    /// taken too, so the caller sees it before the input that came with it.
    pub fn wait(
        &self,
        slots: &[Option<BorrowedFd<'_>>],
        deadline: Option<Instant>,
    ) -> io::Result<Wake> {
        debug_assert!(slots.len() <= SLOTS);
        let unwatched = libc::pollfd { fd: -1, events: 0, revents: 0 };
        let mut fds = [unwatched; SLOTS + 1];
        fds[0].fd = self.signals.fd().as_raw_fd();
        fds[0].events = libc::POLLIN;
        for (i, slot) in slots.iter().take(SLOTS).enumerate() {
            if let Some(fd) = slot {
                fds[i + 1].fd = fd.as_raw_fd();
                fds[i + 1].events = libc::POLLIN;
            }
        }
        let used = slots.len().min(SLOTS) + 1;
        match crate::sys::poll::poll(&mut fds[..used], timeout_ms(deadline, Instant::now())) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        let signalled = fds[0].revents != 0 || self.signals.pending();
        let signals = if signalled { self.signals.take() } else { Received::default() };
        let mut revents = [0; SLOTS];
        for (r, fd) in revents.iter_mut().zip(&fds[1..]) {
            *r = fd.revents;
        }
        Ok(Wake { signalled, signals, revents })
    }

    /// Every child that has ended, reaped one by one.
    pub fn reaped(&self) -> Reaped {
        Reaped(())
    }
}

/// The children that have ended: each `next` reaps one, without waiting.
pub struct Reaped(());

impl Iterator for Reaped {
    type Item = (u32, Ending);

    fn next(&mut self) -> Option<(u32, Ending)> {
        loop {
            let status = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)).ok()?;
            if let nix::sys::wait::WaitStatus::StillAlive = status {
                return None;
            }
            if let Some((pid, ending)) = Ending::of(status) {
                return Some((pid.as_raw() as u32, ending));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeouts_round_up_and_none_waits_forever() {
        let now = Instant::now();
        assert_eq!(timeout_ms(None, now), -1);
        assert_eq!(timeout_ms(Some(now), now), 0);
        assert_eq!(timeout_ms(Some(now - Duration::from_secs(1)), now), 0);
        assert_eq!(timeout_ms(Some(now + Duration::from_micros(1)), now), 1);
        assert_eq!(timeout_ms(Some(now + Duration::from_micros(1500)), now), 2);
        assert_eq!(timeout_ms(Some(now + Duration::from_secs(2)), now), 2000);
        assert_eq!(timeout_ms(Some(now + Duration::from_secs(1 << 40)), now), i32::MAX);
    }
}
