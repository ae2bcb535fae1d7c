//! Running the rest of the command line, as daemontools' `pathexec` does:
//! the environment is the inherited one with a list of changes applied in
//! order, and a program name without `/` is looked up in `$PATH`.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// Changes to the environment, kept as daemontools keeps them: `NAME=VALUE`
/// sets, a bare `NAME` removes. Applying one removes the first inherited
/// entry whose name is the text before the first `=`, then adds the entry
/// if it holds an `=`. So a file `A=B` in an envdir behaves exactly as in
/// daemontools (the entry `A=B=value` sets `A` to `B=value`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvChanges {
    entries: Vec<Vec<u8>>,
}

impl EnvChanges {
    pub fn new() -> EnvChanges {
        EnvChanges::default()
    }

    /// Set `name` to `value`.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        let mut entry = Vec::with_capacity(name.len() + 1 + value.len());
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(value);
        self.entries.push(entry);
    }

    /// Remove `name`.
    pub fn unset(&mut self, name: &[u8]) {
        self.entries.push(name.to_vec());
    }

    /// Append every change of `other`, after this one's.
    pub fn extend(&mut self, other: EnvChanges) {
        self.entries.extend(other.entries);
    }

    /// The environment `inherited` becomes, in daemontools' order: a
    /// removed entry's place is taken by the last one.
    pub fn apply(&self, mut env: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        for change in &self.entries {
            let split = change.iter().position(|&b| b == b'=').unwrap_or(change.len());
            let name = &change[..split];
            if let Some(at) = env.iter().position(|entry| {
                entry.len() > split && entry.starts_with(name) && entry[split] == b'='
            }) {
                env.swap_remove(at);
            }
            if split < change.len() {
                env.push(change.clone());
            }
        }
        env
    }
}

fn inherited_env() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(name, value)| {
            let mut entry = name.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            entry
        })
        .collect()
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Replace this process with `argv` (program first), the environment
/// changed by `env`. Returns only on failure, with the error to report:
/// looking through `$PATH` (`/bin:/usr/bin` when unset; an empty element is
/// the current directory), a missing file is passed over, and the error
/// reported is the last other one (so `permission denied` beats `file
/// does not exist`).
pub fn exec(argv: &[OsString], env: &EnvChanges) -> io::Error {
    match argv.first() {
        Some(program) => exec_as(program, argv, env),
        None => io::Error::from_raw_os_error(libc::EINVAL),
    }
}

/// [`exec`] with the program to run given apart from the arguments, whose
/// first one is then only the name the program sees (`chpst -b`).
pub fn exec_as(program: &OsStr, argv: &[OsString], env: &EnvChanges) -> io::Error {
    match try_exec(program, argv, env) {
        Ok(never) => match never {},
        Err(err) => err,
    }
}

fn try_exec(
    program: &OsStr,
    argv: &[OsString],
    env: &EnvChanges,
) -> io::Result<std::convert::Infallible> {
    let args: Vec<CString> =
        argv.iter().map(|arg| c_string(arg.as_bytes())).collect::<io::Result<_>>()?;
    let envp: Vec<CString> =
        env.apply(inherited_env()).iter().map(|e| c_string(e)).collect::<io::Result<_>>()?;
    let program = program.as_bytes();
    if program.contains(&b'/') {
        let path = c_string(program)?;
        return Err(nix::unistd::execve(&path, &args, &envp).unwrap_err().into());
    }
    // As daemontools: the search path is the inherited one, not the changed.
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
    let mut saved: Option<io::Error> = None;
    for dir in search.as_bytes().split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut path = dir.to_vec();
        path.push(b'/');
        path.extend_from_slice(program);
        let err: io::Error =
            nix::unistd::execve(&c_string(&path)?, &args, &envp).unwrap_err().into();
        match err.raw_os_error() {
            Some(libc::ENOENT) => {}
            Some(libc::EACCES | libc::EPERM | libc::EISDIR) => saved = Some(err),
            _ => return Err(err),
        }
    }
    Err(saved.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ENOENT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(entries: &[&str]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| e.as_bytes().to_vec()).collect()
    }

    #[test]
    fn set_replaces_and_unset_removes() {
        let mut changes = EnvChanges::new();
        changes.set(b"A", b"new");
        changes.unset(b"B");
        changes.set(b"D", b"added");
        assert_eq!(changes.apply(env(&["A=old", "B=x", "C=y"])), env(&["C=y", "A=new", "D=added"]));
    }

    #[test]
    fn a_name_with_an_equals_sign_behaves_as_in_daemontools() {
        let mut changes = EnvChanges::new();
        changes.set(b"D=E", b"x=y");
        assert_eq!(changes.apply(env(&["D=old", "DE=z"])), env(&["DE=z", "D=E=x=y"]));
        // An empty file named `D=E` sets D to E.
        let mut changes = EnvChanges::new();
        changes.unset(b"D=E");
        assert_eq!(changes.apply(env(&[])), env(&["D=E"]));
    }

    #[test]
    fn only_a_whole_name_matches() {
        let mut changes = EnvChanges::new();
        changes.unset(b"PATH");
        assert_eq!(changes.apply(env(&["PATHX=1", "PATH"])), env(&["PATHX=1", "PATH"]));
    }
}
