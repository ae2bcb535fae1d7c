//! A minimal account lookup and privilege drop for `spawn-fcgi -u/-g` and
//! `tcpserver -u/-g`.
//!
//! Kept small on purpose: the chain-loading tools (`setuidgid`, in
//! `src/chain/`) own the full account handling; this module is to be
//! pointed at theirs when the branches meet.

use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// A user by name or number: uid, primary gid, and name (for the
/// supplementary groups) when the account exists.
pub fn user(spec: &str) -> Option<(Uid, Gid, Option<String>)> {
    if let Ok(Some(user)) = User::from_name(spec) {
        return Some((user.uid, user.gid, Some(user.name)));
    }
    let uid: u32 = spec.parse().ok()?;
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => Some((user.uid, user.gid, Some(user.name))),
        _ => Some((Uid::from_raw(uid), Gid::from_raw(uid), None)),
    }
}

/// A group by name or number.
pub fn group(spec: &str) -> Option<Gid> {
    if let Ok(Some(group)) = Group::from_name(spec) {
        return Some(group.gid);
    }
    spec.parse().ok().map(Gid::from_raw)
}

/// Become `gid` with exactly `groups` as supplementary groups, then `uid`
/// (if given). The group change comes first, while still allowed.
pub fn drop_to(uid: Option<Uid>, gid: Gid, groups: &[Gid]) -> nix::Result<()> {
    setgroups(groups)?;
    setgid(gid)?;
    if let Some(uid) = uid {
        setuid(uid)?;
    }
    Ok(())
}

/// The supplementary groups of account `name` whose primary group is
/// `gid` (as `initgroups` would set them), `gid` first.
pub fn groups_of(name: &str, gid: Gid) -> nix::Result<Vec<Gid>> {
    let cname = std::ffi::CString::new(name).map_err(|_| nix::Error::EINVAL)?;
    nix::unistd::getgrouplist(&cname, gid)
}
