//! `multilog script...`: read a log from stdin and act on each line as the
//! script says (daemontools).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::fail::Failure;
use crate::log::{engine::Engine, script};

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let args: Vec<Vec<u8>> = args.into_iter().map(OsStringExt::into_vec).collect();
    let script = script::parse(&args);
    Engine::new("multilog", script)?.run()
}
