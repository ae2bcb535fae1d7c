//! `tcprules rules.cdb rules.tmp`: compile ucspi-tcp access rules read on
//! stdin into the cdb tcpserver's `-x` reads, written to rules.tmp and
//! renamed over rules.cdb (atomically). See `docs/tcprules.md`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

use crate::errstr;
use crate::fail::Failure;
use crate::net::{cdb, rules};

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let usage = || Failure::usage("tcprules rules.cdb rules.tmp");
    let mut args = args.into_iter();
    let target = args.next().ok_or_else(usage)?;
    let tmp = args.next().ok_or_else(usage)?;
    let (target, tmp) = (Path::new(&target), Path::new(&tmp));
    let mut file = std::fs::File::create(tmp).map_err(|e| {
        Failure::temporary(format!("unable to create {}: {}", tmp.display(), errstr::io_str(&e)))
    })?;
    let mut text = Vec::new();
    std::io::stdin().read_to_end(&mut text).map_err(|e| Failure::sys("read input", &e))?;
    let records = rules::compile(&text).map_err(|line| {
        Failure::permanent(format!("unable to parse this line: {}", String::from_utf8_lossy(&line)))
    })?;
    let db = cdb::build(&records)
        .map_err(|why| Failure::temporary(format!("unable to write {}: {why}", tmp.display())))?;
    let write_err = |e: std::io::Error| {
        Failure::temporary(format!("unable to write {}: {}", tmp.display(), errstr::io_str(&e)))
    };
    file.write_all(&db).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(tmp, target).map_err(|e| {
        Failure::temporary(format!(
            "unable to move {} to {}: {}",
            tmp.display(),
            target.display(),
            errstr::io_str(&e)
        ))
    })?;
    Ok(0)
}
