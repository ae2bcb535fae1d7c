//! svscan with real processes: a supervise per service and per logger, the
//! pipe between them held across logger deaths, new and removed services
//! noticed at once, SIGTERM winding everything down. A thousand services
//! are in tests/svscan_scale.rs, a binary of their own, so that their start-up
//! does not compete with these tests' time bounds.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The pid of `svscan`'s supervise for `name`, if running.
fn supervise_of(svscan: u32, name: &str) -> Option<u32> {
    let wanted = format!("supervise {name}");
    children(svscan).into_iter().find(|(_, cmd)| *cmd == wanted).map(|(pid, _)| pid)
}

/// How soon svscan starts a service directory that appears: inotify wakes
/// it, so well within this, where daemontools' periodic scan takes up to 5
/// seconds.
const AT_ONCE: Duration = Duration::from_secs(1);

fn start_svscan(dir: &Path) -> Spawned {
    let mut cmd = tool("svscan");
    cmd.arg(dir);
    Spawned::start(cmd)
}

#[test]
fn service_output_reaches_its_logger_through_the_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("shop");
    write_script(&svc.join("run"), "#!/bin/sh\necho 'hello from shop'\nexec sleep 1000\n");
    write_script(&svc.join("log/run"), "#!/bin/sh\nexec cat > ./out\n");
    fs::create_dir(tmp.path().join(".hidden")).unwrap();
    sleeper(&tmp.path().join(".hidden"));
    let scan = start_svscan(tmp.path());

    wait_for(Duration::from_secs(10), "the line in the logger's file", || {
        fs::read_to_string(svc.join("log/out")).is_ok_and(|s| s == "hello from shop\n")
    });
    let children: Vec<String> = children(scan.pid()).into_iter().map(|(_, c)| c).collect();
    assert!(children.contains(&"supervise shop".to_string()), "{children:?}");
    assert!(children.contains(&"supervise shop/log".to_string()), "{children:?}");
    assert_eq!(children.len(), 2, "dot-directories are ignored: {children:?}");
    assert!(!tmp.path().join(".hidden/supervise").exists());
}

#[test]
fn new_service_is_picked_up_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let scan_dir = tmp.path().join("service");
    fs::create_dir(&scan_dir).unwrap();
    let scan = start_svscan(&scan_dir);
    // Once svscan has scanned the empty directory and waits in poll with
    // no timeout: no periodic scan is due, only inotify can wake it.
    wait_for(Duration::from_secs(5), "svscan idle", || idle_in_poll(scan.pid()));

    let staging = tmp.path().join("web");
    sleeper(&staging);
    let moved = Instant::now();
    fs::rename(&staging, scan_dir.join("web")).unwrap();
    wait_for(Duration::from_secs(10), "the new service to run", || {
        service_pid(&scan_dir.join("web")).is_some()
    });
    let took = moved.elapsed();
    eprintln!("pick-up took {took:?}");
    assert!(took < AT_ONCE, "picked up in {took:?}, not at once");
}

#[test]
fn dead_supervise_is_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    sleeper(&tmp.path().join("a"));
    let scan = start_svscan(tmp.path());
    wait_for(Duration::from_secs(10), "the service to run", || {
        service_pid(&tmp.path().join("a")).is_some()
    });
    let first = supervise_of(scan.pid(), "a").expect("supervise a");
    let service = service_pid(&tmp.path().join("a")).unwrap();
    // The service's own process would block the new supervise from
    // nothing; stop it first so the restart is clean.
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    kill(Pid::from_raw(service as i32), Signal::SIGKILL).unwrap();
    wait_for(Duration::from_secs(5), "a new supervise", || {
        supervise_of(scan.pid(), "a").is_some_and(|pid| pid != first)
    });
    wait_for(Duration::from_secs(5), "the service to run again", || {
        service_pid(&tmp.path().join("a")).is_some_and(|pid| pid != service && alive(pid))
    });
}

#[test]
fn removed_service_is_stopped_logger_last() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("gone");
    let marker = tmp.path().join("service-got-term");
    write_script(
        &svc.join("run"),
        &format!(
            "#!/bin/sh\ntrap 'echo term > {}; exit 0' TERM\necho started\nwhile :; do sleep 0.05; done\n",
            marker.display()
        ),
    );
    write_script(&svc.join("log/run"), "#!/bin/sh\nexec cat > ./out\n");
    sleeper(&tmp.path().join("stays"));
    let scan = start_svscan(tmp.path());
    wait_for(Duration::from_secs(10), "both services", || {
        service_pid(&svc).is_some()
            && service_pid(&svc.join("log")).is_some()
            && service_pid(&tmp.path().join("stays")).is_some()
    });
    let service = service_pid(&svc).unwrap();
    let logger = service_pid(&svc.join("log")).unwrap();

    // Move it out rather than delete it, so its files can be inspected.
    let outside = tmp.path().join(".removed");
    fs::rename(&svc, &outside).unwrap();
    wait_for(Duration::from_secs(5), "the service to be stopped", || !alive(service));
    wait_for(Duration::from_secs(5), "its logger to be stopped", || !alive(logger));
    wait_for(Duration::from_secs(5), "both supervisors to be gone", || {
        supervise_of(scan.pid(), "gone").is_none() && supervise_of(scan.pid(), "gone/log").is_none()
    });
    assert_eq!(fs::read_to_string(&marker).unwrap(), "term\n", "stopped with SIGTERM, as svc -d");
    assert_eq!(fs::read_to_string(outside.join("log/out")).unwrap(), "started\n");
    assert!(supervise_of(scan.pid(), "stays").is_some(), "the other service is untouched");
}

#[test]
fn sigterm_stops_every_service_then_svscan() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        sleeper(&tmp.path().join(name));
    }
    write_script(&tmp.path().join("b/log/run"), "#!/bin/sh\nexec cat > ./out\n");
    let mut scan = start_svscan(tmp.path());
    wait_for(Duration::from_secs(10), "all services", || {
        ["a", "b", "b/log"].iter().all(|s| service_pid(&tmp.path().join(s)).is_some())
    });
    let pids: Vec<u32> =
        ["a", "b", "b/log"].iter().map(|s| service_pid(&tmp.path().join(s)).unwrap()).collect();
    scan.signal(Signal::SIGTERM);
    let status = scan.wait_within(Duration::from_secs(10)).expect("svscan exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    for pid in pids {
        assert!(!alive(pid), "service {pid} still running");
    }
}

/// The logger dies again and again (it kills itself with SIGKILL after
/// every 250th line) while the service writes 3000 numbered lines: svscan
/// holds the pipe, so the service never sees a broken pipe and every line
/// reaches a logger exactly once.
#[test]
fn logger_deaths_lose_no_line() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("counter");
    write_script(
        &svc.join("run"),
        "#!/bin/sh\ni=1\nwhile [ $i -le 3000 ]; do echo \"line $i\"; i=$((i + 1)); done\necho done >&2\nexec sleep 1000\n",
    );
    // Reads byte by byte (the shell's read builtin on a pipe), so it takes
    // from the pipe only the lines it writes out.
    write_script(
        &svc.join("log/run"),
        "#!/bin/sh\nwhile IFS= read -r line; do\n  printf '%s\\n' \"$line\" >> ../../lines\n  case $line in\n    *[05]00|*250|*750) kill -KILL $$ ;;\n  esac\ndone\n",
    );
    let scan = start_svscan(tmp.path());
    let lines_file = tmp.path().join("lines");
    wait_for(Duration::from_secs(60), "3000 lines through the dying logger", || {
        fs::read_to_string(&lines_file).is_ok_and(|s| s.lines().count() >= 3000)
    });
    let text = fs::read_to_string(&lines_file).unwrap();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let n: u32 = line
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        assert!(seen.insert(n), "line {n} twice");
    }
    assert_eq!(seen.len(), 3000);
    assert!((1..=3000).all(|n| seen.contains(&n)));
    let logger_restarts = text.lines().filter(|l| l.ends_with("00") || l.ends_with("50")).count();
    assert!(logger_restarts >= 10, "the logger really died repeatedly");
    drop(scan);
}

#[test]
fn log_directory_added_later_gets_its_logger_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("late");
    sleeper(&svc);
    let scan = start_svscan(tmp.path());
    wait_for(Duration::from_secs(10), "the service", || service_pid(&svc).is_some());
    wait_for(Duration::from_secs(10), "svscan idle", || idle_in_poll(scan.pid()));
    let staging = tmp.path().join(".log-staging");
    sleeper(&staging);
    let moved = Instant::now();
    fs::rename(&staging, svc.join("log")).unwrap();
    wait_for(Duration::from_secs(10), "the logger", || service_pid(&svc.join("log")).is_some());
    let took = moved.elapsed();
    assert!(took < AT_ONCE, "the logger started {took:?} after its directory appeared");
    assert!(supervise_of(scan.pid(), "late/log").is_some());
}

#[test]
fn idle_svscan_does_not_wake_up() {
    let tmp = tempfile::tempdir().unwrap();
    sleeper(&tmp.path().join("a"));
    let scan = start_svscan(tmp.path());
    wait_for(Duration::from_secs(10), "the service", || {
        service_pid(&tmp.path().join("a")).is_some()
    });
    // Once the start-up has settled: svscan and its supervise both wait.
    wait_for(Duration::from_secs(10), "svscan and supervise idle", || {
        let children = fs::read_to_string(format!("/proc/{0}/task/{0}/children", scan.pid()))
            .unwrap_or_default();
        idle_in_poll(scan.pid())
            && children.split_whitespace().all(|pid| idle_in_poll(pid.parse().unwrap()))
    });
    let before = switches(scan.pid());
    // Longer than daemontools' 5-second rescan period.
    std::thread::sleep(Duration::from_millis(5500));
    assert_eq!(switches(scan.pid()), before, "svscan woke up while nothing happened");
}

/// daemontools' svscan has no options: its first argument is the
/// directory whatever it looks like, and the rest are ignored.
#[test]
fn svscan_reads_its_arguments_as_debians() {
    let debian = require_debian!("svscan");
    assert_same("svscan", &debian, &["-x"]);
    assert_same("svscan", &debian, &["--", "/nonexistent"]);
    assert_same("svscan", &debian, &["/nonexistent", "extra", "-x"]);
}
