//! `svscan [-t SECONDS] [DIR]`: supervise every service in DIR (default:
//! the current directory). See `docs/svscan.md`; the work is in
//! `crate::scan`.

use std::ffi::OsString;
use std::time::Duration;

use crate::fail::{Context, Failure};
use crate::scan::{self, Params};

const USAGE: &str = "svscan [-t seconds] [dir]";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut dir: Option<OsString> = None;
    let mut rescan = None;
    while let Some(arg) = parser.next().map_err(|_| Failure::usage(USAGE))? {
        match arg {
            Short('t') => {
                let value = parser.value().map_err(|_| Failure::usage(USAGE))?;
                let secs: u64 = value.parse().map_err(|_| Failure::usage(USAGE))?;
                rescan = (secs > 0).then(|| Duration::from_secs(secs));
            }
            Value(value) if dir.is_none() => dir = Some(value),
            _ => return Err(Failure::usage(USAGE)),
        }
    }
    // As daemontools' svscan: it works in the scan directory (and so holds
    // it busy), and names the services relative to it.
    if let Some(dir) = &dir {
        std::env::set_current_dir(dir)
            .or_fail(format!("chdir to {}", std::path::Path::new(dir).display()))?;
    }
    scan::scan(Params::svscan(".".into(), rescan)?)
}
