//! `setlock [-nNxX] FILE child...`: run child holding an exclusive lock on
//! FILE (created if needed). `-n`: fail at once if the lock is held; `-N`:
//! wait (default); `-x`: on failure exit 0 silently; `-X`: report it and
//! exit 111 (default). See `docs/setlock.md`.

use std::ffi::OsString;
use std::path::Path;

use crate::chain::{self, EnvChanges, LockError, lock_file};
use crate::errstr;
use crate::fail::Failure;

const TOOL: &str = "setlock";

fn usage() -> Failure {
    Failure::usage("setlock [ -nNxX ] file program [ arg ... ]")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut wait = true;
    let mut quiet = false;
    let rest = chain::options(args, TOOL, "nNxX", "", usage, |letter, _| {
        match letter {
            'n' => wait = false,
            'N' => wait = true,
            'x' => quiet = true,
            _ => quiet = false,
        }
        Ok(())
    })?;
    if rest.len() < 2 {
        return Err(usage());
    }
    let path = Path::new(&rest[0]);
    let _lock = match lock_file(path, wait) {
        Ok(lock) => lock,
        Err(_) if quiet => return Ok(0),
        Err(LockError::Open(err)) => {
            return Err(Failure::temporary(format!(
                "unable to open {}: {}",
                path.display(),
                errstr::io_str(&err)
            )));
        }
        Err(LockError::Lock(err)) => {
            return Err(Failure::temporary(format!(
                "unable to lock {}: {}",
                path.display(),
                errstr::io_str(&err)
            )));
        }
    };
    Err(chain::exec_or_fail(&rest[1..], &EnvChanges::new()))
}
