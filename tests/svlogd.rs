//! svlogd against runit's own svlogd: same input, same config, same files.

use common::{require_debian, require_root};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Spawned, all_of, archived, mode, output_with_input, tool, wait_for};

const LIMIT: Duration = Duration::from_secs(30);

fn ours() -> Command {
    tool("svlogd")
}

fn run_in(mut cmd: Command, cwd: &Path, args: &[&str], input: &[u8]) -> Output {
    cmd.current_dir(cwd).args(args);
    output_with_input(cmd, input, LIMIT)
}

/// Two fresh directories, each with log directories `names` holding
/// `config`.
fn pair(names: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("ours");
    let b = tmp.path().join("theirs");
    for base in [&a, &b] {
        for (name, config) in names {
            fs::create_dir_all(base.join(name)).unwrap();
            fs::write(base.join(name).join("config"), config).unwrap();
        }
    }
    (tmp, a, b)
}

/// Check and remove 26-byte stamps of the given kind (1: TAI64N, 2: `_`,
/// 3: `T`).
fn strip(text: &[u8], kind: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let stamp = std::str::from_utf8(&line[..26]).unwrap();
        match kind {
            1 => assert!(
                stamp.starts_with('@') && stamp[1..25].bytes().all(|b| b.is_ascii_hexdigit())
            ),
            _ => {
                let sep = if kind == 2 { '_' } else { 'T' };
                let b = stamp.as_bytes();
                assert_eq!(b[10] as char, sep, "{stamp}");
                assert_eq!(
                    (b[4], b[7], b[13], b[16], b[19]),
                    (b'-', b'-', b':', b':', b'.'),
                    "{stamp}"
                );
                assert!(stamp[20..25].bytes().all(|b| b.is_ascii_digit()), "{stamp}");
            }
        }
        assert_eq!(line[25], b' ');
        out.extend_from_slice(&line[26..]);
    }
    out
}

#[test]
fn config_selection_prefix_alerts_like_runit() {
    let theirs = require_debian!("svlogd");
    let dirs = [
        ("one", "s4096\nn3\n-*b*\ne*x*\np>>\n"),
        ("two", "# all, alerts for E\n-*\n+a+b\n+*z*\nE*\n"),
    ];
    let (_tmp, a, b) = pair(&dirs);
    let mut input = b"abc\nxyz\nplain\n\x01ctl\tTab\nab\nabbb\naaab\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1500));
    input.extend_from_slice(b"\nx\nlast");
    let input = &input[..];
    for (t, kind) in [("-t", 1u8), ("-tt", 2), ("-ttt", 3)] {
        let args = [t, "-r", "#", "one", "two"];
        let ours_out = run_in(ours(), &a, &args, input);
        let theirs_out = run_in(Command::new(&theirs), &b, &args, input);
        assert_eq!(ours_out.status.code(), Some(0));
        assert_eq!(theirs_out.status.code(), Some(0));
        assert_eq!(strip(&ours_out.stderr, kind), strip(&theirs_out.stderr, kind), "alerts {t}");
        for name in ["one", "two"] {
            let ours_log = fs::read(a.join(name).join("current")).unwrap();
            let theirs_log = fs::read(b.join(name).join("current")).unwrap();
            assert_eq!(strip(&ours_log, kind), strip(&theirs_log, kind), "{name} {t}");
            assert_eq!(mode(&a.join(name).join("current")), mode(&b.join(name).join("current")));
            fs::remove_file(a.join(name).join("current")).unwrap();
            fs::remove_file(b.join(name).join("current")).unwrap();
        }
    }
}

#[test]
fn replacement_like_runit() {
    let theirs = require_debian!("svlogd");
    let (_tmp, a, b) = pair(&[("main", "")]);
    let input = b"a\x01b\x7fc\xc3\xa9d\te:f\n";
    for args in [&["-R", "b:", "main"][..], &["-r", "#", "-R", "b", "main"], &["main"]] {
        run_in(ours(), &a, args, input);
        run_in(Command::new(&theirs), &b, args, input);
        let ours_log = fs::read(a.join("main/current")).unwrap();
        assert_eq!(ours_log, fs::read(b.join("main/current")).unwrap(), "{args:?}");
        fs::remove_file(a.join("main/current")).unwrap();
        fs::remove_file(b.join("main/current")).unwrap();
    }
}

fn rotation_input() -> Vec<u8> {
    let mut input = Vec::new();
    let lens = [0usize, 5, 50, 120, 300, 1500, 77, 9];
    for i in 0..400 {
        input.extend_from_slice(format!("{i} ").as_bytes());
        input.extend(std::iter::repeat_n(b'y', lens[i % lens.len()]));
        input.push(b'\n');
    }
    input.extend_from_slice(b"end\n");
    input
}

#[test]
fn rotation_like_runit() {
    let theirs = require_debian!("svlogd");
    let (_tmp, a, b) = pair(&[("all", "s4096\nn0\n"), ("few", "s4096\nn3\n")]);
    let input = rotation_input();
    for args in [&["all", "few"][..], &["-l", "100", "all", "few"]] {
        let slack = if args.len() == 4 { 100 } else { 1000 };
        run_in(ours(), &a, args, &input);
        run_in(Command::new(&theirs), &b, args, &input);
        for base in [&a, &b] {
            assert_eq!(all_of(&base.join("all")), input, "{}", base.display());
            assert_eq!(archived(&base.join("few")).len(), 3, "{}", base.display());
            assert!(input.ends_with(&all_of(&base.join("few"))));
        }
        for f in archived(&a.join("all")) {
            let data = fs::read(&f).unwrap();
            assert!(data.len() <= 4096);
            if data.len() < 4096 {
                assert!(
                    data.len() >= 4096 - slack && data.ends_with(b"\n"),
                    "{} bytes",
                    data.len()
                );
            }
            assert_eq!(mode(&f), 0o744);
            assert!(f.to_string_lossy().ends_with(".s"));
        }
        let sizes = |dir: &Path| -> Vec<usize> {
            archived(dir).iter().map(|f| fs::read(f).unwrap().len()).collect()
        };
        assert_eq!(sizes(&a.join("all")), sizes(&b.join("all")), "{args:?}");
        for base in [&a, &b] {
            for dir in ["all", "few"] {
                for f in fs::read_dir(base.join(dir)).unwrap() {
                    let f = f.unwrap().path();
                    if f.file_name().unwrap() != "config" {
                        fs::remove_file(f).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn errors_like_runit() {
    let theirs = require_debian!("svlogd");
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("main")).unwrap();
    for args in [&[][..], &["-x", "main"], &["nodir"], &["-r", "ab", "main"]] {
        let ours_out = run_in(ours(), tmp.path(), args, b"");
        let theirs_out = run_in(Command::new(&theirs), tmp.path(), args, b"");
        assert_eq!(ours_out.status.code(), theirs_out.status.code(), "{args:?}");
        // runit prints its argv[0] in the usage line.
        let theirs_text =
            String::from_utf8_lossy(&theirs_out.stderr).replace("/usr/bin/svlogd", "svlogd");
        assert_eq!(String::from_utf8_lossy(&ours_out.stderr), theirs_text, "{args:?}");
    }
    // A locked directory is skipped with a warning.
    let mut cmd = ours();
    cmd.current_dir(tmp.path()).arg("main").stdin(Stdio::piped());
    let mut first = Spawned::start(cmd);
    // Our logger opens `current` only once it holds the lock.
    wait_for(LIMIT, "the first logger to hold the lock", || {
        tmp.path().join("main/current").exists()
    });
    let ours_out = run_in(ours(), tmp.path(), &["main"], b"x\n");
    let theirs_out = run_in(Command::new(&theirs), tmp.path(), &["main"], b"x\n");
    assert_eq!(ours_out.status.code(), Some(111));
    assert_eq!(ours_out.stderr, theirs_out.stderr);
    drop(first.child.stdin.take());
    assert!(first.wait_within(LIMIT).unwrap().success());
}

#[test]
fn sighup_rereads_config() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("main");
    fs::create_dir(&main).unwrap();
    fs::write(main.join("config"), "pA:\n").unwrap();
    let info = tmp.path().join("info");
    let mut cmd = ours();
    cmd.current_dir(tmp.path()).args(["-v", "main"]).stdin(Stdio::piped());
    cmd.stderr(fs::File::create(&info).unwrap());
    let mut log = Spawned::start(cmd);
    let mut stdin = log.child.stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    wait_for(LIMIT, "the first line", || {
        fs::read(main.join("current")).is_ok_and(|c| c == b"A:one\n")
    });
    fs::write(main.join("config"), "pB:\n-*skip*\n").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(log.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    // SIGHUP is taken at once while svlogd waits for input.
    wait_for(LIMIT, "main reopened", || {
        fs::read_to_string(&info).is_ok_and(|t| {
            t.split_once("sighangup received.").is_some_and(|(_, after)| after.contains("append:"))
        })
    });
    stdin.write_all(b"two\nskip me\n").unwrap();
    drop(stdin);
    assert!(log.wait_within(LIMIT).unwrap().success());
    assert_eq!(fs::read(main.join("current")).unwrap(), b"A:one\nB:two\n");
}

#[test]
fn max_age_rotates_an_idle_current() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("main");
    fs::create_dir(&main).unwrap();
    fs::write(main.join("config"), "t1\n").unwrap();
    let mut cmd = ours();
    cmd.current_dir(tmp.path()).arg("main").stdin(Stdio::piped());
    let mut log = Spawned::start(cmd);
    let mut stdin = log.child.stdin.take().unwrap();
    stdin.write_all(b"old\n").unwrap();
    wait_for(Duration::from_secs(10), "the idle current rotated", || archived(&main).len() == 1);
    assert_eq!(fs::read(&archived(&main)[0]).unwrap(), b"old\n");
    // An empty current is not rotated.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(archived(&main).len(), 1);
    drop(stdin);
    assert!(log.wait_within(LIMIT).unwrap().success());
}

/// A rotation that cuts the last line in the pipe: the rest of it goes to
/// the new `current` at once, not when the next line comes.
#[test]
fn line_cut_by_rotation_is_written_without_more_input() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("main");
    fs::create_dir(&main).unwrap();
    fs::write(main.join("config"), "s100\npP:\n").unwrap();
    let mut cmd = ours();
    cmd.current_dir(tmp.path()).args(["-tt", "main"]).stdin(Stdio::piped());
    let mut log = Spawned::start(cmd);
    let mut stdin = log.child.stdin.take().unwrap();
    // 28 bytes of stamp and prefix and 8 of line: the third line reaches
    // byte 108.
    stdin.write_all(b"line 01\nline 02\nline 03\n").unwrap();
    wait_for(LIMIT, "all three lines", || {
        all_of(&main).split(|&b| b == b'\n').filter(|l| l.ends_with(b"P:line 03")).count() == 1
    });
    assert_eq!(archived(&main).len(), 1);
    assert_eq!(fs::read(main.join("current")).unwrap().len(), 8);
    drop(stdin);
    assert!(log.wait_within(LIMIT).unwrap().success());
}

#[test]
fn udp_like_runit() {
    let theirs = require_debian!("svlogd");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut input = b"hello\nskip this\nworld\n".to_vec();
    input.extend(std::iter::repeat_n(b'L', 1500));
    input.push(b'\n');
    let input = &input[..];
    for only in [false, true] {
        let letter = if only { 'U' } else { 'u' };
        let config = format!("{letter}127.0.0.1:{port}\npX:\n-skip*\n");
        let (_tmp, a, b) = pair(&[("main", &config)]);
        let mut got = Vec::new();
        for (program, base) in [(ours(), &a), (Command::new(&theirs), &b)] {
            run_in(program, base, &["-tt", "main"], input);
            let mut grams = Vec::new();
            for _ in 0..3 {
                let mut buf = [0u8; 2000];
                let n = sock.recv(&mut buf).expect("a datagram");
                grams.extend(strip(&buf[..n], 2));
            }
            let current = fs::read(base.join("main/current")).unwrap();
            got.push((grams, strip(&current, 2)));
        }
        assert_eq!(got[0], got[1], "{letter}");
        assert!(got[0].0.starts_with(b"X:hello\nX:world\nX:LLL"));
        assert!(got[0].0.ends_with(b"LLL...\n"));
        assert_eq!(got[0].1.is_empty(), only);
    }
}

/// Files of a log directory other than `config` and `pending`: name (with
/// the stamp blanked), mode and contents.
fn listing(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out: Vec<(String, u32, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !["config", "pending"].contains(&&*p.file_name().unwrap().to_string_lossy()))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let name = if name.starts_with('@') { format!("@T{}", &name[25..]) } else { name };
            (name, mode(&p), fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn processor_like_runit() {
    let theirs = require_debian!("svlogd");
    let (_tmp, a, b) = pair(&[("main", "s4096\n!tr a-z A-Z; echo st >&5\n")]);
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend_from_slice(format!("line {i} abcdefghijklmnopqrstuvwxyz\n").as_bytes());
    }
    run_in(ours(), &a, &["main"], &input);
    run_in(Command::new(&theirs), &b, &["main"], &input);
    let ours_files = listing(&a.join("main"));
    assert_eq!(ours_files, listing(&b.join("main")));
    assert!(ours_files.iter().any(|(name, _, _)| name.ends_with(".s")));
    assert!(ours_files.iter().any(|(name, _, data)| name == "state" && data == b"st\n"));
}

#[test]
fn small_sizes_like_runit() {
    let theirs = require_debian!("svlogd");
    let input: Vec<u8> = (1..=1000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    for size in [100, 1500, 2500] {
        let (_tmp, a, b) = pair(&[("main", &format!("s{size}\nn0\n"))]);
        run_in(ours(), &a, &["main"], &input);
        run_in(Command::new(&theirs), &b, &["main"], &input);
        let sizes = |dir: &Path| -> Vec<usize> {
            archived(dir).iter().map(|f| fs::read(f).unwrap().len()).collect()
        };
        assert_eq!(all_of(&a.join("main")), input);
        assert_eq!(sizes(&a.join("main")), sizes(&b.join("main")), "s{size}");
    }
}

/// `N`: on a full disk, old files are removed (oldest first, down to N)
/// instead of pausing.
#[test]
fn full_disk_removes_old_files_down_to_n() {
    require_root!();
    let Some(small) = common::SmallFs::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let mnt = small.path.clone();
    let main = mnt.join("main");
    fs::create_dir(&main).unwrap();
    // runit deletes on a full disk only while N is below n.
    fs::write(main.join("config"), "N1\nn10\n").unwrap();
    for i in 1..=3 {
        fs::write(main.join(format!("@40000000000000000000000{i}.s")), vec![b'o'; 60 * 1024])
            .unwrap();
    }
    let input: Vec<u8> =
        (0..1500).flat_map(|i| format!("{i:05} {}\n", "y".repeat(93)).into_bytes()).collect();
    let out = run_in(ours(), &mnt, &["main"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(main.join("current")).unwrap(), input);
    let left = archived(&main);
    assert_eq!(left.len(), 1);
    assert!(left[0].to_string_lossy().ends_with("3.s"));
}

/// A logger SIGKILLed again and again while numbered lines flow (as in
/// tests/multilog.rs): every number ends up exactly once across `current`
/// and the `@` files, each line whole. The kills come soon after each start,
/// while the logger still drains what piled up in the pipe meanwhile, in
/// the middle of lines; and `s` is small, so some come around a rotation.
/// (runit's svlogd, and tend's before it read through the engine, lost
/// thousands of lines here.)
#[test]
fn sigkilled_logger_loses_and_doubles_nothing() {
    require_debian!("python3");
    let prepare = |log: &Path| {
        // svlogd does not create its directory.
        fs::create_dir_all(log.join("main")).unwrap();
        fs::write(log.join("main/config"), "s20000\nn1000\n").unwrap();
    };
    let run = format!("#!/bin/sh\nexec {} svlogd -tt ./main\n", common::tend_bin().display());
    let report = common::KillLoop {
        log_run: &run,
        skip: 26,
        program: "svlogd",
        batch: 100,
        kills: 25,
        pause: |k| Duration::from_millis(5 + 13 * (k as u64 % 7)),
        limit: Duration::from_secs(45),
    }
    .run(prepare);
    report.assert_exactly_once();
    assert!(report.unfinished >= 5, "the logger really died mid-file: {report:?}");
    assert!(report.files > report.unfinished + 3, "it rotated by size too: {report:?}");
    assert!(report.end > 1000, "{} lines", report.end);
}

/// The same with `s100`: a rotation cuts nearly every stamped line, often
/// inside its stamp or prefix, so a killed logger often leaves a head half
/// written; the exactly-once note carries the rest of it to the next one.
#[test]
fn sigkilled_logger_with_lines_cut_by_rotations() {
    require_debian!("python3");
    let prepare = |log: &Path| {
        fs::create_dir_all(log.join("main")).unwrap();
        fs::write(log.join("main/config"), "s100\nn0\npP:\n").unwrap();
    };
    let run = format!("#!/bin/sh\nexec {} svlogd -tt ./main\n", common::tend_bin().display());
    let report = common::KillLoop {
        log_run: &run,
        skip: 28,
        program: "svlogd",
        batch: 4,
        kills: 20,
        pause: |k| Duration::from_millis(5 + 11 * (k as u64 % 5)),
        limit: Duration::from_secs(45),
    }
    .run(prepare);
    report.assert_exactly_once();
    assert!(report.end > 200, "{} lines", report.end);
}
