//! supervise with real processes: the one-second restart rule, fast
//! restart of a long runner, a missing or unusable `run`, the lock, `down`,
//! every svc command, runit's `finish`, `pid` and `stat`, and an idle
//! supervisor that never wakes up. `publish` checks that the status files
//! agree after every change; `debian` compares supervise, svc, svstat and
//! svok with daemontools' and runit's programs.

mod debian;
mod publish;

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const LIMIT: Duration = Duration::from_secs(10);

/// A supervisor for `dir`, its stderr in `dir/../NAME.err`.
struct Sup {
    proc: Spawned,
    err: PathBuf,
}

impl Sup {
    fn start(dir: &Path) -> Sup {
        Sup::start_cmd(tool("supervise"), dir)
    }

    fn start_cmd(mut cmd: Command, dir: &Path) -> Sup {
        let err = dir.with_extension("err");
        cmd.arg(dir).stdin(Stdio::null()).stderr(File::create(&err).unwrap());
        let sup = Sup { proc: Spawned::start(cmd), err };
        wait_for(LIMIT, "supervise/status", || dir.join("supervise/status").exists());
        sup
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }
}

fn file(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Wait until `dir/name` holds `want` (the files are written one after
/// another, so a reader may be a moment ahead of the last one).
fn wait_text(dir: &Path, name: &str, want: &str) {
    let mut last = String::new();
    let ok = wait_until(LIMIT, || {
        last = file(dir, name);
        last == want
    });
    assert!(ok, "{name}: {last:?}, expected {want:?}");
}

fn wait_down(dir: &Path) {
    wait_for(LIMIT, "service down", || {
        let s = status(dir);
        s.len() == 20 && s[12..16] == [0; 4] && s[19] == 0
    });
}

#[test]
fn crashing_service_restarts_once_a_second_no_faster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crash");
    write_script(&dir.join("run"), "#!/bin/sh\ndate +%s%N >> starts\nsleep 0.01\nexit 1\n");
    let _sup = Sup::start(&dir);
    wait_for(LIMIT, "first start", || !file(&dir, "starts").is_empty());
    std::thread::sleep(Duration::from_millis(3500));
    let starts: Vec<u128> =
        file(&dir, "starts").lines().map(|l| l.trim().parse().unwrap()).collect();
    eprintln!("{} starts in ~3.5 s", starts.len());
    assert!((3..=5).contains(&starts.len()), "starts in 3.5 s: {}", starts.len());
    for pair in starts.windows(2) {
        let gap_ms = (pair[1] - pair[0]) / 1_000_000;
        assert!(gap_ms >= 950, "restarted after only {gap_ms} ms");
    }
}

#[test]
fn long_runner_killed_is_back_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("long");
    sleeper(&dir);
    let _sup = Sup::start(&dir);
    let first = wait_up(&dir);
    std::thread::sleep(Duration::from_millis(1200));
    let killed = Instant::now();
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    wait_for(LIMIT, "a new pid", || {
        let pid = status_pid(&dir);
        pid != 0 && pid != first
    });
    let took = killed.elapsed();
    eprintln!("long runner back after {took:?}");
    assert!(took < Duration::from_secs(1), "restart took {took:?}");
    wait_text(&dir, "supervise/pid", &format!("{}\n", status_pid(&dir)));
}

#[test]
fn missing_run_is_reported_each_attempt_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("norun");
    fs::create_dir(&dir).unwrap();
    let mut sup = Sup::start(&dir);
    let want = format!("unable to start {}/run: file does not exist", dir.display());
    wait_for(LIMIT, "two reports", || sup.stderr().matches(&want).count() >= 2);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let reports = sup.stderr().matches(&want).count();
    let secs = started.elapsed().as_secs_f64() + 2.0;
    assert!(reports as f64 <= secs + 1.5, "{reports} reports in {secs} s: {}", sup.stderr());
    assert!(sup.stderr().lines().all(|l| l.contains(&want)), "{}", sup.stderr());
    assert!(sup.proc.child.try_wait().unwrap().is_none(), "supervise gave up");
    write_script(&dir.join("run"), "#!/bin/sh\necho ran > ran\nexec sleep 1000\n");
    wait_for(LIMIT, "run starts once it exists", || dir.join("ran").exists());
    wait_up(&dir);
}

#[test]
fn run_that_is_not_executable_is_reported_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("noexec");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("run"), "#!/bin/sh\necho ran > ran\nexec sleep 1000\n").unwrap();
    fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o644)).unwrap();
    let mut sup = Sup::start(&dir);
    let want = format!("unable to start {}/run: access denied", dir.display());
    wait_for(LIMIT, "two reports", || sup.stderr().matches(&want).count() >= 2);
    assert!(sup.proc.child.try_wait().unwrap().is_none(), "supervise gave up");
    fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
    wait_for(LIMIT, "run starts once executable", || dir.join("ran").exists());
    wait_up(&dir);
}

#[test]
fn second_supervise_on_the_same_dir_exits_111() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("once");
    sleeper(&dir);
    let _sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    let out = run_tool("supervise", [&dir]);
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
            dir.display()
        )
    );
    assert_eq!(status_pid(&dir), pid, "the first one carries on undisturbed");
}

#[test]
fn lock_is_shared_with_debian_supervise_and_runsv() {
    let debian = require_debian!("supervise");
    let runsv = require_debian!("runsv");
    let tmp = tempfile::tempdir().unwrap();
    // Debian's holds it: ours refuses.
    let dir = tmp.path().join("theirs");
    sleeper(&dir);
    let _theirs = Sup::start_cmd(Command::new(&debian), &dir);
    let out = run_tool("supervise", [&dir]);
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unable to acquire"));
    // Ours holds it: Debian's and runsv refuse.
    let dir = tmp.path().join("ours");
    sleeper(&dir);
    let _ours = Sup::start(&dir);
    wait_up(&dir);
    for peer in [&debian, &runsv] {
        let mut cmd = Command::new(peer);
        cmd.arg(&dir);
        let out = output_within(cmd, LIMIT);
        assert_eq!(out.status.code(), Some(111), "{}: {out:?}", peer.display());
    }
}

#[test]
fn down_file_keeps_it_down_until_told() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("down");
    sleeper(&dir);
    fs::write(dir.join("down"), "").unwrap();
    let _sup = Sup::start(&dir);
    wait_for(LIMIT, "the first status", || status(&dir).len() == 20);
    wait_text(&dir, "supervise/stat", "down\n");
    wait_text(&dir, "supervise/pid", "");
    // Still down a while later: the down file is not a moment's delay.
    std::thread::sleep(Duration::from_millis(300));
    let s = status(&dir);
    assert_eq!((&s[12..16], s[17], s[19]), (&[0u8; 4][..], b'd', 0));
    assert_eq!(file(&dir, "supervise/stat"), "down\n");
    svc(&dir, "-u");
    let pid = wait_up(&dir);
    assert_eq!(status(&dir)[17], b'u');
    wait_text(&dir, "supervise/pid", &format!("{pid}\n"));
    wait_text(&dir, "supervise/stat", "run\n");
}

#[test]
fn once_runs_it_a_single_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("once");
    write_script(&dir.join("run"), "#!/bin/sh\necho x >> starts\nsleep 0.2\n");
    fs::write(dir.join("down"), "").unwrap();
    let _sup = Sup::start(&dir);
    svc(&dir, "-o");
    wait_for(LIMIT, "the one start", || !file(&dir, "starts").is_empty());
    // daemontools writes no wish after -o (the down file had made it `d`).
    wait_for(LIMIT, "want byte 0 after -o", || status(&dir)[17] == 0);
    wait_down(&dir);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(file(&dir, "starts"), "x\n", "started again");
}

#[test]
fn exit_waits_until_the_service_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exit");
    sleeper(&dir);
    let mut sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    svc(&dir, "-x");
    std::thread::sleep(Duration::from_millis(300));
    assert!(sup.proc.child.try_wait().unwrap().is_none(), "exited with the service up");
    assert!(alive(pid));
    svc(&dir, "-d");
    let code = sup.proc.wait_within(LIMIT).expect("supervise exits once down");
    assert_eq!(code.code(), Some(0));
    assert!(!alive(pid));
    // Nothing holds ok any longer.
    assert_eq!(run_tool("svok", [&dir]).status.code(), Some(100));
}

#[test]
fn pause_and_continue_stop_and_resume_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pause");
    sleeper(&dir);
    let _sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    svc(&dir, "-p");
    wait_for(LIMIT, "stopped", || state(pid) == "T");
    // The status is written just after the signal is sent.
    wait_for(LIMIT, "the paused byte", || status(&dir)[16] == 1);
    wait_text(&dir, "supervise/stat", "run, paused\n");
    svc(&dir, "-c");
    wait_for(LIMIT, "resumed", || state(pid) == "S");
    wait_for(LIMIT, "the paused byte cleared", || status(&dir)[16] == 0);
    wait_text(&dir, "supervise/stat", "run\n");
    assert_eq!(status_pid(&dir), pid);
}

#[test]
fn signal_commands_reach_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sigs");
    let mut script = String::from("#!/bin/sh\n");
    for sig in ["QUIT", "USR1", "USR2", "HUP", "ALRM", "INT"] {
        script.push_str(&format!("trap 'echo {sig} >> sigs' {sig}\n"));
    }
    script.push_str("echo $$ > trapped\nwhile :; do sleep 0.05; done\n");
    write_script(&dir.join("run"), &script);
    // A shell started in the background has INT and QUIT ignored, and an
    // ignored signal stays ignored across exec, where sh cannot trap it:
    // give supervise (and so the service) the default dispositions.
    let mut cmd = Command::new("env");
    cmd.arg("--default-signal=INT,QUIT").arg(tend_bin()).arg("supervise");
    let _sup = Sup::start_cmd(cmd, &dir);
    let pid = wait_up(&dir);
    wait_text(&dir, "trapped", &format!("{pid}\n"));
    let mut expected = String::new();
    for (opt, sig) in [
        ("-q", "QUIT"),
        ("-1", "USR1"),
        ("-2", "USR2"),
        ("-h", "HUP"),
        ("-a", "ALRM"),
        ("-i", "INT"),
    ] {
        svc(&dir, opt);
        expected.push_str(sig);
        expected.push('\n');
        wait_for(LIMIT, sig, || file(&dir, "sigs") == expected);
    }
    assert_eq!(status_pid(&dir), pid, "trapped signals do not restart it");
    svc(&dir, "-k");
    wait_for(LIMIT, "restart after -k", || {
        let now = status_pid(&dir);
        now != 0 && now != pid
    });
}

#[test]
fn finish_hears_exit_code_and_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fin");
    write_script(
        &dir.join("run"),
        "#!/bin/sh\nif [ -e exit3 ]; then rm exit3; exit 3; fi\necho $$ > running\nexec sleep 1000\n",
    );
    write_script(&dir.join("finish"), "#!/bin/sh\necho \"$@\" >> args\nsleep 0.3\n");
    fs::write(dir.join("exit3"), "").unwrap();
    let _sup = Sup::start(&dir);
    wait_for(LIMIT, "finish after exit 3", || file(&dir, "args") == "3 0\n");
    // The record of the first `run` (which exited 3) may still be up while
    // its `finish` starts: wait for the second `run`, known by its pid.
    let mut pid = 0;
    wait_for(LIMIT, "second run up", || {
        pid = file(&dir, "running").trim().parse().unwrap_or(0);
        pid != 0 && status_pid(&dir) == pid && status(&dir)[19] == 1
    });
    svc(&dir, "-d");
    // `status` is written last: once it shows finish, `pid` and `stat`
    // already do.
    wait_for(LIMIT, "finish state", || status(&dir).get(19) == Some(&2));
    assert_eq!(file(&dir, "supervise/stat"), "finish, want down\n");
    let s = status(&dir);
    let finish_pid = status_pid(&dir);
    assert_ne!(finish_pid, pid);
    assert_eq!((s[17], s[18], s[19]), (b'd', 0, 2));
    assert_eq!(file(&dir, "supervise/pid"), format!("{finish_pid}\n"), "runsv shows finish's pid");
    wait_down(&dir);
    assert_eq!(file(&dir, "args"), "3 0\n-1 15\n");
    wait_text(&dir, "supervise/stat", "down\n");
    wait_text(&dir, "supervise/pid", "");
}

#[test]
fn term_is_shown_until_the_child_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("term");
    write_script(
        &dir.join("run"),
        "#!/bin/sh\ntrap 'echo TERM >> got' TERM\necho $$ > trapped\nwhile :; do sleep 0.05; done\n",
    );
    let _sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    wait_text(&dir, "trapped", &format!("{pid}\n"));
    svc(&dir, "-t");
    wait_for(LIMIT, "TERM trapped", || file(&dir, "got") == "TERM\n");
    wait_for(LIMIT, "the TERM byte", || status(&dir)[18] == 1);
    wait_text(&dir, "supervise/stat", "run, got TERM\n");
    svc(&dir, "-k");
    wait_for(LIMIT, "restarted", || {
        let now = status_pid(&dir);
        now != 0 && now != pid
    });
    assert_eq!(status(&dir)[18], 0);
    wait_text(&dir, "supervise/stat", "run\n");
}

#[test]
fn idle_supervise_never_wakes_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idle");
    sleeper(&dir);
    let sup = Sup::start(&dir);
    wait_up(&dir);
    wait_for(LIMIT, "supervise idle", || idle_in_poll(sup.proc.pid()));
    let before = switches(sup.proc.pid());
    std::thread::sleep(Duration::from_secs(3));
    let after = switches(sup.proc.pid());
    assert_eq!(before, after, "supervise woke up {} times while idle", after - before);
    // And down: no wake-ups either.
    svc(&dir, "-d");
    wait_down(&dir);
    wait_for(LIMIT, "supervise idle again", || idle_in_poll(sup.proc.pid()));
    let before = switches(sup.proc.pid());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(before, switches(sup.proc.pid()));
}

#[test]
fn sigterm_takes_the_service_down_then_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("term");
    sleeper(&dir);
    write_script(&dir.join("finish"), "#!/bin/sh\necho \"$@\" > args\n");
    let mut sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    sup.proc.signal(Signal::SIGTERM);
    let code = sup.proc.wait_within(LIMIT).expect("supervise exits");
    assert_eq!(code.code(), Some(0));
    assert!(!alive(pid), "service left running");
    assert_eq!(file(&dir, "args"), "-1 15\n", "finish ran before the exit");
    let s = status(&dir);
    assert_eq!((&s[12..16], s[17], s[19]), (&[0u8; 4][..], b'd', 0));
}

#[test]
fn service_inherits_no_descriptor_of_supervise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fds");
    sleeper(&dir);
    let _sup = Sup::start(&dir);
    let pid = wait_up(&dir);
    // What any child of this test inherits (the test's environment may
    // pass descriptors of its own): the service must have no more.
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").stdin(Stdio::null()).stderr(File::create(tmp.path().join("e")).unwrap());
    let sibling = Spawned::start(cmd);
    wait_for(LIMIT, "sleep running", || {
        fs::read_link(format!("/proc/{}/exe", sibling.pid()))
            .is_ok_and(|exe| exe.ends_with("sleep"))
    });
    assert_eq!(
        open_fds(pid),
        open_fds(sibling.pid()),
        "the lock, FIFOs and self-pipe must not leak into the service"
    );
    for fd in open_fds(pid) {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert!(!target.starts_with(&dir), "fd {fd} -> {target:?}");
    }
}

/// A signal set from a `/proc/PID/status` line such as `SigIgn:\t...`.
fn signal_set(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    u64::from_str_radix(line[field.len()..].trim(), 16).ok()
}

#[test]
fn run_starts_with_sigpipe_at_its_default_and_nothing_blocked() {
    // supervise ignores SIGPIPE, catches SIGCHLD and SIGTERM, and blocks
    // every signal while it starts a child: the service sees none of it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signals");
    fs::create_dir(&dir).unwrap();
    write_script(
        &dir.join("run"),
        "#!/bin/sh\ngrep ^Sig /proc/self/status > signals.new && mv signals.new signals\n\
         exec sleep 1000\n",
    );
    let _sup = Sup::start(&dir);
    wait_for(LIMIT, "run reports its signals", || dir.join("signals").exists());
    let status = file(&dir, "signals");
    let ignored = signal_set(&status, "SigIgn:").expect("SigIgn line");
    let blocked = signal_set(&status, "SigBlk:").expect("SigBlk line");
    assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored in run:\n{status}");
    assert_eq!(blocked, 0, "signals blocked in run:\n{status}");
}
