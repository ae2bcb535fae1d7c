//! Running tend's tools and the peers' programs: to completion with a time
//! limit, or long-lived in a process group of their own that is killed on
//! drop, even when the test fails. And waiting with a deadline instead of
//! sleeping.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long a short command may take before the test fails.
const SHORT: Duration = Duration::from_secs(20);

/// The tend binary under test. Cargo builds it for the integration tests
/// and names it in `CARGO_BIN_EXE_tend`, at run time too in recent
/// versions; otherwise it lies beside the `deps` directory of the test
/// binary.
pub fn tend_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("CARGO_BIN_EXE_tend") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe.parent().expect("the test binary's directory");
        let dir = if dir.ends_with("deps") { dir.parent().unwrap() } else { dir };
        let bin = dir.join("tend");
        assert!(bin.exists(), "no tend binary at {}: run the tests with cargo", bin.display());
        bin
    })
    .clone()
}

/// A command that runs tend's tool `name` (argv[0] = name, as through a
/// link).
pub fn tool(name: &str) -> Command {
    let mut cmd = Command::new(tend_bin());
    cmd.arg0(name);
    cmd
}

/// Run a tool to completion with a time limit and return its output.
pub fn run_tool<I, S>(name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = tool(name);
    cmd.args(args);
    output_within(cmd, SHORT)
}

/// Run another program (a peer's, from [`crate::debian`]) as [`run_tool`]
/// runs ours, called by `name` as ours is.
pub fn run_program<I, S>(program: &Path, name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.arg0(name).args(args);
    output_within(cmd, SHORT)
}

/// Run `cmd` with stdin closed and wait for it, killing it (and failing the
/// test) if it takes longer than `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    let child = cmd.spawn().expect("spawn");
    let group = Group::of(&child);
    collect_within(child, group, limit)
}

/// Run `cmd` with `input` on its stdin, like [`output_within`].
pub fn output_with_input(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    let mut child = cmd.spawn().expect("spawn");
    let group = Group::of(&child);
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    collect_within(child, group, limit)
}

/// Wait for `child` and its output, killing its group (and failing the
/// test) after `limit`.
fn collect_within(child: Child, group: Group, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(limit);
    drop(group);
    match out {
        Ok(out) => out.expect("wait"),
        Err(_) => panic!("command (pid {pid}) did not finish within {limit:?}"),
    }
}

/// `DIR/bin`, with a link to tend for every tool (`tend install`): put
/// first on a PATH, the tools are tend's.
pub fn tend_links(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    let mut cmd = Command::new(tend_bin());
    cmd.arg("install").arg("--force").arg(&bin);
    let out = output_within(cmd, SHORT);
    assert!(out.status.success(), "tend install: {}", text(&out.stderr));
    bin
}

/// Text from a program's output, however it is encoded.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Poll `cond` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Like `wait_until`, but panics with `what` on time-out.
pub fn wait_for(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_until(limit, cond), "timed out after {limit:?} waiting for {what}");
}

/// A process group that is killed with SIGKILL when dropped: every test
/// starts its long-lived processes in a group of their own so that cleanup
/// never needs to know their pids one by one, and never touches anything
/// the test did not start.
struct Group {
    pgid: i32,
}

impl Group {
    /// The group led by `child` (spawned with `process_group(0)`).
    fn of(child: &Child) -> Group {
        Group { pgid: child.id() as i32 }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
    }
}

/// A long-lived process started in its own group, killed with its group on
/// drop, and reaped.
pub struct Spawned {
    pub child: Child,
    group: Group,
}

impl Spawned {
    /// Start `cmd` in a new process group.
    pub fn start(mut cmd: Command) -> Spawned {
        cmd.process_group(0);
        let child = cmd.spawn().expect("spawn");
        let group = Group::of(&child);
        Spawned { child, group }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` to the process (not its group).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid() as i32), signal).expect("kill");
    }

    /// Wait for the process to exit within `limit`; its exit status.
    pub fn wait_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.group.pgid), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes that left the test's process groups (spawn-fcgi's children
/// call setsid): killed by pid on drop.
pub struct Pids(pub Vec<u32>);

impl Drop for Pids {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}
