//! `tcpclient`: ucspi-tcp's TCP client. Connect to host:port and exec the
//! program with the connection on descriptors 6 (read) and 7 (write) and
//! the UCSPI environment. IPv6 addresses are accepted too. See
//! `docs/tcpclient.md`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};

use crate::errstr;
use crate::fail::Failure;
use crate::net::{self, Step};
use crate::sys;

const USAGE: &str = "tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    verbosity: u8,
    remote_host: bool,
    remote_info: bool,
    no_delay: bool,
    local_ip: Option<String>,
    local_port: Option<String>,
    /// Connection timeouts: the first try and the second (`-T x+y`).
    conn_timeout: (u64, u64),
    local_name: Option<String>,
    info_timeout: u64,
    host: String,
    port: String,
    program: Vec<OsString>,
}

fn scan_ulong(text: &str) -> (u64, usize) {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    (text[..len].parse().unwrap_or(if len == 0 { 0 } else { u64::MAX }), len)
}

fn illegal(err: &lexopt::Error) -> Failure {
    if let lexopt::Error::UnexpectedOption(opt) = err {
        let letter = opt.trim_start_matches('-');
        let _ = std::io::stderr()
            .write_all(format!("tcpclient: illegal option -- {letter}\n").as_bytes());
    }
    Failure::usage(USAGE)
}

fn value(parser: &mut lexopt::Parser) -> Result<String, Failure> {
    Ok(parser.value().map_err(|e| illegal(&e))?.to_string_lossy().into_owned())
}

fn parse(args: Vec<OsString>) -> Result<Options, Failure> {
    use lexopt::prelude::*;
    let mut o = Options {
        verbosity: 1,
        remote_host: true,
        remote_info: true,
        no_delay: false,
        local_ip: None,
        local_port: None,
        conn_timeout: (2, 58),
        local_name: None,
        info_timeout: 26,
        host: String::new(),
        port: String::new(),
        program: Vec::new(),
    };
    let mut parser = lexopt::Parser::from_args(args);
    let mut rest = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| illegal(&e))? {
        match arg {
            Short('d') => o.no_delay = false,
            Short('D') => o.no_delay = true,
            Short('v') => o.verbosity = 2,
            Short('q') => o.verbosity = 0,
            Short('Q') => o.verbosity = 1,
            Short('H') => o.remote_host = false,
            Short('h') => o.remote_host = true,
            Short('R') => o.remote_info = false,
            Short('r') => o.remote_info = true,
            Short('i') => o.local_ip = Some(value(&mut parser)?),
            Short('p') => o.local_port = Some(value(&mut parser)?),
            Short('l') => o.local_name = Some(value(&mut parser)?),
            Short('t') => o.info_timeout = scan_ulong(&value(&mut parser)?).0,
            Short('T') => {
                let v = value(&mut parser)?;
                let (first, len) = scan_ulong(&v);
                o.conn_timeout = (first, 0);
                if let Some(second) = v[len..].strip_prefix('+') {
                    o.conn_timeout.1 = scan_ulong(second).0;
                }
            }
            Value(v) => {
                rest.push(v);
                rest.extend(parser.raw_args().map_err(|e| illegal(&e))?);
                break;
            }
            other => return Err(illegal(&other.unexpected())),
        }
    }
    let usage = || Failure::usage(USAGE);
    let mut rest = rest.into_iter();
    o.host = rest.next().ok_or_else(usage)?.to_string_lossy().into_owned();
    o.port = rest.next().ok_or_else(usage)?.to_string_lossy().into_owned();
    o.program = rest.collect();
    if o.program.is_empty() {
        return Err(usage());
    }
    Ok(o)
}

/// The addresses to try for `host`: `0` and the empty string mean this
/// machine (127.0.0.1).
fn addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    if host.is_empty() || host == "0" {
        return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
    }
    if let Some(ip) = net::parse_host(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    net::resolve(host, port).map_err(Failure::temporary)
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let o = parse(args)?;
    if o.verbosity == 0 {
        // -q: no messages at all, not even fatal ones.
        net::silence_stderr();
    }
    let port = net::parse_port(&o.port).ok_or_else(|| {
        Failure::temporary(format!("unable to figure out port number for {}", o.port))
    })?;
    let remotes = addresses(&o.host, port)?;
    let local_port = match &o.local_port {
        Some(p) => net::parse_port(p).ok_or_else(|| {
            Failure::temporary(format!("unable to figure out port number for {p}"))
        })?,
        None => 0,
    };
    let local_ip = match &o.local_ip {
        Some(ip) => Some(net::parse_host(ip).ok_or_else(|| {
            Failure::temporary(format!("unable to figure out IP address for {ip}"))
        })?),
        None => None,
    };
    let mut connected = None;
    // The second round (`-T x+y`) retries only the addresses that timed out.
    let mut timed_out = Vec::new();
    'tries: for (round, secs) in [o.conn_timeout.0, o.conn_timeout.1].into_iter().enumerate() {
        if round == 1 && secs == 0 {
            break;
        }
        let this_round = if round == 0 { remotes.clone() } else { std::mem::take(&mut timed_out) };
        for remote in &this_round {
            let local = match (local_ip, local_port) {
                (Some(ip), p) => Some(SocketAddr::new(ip, p)),
                (None, 0) => None,
                (None, p) if remote.is_ipv4() => Some(SocketAddr::from(([0, 0, 0, 0], p))),
                (None, p) => Some(SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), p)),
            };
            match net::connect_tcp(*remote, local, Duration::from_secs(secs.max(1))) {
                Ok(fd) => {
                    connected = Some(fd);
                    break 'tries;
                }
                Err((Step::Create, e)) => {
                    return Err(Failure::temporary(format!(
                        "unable to create socket: {}",
                        errstr::nix_str(e)
                    )));
                }
                Err((Step::Reuse, e)) => {
                    return Err(Failure::temporary(format!(
                        "unable to bind socket: {}",
                        errstr::nix_str(e)
                    )));
                }
                Err((_, e)) if round == 0 && e == nix::Error::ETIMEDOUT && o.conn_timeout.1 > 0 => {
                }
                Err((_, e)) => {
                    if o.verbosity >= 1 {
                        let _ = std::io::stderr().write_all(
                            format!(
                                "tcpclient: unable to connect to {} port {}: {}\n",
                                net::ip_text(remote.ip()),
                                remote.port(),
                                errstr::nix_str(e)
                            )
                            .as_bytes(),
                        );
                    }
                }
            }
        }
    }
    let Some(fd) = connected else { return Ok(111) };
    if o.no_delay {
        let _ = setsockopt(&fd, sockopt::TcpNoDelay, &true);
    }
    let local = net::local_addr(&fd).map_err(|e| {
        Failure::temporary(format!("unable to get local address: {}", errstr::nix_str(e)))
    })?;
    let remote = net::peer_addr(&fd).map_err(|e| {
        Failure::temporary(format!("unable to get remote address: {}", errstr::nix_str(e)))
    })?;
    if o.verbosity >= 2 {
        let _ = std::io::stderr().write_all(
            format!(
                "tcpclient: connected to {} port {}\n",
                net::ip_text(remote.ip()),
                remote.port()
            )
            .as_bytes(),
        );
    }
    // As ucspi-tcp's tcpclient: TCPLOCALHOST is always set (empty when
    // the address has no name), TCPREMOTEHOST too with -h, unset with -H.
    let name_of = |ip: std::net::IpAddr| sys::host_name_of(ip.to_canonical()).unwrap_or_default();
    let env = net::Ucspi {
        local: Some(local),
        local_host: Some(o.local_name.clone().unwrap_or_else(|| name_of(local.ip()))),
        remote: Some(remote),
        remote_host: o.remote_host.then(|| name_of(remote.ip())),
        remote_info: if o.remote_info {
            net::remote_info(local, remote, Duration::from_secs(o.info_timeout))
        } else {
            None
        },
    };
    env.apply();
    sys::dup_to(fd.as_fd(), 6).map_err(|e| Failure::sys("set up descriptor 6", &e))?;
    sys::dup_to(fd.as_fd(), 7).map_err(|e| Failure::sys("set up descriptor 7", &e))?;
    drop(fd);
    sys::default_sigpipe();
    let err = Command::new(&o.program[0]).args(&o.program[1..]).exec();
    Err(Failure::temporary(format!(
        "unable to run {}: {}",
        o.program[0].to_string_lossy(),
        errstr::io_str(&err)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse(
            ["-RHD", "-i", "127.0.0.1", "-p", "0", "-T", "3+4", "::1", "80", "p", "-x"]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .unwrap();
        assert!(!o.remote_host && !o.remote_info && o.no_delay);
        assert_eq!(o.conn_timeout, (3, 4));
        assert_eq!(o.host, "::1");
        assert_eq!(o.program, vec![OsString::from("p"), OsString::from("-x")]);
        let err = parse(vec![OsString::from("h"), OsString::from("1")]).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (100, USAGE));
    }

    #[test]
    fn zero_means_local() {
        assert_eq!(addresses("0", 5).unwrap(), vec![SocketAddr::from(([127, 0, 0, 1], 5))]);
        assert_eq!(addresses("::1", 5).unwrap()[0].to_string(), "[::1]:5");
    }
}
