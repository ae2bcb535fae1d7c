//! `tend install [-f|--force] DIR`: one symbolic link per tool in DIR, each
//! pointing at this binary, so that `svc`, `supervise`, ... can be called by
//! name.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use crate::fail::{Context, Failure};
use crate::getopt::{Spec, Style};
use crate::tools::TOOLS;

const USAGE: &str = "tend install [-f|--force] DIR";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // tend's own tool, so GNU conventions: options anywhere, and `--force`
    // (the one long option) is `-f`.
    let args = args.into_iter().map(|a| if a == "--force" { "-f".into() } else { a }).collect();
    let mut force = false;
    let spec = Spec { flags: "f", valued: "", style: Style::Gnu };
    let rest = spec
        .parse(args, |_, _| {
            force = true;
            Ok::<(), Failure>(())
        })
        .map_err(|_| Failure::usage(USAGE))?;
    let [dir] = &rest[..] else {
        return Err(Failure::usage(USAGE));
    };
    let dir = PathBuf::from(dir);
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
