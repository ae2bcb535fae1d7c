//! readproctitle with real processes: what `ps` shows of its input.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn readproctitle_shows_recent_input_in_its_command_line() {
    let mut cmd = tool("readproctitle");
    cmd.args(["io", "errors:", ".................."]).stdin(Stdio::piped());
    let mut rp = Spawned::start(cmd);
    let pid = rp.pid();
    let mut stdin = rp.child.stdin.take().unwrap();
    stdin.write_all(b"hello\nworld\n").unwrap();
    stdin.flush().unwrap();
    wait_for(Duration::from_secs(5), "the input in the command line", || {
        cmdline(pid) == "readproctitle\0io\0errors:\0......hello\nworld\n\0"
    });
    stdin.write_all(b"0123456789abcdefghijXYZ").unwrap();
    stdin.flush().unwrap();
    wait_for(Duration::from_secs(5), "the newest bytes only", || {
        cmdline(pid).ends_with("\x0056789abcdefghijXYZ\0")
    });
    drop(stdin);
    let status = rp.wait_within(Duration::from_secs(5)).expect("exits at end of input");
    assert!(status.success());
}

#[test]
fn readproctitle_needs_room() {
    let out = run_tool("readproctitle", ["io", "...."]);
    assert_eq!(out.status.code(), Some(100));
    let out = run_tool("readproctitle", Vec::<&str>::new());
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn readproctitle_behaves_as_debians() {
    let debian = require_debian!("readproctitle");
    for args in [vec!["io", "...."], vec![]] {
        let theirs = output_within(
            {
                let mut c = std::process::Command::new(&debian);
                c.args(&args);
                c
            },
            Duration::from_secs(5),
        );
        let ours = run_tool("readproctitle", &args);
        assert_eq!(ours.status.code(), theirs.status.code(), "args {args:?}");
    }
}
