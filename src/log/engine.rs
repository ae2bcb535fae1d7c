//! The logger's main loop: read input, cut it into lines, run the script
//! on each line, and write the selected lines to their directories.
//!
//! # Exactly once, even under SIGKILL
//!
//! When standard input is a pipe (as under svscan, which holds the pipe
//! open across logger restarts), input is *peeked* with tee(2) into a
//! private pipe: the bytes stay in the input pipe while they are stamped
//! and written. A round is:
//!
//! 1. peek up to a pipe's worth of input; process the complete lines;
//! 2. in every directory, write a note to `pending`: `w`, the size of
//!    `current` before this round, the number N of input bytes the round
//!    covers and a hash of them;
//! 3. append the round's output to each `current`;
//! 4. read (consume) exactly N bytes from the input pipe;
//! 5. overwrite the note's first byte with `d` (done).
//!
//! Rotation happens only between rounds (after 5), so `current` is the
//! same file throughout a round. A logger killed anywhere in 2-5 leaves a
//! `w` note. Its successor peeks the head of the pipe: if at least N bytes
//! are there and their hash matches, the round's input was not consumed
//! (nobody else reads the pipe), so whatever reached `current` is cut back
//! to the noted size and the round is done again: no loss, no duplicate.
//! Otherwise the input was consumed after being completely written (step 4
//! follows step 3), so it is kept and the note marked done. The one
//! ambiguity is a kill between 4 and 5 followed by a next input of exactly
//! the same N bytes: then one copy of that identical chunk is written once
//! instead of twice. Data is in the page cache once write(2) returns, so a
//! killed process loses nothing it wrote; `current` is fsynced before each
//! rotation and at exit, as in daemontools.
//!
//! When standard input is not a pipe, input is read normally.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use super::dir::{self, LogDir};
use super::script::{self, Action, HEAD, Script, Stamper};
use crate::fail::{Context, Failure};
use crate::sys::SelfPipe;

const BUF: usize = 1 << 18;

/// The running logger.
pub struct Engine {
    tool: &'static str,
    script: Script,
    dirs: Vec<LogDir>,
    stamper: Stamper,
    /// Per directory: is the line in progress selected? `None` at a line
    /// start.
    midline: Option<Vec<bool>>,
    /// Latest `=FILE` contents per action, written at the end of a round.
    status: Vec<Option<Vec<u8>>>,
    alerts: Vec<u8>,
    /// Directories to rotate at the end of the round.
    rotate: Vec<bool>,
    simple: bool,
    selected: Vec<bool>,
    /// Rotate at a line end once `current` is within this many bytes of
    /// its size: 2000 for multilog, 0 for svlogd.
    slack: u64,
    udp: Option<std::net::UdpSocket>,
}

/// Cheap identification of a chunk of input: FNV-1a over its length and
/// at most 4 KiB at each end.
pub fn chunk_hash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    };
    for b in (data.len() as u64).to_be_bytes() {
        eat(b);
    }
    let n = data.len();
    if n <= 8192 {
        data.iter().for_each(|&b| eat(b));
    } else {
        data[..4096].iter().chain(&data[n - 4096..]).for_each(|&b| eat(b));
    }
    h
}

/// What stopped `process` early.
enum Stop {
    /// Everything processable is processed.
    Done,
    /// A directory must rotate before more is written.
    Rotate,
}

impl Engine {
    pub fn new(tool: &'static str, script: Script) -> Result<Engine, Failure> {
        let mut dirs = Vec::new();
        for spec in script.dirs.clone() {
            dirs.push(LogDir::open(spec, tool)?);
        }
        let simple = script.actions.iter().all(|a| matches!(a, Action::Dir(_)))
            && script.dirs.iter().all(|d| d.udp.is_none());
        let udp = if script.dirs.iter().any(|d| d.udp.is_some()) {
            Some(std::net::UdpSocket::bind("0.0.0.0:0").or_fail("create UDP socket")?)
        } else {
            None
        };
        let n = dirs.len();
        Ok(Engine {
            tool,
            status: vec![None; script.actions.len()],
            script,
            dirs,
            stamper: Stamper::default(),
            midline: None,
            alerts: Vec::new(),
            rotate: vec![false; n],
            simple,
            selected: vec![false; n],
            slack: if tool == "svlogd" { 0 } else { 2000 },
            udp,
        })
    }

    /// Process lines of `data` (which starts at a line start, or inside the
    /// line in progress); returns how many bytes were used.
    fn process(&mut self, data: &[u8], eof: bool) -> (usize, Stop) {
        let mut pos = 0;
        let mut head = Vec::new();
        while pos < data.len() {
            let rest = &data[pos..];
            let nl = memchr(b'\n', rest);
            if self.midline.is_none() {
                let line_len = match nl {
                    Some(i) => i,
                    None if eof || rest.len() >= HEAD => rest.len(),
                    None => return (pos, Stop::Done),
                };
                let mut stamp = [0u8; 32];
                let slen = if self.script.stamp == script::StampKind::None {
                    0
                } else {
                    let now = crate::tai64::Tai64N::now();
                    self.stamper.stamp_kind(self.script.stamp, now.secs, now.nanos, &mut stamp)
                };
                let stamp = &stamp[..slen];
                // Decide the selection for each directory.
                if self.simple {
                    self.selected.iter_mut().for_each(|s| *s = true);
                } else {
                    head.clear();
                    if self.script.match_stamp {
                        head.extend_from_slice(stamp);
                    }
                    let take = line_len.min(HEAD - head.len());
                    head.extend_from_slice(&rest[..take]);
                    let (sel, st, al) = (&mut self.selected, &mut self.status, &mut self.alerts);
                    script::select(
                        &self.script.actions,
                        &head,
                        |idx, action, selected| match action {
                            Action::Dir(d) => sel[*d] = selected,
                            Action::Alert if selected => script::alert_text(&head, al),
                            Action::Status(_) if selected => {
                                st[idx] = Some(script::status_text(&head))
                            }
                            _ => {}
                        },
                    );
                }
                // UDP copies (svlogd); directories that only send are
                // not written.
                for (d, dir) in self.dirs.iter().enumerate() {
                    if let (true, Some((addr, also))) = (self.selected[d], dir.spec.udp) {
                        let mut packet = dir.spec.prefix.clone();
                        packet.extend_from_slice(&rest[..line_len.min(HEAD)]);
                        packet.push(b'\n');
                        if let Some(sock) = &self.udp {
                            let _ = sock.send_to(&packet, addr);
                        }
                        if !also {
                            self.selected[d] = false;
                        }
                    }
                }
                // How much of the line fits in every selected directory?
                let complete = nl.is_some() || eof;
                let want = line_len + usize::from(complete);
                let mut fit = want;
                for (d, dir) in self.dirs.iter().enumerate() {
                    if self.selected[d] {
                        let room = script::room(dir.bytes, dir.spec.size) as usize;
                        fit = fit.min(room.saturating_sub(slen + dir.spec.prefix.len()));
                    }
                }
                if fit < want {
                    // Rotate first if any selected directory holds data;
                    // a line too long for an empty file is cut.
                    let mut any = false;
                    for (d, dir) in self.dirs.iter().enumerate() {
                        let room = script::room(dir.bytes, dir.spec.size) as usize;
                        let short = room < slen + dir.spec.prefix.len() + want;
                        if self.selected[d] && short && dir.bytes > 0 {
                            self.rotate[d] = true;
                            any = true;
                        }
                    }
                    if any {
                        return (pos, Stop::Rotate);
                    }
                    let body = fit.min(line_len);
                    for (d, dir) in self.dirs.iter_mut().enumerate() {
                        if self.selected[d] {
                            dir.out.extend_from_slice(stamp);
                            dir.out.extend_from_slice(&dir.spec.prefix);
                            dir.out.extend_from_slice(&rest[..body]);
                            dir.bytes += (slen + dir.spec.prefix.len() + body) as u64;
                            self.rotate[d] = script::room(dir.bytes, dir.spec.size) == 0;
                        }
                    }
                    self.midline = Some(self.selected.clone());
                    return (pos + body, Stop::Rotate);
                }
                let mut stop = false;
                for (d, dir) in self.dirs.iter_mut().enumerate() {
                    if self.selected[d] {
                        dir.out.extend_from_slice(stamp);
                        dir.out.extend_from_slice(&dir.spec.prefix);
                        dir.out.extend_from_slice(&rest[..line_len]);
                        if complete {
                            dir.out.push(b'\n');
                        }
                        dir.bytes += (slen + dir.spec.prefix.len() + want) as u64;
                        if complete
                            && script::full_at_line_end(dir.bytes, dir.spec.size, self.slack)
                        {
                            self.rotate[d] = true;
                            stop = true;
                        }
                    }
                }
                if !complete {
                    self.midline = Some(self.selected.clone());
                }
                pos += line_len + usize::from(nl.is_some());
                if stop {
                    return (pos, Stop::Rotate);
                }
            } else {
                // Inside a line whose selection is decided.
                let sel = self.midline.clone().unwrap_or_default();
                let line_len = nl.unwrap_or(rest.len());
                let complete = nl.is_some() || eof;
                let want = line_len + usize::from(complete);
                let mut fit = want;
                for (d, dir) in self.dirs.iter().enumerate() {
                    if sel[d] {
                        fit = fit.min(script::room(dir.bytes, dir.spec.size) as usize);
                    }
                }
                let body = fit.min(line_len);
                let ends = fit == want && complete;
                for (d, dir) in self.dirs.iter_mut().enumerate() {
                    if sel[d] {
                        dir.out.extend_from_slice(&rest[..body]);
                        dir.bytes += body as u64;
                        if ends {
                            dir.out.push(b'\n');
                            dir.bytes += 1;
                        }
                        if script::room(dir.bytes, dir.spec.size) == 0
                            || (ends
                                && script::full_at_line_end(dir.bytes, dir.spec.size, self.slack))
                        {
                            self.rotate[d] = true;
                        }
                    }
                }
                pos += body;
                if ends {
                    self.midline = None;
                    pos += usize::from(nl.is_some());
                }
                if self.rotate.iter().any(|&r| r) {
                    return (pos, Stop::Rotate);
                }
            }
        }
        (pos, Stop::Done)
    }

    /// Write the round's output everywhere (retrying failures).
    fn flush(&mut self) {
        for dir in &mut self.dirs {
            dir.flush();
        }
        if !self.alerts.is_empty() {
            let _ = io::stderr().write_all(&self.alerts);
            self.alerts.clear();
        }
        for (i, a) in self.script.actions.iter().enumerate() {
            if let (Action::Status(path), Some(text)) = (a, self.status[i].take()) {
                let what = format!("write {}", path.display());
                dir::retry(self.tool, &what, || dir::write_status(path, &text));
            }
        }
    }

    fn rotate_pending(&mut self, all: bool) {
        for (d, dir) in self.dirs.iter_mut().enumerate() {
            if self.rotate[d] || (all && dir.bytes > 0) {
                dir.rotate();
            }
            self.rotate[d] = false;
        }
    }

    fn finish(&mut self) {
        // A last line without newline gets one.
        if let Some(sel) = self.midline.take() {
            for (d, dir) in self.dirs.iter_mut().enumerate() {
                if sel[d] {
                    dir.out.push(b'\n');
                    dir.bytes += 1;
                }
            }
        }
        self.flush();
        for dir in &mut self.dirs {
            dir.complete();
        }
    }

    /// Run until end of input or SIGTERM.
    pub fn run(mut self) -> Result<i32, Failure> {
        let signals =
            SelfPipe::catch(&[Signal::SIGALRM, Signal::SIGTERM]).or_fail("catch signals")?;
        let stdin = io::stdin();
        let input = stdin.as_fd();
        let is_pipe = nix::sys::stat::fstat(input)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
            .unwrap_or(false);
        let peek = if is_pipe { Some(self.recover(input)?) } else { None };
        for dir in &mut self.dirs {
            dir.start();
        }
        let mut buf = vec![0u8; BUF];
        let mut have = 0;
        let mut eof = false;
        let mut terminating = false;
        let mut wait_more = false;
        loop {
            let mut fds = [
                PollFd::new(input, PollFlags::POLLIN),
                PollFd::new(signals.fd(), PollFlags::POLLIN),
            ];
            let timeouts = self.dirs.iter().any(|d| d.spec.timeout.is_some());
            if wait_more {
                // Only an unfinished line is in the pipe, and poll would
                // report it readable at once: look again in a while.
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let timeout = if timeouts { PollTimeout::from(1000u16) } else { PollTimeout::NONE };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Failure::sys("poll", &io::Error::from(e))),
            }
            let hup = fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP));
            let readable = fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP));
            let got = signals.take();
            if got.has(Signal::SIGALRM) {
                self.flush();
                self.rotate_pending(true);
            }
            if timeouts && self.midline.is_none() {
                let mut due = false;
                for (d, dir) in self.dirs.iter().enumerate() {
                    if let Some(t) = dir.spec.timeout {
                        if dir.bytes > 0 && dir.opened.elapsed().as_secs() >= t {
                            self.rotate[d] = true;
                            due = true;
                        }
                    }
                }
                if due {
                    self.flush();
                    self.rotate_pending(false);
                }
            }
            if got.has(Signal::SIGTERM) {
                terminating = true;
            }
            if terminating && self.midline.is_none() && (peek.is_some() || have == 0) {
                break;
            }
            if !readable {
                continue;
            }
            // Fill the buffer.
            match &peek {
                Some((pr, pw)) => {
                    let n = match nix::fcntl::tee(input, pw, BUF, SpliceFFlags::SPLICE_F_NONBLOCK) {
                        Ok(n) => n,
                        Err(nix::errno::Errno::EAGAIN) => continue,
                        Err(e) => return Err(Failure::sys("read input", &io::Error::from(e))),
                    };
                    if n == 0 {
                        eof = true;
                    }
                    have = 0;
                    while have < n {
                        match nix::unistd::read(pr, &mut buf[have..n]) {
                            Ok(k) => have += k,
                            Err(nix::errno::Errno::EINTR) => {}
                            Err(e) => return Err(Failure::sys("read input", &io::Error::from(e))),
                        }
                    }
                    if hup && n > 0 && have < HEAD && memchr(b'\n', &buf[..have]).is_none() {
                        // No writer left and a short unterminated tail: the
                        // last line. (A longer one is written as a partial
                        // line, and the next look sees the end.)
                        eof = true;
                    }
                }
                None => match nix::unistd::read(input, &mut buf[have..]) {
                    Ok(0) => eof = true,
                    Ok(k) => have += k,
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                    Err(e) => return Err(Failure::sys("read input", &io::Error::from(e))),
                },
            }
            // Rounds over the buffer.
            let mut start = 0;
            loop {
                let (used, stop) = self.process(&buf[start..have], eof);
                if let Some((_, _)) = &peek {
                    let hash = chunk_hash(&buf[start..start + used]);
                    if used > 0 {
                        for dir in &mut self.dirs {
                            dir.note_writing(used as u64, hash);
                        }
                    }
                    self.flush();
                    if used > 0 {
                        consume(input, used)?;
                        for dir in &mut self.dirs {
                            dir.note_done();
                        }
                    }
                } else {
                    self.flush();
                }
                start += used;
                match stop {
                    Stop::Rotate => self.rotate_pending(false),
                    Stop::Done => break,
                }
            }
            wait_more = start == 0 && !eof && peek.is_some();
            if peek.is_some() {
                have = 0;
            } else {
                buf.copy_within(start..have, 0);
                have -= start;
            }
            if eof {
                break;
            }
        }
        self.finish();
        Ok(0)
    }

    /// Set up peeking, and settle what a killed predecessor left.
    fn recover(&mut self, input: BorrowedFd<'_>) -> Result<(OwnedFd, OwnedFd), Failure> {
        let (pr, pw) = nix::unistd::pipe2(OFlag::O_CLOEXEC).or_fail("create pipe")?;
        let _ = fcntl(input, FcntlArg::F_SETPIPE_SZ(BUF as i32));
        let _ = fcntl(&pw, FcntlArg::F_SETPIPE_SZ(BUF as i32));
        let mut scratch = vec![0u8; BUF];
        for dir in &mut self.dirs {
            let Some((size, len, hash)) = dir.unfinished_note() else { continue };
            // Peek what is at the head of the pipe now, without waiting.
            let n = nix::fcntl::tee(input, &pw, len as usize, SpliceFFlags::SPLICE_F_NONBLOCK)
                .unwrap_or(0);
            let mut got = 0;
            while got < n {
                match nix::unistd::read(&pr, &mut scratch[got..n]) {
                    Ok(k) if k > 0 => got += k,
                    _ => break,
                }
            }
            if got as u64 == len && chunk_hash(&scratch[..got]) == hash {
                dir.truncate_to(size);
            }
            dir.note_done();
        }
        Ok((pr, pw))
    }
}

fn consume(input: BorrowedFd<'_>, mut n: usize) -> Result<(), Failure> {
    let mut sink = [0u8; 65536];
    while n > 0 {
        let want = n.min(sink.len());
        match nix::unistd::read(input, &mut sink[..want]) {
            Ok(0) => break,
            Ok(k) => n -= k,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Failure::sys("read input", &io::Error::from(e))),
        }
    }
    Ok(())
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tells_chunks_apart() {
        assert_ne!(chunk_hash(b"1\n2\n"), chunk_hash(b"1\n3\n"));
        assert_ne!(chunk_hash(b"a"), chunk_hash(b"aa"));
        let big = vec![b'x'; 100_000];
        assert_eq!(chunk_hash(&big), chunk_hash(&big.clone()));
    }
}
