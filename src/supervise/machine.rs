//! The supervisor as a pure state machine: events in, actions out.
//!
//! Nothing here touches the system. The loop in `super` turns `poll`
//! results, signals and control bytes into [`Event`]s, feeds them to
//! [`Machine::handle`], and carries out the [`Action`]s it returns, feeding
//! the outcome of each start back as another event. Every transition is
//! tested below without a process in sight.
//!
//! The rules are daemontools' `supervise`, with runit's additions:
//! - a start is never less than [`MIN_START_GAP`] after the previous one, so
//!   a crashing `run` restarts at most once a second, while a service that
//!   was up longer restarts at once;
//! - after `run` exits, `finish` (if present) runs with the exit code (or
//!   -1) and the signal (or 0) before anything else happens;
//! - `x` makes the supervisor exit once the service is down.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::status::{RunState, RunitExtra, Status, Want};
use crate::tai64::Tai64N;

/// The least time between two starts of `run`.
pub const MIN_START_GAP: Duration = Duration::from_secs(1);

/// A moment, on both clocks the machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for the gap between starts.
    pub mono: Duration,
    /// Wall-clock time, for the status record.
    pub wall: Tai64N,
}

/// How a child ended, as `waitpid` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// The low byte of the wait status: the signal number, plus 128 when
    /// a core was dumped (what runsv hands to `finish`).
    Signaled(i32),
}

impl Ending {
    /// runit's two `finish` arguments: the exit code or -1, and the signal
    /// or 0.
    pub fn finish_args(self) -> (i32, i32) {
        match self {
            Ending::Exited(code) => (code, 0),
            Ending::Signaled(signal) => (-1, signal),
        }
    }
}

/// Something that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The supervisor started; `want_up` is false when `down` exists.
    Boot { want_up: bool },
    /// A byte from `supervise/control`.
    Command(u8),
    /// `run` was started (after [`Action::StartRun`]).
    RunStarted { pid: u32 },
    /// `run` could not be started (after [`Action::StartRun`]); the loop has
    /// said why.
    RunFailed,
    /// `finish` was started (after [`Action::StartFinish`]).
    FinishStarted { pid: u32 },
    /// There is no `finish` to run, or it could not be started.
    NoFinish,
    /// A child was reaped.
    Reaped { pid: u32, ending: Ending },
    /// The deadline the machine asked for has come.
    Timeout,
    /// The supervisor itself was told to stop (SIGTERM): as `svc -dx`.
    Terminate,
}

/// Something the loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start `./run`; answer with `RunStarted` or `RunFailed`.
    StartRun,
    /// Start `./finish CODE SIGNAL` if it exists; answer with
    /// `FinishStarted` or `NoFinish`.
    StartFinish { code: i32, signal: i32 },
    /// Send a signal to a child.
    Signal { pid: u32, signal: Signal },
    /// Write the status files.
    Publish,
    /// Exit the supervisor.
    Exit,
}

/// The actions one event produced, in order. Fixed capacity: the loop
/// allocates nothing per event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Actions {
    items: [Option<Action>; 4],
    len: usize,
}

impl Actions {
    fn push(&mut self, action: Action) {
        self.items[self.len] = Some(action);
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.items[..self.len].iter().map(|a| a.expect("filled"))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<Action> {
        self.iter().collect()
    }
}

/// Which child, if any, the supervisor has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    None,
    Run { pid: u32 },
    Finish { pid: u32 },
}

/// The supervisor's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    child: Child,
    want: Want,
    paused: bool,
    term_sent: bool,
    exit_requested: bool,
    /// A start is owed as soon as the gap since the last one allows.
    start_pending: bool,
    last_start: Option<Duration>,
    changed: Tai64N,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

impl Machine {
    pub fn new() -> Machine {
        Machine {
            child: Child::None,
            want: Want::Up,
            paused: false,
            term_sent: false,
            exit_requested: false,
            start_pending: false,
            last_start: None,
            changed: Tai64N::default(),
        }
    }

    #[cfg(test)]
    pub fn child(&self) -> Child {
        self.child
    }

    /// The pid of `run` while it runs.
    #[cfg(test)]
    pub fn run_pid(&self) -> Option<u32> {
        match self.child {
            Child::Run { pid } => Some(pid),
            _ => None,
        }
    }

    /// When the loop must wake up with [`Event::Timeout`], if ever.
    pub fn deadline(&self) -> Option<Duration> {
        if self.start_pending && self.child == Child::None {
            Some(self.earliest_start())
        } else {
            None
        }
    }

    /// The record the loop writes to `supervise/status`.
    pub fn status(&self) -> Status {
        let (pid, state) = match self.child {
            Child::None => (0, RunState::Down),
            Child::Run { pid } => (pid, RunState::Run),
            Child::Finish { pid } => (pid, RunState::Finish),
        };
        Status {
            changed: self.changed,
            pid,
            paused: self.paused && pid != 0,
            want: self.want,
            runit: Some(RunitExtra { term_sent: self.term_sent, state }),
        }
    }

    /// runit's `supervise/stat` text. As runsv, an exit asked for while a
    /// child runs shows as `want exit` (in place of `want down`).
    pub fn stat_text(&self) -> String {
        let text = self.status().stat_text();
        if !self.exit_requested || self.child == Child::None {
            return text;
        }
        let base = text.trim_end_matches('\n').trim_end_matches(", want down");
        format!("{base}, want exit\n")
    }

    /// Feed one event; get the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Actions {
        let mut out = Actions::default();
        match event {
            Event::Boot { want_up } => {
                self.changed = now.wall;
                self.want = if want_up { Want::Up } else { Want::Down };
                if want_up {
                    self.request_start(now, &mut out);
                }
                if !out.iter().any(|a| a == Action::StartRun) {
                    out.push(Action::Publish);
                }
            }
            Event::Command(byte) => self.command(byte, now, &mut out),
            Event::Terminate => {
                self.command(b'd', now, &mut out);
                let mut more = Actions::default();
                self.command(b'x', now, &mut more);
                for action in more.iter() {
                    if !out.iter().any(|a| a == action) {
                        out.push(action);
                    }
                }
            }
            Event::RunStarted { pid } => {
                self.child = Child::Run { pid };
                self.changed = now.wall;
                self.paused = false;
                self.term_sent = false;
                out.push(Action::Publish);
            }
            Event::RunFailed => {
                out.push(Action::StartFinish { code: 111, signal: 0 });
            }
            Event::FinishStarted { pid } => {
                self.child = Child::Finish { pid };
                out.push(Action::Publish);
            }
            Event::NoFinish => self.after_stop(now, &mut out),
            Event::Reaped { pid, ending } => match self.child {
                Child::Run { pid: run } if run == pid => {
                    // As runsv: the time of the stop is taken once
                    // `finish` is done too; while it runs, the record
                    // still shows when `run` started.
                    self.child = Child::None;
                    self.paused = false;
                    self.term_sent = false;
                    let (code, signal) = ending.finish_args();
                    out.push(Action::StartFinish { code, signal });
                }
                Child::Finish { pid: finish } if finish == pid => {
                    self.child = Child::None;
                    self.after_stop(now, &mut out);
                }
                _ => {}
            },
            Event::Timeout => {
                if self.start_pending && self.child == Child::None {
                    self.request_start(now, &mut out);
                }
            }
        }
        out
    }

    fn earliest_start(&self) -> Duration {
        match self.last_start {
            Some(last) => last + MIN_START_GAP,
            None => Duration::ZERO,
        }
    }

    /// Start now if the gap allows, else owe a start.
    fn request_start(&mut self, now: Now, out: &mut Actions) {
        if self.child != Child::None {
            return;
        }
        if now.mono >= self.earliest_start() {
            self.start_pending = false;
            self.last_start = Some(now.mono);
            out.push(Action::StartRun);
        } else {
            self.start_pending = true;
        }
    }

    /// `run` and `finish` are both done: exit, restart, or rest.
    fn after_stop(&mut self, now: Now, out: &mut Actions) {
        self.child = Child::None;
        self.changed = now.wall;
        if self.exit_requested {
            out.push(Action::Publish);
            out.push(Action::Exit);
            return;
        }
        if self.want == Want::Up || self.start_pending {
            self.request_start(now, out);
        }
        if !out.iter().any(|a| a == Action::StartRun) {
            out.push(Action::Publish);
        }
    }

    fn stop_run(&mut self, pid: u32, out: &mut Actions) {
        out.push(Action::Signal { pid, signal: Signal::SIGTERM });
        out.push(Action::Signal { pid, signal: Signal::SIGCONT });
        self.paused = false;
        self.term_sent = true;
    }

    fn signal_run(&mut self, signal: Signal, out: &mut Actions) {
        if let Child::Run { pid } = self.child {
            out.push(Action::Signal { pid, signal });
            if signal == Signal::SIGTERM {
                self.term_sent = true;
                out.push(Action::Publish);
            }
        }
    }

    fn command(&mut self, byte: u8, now: Now, out: &mut Actions) {
        match byte {
            b'u' => {
                self.want = Want::Up;
                self.request_start(now, out);
                if !out.iter().any(|a| a == Action::StartRun) {
                    out.push(Action::Publish);
                }
            }
            b'd' => {
                self.want = Want::Down;
                self.start_pending = false;
                if let Child::Run { pid } = self.child {
                    self.stop_run(pid, out);
                }
                out.push(Action::Publish);
            }
            b'o' => {
                self.want = Want::Nothing;
                self.request_start(now, out);
                if !out.iter().any(|a| a == Action::StartRun) {
                    out.push(Action::Publish);
                }
            }
            b'x' => {
                self.exit_requested = true;
                out.push(Action::Publish);
                if self.child == Child::None {
                    out.push(Action::Exit);
                }
            }
            b'p' => {
                self.paused = true;
                if let Child::Run { pid } = self.child {
                    out.push(Action::Signal { pid, signal: Signal::SIGSTOP });
                }
                out.push(Action::Publish);
            }
            b'c' => {
                self.paused = false;
                if let Child::Run { pid } = self.child {
                    out.push(Action::Signal { pid, signal: Signal::SIGCONT });
                }
                out.push(Action::Publish);
            }
            b'h' => self.signal_run(Signal::SIGHUP, out),
            b'a' => self.signal_run(Signal::SIGALRM, out),
            b'i' => self.signal_run(Signal::SIGINT, out),
            b't' => self.signal_run(Signal::SIGTERM, out),
            b'k' => self.signal_run(Signal::SIGKILL, out),
            b'q' => self.signal_run(Signal::SIGQUIT, out),
            b'1' => self.signal_run(Signal::SIGUSR1, out),
            b'2' => self.signal_run(Signal::SIGUSR2, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
