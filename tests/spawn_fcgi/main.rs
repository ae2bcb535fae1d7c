//! spawn-fcgi with real processes and sockets: the socket on descriptor
//! 0, Unix sockets and modes, privilege drop with supplementary groups,
//! forks and pid file, -f, -d, IPv6, the backlog, and every message,
//! against Debian's spawn-fcgi. `nginx` runs the FastCGI example behind
//! nginx under svscan.

mod nginx;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(20);

/// The pids spawn-fcgi reports on stdout for the children it forked.
fn spawned_pids(stdout: &[u8]) -> Vec<u32> {
    text(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("spawn-fcgi: child spawned successfully: PID: "))
        .map(|p| p.parse().unwrap())
        .collect()
}

/// A python3 snippet printing what descriptor 0 is: its link and address.
const SHOW_FD0: &str = "import os,socket; print(os.readlink('/proc/self/fd/0')); \
                        s=socket.socket(fileno=0); print(s.getsockname()); \
                        print(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))";

#[test]
fn spawn_fcgi_puts_the_listening_socket_on_fd_0() {
    let python = require_debian!("python3");
    let port = free_port();
    let out = run_tool(
        "spawn-fcgi",
        [
            "-n",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--",
            python.to_str().unwrap(),
            "-c",
            SHOW_FD0,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("socket:["), "{stdout}");
    assert_eq!(lines[1], format!("('127.0.0.1', {port})"));
    assert_eq!(lines[2], "1", "descriptor 0 is listening");
}

#[test]
fn spawn_fcgi_unix_socket_with_mode() {
    let python = require_debian!("python3");
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("app.sock");
    let script = format!(
        "{SHOW_FD0}; import stat; print(oct(stat.S_IMODE(os.stat('{}').st_mode)))",
        sock.display()
    );
    let out = run_tool(
        "spawn-fcgi",
        [
            "-n",
            "-s",
            sock.to_str().unwrap(),
            "-M",
            "0640",
            "--",
            python.to_str().unwrap(),
            "-c",
            &script,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[1], format!("{}", sock.display()), "{stdout}");
    assert_eq!(lines[3], "0o640");
    // Without -M: user and group may read and write, as far as the umask
    // allows (Debian's default).
    let out = run_tool("spawn-fcgi", ["-n", "-s", sock.to_str().unwrap(), "--", "/bin/true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(umask);
    let mode = fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660 & !umask.bits());
    // A stale socket file is replaced on the next start.
    let out = run_tool("spawn-fcgi", ["-n", "-s", sock.to_str().unwrap(), "--", "/bin/true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn status_ids(status: &str, field: &str) -> Vec<String> {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..].split_whitespace().map(str::to_owned).collect()
}

#[test]
fn spawn_fcgi_drops_to_the_account_with_its_groups() {
    require_root!();
    let (uid, gid) = ensure_account("tendnet", &["adm", "daemon"]);
    let port = free_port().to_string();
    let out = run_tool(
        "spawn-fcgi",
        ["-n", "-p", &port, "-u", "tendnet", "--", "/bin/cat", "/proc/self/status"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    assert_eq!(status_ids(&status, "Uid:"), vec![uid.to_string(); 4]);
    assert_eq!(status_ids(&status, "Gid:"), vec![gid.to_string(); 4]);
    let mut groups = status_ids(&status, "Groups:");
    groups.sort();
    let mut want = vec![gid.to_string(), "1".to_owned(), "4".to_owned()];
    want.sort();
    assert_eq!(groups, want, "the account's supplementary groups are kept");

    // -g names the group; the account's supplementary groups still apply.
    let out = run_tool(
        "spawn-fcgi",
        ["-n", "-p", &port, "-u", "tendnet", "-g", "daemon", "--", "/bin/cat", "/proc/self/status"],
    );
    let status = text(&out.stdout);
    assert_eq!(status_ids(&status, "Gid:")[0], "1");
    assert!(status_ids(&status, "Groups:").contains(&"4".to_owned()));

    // -U and -G: the Unix socket's owner and group.
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("s");
    let out = run_tool(
        "spawn-fcgi",
        ["-n", "-s", sock.to_str().unwrap(), "-U", "tendnet", "-G", "daemon", "--", "/bin/true"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(&sock).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, 1));

    // Refusals, as Debian's.
    let out = run_tool("spawn-fcgi", ["-n", "-p", &port, "-u", "root", "--", "/bin/true"]);
    assert_eq!(text(&out.stderr), "spawn-fcgi: I will not set uid to 0\n");
    let out = run_tool("spawn-fcgi", ["-n", "-p", &port, "-u", "nosuchuser", "-f", "/bin/true"]);
    assert_eq!(text(&out.stderr), "spawn-fcgi: can't find user name nosuchuser\n");
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn spawn_fcgi_forks_children_and_writes_the_pid_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("app.pid");
    let port = free_port();
    let out = run_tool(
        "spawn-fcgi",
        [
            "-p",
            &port.to_string(),
            "-F",
            "3",
            "-P",
            pid_file.to_str().unwrap(),
            "-C",
            "5",
            "--",
            "/bin/sleep",
            "30",
        ],
    );
    let pids = Pids(spawned_pids(&out.stdout));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pids.0.len(), 3, "{}", text(&out.stdout));
    let written = fs::read_to_string(&pid_file).unwrap();
    let want: Vec<String> = pids.0.iter().map(u32::to_string).collect();
    assert_eq!(written, want.join("\n"), "pids one a line, no newline after the last");
    for &pid in &pids.0 {
        assert!(alive(pid));
        let fd0 = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
        assert!(fd0.to_string_lossy().starts_with("socket:"), "{fd0:?}");
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(environ.split(|&b| b == 0).any(|v| v == b"PHP_FCGI_CHILDREN=5"));
        // A new session, away from the terminal; stdout on /dev/null.
        assert_eq!(session(pid), Some(pid));
        assert_eq!(fs::read_link(format!("/proc/{pid}/fd/1")).unwrap(), Path::new("/dev/null"));
    }
    // The port is taken: a second spawn-fcgi refuses it.
    let out = run_tool(
        "spawn-fcgi",
        ["-n", "-a", "127.0.0.1", "-p", &port.to_string(), "--", "/bin/true"],
    );
    assert!(!out.status.success());

    // Debian's writes the same pid file.
    let Some(debian) = debian("spawn-fcgi") else { return };
    let deb_file = tmp.path().join("deb.pid");
    let mut cmd = Command::new(debian);
    cmd.args([
        "-p",
        &free_port().to_string(),
        "-F",
        "2",
        "-P",
        deb_file.to_str().unwrap(),
        "--",
        "/bin/sleep",
        "30",
    ]);
    let out = output_within(cmd, LONG);
    let deb_pids = Pids(spawned_pids(&out.stdout));
    assert_eq!(deb_pids.0.len(), 2);
    let want: Vec<String> = deb_pids.0.iter().map(u32::to_string).collect();
    assert_eq!(fs::read_to_string(&deb_file).unwrap(), want.join("\n"));
}

#[test]
fn spawn_fcgi_messages_match_debian() {
    let cases: &[&[&str]] = &[
        &["-n"],
        &["-n", "-p", "1"],
        &["-n", "-p", "1", "-s", "/tmp/x", "-f", "/bin/true"],
        &["-n", "-p", &free_port().to_string(), "--", "/nonexistent/app"],
    ];
    for args in cases {
        let ours = run_tool("spawn-fcgi", *args);
        let want_stderr: &str = match args.len() {
            1 => "spawn-fcgi: no FastCGI application given\n",
            3 => "spawn-fcgi: no FastCGI application given\n",
            7 => "spawn-fcgi: either a Unix domain socket or a TCP-port, but not both\n",
            _ => "spawn-fcgi: exec failed: No such file or directory\n",
        };
        assert_eq!(text(&ours.stderr), want_stderr, "{args:?}");
        let want_code = if args.len() == 5 { 2 } else { 255 };
        assert_eq!(ours.status.code(), Some(want_code), "{args:?}");
        if let Some(debian) = debian("spawn-fcgi") {
            assert_same("spawn-fcgi", &debian, args);
        }
    }
}

/// The test application: reports its fd 0 and 1, other open descriptors,
/// PHP_FCGI_CHILDREN and its arguments in `$REPORT.PID`, then sleeps.
const FDAPP: &str = r#"#!/usr/bin/env python3
import os, sys
out = []
out.append("fd0=" + os.readlink("/proc/self/fd/0"))
out.append("fd1=" + os.readlink("/proc/self/fd/1"))
extra = []
for fd in range(3, 64):
    try:
        os.fstat(fd)
        extra.append(str(fd))
    except OSError:
        pass
out.append("extra=" + ",".join(extra))
out.append("children=" + os.environ.get("PHP_FCGI_CHILDREN", "-"))
out.append("argv=" + " ".join(sys.argv[1:]))
out.append("cwd=" + os.getcwd())
tmp = os.environ["REPORT"] + ".tmp." + str(os.getpid())
with open(tmp, "w") as f:
    f.write("\n".join(out) + "\n")
os.rename(tmp, os.environ["REPORT"] + "." + str(os.getpid()))
os.execvp("sleep", ["sleep", "60"])
"#;

fn fdapp(dir: &Path) -> PathBuf {
    let app = dir.join("fdapp.py");
    write_script(&app, FDAPP);
    app
}

/// The report the application with `pid` wrote.
fn report(dir: &Path, pid: u32) -> String {
    let path = dir.join(format!("report.{pid}"));
    wait_for(Duration::from_secs(10), "the application's report", || path.exists());
    fs::read_to_string(path).unwrap()
}

#[test]
fn spawn_fcgi_forks_apps_with_the_socket_on_fd_0() {
    let dir = tempfile::tempdir().unwrap();
    let app = fdapp(dir.path());
    let port = free_port();
    let pid_file = dir.path().join("pids");
    let mut cmd = tool("spawn-fcgi");
    cmd.env("REPORT", dir.path().join("report"));
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-F", "2", "-C", "3", "-P"]);
    cmd.arg(&pid_file).arg("--").arg(&app).args(["one", "two"]);
    let out = output_within(cmd, LONG);
    let pids = spawned_pids(&out.stdout);
    let _guard = Pids(pids.clone());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(pids.len(), 2, "{out:?}");
    let written = fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written, format!("{}\n{}", pids[0], pids[1]), "no newline after the last pid");
    let mut sockets = Vec::new();
    for &pid in &pids {
        let text = report(dir.path(), pid);
        let fd0 = text.lines().next().unwrap();
        assert!(fd0.starts_with("fd0=socket:["), "{text}");
        sockets.push(fd0.to_string());
        assert!(text.contains("fd1=/dev/null\n"), "{text}");
        assert!(text.contains("extra=\n"), "no other descriptor: {text}");
        assert!(text.contains("children=3\n"), "{text}");
        assert!(text.contains("argv=one two\n"), "{text}");
    }
    assert_eq!(sockets[0], sockets[1], "both children share the one socket");
    // The socket listens: a client connects (into the backlog).
    TcpStream::connect(("127.0.0.1", port)).expect("connect to the spawned socket");
    // Once the applications are gone, nothing listens any more.
    drop(_guard);
    wait_for(Duration::from_secs(10), "the port to close", || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    });
}

#[test]
fn spawn_fcgi_f_runs_through_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let app = fdapp(dir.path());
    let port = free_port();
    let mut cmd = tool("spawn-fcgi");
    cmd.env("REPORT", dir.path().join("report")).current_dir(dir.path());
    cmd.args(["-n", "-a", "127.0.0.1", "-p", &port.to_string(), "-f"]);
    cmd.arg(format!("{} via shell", app.display()));
    let app_run = Spawned::start(cmd);
    let text = report(dir.path(), app_run.pid());
    assert!(text.contains("argv=via shell\n"), "{text}");
    TcpStream::connect(("127.0.0.1", port)).expect("connect");
}

#[test]
fn spawn_fcgi_ipv6_and_chdir() {
    if TcpListener::bind("[::1]:0").is_err() {
        skip!("no IPv6 loopback");
    }
    let dir = tempfile::tempdir().unwrap();
    let app = fdapp(dir.path());
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    let port = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap().port();
    let mut cmd = tool("spawn-fcgi");
    cmd.env("REPORT", dir.path().join("report"));
    cmd.args(["-n", "-a", "::1", "-p", &port.to_string(), "-d"]).arg(&work).arg("--").arg(&app);
    let app_run = Spawned::start(cmd);
    let text = report(dir.path(), app_run.pid());
    assert!(text.contains(&format!("cwd={}\n", work.display())), "{text}");
    TcpStream::connect(("::1", port)).expect("connect over IPv6");
}

#[test]
fn spawn_fcgi_errors_match_debian() {
    let debian_spawn = require_debian!("spawn-fcgi");
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let missing = dir.path().join("missing").display().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![],
        vec!["-p".into(), "1".into()],
        vec!["--".into(), "/bin/true".into()],
        vec!["-p".into(), "0".into(), "--".into(), "/bin/true".into()],
        vec!["-p".into(), "x".into(), "--".into(), "/bin/true".into()],
        vec!["-p".into(), "1".into(), "-s".into(), "/tmp/x".into(), "/bin/true".into()],
        vec!["-a".into(), "1.2.3".into(), "-p".into(), "1".into(), "/bin/true".into()],
        vec!["-a".into(), "127.0.0.1".into(), "-p".into(), busy_port, "/bin/true".into()],
        vec![
            "-p".into(),
            free_port().to_string(),
            "-P".into(),
            format!("{missing}/pid"),
            "x".into(),
        ],
        vec!["-p".into(), free_port().to_string(), "--".into(), missing],
        vec!["-v".into()],
        vec!["-h".into()],
        vec!["-Z".into()],
        vec!["-p".into()],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_same("spawn-fcgi", &debian_spawn, &args);
    }
}

#[test]
fn spawn_fcgi_backlog_reaches_the_kernel() {
    let ss = require_debian!("ss");
    // A listening socket's Send-Q column in `ss -l` is its backlog.
    let backlog_of = |stdout: &str| -> Option<String> {
        stdout.lines().find_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
    };
    let port = free_port().to_string();
    let filter = format!("sport = :{port}");
    let out = run_tool(
        "spawn-fcgi",
        [
            "-n",
            "-a",
            "127.0.0.1",
            "-p",
            &port,
            "-b",
            "7",
            "--",
            ss.to_str().unwrap(),
            "-ltnH",
            &filter,
        ],
    );
    assert_eq!(backlog_of(&text(&out.stdout)).as_deref(), Some("7"), "{}", text(&out.stdout));
}

/// spawn-fcgi's options as glibc's getopt reads them: options may follow
/// the application (glibc moves operands after them), `--` ends them, and
/// a complaint in glibc's words comes before the help.
#[test]
fn spawn_fcgi_reads_its_arguments_as_debians() {
    let debian = require_debian!("spawn-fcgi");
    for args in [
        &["-Z"][..],
        &["--foo"],
        &["-p"],
        &["-n", "-p", "1", "/bin/true", "-Z"],
        &["-n", "/bin/true", "-p"],
        &["-p", "1x", "-n", "/bin/true"],
        &["-v"],
    ] {
        assert_same("spawn-fcgi", &debian, args);
    }
}
