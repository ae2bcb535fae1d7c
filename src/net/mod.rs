//! Shared socket mechanisms of the network tools (spawn-fcgi, tcpserver,
//! tcpclient): address parsing, listening sockets with a chosen backlog,
//! the UCSPI environment, descriptors for `exec`, and dropping privileges.

pub mod cdb;
pub mod privs;
pub mod rules;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike,
    SockaddrStorage, bind, listen, setsockopt, socket, sockopt,
};

/// The local address a server asks for: `0`, the empty string and `0.0.0.0`
/// mean every IPv4 address, `::` every IPv6 address; otherwise a literal
/// IPv4 or IPv6 address (brackets around IPv6 allowed).
pub fn parse_host(host: &str) -> Option<IpAddr> {
    match host {
        "" | "0" => return Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "::" => return Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        "localhost" => return Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => {}
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

/// The addresses of a host name (through the system resolver), or the
/// ucspi-tcp message: `no IP address for HOST` when the name has none,
/// `temporarily unable to figure out IP address for HOST: reason`
/// otherwise.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let list: Vec<SocketAddr> = addrs.collect();
            if list.is_empty() { Err(format!("no IP address for {host}")) } else { Ok(list) }
        }
        Err(e) => {
            let text = e.to_string();
            if e.raw_os_error().is_none() && !text.contains("Temporary failure") {
                Err(format!("no IP address for {host}"))
            } else {
                Err(format!(
                    "temporarily unable to figure out IP address for {host}: {}",
                    crate::errstr::io_str(&e)
                ))
            }
        }
    }
}

/// A port number: decimal, or a service name from /etc/services.
pub fn parse_port(port: &str) -> Option<u16> {
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        return port.parse().ok();
    }
    service_port(port, &std::fs::read_to_string("/etc/services").unwrap_or_default())
}

/// Look `name` up in the text of an /etc/services file (tcp entries).
pub fn service_port(name: &str, services: &str) -> Option<u16> {
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(service), Some(port_proto)) = (fields.next(), fields.next()) else { continue };
        let Some((port, proto)) = port_proto.split_once('/') else { continue };
        if proto != "tcp" {
            continue;
        }
        if service == name || fields.any(|alias| alias == name) {
            return port.parse().ok();
        }
    }
    None
}

/// Format an IP address as UCSPI does: dotted quad for IPv4, the
/// compressed form for IPv6 (IPv4-mapped addresses shown as IPv4).
pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn family(addr: &SocketAddr) -> AddressFamily {
    if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

fn bind_to(fd: &OwnedFd, addr: &SocketAddr) -> nix::Result<()> {
    match addr {
        SocketAddr::V4(v4) => bind(fd.as_raw_fd(), &SockaddrIn::from(*v4)),
        SocketAddr::V6(v6) => bind(fd.as_raw_fd(), &SockaddrIn6::from(*v6)),
    }
}

/// Which step of setting up a socket failed, for the tools' messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Reuse,
    Bind,
    Listen,
}

/// A listening TCP socket on `addr` (SO_REUSEADDR set) with the given
/// backlog (clamped to what the system allows), close-on-exec.
pub fn listen_tcp(addr: SocketAddr, backlog: i64) -> Result<OwnedFd, (Step, nix::Error)> {
    let fd = socket(family(&addr), SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| (Step::Create, e))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| (Step::Reuse, e))?;
    bind_to(&fd, &addr).map_err(|e| (Step::Bind, e))?;
    listen_fd(&fd, backlog)?;
    Ok(fd)
}

/// `listen` with a backlog clamped to 0..=SOMAXCONN.
pub fn listen_fd(fd: &OwnedFd, backlog: i64) -> Result<(), (Step, nix::Error)> {
    let clamped = backlog.clamp(0, i64::from(libc::SOMAXCONN)) as i32;
    let backlog = Backlog::new(clamped).map_err(|e| (Step::Listen, e))?;
    listen(fd, backlog).map_err(|e| (Step::Listen, e))
}

/// A connected TCP socket to `remote`, optionally bound first to `local`.
/// The connection attempt is bounded by `timeout`.
pub fn connect_tcp(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    timeout: std::time::Duration,
) -> Result<OwnedFd, (Step, nix::Error)> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let fd = socket(family(&remote), SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| (Step::Create, e))?;
    if let Some(local) = local {
        setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| (Step::Reuse, e))?;
        bind_to(&fd, &local).map_err(|e| (Step::Bind, e))?;
    }
    set_nonblocking(&fd, true).map_err(|e| (Step::Create, e))?;
    let res = match remote {
        SocketAddr::V4(v4) => nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrIn::from(v4)),
        SocketAddr::V6(v6) => nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrIn6::from(v6)),
    };
    match res {
        Ok(()) => {}
        Err(nix::Error::EINPROGRESS) => {
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
            let ready = poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX))
                .map_err(|e| (Step::Bind, e))?;
            if ready == 0 {
                return Err((Step::Bind, nix::Error::ETIMEDOUT));
            }
            let err = nix::sys::socket::getsockopt(&fd, sockopt::SocketError)
                .map_err(|e| (Step::Bind, e))?;
            if err != 0 {
                return Err((Step::Bind, nix::Error::from_raw(err)));
            }
        }
        Err(e) => return Err((Step::Bind, e)),
    }
    set_nonblocking(&fd, false).map_err(|e| (Step::Create, e))?;
    Ok(fd)
}

/// Switch O_NONBLOCK on or off.
pub fn set_nonblocking(fd: &impl AsFd, on: bool) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    let flags = if on { flags | OFlag::O_NONBLOCK } else { flags - OFlag::O_NONBLOCK };
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).map(drop)
}

fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// The local address of a socket.
pub fn local_addr(fd: &impl AsFd) -> nix::Result<SocketAddr> {
    let addr: SockaddrStorage = nix::sys::socket::getsockname(fd.as_fd().as_raw_fd())?;
    to_std(&addr).ok_or(nix::Error::EAFNOSUPPORT)
}

/// The remote address of a connected socket.
pub fn peer_addr(fd: &impl AsFd) -> nix::Result<SocketAddr> {
    let addr: SockaddrStorage = nix::sys::socket::getpeername(fd.as_fd().as_raw_fd())?;
    let _ = addr.family();
    to_std(&addr).ok_or(nix::Error::EAFNOSUPPORT)
}

/// Point descriptor 2 at /dev/null (ucspi-tcp's `-q`).
pub fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = crate::sys::dup_to(null.as_fd(), 2);
    }
}

/// Mark every descriptor from 3 up close-on-exec, except those in `keep`,
/// so that a program execed next receives only what it should.
pub fn close_on_exec_from_3(keep: &[i32]) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // The directory's own descriptor is gone by now: EBADF is fine.
        crate::sys::set_cloexec_raw(fd);
    }
}

/// The UCSPI-TCP environment of one connection, in the order tcpserver
/// sets it. `None` values are removed from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ucspi {
    pub local: Option<SocketAddr>,
    pub local_host: Option<String>,
    pub remote: Option<SocketAddr>,
    pub remote_host: Option<String>,
    pub remote_info: Option<String>,
}

impl Ucspi {
    /// `(variable, value or None to unset)` pairs.
    pub fn vars(&self) -> Vec<(&'static str, Option<String>)> {
        let ip = |a: &Option<SocketAddr>| a.map(|a| ip_text(a.ip()));
        let port = |a: &Option<SocketAddr>| a.map(|a| a.port().to_string());
        vec![
            ("PROTO", Some("TCP".to_string())),
            ("TCPLOCALIP", ip(&self.local)),
            ("TCPLOCALPORT", port(&self.local)),
            ("TCPLOCALHOST", self.local_host.clone()),
            ("TCPREMOTEIP", ip(&self.remote)),
            ("TCPREMOTEPORT", port(&self.remote)),
            ("TCPREMOTEHOST", self.remote_host.clone()),
            ("TCPREMOTEINFO", self.remote_info.clone()),
        ]
    }

    /// Apply the variables to this process's environment (called in the
    /// single-threaded child right before exec).
    pub fn apply(&self) {
        for (name, value) in self.vars() {
            set_env(name, value.as_deref());
        }
    }
}

/// Set or remove one environment variable of this (single-threaded)
/// process.
pub fn set_env(name: &str, value: Option<&str>) {
    match value {
        Some(v) => crate::sys::set_env(name, v),
        None => crate::sys::remove_env(name),
    }
}

/// The ident (RFC 1413) answer for a connection, asked with a time limit:
/// the user id the remote host reports, or None.
pub fn remote_info(
    local: SocketAddr,
    remote: SocketAddr,
    timeout: std::time::Duration,
) -> Option<String> {
    use std::io::{Read, Write};
    let start = std::time::Instant::now();
    let ident = SocketAddr::new(remote.ip(), 113);
    let bind = SocketAddr::new(local.ip(), 0);
    let fd = connect_tcp(ident, Some(bind), timeout).ok()?;
    let mut stream = std::net::TcpStream::from(fd);
    let left = timeout.checked_sub(start.elapsed())?.max(std::time::Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).ok()?;
    stream.write_all(format!("{} , {}\r\n", remote.port(), local.port()).as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while answer.len() < 1024 && !answer.contains(&b'\n') {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    parse_ident(&String::from_utf8_lossy(&answer))
}

/// The user id in an ident reply `ports : USERID : os : user`.
pub fn parse_ident(reply: &str) -> Option<String> {
    let line = reply.lines().next()?;
    let mut parts = line.splitn(4, ':');
    let _ports = parts.next()?;
    if parts.next()?.trim() != "USERID" {
        return None;
    }
    let _os = parts.next()?;
    let user = parts.next()?.trim_start_matches(' ').trim_end_matches(['\r', ' ']);
    Some(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(parse_host("0"), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(parse_host(""), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(parse_host("::"), Some("::".parse().unwrap()));
        assert_eq!(parse_host("::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_host("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_host("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_host("1.2.3"), None);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80"), Some(80));
        assert_eq!(parse_port("70000"), None);
        let services = "# x\nhttp\t\t80/tcp\t\twww # WorldWideWeb HTTP\nntp 123/udp\n";
        assert_eq!(service_port("http", services), Some(80));
        assert_eq!(service_port("www", services), Some(80));
        assert_eq!(service_port("ntp", services), None);
    }

    #[test]
    fn mapped_ipv4_prints_as_ipv4() {
        assert_eq!(ip_text("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(ip_text("::1".parse().unwrap()), "::1");
    }

    #[test]
    fn ucspi_vars() {
        let u = Ucspi {
            local: Some("127.0.0.1:80".parse().unwrap()),
            remote: Some("[::1]:4000".parse().unwrap()),
            ..Ucspi::default()
        };
        let vars = u.vars();
        assert_eq!(vars[0], ("PROTO", Some("TCP".into())));
        assert_eq!(vars[1], ("TCPLOCALIP", Some("127.0.0.1".into())));
        assert_eq!(vars[2], ("TCPLOCALPORT", Some("80".into())));
        assert_eq!(vars[3], ("TCPLOCALHOST", None));
        assert_eq!(vars[4], ("TCPREMOTEIP", Some("::1".into())));
        assert_eq!(vars[5], ("TCPREMOTEPORT", Some("4000".into())));
    }

    #[test]
    fn ident_replies() {
        assert_eq!(parse_ident("6193, 23 : USERID : UNIX : stjohns\r\n"), Some("stjohns".into()));
        assert_eq!(parse_ident("6195, 23 : ERROR : NO-USER\r\n"), None);
    }
}
