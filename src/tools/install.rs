//! `tend install [--force] DIR`: one symbolic link per tool in DIR, each
//! pointing at this binary, so that `svc`, `supervise`, ... can be called by
//! name.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use crate::fail::{Context, Failure};
use crate::tools::TOOLS;

const USAGE: &str = "tend install [--force] DIR";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut force = false;
    let mut dir: Option<PathBuf> = None;
    while let Some(arg) = parser.next().map_err(|_| Failure::usage(USAGE))? {
        match arg {
            Long("force") | Short('f') => force = true,
            Value(value) if dir.is_none() => dir = Some(PathBuf::from(value)),
            _ => return Err(Failure::usage(USAGE)),
        }
    }
    let dir = dir.ok_or_else(|| Failure::usage(USAGE))?;
    let target = std::env::current_exe().or_fail("find the tend binary")?;
    fs::create_dir_all(&dir).or_fail(format!("create {}", dir.display()))?;
    for tool in TOOLS {
        let link = dir.join(tool.name);
        if let Err(err) = symlink(&target, &link) {
            if err.kind() != io::ErrorKind::AlreadyExists {
                return Err(Failure::sys(format!("create {}", link.display()), &err));
            }
            if !force {
                return Err(Failure::temporary(format!(
                    "unable to create {}: file already exists (use --force to replace it)",
                    link.display()
                )));
            }
            let temp = dir.join(format!(".{}.tend-new", tool.name));
            let _ = fs::remove_file(&temp);
            symlink(&target, &temp).or_fail(format!("create {}", temp.display()))?;
            fs::rename(&temp, &link).or_fail(format!("replace {}", link.display()))?;
        }
    }
    Ok(0)
}
