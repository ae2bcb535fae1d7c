//! What `/proc` tells about a process: alive or not, its state, command
//! line, children, descriptors, context switches, and whether it sleeps in
//! `poll` without a timeout.

use std::fs;
use std::sync::OnceLock;
use std::time::Duration;

/// The fields of `/proc/PID/stat` after the command name (field 3 on):
/// the state letter first, then the parent's pid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The state letter of `pid` (R, S, T, Z, ...), empty once it is gone.
pub fn state(pid: u32) -> String {
    stat_fields(pid).and_then(|f| f.into_iter().next()).unwrap_or_default()
}

/// Whether `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    !matches!(state(pid).as_str(), "Z" | "X" | "")
}

/// The session of `pid`.
pub fn session(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(3)?.parse().ok()
}

/// The command line of `pid`, arguments joined by NULs, as the kernel
/// shows it (empty once it is gone).
pub fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .into_owned()
}

/// The live children of `pid` with their command lines, arguments joined
/// by spaces.
pub fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Some(fields) = stat_fields(child) else { continue };
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) != Some(pid) || fields[0] == "Z" {
            continue;
        }
        let line = cmdline(child).replace('\0', " ").trim().to_string();
        out.push((child, line));
    }
    out
}

/// The descriptor numbers `pid` has open, in order.
pub fn open_fds(pid: u32) -> Vec<u32> {
    let mut fds: Vec<u32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    fds.sort();
    fds
}

/// The value of line `field` (as `Uid:`) of `/proc/PID/status`, trimmed.
pub fn status_field(pid: u32, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).expect(field);
    line[field.len()..].trim().to_owned()
}

/// Voluntary plus involuntary context switches of `pid`: what a process
/// that never wakes up does not add to.
pub fn switches(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// What `/proc/PID/syscall` shows for a process blocked in `poll` without
/// a timeout: the call's number and its third argument (poll's timeout,
/// -1; or, where libc's poll is ppoll, the timeout pointer, NULL).
#[derive(Debug, PartialEq)]
struct PollForever {
    number: String,
    third: String,
}

impl PollForever {
    fn of(syscall: &str) -> Option<PollForever> {
        let fields: Vec<&str> = syscall.split_whitespace().collect();
        (fields.len() > 3)
            .then(|| PollForever { number: fields[0].to_owned(), third: fields[3].to_owned() })
    }

    /// Learnt from a thread of this process that calls the C library's
    /// `poll` with no descriptors and no timeout, and so sleeps there for
    /// good: the same call tend makes, through the same library, with no
    /// system call numbers written down for one architecture.
    fn here() -> &'static PollForever {
        static REFERENCE: OnceLock<PollForever> = OnceLock::new();
        REFERENCE.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                tx.send(nix::unistd::gettid().as_raw()).unwrap();
                let _ = nix::poll::poll(&mut [], nix::poll::PollTimeout::NONE);
            });
            let tid = rx.recv().unwrap();
            let path = format!("/proc/self/task/{tid}/syscall");
            let mut seen = None;
            let asleep = crate::wait_until(Duration::from_secs(10), || {
                let line = fs::read_to_string(&path).unwrap_or_default();
                let state =
                    fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok().and_then(|s| {
                        Some(s.rsplit_once(')')?.1.split_whitespace().next()?.to_owned())
                    });
                seen = PollForever::of(&line);
                state.as_deref() == Some("S") && seen.is_some()
            });
            assert!(asleep, "the reference thread never slept in poll: {seen:?}");
            seen.unwrap()
        })
    }
}

/// True while `pid` sleeps in `poll(2)` without a timeout: the idle wait
/// of supervise, svscan and the loggers, reached only once they have done
/// all they had to do ("running", a timed poll or any other call is
/// false).
pub fn idle_in_poll(pid: u32) -> bool {
    let call = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    PollForever::of(&call).is_some_and(|call| call == *PollForever::here())
}
