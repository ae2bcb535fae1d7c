//! The child side of starting a program: the only code in tend that runs
//! between a `clone`/`fork` and the `exec`, and so the only place that
//! resets signals, starts sessions and process groups, and places
//! descriptors for a program about to run.
//!
//! `crate::spawn` turns a `ChildSpec` into a [`Plan`]: every string, array
//! and descriptor number is built before any process exists, so that the
//! child here makes system calls only. That lets [`spawn`] use
//! `clone(CLONE_VM | CLONE_VFORK)`: no page tables are copied, and the
//! parent sleeps until the child has exec'd (or failed, which it reports in
//! the memory they share). glibc's `posix_spawn`, which `std::process`
//! uses, does the same but queries and resets every one of the 64 signals
//! in the child (about 128 `rt_sigaction` calls); the child here resets
//! only those this process catches ([`super::signal::caught`]) and SIGPIPE.
//!
//! The same steps run in place for a program that replaces this process
//! ([`exec`]: the chain-loading tools) and after a plain [`fork`] whose
//! child has work to do first (tcpserver's look-ups, spawn-fcgi's
//! children).
//!
//! What later features need fits the [`Plan`] as one more field and one
//! more step in [`enter`]: listening sockets from fd 3 and a readiness
//! pipe (`notification-fd`) are placements; a process group is one more
//! [`Session`]; a cgroup is an open `cgroup.procs` the child writes `0` to
//! before the exec; `LISTEN_PID`, which must be the child's own pid, is an
//! environment entry reserved in the plan that the child fills in from
//! `getpid()` (digits written into the prepared string, no allocation).

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::signal;

/// The process group and session a new program runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Session {
    /// The parent's.
    #[default]
    Inherit,
    /// A new session (`setsid`), so also a new process group: pgrphack,
    /// `chpst -P`, spawn-fcgi's children. Failure (already a session
    /// leader) is ignored, as those tools ignore it.
    New,
}

/// One descriptor number of the new program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The descriptor to copy there; `None` closes `target`.
    pub source: Option<RawFd>,
    pub target: RawFd,
}

/// Everything the child needs, built before it exists.
#[derive(Debug, Default)]
pub struct Plan {
    /// Paths to execute, tried in order: one, or a `PATH` search's
    /// candidates. A missing file passes on to the next; the error reported
    /// is the last other one (so `access denied` beats `file does not
    /// exist`), as daemontools' `pathexec`.
    pub candidates: Vec<CString>,
    pub argv: Vec<CString>,
    /// `None`: this process's environment as it is at the exec.
    pub env: Option<Vec<CString>>,
    /// Applied in order, after every source has been moved out of the way
    /// of the targets; closes come last.
    pub fds: Vec<Placement>,
    pub session: Session,
    pub cwd: Option<CString>,
    /// Marked close-on-exec before the placements.
    pub cloexec: Vec<RawFd>,
}

/// The plan's pointer arrays, and the scratch space the child writes:
/// built in the parent, read (and `sources` written) by the child.
struct Prepared<'p> {
    plan: &'p Plan,
    argv: Vec<*const c_char>,
    envp: Option<Vec<*const c_char>>,
    /// The placements' sources; the child replaces one that is in the way
    /// of a target by a copy above every target.
    sources: Vec<Cell<Option<RawFd>>>,
}

impl Prepared<'_> {
    fn new(plan: &Plan) -> Prepared<'_> {
        let terminated = |strings: &[CString]| {
            let mut v: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
            v.push(std::ptr::null());
            v
        };
        Prepared {
            plan,
            argv: terminated(&plan.argv),
            envp: plan.env.as_deref().map(terminated),
            sources: plan.fds.iter().map(|p| Cell::new(p.source)).collect(),
        }
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot (with
    // CLONE_VM, the parent's, which is asleep until the child is done).
    unsafe { *libc::__errno_location() }
}

fn set_default(sig: c_int) {
    // SAFETY: SIG_DFL with an empty mask and no flags registers no code;
    // sigaction is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &action, std::ptr::null_mut());
    }
}

/// Reset the signals in `set` (bit N: signal N) to their default actions.
fn set_defaults(set: u64) {
    for sig in 1..64 {
        if set & (1 << sig) != 0 {
            set_default(sig);
        }
    }
}

/// The steps from a fresh child (or this process) to the new program.
/// Only system calls, no allocation: it runs in a child that shares the
/// parent's memory. Returns only on failure, with the errno.
fn enter(p: &Prepared<'_>, mask: Option<&libc::sigset_t>) -> c_int {
    let plan = p.plan;
    // Every caught signal, and SIGPIPE, which the supervisors ignore.
    set_defaults(signal::caught() | 1 << libc::SIGPIPE);
    if let Some(mask) = mask {
        // SAFETY: `mask` is a valid signal set; sigprocmask is
        // async-signal-safe.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
    }
    if plan.session == Session::New {
        // SAFETY: setsid takes no argument and touches no memory.
        unsafe { libc::setsid() };
    }
    for &fd in &plan.cloexec {
        // SAFETY: F_SETFD changes only the descriptor's flags; a number not
        // open fails with EBADF, which does not matter here.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    if let Err(err) = place(plan, &p.sources) {
        return err;
    }
    if let Some(cwd) = &plan.cwd {
        // SAFETY: `cwd` is a NUL-terminated string that outlives the call.
        if unsafe { libc::chdir(cwd.as_ptr()) } == -1 {
            return errno();
        }
    }
    let envp = match &p.envp {
        Some(envp) => envp.as_ptr(),
        // SAFETY: reading the `environ` pointer; nothing changes it here.
        None => unsafe { libc::environ as *const *const c_char },
    };
    let mut saved = 0;
    for path in &plan.candidates {
        // SAFETY: every pointer is NUL-terminated (strings) or
        // NULL-terminated (arrays) and outlives the call.
        unsafe { libc::execve(path.as_ptr(), p.argv.as_ptr(), envp) };
        match errno() {
            libc::ENOENT => {}
            e @ (libc::EACCES | libc::EPERM | libc::EISDIR) => saved = e,
            e => return e,
        }
    }
    if saved == 0 { libc::ENOENT } else { saved }
}

/// Put every source on its target. A source that is another placement's
/// target is first copied above all targets (close-on-exec), so no
/// placement overwrites a descriptor a later one still needs.
fn place(plan: &Plan, sources: &[Cell<Option<RawFd>>]) -> Result<(), c_int> {
    let above = plan.fds.iter().map(|p| p.target).max().map_or(0, |t| t + 1);
    for (i, source) in sources.iter().enumerate() {
        let Some(fd) = source.get() else { continue };
        let in_the_way = plan.fds.iter().enumerate().any(|(j, p)| j != i && p.target == fd);
        if in_the_way {
            // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor and touches
            // no memory.
            let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
            if moved == -1 {
                return Err(errno());
            }
            source.set(Some(moved));
        }
    }
    for (placement, source) in plan.fds.iter().zip(sources) {
        if let Some(fd) = source.get() {
            super::fd::dup_raw(fd, placement.target)?;
        }
    }
    for placement in plan.fds.iter().filter(|p| p.source.is_none()) {
        // SAFETY: closing a descriptor number the plan names; nothing in
        // this process holds it afterwards but the program to come.
        unsafe { libc::close(placement.target) };
    }
    Ok(())
}

/// What the cloned child reads, and where it leaves its errno.
struct ChildArgs<'a, 'p> {
    prepared: &'a Prepared<'p>,
    mask: libc::sigset_t,
    error: AtomicI32,
}

extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` of `spawn`, alive on the parent's
    // stack: the parent sleeps (CLONE_VFORK) until this child execs or
    // exits.
    let args = unsafe { &*(arg as *const ChildArgs<'_, '_>) };
    let err = enter(args.prepared, Some(&args.mask));
    args.error.store(err, Ordering::Relaxed);
    // SAFETY: _exit ends the child without running anything of the
    // parent's (no atexit handlers, no stdio flush).
    unsafe { libc::_exit(127) }
}

/// The child's stack: private anonymous memory, freed once the child has
/// exec'd. Only the pages the child touches are ever allocated.
struct Stack {
    base: *mut c_void,
}

/// Ample for the child's few frames, also in a debug build.
const STACK_SIZE: usize = 64 * 1024;

impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: a new anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Stack { base })
    }

    fn top(&self) -> *mut c_void {
        // The stack grows down from the end of the mapping.
        self.base.wrapping_byte_add(STACK_SIZE)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no longer in use: the child has
        // exec'd or exited before `clone` returned.
        unsafe { libc::munmap(self.base, STACK_SIZE) };
    }
}

/// Block every signal, returning the mask to restore: from the clone or
/// fork to the child's signal reset, a handler of the parent's must not run
/// in the child (with CLONE_VM it would even write the parent's memory).
fn block_all() -> libc::sigset_t {
    // SAFETY: both sets are plain data initialised by the calls.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

fn restore_mask(mask: &libc::sigset_t) {
    // SAFETY: `mask` is a valid set returned by `block_all`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// Start `plan` as a new process; its pid. The child runs with the signal
/// mask this process had, the caught signals and SIGPIPE at their defaults.
/// A failure to start it (a missing program, a descriptor that cannot be
/// placed) is returned here, and that child is already reaped.
pub fn spawn(plan: &Plan) -> io::Result<libc::pid_t> {
    let prepared = Prepared::new(plan);
    let stack = Stack::new()?;
    let mask = block_all();
    let args = ChildArgs { prepared: &prepared, mask, error: AtomicI32::new(0) };
    // SAFETY: the child runs `child_main` on its own stack and makes only
    // system calls (see `enter`) until it execs or exits; CLONE_VFORK keeps
    // this process asleep until then, so `args`, `prepared` and `stack`
    // outlive the child's use of them. All signals are blocked across the
    // call (see `block_all`).
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &args as *const ChildArgs<'_, '_> as *mut c_void,
        )
    };
    let clone_error = io::Error::last_os_error();
    restore_mask(&mask);
    if pid == -1 {
        return Err(clone_error);
    }
    match args.error.load(Ordering::Relaxed) {
        0 => {
            // CLONE_VFORK wakes this process as soon as the child's exec
            // has let go of the shared memory, with the rest of the exec
            // (mapping the program, its stack) still to do. Woken on the
            // child's CPU, this process would preempt it and do its own
            // work first (supervise writes three status files): measured
            // with scheduler tracepoints (`perf record -e sched:*`), that
            // put 0.5-0.6 ms between clone and a static `run` running,
            // against 0.13 ms when the child goes first. So the child goes
            // first; when it is on another CPU this returns at once.
            // SAFETY: sched_yield takes no argument.
            unsafe { libc::sched_yield() };
            Ok(pid)
        }
        err => {
            // The child exited at once: collect it, so that nobody else's
            // reaping sees a process that never ran.
            let mut status = 0;
            // SAFETY: waiting for our own child; `status` is writable.
            while unsafe { libc::waitpid(pid, &mut status, 0) } == -1 && errno() == libc::EINTR {}
            Err(io::Error::from_raw_os_error(err))
        }
    }
}

/// Replace this process with `plan`'s program. Returns only on failure.
/// The signal mask is left as it is; signals this process catches, and
/// SIGPIPE, are reset to their defaults.
pub fn exec(plan: &Plan) -> io::Error {
    let prepared = Prepared::new(plan);
    io::Error::from_raw_os_error(enter(&prepared, None))
}

/// `fork(2)`, for a child with work to do before it execs (tcpserver's
/// look-ups and rules, spawn-fcgi's children). In the child, the signals
/// the parent catches are back at their defaults before any can be
/// delivered, so it can be stopped, and it never feeds the parent's
/// self-pipe.
///
/// Callers must be single-threaded: tend's tools start no threads.
/// Returns the child's pid in the parent, `None` in the child.
pub fn fork() -> io::Result<Option<libc::pid_t>> {
    let mask = block_all();
    // SAFETY: the tools calling this are single-threaded, so the child
    // cannot inherit a lock held by another thread.
    let forked = unsafe { nix::unistd::fork() };
    if let Ok(nix::unistd::ForkResult::Child) = forked {
        set_defaults(signal::caught());
        signal::forget_caught();
    }
    restore_mask(&mask);
    match forked? {
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child.as_raw())),
        nix::unistd::ForkResult::Child => Ok(None),
    }
}

/// End this process at once with `code`: a forked child whose exec failed,
/// which must not run the parent's exit handlers or flush its buffers.
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit runs nothing of this process's and never returns.
    unsafe { libc::_exit(code) }
}
