//! Accounts and dropping privileges to one.
//!
//! Accounts come from `/etc/passwd` and `/etc/group`, read here, not
//! through the C library's `getpwnam`: tend is linked statically (for a
//! small supervisor), and a static binary cannot safely load the NSS
//! modules `getpwnam` may call (`libnss_systemd` crashes it when an account
//! is not in the files). Service accounts are local accounts; accounts that
//! exist only in LDAP or NIS are not seen.

use std::ffi::CString;
use std::fs;
use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::errstr;
use crate::fail::Failure;

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// A user account from the password file.
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
        let passwd = read_database(PASSWD)?;
        let (uid, gid) =
            find_user(&passwd, name.as_bytes()).ok_or_else(|| unknown_account(name))?;
        Ok(Account {
            name: CString::new(name).map_err(|_| unknown_account(name))?,
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
        })
    }

    /// The account with uid `uid`, if the password file has one.
    pub fn by_uid(uid: Uid) -> Option<Account> {
        let passwd = fs::read(PASSWD).ok()?;
        let fields = records(&passwd)
            .find(|fields| fields.len() >= 4 && number(fields[2]) == Some(uid.as_raw()))?;
        Some(Account {
            name: CString::new(fields[0]).ok()?,
            uid,
            gid: Gid::from_raw(number(fields[3])?),
        })
    }

    /// The account's gid and every group the group file lists it in.
    pub fn member_groups(&self) -> Result<Vec<Gid>, Failure> {
        supplementary_groups(self.name.as_bytes(), self.gid)
    }
}

/// `gid` and every group the group file lists `user` in, as `initgroups`
/// sets them.
pub fn supplementary_groups(user: &[u8], gid: Gid) -> Result<Vec<Gid>, Failure> {
    let group = read_database(GROUP)?;
    let mut gids = vec![gid];
    for member_of in groups_of(&group, user) {
        let member_of = Gid::from_raw(member_of);
        if !gids.contains(&member_of) {
            gids.push(member_of);
        }
    }
    Ok(gids)
}

fn read_database(path: &str) -> Result<Vec<u8>, Failure> {
    fs::read(Path::new(path)).map_err(|err| {
        Failure::temporary(format!("unable to read {path}: {}", errstr::io_str(&err)))
    })
}

fn unknown_account(name: &str) -> Failure {
    Failure::temporary(format!("unknown account {name}"))
}

/// The gid of the group called `name`, if the group file has it.
pub fn group_id(name: &str) -> Option<Gid> {
    let group = fs::read(GROUP).ok()?;
    find_group(&group, name.as_bytes()).map(Gid::from_raw)
}

/// The fields of each well-formed line of a colon-separated database.
fn records(text: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
        .map(|line| line.split(|&b| b == b':').collect())
}

fn number(field: &[u8]) -> Option<u32> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `name:password:uid:gid:...` → uid and gid of `name`.
fn find_user(passwd: &[u8], name: &[u8]) -> Option<(u32, u32)> {
    records(passwd)
        .find(|fields| fields.len() >= 4 && fields[0] == name)
        .and_then(|fields| Some((number(fields[2])?, number(fields[3])?)))
}

/// `name:password:gid:members` → gid of `name`.
fn find_group(group: &[u8], name: &[u8]) -> Option<u32> {
    records(group).find(|fields| fields.len() >= 3 && fields[0] == name).and_then(|f| number(f[2]))
}

/// The gids of every group listing `user` as a member.
fn groups_of<'a>(group: &'a [u8], user: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
    records(group)
        .filter(move |fields| {
            fields.len() >= 4 && fields[3].split(|&b| b == b',').any(|member| member == user)
        })
        .filter_map(|fields| number(fields[2]))
}

/// Set the supplementary groups, then the gid, then the uid, in the only
/// order that works: once the uid is dropped, nothing else can change.
pub fn drop_privileges(uid: Uid, gid: Gid, groups: &[Gid]) -> Result<(), Failure> {
    nix::unistd::setgroups(groups).map_err(|errno| Failure::sys("setgroups", &errno.into()))?;
    nix::unistd::setgid(gid).map_err(|errno| Failure::sys("setgid", &errno.into()))?;
    nix::unistd::setuid(uid).map_err(|errno| Failure::sys("setuid", &errno.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        # a comment\n\
        web:x:1001:1002::/srv/web:/usr/sbin/nologin\n\
        broken:x:notanumber:1\n\
        short:x\n";
    const GROUP: &[u8] = b"root:x:0:\n\
        web:x:1002:\n\
        adm:x:4:syslog,web\n\
        www:x:33:webmaster\n\
        shared:x:2000:web\n";

    #[test]
    fn users_by_name() {
        assert_eq!(find_user(PASSWD, b"web"), Some((1001, 1002)));
        assert_eq!(find_user(PASSWD, b"root"), Some((0, 0)));
        assert_eq!(find_user(PASSWD, b"we"), None);
        assert_eq!(find_user(PASSWD, b"broken"), None);
        assert_eq!(find_user(PASSWD, b"short"), None);
        assert_eq!(find_user(PASSWD, b"# a comment"), None);
    }

    #[test]
    fn groups_by_name_and_membership() {
        assert_eq!(find_group(GROUP, b"adm"), Some(4));
        assert_eq!(find_group(GROUP, b"nosuch"), None);
        assert_eq!(groups_of(GROUP, b"web").collect::<Vec<_>>(), vec![4, 2000]);
        // Whole names only: `web` is not a member of `www` via `webmaster`.
        assert_eq!(groups_of(GROUP, b"webmaster").collect::<Vec<_>>(), vec![33]);
    }
}
