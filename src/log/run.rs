//! The logger's main loop, shared by `multilog` and `svlogd`: read (or
//! peek at) standard input, feed the engine, write, rotate, and take the
//! input off the pipe only once it is written.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::dir::{LogDir, Style, warn};
use super::engine::{Engine, Sink, Stop, find_newline};
use super::once::{Note, NoteFile, Peeker, hash, is_pipe};
use crate::event_loop::EventLoop;
use crate::fail::Failure;
use crate::sys::signal::Received;
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
    let events = EventLoop::new(&catch).map_err(|e| Failure::sys("catch signals", &e))?;
    let stdin = io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin);
    let mut logger = Logger::new(style, engine, Outputs { dirs, status, udp: None }, reload, fd);
    logger.recover(fd);
    logger.start()?;
    logger.serve(fd, &events)
}

struct Logger<'a> {
    style: Style,
    /// SIGHUP came: reload at the next line end.
    hup: bool,
    reload: Option<Reload<'a>>,
    engine: Engine,
    out: Outputs,
    once: Option<(Peeker, NoteFile)>,
    exiting: bool,
}

fn now() -> Tai64N {
    Tai64N::now()
}

/// How much of the input looked at to take now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// The first n bytes.
    Bytes(usize),
    /// None yet: a line's head is still coming.
    Wait,
}

/// What to take of `input` (at most a chunk, at the head of stdin).
/// After SIGTERM (`exiting`), the rest of the line being read and no more.
/// When peeking (exactly-once), whole lines, so a killed logger leaves no
/// line half taken; the head of a line not all there yet
/// (`head_coming`) is waited for rather than decided on a part.
fn take(input: &[u8], exiting: bool, peeking: bool, head_coming: bool) -> Take {
    if exiting {
        return Take::Bytes(find_newline(input).map_or(input.len(), |nl| nl + 1));
    }
    if !peeking {
        return Take::Bytes(input.len());
    }
    match input.iter().rposition(|&b| b == b'\n') {
        Some(nl) => Take::Bytes(nl + 1),
        None if head_coming => Take::Wait,
        None => Take::Bytes(input.len()),
    }
}

/// Waiting for a line's head: at most 100 looks (10 ms apart) while the
/// bytes there do not grow, then it is taken as it is.
#[derive(Debug, Default)]
struct HeadWait {
    looks: u32,
    len: usize,
}

impl HeadWait {
    /// `len` bytes of the head are there: whether to wait again.
    fn again(&mut self, len: usize) -> bool {
        if len != self.len {
            *self = HeadWait { looks: 0, len };
        }
        self.looks += 1;
        self.looks < 100
    }
}

impl<'a> Logger<'a> {
    /// A logger on `fd`, exactly-once if it is a pipe (the note in the
    /// first directory).
    fn new(
        style: Style,
        engine: Engine,
        out: Outputs,
        reload: Option<Reload<'a>>,
        fd: BorrowedFd<'_>,
    ) -> Logger<'a> {
        let mut once = None;
        if is_pipe(fd) && !out.dirs.is_empty() {
            if let (Ok(peeker), Ok(note)) =
                (Peeker::new(fd), NoteFile::open(&out.dirs[0].current().path("pending")))
            {
                once = Some((peeker, note));
            }
        }
        Logger { style, engine, out, once, exiting: false, hup: false, reload }
    }

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

    /// Read, write and rotate until end of input or SIGTERM.
    fn serve(&mut self, fd: BorrowedFd<'_>, events: &EventLoop) -> Result<(), Failure> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut head_wait = HeadWait::default();
        // A line has begun in the pipe but is not taken yet.
        let mut partial = false;
        loop {
            self.take_signals(events.take_pending());
            if self.hup && self.engine.at_line_start() {
                self.reload()?;
            }
            if self.exiting && self.engine.at_line_start() && !partial {
                break;
            }
            let timeout = self.rotate_old();
            let deadline = timeout.map(|ms| Instant::now() + Duration::from_millis(ms.into()));
            let Ok(woken) = events.wait(&[Some(fd)], deadline) else { continue };
            // A signal that came with the input (its handler may have run
            // after poll looked at the self-pipe) is taken first.
            if woken.signalled() {
                self.take_signals(woken.signals());
                continue;
            }
            if !woken.ready(0) {
                continue;
            }
            let hup = woken.hung_up(0);
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
            let head_coming = self.engine.at_line_start() && n < self.engine.head_limit() && !hup;
            let len = match take(&buf[..n], self.exiting, self.once.is_some(), head_coming) {
                Take::Wait if head_wait.again(n) => {
                    partial = true;
                    // Up to 10 ms, less if a signal comes.
                    let soon = Instant::now() + Duration::from_millis(10);
                    if let Ok(woken) = events.wait(&[], Some(soon)) {
                        self.take_signals(woken.signals());
                    }
                    continue;
                }
                Take::Wait => n,
                Take::Bytes(len) => len,
            };
            head_wait = HeadWait::default();
            partial = !self.exiting && len < n;
            // After SIGTERM, the rest of a plain read is lost, as with
            // multilog; a peeked rest stays in the pipe.
            self.process(fd, &buf[..len]);
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

    fn take_signals(&mut self, got: Received) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::dir::multilog::MultilogDir;
    use crate::log::dir::svlogd::SvlogdDir;
    use crate::log::dir::testing::{archived, mode};
    use crate::log::dir::{Current, Style};
    use crate::log::engine::Midline;
    use crate::log::script::{self, DirSpec};
    use std::ffi::OsString;
    use std::fs;
    use std::os::fd::{AsFd, OwnedFd};
    use std::path::Path;

    /// multilog's engine and directories for `args` (directories as
    /// absolute paths).
    fn multilog(args: &[&Path]) -> (Engine, Vec<Box<dyn LogDir>>) {
        let args: Vec<OsString> = args.iter().map(|p| p.as_os_str().to_owned()).collect();
        let script = script::parse(&args);
        let dirs = script
            .dirs
            .iter()
            .map(|spec| Box::new(MultilogDir::open(spec).unwrap()) as Box<dyn LogDir>)
            .collect();
        (Engine::new(&script), dirs)
    }

    fn logger<'a>(
        (engine, dirs): (Engine, Vec<Box<dyn LogDir>>),
        fd: BorrowedFd<'_>,
        reload: Option<Reload<'a>>,
    ) -> Logger<'a> {
        let out = Outputs { dirs, status: Vec::new(), udp: None };
        let mut logger = Logger::new(Style::Multilog, engine, out, reload, fd);
        logger.recover(fd);
        logger.start().unwrap();
        logger
    }

    /// A pipe holding `bytes`, its write end kept open.
    fn pipe_with(bytes: &[u8]) -> (OwnedFd, OwnedFd) {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, bytes).unwrap();
        (r, w)
    }

    /// What is left in the pipe.
    fn left(r: &OwnedFd, w: OwnedFd) -> Vec<u8> {
        drop(w);
        let mut out = Vec::new();
        io::Read::read_to_end(&mut File::from(r.try_clone().unwrap()), &mut out).unwrap();
        out
    }

    #[test]
    fn what_is_taken_of_the_input() {
        let input = b"one\ntwo\nthr";
        assert_eq!(take(input, false, false, false), Take::Bytes(11), "plain reads take all");
        assert_eq!(take(input, false, true, true), Take::Bytes(8), "peeking takes whole lines");
        assert_eq!(take(input, true, true, false), Take::Bytes(4), "after TERM, one line");
        assert_eq!(take(input, true, false, false), Take::Bytes(4));
        assert_eq!(take(b"thr", true, false, false), Take::Bytes(3));
        assert_eq!(take(b"thr", false, true, true), Take::Wait);
        assert_eq!(take(b"thr", false, true, false), Take::Bytes(3), "a head all there is taken");
        assert_eq!(take(b"thr", false, false, true), Take::Bytes(3));
    }

    #[test]
    fn a_head_is_waited_for_while_it_grows() {
        let mut wait = HeadWait::default();
        assert!((0..99).all(|_| wait.again(5)));
        assert!(!wait.again(5), "the 100th look at the same bytes takes them");
        assert!(wait.again(6), "more came: wait again");
        assert!((0..98).all(|_| wait.again(6)));
        assert!(!wait.again(6));
    }

    #[test]
    fn a_batch_leaves_the_pipe_once_written() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        let (r, w) = pipe_with(b"one\ntwo\nthr");
        let mut logger = logger(multilog(&[&main]), r.as_fd(), None);
        assert!(logger.once.is_some(), "a pipe is peeked at");
        logger.process(r.as_fd(), b"one\ntwo\n");
        assert_eq!(fs::read(main.join("current")).unwrap(), b"one\ntwo\n");
        assert_eq!(fs::read(main.join("pending")).unwrap()[0], b'd', "the note is done");
        assert_eq!(left(&r, w), b"thr");
    }

    #[test]
    fn recovery_cuts_current_back_to_a_batch_still_in_the_pipe() {
        for (batch, cut) in [(&b"c\nd\n"[..], true), (b"x\ny\n", false)] {
            let tmp = tempfile::tempdir().unwrap();
            let main = tmp.path().join("main");
            fs::create_dir(&main).unwrap();
            fs::write(main.join("current"), b"a\nb\nc\n").unwrap();
            let midline = Some(Midline::selected(vec![true]));
            let note = Note { len: 4, hash: hash(batch), midline, after: None, sizes: vec![4] };
            fs::write(main.join("pending"), note.encode()).unwrap();
            let (r, _w) = pipe_with(b"c\nd\ne\n");
            let logger = logger(multilog(&[&main]), r.as_fd(), None);
            let (_, note_file) = logger.once.as_ref().unwrap();
            // The logger died: its current is saved, cut back to where a
            // batch still in the pipe began, whole if the batch was taken.
            let old = archived(&main);
            let want: &[u8] = if cut { b"a\nb\n" } else { b"a\nb\nc\n" };
            assert_eq!(fs::read(main.join(&old[0])).unwrap(), want);
            if cut {
                assert_eq!(note_file.pending(), Some(note), "kept for a second kill");
                assert_eq!(logger.engine.line_state(), Some(Midline::selected(vec![true])));
            } else {
                assert_eq!(note_file.pending(), None);
                assert!(logger.engine.at_line_start());
            }
        }
    }

    #[test]
    fn end_of_input_completes_the_last_line_and_current() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        let input = File::open("/dev/null").unwrap();
        let mut logger = logger(multilog(&[&main]), input.as_fd(), None);
        assert!(logger.once.is_none(), "only a pipe is peeked at");
        logger.process(input.as_fd(), b"one\npar");
        logger.finish();
        assert_eq!(fs::read(main.join("current")).unwrap(), b"one\npar\n");
        assert_eq!(mode(&main.join("current")), 0o744);
    }

    #[test]
    fn reload_closes_every_directory_and_starts_the_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let reload = || Ok(multilog(&[&b]));
        let (r, w) = pipe_with(b"one\ntwo\n");
        let mut logger = logger(multilog(&[&a]), r.as_fd(), Some(&reload));
        logger.process(r.as_fd(), b"one\n");
        logger.hup = true;
        logger.reload().unwrap();
        assert!(!logger.hup);
        assert_eq!(mode(&a.join("current")), 0o744, "closed");
        logger.process(r.as_fd(), b"two\n");
        assert_eq!(fs::read(a.join("current")).unwrap(), b"one\n");
        assert_eq!(fs::read(b.join("current")).unwrap(), b"two\n");
        assert_eq!(fs::read(b.join("pending")).unwrap()[0], b'd', "the note moved along");
        assert!(left(&r, w).is_empty());
    }

    #[test]
    fn datagrams_go_to_their_address_or_back_to_current() {
        let tmp = tempfile::tempdir().unwrap();
        let collector = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut outputs = Outputs { dirs: Vec::new(), status: Vec::new(), udp: None };
        for udp in [collector.local_addr().unwrap(), "255.255.255.255:9".parse().unwrap()] {
            let path = tmp.path().join(outputs.dirs.len().to_string());
            fs::create_dir(&path).unwrap();
            let current = Current::lock(&path, Style::Svlogd { verbose: false }).unwrap();
            let spec = DirSpec { path, udp: Some(udp), ..DirSpec::default() };
            outputs.dirs.push(Box::new(SvlogdDir::new(current, spec)));
        }
        assert_eq!(outputs.send(0, b"hello\n"), Ok(()));
        let mut got = [0u8; 16];
        let (n, _) = collector.recv_from(&mut got).unwrap();
        assert_eq!(&got[..n], b"hello\n");
        assert_eq!(
            outputs.send(1, b"lost\n"),
            Err(&b"warning: failure sending through udp: "[..]),
            "no broadcast without SO_BROADCAST"
        );
    }
}
