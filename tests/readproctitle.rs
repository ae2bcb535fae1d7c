//! readproctitle with real processes: what `ps` shows of its input, side
//! by side with daemontools' readproctitle given the same input.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(5);

/// A readproctitle (Debian's `program` or ours), called `readproctitle`,
/// reading from the test.
struct Title {
    proc: Spawned,
    input: ChildStdin,
}

impl Title {
    fn start(program: Option<&Path>, args: &[&str]) -> Title {
        let mut cmd = match program {
            Some(p) => {
                let mut cmd = Command::new(p);
                cmd.arg0("readproctitle");
                cmd
            }
            None => tool("readproctitle"),
        };
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut proc = Spawned::start(cmd);
        let input = proc.child.stdin.take().unwrap();
        Title { proc, input }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
        self.input.flush().unwrap();
    }

    /// The command line `ps` reads.
    fn shown(&self) -> String {
        cmdline(self.proc.pid())
    }

    /// Feed `bytes` then `mark` (which `bytes` must not contain) and wait
    /// until the title ends with `mark`: all of the input is then taken.
    fn feed_all(&mut self, bytes: &[u8], mark: &str) -> String {
        self.feed(bytes);
        self.feed(mark.as_bytes());
        let end = format!("{mark}\0");
        let mut shown = String::new();
        let taken = wait_until(LIMIT, || {
            shown = self.shown();
            shown.ends_with(&end)
        });
        assert!(taken, "{mark:?} never shown; the title is {shown:?}");
        shown
    }
}

#[test]
fn readproctitle_shows_recent_input_in_its_command_line() {
    let mut title = Title::start(None, &["io", "errors:", ".................."]);
    // The first three dots stay, as in daemontools: the rest is the window.
    title.feed(b"hello\nworld\n");
    wait_for(LIMIT, "the input in the command line", || {
        title.shown() == "readproctitle\0io\0errors:\0......hello\nworld\n\0"
    });
    title.feed(b"0123456789abcdefghijXYZ");
    wait_for(LIMIT, "the newest bytes only", || {
        title.shown() == "readproctitle\0io\0errors:\0...89abcdefghijXYZ\0"
    });
    // A NUL would end the argument for ps: it is dropped.
    title.feed(b"a\0b");
    wait_for(LIMIT, "the input without its NUL", || {
        title.shown() == "readproctitle\0io\0errors:\0...abcdefghijXYZab\0"
    });
    drop(title.input);
    let status = title.proc.wait_within(LIMIT).expect("exits at end of input");
    assert!(status.success());
}

#[test]
fn readproctitle_needs_room() {
    // Silently, as daemontools' (svscanboot is its one caller).
    for args in [&[][..], &["io", "...."]] {
        let out = run_tool("readproctitle", args);
        assert_eq!(out.status.code(), Some(100), "{args:?}");
        assert!(out.stderr.is_empty() && out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn readproctitle_behaves_as_debians() {
    let debian = require_debian!("readproctitle");
    // Too little room, or enough (then it exits at the end of its empty
    // input).
    for args in [&[][..], &["io", "...."], &["...."], &["....."], &["io", "errors:", "....."]] {
        assert_same("readproctitle", &debian, args);
    }
    // The same input, step by step: the same title at each step.
    for dots in [7, 18, 400] {
        let args = ["service", "errors:", &".".repeat(dots)];
        let mut ours = Title::start(None, &args);
        let mut theirs = Title::start(Some(&debian), &args);
        wait_for(LIMIT, "both started", || ours.shown() == theirs.shown());
        let long: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
        let steps: [&[u8]; 6] =
            [b"hello\nworld\n", b"x", b"0123456789abcdefghijXYZ", b"with\0nul\0", &long, b""];
        for (k, input) in steps.iter().enumerate() {
            let mark = format!("<{k}>");
            let mine = ours.feed_all(input, &mark);
            let real = theirs.feed_all(input, &mark);
            assert_eq!(mine, real, "{dots} dots, after step {k} ({input:?})");
        }
    }
}
