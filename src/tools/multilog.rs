//! multilog: read a log on stdin, select, stamp and write it to rotated
//! log directories, as daemontools' multilog does.
//!
//! When stdin is a pipe, every batch is only taken off the pipe once it is
//! written (see `log::once`), so a logger killed at any moment and
//! restarted on the same pipe loses and doubles no line.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;

use crate::fail::Failure;
use crate::log::dir::multilog::MultilogDir;
use crate::log::dir::{LogDir, Style};
use crate::log::engine::Engine;
use crate::log::{run, script};

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let script = script::parse(&args);
    let mut dirs: Vec<Box<dyn LogDir>> = Vec::with_capacity(script.dirs.len());
    for spec in &script.dirs {
        dirs.push(Box::new(MultilogDir::open(spec)?));
    }
    let mut status = Vec::with_capacity(script.status.len());
    for path in &script.status {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(|e| Failure::sys(format!("open {}", path.display()), &e))?;
        status.push(file);
    }
    run::run(Style::Multilog, Engine::new(&script), dirs, status, None)?;
    Ok(0)
}
