//! svscan with a thousand services, in a test binary of its own: starting
//! them keeps both cores busy, which would slow the timed svscan tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

#[test]
fn a_thousand_services() {
    const COUNT: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..COUNT).map(|i| tmp.path().join(format!("s{i:04}"))).collect();
    for dir in &dirs {
        sleeper(dir);
    }
    let started = Instant::now();
    let mut cmd = tool("svscan");
    cmd.arg(tmp.path());
    let mut scan = Spawned::start(cmd);
    wait_for(Duration::from_secs(120), "all services up", || {
        dirs.iter().all(|d| service_pid(d).is_some())
    });
    eprintln!("{COUNT} services up in {:?}", started.elapsed());
    assert_eq!(children(scan.pid()).len(), COUNT);
    scan.signal(Signal::SIGTERM);
    assert!(
        scan.wait_within(Duration::from_secs(120)).is_some(),
        "svscan winds down {COUNT} services"
    );
}
