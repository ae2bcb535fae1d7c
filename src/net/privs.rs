//! Dropping root's privileges for a network server's program: the group
//! first (with the account's supplementary groups, as `initgroups` gives
//! them), then the user. (src/chain/ holds setuidgid's own version; the
//! two are to be unified.)

use std::ffi::CString;

use nix::unistd::{Gid, Uid, initgroups, setgid, setgroups, setuid};

/// Which call failed, with the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropError {
    SetGid(Gid, nix::Error),
    SetGroups(nix::Error),
    InitGroups(String, Gid, nix::Error),
    SetUid(Uid, nix::Error),
}

/// Become group `gid` with the supplementary groups of account `name`
/// (or none when no account name is known). Must run before
/// [`set_user`], while still root.
pub fn set_groups(name: Option<&str>, gid: Gid) -> Result<(), DropError> {
    setgid(gid).map_err(|e| DropError::SetGid(gid, e))?;
    setgroups(&[]).map_err(DropError::SetGroups)?;
    if let Some(name) = name {
        let cname = CString::new(name)
            .map_err(|_| DropError::InitGroups(name.to_string(), gid, nix::Error::EINVAL))?;
        initgroups(&cname, gid).map_err(|e| DropError::InitGroups(name.to_string(), gid, e))?;
    }
    Ok(())
}

/// Become user `uid` (last step: afterwards the groups cannot change).
pub fn set_user(uid: Uid) -> Result<(), DropError> {
    setuid(uid).map_err(|e| DropError::SetUid(uid, e))
}

/// Drop to account `name` (`uid`, primary group `gid`) keeping its
/// supplementary groups: initgroups, setgid, setuid.
pub fn drop_privileges(name: &str, uid: Uid, gid: Gid) -> Result<(), DropError> {
    set_groups(Some(name), gid)?;
    set_user(uid)
}
