//! The logger torture rig: a logger under svscan, SIGKILLed again and
//! again while a service writes numbered lines, and every number counted
//! afterwards across the log directory. And the readers of a log
//! directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{Spawned, tool, wait_until, write_script};

/// `@` files of a log directory, oldest first.
pub fn archived(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('@'))
        .collect();
    names.sort();
    names
}

/// Everything a log directory holds, in order: `@` files, then `current`.
pub fn all_of(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for f in archived(dir) {
        out.extend(fs::read(f).unwrap());
    }
    out.extend(fs::read(dir.join("current")).unwrap_or_default());
    out
}

/// How a logger fared when SIGKILLed again and again (see
/// [`KillLoop::run`]).
#[derive(Debug)]
pub struct KilledLogger {
    /// Numbered lines the service wrote.
    pub end: usize,
    pub lost: Vec<usize>,
    pub doubled: Vec<usize>,
    /// Lines without newline, or too short for a stamp.
    pub cut: usize,
    /// Lines that are neither a number in range nor the `end` line.
    pub odd: Vec<String>,
    /// `@` files and `current`.
    pub files: usize,
    /// `@….u` files: a `current` left behind by a killed logger.
    pub unfinished: usize,
    /// The files around the first lost or doubled number, to see what
    /// happened.
    pub context: String,
}

impl KilledLogger {
    /// Every number exactly once, every line whole.
    pub fn assert_exactly_once(&self) {
        assert!(
            self.lost.is_empty() && self.doubled.is_empty() && self.cut == 0 && self.odd.is_empty(),
            "of {} lines: {} lost (first {:?}), {} doubled (first {:?}), {} cut, {} odd \
             (first {:?}), in {} files; around the first:\n{}",
            self.end,
            self.lost.len(),
            &self.lost[..self.lost.len().min(10)],
            self.doubled.len(),
            &self.doubled[..self.doubled.len().min(10)],
            self.cut,
            self.odd.len(),
            &self.odd[..self.odd.len().min(3)],
            self.files,
            self.context,
        );
    }
}

/// How [`KillLoop::run`] tortures a logger.
pub struct KillLoop<'a> {
    /// The `log/run` script body; it writes to `log/main`.
    pub log_run: &'a str,
    /// Bytes (stamp, prefix) before each number in the log.
    pub skip: usize,
    /// What the logger's command line holds once it runs (not supervise's
    /// child before exec).
    pub program: &'a str,
    /// Numbered lines the service writes every 10 ms.
    pub batch: usize,
    pub kills: usize,
    /// How long the logger lives after its k-th start.
    pub pause: fn(usize) -> Duration,
    /// For the whole loop.
    pub limit: Duration,
}

impl KillLoop<'_> {
    /// Under tend's svscan, a service writes numbered lines to the logger;
    /// `prepare` gets the `log` directory first. The logger is SIGKILLed
    /// `kills` times. Then the service writes `end N` and every number is
    /// counted across the `@` files and `current`.
    pub fn run(self, prepare: impl FnOnce(&Path)) -> KilledLogger {
        let KillLoop { log_run, skip, program, batch, kills, pause, limit } = self;
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let tmp = tempfile::tempdir().unwrap();
        let svc = tmp.path().join("numbers");
        write_script(
            &svc.join("run"),
            &format!(
                "#!/usr/bin/python3\n\
             import os, sys, time\n\
             i = 0\n\
             while not os.path.exists('../.stop'):\n\
             \x20   for _ in range({batch}):\n\
             \x20       i += 1\n\
             \x20       sys.stdout.write('%d\\n' % i)\n\
             \x20   sys.stdout.flush()\n\
             \x20   time.sleep(0.01)\n\
             sys.stdout.write('end %d\\n' % i)\n\
             sys.stdout.flush()\n\
             time.sleep(1000)\n"
            ),
        );
        prepare(&svc.join("log"));
        write_script(&svc.join("log/run"), log_run);
        let mut cmd = tool("svscan");
        cmd.arg(tmp.path()).stdout(Stdio::null()).stderr(Stdio::null());
        let _scan = Spawned::start(cmd);
        let pid_file = svc.join("log/supervise/pid");
        let logger = || fs::read_to_string(&pid_file).ok()?.trim().parse::<i32>().ok();
        let (mut last, mut done) = (0, 0);
        let deadline = Instant::now() + limit;
        while done < kills {
            assert!(Instant::now() < deadline, "only {done} kills in time");
            match logger() {
                Some(pid) if pid != last => {
                    // Once it runs the logger (not supervise's child before
                    // exec), let it write a little, a different while each time.
                    let running = wait_until(Duration::from_secs(10), || {
                        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                            c.windows(program.len()).any(|w| w == program.as_bytes())
                        })
                    });
                    last = pid;
                    if running {
                        std::thread::sleep(pause(done));
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        done += 1;
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        fs::write(tmp.path().join(".stop"), b"").unwrap();
        let main = svc.join("log/main");
        // Each line without its stamp and prefix, or None if cut.
        let lines = |bytes: &[u8]| -> Vec<Option<String>> {
            bytes
                .split_inclusive(|&b| b == b'\n')
                .map(|line| {
                    let body = line.strip_suffix(b"\n")?.get(skip..)?;
                    Some(String::from_utf8_lossy(body).into_owned())
                })
                .collect()
        };
        let mut end = None;
        let found = wait_until(Duration::from_secs(60), || {
            end = lines(&all_of(&main))
                .into_iter()
                .flatten()
                .find_map(|l| l.strip_prefix("end ")?.parse::<usize>().ok());
            end.is_some()
        });
        if !found {
            let all = all_of(&main);
            panic!(
                "no end line in the log after 60 s; it ends with {:?}; pending: {:?}",
                String::from_utf8_lossy(&all[all.len().saturating_sub(400)..]),
                fs::read_to_string(main.join("pending")),
            );
        }
        let end = end.unwrap();
        let mut seen = vec![0u32; end + 1];
        // Only `@` files and `current`: `pending` (the exactly-once note),
        // `lock`, `config` and `state` are left out.
        let mut files = archived(&main);
        files.push(main.join("current"));
        let mut report = KilledLogger {
            end,
            lost: Vec::new(),
            doubled: Vec::new(),
            cut: 0,
            odd: Vec::new(),
            files: files.len(),
            unfinished: files.iter().filter(|f| f.to_string_lossy().ends_with(".u")).count(),
            context: String::new(),
        };
        // The files in order, as one stream: a rotation may split a line
        // between two files (svlogd with a small `s`). Read until two reads
        // agree: the logger may still rotate after the end line, between
        // listing the `@` files and reading `current`.
        let mut all = all_of(&main);
        let settled = wait_until(Duration::from_secs(10), || {
            let again = all_of(&main);
            std::mem::replace(&mut all, again) == all
        });
        assert!(settled, "the log directory keeps changing");
        for line in lines(&all) {
            match line {
                None => report.cut += 1,
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if (1..=end).contains(&n) => seen[n] += 1,
                    _ if text.starts_with("end ") => {}
                    _ => report.odd.push(text),
                },
            }
        }
        report.lost = (1..=end).filter(|&n| seen[n] == 0).collect();
        report.doubled = (1..=end).filter(|&n| seen[n] > 1).collect();
        if let Some(&n) = report.lost.first().or(report.doubled.first()) {
            let near = |text: &str| {
                let words: Vec<String> = (n.saturating_sub(1)..=n + 1)
                    .flat_map(|k| [format!(":{k}\n"), format!(" {k}\n")])
                    .collect();
                words.iter().any(|w| text.contains(w.as_str()))
            };
            for f in &files {
                let text = String::from_utf8_lossy(&fs::read(f).unwrap_or_default()).into_owned();
                if near(&text) {
                    report.context +=
                        &format!("{}: {text:?}\n", f.file_name().unwrap().to_string_lossy());
                }
            }
        }
        report
    }
}
