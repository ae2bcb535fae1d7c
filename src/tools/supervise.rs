//! `supervise DIR`: start and watch the service in DIR.
//!
//! See `docs/supervise.md`. The work is in `crate::supervise`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::fail::Failure;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut args = args.into_iter();
    let dir = match args.next() {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => return Err(Failure::usage("supervise dir")),
    };
    crate::supervise::supervise(&dir)
}
