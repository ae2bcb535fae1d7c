//! Accounts and dropping privileges to one.

use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User};

use crate::errstr;
use crate::fail::Failure;

/// A user account from the password database.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: CString,
    pub uid: Uid,
    pub gid: Gid,
}

impl Account {
    /// Look `name` up; `unknown account NAME` (exit 111, as daemontools:
    /// the database may be temporarily unreadable) when it is not there.
    pub fn lookup(name: &str) -> Result<Account, Failure> {
        match User::from_name(name) {
            Ok(Some(user)) => Ok(Account {
                name: CString::new(name).map_err(|_| unknown_account(name))?,
                uid: user.uid,
                gid: user.gid,
            }),
            Ok(None) => Err(unknown_account(name)),
            Err(errno) => Err(Failure::temporary(format!(
                "unable to read the account database: {}",
                errstr::nix_str(errno)
            ))),
        }
    }
}

fn unknown_account(name: &str) -> Failure {
    Failure::temporary(format!("unknown account {name}"))
}

/// The gid of the group called `name`, if any.
pub fn group_id(name: &str) -> Option<Gid> {
    Group::from_name(name).ok().flatten().map(|group| group.gid)
}

/// What the supplementary groups become.
#[derive(Debug, Clone)]
pub enum Groups {
    /// Exactly these (daemontools' setuidgid: just the account's gid).
    Only(Vec<Gid>),
    /// Every group the account is a member of in the group database.
    Member(CString),
}

/// Set the supplementary groups, then the gid, then the uid, in the only
/// order that works: once the uid is dropped, nothing else can change.
pub fn drop_privileges(uid: Uid, gid: Gid, groups: &Groups) -> Result<(), Failure> {
    let result = match groups {
        Groups::Only(list) => nix::unistd::setgroups(list),
        Groups::Member(name) => nix::unistd::initgroups(name, gid),
    };
    result.map_err(|errno| Failure::sys("setgroups", &errno.into()))?;
    nix::unistd::setgid(gid).map_err(|errno| Failure::sys("setgid", &errno.into()))?;
    nix::unistd::setuid(uid).map_err(|errno| Failure::sys("setuid", &errno.into()))?;
    Ok(())
}
