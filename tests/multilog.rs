//! multilog against daemontools' own multilog: same input, same files.

use common::{require_debian, require_root};

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Spawned, all_of, archived, mode, output_with_input, tool, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const LIMIT: Duration = Duration::from_secs(30);

fn ours() -> Command {
    tool("multilog")
}

/// Run a multilog (ours or theirs) in `cwd` with `args` and `input`.
fn run_in(mut cmd: Command, cwd: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    cmd.current_dir(cwd).args(args);
    output_with_input(cmd, input, LIMIT)
}

/// Two fresh directories, for ours and for Debian's.
fn pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("ours");
    let b = tmp.path().join("theirs");
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    (tmp, a, b)
}

fn strip_stamps(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        assert_eq!(line[0], b'@', "stamped line {:?}", String::from_utf8_lossy(line));
        assert!(line[1..25].iter().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(line[25], b' ');
        out.extend_from_slice(&line[26..]);
    }
    out
}

fn sample_input() -> Vec<u8> {
    let mut input = Vec::new();
    input.extend_from_slice(b"fatal: disk full\nok then\nabc\nwarning: fatal: no\n\nfatal:\n");
    input.extend(std::iter::repeat_n(b'z', 1500));
    input.extend_from_slice(b"\nfatal: ");
    input.extend(std::iter::repeat_n(b'q', 300));
    input.extend_from_slice(b"\nlast line without newline");
    input
}

#[test]
fn selection_alerts_and_status_like_daemontools() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let script = ["-*", "+fatal: *", "./sel", "e", "=st", "+*", "-*b*", "./all"];
    let input = sample_input();
    let ours_out = run_in(ours(), &a, &script, &input);
    let theirs_out = run_in(Command::new(theirs), &b, &script, &input);
    assert_eq!(ours_out.status.code(), Some(0));
    assert_eq!(theirs_out.status.code(), Some(0));
    assert_eq!(ours_out.stderr, theirs_out.stderr, "e output");
    for name in ["sel/current", "all/current", "st"] {
        assert_eq!(fs::read(a.join(name)).unwrap(), fs::read(b.join(name)).unwrap(), "{name}");
    }
    assert_eq!(fs::read(a.join("st")).unwrap().len(), 1001);
    for name in ["sel/current", "all/current"] {
        assert_eq!(mode(&a.join(name)), 0o744, "{name} complete at exit");
        assert_eq!(mode(&a.join(name)), mode(&b.join(name)));
    }
    assert_eq!(mode(&a.join("sel")), mode(&b.join("sel")));
    assert_eq!(mode(&a.join("sel/lock")), mode(&b.join("sel/lock")));
}

#[test]
fn stamps_are_matched_like_daemontools() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let script = ["t", "-*", "+* fatal: *", "./main", "e"];
    let input = b"fatal: x\nok\nnot fatal: y\n";
    let ours_out = run_in(ours(), &a, &script, input);
    let theirs_out = run_in(Command::new(theirs), &b, &script, input);
    let ours_log = fs::read(a.join("main/current")).unwrap();
    let theirs_log = fs::read(b.join("main/current")).unwrap();
    assert_eq!(strip_stamps(&ours_log), strip_stamps(&theirs_log));
    assert_eq!(strip_stamps(&ours_log), b"fatal: x\n");
    assert_eq!(strip_stamps(&ours_out.stderr), strip_stamps(&theirs_out.stderr));
}

/// Lines of many lengths, one far longer than a file.
fn rotation_input() -> Vec<u8> {
    let mut input = Vec::new();
    let lens = [0usize, 5, 50, 120, 300, 1500, 5000, 77, 9];
    for i in 0..400 {
        input.extend_from_slice(format!("{i} ").as_bytes());
        input.extend(std::iter::repeat_n(b'y', lens[i % lens.len()]));
        input.push(b'\n');
    }
    input.extend(std::iter::repeat_n(b'L', 20000));
    input.extend_from_slice(b"\nend\n");
    input
}

#[test]
fn rotation_keeps_every_byte_and_the_limits() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let input = rotation_input();
    let script = ["s4096", "n1000", "./main"];
    run_in(ours(), &a, &script, &input);
    run_in(Command::new(theirs), &b, &script, &input);
    let (ours_dir, theirs_dir) = (a.join("main"), b.join("main"));
    assert_eq!(all_of(&ours_dir), input);
    assert_eq!(all_of(&theirs_dir), input);
    let files = archived(&ours_dir);
    let theirs_count = archived(&theirs_dir).len();
    // Same rules, slightly different write boundaries: about as many files.
    assert!(
        files.len().abs_diff(theirs_count) <= theirs_count / 10,
        "{} vs {theirs_count}",
        files.len()
    );
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 1 + 24 + 2, "{name}");
        assert!(name.ends_with(".s"));
        assert_eq!(mode(f), 0o744, "{name}");
        let data = fs::read(f).unwrap();
        assert!(data.len() <= 4096, "{name}: {} bytes", data.len());
        // A file ends early only at a line end past the threshold.
        if data.len() < 4096 {
            assert!(data.len() >= 4096 - 2000 && data.ends_with(b"\n"), "{name}");
        }
    }
}

#[test]
fn n_limits_the_archive_like_daemontools() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let input = rotation_input();
    let script = ["s4096", "n3", "./main"];
    run_in(ours(), &a, &script, &input);
    run_in(Command::new(theirs), &b, &script, &input);
    assert_eq!(archived(&a.join("main")).len(), 2);
    assert_eq!(archived(&b.join("main")).len(), 2);
    assert!(input.ends_with(&all_of(&a.join("main"))));
}

#[test]
fn long_lines_stay_intact() {
    let (_tmp, a, _b) = pair();
    let mut input = Vec::new();
    for c in [b'a', b'b', b'c'] {
        input.extend(std::iter::repeat_n(c, 300_000));
        input.push(b'\n');
    }
    let out = run_in(ours(), &a, &["t", "s16777215", "./main"], &input);
    assert_eq!(out.status.code(), Some(0));
    let log = fs::read(a.join("main/current")).unwrap();
    assert_eq!(strip_stamps(&log), input);
}

#[test]
fn second_logger_is_refused_like_daemontools() {
    let theirs = require_debian!("multilog");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = ours();
    cmd.current_dir(tmp.path()).arg("./main").stdin(Stdio::piped());
    let mut first = Spawned::start(cmd);
    // Our logger opens `current` only once it holds the lock.
    wait_for(LIMIT, "the first logger to hold the lock", || {
        tmp.path().join("main/current").exists()
    });
    let ours_out = run_in(ours(), tmp.path(), &["./main"], b"x\n");
    let theirs_out = run_in(Command::new(theirs), tmp.path(), &["./main"], b"x\n");
    assert_eq!(ours_out.status.code(), Some(111));
    assert_eq!(theirs_out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&ours_out.stderr),
        "multilog: fatal: unable to lock directory ./main: temporary failure\n"
    );
    assert_eq!(ours_out.stderr, theirs_out.stderr);
    drop(first.child.stdin.take());
    assert!(first.wait_within(LIMIT).unwrap().success());
}

#[test]
fn start_up_recovers_like_daemontools() {
    let theirs = require_debian!("multilog");
    for (program, is_ours) in [(None, true), (Some(theirs), false)] {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir(&main).unwrap();
        let cmd = || match &program {
            None => ours(),
            Some(p) => Command::new(p),
        };
        // A complete current is appended to.
        fs::write(main.join("current"), b"one\n").unwrap();
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(0o744)).unwrap();
        run_in(cmd(), tmp.path(), &["./main"], b"two\n");
        assert_eq!(fs::read(main.join("current")).unwrap(), b"one\ntwo\n", "ours: {is_ours}");
        assert!(archived(&main).is_empty());
        // An unfinished one (0644: its writer died) is kept as @....u.
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
        run_in(cmd(), tmp.path(), &["./main"], b"three\n");
        let old = archived(&main);
        assert_eq!(old.len(), 1, "ours: {is_ours}");
        assert!(old[0].to_string_lossy().ends_with(".u"));
        assert_eq!(fs::read(&old[0]).unwrap(), b"one\ntwo\n");
        assert_eq!(fs::read(main.join("current")).unwrap(), b"three\n");
    }
}

/// A complete `current` found near full takes the next line before it is
/// rotated: only a line end decides, as in daemontools.
#[test]
fn near_full_current_at_start_like_daemontools() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let mut got = Vec::new();
    for (cmd, base) in [(ours(), &a), (Command::new(&theirs), &b)] {
        let main = base.join("main");
        fs::create_dir(&main).unwrap();
        fs::write(main.join("current"), [b"o".repeat(2999), b"\n".to_vec()].concat()).unwrap();
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(0o744)).unwrap();
        // One line: daemontools decides per buffer read, tend per line.
        run_in(cmd, base, &["s4096", "./main"], b"new\n");
        let sizes: Vec<u64> =
            archived(&main).iter().map(|f| fs::metadata(f).unwrap().len()).collect();
        got.push((sizes, fs::read(main.join("current")).unwrap()));
    }
    assert_eq!(got[0], got[1]);
    assert_eq!(got[0], (vec![3004], Vec::new()));
}

#[test]
fn processor_output_is_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend_from_slice(format!("line {i} abcdefghijklmnopqrstuvwxyz\n").as_bytes());
    }
    let script = ["s4096", "!tr a-z A-Z; echo done >&5", "./main"];
    let out = run_in(ours(), tmp.path(), &script, &input);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let main = tmp.path().join("main");
    let files = archived(&main);
    assert!(!files.is_empty());
    let mut all = Vec::new();
    for f in &files {
        assert_eq!(mode(f), 0o744);
        all.extend(fs::read(f).unwrap());
    }
    let upper = input.to_ascii_uppercase();
    assert!(upper.starts_with(&all));
    all.extend(fs::read(main.join("current")).unwrap().to_ascii_uppercase());
    assert_eq!(all, upper);
    assert_eq!(fs::read(main.join("state")).unwrap(), b"done\n");
    assert!(!main.join("previous").exists());
    assert!(!main.join("processed").exists());
}

/// A multilog reading from a pipe the test writes to.
fn piped(dir: &Path, args: &[&str]) -> Spawned {
    let mut cmd = ours();
    cmd.current_dir(dir).args(args).stdin(Stdio::piped());
    Spawned::start(cmd)
}

#[test]
fn sigalrm_rotates_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = piped(tmp.path(), &["./main"]);
    let main = tmp.path().join("main");
    let mut stdin = log.child.stdin.take().unwrap();
    stdin.write_all(b"before\n").unwrap();
    wait_for(LIMIT, "the line in current", || {
        fs::read(main.join("current")).is_ok_and(|c| c == b"before\n")
    });
    kill(Pid::from_raw(log.pid() as i32), Signal::SIGALRM).unwrap();
    wait_for(LIMIT, "a rotated file", || archived(&main).len() == 1);
    let old = archived(&main);
    assert!(old[0].to_string_lossy().ends_with(".s"));
    assert_eq!(fs::read(&old[0]).unwrap(), b"before\n");
    assert_eq!(mode(&old[0]), 0o744);
    stdin.write_all(b"after\n").unwrap();
    drop(stdin);
    assert!(log.wait_within(LIMIT).unwrap().success());
    assert_eq!(fs::read(main.join("current")).unwrap(), b"after\n");
}

#[test]
fn sigterm_finishes_the_line_then_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = piped(tmp.path(), &["./main"]);
    let main = tmp.path().join("main");
    let mut stdin = log.child.stdin.take().unwrap();
    stdin.write_all(b"whole\nhal").unwrap();
    wait_for(LIMIT, "the first line", || {
        fs::read(main.join("current")).is_ok_and(|c| c.starts_with(b"whole\n"))
    });
    kill(Pid::from_raw(log.pid() as i32), Signal::SIGTERM).unwrap();
    // Before a second passes, multilog looks at the line's start every
    // 10 ms, and waits for input without a timeout only once it has taken
    // SIGTERM (and with it the start): from then on it reads no further
    // than the end of the line it finishes.
    wait_for(LIMIT, "SIGTERM taken", || common::idle_in_poll(log.pid()));
    stdin.write_all(b"f a line\nnever\n").unwrap();
    assert!(log.wait_within(LIMIT).unwrap().success());
    assert_eq!(fs::read(main.join("current")).unwrap(), b"whole\nhalf a line\n");
    assert_eq!(mode(&main.join("current")), 0o744);
}

/// The logger of a supervised service is killed with SIGKILL again and
/// again while the service writes numbered lines: every number still
/// appears exactly once in the log directory, because the logger only
/// takes bytes off the pipe (held open by svscan) once they are written.
#[test]
fn sigkilled_logger_loses_and_doubles_nothing() {
    require_debian!("python3");
    let run =
        format!("#!/bin/sh\nexec {} multilog t s4096 n1000 ./main\n", common::tend_bin().display());
    let report = common::KillLoop {
        log_run: &run,
        skip: 26,
        program: "multilog",
        batch: 20,
        kills: 25,
        pause: |k| Duration::from_millis(60 + 37 * (k as u64 % 7)),
        limit: Duration::from_secs(120),
    }
    .run(|_| {});
    report.assert_exactly_once();
    assert!(report.unfinished >= 5, "the logger really died mid-file: {report:?}");
    assert!(report.end > 1000, "{} lines", report.end);
}

/// A pipe already holding `input`, its write end closed.
fn filled_pipe(input: &[u8]) -> Stdio {
    let (r, w) = nix::unistd::pipe().unwrap();
    nix::unistd::write(&w, input).unwrap();
    drop(w);
    Stdio::from(r)
}

/// Start-up after a kill in the middle of a batch: the note's bytes are
/// still in the pipe, so `current` is cut back and they are written once.
#[test]
fn pending_note_is_replayed_once() {
    for (stale, want_old) in [(false, &b"a\nb\n"[..]), (true, &b"a\nb\nc\n"[..])] {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir(&main).unwrap();
        fs::write(main.join("current"), b"a\nb\nc\n").unwrap();
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
        let batch: &[u8] = if stale { b"x\ny\n" } else { b"c\nd\n" };
        let note = tend::testing::Note {
            len: 4,
            hash: tend::testing::hash(batch),
            midline: None,
            after: None,
            sizes: vec![4],
        };
        fs::write(main.join("pending"), note.encode()).unwrap();
        let mut cmd = ours();
        cmd.current_dir(tmp.path()).arg("./main").stdin(filled_pipe(b"c\nd\ne\n"));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut log = Spawned::start(cmd);
        assert!(log.wait_within(LIMIT).unwrap().success());
        let old = archived(&main);
        assert_eq!(old.len(), 1);
        assert!(old[0].to_string_lossy().ends_with(".u"));
        assert_eq!(fs::read(&old[0]).unwrap(), want_old, "stale note: {stale}");
        assert_eq!(fs::read(main.join("current")).unwrap(), b"c\nd\ne\n");
    }
}

/// A full disk: multilog warns as daemontools' does, pauses, and once there
/// is room again writes everything exactly once.
#[test]
fn full_disk_pauses_and_resumes_without_loss() {
    require_root!();
    let Some(small) = common::SmallFs::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let mnt = small.path.clone();
    fs::write(mnt.join("filler"), vec![0u8; 200 * 1024]).unwrap();
    let mut input = Vec::new();
    for i in 0..1500 {
        input.extend_from_slice(format!("{i:05} {}\n", "y".repeat(93)).as_bytes());
    }
    let mut cmd = ours();
    cmd.current_dir(&mnt)
        .args(["s16777215", "./main"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let mut log = Spawned::start(cmd);
    let mut stdin = log.child.stdin.take().unwrap();
    let feeder = {
        let input = input.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    };
    let mut stderr = log.child.stderr.take().unwrap();
    let want =
        b"multilog: warning: unable to write to ./main/current, pausing: out of disk space\n";
    let mut first = vec![0u8; want.len()];
    let mut got = 0;
    while got < first.len() {
        let n = std::io::Read::read(&mut stderr, &mut first[got..]).unwrap();
        assert!(n > 0, "no warning");
        got += n;
    }
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(want));
    fs::remove_file(mnt.join("filler")).unwrap();
    feeder.join().unwrap();
    assert!(log.wait_within(LIMIT).unwrap().success());
    assert_eq!(fs::read(mnt.join("main/current")).unwrap(), input);
}

/// Killed between linking `current` to its `@` name and removing it: the
/// next start must not archive (or append to) the same lines twice.
#[test]
fn interrupted_rotation_is_not_doubled() {
    for complete in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir(&main).unwrap();
        fs::write(main.join("current"), b"old\n").unwrap();
        let m = if complete { 0o744 } else { 0o644 };
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(m)).unwrap();
        fs::hard_link(main.join("current"), main.join("@400000006b06000000000000.s")).unwrap();
        let out = run_in(ours(), tmp.path(), &["./main"], b"new\n");
        assert_eq!(out.status.code(), Some(0));
        let old = archived(&main);
        assert_eq!(old.len(), 1, "complete: {complete}");
        assert_eq!(fs::read(&old[0]).unwrap(), b"old\n");
        assert_eq!(fs::read(main.join("current")).unwrap(), b"new\n");
    }
}

/// A logger killed in the middle of a long line, `aaaa` written, `bb\n`
/// and `next\n` still to come: the next one writes `bb\n` as the rest of
/// that line (no new stamp), once, whether the note it finds is
/// - a batch still in the pipe that began inside the line (whatever of it
///   was written is cut off `current` and written again),
/// - a batch already taken that ended inside the line (nothing is cut),
/// - or that batch marked taken.
#[test]
fn note_mid_line_goes_on_with_the_line_once() {
    use tend::testing::Midline;
    use tend::testing::{Note, hash};
    let stamped = &b"@400000006b06000000000000 aaaa"[..];
    let line = || Some(Midline::selected(vec![true]));
    let in_pipe =
        Note { len: 3, hash: hash(b"bb\n"), midline: line(), after: None, sizes: vec![30] };
    let gone = Note { len: 3, hash: hash(b"aa\n"), midline: None, after: line(), sizes: vec![0] };
    let taken = gone.taken(vec![30]).unwrap();
    assert_eq!(taken.len, 0);
    for (current, note) in
        [([stamped, b"bb"].concat(), in_pipe), (stamped.to_vec(), gone), (stamped.to_vec(), taken)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir(&main).unwrap();
        fs::write(main.join("current"), current).unwrap();
        fs::set_permissions(main.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(main.join("pending"), note.encode()).unwrap();
        let mut cmd = ours();
        cmd.current_dir(tmp.path()).args(["t", "./main"]).stdin(filled_pipe(b"bb\nnext\n"));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut log = Spawned::start(cmd);
        assert!(log.wait_within(LIMIT).unwrap().success());
        let old = archived(&main);
        assert_eq!(old.len(), 1, "{note:?}");
        assert_eq!(fs::read(&old[0]).unwrap(), stamped, "{note:?}");
        let current = fs::read(main.join("current")).unwrap();
        assert!(current.starts_with(b"bb\n@"), "{}", String::from_utf8_lossy(&current));
        assert_eq!(&current[current.len() - 6..], b" next\n");
        assert_eq!(current.len(), 3 + 26 + 5);
    }
}

/// multilog's 1000-byte line buffer holds the stamp too: patterns, `e` and
/// `=FILE` see 974 bytes of a stamped line.
#[test]
fn stamped_head_is_1000_bytes_like_daemontools() {
    let theirs = require_debian!("multilog");
    let (_tmp, a, b) = pair();
    let mut input = Vec::new();
    for tail in ["XYZ", ""] {
        input.extend(std::iter::repeat_n(b'a', 973));
        input.extend_from_slice(tail.as_bytes());
        input.push(b'\n');
    }
    for script in [&["t", "-*", "+*Z", "=st"][..], &["t", "-*", "+*aX", "=st"], &["t", "=st", "e"]]
    {
        let ours_out = run_in(ours(), &a, script, &input);
        let theirs_out = run_in(Command::new(&theirs), &b, script, &input);
        let (ours_st, theirs_st) =
            (fs::read(a.join("st")).unwrap(), fs::read(b.join("st")).unwrap());
        assert_eq!(ours_st.len(), theirs_st.len(), "{script:?}");
        if !ours_st.is_empty() {
            assert_eq!(
                strip_stamps(&ours_st[..ours_st.iter().position(|&c| c == b'\n').unwrap() + 1]),
                strip_stamps(&theirs_st[..theirs_st.iter().position(|&c| c == b'\n').unwrap() + 1])
            );
        }
        assert_eq!(ours_out.stderr.len(), theirs_out.stderr.len(), "{script:?}");
        let _ = fs::remove_file(a.join("st"));
        let _ = fs::remove_file(b.join("st"));
    }
}
