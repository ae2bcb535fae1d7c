//! `readproctitle args... dots`: keep the most recent input visible in
//! `ps`, by overwriting the last argument (a row of dots) in place, the
//! newest byte at the right. svscanboot uses it to show svscan's errors
//! without a log file. Exits 0 at end of input. See `docs/readproctitle.md`.

use std::ffi::OsString;
use std::io::{self, Read};

use crate::fail::Failure;
use crate::sys::argv::ArgvArea;

/// The first bytes of the dots, which stay: daemontools' readproctitle
/// shifts only the rest, so `ps` shows `...` before the input.
const KEPT: usize = 3;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    // Without room it exits 100 without a word, as daemontools' does.
    let Some(last) = args.last() else { return Ok(100) };
    if last.len() < 5 {
        return Ok(100);
    }
    let area = ArgvArea::locate()
        .ok_or_else(|| Failure::temporary("unable to find the command line in /proc/self/stat"))?;
    let bytes = area.read();
    let last = last_argument(&bytes).ok_or_else(|| {
        Failure::temporary("unable to find the last argument in the command line")
    })?;
    let window = last.start + KEPT..last.end;
    let mut shown = bytes[window.clone()].to_vec();
    let mut buf = [0u8; 4096];
    let stdin = io::stdin();
    let mut input = stdin.lock();
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(0),
            Ok(n) => {
                shift_in(&mut shown, without_nuls(&mut buf[..n]));
                area.write(window.start, &shown);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(111),
        }
    }
}

/// The byte range of the last argument in a NUL-separated command line.
fn last_argument(cmdline: &[u8]) -> Option<std::ops::Range<usize>> {
    let end = if cmdline.last() == Some(&0) { cmdline.len() - 1 } else { cmdline.len() };
    let start = cmdline[..end].iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
    (start < end).then_some(start..end)
}

/// `input` with its NUL bytes taken out (in place), as daemontools drops
/// them: a NUL would end the argument for `ps`.
fn without_nuls(input: &mut [u8]) -> &[u8] {
    let mut kept = 0;
    for i in 0..input.len() {
        if input[i] != 0 {
            input[kept] = input[i];
            kept += 1;
        }
    }
    &input[..kept]
}

/// Push `input` in at the right of `window`, dropping bytes off the left.
fn shift_in(window: &mut [u8], input: &[u8]) {
    let len = window.len();
    if input.len() >= len {
        window.copy_from_slice(&input[input.len() - len..]);
    } else {
        window.copy_within(input.len().., 0);
        window[len - input.len()..].copy_from_slice(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_argument() {
        let cmdline = b"readproctitle\0io\0errors:\0.....\0";
        let range = last_argument(cmdline).unwrap();
        assert_eq!(&cmdline[range], b".....");
        assert_eq!(last_argument(b"\0"), None);
    }

    #[test]
    fn newest_bytes_come_in_at_the_right() {
        let mut window = *b"..............";
        shift_in(&mut window, b"hello\nworld\n");
        assert_eq!(&window, b"..hello\nworld\n");
        shift_in(&mut window, b"0123456789abcdefXYZ");
        assert_eq!(&window, b"56789abcdefXYZ");
        shift_in(&mut window, b"!");
        assert_eq!(&window, b"6789abcdefXYZ!");
    }

    #[test]
    fn nuls_are_dropped() {
        let mut input = *b"\0a\0\0bc\0";
        assert_eq!(without_nuls(&mut input), b"abc");
        assert_eq!(without_nuls(&mut [0, 0]), b"");
    }
}
