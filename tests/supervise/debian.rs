//! tend's supervise, svc, svstat and svok against the real Debian programs:
//! daemontools' `supervise`, `svc`, `svstat`, `svok` and runit's `runsv`
//! and `sv`. The same service is walked through the same states under each
//! supervisor, driven by each `svc`, and everything a reader can see is
//! compared: the status bytes (timestamp and pid aside), the `svstat` and
//! `sv status` lines (seconds and pids normalised), runit's `stat` and
//! `pid` files, and `svok`'s answer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

use super::LIMIT;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sup {
    Ours,
    Daemontools,
    Runsv,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Svc {
    Ours,
    Debian,
}

fn start(sup: Sup, dir: &Path) -> Spawned {
    let mut cmd = match sup {
        Sup::Ours => tool("supervise"),
        Sup::Daemontools => Command::new(debian("supervise").unwrap()),
        Sup::Runsv => Command::new(debian("runsv").unwrap()),
    };
    cmd.arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let spawned = Spawned::start(cmd);
    wait_for(LIMIT, "supervise/status", || status(dir).len() >= 18);
    spawned
}

fn send(svc: Svc, dir: &Path, opts: &str) {
    match svc {
        Svc::Ours => common::svc(dir, opts),
        Svc::Debian => {
            let out = run_program(&debian("svc").unwrap(), "svc", [opts.as_ref(), dir.as_os_str()]);
            assert!(out.status.success() && out.stderr.is_empty(), "Debian's svc {opts}: {out:?}");
        }
    }
}

/// Replace the service path with DIR and every run of digits with N.
fn normalise(text: &str, dir: &Path) -> String {
    numbers_as_n(&text.replace(dir.to_str().unwrap(), "DIR")).trim_end().to_string()
}

fn stdout_of(cmd: Command) -> (String, Option<i32>) {
    let out = output_within(cmd, LIMIT);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.code())
}

fn debian_svstat(dir: &Path) -> String {
    let mut cmd = Command::new(debian("svstat").unwrap());
    cmd.arg(dir);
    normalise(&stdout_of(cmd).0, dir)
}

fn our_svstat(dir: &Path) -> String {
    let mut cmd = tool("svstat");
    cmd.arg(dir);
    normalise(&stdout_of(cmd).0, dir)
}

fn sv(args: &[&str], dir: &Path) -> (String, Option<i32>) {
    let mut cmd = Command::new(debian("sv").unwrap());
    cmd.args(args).arg(dir);
    let (text, code) = stdout_of(cmd);
    (normalise(&text, dir), code)
}

fn svok(ours: bool, dir: &Path) -> Option<i32> {
    let mut cmd = if ours { tool("svok") } else { Command::new(debian("svok").unwrap()) };
    cmd.arg(dir);
    output_within(cmd, LIMIT).status.code()
}

/// Everything a reader sees in one state.
#[derive(Debug)]
struct Snap {
    state: &'static str,
    status: Vec<u8>,
    debian_svstat: String,
    our_svstat: String,
    sv_status: String,
    stat: String,
    pid_file: String,
    debian_svok: Option<i32>,
    our_svok: Option<i32>,
}

fn snap(state: &'static str, dir: &Path) -> Snap {
    // runsv and tend write `pid` and `stat` before `status`: once the
    // caller saw the new `status`, they match it.
    let status = status(dir);
    Snap {
        state,
        debian_svstat: debian_svstat(dir),
        our_svstat: our_svstat(dir),
        sv_status: sv(&["status"], dir).0,
        stat: fs::read_to_string(dir.join("supervise/stat")).unwrap_or_default(),
        pid_file: normalise(
            &fs::read_to_string(dir.join("supervise/pid")).unwrap_or_default(),
            dir,
        ),
        debian_svok: svok(false, dir),
        our_svok: svok(true, dir),
        status,
    }
}

/// A service whose `run` takes a second to stop after TERM, so that "up,
/// want down" can be seen.
fn make_service(root: &Path) -> PathBuf {
    let dir = root.join("svc");
    write_script(
        &dir.join("run"),
        "#!/bin/sh\ntrap 'sleep 1; exit 0' TERM\necho $$ > trapped\nwhile :; do sleep 0.05; done\n",
    );
    dir
}

/// Walk the service through up, paused, continued, want down, down, once,
/// down again and up again under `sup`, driven by `svc`; then `-dx`.
fn walk(sup: Sup, svc: Svc) -> (Vec<Snap>, tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = make_service(tmp.path());
    let mut proc = start(sup, &dir);
    let mut snaps = Vec::new();
    let until = |what: &str, cond: &dyn Fn(&[u8]) -> bool| {
        wait_for(LIMIT, what, || {
            let s = status(&dir);
            s.len() >= 18 && cond(&s)
        })
    };
    // Once sh has set its trap.
    let trapped = |s: &[u8]| {
        fs::read_to_string(dir.join("trapped")).is_ok_and(|t| t == format!("{}\n", pid_of(s)))
    };
    until("up", &|s| pid_of(s) != 0 && trapped(s));
    snaps.push(snap("up", &dir));
    send(svc, &dir, "-p");
    until("paused", &|s| s[16] == 1);
    snaps.push(snap("paused", &dir));
    send(svc, &dir, "-c");
    until("continued", &|s| s[16] == 0);
    snaps.push(snap("continued", &dir));
    send(svc, &dir, "-d");
    // runsv records the wish before it sends TERM, then `got TERM`: wait
    // for the second record (in runit's 20 bytes), not the moment between.
    until("want down", &|s| s[17] == b'd' && s.get(18).is_none_or(|&term| term == 1));
    snaps.push(snap("want down", &dir));
    until("down", &|s| pid_of(s) == 0);
    snaps.push(snap("down", &dir));
    send(svc, &dir, "-o");
    until("once", &|s| pid_of(s) != 0 && trapped(s));
    snaps.push(snap("once", &dir));
    send(svc, &dir, "-d");
    until("down again", &|s| pid_of(s) == 0);
    snaps.push(snap("down again", &dir));
    send(svc, &dir, "-u");
    until("up again", &|s| pid_of(s) != 0 && s[17] == b'u');
    snaps.push(snap("up again", &dir));
    // runsv takes `x` as "stop and exit"; daemontools as "exit once down".
    send(svc, &dir, "-dx");
    let code = proc.wait_within(LIMIT).expect("supervisor exits after -dx");
    assert_eq!(code.code(), Some(0), "{sup:?}");
    snaps.push(snap("exited", &dir));
    (snaps, tmp, dir)
}

fn check_pairs(ours: &[Snap], theirs: &[Snap], what: &str, field: impl Fn(&Snap) -> String) {
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!(field(a), field(b), "{what} in state {:?}", a.state);
    }
}

#[test]
fn debian_tools_see_our_supervise_as_their_own() {
    require_debian!("supervise");
    require_debian!("svc");
    require_debian!("svstat");
    require_debian!("svok");
    let (ours, ..) = walk(Sup::Ours, Svc::Debian);
    let (theirs, ..) = walk(Sup::Daemontools, Svc::Debian);
    for s in &ours {
        eprintln!("{:>10}: {}", s.state, s.debian_svstat);
    }
    check_pairs(&ours, &theirs, "Debian svstat", |s| s.debian_svstat.clone());
    // Pausing, continuing and asking for down change nothing in the time
    // of the last start, for either supervisor.
    for snaps in [&ours, &theirs] {
        for later in &snaps[1..4] {
            assert_eq!(later.status[..12], snaps[0].status[..12], "time in {:?}", later.state);
        }
        assert_ne!(snaps[4].status[..12], snaps[0].status[..12], "time after the stop");
    }
    check_pairs(&ours, &theirs, "Debian svok", |s| format!("{:?}", s.debian_svok));
    check_pairs(&ours, &theirs, "our svstat", |s| s.our_svstat.clone());
    // The status bytes daemontools writes, timestamp and pid aside.
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(b.status.len(), 18, "Debian's record");
        assert_eq!(a.status.len(), 20, "ours");
        assert_eq!(a.status[16..18], b.status[16..18], "bytes 16..18 in state {:?}", a.state);
        assert_eq!(pid_of(&a.status) == 0, pid_of(&b.status) == 0, "pid in {:?}", a.state);
        // Bytes 0..12: TAI64N of the last change, as Debian's, near now.
        for record in [&a.status, &b.status] {
            let label = u64::from_be_bytes(record[..8].try_into().unwrap());
            let unix = label.wrapping_sub((1 << 62) + 10);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(now.abs_diff(unix) < 60, "timestamp {label:#x} far from now {now}");
            assert!(u32::from_be_bytes(record[8..12].try_into().unwrap()) < 1_000_000_000);
        }
    }
}

#[test]
fn our_tools_drive_debian_supervise() {
    require_debian!("supervise");
    require_debian!("svstat");
    require_debian!("svok");
    let (snaps, ..) = walk(Sup::Daemontools, Svc::Ours);
    for s in &snaps {
        assert_eq!(s.our_svstat, s.debian_svstat, "svstat in state {:?}", s.state);
        assert_eq!(s.our_svok, s.debian_svok, "svok in state {:?}", s.state);
    }
    assert_eq!(snaps[0].our_svok, Some(0));
    assert_eq!(snaps.last().unwrap().our_svok, Some(100));
}

#[test]
fn our_tools_drive_runsv() {
    require_debian!("runsv");
    require_debian!("svstat");
    require_debian!("svok");
    require_debian!("sv");
    let (snaps, ..) = walk(Sup::Runsv, Svc::Ours);
    for s in &snaps {
        assert_eq!(s.our_svstat, s.debian_svstat, "svstat in state {:?}", s.state);
        assert_eq!(s.our_svok, s.debian_svok, "svok in state {:?}", s.state);
    }
}

#[test]
fn runit_sees_our_supervise_as_runsv() {
    require_debian!("runsv");
    require_debian!("sv");
    require_debian!("svc");
    require_debian!("svstat");
    let (ours, ..) = walk(Sup::Ours, Svc::Debian);
    let (theirs, ..) = walk(Sup::Runsv, Svc::Debian);
    for (a, b) in ours.iter().zip(&theirs) {
        eprintln!("{:>10}: {:?} {:?} | {:?}", a.state, a.stat, a.sv_status, b.sv_status);
    }
    for (a, b) in ours.iter().zip(&theirs) {
        if a.state == "once" {
            // daemontools writes no wish after -o, runsv writes `d`: we
            // follow daemontools (see docs/supervise.md).
            assert_eq!((a.status[17], b.status[17]), (0, b'd'));
            assert_eq!(a.stat, "run\n");
            assert_eq!(b.stat, "run, want down\n");
            continue;
        }
        assert_eq!(a.status[16..20], b.status[16..20], "bytes 16..20 in state {:?}", a.state);
        assert_eq!(a.sv_status, b.sv_status, "sv status in state {:?}", a.state);
        assert_eq!(a.stat, b.stat, "supervise/stat in state {:?}", a.state);
        assert_eq!(a.pid_file, b.pid_file, "supervise/pid in state {:?}", a.state);
        assert_eq!(a.debian_svstat, b.debian_svstat, "svstat in state {:?}", a.state);
    }
}

/// `sv -w` commands in a row, against one supervisor: the normalised
/// output and exit code of each.
fn sv_session(sup: Sup) -> Vec<(String, Option<i32>)> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    sleeper(&dir);
    let _proc = start(sup, &dir);
    wait_for(LIMIT, "up", || pid_of(&status(&dir)) != 0);
    let mut out = Vec::new();
    for action in ["status", "pause", "cont", "down", "status", "up", "term", "status"] {
        // Let the one-second rule pass so both restart at once.
        std::thread::sleep(Duration::from_millis(1100));
        out.push(sv(&["-w", "5", action], &dir));
    }
    out
}

#[test]
fn sv_commands_work_on_our_supervise_as_on_runsv() {
    require_debian!("runsv");
    require_debian!("sv");
    let ours = sv_session(Sup::Ours);
    let theirs = sv_session(Sup::Runsv);
    for (a, b) in ours.iter().zip(&theirs) {
        eprintln!("{a:?} | {b:?}");
    }
    assert_eq!(ours, theirs);
    assert!(ours.iter().all(|(_, code)| *code == Some(0)), "{ours:?}");
}

/// runit's `finish` under one supervisor: the arguments it hears after an
/// exit code and after a signal, and what readers see while it runs.
fn finish_session(sup: Sup) -> (String, Snap, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    write_script(
        &dir.join("run"),
        "#!/bin/sh\nif [ -e exit3 ]; then rm exit3; exit 3; fi\nexec sleep 1000\n",
    );
    write_script(&dir.join("finish"), "#!/bin/sh\necho \"$@\" >> args\nsleep 1\n");
    fs::write(dir.join("exit3"), "").unwrap();
    let mut proc = start(sup, &dir);
    let args = dir.join("args");
    wait_for(LIMIT, "finish after exit 3", || fs::read_to_string(&args).is_ok());
    wait_for(LIMIT, "up after finish", || {
        let s = status(&dir);
        s.len() == 20 && s[19] == 1
    });
    std::thread::sleep(Duration::from_millis(1100));
    send(Svc::Ours, &dir, "-d");
    // runsv writes the finish state twice: without a pid as `run` is
    // reaped, then with finish's pid once finish is started.
    wait_for(LIMIT, "finish state with finish's pid", || {
        let s = status(&dir);
        s.len() == 20 && s[19] == 2 && pid_of(&s) != 0
    });
    let during = snap("finish", &dir);
    // Exit asked for while finish runs: runsv's stat says `want exit`;
    // once finish is done, both exit.
    send(Svc::Ours, &dir, "-x");
    wait_for(LIMIT, "want exit", || {
        fs::read_to_string(dir.join("supervise/stat")).unwrap_or_default() == "finish, want exit\n"
    });
    let code = proc.wait_within(LIMIT).expect("exit once finish is done");
    assert_eq!(code.code(), Some(0), "{sup:?}");
    let after = normalise(&debian_svstat(&dir), &dir);
    let record = status(&dir);
    assert_eq!((pid_of(&record), record[19]), (0, 0), "{sup:?}: down when it exits");
    (fs::read_to_string(&args).unwrap(), during, after)
}

#[test]
fn finish_is_run_as_runsv_runs_it() {
    require_debian!("runsv");
    require_debian!("sv");
    require_debian!("svstat");
    let (our_args, ours, our_after) = finish_session(Sup::Ours);
    let (their_args, theirs, their_after) = finish_session(Sup::Runsv);
    assert_eq!(their_args, "3 0\n-1 15\n", "runsv's arguments");
    assert_eq!(our_args, their_args);
    assert_eq!(ours.status[16..20], theirs.status[16..20]);
    assert_eq!(ours.stat, theirs.stat);
    assert_eq!(ours.stat, "finish, want down\n");
    assert_eq!(ours.pid_file, theirs.pid_file);
    assert_eq!(ours.sv_status, theirs.sv_status);
    assert_eq!(ours.debian_svstat, theirs.debian_svstat);
    assert_eq!(ours.our_svstat, theirs.our_svstat);
    assert_eq!(ours.our_svstat, "DIR: finish (pid N) N seconds, want down");
    assert_eq!(our_after, their_after);
}

/// Build a directory in each of the awkward states no supervisor is in.
#[test]
fn failures_read_the_same() {
    let debian_svc = require_debian!("svc");
    let debian_svstat = require_debian!("svstat");
    let debian_svok = require_debian!("svok");
    let tmp = tempfile::tempdir().unwrap();
    let never = tmp.path().join("never");
    fs::create_dir(&never).unwrap();
    let stale = tmp.path().join("stale");
    fs::create_dir_all(stale.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &stale.join("supervise/ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    // What a supervisor leaves behind when it exits: both FIFOs, no reader.
    let stopped = tmp.path().join("stopped");
    fs::create_dir_all(stopped.join("supervise")).unwrap();
    for fifo in ["ok", "control"] {
        nix::unistd::mkfifo(
            &stopped.join("supervise").join(fifo),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
    }
    fs::write(stopped.join("supervise/status"), [0u8; 18]).unwrap();
    let missing = tmp.path().join("missing");
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    for dir in [&never, &stale, &stopped, &missing, &file] {
        let dir = dir.to_str().unwrap();
        assert_same("svc", &debian_svc, &["-u", dir]);
        assert_same("svstat", &debian_svstat, &[dir]);
        assert_same("svok", &debian_svok, &[dir]);
    }
}

/// The second argument of `finish` after a signal that dumped core.
fn core_session(sup: Sup) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    write_script(
        &dir.join("run"),
        "#!/bin/sh\nif [ -e done ]; then exec sleep 1000; fi\ntouch done\nulimit -c unlimited\nkill -SEGV $$\n",
    );
    write_script(&dir.join("finish"), "#!/bin/sh\necho \"$@\" > args\n");
    let _proc = start(sup, &dir);
    let args = dir.join("args");
    wait_for(LIMIT, "finish", || fs::read_to_string(&args).is_ok_and(|a| a.ends_with('\n')));
    fs::read_to_string(&args).unwrap()
}

#[test]
fn finish_hears_the_core_flag_as_runsv_passes_it() {
    require_debian!("runsv");
    let theirs = core_session(Sup::Runsv);
    let ours = core_session(Sup::Ours);
    eprintln!("runsv: {theirs:?}");
    // SEGV, not QUIT: a shell may have been started with QUIT ignored.
    assert!(theirs == "-1 139\n" || theirs == "-1 11\n", "runsv: {theirs:?}");
    assert_eq!(ours, theirs);
}

/// A service with a `down` file: down at start, up on -u, down on -d.
fn down_file_walk(sup: Sup) -> Vec<Snap> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    sleeper(&dir);
    fs::write(dir.join("down"), "").unwrap();
    let _proc = start(sup, &dir);
    let mut snaps = vec![snap("down at start", &dir)];
    send(Svc::Debian, &dir, "-u");
    wait_for(LIMIT, "up", || pid_of(&status(&dir)) != 0);
    snaps.push(snap("up, normally down", &dir));
    send(Svc::Debian, &dir, "-d");
    wait_for(LIMIT, "down", || pid_of(&status(&dir)) == 0);
    snaps.push(snap("down again", &dir));
    snaps
}

#[test]
fn down_file_states_read_the_same() {
    require_debian!("supervise");
    require_debian!("runsv");
    require_debian!("svc");
    require_debian!("svstat");
    require_debian!("sv");
    let ours = down_file_walk(Sup::Ours);
    let daemontools = down_file_walk(Sup::Daemontools);
    let runsv = down_file_walk(Sup::Runsv);
    for ((a, b), c) in ours.iter().zip(&daemontools).zip(&runsv) {
        eprintln!("{:>18}: {} | {}", a.state, a.debian_svstat, a.sv_status);
        assert_eq!(a.debian_svstat, b.debian_svstat, "svstat vs daemontools in {:?}", a.state);
        assert_eq!(a.our_svstat, b.debian_svstat, "our svstat in {:?}", a.state);
        assert_eq!(a.status[16..18], b.status[16..18], "bytes vs daemontools in {:?}", a.state);
        assert_eq!(a.status[16..20], c.status[16..20], "bytes vs runsv in {:?}", a.state);
        assert_eq!(a.sv_status, c.sv_status, "sv status vs runsv in {:?}", a.state);
        assert_eq!(a.stat, c.stat, "stat vs runsv in {:?}", a.state);
        assert_eq!(a.debian_svstat, c.debian_svstat, "svstat vs runsv in {:?}", a.state);
    }
}

/// Records no healthy supervisor writes, read by both svstats.
#[test]
fn odd_status_records_read_the_same() {
    require_debian!("svstat");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("odd");
    fs::create_dir_all(dir.join("supervise")).unwrap();
    let ok = dir.join("supervise/ok");
    nix::unistd::mkfifo(&ok, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Hold the FIFO open for reading, as a supervisor would.
    let _reader = fs::OpenOptions::new().read(true).write(true).open(&ok).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let label = |secs: u64| ((1u64 << 62) + 10 + secs).to_be_bytes();
    let record = |secs: u64, pid: u32, tail: &[u8]| {
        let mut r = label(secs).to_vec();
        r.extend_from_slice(&[0, 0, 0, 0]);
        r.extend_from_slice(&pid.to_le_bytes());
        r.extend_from_slice(tail);
        r
    };
    let recent = now.as_secs() - 5;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("17 bytes", record(recent, 7, b"\x01")),
        ("18 bytes, up, paused", record(recent, 10000, b"\x01u")),
        ("19 bytes", record(recent, 10000, b"\x00u\x00")),
        ("20 bytes, unknown run state", record(recent, 10000, b"\x01d\x00\x07")),
        ("down, paused, odd want", record(recent, 0, b"\x01x")),
        ("in the future", record(now.as_secs() + 100, 0, b"\x00u")),
        ("down, want up", record(recent, 0, b"\x00u\x00\x00")),
    ];
    for (what, bytes) in cases {
        fs::write(dir.join("supervise/status"), &bytes).unwrap();
        let theirs = debian_svstat(&dir);
        let ours = our_svstat(&dir);
        eprintln!("{what:>28}: {theirs}");
        assert_eq!(ours, theirs, "{what}");
    }
}

/// A `down` that is a symbolic link to nothing is no `down` file: Debian's
/// supervise and svstat `stat` it, and so do ours.
#[test]
fn a_dangling_down_link_is_no_down_file() {
    require_debian!("supervise");
    require_debian!("svstat");
    let mut lines = Vec::new();
    for sup in [Sup::Ours, Sup::Daemontools] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 1000\n");
        std::os::unix::fs::symlink(tmp.path().join("nothing"), dir.join("down")).unwrap();
        let _proc = start(sup, &dir);
        wait_for(LIMIT, "up", || pid_of(&status(&dir)) != 0);
        let theirs = debian_svstat(&dir);
        assert_eq!(our_svstat(&dir), theirs, "under {sup:?}");
        lines.push(theirs);
    }
    assert_eq!(lines[0], lines[1]);
    assert!(!lines[0].contains("normally down"), "{}", lines[0]);
}

/// svc's options as daemontools' `sgetopt` reads them: a word beginning
/// with `--` is dropped and ends the options.
#[test]
fn svc_reads_its_arguments_as_debians() {
    let debian = require_debian!("svc");
    assert_same("svc", &debian, &["--foo", "/nonexistent"]);
    assert_same("svc", &debian, &["-u", "--", "-d", "/nonexistent"]);
    assert_same("svc", &debian, &["-u", "-", "/nonexistent"]);
}
