//! `svstat services...`: one line of status per service, in daemontools'
//! words, for example `/service/shop: up (pid 1234) 75 seconds`.
//!
//! From a 20-byte record (runit, tend) it also shows the one state
//! daemontools has no word for: `finish (pid N)` while runit's `finish`
//! script runs. In every other state the line is exactly daemontools'.
//! See `docs/svstat.md`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, fstatat};

use crate::errstr;
use crate::fail::{Context, Failure};
use crate::status::{self, RunState, Status, Want};
use crate::tai64::Tai64N;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let now = Tai64N::now();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for service in &args {
        let line = describe(Path::new(service), now);
        writeln!(out, "{}: {line}", Path::new(service).display()).or_fail("write to stdout")?;
    }
    out.flush().or_fail("write to stdout")?;
    Ok(0)
}

/// The status line for one service (without the `NAME: ` prefix).
pub fn describe(service: &Path, now: Tai64N) -> String {
    match read_state(service) {
        Ok((status, normally_up)) => format_status(&status, normally_up, now),
        Err(message) => message,
    }
}

/// Read what `svstat` shows; `Err` holds the message to print instead.
///
/// The service directory is opened once (`O_PATH`) and everything in it is
/// reached relative to that descriptor, as daemontools' `chdir` does: the
/// kernel walks the service's (often long) path once, not four times.
fn read_state(service: &Path) -> Result<(Status, bool), String> {
    let sys = |errno: Errno| errstr::io_str(&io::Error::from(errno));
    let dir = open(service, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| format!("unable to chdir: {}", sys(errno)))?;
    let normally_up = match fstatat(&dir, "down", AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(_) => false,
        Err(Errno::ENOENT) => true,
        Err(errno) => return Err(format!("unable to stat down: {}", sys(errno))),
    };
    let ok_flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    match openat(&dir, "supervise/ok", ok_flags, Mode::empty()) {
        Ok(_) => {}
        Err(Errno::ENXIO) => return Err("supervise not running".into()),
        Err(errno) => return Err(format!("unable to open supervise/ok: {}", sys(errno))),
    }
    let status_flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mut file = File::from(
        openat(&dir, "supervise/status", status_flags, Mode::empty())
            .map_err(|errno| format!("unable to open supervise/status: {}", sys(errno)))?,
    );
    drop(dir);
    let mut bytes = [0u8; status::LEN];
    let mut len = 0;
    while len < bytes.len() {
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                return Err(format!("unable to read supervise/status: {}", errstr::io_str(&err)));
            }
        }
    }
    let status = Status::decode(&bytes[..len])
        .map_err(|_| "unable to read supervise/status: bad format".to_string())?;
    Ok((status, normally_up))
}

/// daemontools' status line.
pub fn format_status(status: &Status, normally_up: bool, now: Tai64N) -> String {
    let seconds = status.changed.secs_until(now);
    let up = status.pid != 0;
    let finishing = status.runit.is_some_and(|r| r.state == RunState::Finish);
    let mut line = if finishing {
        format!("finish (pid {}) {seconds} seconds", status.pid)
    } else if up {
        format!("up (pid {}) {seconds} seconds", status.pid)
    } else {
        format!("down {seconds} seconds")
    };
    if up && !normally_up {
        line.push_str(", normally down");
    }
    if !up && normally_up {
        line.push_str(", normally up");
    }
    if up && status.paused {
        line.push_str(", paused");
    }
    if !up && status.want == Want::Up {
        line.push_str(", want up");
    }
    if up && status.want == Want::Down {
        line.push_str(", want down");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::RunitExtra;

    fn at(secs: u64) -> Tai64N {
        Tai64N { secs: crate::tai64::UNIX_EPOCH_LABEL + secs, nanos: 0 }
    }

    fn status(pid: u32, want: Want, paused: bool) -> Status {
        Status { changed: at(100), pid, paused, want, runit: None }
    }

    #[test]
    fn up_and_down_lines() {
        assert_eq!(
            format_status(&status(1234, Want::Up, false), true, at(175)),
            "up (pid 1234) 75 seconds"
        );
        assert_eq!(
            format_status(&status(0, Want::Down, false), true, at(103)),
            "down 3 seconds, normally up"
        );
        assert_eq!(
            format_status(&status(9, Want::Up, false), false, at(100)),
            "up (pid 9) 0 seconds, normally down"
        );
    }

    #[test]
    fn flags_in_daemontools_order() {
        assert_eq!(
            format_status(&status(9, Want::Down, true), false, at(101)),
            "up (pid 9) 1 seconds, normally down, paused, want down"
        );
        assert_eq!(
            format_status(&status(0, Want::Up, false), true, at(101)),
            "down 1 seconds, normally up, want up"
        );
        assert_eq!(
            format_status(&status(0, Want::Nothing, false), false, at(101)),
            "down 1 seconds"
        );
    }

    #[test]
    fn clock_behind_the_record_shows_zero() {
        assert_eq!(format_status(&status(0, Want::Down, false), false, at(50)), "down 0 seconds");
    }

    #[test]
    fn runit_finish_state_is_named() {
        let mut s = status(77, Want::Up, false);
        s.runit = Some(RunitExtra { term_sent: false, state: RunState::Finish });
        assert_eq!(format_status(&s, true, at(102)), "finish (pid 77) 2 seconds");
    }
}
