//! A log directory on disk: `lock`, `current`, rotation into `@TAI64N.s`,
//! recovery of an unfinished `current` as `@TAI64N.u`, the `!processor`,
//! and writes that pause and retry instead of losing or doubling bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::engine::excess;
use super::script::DirSpec;
use crate::errstr;
use crate::fail::Failure;
use crate::tai64::Tai64N;

/// Print `PROG: warning: MESSAGE: REASON` on stderr.
pub fn warn(prog: &str, what: &str, err: &io::Error) {
    let line = format!("{prog}: warning: {what}: {}\n", errstr::io_str(err));
    let _ = io::stderr().write_all(line.as_bytes());
}

/// One open log directory.
pub struct LogDir {
    pub spec: DirSpec,
    /// The name printed in messages, as given on the command line.
    name: String,
    prog: &'static str,
    _lock: Flock<File>,
    current: File,
    /// When `current` was begun (for svlogd's maximum age).
    pub begun: std::time::Instant,
}

impl LogDir {
    /// Create the directory if needed and lock it. `current` is not yet
    /// looked at: call [`LogDir::start`] (after any exactly-once recovery).
    pub fn lock(spec: &DirSpec, prog: &'static str) -> Result<LogDir, Failure> {
        let name = spec.path.display().to_string();
        match fs::DirBuilder::new().mode(0o700).create(&spec.path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(Failure::sys(format!("create directory {name}"), &err)),
        }
        Self::lock_existing(spec, prog)
    }

    /// Lock an existing directory (svlogd does not create them). The error
    /// is the message svlogd prints as a warning.
    pub fn lock_existing(spec: &DirSpec, prog: &'static str) -> Result<LogDir, Failure> {
        let name = spec.path.display().to_string();
        if let Err(err) = fs::read_dir(&spec.path) {
            return Err(Failure::sys(format!("open log directory: {name}"), &err));
        }
        let lock_file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(spec.path.join("lock"))
            .map_err(|err| Failure::sys(format!("open {name}/lock"), &err))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            let sep = if prog == "svlogd" { ":" } else { "" };
            Failure::temporary(format!(
                "unable to lock directory{sep} {name}: {}",
                errstr::nix_str(e)
            ))
        })?;
        let current = open_current(&spec.path.join("current"))
            .map_err(|err| Failure::sys(format!("open {name}/current"), &err))?;
        Ok(LogDir {
            spec: spec.clone(),
            name,
            prog,
            _lock: lock,
            current,
            begun: std::time::Instant::now(),
        })
    }

    fn path(&self, file: &str) -> PathBuf {
        self.spec.path.join(file)
    }

    /// Size of `current` now.
    pub fn current_len(&self) -> io::Result<u64> {
        Ok(self.current.metadata()?.len())
    }

    /// Cut `current` back to `len` bytes (exactly-once recovery).
    pub fn truncate_current(&self, len: u64) -> io::Result<()> {
        self.current.set_len(len)
    }

    /// Start-up as multilog does it: finish an interrupted processor run,
    /// keep a complete `current` (mode 0744) and append to it, save an
    /// incomplete one as `@TAI64N.u`. Returns the size of `current`.
    pub fn start(&mut self) -> Result<u64, Failure> {
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
        if (self.prog == "multilog" || self.spec.processor.is_some())
            && !self.path("state").exists()
        {
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
        let meta = self
            .current
            .metadata()
            .map_err(|e| Failure::sys(format!("stat {}/current", self.name), &e))?;
        if meta.nlink() > 1 {
            // A rotation was cut short after the link: the `@` file has
            // it all already.
            self.retry("remove current", || fs::remove_file(self.path("current")));
            self.current = self.reopen();
        } else if meta.len() > 0 && meta.permissions().mode() & 0o100 == 0 {
            // Unfinished: whoever wrote it died.
            self.finish("current", 'u');
            self.current = self.reopen();
        }
        self.retry("set permissions on current", || {
            self.current.set_permissions(fs::Permissions::from_mode(0o644))
        });
        self.fit();
        self.current
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Failure::sys(format!("stat {}/current", self.name), &e))
    }

    /// Append `bytes` to `current`, pausing a second and retrying on
    /// failure. `len` is the size of `current` before: after a failed write
    /// `current` is cut back to the last good size, so nothing is doubled.
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
        if err.raw_os_error() == Some(libc::ENOSPC) && self.spec.min > 0 && self.drop_oldest() {
            return;
        }
        warn(self.prog, &format!("unable to write to {}/current, pausing", self.name), err);
        sleep(Duration::from_secs(1));
    }

    /// svlogd's `N`: delete the oldest `@` file if more than `min` remain.
    fn drop_oldest(&self) -> bool {
        let names = self.names();
        let keep = self.spec.min + 1;
        match excess(&names, keep).first() {
            Some(old) => {
                use std::os::unix::ffi::OsStrExt;
                let path = self.spec.path.join(std::ffi::OsStr::from_bytes(old));
                let line =
                    format!("{}: warning: disk full, removing {}\n", self.prog, path.display());
                let _ = io::stderr().write_all(line.as_bytes());
                fs::remove_file(path).is_ok()
            }
            None => false,
        }
    }

    fn names(&self) -> Vec<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        match fs::read_dir(&self.spec.path) {
            Ok(entries) => {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().as_bytes().to_vec()).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Flush `current` to disk (data only).
    pub fn sync_data(&self) {
        self.retry("fsync current", || self.current.sync_data());
    }

    /// Mark `current` complete (mode 0744), as at exit.
    pub fn close(&self) {
        self.retry("fsync current", || self.current.sync_all());
        self.retry("set permissions on current", || {
            self.current.set_permissions(fs::Permissions::from_mode(0o744))
        });
    }

    /// `current` is full: make it an `@` file (through the processor if
    /// any) and start an empty one.
    pub fn rotate(&mut self) {
        self.begun = std::time::Instant::now();
        self.close();
        if self.spec.processor.is_some() && self.prog == "svlogd" {
            self.process_runit();
        } else if self.spec.processor.is_some() {
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

    /// Run the processor on `previous` until it succeeds, then make
    /// `processed` an `@` file and `newstate` the new `state`.
    fn process(&self) {
        self.run_processor("previous", "processed");
        self.sync_output("processed");
        let _ = fs::remove_file(self.path("previous"));
        self.retry("rename newstate to state", || {
            fs::rename(self.path("newstate"), self.path("state"))
        });
        self.finish("processed", 's');
    }

    /// runit's scheme: `current` becomes `@T.u`, the processor writes
    /// `@T.t`, which becomes `@T.s`; `@T.u` is removed.
    fn process_runit(&mut self) {
        let Some(name) = self.finish("current", 'u') else {
            self.current = self.reopen();
            return;
        };
        self.current = self.reopen();
        let stem = name.trim_end_matches(".u").to_string();
        let (done, temp) = (format!("{stem}.s"), format!("{stem}.t"));
        if !self.path("state").exists() {
            let _ =
                OpenOptions::new().append(true).create(true).mode(0o644).open(self.path("state"));
        }
        self.run_processor(&name, &temp);
        self.sync_output(&temp);
        self.retry(&format!("rename {temp} to {done}"), || {
            fs::rename(self.path(&temp), self.path(&done))
        });
        let _ = fs::remove_file(self.path(&name));
        self.retry("rename newstate to state", || {
            fs::rename(self.path("newstate"), self.path("state"))
        });
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

    /// Run `sh -c PROCESSOR` in the directory (input on stdin, output on
    /// stdout, `state` on 4, `newstate` on 5) until it succeeds, every 5
    /// seconds.
    fn run_processor(&self, input_name: &str, output_name: &str) {
        let processor = self.spec.processor.clone().unwrap_or_default();
        let mut script = b"exec 4<state 5>newstate || exit 111\n".to_vec();
        script.extend_from_slice(&processor);
        use std::os::unix::ffi::OsStringExt;
        let script = std::ffi::OsString::from_vec(script);
        loop {
            let ok = (|| -> io::Result<bool> {
                let input = File::open(self.path(input_name))?;
                let output = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o644)
                    .open(self.path(output_name))?;
                let status = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&script)
                    .current_dir(&self.spec.path)
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(output))
                    .status()?;
                Ok(status.success())
            })();
            match ok {
                Ok(true) => break,
                Ok(false) => {
                    let line = format!(
                        "{}: warning: processor failed in {}, pausing\n",
                        self.prog, self.name
                    );
                    let _ = io::stderr().write_all(line.as_bytes());
                }
                Err(err) => {
                    warn(self.prog, &format!("unable to run processor in {}", self.name), &err)
                }
            }
            let _ = fs::remove_file(self.path(output_name));
            sleep(Duration::from_secs(5));
        }
    }

    /// Give `file` a fresh `@TAI64N.CODE` name; the name, unless the file
    /// was gone or archived already.
    fn finish(&self, file: &str, code: char) -> Option<String> {
        let from = self.path(file);
        // Linked already by a run cut short before the unlink: do not
        // archive it twice.
        let linked = fs::metadata(&from).is_ok_and(|m| m.nlink() > 1);
        let mut archived = None;
        if !linked {
            loop {
                let mut name = b"@".to_vec();
                name.extend_from_slice(&Tai64N::now().hex());
                let name = format!("{}.{code}", String::from_utf8_lossy(&name));
                match fs::hard_link(&from, self.path(&name)) {
                    Ok(()) => {
                        archived = Some(name);
                        break;
                    }
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => {
                        warn(
                            self.prog,
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
        archived
    }

    fn reopen(&self) -> File {
        let path = self.path("current");
        loop {
            match open_current(&path)
                .and_then(|f| f.set_permissions(fs::Permissions::from_mode(0o644)).map(|()| f))
            {
                Ok(f) => return f,
                Err(err) => {
                    warn(
                        self.prog,
                        &format!("unable to open {}/current, pausing", self.name),
                        &err,
                    );
                    sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Delete the oldest `@` files so at most n-1 remain.
    fn fit(&self) {
        let names: Vec<Vec<u8>> = match fs::read_dir(&self.spec.path) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    use std::os::unix::ffi::OsStrExt;
                    e.file_name().as_bytes().to_vec()
                })
                .collect(),
            Err(err) => {
                warn(self.prog, &format!("unable to read directory {}", self.name), &err);
                return;
            }
        };
        for old in excess(&names, self.spec.num) {
            use std::os::unix::ffi::OsStrExt;
            let path = self.spec.path.join(std::ffi::OsStr::from_bytes(old));
            if let Err(err) = fs::remove_file(&path) {
                warn(self.prog, &format!("unable to remove {}", path.display()), &err);
            }
        }
    }

    /// Repeat `op` every second until it works, warning each time.
    fn retry(&self, what: &str, mut op: impl FnMut() -> io::Result<()>) {
        while let Err(err) = op() {
            warn(self.prog, &format!("unable to {what} in {}, pausing", self.name), &err);
            sleep(Duration::from_secs(1));
        }
    }

    /// Path of a file in the directory, for the exactly-once note.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path(name)
    }
}

fn open_current(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o644).open(path)
}
