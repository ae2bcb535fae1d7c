//! Accounts, read from `/etc/passwd` as tend reads them, and created for a
//! test when missing. The test binaries are linked statically like tend,
//! and `getpwnam` in a static binary crashes when it falls through to an
//! NSS module (`libnss_systemd`) for an account not in the files.

use std::process::Command;

/// The uid and gid of account `name` in `/etc/passwd`.
pub fn account(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || fields[0] != name {
            return None;
        }
        Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
    })
}

/// The uid and gid of `name`, a system account (no home, no login shell,
/// a group of its own, and a member of `groups`) created with `useradd`
/// if it does not exist yet. Needs root.
pub fn ensure_account(name: &str, groups: &[&str]) -> (u32, u32) {
    // One useradd at a time: two at once fail to lock /etc/passwd.
    static USERADD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = USERADD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(ids) = account(name) {
        return ids;
    }
    let mut cmd = Command::new("useradd");
    cmd.args(["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin"]);
    if !groups.is_empty() {
        cmd.arg("--groups").arg(groups.join(","));
    }
    let out = cmd.arg(name).output().expect("run useradd");
    assert!(out.status.success(), "useradd {name}: {}", String::from_utf8_lossy(&out.stderr));
    account(name).expect("the account useradd created")
}
