//! multilog with real processes and files: compared with Debian's
//! multilog on the same input, long lines, the lock, signals, the
//! processor protocol, exactly-once delivery while the logger is killed
//! over and over under svscan, and a full disk.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Run `program` (tend's multilog when None) with `script` in `cwd`,
/// feeding `input`; (exit code, stderr).
fn run_logger(program: Option<&Path>, cwd: &Path, script: &[&str], input: &[u8]) -> (i32, Vec<u8>) {
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("multilog"),
    };
    cmd.args(script).current_dir(cwd);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out.status.code().unwrap_or(-1), out.stderr)
}

/// Remove `@` + 24 hex digits + space stamps at line starts.
fn unstamp(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.len() >= 26
            && line[0] == b'@'
            && line[1..25].iter().all(u8::is_ascii_hexdigit)
            && line[25] == b' '
        {
            out.extend_from_slice(&line[26..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Every log file of `dir`, oldest first, concatenated; and the names.
fn all_logs(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    let mut data = Vec::new();
    for n in &names {
        // A file may be renamed by a logger still running; callers look
        // again until the directory is stable.
        data.extend(fs::read(dir.join(n)).unwrap_or_default());
    }
    if let Ok(cur) = fs::read(dir.join("current")) {
        data.extend(cur);
    }
    (data, names)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn sample_input() -> Vec<u8> {
    let mut input = Vec::new();
    for i in 0..3000 {
        let kind = if i % 7 == 0 { "error" } else { "info" };
        writeln!(input, "{kind} line {i} {}", "x".repeat(i % 50)).unwrap();
    }
    input
}

#[test]
fn same_results_as_debian_multilog() {
    let debian = require_debian!("multilog");
    let input = sample_input();
    let script =
        ["t", "-*", "+* error *", "e", "=status", "./errors", "+*", "s4096", "n4", "./all"];
    let mut results = Vec::new();
    for program in [Some(debian.as_path()), None] {
        let tmp = tempfile::tempdir().unwrap();
        let (code, stderr) = run_logger(program, tmp.path(), &script, &input);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
        let (errors, error_names) = all_logs(&tmp.path().join("errors"));
        let (all, all_names) = all_logs(&tmp.path().join("all"));
        let status = fs::read(tmp.path().join("status")).unwrap();
        assert_eq!(status.len(), 1001);
        for (dir, names, num) in [("errors", &error_names, 3), ("all", &all_names, 4)] {
            assert!(names.len() < num, "{dir}: {names:?}");
            for n in names {
                assert!(n.len() == 27 && n.ends_with(".s"), "{n}");
                let p = tmp.path().join(dir).join(n);
                assert_eq!(mode(&p), 0o744);
                assert!(fs::metadata(&p).unwrap().len() <= 4096);
            }
            assert_eq!(mode(&tmp.path().join(dir).join("current")), 0o744);
        }
        assert_eq!(all_names.len(), 3, "n4 keeps three old files");
        let text = |b: Vec<u8>| String::from_utf8(unstamp(&b)).unwrap();
        // ./all rotates every ~2 kB and keeps the last files: a suffix of
        // the input starting at a line.
        let all = text(all);
        let input = String::from_utf8(input.clone()).unwrap();
        assert!(input.ends_with(&all) && input[..input.len() - all.len()].ends_with('\n'));
        assert!(all.len() > 3 * 1000);
        results.push((text(errors), text(stderr), text(status)));
    }
    let (d, t) = (&results[0], &results[1]);
    assert!(d.0.lines().count() > 400);
    assert_eq!(t.0, d.0, "selected lines in ./errors differ");
    assert_eq!(t.1, d.1, "e output differs");
    assert_eq!(t.2, d.2, "=status differs");
}

#[test]
fn long_lines_pass_intact_and_e_shows_200_bytes() {
    let debian = debian("multilog");
    let mut input = Vec::new();
    for len in [10usize, 999, 1000, 1001, 5000, 300_000] {
        input.extend(std::iter::repeat_n(b'a' + (len % 26) as u8, len));
        input.push(b'\n');
    }
    input.extend_from_slice(b"no newline at the end");
    let tmp = tempfile::tempdir().unwrap();
    let (code, stderr) = run_logger(None, tmp.path(), &["e", "s16777215", "./log"], &input);
    assert_eq!(code, 0);
    let mut expected = input.clone();
    expected.push(b'\n');
    assert_eq!(all_logs(&tmp.path().join("log")).0, expected);
    let lines: Vec<&[u8]> = stderr.split(|&b| b == b'\n').collect();
    assert_eq!(lines[0].len(), 10);
    assert_eq!(lines[3].len(), 203);
    assert!(lines[3].ends_with(b"..."));
    if let Some(debian) = debian {
        let tmp2 = tempfile::tempdir().unwrap();
        let (_, theirs) =
            run_logger(Some(&debian), tmp2.path(), &["e", "s16777215", "./log"], &input);
        assert_eq!(stderr, theirs);
    }
    // A very long last line without newline, through a pipe.
    let tmp = tempfile::tempdir().unwrap();
    let mut last = vec![b'q'; 700_000];
    last.extend_from_slice(b"end");
    let (code, _) = run_logger(None, tmp.path(), &["s16777215", "./log"], &last);
    assert_eq!(code, 0);
    last.push(b'\n');
    assert!(fs::read(tmp.path().join("log/current")).unwrap() == last);
    // A line longer than s is cut across files, nothing lost.
    let tmp = tempfile::tempdir().unwrap();
    let (code, _) = run_logger(None, tmp.path(), &["s4096", "n100", "./log"], &input);
    assert_eq!(code, 0);
    let (data, names) = all_logs(&tmp.path().join("log"));
    assert_eq!(data, expected);
    for n in &names {
        assert!(fs::metadata(tmp.path().join("log").join(n)).unwrap().len() <= 4096);
    }
}

#[test]
fn lock_keeps_a_second_logger_out() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tool("multilog");
    cmd.arg("./log").current_dir(tmp.path()).stdin(Stdio::piped());
    let first = Spawned::start(cmd);
    wait_for(Duration::from_secs(10), "first logger", || tmp.path().join("log/current").exists());
    let mut cmd = tool("multilog");
    cmd.arg("./log").current_dir(tmp.path());
    let out = output_within(cmd, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("multilog: fatal: unable to lock directory ./log: "), "{err}");
    drop(first);
}

#[test]
fn sigalrm_rotates_and_sigterm_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tool("multilog");
    cmd.args(["t", "./log"]).current_dir(tmp.path()).stdin(Stdio::piped());
    let mut logger = Spawned::start(cmd);
    let mut stdin = logger.child.stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    let cur = tmp.path().join("log/current");
    wait_for(Duration::from_secs(10), "line one", || {
        fs::read(&cur).is_ok_and(|d| d.ends_with(b"one\n"))
    });
    let pid = Pid::from_raw(logger.pid() as i32);
    kill(pid, Signal::SIGALRM).unwrap();
    wait_for(Duration::from_secs(10), "rotation", || {
        all_logs(&tmp.path().join("log")).1.len() == 1
    });
    stdin.write_all(b"two\n").unwrap();
    wait_for(Duration::from_secs(10), "line two", || {
        fs::read(&cur).is_ok_and(|d| d.ends_with(b"two\n"))
    });
    kill(pid, Signal::SIGTERM).unwrap();
    let status = logger.wait_within(Duration::from_secs(10)).expect("exit on SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert_eq!(mode(&cur), 0o744);
    assert_eq!(unstamp(&all_logs(&tmp.path().join("log")).0), b"one\ntwo\n");
}

#[test]
fn processor_gets_the_file_and_keeps_state() {
    let tmp = tempfile::tempdir().unwrap();
    // Upper-case the file; keep a running count of processed files.
    let processor = "!tr a-z A-Z; n=$(cat <&4); echo $((${n:-0}+1)) >&5";
    let mut input = Vec::new();
    for i in 0..400 {
        writeln!(input, "line {i} {}", "p".repeat(30)).unwrap();
    }
    let (code, stderr) =
        run_logger(None, tmp.path(), &[processor, "s4096", "n100", "./log"], &input);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    let log = tmp.path().join("log");
    let (data, names) = all_logs(&log);
    assert!(names.len() >= 3);
    let rotated: usize =
        names.iter().map(|n| fs::metadata(log.join(n)).unwrap().len() as usize).sum();
    let expected = String::from_utf8(input.clone()).unwrap();
    let upper = expected.to_uppercase();
    assert_eq!(&data[..rotated], &upper.as_bytes()[..rotated]);
    assert_eq!(&data[rotated..], &input[rotated..]);
    assert_eq!(fs::read_to_string(log.join("state")).unwrap().trim(), names.len().to_string());
    assert!(!log.join("previous").exists() && !log.join("processed").exists());
}

/// The pid of the logger of service `svc`, once up.
fn logger_pid(svc: &Path) -> Option<u32> {
    fs::read_to_string(svc.join("log/supervise/pid")).ok()?.trim().parse().ok()
}

fn numbers_in(dir: &Path) -> Vec<u64> {
    let (data, _) = all_logs(dir);
    unstamp(&data)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            std::str::from_utf8(l).unwrap().trim().parse::<u64>().expect("a whole number line")
        })
        .collect()
}

#[test]
fn every_line_exactly_once_while_the_logger_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc/counter");
    let total = 3_000_000u64;
    write_script(&svc.join("run"), &format!("#!/bin/sh\nseq 1 {total}\nexec sleep 1000\n"));
    write_script(
        &svc.join("log/run"),
        &format!("#!/bin/sh\nexec {} multilog t s65536 n100000 ./main\n", tend_bin().display()),
    );
    let mut cmd = tool("svscan");
    cmd.arg(tmp.path().join("svc"));
    let _svscan = Spawned::start(cmd);
    let main = svc.join("log/main");
    let mut kills = 0;
    let mut last = 0;
    while kills < 25 {
        let Some(pid) = logger_pid(&svc) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        if pid == last {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        // Let it work a little, then kill it.
        std::thread::sleep(Duration::from_millis(3 + (kills % 7) * 4));
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        last = pid;
        kills += 1;
    }
    // The last line is in `current` or in the newest rotated file. (Only
    // then is the directory read whole: before, a killed logger may have
    // left a partial write that its successor has yet to cut back.)
    let last_line = format!(" {total}\n");
    wait_for(Duration::from_secs(120), "the last line", || {
        let mut names: Vec<String> = fs::read_dir(&main)
            .map(|rd| rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.retain(|n| n.starts_with('@'));
        names.sort();
        let newest = names.last().map(|n| main.join(n));
        [Some(main.join("current")), newest]
            .into_iter()
            .flatten()
            .any(|p| fs::read(p).is_ok_and(|d| d.ends_with(last_line.as_bytes())))
    });
    let mut seen = numbers_in(&main);
    let len = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), len, "some line was written twice");
    assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "some line is missing");
    let (_, names) = all_logs(&main);
    assert!(names.iter().any(|n| n.ends_with(".u")), "no logger was killed mid-file?");
}

/// Unmounts a tmpfs when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_waits_and_loses_nothing() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _mount = Mount(mnt.clone());
    // Fill the disk.
    let filler = mnt.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![b'f'; 4096];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let mut cmd = tool("multilog");
    cmd.args(["s16777215", "./log"]).current_dir(&mnt);
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut logger = Spawned::start(cmd);
    let mut stdin = logger.child.stdin.take().unwrap();
    let stderr = logger.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stderr = stderr;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    let total = 20_000u64;
    let writer = std::thread::spawn(move || {
        for i in 1..=total {
            writeln!(stdin, "{i}").unwrap();
        }
    });
    let report = rx.recv_timeout(Duration::from_secs(30)).expect("a report of the full disk");
    let report = String::from_utf8_lossy(&report).into_owned();
    assert!(report.contains("multilog: warning: unable to"), "{report}");
    assert!(report.contains("pausing"), "{report}");
    assert!(logger.child.try_wait().unwrap().is_none(), "the logger must wait, not exit");
    fs::remove_file(&filler).unwrap();
    writer.join().unwrap();
    let status = logger.wait_within(Duration::from_secs(60)).expect("logger finishes");
    assert_eq!(status.code(), Some(0));
    let seen = numbers_in(&mnt.join("log"));
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

#[test]
fn a_line_written_in_pieces_through_a_pipe_arrives_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tool("multilog");
    cmd.args(["t", "./log"]).current_dir(tmp.path()).stdin(Stdio::piped());
    let mut logger = Spawned::start(cmd);
    let mut stdin = logger.child.stdin.take().unwrap();
    stdin.write_all(b"first ").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Waiting for the rest of a line must not spin.
    let stat = fs::read_to_string(format!("/proc/{}/stat", logger.pid())).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    assert!(ticks < 20, "logger used {ticks} ticks waiting for a newline");
    stdin.write_all(b"half\nsecond\n").unwrap();
    drop(stdin);
    assert_eq!(logger.wait_within(Duration::from_secs(10)).unwrap().code(), Some(0));
    let data = fs::read(tmp.path().join("log/current")).unwrap();
    assert_eq!(unstamp(&data), b"first half\nsecond\n");
}
