//! The multi-call binary: `tend TOOL`, links named after tools, `tend
//! install`, `tend --help`.

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn help_lists_every_tool() {
    let out = output_within(
        {
            let mut c = Command::new(tend_bin());
            c.arg("--help");
            c
        },
        Duration::from_secs(10),
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["svscan", "supervise", "svc", "svstat", "svok", "svscanboot", "readproctitle"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} missing from:\n{text}"
        );
    }
}

#[test]
fn unknown_tool_is_a_usage_error() {
    let mut c = Command::new(tend_bin());
    c.arg("nosuchtool");
    let out = output_within(c, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tool nosuchtool"));
}

#[test]
fn install_creates_working_links_and_force_replaces() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let install = |force: bool| {
        let mut c = Command::new(tend_bin());
        c.arg("install");
        if force {
            c.arg("--force");
        }
        c.arg(&bin);
        output_within(c, Duration::from_secs(10))
    };
    assert!(install(false).status.success());
    let target = fs::read_link(bin.join("svc")).unwrap();
    assert_eq!(fs::canonicalize(target).unwrap(), fs::canonicalize(tend_bin()).unwrap());

    // Through the link, the tool runs: svok's usage error.
    let out = output_within(Command::new(bin.join("svok")), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "svok: usage: svok dir\n");

    let again = install(false);
    assert_eq!(again.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    fs::remove_file(bin.join("svc")).unwrap();
    fs::write(bin.join("svc"), "not a link").unwrap();
    assert!(install(true).status.success());
    assert!(fs::symlink_metadata(bin.join("svc")).unwrap().file_type().is_symlink());
}

#[test]
fn tend_tool_form_equals_link_form() {
    let mut c = Command::new(tend_bin());
    c.args(["svstat", "/nonexistent-tend-test"]);
    let out = output_within(c, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/nonexistent-tend-test: unable to chdir: file does not exist\n"
    );
}
