//! setlock: exclusion, `-n` and `-x`, and a lock shared with daemontools'
//! setlock.

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

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
    let mut holder = Spawned::start(cmd);
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
    let out = run_tool("setlock", [lock_arg, "echo", "got it"]);
    assert_eq!(text(&out.stdout), "got it\n");
    assert!(holder.wait_within(LIMIT).unwrap().success());

    // Debian's holding it stops ours.
    fs::remove_file(&holding).unwrap();
    fs::remove_file(&release).unwrap();
    let mut cmd = Command::new(&debian);
    cmd.args([lock_arg, "sh", "-c", &script]);
    let mut holder = Spawned::start(cmd);
    wait_for(LIMIT, "Debian's setlock to hold the lock", || holding.exists());
    assert_eq!(run_tool("setlock", ["-n", lock_arg, "true"]).status.code(), Some(111));
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

/// The arguments read as Debian's setlock reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn setlock_reads_its_arguments_as_debians() {
    let debian = require_debian!("setlock");
    assert_same("setlock", &debian, &["--foo"]);
    assert_same("setlock", &debian, &["-nZ", "lock", "true"]);
    assert_same("setlock", &debian, &["--foo", "/nonexistent/dir/lock", "true"]);
}
