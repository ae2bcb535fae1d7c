//! envdir: the environment from a directory, compared with daemontools'
//! envdir on the same odd entries.

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

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

/// The arguments read as Debian's envdir reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn envdir_reads_its_arguments_as_debians() {
    let debian = require_debian!("envdir");
    assert_same("envdir", &debian, &["-x", "true"]);
    assert_same("envdir", &debian, &["--", "true"]);
    assert_same("envdir", &debian, &["--x", "true"]);
}
