//! `supervise/status`: the binary state record shared with daemontools and
//! runit tools.
//!
//! | bytes  | meaning |
//! | ------ | ------- |
//! | 0..12  | TAI64N of the last start or stop |
//! | 12..16 | pid of the running child, little-endian; 0 when down |
//! | 16     | 1 if paused |
//! | 17     | want: `u`, `d`, or 0 (no wish: after `svc -o`) |
//! | 18     | runit: 1 if TERM was sent and the child has not exited |
//! | 19     | runit: 0 down, 1 run, 2 finish |
//!
//! daemontools' programs read the first 18 bytes; runit's `sv` insists on
//! all 20. The record is replaced atomically (`status.new`, then rename),
//! so a reader never sees half of it.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::tai64::Tai64N;

/// Length of the record tend writes (runit's layout).
pub const LEN: usize = 20;
/// Length daemontools writes and reads.
pub const DAEMONTOOLS_LEN: usize = 18;

/// What the supervisor has been asked to keep the service at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// No standing wish: `svc -o` ran it once.
    Nothing,
}

impl Want {
    pub fn byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Nothing => 0,
        }
    }

    pub fn from_byte(byte: u8) -> Want {
        match byte {
            b'u' => Want::Up,
            b'd' => Want::Down,
            _ => Want::Nothing,
        }
    }
}

/// runit's run state (byte 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Down = 0,
    Run = 1,
    Finish = 2,
}

/// A decoded status record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Time of the last start or stop.
    pub changed: Tai64N,
    /// Pid of the child, 0 when none.
    pub pid: u32,
    pub paused: bool,
    pub want: Want,
    /// runit's extra bytes; `None` in an 18-byte daemontools record.
    pub runit: Option<RunitExtra>,
}

/// The two bytes runit adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunitExtra {
    pub term_sent: bool,
    pub state: RunState,
}

/// Why a status record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadFormat;

impl Status {
    /// The 20-byte form.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[..12].copy_from_slice(&self.changed.pack());
        out[12..16].copy_from_slice(&self.pid.to_le_bytes());
        out[16] = (self.pid != 0 && self.paused) as u8;
        out[17] = self.want.byte();
        let extra = self.runit.unwrap_or(RunitExtra {
            term_sent: false,
            state: if self.pid != 0 { RunState::Run } else { RunState::Down },
        });
        out[18] = extra.term_sent as u8;
        out[19] = extra.state as u8;
        out
    }

    /// Decode an 18-byte (daemontools) or 20-byte (runit, tend) record.
    pub fn decode(bytes: &[u8]) -> Result<Status, BadFormat> {
        if bytes.len() < DAEMONTOOLS_LEN {
            return Err(BadFormat);
        }
        let changed = Tai64N::unpack(bytes[..12].try_into().expect("12 bytes"));
        let pid = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        // A run state no supervisor writes: read the record as
        // daemontools' 18 bytes, as Debian's svstat does, rather than
        // refuse it.
        let state = match bytes.get(19) {
            Some(0) => Some(RunState::Down),
            Some(1) => Some(RunState::Run),
            Some(2) => Some(RunState::Finish),
            _ => None,
        };
        let runit = state.map(|state| RunitExtra { term_sent: bytes[18] != 0, state });
        Ok(Status { changed, pid, paused: bytes[16] != 0, want: Want::from_byte(bytes[17]), runit })
    }

    /// runit's `supervise/stat` text: `run`, `down` or `finish`, then
    /// `, paused`, `, got TERM`, and `, want down` while not down (runit
    /// never prints a wish to be up).
    pub fn stat_text(&self) -> String {
        let extra = self.runit.unwrap_or(RunitExtra {
            term_sent: false,
            state: if self.pid != 0 { RunState::Run } else { RunState::Down },
        });
        let mut text = String::from(match extra.state {
            RunState::Down => "down",
            RunState::Run => "run",
            RunState::Finish => "finish",
        });
        if self.paused && self.pid != 0 {
            text.push_str(", paused");
        }
        if extra.term_sent {
            text.push_str(", got TERM");
        }
        if extra.state != RunState::Down && self.want == Want::Down {
            text.push_str(", want down");
        }
        text.push('\n');
        text
    }
}

/// Replace `target` with `contents` atomically: write `temp`, rename it
/// over `target`. Allocates nothing for paths short enough for std's stack
/// buffer, which keeps `supervise`'s loop free of heap work.
pub fn replace_via(temp: &Path, target: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(temp)?;
    file.write_all(contents)?;
    drop(file);
    fs::rename(temp, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            changed: Tai64N { secs: 0x4000000065a0b1c2, nanos: 7 },
            pid: 0x0102_0304,
            paused: true,
            want: Want::Down,
            runit: Some(RunitExtra { term_sent: true, state: RunState::Run }),
        }
    }

    #[test]
    fn layout_is_byte_exact() {
        let bytes = sample().encode();
        assert_eq!(&bytes[..12], &[0x40, 0, 0, 0, 0x65, 0xa0, 0xb1, 0xc2, 0, 0, 0, 7]);
        assert_eq!(&bytes[12..16], &[4, 3, 2, 1], "pid is little-endian");
        assert_eq!(bytes[16], 1);
        assert_eq!(bytes[17], b'd');
        assert_eq!(bytes[18], 1);
        assert_eq!(bytes[19], 1);
    }

    #[test]
    fn round_trips() {
        assert_eq!(Status::decode(&sample().encode()), Ok(sample()));
    }

    #[test]
    fn daemontools_record_has_no_runit_bytes() {
        let bytes = sample().encode();
        let status = Status::decode(&bytes[..18]).unwrap();
        assert_eq!(status.runit, None);
        assert_eq!(status.pid, 0x0102_0304);
        assert_eq!(Status::decode(&bytes[..17]), Err(BadFormat));
    }

    #[test]
    fn unknown_run_state_reads_as_daemontools_record() {
        let mut bytes = sample().encode();
        bytes[19] = 3;
        let status = Status::decode(&bytes).unwrap();
        assert_eq!(status.runit, None);
        assert_eq!((status.pid, status.paused, status.want), (0x0102_0304, true, Want::Down));
    }

    #[test]
    fn paused_byte_is_zero_without_a_child() {
        let status = Status { pid: 0, runit: None, ..sample() };
        assert_eq!(status.encode()[16], 0);
        assert_eq!(status.encode()[19], 0);
    }

    #[test]
    fn want_nothing_is_a_zero_byte() {
        let status = Status { want: Want::Nothing, ..sample() };
        assert_eq!(status.encode()[17], 0);
        assert_eq!(Want::from_byte(0), Want::Nothing);
    }

    #[test]
    fn stat_text_follows_runit() {
        assert_eq!(sample().stat_text(), "run, paused, got TERM, want down\n");
        let down = Status {
            pid: 0,
            paused: false,
            want: Want::Up,
            runit: Some(RunitExtra { term_sent: false, state: RunState::Down }),
            ..sample()
        };
        assert_eq!(down.stat_text(), "down\n");
        let finishing = Status {
            want: Want::Up,
            paused: false,
            runit: Some(RunitExtra { term_sent: false, state: RunState::Finish }),
            ..sample()
        };
        assert_eq!(finishing.stat_text(), "finish\n");
    }

    #[test]
    fn replace_file_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, target) = (dir.path().join("status.new"), dir.path().join("status"));
        replace_via(&temp, &target, &sample().encode()).unwrap();
        assert_eq!(Status::decode(&fs::read(&target).unwrap()), Ok(sample()));
        assert!(!dir.path().join("status.new").exists());
    }
}
