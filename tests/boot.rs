//! svscanboot and readproctitle with real processes.

mod common;

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .into_owned()
}

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

#[test]
fn svscanboot_stops_stale_supervisors_and_starts_svscan_under_readproctitle() {
    let tmp = tempfile::tempdir().unwrap();
    let service = tmp.path().join("service");
    let svc = service.join("web");
    write_script(&svc.join("run"), "#!/bin/sh\necho 'web says hi' >&2\nexec sleep 1000\n");

    // A supervise left over from before boot: svscanboot must stop it.
    let mut stale = {
        let mut c = tool("supervise");
        c.arg(&svc);
        Spawned::start(c)
    };
    wait_for(Duration::from_secs(5), "the stale supervise", || svc.join("supervise/pid").exists());
    let stale_service: u32 = {
        wait_for(Duration::from_secs(5), "the stale service", || {
            fs::read_to_string(svc.join("supervise/pid")).is_ok_and(|p| !p.trim().is_empty())
        });
        fs::read_to_string(svc.join("supervise/pid")).unwrap().trim().parse().unwrap()
    };

    let mut c = tool("svscanboot");
    c.arg(&service);
    let boot = Spawned::start(c);
    let status = stale
        .wait_within(Duration::from_secs(10))
        .expect("the stale supervise exits after svc -dx");
    assert!(status.success());
    wait_for(Duration::from_secs(5), "the stale service to stop", || !alive(stale_service));

    // The new tree: readproctitle (the svscanboot process itself, exec'd)
    // showing svscan's errors; svscan starts the service again.
    wait_for(Duration::from_secs(10), "the service under the new svscan", || {
        fs::read_to_string(svc.join("supervise/pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_some_and(|pid| pid != stale_service && alive(pid))
    });
    wait_for(Duration::from_secs(10), "the service's stderr in ps", || {
        let title = cmdline(boot.pid());
        title.starts_with("readproctitle\0service\0errors:\0") && title.contains("web says hi")
    });
    let environ = fs::read(format!("/proc/{}/environ", boot.pid())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.starts_with("PATH=/command:"), "only PATH is passed on: {environ:?}");
    assert_eq!(environ.matches('\0').count(), 1, "only PATH is passed on: {environ:?}");
}
