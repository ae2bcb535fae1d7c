//! The service directory and its `supervise/` files, both sides: what
//! `svc`, `svok`, `svstat` and `svscanboot` read and write
//! ([`ServiceDir`]), what a supervisor holds and publishes
//! ([`supervisor::Protocol`], [`publish::Publisher`]), the control bytes
//! ([`command`]), the status record ([`status`]), the state a reader makes
//! of it ([`state`]) and the printers of that state ([`print`]).
//!
//! A service directory is opened once (`O_PATH`) and every file in it is
//! reached relative to that descriptor, as daemontools' tools `chdir`: the
//! kernel walks the service's (often long) path once, not once a file.

pub mod command;
pub mod print;
pub mod publish;
pub mod state;
pub mod status;
pub mod supervisor;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, fstatat};

pub use command::Command;
pub use state::{ReadError, ServiceState};
use status::Status;

/// An open service directory.
pub struct ServiceDir {
    fd: OwnedFd,
}

/// Why commands could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No supervisor reads `supervise/control`.
    NotRunning,
    /// `supervise/control` could not be opened.
    Open(Errno),
    /// The commands could not be written (a full FIFO: the supervisor is
    /// not reading).
    Write(Errno),
}

fn errno_of(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

impl ServiceDir {
    /// Open the directory `path` (following symbolic links, as `chdir`).
    pub fn open(path: &Path) -> Result<ServiceDir, Errno> {
        let fd = open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        Ok(ServiceDir { fd })
    }

    /// Whether a supervisor is running: one holds `supervise/ok` open for
    /// reading. `Err(ENOENT)` when there is no such FIFO.
    pub fn supervisor_alive(&self) -> Result<bool, Errno> {
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        match openat(&self.fd, c"supervise/ok", flags, Mode::empty()) {
            Ok(_) => Ok(true),
            Err(Errno::ENXIO) => Ok(false),
            Err(errno) => Err(errno),
        }
    }

    /// Whether the service is up when its supervisor starts: no `down`
    /// (a symbolic link to nothing is none, as for daemontools' `stat`).
    pub fn normally_up(&self) -> Result<bool, Errno> {
        match fstatat(&self.fd, c"down", AtFlags::empty()) {
            Ok(_) => Ok(false),
            Err(Errno::ENOENT) => Ok(true),
            Err(errno) => Err(errno),
        }
    }

    /// Read and decode `supervise/status` (18 or 20 bytes).
    pub fn status(&self) -> Result<Status, ReadError> {
        let fd = openat(
            &self.fd,
            c"supervise/status",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(ReadError::OpenStatus)?;
        let mut file = File::from(fd);
        let mut bytes = [0u8; status::LEN];
        let mut len = 0;
        while len < bytes.len() {
            match file.read(&mut bytes[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadError::ReadStatus(errno_of(&err))),
            }
        }
        Status::decode(&bytes[..len]).map_err(|_| ReadError::BadFormat)
    }

    /// The service's state, read as daemontools' `svstat` reads it: `down`,
    /// then whether a supervisor runs, then the record.
    pub fn state(&self) -> Result<ServiceState, ReadError> {
        let normally_up = self.normally_up().map_err(ReadError::Down)?;
        match self.supervisor_alive() {
            Ok(true) => {}
            Ok(false) => return Err(ReadError::NotRunning),
            Err(errno) => return Err(ReadError::Ok(errno)),
        }
        Ok(ServiceState::new(&self.status()?, normally_up))
    }

    /// Write the commands to `supervise/control`, in one write: without
    /// blocking, and atomically (a few bytes, far below `PIPE_BUF`).
    pub fn send(&self, commands: &[Command]) -> Result<(), SendError> {
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(&self.fd, c"supervise/control", flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENXIO) => return Err(SendError::NotRunning),
            Err(errno) => return Err(SendError::Open(errno)),
        };
        let bytes: Vec<u8> = commands.iter().filter_map(|c| c.letter()).collect();
        File::from(fd).write_all(&bytes).map_err(|err| SendError::Write(errno_of(&err)))
    }
}

/// `ServiceDir::open` then `state`, for a reader of many services.
pub fn state_of(path: &Path) -> Result<ServiceState, ReadError> {
    ServiceDir::open(path).map_err(ReadError::Dir)?.state()
}

#[cfg(test)]
mod tests {
    use super::*;
    use state::Phase;
    use std::fs;
    use std::os::unix::fs::OpenOptionsExt;

    use nix::unistd::mkfifo;

    fn fifo(path: &Path) {
        mkfifo(path, Mode::from_bits_truncate(0o600)).unwrap();
    }

    /// A directory with `supervise/ok` and `control` FIFOs, and readers on
    /// them as a supervisor holds them.
    fn supervised() -> (tempfile::TempDir, File, File) {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("supervise")).unwrap();
        fifo(&tmp.path().join("supervise/ok"));
        fifo(&tmp.path().join("supervise/control"));
        let open = |name: &str| {
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(tmp.path().join("supervise").join(name))
                .unwrap()
        };
        let (ok, control) = (open("ok"), open("control"));
        (tmp, ok, control)
    }

    #[test]
    fn open_needs_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("file"), "").unwrap();
        assert_eq!(ServiceDir::open(&tmp.path().join("file")).err(), Some(Errno::ENOTDIR));
        assert_eq!(ServiceDir::open(&tmp.path().join("none")).err(), Some(Errno::ENOENT));
        assert!(ServiceDir::open(tmp.path()).is_ok());
    }

    #[test]
    fn alive_only_while_ok_has_a_reader() {
        let (tmp, ok, _control) = supervised();
        let dir = ServiceDir::open(tmp.path()).unwrap();
        assert_eq!(dir.supervisor_alive(), Ok(true));
        drop(ok);
        assert_eq!(dir.supervisor_alive(), Ok(false));
        fs::remove_file(tmp.path().join("supervise/ok")).unwrap();
        assert_eq!(dir.supervisor_alive(), Err(Errno::ENOENT));
        assert_eq!(dir.state(), Err(ReadError::Ok(Errno::ENOENT)));
    }

    #[test]
    fn send_writes_the_letters_in_order() {
        let (tmp, _ok, mut control) = supervised();
        let dir = ServiceDir::open(tmp.path()).unwrap();
        dir.send(&[Command::Down, Command::Exit, Command::Send(nix::sys::signal::SIGUSR1)])
            .unwrap();
        let mut got = [0u8; 8];
        let n = control.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"dx1");
        drop(control);
        assert_eq!(dir.send(&[Command::Up]), Err(SendError::NotRunning));
        let never = tempfile::tempdir().unwrap();
        let never = ServiceDir::open(never.path()).unwrap();
        assert_eq!(never.send(&[Command::Up]), Err(SendError::Open(Errno::ENOENT)));
    }

    #[test]
    fn state_reads_down_then_ok_then_the_record() {
        let (tmp, ok, _control) = supervised();
        let dir = ServiceDir::open(tmp.path()).unwrap();
        assert_eq!(dir.state(), Err(ReadError::OpenStatus(Errno::ENOENT)));
        let record = Status {
            changed: crate::tai64::Tai64N { secs: 1 << 62, nanos: 5 },
            pid: 77,
            paused: false,
            want: status::Want::Up,
            runit: None,
        };
        fs::write(tmp.path().join("supervise/status"), &record.encode()[..18]).unwrap();
        let state = dir.state().unwrap();
        assert_eq!((state.phase, state.pid, state.normally_up), (Phase::Up, 77, true));
        fs::write(tmp.path().join("down"), "").unwrap();
        assert!(!dir.state().unwrap().normally_up);
        fs::write(tmp.path().join("supervise/status"), [0u8; 17]).unwrap();
        assert_eq!(dir.state(), Err(ReadError::BadFormat));
        drop(ok);
        assert_eq!(dir.state(), Err(ReadError::NotRunning));
        assert_eq!(state_of(&tmp.path().join("none")), Err(ReadError::Dir(Errno::ENOENT)));
    }
}
