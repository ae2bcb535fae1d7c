//! svlogd on tend's log engine, compared with runit's svlogd on the same
//! input; UDP copies to a loopback collector.

mod common;

use std::fs;
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn run_svlogd(program: Option<&Path>, args: &[&str], cwd: &Path, input: &[u8]) -> i32 {
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("svlogd"),
    };
    cmd.args(args).current_dir(cwd);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait().unwrap().code().unwrap_or(-1)
}

/// Drop `YYYY-MM-DD_HH:MM:SS.xxxxx ` stamps at line starts, checking them.
fn unstamp(text: &[u8]) -> String {
    let mut out = String::new();
    for line in String::from_utf8(text.to_vec()).unwrap().split_inclusive('\n') {
        let b = line.as_bytes();
        assert!(b.len() > 26 && b[10] == b'_' && b[19] == b'.' && b[25] == b' ', "{line}");
        out.push_str(&line[26..]);
    }
    out
}

fn logs(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    let mut data = Vec::new();
    for n in &names {
        data.extend(fs::read(dir.join(n)).unwrap());
    }
    data.extend(fs::read(dir.join("current")).unwrap_or_default());
    (data, names)
}

#[test]
fn same_results_as_runit_svlogd() {
    let debian = require_debian!("svlogd");
    let mut input = Vec::new();
    for i in 0..2000 {
        let kind = if i % 5 == 0 { "error" } else { "info" };
        writeln!(input, "{kind} {i} {}", "y".repeat(i % 40)).unwrap();
    }
    let mut results = Vec::new();
    for program in [Some(debian.as_path()), None] {
        let tmp = tempfile::tempdir().unwrap();
        for (dir, config) in [("sel", "-*\n+*error*\npPFX:\n"), ("small", "s4096\nn3\n")] {
            fs::create_dir(tmp.path().join(dir)).unwrap();
            fs::write(tmp.path().join(dir).join("config"), config).unwrap();
        }
        assert_eq!(run_svlogd(program, &["-tt", "sel", "small"], tmp.path(), &input), 0);
        let (sel, sel_names) = logs(&tmp.path().join("sel"));
        assert!(sel_names.is_empty());
        let (small, names) = logs(&tmp.path().join("small"));
        assert_eq!(names.len(), 3, "n3 keeps three old files: {names:?}");
        for n in &names {
            assert!(n.len() == 27 && n.ends_with(".s"));
            let meta = fs::metadata(tmp.path().join("small").join(n)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o744);
            assert!(meta.len() <= 4096);
        }
        let current = tmp.path().join("small/current");
        assert_eq!(fs::metadata(current).unwrap().permissions().mode() & 0o777, 0o744);
        let small = unstamp(&small);
        let text = String::from_utf8(input.clone()).unwrap();
        assert!(text.ends_with(&small) && text[..text.len() - small.len()].ends_with('\n'));
        results.push(unstamp(&sel));
    }
    assert!(results[0].lines().count() == 400);
    assert!(results[0].starts_with("PFX:error 0 \n"));
    assert_eq!(results[1], results[0]);
}

#[test]
fn udp_copies_reach_a_loopback_collector() {
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = collector.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    for (dir, config) in [
        ("both", format!("U127.0.0.1:{port}\npB:\n")),
        ("only", format!("u127.0.0.1:{port}\n-*\n+*two*\npO:\n")),
    ] {
        fs::create_dir(tmp.path().join(dir)).unwrap();
        fs::write(tmp.path().join(dir).join("config"), config).unwrap();
    }
    assert_eq!(run_svlogd(None, &["both", "only"], tmp.path(), b"one\ntwo\n"), 0);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        let (n, _) = collector.recv_from(&mut buf).expect("a UDP packet");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got.sort();
    assert_eq!(got, ["B:one\n", "B:two\n", "O:two\n"]);
    assert_eq!(fs::read_to_string(tmp.path().join("both/current")).unwrap(), "B:one\nB:two\n");
    assert_eq!(fs::read_to_string(tmp.path().join("only/current")).unwrap(), "");
}

#[test]
fn usage_without_a_directory() {
    let out = run_tool("svlogd", ["-tt"]);
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage: svlogd"));
}

#[test]
fn config_t_rotates_an_old_current() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config"), "t1\n").unwrap();
    let mut cmd = tool("svlogd");
    cmd.arg("log").current_dir(tmp.path()).stdin(Stdio::piped());
    let mut logger = Spawned::start(cmd);
    let mut stdin = logger.child.stdin.take().unwrap();
    stdin.write_all(b"old news\n").unwrap();
    stdin.flush().unwrap();
    wait_for(Duration::from_secs(10), "rotation after t1", || logs(&dir).1.len() == 1);
    let (data, names) = logs(&dir);
    assert_eq!(data, b"old news\n");
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"old news\n");
    drop(stdin);
    assert_eq!(logger.wait_within(Duration::from_secs(10)).unwrap().code(), Some(0));
}
