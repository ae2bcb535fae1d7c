//! tend: a process supervision suite, drop-in for daemontools.
//!
//! One multi-call binary: invoked through a link named after a tool (`svc`,
//! `supervise`, ...) or as `tend TOOL ARGS...`, it runs that tool. Each tool
//! lives in `tools/` and holds only its argument handling and its own logic;
//! the shared mechanisms live once, below.

#![deny(unsafe_code)]

pub(crate) mod chain;
pub(crate) mod decimal;
pub(crate) mod errstr;
pub(crate) mod event_loop;
pub(crate) mod fail;
pub(crate) mod getopt;
pub(crate) mod log;
pub(crate) mod net;
pub(crate) mod scan;
pub(crate) mod spawn;
pub(crate) mod supervise;
pub(crate) mod svdir;
#[allow(unsafe_code)]
pub(crate) mod sys;
pub(crate) mod tai64;
pub(crate) mod tools;

/// What the integration tests reach inside the crate: the exactly-once
/// note a killed logger leaves, which they forge to test the recovery.
/// Nothing else is public but [`dispatch`].
#[doc(hidden)]
pub mod testing {
    pub use crate::log::engine::Midline;
    pub use crate::log::once::{Note, hash};
}

use std::ffi::OsString;
use std::path::Path;

/// Run the tool that `argv` names and return the exit code.
pub fn dispatch(argv: Vec<OsString>) -> i32 {
    sys::signal::default_sigpipe();
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
