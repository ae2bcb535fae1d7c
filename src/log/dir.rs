//! The I/O half for one log directory: `lock`, `current`, rotation with
//! fsync, the processor, old-file removal, and writes that are retried
//! (never dropped, never repeated) when the disk is full or a write fails.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::script::{self, DirSpec, Stamper};
use crate::errstr;
use crate::fail::{Context, Failure};

/// How long to wait before retrying a failed write, rename or processor.
pub const RETRY: Duration = Duration::from_secs(5);

/// Run `op` until it succeeds, warning about each failure and pausing.
pub fn retry<T>(tool: &str, what: &str, mut op: impl FnMut() -> io::Result<T>) -> T {
    loop {
        match op() {
            Ok(v) => return v,
            Err(err) => {
                let msg = format!(
                    "{tool}: warning: unable to {what}, pausing: {}\n",
                    errstr::io_str(&err)
                );
                let _ = io::stderr().write_all(msg.as_bytes());
                std::thread::sleep(RETRY);
            }
        }
    }
}

/// An open log directory.
pub struct LogDir {
    pub spec: DirSpec,
    tool: &'static str,
    /// How many `@` files to keep: `n - 1` for multilog, `n` for svlogd.
    keep: usize,
    /// When `current` was opened (for svlogd's `t`).
    pub opened: std::time::Instant,
    _lock: Flock<File>,
    current: File,
    /// Size of `current` including what is buffered in `out`.
    pub bytes: u64,
    /// Size of `current` on disk.
    pub written: u64,
    /// Output not yet written to `current`.
    pub out: Vec<u8>,
    note: Option<File>,
}

fn now_stamp() -> [u8; 26] {
    let t = crate::tai64::Tai64N::now();
    let mut out = [0; 26];
    Stamper::default().stamp(t.secs, t.nanos, &mut out);
    out
}

fn is_complete(path: &Path) -> Option<bool> {
    fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o100 != 0)
}

impl LogDir {
    /// Lock the directory, recover what a previous logger left, and open
    /// `current` for appending.
    pub fn open(spec: DirSpec, tool: &'static str) -> Result<LogDir, Failure> {
        let dir = spec.path.clone();
        let shown = dir.display().to_string();
        // As daemontools: make the directory if need be, then use it.
        let _ = fs::DirBuilder::new().mode(0o700).create(&dir);
        fs::read_dir(&dir).or_fail(format!("open directory {shown}"))?;
        let lock = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(dir.join("lock"))
            .or_fail(format!("open {shown}/lock"))?;
        let lock = Flock::lock(lock, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            Failure::sys(format!("lock directory {shown}"), &io::Error::from(e))
        })?;
        let keep = if tool == "svlogd" { spec.num } else { spec.num.saturating_sub(1) };
        let d = LogDir {
            spec,
            tool,
            keep,
            opened: std::time::Instant::now(),
            _lock: lock,
            current: File::open("/dev/null").or_fail("open /dev/null")?,
            bytes: 0,
            written: 0,
            out: Vec::with_capacity(1 << 17),
            note: None,
        };
        if tool == "multilog" && !d.path("state").exists() {
            let state = d.path("state");
            let what = format!("create {}", d.what("state"));
            retry(tool, &what, || File::create(&state).map(drop));
        }
        Ok(d)
    }

    /// Recover what a previous logger left and open `current`: a complete
    /// `current` (mode 0744) is appended to; an incomplete one (the logger
    /// died) becomes `@TAI64N.u`, as in daemontools.
    pub fn start(&mut self) {
        self.recover();
        self.open_current();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.spec.path.join(name)
    }

    fn what(&self, name: &str) -> String {
        format!("{}/{name}", self.spec.path.display())
    }

    fn recover(&mut self) {
        match is_complete(&self.path("processed")) {
            Some(true) => {
                let _ = fs::remove_file(self.path("previous"));
                self.finish("processed", 's');
            }
            Some(false) => {
                let _ = fs::remove_file(self.path("processed"));
            }
            None => {}
        }
        if is_complete(&self.path("previous")) == Some(true) && self.spec.processor.is_some() {
            self.process();
        }
        if is_complete(&self.path("current")) == Some(false) {
            self.finish("current", 'u');
        }
    }

    fn open_current(&mut self) {
        let path = self.path("current");
        let what = format!("open {}", self.what("current"));
        self.current = retry(self.tool, &what, || {
            let f = OpenOptions::new().append(true).create(true).mode(0o644).open(&path)?;
            f.set_permissions(fs::Permissions::from_mode(0o644))?;
            Ok(f)
        });
        self.opened = std::time::Instant::now();
        self.written = self.current.metadata().map(|m| m.len()).unwrap_or(0);
        self.bytes = self.written;
    }

    /// Rename `name` to a fresh `@TAI64N.code`, then remove old files.
    fn finish(&mut self, name: &str, code: char) {
        let from = self.path(name);
        let what = format!("rename {}", self.what(name));
        retry(self.tool, &what, || {
            let to = self.path(&script::finished_name(&now_stamp(), code));
            fs::rename(&from, to)
        });
        self.remove_old();
    }

    fn remove_old(&self) {
        let names: Vec<String> = match fs::read_dir(&self.spec.path) {
            Ok(rd) => rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
            Err(_) => return,
        };
        for name in script::to_delete(names, self.keep) {
            let _ = fs::remove_file(self.path(&name));
        }
    }

    /// `current` on disk is complete (mode 0744): rotate it.
    fn finish_current_file(&mut self) {
        if self.spec.processor.is_some() {
            let (from, to) = (self.path("current"), self.path("previous"));
            let what = format!("rename {}", self.what("current"));
            retry(self.tool, &what, || fs::rename(&from, &to));
            self.process();
        } else {
            self.finish("current", 's');
        }
    }

    /// Run the processor on `previous` until it succeeds.
    fn process(&mut self) {
        let prog = self.spec.processor.clone().unwrap_or_default();
        loop {
            match self.run_processor(&prog) {
                Ok(()) => break,
                Err(err) => {
                    let msg = format!(
                        "{}: warning: processor failed, pausing: {}: {}\n",
                        self.tool,
                        self.spec.path.display(),
                        err
                    );
                    let _ = io::stderr().write_all(msg.as_bytes());
                    std::thread::sleep(RETRY);
                }
            }
        }
        let _ = fs::rename(self.path("newstate"), self.path("state"));
        let _ = fs::remove_file(self.path("previous"));
        self.finish("processed", 's');
    }

    fn run_processor(&self, prog: &str) -> io::Result<()> {
        let input = File::open(self.path("previous"))?;
        let output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(self.path("processed"))?;
        // fd 4 = state, fd 5 = newstate, set up by the shell itself.
        let text = format!("exec 4<state 5>newstate || exit 111\n{prog}");
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(text)
            .current_dir(&self.spec.path)
            .stdin(Stdio::from(input))
            .stdout(Stdio::from(output.try_clone()?))
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("exit status {status}")));
        }
        output.sync_all()?;
        output.set_permissions(fs::Permissions::from_mode(0o744))?;
        Ok(())
    }

    /// Write everything buffered to `current`, retrying failures; bytes
    /// already written are never written again.
    pub fn flush(&mut self) {
        let mut done = 0;
        while done < self.out.len() {
            match self.current.write(&self.out[done..]) {
                Ok(0) => self.pause("write to", &io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    done += n;
                    self.written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.pause("write to", &e),
            }
        }
        self.out.clear();
    }

    fn pause(&self, what: &str, err: &io::Error) {
        let msg = format!(
            "{}: warning: unable to {what} {}, pausing: {}\n",
            self.tool,
            self.what("current"),
            errstr::io_str(err)
        );
        let _ = io::stderr().write_all(msg.as_bytes());
        std::thread::sleep(RETRY);
    }

    /// Flush, sync and mark `current` complete (mode 0744).
    pub fn complete(&mut self) {
        self.flush();
        let what = format!("fsync {}", self.what("current"));
        let cur = &self.current;
        retry(self.tool, &what, || cur.sync_all());
        let what = format!("set mode of {}", self.what("current"));
        retry(self.tool, &what, || cur.set_permissions(fs::Permissions::from_mode(0o744)));
    }

    /// Finish `current` and start a new one.
    pub fn rotate(&mut self) {
        self.complete();
        self.finish_current_file();
        self.open_current();
    }

    // --- the pending note, for exactly-once reading from a pipe ---

    fn note_file(&mut self) -> &File {
        if self.note.is_none() {
            let path = self.path("pending");
            let what = format!("open {}", self.what("pending"));
            let f = retry(self.tool, &what, || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&path)
            });
            self.note = Some(f);
        }
        self.note.as_ref().unwrap()
    }

    /// Record, before writing, that `len` input bytes with `hash` are about
    /// to be appended to `current` at its present size.
    pub fn note_writing(&mut self, len: u64, hash: u64) {
        let mut rec = [0u8; 25];
        rec[0] = b'w';
        rec[1..9].copy_from_slice(&self.written.to_be_bytes());
        rec[9..17].copy_from_slice(&len.to_be_bytes());
        rec[17..25].copy_from_slice(&hash.to_be_bytes());
        let what = format!("write {}", self.what("pending"));
        let tool = self.tool;
        let f = self.note_file();
        retry(tool, &what, || f.write_all_at(&rec, 0));
    }

    /// Record that the noted input was consumed.
    pub fn note_done(&mut self) {
        let what = format!("write {}", self.what("pending"));
        let tool = self.tool;
        let f = self.note_file();
        retry(tool, &what, || f.write_all_at(b"d", 0));
    }

    /// The note left by a logger that died between writing and consuming:
    /// (size of `current` before, input length, input hash).
    pub fn unfinished_note(&mut self) -> Option<(u64, u64, u64)> {
        let mut rec = [0u8; 25];
        let n = self.note_file().read_at(&mut rec, 0).ok()?;
        if n < 25 || rec[0] != b'w' {
            return None;
        }
        let get = |r: &[u8]| u64::from_be_bytes(r.try_into().unwrap());
        Some((get(&rec[1..9]), get(&rec[9..17]), get(&rec[17..25])))
    }

    /// Undo a partial or complete write of input that is still unread:
    /// cut `current` back to `size`.
    pub fn truncate_to(&mut self, size: u64) {
        let path = self.path("current");
        let what = format!("truncate {}", self.what("current"));
        retry(self.tool, &what, || match OpenOptions::new().write(true).open(&path) {
            Ok(f) if f.metadata()?.len() > size => f.set_len(size),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        });
    }
}

/// Replace `path` with `text` (the `=FILE` action), as daemontools does:
/// written in place from the start.
pub fn write_status(path: &Path, text: &[u8]) -> io::Result<()> {
    let f = OpenOptions::new().write(true).create(true).truncate(false).mode(0o644).open(path)?;
    f.write_all_at(text, 0)
}
