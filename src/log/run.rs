//! The logger's main loop, shared by `multilog` and `svlogd`: read (or
//! peek at) standard input, feed the engine, write, rotate, and take the
//! input off the pipe only once it is written.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use super::dir::{LogDir, Style, warn};
use super::engine::{Engine, Sink, Stop, find_newline};
use super::once::{Note, NoteFile, Peeker, hash, is_pipe};
use crate::fail::Failure;
use crate::sys::SelfPipe;
use crate::tai64::Tai64N;

/// Bytes taken from stdin at a time (a quarter of the pipe: smaller buffers
/// measured faster than 1 MiB and keep the resident size low).
const CHUNK: usize = 1 << 18;

/// Rebuild the engine and directories (svlogd's SIGHUP).
pub type Reload<'a> = &'a dyn Fn() -> Result<(Engine, Vec<Box<dyn LogDir>>), Failure>;

/// Run a logger until end of input or SIGTERM. `dirs` are locked but not
/// started; `status` are the open `=FILE` files. With `reload`, SIGHUP
/// closes every directory at the next line end and calls it.
pub fn run(
    style: Style,
    engine: Engine,
    dirs: Vec<Box<dyn LogDir>>,
    status: Vec<File>,
    reload: Option<Reload<'_>>,
) -> Result<(), Failure> {
    let mut catch = vec![Signal::SIGALRM, Signal::SIGTERM];
    if reload.is_some() {
        catch.push(Signal::SIGHUP);
    }
    if style != Style::Multilog {
        // svlogd's processors run in the background.
        catch.push(Signal::SIGCHLD);
    }
    let signals = SelfPipe::catch(&catch).map_err(|e| Failure::sys("catch signals", &e))?;
    let stdin = io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin);
    let mut once = None;
    if is_pipe(fd) && !dirs.is_empty() {
        if let (Ok(peeker), Ok(note)) =
            (Peeker::new(fd), NoteFile::open(&dirs[0].current().path("pending")))
        {
            once = Some((peeker, note));
        }
    }
    let mut logger = Logger {
        style,
        engine,
        out: Outputs { dirs, status, udp: None },
        signals,
        once,
        exiting: false,
        hup: false,
        reload,
    };
    logger.recover(fd);
    logger.start()?;
    logger.run(fd)
}

struct Logger<'a> {
    style: Style,
    /// SIGHUP came: reload at the next line end.
    hup: bool,
    reload: Option<Reload<'a>>,
    engine: Engine,
    out: Outputs,
    signals: SelfPipe,
    once: Option<(Peeker, NoteFile)>,
    exiting: bool,
}

fn now() -> Tai64N {
    Tai64N::now()
}

impl Logger<'_> {
    /// A note left by a killed logger: if its bytes are still at the head
    /// of stdin, cut `current` back to where they started, so they are
    /// written (once) again.
    fn recover(&mut self, fd: BorrowedFd<'_>) {
        let Some((peeker, note_file)) = &mut self.once else {
            return;
        };
        let Some(note) = note_file.pending() else {
            return;
        };
        if note.sizes.len() == self.out.dirs.len() && note.len as usize <= peeker.capacity {
            let mut buf = Vec::new();
            let same = note.len == 0
                || matches!(peeker.peek(fd, &mut buf, note.len as usize), Ok(n) if n as u64 == note.len)
                    && hash(&buf) == note.hash;
            if same {
                for (dir, &size) in self.out.dirs.iter().zip(&note.sizes) {
                    if dir.current().size().is_ok_and(|len| len > size) {
                        let _ = dir.current().truncate(size);
                    }
                }
                // The note stays true until the next batch replaces it,
                // for a logger killed again before that.
                if let Some(line) = note.midline {
                    self.engine.resume_body(line);
                }
                return;
            }
            // Not the same: the batch was taken, so go on from after it.
            let sizes = self.out.dirs.iter().map(|d| d.current().size().unwrap_or(0)).collect();
            if let Some(taken) = note.taken(sizes) {
                if note_file.write(&taken).is_ok() {
                    if let Some(line) = taken.midline {
                        self.engine.resume_body(line);
                    }
                    return;
                }
            }
        }
        let _ = note_file.done();
    }

    fn start(&mut self) -> Result<(), Failure> {
        for (i, dir) in self.out.dirs.iter_mut().enumerate() {
            let now = Instant::now();
            let size = dir.start()?;
            self.engine.started(i, size, now);
        }
        Ok(())
    }

    /// Close every directory and open them again with fresh settings.
    fn reload(&mut self) -> Result<(), Failure> {
        self.hup = false;
        let Some(reload) = self.reload else {
            return Ok(());
        };
        self.flush();
        for dir in &mut self.out.dirs {
            dir.close();
        }
        self.out.dirs.clear();
        let (engine, dirs) = reload()?;
        self.engine = engine;
        self.out.dirs = dirs;
        if let Some((_, note)) = &mut self.once {
            if let Some(first) = self.out.dirs.first() {
                if let Ok(fresh) = NoteFile::open(&first.current().path("pending")) {
                    *note = fresh;
                }
            }
        }
        self.start()
    }

    fn run(&mut self, fd: BorrowedFd<'_>) -> Result<(), Failure> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut waits = 0;
        let mut last_len = 0;
        // A line has begun in the pipe but is not taken yet.
        let mut partial = false;
        loop {
            self.take_signals();
            if self.hup && self.engine.at_line_start() {
                self.reload()?;
            }
            if self.exiting && self.engine.at_line_start() && !partial {
                break;
            }
            let timeout = self.rotate_old();
            let hup = match self.wait(fd, timeout) {
                Some(hup) => hup,
                None => continue,
            };
            let n = match &mut self.once {
                Some((peeker, _)) => match peeker.peek(fd, &mut buf, CHUNK) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        // tee(2) refused: read plainly from now on.
                        warn(self.style.prog(), "unable to peek at standard input, reading it", &e);
                        if let Some((_, note)) = &self.once {
                            let _ = note.done();
                        }
                        self.once = None;
                        continue;
                    }
                },
                None => {
                    buf.resize(CHUNK, 0);
                    match nix::unistd::read(fd, &mut buf) {
                        Ok(n) => {
                            buf.truncate(n);
                            n
                        }
                        Err(Errno::EINTR | Errno::EAGAIN) => continue,
                        Err(e) => {
                            warn(self.style.prog(), "unable to read standard input", &e.into());
                            break;
                        }
                    }
                }
            };
            if n == 0 {
                break;
            }
            let peeking = self.once.is_some();
            let mut len = n;
            if self.exiting {
                if let Some(nl) = find_newline(&buf[..n]) {
                    len = nl + 1;
                }
                partial = false;
            } else if peeking {
                match buf[..n].iter().rposition(|&b| b == b'\n') {
                    Some(nl) => len = nl + 1,
                    None if self.engine.at_line_start() && n < self.engine.head_limit() && !hup => {
                        // A line's head is still coming: wait for it
                        // rather than take a part of it.
                        if n != last_len {
                            waits = 0;
                            last_len = n;
                        }
                        waits += 1;
                        if waits < 100 {
                            partial = true;
                            self.wait_signal(10);
                            continue;
                        }
                    }
                    None => {}
                }
            }
            waits = 0;
            last_len = 0;
            if !self.exiting {
                partial = len < n;
            }
            self.process(fd, &buf[..len]);
            if !peeking && self.exiting {
                // Plain reads cannot give back the rest, as with multilog.
                continue;
            }
        }
        self.finish();
        Ok(())
    }

    /// Feed `data`, writing and (when peeking) consuming batch by batch.
    fn process(&mut self, fd: BorrowedFd<'_>, data: &[u8]) {
        let mut off = 0;
        loop {
            self.rotate_due();
            // Where the line stands, for the note (only when peeking).
            let before = self.once.as_ref().map(|_| {
                let midline = self.engine.line_state();
                let known = self.engine.at_line_start() || midline.is_some();
                (known, midline, self.engine.sizes())
            });
            let (used, stop) = self.engine.feed(&data[off..], &mut now);
            let batch = &data[off..off + used];
            let mut note = None;
            if let (Some((_, note_file)), Some((known, midline, sizes))) = (&self.once, before) {
                // Also with nothing used: the engine may have written the
                // rest of a head.
                if known {
                    let after = self.engine.line_state();
                    let pending =
                        Note { len: used as u64, hash: hash(batch), midline, after, sizes };
                    match note_file.write(&pending) {
                        Ok(()) => note = Some(pending),
                        Err(e) => warn(self.style.prog(), "unable to write pending note", &e),
                    }
                } else {
                    let _ = note_file.done();
                }
            }
            self.flush();
            if let Some((peeker, note_file)) = &mut self.once {
                // No fdatasync here: the page cache outlives a killed
                // logger, and syncing every batch would cost more than the
                // rest of the work (current is synced at rotation and exit).
                if used > 0 {
                    if let Err(e) = peeker.consume(fd, used) {
                        warn(self.style.prog(), "unable to read standard input", &e);
                    }
                }
                // Taken: a batch that ended inside a line leaves that line
                // noted for a logger killed before the next batch.
                let inside = note.filter(|n| n.after.is_some());
                match inside.and_then(|n| n.taken(self.engine.sizes())) {
                    Some(taken) => {
                        let _ = note_file.write(&taken);
                    }
                    None => {
                        let _ = note_file.done();
                    }
                }
            }
            off += used;
            if stop == Stop::Rotate {
                // Then what the engine still owes (the rest of a head a
                // rotation cut), even if no input is left to feed.
                self.rotate_due();
                continue;
            }
            if off >= data.len() {
                break;
            }
        }
    }

    fn rotate_due(&mut self) {
        for i in 0..self.out.dirs.len() {
            if self.engine.due(i) {
                self.rotate(i);
            }
        }
    }

    fn rotate(&mut self, i: usize) {
        self.flush();
        self.out.dirs[i].rotate(self.engine.size(i));
        self.engine.rotated(i);
    }

    /// Write out everything the engine produced.
    fn flush(&mut self) {
        self.engine.drain(&mut self.out);
    }

    fn take_signals(&mut self) {
        let got = self.signals.take();
        if got.has(Signal::SIGTERM) {
            self.style.info(|| "sigterm received.".into());
            self.exiting = true;
        }
        if got.has(Signal::SIGCHLD) {
            self.style.info(|| "sigchild received.".into());
            for dir in &mut self.out.dirs {
                dir.reap();
            }
        }
        if got.has(Signal::SIGHUP) {
            self.style.info(|| "sighangup received.".into());
            self.hup = true;
        }
        if got.has(Signal::SIGALRM) {
            self.style.info(|| "sigalarm received.".into());
            for i in self.engine.alarm() {
                self.rotate(i);
            }
        }
    }

    /// svlogd's `t`: rotate the directories the engine finds too old.
    /// How many milliseconds until the next deadline, if any.
    fn rotate_old(&mut self) -> Option<u16> {
        let (old, next) = self.engine.aged(Instant::now());
        for i in old {
            self.rotate(i);
        }
        next.map(|left| left.as_millis().clamp(1, u128::from(u16::MAX)) as u16)
    }

    /// Wait for input or a signal. Some(hangup) when stdin is ready, None
    /// when a signal came (or the wait was interrupted).
    fn wait(&self, fd: BorrowedFd<'_>, timeout: Option<u16>) -> Option<bool> {
        let mut fds =
            [PollFd::new(fd, PollFlags::POLLIN), PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        let timeout = timeout.map_or(PollTimeout::NONE, PollTimeout::from);
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(_) => return None,
        }
        // A signal whose handler ran after poll looked at the self-pipe
        // (input and signal came together) is taken before the input too.
        let sig = fds[1].revents().unwrap_or(PollFlags::empty());
        if !sig.is_empty() || self.signals.pending() {
            return None;
        }
        let ev = fds[0].revents().unwrap_or(PollFlags::empty());
        if ev.is_empty() {
            return None;
        }
        Some(
            ev.contains(PollFlags::POLLHUP)
                || ev.contains(PollFlags::POLLERR)
                || ev.contains(PollFlags::POLLNVAL),
        )
    }

    fn wait_signal(&self, ms: u16) {
        let mut fds = [PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }

    /// End of input (or SIGTERM at a line end): complete the last line,
    /// write everything, mark `current` complete.
    fn finish(&mut self) {
        loop {
            let stop = self.engine.finish(&mut now);
            self.flush();
            // A full `current` with nothing more to write stays `current`,
            // as svlogd leaves it (multilog always has a line end to write
            // or has rotated at the last one).
            match stop {
                Stop::Done => break,
                Stop::Rotate => self.rotate_due(),
                Stop::Flush => {}
            }
        }
        self.flush();
        for dir in &mut self.out.dirs {
            dir.close();
        }
        if let Some((_, note_file)) = &self.once {
            let _ = note_file.done();
        }
    }
}

/// Where the engine's output goes: the log directories, the `=FILE`
/// status files, standard error and svlogd's UDP socket.
struct Outputs {
    dirs: Vec<Box<dyn LogDir>>,
    status: Vec<File>,
    /// Socket for svlogd's `u`/`U`, opened when first needed.
    udp: Option<std::net::UdpSocket>,
}

impl Sink for Outputs {
    fn send(&mut self, dir: usize, datagram: &[u8]) -> Result<(), &'static [u8]> {
        let Some(addr) = self.dirs[dir].spec().udp else { return Ok(()) };
        if self.udp.is_none() {
            self.udp = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok();
        }
        match &self.udp {
            None => Err(b"warning: no udp socket available: "),
            Some(sock) if sock.send_to(datagram, addr).is_err() => {
                Err(b"warning: failure sending through udp: ")
            }
            Some(_) => Ok(()),
        }
    }

    fn alert(&mut self, text: &[u8]) {
        let _ = io::stderr().write_all(text);
    }

    fn status(&mut self, file: usize, contents: &[u8]) {
        let _ = self.status[file].write_all_at(contents, 0);
    }

    fn append(&mut self, dir: usize, at: u64, bytes: &[u8]) {
        self.dirs[dir].write(bytes, at);
    }
}
