//! The scanner behind `svscan`: one `supervise` per service directory, and
//! one more for `SERVICE/log`, joined by a pipe that the scanner holds open
//! for as long as the service exists, so that a restarting logger (or a
//! restarting service) loses nothing in between.
//!
//! Changes are seen at once through inotify: one watch on the scan
//! directory (a service added, removed or renamed) and one on each service
//! directory (its `log` directory appearing), so the scanner wakes up only
//! when something happens. A directory removed is stopped as `svc -dx`
//! would stop it (SIGTERM to its supervise, then to the log's once the
//! service is down). What to do is decided by [`table::Table`], which is
//! pure; this module does the I/O. Without inotify the scanner falls back to
//! a rescan every [`FALLBACK_RESCAN`], as daemontools does.

pub mod table;

use std::collections::{HashMap, hash_map};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::errstr;
use crate::fail::{Context, Failure, warn};
use crate::sys::signal::SelfPipe;
use table::{Found, Key, Side, Step, Table};

const TOOL: &str = "svscan";

/// How often to rescan when inotify cannot tell us about changes.
pub const FALLBACK_RESCAN: Duration = Duration::from_secs(5);

/// Options of a scan.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rescan this often even with inotify (`-t`); `None`: only without it.
    pub rescan: Option<Duration>,
}

/// Watch the current directory's services until SIGTERM.
pub fn scan(options: Options) -> Result<i32, Failure> {
    crate::sys::signal::ignore_sigpipe();
    let signals = SelfPipe::catch(&[Signal::SIGCHLD, Signal::SIGHUP, Signal::SIGTERM])
        .or_fail("catch signals")?;
    let supervise = supervise_program()?;
    let watcher = Watcher::new();
    let mut scanner = Scanner {
        table: Table::new(),
        pipes: HashMap::new(),
        supervise,
        epoch: Instant::now(),
        next_rescan: None,
        options,
        fallback: watcher.is_none(),
        watcher,
        stopping: false,
    };
    scanner.rescan();
    loop {
        let timeout = scanner.timeout();
        let (signal_ready, inotify_ready) = {
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            if let Some(watcher) = &scanner.watcher {
                fds.push(PollFd::new(watcher.inotify.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Failure::sys("poll", &io::Error::from(errno))),
            }
            (fds[0].any().unwrap_or(false), fds.get(1).is_some_and(|fd| fd.any().unwrap_or(false)))
        };

        let mut rescan = false;
        if signal_ready {
            let received = signals.take();
            scanner.reap();
            if received.has(Signal::SIGHUP) {
                rescan = true;
            }
            if received.has(Signal::SIGTERM) && !scanner.stopping {
                scanner.stopping = true;
                let steps = scanner.table.stop_all();
                scanner.apply(steps);
            }
        }
        if inotify_ready && let Some(watcher) = &mut scanner.watcher {
            rescan |= watcher.changed();
        }
        if scanner.stopping {
            if scanner.table.is_empty() {
                return Ok(0);
            }
            continue;
        }
        let now = scanner.epoch.elapsed();
        if scanner.next_rescan.is_some_and(|at| now >= at) {
            rescan = true;
        }
        if rescan {
            scanner.rescan();
        } else {
            let steps = scanner.table.due(scanner.epoch.elapsed());
            scanner.apply(steps);
        }
    }
}

/// This very binary, to be run as `supervise`.
fn supervise_program() -> Result<PathBuf, Failure> {
    std::env::current_exe().or_fail("find the tend binary to run supervise")
}

/// The inotify watches: the scan directory, and each service directory.
struct Watcher {
    inotify: Inotify,
    scan_dir: WatchDescriptor,
    services: HashMap<WatchDescriptor, Key>,
    by_key: HashMap<Key, WatchDescriptor>,
}

impl Watcher {
    fn new() -> Option<Watcher> {
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(inotify) => inotify,
            Err(errno) => {
                warn(
                    TOOL,
                    format!(
                        "inotify unavailable, rescanning every 5 seconds: {}",
                        errstr::nix_str(errno)
                    ),
                );
                return None;
            }
        };
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        match inotify.add_watch(".", mask) {
            Ok(scan_dir) => Some(Watcher {
                inotify,
                scan_dir,
                services: HashMap::new(),
                by_key: HashMap::new(),
            }),
            Err(errno) => {
                warn(
                    TOOL,
                    format!(
                        "unable to watch the scan directory, rescanning every 5 seconds: {}",
                        errstr::nix_str(errno)
                    ),
                );
                None
            }
        }
    }

    /// Watch a service directory for its `log` directory.
    fn watch_service(&mut self, key: Key, name: &OsStr) {
        if self.by_key.contains_key(&key) {
            return;
        }
        let mask =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        // Without the watch, a log directory added later is noticed at the
        // next rescan: not worth a warning.
        if let Ok(wd) = self.inotify.add_watch(Path::new(name), mask) {
            self.services.insert(wd, key);
            self.by_key.insert(key, wd);
        }
    }

    fn forget_service(&mut self, key: Key) {
        if let Some(wd) = self.by_key.remove(&key) {
            self.services.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
        }
    }

    /// Read pending events; true if the directory should be rescanned.
    fn changed(&mut self) -> bool {
        let mut rescan = false;
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => break,
                Err(errno) => {
                    warn(
                        TOOL,
                        format!("unable to read inotify events: {}", errstr::nix_str(errno)),
                    );
                    return true;
                }
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    rescan = true;
                } else if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    if let Some(key) = self.services.remove(&event.wd) {
                        self.by_key.remove(&key);
                    }
                } else if event.wd == self.scan_dir {
                    let dotted =
                        event.name.as_ref().is_some_and(|n| n.as_bytes().first() == Some(&b'.'));
                    rescan |= !dotted;
                } else if self.services.contains_key(&event.wd) {
                    rescan |= event.name.as_deref() == Some(OsStr::new("log"));
                }
            }
        }
        rescan
    }
}

/// The log pipe of one service: read end for the log's supervise, write
/// end for the service's.
struct LogPipe {
    read: OwnedFd,
    write: OwnedFd,
}

struct Scanner {
    table: Table,
    pipes: HashMap<Key, LogPipe>,
    watcher: Option<Watcher>,
    supervise: PathBuf,
    epoch: Instant,
    next_rescan: Option<Duration>,
    options: Options,
    /// No inotify: rescan periodically.
    fallback: bool,
    stopping: bool,
}

impl Scanner {
    fn timeout(&self) -> PollTimeout {
        let now = self.epoch.elapsed();
        let wake =
            [self.table.next_deadline(), if self.stopping { None } else { self.next_rescan }]
                .into_iter()
                .flatten()
                .min();
        match wake {
            None => PollTimeout::NONE,
            Some(at) => {
                let ms =
                    at.saturating_sub(now).as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    /// Read the directory and act on what changed.
    fn rescan(&mut self) {
        let listing = match list_services() {
            Ok(listing) => listing,
            Err(err) => {
                warn(TOOL, format!("unable to read the scan directory: {}", errstr::io_str(&err)));
                Vec::new()
            }
        };
        let now = self.epoch.elapsed();
        let steps = self.table.rescan(listing, now);
        self.apply(steps);
        if let Some(watcher) = &mut self.watcher {
            for (key, name) in self.table.services() {
                watcher.watch_service(key, name);
            }
        }
        let period =
            self.options.rescan.or(if self.fallback { Some(FALLBACK_RESCAN) } else { None });
        self.next_rescan = period.map(|p| self.epoch.elapsed() + p);
    }

    /// Reap every exited child and act on it.
    fn reap(&mut self) {
        loop {
            let pid = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _)) | Ok(WaitStatus::Signaled(pid, _, _)) => pid,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            let steps = self.table.exited(pid.as_raw() as u32, self.epoch.elapsed());
            self.apply(steps);
        }
    }

    fn apply(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Start { key, side } => {
                    let pid = self.start(key, side);
                    let now = self.epoch.elapsed();
                    self.table.started(key, side, pid, now);
                }
                Step::Stop { pid } => {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
                }
                Step::Forget { key } => {
                    self.pipes.remove(&key);
                    if let Some(watcher) = &mut self.watcher {
                        watcher.forget_service(key);
                    }
                }
            }
        }
        self.ensure_descriptors();
    }

    /// Start a supervise; its pid, or `None` (and a warning) on failure.
    fn start(&mut self, key: Key, side: Side) -> Option<u32> {
        let entry = self.table.get(key)?;
        let name = entry.name.clone();
        let has_log = entry.has_log;
        let mut cmd = Command::new(&self.supervise);
        cmd.arg0("supervise");
        let dir = match side {
            Side::Main => PathBuf::from(&name),
            Side::Log => Path::new(&name).join("log"),
        };
        cmd.arg(&dir);
        if has_log {
            let pipe = match self.pipes.entry(key) {
                hash_map::Entry::Occupied(e) => e.into_mut(),
                hash_map::Entry::Vacant(v) => match new_pipe() {
                    Ok(pipe) => v.insert(pipe),
                    Err(err) => {
                        warn(
                            TOOL,
                            format!(
                                "unable to create a pipe for {}: {}",
                                dir.display(),
                                errstr::io_str(&err)
                            ),
                        );
                        return None;
                    }
                },
            };
            let end = match side {
                Side::Main => pipe.write.try_clone(),
                Side::Log => pipe.read.try_clone(),
            };
            match (side, end) {
                (Side::Main, Ok(fd)) => {
                    cmd.stdout(Stdio::from(fd));
                }
                (Side::Log, Ok(fd)) => {
                    cmd.stdin(Stdio::from(fd));
                }
                (_, Err(err)) => {
                    warn(
                        TOOL,
                        format!(
                            "unable to duplicate the pipe for {}: {}",
                            dir.display(),
                            errstr::io_str(&err)
                        ),
                    );
                    return None;
                }
            }
        }
        match cmd.spawn() {
            Ok(child) => Some(child.id()),
            Err(err) => {
                warn(
                    TOOL,
                    format!(
                        "unable to start supervise {}: {}",
                        dir.display(),
                        errstr::io_str(&err)
                    ),
                );
                None
            }
        }
    }

    /// Keep the descriptor limit above what the held pipes need.
    fn ensure_descriptors(&self) {
        let needed = (self.pipes.len() as u64) * 2 + 64;
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
            && soft < needed
        {
            let raised = (needed * 2).min(hard);
            let _ = setrlimit(Resource::RLIMIT_NOFILE, raised, hard);
        }
    }
}

fn new_pipe() -> io::Result<LogPipe> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok(LogPipe { read, write })
}

/// The service directories in the current directory.
fn list_services() -> io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(".")? {
        let entry = entry?;
        let name: OsString = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        // Follow symbolic links: /service/shop -> /etc/sv/shop is the rule.
        let Ok(meta) = fs::metadata(entry.path()) else { continue };
        if !meta.is_dir() {
            continue;
        }
        let has_log = fs::metadata(Path::new(&name).join("log")).is_ok_and(|m| m.is_dir());
        found.push(Found { key: Key { dev: meta.dev(), ino: meta.ino() }, name, has_log });
    }
    Ok(found)
}
