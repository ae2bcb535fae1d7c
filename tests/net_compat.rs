//! Checks on the network tools beyond tests/net.rs, written against
//! Debian's programs: spawn-fcgi's help, getopt messages and descriptors,
//! -f and -d, IPv6; tcpserver's ident lookup (-r, -t), -u/-g/-U, the -c
//! limit under many clients, =HOST rules, and ucspi-tcp's usage, -q and
//! fatal messages.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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

/// A tcpserver (ours or Debian's) on 127.0.0.1 or ::1, port chosen by the
/// kernel (`-1` prints it), its log in `log`.
struct Server {
    _proc: Spawned,
    port: u16,
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
    Server { _proc: proc, port }
}

/// Connect, send nothing, read all the server's program writes.
fn fetch(host: &str, port: u16) -> String {
    let mut stream = TcpStream::connect((host, port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// The name the system's resolver gives 127.0.0.1, if any.
fn loopback_name() -> Option<String> {
    let out = Command::new("getent").args(["hosts", "127.0.0.1"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(String::from)
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
        vec!["-Z".into()],
        vec!["-p".into()],
    ];
    for args in cases {
        let ours = run_tool("spawn-fcgi", &args);
        let mut cmd = Command::new(&debian_spawn);
        cmd.arg0("spawn-fcgi").args(&args);
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
fn usage_and_fatal_messages_match_ucspi_tcp() {
    let cases: &[(&str, &[&str])] = &[
        ("tcpserver", &[]),
        ("tcpserver", &["-Z"]),
        ("tcpserver", &["0", "1"]),
        ("tcpserver", &["0", "nosuchservice", "true"]),
        ("tcpserver", &["1.2.3.4", "0", "true"]),
        ("tcpserver", &["-q", "1.2.3.4", "0", "true"]),
        ("tcpclient", &["-q", "127.0.0.1", "1", "true"]),
        ("tcpclient", &["-i", "1.2.3.4", "127.0.0.1", "1", "true"]),
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
    // getopt names the program as it was called.
    for (name, args) in
        [("tcpserver", ["-Z", "0", "1", "true"]), ("tcpclient", ["-Z", "0", "1", "true"])]
    {
        let ours = run_tool(name, args);
        let mut cmd = Command::new(common::debian(name).unwrap_or_else(|| name.into()));
        cmd.arg0(name).args(args);
        let theirs = output_within(cmd, Duration::from_secs(20));
        assert_eq!(text(&ours.stderr), text(&theirs.stderr), "{name} {args:?}");
    }
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
    let (uid, gid) = account("nobody").expect("account nobody");
    let (uid, gid) = (uid.to_string(), gid.to_string());
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

#[test]
fn tcpserver_missing_rules_file_warns_as_ucspi_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.cdb");
    let m = missing.to_str().unwrap();
    let log = dir.path().join("log");
    let strict = start_server(None, &["-R", "-x", m, "127.0.0.1", "0", "echo", "served"], &log);
    assert_eq!(fetch("127.0.0.1", strict.port), "");
    let expected = format!(
        "tcpserver: warning: dropping connection, unable to read {m}: file does not exist\n"
    );
    wait_for(Duration::from_secs(10), "the warning", || {
        fs::read_to_string(&log).unwrap().contains(&expected)
    });
    if let Some(debian_server) = common::debian("tcpserver") {
        let log2 = dir.path().join("log2");
        let theirs = start_server(
            Some(&debian_server),
            &["-R", "-x", m, "127.0.0.1", "0", "echo", "served"],
            &log2,
        );
        assert_eq!(fetch("127.0.0.1", theirs.port), "");
        wait_for(Duration::from_secs(10), "Debian's warning", || {
            fs::read_to_string(&log2).unwrap().contains(&expected)
        });
    }
}

#[test]
fn tcpserver_banner_reaches_denied_clients_too() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = tcprules(None, dir.path(), "deny", ":deny\n");
    let c = cdb.to_str().unwrap();
    let args = ["-R", "-H", "-B", "hello\n", "-x", c, "127.0.0.1", "0", "echo", "served"];
    let ours = start_server(None, &args, &dir.path().join("log"));
    assert_eq!(fetch("127.0.0.1", ours.port), "hello\n");
    if let Some(debian_server) = common::debian("tcpserver") {
        let theirs = start_server(Some(&debian_server), &args, &dir.path().join("log2"));
        assert_eq!(fetch("127.0.0.1", theirs.port), "hello\n", "as Debian's");
    }
}
