//! The network tools with real processes and sockets: spawn-fcgi's socket
//! on fd 0 of the application, tcpserver's environment, connection limit,
//! rules, banner and log, tcprules' cdbs and tcpclient's fds 6 and 7,
//! compared with Debian's spawn-fcgi and ucspi-tcp where they exist.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Processes that left our process groups (spawn-fcgi's children call
/// setsid): killed by pid on drop.
struct Pids(Vec<u32>);

impl Drop for Pids {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A TCP port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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

fn spawned_pids(stdout: &[u8]) -> Vec<u32> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("spawn-fcgi: child spawned successfully: PID: "))
        .map(|p| p.parse().unwrap())
        .collect()
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
    let out = output_within(cmd, Duration::from_secs(20));
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
fn spawn_fcgi_no_fork_unix_socket_with_mode() {
    let dir = tempfile::tempdir().unwrap();
    let app = fdapp(dir.path());
    let sock = dir.path().join("app.sock");
    let mut cmd = tool("spawn-fcgi");
    cmd.env("REPORT", dir.path().join("report"));
    cmd.args(["-n", "-M", "0600", "-P"]).arg(dir.path().join("ignored.pid"));
    cmd.arg("-s").arg(&sock).arg("--").arg(&app);
    cmd.stdout(Stdio::null());
    let app_run = Spawned::start(cmd);
    // -n: the application replaces spawn-fcgi (same pid), stdout kept.
    let text = report(dir.path(), app_run.pid());
    assert!(text.starts_with("fd0=socket:["), "{text}");
    assert!(text.contains("fd1=/dev/null"), "stdout as given: {text}");
    let meta = fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    std::os::unix::net::UnixStream::connect(&sock).expect("connect to the unix socket");
    assert!(!dir.path().join("ignored.pid").exists(), "-P is ignored with -n");
    // A second spawn-fcgi on the same socket refuses: it is in use.
    let mut again = tool("spawn-fcgi");
    again.arg("-s").arg(&sock).arg("--").arg(&app);
    let out = output_within(again, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "spawn-fcgi: socket is already in use, can't spawn\n"
    );
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
        eprintln!("skipped: no IPv6 loopback");
        return;
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
    ];
    for args in cases {
        let ours = run_tool("spawn-fcgi", &args);
        let mut cmd = Command::new(&debian_spawn);
        cmd.args(&args);
        let theirs = output_within(cmd, Duration::from_secs(20));
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
    }
}

/// The Uid, Gid and Groups lines of a process.
fn ids(pid: u32) -> Vec<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A non-root account that /etc/group lists as a member of some group.
fn account_with_groups() -> Option<String> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    groups
        .lines()
        .filter_map(|l| l.split(':').nth(3))
        .flat_map(|members| members.split(','))
        .filter(|m| !m.is_empty())
        .find(|m| matches!(nix::unistd::User::from_name(m), Ok(Some(u)) if !u.uid.is_root()))
        .map(String::from)
}

#[test]
fn spawn_fcgi_drops_to_the_user_with_its_groups() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let app = fdapp(dir.path());
    // An account with supplementary groups if there is one, else nobody.
    let name = account_with_groups().unwrap_or_else(|| "nobody".to_string());
    let nobody = nix::unistd::User::from_name(&name).unwrap().expect("the account");
    let mut expected_groups: Vec<u32> = Command::new("id")
        .args(["-G", &name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(|g| g.parse().unwrap())
                .collect()
        })
        .unwrap();
    expected_groups.sort();
    let mut results = Vec::new();
    let debian_spawn = common::debian("spawn-fcgi");
    for program in [Some(tend_bin()), debian_spawn].into_iter().flatten() {
        let is_ours = program == tend_bin();
        let mut cmd = if is_ours { tool("spawn-fcgi") } else { Command::new(&program) };
        cmd.env("REPORT", dir.path().join("report"));
        cmd.args(["-u", &name, "-a", "127.0.0.1", "-p", &free_port().to_string(), "--"]);
        cmd.arg(&app);
        let out = output_within(cmd, Duration::from_secs(20));
        let pids = spawned_pids(&out.stdout);
        let _guard = Pids(pids.clone());
        assert_eq!(pids.len(), 1, "{out:?}");
        report(dir.path(), pids[0]);
        let lines = ids(pids[0]);
        let u = nobody.uid.as_raw();
        let g = nobody.gid.as_raw();
        assert_eq!(lines[0], format!("Uid: {u} {u} {u} {u}"));
        assert_eq!(lines[1], format!("Gid: {g} {g} {g} {g}"));
        let mut groups: Vec<u32> =
            lines[2].split_whitespace().skip(1).map(|g| g.parse().unwrap()).collect();
        groups.sort();
        assert_eq!(groups, expected_groups, "supplementary groups of {name}");
        results.push(lines);
    }
    if results.len() == 2 {
        assert_eq!(results[0], results[1], "same ids as Debian's spawn-fcgi");
    }
}

#[test]
fn spawn_fcgi_unix_socket_owner_as_root() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let app = fdapp(dir.path());
    let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("account nobody");
    let mut programs = vec![None];
    programs.extend(common::debian("spawn-fcgi").map(Some));
    let mut owners = Vec::new();
    for (i, program) in programs.iter().enumerate() {
        let sock = dir.path().join(format!("s{i}.sock"));
        let mut cmd = match program {
            Some(p) => Command::new(p),
            None => tool("spawn-fcgi"),
        };
        cmd.env("REPORT", dir.path().join("report"));
        cmd.args(["-U", "nobody", "-G", "daemon", "-M", "0640", "-s"]).arg(&sock);
        cmd.arg("--").arg(&app);
        let out = output_within(cmd, Duration::from_secs(20));
        let pids = spawned_pids(&out.stdout);
        let _guard = Pids(pids.clone());
        assert_eq!(pids.len(), 1, "{out:?}");
        let meta = fs::metadata(&sock).unwrap();
        owners.push((meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777));
        // The application itself stays root: only the socket changes hands.
        let text = report(dir.path(), pids[0]);
        assert!(text.starts_with("fd0=socket:["), "{text}");
        assert_eq!(ids(pids[0])[0], "Uid: 0 0 0 0");
    }
    let daemon = nix::unistd::Group::from_name("daemon").unwrap().expect("group daemon");
    assert_eq!(owners[0], (nobody.uid.as_raw(), daemon.gid.as_raw(), 0o640));
    if owners.len() == 2 {
        assert_eq!(owners[0], owners[1], "as Debian's spawn-fcgi");
    }
}

/// A tcpserver (ours or Debian's) on 127.0.0.1 or ::1, port chosen by the
/// kernel (`-1` prints it), its log in `log`.
struct Server {
    proc: Spawned,
    port: u16,
    log: PathBuf,
}

fn start_server(program: Option<&Path>, args: &[&str], log: &Path) -> Server {
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("tcpserver"),
    };
    cmd.arg("-1").args(args);
    cmd.stdout(Stdio::piped()).stderr(fs::File::create(log).unwrap());
    let mut proc = Spawned::start(cmd);
    let mut line = String::new();
    BufReader::new(proc.child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("port line {line:?}"));
    Server { proc, port, log: log.to_path_buf() }
}

/// Connect, send nothing, read all the server's program writes.
fn fetch(host: &str, port: u16) -> String {
    let mut stream = TcpStream::connect((host, port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

const ENV_PROGRAM: [&str; 3] = ["sh", "-c", "env | grep -E '^(TCP|PROTO)' | sort"];

fn env_names(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split('=').next().unwrap().to_string()).collect()
}

/// The name the system's resolver gives 127.0.0.1, if any.
fn loopback_name() -> Option<String> {
    let out = Command::new("getent").args(["hosts", "127.0.0.1"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(String::from)
}

#[test]
fn tcpserver_sets_the_ucspi_environment_like_debian() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-R", "127.0.0.1", "0"];
    args.extend(ENV_PROGRAM);
    let ours = start_server(None, &args, &dir.path().join("log"));
    let text = fetch("127.0.0.1", ours.port);
    assert!(text.contains("PROTO=TCP\n"), "{text}");
    assert!(text.contains("TCPLOCALIP=127.0.0.1\n"), "{text}");
    assert!(text.contains(&format!("TCPLOCALPORT={}\n", ours.port)), "{text}");
    assert!(text.contains("TCPREMOTEIP=127.0.0.1\n"), "{text}");
    assert!(text.contains("TCPREMOTEPORT="), "{text}");
    assert!(!text.contains("TCPREMOTEINFO"), "-R: no TCPREMOTEINFO: {text}");
    // -h (the default) names both ends as the resolver does.
    match loopback_name() {
        Some(name) => {
            assert!(text.contains(&format!("TCPREMOTEHOST={name}\n")), "{text}");
            assert!(text.contains(&format!("TCPLOCALHOST={name}\n")), "{text}");
        }
        None => assert!(!text.contains("TCPREMOTEHOST"), "{text}"),
    }
    // -H: no remote name; -l names the local host.
    let mut args = vec!["-R", "-H", "-l", "here.example", "127.0.0.1", "0"];
    args.extend(ENV_PROGRAM);
    let named = start_server(None, &args, &dir.path().join("log2"));
    let named_text = fetch("127.0.0.1", named.port);
    assert!(named_text.contains("TCPLOCALHOST=here.example\n"), "{named_text}");
    assert!(!named_text.contains("TCPREMOTEHOST"), "{named_text}");
    let Some(debian_server) = common::debian("tcpserver") else { return };
    let theirs = start_server(Some(&debian_server), &args, &dir.path().join("log3"));
    let theirs_text = fetch("127.0.0.1", theirs.port);
    assert_eq!(
        env_names(&named_text),
        env_names(&theirs_text),
        "ours:\n{named_text}\ntheirs:\n{theirs_text}"
    );
}

#[test]
fn tcpserver_rules_match_the_remote_host_name() {
    let Some(name) = loopback_name() else {
        eprintln!("skipped: 127.0.0.1 has no name here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cdb = tcprules(None, dir.path(), "names", &format!("={name}:allow,BY=\"name\"\n:deny\n"));
    let c = cdb.to_str().unwrap();
    let program = ["sh", "-c", "echo \"BY=$BY\""];
    let mut args = vec!["-R", "-x", c, "127.0.0.1", "0"];
    args.extend(program);
    let by_name = start_server(None, &args, &dir.path().join("log"));
    assert_eq!(fetch("127.0.0.1", by_name.port), "BY=name\n");
    // -H: no name, so the catch-all denies.
    let mut args = vec!["-H", "-R", "-x", c, "127.0.0.1", "0"];
    args.extend(program);
    let no_name = start_server(None, &args, &dir.path().join("log2"));
    assert_eq!(fetch("127.0.0.1", no_name.port), "");
}

#[test]
fn tcpserver_holds_connections_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Each child greets, then waits for its client to close.
    let server = start_server(
        None,
        &["-R", "-c", "2", "127.0.0.1", "0", "sh", "-c", "echo hi; cat >/dev/null"],
        &dir.path().join("log"),
    );
    let greet = |stream: &mut TcpStream| {
        let mut buf = [0u8; 3];
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi\n");
    };
    let mut first = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    greet(&mut first);
    let mut second = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    greet(&mut second);
    // The third connects (the kernel queues it) but is not served.
    let mut third = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut buf = [0u8; 3];
    let early = third.read(&mut buf);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "third client served while two children run: {early:?}"
    );
    // One client leaves: its child exits, the third is served.
    first.shutdown(std::net::Shutdown::Both).unwrap();
    drop(first);
    greet(&mut third);
    drop(second);
}

#[test]
fn tcpserver_never_runs_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let server = start_server(
        None,
        &["-v", "-R", "-H", "-c", "3", "127.0.0.1", "0", "sh", "-c", "sleep 0.05; echo hi"],
        &log,
    );
    let port = server.port;
    let clients: Vec<_> =
        (0..20).map(|_| std::thread::spawn(move || fetch("127.0.0.1", port))).collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), "hi\n");
    }
    wait_for(Duration::from_secs(20), "20 end lines", || {
        fs::read_to_string(&log).unwrap().matches(" status 0\n").count() == 20
    });
    let text = fs::read_to_string(&log).unwrap();
    let most = text
        .lines()
        .filter_map(|l| l.strip_prefix("tcpserver: status: "))
        .map(|s| s.strip_suffix("/3").unwrap().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert_eq!(most, 3, "the limit is reached and never passed:\n{text}");
}

#[test]
fn tcpserver_speaks_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let mut args = vec!["-R", "::1", "0"];
    args.extend(ENV_PROGRAM);
    let server = start_server(None, &args, &dir.path().join("log"));
    let text = fetch("::1", server.port);
    assert!(text.contains("TCPLOCALIP=::1\n"), "{text}");
    assert!(text.contains("TCPREMOTEIP=::1\n"), "{text}");
}

#[test]
fn tcpserver_banner_and_verbose_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut server = start_server(
        None,
        &[
            "-v",
            "-R",
            "-H",
            "-l0",
            "-c",
            "3",
            "-B",
            "welcome\r\n",
            "127.0.0.1",
            "0",
            "sh",
            "-c",
            "echo body; exit 3",
        ],
        &log,
    );
    let text = fetch("127.0.0.1", server.port);
    assert_eq!(text, "welcome\r\nbody\n");
    wait_for(Duration::from_secs(10), "the end line", || {
        fs::read_to_string(&log).unwrap().contains(" status 768\n")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.proc.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.proc.wait_within(Duration::from_secs(10)).expect("exit on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let lines: Vec<String> = fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    assert_eq!(lines[0], "tcpserver: status: 0/3");
    assert_eq!(lines[1], "tcpserver: status: 1/3");
    let pid =
        lines[2].strip_prefix("tcpserver: pid ").unwrap().strip_suffix(" from 127.0.0.1").unwrap();
    let port = server.port;
    let ok = lines[3]
        .strip_prefix(&format!("tcpserver: ok {pid} 0:127.0.0.1:{port} :127.0.0.1::"))
        .unwrap();
    ok.parse::<u16>().expect("remote port at the end");
    assert_eq!(lines[4], format!("tcpserver: end {pid} status 768"));
    assert_eq!(lines[5], "tcpserver: status: 0/3");
    assert_eq!(lines.len(), 6, "{lines:?}");
    // Debian's writes the same lines.
    let Some(debian_server) = common::debian("tcpserver") else { return };
    let theirs_log = dir.path().join("theirs");
    let theirs = start_server(
        Some(&debian_server),
        &[
            "-v",
            "-R",
            "-H",
            "-l0",
            "-c",
            "3",
            "-B",
            "welcome\r\n",
            "127.0.0.1",
            "0",
            "sh",
            "-c",
            "echo body; exit 3",
        ],
        &theirs_log,
    );
    assert_eq!(fetch("127.0.0.1", theirs.port), "welcome\r\nbody\n");
    wait_for(Duration::from_secs(10), "Debian's end line", || {
        fs::read_to_string(&theirs_log).unwrap().lines().count() >= 6
    });
    let shape = |l: &str| {
        l.split(|c: char| c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("#")
    };
    let theirs_lines: Vec<String> =
        fs::read_to_string(&theirs_log).unwrap().lines().map(shape).collect();
    let ours_shapes: Vec<String> = lines.iter().map(|l| shape(l)).collect();
    assert_eq!(ours_shapes, theirs_lines);
}

/// Compile rules with a tcprules (ours or Debian's).
fn tcprules(program: Option<&Path>, dir: &Path, name: &str, text: &str) -> PathBuf {
    let cdb = dir.join(format!("{name}.cdb"));
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("tcprules"),
    };
    cmd.arg(&cdb).arg(dir.join(format!("{name}.tmp")));
    let out = output_with_input(cmd, text.as_bytes(), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    cdb
}

#[test]
fn tcprules_writes_the_cdbs_debian_writes() {
    let debian_rules = require_debian!("tcprules");
    let dir = tempfile::tempdir().unwrap();
    let text = "# local clients\n127.0.0.:allow,GREETING=\"hi there\",EMPTY=\"\"\n\
                10.1.2.3-7:deny\n=host.example:allow,X=/y/\n:deny\n";
    let ours = tcprules(None, dir.path(), "ours", text);
    let theirs = tcprules(Some(&debian_rules), dir.path(), "theirs", text);
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap());
    assert!(!dir.path().join("ours.tmp").exists(), "renamed into place");
    // A bad line: exit 100, the message, the old cdb kept.
    let mut cmd = tool("tcprules");
    cmd.arg(&ours).arg(dir.path().join("ours.tmp"));
    let out = output_with_input(cmd, b"1.2.3.4:allow\nx:frobnicate\n", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcprules: fatal: unable to parse this line: x:frobnicate\n"
    );
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap());
}

#[test]
fn tcpserver_rules_allow_and_deny_with_either_tcprules() {
    let dir = tempfile::tempdir().unwrap();
    let allow = "127.0.0.:allow,GREETING=\"hi there\"\n:deny\n";
    let deny = "127.0.0.1:deny\n:allow\n";
    let debian_rules = common::debian("tcprules");
    let debian_server = common::debian("tcpserver");
    let mut makers = vec![None];
    if let Some(p) = &debian_rules {
        makers.push(Some(p.as_path()));
    }
    let mut servers = vec![None];
    if let Some(p) = &debian_server {
        servers.push(Some(p.as_path()));
    }
    for (m, maker) in makers.iter().enumerate() {
        let allow_cdb = tcprules(*maker, dir.path(), &format!("allow{m}"), allow);
        let deny_cdb = tcprules(*maker, dir.path(), &format!("deny{m}"), deny);
        for (s, server) in servers.iter().enumerate() {
            let program = ["sh", "-c", "echo \"G=$GREETING\""];
            let log = dir.path().join(format!("log{m}{s}"));
            let a = allow_cdb.to_str().unwrap();
            let mut args = vec!["-R", "-x", a, "127.0.0.1", "0"];
            args.extend(program);
            let allowed = start_server(*server, &args, &log);
            assert_eq!(fetch("127.0.0.1", allowed.port), "G=hi there\n", "maker {m} server {s}");
            let d = deny_cdb.to_str().unwrap();
            let mut args = vec!["-v", "-R", "-x", d, "127.0.0.1", "0"];
            args.extend(program);
            let denied = start_server(*server, &args, &log);
            assert_eq!(fetch("127.0.0.1", denied.port), "", "denied: closed without data");
            wait_for(Duration::from_secs(10), "the deny line", || {
                let text = fs::read_to_string(&denied.log).unwrap();
                text.contains("tcpserver: deny ") && text.contains(" status 25600\n")
            });
        }
    }
    // A missing rules file drops the connection; -X allows it.
    let missing = dir.path().join("missing.cdb");
    let m = missing.to_str().unwrap();
    let log = dir.path().join("log-missing");
    let strict = start_server(None, &["-R", "-x", m, "127.0.0.1", "0", "echo", "served"], &log);
    assert_eq!(fetch("127.0.0.1", strict.port), "");
    wait_for(Duration::from_secs(10), "the warning", || {
        fs::read_to_string(&log).unwrap().contains(&format!(
            "tcpserver: warning: dropping connection, unable to read {m}: file does not exist\n"
        ))
    });
    let lax = start_server(None, &["-X", "-R", "-x", m, "127.0.0.1", "0", "echo", "served"], &log);
    assert_eq!(fetch("127.0.0.1", lax.port), "served\n");
}

#[test]
fn tcpclient_puts_the_connection_on_fds_6_and_7() {
    let dir = tempfile::tempdir().unwrap();
    let program = "head -n 1 <&6; echo reply >&7; \
                   readlink /proc/$$/fd/6 | cut -d: -f1; readlink /proc/$$/fd/7 | cut -d: -f1; \
                   env | grep -E '^(TCP|PROTO)' | sort";
    let mut servers: Vec<Option<PathBuf>> = vec![None];
    servers.extend(common::debian("tcpserver").map(Some));
    let mut clients: Vec<Option<PathBuf>> = vec![None];
    clients.extend(common::debian("tcpclient").map(Some));
    let mut outputs = Vec::new();
    for server in &servers {
        let log = dir.path().join("log");
        let srv = start_server(
            server.as_deref(),
            &["-R", "127.0.0.1", "0", "sh", "-c", "echo hello; read line; echo \"got $line\" >&2"],
            &log,
        );
        for client in &clients {
            let mut cmd = match client {
                Some(p) => Command::new(p),
                None => tool("tcpclient"),
            };
            cmd.args(["-R", "127.0.0.1", &srv.port.to_string(), "sh", "-c", program]);
            let out = output_within(cmd, Duration::from_secs(20));
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(text.starts_with("hello\nsocket\nsocket\n"), "{text}");
            assert!(text.contains(&format!("TCPREMOTEPORT={}\n", srv.port)), "{text}");
            assert!(text.contains("TCPREMOTEIP=127.0.0.1\n"), "{text}");
            assert!(text.contains("TCPLOCALIP=127.0.0.1\n"), "{text}");
            assert!(text.contains("PROTO=TCP\n"), "{text}");
            wait_for(Duration::from_secs(10), "the server's program to read the reply", || {
                fs::read_to_string(&log).unwrap().contains("got reply")
            });
            fs::write(&log, "").unwrap();
            outputs.push(env_names(text.split_once("socket\nsocket\n").unwrap().1));
        }
    }
    for names in &outputs {
        assert_eq!(names, &outputs[0], "the same variables from every client");
    }
    // Refused: exit 111 and ucspi-tcp's message.
    let port = free_port();
    let out = run_tool("tcpclient", ["127.0.0.1", &port.to_string(), "true"]);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("tcpclient: unable to connect to 127.0.0.1 port {port}: connection refused\n")
    );
}

#[test]
fn usage_and_fatal_messages_match_ucspi_tcp() {
    let cases: &[(&str, &[&str])] = &[
        ("tcpserver", &[]),
        ("tcpserver", &["-Z"]),
        ("tcpserver", &["0", "1"]),
        ("tcpserver", &["0", "nosuchservice", "true"]),
        ("tcpserver", &["1.2.3.4", "0", "true"]),
        ("tcpserver", &["-q", "1.2.3.4", "0", "true"]),
        ("tcpclient", &["-q", "127.0.0.1", "1", "true"]),
        ("tcpclient", &[]),
        ("tcpclient", &["0", "nosuchservice", "true"]),
        ("tcprules", &[]),
        ("tcprules", &["x.cdb"]),
    ];
    for (name, args) in cases {
        let Some(theirs_path) = common::debian(name) else { continue };
        let ours = run_tool(name, *args);
        let mut cmd = Command::new(theirs_path);
        cmd.args(*args);
        let theirs = output_within(cmd, Duration::from_secs(20));
        assert_eq!(ours.status.code(), theirs.status.code(), "{name} {args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{name} {args:?}"
        );
    }
    let _ = std::io::stdout().flush();
    // A name with no address (the exact words depend on the resolver's
    // answer: none, or none reachable).
    for name in ["tcpserver", "tcpclient"] {
        let out = run_tool(name, ["no.such.host.invalid", "1", "true"]);
        assert_eq!(out.status.code(), Some(111));
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(text.starts_with(&format!("{name}: fatal: ")), "{text}");
        assert!(text.contains("IP address for no.such.host.invalid"), "{text}");
    }
}

/// An ident server on 127.0.0.1:113, in a thread: it answers every query
/// with `user` while `answer` is true, and holds the query unanswered
/// otherwise.
fn ident_server(
    user: &'static str,
    answer: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:113").ok()?;
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut query = String::new();
            let _ = reader.read_line(&mut query);
            if answer.load(std::sync::atomic::Ordering::SeqCst) {
                let ports = query.trim_end();
                let _ = write!(stream, "{ports} : USERID : UNIX : {user}\r\n");
            } else {
                held.push(stream);
            }
        }
    });
    Some(addr)
}

#[test]
fn tcpserver_asks_the_ident_server_with_r() {
    require_root!();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let Some(_ident) = ident_server("alice", answer.clone()) else {
        eprintln!("skipped: cannot bind 127.0.0.1:113");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cdb = tcprules(None, dir.path(), "info", "alice@127.0.0.1:allow,WHO=\"alice\"\n:deny\n");
    let c = cdb.to_str().unwrap();
    let program = ["sh", "-c", "echo \"$TCPREMOTEINFO/$WHO\""];
    let mut args = vec!["-r", "-t", "5", "-x", c, "127.0.0.1", "0"];
    args.extend(program);
    let ours = start_server(None, &args, &dir.path().join("log"));
    assert_eq!(fetch("127.0.0.1", ours.port), "alice/alice\n");
    if let Some(debian_server) = common::debian("tcpserver") {
        let theirs = start_server(Some(&debian_server), &args, &dir.path().join("log2"));
        assert_eq!(fetch("127.0.0.1", theirs.port), "alice/alice\n", "as Debian's");
    }
    // tcpclient asks the server's host too.
    let out = run_tool(
        "tcpclient",
        ["-r", "127.0.0.1", &ours.port.to_string(), "sh", "-c", "echo \"$TCPREMOTEINFO\""],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice\n");
    // A silent ident server: after -t seconds the connection is served
    // without TCPREMOTEINFO (the deny-all rule then applies).
    answer.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut args = vec!["-r", "-t", "1", "127.0.0.1", "0", "sh", "-c"];
    args.push("echo \"${TCPREMOTEINFO-unset}\"");
    let slow = start_server(None, &args, &dir.path().join("log3"));
    let start = std::time::Instant::now();
    assert_eq!(fetch("127.0.0.1", slow.port), "unset\n");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(900), "waited {waited:?} for ident");
}

#[test]
fn tcpserver_sets_ids_with_u_and_g() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("account nobody");
    let uid = nobody.uid.as_raw().to_string();
    let gid = nobody.gid.as_raw().to_string();
    let program = ["sh", "-c", "id -u; id -g; id -G"];
    let mut args = vec!["-R", "-u", &uid, "-g", &gid, "127.0.0.1", "0"];
    args.extend(program);
    let ours = start_server(None, &args, &dir.path().join("log"));
    let expected = format!("{uid}\n{gid}\n{gid}\n");
    assert_eq!(fetch("127.0.0.1", ours.port), expected);
    // -U takes them from $UID and $GID.
    let mut cmd_args = vec!["-U", "-R", "127.0.0.1", "0"];
    cmd_args.extend(program);
    let mut cmd = tool("tcpserver");
    cmd.env("UID", &uid).env("GID", &gid).arg("-1").args(&cmd_args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut proc = Spawned::start(cmd);
    let mut line = String::new();
    BufReader::new(proc.child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    assert_eq!(fetch("127.0.0.1", port), expected);
}
