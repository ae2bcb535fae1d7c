//! `pgrphack child...`: run child in a new session (and so a new process
//! group), away from supervise's. See `docs/pgrphack.md`.

use std::ffi::OsString;

use crate::chain::{self, EnvChanges};
use crate::fail::Failure;

const TOOL: &str = "pgrphack";

fn usage() -> Failure {
    Failure::usage("pgrphack child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let rest = chain::options(args, TOOL, "", "", usage, |_, _| Ok(()))?;
    if rest.is_empty() {
        return Err(usage());
    }
    // Already a session leader is fine: the child is in its own group then.
    let _ = nix::unistd::setsid();
    Err(chain::exec_or_fail(&rest, &EnvChanges::new()))
}
