//! What a supervisor holds in `supervise/` for its whole life: the lock
//! and the two FIFOs, the other side of [`ServiceDir`](super::ServiceDir)'s
//! `send` and `supervisor_alive`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;

use crate::errstr;
use crate::fail::{Context, Failure};

/// A supervisor's open files in `supervise/`.
pub struct Protocol {
    /// Held with an exclusive `flock`: a second supervisor (tend's,
    /// daemontools' or runsv) fails on it.
    _lock: Flock<File>,
    /// Read for command bytes, without blocking.
    pub control: File,
    /// The control FIFO's write end, held so that `control` never sees end
    /// of file when a writer closes.
    _control_writer: File,
    /// Held open for reading: writers succeed in opening `ok` only while a
    /// supervisor is alive.
    _ok: File,
}

/// Create `supervise/` (0700) in the current directory if it is missing,
/// take its lock and open its FIFOs. `name` is the service directory as
/// messages show it.
pub fn open_protocol(name: &str) -> Result<Protocol, Failure> {
    match fs::DirBuilder::new().mode(0o700).create("supervise") {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(Failure::sys(format!("mkdir {name}/supervise"), &err)),
    }
    let lock_file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open("supervise/lock")
        .or_fail(format!("acquire {name}/supervise/lock"))?;
    let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        Failure::temporary(format!(
            "unable to acquire {name}/supervise/lock: {}",
            errstr::nix_str(errno)
        ))
    })?;
    make_fifo("supervise/control", name)?;
    let control =
        open_fifo_read("supervise/control").or_fail(format!("read {name}/supervise/control"))?;
    let control_writer = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("supervise/control")
        .or_fail(format!("write {name}/supervise/control"))?;
    make_fifo("supervise/ok", name)?;
    let ok = open_fifo_read("supervise/ok").or_fail(format!("read {name}/supervise/ok"))?;
    Ok(Protocol { _lock: lock, control, _control_writer: control_writer, _ok: ok })
}

fn make_fifo(path: &str, name: &str) -> Result<(), Failure> {
    match mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(Failure::sys(format!("mkfifo {name}/{path}"), &io::Error::from(errno))),
    }
}

fn open_fifo_read(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}
