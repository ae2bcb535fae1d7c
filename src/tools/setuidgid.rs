//! `setuidgid [-s] ACCOUNT child...`: run child as ACCOUNT's uid and gid,
//! with the supplementary groups reduced to that gid (or, with `-s`, every
//! group ACCOUNT is a member of). See `docs/setuidgid.md`.

use std::ffi::OsString;

use crate::chain::{self, Account, EnvChanges, drop_privileges};
use crate::fail::Failure;

fn usage() -> Failure {
    Failure::usage("setuidgid [-s] account child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // daemontools' setuidgid has no options and takes every argument as it
    // is; `-s` (from daemontools-encore) is the one word read as an option,
    // and only first: no account name can begin with a dash.
    let member_groups = args.first().is_some_and(|a| a == "-s");
    let rest = &args[usize::from(member_groups)..];
    if rest.len() < 2 {
        return Err(usage());
    }
    let account = Account::lookup(&rest[0].to_string_lossy())?;
    let groups = if member_groups { account.member_groups()? } else { vec![account.gid] };
    drop_privileges(account.uid, account.gid, &groups)?;
    Err(chain::exec_or_fail(&rest[1..], &EnvChanges::new()))
}
