//! Every transition of the supervisor, without a process.

use super::*;

fn at(ms: u64) -> Now {
    Now { mono: Duration::from_millis(ms), wall: Tai64N { secs: 1000 + ms / 1000, nanos: 0 } }
}

/// The event for the command a control byte stands for.
fn cmd(letter: u8) -> Event {
    Event::Command(Command::from_byte(letter).expect("a command letter"))
}

fn stat(m: &Machine) -> String {
    String::from_utf8(m.status().stat(m.exit_wanted()).as_bytes().to_vec()).unwrap()
}

fn booted_up(pid: u32) -> Machine {
    let mut m = Machine::new();
    assert_eq!(m.handle(Event::Boot { want_up: true }, at(0)).to_vec(), vec![Action::StartRun]);
    assert_eq!(m.handle(Event::RunStarted { pid }, at(0)).to_vec(), vec![Action::Publish]);
    m
}

#[test]
fn boot_without_down_file_starts_run() {
    let m = booted_up(42);
    assert_eq!(m.state(), State::Up { pid: 42, paused: false });
    let status = m.status();
    assert_eq!(status.pid, 42);
    assert_eq!(status.want, Want::Up);
    assert_eq!(status.runit.unwrap().state, RunState::Run);
}

#[test]
fn boot_with_down_file_stays_down_and_publishes() {
    let mut m = Machine::new();
    assert_eq!(m.handle(Event::Boot { want_up: false }, at(0)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.state(), State::Down);
    assert_eq!(m.status().want, Want::Down);
    assert_eq!(m.deadline(), None, "nothing to wake up for");
}

#[test]
fn crash_soon_after_start_waits_out_the_second() {
    let mut m = booted_up(42);
    let exit = Event::Reaped { pid: 42, ending: Ending::Exited(1) };
    assert_eq!(m.handle(exit, at(10)).to_vec(), vec![Action::StartFinish { code: 1, signal: 0 }]);
    assert_eq!(m.handle(Event::NoFinish, at(10)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), Some(Duration::from_millis(1000)));
    assert!(m.handle(Event::Timeout, at(999)).is_empty(), "not before the second is up");
    assert_eq!(m.handle(Event::Timeout, at(1000)).to_vec(), vec![Action::StartRun]);
    assert_eq!(m.deadline(), None);
}

#[test]
fn service_up_longer_restarts_at_once() {
    let mut m = booted_up(42);
    let killed = Event::Reaped { pid: 42, ending: Ending::Signaled(9) };
    assert_eq!(
        m.handle(killed, at(5000)).to_vec(),
        vec![Action::StartFinish { code: -1, signal: 9 }]
    );
    assert_eq!(m.handle(Event::NoFinish, at(5000)).to_vec(), vec![Action::StartRun]);
    m.handle(Event::RunStarted { pid: 43 }, at(5000));
    assert_eq!(m.status().pid, 43);
    assert_eq!(m.status().changed, at(5000).wall);
}

#[test]
fn finish_runs_before_the_restart() {
    let mut m = booted_up(42);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(3) }, at(2000));
    assert_eq!(
        m.handle(Event::FinishStarted { pid: 50 }, at(2000)).to_vec(),
        vec![Action::Publish]
    );
    let status = m.status();
    assert_eq!(status.runit.unwrap().state, RunState::Finish);
    assert_eq!(status.pid, 50);
    assert_eq!(m.run_pid(), None);
    let done = Event::Reaped { pid: 50, ending: Ending::Exited(0) };
    assert_eq!(m.handle(done, at(2100)).to_vec(), vec![Action::StartRun]);
}

#[test]
fn down_sends_term_then_cont_and_does_not_restart() {
    let mut m = booted_up(42);
    assert_eq!(
        m.handle(cmd(b'd'), at(100)).to_vec(),
        vec![
            Action::Signal { pid: 42, signal: Signal::SIGTERM },
            Action::Signal { pid: 42, signal: Signal::SIGCONT },
            Action::Publish
        ]
    );
    let status = m.status();
    assert_eq!(status.want, Want::Down);
    assert!(status.runit.unwrap().term_sent);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(5000));
    assert_eq!(m.handle(Event::NoFinish, at(5000)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.state(), State::Down);
    assert!(!m.status().runit.unwrap().term_sent, "cleared once the child is gone");
    assert_eq!(m.deadline(), None);
}

#[test]
fn up_while_down_starts_and_respects_the_gap() {
    let mut m = booted_up(42);
    m.handle(cmd(b'd'), at(100));
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(200));
    m.handle(Event::NoFinish, at(200));
    assert_eq!(m.handle(cmd(b'u'), at(300)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), Some(Duration::from_millis(1000)));
    assert_eq!(m.handle(Event::Timeout, at(1000)).to_vec(), vec![Action::StartRun]);
}

#[test]
fn down_cancels_a_pending_start() {
    let mut m = booted_up(42);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(1) }, at(10));
    m.handle(Event::NoFinish, at(10));
    assert!(m.deadline().is_some());
    assert_eq!(m.handle(cmd(b'd'), at(20)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), None);
    assert!(m.handle(Event::Timeout, at(2000)).is_empty());
}

#[test]
fn once_runs_and_does_not_restart() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    assert_eq!(m.handle(cmd(b'o'), at(10)).to_vec(), vec![Action::StartRun]);
    m.handle(Event::RunStarted { pid: 7 }, at(10));
    assert_eq!(m.status().want, Want::Nothing);
    assert_eq!(m.status().encode()[17], 0, "daemontools writes 0 after -o");
    m.handle(Event::Reaped { pid: 7, ending: Ending::Exited(0) }, at(5000));
    assert_eq!(m.handle(Event::NoFinish, at(5000)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), None);
}

#[test]
fn once_while_running_stops_the_restart() {
    let mut m = booted_up(42);
    assert_eq!(m.handle(cmd(b'o'), at(10)).to_vec(), vec![Action::Publish]);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(0) }, at(5000));
    assert_eq!(m.handle(Event::NoFinish, at(5000)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.state(), State::Down);
}

#[test]
fn exit_waits_for_the_service_to_be_down() {
    let mut m = booted_up(42);
    assert_eq!(m.handle(cmd(b'x'), at(10)).to_vec(), vec![Action::Publish]);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(0) }, at(5000));
    assert_eq!(m.handle(Event::NoFinish, at(5000)).to_vec(), vec![Action::Publish, Action::Exit]);
}

#[test]
fn exit_while_down_is_immediate() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    assert_eq!(m.handle(cmd(b'x'), at(10)).to_vec(), vec![Action::Publish, Action::Exit]);
}

#[test]
fn dx_stops_then_exits() {
    let mut m = booted_up(42);
    m.handle(cmd(b'd'), at(10));
    m.handle(cmd(b'x'), at(10));
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(20));
    assert_eq!(m.handle(Event::NoFinish, at(20)).to_vec(), vec![Action::Publish, Action::Exit]);
}

#[test]
fn terminate_is_down_and_exit() {
    let mut m = booted_up(42);
    assert_eq!(
        m.handle(Event::Terminate, at(10)).to_vec(),
        vec![
            Action::Signal { pid: 42, signal: Signal::SIGTERM },
            Action::Signal { pid: 42, signal: Signal::SIGCONT },
            Action::Publish
        ]
    );
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(20));
    assert_eq!(m.handle(Event::NoFinish, at(20)).to_vec(), vec![Action::Publish, Action::Exit]);

    let mut idle = Machine::new();
    idle.handle(Event::Boot { want_up: false }, at(0));
    assert_eq!(idle.handle(Event::Terminate, at(1)).to_vec(), vec![Action::Publish, Action::Exit]);
}

#[test]
fn pause_and_continue() {
    let mut m = booted_up(42);
    assert_eq!(
        m.handle(cmd(b'p'), at(10)).to_vec(),
        vec![Action::Signal { pid: 42, signal: Signal::SIGSTOP }, Action::Publish]
    );
    assert!(m.status().paused);
    assert_eq!(m.status().encode()[16], 1);
    assert_eq!(
        m.handle(cmd(b'c'), at(20)).to_vec(),
        vec![Action::Signal { pid: 42, signal: Signal::SIGCONT }, Action::Publish]
    );
    assert!(!m.status().paused);
}

#[test]
fn down_clears_pause() {
    let mut m = booted_up(42);
    m.handle(cmd(b'p'), at(10));
    m.handle(cmd(b'd'), at(20));
    assert!(!m.status().paused);
}

#[test]
fn signal_letters_map_to_signals() {
    for (letter, signal) in [
        (b'h', Signal::SIGHUP),
        (b'a', Signal::SIGALRM),
        (b'i', Signal::SIGINT),
        (b'k', Signal::SIGKILL),
        (b'q', Signal::SIGQUIT),
        (b'1', Signal::SIGUSR1),
        (b'2', Signal::SIGUSR2),
    ] {
        let mut m = booted_up(42);
        assert_eq!(
            m.handle(cmd(letter), at(10)).to_vec(),
            vec![Action::Signal { pid: 42, signal }],
            "letter {}",
            letter as char
        );
    }
}

#[test]
fn term_is_recorded_for_runit() {
    let mut m = booted_up(42);
    assert_eq!(
        m.handle(cmd(b't'), at(10)).to_vec(),
        vec![Action::Signal { pid: 42, signal: Signal::SIGTERM }, Action::Publish]
    );
    assert!(m.status().runit.unwrap().term_sent);
    assert_eq!(m.status().want, Want::Up, "t alone does not change the wish");
}

#[test]
fn signals_without_a_child_do_nothing() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    for letter in *b"haitkq12" {
        assert!(m.handle(cmd(letter), at(10)).is_empty());
    }
}

#[test]
fn run_that_cannot_start_is_retried_each_second_and_finish_hears_111() {
    let mut m = Machine::new();
    assert_eq!(m.handle(Event::Boot { want_up: true }, at(0)).to_vec(), vec![Action::StartRun]);
    assert_eq!(
        m.handle(Event::RunFailed, at(0)).to_vec(),
        vec![Action::StartFinish { code: 111, signal: 0 }]
    );
    assert_eq!(m.handle(Event::NoFinish, at(0)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), Some(Duration::from_secs(1)));
    assert_eq!(m.handle(Event::Timeout, at(1000)).to_vec(), vec![Action::StartRun]);
    assert_eq!(m.handle(Event::RunFailed, at(1000)).len(), 1);
}

#[test]
fn once_that_cannot_start_is_not_retried() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    m.handle(cmd(b'o'), at(0));
    m.handle(Event::RunFailed, at(0));
    m.handle(Event::NoFinish, at(0));
    assert_eq!(m.deadline(), None);
}

#[test]
fn commands_during_finish_take_effect_after_it() {
    let mut m = booted_up(42);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(0) }, at(3000));
    m.handle(Event::FinishStarted { pid: 50 }, at(3000));
    assert_eq!(m.handle(cmd(b'd'), at(3001)).to_vec(), vec![Action::Publish]);
    assert!(m.handle(cmd(b't'), at(3001)).is_empty(), "finish is not signalled");
    let done = Event::Reaped { pid: 50, ending: Ending::Exited(0) };
    assert_eq!(m.handle(done, at(3100)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.state(), State::Down);
}

#[test]
fn strangers_reaped_are_ignored() {
    let mut m = booted_up(42);
    let before = m.clone();
    assert!(m.handle(Event::Reaped { pid: 99, ending: Ending::Exited(0) }, at(10)).is_empty());
    assert_eq!(m, before);
}

#[test]
fn start_clears_pause_and_term() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    m.handle(cmd(b'p'), at(0));
    m.handle(cmd(b'u'), at(0));
    m.handle(Event::RunStarted { pid: 8 }, at(0));
    assert!(!m.status().paused);
}

#[test]
fn stop_time_is_taken_when_finish_is_done_as_runsv() {
    let mut m = booted_up(42);
    m.handle(cmd(b'd'), at(2000));
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(2100));
    m.handle(Event::FinishStarted { pid: 50 }, at(2100));
    assert_eq!(m.status().changed, at(0).wall, "while finish runs: still the start time");
    m.handle(Event::Reaped { pid: 50, ending: Ending::Exited(0) }, at(3500));
    assert_eq!(m.status().changed, at(3500).wall);
    assert_eq!(m.status().pid, 0);
}

#[test]
fn stop_time_without_finish_is_the_exit() {
    let mut m = booted_up(42);
    m.handle(cmd(b'd'), at(2000));
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(2100));
    m.handle(Event::NoFinish, at(2100));
    assert_eq!(m.status().changed, at(2100).wall);
}

#[test]
fn stat_shows_a_pending_exit_as_runsv() {
    let mut m = booted_up(42);
    assert_eq!(stat(&m), "run\n");
    m.handle(cmd(b'x'), at(2000));
    assert_eq!(stat(&m), "run, want exit\n");
    m.handle(cmd(b'd'), at(2000));
    assert_eq!(stat(&m), "run, got TERM, want exit\n");
    m.handle(Event::Reaped { pid: 42, ending: Ending::Signaled(15) }, at(2100));
    m.handle(Event::FinishStarted { pid: 50 }, at(2100));
    assert_eq!(stat(&m), "finish, want exit\n");
}

#[test]
fn pause_after_term_keeps_got_term() {
    let mut m = booted_up(42);
    m.handle(cmd(b't'), at(10));
    assert_eq!(m.state(), State::Stopping { pid: 42, paused: false });
    assert_eq!(
        m.handle(cmd(b'p'), at(20)).to_vec(),
        vec![Action::Signal { pid: 42, signal: Signal::SIGSTOP }, Action::Publish]
    );
    assert_eq!(stat(&m), "run, paused, got TERM\n");
    m.handle(cmd(b'c'), at(30));
    assert_eq!(stat(&m), "run, got TERM\n");
    assert_eq!(
        m.handle(cmd(b'k'), at(40)).to_vec(),
        vec![Action::Signal { pid: 42, signal: Signal::SIGKILL }]
    );
    assert_eq!(m.handle(cmd(b'd'), at(50)).len(), 3, "d still sends TERM and CONT");
    assert_eq!(m.state(), State::Stopping { pid: 42, paused: false });
}

#[test]
fn pause_during_finish_is_recorded_but_not_sent() {
    let mut m = booted_up(42);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(0) }, at(3000));
    m.handle(Event::FinishStarted { pid: 50 }, at(3000));
    assert_eq!(m.handle(cmd(b'p'), at(3001)).to_vec(), vec![Action::Publish]);
    assert!(m.status().paused);
    assert_eq!(stat(&m), "finish, paused\n");
    assert_eq!(m.handle(cmd(b'c'), at(3002)).to_vec(), vec![Action::Publish]);
    assert!(!m.status().paused);
}

#[test]
fn pause_while_down_is_not_kept() {
    let mut m = Machine::new();
    m.handle(Event::Boot { want_up: false }, at(0));
    assert_eq!(m.handle(cmd(b'p'), at(0)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.state(), State::Down);
    // Nothing to start: `run` cannot be started; `finish` runs unpaused.
    m.handle(cmd(b'u'), at(0));
    m.handle(Event::RunFailed, at(0));
    m.handle(Event::FinishStarted { pid: 9 }, at(0));
    assert!(!m.status().paused);
}

#[test]
fn a_start_owed_is_waiting_with_its_deadline() {
    let mut m = booted_up(42);
    m.handle(Event::Reaped { pid: 42, ending: Ending::Exited(1) }, at(300));
    m.handle(Event::NoFinish, at(300));
    assert_eq!(m.state(), State::Waiting { at: Duration::from_millis(1000) });
    // `u` while waiting: the start is still owed, not made early.
    assert_eq!(m.handle(cmd(b'u'), at(500)).to_vec(), vec![Action::Publish]);
    assert_eq!(m.deadline(), Some(Duration::from_millis(1000)));
    // Once the second is up, a command starts it even before the timeout.
    assert_eq!(m.handle(cmd(b'u'), at(1000)).to_vec(), vec![Action::StartRun]);
    assert_eq!(m.state(), State::Starting);
    // x while waiting exits at once, the start forgotten.
    let mut w = booted_up(42);
    w.handle(Event::Reaped { pid: 42, ending: Ending::Exited(1) }, at(300));
    w.handle(Event::NoFinish, at(300));
    assert_eq!(w.handle(cmd(b'x'), at(400)).to_vec(), vec![Action::Publish, Action::Exit]);
}

/// A machine in every state, with every wish and with and without a
/// pending exit, reached through events only.
fn every_machine() -> Vec<Machine> {
    let mut all = Vec::new();
    for want in [b'u', b'd', b'o'] {
        for exit in [false, true] {
            let mut paths: Vec<Vec<Event>> = vec![
                vec![Event::Boot { want_up: false }],
                vec![Event::Boot { want_up: true }],
                vec![Event::Boot { want_up: true }, Event::RunStarted { pid: 42 }],
                vec![Event::Boot { want_up: true }, Event::RunStarted { pid: 42 }, cmd(b't')],
                vec![Event::Boot { want_up: true }, Event::RunStarted { pid: 42 }, cmd(b'p')],
                vec![
                    Event::Boot { want_up: true },
                    Event::RunStarted { pid: 42 },
                    Event::Reaped { pid: 42, ending: Ending::Exited(0) },
                ],
                vec![
                    Event::Boot { want_up: true },
                    Event::RunStarted { pid: 42 },
                    Event::Reaped { pid: 42, ending: Ending::Exited(0) },
                    Event::FinishStarted { pid: 50 },
                ],
                // Waiting: run died within the second.
                vec![
                    Event::Boot { want_up: true },
                    Event::RunStarted { pid: 42 },
                    Event::Reaped { pid: 42, ending: Ending::Exited(1) },
                    Event::NoFinish,
                ],
            ];
            for path in &mut paths {
                let mut m = Machine::new();
                let last = path.pop().unwrap();
                for event in path.iter() {
                    m.handle(*event, at(0));
                }
                // The wish and the exit, set where they change no state.
                if !matches!(m.state(), State::Down | State::Waiting { .. }) {
                    m.handle(cmd(want), at(0));
                    if exit {
                        m.handle(cmd(b'x'), at(0));
                    }
                }
                m.handle(last, at(10));
                all.push(m);
            }
        }
    }
    all
}

fn every_event() -> Vec<Event> {
    let mut events = vec![
        Event::Boot { want_up: true },
        Event::Boot { want_up: false },
        Event::RunStarted { pid: 43 },
        Event::RunFailed,
        Event::FinishStarted { pid: 51 },
        Event::NoFinish,
        Event::Reaped { pid: 42, ending: Ending::Exited(0) },
        Event::Reaped { pid: 50, ending: Ending::Signaled(9) },
        Event::Reaped { pid: 99, ending: Ending::Exited(0) },
        Event::Timeout,
        Event::Terminate,
    ];
    events.extend(crate::svdir::command::TABLE.iter().map(|e| Event::Command(e.command)));
    events
}

#[test]
fn every_state_and_event_keeps_the_invariants() {
    let machines = every_machine();
    let states: Vec<State> = machines.iter().map(Machine::state).collect();
    for kind in [
        State::Down,
        State::Waiting { at: Duration::from_millis(1000) },
        State::Starting,
        State::Up { pid: 42, paused: false },
        State::Up { pid: 42, paused: true },
        State::Stopping { pid: 42, paused: false },
        State::FinishStarting,
        State::Finishing { pid: 50, paused: false },
    ] {
        assert!(states.contains(&kind), "no machine in {kind:?}");
    }
    for machine in &machines {
        for event in every_event() {
            for now in [at(10), at(5000)] {
                let mut m = machine.clone();
                let actions = m.handle(event, now).to_vec();
                let what = format!("{:?} + {event:?} -> {actions:?}", machine.state());
                let starts = actions
                    .iter()
                    .filter(|a| matches!(a, Action::StartRun | Action::StartFinish { .. }))
                    .count();
                assert!(starts <= 1, "{what}");
                if actions.contains(&Action::StartRun) {
                    assert_eq!(m.state(), State::Starting, "{what}");
                    assert!(!actions.contains(&Action::Publish), "{what}");
                }
                if actions.iter().any(|a| matches!(a, Action::StartFinish { .. })) {
                    assert_eq!(m.state(), State::FinishStarting, "{what}");
                }
                if actions.contains(&Action::Exit) {
                    assert_eq!(m.state(), State::Down, "exit only with no child: {what}");
                    assert_eq!(actions.last(), Some(&Action::Exit), "{what}");
                    assert!(actions.contains(&Action::Publish), "the last record: {what}");
                }
                // Signals go to `run` alone, and only while it runs.
                for action in &actions {
                    if let Action::Signal { pid, .. } = action {
                        assert_eq!(Some(*pid), machine.run_pid(), "{what}");
                    }
                }
                assert_eq!(m.deadline().is_some(), matches!(m.state(), State::Waiting { .. }));
                // The record agrees with the state.
                let status = m.status();
                assert_eq!(
                    status.pid != 0,
                    m.run_pid().is_some() || matches!(m.state(), State::Finishing { .. }),
                    "{what}"
                );
            }
        }
    }
}
