//! Name look-ups from the C library.

/// The host name registered for `addr` in reverse DNS, if any
/// (`getnameinfo` with `NI_NAMEREQD`).
pub fn reverse_name(addr: std::net::IpAddr) -> Option<String> {
    let sock = nix::sys::socket::SockaddrStorage::from(std::net::SocketAddr::new(addr, 0));
    use nix::sys::socket::SockaddrLike;
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sock` is a valid sockaddr of the given length; `host` is a
    // writable buffer of the given size; no service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr(),
            sock.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
