//! Shared helpers for integration tests: run tend's tools, wait with a
//! deadline instead of sleeping, and kill every process a test started
//! (by process group) even when the test fails.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The tend binary under test.
pub fn tend_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tend"))
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
    output_within(cmd, Duration::from_secs(20))
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

/// True when running as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True while `pid` sleeps in `poll(2)` without a timeout: the idle wait
/// of supervise, svscan and the loggers, reached only once they have done
/// all they had to do (x86-64 numbering, as `/proc/PID/syscall` shows it;
/// "running" or any other call is false).
pub fn idle_in_poll(pid: u32) -> bool {
    let call = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let fields: Vec<&str> = call.split_whitespace().collect();
    fields.len() > 3 && fields[0] == "7" && fields[3] == "0xffffffff"
}

/// Voluntary plus involuntary context switches of `pid`: what a process
/// that never wakes up does not add to.
pub fn switches(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The uid and gid of account `name`, read from `/etc/passwd` as tend
/// reads it. The test binaries are linked statically like tend, and
/// `getpwnam` in a static binary crashes when it falls through to an NSS
/// module (`libnss_systemd`) for an account not in the files.
pub fn account(name: &str) -> Option<(u32, u32)> {
    let account = tend::testing::Account::lookup(name).ok()?;
    Some((account.uid.as_raw(), account.gid.as_raw()))
}

/// Skip the calling test (return early) with a message when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("skipped: this test needs root");
            return;
        }
    };
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

/// Write an executable script.
pub fn write_script(path: &Path, body: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A process group that is killed with SIGKILL when dropped: every test
/// starts its long-lived processes in a group of their own so that cleanup
/// never needs to know their pids one by one, and never touches anything
/// the test did not start.
pub struct Group {
    pgid: i32,
}

impl Group {
    /// The group led by `child` (spawned with `process_group(0)`).
    pub fn of(child: &Child) -> Group {
        Group { pgid: child.id() as i32 }
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
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

    pub fn pgid(&self) -> i32 {
        self.group.pgid()
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
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.group.pgid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// A Debian program's path, if the package that ships it is installed.
pub fn debian(program: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return Some(path);
        }
    }
    None
}

/// The Debian program's path, or skip the calling test with a message.
#[macro_export]
macro_rules! require_debian {
    ($program:expr) => {
        match $crate::common::debian($program) {
            Some(path) => path,
            None => {
                // CI installs the packages: there a missing program is a
                // failure, not a reason to skip.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "Debian's {} is missing although .ci/run installs it",
                    $program
                );
                eprintln!("skipped: Debian's {} is not installed (.ci/run installs it)", $program);
                return;
            }
        }
    };
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

/// `@` files of a log directory, oldest first.
pub fn archived(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('@'))
        .collect();
    names.sort();
    names
}

/// Everything a log directory holds, in order: `@` files, then `current`.
pub fn all_of(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for f in archived(dir) {
        out.extend(fs::read(f).unwrap());
    }
    out.extend(fs::read(dir.join("current")).unwrap_or_default());
    out
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A small tmpfs (root only), for full-disk tests; unmounted on drop.
pub struct SmallFs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mount a tmpfs of `size` (as `mount -o size=`), or `None` where
    /// mounting is not allowed.
    pub fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("small");
        fs::create_dir(&path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallFs { path, _dir: dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// How a logger fared when SIGKILLed again and again (see
/// [`KillLoop::run`]).
#[derive(Debug)]
pub struct KilledLogger {
    /// Numbered lines the service wrote.
    pub end: usize,
    pub lost: Vec<usize>,
    pub doubled: Vec<usize>,
    /// Lines without newline, or too short for a stamp.
    pub cut: usize,
    /// Lines that are neither a number in range nor the `end` line.
    pub odd: Vec<String>,
    /// `@` files and `current`.
    pub files: usize,
    /// `@….u` files: a `current` left behind by a killed logger.
    pub unfinished: usize,
    /// The files around the first lost or doubled number, to see what
    /// happened.
    pub context: String,
}

impl KilledLogger {
    /// Every number exactly once, every line whole.
    pub fn assert_exactly_once(&self) {
        assert!(
            self.lost.is_empty() && self.doubled.is_empty() && self.cut == 0 && self.odd.is_empty(),
            "of {} lines: {} lost (first {:?}), {} doubled (first {:?}), {} cut, {} odd \
             (first {:?}), in {} files; around the first:\n{}",
            self.end,
            self.lost.len(),
            &self.lost[..self.lost.len().min(10)],
            self.doubled.len(),
            &self.doubled[..self.doubled.len().min(10)],
            self.cut,
            self.odd.len(),
            &self.odd[..self.odd.len().min(3)],
            self.files,
            self.context,
        );
    }
}

/// How [`KillLoop::run`] tortures a logger.
pub struct KillLoop<'a> {
    /// The `log/run` script body; it writes to `log/main`.
    pub log_run: &'a str,
    /// Bytes (stamp, prefix) before each number in the log.
    pub skip: usize,
    /// What the logger's command line holds once it runs (not supervise's
    /// child before exec).
    pub program: &'a str,
    /// Numbered lines the service writes every 10 ms.
    pub batch: usize,
    pub kills: usize,
    /// How long the logger lives after its k-th start.
    pub pause: fn(usize) -> Duration,
    /// For the whole loop.
    pub limit: Duration,
}

impl KillLoop<'_> {
    /// Under tend's svscan, a service writes numbered lines to the logger;
    /// `prepare` gets the `log` directory first. The logger is SIGKILLed
    /// `kills` times. Then the service writes `end N` and every number is
    /// counted across the `@` files and `current`.
    pub fn run(self, prepare: impl FnOnce(&Path)) -> KilledLogger {
        let KillLoop { log_run, skip, program, batch, kills, pause, limit } = self;
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let tmp = tempfile::tempdir().unwrap();
        let svc = tmp.path().join("numbers");
        write_script(
            &svc.join("run"),
            &format!(
                "#!/usr/bin/python3\n\
             import os, sys, time\n\
             i = 0\n\
             while not os.path.exists('../.stop'):\n\
             \x20   for _ in range({batch}):\n\
             \x20       i += 1\n\
             \x20       sys.stdout.write('%d\\n' % i)\n\
             \x20   sys.stdout.flush()\n\
             \x20   time.sleep(0.01)\n\
             sys.stdout.write('end %d\\n' % i)\n\
             sys.stdout.flush()\n\
             time.sleep(1000)\n"
            ),
        );
        prepare(&svc.join("log"));
        write_script(&svc.join("log/run"), log_run);
        let mut cmd = tool("svscan");
        cmd.arg(tmp.path()).stdout(Stdio::null()).stderr(Stdio::null());
        let _scan = Spawned::start(cmd);
        let pid_file = svc.join("log/supervise/pid");
        let logger = || fs::read_to_string(&pid_file).ok()?.trim().parse::<i32>().ok();
        let (mut last, mut done) = (0, 0);
        let deadline = Instant::now() + limit;
        while done < kills {
            assert!(Instant::now() < deadline, "only {done} kills in time");
            match logger() {
                Some(pid) if pid != last => {
                    // Once it runs the logger (not supervise's child before
                    // exec), let it write a little, a different while each time.
                    let running = wait_until(Duration::from_secs(10), || {
                        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                            c.windows(program.len()).any(|w| w == program.as_bytes())
                        })
                    });
                    last = pid;
                    if running {
                        std::thread::sleep(pause(done));
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        done += 1;
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        fs::write(tmp.path().join(".stop"), b"").unwrap();
        let main = svc.join("log/main");
        // Each line without its stamp and prefix, or None if cut.
        let lines = |bytes: &[u8]| -> Vec<Option<String>> {
            bytes
                .split_inclusive(|&b| b == b'\n')
                .map(|line| {
                    let body = line.strip_suffix(b"\n")?.get(skip..)?;
                    Some(String::from_utf8_lossy(body).into_owned())
                })
                .collect()
        };
        let mut end = None;
        let found = wait_until(Duration::from_secs(60), || {
            end = lines(&all_of(&main))
                .into_iter()
                .flatten()
                .find_map(|l| l.strip_prefix("end ")?.parse::<usize>().ok());
            end.is_some()
        });
        if !found {
            let all = all_of(&main);
            panic!(
                "no end line in the log after 60 s; it ends with {:?}; pending: {:?}",
                String::from_utf8_lossy(&all[all.len().saturating_sub(400)..]),
                fs::read_to_string(main.join("pending")),
            );
        }
        let end = end.unwrap();
        let mut seen = vec![0u32; end + 1];
        // Only `@` files and `current`: `pending` (the exactly-once note),
        // `lock`, `config` and `state` are left out.
        let mut files = archived(&main);
        files.push(main.join("current"));
        let mut report = KilledLogger {
            end,
            lost: Vec::new(),
            doubled: Vec::new(),
            cut: 0,
            odd: Vec::new(),
            files: files.len(),
            unfinished: files.iter().filter(|f| f.to_string_lossy().ends_with(".u")).count(),
            context: String::new(),
        };
        // The files in order, as one stream: a rotation may split a line
        // between two files (svlogd with a small `s`). Read until two reads
        // agree: the logger may still rotate after the end line, between
        // listing the `@` files and reading `current`.
        let mut all = all_of(&main);
        let settled = wait_until(Duration::from_secs(10), || {
            let again = all_of(&main);
            std::mem::replace(&mut all, again) == all
        });
        assert!(settled, "the log directory keeps changing");
        for line in lines(&all) {
            match line {
                None => report.cut += 1,
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if (1..=end).contains(&n) => seen[n] += 1,
                    _ if text.starts_with("end ") => {}
                    _ => report.odd.push(text),
                },
            }
        }
        report.lost = (1..=end).filter(|&n| seen[n] == 0).collect();
        report.doubled = (1..=end).filter(|&n| seen[n] > 1).collect();
        if let Some(&n) = report.lost.first().or(report.doubled.first()) {
            let near = |text: &str| {
                let words: Vec<String> = (n.saturating_sub(1)..=n + 1)
                    .flat_map(|k| [format!(":{k}\n"), format!(" {k}\n")])
                    .collect();
                words.iter().any(|w| text.contains(w.as_str()))
            };
            for f in &files {
                let text = String::from_utf8_lossy(&fs::read(f).unwrap_or_default()).into_owned();
                if near(&text) {
                    report.context +=
                        &format!("{}: {text:?}\n", f.file_name().unwrap().to_string_lossy());
                }
            }
        }
        report
    }
}
