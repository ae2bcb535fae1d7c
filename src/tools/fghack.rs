//! `fghack child...`: keep a program that puts itself in the background
//! under supervision. fghack runs child with 30 extra copies of a pipe's
//! write end, which every descendant inherits, and exits only when all of
//! them have closed it, with child's exit code. See `docs/fghack.md`.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::OwnedFd;

use crate::chain::{self};
use crate::fail::{Context, Failure};
use crate::spawn::{ChildSpec, Ending};

const COPIES: usize = 30;

fn usage() -> Failure {
    Failure::usage("fghack child")
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // As daemontools': no options, every argument taken as it is.
    if args.is_empty() {
        return Err(usage());
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| Failure::sys("create pipe", &errno.into()))?;
    // Both ends are close-on-exec; plain dups are not, so these copies are
    // what the child and its descendants keep.
    let copies: Vec<OwnedFd> = (0..COPIES)
        .map(|_| nix::unistd::dup(&write).map_err(|errno| Failure::sys("dup", &errno.into())))
        .collect::<Result<_, _>>()?;
    let child =
        ChildSpec::command(&args).spawn().map_err(|err| chain::run_failure(&args[0], &err))?;
    drop(copies);
    drop(write);
    let mut read = std::fs::File::from(read);
    let mut sink = [0u8; 512];
    loop {
        match read.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    match child.wait().or_fail("wait")? {
        Ending::Exited(code) => Ok(code),
        Ending::Signaled { .. } => Err(Failure::temporary("child crashed")),
    }
}
