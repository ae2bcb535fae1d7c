//! Process facilities nix lacks a safe form of: `nice`. (`fork` is the
//! spawn layer's, in `sys::spawn`.)

use std::io;

/// Add `increment` to the nice level (`nice(2)`, which nix lacks).
pub fn nice(increment: i32) -> io::Result<()> {
    nix::errno::Errno::clear();
    // SAFETY: nice takes an integer and touches no memory.
    let result = unsafe { libc::nice(increment) };
    // -1 is also a valid new level: only errno tells a failure.
    let errno = nix::errno::Errno::last_raw();
    if result == -1 && errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(())
}
