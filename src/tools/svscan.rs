//! `svscan [-t SECONDS] [DIR]`: supervise every service in DIR (default:
//! the current directory). See `docs/svscan.md`; the work is in
//! `crate::scan`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::decimal;
use crate::fail::{Context, Failure};
use crate::scan::{self, Params};

const USAGE: &str = "svscan [-t seconds] [dir]";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // daemontools' svscan has no options: its first argument is the
    // directory, whatever it looks like, and the rest are ignored. `-t`
    // (tend's) is the one word read as an option, and only first.
    let mut args = args.into_iter().peekable();
    let mut rescan = None;
    if let Some(word) = args.next_if(|w| w.as_encoded_bytes().starts_with(b"-t")) {
        let value = match &word.as_encoded_bytes()[2..] {
            b"" => args.next().ok_or_else(|| Failure::usage(USAGE))?,
            rest => OsString::from(std::ffi::OsStr::from_bytes(rest)),
        };
        let secs = decimal::whole(value.as_encoded_bytes()).ok_or_else(|| Failure::usage(USAGE))?;
        rescan = (secs > 0).then(|| Duration::from_secs(secs));
    }
    let dir = args.next();
    // As daemontools' svscan: it works in the scan directory (and so holds
    // it busy), and names the services relative to it.
    if let Some(dir) = &dir {
        std::env::set_current_dir(dir)
            .or_fail(format!("chdir to {}", std::path::Path::new(dir).display()))?;
    }
    scan::scan(Params::svscan(".".into(), rescan)?)
}
