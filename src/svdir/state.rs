//! A service's state as a reader sees it: the status record decoded, and
//! what the service directory adds (the `down` file).
//!
//! This is what every printer works from: daemontools' `svstat` line now,
//! runit's `sv` line and JSON later. Readiness (s6's notification-fd: up
//! versus up and ready) and counters (starts, deaths) join it as fields
//! when a supervisor records them.

use nix::errno::Errno;

use super::status::{RunState, Status, Want};
use crate::tai64::Tai64N;

/// What the supervisor is doing with the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Down,
    /// `run` runs.
    Up,
    /// runit's `finish` runs.
    Finishing,
}

/// One service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceState {
    /// runit's run state (byte 19); from an 18-byte record, `Up` when there
    /// is a pid. A record no healthy supervisor writes may disagree with
    /// `pid`: daemontools' tools (which read 18 bytes) go by the pid.
    pub phase: Phase,
    /// The child's pid (`run`, or `finish` while it runs); 0 when none.
    pub pid: u32,
    /// When the service last started or stopped.
    pub since: Tai64N,
    /// The paused byte as recorded (`svc -p`).
    pub paused: bool,
    pub want: Want,
    /// runit: TERM was sent and the child has not exited yet.
    pub term_sent: bool,
    /// There is no `down` file: the service starts with its supervisor.
    pub normally_up: bool,
    /// The record had runit's two bytes (runit's `sv` refuses one without).
    pub runit_record: bool,
}

impl ServiceState {
    pub fn new(record: &Status, normally_up: bool) -> ServiceState {
        let phase = match record.runit.map(|r| r.state) {
            Some(RunState::Down) => Phase::Down,
            Some(RunState::Run) => Phase::Up,
            Some(RunState::Finish) => Phase::Finishing,
            None if record.pid != 0 => Phase::Up,
            None => Phase::Down,
        };
        ServiceState {
            phase,
            pid: record.pid,
            since: record.changed,
            paused: record.paused,
            want: record.want,
            term_sent: record.runit.is_some_and(|r| r.term_sent),
            normally_up,
            runit_record: record.runit.is_some(),
        }
    }
}

/// Why a service's state could not be read, in the order the reads are
/// made. Each printer puts it in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The service directory could not be opened.
    Dir(Errno),
    /// Whether `down` exists could not be found out.
    Down(Errno),
    /// No supervisor holds `supervise/ok` open.
    NotRunning,
    /// `supervise/ok` could not be opened.
    Ok(Errno),
    OpenStatus(Errno),
    ReadStatus(Errno),
    /// `supervise/status` is shorter than daemontools' 18 bytes.
    BadFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svdir::status::RunitExtra;

    fn record(pid: u32, state: Option<RunState>) -> Status {
        Status {
            changed: Tai64N { secs: 7, nanos: 0 },
            pid,
            paused: false,
            want: Want::Up,
            runit: state.map(|state| RunitExtra { term_sent: true, state }),
        }
    }

    #[test]
    fn phase_is_runits_byte_or_the_pid() {
        let phase = |pid, state| ServiceState::new(&record(pid, state), true).phase;
        assert_eq!(phase(5, Some(RunState::Finish)), Phase::Finishing);
        assert_eq!(phase(5, Some(RunState::Run)), Phase::Up);
        assert_eq!(phase(0, Some(RunState::Down)), Phase::Down);
        assert_eq!(phase(5, None), Phase::Up);
        assert_eq!(phase(0, None), Phase::Down);
    }

    #[test]
    fn runits_bytes_are_kept() {
        let state = ServiceState::new(&record(5, Some(RunState::Run)), false);
        assert!(state.term_sent && state.runit_record && !state.normally_up);
        let daemontools = ServiceState::new(&record(5, None), true);
        assert!(!daemontools.term_sent && !daemontools.runit_record);
        assert_eq!(daemontools.since, Tai64N { secs: 7, nanos: 0 });
    }
}
