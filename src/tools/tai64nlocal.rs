//! `tai64nlocal`: turn the TAI64N stamp at the start of each line into a
//! local time `YYYY-MM-DD HH:MM:SS.NNNNNNNNN`, as daemontools' `tai64nlocal`
//! does. Other lines pass through unchanged. See `docs/tai64nlocal.md`.
//!
//! The stamp is read exactly as daemontools reads it, so that output is
//! byte-for-byte the same: after `@`, every lower-case hex digit is shifted
//! into a 64-bit second count and a 28-bit-wide nanosecond count, and the
//! first other byte ends the stamp and is copied. Where daemontools' program
//! crashes (a time the C library cannot convert, like `@zz`), this one
//! copies the text it read unchanged.

use std::ffi::OsString;
use std::io::Write;

use crate::fail::Failure;
use crate::sys::time::local_time;
use crate::tai64::{UNIX_EPOCH_LABEL, hex_digit};

pub fn main(_args: Vec<OsString>) -> Result<i32, Failure> {
    let mut converter = Converter::default();
    super::tai64n::filter(|input, out| converter.feed(input, out))
}

/// Where the converter is within a line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Place {
    #[default]
    LineStart,
    /// Inside a stamp: the digits so far.
    Stamp,
    /// Copying the rest of a line.
    Rest,
}

/// The stamp-to-local-time conversion, fed any pieces of input.
#[derive(Debug, Default)]
struct Converter {
    place: Place,
    secs: u64,
    nanos: u64,
    /// The stamp's text so far, copied out unchanged if it cannot be shown.
    raw: Vec<u8>,
}

impl Converter {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while let Some((&byte, tail)) = rest.split_first() {
            match self.place {
                Place::LineStart if byte == b'@' => {
                    self.place = Place::Stamp;
                    self.secs = 0;
                    self.nanos = 0;
                    self.raw.clear();
                    self.raw.push(byte);
                    rest = tail;
                }
                Place::LineStart | Place::Rest => {
                    let end = rest.iter().position(|&b| b == b'\n');
                    let take = end.map_or(rest.len(), |i| i + 1);
                    out.extend_from_slice(&rest[..take]);
                    self.place = if end.is_some() { Place::LineStart } else { Place::Rest };
                    rest = &rest[take..];
                }
                Place::Stamp => {
                    match hex_digit(byte) {
                        Some(digit) => {
                            self.secs = (self.secs << 4).wrapping_add(self.nanos >> 28);
                            self.nanos = ((self.nanos & 0xfff_ffff) << 4) + u64::from(digit);
                            self.raw.push(byte);
                        }
                        None => {
                            self.write_stamp(out);
                            // The byte that ended the stamp starts the rest.
                            out.push(byte);
                            self.place = if byte == b'\n' { Place::LineStart } else { Place::Rest };
                        }
                    }
                    rest = tail;
                }
            }
        }
    }

    fn write_stamp(&self, out: &mut Vec<u8>) {
        let unix = self.secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64;
        let Some(local) = local_time(unix) else {
            out.extend_from_slice(&self.raw);
            return;
        };
        let _ = write!(
            out,
            "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
            local.year as u64,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            self.nanos
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(pieces: &[&[u8]]) -> Vec<u8> {
        let mut converter = Converter::default();
        let mut out = Vec::new();
        for piece in pieces {
            converter.feed(piece, &mut out);
        }
        out
    }

    // The unit tests avoid the time zone: they check only what does not
    // depend on it. tests/logging_time.rs compares with daemontools under TZ.

    #[test]
    fn lines_without_a_stamp_pass_through() {
        assert_eq!(convert(&[b"plain\n", b"a@b\n", b"\n"]), b"plain\na@b\n\n");
    }

    #[test]
    fn the_byte_ending_a_stamp_is_kept() {
        let out = convert(&[b"@4000000068b0a0c1000000", b"0azz\n"]);
        assert!(out.ends_with(b".000000010zz\n"), "{:?}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn nanoseconds_are_printed_as_given_even_past_a_second() {
        let out = convert(&[b"@4000000068b0a0c1ffffffff x\n"]);
        assert!(out.ends_with(b".4294967295 x\n"));
    }

    #[test]
    fn a_stamp_cut_by_the_end_of_input_is_not_written() {
        assert_eq!(convert(&[b"a\n@400000006"]), b"a\n");
    }

    #[test]
    fn an_unrepresentable_time_is_copied_unchanged() {
        assert_eq!(convert(&[b"@zz\n"]), b"@zz\n");
    }
}
