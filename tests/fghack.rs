//! fghack: waiting for every descendant, compared with daemontools'
//! fghack.

use std::fs;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

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
    let mut fghack = Spawned::start(cmd);
    wait_for(LIMIT, "the grandchild to start", || started.exists());
    assert!(fghack.wait_within(Duration::from_millis(300)).is_none(), "fghack left early");
    fs::write(&go, "").unwrap();
    assert_eq!(fghack.wait_within(LIMIT).unwrap().code(), Some(7));

    assert_same("fghack", &debian, &["sh", "-c", "exit 3"]);
    assert_same("fghack", &debian, &["sh", "-c", "kill -9 $$"]);
    assert_same("fghack", &debian, &["no-such-program-anywhere"]);
    assert_same("fghack", &debian, &[]);
}

/// The arguments read as Debian's fghack reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn fghack_reads_its_arguments_as_debians() {
    let debian = require_debian!("fghack");
    assert_same("fghack", &debian, &["-x"]);
    assert_same("fghack", &debian, &["--", "true"]);
}
