//! `tcpserver`: ucspi-tcp's TCP server. Listen on host:port; for each
//! connection fork a child that sets the UCSPI environment, checks the
//! `-x` rules, and execs the program with the connection on descriptors
//! 0 and 1. At most `-c` children run at a time: while the limit is
//! reached the server stops accepting (new clients wait in the kernel's
//! backlog). IPv6 addresses are accepted too. See `docs/tcpserver.md`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::socket::{SockFlag, accept4, setsockopt, sockopt};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Uid};

use crate::errstr;
use crate::fail::Failure;
use crate::net::{self, Step, Ucspi, rules};
use crate::sys::{self, Forked, SelfPipe};

const USAGE: &str = "tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program";
const DROP: &str = "tcpserver: warning: dropping connection, ";

/// The settings from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    verbosity: u8,
    limit: u64,
    backlog: i64,
    rules: Option<OsString>,
    allow_no_rules: bool,
    banner: Vec<u8>,
    uid: u32,
    gid: u32,
    print_port: bool,
    remote_host: bool,
    remote_info: bool,
    paranoid: bool,
    no_delay: bool,
    local_name: Option<String>,
    timeout: u64,
    host: String,
    port: String,
    program: Vec<OsString>,
}

/// djb's `scan_ulong`: the leading decimal digits (0 if none).
fn scan_ulong(text: &str) -> u64 {
    text.bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
}

fn parse(args: Vec<OsString>, env: impl Fn(&str) -> Option<String>) -> Result<Options, Failure> {
    use lexopt::prelude::*;
    let mut o = Options {
        verbosity: 1,
        limit: 40,
        backlog: 20,
        rules: None,
        allow_no_rules: false,
        banner: Vec::new(),
        uid: 0,
        gid: 0,
        print_port: false,
        remote_host: true,
        remote_info: true,
        paranoid: false,
        no_delay: false,
        local_name: None,
        timeout: 26,
        host: String::new(),
        port: String::new(),
        program: Vec::new(),
    };
    let usage = || Failure::usage(USAGE);
    let mut parser = lexopt::Parser::from_args(args);
    let mut rest = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| illegal(&e))? {
        match arg {
            Short('b') => o.backlog = scan_ulong(&value(&mut parser)?).min(i64::MAX as u64) as i64,
            Short('c') => o.limit = scan_ulong(&value(&mut parser)?),
            Short('X') => o.allow_no_rules = true,
            Short('x') => o.rules = Some(parser.value().map_err(|e| illegal(&e))?),
            Short('B') => o.banner = value(&mut parser)?.into_bytes(),
            Short('d') => o.no_delay = false,
            Short('D') => o.no_delay = true,
            Short('v') => o.verbosity = 2,
            Short('q') => o.verbosity = 0,
            Short('Q') => o.verbosity = 1,
            Short('P') => o.paranoid = false,
            Short('p') => o.paranoid = true,
            Short('O' | 'o') => {}
            Short('H') => o.remote_host = false,
            Short('h') => o.remote_host = true,
            Short('R') => o.remote_info = false,
            Short('r') => o.remote_info = true,
            Short('t') => o.timeout = scan_ulong(&value(&mut parser)?),
            Short('U') => {
                if let Some(uid) = env("UID") {
                    o.uid = scan_ulong(&uid) as u32;
                }
                if let Some(gid) = env("GID") {
                    o.gid = scan_ulong(&gid) as u32;
                }
            }
            Short('u') => o.uid = scan_ulong(&value(&mut parser)?) as u32,
            Short('g') => o.gid = scan_ulong(&value(&mut parser)?) as u32,
            Short('1') => o.print_port = true,
            Short('l') => o.local_name = Some(value(&mut parser)?),
            Value(v) => {
                rest.push(v);
                rest.extend(parser.raw_args().map_err(|e| illegal(&e))?);
                break;
            }
            other => return Err(illegal(&other.unexpected())),
        }
    }
    let mut rest = rest.into_iter();
    o.host = rest.next().ok_or_else(usage)?.to_string_lossy().into_owned();
    o.port = rest.next().ok_or_else(usage)?.to_string_lossy().into_owned();
    o.program = rest.collect();
    if o.program.is_empty() {
        return Err(usage());
    }
    Ok(o)
}

fn value(parser: &mut lexopt::Parser) -> Result<String, Failure> {
    Ok(parser.value().map_err(|e| illegal(&e))?.to_string_lossy().into_owned())
}

/// An unknown option: getopt's complaint, then the usage line.
fn illegal(err: &lexopt::Error) -> Failure {
    if let lexopt::Error::UnexpectedOption(opt) = err {
        let letter = opt.trim_start_matches('-');
        let _ = std::io::stderr()
            .write_all(format!("tcpserver: illegal option -- {letter}\n").as_bytes());
    }
    Failure::usage(USAGE)
}

/// Resolve the host to listen on: a literal address, `0`, the empty
/// string, or a name.
pub fn resolve_host(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    if let Some(ip) = net::parse_host(host) {
        return Ok(SocketAddr::new(ip, port));
    }
    net::resolve(host, port).map(|list| list[0]).map_err(Failure::temporary)
}

fn warn_line(verbosity: u8, line: &str) {
    if verbosity >= 2 {
        let _ = std::io::stderr().write_all(format!("tcpserver: {line}\n").as_bytes());
    }
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let o = parse(args, |name| std::env::var(name).ok())?;
    if o.verbosity == 0 {
        // -q: no messages at all, not even fatal ones.
        net::silence_stderr();
    }
    let port = net::parse_port(&o.port).ok_or_else(|| {
        Failure::temporary(format!("unable to figure out port number for {}", o.port))
    })?;
    sys::ignore_sigpipe();
    let signals = SelfPipe::catch(&[Signal::SIGCHLD, Signal::SIGTERM])
        .map_err(|e| Failure::sys("catch signals", &e))?;
    let addr = resolve_host(&o.host, port)?;
    let listener = net::listen_tcp(addr, o.backlog).map_err(|(step, e)| {
        let what = match step {
            Step::Create => "create socket",
            Step::Reuse | Step::Bind => "bind",
            Step::Listen => "listen",
        };
        Failure::temporary(format!("unable to {what}: {}", errstr::nix_str(e)))
    })?;
    let local = net::local_addr(&listener).map_err(|e| {
        Failure::temporary(format!("unable to get local address: {}", errstr::nix_str(e)))
    })?;
    net::set_nonblocking(&listener, true)
        .map_err(|e| Failure::temporary(format!("unable to listen: {}", errstr::nix_str(e))))?;
    if o.gid != 0 {
        let gid = Gid::from_raw(o.gid);
        nix::unistd::setgroups(&[gid]).and_then(|()| nix::unistd::setgid(gid)).map_err(|e| {
            Failure::temporary(format!("unable to set gid: {}", errstr::nix_str(e)))
        })?;
    }
    if o.uid != 0 {
        nix::unistd::setuid(Uid::from_raw(o.uid)).map_err(|e| {
            Failure::temporary(format!("unable to set uid: {}", errstr::nix_str(e)))
        })?;
    }
    if o.print_port {
        let mut out = std::io::stdout();
        let _ = out.write_all(format!("{}\n", local.port()).as_bytes());
        let _ = out.flush();
    }
    // ucspi-tcp closes stdin and stdout: the programs get the connection.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = sys::dup_to(null.as_fd(), 0);
        let _ = sys::dup_to(null.as_fd(), 1);
    }
    serve(&o, &listener, &signals)
}

/// The accept loop: accept only while fewer than `limit` children run.
fn serve(o: &Options, listener: &OwnedFd, signals: &SelfPipe) -> Result<i32, Failure> {
    let mut children: u64 = 0;
    let status = |n: u64| warn_line(o.verbosity, &format!("status: {n}/{}", o.limit));
    status(children);
    loop {
        let accepting = children < o.limit;
        let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
        if accepting {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => {
                return Err(Failure::temporary(format!("unable to poll: {}", errstr::nix_str(e))));
            }
        }
        let got = signals.take();
        if got.has(Signal::SIGTERM) {
            return Ok(0);
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    let (pid, raw) = match ws {
                        WaitStatus::Exited(pid, code) => (pid, code << 8),
                        WaitStatus::Signaled(pid, sig, core) => {
                            (pid, sig as i32 | if core { 0x80 } else { 0 })
                        }
                        _ => continue,
                    };
                    warn_line(o.verbosity, &format!("end {pid} status {raw}"));
                    children = children.saturating_sub(1);
                    status(children);
                }
            }
        }
        if !accepting || children >= o.limit {
            continue;
        }
        let conn = match accept4(listener.as_fd(), SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => fd,
            Err(_) => continue,
        };
        children += 1;
        status(children);
        match sys::fork_single_threaded() {
            Ok(Forked::Child) => child(o, conn),
            Ok(Forked::Parent(_)) => {}
            Err(e) => {
                let _ = std::io::stderr().write_all(
                    format!("{DROP}unable to fork: {}\n", errstr::io_str(&e)).as_bytes(),
                );
                children -= 1;
                status(children);
            }
        }
        drop(conn);
    }
}

/// Die in the child with `tcpserver: warning: dropping connection, ...`.
fn drop_connection(message: &str) -> ! {
    let _ = std::io::stderr().write_all(format!("{DROP}{message}\n").as_bytes());
    std::process::exit(111);
}

/// Whether `name` has `ip` among its addresses (tcpserver -p).
fn resolves_to(name: &str, ip: std::net::IpAddr) -> bool {
    use std::net::ToSocketAddrs;
    (name, 0)
        .to_socket_addrs()
        .map(|mut addrs| addrs.any(|a| a.ip().to_canonical() == ip))
        .unwrap_or(false)
}

/// Replace bytes ucspi-tcp's log would not print as they are.
fn safe(text: &str) -> String {
    text.chars().map(|c| if c == ':' || c.is_control() || c == ' ' { '?' } else { c }).collect()
}

/// In the child: environment, rules, then exec the program with the
/// connection on fds 0 and 1. Never returns.
fn child(o: &Options, conn: OwnedFd) -> ! {
    sys::default_sigpipe();
    sys::default_signal(Signal::SIGTERM);
    sys::default_signal(Signal::SIGCHLD);
    // The program gets a blocking socket, whatever the listener's flags.
    let _ = net::set_nonblocking(&conn, false);
    let pid = std::process::id();
    let remote = match net::peer_addr(&conn) {
        Ok(a) => a,
        Err(e) => drop_connection(&format!("unable to get remote address: {}", errstr::nix_str(e))),
    };
    let remote_ip = net::ip_text(remote.ip());
    warn_line(o.verbosity, &format!("pid {pid} from {remote_ip}"));
    if o.no_delay {
        let _ = setsockopt(&conn, sockopt::TcpNoDelay, &true);
    }
    if !o.banner.is_empty() {
        let mut stream = std::fs::File::from(conn.try_clone().unwrap_or_else(|e| {
            drop_connection(&format!("unable to print banner: {}", errstr::io_str(&e)))
        }));
        if let Err(e) = stream.write_all(&o.banner) {
            drop_connection(&format!("unable to print banner: {}", errstr::io_str(&e)));
        }
    }
    let local = match net::local_addr(&conn) {
        Ok(a) => a,
        Err(e) => drop_connection(&format!("unable to get local address: {}", errstr::nix_str(e))),
    };
    // Names come from the system's resolver (/etc/hosts, then DNS);
    // `-p` keeps the remote name only if it resolves back to the address.
    let remote_host = if o.remote_host {
        sys::host_name_of(remote.ip().to_canonical())
            .filter(|name| !o.paranoid || resolves_to(name, remote.ip().to_canonical()))
    } else {
        None
    };
    let env = Ucspi {
        local: Some(local),
        local_host: o.local_name.clone().or_else(|| sys::host_name_of(local.ip().to_canonical())),
        remote: Some(remote),
        remote_host,
        remote_info: if o.remote_info {
            net::remote_info(local, remote, Duration::from_secs(o.timeout))
        } else {
            None
        },
    };
    env.apply();
    let mut deny = false;
    if let Some(path) = &o.rules {
        let shown = std::path::Path::new(path).display().to_string();
        match std::fs::read(path) {
            Ok(db) => {
                match rules::lookup(
                    &db,
                    &remote_ip,
                    env.remote_host.as_deref(),
                    env.remote_info.as_deref(),
                ) {
                    Ok(verdict) => {
                        deny = verdict.deny;
                        for (name, value) in &verdict.env {
                            net::set_env(name, Some(value));
                        }
                    }
                    Err(_) => drop_connection(&format!("unable to read {shown}: format error")),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && o.allow_no_rules => {}
            Err(e) => drop_connection(&format!("unable to read {shown}: {}", errstr::io_str(&e))),
        }
    }
    if o.verbosity >= 2 {
        let line = format!(
            "{} {pid} {}:{}:{} {}:{}:{}:{}",
            if deny { "deny" } else { "ok" },
            safe(env.local_host.as_deref().unwrap_or("")),
            net::ip_text(local.ip()),
            local.port(),
            safe(env.remote_host.as_deref().unwrap_or("")),
            remote_ip,
            safe(env.remote_info.as_deref().unwrap_or("")),
            remote.port()
        );
        warn_line(o.verbosity, &line);
    }
    if deny {
        std::process::exit(100);
    }
    if let Err(e) = sys::dup_to(conn.as_fd(), 0).and_then(|()| sys::dup_to(conn.as_fd(), 1)) {
        drop_connection(&format!("unable to set up descriptors: {}", errstr::io_str(&e)));
    }
    drop(conn);
    let err = Command::new(&o.program[0]).args(&o.program[1..]).exec();
    drop_connection(&format!(
        "unable to run {}: {}",
        o.program[0].to_string_lossy(),
        errstr::io_str(&err)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse(args(&["0", "80", "prog", "-x"]), |_| None).unwrap();
        assert_eq!((o.limit, o.backlog, o.verbosity, o.timeout), (40, 20, 1, 26));
        assert!(o.remote_host && o.remote_info);
        assert_eq!(o.program, args(&["prog", "-x"]));
        let o = parse(
            args(&["-vRH", "-c", "2", "-b5", "-x", "r.cdb", "-B", "hi\n", "-l0", "::1", "80", "p"]),
            |_| None,
        )
        .unwrap();
        assert_eq!((o.limit, o.backlog, o.verbosity), (2, 5, 2));
        assert!(!o.remote_host && !o.remote_info);
        assert_eq!(o.banner, b"hi\n");
        assert_eq!(o.local_name.as_deref(), Some("0"));
        assert_eq!(o.host, "::1");
        let o = parse(args(&["-U", "0", "1", "p"]), |n| {
            Some(if n == "UID" { "7" } else { "8" }.into())
        })
        .unwrap();
        assert_eq!((o.uid, o.gid), (7, 8));
    }

    #[test]
    fn usage_errors() {
        for bad in [&["0", "80"][..], &["0"], &[], &["-Z", "0", "1", "p"], &["-c"]] {
            let err = parse(args(bad), |_| None).unwrap_err();
            assert_eq!(err.code, 100);
            assert_eq!(err.message, USAGE);
        }
    }

    #[test]
    fn scan_like_djb() {
        assert_eq!(scan_ulong("12x"), 12);
        assert_eq!(scan_ulong("x"), 0);
    }
}
