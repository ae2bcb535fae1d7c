//! Printers of a [`ServiceState`]: each turns what was read of one service
//! (the state, or why it could not be read) into its own words. A printer
//! is a function of the service's name as given, the reading and the time
//! now; `daemontools` is `svstat`'s line, and runit's `sv` line and JSON
//! join it here.

use std::fmt::Display;
use std::io::{self, Write};

use nix::errno::Errno;

use super::state::{Phase, ReadError, ServiceState};
use super::status::Want;
use crate::errstr;
use crate::tai64::Tai64N;

fn sys(errno: Errno) -> &'static str {
    errstr::nix_str(errno)
}

/// daemontools' `svstat` line, for example `/service/shop: up (pid 1234)
/// 75 seconds`, and newline. From a 20-byte record it also names the one
/// state daemontools has no word for, `finish (pid N)`; otherwise the line
/// is daemontools' own, which goes by the pid (of the 18 bytes it reads).
pub fn daemontools(
    out: &mut impl Write,
    name: impl Display,
    read: &Result<ServiceState, ReadError>,
    now: Tai64N,
) -> io::Result<()> {
    let state = match read {
        Ok(state) => state,
        Err(err) => {
            return match *err {
                ReadError::Dir(e) => writeln!(out, "{name}: unable to chdir: {}", sys(e)),
                ReadError::Down(e) => writeln!(out, "{name}: unable to stat down: {}", sys(e)),
                ReadError::NotRunning => writeln!(out, "{name}: supervise not running"),
                ReadError::Ok(e) => {
                    writeln!(out, "{name}: unable to open supervise/ok: {}", sys(e))
                }
                ReadError::OpenStatus(e) => {
                    writeln!(out, "{name}: unable to open supervise/status: {}", sys(e))
                }
                ReadError::ReadStatus(e) => {
                    writeln!(out, "{name}: unable to read supervise/status: {}", sys(e))
                }
                ReadError::BadFormat => {
                    writeln!(out, "{name}: unable to read supervise/status: bad format")
                }
            };
        }
    };
    let seconds = state.since.secs_until(now);
    let up = state.pid != 0;
    if state.phase == Phase::Finishing {
        write!(out, "{name}: finish (pid {}) {seconds} seconds", state.pid)?;
    } else if up {
        write!(out, "{name}: up (pid {}) {seconds} seconds", state.pid)?;
    } else {
        write!(out, "{name}: down {seconds} seconds")?;
    }
    if up && !state.normally_up {
        out.write_all(b", normally down")?;
    }
    if !up && state.normally_up {
        out.write_all(b", normally up")?;
    }
    if up && state.paused {
        out.write_all(b", paused")?;
    }
    if !up && state.want == Want::Up {
        out.write_all(b", want up")?;
    }
    if up && state.want == Want::Down {
        out.write_all(b", want down")?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svdir::status::{RunState, RunitExtra, Status};

    fn at(secs: u64) -> Tai64N {
        Tai64N { secs: crate::tai64::UNIX_EPOCH_LABEL + secs, nanos: 0 }
    }

    fn status(pid: u32, want: Want, paused: bool) -> Status {
        Status { changed: at(100), pid, paused, want, runit: None }
    }

    fn line(record: &Status, normally_up: bool, now: Tai64N) -> String {
        let mut out = Vec::new();
        daemontools(&mut out, "s", &Ok(ServiceState::new(record, normally_up)), now).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn error_line(err: ReadError) -> String {
        let mut out = Vec::new();
        daemontools(&mut out, "/service/x", &Err(err), at(0)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn up_and_down_lines() {
        assert_eq!(
            line(&status(1234, Want::Up, false), true, at(175)),
            "s: up (pid 1234) 75 seconds\n"
        );
        assert_eq!(
            line(&status(0, Want::Down, false), true, at(103)),
            "s: down 3 seconds, normally up\n"
        );
        assert_eq!(
            line(&status(9, Want::Up, false), false, at(100)),
            "s: up (pid 9) 0 seconds, normally down\n"
        );
    }

    #[test]
    fn flags_in_daemontools_order() {
        assert_eq!(
            line(&status(9, Want::Down, true), false, at(101)),
            "s: up (pid 9) 1 seconds, normally down, paused, want down\n"
        );
        assert_eq!(
            line(&status(0, Want::Up, false), true, at(101)),
            "s: down 1 seconds, normally up, want up\n"
        );
        assert_eq!(line(&status(0, Want::Nothing, false), false, at(101)), "s: down 1 seconds\n");
    }

    #[test]
    fn clock_behind_the_record_shows_zero() {
        assert_eq!(line(&status(0, Want::Down, false), false, at(50)), "s: down 0 seconds\n");
    }

    #[test]
    fn runit_finish_state_is_named() {
        let mut s = status(77, Want::Up, false);
        s.runit = Some(RunitExtra { term_sent: false, state: RunState::Finish });
        assert_eq!(line(&s, true, at(102)), "s: finish (pid 77) 2 seconds\n");
    }

    #[test]
    fn the_pid_decides_as_in_daemontools() {
        // Records no healthy supervisor writes: runit's byte says down with
        // a pid, or run without one; daemontools' svstat sees the pid.
        let mut s = status(5, Want::Up, false);
        s.runit = Some(RunitExtra { term_sent: false, state: RunState::Down });
        assert_eq!(line(&s, true, at(100)), "s: up (pid 5) 0 seconds\n");
        let mut s = status(0, Want::Up, false);
        s.runit = Some(RunitExtra { term_sent: false, state: RunState::Run });
        assert_eq!(line(&s, true, at(100)), "s: down 0 seconds, normally up, want up\n");
    }

    #[test]
    fn errors_in_daemontools_words() {
        for (err, words) in [
            (ReadError::Dir(Errno::ENOENT), "unable to chdir: file does not exist"),
            (ReadError::Down(Errno::EACCES), "unable to stat down: access denied"),
            (ReadError::NotRunning, "supervise not running"),
            (ReadError::Ok(Errno::ENOENT), "unable to open supervise/ok: file does not exist"),
            (
                ReadError::OpenStatus(Errno::ENOENT),
                "unable to open supervise/status: file does not exist",
            ),
            (
                ReadError::ReadStatus(Errno::EIO),
                "unable to read supervise/status: input/output error",
            ),
            (ReadError::BadFormat, "unable to read supervise/status: bad format"),
        ] {
            assert_eq!(error_line(err), format!("/service/x: {words}\n"));
        }
    }
}
