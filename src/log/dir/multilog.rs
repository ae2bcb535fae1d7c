//! A multilog directory, as daemontools keeps it: `current` becomes an
//! `@` file by a link then an unlink (a kill in between loses nothing and
//! the next start does not archive it twice), the processor runs on
//! `previous` while the logger waits (retried every 5 seconds), and at most
//! n-1 `@` files are kept.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::thread::sleep;
use std::time::Duration;

use super::{Current, LogDir, Style, stem, warn};
use crate::fail::Failure;
use crate::log::script::DirSpec;

pub struct MultilogDir {
    current: Current,
    spec: DirSpec,
}

impl MultilogDir {
    /// Create the directory if needed and lock it. `current` is not yet
    /// looked at: that is [`LogDir::start`] (after any exactly-once
    /// recovery).
    pub fn open(spec: &DirSpec) -> Result<MultilogDir, Failure> {
        let current = Current::create(&spec.path, Style::Multilog)?;
        Ok(MultilogDir { current, spec: spec.clone() })
    }

    /// Run the processor on `previous` until it succeeds, then make
    /// `processed` an `@` file and `newstate` the new `state`.
    fn process(&self) {
        let processor = self.spec.processor.as_deref().unwrap_or_default();
        let dir = &self.current;
        loop {
            let ok = dir
                .processor(processor, "previous", "processed")
                .and_then(|processor| processor.spawn()?.wait());
            match ok {
                Ok(status) if status.success() => break,
                Ok(_) => {
                    let line =
                        format!("multilog: warning: processor failed in {}, pausing\n", dir.name());
                    let _ = io::stderr().write_all(line.as_bytes());
                }
                Err(err) => {
                    warn("multilog", &format!("unable to run processor in {}", dir.name()), &err)
                }
            }
            let _ = fs::remove_file(dir.path("processed"));
            sleep(Duration::from_secs(5));
        }
        dir.sync_output("processed");
        let _ = fs::remove_file(dir.path("previous"));
        dir.retry("rename newstate to state", || {
            fs::rename(dir.path("newstate"), dir.path("state"))
        });
        self.finish("processed", 's');
    }

    /// Give `file` a fresh `@TAI64N.CODE` name by linking, then unlink it,
    /// so that a kill in between loses nothing.
    fn finish(&self, file: &str, code: char) {
        let dir = &self.current;
        let from = dir.path(file);
        // Linked already by a run cut short before the unlink: do not
        // archive it twice.
        let linked = fs::metadata(&from).is_ok_and(|m| m.nlink() > 1);
        if !linked {
            loop {
                let name = format!("{}.{code}", stem());
                match fs::hard_link(&from, dir.path(&name)) {
                    Ok(()) => break,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return,
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => {
                        warn(
                            "multilog",
                            &format!("unable to link {}/{file} to {name}, pausing", dir.name()),
                            &err,
                        );
                        sleep(Duration::from_secs(1));
                    }
                }
            }
        }
        dir.retry(&format!("remove {file}"), || match fs::remove_file(&from) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        });
    }

    /// Delete the oldest `@` files so at most n-1 remain.
    fn fit(&self) {
        let names = self.current.names();
        for old in excess(&names, self.spec.num) {
            let path = self.spec.path.join(std::ffi::OsStr::from_bytes(old));
            if let Err(err) = fs::remove_file(&path) {
                warn("multilog", &format!("unable to remove {}", path.display()), &err);
            }
        }
    }
}

impl LogDir for MultilogDir {
    fn current(&self) -> &Current {
        &self.current
    }

    fn spec(&self) -> &DirSpec {
        &self.spec
    }

    /// Also finish an interrupted processor run and a rotation cut short,
    /// and keep at most n-1 old files.
    fn start(&mut self) -> Result<u64, Failure> {
        if self.current.path("previous").exists() {
            if self.spec.processor.is_some() {
                self.process();
            } else {
                self.finish("previous", 'u');
            }
        }
        let dir = &self.current;
        let _ = fs::remove_file(dir.path("newstate"));
        if dir.path("processed").exists() {
            let _ = fs::remove_file(dir.path("processed"));
        }
        if !dir.path("state").exists() {
            dir.retry("create state", || {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(dir.path("state"))
                    .map(drop)
            });
        }
        if dir.metadata().is_ok_and(|m| m.nlink() > 1) {
            // A rotation was cut short after the link: the `@` file has
            // it all already.
            dir.retry("remove current", || fs::remove_file(dir.path("current")));
            self.current.reopen();
        } else if dir.unfinished() {
            // Whoever wrote it died.
            self.finish("current", 'u');
            self.current.reopen();
        }
        self.fit();
        self.current.begin()
    }

    fn rotate(&mut self, _size: u64) {
        self.current.complete();
        if self.spec.processor.is_some() {
            let dir = &self.current;
            let (from, to) = (dir.path("current"), dir.path("previous"));
            dir.retry("rename current to previous", || fs::rename(&from, &to));
            self.current.reopen();
            self.process();
        } else {
            self.finish("current", 's');
            self.current.reopen();
        }
        self.fit();
    }

    fn close(&mut self) {
        self.current.complete();
    }
}

/// Which `@` files to delete so that at most `num - 1` remain, given their
/// names: the oldest (smallest stamp) first.
fn excess(names: &[Vec<u8>], num: usize) -> Vec<&[u8]> {
    let mut old: Vec<&[u8]> =
        names.iter().map(|n| &n[..]).filter(|n| n.first() == Some(&b'@')).collect();
    old.sort();
    let keep = num.saturating_sub(1);
    let cut = old.len().saturating_sub(keep);
    old.truncate(cut);
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::dir::testing::{archived, mode, put};
    use std::path::Path;

    fn spec(path: &Path, num: usize, processor: Option<&str>) -> DirSpec {
        DirSpec {
            path: path.to_path_buf(),
            num,
            processor: processor.map(|p| p.as_bytes().to_vec()),
            ..DirSpec::default()
        }
    }

    #[test]
    fn excess_files() {
        let names: Vec<Vec<u8>> = ["@3.s", "current", "@1.s", "@2.u", "lock"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(excess(&names, 3), vec![&b"@1.s"[..]]);
        assert_eq!(excess(&names, 2), vec![&b"@1.s"[..], b"@2.u"]);
        assert!(excess(&names, 10).is_empty());
    }

    #[test]
    fn start_keeps_a_complete_current_and_saves_an_unfinished_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("main");
        fs::create_dir(&path).unwrap();
        put(&path.join("current"), b"done\n", 0o744);
        let mut dir = MultilogDir::open(&spec(&path, 10, None)).unwrap();
        assert_eq!(dir.start().unwrap(), 5);
        assert!(archived(&path).is_empty());
        assert_eq!(mode(&path.join("current")), 0o644);
        assert!(path.join("state").exists());
        drop(dir);
        let mut dir = MultilogDir::open(&spec(&path, 10, None)).unwrap();
        assert_eq!(dir.start().unwrap(), 0, "the writer died: its current is saved");
        let old = archived(&path);
        assert_eq!(old.len(), 1);
        assert!(old[0].ends_with(".u"), "{old:?}");
        assert_eq!(fs::read(path.join(&old[0])).unwrap(), b"done\n");
    }

    #[test]
    fn start_finishes_what_a_killed_logger_left() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("main");
        fs::create_dir(&path).unwrap();
        // Killed after linking current to its name, before the unlink; and
        // after renaming current to previous, without a processor now.
        put(&path.join("current"), b"linked\n", 0o744);
        fs::hard_link(path.join("current"), path.join("@400000006b06000000000000.s")).unwrap();
        put(&path.join("previous"), b"prev\n", 0o744);
        put(&path.join("processed"), b"half", 0o644);
        put(&path.join("newstate"), b"half", 0o644);
        let mut dir = MultilogDir::open(&spec(&path, 10, None)).unwrap();
        assert_eq!(dir.start().unwrap(), 0);
        let old = archived(&path);
        assert_eq!(old.len(), 2, "{old:?}");
        assert_eq!(fs::read(path.join(&old[0])).unwrap(), b"linked\n");
        assert!(old[1].ends_with(".u"));
        assert_eq!(fs::read(path.join(&old[1])).unwrap(), b"prev\n");
        for gone in ["previous", "processed", "newstate"] {
            assert!(!path.join(gone).exists(), "{gone}");
        }
    }

    #[test]
    fn rotation_links_current_and_keeps_n_minus_one() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = MultilogDir::open(&spec(tmp.path(), 3, None)).unwrap();
        dir.start().unwrap();
        for line in [b"1\n", b"2\n", b"3\n", b"4\n"] {
            dir.write(line, 0);
            dir.rotate(2);
            assert_eq!(dir.current().size().unwrap(), 0);
        }
        let old = archived(tmp.path());
        let kept: Vec<Vec<u8>> =
            old.iter().map(|n| fs::read(tmp.path().join(n)).unwrap()).collect();
        assert_eq!(kept, vec![b"3\n".to_vec(), b"4\n".to_vec()]);
        for name in &old {
            assert!(name.ends_with(".s"));
            assert_eq!(mode(&tmp.path().join(name)), 0o744);
        }
        assert_eq!(mode(&tmp.path().join("current")), 0o644);
        dir.write(b"last\n", 0);
        dir.close();
        assert_eq!(mode(&tmp.path().join("current")), 0o744);
    }

    #[test]
    fn rotation_runs_the_processor_on_previous() {
        let tmp = tempfile::tempdir().unwrap();
        let processor = "tr a-z A-Z; cat <&4 >&5; echo x >&5";
        let mut dir = MultilogDir::open(&spec(tmp.path(), 10, Some(processor))).unwrap();
        dir.start().unwrap();
        dir.write(b"abc\n", 0);
        dir.rotate(4);
        dir.write(b"def\n", 0);
        dir.rotate(4);
        let old = archived(tmp.path());
        let got: Vec<Vec<u8>> = old.iter().map(|n| fs::read(tmp.path().join(n)).unwrap()).collect();
        assert_eq!(got, vec![b"ABC\n".to_vec(), b"DEF\n".to_vec()]);
        assert_eq!(fs::read(tmp.path().join("state")).unwrap(), b"x\nx\n");
        for gone in ["previous", "processed", "newstate"] {
            assert!(!tmp.path().join(gone).exists(), "{gone}");
        }
    }
}
