//! A log directory on disk, as both loggers keep it: `lock` (held),
//! `current` (0644 while written, 0744 once complete) written by appends
//! that pause and retry instead of losing or doubling bytes, the
//! `!processor` run by `sh -c` (old `state` on fd 4, `newstate` on fd 5),
//! and the [`LogDir`] the loop drives.
//!
//! multilog and svlogd keep their directories alike but not the same, and
//! users see the difference: [`multilog`] (daemontools) creates the
//! directory, links `current` to its new name and runs the processor on
//! `previous` while it waits; [`svlogd`] (runit) wants the directory to
//! exist, renames `current`, runs the processor in the background, removes
//! one old file per rotation and old files on a full disk down to `N`.
//! Each words its messages as the original does ([`Style`]).

pub mod multilog;
pub mod svlogd;

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::script::DirSpec;
use crate::errstr;
use crate::fail::Failure;
use crate::spawn::{Child, ChildSpec};
use crate::tai64::Tai64N;

/// Whose words a logger's messages are in.
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

    /// The pause after a failed write to `current`.
    fn write_pausing(self, dir: &str, err: &io::Error) -> String {
        match self {
            Style::Multilog => format!(
                "multilog: warning: unable to write to {dir}/current, pausing: {}\n",
                errstr::io_str(err)
            ),
            Style::Svlogd { .. } => self.pausing("write to current", dir, err),
        }
    }

    /// A directory that could not be listed.
    fn unlisted(self, dir: &str) -> String {
        match self {
            Style::Multilog => format!("unable to read directory {dir}"),
            Style::Svlogd { .. } => format!("unable to read directory: {dir}"),
        }
    }

    /// A directory locked by another logger (or not lockable).
    fn unlocked(self, dir: &str, err: &io::Error) -> String {
        let sep = if self == Style::Multilog { "" } else { ":" };
        format!("unable to lock directory{sep} {dir}: {}", errstr::io_str(err))
    }
}

/// Print `PROG: warning: MESSAGE: REASON` on stderr.
pub fn warn(prog: &str, what: &str, err: &io::Error) {
    let line = format!("{prog}: warning: {what}: {}\n", errstr::io_str(err));
    let _ = io::stderr().write_all(line.as_bytes());
}

/// What the loop does with a log directory; each logger keeps its own
/// kind ([`multilog::MultilogDir`], [`svlogd::SvlogdDir`]).
pub trait LogDir {
    /// The directory's lock and `current`.
    fn current(&self) -> &Current;

    /// The directory's settings.
    fn spec(&self) -> &DirSpec;

    /// Look at `current` as the logger starts (after any exactly-once
    /// recovery): keep a complete one (mode 0744) and append to it, save
    /// an incomplete one. Returns the size of `current`.
    fn start(&mut self) -> Result<u64, Failure>;

    /// Append `bytes` to `current`, which holds `at` bytes before them.
    fn write(&mut self, bytes: &[u8], at: u64) {
        self.current().write(bytes, at, || false);
    }

    /// `current` is full, old or `ALRM` came: make it an `@` file (through
    /// the processor if any) and start an empty one. `size` is its size.
    fn rotate(&mut self, size: u64);

    /// Mark `current` complete (mode 0744), as at exit or svlogd's `HUP`.
    fn close(&mut self);

    /// Collect a processor running in the background, if it ended.
    fn reap(&mut self) {}
}

/// A locked log directory's `current`, and what both loggers do in the
/// directory.
pub struct Current {
    dir: PathBuf,
    /// The name printed in messages, as given on the command line.
    name: String,
    style: Style,
    _lock: Flock<File>,
    file: File,
}

impl Current {
    /// Create the directory if needed (mode 0700) and lock it (multilog).
    pub fn create(dir: &Path, style: Style) -> Result<Current, Failure> {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(Failure::sys(format!("create directory {}", dir.display()), &err));
            }
        }
        Current::lock(dir, style)
    }

    /// Lock an existing directory and open `current` (svlogd does not
    /// create directories). The failure's message is what svlogd prints as
    /// a warning.
    pub fn lock(dir: &Path, style: Style) -> Result<Current, Failure> {
        let name = dir.display().to_string();
        match fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                let err = io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(Failure::sys(format!("change directory: {name}"), &err));
            }
            Ok(_) => {}
            Err(err) => return Err(Failure::sys(format!("open log directory: {name}"), &err)),
        }
        let locked = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(dir.join("lock"))
            .and_then(|file| {
                Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
            });
        let lock = locked.map_err(|err| Failure::temporary(style.unlocked(&name, &err)))?;
        let file = open_current(&dir.join("current"))
            .map_err(|err| Failure::sys(format!("open current: {name}"), &err))?;
        Ok(Current { dir: dir.to_path_buf(), name, style, _lock: lock, file })
    }

    /// Path of a file in the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The directory's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// Size of `current` on disk now.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Cut `current` back to `len` bytes (exactly-once recovery).
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        self.file.metadata()
    }

    /// Whether whoever wrote `current` died before completing it: it has
    /// bytes but not the complete mode (0744).
    pub fn unfinished(&self) -> bool {
        self.metadata().is_ok_and(|m| m.len() > 0 && m.permissions().mode() & 0o100 == 0)
    }

    /// Writing begins: `current` is 0644 until complete. Its size.
    pub fn begin(&self) -> Result<u64, Failure> {
        self.retry("set permissions on current", || {
            self.file.set_permissions(fs::Permissions::from_mode(0o644))
        });
        self.size().map_err(|e| Failure::sys(format!("stat {}/current", self.name), &e))
    }

    /// Append `bytes` to `current`, pausing and retrying on failure. `at`
    /// is the size of `current` before: after a failed write `current` is
    /// cut back to the last good size, so nothing is doubled. On a full
    /// disk `make_room` may delete something (then the write is retried at
    /// once).
    pub fn write(&self, bytes: &[u8], at: u64, make_room: impl Fn() -> bool) {
        let mut done = 0;
        while done < bytes.len() {
            let err = match (&self.file).write(&bytes[done..]) {
                Ok(0) => io::Error::from_raw_os_error(libc::ENOSPC),
                Ok(n) => {
                    done += n;
                    continue;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => err,
            };
            let _ = self.file.set_len(at + done as u64);
            if err.raw_os_error() == Some(libc::ENOSPC) && make_room() {
                continue;
            }
            let _ = io::stderr().write_all(self.style.write_pausing(&self.name, &err).as_bytes());
            sleep(Duration::from_secs(1));
        }
    }

    /// Make `current` complete: on disk, mode 0744.
    pub fn complete(&self) {
        self.retry("fsync current", || self.file.sync_all());
        self.retry("set permissions on current", || {
            self.file.set_permissions(fs::Permissions::from_mode(0o744))
        });
    }

    /// Open a new, empty `current` (0644) after the old one got its name.
    pub fn reopen(&mut self) {
        let path = self.path("current");
        self.file = loop {
            match open_current(&path)
                .and_then(|f| f.set_permissions(fs::Permissions::from_mode(0o644)).map(|()| f))
            {
                Ok(f) => break f,
                Err(err) => {
                    let text = self.style.pausing("create new current", &self.name, &err);
                    let _ = io::stderr().write_all(text.as_bytes());
                    sleep(Duration::from_secs(1));
                }
            }
        };
    }

    /// The names of the directory's files (none, with a warning, if it
    /// cannot be read).
    pub fn names(&self) -> Vec<Vec<u8>> {
        match fs::read_dir(&self.dir) {
            Ok(entries) => {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().as_bytes().to_vec()).collect()
            }
            Err(err) => {
                warn(self.style.prog(), &self.style.unlisted(&self.name), &err);
                Vec::new()
            }
        }
    }

    /// `sh -c PROCESSOR` in the directory: `input` on stdin, `output`
    /// (created afresh) on stdout, `state` on 4 (created if missing),
    /// `newstate` on 5.
    pub fn processor(&self, processor: &[u8], input: &str, output: &str) -> io::Result<Processor> {
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
        script.extend_from_slice(processor);
        Ok(Processor {
            input,
            output,
            script: std::ffi::OsString::from_vec(script),
            dir: self.dir.clone(),
        })
    }

    /// fsync the processor's output and `newstate`; the output is complete
    /// (0744).
    pub fn sync_output(&self, output: &str) {
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

    /// Repeat `op` every second until it works, saying why each time.
    pub fn retry(&self, what: &str, mut op: impl FnMut() -> io::Result<()>) {
        while let Err(err) = op() {
            let _ = io::stderr().write_all(self.style.pausing(what, &self.name, &err).as_bytes());
            sleep(Duration::from_secs(1));
        }
    }
}

/// `@` and the TAI64N stamp of now: an old file's name without its code.
pub fn stem() -> String {
    format!("@{}", String::from_utf8_lossy(&Tai64N::now().hex()))
}

/// Open `current` for appending, created 0644; an existing one keeps its
/// mode, which tells whether it was complete.
fn open_current(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o644).open(path)
}

/// What the tests of the directories and the loop look at.
/// A processor ready to start: its input and output open.
pub struct Processor {
    input: File,
    output: File,
    script: std::ffi::OsString,
    dir: PathBuf,
}

impl Processor {
    pub fn spawn(&self) -> io::Result<Child> {
        let argv = vec!["/bin/sh".into(), "-c".into(), self.script.clone()];
        ChildSpec::with_argv("/bin/sh", argv)
            .cwd(&self.dir)
            .fd(self.input.as_fd(), 0)
            .fd(self.output.as_fd(), 1)
            .spawn()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// The `@` files of a directory, sorted (oldest first).
    pub fn archived(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('@'))
            .collect();
        names.sort();
        names
    }

    /// Write a file with that mode.
    pub fn put(path: &Path, bytes: &[u8], mode: u32) {
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{archived, mode};
    use super::*;

    #[test]
    fn one_logger_per_directory_each_in_its_words() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let held = Current::create(&dir, Style::Multilog).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let shown = dir.display();
        let refused = Current::lock(&dir, Style::Multilog).err().unwrap();
        assert_eq!(refused.code, 111);
        assert!(refused.message.starts_with(&format!("unable to lock directory {shown}: ")));
        let refused = Current::lock(&dir, Style::Svlogd { verbose: false }).err().unwrap();
        assert!(refused.message.starts_with(&format!("unable to lock directory: {shown}: ")));
        drop(held);
        Current::lock(&dir, Style::Svlogd { verbose: false }).unwrap();
    }

    #[test]
    fn a_file_or_nothing_is_no_log_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        let style = Style::Svlogd { verbose: false };
        let refused = Current::lock(&file, style).err().unwrap();
        assert!(refused.message.starts_with("unable to change directory: "), "{refused:?}");
        let refused = Current::lock(&tmp.path().join("none"), style).err().unwrap();
        assert!(refused.message.starts_with("unable to open log directory: "), "{refused:?}");
        assert!(!tmp.path().join("none").exists(), "svlogd creates no directory");
    }

    #[test]
    fn current_is_unfinished_until_completed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = Current::create(tmp.path(), Style::Multilog).unwrap();
        let path = dir.path("current");
        assert_eq!(mode(&path), 0o644);
        assert!(!dir.unfinished(), "an empty current is not unfinished");
        dir.write(b"one\n", 0, || unreachable!("room is asked for only on a full disk"));
        dir.write(b"two\n", 4, || false);
        assert!(dir.unfinished());
        dir.complete();
        assert_eq!(mode(&path), 0o744);
        assert!(!dir.unfinished());
        assert_eq!(dir.begin().unwrap(), 8, "writing goes on after a complete current");
        assert_eq!(mode(&path), 0o644);
        dir.truncate(4).unwrap();
        assert_eq!(dir.size().unwrap(), 4);
        fs::rename(&path, dir.path("@old")).unwrap();
        dir.reopen();
        assert_eq!((dir.size().unwrap(), mode(&path)), (0, 0o644));
        dir.write(b"three\n", 0, || false);
        assert_eq!(fs::read(&path).unwrap(), b"three\n");
        assert_eq!(fs::read(dir.path("@old")).unwrap(), b"one\n");
        assert_eq!(archived(tmp.path()), vec!["@old".to_string()]);
    }

    #[test]
    fn processor_reads_state_and_writes_newstate() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Current::create(tmp.path(), Style::Multilog).unwrap();
        fs::write(dir.path("in"), b"abc\n").unwrap();
        let script = b"tr a-z A-Z; cat <&4 >&5; echo more >&5";
        let status = dir.processor(script, "in", "out").unwrap().spawn().unwrap().wait().unwrap();
        assert!(status.success());
        assert_eq!(fs::read(dir.path("out")).unwrap(), b"ABC\n");
        assert_eq!(fs::read(dir.path("state")).unwrap(), b"", "state is created empty");
        assert_eq!(fs::read(dir.path("newstate")).unwrap(), b"more\n");
        assert_eq!(mode(&dir.path("out")), 0o644);
        dir.sync_output("out");
        assert_eq!(mode(&dir.path("out")), 0o744);
        let err = dir.processor(script, "missing", "out").err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn names_are_the_files_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Current::create(tmp.path(), Style::Multilog).unwrap();
        let mut names = dir.names();
        names.sort();
        assert_eq!(names, vec![b"current".to_vec(), b"lock".to_vec()]);
        assert_eq!(stem().len(), 25);
        assert!(stem().starts_with("@4000"));
    }
}
