//! `envuidgid ACCOUNT child...`: run child with `$UID` and `$GID` set to
//! ACCOUNT's uid and gid (for programs that drop privileges themselves).
//! See `docs/envuidgid.md`.

use std::ffi::OsString;

use crate::chain::{self, Account, EnvChanges};
use crate::fail::Failure;

fn usage() -> Failure {
    Failure::usage("envuidgid account child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // As daemontools': no options, every argument taken as it is.
    if args.len() < 2 {
        return Err(usage());
    }
    let account = Account::lookup(&args[0].to_string_lossy())?;
    Err(chain::exec_or_fail(&args[1..], &account_env(&account)))
}

/// `$UID` and `$GID` for `account`, shared with `chpst -U`.
pub fn account_env(account: &Account) -> EnvChanges {
    let mut env = EnvChanges::new();
    env.set(b"UID", account.uid.to_string().as_bytes());
    env.set(b"GID", account.gid.to_string().as_bytes());
    env
}
