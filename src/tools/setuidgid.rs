//! `setuidgid [-s] ACCOUNT child...`: run child as ACCOUNT's uid and gid,
//! with the supplementary groups reduced to that gid (or, with `-s`, every
//! group ACCOUNT is a member of). See `docs/setuidgid.md`.

use std::ffi::OsString;

use crate::chain::{self, Account, EnvChanges, drop_privileges};
use crate::fail::Failure;

const TOOL: &str = "setuidgid";

fn usage() -> Failure {
    Failure::usage("setuidgid [-s] account child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut member_groups = false;
    let rest = chain::options(args, TOOL, "s", "", usage, |_, _| {
        member_groups = true;
        Ok(())
    })?;
    if rest.len() < 2 {
        return Err(usage());
    }
    let account = Account::lookup(&rest[0].to_string_lossy())?;
    let groups = if member_groups { account.member_groups()? } else { vec![account.gid] };
    drop_privileges(account.uid, account.gid, &groups)?;
    Err(chain::exec_or_fail(&rest[1..], &EnvChanges::new()))
}
