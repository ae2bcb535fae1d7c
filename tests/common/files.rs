//! Files a test prepares or inspects: scripts, modes, an environment
//! directory with every odd case, and a small file system to fill.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Write an executable script.
pub fn write_script(path: &Path, body: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// An environment directory (for `envdir` and `chpst -e`) with the cases
/// daemontools treats specially: trailing blanks, a second line, NUL, an
/// empty first line, an empty file, `=` in a name, a dot file.
pub fn env_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("TRIMMED"), "value \t \nsecond line\n").unwrap();
    fs::write(dir.join("NUL"), b"a\0b").unwrap();
    fs::write(dir.join("EMPTYLINE"), "\nmore").unwrap();
    fs::write(dir.join("REMOVED"), "").unwrap();
    fs::write(dir.join("HOME"), "/elsewhere").unwrap();
    fs::write(dir.join("D=E"), "x=y").unwrap();
    fs::write(dir.join("F=G"), "").unwrap();
    fs::write(dir.join(".hidden"), "no").unwrap();
}

/// A small tmpfs (root only), for full-disk tests; unmounted on drop.
pub struct SmallFs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mount a tmpfs of `size` (as `mount -o size=`), or `None` where
    /// mounting is not allowed, after a skip (a failure in CI: see
    /// [`crate::skipping`]).
    pub fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("small");
        fs::create_dir(&path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        crate::needs(mounted, "cannot mount a tmpfs here").then_some(SmallFs { path, _dir: dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
