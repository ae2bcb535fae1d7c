//! The supervisor as a pure state machine: events in, actions out.
//!
//! Nothing here touches the system. The loop in `super` turns `poll`
//! results, signals and control bytes into [`Event`]s, feeds them to
//! [`Machine::handle`], and carries out the [`Actions`] it returns, feeding
//! the outcome of each start back as another event. Every transition is
//! tested below without a process in sight.
//!
//! [`Machine::handle`] is one exhaustive `match` on the [`State`] and the
//! event (s6-supervise's `actions[state][event]` table, checked by the
//! compiler); the standing wish (up, down, once), a pending exit and the
//! time of the last start are kept beside the state.
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

use crate::svdir::Command;
use crate::svdir::status::{RunState, RunitExtra, Status, Want};
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
    /// A command from `supervise/control`.
    Command(Command),
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

/// The start one event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Run,
    Finish { code: i32, signal: i32 },
}

/// The actions one event produced. A slot for each kind, carried out in
/// this order: the signal (then CONT, for `d`), the start, publishing,
/// exit. So the list has a fixed size and cannot overflow, and the loop
/// allocates nothing per event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Actions {
    signal: Option<(u32, Signal)>,
    /// CONT after `signal`, so that a stopped child hears the TERM.
    cont: bool,
    start: Option<Start>,
    publish: bool,
    exit: bool,
}

impl Actions {
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        let signal = self.signal.map(|(pid, signal)| Action::Signal { pid, signal });
        let cont = self
            .signal
            .filter(|_| self.cont)
            .map(|(pid, _)| Action::Signal { pid, signal: Signal::SIGCONT });
        let start = self.start.map(|start| match start {
            Start::Run => Action::StartRun,
            Start::Finish { code, signal } => Action::StartFinish { code, signal },
        });
        let publish = self.publish.then_some(Action::Publish);
        let exit = self.exit.then_some(Action::Exit);
        [signal, cont, start, publish, exit].into_iter().flatten()
    }

    /// Publish, unless a start was asked for: the start's outcome
    /// publishes.
    fn publish_unless_starting(&mut self) {
        if self.start.is_none() {
            self.publish = true;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<Action> {
        self.iter().collect()
    }
}

/// Where the service is. The loop answers every start at once, so
/// `Starting` and `FinishStarting` last only from an action to its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No child, and none owed.
    Down,
    /// No child; a start is owed at `at` (the gap since the last start).
    Waiting { at: Duration },
    /// `run` is being started.
    Starting,
    /// `run` runs.
    Up { pid: u32, paused: bool },
    /// `run` runs and was sent TERM (runit's `got TERM`).
    Stopping { pid: u32, paused: bool },
    /// `run` is done (or could not start); `finish` is being started.
    FinishStarting,
    /// `finish` runs (commands other than `p`/`c` wait for it to end).
    Finishing { pid: u32, paused: bool },
}

/// The supervisor's state and what it keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    state: State,
    want: Want,
    /// `x` was received: exit once the service is down.
    exit_wanted: bool,
    last_start: Option<Duration>,
    /// The time of the last start or stop, for the record.
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
            state: State::Down,
            want: Want::Up,
            exit_wanted: false,
            last_start: None,
            changed: Tai64N::default(),
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// The pid of `run` while it runs.
    #[cfg(test)]
    pub fn run_pid(&self) -> Option<u32> {
        match self.state {
            State::Up { pid, .. } | State::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// When the loop must wake up with [`Event::Timeout`], if ever.
    pub fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Waiting { at } => Some(at),
            _ => None,
        }
    }

    /// Whether the supervisor was told to exit (runit's `want exit`).
    pub fn exit_wanted(&self) -> bool {
        self.exit_wanted
    }

    /// The record the loop writes to `supervise/status`.
    pub fn status(&self) -> Status {
        let (pid, state, paused, term_sent) = match self.state {
            State::Down | State::Waiting { .. } | State::Starting | State::FinishStarting => {
                (0, RunState::Down, false, false)
            }
            State::Up { pid, paused } => (pid, RunState::Run, paused, false),
            State::Stopping { pid, paused } => (pid, RunState::Run, paused, true),
            State::Finishing { pid, paused } => (pid, RunState::Finish, paused, false),
        };
        Status {
            changed: self.changed,
            pid,
            paused,
            want: self.want,
            runit: Some(RunitExtra { term_sent, state }),
        }
    }

    /// Feed one event; get the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Actions {
        use State::*;
        let mut out = Actions::default();
        match (self.state, event) {
            (Down, Event::Boot { want_up }) => {
                self.changed = now.wall;
                self.want = if want_up { Want::Up } else { Want::Down };
                if want_up {
                    self.request_start(now, &mut out);
                }
                out.publish_unless_starting();
            }
            // Boot is the first event, in `Down`, and only ever once.
            (
                Waiting { .. }
                | Starting
                | Up { .. }
                | Stopping { .. }
                | FinishStarting
                | Finishing { .. },
                Event::Boot { .. },
            ) => {}

            (_, Event::Command(command)) => self.command(command, now, &mut out),
            (_, Event::Terminate) => {
                self.command(Command::Down, now, &mut out);
                self.command(Command::Exit, now, &mut out);
            }

            (Starting, Event::RunStarted { pid }) => {
                self.state = Up { pid, paused: false };
                self.changed = now.wall;
                out.publish = true;
            }
            (Starting, Event::RunFailed) => {
                self.state = FinishStarting;
                out.start = Some(Start::Finish { code: 111, signal: 0 });
            }
            (FinishStarting, Event::FinishStarted { pid }) => {
                self.state = Finishing { pid, paused: false };
                out.publish = true;
            }
            (FinishStarting, Event::NoFinish) => self.after_stop(now, &mut out),
            // Answers to a start come only while it is being made.
            (
                Down
                | Waiting { .. }
                | Up { .. }
                | Stopping { .. }
                | FinishStarting
                | Finishing { .. },
                Event::RunStarted { .. } | Event::RunFailed,
            )
            | (
                Down | Waiting { .. } | Starting | Up { .. } | Stopping { .. } | Finishing { .. },
                Event::FinishStarted { .. } | Event::NoFinish,
            ) => {}

            (Up { pid: run, .. } | Stopping { pid: run, .. }, Event::Reaped { pid, ending })
                if run == pid =>
            {
                // As runsv: the time of the stop is taken once `finish` is
                // done too; while it runs, the record still shows when
                // `run` started.
                self.state = FinishStarting;
                let (code, signal) = ending.finish_args();
                out.start = Some(Start::Finish { code, signal });
            }
            (Finishing { pid: finish, .. }, Event::Reaped { pid, .. }) if finish == pid => {
                self.after_stop(now, &mut out)
            }
            // Not our child, or not the one that runs.
            (
                Down
                | Waiting { .. }
                | Starting
                | Up { .. }
                | Stopping { .. }
                | FinishStarting
                | Finishing { .. },
                Event::Reaped { .. },
            ) => {}

            (Waiting { at }, Event::Timeout) => {
                if now.mono >= at {
                    self.request_start(now, &mut out);
                }
            }
            (
                Down | Starting | Up { .. } | Stopping { .. } | FinishStarting | Finishing { .. },
                Event::Timeout,
            ) => {}
        }
        out
    }

    fn earliest_start(&self) -> Duration {
        match self.last_start {
            Some(last) => last + MIN_START_GAP,
            None => Duration::ZERO,
        }
    }

    /// With no child: start now if the gap allows, else owe a start.
    fn request_start(&mut self, now: Now, out: &mut Actions) {
        let at = self.earliest_start();
        if now.mono >= at {
            self.last_start = Some(now.mono);
            self.state = State::Starting;
            out.start = Some(Start::Run);
        } else {
            self.state = State::Waiting { at };
        }
    }

    /// `run` and `finish` are both done: exit, restart, or rest.
    fn after_stop(&mut self, now: Now, out: &mut Actions) {
        self.state = State::Down;
        self.changed = now.wall;
        if self.exit_wanted {
            out.publish = true;
            out.exit = true;
            return;
        }
        if self.want == Want::Up {
            self.request_start(now, out);
        }
        out.publish_unless_starting();
    }

    fn command(&mut self, command: Command, now: Now, out: &mut Actions) {
        use State::*;
        match (self.state, command) {
            (Down | Waiting { .. }, Command::Up | Command::Once) => {
                self.want = if command == Command::Up { Want::Up } else { Want::Nothing };
                self.request_start(now, out);
                out.publish_unless_starting();
            }
            (
                Starting | Up { .. } | Stopping { .. } | FinishStarting | Finishing { .. },
                Command::Up | Command::Once,
            ) => {
                self.want = if command == Command::Up { Want::Up } else { Want::Nothing };
                out.publish = true;
            }

            (Up { pid, .. } | Stopping { pid, .. }, Command::Down) => {
                self.want = Want::Down;
                out.signal = Some((pid, Signal::SIGTERM));
                out.cont = true;
                self.state = Stopping { pid, paused: false };
                out.publish = true;
            }
            (Waiting { .. }, Command::Down) => {
                self.want = Want::Down;
                self.state = Down;
                out.publish = true;
            }
            (Down | Starting | FinishStarting | Finishing { .. }, Command::Down) => {
                self.want = Want::Down;
                out.publish = true;
            }

            (Down | Waiting { .. }, Command::Exit) => {
                self.state = Down;
                self.exit_wanted = true;
                out.publish = true;
                out.exit = true;
            }
            (
                Starting | Up { .. } | Stopping { .. } | FinishStarting | Finishing { .. },
                Command::Exit,
            ) => {
                self.exit_wanted = true;
                out.publish = true;
            }

            (Up { pid, .. }, Command::Pause | Command::Continue) => {
                let paused = command == Command::Pause;
                out.signal = Some((pid, if paused { Signal::SIGSTOP } else { Signal::SIGCONT }));
                self.state = Up { pid, paused };
                out.publish = true;
            }
            (Stopping { pid, .. }, Command::Pause | Command::Continue) => {
                let paused = command == Command::Pause;
                out.signal = Some((pid, if paused { Signal::SIGSTOP } else { Signal::SIGCONT }));
                self.state = Stopping { pid, paused };
                out.publish = true;
            }
            // `finish` is not signalled, but the record shows the wish.
            (Finishing { pid, .. }, Command::Pause | Command::Continue) => {
                self.state = Finishing { pid, paused: command == Command::Pause };
                out.publish = true;
            }
            // A pause ends with the process: without one there is nothing
            // to pause.
            (
                Down | Waiting { .. } | Starting | FinishStarting,
                Command::Pause | Command::Continue,
            ) => {
                out.publish = true;
            }

            (Up { pid, paused } | Stopping { pid, paused }, Command::Send(signal)) => {
                out.signal = Some((pid, signal));
                if signal == Signal::SIGTERM {
                    self.state = Stopping { pid, paused };
                    out.publish = true;
                }
            }
            (
                Down | Waiting { .. } | Starting | FinishStarting | Finishing { .. },
                Command::Send(_),
            ) => {}
        }
    }
}

#[cfg(test)]
mod tests;
