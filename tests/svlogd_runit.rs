//! svlogd against runit's own svlogd (Debian's /usr/bin/svlogd): the same
//! input and config in two directories, the same files must come out.

use common::require_debian;

use std::fs;
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Spawned, assert_same, output_with_input, tool, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const LIMIT: Duration = Duration::from_secs(20);

/// A log directory's files: name (an `@` file as `@.s`/`@.u`, in order),
/// mode and contents; `lock`, `config` and tend's exactly-once note
/// `pending` left out. A file renamed away while it is looked at (a
/// running processor's output) is left out too.
fn snapshot(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["lock", "config", "pending"].contains(&n.as_str()))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let path = dir.join(&name);
            let mode = fs::metadata(&path).ok()?.permissions().mode() & 0o7777;
            let contents = fs::read(&path).ok()?;
            let shown = if name.starts_with('@') && name.len() == 27 {
                format!("@.{}", &name[26..])
            } else {
                name
            };
            Some((shown, mode, contents))
        })
        .collect()
}

/// A fresh log directory `name` under `base` with `config`.
fn logdir(base: &Path, name: &str, config: Option<&str>) -> PathBuf {
    let dir = base.join(name);
    fs::create_dir(&dir).unwrap();
    if let Some(config) = config {
        fs::write(dir.join("config"), config).unwrap();
    }
    dir
}

fn ours(args: &[&str], dir: &Path, input: &[u8]) -> Output {
    let mut cmd = tool("svlogd");
    cmd.args(args).arg(dir);
    output_with_input(cmd, input, LIMIT)
}

fn theirs(program: &Path, args: &[&str], dir: &Path, input: &[u8]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(dir);
    output_with_input(cmd, input, LIMIT)
}

/// Run both on the same input and config; assert the same files, stderr
/// and exit code. Returns our directory.
fn compare(
    program: &Path,
    base: &Path,
    args: &[&str],
    config: Option<&str>,
    input: &[u8],
) -> PathBuf {
    let a = logdir(base, "ours", config);
    let b = logdir(base, "theirs", config);
    let out_a = ours(args, &a, input);
    let out_b = theirs(program, args, &b, input);
    assert_eq!(out_a.status.code(), out_b.status.code());
    assert_eq!(
        String::from_utf8_lossy(&out_a.stderr),
        String::from_utf8_lossy(&out_b.stderr).replace(&*b.to_string_lossy(), &a.to_string_lossy())
    );
    assert_eq!(snapshot(&a), snapshot(&b));
    a
}

#[test]
fn usage_and_bad_directories() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    for args in [
        vec![],
        vec!["-x", "d"],
        vec!["-l"],
        vec!["-l", "5", "-b", "3", "d"],
        vec!["-r", "ab", "d"],
        vec![missing],
    ] {
        let a = output_within_null(tool("svlogd"), &args);
        let mut theirs = Command::new(&program);
        std::os::unix::process::CommandExt::arg0(&mut theirs, "svlogd");
        let b = output_within_null(theirs, &args);
        assert_eq!(a.status.code(), Some(111), "{args:?}");
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr),
            "{args:?}"
        );
    }
}

fn output_within_null(mut cmd: Command, args: &[&str]) -> Output {
    cmd.args(args);
    common::output_within(cmd, LIMIT)
}

#[test]
fn selection_prefix_and_stderr_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let config = "# comment\n\npPFX:\n-*\n+fo*\n-*x\ne*\nE*two\n+a+bc\n";
    let input = b"foo one\nbar two\nfox\nfoe two\nabbbc\nac\nabc\n\nlast without newline";
    let dir = compare(&program, tmp.path(), &[], Some(config), input);
    assert_eq!(
        fs::read(dir.join("current")).unwrap(),
        b"PFX:foo one\nPFX:foe two\nPFX:abbbc\nPFX:abc\n"
    );
}

#[test]
fn replacing_characters_like_runit() {
    let program = require_debian!("svlogd");
    for args in [&["-r", "X"][..], &["-R", "b"], &["-r", "X", "-R", "ab"]] {
        let tmp = tempfile::tempdir().unwrap();
        compare(&program, tmp.path(), args, Some("-*b*\n"), b"ab\tc\x01d\xc3\xa9~\nxyz\n");
    }
}

#[test]
fn long_lines_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let mut input = b"abcdefghijklmnopqrstuvwxyz\nshort\n".to_vec();
    input.extend_from_slice(&[b'q'; 50]);
    input.extend_from_slice(b"\nzzzzzzzzzzzzzzz\nnot kept\nlast long line without newline");
    let dir = compare(&program, tmp.path(), &["-l", "10", "-b", "20"], Some("e*\n-not*\n"), &input);
    let current = fs::read(dir.join("current")).unwrap();
    assert!(current.starts_with(b"abcdefghijklmnopqrstuvwxyz\nshort\n"));
    assert!(current.ends_with(b"last long line without newline\n"));
}

#[test]
fn partial_last_line_dropped_like_runit() {
    let program = require_debian!("svlogd");
    for n in [9, 10, 11] {
        let tmp = tempfile::tempdir().unwrap();
        compare(&program, tmp.path(), &["-l", "10", "-b", "12"], None, &vec![b'a'; n]);
    }
}

fn numbered(lines: std::ops::Range<u32>, pad: &str) -> Vec<u8> {
    lines.map(|i| format!("line number {i} {pad}\n")).collect::<String>().into_bytes()
}

#[test]
fn rotation_at_size_and_number_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = numbered(10..40, "xxxxxxxxx");
    let dir = compare(&program, tmp.path(), &[], Some("s100\nn3\n"), &input);
    let snap = snapshot(&dir);
    assert_eq!(snap.iter().filter(|f| f.0 == "@.s").count(), 3);
    for (name, mode, contents) in &snap {
        if name == "@.s" {
            assert_eq!((*mode, contents.len()), (0o744, 100));
        }
    }
}

#[test]
fn rotation_near_full_at_line_end_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = numbered(10..40, "xxxxxxxxxxxxxx");
    let dir = compare(&program, tmp.path(), &["-l", "100"], Some("s200\nn0\n"), &input);
    let olds: Vec<_> = snapshot(&dir).into_iter().filter(|f| f.0 == "@.s").collect();
    assert_eq!(olds.len(), 7);
    assert!(olds.iter().all(|f| f.2.len() == 120 && f.2.ends_with(b"\n")));
}

#[test]
fn unfinished_current_saved_and_finished_one_appended_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    for (name, mode) in [("ours", 0o644), ("theirs", 0o644), ("ours2", 0o744), ("theirs2", 0o744)] {
        let dir = logdir(tmp.path(), name, None);
        fs::write(dir.join("current"), "old\n").unwrap();
        fs::set_permissions(dir.join("current"), fs::Permissions::from_mode(mode)).unwrap();
    }
    for (a, b) in [("ours", "theirs"), ("ours2", "theirs2")] {
        let (a, b) = (tmp.path().join(a), tmp.path().join(b));
        assert!(ours(&[], &a, b"new\n").status.success());
        assert!(theirs(&program, &[], &b, b"new\n").status.success());
        assert_eq!(snapshot(&a), snapshot(&b));
    }
    let snap = snapshot(&tmp.path().join("ours"));
    assert_eq!(snap[0], ("@.u".to_string(), 0o644, b"old\n".to_vec()));
    assert_eq!(snap[1], ("current".to_string(), 0o744, b"new\n".to_vec()));
    assert_eq!(fs::read(tmp.path().join("ours2/current")).unwrap(), b"old\nnew\n");
}

/// Whether `line` starts with a stamp of `shape` (`9` = a digit).
fn shaped(line: &[u8], shape: &str) -> bool {
    line.len() >= shape.len()
        && shape
            .bytes()
            .zip(line)
            .all(|(s, &b)| if s == b'9' { b.is_ascii_digit() } else { s == b })
}

#[test]
fn time_stamps() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, shape) in [
        ("-tt", "9999-99-99_99:99:99.99999 "),
        ("-ttt", "9999-99-99T99:99:99.99999 "),
        ("-tttt", "9999-99-99T99:99:99.99999 "),
    ] {
        let dir = logdir(tmp.path(), flag, Some("pP:\n-*skip*\n"));
        assert!(ours(&[flag], &dir, b"one\nskip me\ntwo\n").status.success());
        let current = fs::read(dir.join("current")).unwrap();
        let lines: Vec<&[u8]> = current.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 2, "{flag}");
        for (line, text) in lines.iter().zip(["P:one\n", "P:two\n"]) {
            assert!(shaped(line, shape), "{flag}: {}", String::from_utf8_lossy(line));
            assert_eq!(&line[shape.len()..], text.as_bytes());
        }
        let year: i32 = std::str::from_utf8(&current[..4]).unwrap().parse().unwrap();
        assert!(year >= 2024);
    }
    let dir = logdir(tmp.path(), "tai", None);
    assert!(ours(&["-t"], &dir, b"x\n").status.success());
    let current = fs::read(dir.join("current")).unwrap();
    assert_eq!(current.len(), 1 + 24 + 1 + 2);
    assert!(current.starts_with(b"@40000000"));
    assert!(current[1..25].iter().all(u8::is_ascii_hexdigit));
    assert_eq!(&current[25..], b" x\n");
}

#[test]
fn udp_with_and_without_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let recv = |n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let mut buf = [0u8; 2000];
                let len = sock.recv(&mut buf).expect("datagram");
                buf[..len].to_vec()
            })
            .collect()
    };

    let both = logdir(tmp.path(), "both", Some(&format!("u127.0.0.1:{port}\npPP\n-*no*\n")));
    assert!(
        ours(&["-l", "10", "-b", "20"], &both, b"hello\nno\nabcdefghijklmn\n").status.success()
    );
    assert_eq!(recv(2), vec![b"PPhello\n".to_vec(), b"PPabcdefghij...\n".to_vec()]);
    assert_eq!(fs::read(both.join("current")).unwrap(), b"PPhello\nPPabcdefghijklmn\n");

    let only = logdir(tmp.path(), "only", Some(&format!("U127.0.0.1:{port}\n")));
    assert!(ours(&["-tt"], &only, b"only udp\n").status.success());
    let got = recv(1);
    assert!(shaped(&got[0], "9999-99-99_99:99:99.99999 only udp\n"));
    assert_eq!(fs::read(only.join("current")).unwrap(), b"");
}

#[test]
fn udp_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let config = format!("u127.0.0.1:{port}\npPP\ne*x*\n");
    let input = b"one\ntwo x\nabcdefghijklmn\n";
    compare(&program, tmp.path(), &["-l", "10", "-b", "20"], Some(&config), input);
    let mut got = Vec::new();
    for _ in 0..6 {
        let mut buf = [0u8; 2000];
        let len = sock.recv(&mut buf).expect("datagram");
        got.push(buf[..len].to_vec());
    }
    let (a, b) = got.split_at(3);
    assert_eq!(a, b);
}

/// svlogd on `dir` with a pipe on its stdin.
fn start(args: &[&str], dir: &Path) -> Spawned {
    let mut cmd = tool("svlogd");
    cmd.args(args).arg(dir).stdin(Stdio::piped()).stderr(Stdio::piped());
    Spawned::start(cmd)
}

fn send(daemon: &mut Spawned, bytes: &[u8]) {
    let stdin = daemon.child.stdin.as_mut().unwrap();
    stdin.write_all(bytes).unwrap();
    stdin.flush().unwrap();
}

fn signal(daemon: &Spawned, sig: Signal) {
    kill(Pid::from_raw(daemon.pid() as i32), sig).unwrap();
}

fn olds(dir: &Path, suffix: &str) -> Vec<Vec<u8>> {
    snapshot(dir).into_iter().filter(|f| f.0 == format!("@.{suffix}")).map(|f| f.2).collect()
}

fn current(dir: &Path) -> Vec<u8> {
    fs::read(dir.join("current")).unwrap_or_default()
}

#[test]
fn alarm_rotates_through_the_processor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = logdir(
        tmp.path(),
        "log",
        Some("!cat <&4 >&5; echo st >&5; ls -l /proc/self/fd/0 >&2; tr a-z A-Z\n"),
    );
    let mut daemon = start(&[], &dir);
    send(&mut daemon, b"first\n");
    wait_for(LIMIT, "first line", || current(&dir) == b"first\n");
    assert_eq!(fs::metadata(dir.join("current")).unwrap().permissions().mode() & 0o777, 0o644);
    signal(&daemon, Signal::SIGALRM);
    wait_for(LIMIT, "first processed", || olds(&dir, "s") == vec![b"FIRST\n".to_vec()]);
    wait_for(LIMIT, "state", || fs::read(dir.join("state")).unwrap_or_default() == b"st\n");
    assert!(olds(&dir, "u").is_empty() && olds(&dir, "t").is_empty());
    // An empty current is not rotated.
    signal(&daemon, Signal::SIGALRM);
    send(&mut daemon, b"second\n");
    if !common::wait_until(Duration::from_secs(3), || current(&dir) == b"second\n") {
        signal(&daemon, Signal::SIGTERM);
        drop(daemon.child.stdin.take());
        daemon.wait_within(LIMIT);
        let mut stderr = String::new();
        std::io::Read::read_to_string(daemon.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        panic!("{stderr}");
    }
    signal(&daemon, Signal::SIGALRM);
    wait_for(LIMIT, "second processed", || olds(&dir, "s").len() == 2);
    assert_eq!(olds(&dir, "s")[1], b"SECOND\n");
    wait_for(LIMIT, "state", || fs::read(dir.join("state")).unwrap_or_default() == b"st\nst\n");
    drop(daemon.child.stdin.take());
    let status = daemon.wait_within(LIMIT).expect("exit at end of input");
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(daemon.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    // The processor read the saved `@...u` file on its stdin.
    let inputs: Vec<&str> = stderr.lines().filter(|l| l.contains("/proc/self/fd/0 -> ")).collect();
    assert_eq!(inputs.len(), 2, "{stderr}");
    assert!(inputs.iter().all(|l| l.ends_with(".u") && l.contains("/log/@4000")), "{stderr}");
    assert_eq!(current(&dir), b"");
    assert_eq!(fs::metadata(dir.join("current")).unwrap().permissions().mode() & 0o777, 0o744);
}

#[test]
fn failing_processor_is_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = logdir(tmp.path(), "log", Some("!test -e ok || { touch ok; exit 1; }; cat\n"));
    let mut daemon = start(&[], &dir);
    send(&mut daemon, b"x\n");
    wait_for(LIMIT, "line", || current(&dir) == b"x\n");
    signal(&daemon, Signal::SIGALRM);
    wait_for(LIMIT, "processed after a retry", || olds(&dir, "s") == vec![b"x\n".to_vec()]);
    assert!(dir.join("ok").exists());
    signal(&daemon, Signal::SIGTERM);
    assert!(daemon.wait_within(LIMIT).expect("exit on TERM").success());
}

#[test]
fn hup_rereads_config_and_term_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = logdir(tmp.path(), "log", None);
    let mut daemon = start(&[], &dir);
    send(&mut daemon, b"one\n");
    wait_for(LIMIT, "one", || current(&dir) == b"one\n");
    fs::write(dir.join("config"), "-*\n+keep*\npK:\n").unwrap();
    signal(&daemon, Signal::SIGHUP);
    // Lines sent after the HUP is handled follow the new config; poll by
    // sending until one is kept.
    let mut probe = 0;
    wait_for(LIMIT, "new config", || {
        probe += 1;
        send(&mut daemon, format!("keep{probe}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(20));
        current(&dir).ends_with(format!("K:keep{probe}\n").as_bytes())
    });
    let before = current(&dir).len();
    send(&mut daemon, b"drop\nkeep\n");
    wait_for(LIMIT, "kept line", || current(&dir).ends_with(b"K:keep\n"));
    assert_eq!(&current(&dir)[before..], b"K:keep\n");
    signal(&daemon, Signal::SIGTERM);
    assert!(daemon.wait_within(LIMIT).expect("exit on TERM").success());
    assert_eq!(fs::metadata(dir.join("current")).unwrap().permissions().mode() & 0o777, 0o744);
}

#[test]
fn rotation_by_age() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = logdir(tmp.path(), "log", Some("t1\n"));
    let mut daemon = start(&[], &dir);
    send(&mut daemon, b"aged\n");
    wait_for(LIMIT, "rotation by age", || olds(&dir, "s") == vec![b"aged\n".to_vec()]);
    signal(&daemon, Signal::SIGTERM);
    assert!(daemon.wait_within(LIMIT).expect("exit on TERM").success());
}

#[test]
fn locked_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = logdir(tmp.path(), "log", None);
    let mut daemon = start(&[], &dir);
    send(&mut daemon, b"x\n");
    wait_for(LIMIT, "line", || current(&dir) == b"x\n");
    let out = ours(&[], &dir, b"y\n");
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "svlogd: warning: unable to lock directory: {}: temporary failure\n\
             svlogd: fatal: no functional log directories.\n",
            dir.display()
        )
    );
    // Two directories, one locked: the other still works.
    let other = logdir(tmp.path(), "other", None);
    let mut cmd = tool("svlogd");
    cmd.arg(&dir).arg(&other);
    let out = output_with_input(cmd, b"y\n", LIMIT);
    assert!(out.status.success());
    assert_eq!(current(&other), b"y\n");
}

#[test]
fn size_and_age_units_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = numbered(0..100, &"x".repeat(80));
    let dir = compare(&program, tmp.path(), &[], Some("s5k\nn2\nt2m\n"), &input);
    // 5120 bytes, rotated at a line end past 5120 - 1000.
    let olds: Vec<_> = snapshot(&dir).into_iter().filter(|f| f.0 == "@.s").collect();
    assert_eq!(olds.len(), 2);
    assert!(olds.iter().all(|f| (4120..=5120).contains(&f.2.len())));
}

#[test]
fn replacing_leaves_the_rest_of_a_long_line_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = b"ab\tc\x01defghij\x01\t\xc3\xa9 tail\nshort\x02\n";
    let dir = compare(&program, tmp.path(), &["-l", "10", "-b", "20", "-r", "X"], None, input);
    assert_eq!(
        fs::read(dir.join("current")).unwrap(),
        b"abXcXdefghij\x01\t\xc3\xa9 tail\nshortX\n"
    );
}

/// Blank the TAI64N labels of `@` file names in svlogd's messages.
fn unstamped(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    let mut rest = &*text;
    while let Some(at) = rest.find("@4000") {
        out.push_str(&rest[..=at]);
        rest = &rest[(at + 25).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[test]
fn verbose_messages_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = numbered(0..30, "xxxxxxxxxxxxxxxxxxx");
    let mut got = Vec::new();
    for (name, mut cmd) in [("ours", tool("svlogd")), ("theirs", Command::new(&program))] {
        let dir = logdir(tmp.path(), name, Some("s300\nn2\n!cat\n"));
        // The old `current` is unfinished: saved as `@...u` at start.
        fs::write(dir.join("current"), "old\n").unwrap();
        cmd.current_dir(tmp.path()).args(["-v", "-l", "100", name]);
        let out = output_with_input(cmd, &input, LIMIT);
        assert_eq!(out.status.code(), Some(0));
        let text = unstamped(&out.stderr).replace(name, "DIR");
        // Processors end when they end (reaped on SIGCHLD or waited for at
        // the next rotation): compare the lines in order of kind, not of
        // time.
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.ends_with("sigchild received."))
            .map(str::to_string)
            .collect();
        lines.sort();
        got.push((lines, snapshot(&dir)));
    }
    assert_eq!(got[0], got[1]);
    assert!(
        got[0].0.iter().any(|l| l.starts_with("svlogd: info: processed: DIR/@")),
        "{:?}",
        got[0].0
    );
}

#[test]
fn prefix_split_at_the_size_like_runit() {
    let program = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    let input = numbered(0..20, "xxxxxxxxxxxxxx");
    // Files of exactly 100 bytes, a prefix cut where the size is reached,
    // and a full last `current` left as it is.
    let dir = compare(&program, tmp.path(), &[], Some("s100\npPREFIX-LONG:\n"), &input);
    let olds: Vec<_> = snapshot(&dir).into_iter().filter(|f| f.0 == "@.s").collect();
    assert_eq!(olds.len(), 8);
    assert!(olds.iter().all(|f| f.2.len() == 100), "{olds:?}");
}

/// A small deterministic generator (xorshift), so that a failing case can
/// be run again from its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Random configs, options, old files and inputs (long lines, control
/// characters, patterns with `+`, small sizes, processors): the same
/// files, messages and exit code as runit's svlogd, case after case.
#[test]
fn random_cases_like_runit() {
    let program = require_debian!("svlogd");
    for case in 0..160u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (case + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut input = Vec::new();
        for i in 0..rng.below(60) {
            input.extend_from_slice(format!("{i:03} ").as_bytes());
            for _ in 0..*rng.pick(&[0, 1, 5, 20, 40, 80, 120, 300]) {
                input.extend_from_slice(
                    rng.pick(&["a", "b", "x", " ", "fo", "-", "+", "*", ":", "\t", "\u{1}", "é"])
                        .as_bytes(),
                );
            }
            input.push(b'\n');
        }
        if rng.chance(30) {
            input.pop();
        }
        let mut config = String::new();
        if rng.chance(80) {
            config += &format!(
                "s{}{}\n",
                rng.pick(&[100, 150, 333, 1000, 2048]),
                rng.pick(&["", "", "k"])
            );
        }
        if rng.chance(60) {
            config += &format!("n{}\n", rng.pick(&[0, 0, 1, 2, 3, 5, 10]));
        }
        if rng.chance(30) {
            config += &format!("p{}\n", rng.pick(&["P:", "LONGER-PREFIX: ", "x"]));
        }
        for _ in 0..rng.below(4) {
            let kind = rng.pick(&['+', '-', 'e', 'E']);
            config += &format!("{kind}{}\n", rng.pick(&["*", "0*", "*x*", "*a", "00+1*", "*: *"]));
        }
        if rng.chance(20) {
            config += "!tr a-z A-Z\n";
        }
        let mut args: Vec<String> = Vec::new();
        if let Some(l) = *rng.pick(&[None, Some(10usize), Some(50), Some(200)]) {
            let b = *rng.pick(&[l + 1, l + 10, 2048]);
            args.extend(["-l".into(), l.to_string(), "-b".into(), b.to_string()]);
        }
        if rng.chance(30) {
            args.extend(["-r".into(), "_".into()]);
        }
        if rng.chance(20) {
            args.extend(["-R".into(), "ax".into()]);
        }
        let old_current = rng.chance(30).then(|| *rng.pick(&[0o644, 0o744]));
        let old_file = rng.chance(20);
        let tmp = tempfile::tempdir().unwrap();
        let mut got = Vec::new();
        for (name, mut cmd) in [("ours", tool("svlogd")), ("theirs", Command::new(&program))] {
            let dir = logdir(tmp.path(), name, Some(&config));
            if let Some(mode) = old_current {
                fs::write(dir.join("current"), "old line\n").unwrap();
                fs::set_permissions(dir.join("current"), fs::Permissions::from_mode(mode)).unwrap();
            }
            if old_file {
                fs::write(dir.join("@400000000000000000000001.s"), "older\n").unwrap();
            }
            cmd.current_dir(tmp.path()).args(&args).arg(name);
            let out = output_with_input(cmd, &input, LIMIT);
            let stderr = String::from_utf8_lossy(&out.stderr).replace(name, "DIR");
            got.push((out.status.code(), stderr, snapshot(&dir)));
        }
        assert!(
            got[0] == got[1],
            "case {case}: args {args:?} config {config:?} old current {old_current:?} \
             old file {old_file}\nours:   {:?}\ntheirs: {:?}",
            (
                &got[0].0,
                &got[0].1,
                got[0].2.iter().map(|f| (&f.0, f.1, f.2.len())).collect::<Vec<_>>()
            ),
            (
                &got[1].0,
                &got[1].1,
                got[1].2.iter().map(|f| (&f.0, f.1, f.2.len())).collect::<Vec<_>>()
            ),
        );
    }
}

/// The arguments read as Debian's svlogd reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn svlogd_reads_its_arguments_as_debians() {
    let debian = require_debian!("svlogd");
    assert_same("svlogd", &debian, &["--foo"]);
    assert_same("svlogd", &debian, &["-t-x", "d"]);
    assert_same("svlogd", &debian, &["-l"]);
}
