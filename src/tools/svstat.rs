//! `svstat services...`: one line of status per service, in daemontools'
//! words, for example `/service/shop: up (pid 1234) 75 seconds`.
//!
//! The reading is `crate::svdir`'s, the line its daemontools printer's.
//! See `docs/svstat.md`.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::fail::{Context, Failure};
use crate::svdir::{self, print};
use crate::tai64::Tai64N;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let now = Tai64N::now();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for service in &args {
        let service = Path::new(service);
        print::daemontools(&mut out, service.display(), &svdir::state_of(service), now)
            .or_fail("write to stdout")?;
    }
    out.flush().or_fail("write to stdout")?;
    Ok(0)
}
