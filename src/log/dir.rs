//! A log directory on disk: `lock`, `current` (0644 while written, 0744
//! once complete), rotation into `@TAI64N.s`, an unfinished `current` saved
//! as `@TAI64N.u`, the `!processor` (old `state` on fd 4, `newstate` on
//! fd 5), removal of old files, and writes that pause and retry instead of
//! losing or doubling bytes.
//!
//! multilog and svlogd keep their directories alike but not the same, and
//! users see the difference, so each directory has a [`Style`]. multilog
//! (daemontools) creates the directory, links `current` to its new name and
//! runs the processor on `previous` while it waits. svlogd (runit) wants
//! the directory to exist, renames `current`, runs the processor in the
//! background on `@T.u` with output to `@T.t`, removes one old file per
//! rotation, deletes old files on a full disk down to `N`, and words its
//! messages as runit does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::engine::{excess, oldest};
use super::script::DirSpec;
use crate::errstr;
use crate::fail::Failure;
use crate::tai64::Tai64N;

/// Whose conventions a directory follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Multilog,
    /// runit's svlogd; `verbose` is `-v` (info messages).
    Svlogd {
        verbose: bool,
    },
}

impl Style {
    pub fn prog(self) -> &'static str {
        match self {
            Style::Multilog => "multilog",
            Style::Svlogd { .. } => "svlogd",
        }
    }

    /// svlogd's `-v` messages: `svlogd: info: MESSAGE`.
    pub fn info(self, message: impl FnOnce() -> String) {
        if self == (Style::Svlogd { verbose: true }) {
            let _ = io::stderr().write_all(format!("svlogd: info: {}\n", message()).as_bytes());
        }
    }

    /// The message before a pause: multilog's `multilog: warning: unable
    /// to WHAT in DIR, pausing: REASON` or runit's `svlogd: pausing:
    /// unable to WHAT: DIR: REASON`.
    fn pausing(self, what: &str, dir: &str, err: &io::Error) -> String {
        let reason = errstr::io_str(err);
        match self {
            Style::Multilog => {
                format!("multilog: warning: unable to {what} in {dir}, pausing: {reason}\n")
            }
            Style::Svlogd { .. } => format!("svlogd: pausing: unable to {what}: {dir}: {reason}\n"),
        }
    }
}

/// Print `PROG: warning: MESSAGE: REASON` on stderr.
pub fn warn(prog: &str, what: &str, err: &io::Error) {
    let line = format!("{prog}: warning: {what}: {}\n", errstr::io_str(err));
    let _ = io::stderr().write_all(line.as_bytes());
}

/// svlogd's processor at work on `@STEM.u`.
struct Running {
    child: Child,
    /// `@` and 24 hex digits.
    stem: String,
}

/// One open log directory.
pub struct LogDir {
    pub spec: DirSpec,
    /// The name printed in messages, as given on the command line.
    name: String,
    style: Style,
    _lock: Flock<File>,
    current: File,
    /// svlogd's processor, while it runs.
    processor: Option<Running>,
}

impl LogDir {
    /// Create the directory if needed and lock it (multilog). `current` is
    /// not yet looked at: call [`LogDir::start`] (after any exactly-once
    /// recovery).
    pub fn lock(spec: &DirSpec, style: Style) -> Result<LogDir, Failure> {
        let name = spec.path.display().to_string();
        match fs::DirBuilder::new().mode(0o700).create(&spec.path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(Failure::sys(format!("create directory {name}"), &err)),
        }
        Self::lock_existing(spec, style)
    }

    /// Lock an existing directory (svlogd does not create them). The
    /// failure's message is what svlogd prints as a warning.
    pub fn lock_existing(spec: &DirSpec, style: Style) -> Result<LogDir, Failure> {
        let name = spec.path.display().to_string();
        match fs::metadata(&spec.path) {
            Ok(meta) if !meta.is_dir() => {
                let err = io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(Failure::sys(format!("change directory: {name}"), &err));
            }
            Ok(_) => {}
            Err(err) => return Err(Failure::sys(format!("open log directory: {name}"), &err)),
        }
        let svlogd = style != Style::Multilog;
        let locked = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(spec.path.join("lock"))
            .and_then(|file| {
                Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
            });
        let lock = match locked {
            Ok(lock) => lock,
            Err(err) => {
                let sep = if svlogd { ":" } else { "" };
                return Err(Failure::temporary(format!(
                    "unable to lock directory{sep} {name}: {}",
                    errstr::io_str(&err)
                )));
            }
        };
        let current = open_current(&spec.path.join("current"))
            .map_err(|err| Failure::sys(format!("open current: {name}"), &err))?;
        Ok(LogDir { spec: spec.clone(), name, style, _lock: lock, current, processor: None })
    }

    fn path(&self, file: &str) -> PathBuf {
        self.spec.path.join(file)
    }

    /// Path of a file in the directory, for the exactly-once note.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path(name)
    }

    /// Size of `current` now.
    pub fn current_len(&self) -> io::Result<u64> {
        Ok(self.current.metadata()?.len())
    }

    /// Cut `current` back to `len` bytes (exactly-once recovery).
    pub fn truncate_current(&self, len: u64) -> io::Result<()> {
        self.current.set_len(len)
    }

    /// Look at `current` as the logger starts: keep a complete one (mode
    /// 0744) and append to it, save an incomplete one as `@TAI64N.u`.
    /// Returns the size of `current`.
    pub fn start(&mut self) -> Result<u64, Failure> {
        match self.style {
            Style::Multilog => self.start_multilog(),
            Style::Svlogd { .. } => self.start_svlogd(),
        }
        self.retry("set permissions on current", || {
            self.current.set_permissions(fs::Permissions::from_mode(0o644))
        });
        self.current
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Failure::sys(format!("stat {}/current", self.name), &e))
    }

    /// multilog also finishes an interrupted processor run and a rotation
    /// cut short, and keeps at most n-1 old files.
    fn start_multilog(&mut self) {
        if self.path("previous").exists() {
            if self.spec.processor.is_some() {
                self.process();
            } else {
                self.finish("previous", 'u');
            }
        }
        let _ = fs::remove_file(self.path("newstate"));
        if self.path("processed").exists() {
            let _ = fs::remove_file(self.path("processed"));
        }
        if !self.path("state").exists() {
            self.retry("create state", || {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(self.path("state"))
                    .map(drop)
            });
        }
        let meta = self.current.metadata();
        if meta.as_ref().is_ok_and(|m| m.nlink() > 1) {
            // A rotation was cut short after the link: the `@` file has
            // it all already.
            self.retry("remove current", || fs::remove_file(self.path("current")));
            self.current = self.reopen();
        } else if meta.is_ok_and(|m| m.len() > 0 && m.permissions().mode() & 0o100 == 0) {
            // Unfinished: whoever wrote it died.
            self.finish("current", 'u');
            self.current = self.reopen();
        }
        self.fit();
    }

    fn start_svlogd(&mut self) {
        let meta = self.current.metadata();
        if meta.is_ok_and(|m| m.len() > 0 && m.permissions().mode() & 0o100 == 0) {
            // Unfinished: whoever wrote it died.
            let saved = self.rename_current('u');
            self.current = self.reopen();
            self.remove_oldest(Some(&saved));
            self.style.info(|| format!("new: {}/current", self.name));
        } else {
            self.style.info(|| format!("append: {}/current", self.name));
        }
    }

    /// Append `bytes` to `current`, pausing and retrying on failure. `len`
    /// is the size of `current` before: after a failed write `current` is
    /// cut back to the last good size, so nothing is doubled.
    pub fn write(&mut self, bytes: &[u8], len: u64) {
        let mut done = 0;
        while done < bytes.len() {
            match (&self.current).write(&bytes[done..]) {
                Ok(0) => {
                    self.pause_write(len + done as u64, &io::Error::from_raw_os_error(libc::ENOSPC))
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => self.pause_write(len + done as u64, &err),
            }
        }
    }

    fn pause_write(&self, good: u64, err: &io::Error) {
        let _ = self.current.set_len(good);
        if err.raw_os_error() == Some(libc::ENOSPC) && self.make_room() {
            return;
        }
        let message = match self.style {
            Style::Multilog => format!(
                "multilog: warning: unable to write to {}/current, pausing: {}\n",
                self.name,
                errstr::io_str(err)
            ),
            Style::Svlogd { .. } => self.style.pausing("write to current", &self.name, err),
        };
        let _ = io::stderr().write_all(message.as_bytes());
        sleep(Duration::from_secs(1));
    }

    /// svlogd's `N` on a full disk: delete the oldest old file if more than
    /// `N` remain (and `N` is below `n`, as runit has it).
    fn make_room(&self) -> bool {
        if self.style == Style::Multilog || self.spec.min >= self.spec.num {
            return false;
        }
        let names = self.names();
        let (count, old) = oldest(&names, None);
        let Some(old) = old.filter(|_| count > self.spec.min) else {
            return false;
        };
        let old = String::from_utf8_lossy(old).into_owned();
        let line = format!("svlogd: warning: out of disk space, delete: {}/{old}\n", self.name);
        let _ = io::stderr().write_all(line.as_bytes());
        match fs::remove_file(self.path(&old)) {
            Ok(()) => true,
            Err(err) => {
                warn("svlogd", &format!("unable to unlink oldest logfile: {}", self.name), &err);
                false
            }
        }
    }

    fn names(&self) -> Vec<Vec<u8>> {
        match fs::read_dir(&self.spec.path) {
            Ok(entries) => {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().as_bytes().to_vec()).collect()
            }
            Err(err) => {
                let what = match self.style {
                    Style::Multilog => format!("unable to read directory {}", self.name),
                    Style::Svlogd { .. } => format!("unable to read directory: {}", self.name),
                };
                warn(self.style.prog(), &what, &err);
                Vec::new()
            }
        }
    }

    /// Flush `current` to disk (data only).
    pub fn sync_data(&self) {
        self.retry("fsync current", || self.current.sync_data());
    }

    /// Mark `current` complete (mode 0744), as at exit or svlogd's `HUP`;
    /// svlogd waits for its processor first.
    pub fn close(&mut self) {
        self.style.info(|| format!("close: {}", self.name));
        self.reap(true);
        self.complete_current();
    }

    fn complete_current(&self) {
        self.retry("fsync current", || self.current.sync_all());
        self.retry("set permissions on current", || {
            self.current.set_permissions(fs::Permissions::from_mode(0o744))
        });
    }

    /// `current` is full, old or `ALRM` came: make it an `@` file (through
    /// the processor if any) and start an empty one. `size` is its size.
    pub fn rotate(&mut self, size: u64) {
        match self.style {
            Style::Multilog => self.rotate_multilog(),
            Style::Svlogd { .. } => self.rotate_svlogd(size),
        }
    }

    fn rotate_multilog(&mut self) {
        self.complete_current();
        if self.spec.processor.is_some() {
            let (from, to) = (self.path("current"), self.path("previous"));
            self.retry("rename current to previous", || fs::rename(&from, &to));
            self.current = self.reopen();
            self.process();
        } else {
            self.finish("current", 's');
            self.current = self.reopen();
        }
        self.fit();
    }

    fn rotate_svlogd(&mut self, size: u64) {
        self.reap(true);
        self.complete_current();
        let code = if self.spec.processor.is_some() { 'u' } else { 's' };
        let saved = self.rename_current(code);
        self.style.info(|| format!("rename: {}/current {saved} {size}", self.name));
        self.current = self.reopen();
        self.remove_oldest(Some(&saved));
        if self.spec.processor.is_some() {
            self.start_processor(saved[..25].to_string());
        }
    }

    /// Rename `current` to a fresh `@TAI64N.CODE`; the new name.
    fn rename_current(&self, code: char) -> String {
        let name = loop {
            let name = format!("{}.{code}", stem());
            if !self.path(&name).exists() {
                break name;
            }
        };
        let (from, to) = (self.path("current"), self.path(&name));
        self.retry("rename current", || fs::rename(&from, &to));
        name
    }

    /// svlogd after a rotation: remove processor leftovers (`@*.t`) and, if
    /// more than `n` old files remain, the oldest (never `keep`).
    fn remove_oldest(&self, keep: Option<&str>) {
        let names = self.names();
        for name in names.iter().filter(|n| n.len() == 27 && n[0] == b'@' && n[26] == b't') {
            let name = String::from_utf8_lossy(name);
            if let Err(err) = fs::remove_file(self.path(&name)) {
                warn("svlogd", &format!("unable to unlink processor leftover: {name}"), &err);
            }
        }
        let (count, old) = oldest(&names, keep.map(str::as_bytes));
        if self.spec.num == 0 || count <= self.spec.num {
            return;
        }
        if let Some(old) = old {
            let old = String::from_utf8_lossy(old).into_owned();
            self.style.info(|| format!("delete: {}/{old}", self.name));
            if let Err(err) = fs::remove_file(self.path(&old)) {
                warn("svlogd", &format!("unable to unlink oldest logfile: {}", self.name), &err);
            }
        }
    }

    /// Start svlogd's processor on `@STEM.u`, writing `@STEM.t`.
    fn start_processor(&mut self, stem: String) {
        self.style.info(|| format!("processing: {}/{stem}.u", self.name));
        loop {
            match self.processor_command(&format!("{stem}.u"), &format!("{stem}.t")) {
                Ok(mut command) => match command.spawn() {
                    Ok(child) => {
                        self.processor = Some(Running { child, stem });
                        return;
                    }
                    Err(err) => {
                        let text = self.style.pausing("run processor", &self.name, &err);
                        let _ = io::stderr().write_all(text.as_bytes());
                    }
                },
                Err(err) => {
                    let text = self.style.pausing("open input for processor", &self.name, &err);
                    let _ = io::stderr().write_all(text.as_bytes());
                }
            }
            sleep(Duration::from_secs(1));
        }
    }

    /// Collect svlogd's processor if it ended (wait for it with `block`):
    /// on success `@T.t` becomes `@T.s` and `newstate` becomes `state`; on
    /// failure it runs again.
    pub fn reap(&mut self, block: bool) {
        while let Some(running) = self.processor.as_mut() {
            let status = if block {
                running.child.wait()
            } else {
                match running.child.try_wait() {
                    Ok(Some(status)) => Ok(status),
                    Ok(None) => return,
                    Err(err) => Err(err),
                }
            };
            let Ok(status) = status else { return };
            let stem = running.stem.clone();
            self.processor = None;
            let (t, s) = (format!("{stem}.t"), format!("{stem}.s"));
            if !status.success() {
                let line = format!("svlogd: warning: processor failed, restart: {}\n", self.name);
                let _ = io::stderr().write_all(line.as_bytes());
                let _ = fs::remove_file(self.path(&t));
                sleep(Duration::from_secs(1));
                self.start_processor(stem);
                if !block {
                    return;
                }
                continue;
            }
            self.sync_output(&t);
            self.retry("rename processed", || fs::rename(self.path(&t), self.path(&s)));
            if let Err(err) = fs::remove_file(self.path(&format!("{stem}.u"))) {
                warn("svlogd", &format!("unable to unlink: {}/{stem}.u", self.name), &err);
            }
            self.retry("rename state", || fs::rename(self.path("newstate"), self.path("state")));
            self.style.info(|| format!("processed: {}/{s}", self.name));
        }
    }

    /// multilog: run the processor on `previous` until it succeeds, then
    /// make `processed` an `@` file and `newstate` the new `state`.
    fn process(&self) {
        loop {
            let ok = self
                .processor_command("previous", "processed")
                .and_then(|mut command| command.status());
            match ok {
                Ok(status) if status.success() => break,
                Ok(_) => {
                    let line =
                        format!("multilog: warning: processor failed in {}, pausing\n", self.name);
                    let _ = io::stderr().write_all(line.as_bytes());
                }
                Err(err) => {
                    warn("multilog", &format!("unable to run processor in {}", self.name), &err)
                }
            }
            let _ = fs::remove_file(self.path("processed"));
            sleep(Duration::from_secs(5));
        }
        self.sync_output("processed");
        let _ = fs::remove_file(self.path("previous"));
        self.retry("rename newstate to state", || {
            fs::rename(self.path("newstate"), self.path("state"))
        });
        self.finish("processed", 's');
    }

    /// `sh -c PROCESSOR` in the directory: `input` on stdin, `output`
    /// (created afresh) on stdout, `state` on 4 (created if missing),
    /// `newstate` on 5.
    fn processor_command(&self, input: &str, output: &str) -> io::Result<Command> {
        let input = File::open(self.path(input))?;
        let output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(self.path(output))?;
        if !self.path("state").exists() {
            OpenOptions::new().append(true).create(true).mode(0o644).open(self.path("state"))?;
        }
        let mut script = b"exec 4<state 5>newstate || exit 111\n".to_vec();
        script.extend_from_slice(self.spec.processor.as_deref().unwrap_or_default());
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(std::ffi::OsString::from_vec(script))
            .current_dir(&self.spec.path)
            .stdin(Stdio::from(input))
            .stdout(Stdio::from(output));
        Ok(command)
    }

    /// fsync the processor's output and `newstate`; the output is complete
    /// (0744).
    fn sync_output(&self, output: &str) {
        self.retry(&format!("fsync {output}"), || {
            let f = OpenOptions::new().append(true).open(self.path(output))?;
            f.sync_all()?;
            f.set_permissions(fs::Permissions::from_mode(0o744))
        });
        self.retry("fsync newstate", || {
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open(self.path("newstate"))?
                .sync_all()
        });
    }

    /// multilog: give `file` a fresh `@TAI64N.CODE` name by linking, then
    /// unlink it, so that a kill in between loses nothing.
    fn finish(&self, file: &str, code: char) {
        let from = self.path(file);
        // Linked already by a run cut short before the unlink: do not
        // archive it twice.
        let linked = fs::metadata(&from).is_ok_and(|m| m.nlink() > 1);
        if !linked {
            loop {
                let name = format!("{}.{code}", stem());
                match fs::hard_link(&from, self.path(&name)) {
                    Ok(()) => break,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return,
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => {
                        warn(
                            "multilog",
                            &format!("unable to link {}/{file} to {name}, pausing", self.name),
                            &err,
                        );
                        sleep(Duration::from_secs(1));
                    }
                }
            }
        }
        self.retry(&format!("remove {file}"), || match fs::remove_file(&from) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        });
    }

    fn reopen(&self) -> File {
        let path = self.path("current");
        loop {
            match open_current(&path)
                .and_then(|f| f.set_permissions(fs::Permissions::from_mode(0o644)).map(|()| f))
            {
                Ok(f) => return f,
                Err(err) => {
                    let text = self.style.pausing("create new current", &self.name, &err);
                    let _ = io::stderr().write_all(text.as_bytes());
                    sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// multilog: delete the oldest `@` files so at most n-1 remain.
    fn fit(&self) {
        let names = self.names();
        for old in excess(&names, self.spec.num) {
            let path = self.spec.path.join(std::ffi::OsStr::from_bytes(old));
            if let Err(err) = fs::remove_file(&path) {
                warn("multilog", &format!("unable to remove {}", path.display()), &err);
            }
        }
    }

    /// Repeat `op` every second until it works, saying why each time.
    fn retry(&self, what: &str, mut op: impl FnMut() -> io::Result<()>) {
        while let Err(err) = op() {
            let _ = io::stderr().write_all(self.style.pausing(what, &self.name, &err).as_bytes());
            sleep(Duration::from_secs(1));
        }
    }
}

/// `@` and the TAI64N stamp of now.
fn stem() -> String {
    format!("@{}", String::from_utf8_lossy(&Tai64N::now().hex()))
}

/// Open `current` for appending, created 0644; an existing one keeps its
/// mode, which tells whether it was complete.
fn open_current(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o644).open(path)
}
