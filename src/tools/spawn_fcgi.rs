//! `spawn-fcgi`: lighttpd's FastCGI spawner. Bind a TCP or Unix socket,
//! put it on descriptor 0 of a FastCGI application, drop privileges and
//! exec the application (after forking `-F` children, or in place with
//! `-n` under a supervisor). Messages and exit codes are spawn-fcgi 1.6's
//! (255 for its errors). See `docs/spawn-fcgi.md`.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, UnixAddr, bind, connect, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{Gid, Uid};

use crate::chain::account::{Account, group_id, supplementary_groups};
use crate::fail::Failure;
use crate::getopt::{Spec, Stop, Style};
use crate::net;
use crate::spawn::{self, ChildSpec, Ending, EnvChanges, Forked, Session};

const VERSION: &str = "spawn-fcgi v1.6.4 (ipv6) - spawns FastCGI processes\n";

const HELP: &str = "Usage: spawn-fcgi [options] [-- <fcgiapp> [fcgi app arguments]]

spawn-fcgi v1.6.4 (ipv6) - spawns FastCGI processes

Options:
 -f <path>      filename of the fcgi-application (deprecated; ignored if
                <fcgiapp> is given; needs /bin/sh)
 -d <directory> chdir to directory before spawning
 -a <address>   bind to IPv4/IPv6 address (defaults to 0.0.0.0)
 -p <port>      bind to TCP-port
 -s <path>      bind to Unix domain socket
 -M <mode>      change Unix domain socket mode (octal integer, default: allow
                read+write for user and group as far as umask allows it) 
 -C <children>  (PHP only) numbers of childs to spawn (default: not setting
                the PHP_FCGI_CHILDREN environment variable - PHP defaults to 0)
 -F <children>  number of children to fork (default 1)
 -b <backlog>   backlog to allow on the socket (default 1024)
 -P <path>      name of PID-file for spawned process (ignored in no-fork mode)
 -n             no fork (for daemontools)
 -v             show version
 -?, -h         show this help
(root only)
 -c <directory> chroot to directory
 -S             create socket before chroot() (default is to create the socket
                in the chroot)
 -u <user>      change to user-id
 -g <group>     change to group-id (default: primary group of user if -u
                is given)
 -U <user>      change Unix domain socket owner to user-id
 -G <group>     change Unix domain socket group to group-id
";

/// spawn-fcgi's exit code for its own errors (`return -1` from main).
const ERROR: i32 = 255;

fn fail(message: impl Into<String>) -> Failure {
    Failure::bare(ERROR, format!("spawn-fcgi: {}", message.into()))
}

/// The settings from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    app: Option<OsString>,
    app_argv: Vec<OsString>,
    dir: Option<OsString>,
    addr: Option<String>,
    port: u16,
    unix: Option<PathBuf>,
    mode: Option<u32>,
    children: Option<i64>,
    forks: i64,
    backlog: i64,
    pid_file: Option<PathBuf>,
    no_fork: bool,
    chroot: Option<PathBuf>,
    before_chroot: bool,
    user: Option<String>,
    group: Option<String>,
    sock_user: Option<String>,
    sock_group: Option<String>,
}

/// What the command line asks for.
#[derive(Debug)]
enum Parsed {
    Run(Box<Options>),
    /// Print this on stdout and exit with the code.
    Print(&'static str, i32),
}

/// C's `strtol(text, &end, base)`: the value of the leading number and
/// whether the whole text was that number.
fn strtol(text: &str, base: u32) -> (i64, bool) {
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let len = digits.bytes().take_while(|b| (*b as char).is_digit(base)).count();
    if len == 0 {
        return (0, text.is_empty());
    }
    let value = i64::from_str_radix(&digits[..len], base).unwrap_or(i64::MAX);
    (if neg { -value } else { value }, len == digits.len())
}

fn parse(args: Vec<OsString>, root: bool) -> Result<Parsed, Failure> {
    if args.is_empty() {
        return Ok(Parsed::Print(HELP, ERROR));
    }
    let mut o = Options {
        app: None,
        app_argv: Vec::new(),
        dir: None,
        addr: None,
        port: 0,
        unix: None,
        mode: None,
        children: None,
        forks: 1,
        backlog: 1024,
        pid_file: None,
        no_fork: false,
        chroot: None,
        before_chroot: false,
        user: None,
        group: None,
        sock_user: None,
        sock_group: None,
    };
    let spec = Spec { flags: "?hnvS", valued: "cdfgapbuCFsPUGM", style: Style::Gnu };
    let text = |v: OsString| v.to_string_lossy().into_owned();
    let parsed = spec.parse(args, |letter, value| {
        let Some(v) = value else {
            match letter {
                'S' => o.before_chroot = root,
                'n' => o.no_fork = true,
                'v' => return Err(Ok(Parsed::Print(VERSION, 0))),
                _ => return Err(Ok(Parsed::Print(HELP, 0))),
            }
            return Ok(());
        };
        match letter {
            'f' => o.app = Some(v),
            'd' => o.dir = Some(v),
            'a' => o.addr = Some(text(v)),
            'p' => {
                let (n, whole) = strtol(&text(v), 10);
                if n == -1 || !whole {
                    return Err(Err(fail(format!("invalid port: {}", n as u32))));
                }
                o.port = n as u16;
            }
            's' => o.unix = Some(PathBuf::from(v)),
            'M' => o.mode = Some((strtol(&text(v), 8).0 as u32) & 0o7777),
            'C' => o.children = Some(strtol(&text(v), 10).0),
            'F' => o.forks = strtol(&text(v), 10).0,
            'b' => o.backlog = strtol(&text(v), 10).0,
            'P' => o.pid_file = Some(PathBuf::from(v)),
            // The root-only options are ignored for other users.
            'c' if root => o.chroot = Some(PathBuf::from(v)),
            'u' if root => o.user = Some(text(v)),
            'g' if root => o.group = Some(text(v)),
            'U' if root => o.sock_user = Some(text(v)),
            'G' if root => o.sock_group = Some(text(v)),
            _ => {}
        }
        Ok(())
    });
    match parsed {
        Ok(operands) => o.app_argv = operands,
        Err(Stop::Handler(done)) => return done,
        Err(Stop::Complaint(complaint)) => {
            // glibc's getopt has said why; spawn-fcgi then shows its help.
            let line = complaint.line("spawn-fcgi", Style::Gnu);
            let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
            return Ok(Parsed::Print(HELP, 0));
        }
    }
    if o.app.is_none() && o.app_argv.is_empty() {
        return Err(fail("no FastCGI application given"));
    }
    match (o.port, &o.unix) {
        (0, None) => return Err(fail("no socket given (use either -p or -s)")),
        (p, Some(_)) if p != 0 => {
            return Err(fail("either a Unix domain socket or a TCP-port, but not both"));
        }
        _ => {}
    }
    if let Some(path) = &o.unix
        && path.as_os_str().len() > 107
    {
        return Err(fail("path of the Unix domain socket is too long"));
    }
    if o.no_fork {
        o.pid_file = None;
    }
    Ok(Parsed::Run(Box::new(o)))
}

/// spawn-fcgi's `find_user_group`: numeric ids or names; a named user's
/// primary group unless a group is given; never uid or gid 0 by name.
/// Returns (uid, gid, account name for initgroups); 0 means "unchanged".
fn find_user_group(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(u32, u32, Option<String>), Failure> {
    let mut uid = 0;
    let mut gid = 0;
    let mut name = None;
    let mut account: Option<Account> = None;
    if let Some(user) = user {
        let (n, whole) = strtol(user, 10);
        if n <= 0 || !whole {
            let Ok(pw) = Account::lookup(user) else {
                return Err(fail(format!("can't find user name {user}")));
            };
            if pw.uid.is_root() {
                return Err(fail("I will not set uid to 0"));
            }
            uid = pw.uid.as_raw();
            name = Some(user.to_string());
            account = Some(pw);
        } else {
            uid = n as u32;
            if let Some(pw) = Account::by_uid(Uid::from_raw(uid)) {
                name = Some(pw.name.to_string_lossy().into_owned());
                account = Some(pw);
            }
        }
    }
    if let Some(group) = group {
        let (n, whole) = strtol(group, 10);
        if n <= 0 || !whole {
            let Some(g) = group_id(group) else {
                return Err(fail(format!("can't find group name {group}")));
            };
            if g.as_raw() == 0 {
                return Err(fail("I will not set gid to 0"));
            }
            gid = g.as_raw();
        } else {
            gid = n as u32;
        }
    } else if let Some(pw) = account {
        gid = pw.gid.as_raw();
        if gid == 0 {
            return Err(fail("I will not set gid to 0"));
        }
    }
    Ok((uid, gid, name))
}

fn errtext(err: Errno) -> &'static str {
    err.desc()
}

fn umask_now() -> u32 {
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o022));
    umask(old);
    old.bits()
}

/// spawn-fcgi's `bind_socket`.
fn bind_socket(o: &Options, uid: u32, gid: u32) -> Result<OwnedFd, Failure> {
    if let Some(path) = &o.unix {
        let addr = UnixAddr::new(path.as_path())
            .map_err(|e| fail(format!("bind failed: {}", errtext(e))))?;
        let probe = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| fail(format!("couldn't create socket: {}", errtext(e))))?;
        if connect(probe.as_raw_fd(), &addr).is_ok() {
            return Err(fail("socket is already in use, can't spawn"));
        }
        drop(probe);
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
                return Err(fail(format!("removing old socket failed: {}", errtext(errno))));
            }
        }
        let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| fail(format!("couldn't create socket: {}", errtext(e))))?;
        setsockopt(&fd, sockopt::ReuseAddr, &true)
            .map_err(|e| fail(format!("couldn't set SO_REUSEADDR: {}", errtext(e))))?;
        bind(fd.as_raw_fd(), &addr).map_err(|e| fail(format!("bind failed: {}", errtext(e))))?;
        let mode = o.mode.unwrap_or(0o660 & !umask_now());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(format!("couldn't chmod socket: {}", io_text(&e))))?;
        if uid != 0 || gid != 0 {
            let owner = (uid != 0).then(|| Uid::from_raw(uid));
            let group = (gid != 0).then(|| Gid::from_raw(gid));
            nix::unistd::chown(path.as_path(), owner, group)
                .map_err(|e| fail(format!("couldn't chown socket: {}", errtext(e))))?;
        }
        listen(&fd, net::backlog_of(o.backlog.clamp(0, i64::from(i32::MAX)) as i32))
            .map_err(|e| fail(format!("listen failed: {}", errtext(e))))?;
        return Ok(fd);
    }
    let ip = match &o.addr {
        None => std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Some(a) => a.parse().map_err(|_| fail(format!("'{a}' is not a valid IP address")))?,
    };
    let backlog = o.backlog.clamp(0, i64::from(i32::MAX)) as i32;
    net::tcp_listen(std::net::SocketAddr::new(ip, o.port), backlog)
        .map_err(|e| fail(format!("bind failed: {}", errtext(e))))
}

fn open_pid_file(path: &Path) -> Result<std::fs::File, Failure> {
    let shown = path.display();
    let open = |excl: bool| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true).mode(0o644);
        if excl {
            opts.create_new(true);
        }
        opts.open(path)
    };
    match open(true) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path)
                .map_err(|e| fail(format!("stating PID-file '{shown}' failed: {}", io_text(&e))))?;
            if !meta.is_file() {
                return Err(fail(format!("PID-file exists and isn't regular file: '{shown}'")));
            }
            open(false)
                .map_err(|e| fail(format!("opening PID-file '{shown}' failed: {}", io_text(&e))))
        }
        Err(e) => Err(fail(format!("opening PID-file '{shown}' failed: {}", io_text(&e)))),
    }
}

fn io_text(err: &std::io::Error) -> &'static str {
    Errno::from_raw(err.raw_os_error().unwrap_or(0)).desc()
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let root = Uid::effective().is_root();
    let o = match parse(args, root)? {
        Parsed::Print(text, code) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            return Ok(code);
        }
        Parsed::Run(o) => o,
    };
    let mut pid_file = match &o.pid_file {
        Some(path) => Some(open_pid_file(path)?),
        None => None,
    };
    let socket = if root {
        let (uid, gid, name) = find_user_group(o.user.as_deref(), o.group.as_deref())?;
        let (sock_uid, sock_gid, _) =
            find_user_group(o.sock_user.as_deref(), o.sock_group.as_deref())?;
        if uid != 0 && gid == 0 {
            let _ = std::io::stderr().write_all(format!("spawn-fcgi: WARNING: couldn't find the user for uid {uid} and no group was specified, so only the user privileges will be dropped\n").as_bytes());
        }
        let sock_uid = if sock_uid == 0 { uid } else { sock_uid };
        let sock_gid = if sock_gid == 0 { gid } else { sock_gid };
        let mut socket =
            if o.before_chroot { Some(bind_socket(&o, sock_uid, sock_gid)?) } else { None };
        if gid != 0 {
            set_groups(name.as_deref(), Gid::from_raw(gid))?;
        }
        if let Some(dir) = &o.chroot {
            nix::unistd::chroot(dir.as_path())
                .map_err(|e| fail(format!("chroot('{}') failed: {}", dir.display(), errtext(e))))?;
            nix::unistd::chdir("/")
                .map_err(|e| fail(format!("chdir('/') failed: {}", errtext(e))))?;
        }
        if socket.is_none() {
            socket = Some(bind_socket(&o, sock_uid, sock_gid)?);
        }
        if uid != 0 {
            nix::unistd::setuid(Uid::from_raw(uid))
                .map_err(|e| fail(format!("setuid({uid}) failed: {}", errtext(e))))?;
        }
        socket.expect("bound above")
    } else {
        bind_socket(&o, 0, 0)?
    };
    if let Some(dir) = &o.dir {
        nix::unistd::chdir(dir.as_os_str()).map_err(|e| {
            fail(format!("chdir('{}') failed: {}", Path::new(dir).display(), errtext(e)))
        })?;
    }
    spawn(&o, socket, &mut pid_file)
}

/// spawn-fcgi's group change: setgid, no supplementary groups, then
/// those of the account (as `initgroups(name, gid)`), read from
/// /etc/group rather than through NSS.
fn set_groups(name: Option<&str>, gid: Gid) -> Result<(), Failure> {
    nix::unistd::setgid(gid).map_err(|e| fail(format!("setgid({gid}) failed: {}", errtext(e))))?;
    nix::unistd::setgroups(&[])
        .map_err(|e| fail(format!("setgroups(0, NULL) failed: {}", errtext(e))))?;
    if let Some(name) = name {
        let init_failed = |why: &str| fail(format!("initgroups('{name}', {gid}) failed: {why}"));
        let groups =
            supplementary_groups(name.as_bytes(), gid).map_err(|f| init_failed(&f.message))?;
        nix::unistd::setgroups(&groups).map_err(|e| init_failed(errtext(e)))?;
    }
    Ok(())
}

/// spawn-fcgi's `fcgi_spawn_connection`: fork (unless `-n`) and exec the
/// application with the socket on descriptor 0; after each fork wait
/// 100 ms and report whether the child is still running.
fn spawn(
    o: &Options,
    socket: OwnedFd,
    pid_file: &mut Option<std::fs::File>,
) -> Result<i32, Failure> {
    let mut rc = 0;
    let mut left = o.forks;
    while left > 0 {
        left -= 1;
        let forked = if o.no_fork {
            Forked::Child
        } else {
            match spawn::fork() {
                Ok(f) => f,
                Err(e) => {
                    let _ = std::io::stderr().write_all(
                        format!("spawn-fcgi: fork failed: {}\n", io_text(&e)).as_bytes(),
                    );
                    continue;
                }
            }
        };
        match forked {
            Forked::Child => exec_app(o, &socket),
            Forked::Parent(child) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                match child.try_wait() {
                    Ok(None) => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(
                            format!(
                                "spawn-fcgi: child spawned successfully: PID: {}\n",
                                child.id()
                            )
                            .as_bytes(),
                        );
                        let _ = out.flush();
                        if let Some(file) = pid_file.as_mut() {
                            let mut text = child.id().to_string();
                            if left != 0 {
                                text.push('\n');
                            }
                            if let Err(e) = file.write_all(text.as_bytes()) {
                                let _ = std::io::stderr().write_all(
                                    format!(
                                        "spawn-fcgi: writing pid file failed: {}\n",
                                        io_text(&e)
                                    )
                                    .as_bytes(),
                                );
                                *pid_file = None;
                            }
                        }
                    }
                    Ok(Some(Ending::Exited(code))) => {
                        let _ = std::io::stderr().write_all(
                            format!("spawn-fcgi: child exited with: {code}\n").as_bytes(),
                        );
                        rc = code;
                    }
                    Ok(Some(Ending::Signaled { signal, .. })) => {
                        let _ = std::io::stderr().write_all(
                            format!("spawn-fcgi: child signaled: {signal}\n").as_bytes(),
                        );
                        rc = 1;
                    }
                    Err(_) => {}
                }
            }
        }
    }
    Ok(rc)
}

/// In the child: PHP_FCGI_CHILDREN, the socket on fd 0, a new session
/// and /dev/null on stdout and stderr (unless `-n`), nothing else open,
/// then exec. Never returns.
fn exec_app(o: &Options, socket: &OwnedFd) -> ! {
    let mut spec = match &o.app_argv.first() {
        Some(program) => {
            // execv: no PATH search; a bare name is relative to the
            // current directory.
            let path = Path::new(program);
            let path = if program.as_bytes().contains(&b'/') {
                path.to_path_buf()
            } else {
                Path::new(".").join(path)
            };
            ChildSpec::with_argv(path, o.app_argv.clone())
        }
        None => {
            let mut script = OsString::from("exec ");
            script.push(o.app.as_deref().unwrap_or(OsStr::new("")));
            ChildSpec::with_argv("/bin/sh", vec!["sh".into(), "-c".into(), script])
        }
    };
    spec.fd(socket.as_fd(), 0).fds_below(3);
    let null = if o.no_fork {
        None
    } else {
        match std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
            Ok(null) => Some(null),
            Err(e) => {
                let _ = std::io::stderr().write_all(
                    format!(
                        "spawn-fcgi: couldn't open and redirect stdout/stderr to '/dev/null': {}\n",
                        io_text(&e)
                    )
                    .as_bytes(),
                );
                None
            }
        }
    };
    if !o.no_fork {
        spec.session(Session::New);
    }
    if let Some(null) = &null {
        spec.fd(null.as_fd(), 1).fd(null.as_fd(), 2);
    }
    if let Some(n) = o.children.filter(|n| *n >= 0) {
        let mut env = EnvChanges::new();
        env.set(b"PHP_FCGI_CHILDREN", n.to_string().as_bytes());
        spec.env(&env);
    }
    let err = spec.exec();
    let _ = std::io::stderr()
        .write_all(format!("spawn-fcgi: exec failed: {}\n", io_text(&err)).as_bytes());
    std::process::exit(err.raw_os_error().unwrap_or(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run(list: &[&str]) -> Options {
        match parse(args(list), true).unwrap() {
            Parsed::Run(o) => *o,
            Parsed::Print(..) => panic!("printed"),
        }
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol("12", 10), (12, true));
        assert_eq!(strtol("12x", 10), (12, false));
        assert_eq!(strtol("x", 10), (0, false));
        assert_eq!(strtol("755", 8), (0o755, true));
    }

    #[test]
    fn command_lines() {
        let o = run(&["-n", "-a", "127.0.0.1", "-p", "12000", "-f", "./app.fcgi"]);
        assert!(o.no_fork);
        assert_eq!(o.port, 12000);
        assert_eq!(o.app.as_deref(), Some(OsStr::new("./app.fcgi")));
        let o = run(&["-s", "/tmp/s", "-M", "0600", "-F", "3", "-b", "5", "--", "app", "-x"]);
        assert_eq!(o.mode, Some(0o600));
        assert_eq!((o.forks, o.backlog), (3, 5));
        assert_eq!(o.app_argv, args(&["app", "-x"]));
        let o = run(&["-p", "1", "-n", "-P", "/x", "-u", "nobody", "app"]);
        assert_eq!(o.pid_file, None, "-P is ignored with -n");
        assert_eq!(o.user.as_deref(), Some("nobody"));
        match parse(args(&["-p", "1", "-u", "nobody", "app"]), false).unwrap() {
            Parsed::Run(o) => assert_eq!(o.user, None, "-u is root only"),
            Parsed::Print(..) => panic!(),
        }
    }

    #[test]
    fn errors_like_spawn_fcgi() {
        let err = |list: &[&str]| parse(args(list), false).unwrap_err().message;
        assert_eq!(err(&["-p", "1"]), "spawn-fcgi: no FastCGI application given");
        assert_eq!(err(&["app"]), "spawn-fcgi: no socket given (use either -p or -s)");
        assert_eq!(
            err(&["-p", "1", "-s", "x", "app"]),
            "spawn-fcgi: either a Unix domain socket or a TCP-port, but not both"
        );
        assert_eq!(err(&["-p", "x", "app"]), "spawn-fcgi: invalid port: 0");
        assert_eq!(parse(args(&["-p", "x", "app"]), false).unwrap_err().code, 255);
        assert!(matches!(parse(args(&[]), false), Ok(Parsed::Print(_, 255))));
        assert!(matches!(parse(args(&["-Z"]), false), Ok(Parsed::Print(_, 0))));
        assert!(matches!(parse(args(&["-v"]), false), Ok(Parsed::Print(VERSION, 0))));
    }
}
