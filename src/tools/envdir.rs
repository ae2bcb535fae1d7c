//! `envdir DIR child...`: run child with one environment variable per file
//! of DIR. See `docs/envdir.md`.

use std::ffi::OsString;
use std::path::Path;

use crate::chain::envdir::EnvDirError;
use crate::chain::{self, OnDirectory, read_envdir};
use crate::errstr;
use crate::fail::Failure;

/// daemontools' envdir, unlike its other tools, exits 111 on bad usage.
fn usage() -> Failure {
    Failure { code: 111, ..Failure::usage("envdir dir child") }
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // As daemontools': no options, every argument taken as it is.
    if args.len() < 2 {
        return Err(usage());
    }
    let dir = Path::new(&args[0]);
    let (env, _) = read_envdir(dir, OnDirectory::Fail).map_err(|err| envdir_failure(dir, err))?;
    Err(chain::exec_or_fail(&args[1..], &env))
}

/// daemontools' words for a directory that cannot be read.
pub fn envdir_failure(dir: &Path, err: EnvDirError) -> Failure {
    let dir = dir.display();
    Failure::temporary(match err {
        EnvDirError::Open(err) => {
            format!("unable to switch to directory {dir}: {}", errstr::io_str(&err))
        }
        EnvDirError::List(err) => {
            format!("unable to read directory {dir}: {}", errstr::io_str(&err))
        }
        EnvDirError::File(name, err) => {
            format!("unable to read {dir}/{}: {}", name.to_string_lossy(), errstr::io_str(&err))
        }
    })
}
