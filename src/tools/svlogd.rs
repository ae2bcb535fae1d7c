//! `svlogd`: runit's service logging daemon. Reads lines on standard input
//! and appends the selected ones to one or more automatically rotated log
//! directories, each with its own `config` (size, number of files, age,
//! processor, patterns, prefix, UDP). `HUP` rereads the configs, `ALRM`
//! rotates, `TERM` or end of input ends. See `docs/svlogd.md`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use crate::fail::Failure;
use crate::log::svlogd_config::{
    OptError, Options, Stamp, USAGE, parse_options, replace, select, utc_stamp,
};
use crate::log::svlogd_dir::{SvDir, info};
use crate::sys::SelfPipe;
use crate::tai64::Tai64N;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let opts = match parse_options(&args) {
        Ok(opts) => opts,
        Err(err) => {
            let mut text = String::new();
            match err {
                OptError::Illegal(c) => text.push_str(&format!("svlogd: illegal option -- {c}\n")),
                OptError::Missing(c) => {
                    text.push_str(&format!("svlogd: option requires an argument -- {c}\n"))
                }
                OptError::Usage => {}
            }
            text.push_str(USAGE);
            return Err(Failure::bare(111, text));
        }
    };
    let signals =
        SelfPipe::catch(&[Signal::SIGHUP, Signal::SIGALRM, Signal::SIGTERM, Signal::SIGCHLD])
            .map_err(|err| Failure::sys("catch signals", &err))?;
    let mut logger = Logger { dirs: open_all(&opts)?, opts, pending: Vec::new(), long: None };
    let stdin = io::stdin();
    let mut buf = vec![0u8; logger.opts.buflen.max(4096)];
    loop {
        let now = Instant::now();
        for dir in &mut logger.dirs {
            if dir.due(now) {
                dir.rotate();
            }
        }
        let timeout = logger
            .dirs
            .iter()
            .filter_map(|d| d.rotate_at)
            .min()
            .map(|at| {
                let ms = at.saturating_duration_since(Instant::now()).as_millis() + 1;
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            })
            .unwrap_or(PollTimeout::NONE);
        let input_ready = {
            let mut fds = [
                PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(err) => return Err(Failure::sys("poll", &io::Error::from(err))),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            ready(&fds[0])
        };
        // A signal caught while poll found input ready only shows in the
        // pending set: look at it every time, before the input.
        let got = signals.take();
        {
            if got.has(Signal::SIGCHLD) {
                info(logger.opts.verbose, "sigchild received.");
                for dir in &mut logger.dirs {
                    dir.wait_processor(false);
                }
            }
            if got.has(Signal::SIGTERM) {
                info(logger.opts.verbose, "sigterm received.");
                logger.finish();
                return Ok(0);
            }
            if got.has(Signal::SIGHUP) {
                info(logger.opts.verbose, "sighangup received.");
                for dir in logger.dirs.drain(..) {
                    dir.close();
                }
                logger.dirs = open_all(&logger.opts)?;
                if let Some(sel) = &logger.long {
                    if sel.len() != logger.dirs.len() {
                        logger.long = Some(vec![false; logger.dirs.len()]);
                    }
                }
            }
            if got.has(Signal::SIGALRM) {
                info(logger.opts.verbose, "sigalarm received.");
                for dir in &mut logger.dirs {
                    dir.rotate();
                }
            }
        }
        if input_ready {
            let n = match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                Err(err) => return Err(Failure::sys("read standard input", &io::Error::from(err))),
            };
            if n == 0 {
                logger.finish();
                return Ok(0);
            }
            logger.feed(&buf[..n]);
        }
    }
}

/// Open every directory; fatal if none works.
fn open_all(opts: &Options) -> Result<Vec<SvDir>, Failure> {
    let dirs: Vec<SvDir> =
        opts.dirs.iter().filter_map(|name| SvDir::open(name, opts.linemax, opts.verbose)).collect();
    if dirs.is_empty() {
        return Err(Failure::temporary("no functional log directories."));
    }
    Ok(dirs)
}

struct Logger {
    opts: Options,
    dirs: Vec<SvDir>,
    /// The start of a line not yet decided (shorter than `-l`, no newline).
    pending: Vec<u8>,
    /// A line longer than `-l` being copied: which directories take the rest.
    long: Option<Vec<bool>>,
}

impl Logger {
    fn feed(&mut self, data: &[u8]) {
        let linemax = self.opts.linemax;
        let mut pos = 0;
        while pos < data.len() {
            let avail = &data[pos..];
            if let Some(sel) = self.long.take() {
                let (part, ends) = match avail.iter().position(|&b| b == b'\n') {
                    Some(nl) => (&avail[..=nl], true),
                    None => (avail, false),
                };
                pos += part.len();
                let mut part = part.to_vec();
                if let Some(with) = self.opts.replace {
                    let body = part.len() - usize::from(ends);
                    replace(&mut part[..body], with, &self.opts.replace_set);
                }
                for (dir, &on) in self.dirs.iter_mut().zip(&sel) {
                    if on {
                        dir.write(&part);
                    }
                }
                if !ends {
                    self.long = Some(sel);
                }
                continue;
            }
            let want = linemax - self.pending.len();
            let look = &avail[..avail.len().min(want)];
            if let Some(nl) = look.iter().position(|&b| b == b'\n') {
                self.pending.extend_from_slice(&look[..nl]);
                pos += nl + 1;
                self.line(true);
            } else if look.len() == want {
                self.pending.extend_from_slice(look);
                pos += want;
                self.line(false);
            } else {
                self.pending.extend_from_slice(look);
                pos = data.len();
            }
        }
    }

    /// Decide the pending line (`complete`: its newline was seen; else it
    /// is `-l` long and its rest follows).
    fn line(&mut self, complete: bool) {
        let mut head = std::mem::take(&mut self.pending);
        if let Some(with) = self.opts.replace {
            replace(&mut head, with, &self.opts.replace_set);
        }
        let stamp = stamp(self.opts.stamp);
        let mut sel = vec![false; self.dirs.len()];
        for (i, dir) in self.dirs.iter_mut().enumerate() {
            let (log, err) = select(&dir.config.insts, &head);
            let mut out = stamp.clone().into_bytes();
            out.extend_from_slice(&dir.config.prefix);
            out.extend_from_slice(&head);
            let mut short = out.clone();
            short.extend_from_slice(if complete { b"\n" } else { b"...\n" });
            if err {
                let _ = io::stderr().write_all(&short);
            }
            if log {
                dir.send(&short);
                if !dir.config.udp_only || dir.udp.is_none() {
                    if complete {
                        out.push(b'\n');
                    }
                    dir.write(&out);
                    sel[i] = true;
                }
            }
        }
        if !complete {
            self.long = Some(sel);
        }
    }

    /// End of input or `TERM`: end a long line, drop an undecided one,
    /// close every directory.
    fn finish(&mut self) {
        if let Some(sel) = self.long.take() {
            for (dir, &on) in self.dirs.iter_mut().zip(&sel) {
                if on {
                    dir.write(b"\n");
                }
            }
        }
        for dir in self.dirs.drain(..) {
            dir.close();
        }
    }
}

/// The time stamp for a line, with its trailing space.
fn stamp(kind: Stamp) -> String {
    let now = SystemTime::now();
    match kind {
        Stamp::None => String::new(),
        Stamp::Tai64n => {
            format!("@{} ", String::from_utf8_lossy(&Tai64N::from_system(now).hex()))
        }
        Stamp::Utc | Stamp::Iso => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let sep = if kind == Stamp::Utc { '_' } else { 'T' };
            utc_stamp(since.as_secs() as i64, since.subsec_nanos(), sep)
        }
    }
}
