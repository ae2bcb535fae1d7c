//! Reading an environment directory: one variable per file.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::EnvChanges;

/// What to do with a subdirectory of the environment directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDirectory {
    /// Fail, as daemontools' envdir does.
    Fail,
    /// Pass over it, as runit's `chpst -e` does.
    Skip,
}

/// Why an environment directory could not be read.
#[derive(Debug)]
pub enum EnvDirError {
    /// The directory cannot be opened.
    Open(io::Error),
    /// Its list of files cannot be read.
    List(io::Error),
    /// One file in it, by name.
    File(std::ffi::OsString, io::Error),
}

/// The value a file's contents give, by daemontools' rules: `None` (remove
/// the variable) for an empty file; otherwise the first line, trailing
/// spaces and tabs removed, each NUL turned into a newline.
pub fn file_value(contents: &[u8]) -> Option<Vec<u8>> {
    if contents.is_empty() {
        return None;
    }
    let line = contents.split(|&b| b == b'\n').next().unwrap_or_default();
    let end = line.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
    Some(line[..end].iter().map(|&b| if b == 0 { b'\n' } else { b }).collect())
}

/// Read every file of `dir` whose name does not start with `.`, in
/// directory order, into environment changes. Subdirectories are handled
/// as `on_directory` says (the skipped ones are returned for a warning).
pub fn read_envdir(
    dir: &Path,
    on_directory: OnDirectory,
) -> Result<(EnvChanges, Vec<std::ffi::OsString>), EnvDirError> {
    let mut changes = EnvChanges::new();
    let mut skipped = Vec::new();
    for entry in fs::read_dir(dir).map_err(EnvDirError::Open)? {
        let entry = entry.map_err(EnvDirError::List)?;
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        match fs::read(entry.path()) {
            Ok(contents) => match file_value(&contents) {
                Some(value) => changes.set(name.as_bytes(), &value),
                None => changes.unset(name.as_bytes()),
            },
            Err(err)
                if on_directory == OnDirectory::Skip
                    && err.raw_os_error() == Some(libc::EISDIR) =>
            {
                skipped.push(name);
            }
            Err(err) => return Err(EnvDirError::File(name, err)),
        }
    }
    Ok((changes, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemontools_rules_for_a_value() {
        assert_eq!(file_value(b""), None);
        assert_eq!(file_value(b"\n"), Some(vec![]));
        assert_eq!(file_value(b"val  \t \nsecond\n"), Some(b"val".to_vec()));
        assert_eq!(file_value(b"a\0b"), Some(b"a\nb".to_vec()));
        assert_eq!(file_value(b" lead"), Some(b" lead".to_vec()));
        assert_eq!(file_value(b"   "), Some(vec![]));
    }
}
