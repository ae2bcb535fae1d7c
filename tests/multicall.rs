//! The multi-call binary: `tend TOOL`, links named after tools, `tend
//! install`, `tend --help`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// The names in a listing, sorted.
fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names
}

#[test]
fn help_lists_every_tool() {
    let mut cmd = Command::new(tend_bin());
    cmd.arg("--help");
    let out = output_within(cmd, Duration::from_secs(10));
    assert!(out.status.success());
    let help = text(&out.stdout);
    let (_, tools) = help.split_once("\ntools:\n").expect("a tools: section");
    let listed = sorted(tools.lines().map(|l| l.split_whitespace().next().unwrap().to_owned()));
    // The binary's own table, as `tend install` makes a link for each.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tend_links(tmp.path());
    let linked =
        sorted(fs::read_dir(&bin).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()));
    assert_eq!(listed, linked, "tend --help and tend install name different tools");
    // And the sources: one file per tool under src/tools/ (spawn_fcgi.rs
    // for spawn-fcgi), beside the dispatcher and `tend install`.
    let tools_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tools");
    let sources = sorted(fs::read_dir(tools_dir).unwrap().filter_map(|e| {
        let name = e.unwrap().file_name().into_string().unwrap();
        let tool = name.strip_suffix(".rs")?.replace('_', "-");
        (tool != "mod" && tool != "install").then_some(tool)
    }));
    assert_eq!(listed, sources, "tend --help and src/tools/ name different tools");
    let manuals = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for tool in &listed {
        assert!(manuals.join(format!("{tool}.md")).exists(), "no manual page docs/{tool}.md");
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
