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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::errstr;
use crate::event_loop::EventLoop;
use crate::fail::{Context, Failure, warn};
use crate::spawn::{ChildSpec, Session};
use table::{Found, Key, Side, Step, Table};

const TOOL: &str = "svscan";

/// How often to rescan when inotify cannot tell us about changes.
pub const FALLBACK_RESCAN: Duration = Duration::from_secs(5);

/// What a scanner is: where it looks, what it starts for each service, and
/// what its signals do. svscan is one set of these ([`Params::svscan`]);
/// a runit-style `runsvdir` (`runsv` in new sessions, SIGTERM exits at
/// once, SIGHUP stops everything and exits 111) or a per-user tree is
/// another, over the same loop.
#[derive(Debug, Clone)]
pub struct Params {
    /// The scan directory. Services are its subdirectories, started with
    /// it as their working directory.
    pub dir: PathBuf,
    /// Rescan this often even with inotify (`-t`); `None`: only without it.
    pub rescan: Option<Duration>,
    pub launch: Launch,
    /// What each caught signal does (SIGCHLD is always caught, to reap),
    /// in this order when several arrive together.
    pub signals: Vec<(Signal, OnSignal)>,
}

/// The supervisor started for each service directory.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    /// The name it runs under (`argv[0]`); its one argument is the service
    /// directory, relative to the scan directory (`NAME`, `NAME/log`).
    pub argv0: OsString,
    pub session: Session,
    /// Start a second supervisor for `NAME/log`, fed by `NAME` through a
    /// pipe the scanner holds (svscan). Off when the supervisor runs the
    /// logger itself (runit's `runsv`).
    pub logs: bool,
}

/// What a caught signal makes the scanner do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnSignal {
    /// Look at the directory now.
    Rescan,
    Exit(Exit),
}

/// How the scanner exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// First send this to every supervisor at once (runsvdir's SIGHUP
    /// sends SIGTERM).
    pub signal_all: Option<Signal>,
    /// Stop every supervisor as `svc -dx` would, a service before its
    /// logger, and exit once all are gone (svscan's SIGTERM); otherwise
    /// exit at once and leave them running.
    pub wind_down: bool,
    pub code: i32,
}

impl Params {
    /// tend's `svscan`: this binary as `supervise NAME`, with loggers;
    /// SIGHUP rescans, SIGTERM stops everything and exits 0.
    pub fn svscan(dir: PathBuf, rescan: Option<Duration>) -> Result<Params, Failure> {
        let program = std::env::current_exe().or_fail("find the tend binary to run supervise")?;
        Ok(Params {
            dir,
            rescan,
            launch: Launch {
                program,
                argv0: "supervise".into(),
                session: Session::Inherit,
                logs: true,
            },
            signals: vec![
                (Signal::SIGHUP, OnSignal::Rescan),
                (
                    Signal::SIGTERM,
                    OnSignal::Exit(Exit { signal_all: None, wind_down: true, code: 0 }),
                ),
            ],
        })
    }
}

/// Watch the scan directory's services until a signal says exit; the exit
/// code.
pub fn scan(params: Params) -> Result<i32, Failure> {
    crate::sys::signal::ignore_sigpipe();
    let mut caught = vec![Signal::SIGCHLD];
    caught.extend(params.signals.iter().map(|(signal, _)| *signal));
    let events = EventLoop::new(&caught).or_fail("catch signals")?;
    let watcher = Watcher::new(&params.dir);
    let mut scanner = Scanner {
        table: Table::new(),
        pipes: HashMap::new(),
        epoch: Instant::now(),
        next_rescan: None,
        fallback: watcher.is_none(),
        watcher,
        stopping: None,
        params,
    };
    scanner.rescan();
    loop {
        let wake = {
            let slots = [scanner.watcher.as_ref().map(|w| w.inotify.as_fd())];
            events.wait(&slots, scanner.deadline()).map_err(|e| Failure::sys("poll", &e))?
        };
        let mut rescan = false;
        if wake.signalled() {
            for (pid, _) in events.reaped() {
                let steps = scanner.table.exited(pid, scanner.epoch.elapsed());
                scanner.apply(steps);
            }
            let received: Vec<OnSignal> = scanner
                .params
                .signals
                .iter()
                .filter(|(signal, _)| wake.signals().has(*signal))
                .map(|(_, on)| on.clone())
                .collect();
            for on in received {
                match on {
                    OnSignal::Rescan => rescan = true,
                    OnSignal::Exit(exit) => {
                        if let Some(code) = scanner.exit(&exit) {
                            return Ok(code);
                        }
                    }
                }
            }
        }
        if wake.ready(0)
            && let Some(watcher) = &mut scanner.watcher
        {
            rescan |= watcher.changed();
        }
        if let Some(code) = scanner.stopping {
            if scanner.table.is_empty() {
                return Ok(code);
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

/// What `exit` asks of a scanner with `table`: the steps to take now, and
/// the code to exit with at once, unless it winds down first.
fn exit_steps(exit: &Exit, table: &mut Table) -> (Vec<Step>, Option<i32>) {
    let mut steps: Vec<Step> = match exit.signal_all {
        Some(signal) => table.pids().map(|pid| Step::Signal { pid, signal }).collect(),
        None => Vec::new(),
    };
    if !exit.wind_down {
        return (steps, Some(exit.code));
    }
    steps.extend(table.stop_all());
    (steps, None)
}

/// The inotify watches: the scan directory, and each service directory.
struct Watcher {
    inotify: Inotify,
    scan_dir: WatchDescriptor,
    services: HashMap<WatchDescriptor, Key>,
    by_key: HashMap<Key, WatchDescriptor>,
}

impl Watcher {
    fn new(dir: &Path) -> Option<Watcher> {
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
        match inotify.add_watch(dir, mask) {
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

    /// Watch a service directory (`path`) for its `log` directory.
    fn watch_service(&mut self, key: Key, path: &Path) {
        if self.by_key.contains_key(&key) {
            return;
        }
        let mask =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        // Without the watch, a log directory added later is noticed at the
        // next rescan: not worth a warning.
        if let Ok(wd) = self.inotify.add_watch(path, mask) {
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
    params: Params,
    table: Table,
    pipes: HashMap<Key, LogPipe>,
    watcher: Option<Watcher>,
    epoch: Instant,
    next_rescan: Option<Duration>,
    /// No inotify: rescan periodically.
    fallback: bool,
    /// Winding down, to exit with this code once every supervisor is gone.
    stopping: Option<i32>,
}

impl Scanner {
    /// The next time to wake up: a start waiting for its gap, or the
    /// periodic rescan.
    fn deadline(&self) -> Option<Instant> {
        let rescan = if self.stopping.is_some() { None } else { self.next_rescan };
        [self.table.next_deadline(), rescan].into_iter().flatten().min().map(|at| self.epoch + at)
    }

    /// Read the directory and act on what changed.
    fn rescan(&mut self) {
        let listing = match list_services(&self.params.dir, self.params.launch.logs) {
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
                watcher.watch_service(key, &self.params.dir.join(name));
            }
        }
        let period =
            self.params.rescan.or(if self.fallback { Some(FALLBACK_RESCAN) } else { None });
        self.next_rescan = period.map(|p| self.epoch.elapsed() + p);
    }

    /// Carry out an [`Exit`]; the code to exit with now, if not winding
    /// down.
    fn exit(&mut self, exit: &Exit) -> Option<i32> {
        if self.stopping.is_some() {
            return None;
        }
        let (steps, code) = exit_steps(exit, &mut self.table);
        self.apply(steps);
        if code.is_none() {
            self.stopping = Some(exit.code);
        }
        code
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
                Step::Signal { pid, signal } => {
                    let _ = kill(Pid::from_raw(pid as i32), signal);
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

    /// Start a supervisor; its pid, or `None` (and a warning) on failure.
    /// The start step: in the scan directory, the launch's program with the
    /// service directory as its argument, and the log pipe's end on its
    /// stdout (the service) or stdin (the logger).
    fn start(&mut self, key: Key, side: Side) -> Option<u32> {
        let entry = self.table.get(key)?;
        let name = entry.name.clone();
        let has_log = entry.has_log;
        let service = match side {
            Side::Main => PathBuf::from(&name),
            Side::Log => Path::new(&name).join("log"),
        };
        let pipe = if has_log {
            match self.pipes.entry(key) {
                hash_map::Entry::Occupied(e) => Some(e.into_mut()),
                hash_map::Entry::Vacant(v) => match new_pipe() {
                    Ok(pipe) => Some(v.insert(pipe)),
                    Err(err) => {
                        warn(
                            TOOL,
                            format!(
                                "unable to create a pipe for {}: {}",
                                service.display(),
                                errstr::io_str(&err)
                            ),
                        );
                        return None;
                    }
                },
            }
        } else {
            None
        };
        let launch = &self.params.launch;
        let mut spec = ChildSpec::with_argv(
            &launch.program,
            vec![launch.argv0.clone(), service.clone().into_os_string()],
        );
        spec.cwd(&self.params.dir).session(launch.session);
        match (side, &pipe) {
            (Side::Main, Some(pipe)) => spec.fd(pipe.write.as_fd(), 1),
            (Side::Log, Some(pipe)) => spec.fd(pipe.read.as_fd(), 0),
            (_, None) => &mut spec,
        };
        let unable = |err: &io::Error| {
            let reason = errstr::io_str(err);
            warn(TOOL, format!("unable to start supervise {}: {reason}", service.display()));
        };
        // Not waiting for each exec: at boot the scanner starts every
        // supervisor in a row, and they exec side by side (a failed one
        // says why and exits, and is started again like any that died).
        match spec.spawn_unawaited(unable) {
            Ok(child) => Some(child.id()),
            Err(err) => {
                unable(&err);
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

/// The service directories in `dir`; with `logs`, whether each has a
/// `log` directory.
fn list_services(dir: &Path, logs: bool) -> io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
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
        let has_log = logs && fs::metadata(entry.path().join("log")).is_ok_and(|m| m.is_dir());
        found.push(Found { key: Key { dev: meta.dev(), ino: meta.ino() }, name, has_log });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use table::{Found, Key};

    fn table_with(names: &[&str]) -> Table {
        let mut t = Table::new();
        let listing = names
            .iter()
            .enumerate()
            .map(|(i, n)| Found {
                key: Key { dev: 1, ino: i as u64 },
                name: n.into(),
                has_log: false,
            })
            .collect();
        for (i, step) in t.rescan(listing, Duration::ZERO).into_iter().enumerate() {
            if let Step::Start { key, side } = step {
                t.started(key, side, Some(100 + i as u32), Duration::ZERO);
            }
        }
        t
    }

    fn sorted(mut steps: Vec<Step>) -> Vec<Step> {
        steps.sort_by_key(|s| format!("{s:?}"));
        steps
    }

    #[test]
    fn svscan_winds_down_on_sigterm() {
        let params = Params::svscan(".".into(), None).unwrap();
        let term = params.signals.iter().find(|(s, _)| *s == Signal::SIGTERM).unwrap();
        let OnSignal::Exit(exit) = &term.1 else { panic!("SIGTERM must exit") };
        let mut t = table_with(&["a", "b"]);
        let (steps, code) = exit_steps(exit, &mut t);
        assert_eq!(code, None, "svscan waits for its supervisors");
        assert_eq!(sorted(steps), vec![Step::Stop { pid: 100 }, Step::Stop { pid: 101 }]);
        assert!(params.signals.contains(&(Signal::SIGHUP, OnSignal::Rescan)));
    }

    #[test]
    fn an_exit_can_signal_everyone_and_leave_at_once() {
        // runsvdir's SIGHUP: TERM to every supervisor, exit 111 now.
        let hup = Exit { signal_all: Some(Signal::SIGTERM), wind_down: false, code: 111 };
        let mut t = table_with(&["a", "b"]);
        let (steps, code) = exit_steps(&hup, &mut t);
        assert_eq!(code, Some(111));
        assert_eq!(
            sorted(steps),
            vec![
                Step::Signal { pid: 100, signal: Signal::SIGTERM },
                Step::Signal { pid: 101, signal: Signal::SIGTERM },
            ]
        );
        // runsvdir's SIGTERM: exit 0 at once, supervisors left running.
        let term = Exit { signal_all: None, wind_down: false, code: 0 };
        assert_eq!(exit_steps(&term, &mut t), (vec![], Some(0)));
        assert!(!t.is_empty());
    }
}
