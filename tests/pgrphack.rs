//! pgrphack: the child in a session of its own, compared with daemontools'
//! pgrphack.

use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn pgrphack_runs_the_child_in_a_new_session() {
    let debian = require_debian!("pgrphack");
    // Run from a shell that stays, so pgrphack is not a group leader
    // (setsid refuses those, in daemontools too).
    let child = "echo \\$\\$; cut -d' ' -f5,6 /proc/\\$\\$/stat";
    let tend = tend_bin();
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

/// The arguments read as Debian's pgrphack reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn pgrphack_reads_its_arguments_as_debians() {
    let debian = require_debian!("pgrphack");
    assert_same("pgrphack", &debian, &["-x"]);
    assert_same("pgrphack", &debian, &["--", "true"]);
    assert_same("pgrphack", &debian, &["--foo"]);
}
