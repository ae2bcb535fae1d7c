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

    /// What runit's `supervise/stat` says of this record: `run`, `down` or
    /// `finish`, then `, paused`, `, got TERM`, and while not down `, want
    /// down`, or `, want exit` once the supervisor was told to exit (runit
    /// never shows a wish to be up).
    pub fn stat(&self, exit_wanted: bool) -> Text<STAT_MAX> {
        let extra = self.runit.unwrap_or(RunitExtra {
            term_sent: false,
            state: if self.pid != 0 { RunState::Run } else { RunState::Down },
        });
        let mut text = Text::new();
        text.push(match extra.state {
            RunState::Down => "down",
            RunState::Run => "run",
            RunState::Finish => "finish",
        });
        if self.paused && self.pid != 0 {
            text.push(", paused");
        }
        if extra.term_sent {
            text.push(", got TERM");
        }
        if extra.state != RunState::Down {
            if exit_wanted {
                text.push(", want exit");
            } else if self.want == Want::Down {
                text.push(", want down");
            }
        }
        text.push("\n");
        text
    }

    /// runit's `supervise/pid`: the pid of the child and a newline, empty
    /// when there is none.
    pub fn pid_text(&self) -> Text<PID_MAX> {
        let mut text = Text::new();
        if self.pid != 0 {
            let mut digits = [0u8; 10];
            let mut n = self.pid;
            let mut start = digits.len();
            loop {
                start -= 1;
                digits[start] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            text.push_bytes(&digits[start..]);
            text.push("\n");
        }
        text
    }
}

/// The longest `stat` text: `finish, paused, got TERM, want down\n`.
pub const STAT_MAX: usize = 40;
/// The longest `pid` text: ten digits and a newline.
pub const PID_MAX: usize = 11;

/// A short text kept on the stack, so that publishing allocates nothing.
/// Its users' bounds ([`STAT_MAX`], [`PID_MAX`]) are checked by tests;
/// text past the capacity would be cut, never overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text { bytes: [0; N], len: 0 }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut text = Text::new();
        text.push_bytes(bytes);
        text
    }

    fn push(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(N - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
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

    fn stat(status: &Status, exit_wanted: bool) -> String {
        String::from_utf8(status.stat(exit_wanted).as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn stat_text_follows_runit() {
        assert_eq!(stat(&sample(), false), "run, paused, got TERM, want down\n");
        let down = Status {
            pid: 0,
            paused: false,
            want: Want::Up,
            runit: Some(RunitExtra { term_sent: false, state: RunState::Down }),
            ..sample()
        };
        assert_eq!(stat(&down, false), "down\n");
        assert_eq!(stat(&down, true), "down\n", "no wish shown while down");
        let finishing = Status {
            want: Want::Up,
            paused: false,
            runit: Some(RunitExtra { term_sent: false, state: RunState::Finish }),
            ..sample()
        };
        assert_eq!(stat(&finishing, false), "finish\n");
    }

    #[test]
    fn a_pending_exit_shows_in_place_of_want_down() {
        assert_eq!(stat(&sample(), true), "run, paused, got TERM, want exit\n");
        let up = Status { want: Want::Up, paused: false, runit: None, ..sample() };
        assert_eq!(stat(&up, true), "run, want exit\n");
    }

    #[test]
    fn the_longest_stat_fits() {
        let longest = Status {
            runit: Some(RunitExtra { term_sent: true, state: RunState::Finish }),
            ..sample()
        };
        let text = stat(&longest, false);
        assert_eq!(text, "finish, paused, got TERM, want down\n");
        assert!(text.len() <= STAT_MAX);
        assert_eq!(stat(&longest, true).len(), text.len());
    }

    #[test]
    fn pid_text_is_the_pid_and_a_newline_or_empty() {
        let text = |pid| Status { pid, ..sample() }.pid_text().as_bytes().to_vec();
        assert_eq!(text(0), b"");
        assert_eq!(text(7), b"7\n");
        assert_eq!(text(1234567), b"1234567\n");
        assert_eq!(text(u32::MAX), b"4294967295\n");
        assert_eq!(text(u32::MAX).len(), PID_MAX);
    }
}
