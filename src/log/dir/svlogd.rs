//! An svlogd directory, as runit keeps it: `current` is renamed to its `@`
//! name, the processor runs in the background on `@T.u` with output to
//! `@T.t` (then `@T.s`), one old file is removed per rotation beyond `n`,
//! old files are deleted on a full disk down to `N`, and the messages (`-v`
//! ones included) are runit's.

use std::fs;
use std::io::{self, Write};
use std::thread::sleep;
use std::time::Duration;

use super::{Current, LogDir, stem, warn};
use crate::fail::Failure;
use crate::log::script::DirSpec;
use crate::spawn::Child;

/// svlogd's processor at work on `@STEM.u`.
struct Running {
    child: Child,
    /// `@` and 24 hex digits.
    stem: String,
}

pub struct SvlogdDir {
    current: Current,
    spec: DirSpec,
    /// The processor, while it runs.
    processor: Option<Running>,
}

impl SvlogdDir {
    /// A locked directory with the settings its `config` gave.
    pub fn new(current: Current, spec: DirSpec) -> SvlogdDir {
        SvlogdDir { current, spec, processor: None }
    }

    /// Rename `current` to a fresh `@TAI64N.CODE`; the new name.
    fn rename_current(&self, code: char) -> String {
        let dir = &self.current;
        let name = loop {
            let name = format!("{}.{code}", stem());
            if !dir.path(&name).exists() {
                break name;
            }
        };
        let (from, to) = (dir.path("current"), dir.path(&name));
        dir.retry("rename current", || fs::rename(&from, &to));
        name
    }

    /// After a rotation: remove processor leftovers (`@*.t`) and, if more
    /// than `n` old files remain, the oldest (never `keep`).
    fn remove_oldest(&self, keep: &str) {
        let dir = &self.current;
        let names = dir.names();
        for name in names.iter().filter(|n| n.len() == 27 && n[0] == b'@' && n[26] == b't') {
            let name = String::from_utf8_lossy(name);
            if let Err(err) = fs::remove_file(dir.path(&name)) {
                warn("svlogd", &format!("unable to unlink processor leftover: {name}"), &err);
            }
        }
        let (count, old) = oldest(&names, Some(keep.as_bytes()));
        if self.spec.num == 0 || count <= self.spec.num {
            return;
        }
        if let Some(old) = old {
            let old = String::from_utf8_lossy(old).into_owned();
            dir.style().info(|| format!("delete: {}/{old}", dir.name()));
            if let Err(err) = fs::remove_file(dir.path(&old)) {
                warn("svlogd", &format!("unable to unlink oldest logfile: {}", dir.name()), &err);
            }
        }
    }

    /// Start the processor on `@STEM.u`, writing `@STEM.t`.
    fn start_processor(&mut self, stem: String) {
        let dir = &self.current;
        dir.style().info(|| format!("processing: {}/{stem}.u", dir.name()));
        let processor = self.spec.processor.as_deref().unwrap_or_default();
        loop {
            let what = match dir.processor(processor, &format!("{stem}.u"), &format!("{stem}.t")) {
                Ok(processor) => match processor.spawn() {
                    Ok(child) => {
                        self.processor = Some(Running { child, stem });
                        return;
                    }
                    Err(err) => ("run processor", err),
                },
                Err(err) => ("open input for processor", err),
            };
            let text = dir.style().pausing(what.0, dir.name(), &what.1);
            let _ = io::stderr().write_all(text.as_bytes());
            sleep(Duration::from_secs(1));
        }
    }

    /// Collect the processor if it ended (wait for it with `block`): on
    /// success `@T.t` becomes `@T.s` and `newstate` becomes `state`; on
    /// failure it runs again.
    fn collect(&mut self, block: bool) {
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
            let dir = &self.current;
            let (t, s) = (format!("{stem}.t"), format!("{stem}.s"));
            if !status.success() {
                let line = format!("svlogd: warning: processor failed, restart: {}\n", dir.name());
                let _ = io::stderr().write_all(line.as_bytes());
                let _ = fs::remove_file(dir.path(&t));
                sleep(Duration::from_secs(1));
                self.start_processor(stem);
                if !block {
                    return;
                }
                continue;
            }
            dir.sync_output(&t);
            dir.retry("rename processed", || fs::rename(dir.path(&t), dir.path(&s)));
            if let Err(err) = fs::remove_file(dir.path(&format!("{stem}.u"))) {
                warn("svlogd", &format!("unable to unlink: {}/{stem}.u", dir.name()), &err);
            }
            dir.retry("rename state", || fs::rename(dir.path("newstate"), dir.path("state")));
            dir.style().info(|| format!("processed: {}/{s}", dir.name()));
        }
    }
}

/// `N` on a full disk: delete the oldest old file if more than `N` remain
/// (and `N` is below `n`, as runit has it). Whether one was deleted.
fn make_room(dir: &Current, spec: &DirSpec) -> bool {
    if spec.min >= spec.num {
        return false;
    }
    let names = dir.names();
    let (count, old) = oldest(&names, None);
    let Some(old) = old.filter(|_| count > spec.min) else {
        return false;
    };
    let old = String::from_utf8_lossy(old).into_owned();
    let line = format!("svlogd: warning: out of disk space, delete: {}/{old}\n", dir.name());
    let _ = io::stderr().write_all(line.as_bytes());
    match fs::remove_file(dir.path(&old)) {
        Ok(()) => true,
        Err(err) => {
            warn("svlogd", &format!("unable to unlink oldest logfile: {}", dir.name()), &err);
            false
        }
    }
}

impl LogDir for SvlogdDir {
    fn current(&self) -> &Current {
        &self.current
    }

    fn spec(&self) -> &DirSpec {
        &self.spec
    }

    fn start(&mut self) -> Result<u64, Failure> {
        if self.current.unfinished() {
            // Whoever wrote it died.
            let saved = self.rename_current('u');
            self.current.reopen();
            self.remove_oldest(&saved);
            let dir = &self.current;
            dir.style().info(|| format!("new: {}/current", dir.name()));
        } else {
            let dir = &self.current;
            dir.style().info(|| format!("append: {}/current", dir.name()));
        }
        self.current.begin()
    }

    fn write(&mut self, bytes: &[u8], at: u64) {
        self.current.write(bytes, at, || make_room(&self.current, &self.spec));
    }

    fn rotate(&mut self, size: u64) {
        self.collect(true);
        self.current.complete();
        let code = if self.spec.processor.is_some() { 'u' } else { 's' };
        let saved = self.rename_current(code);
        let dir = &self.current;
        dir.style().info(|| format!("rename: {}/current {saved} {size}", dir.name()));
        self.current.reopen();
        self.remove_oldest(&saved);
        if self.spec.processor.is_some() {
            self.start_processor(saved[..25].to_string());
        }
    }

    /// Waits for the processor first.
    fn close(&mut self) {
        let dir = &self.current;
        dir.style().info(|| format!("close: {}", dir.name()));
        self.collect(true);
        self.current.complete();
    }

    fn reap(&mut self) {
        self.collect(false);
    }
}

/// The old files: how many finished `@….s` files there are and the
/// oldest, never `keep`. Debian's svlogd (runit 2.1.2) counts and removes
/// only `.s` files: unfinished `.u` files stay until removed by hand.
fn oldest<'a>(names: &'a [Vec<u8>], keep: Option<&[u8]>) -> (usize, Option<&'a [u8]>) {
    let old =
        names.iter().map(|n| &n[..]).filter(|n| n.len() == 27 && n[0] == b'@' && n[26] == b's');
    let count = old.clone().count();
    (count, old.filter(|n| Some(*n) != keep).min())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::dir::Style;
    use crate::log::dir::testing::{archived, put};
    use std::path::Path;

    const QUIET: Style = Style::Svlogd { verbose: false };

    fn open(path: &Path, spec: DirSpec) -> SvlogdDir {
        SvlogdDir::new(Current::lock(path, QUIET).unwrap(), DirSpec { path: path.into(), ..spec })
    }

    fn names(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn svlogd_oldest() {
        let names = names(&[
            "@400000006b0680a010b1f2dc.s",
            "@400000006b0680a010a82324.u",
            "@400000006b0680a010ba3bf4.s",
            "@400000006b0680a010a00000.t",
            "@short.s",
            "current",
            "lock",
        ]);
        assert_eq!(oldest(&names, None), (2, Some(&b"@400000006b0680a010b1f2dc.s"[..])));
        let keep = b"@400000006b0680a010b1f2dc.s";
        assert_eq!(oldest(&names, Some(keep)), (2, Some(&b"@400000006b0680a010ba3bf4.s"[..])));
        assert_eq!(oldest(&names[4..], None), (0, None));
    }

    #[test]
    fn start_renames_an_unfinished_current() {
        let tmp = tempfile::tempdir().unwrap();
        put(&tmp.path().join("current"), b"done\n", 0o744);
        let mut dir = open(tmp.path(), DirSpec::default());
        assert_eq!(dir.start().unwrap(), 5, "a complete current is appended to");
        drop(dir);
        let mut dir = open(tmp.path(), DirSpec::default());
        assert_eq!(dir.start().unwrap(), 0);
        let old = archived(tmp.path());
        assert_eq!(old.len(), 1);
        assert!(old[0].ends_with(".u") && old[0].len() == 27, "{old:?}");
        assert_eq!(fs::read(tmp.path().join(&old[0])).unwrap(), b"done\n");
    }

    #[test]
    fn rotation_removes_leftovers_and_one_old_file_beyond_n() {
        let tmp = tempfile::tempdir().unwrap();
        let before = [
            "@400000000000000000000001.s",
            "@400000000000000000000002.s",
            "@400000000000000000000003.u",
            "@400000000000000000000004.t",
        ];
        for name in before {
            put(&tmp.path().join(name), b"old\n", 0o744);
        }
        let mut dir = open(tmp.path(), DirSpec { num: 2, ..DirSpec::default() });
        dir.start().unwrap();
        dir.write(b"new\n", 0);
        dir.rotate(4);
        let old = archived(tmp.path());
        assert_eq!(&old[..2], &before[1..3], "the oldest .s and the leftover .t are gone");
        assert_eq!(old.len(), 3);
        assert!(old[2].ends_with(".s"));
        assert_eq!(fs::read(tmp.path().join(&old[2])).unwrap(), b"new\n");
        assert_eq!(dir.current().size().unwrap(), 0);
    }

    #[test]
    fn processor_runs_in_the_background_until_close() {
        let tmp = tempfile::tempdir().unwrap();
        let processor = Some(b"read line; echo \"$line\" | tr a-z A-Z; echo st >&5".to_vec());
        let mut dir = open(tmp.path(), DirSpec { processor, ..DirSpec::default() });
        dir.start().unwrap();
        dir.write(b"abc\n", 0);
        dir.rotate(4);
        let old = archived(tmp.path());
        assert_eq!(old.len(), 2, "{old:?}");
        assert_eq!(old[0][..25], old[1][..25]);
        assert!(old[0].ends_with(".t") && old[1].ends_with(".u"), "output and input: {old:?}");
        dir.close();
        let old = archived(tmp.path());
        assert_eq!(old.len(), 1, "{old:?}");
        assert!(old[0].ends_with(".s"));
        assert_eq!(fs::read(tmp.path().join(&old[0])).unwrap(), b"ABC\n");
        assert_eq!(fs::read(tmp.path().join("state")).unwrap(), b"st\n");
    }

    #[test]
    fn a_full_disk_deletes_down_to_min_only_below_n() {
        let tmp = tempfile::tempdir().unwrap();
        let old = ["@400000000000000000000001.s", "@400000000000000000000002.s"];
        for name in old {
            put(&tmp.path().join(name), b"old\n", 0o744);
        }
        let dir = Current::lock(tmp.path(), QUIET).unwrap();
        let spec = |min, num| DirSpec { min, num, ..DirSpec::default() };
        assert!(!make_room(&dir, &spec(10, 10)), "N not below n");
        assert!(!make_room(&dir, &spec(2, 10)), "no more than N old files");
        assert!(make_room(&dir, &spec(1, 10)));
        assert_eq!(archived(tmp.path()), vec![old[1].to_string()]);
        assert!(!make_room(&dir, &spec(1, 10)));
    }
}
