//! Shared mechanisms of the network tools (`tcpserver`, `tcpclient`,
//! `spawn-fcgi`): addresses (IPv4 and IPv6), listening sockets with a
//! backlog, the UCSPI environment, and a minimal account lookup and
//! privilege drop.

pub mod rules;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};

use crate::fail::Failure;

/// The address a host argument names: `0` is every IPv4 address (as in
/// ucspi-tcp), `::` every IPv6 address, a literal address itself, or a
/// name, resolved (the first address wins).
pub fn parse_host(host: &str) -> Option<IpAddr> {
    match host {
        "0" | "" => return Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "::" => return Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => {}
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip);
    }
    (bare, 0).to_socket_addrs().ok()?.next().map(|sa| sa.ip())
}

/// The address of host argument `host` (see [`parse_host`]), or the
/// failure in ucspi-tcp's words: a name that cannot be a DNS name is
/// refused before any look-up, as its resolver refuses to encode it.
pub fn host_address(host: &str) -> Result<IpAddr, Failure> {
    if !dns_encodable(host) {
        return Err(Failure::temporary(format!(
            "temporarily unable to figure out IP address for {host}: protocol error"
        )));
    }
    parse_host(host).ok_or_else(|| Failure::temporary(format!("no IP address for {host}")))
}

/// Whether `name` fits in a DNS query as djbdns encodes it: labels
/// between dots (empty ones skipped) of at most 63 bytes, each with its
/// length byte, plus the root's, at most 255 bytes in all.
fn dns_encodable(name: &str) -> bool {
    let mut wire = 1;
    for label in name.split('.').filter(|label| !label.is_empty()) {
        if label.len() > 63 {
            return false;
        }
        wire += 1 + label.len();
    }
    wire <= 255
}

/// A port argument: a number, or a name from /etc/services.
pub fn parse_port(port: &str) -> Option<u16> {
    if let Ok(n) = port.parse::<u16>() {
        return Some(n);
    }
    let services = std::fs::read_to_string("/etc/services").ok()?;
    service_port(&services, port)
}

/// The TCP port named `name` in the text of /etc/services.
pub fn service_port(services: &str, name: &str) -> Option<u16> {
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(first), Some(portproto)) = (words.next(), words.next()) else { continue };
        let Some(port) = portproto.strip_suffix("/tcp") else { continue };
        if first == name || words.any(|alias| alias == name) {
            return port.parse().ok();
        }
    }
    None
}

/// The options tcpserver and tcpclient share: look-ups, Nagle, verbosity.
#[derive(Debug, Clone, Copy)]
pub struct Lookups {
    /// `-h` (default) / `-H`: look up the remote host name.
    pub remote_host: bool,
    /// `-r` (default) / `-R`: ask the remote ident server.
    pub remote_info: bool,
    /// `-D` (default) / `-d`: set TCP_NODELAY.
    pub nodelay: bool,
    /// `-q` 0, `-Q` 1 (default), `-v` 2.
    pub verbosity: u8,
}

impl Default for Lookups {
    fn default() -> Lookups {
        Lookups { remote_host: true, remote_info: true, nodelay: true, verbosity: 1 }
    }
}

impl Lookups {
    /// Apply option `letter` if it is one of these; whether it was.
    pub fn set(&mut self, letter: char) -> bool {
        match letter {
            'h' | 'H' => self.remote_host = letter == 'h',
            'r' | 'R' => self.remote_info = letter == 'r',
            'd' | 'D' => self.nodelay = letter == 'D',
            'q' => self.verbosity = 0,
            'Q' => self.verbosity = 1,
            'v' => self.verbosity = 2,
            _ => return false,
        }
        true
    }
}

/// Point descriptor 2 at /dev/null (ucspi-tcp's `-q`: no messages at all).
pub fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsFd;
        let _ = crate::spawn::place_here(null.as_fd(), 2);
    }
}

/// A TCP socket bound to `addr` (with `SO_REUSEADDR`) and listening with
/// `backlog`. The descriptor is close-on-exec.
pub fn tcp_listen(addr: SocketAddr, backlog: i32) -> nix::Result<OwnedFd> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrStorage::from(addr))?;
    listen(&fd, backlog_of(backlog))?;
    Ok(fd)
}

/// The kernel backlog for a requested one (at least 1).
pub fn backlog_of(backlog: i32) -> Backlog {
    Backlog::new(backlog.max(1)).unwrap_or(Backlog::MAXCONN)
}

/// The local and remote addresses of a connected socket.
pub fn socket_ends(fd: &impl std::os::fd::AsRawFd) -> nix::Result<(SocketAddr, SocketAddr)> {
    use nix::sys::socket::{getpeername, getsockname};
    let local: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    let remote: SockaddrStorage = getpeername(fd.as_raw_fd())?;
    Ok((
        to_std(&local).ok_or(nix::Error::EAFNOSUPPORT)?,
        to_std(&remote).ok_or(nix::Error::EAFNOSUPPORT)?,
    ))
}

/// A socket address as std's type, for IPv4 and IPv6.
pub fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// An address as ucspi-tcp prints it: an IPv4-mapped IPv6 address as
/// plain IPv4.
pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// What is known about one end of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct End {
    pub ip: String,
    pub port: u16,
    /// Host name, when looked up or given.
    pub host: Option<String>,
}

/// The UCSPI-TCP environment for a connection: `PROTO=TCP`,
/// `TCPLOCALIP`, `TCPLOCALPORT`, `TCPLOCALHOST`, `TCPREMOTEIP`,
/// `TCPREMOTEPORT`, `TCPREMOTEHOST`, `TCPREMOTEINFO`. A `None` value means
/// the variable is removed from the environment.
pub fn ucspi_env(local: &End, remote: &End, info: Option<&str>) -> Vec<(String, Option<String>)> {
    vec![
        ("PROTO".into(), Some("TCP".into())),
        ("TCPLOCALHOST".into(), local.host.clone()),
        ("TCPLOCALIP".into(), Some(local.ip.clone())),
        ("TCPLOCALPORT".into(), Some(local.port.to_string())),
        ("TCPREMOTEHOST".into(), remote.host.clone()),
        ("TCPREMOTEIP".into(), Some(remote.ip.clone())),
        ("TCPREMOTEPORT".into(), Some(remote.port.to_string())),
        ("TCPREMOTEINFO".into(), info.map(str::to_owned)),
    ]
}

/// An environment list (`None` removes) as changes for the program run
/// on the connection, applied in order as ucspi-tcp's `pathexec_env`.
pub fn env_changes(env: &[(String, Option<String>)]) -> crate::spawn::EnvChanges {
    let mut changes = crate::spawn::EnvChanges::new();
    for (name, value) in env {
        match value {
            Some(value) => changes.set(name.as_bytes(), value.as_bytes()),
            None => changes.unset(name.as_bytes()),
        }
    }
    changes
}

/// Ask the remote host's ident server (RFC 1413) who owns the
/// connection, waiting at most `timeout`.
pub fn ident(
    local: SocketAddr,
    remote: SocketAddr,
    timeout: std::time::Duration,
) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let server = SocketAddr::new(remote.ip(), 113);
    let mut stream = std::net::TcpStream::connect_timeout(&server, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "{} , {}\r\n", remote.port(), local.port()).ok()?;
    let mut line = String::new();
    BufReader::new(std::io::Read::take(stream, 1024)).read_line(&mut line).ok()?;
    parse_ident(&line)
}

/// The user name in an ident reply `ports : USERID : os : name`.
pub fn parse_ident(reply: &str) -> Option<String> {
    let mut parts = reply.trim_end_matches(['\r', '\n']).splitn(4, ':');
    let _ports = parts.next()?;
    if parts.next()?.trim() != "USERID" {
        return None;
    }
    let _os = parts.next()?;
    let name = parts.next()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(parse_host("0"), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(parse_host("::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_host("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_host("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn names_too_long_for_dns() {
        let label = |n| "a".repeat(n);
        assert!(dns_encodable(&label(63)));
        assert!(dns_encodable(&format!("{}.{}.", label(63), label(63))));
        assert!(!dns_encodable(&label(64)));
        assert!(!dns_encodable(&format!("x..{}", label(64))));
        // 4 * 61 + 10 + 1 = 255 bytes on the wire; one more is too many.
        let four = [label(60), label(60), label(60), label(60)].join(".");
        assert!(dns_encodable(&format!("{four}.{}", label(9))));
        assert!(!dns_encodable(&format!("{four}.{}", label(10))));
        assert!(host_address("127.0.0.1").is_ok());
        let refused = host_address(&label(64)).unwrap_err();
        assert!(refused.message.ends_with(": protocol error"), "{refused:?}");
    }

    #[test]
    fn services() {
        let text = "# comment\nsmtp\t\t25/tcp\t\tmail\nhttp 80/tcp www # web\ndomain 53/udp\n";
        assert_eq!(service_port(text, "smtp"), Some(25));
        assert_eq!(service_port(text, "www"), Some(80));
        assert_eq!(service_port(text, "domain"), None);
        assert_eq!(parse_port("12000"), Some(12000));
    }

    #[test]
    fn mapped_addresses_print_as_ipv4() {
        assert_eq!(ip_text("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
        assert_eq!(ip_text("::1".parse().unwrap()), "::1");
    }

    #[test]
    fn ident_replies() {
        assert_eq!(parse_ident("6193, 23 : USERID : UNIX : stjohns\r\n"), Some("stjohns".into()));
        assert_eq!(parse_ident("6195, 23 : ERROR : NO-USER\r\n"), None);
    }

    #[test]
    fn environment_removes_unknown_names() {
        let local = End { ip: "127.0.0.1".into(), port: 80, host: Some("0".into()) };
        let remote = End { ip: "127.0.0.1".into(), port: 5000, host: None };
        let env = ucspi_env(&local, &remote, None);
        assert!(env.contains(&("TCPREMOTEHOST".into(), None)));
        assert!(env.contains(&("TCPLOCALHOST".into(), Some("0".into()))));
        assert!(env.contains(&("TCPREMOTEPORT".into(), Some("5000".into()))));
    }
}
