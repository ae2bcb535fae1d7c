//! `svok service`: exit 0 if a supervisor is running for the service, 100
//! if none is (as daemontools' svok: the same code as a usage error), 111
//! if the answer cannot be found.
//! See `docs/svok.md`.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use nix::errno::Errno;

use crate::errstr;
use crate::fail::Failure;
use crate::svdir::ServiceDir;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let Some(dir) = args.first() else {
        return Err(Failure::bare(100, "svok: usage: svok dir"));
    };
    let dir = Path::new(dir);
    let name = dir.display();
    let service = ServiceDir::open(dir)
        .map_err(|e| Failure::sys(format!("chdir to {name}"), &io::Error::from(e)))?;
    match service.supervisor_alive() {
        Ok(true) => Ok(0),
        Ok(false) | Err(Errno::ENOENT) => Ok(100),
        Err(errno) => Err(Failure::temporary(format!(
            "unable to open {name}/supervise/ok: {}",
            errstr::nix_str(errno)
        ))),
    }
}
