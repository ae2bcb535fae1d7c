//! The chain-loading tools, run for real and compared with daemontools' and
//! runit's programs on the same inputs. The effect is read from inside the
//! child: `id`, `/proc/self/limits`, `/proc/self/status`, `env`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{output_within, tool, wait_for};

const LIMIT: Duration = Duration::from_secs(20);

fn ours(name: &str, args: &[&str]) -> Output {
    let mut cmd = tool(name);
    cmd.args(args);
    output_within(cmd, LIMIT)
}

fn theirs(program: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    output_within(cmd, LIMIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Ours and Debian's give the same exit code, output and messages.
#[track_caller]
fn assert_same(name: &str, debian: &Path, args: &[&str]) -> Output {
    let mine = ours(name, args);
    let real = theirs(debian, args);
    assert_eq!(mine.status.code(), real.status.code(), "{name} {args:?}: {}", text(&mine.stderr));
    assert_eq!(text(&mine.stdout), text(&real.stdout), "{name} {args:?}: stdout");
    assert_eq!(text(&mine.stderr), text(&real.stderr), "{name} {args:?}: stderr");
    mine
}

/// The lines of /proc/self/limits a child sees.
fn limits_line(limits: &str, what: &str) -> String {
    limits.lines().find(|line| line.starts_with(what)).unwrap_or_default().to_string()
}

// setuidgid and envuidgid

#[test]
fn setuidgid_drops_to_the_account_and_its_gid_only() {
    require_root!();
    let debian = require_debian!("setuidgid");
    for account in ["nobody", "daemon"] {
        let out = assert_same("setuidgid", &debian, &[account, "id"]);
        let expected = Command::new("id").arg(account).output().unwrap();
        let (uid, gid) = (text(&expected.stdout), text(&out.stdout));
        assert!(gid.starts_with(uid.split(" groups").next().unwrap()), "{gid} vs {uid}");
        // Exactly one group: the account's own.
        assert_eq!(gid.matches(',').count(), 0, "{gid}");
    }
    let status = ours("setuidgid", &["nobody", "cat", "/proc/self/status"]);
    let status = text(&status.stdout);
    assert!(status.contains("\nUid:\t65534\t65534\t65534\t65534\n"), "{status}");
    assert!(status.contains("\nGroups:\t65534 \n"), "{status}");
}

/// An account that is a member of two more groups, created for the test.
fn member_account() -> Option<&'static str> {
    const NAME: &str = "tendgroups";
    if Command::new("id").arg(NAME).output().ok()?.status.success() {
        return Some(NAME);
    }
    let made = Command::new("useradd")
        .args(["--system", "--no-create-home", "-G", "daemon,adm", NAME])
        .status()
        .ok()?;
    made.success().then_some(NAME)
}

#[test]
fn setuidgid_s_keeps_the_accounts_supplementary_groups() {
    require_root!();
    let Some(account) = member_account() else {
        eprintln!("skipped: cannot create a test account with useradd");
        return;
    };
    let plain = text(&ours("setuidgid", &[account, "id", "-G"]).stdout);
    let kept = text(&ours("setuidgid", &["-s", account, "id", "-G"]).stdout);
    let expected = text(&Command::new("id").args(["-G", account]).output().unwrap().stdout);
    assert_eq!(plain.split_whitespace().count(), 1, "{plain}");
    let mut kept: Vec<&str> = kept.split_whitespace().collect();
    let mut expected: Vec<&str> = expected.split_whitespace().collect();
    kept.sort();
    expected.sort();
    assert_eq!(kept, expected);
    assert!(kept.len() >= 3, "{kept:?}");
}

#[test]
fn setuidgid_failures_match_daemontools() {
    let debian = require_debian!("setuidgid");
    assert_same("setuidgid", &debian, &["nosuchaccount", "true"]);
    // Ours names -s in its usage line; the exit code is daemontools'.
    let real = theirs(&debian, &["nobody"]);
    assert_eq!(ours("setuidgid", &["nobody"]).status.code(), real.status.code());
    let out = ours("setuidgid", &[]);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(text(&out.stderr), "setuidgid: usage: setuidgid [-s] account child\n");
    if common::is_root() {
        assert_same("setuidgid", &debian, &["nobody", "/nonexistent/program"]);
        assert_same("setuidgid", &debian, &["nobody", "no-such-program-anywhere"]);
    }
}

#[test]
fn envuidgid_sets_uid_and_gid_like_daemontools() {
    let debian = require_debian!("envuidgid");
    for account in ["nobody", "daemon", "root"] {
        let mine = ours("envuidgid", &[account, "sh", "-c", "echo $UID $GID"]);
        let real = theirs(&debian, &[account, "sh", "-c", "echo $UID $GID"]);
        assert_eq!(text(&mine.stdout), text(&real.stdout));
        assert!(mine.status.success());
    }
    assert_same("envuidgid", &debian, &["nosuchaccount", "true"]);
    assert_same("envuidgid", &debian, &["nobody"]);
}

// envdir

fn env_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("TRIMMED"), "value \t \nsecond line\n").unwrap();
    fs::write(dir.join("NUL"), b"a\0b").unwrap();
    fs::write(dir.join("EMPTYLINE"), "\nmore").unwrap();
    fs::write(dir.join("REMOVED"), "").unwrap();
    fs::write(dir.join("HOME"), "/elsewhere").unwrap();
    fs::write(dir.join("D=E"), "x=y").unwrap();
    fs::write(dir.join("F=G"), "").unwrap();
    fs::write(dir.join(".hidden"), "no").unwrap();
}

#[test]
fn envdir_sets_the_environment_exactly_as_daemontools() {
    let debian = require_debian!("envdir");
    let dir = tempfile::tempdir().unwrap();
    env_dir(dir.path());
    let path = dir.path().to_str().unwrap();
    let run = |mut cmd: Command| {
        cmd.args([path, "env"]).env("REMOVED", "inherited").env("D", "old").env("F", "old");
        output_within(cmd, LIMIT)
    };
    let mine = run(tool("envdir"));
    let real = run(Command::new(&debian));
    assert!(mine.status.success());
    // Same entries in the same order, even the odd ones.
    assert_eq!(text(&mine.stdout), text(&real.stdout));
    let env = text(&mine.stdout);
    assert!(env.contains("\nTRIMMED=value\n"), "{env}");
    assert!(env.contains("\nNUL=a\nb\n"), "{env}");
    assert!(env.contains("\nD=E=x=y\n"), "{env}");
    assert!(!env.contains("REMOVED="), "{env}");
    assert!(!env.contains("hidden"), "{env}");
}

#[test]
fn envdir_failures_match_daemontools() {
    let debian = require_debian!("envdir");
    let dir = tempfile::tempdir().unwrap();
    let with_subdir = dir.path().join("withsub");
    fs::create_dir_all(with_subdir.join("sub")).unwrap();
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    for target in [&with_subdir, &missing, &file] {
        let out = assert_same("envdir", &debian, &[target.to_str().unwrap(), "true"]);
        assert_eq!(out.status.code(), Some(111));
    }
    assert_same("envdir", &debian, &[dir.path().to_str().unwrap()]);
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_same("envdir", &debian, &[empty.to_str().unwrap(), "no-such-program-anywhere"]);
}

// softlimit

#[test]
fn softlimit_sets_each_limit_as_daemontools_does() {
    let debian = require_debian!("softlimit");
    let cases: &[&[&str]] = &[
        &["-m", "31457280"],
        &["-a", "40000000", "-d", "30000000", "-s", "1000000"],
        &["-c", "0", "-f", "1000000", "-l", "65536"],
        &["-o", "64", "-p", "100", "-r", "5000000", "-t", "30"],
        &["-o", "="],
        &["-o70", "-m=", "-t", "1"],
        // Above the hard limit: lowered to it.
        &["-o", "999999999", "-l", "999999999999"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend(["cat", "/proc/self/limits"]);
        let out = assert_same("softlimit", &debian, &args);
        assert!(out.status.success(), "{case:?}");
    }
    let out = ours("softlimit", &["-m", "31457280", "-o", "64", "cat", "/proc/self/limits"]);
    let limits = text(&out.stdout);
    for what in ["Max data size", "Max stack size", "Max address space"] {
        assert!(limits_line(&limits, what).contains(" 31457280 "), "{what}: {limits}");
    }
    assert!(limits_line(&limits, "Max open files").contains(" 64 "), "{limits}");
}

#[test]
fn softlimit_usage_errors_match_daemontools() {
    let debian = require_debian!("softlimit");
    for args in [&["-z", "1", "true"][..], &["-m", "abc", "true"], &["-m"], &["-o", "5"], &[]] {
        let out = assert_same("softlimit", &debian, args);
        assert_eq!(out.status.code(), Some(100), "{args:?}");
    }
    assert_same("softlimit", &debian, &["-o", "100", "no-such-program-anywhere"]);
}

// pgrphack

#[test]
fn pgrphack_runs_the_child_in_a_new_session() {
    let debian = require_debian!("pgrphack");
    // Run from a shell that stays, so pgrphack is not a group leader
    // (setsid refuses those, in daemontools too).
    let child = "echo \\$\\$; cut -d' ' -f5,6 /proc/\\$\\$/stat";
    let tend = common::tend_bin();
    let script = format!("(exec -a pgrphack {} sh -c \"{child}\"); true", tend.display());
    let out = output_within(
        {
            let mut cmd = Command::new("bash");
            cmd.args(["-c", &script]);
            cmd
        },
        LIMIT,
    );
    let text = text(&out.stdout);
    let mut lines = text.lines();
    let pid = lines.next().unwrap();
    assert_eq!(lines.next().unwrap(), format!("{pid} {pid}"), "pgid and sid are the pid");
    assert_same("pgrphack", &debian, &[]);
    assert_same("pgrphack", &debian, &["no-such-program-anywhere"]);
}

// setlock

#[test]
fn setlock_excludes_and_interoperates_with_daemontools() {
    let debian = require_debian!("setlock");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    let lock_arg = lock.to_str().unwrap();
    let release = dir.path().join("release");
    let holding = dir.path().join("holding");
    // Ours holds the lock until told to let go.
    let script = format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.01; done",
        holding.display(),
        release.display()
    );
    let mut cmd = tool("setlock");
    cmd.args([lock_arg, "sh", "-c", &script]);
    let mut holder = common::Spawned::start(cmd);
    wait_for(LIMIT, "the lock to be held", || holding.exists());
    // -n fails at once, for both programs, with the same words.
    let out = assert_same("setlock", &debian, &["-n", lock_arg, "true"]);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        text(&out.stderr),
        format!("setlock: fatal: unable to lock {lock_arg}: temporary failure\n")
    );
    // -x: silently exit 0.
    let out = assert_same("setlock", &debian, &["-nx", lock_arg, "true"]);
    assert_eq!(out.status.code(), Some(0));
    // Without -n, it waits for the holder.
    fs::write(&release, "").unwrap();
    let out = ours("setlock", &[lock_arg, "echo", "got it"]);
    assert_eq!(text(&out.stdout), "got it\n");
    assert!(holder.wait_within(LIMIT).unwrap().success());

    // Debian's holding it stops ours.
    fs::remove_file(&holding).unwrap();
    fs::remove_file(&release).unwrap();
    let mut cmd = Command::new(&debian);
    cmd.args([lock_arg, "sh", "-c", &script]);
    let mut holder = common::Spawned::start(cmd);
    wait_for(LIMIT, "Debian's setlock to hold the lock", || holding.exists());
    assert_eq!(ours("setlock", &["-n", lock_arg, "true"]).status.code(), Some(111));
    fs::write(&release, "").unwrap();
    assert!(holder.wait_within(LIMIT).unwrap().success());
}

#[test]
fn setlock_failures_match_daemontools() {
    let debian = require_debian!("setlock");
    assert_same("setlock", &debian, &["/nonexistent/dir/lock", "true"]);
    assert_same("setlock", &debian, &["-x", "/nonexistent/dir/lock", "true"]);
    assert_same("setlock", &debian, &["/tmp"]);
    assert_same("setlock", &debian, &[]);
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    assert_same("setlock", &debian, &[lock.to_str().unwrap(), "no-such-program-anywhere"]);
}

// fghack

#[test]
fn fghack_waits_for_every_descendant_and_passes_the_exit_code() {
    let debian = require_debian!("fghack");
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let started = dir.path().join("started");
    // The child backgrounds a grandchild and exits 7 at once.
    let script = format!(
        "(touch {}; while [ ! -e {} ]; do sleep 0.01; done) & exit 7",
        started.display(),
        go.display()
    );
    let mut cmd = tool("fghack");
    cmd.args(["sh", "-c", &script]);
    let mut fghack = common::Spawned::start(cmd);
    wait_for(LIMIT, "the grandchild to start", || started.exists());
    assert!(fghack.wait_within(Duration::from_millis(300)).is_none(), "fghack left early");
    fs::write(&go, "").unwrap();
    assert_eq!(fghack.wait_within(LIMIT).unwrap().code(), Some(7));

    assert_same("fghack", &debian, &["sh", "-c", "exit 3"]);
    assert_same("fghack", &debian, &["sh", "-c", "kill -9 $$"]);
    assert_same("fghack", &debian, &["no-such-program-anywhere"]);
    assert_same("fghack", &debian, &[]);
}

// chpst

#[test]
fn chpst_user_and_group_specs_match_runit() {
    require_root!();
    let debian = require_debian!("chpst");
    for spec in ["nobody", "nobody:daemon:adm:tty", ":65534:1:4", "daemon:nogroup"] {
        let out = assert_same("chpst", &debian, &["-u", spec, "id"]);
        assert!(out.status.success(), "{spec}");
    }
    for spec in ["nosuch", "nobody:nosuchgroup", ":65534", ":abc:1", "nobody:"] {
        let out = assert_same("chpst", &debian, &["-u", spec, "id"]);
        assert_eq!(out.status.code(), Some(111), "{spec}");
    }
    for spec in ["nobody", "nobody:adm", ":65534:4"] {
        let args = ["-U", spec, "sh", "-c", "echo $UID $GID"];
        assert_same("chpst", &debian, &args);
    }
}

#[test]
fn chpst_environment_directory_matches_runit() {
    let debian = require_debian!("chpst");
    let dir = tempfile::tempdir().unwrap();
    env_dir(dir.path());
    fs::create_dir(dir.path().join("SUBDIR")).unwrap();
    let path = dir.path().to_str().unwrap();
    let mine = ours("chpst", &["-e", path, "env"]);
    let real = theirs(&debian, &["-e", path, "env"]);
    assert!(mine.status.success(), "{}", text(&mine.stderr));
    assert_eq!(text(&mine.stdout), text(&real.stdout));
    // -v names the directory it passed over.
    assert_same("chpst", &debian, &["-v", "-e", path, "true"]);
    assert_same("chpst", &debian, &["-e", "/nonexistent/env", "true"]);
}

#[test]
fn chpst_limits_nice_session_and_descriptors_match_runit() {
    let debian = require_debian!("chpst");
    let cases: &[&[&str]] = &[
        &["-m", "31457280", "cat", "/proc/self/limits"],
        &["-d", "30000000", "-o", "64", "-p", "100", "-f", "100000", "cat", "/proc/self/limits"],
        &["-c", "0", "-r", "5000000", "-t", "20", "cat", "/proc/self/limits"],
        &["-n", "5", "sh", "-c", "cut -d' ' -f19 /proc/self/stat"],
        &["-b", "renamed", "sh", "-c", "echo $0"],
        &["-0", "sh", "-c", "[ -e /proc/self/fd/0 ] || echo stdin closed"],
        &["-1", "sh", "-c", "[ -e /proc/self/fd/1 ] || echo stdout closed >&2"],
        &["-2", "sh", "-c", "[ -e /proc/self/fd/2 ] || echo stderr closed"],
    ];
    for case in cases {
        let out = assert_same("chpst", &debian, case);
        assert!(out.status.success(), "{case:?}");
        assert!(!out.stdout.is_empty() || !out.stderr.is_empty(), "{case:?} showed nothing");
    }
    // -P: a new session, from a shell that stays (setsid refuses a group
    // leader, and the test runs each command as one).
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("chpst");
    std::os::unix::fs::symlink(common::tend_bin(), &link).unwrap();
    for program in [link.as_path(), debian.as_path()] {
        let script = format!(
            "({} -P sh -c '[ $(cut -d\" \" -f6 /proc/$$/stat) = $$ ] && echo own session'); true",
            program.display()
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-c", &script]);
        assert_eq!(text(&output_within(cmd, LIMIT).stdout), "own session\n", "{program:?}");
    }
    // runit takes numbers only: `=` is softlimit's.
    for args in
        [&["-z"][..], &[], &["-n", "abc", "true"], &["-m", "x", "true"], &["-o", "=", "true"]]
    {
        let out = assert_same("chpst", &debian, args);
        assert_eq!(out.status.code(), Some(100), "{args:?}");
    }
    assert_same("chpst", &debian, &["no-such-program-anywhere"]);
    assert_same("chpst", &debian, &["-/", "/nonexistent/root", "true"]);
}

#[test]
fn chpst_locks_like_runit() {
    let debian = require_debian!("chpst");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    let lock_arg = lock.to_str().unwrap();
    // Inside our -L holder, ours and runit's both refuse a second -L.
    let link = dir.path().join("chpst");
    std::os::unix::fs::symlink(common::tend_bin(), &link).unwrap();
    let ours_inner = format!("{} -L {lock_arg} true", link.display());
    let runit_inner = format!("{} -L {lock_arg} true", debian.display());
    for inner in [ours_inner, runit_inner] {
        let out = ours("chpst", &["-L", lock_arg, "sh", "-c", &format!("({inner}) 2>&1; echo $?")]);
        let said = text(&out.stdout);
        let refusal = format!("chpst: fatal: unable to lock: {lock_arg}: temporary failure\n111\n");
        assert_eq!(said, refusal, "{inner}");
    }
    assert_same("chpst", &debian, &["-l", "/nonexistent/dir/lock", "true"]);
}

#[test]
fn chpst_changes_root() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Inside the new root, the child (a tool of ours, copied in) creates
    // a file; it must appear under the directory, not under `/`.
    let tend = common::tend_bin();
    // Copied by another process: a descriptor open for writing here could
    // leak into a child another test forks meanwhile, and exec would then
    // fail with "text busy".
    assert!(Command::new("cp").arg(&tend).arg(root.join("tend")).status().unwrap().success());
    let marker = "/made-inside-the-new-root";
    let out = ours(
        "chpst",
        &["-/", root.to_str().unwrap(), "/tend", "setlock", marker, "/tend", "svok", "/"],
    );
    if text(&out.stderr).contains("unable to run: /tend: file does not exist") {
        // A dynamically linked binary cannot run without its libraries.
        eprintln!("skipped: tend is dynamically linked, it cannot run in an empty root");
        return;
    }
    assert!(root.join("made-inside-the-new-root").exists(), "{}", text(&out.stderr));
    assert!(!Path::new(marker).exists());
}
