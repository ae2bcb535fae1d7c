//! `poll(2)` over descriptor slots that may be empty (number -1, which
//! `poll` skips), for the event loop: nix's form takes only open
//! descriptors, so an empty slot would have to be left out and the rest
//! renumbered.

use std::io;

/// Wait until a slot is ready or `timeout_ms` passes (-1: no limit); the
/// slots' `revents` are filled in. EINTR is returned as an error.
pub fn poll(slots: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `slots` is a valid, writable array of `slots.len()` pollfd
    // structures for the duration of the call.
    let rc = unsafe { libc::poll(slots.as_mut_ptr(), slots.len() as libc::nfds_t, timeout_ms) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}
