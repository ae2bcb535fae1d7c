//! The supervisor's side of `supervise/status`, `pid` and `stat`: write
//! each only when its contents change, in runsv's order (`pid`, `stat`,
//! then `status`, so a reader who sees a new `status` finds `pid` and
//! `stat` already matching it), each replaced atomically (`FILE.new`, then
//! rename).
//!
//! Publishing is a supervisor's most expensive work (each file is a new
//! inode renamed into place), so it writes nothing that is already there,
//! allocates nothing, and gives way between files to whatever the caller
//! says is more urgent (a child to reap).

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};

use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fstat};

use super::ServiceDir;
use super::status::{self, PID_MAX, STAT_MAX, Status, Text};

/// What one call of [`Publisher::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Every file holds the record (or failed and was reported; it is
    /// written again next time).
    Done,
    /// Stopped before a file because the caller said so; publish again.
    Interrupted,
    /// The service directory was deleted: there is nowhere to write, and
    /// nobody to read.
    Gone,
}

/// A status file: its name in messages, the temporary and the real path.
struct StatusFile {
    name: &'static str,
    temp: &'static CStr,
    target: &'static CStr,
}

/// The files in the order they are written.
const FILES: [StatusFile; 3] = [
    StatusFile { name: "pid", temp: c"supervise/pid.new", target: c"supervise/pid" },
    StatusFile { name: "stat", temp: c"supervise/stat.new", target: c"supervise/stat" },
    StatusFile { name: "status", temp: c"supervise/status.new", target: c"supervise/status" },
];

/// What one file holds; the longest of the three is `stat`.
type Contents = Text<STAT_MAX>;
const _: () = assert!(STAT_MAX >= PID_MAX && STAT_MAX >= status::LEN);

/// Writes a service's status files and remembers what they hold.
pub struct Publisher {
    dir: ServiceDir,
    /// What each of [`FILES`] holds, as far as this publisher wrote it.
    written: [Option<Contents>; 3],
}

/// What became of writing one file.
enum Outcome {
    Written,
    Failed,
    Gone,
}

impl Publisher {
    /// A publisher for the service directory `dir` that has written
    /// nothing yet.
    pub fn new(dir: ServiceDir) -> Publisher {
        Publisher { dir, written: [None; 3] }
    }

    /// Bring the files up to `record` (with `want exit` in `stat` when
    /// `exit_wanted`). Before each file that needs writing, `interrupted`
    /// is asked whether to stop; a file that cannot be written is passed to
    /// `failed` with the error, and written again next time.
    pub fn publish(
        &mut self,
        record: &Status,
        exit_wanted: bool,
        mut interrupted: impl FnMut() -> bool,
        mut failed: impl FnMut(&'static str, &io::Error),
    ) -> Published {
        let contents = [
            Contents::from_bytes(record.pid_text().as_bytes()),
            Contents::from_bytes(record.stat(exit_wanted).as_bytes()),
            Contents::from_bytes(&record.encode()),
        ];
        for ((file, new), written) in FILES.iter().zip(contents).zip(&mut self.written) {
            if *written == Some(new) {
                continue;
            }
            if interrupted() {
                return Published::Interrupted;
            }
            match replace(&self.dir, file, new.as_bytes(), &mut failed) {
                Outcome::Written => *written = Some(new),
                Outcome::Failed => {}
                Outcome::Gone => return Published::Gone,
            }
        }
        Published::Done
    }
}

/// Replace one file: write `FILE.new`, rename it over `FILE`.
fn replace(
    dir: &ServiceDir,
    file: &StatusFile,
    contents: &[u8],
    failed: &mut impl FnMut(&'static str, &io::Error),
) -> Outcome {
    let write = || -> io::Result<()> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
        let fd = openat(&dir.fd, file.temp, flags, Mode::from_bits_truncate(0o666))?;
        File::from(fd).write_all(contents)?;
        renameat(&dir.fd, file.temp, &dir.fd, file.target)?;
        Ok(())
    };
    match write() {
        Ok(()) => Outcome::Written,
        // svscan winds down the supervisor of a service whose directory
        // was deleted.
        Err(_) if fstat(&dir.fd).is_ok_and(|st| st.st_nlink == 0) => Outcome::Gone,
        Err(err) => {
            failed(file.name, &err);
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svdir::status::{RunState, RunitExtra, Want};
    use crate::tai64::Tai64N;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn record(pid: u32, want: Want) -> Status {
        Status {
            changed: Tai64N { secs: (1 << 62) + 1000, nanos: 0 },
            pid,
            paused: false,
            want,
            runit: Some(RunitExtra {
                term_sent: false,
                state: if pid == 0 { RunState::Down } else { RunState::Run },
            }),
        }
    }

    fn service() -> (tempfile::TempDir, Publisher) {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("supervise")).unwrap();
        let publisher = Publisher::new(ServiceDir::open(tmp.path()).unwrap());
        (tmp, publisher)
    }

    fn never(_: &'static str, err: &io::Error) {
        panic!("unexpected failure: {err}");
    }

    fn inode(dir: &Path, name: &str) -> u64 {
        fs::metadata(dir.join("supervise").join(name)).unwrap().ino()
    }

    #[test]
    fn writes_all_three_files() {
        let (tmp, mut publisher) = service();
        let up = record(1234, Want::Up);
        assert_eq!(publisher.publish(&up, false, || false, never), Published::Done);
        let read = |name: &str| fs::read(tmp.path().join("supervise").join(name)).unwrap();
        assert_eq!(read("pid"), b"1234\n");
        assert_eq!(read("stat"), b"run\n");
        assert_eq!(read("status"), up.encode());
        assert!(!tmp.path().join("supervise/status.new").exists());
        let down = record(0, Want::Down);
        assert_eq!(publisher.publish(&down, true, || false, never), Published::Done);
        assert_eq!(read("pid"), b"");
        assert_eq!(read("stat"), b"down\n");
        assert_eq!(read("status"), down.encode());
    }

    #[test]
    fn only_changed_files_are_replaced() {
        let (tmp, mut publisher) = service();
        publisher.publish(&record(1234, Want::Up), false, || false, never);
        let before = ["pid", "stat", "status"].map(|f| inode(tmp.path(), f));
        publisher.publish(&record(1234, Want::Up), false, || false, never);
        assert_eq!(["pid", "stat", "status"].map(|f| inode(tmp.path(), f)), before);
        // `want down` changes stat and status, not pid.
        publisher.publish(&record(1234, Want::Down), false, || false, never);
        let after = ["pid", "stat", "status"].map(|f| inode(tmp.path(), f));
        assert_eq!(after[0], before[0]);
        assert_ne!(after[1], before[1]);
        assert_ne!(after[2], before[2]);
    }

    /// Publish `record` and let the first `allowed` files through.
    fn publish_some(publisher: &mut Publisher, allowed: usize) -> (Published, usize) {
        let mut asked = 0;
        let result = publisher.publish(
            &record(1234, Want::Up),
            false,
            || {
                asked += 1;
                asked > allowed
            },
            never,
        );
        (result, asked)
    }

    #[test]
    fn order_is_pid_stat_status_and_an_interruption_stops_before_a_file() {
        for allowed in 0..3 {
            let (tmp, mut publisher) = service();
            let (result, _) = publish_some(&mut publisher, allowed);
            assert_eq!(result, Published::Interrupted);
            let exists = |name: &str| tmp.path().join("supervise").join(name).exists();
            let written = [exists("pid"), exists("stat"), exists("status")];
            assert_eq!(written, [0, 1, 2].map(|i| i < allowed), "after {allowed} files");
            // What was written is not written again: the rest is.
            assert_eq!(publish_some(&mut publisher, 3), (Published::Done, 3 - allowed));
            assert!(exists("status"));
        }
        // Nothing left to write: nothing to interrupt.
        let (_tmp, mut publisher) = service();
        publish_some(&mut publisher, 3);
        assert_eq!(publish_some(&mut publisher, 0), (Published::Done, 0));
    }

    #[test]
    fn a_failed_file_is_reported_and_written_next_time() {
        let (tmp, mut publisher) = service();
        // A directory where stat.new would go: stat cannot be written.
        fs::create_dir(tmp.path().join("supervise/stat.new")).unwrap();
        let mut failures = Vec::new();
        let result = publisher.publish(
            &record(9, Want::Up),
            false,
            || false,
            |name, err| failures.push((name, err.raw_os_error())),
        );
        assert_eq!(result, Published::Done);
        assert_eq!(failures, [("stat", Some(libc::EISDIR))]);
        assert!(tmp.path().join("supervise/status").exists(), "the others are written");
        fs::remove_dir(tmp.path().join("supervise/stat.new")).unwrap();
        assert_eq!(
            publisher.publish(&record(9, Want::Up), false, || false, never),
            Published::Done
        );
        assert_eq!(fs::read(tmp.path().join("supervise/stat")).unwrap(), b"run\n");
    }

    #[test]
    fn a_removed_directory_is_gone_not_a_failure() {
        let (tmp, mut publisher) = service();
        fs::remove_dir_all(tmp.path()).unwrap();
        assert_eq!(
            publisher.publish(&record(9, Want::Up), false, || false, never),
            Published::Gone
        );
    }

    #[test]
    fn a_removed_supervise_directory_is_a_failure() {
        let (tmp, mut publisher) = service();
        fs::remove_dir(tmp.path().join("supervise")).unwrap();
        let mut failures = Vec::new();
        let result =
            publisher.publish(&record(9, Want::Up), false, || false, |name, _| failures.push(name));
        assert_eq!(result, Published::Done);
        assert_eq!(failures, ["pid", "stat", "status"]);
    }
}
