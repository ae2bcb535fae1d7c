//! Starting programs: every tool that runs another program describes it as
//! a [`ChildSpec`] (program and arguments, environment changes,
//! descriptors to place at given numbers, session or process group,
//! working directory) and starts it with [`ChildSpec::spawn`] (a new
//! process), [`ChildSpec::exec`] (in place: the chain-loading tools), or
//! after a [`fork`] whose child has work to do first (tcpserver).
//!
//! The child's side, the only code between a fork and an exec, is
//! `sys::spawn`; this module builds its [`Plan`] and names the rules:
//! the environment is daemontools' `pathexec_env` (the inherited one with a
//! list of changes applied in order) and a program name without `/` is
//! looked up in the inherited `$PATH`, as `pathexec` does.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

pub use crate::sys::spawn::Session;
use crate::sys::spawn::{Placement, Plan};

/// Changes to the environment, kept as daemontools keeps them: `NAME=VALUE`
/// sets, a bare `NAME` removes. Applying one removes the first inherited
/// entry whose name is the text before the first `=`, then adds the entry
/// if it holds an `=`. So a file `A=B` in an envdir behaves exactly as in
/// daemontools (the entry `A=B=value` sets `A` to `B=value`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvChanges {
    entries: Vec<Vec<u8>>,
}

impl EnvChanges {
    pub fn new() -> EnvChanges {
        EnvChanges::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Set `name` to `value`.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        let mut entry = Vec::with_capacity(name.len() + 1 + value.len());
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(value);
        self.entries.push(entry);
    }

    /// Remove `name`.
    pub fn unset(&mut self, name: &[u8]) {
        self.entries.push(name.to_vec());
    }

    /// Append every change of `other`, after this one's.
    pub fn extend(&mut self, other: EnvChanges) {
        self.entries.extend(other.entries);
    }

    /// The environment `env` becomes, in daemontools' order: a removed
    /// entry's place is taken by the last one.
    pub fn apply(&self, mut env: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        for change in &self.entries {
            let split = change.iter().position(|&b| b == b'=').unwrap_or(change.len());
            let name = &change[..split];
            if let Some(at) = env.iter().position(|entry| {
                entry.len() > split && entry.starts_with(name) && entry[split] == b'='
            }) {
                env.swap_remove(at);
            }
            if split < change.len() {
                env.push(change.clone());
            }
        }
        env
    }
}

fn inherited_env() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(name, value)| {
            let mut entry = name.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            entry
        })
        .collect()
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The paths to try for `program`: itself if it holds a `/`, otherwise
/// each directory of the inherited `$PATH` (`/bin:/usr/bin` when unset; an
/// empty element is the current directory), as daemontools' `pathexec`.
fn candidates(program: &OsStr) -> io::Result<Vec<CString>> {
    let program = program.as_bytes();
    if program.contains(&b'/') {
        return Ok(vec![c_string(program)?]);
    }
    // As daemontools: the search path is the inherited one, not the changed.
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
    search
        .as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            let mut path = Vec::with_capacity(dir.len() + 1 + program.len());
            path.extend_from_slice(dir);
            path.push(b'/');
            path.extend_from_slice(program);
            c_string(&path)
        })
        .collect()
}

/// Descriptors from `first` up that are open in this process (from
/// /proc/self/fd).
fn open_fds_from(first: RawFd) -> Vec<RawFd> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect()
}

/// A program to start, and the state it starts in. Descriptors are
/// borrowed: they must stay open until the program has started.
#[derive(Debug, Clone)]
pub struct ChildSpec<'fd> {
    program: OsString,
    argv: Vec<OsString>,
    clear_env: bool,
    env: EnvChanges,
    fds: Vec<(Option<BorrowedFd<'fd>>, RawFd)>,
    session: Session,
    cwd: Option<PathBuf>,
    fds_below: Option<RawFd>,
}

impl<'fd> ChildSpec<'fd> {
    /// Run `program` (its name is also the first argument), in this
    /// process's state: environment, descriptors, session, directory.
    pub fn new(program: impl AsRef<OsStr>) -> ChildSpec<'fd> {
        let program = program.as_ref().to_os_string();
        ChildSpec::with_argv(program.clone(), vec![program])
    }

    /// Run `program` with `argv`, whose first element is only the name the
    /// program sees (`chpst -b`, svscan's `supervise`).
    pub fn with_argv(program: impl AsRef<OsStr>, argv: Vec<OsString>) -> ChildSpec<'fd> {
        ChildSpec {
            program: program.as_ref().to_os_string(),
            argv,
            clear_env: false,
            env: EnvChanges::new(),
            fds: Vec::new(),
            session: Session::Inherit,
            cwd: None,
            fds_below: None,
        }
    }

    /// Run a command line: its first word is the program.
    pub fn command(argv: &[OsString]) -> ChildSpec<'fd> {
        let program = argv.first().cloned().unwrap_or_default();
        ChildSpec::with_argv(program, argv.to_vec())
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.argv.push(arg.as_ref().to_os_string());
        self
    }

    /// Apply `changes` to the environment (after any made before).
    pub fn env(&mut self, changes: &EnvChanges) -> &mut Self {
        self.env.extend(changes.clone());
        self
    }

    /// Start from an empty environment instead of this process's.
    pub fn clear_env(&mut self) -> &mut Self {
        self.clear_env = true;
        self
    }

    /// Put `fd` on descriptor `target` of the program.
    pub fn fd(&mut self, fd: BorrowedFd<'fd>, target: RawFd) -> &mut Self {
        self.fds.push((Some(fd), target));
        self
    }

    /// Close descriptor `target` for the program (`chpst -0`).
    pub fn close(&mut self, target: RawFd) -> &mut Self {
        self.fds.push((None, target));
        self
    }

    pub fn session(&mut self, session: Session) -> &mut Self {
        self.session = session;
        self
    }

    /// Start the program in `dir`.
    pub fn cwd(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Let the program inherit no descriptor from `first` up but those
    /// placed (spawn-fcgi's application gets its socket and 1, 2 only).
    pub fn fds_below(&mut self, first: RawFd) -> &mut Self {
        self.fds_below = Some(first);
        self
    }

    fn plan(&self) -> io::Result<Plan> {
        let argv = self.argv.iter().map(|a| c_string(a.as_bytes())).collect::<io::Result<_>>()?;
        let env = if self.clear_env || !self.env.is_empty() {
            let base = if self.clear_env { Vec::new() } else { inherited_env() };
            let env = self.env.apply(base);
            Some(env.iter().map(|e| c_string(e)).collect::<io::Result<_>>()?)
        } else {
            None
        };
        let cwd = match &self.cwd {
            Some(dir) => Some(c_string(dir.as_os_str().as_bytes())?),
            None => None,
        };
        Ok(Plan {
            candidates: candidates(&self.program)?,
            argv,
            env,
            fds: self
                .fds
                .iter()
                .map(|(fd, target)| Placement {
                    source: fd.map(|fd| fd.as_raw_fd()),
                    target: *target,
                })
                .collect(),
            session: self.session,
            cwd,
            cloexec: self.fds_below.map(open_fds_from).unwrap_or_default(),
        })
    }

    /// Start the program as a child of this process. An error is the
    /// reason it could not start (`file does not exist`, ...), reported
    /// here rather than by a child that exits.
    pub fn spawn(&self) -> io::Result<Child> {
        let pid = crate::sys::spawn::spawn(&self.plan()?)?;
        Ok(Child { pid: Pid::from_raw(pid) })
    }

    /// Start the program without waiting for it to exec: a plain fork,
    /// whose child execs. For a parent that starts many programs in a row
    /// (svscan at boot): [`spawn`](Self::spawn) sleeps through each child's
    /// exec in turn, while after a fork the parent goes on to the next at
    /// once and the children exec side by side on every CPU. A failure to
    /// exec is then the child's to tell: it calls `failed` with the reason
    /// and exits 111.
    pub fn spawn_unawaited(&self, failed: impl FnOnce(&io::Error)) -> io::Result<Child> {
        let plan = self.plan()?;
        match crate::sys::spawn::fork()? {
            Some(pid) => Ok(Child { pid: Pid::from_raw(pid) }),
            None => {
                failed(&crate::sys::spawn::exec(&plan));
                crate::sys::spawn::exit_now(111)
            }
        }
    }

    /// Replace this process with the program; returns only on failure.
    pub fn exec(&self) -> io::Error {
        match self.plan() {
            Ok(plan) => crate::sys::spawn::exec(&plan),
            Err(err) => err,
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled { signal: i32, core: bool },
}

impl Ending {
    /// A wait status that tells an ending (not a stop or a continue).
    pub fn of(status: WaitStatus) -> Option<(Pid, Ending)> {
        match status {
            WaitStatus::Exited(pid, code) => Some((pid, Ending::Exited(code))),
            WaitStatus::Signaled(pid, signal, core) => {
                Some((pid, Ending::Signaled { signal: signal as i32, core }))
            }
            _ => None,
        }
    }

    /// Exit code 0.
    pub fn success(self) -> bool {
        self == Ending::Exited(0)
    }

    /// The status as `wait` reports it: the code shifted left by 8, or the
    /// signal number plus 128 for a core dump.
    pub fn wait_status(self) -> i32 {
        match self {
            Ending::Exited(code) => code << 8,
            Ending::Signaled { signal, core } => signal | if core { 0x80 } else { 0 },
        }
    }
}

/// A started child, to wait for.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Wait for the child to end.
    pub fn wait(&self) -> io::Result<Ending> {
        loop {
            match waitpid(self.pid, None) {
                Ok(status) => {
                    if let Some((_, ending)) = Ending::of(status) {
                        return Ok(ending);
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// The child's ending if it has ended, without waiting.
    pub fn try_wait(&self) -> io::Result<Option<Ending>> {
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => Ok(Ending::of(status).map(|(_, ending)| ending)),
            Err(errno) => Err(errno.into()),
        }
    }
}

/// Which side of a [`fork`] this process is on.
pub enum Forked {
    Parent(Child),
    Child,
}

/// Fork, for a child with work to do before it runs its program
/// (tcpserver's look-ups and rules, spawn-fcgi's children); the child then
/// ends with [`ChildSpec::exec`] or exits. In the child, the signals the
/// parent catches are back at their defaults.
pub fn fork() -> io::Result<Forked> {
    Ok(match crate::sys::spawn::fork()? {
        Some(pid) => Forked::Parent(Child { pid: Pid::from_raw(pid) }),
        None => Forked::Child,
    })
}

/// Put a copy of `fd` on descriptor `target` of this process (a tool
/// redirecting its own standard descriptors before it runs anything).
pub fn place_here(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    crate::sys::fd::dup_to(fd, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    fn env(entries: &[&str]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| e.as_bytes().to_vec()).collect()
    }

    #[test]
    fn set_replaces_and_unset_removes() {
        let mut changes = EnvChanges::new();
        changes.set(b"A", b"new");
        changes.unset(b"B");
        changes.set(b"D", b"added");
        assert_eq!(changes.apply(env(&["A=old", "B=x", "C=y"])), env(&["C=y", "A=new", "D=added"]));
    }

    #[test]
    fn a_name_with_an_equals_sign_behaves_as_in_daemontools() {
        let mut changes = EnvChanges::new();
        changes.set(b"D=E", b"x=y");
        assert_eq!(changes.apply(env(&["D=old", "DE=z"])), env(&["DE=z", "D=E=x=y"]));
        // An empty file named `D=E` sets D to E.
        let mut changes = EnvChanges::new();
        changes.unset(b"D=E");
        assert_eq!(changes.apply(env(&[])), env(&["D=E"]));
    }

    #[test]
    fn only_a_whole_name_matches() {
        let mut changes = EnvChanges::new();
        changes.unset(b"PATH");
        assert_eq!(changes.apply(env(&["PATHX=1", "PATH"])), env(&["PATHX=1", "PATH"]));
    }

    #[test]
    fn a_path_is_tried_alone_and_a_name_in_every_path_directory() {
        let one = candidates(OsStr::new("./run")).unwrap();
        assert_eq!(one, vec![CString::new("./run").unwrap()]);
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
        let dirs = path.as_bytes().split(|&b| b == b':').count();
        assert_eq!(candidates(OsStr::new("sh")).unwrap().len(), dirs);
    }

    /// The output of `sh -c SCRIPT` started with `spec`'s other settings,
    /// its stdout a pipe read here.
    fn output(spec: &ChildSpec<'_>) -> (Ending, String) {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut spec = spec.clone();
        let child = spec.fd(write.as_fd(), 1).spawn().unwrap();
        drop(write);
        let ending = child.wait().unwrap();
        let mut out = String::new();
        std::fs::File::from(read).read_to_string(&mut out).unwrap();
        (ending, out)
    }

    fn sh(script: &str) -> ChildSpec<'static> {
        ChildSpec::with_argv("/bin/sh", vec!["sh".into(), "-c".into(), script.into()])
    }

    #[test]
    fn a_missing_program_is_reported_by_the_spawn() {
        let err = ChildSpec::new("/nonexistent/run").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let err = ChildSpec::new("no-such-program-anywhere").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn descriptors_are_placed_even_where_another_source_is() {
        // Two pipes whose write ends are swapped onto each other's numbers
        // (and onto 1): every placement must see its own source.
        let (r1, w1) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (r2, w2) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (n1, n2) = (w1.as_raw_fd(), w2.as_raw_fd());
        let script = format!("echo one >&{n2}; echo two >&{n1}");
        let child = sh(&script).fd(w1.as_fd(), n2).fd(w2.as_fd(), n1).spawn().unwrap();
        drop((w1, w2));
        assert!(child.wait().unwrap().success());
        let mut one = String::new();
        let mut two = String::new();
        std::fs::File::from(r1).read_to_string(&mut one).unwrap();
        std::fs::File::from(r2).read_to_string(&mut two).unwrap();
        assert_eq!((one.as_str(), two.as_str()), ("one\n", "two\n"));
    }

    #[test]
    fn environment_directory_and_session_are_the_specs() {
        let mut changes = EnvChanges::new();
        changes.set(b"TEND_SPAWN_TEST", b"x=1");
        let dir = std::env::temp_dir();
        let (ending, out) = output(
            sh("echo \"$TEND_SPAWN_TEST\"; pwd -P; cut -d' ' -f6 /proc/$$/stat; echo $$")
                .env(&changes)
                .cwd(&dir)
                .session(Session::New),
        );
        assert!(ending.success());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "x=1");
        assert_eq!(Path::new(lines[1]), dir.canonicalize().unwrap());
        assert_eq!(lines[2].trim(), lines[3], "the child leads its own session");
    }

    #[test]
    fn a_cleared_environment_holds_only_what_is_set() {
        let mut changes = EnvChanges::new();
        changes.set(b"ONLY", b"this");
        let (_, out) = output(
            ChildSpec::with_argv("/usr/bin/env", vec!["env".into()]).clear_env().env(&changes),
        );
        assert_eq!(out, "ONLY=this\n");
    }

    #[test]
    fn an_ending_by_signal_is_told_apart() {
        let (ending, _) = output(&sh("kill -9 $$"));
        assert_eq!(ending, Ending::Signaled { signal: 9, core: false });
        assert_eq!(ending.wait_status(), 9);
        let (ending, _) = output(&sh("exit 3"));
        assert_eq!(ending, Ending::Exited(3));
        assert_eq!(ending.wait_status(), 3 << 8);
    }
}
