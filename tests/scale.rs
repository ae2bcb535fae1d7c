//! svscan with a thousand services, in a test binary of its own: starting
//! them keeps both cores busy, which would slow the timed svscan tests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The number of live children of `pid`.
fn child_count(pid: u32) -> usize {
    let wanted = pid.to_string();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.len() > 1 && fields[1] == wanted && fields[0] != "Z"
        })
        .count()
}

fn service_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("supervise/pid")).ok()?.trim().parse().ok()
}

#[test]
fn a_thousand_services() {
    const COUNT: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..COUNT).map(|i| tmp.path().join(format!("s{i:04}"))).collect();
    for dir in &dirs {
        write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 1000\n");
    }
    let started = Instant::now();
    let mut cmd = tool("svscan");
    cmd.arg(tmp.path());
    let mut scan = Spawned::start(cmd);
    wait_for(Duration::from_secs(120), "all services up", || {
        dirs.iter().all(|d| service_pid(d).is_some())
    });
    eprintln!("{COUNT} services up in {:?}", started.elapsed());
    assert_eq!(child_count(scan.pid()), COUNT);
    kill(Pid::from_raw(scan.pid() as i32), Signal::SIGTERM).unwrap();
    assert!(
        scan.wait_within(Duration::from_secs(120)).is_some(),
        "svscan winds down {COUNT} services"
    );
}
