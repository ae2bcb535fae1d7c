//! `softlimit [-a -c -d -f -l -m -o -p -r -s -t N] child...`: run child
//! with lower soft resource limits. `=` as N means the hard limit; a value
//! above the hard limit is lowered to it. See `docs/softlimit.md`.

use std::ffi::OsString;

use nix::sys::resource::Resource;

use crate::chain::limits::parse_limit;
use crate::chain::{self, EnvChanges, MEMORY, set_soft_limit};
use crate::fail::Failure;

const TOOL: &str = "softlimit";

fn usage() -> Failure {
    Failure::usage(
        "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child",
    )
}

/// The resources an option letter sets (`-m`: all memory limits).
pub fn resources(letter: char) -> &'static [Resource] {
    match letter {
        'a' => &[Resource::RLIMIT_AS],
        'c' => &[Resource::RLIMIT_CORE],
        'd' => &[Resource::RLIMIT_DATA],
        'f' => &[Resource::RLIMIT_FSIZE],
        'l' => &[Resource::RLIMIT_MEMLOCK],
        'm' => MEMORY,
        'o' => &[Resource::RLIMIT_NOFILE],
        'p' => &[Resource::RLIMIT_NPROC],
        'r' => &[Resource::RLIMIT_RSS],
        's' => &[Resource::RLIMIT_STACK],
        't' => &[Resource::RLIMIT_CPU],
        _ => &[],
    }
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let rest = chain::options(args, TOOL, "", "acdflmoprst", usage, |letter, value| {
        let limit = value.as_ref().and_then(parse_limit).ok_or_else(usage)?;
        for &resource in resources(letter) {
            set_soft_limit(resource, limit).map_err(|err| Failure::sys("setrlimit", &err))?;
        }
        Ok(())
    })?;
    if rest.is_empty() {
        return Err(usage());
    }
    Err(chain::exec_or_fail(&rest, &EnvChanges::new()))
}
