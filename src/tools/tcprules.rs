//! `tcprules rules.cdb rules.tmp`: compile the access rules on standard
//! input into a cdb for `tcpserver -x`, written to rules.tmp and moved
//! over rules.cdb atomically. See `docs/tcprules.md`.

use std::ffi::OsString;
use std::io::Read;

use crate::fail::{Context, Failure};
use crate::net::rules;

const USAGE: &str = "tcprules rules.cdb rules.tmp";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let [cdb_path, tmp_path] =
        <[OsString; 2]>::try_from(args).map_err(|_| Failure::usage(USAGE))?;
    let (cdb_name, tmp_name) = (cdb_path.to_string_lossy(), tmp_path.to_string_lossy());
    let mut text = Vec::new();
    std::io::stdin().read_to_end(&mut text).or_fail("read input")?;
    let entries = rules::compile(&text).map_err(|line| {
        Failure::permanent(format!("unable to parse this line: {}", String::from_utf8_lossy(&line)))
    })?;
    let file = std::fs::File::create(&tmp_path).or_fail(format!("create {tmp_name}"))?;
    let mut make = cdb::CDBMake::new(file).or_fail(format!("create {tmp_name}"))?;
    for (key, data) in entries {
        make.add(&key, &data).or_fail(format!("create {tmp_name}"))?;
    }
    make.finish().or_fail(format!("create {tmp_name}"))?;
    std::fs::rename(&tmp_path, &cdb_path).or_fail(format!("move {tmp_name} to {cdb_name}"))?;
    Ok(0)
}
