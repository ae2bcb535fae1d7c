//! tend: a process supervision suite, drop-in for daemontools.
//!
//! One multi-call binary: invoked through a link named after a tool (`svc`,
//! `supervise`, ...) or as `tend TOOL ARGS...`, it runs that tool. Each tool
//! lives in `tools/` and holds only its argument handling and its own logic;
//! the shared mechanisms live once, below.

pub mod chain;
pub mod decimal;
pub mod errstr;
pub mod fail;
pub mod getopt;
pub mod log;
pub mod net;
pub mod scan;
pub mod status;
pub mod supervise;
pub mod sys;
pub mod tai64;
pub mod tools;

use std::ffi::OsString;
use std::path::Path;

/// Run the tool that `argv` names and return the exit code.
pub fn dispatch(argv: Vec<OsString>) -> i32 {
    sys::default_sigpipe();
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let name =
        Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rest: Vec<OsString> = argv.collect();
    if let Some(tool) = tools::find(&name) {
        return tools::run(tool, rest);
    }
    tools::tend_main(rest)
}
