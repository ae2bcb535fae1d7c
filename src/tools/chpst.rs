//! runit's `chpst`: change the process state in one step (account,
//! environment, root, nice level, lock, limits, session, closed standard
//! descriptors) and run a program. Every change is the same code as the
//! single-purpose tool's (`setuidgid`, `envdir`, `softlimit`, ...). See
//! `docs/chpst.md`.

use std::ffi::OsString;
use std::path::PathBuf;

use nix::sys::resource::Resource;
use nix::unistd::{Gid, Uid};

use crate::chain::account::group_id;
use crate::chain::envdir::EnvDirError;
use crate::chain::{
    self, Account, EnvChanges, Limit, LockError, MEMORY, OnDirectory, drop_privileges, lock_file,
    read_envdir,
};
use crate::errstr;
use crate::fail::{Failure, warn};
use crate::spawn::{ChildSpec, Session};

const TOOL: &str = "chpst";
const USAGE: &str = "usage: chpst [-vVP012] [-u user[:group]] [-U user[:group]] [-b argv0] [-e dir] [-/ root] [-n nice] [-l|-L lock] [-m n] [-d n] [-o n] [-p n] [-f n] [-c n] [-t n] prog\n";

fn usage() -> Failure {
    Failure::bare(100, USAGE)
}

/// Everything chpst was asked to do, applied in runit's order.
#[derive(Default)]
struct Changes {
    set_user: Option<String>,
    env_user: Option<String>,
    argv0: Option<OsString>,
    env_dir: Option<PathBuf>,
    root: Option<PathBuf>,
    nice: Option<i32>,
    lock: Option<(PathBuf, bool)>,
    limits: Vec<(Resource, Limit)>,
    verbose: bool,
    new_session: bool,
    close: [bool; 3],
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut changes = Changes::default();
    let prog = chain::options(args, TOOL, "vVP012", "uUbe/nlLmdopfcrt", usage, |letter, value| {
        let value = value.unwrap_or_default();
        match letter {
            'u' => changes.set_user = Some(value.to_string_lossy().into_owned()),
            'U' => changes.env_user = Some(value.to_string_lossy().into_owned()),
            'b' => changes.argv0 = Some(value),
            'e' => changes.env_dir = Some(value.into()),
            '/' => changes.root = Some(value.into()),
            'n' => {
                changes.nice = Some(value.to_str().and_then(|v| v.parse().ok()).ok_or_else(usage)?)
            }
            'l' | 'L' => changes.lock = Some((value.into(), letter == 'l')),
            'v' => changes.verbose = true,
            'V' => {
                eprintln!("tend {}", env!("CARGO_PKG_VERSION"));
                return Err(usage());
            }
            'P' => changes.new_session = true,
            '0' | '1' | '2' => changes.close[letter as usize - '0' as usize] = true,
            _ => {
                // runit takes a number only; `=` is softlimit's.
                let limit = chain::parse_count(&value).map(Limit::Value).ok_or_else(usage)?;
                let resources: &[Resource] = match letter {
                    'm' => MEMORY,
                    'd' => &[Resource::RLIMIT_DATA],
                    'o' => &[Resource::RLIMIT_NOFILE],
                    'p' => &[Resource::RLIMIT_NPROC],
                    'f' => &[Resource::RLIMIT_FSIZE],
                    'c' => &[Resource::RLIMIT_CORE],
                    'r' => &[Resource::RLIMIT_RSS],
                    _ => &[Resource::RLIMIT_CPU],
                };
                changes.limits.extend(resources.iter().map(|&r| (r, limit)));
            }
        }
        Ok(())
    })?;
    if prog.is_empty() {
        return Err(usage());
    }
    apply(changes, prog)
}

fn apply(changes: Changes, mut argv: Vec<OsString>) -> Result<i32, Failure> {
    let _lock = match &changes.lock {
        None => None,
        Some((path, wait)) => Some(lock_file(path, *wait).map_err(|err| {
            let (what, err) = match err {
                LockError::Open(err) => ("open lock", err),
                LockError::Lock(err) => ("lock", err),
            };
            Failure::temporary(format!(
                "unable to {what}: {}: {}",
                path.display(),
                errstr::io_str(&err)
            ))
        })?),
    };
    for &(resource, limit) in &changes.limits {
        chain::set_soft_limit(resource, limit).map_err(|err| Failure::sys("setrlimit()", &err))?;
    }
    if let Some(increment) = changes.nice {
        crate::sys::proc::nice(increment).map_err(|err| Failure::sys("set nice level", &err))?;
    }
    let mut env = EnvChanges::new();
    if let Some(spec) = &changes.env_user {
        let (uid, gids) = user_spec(spec)?;
        env.set(b"UID", uid.to_string().as_bytes());
        env.set(b"GID", gids[0].to_string().as_bytes());
    }
    if let Some(dir) = &changes.env_dir {
        let (dir_env, skipped) = read_envdir(dir, OnDirectory::Skip).map_err(|err| match err {
            // runit's words differ from daemontools' here only.
            EnvDirError::Open(err) => Failure::temporary(format!(
                "unable to switch to directory: {}: {}",
                dir.display(),
                errstr::io_str(&err)
            )),
            err => crate::tools::envdir::envdir_failure(dir, err),
        })?;
        if changes.verbose {
            for name in skipped {
                warn(
                    TOOL,
                    format!(
                        "unable to read {}/{}: is a directory",
                        dir.display(),
                        name.to_string_lossy()
                    ),
                );
            }
        }
        env.extend(dir_env);
    }
    if let Some(root) = &changes.root {
        std::env::set_current_dir(root).map_err(|err| {
            Failure::temporary(format!(
                "unable to change directory: {}: {}",
                root.display(),
                errstr::io_str(&err)
            ))
        })?;
        nix::unistd::chroot(".")
            .map_err(|errno| Failure::sys("change root directory", &errno.into()))?;
    }
    if let Some(spec) = &changes.set_user {
        let (uid, gids) = user_spec(spec)?;
        drop_privileges(uid, gids[0], &gids)?;
    }
    let program = argv[0].clone();
    if let Some(argv0) = changes.argv0 {
        argv[0] = argv0;
    }
    let mut spec = ChildSpec::with_argv(&program, argv);
    spec.env(&env);
    if changes.new_session {
        spec.session(Session::New);
    }
    for (fd, close) in changes.close.iter().enumerate() {
        if *close {
            spec.close(fd as i32);
        }
    }
    let err = spec.exec();
    Err(Failure::temporary(format!(
        "unable to run: {}: {}",
        program.to_string_lossy(),
        errstr::io_str(&err)
    )))
}

/// runit's account spec: `user` (its uid and gid), `user:group[:group...]`
/// (those groups, the first being the gid), or `:uid:gid[:gid...]`.
fn user_spec(spec: &str) -> Result<(Uid, Vec<Gid>), Failure> {
    if let Some(numeric) = spec.strip_prefix(':') {
        let mut parts = numeric.split(':');
        let uid = parts.next().and_then(|u| u.parse().ok());
        let gids: Option<Vec<Gid>> = parts.map(|g| g.parse().ok().map(Gid::from_raw)).collect();
        return match (uid, gids) {
            (Some(uid), Some(gids)) if !gids.is_empty() => Ok((Uid::from_raw(uid), gids)),
            _ => Err(Failure::temporary(format!("invalid uid/gids: {numeric}"))),
        };
    }
    let unknown = || Failure::temporary(format!("unknown user/group: {spec}"));
    let mut parts = spec.split(':');
    let user = parts.next().unwrap_or_default();
    let account = Account::lookup(user).map_err(|_| unknown())?;
    let groups: Vec<&str> = parts.collect();
    if groups.is_empty() {
        return Ok((account.uid, vec![account.gid]));
    }
    let gids: Option<Vec<Gid>> = groups.iter().map(|name| group_id(name)).collect();
    Ok((account.uid, gids.ok_or_else(unknown)?))
}
