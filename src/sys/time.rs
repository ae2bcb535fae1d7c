//! Local time from the C library (`TZ`, `/etc/localtime`).

use crate::tai64::DateTime;

/// The local time (by `TZ` or `/etc/localtime`) of a Unix time, or `None`
/// when the C library cannot represent it (the year overflows an `int`).
pub fn local_time(unix_secs: i64) -> Option<DateTime> {
    let t: libc::time_t = unix_secs;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers
    // are valid for the call and localtime_r keeps neither.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(DateTime {
        year: 1900 + i64::from(tm.tm_year),
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    })
}
