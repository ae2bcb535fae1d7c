//! The per-service supervisor: a pure state machine ([`machine`]) and the
//! `poll` loop below that carries out its actions.
//!
//! The loop ([`crate::event_loop`]) waits in `poll` on the self-pipe fed
//! by the SIGCHLD and SIGTERM handlers and on the `supervise/control` FIFO.
//! Its only deadline is the machine's, for a start that the one-second rule
//! postponed, so a supervisor whose service is running or down wakes up for
//! nothing. `run` and `finish` are started through [`crate::spawn`].
//!
//! Publishing the status files is the loop's most expensive work (each file
//! is a new inode renamed into place), so it is coalesced: the machine's
//! `Publish` marks the status dirty, and the loop writes it when no signal
//! is waiting, and only the files whose contents changed. A child that dies
//! while the status is being written is reaped and restarted first; the
//! status then written is the final one. After signalling the child
//! (`svc -t`, `-d`, ...), publishing waits up to [`SIGNAL_GRACE`] for it to
//! die, so that `svc -t` costs one publish of the restarted service rather
//! than one of `got TERM` and another of the restart.

pub mod machine;

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::errstr;
use crate::event_loop::EventLoop;
use crate::fail::{Context, Failure, warn};
use crate::spawn::{self, ChildSpec};
use crate::svdir::ServiceDir;
use crate::svdir::publish::{Published, Publisher};
use crate::svdir::supervisor::{Protocol, open_protocol};
use crate::sys::signal::{Received, SelfPipe};
use crate::tai64::Tai64N;
use machine::{Action, Ending, Event, Machine, Now};

const TOOL: &str = "supervise";

/// Supervise the service in `dir` until told to exit. `dir` is used as
/// given in messages.
pub fn supervise(dir: &Path) -> Result<i32, Failure> {
    crate::sys::signal::ignore_sigpipe();
    let name = dir.display().to_string();
    std::env::set_current_dir(dir).or_fail(format!("chdir to {name}"))?;
    let protocol = open_protocol(&name)?;
    let signals = catch_signals()?;
    let dir = ServiceDir::open(Path::new("."))
        .map_err(|errno| Failure::sys(format!("open {name}"), &io::Error::from(errno)))?;
    let want_up = dir
        .normally_up()
        .map_err(|errno| Failure::sys(format!("stat {name}/down"), &io::Error::from(errno)))?;
    let mut sup = Supervisor {
        name,
        machine: Machine::new(),
        epoch: Instant::now(),
        dirty: false,
        publisher: Publisher::new(dir),
        hold_until: None,
    };
    if sup.feed(Event::Boot { want_up }) {
        return Ok(0);
    }
    sup.run(&protocol, &signals)
}

fn catch_signals() -> Result<EventLoop, Failure> {
    EventLoop::new(&[Signal::SIGCHLD, Signal::SIGTERM]).or_fail("catch signals")
}

struct Supervisor {
    name: String,
    machine: Machine,
    epoch: Instant,
    /// The machine asked to publish and the files are not written yet.
    dirty: bool,
    /// Writes the status files, and knows what they hold.
    publisher: Publisher,
    /// After signalling the child, publishing waits until then (or until
    /// the child is reaped, whichever comes first): a child that dies of
    /// the signal is restarted before anything is written, and its
    /// short-lived `got TERM` state costs no files.
    hold_until: Option<Duration>,
}

/// How long publishing waits for a signalled child to die.
const SIGNAL_GRACE: Duration = Duration::from_millis(10);

impl Supervisor {
    fn now(&self) -> Now {
        Now { mono: self.epoch.elapsed(), wall: Tai64N::now() }
    }

    fn run(&mut self, protocol: &Protocol, events: &EventLoop) -> Result<i32, Failure> {
        let mut control_buf = [0u8; 64];
        loop {
            let now = self.epoch.elapsed();
            if self.hold_until.is_some_and(|until| now >= until) {
                self.hold_until = None;
            }
            if self.dirty && self.hold_until.is_none() {
                self.publish(Some(events.self_pipe()));
            }
            // The earliest of the machine's deadline and the end of a hold.
            let wake = match (self.machine.deadline(), self.hold_until.filter(|_| self.dirty)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let deadline = if self.dirty && self.hold_until.is_none() {
                // A signal interrupted publishing: look at it at once.
                Some(Instant::now())
            } else {
                wake.map(|at| self.epoch + at)
            };
            let woken = events
                .wait(&[Some(protocol.control.as_fd())], deadline)
                .map_err(|err| Failure::sys("poll", &err))?;

            if woken.signalled() && self.take_signals(events, woken.signals()) {
                return Ok(0);
            }
            if woken.ready(0) {
                loop {
                    match (&protocol.control).read(&mut control_buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            for event in control_events(&control_buf[..n]) {
                                if self.feed(event) {
                                    return Ok(0);
                                }
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
            }
            if let Some(deadline) = self.machine.deadline()
                && self.epoch.elapsed() >= deadline
                && self.feed(Event::Timeout)
            {
                return Ok(0);
            }
        }
    }

    /// Reap children and take the signals. True when the machine says
    /// exit.
    fn take_signals(&mut self, events: &EventLoop, received: Received) -> bool {
        for (pid, ending) in events.reaped() {
            self.hold_until = None;
            let ending = match ending {
                spawn::Ending::Exited(code) => Ending::Exited(code),
                // As runsv: the low byte of the wait status, so 128 is
                // added when a core was dumped.
                signaled @ spawn::Ending::Signaled { .. } => {
                    Ending::Signaled(signaled.wait_status())
                }
            };
            if self.feed(Event::Reaped { pid, ending }) {
                return true;
            }
        }
        received.has(Signal::SIGTERM) && self.feed(Event::Terminate)
    }

    /// Feed an event and carry out the actions, feeding back the outcome of
    /// every start. True when the machine says exit.
    fn feed(&mut self, event: Event) -> bool {
        let mut pending = Some(event);
        while let Some(event) = pending.take() {
            let actions = self.machine.handle(event, self.now());
            for action in actions.iter() {
                match action {
                    Action::StartRun => pending = Some(self.start_run()),
                    Action::StartFinish { code, signal } => {
                        pending = Some(self.start_finish(code, signal))
                    }
                    Action::Signal { pid, signal } => {
                        let _ = kill(Pid::from_raw(pid as i32), signal);
                        self.hold_until = Some(self.epoch.elapsed() + SIGNAL_GRACE);
                    }
                    Action::Publish => self.dirty = true,
                    Action::Exit => {
                        if self.dirty {
                            self.publish(None);
                        }
                        return true;
                    }
                }
            }
        }
        false
    }

    fn start_run(&self) -> Event {
        match ChildSpec::new("./run").spawn() {
            Ok(child) => Event::RunStarted { pid: child.id() },
            Err(err) => {
                warn(TOOL, format!("unable to start {}/run: {}", self.name, errstr::io_str(&err)));
                Event::RunFailed
            }
        }
    }

    fn start_finish(&self, code: i32, signal: i32) -> Event {
        match fs::metadata("finish") {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Event::NoFinish,
            _ => {}
        }
        match ChildSpec::new("./finish").arg(code.to_string()).arg(signal.to_string()).spawn() {
            Ok(child) => Event::FinishStarted { pid: child.id() },
            Err(err) => {
                warn(
                    TOOL,
                    format!("unable to start {}/finish: {}", self.name, errstr::io_str(&err)),
                );
                Event::NoFinish
            }
        }
    }

    /// Bring the status files up to the machine's state. With `signals`,
    /// stop before a file when a signal is waiting (and stay dirty): the
    /// caller handles it and publishes afterwards.
    fn publish(&mut self, signals: Option<&SelfPipe>) {
        let name = &self.name;
        let published = self.publisher.publish(
            &self.machine.status(),
            self.machine.exit_wanted(),
            || signals.is_some_and(SelfPipe::pending),
            |file, err| {
                warn(
                    TOOL,
                    format!("unable to write {name}/supervise/{file}: {}", errstr::io_str(err)),
                )
            },
        );
        match published {
            Published::Done | Published::Gone => self.dirty = false,
            Published::Interrupted => {}
        }
    }
}

/// The events for the control bytes read: a byte that stands for no
/// command is ignored, as by daemontools' supervise and runsv.
fn control_events(bytes: &[u8]) -> impl Iterator<Item = Event> + '_ {
    bytes.iter().filter_map(|&byte| crate::svdir::Command::from_byte(byte)).map(Event::Command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svdir::Command;

    #[test]
    fn control_bytes_become_commands_and_the_rest_is_ignored() {
        let events: Vec<Event> = control_events(b"dZ\nx\0t").collect();
        assert_eq!(
            events,
            [Command::Down, Command::Exit, Command::Send(Signal::SIGTERM)].map(Event::Command)
        );
    }
}
