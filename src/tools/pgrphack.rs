//! `pgrphack child...`: run child in a new session (and so a new process
//! group), away from supervise's. See `docs/pgrphack.md`.

use std::ffi::OsString;

use crate::chain;
use crate::fail::Failure;
use crate::spawn::{ChildSpec, Session};

fn usage() -> Failure {
    Failure::usage("pgrphack child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // As daemontools': no options, every argument taken as it is.
    if args.is_empty() {
        return Err(usage());
    }
    // Already a session leader is fine: the child is in its own group then.
    let err = ChildSpec::command(&args).session(Session::New).exec();
    Err(chain::run_failure(&args[0], &err))
}
