//! `tcpclient [opts] host port program...`: ucspi-tcp's client. Connects
//! to host:port and runs `program` with the connection on descriptors 6
//! (read) and 7 (write) and the UCSPI environment. See
//! `docs/tcpclient.md`.

use std::ffi::OsString;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::decimal;
use crate::fail::Failure;
use crate::getopt;
use crate::net::{self, End};
use crate::spawn::ChildSpec;

const USAGE: &str = "tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program";

struct Options {
    local_ip: Option<String>,
    local_port: u16,
    timeout_conn: Duration,
    local_name: Option<String>,
    timeout_info: Duration,
    ucspi: net::Lookups,
    host: String,
    port: String,
    program: Vec<OsString>,
}

fn parse(args: Vec<OsString>) -> Result<Options, Failure> {
    let mut o = Options {
        local_ip: None,
        local_port: 0,
        timeout_conn: Duration::from_secs(60),
        local_name: None,
        timeout_info: Duration::from_secs(26),
        ucspi: net::Lookups::default(),
        host: String::new(),
        port: String::new(),
        program: Vec::new(),
    };
    let usage = || Failure::usage(USAGE);
    let text = |v: Option<OsString>| v.unwrap_or_default().to_string_lossy().into_owned();
    let rest = getopt::options(args, "tcpclient", "hHrRdDqQv", "ipTlt", usage, |letter, value| {
        // ucspi-tcp reads numbers with scan_ulong: the leading digits, 0
        // for none, never a complaint.
        let bytes = value.as_deref().unwrap_or_default().as_bytes();
        let number = |at: usize| decimal::scan_ulong(&bytes[at.min(bytes.len())..]);
        match letter {
            'i' => o.local_ip = Some(text(value)),
            'p' => o.local_port = number(0).0 as u16,
            'T' => {
                // `x+y`: two attempts, of x and y seconds; the sum bounds the wait.
                let (first, len) = number(0);
                let skip = len + usize::from(bytes.get(len) == Some(&b'+'));
                let total = first.saturating_add(number(skip).0);
                o.timeout_conn = Duration::from_secs(total.max(1));
            }
            'l' => o.local_name = Some(text(value)),
            't' => o.timeout_info = Duration::from_secs(number(0).0),
            letter => {
                o.ucspi.set(letter);
            }
        }
        Ok(())
    })?;
    if rest.len() < 3 {
        return Err(Failure::usage(USAGE));
    }
    let mut rest = rest.into_iter();
    o.host = text(rest.next());
    o.port = text(rest.next());
    o.program = rest.collect();
    Ok(o)
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let o = parse(args)?;
    if o.ucspi.verbosity == 0 {
        // -q: no messages at all, not even fatal ones.
        net::silence_stderr();
    }
    // ucspi-tcp's tcpclient takes `0` and the empty host for 127.0.0.1
    // (where tcpserver's `0` is every address).
    let host = if matches!(o.host.as_str(), "0" | "") { "127.0.0.1" } else { &o.host };
    let ip = net::host_address(host)?;
    let port = net::parse_port(&o.port).ok_or_else(|| {
        Failure::temporary(format!("unable to figure out port number for {}", o.port))
    })?;
    let remote = SocketAddr::new(ip, port);
    let stream = connect(&o, remote).map_err(|(stage, e)| match stage {
        Stage::Bind => {
            Failure::temporary(format!("unable to bind socket: {}", crate::errstr::io_str(&e)))
        }
        Stage::Connect => Failure::bare(
            111,
            format!(
                "tcpclient: unable to connect to {} port {port}: {}",
                net::ip_text(ip),
                crate::errstr::io_str(&e)
            ),
        ),
    })?;
    if o.ucspi.verbosity >= 2 {
        let _ =
            writeln!(std::io::stderr(), "tcpclient: connected to {} port {port}", net::ip_text(ip));
    }
    let local = stream.local_addr().or_fail_tcp()?;
    if o.ucspi.nodelay {
        let _ = stream.set_nodelay(true);
    }
    let local_end = End {
        ip: net::ip_text(local.ip()),
        port: local.port(),
        host: o.local_name.clone().or_else(|| crate::sys::net::reverse_name(local.ip())),
    };
    let remote_end = End {
        ip: net::ip_text(ip),
        port,
        host: if o.ucspi.remote_host { crate::sys::net::reverse_name(ip) } else { None },
    };
    let info = if o.ucspi.remote_info { net::ident(local, remote, o.timeout_info) } else { None };
    let env = net::ucspi_env(&local_end, &remote_end, info.as_deref());
    let fd = OwnedFd::from(stream);
    let err = ChildSpec::command(&o.program)
        .env(&net::env_changes(&env))
        .fd(fd.as_fd(), 6)
        .fd(fd.as_fd(), 7)
        .exec();
    Err(Failure::temporary(format!(
        "unable to run {}: {}",
        o.program[0].to_string_lossy(),
        crate::errstr::io_str(&err)
    )))
}

/// Which step of connecting failed: ucspi-tcp reports a failed bind as
/// fatal, a failed connection as `unable to connect to IP port N`.
enum Stage {
    Bind,
    Connect,
}

/// Connect from the chosen local address, if any, within the time limit.
fn connect(o: &Options, remote: SocketAddr) -> Result<TcpStream, (Stage, std::io::Error)> {
    if o.local_ip.is_none() && o.local_port == 0 {
        return TcpStream::connect_timeout(&remote, o.timeout_conn)
            .map_err(|e| (Stage::Connect, e));
    }
    let bound = bound_socket(o, remote).map_err(|e| (Stage::Bind, e))?;
    nix::sys::socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&bound),
        &nix::sys::socket::SockaddrStorage::from(remote),
    )
    .map_err(|e| (Stage::Connect, e.into()))?;
    Ok(TcpStream::from(bound))
}

/// A socket bound to the `-i`/`-p` local address.
fn bound_socket(o: &Options, remote: SocketAddr) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrStorage, bind, socket};
    use std::os::fd::AsRawFd;
    let family = if remote.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let unspecified = if remote.is_ipv4() { "0.0.0.0" } else { "::" };
    let local_ip = net::parse_host(o.local_ip.as_deref().unwrap_or(unspecified))
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL))?;
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(local_ip, o.local_port)))?;
    Ok(fd)
}

trait OrFailTcp<T> {
    fn or_fail_tcp(self) -> Result<T, Failure>;
}

impl<T> OrFailTcp<T> for std::io::Result<T> {
    fn or_fail_tcp(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::sys("set up the connection", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let args = ["-RHv", "-T", "2+3", "-i", "127.0.0.1", "::1", "80", "sh", "-c", "x"];
        let o = parse(args.iter().map(OsString::from).collect()).unwrap();
        assert_eq!(o.timeout_conn, Duration::from_secs(5));
        assert_eq!(o.local_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(o.host, "::1");
        assert_eq!(o.program.len(), 3);
        assert!(parse(vec!["host".into(), "80".into()]).is_err());
    }
}
