//! Dropping root's privileges for a network server's program: the group
//! first (with the account's supplementary groups, as `initgroups` gives
//! them), then the user. (src/chain/ holds setuidgid's own version; the
//! two are to be unified.)
//!
//! Accounts are read from /etc/passwd and /etc/group directly, not
//! through the C library's NSS: tend may be linked statically, and a
//! static glibc's getpwnam/initgroups can crash loading NSS modules.

use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

/// One /etc/passwd entry (the fields tend needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Account> + '_ {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        (!name.is_empty() && !name.starts_with(['+', '-', '#'])).then(|| Account {
            name: name.to_string(),
            uid,
            gid,
        })
    })
}

/// (name, gid, members) of each /etc/group entry.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> + '_ {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let gid = f.next()?.parse().ok()?;
        let members = f.next().unwrap_or("").split(',').filter(|m| !m.is_empty()).collect();
        (!name.is_empty() && !name.starts_with(['+', '-', '#'])).then_some((name, gid, members))
    })
}

/// The account called `name` in passwd text.
pub fn account_named(passwd: &str, name: &str) -> Option<Account> {
    passwd_entries(passwd).find(|a| a.name == name)
}

/// The account with `uid` in passwd text.
pub fn account_with_uid(passwd: &str, uid: u32) -> Option<Account> {
    passwd_entries(passwd).find(|a| a.uid == uid)
}

/// The gid of the group called `name` in group text.
pub fn group_named(group: &str, name: &str) -> Option<u32> {
    group_entries(group).find(|(n, _, _)| *n == name).map(|(_, gid, _)| gid)
}

/// What `initgroups(user, gid)` sets: `gid`, then every group that lists
/// `user` as a member, without repeats.
pub fn groups_of(group: &str, user: &str, gid: u32) -> Vec<u32> {
    let mut list = vec![gid];
    for (_, g, members) in group_entries(group) {
        if members.contains(&user) && !list.contains(&g) {
            list.push(g);
        }
    }
    list
}

/// The text of /etc/passwd (empty if unreadable).
pub fn passwd_text() -> String {
    std::fs::read_to_string("/etc/passwd").unwrap_or_default()
}

/// The text of /etc/group (empty if unreadable).
pub fn group_text() -> String {
    std::fs::read_to_string("/etc/group").unwrap_or_default()
}

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
        let list: Vec<Gid> =
            groups_of(&group_text(), name, gid.as_raw()).into_iter().map(Gid::from_raw).collect();
        setgroups(&list).map_err(|e| DropError::InitGroups(name.to_string(), gid, e))?;
    }
    Ok(())
}

/// Become user `uid` (last step: afterwards the groups cannot change).
pub fn set_user(uid: Uid) -> Result<(), DropError> {
    setuid(uid).map_err(|e| DropError::SetUid(uid, e))
}

/// Drop to account `name` (`uid`, primary group `gid`) keeping its
/// supplementary groups: the groups, setgid, then setuid.
pub fn drop_privileges(name: &str, uid: Uid, gid: Gid) -> Result<(), DropError> {
    set_groups(Some(name), gid)?;
    set_user(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                          web:x:993:992::/home/web:/bin/sh\n+nis\n";
    const GROUP: &str = "root:x:0:\ndaemon:x:1:web,other\nadm:x:4:web\nweb:x:992:\n\
                         nogroup:x:65534:\nbad line\n";

    #[test]
    fn accounts() {
        assert_eq!(
            account_named(PASSWD, "web"),
            Some(Account { name: "web".into(), uid: 993, gid: 992 })
        );
        assert_eq!(account_with_uid(PASSWD, 65534).unwrap().name, "nobody");
        assert_eq!(account_named(PASSWD, "+nis"), None);
        assert_eq!(account_named(PASSWD, "nosuch"), None);
        assert_eq!(group_named(GROUP, "nogroup"), Some(65534));
        assert_eq!(group_named(GROUP, "bad line"), None);
    }

    #[test]
    fn supplementary_groups_as_initgroups() {
        assert_eq!(groups_of(GROUP, "web", 992), vec![992, 1, 4]);
        assert_eq!(groups_of(GROUP, "web", 1), vec![1, 4]);
        assert_eq!(groups_of(GROUP, "nobody", 65534), vec![65534]);
    }
}
