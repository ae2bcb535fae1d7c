//! multilog's script: the arguments, parsed into actions.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::decimal::scan_ulong;

/// Smallest, largest and default `s` (bytes per file).
pub const SIZE_MIN: u64 = 4096;
pub const SIZE_MAX: u64 = 16_777_215;
pub const SIZE_DEFAULT: u64 = 99_999;
/// Smallest and default `n` (files kept, `current` included).
pub const NUM_MIN: usize = 2;
pub const NUM_DEFAULT: usize = 10;

/// One log directory with the settings given before it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirSpec {
    pub path: PathBuf,
    /// Maximum size of `current`; 0: never rotate for size (svlogd).
    pub size: u64,
    /// multilog: files kept, `current` included. svlogd: old files kept
    /// (0: all).
    pub num: usize,
    pub processor: Option<Vec<u8>>,
    /// Rotate at a line end once `current` holds size minus this.
    pub slack: u64,
    /// Written after the stamp of every line (svlogd's `p`).
    pub prefix: Vec<u8>,
    /// Rotate a non-empty `current` this many seconds after it was begun
    /// (svlogd's `t`); 0: never.
    pub max_age: u64,
    /// svlogd's `u`/`U`: send selected lines to this address; with
    /// `udp_only`, do not write them to the directory.
    pub udp: Option<std::net::SocketAddr>,
    pub udp_only: bool,
    /// svlogd's `N`: on a full disk, delete old files down to this many
    /// (0: never).
    pub min: usize,
}

/// How lines are stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stamp {
    #[default]
    None,
    /// `@` and 24 hex digits of TAI64N.
    Tai64n,
    /// `YYYY-MM-DD_HH:MM:SS.xxxxx` in UTC; the byte is the date/time
    /// separator (`_` or `T`).
    Human(u8),
}

/// One action, applied in order to every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+PATTERN`: select the line if it matches.
    Select(Vec<u8>),
    /// `-PATTERN`: deselect the line if it matches.
    Deselect(Vec<u8>),
    /// `e`: print the selected line's head on stderr.
    Alert,
    /// svlogd: start a directory's rules (select the line, no alert).
    Reset,
    /// svlogd `ePATTERN` / `EPATTERN`: select / deselect for stderr.
    AlertSelect(Vec<u8>),
    AlertDeselect(Vec<u8>),
    /// svlogd: print the line on stderr if selected for it, with directory
    /// index's prefix.
    SvAlert(usize),
    /// `=FILE`: the status file with index into [`Script::status`].
    Status(usize),
    /// A directory, index into [`Script::dirs`].
    Dir(usize),
}

/// A parsed script: everything the engine is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub stamp: Stamp,
    /// Patterns see the stamp (multilog) or not (svlogd).
    pub match_stamp: bool,
    /// svlogd's pattern syntax (`+` repeats).
    pub svlogd: bool,
    /// How much of a line patterns, `e` and `=FILE` see.
    pub head: usize,
    pub actions: Vec<Action>,
    pub dirs: Vec<DirSpec>,
    pub status: Vec<PathBuf>,
    /// At end of input, complete a last line without newline (multilog)
    /// rather than drop it (svlogd, when none of it went out yet).
    pub complete_last: bool,
    /// svlogd's `-r`/`-R`: a byte map applied to the head of each line.
    pub replace: Option<Box<[u8; 256]>>,
    /// Write a directory's buffer once it holds this much.
    pub flush_at: usize,
}

/// Buffered output is written once it reaches this size.
const FLUSH_AT: usize = 1 << 18;

impl Default for Script {
    fn default() -> Script {
        Script {
            stamp: Stamp::None,
            match_stamp: false,
            svlogd: false,
            head: 0,
            actions: Vec::new(),
            dirs: Vec::new(),
            status: Vec::new(),
            complete_last: true,
            replace: None,
            flush_at: FLUSH_AT,
        }
    }
}

/// Parse the script. Arguments multilog does not know are ignored, as
/// multilog ignores them.
pub fn parse(args: &[OsString]) -> Script {
    let mut script = Script {
        match_stamp: true,
        head: super::pattern::HEAD,
        // multilog's buffers grow to 4 MiB before a batch is cut for a write.
        flush_at: 4 << 20,
        ..Script::default()
    };
    let mut size = SIZE_DEFAULT;
    let mut num = NUM_DEFAULT;
    let mut processor: Option<Vec<u8>> = None;
    for (i, arg) in args.iter().enumerate() {
        let bytes = arg.clone().into_vec();
        let Some((&first, rest)) = bytes.split_first() else {
            continue;
        };
        match first {
            b't' if i == 0 => script.stamp = Stamp::Tai64n,
            b's' => size = scan_ulong(rest).0.clamp(SIZE_MIN, SIZE_MAX),
            b'n' => num = (scan_ulong(rest).0.min(usize::MAX as u64) as usize).max(NUM_MIN),
            b'!' => processor = Some(rest.to_vec()),
            b'+' => script.actions.push(Action::Select(rest.to_vec())),
            b'-' => script.actions.push(Action::Deselect(rest.to_vec())),
            b'e' => script.actions.push(Action::Alert),
            b'=' => {
                script.status.push(PathBuf::from(OsString::from_vec(rest.to_vec())));
                script.actions.push(Action::Status(script.status.len() - 1));
            }
            b'.' | b'/' => {
                script.dirs.push(DirSpec {
                    path: PathBuf::from(arg),
                    size,
                    num,
                    processor: processor.clone(),
                    slack: super::engine::SLACK,
                    prefix: Vec::new(),
                    max_age: 0,
                    udp: None,
                    udp_only: false,
                    min: 0,
                });
                script.actions.push(Action::Dir(script.dirs.len() - 1));
            }
            _ => {}
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Script {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_and_settings() {
        let s = p(&["t", "./a", "s5000", "n3", "!gzip", "/b"]);
        assert_eq!(s.stamp, Stamp::Tai64n);
        assert_eq!(s.dirs[0].size, SIZE_DEFAULT);
        assert_eq!(s.dirs[0].num, NUM_DEFAULT);
        assert_eq!(s.dirs[0].processor, None);
        assert_eq!(s.dirs[1].size, 5000);
        assert_eq!(s.dirs[1].num, 3);
        assert_eq!(s.dirs[1].processor.as_deref(), Some(&b"gzip"[..]));
        assert_eq!(s.actions, vec![Action::Dir(0), Action::Dir(1)]);
    }

    #[test]
    fn clamps() {
        let s = p(&["s10", "n1", "./a", "s999999999", "n0", "./b", "sx", "./c"]);
        assert_eq!((s.dirs[0].size, s.dirs[0].num), (SIZE_MIN, NUM_MIN));
        assert_eq!((s.dirs[1].size, s.dirs[1].num), (SIZE_MAX, NUM_MIN));
        assert_eq!(s.dirs[2].size, SIZE_MIN);
    }

    #[test]
    fn t_only_first_and_unknown_ignored() {
        let s = p(&["./a", "t", "foo", "e"]);
        assert_eq!(s.stamp, Stamp::None);
        assert_eq!(s.actions, vec![Action::Dir(0), Action::Alert]);
    }

    #[test]
    fn patterns_and_status() {
        let s = p(&["-*", "+* fatal: *", "=st", "e"]);
        assert_eq!(
            s.actions,
            vec![
                Action::Deselect(b"*".to_vec()),
                Action::Select(b"* fatal: *".to_vec()),
                Action::Status(0),
                Action::Alert
            ]
        );
        assert_eq!(s.status[0], PathBuf::from("st"));
    }
}
