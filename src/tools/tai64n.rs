//! `tai64n`: put a TAI64N time stamp (`@` and 24 hex digits, then a space)
//! in front of every line of input, as daemontools' `tai64n` does. The stamp
//! is the time the line's first byte was read. Output is written after
//! every read, so a slow producer's lines appear at once. See
//! `docs/tai64n.md`.

use std::ffi::OsString;
use std::io::{self, Read, Write};

use crate::fail::Failure;
use crate::tai64::Tai64N;

pub fn main(_args: Vec<OsString>) -> Result<i32, Failure> {
    let mut at_line_start = true;
    filter(|input, out| at_line_start = stamp_lines(input, at_line_start, Tai64N::now, out))
}

/// Copy standard input to standard output through `convert`, a read at a
/// time, writing after every read so that a slow producer's lines appear
/// at once. Shared with `tai64nlocal`.
pub fn filter(mut convert: impl FnMut(&[u8], &mut Vec<u8>)) -> Result<i32, Failure> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut output = stdout.lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(80 * 1024);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(0),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Failure::sys("read input", &err)),
        };
        out.clear();
        convert(&buf[..n], &mut out);
        output.write_all(&out).map_err(|err| Failure::sys("write output", &err))?;
        output.flush().map_err(|err| Failure::sys("write output", &err))?;
    }
}

/// Copy `input` to `out`, a stamp from `now` before each line that starts in
/// it; returns whether the next byte begins a line.
fn stamp_lines(
    input: &[u8],
    mut at_line_start: bool,
    mut now: impl FnMut() -> Tai64N,
    out: &mut Vec<u8>,
) -> bool {
    for line in input.split_inclusive(|&b| b == b'\n') {
        if at_line_start {
            out.push(b'@');
            out.extend_from_slice(&now().hex());
            out.push(b' ');
        }
        out.extend_from_slice(line);
        at_line_start = line.ends_with(b"\n");
    }
    at_line_start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> impl FnMut() -> Tai64N {
        let mut next = secs;
        move || {
            next += 1;
            Tai64N { secs: next, nanos: 5 }
        }
    }

    #[test]
    fn each_line_gets_its_own_stamp() {
        let mut out = Vec::new();
        assert!(stamp_lines(b"a\n\nb\n", true, at(0x4000000000000000), &mut out));
        assert_eq!(
            out,
            b"@400000000000000100000005 a\n@400000000000000200000005 \n\
              @400000000000000300000005 b\n"
        );
    }

    #[test]
    fn a_line_split_across_reads_is_stamped_once() {
        let mut out = Vec::new();
        let mut clock = at(0x4000000000000000);
        let start = stamp_lines(b"par", true, &mut clock, &mut out);
        assert!(!start);
        assert!(!stamp_lines(b"tial\nx", start, &mut clock, &mut out));
        assert_eq!(out, b"@400000000000000100000005 partial\n@400000000000000200000005 x");
    }
}
