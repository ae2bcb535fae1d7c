//! softlimit: each limit as the child sees it in `/proc/self/limits`,
//! compared with daemontools' softlimit.

use common::*;

/// The line of /proc/self/limits a child sees for `what`.
fn limits_line(limits: &str, what: &str) -> String {
    limits.lines().find(|line| line.starts_with(what)).unwrap_or_default().to_string()
}

#[test]
fn softlimit_sets_each_limit_as_daemontools_does() {
    let debian = require_debian!("softlimit");
    let cases: &[&[&str]] = &[
        &["-m", "31457280"],
        &["-a", "40000000", "-d", "30000000", "-s", "1000000"],
        &["-c", "0", "-f", "1000000", "-l", "65536"],
        &["-o", "64", "-p", "100", "-r", "5000000", "-t", "30"],
        &["-o", "="],
        &["-o70", "-m=", "-t", "1"],
        // Above the hard limit: lowered to it.
        &["-o", "999999999", "-l", "999999999999"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend(["cat", "/proc/self/limits"]);
        let out = assert_same("softlimit", &debian, &args);
        assert!(out.status.success(), "{case:?}");
    }
    let out = run_tool("softlimit", ["-m", "31457280", "-o", "64", "cat", "/proc/self/limits"]);
    let limits = text(&out.stdout);
    for what in ["Max data size", "Max stack size", "Max address space"] {
        assert!(limits_line(&limits, what).contains(" 31457280 "), "{what}: {limits}");
    }
    assert!(limits_line(&limits, "Max open files").contains(" 64 "), "{limits}");
}

#[test]
fn softlimit_usage_errors_match_daemontools() {
    let debian = require_debian!("softlimit");
    for args in [&["-z", "1", "true"][..], &["-m", "abc", "true"], &["-m"], &["-o", "5"], &[]] {
        let out = assert_same("softlimit", &debian, args);
        assert_eq!(out.status.code(), Some(100), "{args:?}");
    }
    assert_same("softlimit", &debian, &["-o", "100", "no-such-program-anywhere"]);
}

/// The arguments read as Debian's softlimit reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn softlimit_reads_its_arguments_as_debians() {
    let debian = require_debian!("softlimit");
    assert_same("softlimit", &debian, &["--foo", "true"]);
    assert_same("softlimit", &debian, &["-m", "5", "--foo", "true"]);
    assert_same("softlimit", &debian, &["-m5-x", "true"]);
    assert_same("softlimit", &debian, &["-m"]);
}
