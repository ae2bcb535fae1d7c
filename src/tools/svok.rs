//! `svok service`: exit 0 if a supervisor is running for the service, 100
//! if none is (as daemontools' svok: the same code as a usage error), 111
//! if the answer cannot be found.
//! See `docs/svok.md`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::errstr;
use crate::fail::Failure;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let Some(dir) = args.first() else {
        return Err(Failure::bare(100, "svok: usage: svok dir"));
    };
    let dir = Path::new(dir);
    let name = dir.display();
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Failure::temporary(format!("unable to chdir to {name}: not a directory")));
        }
        Err(err) => return Err(Failure::sys(format!("chdir to {name}"), &err)),
    }
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("supervise/ok"))
    {
        Ok(_) => Ok(0),
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENXIO)) => Ok(100),
        Err(err) => Err(Failure::temporary(format!(
            "unable to open {name}/supervise/ok: {}",
            errstr::io_str(&err)
        ))),
    }
}
