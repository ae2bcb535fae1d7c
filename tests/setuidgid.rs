//! setuidgid: the account's uid and gid (and, with `-s`, its supplementary
//! groups), compared with daemontools' setuidgid.

use std::process::Command;

use common::*;

#[test]
fn setuidgid_drops_to_the_account_and_its_gid_only() {
    require_root!();
    let debian = require_debian!("setuidgid");
    for account in ["nobody", "daemon"] {
        let out = assert_same("setuidgid", &debian, &[account, "id"]);
        let expected = Command::new("id").arg(account).output().unwrap();
        let (uid, gid) = (text(&expected.stdout), text(&out.stdout));
        assert!(gid.starts_with(uid.split(" groups").next().unwrap()), "{gid} vs {uid}");
        // Exactly one group: the account's own.
        assert_eq!(gid.matches(',').count(), 0, "{gid}");
    }
    let status = run_tool("setuidgid", ["nobody", "cat", "/proc/self/status"]);
    let status = text(&status.stdout);
    assert!(status.contains("\nUid:\t65534\t65534\t65534\t65534\n"), "{status}");
    assert!(status.contains("\nGroups:\t65534 \n"), "{status}");
}

#[test]
fn setuidgid_s_keeps_the_accounts_supplementary_groups() {
    require_root!();
    let account = "tendgroups";
    ensure_account(account, &["daemon", "adm"]);
    let plain = text(&run_tool("setuidgid", [account, "id", "-G"]).stdout);
    let kept = text(&run_tool("setuidgid", ["-s", account, "id", "-G"]).stdout);
    let expected = text(&Command::new("id").args(["-G", account]).output().unwrap().stdout);
    assert_eq!(plain.split_whitespace().count(), 1, "{plain}");
    let mut kept: Vec<&str> = kept.split_whitespace().collect();
    let mut expected: Vec<&str> = expected.split_whitespace().collect();
    kept.sort();
    expected.sort();
    assert_eq!(kept, expected);
    assert!(kept.len() >= 3, "{kept:?}");
}

#[test]
fn setuidgid_failures_match_daemontools() {
    let debian = require_debian!("setuidgid");
    assert_same("setuidgid", &debian, &["nosuchaccount", "true"]);
    // Ours names -s in its usage line; the exit code is daemontools'.
    let real = run_program(&debian, "setuidgid", ["nobody"]);
    assert_eq!(run_tool("setuidgid", ["nobody"]).status.code(), real.status.code());
    let out = run_tool("setuidgid", Vec::<&str>::new());
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(text(&out.stderr), "setuidgid: usage: setuidgid [-s] account child\n");
    if needs(is_root(), "setuidgid's failures to run a program need root") {
        assert_same("setuidgid", &debian, &["nobody", "/nonexistent/program"]);
        assert_same("setuidgid", &debian, &["nobody", "no-such-program-anywhere"]);
    }
}

/// The arguments read as Debian's setuidgid reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn setuidgid_reads_its_arguments_as_debians() {
    let debian = require_debian!("setuidgid");
    assert_same("setuidgid", &debian, &["-x", "true"]);
    assert_same("setuidgid", &debian, &["--", "root", "true"]);
}
