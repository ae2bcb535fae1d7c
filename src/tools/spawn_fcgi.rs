//! `spawn-fcgi [options] [-- app args...]`: lighttpd's FastCGI spawner.
//! Binds the socket (TCP or Unix), puts it on descriptor 0 as FastCGI
//! expects, drops privileges, and execs the application (`-n`, for
//! supervise) or forks it `-F` times. See `docs/spawn-fcgi.md`.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, UnixAddr, bind, connect, listen, socket,
};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Uid, chown};

use crate::fail::Failure;
use crate::net::{self, account};
use crate::sys::{Forked, fork};

const VERSION: &str = "spawn-fcgi v1.6.4 (tend, ipv6) - spawns FastCGI processes";

/// Debian's spawn-fcgi exits -1 (255) on a configuration error.
const CONFIG: i32 = 255;

#[derive(Default)]
struct Options {
    app_path: Option<OsString>,
    app_argv: Vec<OsString>,
    dir: Option<PathBuf>,
    addr: Option<String>,
    port: Option<u16>,
    unix: Option<PathBuf>,
    mode: Option<u32>,
    php_children: Option<u32>,
    forks: u32,
    backlog: i32,
    pid_file: Option<PathBuf>,
    no_fork: bool,
    chroot: Option<PathBuf>,
    socket_before_chroot: bool,
    user: Option<String>,
    group: Option<String>,
    sock_user: Option<String>,
    sock_group: Option<String>,
}

fn fail(message: impl Into<String>) -> Failure {
    Failure::bare(CONFIG, format!("spawn-fcgi: {}", message.into()))
}

fn help() -> String {
    format!(
        "Usage: spawn-fcgi [options] [-- <fcgiapp> [fcgi app arguments]]\n\n{VERSION}\n\n\
         Options:\n -f <path>      filename of the fcgi-application (ignored if <fcgiapp> is given; needs /bin/sh)\n \
         -d <directory> chdir to directory before spawning\n -a <address>   bind to IPv4/IPv6 address (defaults to 0.0.0.0)\n \
         -p <port>      bind to TCP-port\n -s <path>      bind to Unix domain socket\n \
         -M <mode>      change Unix domain socket mode (octal integer)\n \
         -C <children>  (PHP only) numbers of childs to spawn (sets PHP_FCGI_CHILDREN)\n \
         -F <children>  number of children to fork (default 1)\n -b <backlog>   backlog to allow on the socket (default 1024)\n \
         -P <path>      name of PID-file for spawned process (ignored in no-fork mode)\n \
         -n             no fork (for daemontools)\n -v             show version\n -?, -h         show this help\n\
         (root only)\n -c <directory> chroot to directory\n -S             create socket before chroot()\n \
         -u <user>      change to user-id\n -g <group>     change to group-id (default: primary group of user if -u is given)\n \
         -U <user>      change Unix domain socket owner to user-id\n -G <group>     change Unix domain socket group to group-id\n"
    )
}

fn parse(args: Vec<OsString>) -> Result<Result<Options, i32>, Failure> {
    use lexopt::prelude::*;
    let mut o = Options { forks: 1, backlog: 1024, ..Options::default() };
    let mut parser = lexopt::Parser::from_args(args);
    let text = |v: OsString| v.to_string_lossy().into_owned();
    while let Some(arg) = parser.next().map_err(|e| fail(e.to_string()))? {
        match arg {
            Short('f') => o.app_path = Some(parser.value().map_err(|e| fail(e.to_string()))?),
            Short('d') => o.dir = Some(parser.value().map_err(|e| fail(e.to_string()))?.into()),
            Short('a') => o.addr = Some(text(parser.value().map_err(|e| fail(e.to_string()))?)),
            Short('p') => {
                let v = text(parser.value().map_err(|e| fail(e.to_string()))?);
                o.port =
                    Some(net::parse_port(&v).ok_or_else(|| fail(format!("invalid port: {v}")))?);
            }
            Short('s') => o.unix = Some(parser.value().map_err(|e| fail(e.to_string()))?.into()),
            Short('M') => {
                let v = text(parser.value().map_err(|e| fail(e.to_string()))?);
                o.mode = Some(
                    u32::from_str_radix(&v, 8).map_err(|_| fail(format!("invalid mode: {v}")))?,
                );
            }
            Short('C') => {
                o.php_children =
                    Some(number(&text(parser.value().map_err(|e| fail(e.to_string()))?))?)
            }
            Short('F') => {
                o.forks = number(&text(parser.value().map_err(|e| fail(e.to_string()))?))?
            }
            Short('b') => {
                o.backlog = number(&text(parser.value().map_err(|e| fail(e.to_string()))?))? as i32
            }
            Short('P') => {
                o.pid_file = Some(parser.value().map_err(|e| fail(e.to_string()))?.into())
            }
            Short('n') => o.no_fork = true,
            Short('c') => o.chroot = Some(parser.value().map_err(|e| fail(e.to_string()))?.into()),
            Short('S') => o.socket_before_chroot = true,
            Short('u') => o.user = Some(text(parser.value().map_err(|e| fail(e.to_string()))?)),
            Short('g') => o.group = Some(text(parser.value().map_err(|e| fail(e.to_string()))?)),
            Short('U') => {
                o.sock_user = Some(text(parser.value().map_err(|e| fail(e.to_string()))?))
            }
            Short('G') => {
                o.sock_group = Some(text(parser.value().map_err(|e| fail(e.to_string()))?))
            }
            Short('v') => {
                println!("{VERSION}");
                return Ok(Err(0));
            }
            Short('h') | Short('?') => {
                print!("{}", help());
                return Ok(Err(0));
            }
            Value(first) => {
                o.app_argv.push(first);
                o.app_argv.extend(parser.raw_args().map_err(|e| fail(e.to_string()))?);
            }
            _ => {
                let _ = std::io::stderr().write_all(help().as_bytes());
                return Ok(Err(CONFIG));
            }
        }
    }
    Ok(Ok(o))
}

fn number(text: &str) -> Result<u32, Failure> {
    text.parse().map_err(|_| fail(format!("invalid number: {text}")))
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let o = match parse(args)? {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    if o.app_argv.is_empty() && o.app_path.is_none() {
        return Err(fail("no FastCGI application given"));
    }
    if o.port.is_none() && o.unix.is_none() {
        return Err(fail("no socket given (use either -p or -s)"));
    }
    if o.port.is_some() && o.unix.is_some() {
        return Err(fail("either a Unix domain socket or a TCP-port, but not both"));
    }
    if o.unix.is_none() && (o.mode.is_some() || o.sock_user.is_some() || o.sock_group.is_some()) {
        return Err(fail("-M, -U and -G only make sense with a Unix domain socket (-s)"));
    }

    // Accounts are looked up before a chroot can hide /etc/passwd.
    let root = Uid::effective().is_root();
    let (uid, gid, groups) = privileges(&o, root)?;
    let sock_owner = match &o.sock_user {
        Some(u) => {
            Some(account::user(u).ok_or_else(|| fail(format!("can't find user name {u}")))?.0)
        }
        None => None,
    };
    let sock_group = match &o.sock_group {
        Some(g) => {
            Some(account::group(g).ok_or_else(|| fail(format!("can't find group name {g}")))?)
        }
        None => None,
    };

    let mut socket = None;
    if o.chroot.is_none() || o.socket_before_chroot {
        socket = Some(bind_socket(&o, sock_owner, sock_group)?);
    }
    if let Some(dir) = &o.chroot {
        if !root {
            return Err(fail("-c needs root"));
        }
        nix::unistd::chroot(dir.as_path())
            .map_err(|e| fail(format!("chroot('{}') failed: {}", dir.display(), e.desc())))?;
        nix::unistd::chdir("/").map_err(|e| fail(format!("chdir('/') failed: {}", e.desc())))?;
    }
    let socket = match socket {
        Some(s) => s,
        None => bind_socket(&o, sock_owner, sock_group)?,
    };
    if let Some(gid) = gid {
        account::drop_to(uid, gid, &groups)
            .map_err(|e| fail(format!("unable to drop privileges: {}", e.message)))?;
    }
    if let Some(dir) = &o.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| fail(format!("chdir('{}') failed: {e}", dir.display())))?;
    }
    spawn(&o, socket)
}

/// The uid, gid and supplementary groups to drop to.
type Privileges = (Option<Uid>, Option<Gid>, Vec<Gid>);

/// The privileges to drop to (root only).
fn privileges(o: &Options, root: bool) -> Result<Privileges, Failure> {
    if !root {
        if o.user.is_some() || o.group.is_some() {
            let _ =
                writeln!(std::io::stderr(), "spawn-fcgi: not running as root, ignoring -u and -g");
        }
        return Ok((None, None, Vec::new()));
    }
    let mut uid = None;
    let mut gid = None;
    let mut name = None;
    if let Some(u) = &o.user {
        let (u_uid, u_gid, u_name) =
            account::user(u).ok_or_else(|| fail(format!("can't find user name {u}")))?;
        if u_uid.is_root() {
            return Err(fail("I will not set uid to 0"));
        }
        uid = Some(u_uid);
        gid = Some(u_gid);
        name = u_name;
    }
    if let Some(g) = &o.group {
        let g_gid = account::group(g).ok_or_else(|| fail(format!("can't find group name {g}")))?;
        if g_gid.as_raw() == 0 {
            return Err(fail("I will not set gid to 0"));
        }
        gid = Some(g_gid);
    }
    let Some(gid) = gid else { return Ok((None, None, Vec::new())) };
    // As spawn-fcgi: the account's supplementary groups (initgroups),
    // none without an account name.
    let groups = match &name {
        Some(name) => account::groups_of(name, gid)
            .map_err(|e| fail(format!("unable to read the groups of {name}: {}", e.message)))?,
        None => vec![gid],
    };
    Ok((uid, Some(gid), groups))
}

/// Bind and listen, as spawn-fcgi does: refuse a socket something already
/// answers on; replace a stale Unix socket.
fn bind_socket(o: &Options, owner: Option<Uid>, group: Option<Gid>) -> Result<OwnedFd, Failure> {
    if let Some(path) = &o.unix {
        let addr = UnixAddr::new(path.as_path()).map_err(|_| {
            fail(format!("path of the Unix domain socket is too long: {}", path.display()))
        })?;
        let probe = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| fail(format!("couldn't create socket: {}", e.desc())))?;
        if connect(probe.as_raw_fd(), &addr).is_ok() {
            return Err(fail("socket is already in use, can't spawn"));
        }
        let _ = std::fs::remove_file(path);
        let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| fail(format!("couldn't create socket: {}", e.desc())))?;
        bind(fd.as_raw_fd(), &addr).map_err(|e| fail(format!("bind failed: {}", e.desc())))?;
        if owner.is_some() || group.is_some() {
            chown(path.as_path(), owner, group)
                .map_err(|e| fail(format!("couldn't chown socket: {}", e.desc())))?;
        }
        // Without -M: read and write for user and group, as far as the
        // umask allows (spawn-fcgi's default).
        let mode = o.mode.unwrap_or_else(|| {
            let umask = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
            nix::sys::stat::umask(umask);
            0o660 & !umask.bits()
        });
        {
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                path.as_path(),
                Mode::from_bits_truncate(mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| fail(format!("couldn't chmod socket: {}", e.desc())))?;
        }
        listen(&fd, net::backlog_of(o.backlog))
            .map_err(|e| fail(format!("listen failed: {}", e.desc())))?;
        return Ok(fd);
    }
    let port = o.port.unwrap_or(0);
    let host = o.addr.as_deref().unwrap_or("0.0.0.0");
    let ip =
        net::parse_host(host).ok_or_else(|| fail(format!("'{host}' is not a valid IP address")))?;
    let addr = std::net::SocketAddr::new(ip, port);
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        && !ip.is_unspecified()
    {
        return Err(fail("socket is already in use, can't spawn"));
    }
    net::tcp_listen(addr, o.backlog).map_err(|e| fail(format!("bind failed: {}", e.desc())))
}

/// The command that runs the application: its argv, or `sh -c "exec
/// PATH"` for `-f`.
fn app_command(o: &Options) -> Command {
    let mut cmd = if let Some((program, args)) = o.app_argv.split_first() {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    } else {
        let mut line = OsString::from("exec ");
        line.push(o.app_path.clone().unwrap_or_default());
        let mut cmd = Command::new("/bin/sh");
        cmd.arg0("sh").arg("-c").arg(line);
        cmd
    };
    if let Some(n) = o.php_children {
        cmd.env("PHP_FCGI_CHILDREN", n.to_string());
    }
    cmd
}

/// Put the socket on descriptor 0 and exec the application; returns only
/// on failure, with spawn-fcgi's exit code (the errno).
fn exec_app(o: &Options, socket: &OwnedFd) -> i32 {
    if crate::sys::dup_to(socket, 0).is_err() {
        return 111;
    }
    let err = app_command(o).exec();
    let _ = writeln!(std::io::stderr(), "spawn-fcgi: exec failed: {}", strerror(&err));
    err.raw_os_error().unwrap_or(111)
}

fn strerror(err: &std::io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_owned()
}

fn spawn(o: &Options, socket: OwnedFd) -> Result<i32, Failure> {
    if o.no_fork {
        return Ok(exec_app(o, &socket));
    }
    let mut pid_file = match &o.pid_file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .map_err(|e| {
                    fail(format!("opening PID-file '{}' failed: {}", path.display(), strerror(&e)))
                })?,
        ),
        None => None,
    };
    let mut rc = 0;
    for left in (0..o.forks).rev() {
        match fork().map_err(|e| fail(format!("fork failed: {}", strerror(&e))))? {
            Forked::Child => {
                let _ = nix::unistd::setsid();
                if let Ok(null) =
                    std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")
                {
                    let _ = nix::unistd::dup2_stdout(&null);
                    let _ = nix::unistd::dup2_stderr(&null);
                }
                std::process::exit(exec_app(o, &socket));
            }
            Forked::Parent(child) => {
                std::thread::sleep(Duration::from_millis(100));
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => {
                        println!("spawn-fcgi: child spawned successfully: PID: {child}");
                        if let Some(file) = &mut pid_file {
                            let mut line = child.to_string();
                            if left != 0 {
                                line.push('\n');
                            }
                            let _ = file.write_all(line.as_bytes());
                        }
                    }
                    Ok(WaitStatus::Exited(_, code)) => {
                        eprintln!("spawn-fcgi: child exited with: {code}");
                        rc = code;
                    }
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        eprintln!("spawn-fcgi: child signaled: {}", sig as i32);
                        rc = 1;
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
    drop(socket);
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn opts(args: &[&str]) -> Options {
        match parse(args.iter().map(OsString::from).collect()) {
            Ok(Ok(o)) => o,
            _ => panic!("parse failed"),
        }
    }

    #[test]
    fn app_after_double_dash_keeps_its_options() {
        let o = opts(&["-n", "-p", "12000", "--", "/usr/bin/app", "-x", "y"]);
        assert!(o.no_fork);
        assert_eq!(o.port, Some(12000));
        assert_eq!(o.app_argv, ["/usr/bin/app", "-x", "y"]);
    }

    #[test]
    fn mode_is_octal() {
        assert_eq!(opts(&["-s", "/tmp/s", "-M", "0660", "-f", "x"]).mode, Some(0o660));
    }

    #[test]
    fn file_runs_through_sh() {
        let o = opts(&["-p", "1", "-f", "./app.fcgi"]);
        let cmd = app_command(&o);
        let args: Vec<_> = cmd.get_args().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(cmd.get_program(), "/bin/sh");
        assert_eq!(args, [b"-c".to_vec(), b"exec ./app.fcgi".to_vec()]);
    }
}
