//! envuidgid: `$UID` and `$GID` of an account, compared with daemontools'
//! envuidgid.

use common::*;

#[test]
fn envuidgid_sets_uid_and_gid_like_daemontools() {
    let debian = require_debian!("envuidgid");
    for account in ["nobody", "daemon", "root"] {
        let mine = run_tool("envuidgid", [account, "sh", "-c", "echo $UID $GID"]);
        let real = run_program(&debian, "envuidgid", [account, "sh", "-c", "echo $UID $GID"]);
        assert_eq!(text(&mine.stdout), text(&real.stdout));
        assert!(mine.status.success());
    }
    assert_same("envuidgid", &debian, &["nosuchaccount", "true"]);
    assert_same("envuidgid", &debian, &["nobody"]);
}

/// The arguments read as Debian's envuidgid reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn envuidgid_reads_its_arguments_as_debians() {
    let debian = require_debian!("envuidgid");
    assert_same("envuidgid", &debian, &["-x", "true"]);
    assert_same("envuidgid", &debian, &["--", "true"]);
}
