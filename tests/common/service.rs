//! Service directories: a service that only sleeps, what its supervisor
//! publishes (`supervise/status`, `supervise/pid`, `svstat`), and `svc`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::{run_tool, text, wait_for, write_script};

/// How long a supervisor may take to do what it was told.
const LIMIT: Duration = Duration::from_secs(10);

/// Make `dir` a service that sleeps (its `run` execs `sleep 1000`).
pub fn sleeper(dir: &Path) {
    write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 1000\n");
}

/// `supervise/status` as it is now (empty before the first).
pub fn status(dir: &Path) -> Vec<u8> {
    fs::read(dir.join("supervise/status")).unwrap_or_default()
}

/// The pid in a status record (bytes 12..16, little-endian), 0 when down
/// or when the record is too short.
pub fn pid_of(status: &[u8]) -> u32 {
    status.get(12..16).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()))
}

/// The pid of the service as `supervise/status` says, 0 when down.
pub fn status_pid(dir: &Path) -> u32 {
    pid_of(&status(dir))
}

/// The pid in `supervise/pid` (runit's), if the service is up.
pub fn service_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("supervise/pid")).ok()?.trim().parse().ok()
}

/// Wait until tend's supervise has the service up (status byte 19 says
/// `run`); its pid.
pub fn wait_up(dir: &Path) -> u32 {
    wait_for(LIMIT, "service up", || {
        let s = status(dir);
        pid_of(&s) != 0 && s.get(19) == Some(&1)
    });
    status_pid(dir)
}

/// tend's `svc OPTS DIR`, which must succeed silently.
pub fn svc(dir: &Path, opts: &str) {
    let out = run_tool("svc", [opts.as_ref(), dir.as_os_str()]);
    assert!(out.status.success() && out.stderr.is_empty(), "svc {opts}: {out:?}");
}

/// tend's `svstat DIR` line.
pub fn svstat(dir: &Path) -> String {
    text(&run_tool("svstat", [dir]).stdout)
}
