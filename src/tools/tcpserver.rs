//! `tcpserver [opts] host port program...`: ucspi-tcp's server. Listens
//! on host:port, and for each connection forks a child that runs
//! `program` with the connection on descriptors 0 and 1 and the UCSPI
//! environment. At most `-c` children run at once: at the limit the
//! server stops accepting, so further clients wait in the kernel backlog.
//! See `docs/tcpserver.md`.

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::socket::{SockFlag, accept4};
use nix::unistd::{Gid, Uid};

use crate::decimal;
use crate::event_loop::EventLoop;
use crate::fail::Failure;
use crate::getopt;
use crate::net::rules::{self, Verdict};
use crate::net::{self, End};
use crate::spawn::{ChildSpec, Forked, fork};

const USAGE: &str = "tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program";

struct Options {
    limit: usize,
    rules: Option<OsString>,
    allow_no_rules: bool,
    banner: Vec<u8>,
    uid: Option<Uid>,
    gid: Option<Gid>,
    backlog: i32,
    local_name: Option<String>,
    timeout: Duration,
    print_port: bool,
    paranoid: bool,
    ucspi: net::Lookups,
    host: String,
    port: String,
    program: Vec<OsString>,
}

fn parse(args: Vec<OsString>) -> Result<Options, Failure> {
    let mut o = Options {
        limit: 40,
        rules: None,
        allow_no_rules: false,
        banner: Vec::new(),
        uid: None,
        gid: None,
        backlog: 20,
        local_name: None,
        timeout: Duration::from_secs(26),
        print_port: false,
        paranoid: false,
        ucspi: net::Lookups::default(),
        host: String::new(),
        port: String::new(),
        program: Vec::new(),
    };
    let usage = || Failure::usage(USAGE);
    let rest = getopt::options(
        args,
        "tcpserver",
        "1UXpPhHrRoOdDqQv",
        "cxBgublt",
        usage,
        |letter, value| {
            // ucspi-tcp reads numbers with scan_ulong: the leading digits, 0
            // for none, never a complaint.
            let number = || decimal::scan_ulong(value.as_deref().unwrap_or_default().as_bytes()).0;
            match letter {
                'c' => o.limit = usize::try_from(number()).unwrap_or(usize::MAX),
                'x' => o.rules = value,
                'X' => o.allow_no_rules = true,
                'B' => o.banner = value.unwrap_or_default().into_encoded_bytes(),
                'u' => o.uid = Some(Uid::from_raw(number() as u32)),
                'g' => o.gid = Some(Gid::from_raw(number() as u32)),
                'U' => {
                    let var =
                        |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
                    o.uid = var("UID").map(Uid::from_raw).or(o.uid);
                    o.gid = var("GID").map(Gid::from_raw).or(o.gid);
                }
                'b' => o.backlog = i32::try_from(number()).unwrap_or(i32::MAX),
                'l' => o.local_name = value.map(|v| v.to_string_lossy().into_owned()),
                't' => o.timeout = Duration::from_secs(number()),
                '1' => o.print_port = true,
                'p' => o.paranoid = true,
                'P' => o.paranoid = false,
                'o' | 'O' => {}
                letter => {
                    o.ucspi.set(letter);
                }
            }
            Ok(())
        },
    )?;
    if rest.len() < 3 {
        return Err(Failure::usage(USAGE));
    }
    let mut rest = rest.into_iter();
    o.host = rest.next().unwrap_or_default().to_string_lossy().into_owned();
    o.port = rest.next().unwrap_or_default().to_string_lossy().into_owned();
    o.program = rest.collect();
    Ok(o)
}

fn log(line: &str) {
    let _ = std::io::stderr().write_all(format!("tcpserver: {line}\n").as_bytes());
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let o = parse(args)?;
    if o.ucspi.verbosity == 0 {
        // -q: no messages at all, not even fatal ones.
        net::silence_stderr();
    }
    let ip = net::host_address(&o.host)?;
    let port = net::parse_port(&o.port).ok_or_else(|| {
        Failure::temporary(format!("unable to figure out port number for {}", o.port))
    })?;
    let listener = net::tcp_listen(SocketAddr::new(ip, port), o.backlog).map_err(|e| {
        Failure::temporary(format!("unable to bind: {}", crate::errstr::nix_str(e)))
    })?;
    nix::fcntl::fcntl(&listener, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .map_err(|e| {
            Failure::temporary(format!("unable to bind: {}", crate::errstr::nix_str(e)))
        })?;
    if o.print_port {
        let local: nix::sys::socket::SockaddrStorage =
            nix::sys::socket::getsockname(listener.as_raw_fd())?;
        let port = net::to_std(&local).map_or(0, |a| a.port());
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{port}");
        let _ = out.flush();
    }
    if let Some(gid) = o.gid {
        nix::unistd::setgroups(&[gid]).and_then(|()| nix::unistd::setgid(gid)).map_err(|e| {
            Failure::temporary(format!("unable to set gid: {}", crate::errstr::nix_str(e)))
        })?;
    }
    if let Some(uid) = o.uid {
        nix::unistd::setuid(uid).map_err(|e| {
            Failure::temporary(format!("unable to set uid: {}", crate::errstr::nix_str(e)))
        })?;
    }
    let events = EventLoop::new(&[Signal::SIGCHLD, Signal::SIGTERM])
        .map_err(|e| Failure::sys("catch signals", &e))?;
    serve(&o, listener, &events)
}

/// The accept loop: never more than `limit` children at once.
fn serve(o: &Options, listener: OwnedFd, events: &EventLoop) -> Result<i32, Failure> {
    let mut children = 0usize;
    let status = |n: usize| {
        if o.ucspi.verbosity >= 2 {
            log(&format!("status: {n}/{}", o.limit));
        }
    };
    status(children);
    loop {
        for (pid, ending) in events.reaped() {
            children = children.saturating_sub(1);
            if o.ucspi.verbosity >= 2 {
                log(&format!("end {pid} status {}", ending.wait_status()));
            }
            status(children);
        }
        // At the limit, the listener is not watched: clients wait in the
        // kernel's backlog.
        let listening = (children < o.limit).then(|| listener.as_fd());
        let wake = events.wait(&[listening], None).map_err(|e| Failure::sys("poll", &e))?;
        if wake.signals().has(Signal::SIGTERM) {
            return Ok(0);
        }
        if !wake.ready(0) {
            continue;
        }
        let Ok(conn) = accept4(&listener, SockFlag::SOCK_CLOEXEC) else { continue };
        children += 1;
        status(children);
        match fork() {
            Ok(Forked::Child) => std::process::exit(child(o, conn)),
            Ok(Forked::Parent(_)) => {}
            Err(e) => {
                children -= 1;
                if o.ucspi.verbosity >= 1 {
                    log(&format!(
                        "warning: dropping connection, unable to fork: {}",
                        crate::errstr::io_str(&e)
                    ));
                }
            }
        }
        drop(conn);
    }
}

/// In the child: look up names, check the rules, log, and run the program
/// on the connection. Returns an exit code only on failure.
fn child(o: &Options, conn: OwnedFd) -> i32 {
    let pid = std::process::id();
    let Ok((local, remote)) = net::socket_ends(&conn) else { return 111 };
    if o.ucspi.verbosity >= 2 {
        log(&format!("pid {pid} from {}", net::ip_text(remote.ip())));
    }
    // As ucspi-tcp: options and banner first, so a denied client sees the
    // banner too.
    if o.ucspi.nodelay {
        let _ = nix::sys::socket::setsockopt(&conn, nix::sys::socket::sockopt::TcpNoDelay, &true);
    }
    if !o.banner.is_empty() {
        let mut stream = std::net::TcpStream::from(conn.try_clone().expect("dup"));
        if let Err(e) = stream.write_all(&o.banner) {
            log(&format!(
                "warning: dropping connection, unable to print banner: {}",
                crate::errstr::io_str(&e)
            ));
            return 111;
        }
    }
    let local_end = End {
        ip: net::ip_text(local.ip()),
        port: local.port(),
        host: o.local_name.clone().or_else(|| crate::sys::net::reverse_name(local.ip())),
    };
    let remote_host = if o.ucspi.remote_host { lookup_host(remote.ip(), o.paranoid) } else { None };
    let remote_end = End { ip: net::ip_text(remote.ip()), port: remote.port(), host: remote_host };
    let info = if o.ucspi.remote_info { net::ident(local, remote, o.timeout) } else { None };

    let mut env = net::ucspi_env(&local_end, &remote_end, info.as_deref());
    let verdict = match &o.rules {
        None => Verdict::Allow(Vec::new()),
        Some(path) => match cdb::CDB::open(path) {
            Ok(db) => rules::check(
                |key| db.get(key).and_then(Result::ok),
                &remote_end.ip,
                remote_end.host.as_deref(),
                info.as_deref(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && o.allow_no_rules => {
                Verdict::Allow(Vec::new())
            }
            Err(e) => {
                log(&format!(
                    "warning: dropping connection, unable to read {}: {}",
                    path.to_string_lossy(),
                    crate::errstr::io_str(&e)
                ));
                return 111;
            }
        },
    };
    let line = format!(
        "{pid} {}:{}:{} {}:{}:{}:{}",
        local_end.host.as_deref().unwrap_or(""),
        local_end.ip,
        local_end.port,
        remote_end.host.as_deref().unwrap_or(""),
        remote_end.ip,
        info.as_deref().unwrap_or(""),
        remote_end.port
    );
    let vars = match verdict {
        Verdict::Deny => {
            if o.ucspi.verbosity >= 2 {
                log(&format!("deny {line}"));
            }
            return 100;
        }
        Verdict::Allow(vars) => vars,
    };
    if o.ucspi.verbosity >= 2 {
        log(&format!("ok {line}"));
    }
    env.extend(vars.into_iter().map(|(k, v)| (k, Some(v))));
    let err = ChildSpec::command(&o.program)
        .env(&net::env_changes(&env))
        .fd(conn.as_fd(), 0)
        .fd(conn.as_fd(), 1)
        .exec();
    log(&format!(
        "warning: dropping connection, unable to run {}: {}",
        o.program[0].to_string_lossy(),
        crate::errstr::io_str(&err)
    ));
    111
}

/// The remote host name; with `paranoid`, only if it maps back to `ip`.
fn lookup_host(ip: IpAddr, paranoid: bool) -> Option<String> {
    let name = crate::sys::net::reverse_name(ip)?;
    if paranoid {
        use std::net::ToSocketAddrs;
        let back = (name.as_str(), 0).to_socket_addrs().ok()?;
        if !back.into_iter().any(|a| a.ip() == ip) {
            return None;
        }
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_and_program() {
        let o =
            parse(args(&["-vRH", "-c", "2", "-l0", "-B", "hi", "::1", "0", "cat", "-u"])).unwrap();
        assert_eq!(o.limit, 2);
        assert_eq!(o.ucspi.verbosity, 2);
        assert!(!o.ucspi.remote_host && !o.ucspi.remote_info);
        assert_eq!(o.local_name.as_deref(), Some("0"));
        assert_eq!(o.banner, b"hi");
        assert_eq!(o.host, "::1");
        assert_eq!(o.program, args(&["cat", "-u"]));
    }

    #[test]
    fn too_few_arguments_is_usage() {
        assert_eq!(parse(args(&["0", "80"])).err().map(|f| f.code), Some(100));
    }

    #[test]
    fn numbers_are_read_as_scan_ulong_reads_them() {
        // ucspi-tcp takes the leading digits and never complains: `-c 0`
        // (no client is ever accepted), `-c 3x`, `-b x`.
        let o = parse(args(&["-c", "3x", "-bx", "-t", "", "0", "80", "x"])).unwrap();
        assert_eq!((o.limit, o.backlog, o.timeout), (3, 0, Duration::ZERO));
        assert_eq!(parse(args(&["-c0", "0", "80", "x"])).unwrap().limit, 0);
    }
}
