//! tai64n and tai64nlocal against daemontools' own programs.

use common::require_debian;

use std::process::Command;
use std::time::Duration;

use common::{output_with_input, tool};

const LIMIT: Duration = Duration::from_secs(20);

fn run(mut cmd: Command, input: &[u8], tz: &str) -> std::process::Output {
    cmd.env("TZ", tz);
    output_with_input(cmd, input, LIMIT)
}

/// Stamps around DST changes, leap days, the epoch, before it, far ahead,
/// odd nanoseconds, and the odd forms daemontools still converts.
fn sample_stamps() -> Vec<u8> {
    let mut input = Vec::new();
    let label = (1u64 << 62) + 10;
    let times: &[i64] = &[
        0,
        -1,
        -86_400 * 365,
        951_782_400,   // 2000-02-29
        1_710_054_000, // 2024-03-10 07:00 UTC, US DST starts
        1_711_846_800, // 2024-03-31 01:00 UTC, EU DST starts
        1_730_595_600, // 2024-11-03 01:00 UTC, US DST ends
        1_756_405_943,
        4_102_444_800, // 2100-01-01
        253_402_300_799,
    ];
    for (i, &t) in times.iter().enumerate() {
        let secs = label.wrapping_add(t as u64);
        let nanos = [0u32, 1, 999_999_999, 123_456_789, 500_000_000][i % 5];
        input.extend_from_slice(format!("@{secs:016x}{nanos:08x} line {i}\n").as_bytes());
    }
    input.extend_from_slice(b"@4000000068b0a0c100000001\n");
    input.extend_from_slice(b"@4000000068b0a0c1ffffffff past a second\n");
    input.extend_from_slice(b"@4000000068b0a0c10000000azz no space\n");
    input.extend_from_slice(b"@004000000068b0a0c100000001 leading zeros\n");
    input.extend_from_slice(b"no stamp @4000000068b0a0c100000001\n");
    input.extend_from_slice(b"\n\n");
    input.extend_from_slice(b"@4000000068b0a0c100000001 last line without newline");
    input
}

#[test]
fn tai64nlocal_matches_daemontools_in_several_time_zones() {
    let theirs = require_debian!("tai64nlocal");
    let input = sample_stamps();
    for tz in ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"] {
        let ours = run(tool("tai64nlocal"), &input, tz);
        let debian = run(Command::new(&theirs), &input, tz);
        assert!(debian.status.success(), "Debian's tai64nlocal failed in {tz}");
        assert_eq!(ours.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&debian.stdout),
            "TZ={tz}"
        );
    }
}

#[test]
fn tai64nlocal_passes_through_what_daemontools_crashes_on() {
    let ours = run(tool("tai64nlocal"), b"@zz\n@3000000068b0a0c100000000 x\nok\n", "UTC");
    assert_eq!(ours.status.code(), Some(0));
    assert_eq!(ours.stdout, b"@zz\n@3000000068b0a0c100000000 x\nok\n");
}

fn split_stamp(line: &[u8]) -> (&[u8], &[u8]) {
    assert!(line.len() >= 26 && line[0] == b'@' && line[25] == b' ', "{line:?}");
    assert!(line[1..25].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
    (&line[1..25], &line[26..])
}

#[test]
fn tai64n_stamps_like_daemontools() {
    let theirs = require_debian!("tai64n");
    let mut input = Vec::new();
    for i in 0..2000 {
        input.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes());
    }
    input.extend_from_slice(b"\n\tlast without newline");
    let ours = run(tool("tai64n"), &input, "UTC");
    let debian = run(Command::new(&theirs), &input, "UTC");
    assert_eq!(ours.status.code(), Some(0));
    let ours_lines: Vec<&[u8]> = ours.stdout.split_inclusive(|&b| b == b'\n').collect();
    let debian_lines: Vec<&[u8]> = debian.stdout.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(ours_lines.len(), debian_lines.len());
    let mut previous: &[u8] = b"";
    for (mine, theirs) in ours_lines.iter().zip(&debian_lines) {
        let (stamp, rest) = split_stamp(mine);
        assert_eq!(rest, split_stamp(theirs).1);
        assert!(stamp >= previous, "stamps go forward");
        previous = stamp;
    }
    // The two programs ran moments apart: their stamps agree to the second.
    let (first, _) = split_stamp(ours_lines[0]);
    let (other, _) = split_stamp(debian_lines[0]);
    let secs = |s: &[u8]| u64::from_str_radix(std::str::from_utf8(&s[..16]).unwrap(), 16).unwrap();
    assert!(secs(first).abs_diff(secs(other)) <= 5);
}

#[test]
fn tai64n_output_reads_back_as_now_through_tai64nlocal() {
    let stamped = run(tool("tai64n"), b"hello\n", "UTC");
    let local = run(tool("tai64nlocal"), &stamped.stdout, "UTC");
    let text = String::from_utf8(local.stdout).unwrap();
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M"]).output().unwrap();
    let today = String::from_utf8(date.stdout).unwrap();
    assert!(text.ends_with(" hello\n"), "{text}");
    // Same minute, unless the minute turned between the two commands.
    assert_eq!(text[..10], today[..10], "{text} vs {today}");
}

#[test]
fn tai64n_writes_each_line_as_soon_as_it_is_read() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut cmd = tool("tai64n");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = common::Spawned::start(cmd);
    let mut stdin = child.child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.child.stdout.take().unwrap());
    for word in ["one", "two"] {
        stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.ends_with(&format!(" {word}\n")), "{line}");
    }
    drop(stdin);
    assert_eq!(child.wait_within(LIMIT).and_then(|s| s.code()), Some(0));
}

/// Run `cmd` with the given stdin and stdout; its exit code and stderr.
fn run_with(
    mut cmd: Command,
    stdin: std::fs::File,
    stdout: std::fs::File,
) -> (Option<i32>, String) {
    use std::io::Read;
    cmd.stdin(stdin).stdout(stdout).stderr(std::process::Stdio::piped());
    let mut child = common::Spawned::start(cmd);
    let code = child.wait_within(LIMIT).expect("exits").code();
    let mut err = String::new();
    child.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (code, err)
}

#[test]
fn read_and_write_failures_exit_111_with_a_message() {
    use std::fs::File;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, "x\n").unwrap();
    for name in ["tai64n", "tai64nlocal"] {
        let (code, err) =
            run_with(tool(name), File::open("/").unwrap(), File::create("/dev/null").unwrap());
        assert_eq!(code, Some(111), "{name}");
        assert!(err.starts_with(&format!("{name}: fatal: unable to read input: ")), "{err}");
        let (code, err) =
            run_with(tool(name), File::open(&input).unwrap(), File::create("/dev/full").unwrap());
        assert_eq!(code, Some(111), "{name}");
        assert!(err.starts_with(&format!("{name}: fatal: unable to write output: ")), "{err}");
    }
}
