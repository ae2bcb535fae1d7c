//! One of `svlogd`'s log directories on disk, as runit's svlogd keeps it:
//! `lock`, `config`, `current` (0644 while written, 0744 when closed),
//! rotation into `@TAI64N.s`, an unfinished `current` saved as
//! `@TAI64N.u`, the processor run in the background on `@TAI64N.u` with
//! output to `@TAI64N.t` (and `state` on fd 4, `newstate` on fd 5), and
//! the removal of the oldest old file beyond `n`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::svlogd_config::{Config, oldest_to_remove, parse_config};
use crate::errstr;
use crate::tai64::Tai64N;

const PROG: &str = "svlogd";

/// Print `svlogd: warning: MESSAGE` on stderr.
pub fn warning(message: &str) {
    let _ = io::stderr().write_all(format!("{PROG}: warning: {message}\n").as_bytes());
}

/// Print `svlogd: info: MESSAGE` on stderr when verbose.
pub fn info(verbose: bool, message: &str) {
    if verbose {
        let _ = io::stderr().write_all(format!("{PROG}: info: {message}\n").as_bytes());
    }
}

fn reason(err: &io::Error) -> String {
    errstr::io_str(err).to_string()
}

/// A processor running on `@STAMP.u`.
struct Running {
    child: Child,
    /// `@` and 24 hex digits.
    stem: String,
}

/// One open log directory.
pub struct SvDir {
    /// The name given on the command line.
    pub name: String,
    path: PathBuf,
    pub config: Config,
    linemax: usize,
    verbose: bool,
    _lock: Flock<File>,
    current: File,
    /// Bytes in `current`.
    pub size: u64,
    /// When `current` must rotate by age (`t`).
    pub rotate_at: Option<Instant>,
    processor: Option<Running>,
    pub udp: Option<UdpSocket>,
}

impl SvDir {
    /// Open (and lock) a log directory; None after a warning if it cannot
    /// be used.
    pub fn open(name: &OsString, linemax: usize, verbose: bool) -> Option<SvDir> {
        let path = PathBuf::from(name);
        let shown = name.to_string_lossy().into_owned();
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                warning(&format!("unable to open log directory: {shown}: not a directory"));
                return None;
            }
            Err(err) => {
                warning(&format!("unable to open log directory: {shown}: {}", reason(&err)));
                return None;
            }
        }
        let lock_file = match OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path.join("lock"))
        {
            Ok(file) => file,
            Err(err) => {
                warning(&format!("unable to open lock: {shown}: {}", reason(&err)));
                return None;
            }
        };
        let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, errno)) => {
                warning(&format!(
                    "unable to lock directory: {shown}: {}",
                    reason(&io::Error::from(errno))
                ));
                return None;
            }
        };
        let config = match fs::read(path.join("config")) {
            Ok(text) => {
                info(verbose, &format!("read: {shown}/config"));
                let (config, warnings) = parse_config(&text);
                for w in warnings {
                    warning(&w);
                }
                config
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Config::default(),
            Err(err) => {
                warning(&format!("unable to read config: {shown}/config: {}", reason(&err)));
                Config::default()
            }
        };
        let current_path = path.join("current");
        let mut fresh = true;
        if let Ok(meta) = fs::symlink_metadata(&current_path) {
            if meta.len() > 0 && meta.permissions().mode() & 0o100 == 0 {
                // Unfinished: whoever wrote it died.
                let saved = format!("{}.u", stem());
                if let Err(err) = fs::rename(&current_path, path.join(&saved)) {
                    warning(&format!(
                        "unable to rename: {shown}/current {saved}: {}",
                        reason(&err)
                    ));
                    return None;
                }
            } else {
                fresh = false;
            }
        }
        let current = match open_current(&current_path) {
            Ok(file) => file,
            Err(err) => {
                warning(&format!("unable to open current: {shown}/current: {}", reason(&err)));
                return None;
            }
        };
        let size = current.metadata().map(|m| m.len()).unwrap_or(0);
        if size == 0 {
            fresh = true;
        }
        info(verbose, &format!("{}: {shown}/current", if fresh { "new" } else { "append" }));
        let udp = match config.udp {
            Some(_) => match UdpSocket::bind("0.0.0.0:0") {
                Ok(sock) => Some(sock),
                Err(err) => {
                    warning(&format!("unable to create udp socket: {shown}: {}", reason(&err)));
                    None
                }
            },
            None => None,
        };
        let rotate_at = deadline(&config);
        Some(SvDir {
            name: shown,
            path,
            config,
            linemax,
            verbose,
            _lock: lock,
            current,
            size,
            rotate_at,
            processor: None,
            udp,
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Append an output line (or part of one) to `current`, rotating when
    /// it is full, and after a line end when within `-l` of full.
    pub fn write(&mut self, mut bytes: &[u8]) {
        let ends_line = bytes.last() == Some(&b'\n');
        let max = self.config.size;
        while !bytes.is_empty() {
            if max > 0 && self.size >= max {
                self.rotate();
            }
            let n = if max > 0 { bytes.len().min((max - self.size) as usize) } else { bytes.len() };
            match (&self.current).write(&bytes[..n]) {
                Ok(0) => self.pause(&io::Error::from_raw_os_error(libc::ENOSPC)),
                Ok(done) => {
                    self.size += done as u64;
                    bytes = &bytes[done..];
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => self.pause(&err),
            }
        }
        if ends_line
            && max > 0
            && max.checked_sub(self.linemax as u64).is_some_and(|at| self.size >= at)
        {
            self.rotate();
        }
    }

    fn pause(&mut self, err: &io::Error) {
        warning(&format!(
            "unable to write to log: {}/current: {}, pausing",
            self.name,
            reason(err)
        ));
        if err.raw_os_error() == Some(libc::ENOSPC) && self.config.min > 0 {
            // The disk is full: give up old files down to the minimum.
            if let Some(old) = oldest_to_remove(&self.names(), self.config.min) {
                let old = std::ffi::OsStr::from_bytes(&old).to_owned();
                let _ = fs::remove_file(self.path.join(&old));
                warning(&format!(
                    "out of disk space, delete: {}/{}",
                    self.name,
                    old.to_string_lossy()
                ));
                return;
            }
        }
        sleep(Duration::from_millis(500));
    }

    /// Send a line by UDP if configured.
    pub fn send(&mut self, bytes: &[u8]) {
        let (Some(sock), Some(addr)) = (&self.udp, self.config.udp) else { return };
        if let Err(err) = sock.send_to(bytes, addr) {
            // Errors about sending go to the log directory, as runit does.
            let line = format!("{PROG}: warning: unable to send udp message: {}\n", reason(&err));
            self.write(line.as_bytes());
        }
    }

    /// Rotate `current` if it is not empty (`ALRM`, `t`, or full).
    pub fn rotate(&mut self) {
        if self.size == 0 {
            self.rotate_at = deadline(&self.config);
            return;
        }
        if self.processor.is_some() {
            self.wait_processor(true);
        }
        let code = if self.config.processor.is_some() { 'u' } else { 's' };
        let name = loop {
            let name = format!("{}.{code}", stem());
            if !self.file(&name).exists() {
                break name;
            }
        };
        self.retry("fsync", |d| d.current.sync_all());
        self.retry("set mode of", |d| d.current.set_permissions(fs::Permissions::from_mode(0o744)));
        let (from, to) = (self.file("current"), self.file(&name));
        self.retry("rename", |_| fs::rename(&from, &to));
        info(self.verbose, &format!("rename: {}/current {name} {}", self.name, self.size));
        loop {
            match open_current(&from) {
                Ok(file) => {
                    self.current = file;
                    break;
                }
                Err(err) => {
                    warning(&format!(
                        "unable to create new current: {}/current: {}, pausing",
                        self.name,
                        reason(&err)
                    ));
                    sleep(Duration::from_secs(1));
                }
            }
        }
        self.size = 0;
        self.rotate_at = deadline(&self.config);
        if self.config.processor.is_some() {
            self.start_processor(name[..25].to_string());
        } else {
            self.remove_oldest();
        }
    }

    fn start_processor(&mut self, stem: String) {
        info(self.verbose, &format!("processing: {}/{stem}.u", self.name));
        loop {
            match self.spawn_processor(&stem) {
                Ok(child) => {
                    self.processor = Some(Running { child, stem });
                    return;
                }
                Err(err) => {
                    warning(&format!(
                        "unable to start processor: {}/{stem}.u: {}, pausing",
                        self.name,
                        reason(&err)
                    ));
                    sleep(Duration::from_secs(1));
                }
            }
        }
    }

    fn spawn_processor(&self, stem: &str) -> io::Result<Child> {
        let input = File::open(self.file(&format!("{stem}.u")))?;
        let output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(self.file(&format!("{stem}.t")))?;
        if !self.file("state").exists() {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(self.file("state"))?;
        }
        let mut script = b"exec 4<state 5>newstate || exit 111\n".to_vec();
        script.extend_from_slice(self.config.processor.as_deref().unwrap_or_default());
        Command::new("/bin/sh")
            .arg("-c")
            .arg(OsString::from_vec(script))
            .current_dir(&self.path)
            .stdin(Stdio::from(input))
            .stdout(Stdio::from(output))
            .spawn()
    }

    /// Collect a finished processor (wait for it if `block`): on success
    /// `@STAMP.t` becomes `@STAMP.s`, `newstate` becomes `state`; on failure
    /// the processor runs again. Returns whether a processor still runs.
    pub fn wait_processor(&mut self, block: bool) -> bool {
        loop {
            let Some(running) = self.processor.as_mut() else { return false };
            let status = if block {
                match running.child.wait() {
                    Ok(status) => status,
                    Err(_) => return true,
                }
            } else {
                match running.child.try_wait() {
                    Ok(Some(status)) => status,
                    _ => return true,
                }
            };
            let stem = running.stem.clone();
            self.processor = None;
            let t = self.file(&format!("{stem}.t"));
            if !status.success() {
                warning(&format!("processor failed, restart: {}/{stem}.u", self.name));
                let _ = fs::remove_file(&t);
                sleep(Duration::from_secs(1));
                self.start_processor(stem);
                continue;
            }
            self.retry("fsync processed", |_| {
                let f = OpenOptions::new().append(true).open(&t)?;
                f.sync_all()?;
                f.set_permissions(fs::Permissions::from_mode(0o744))
            });
            let s = self.file(&format!("{stem}.s"));
            self.retry("rename processed", |_| fs::rename(&t, &s));
            let _ = fs::remove_file(self.file(&format!("{stem}.u")));
            if self.file("newstate").exists() {
                let (from, to) = (self.file("newstate"), self.file("state"));
                self.retry("rename newstate", |_| fs::rename(&from, &to));
            }
            info(self.verbose, &format!("processed: {}/{stem}.s", self.name));
            self.remove_oldest();
            return false;
        }
    }

    fn names(&self) -> Vec<Vec<u8>> {
        match fs::read_dir(&self.path) {
            Ok(entries) => {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().as_bytes().to_vec()).collect()
            }
            Err(err) => {
                warning(&format!("unable to read directory: {}: {}", self.name, reason(&err)));
                Vec::new()
            }
        }
    }

    /// Remove processor leftovers (`@*.t`) and the oldest old file beyond
    /// `n`.
    fn remove_oldest(&self) {
        let names = self.names();
        for name in &names {
            if name.len() == 27 && name[0] == b'@' && name[26] == b't' {
                let path = self.path.join(std::ffi::OsStr::from_bytes(name));
                if let Err(err) = fs::remove_file(&path) {
                    warning(&format!(
                        "unable to unlink processor leftover: {}: {}",
                        path.display(),
                        reason(&err)
                    ));
                }
            }
        }
        if let Some(old) = oldest_to_remove(&names, self.config.num) {
            let old = String::from_utf8_lossy(&old).into_owned();
            info(self.verbose, &format!("delete: {}/{old}", self.name));
            if let Err(err) = fs::remove_file(self.file(&old)) {
                warning(&format!("unable to unlink: {}/{old}: {}", self.name, reason(&err)));
            }
        }
    }

    /// Close at exit or `HUP`: wait for the processor, sync `current` and
    /// mark it complete (0744).
    pub fn close(mut self) {
        self.wait_processor(true);
        self.retry("fsync", |d| d.current.sync_all());
        self.retry("set mode of", |d| d.current.set_permissions(fs::Permissions::from_mode(0o744)));
        info(self.verbose, &format!("close: {}", self.name));
    }

    fn retry(&self, what: &str, mut op: impl FnMut(&Self) -> io::Result<()>) {
        while let Err(err) = op(self) {
            warning(&format!("unable to {what}: {}: {}, pausing", self.name, reason(&err)));
            sleep(Duration::from_secs(1));
        }
    }

    /// Whether `current` is due by age.
    pub fn due(&self, now: Instant) -> bool {
        self.rotate_at.is_some_and(|at| now >= at)
    }
}

fn deadline(config: &Config) -> Option<Instant> {
    (config.timeout > 0).then(|| Instant::now() + Duration::from_secs(config.timeout))
}

/// `@` and the TAI64N stamp of now.
fn stem() -> String {
    format!("@{}", String::from_utf8_lossy(&Tai64N::now().hex()))
}

fn open_current(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().append(true).create(true).mode(0o644).open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    Ok(file)
}
