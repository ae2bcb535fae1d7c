//! Soft resource limits, as `softlimit` and `chpst` set them.

use std::io;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// A new soft limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// As high as the hard limit (`=`).
    Hard,
    /// This many units; above the hard limit it is lowered to it.
    Value(u64),
}

/// The resources `-m` sets together: everything that bounds memory.
pub const MEMORY: &[Resource] =
    &[Resource::RLIMIT_DATA, Resource::RLIMIT_STACK, Resource::RLIMIT_MEMLOCK, Resource::RLIMIT_AS];

/// Set the soft limit of `resource`, never above the hard limit (an
/// unprivileged process could not raise it, and daemontools lowers it).
pub fn set_soft_limit(resource: Resource, limit: Limit) -> io::Result<()> {
    let (_, hard) = getrlimit(resource)?;
    let soft = match limit {
        Limit::Hard => hard,
        Limit::Value(value) => value.min(hard),
    };
    setrlimit(resource, soft, hard)?;
    Ok(())
}

/// Parse a limit argument: `=` or a decimal count.
pub fn parse_limit(text: &std::ffi::OsString) -> Option<Limit> {
    if text == "=" {
        return Some(Limit::Hard);
    }
    super::parse_count(text).map(Limit::Value)
}
