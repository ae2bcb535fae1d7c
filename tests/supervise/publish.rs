//! supervise's status files with a real service: `status`, runit's `pid`
//! and `stat` agree after every change, however the changes come (svc
//! commands, a child killed outright), although supervise coalesces its
//! writes and skips files whose contents did not change.

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::LIMIT;

/// tend's supervise for `dir`.
fn supervise(dir: &Path) -> Spawned {
    let mut cmd = tool("supervise");
    cmd.arg(dir);
    Spawned::start(cmd)
}

/// What the three files say: (svstat's pid, `pid` file, `stat` file).
fn published(dir: &Path) -> (Option<u32>, String, String) {
    let line = svstat(dir);
    let pid = line
        .split_once("(pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(pid, _)| pid.parse().ok());
    let pid_file = fs::read_to_string(dir.join("supervise/pid")).unwrap_or_default();
    let stat_file = fs::read_to_string(dir.join("supervise/stat")).unwrap_or_default();
    (pid, pid_file, stat_file)
}

/// Wait until the service is up with a pid other than `old`, all three files
/// agreeing; that pid.
fn wait_published(dir: &Path, old: Option<u32>) -> u32 {
    let mut pid = None;
    wait_for(LIMIT, "the service up, published alike in status, pid and stat", || {
        let (status_pid, pid_file, stat_file) = published(dir);
        match status_pid {
            Some(p) if Some(p) != old && pid_file == format!("{p}\n") && stat_file == "run\n" => {
                pid = Some(p);
                true
            }
            _ => false,
        }
    });
    pid.unwrap()
}

#[test]
fn status_pid_and_stat_agree_after_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    sleeper(&dir);
    let _supervise = supervise(&dir);

    let first = wait_published(&dir, None);

    // Down: no pid anywhere.
    svc(&dir, "-d");
    wait_for(LIMIT, "the service down in all three files", || {
        let (pid, pid_file, stat_file) = published(&dir);
        pid.is_none() && pid_file.is_empty() && stat_file == "down\n"
    });
    assert!(!alive(first), "the child of a downed service is gone");

    // Up again, then a TERM: the restarted child is published, and no
    // `got TERM` is left behind once the old child is gone.
    svc(&dir, "-u");
    let second = wait_published(&dir, Some(first));
    // Past the one-second rule, so that the restart is immediate.
    std::thread::sleep(Duration::from_millis(1100));
    svc(&dir, "-t");
    let third = wait_published(&dir, Some(second));

    // A child killed outright is restarted and published the same way.
    std::thread::sleep(Duration::from_millis(1100));
    kill(Pid::from_raw(third as i32), Signal::SIGKILL).unwrap();
    let fourth = wait_published(&dir, Some(third));
    assert!(alive(fourth));

    svc(&dir, "-dx");
}

#[test]
fn a_paused_service_is_published_in_status_and_stat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    sleeper(&dir);
    let _supervise = supervise(&dir);
    let pid = wait_published(&dir, None);

    svc(&dir, "-p");
    wait_for(LIMIT, "paused in svstat and stat, pid unchanged", || {
        let line = svstat(&dir);
        let (_, pid_file, stat_file) = published(&dir);
        line.contains(", paused") && stat_file == "run, paused\n" && pid_file == format!("{pid}\n")
    });
    svc(&dir, "-c");
    wait_for(LIMIT, "continued in stat", || published(&dir).2 == "run\n");
    svc(&dir, "-dx");
}

#[test]
fn a_child_that_ignores_term_is_published_as_got_term() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    write_script(&dir.join("run"), "#!/bin/sh\ntrap '' TERM\nexec sleep 100\n");
    let _supervise = supervise(&dir);
    let pid = wait_published(&dir, None);

    // Publishing waits briefly for a signalled child to die; this one does
    // not, and the TERM sent must still show.
    svc(&dir, "-t");
    wait_for(LIMIT, "`got TERM` in stat", || published(&dir).2 == "run, got TERM\n");
    assert!(alive(pid));
    assert_eq!(published(&dir).1, format!("{pid}\n"));
    svc(&dir, "-k");
    wait_published(&dir, Some(pid));
    svc(&dir, "-dx");
}
