//! runit's chpst: accounts, environment directory, limits, nice, session,
//! descriptors, locks and a new root, compared with runit's chpst. The
//! effect is read from inside the child: `id`, `/proc/self/limits`, `env`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

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
    let mine = run_tool("chpst", ["-e", path, "env"]);
    let real = run_program(&debian, "chpst", ["-e", path, "env"]);
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
    std::os::unix::fs::symlink(tend_bin(), &link).unwrap();
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
    std::os::unix::fs::symlink(tend_bin(), &link).unwrap();
    let ours_inner = format!("{} -L {lock_arg} true", link.display());
    let runit_inner = format!("{} -L {lock_arg} true", debian.display());
    for inner in [ours_inner, runit_inner] {
        let out =
            run_tool("chpst", ["-L", lock_arg, "sh", "-c", &format!("({inner}) 2>&1; echo $?")]);
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
    let tend = tend_bin();
    // Copied by another process: a descriptor open for writing here could
    // leak into a child another test forks meanwhile, and exec would then
    // fail with "text busy".
    assert!(Command::new("cp").arg(&tend).arg(root.join("tend")).status().unwrap().success());
    let marker = "/made-inside-the-new-root";
    let out = run_tool(
        "chpst",
        ["-/", root.to_str().unwrap(), "/tend", "setlock", marker, "/tend", "svok", "/"],
    );
    if text(&out.stderr).contains("unable to run: /tend: file does not exist") {
        // A dynamically linked binary cannot run without its libraries.
        skip!("tend is dynamically linked, it cannot run in an empty root");
    }
    assert!(root.join("made-inside-the-new-root").exists(), "{}", text(&out.stderr));
    assert!(!Path::new(marker).exists());
}

/// The arguments read as Debian's chpst reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn chpst_reads_its_arguments_as_debians() {
    let debian = require_debian!("chpst");
    assert_same("chpst", &debian, &["--foo", "true"]);
    assert_same("chpst", &debian, &["-v--x", "true"]);
}
