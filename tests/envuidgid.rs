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
