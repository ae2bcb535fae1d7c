//! Accounts for `spawn-fcgi -u/-g` and `tcpserver -u/-g`: names or
//! numbers, resolved by the chain-loading tools' account code.

use nix::unistd::{Gid, Uid};

use crate::chain::account::{Account, group_id, supplementary_groups};
use crate::fail::Failure;

/// A user by name or number: uid, primary gid, and name (for the
/// supplementary groups) when the account exists. A number without an
/// account stands for itself, with the same number as gid.
pub fn user(spec: &str) -> Option<(Uid, Gid, Option<String>)> {
    if let Ok(account) = Account::lookup(spec) {
        return Some((account.uid, account.gid, Some(spec.to_string())));
    }
    let uid = Uid::from_raw(spec.parse().ok()?);
    match Account::by_uid(uid) {
        Some(account) => {
            Some((account.uid, account.gid, Some(account.name.to_string_lossy().into_owned())))
        }
        None => Some((uid, Gid::from_raw(uid.as_raw()), None)),
    }
}

/// A group by name or number.
pub fn group(spec: &str) -> Option<Gid> {
    group_id(spec).or_else(|| spec.parse().ok().map(Gid::from_raw))
}

/// Become `gid` with exactly `groups` as supplementary groups, then `uid`
/// (if given).
pub fn drop_to(uid: Option<Uid>, gid: Gid, groups: &[Gid]) -> Result<(), Failure> {
    match uid {
        Some(uid) => crate::chain::drop_privileges(uid, gid, groups),
        None => {
            nix::unistd::setgroups(groups)
                .map_err(|errno| Failure::sys("setgroups", &errno.into()))?;
            nix::unistd::setgid(gid).map_err(|errno| Failure::sys("setgid", &errno.into()))
        }
    }
}

/// The supplementary groups of account `name` with primary group `gid`
/// (as `initgroups` would set them), `gid` first.
pub fn groups_of(name: &str, gid: Gid) -> Result<Vec<Gid>, Failure> {
    supplementary_groups(name.as_bytes(), gid)
}
