//! TAI64 and TAI64N time stamps, as daemontools writes them.
//!
//! daemontools labels a Unix time `t` as the TAI64 second `2^62 + 10 + t`
//! (the 10 is the TAI-UTC offset of 1970; no leap-second table is applied).
//! A TAI64N stamp adds a 32-bit nanosecond count. Both are stored big-endian
//! (12 bytes) in `supervise/status` and printed in hex after `@` by
//! `multilog t` and `tai64n`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The TAI64 label of the Unix epoch.
pub const UNIX_EPOCH_LABEL: u64 = (1 << 62) + 10;

/// A TAI64N time stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tai64N {
    /// TAI64 label (seconds).
    pub secs: u64,
    /// Nanoseconds, below 10^9.
    pub nanos: u32,
}

impl Tai64N {
    /// The current time.
    pub fn now() -> Tai64N {
        Tai64N::from_system(SystemTime::now())
    }

    /// Convert a system time.
    pub fn from_system(time: SystemTime) -> Tai64N {
        match time.duration_since(UNIX_EPOCH) {
            Ok(since) => {
                Tai64N { secs: UNIX_EPOCH_LABEL + since.as_secs(), nanos: since.subsec_nanos() }
            }
            Err(err) => {
                let before = err.duration();
                let mut secs = UNIX_EPOCH_LABEL - before.as_secs();
                let mut nanos = 0;
                if before.subsec_nanos() > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - before.subsec_nanos();
                }
                Tai64N { secs, nanos }
            }
        }
    }

    /// Seconds since the Unix epoch (negative before it).
    pub fn unix_secs(self) -> i64 {
        self.secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64
    }

    /// The 12-byte big-endian form.
    pub fn pack(self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..8].copy_from_slice(&self.secs.to_be_bytes());
        out[8..].copy_from_slice(&self.nanos.to_be_bytes());
        out
    }

    /// Read the 12-byte big-endian form.
    pub fn unpack(bytes: &[u8; 12]) -> Tai64N {
        let secs = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let nanos = u32::from_be_bytes(bytes[8..].try_into().expect("4 bytes"));
        Tai64N { secs, nanos }
    }

    /// The external hex form without `@`: 24 lowercase hex digits.
    pub fn hex(self) -> [u8; 24] {
        let mut out = [0; 24];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in self.pack().iter().enumerate() {
            out[2 * i] = DIGITS[(byte >> 4) as usize];
            out[2 * i + 1] = DIGITS[(byte & 15) as usize];
        }
        out
    }

    /// The UTC date and time of day (every day 86400 seconds long, as the
    /// labels are).
    pub fn utc(self) -> DateTime {
        let secs = self.unix_secs();
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400) as u32;
        DateTime { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60 }
    }

    /// Whole seconds from `self` to `later`, zero if `later` is earlier
    /// (svstat prints "0 seconds" rather than a negative age).
    pub fn secs_until(self, later: Tai64N) -> u64 {
        later.secs.saturating_sub(self.secs)
    }
}

impl std::ops::Add<Duration> for Tai64N {
    type Output = Tai64N;

    fn add(self, d: Duration) -> Tai64N {
        let mut secs = self.secs + d.as_secs();
        let mut nanos = self.nanos + d.subsec_nanos();
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000;
            secs += 1;
        }
        Tai64N { secs, nanos }
    }
}

/// A date and time of day: in UTC by [`Tai64N::utc`], local by
/// `sys::time::local_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Year, month and day of the proleptic Gregorian calendar, `days` after
/// 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A lower-case hex digit's value, the digits daemontools writes (and
/// `tai64nlocal` reads).
pub fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_is_two_to_the_62_plus_ten() {
        let t = Tai64N::from_system(UNIX_EPOCH);
        assert_eq!(t.secs, 0x400000000000000a);
        assert_eq!(t.nanos, 0);
        assert_eq!(t.unix_secs(), 0);
    }

    #[test]
    fn pack_is_big_endian_and_round_trips() {
        let t = Tai64N { secs: 0x4000000065a0b1c2, nanos: 0x1234_5678 };
        let packed = t.pack();
        assert_eq!(packed, [0x40, 0, 0, 0, 0x65, 0xa0, 0xb1, 0xc2, 0x12, 0x34, 0x56, 0x78]);
        assert_eq!(Tai64N::unpack(&packed), t);
    }

    #[test]
    fn hex_matches_multilog_form() {
        let t = Tai64N { secs: 0x4000000065a0b1c2, nanos: 0x0abc_def0 };
        assert_eq!(&t.hex(), b"4000000065a0b1c20abcdef0");
    }

    #[test]
    fn times_before_the_epoch_borrow_a_second() {
        let t = Tai64N::from_system(UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(t.unix_secs(), -2);
        assert_eq!(t.nanos, 500_000_000);
    }

    #[test]
    fn utc_dates() {
        let at = |unix: i64| Tai64N { secs: UNIX_EPOCH_LABEL.wrapping_add(unix as u64), nanos: 0 };
        let utc = |y, mo, d, h, mi, s| DateTime {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
        };
        assert_eq!(at(0).utc(), utc(1970, 1, 1, 0, 0, 0));
        assert_eq!(at(1_764_052_429).utc(), utc(2025, 11, 25, 6, 33, 49));
        assert_eq!(at(951_782_400).utc(), utc(2000, 2, 29, 0, 0, 0));
        assert_eq!(at(951_868_799).utc(), utc(2000, 2, 29, 23, 59, 59));
        assert_eq!(at(4_107_542_400).utc(), utc(2100, 3, 1, 0, 0, 0));
        assert_eq!(at(-1).utc(), utc(1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn age_never_goes_negative() {
        let a = Tai64N { secs: 100, nanos: 0 };
        let b = Tai64N { secs: 175, nanos: 5 };
        assert_eq!(a.secs_until(b), 75);
        assert_eq!(b.secs_until(a), 0);
        assert_eq!(a + Duration::from_millis(1500), Tai64N { secs: 101, nanos: 500_000_000 });
    }
}
