//! The network tools with real processes and sockets: spawn-fcgi (socket
//! on descriptor 0, Unix sockets and modes, privilege drop with
//! supplementary groups, forks and pid file), tcpserver (UCSPI
//! environment, IPv6, -c limit, rules, banner, -v log), tcprules (the
//! same cdb as ucspi-tcp's) and tcpclient (descriptors 6 and 7). Where
//! Debian's programs are installed they are run side by side.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

/// A system account with supplementary groups adm and daemon, created if
/// missing.
fn account_with_groups() -> (u32, u32) {
    let name = "tendnet";
    if account(name).is_none() {
        let out = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group", "--groups", "adm,daemon", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {}", text(&out.stderr));
    }
    account(name).expect("account created")
}

fn status_ids(status: &str, field: &str) -> Vec<String> {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..].split_whitespace().map(str::to_owned).collect()
}

#[test]
fn spawn_fcgi_drops_to_the_account_with_its_groups() {
    require_root!();
    let (uid, gid) = account_with_groups();
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

/// Kills the listed pids on drop (forked FastCGI children leave the test's
/// process group with setsid).
struct Pids(Vec<i32>);

impl Drop for Pids {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

fn spawned_pids(stdout: &str) -> Vec<i32> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("spawn-fcgi: child spawned successfully: PID: "))
        .map(|p| p.parse().unwrap())
        .collect()
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
    let pids = Pids(spawned_pids(&text(&out.stdout)));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pids.0.len(), 3, "{}", text(&out.stdout));
    let written = fs::read_to_string(&pid_file).unwrap();
    let want: Vec<String> = pids.0.iter().map(i32::to_string).collect();
    assert_eq!(written, want.join("\n"), "pids one a line, no newline after the last");
    for &pid in &pids.0 {
        assert!(alive(pid as u32));
        let fd0 = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
        assert!(fd0.to_string_lossy().starts_with("socket:"), "{fd0:?}");
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(environ.split(|&b| b == 0).any(|v| v == b"PHP_FCGI_CHILDREN=5"));
        // A new session, away from the terminal; stdout on /dev/null.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let sid: i32 =
            stat.rsplit(')').next().unwrap().split_whitespace().nth(3).unwrap().parse().unwrap();
        assert_eq!(sid, pid);
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
    let deb_pids = Pids(spawned_pids(&text(&out.stdout)));
    assert_eq!(deb_pids.0.len(), 2);
    let want: Vec<String> = deb_pids.0.iter().map(i32::to_string).collect();
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
            let mut cmd = Command::new(debian);
            cmd.args(*args);
            let theirs = output_within(cmd, LONG);
            assert_eq!(text(&theirs.stderr), text(&ours.stderr), "{args:?}");
            assert_eq!(theirs.status.code(), ours.status.code(), "{args:?}");
        }
    }
}

/// A server started from `cmd` with stderr in `log`, once it listens on
/// `port`.
fn start_server(mut cmd: Command, log: &Path, addr: &str) -> Spawned {
    cmd.stdout(Stdio::null()).stderr(fs::File::create(log).unwrap());
    let server = Spawned::start(cmd);
    wait_for(LONG, "the server listening", || TcpStream::connect(addr).is_ok());
    server
}

fn read_all(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LONG)).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

const SHOW_ENV: &str = "env | grep -E '^(PROTO|TCP|WHO|X)' | sort";

#[test]
fn tcpserver_environment_matches_debian() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tool("tcpserver");
    cmd.args(["-RHl0", "127.0.0.1", &port.to_string(), "sh", "-c", SHOW_ENV]);
    let _ours = start_server(cmd, &tmp.path().join("log"), &addr);
    let _ = read_all(&addr); // the probe connection of start_server
    let ours = read_all(&addr);
    let mut names: Vec<&str> = ours.lines().map(|l| l.split('=').next().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["PROTO", "TCPLOCALHOST", "TCPLOCALIP", "TCPLOCALPORT", "TCPREMOTEIP", "TCPREMOTEPORT"]
    );
    assert!(ours.contains("PROTO=TCP\n") && ours.contains("TCPLOCALHOST=0\n"));
    assert!(
        ours.contains(&format!("TCPLOCALPORT={port}\n"))
            && ours.contains("TCPREMOTEIP=127.0.0.1\n")
    );

    let Some(debian) = debian("tcpserver") else { return };
    let deb_port = free_port();
    let deb_addr = format!("127.0.0.1:{deb_port}");
    let mut cmd = Command::new(debian);
    cmd.args(["-RHl0", "127.0.0.1", &deb_port.to_string(), "sh", "-c", SHOW_ENV]);
    let _theirs = start_server(cmd, &tmp.path().join("deblog"), &deb_addr);
    let theirs = read_all(&deb_addr);
    let strip = |env: &str| -> Vec<String> {
        env.lines().filter(|l| !l.contains("PORT=")).map(str::to_owned).collect()
    };
    assert_eq!(strip(&ours), strip(&theirs));
}

#[test]
fn tcpserver_speaks_ipv6() {
    if TcpStream::connect("[::1]:1").is_err_and(|e| e.raw_os_error() == Some(libc::EADDRNOTAVAIL)) {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("[::1]:{port}");
    let mut cmd = tool("tcpserver");
    cmd.args(["-RH", "::1", &port.to_string(), "sh", "-c", SHOW_ENV]);
    let _server = start_server(cmd, &tmp.path().join("log"), &addr);
    let env = read_all(&addr);
    assert!(env.contains("TCPREMOTEIP=::1\n") && env.contains("TCPLOCALIP=::1\n"), "{env}");
    assert!(env.contains(&format!("TCPLOCALPORT={port}\n")), "{env}");
}

#[test]
fn tcpserver_holds_the_concurrency_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = tmp.path().join("log");
    let mut cmd = tool("tcpserver");
    cmd.args([
        "-v",
        "-RHl0",
        "-c",
        "2",
        "127.0.0.1",
        &port.to_string(),
        "sh",
        "-c",
        "echo hi; exec cat",
    ]);
    let _server = start_server(cmd, &log, &addr);
    let connect = || {
        let s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(LONG)).unwrap();
        s
    };
    let mut buf = [0u8; 16];
    let mut one = connect();
    assert_eq!(one.read(&mut buf).unwrap(), 3);
    let mut two = connect();
    assert_eq!(two.read(&mut buf).unwrap(), 3);
    let mut three = connect();
    three.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    assert!(three.read(&mut buf).is_err(), "a third child ran above -c 2");
    let status = fs::read_to_string(&log).unwrap();
    assert!(status.contains("tcpserver: status: 2/2\n") && !status.contains("3/2"), "{status}");
    two.write_all(b"x").unwrap();
    drop(two);
    three.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(three.read(&mut buf).unwrap(), 3, "served once one ended");
    assert_eq!(&buf[..3], b"hi\n");
    drop(one);

    // The -v lines, as ucspi-tcp writes them.
    let log = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "tcpserver: status: 0/2");
    assert!(
        lines.iter().any(|l| l.starts_with("tcpserver: pid ") && l.ends_with(" from 127.0.0.1"))
    );
    let ok = lines.iter().find(|l| l.starts_with("tcpserver: ok ")).unwrap();
    let fields: Vec<&str> = ok.split(' ').collect();
    assert_eq!(fields[3], format!("0:127.0.0.1:{port}"));
    assert!(fields[4].starts_with(":127.0.0.1::"), "{ok}");
    assert!(lines.iter().any(|l| l.starts_with("tcpserver: end ") && l.ends_with(" status 0")));
}

#[test]
fn tcpserver_banner_then_program() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tool("tcpserver");
    cmd.args(["-RHl0", "-B", "220 welcome\r\n", "127.0.0.1", &port.to_string(), "echo", "bye"]);
    let _server = start_server(cmd, &tmp.path().join("log"), &addr);
    assert_eq!(read_all(&addr), "220 welcome\r\nbye\n");
}

fn compile_rules(tool_cmd: Command, dir: &Path, name: &str, rules: &str) -> std::path::PathBuf {
    let cdb = dir.join(format!("{name}.cdb"));
    let mut cmd = tool_cmd;
    cmd.arg(&cdb).arg(dir.join(format!("{name}.tmp")));
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    cdb
}

const RULES: &str = "# test rules\n127.0.0.2:deny\n127.0.0.1:allow,WHO=\"local one\",X=/y/\n10.1.2.3-9:deny\n=Foo.example:allow\n:deny\n";

#[test]
fn tcprules_writes_the_same_cdb_as_ucspi_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = compile_rules(tool("tcprules"), tmp.path(), "ours", RULES);
    assert!(!tmp.path().join("ours.tmp").exists(), "the temporary file is moved into place");
    let out = {
        let mut cmd = tool("tcprules");
        cmd.arg(tmp.path().join("bad.cdb")).arg(tmp.path().join("bad.tmp"));
        cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"1.2.3.4:allow # no\n").unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        text(&out.stderr),
        "tcprules: fatal: unable to parse this line: 1.2.3.4:allow # no\n"
    );
    assert!(!tmp.path().join("bad.cdb").exists());
    let Some(debian) = debian("tcprules") else { return };
    let theirs = compile_rules(Command::new(debian), tmp.path(), "theirs", RULES);
    assert_eq!(fs::read(ours).unwrap(), fs::read(theirs).unwrap());
}

/// What a server on 127.0.0.1:`port` sends to a client connecting from
/// `source` (through tend's tcpclient -i).
fn read_from(source: &str, port: u16) -> String {
    let out = run_tool(
        "tcpclient",
        ["-RHl0", "-i", source, "127.0.0.1", &port.to_string(), "sh", "-c", "cat <&6"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Serve `rules` with `server` (ours or Debian's tcpserver -x) and check
/// allow (with variables) and deny.
fn check_rules(server: Command, cdb: &Path, dir: &Path) {
    let port = free_port();
    let mut cmd = server;
    cmd.args(["-RHl0", "-x"]).arg(cdb).args(["0", &port.to_string(), "sh", "-c", SHOW_ENV]);
    cmd.stdout(Stdio::null()).stderr(fs::File::create(dir.join("rules.log")).unwrap());
    let _server = Spawned::start(cmd);
    let allowed = format!("127.0.0.1:{port}");
    wait_for(LONG, "the server listening", || TcpStream::connect(&allowed).is_ok());
    let env = read_all(&allowed);
    assert!(env.contains("WHO=local one\n") && env.contains("X=y\n"), "{env}");
    // From 127.0.0.2 (tcpclient -i): denied, the connection closes at once.
    assert_eq!(read_from("127.0.0.2", port), "");
    // From 127.0.0.3: falls to `:deny`.
    assert_eq!(read_from("127.0.0.3", port), "");
    assert!(read_from("127.0.0.1", port).contains("WHO=local one\n"));
}

#[test]
fn tcpserver_rules_allow_and_deny_with_either_cdb() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = compile_rules(tool("tcprules"), tmp.path(), "ours", RULES);
    check_rules(tool("tcpserver"), &ours, tmp.path());
    let (Some(deb_rules), Some(deb_server)) = (debian("tcprules"), debian("tcpserver")) else {
        return;
    };
    let theirs = compile_rules(Command::new(deb_rules), tmp.path(), "theirs", RULES);
    check_rules(tool("tcpserver"), &theirs, tmp.path());
    check_rules(Command::new(deb_server), &ours, tmp.path());
}

#[test]
fn tcpserver_missing_rules_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.cdb");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // Without -X every connection is dropped; with -X it is allowed.
    let mut cmd = tool("tcpserver");
    cmd.args(["-RHl0", "-x"]).arg(&missing).args(["127.0.0.1", &port.to_string(), "echo", "hi"]);
    let _strict = start_server(cmd, &tmp.path().join("log"), &addr);
    assert_eq!(read_all(&addr), "");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tool("tcpserver");
    cmd.args(["-XRHl0", "-x"]).arg(&missing).args(["127.0.0.1", &port.to_string(), "echo", "hi"]);
    let _lenient = start_server(cmd, &tmp.path().join("log2"), &addr);
    assert_eq!(read_all(&addr), "hi\n");
}

#[test]
fn tcpclient_runs_the_program_on_fds_6_and_7() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tool("tcpserver");
    cmd.args([
        "-RHl0",
        "127.0.0.1",
        &port.to_string(),
        "sh",
        "-c",
        "read line; echo \"got $line\"",
    ]);
    let _server = start_server(cmd, &tmp.path().join("log"), &addr);
    let script = format!(
        "echo ping >&7; read reply <&6; echo \"$reply\"; {SHOW_ENV}; \
         readlink /proc/self/fd/6 /proc/self/fd/7"
    );
    let out = run_tool("tcpclient", ["-RHl0", "127.0.0.1", &port.to_string(), "sh", "-c", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "got ping");
    assert!(stdout.contains("PROTO=TCP\n") && stdout.contains("TCPLOCALHOST=0\n"));
    assert!(
        stdout.contains(&format!("TCPREMOTEPORT={port}\n"))
            && stdout.contains("TCPREMOTEIP=127.0.0.1\n")
    );
    let fd6 = lines[lines.len() - 2];
    assert!(fd6.starts_with("socket:["), "{stdout}");
    assert_eq!(fd6, lines[lines.len() - 1], "6 and 7 are the same connection");

    // A refused connection: the same message and code as ucspi-tcp's.
    let refused = free_port().to_string();
    let ours = run_tool("tcpclient", ["-RH", "127.0.0.1", &refused, "true"]);
    assert_eq!(ours.status.code(), Some(111));
    let want =
        format!("tcpclient: unable to connect to 127.0.0.1 port {refused}: connection refused\n");
    assert_eq!(text(&ours.stderr), want);
    if let Some(debian) = debian("tcpclient") {
        let mut cmd = Command::new(debian);
        cmd.args(["-RH", "127.0.0.1", &refused, "true"]);
        let theirs = output_within(cmd, LONG);
        assert_eq!(text(&theirs.stderr), want);
    }
}

/// Run a tcpserver (`-1`, port 0) with `-v` and rules that deny
/// 127.0.0.2, serve one allowed and one denied client, stop it, and
/// return its log with numbers replaced by `N`.
fn verbose_log(server: Command, dir: &Path, name: &str) -> Vec<String> {
    let cdb = compile_rules(tool("tcprules"), dir, name, "127.0.0.2:deny\n");
    let log = dir.join(format!("{name}.log"));
    let out = dir.join(format!("{name}.out"));
    let mut cmd = server;
    cmd.args(["-v", "-1", "-RHl0", "-c", "3", "-x"]).arg(&cdb).args(["0", "0", "echo", "hi"]);
    cmd.stdout(fs::File::create(&out).unwrap()).stderr(fs::File::create(&log).unwrap());
    let mut server = Spawned::start(cmd);
    let mut port = 0u16;
    wait_for(LONG, "the port on standard output", || {
        port = fs::read_to_string(&out).unwrap_or_default().trim().parse().unwrap_or(0);
        port != 0
    });
    assert_eq!(read_from("127.0.0.1", port), "hi\n");
    wait_for(LONG, "the first end line", || fs::read_to_string(&log).unwrap().contains("end "));
    assert_eq!(read_from("127.0.0.2", port), "");
    wait_for(LONG, "the second end line", || {
        fs::read_to_string(&log).unwrap().matches("end ").count() == 2
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.wait_within(LONG).expect("tcpserver exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let text = fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut out = String::new();
            let mut in_number = false;
            for c in l.chars() {
                if c.is_ascii_digit() {
                    if !in_number {
                        out.push('N');
                    }
                    in_number = true;
                } else {
                    out.push(c);
                    in_number = false;
                }
            }
            out
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn tcpserver_verbose_lines_match_debian() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = verbose_log(tool("tcpserver"), tmp.path(), "ours");
    for want in [
        "tcpserver: status: N/N",
        "tcpserver: pid N from N.N.N.N",
        "tcpserver: ok N N:N.N.N.N:N :N.N.N.N::N",
        "tcpserver: deny N N:N.N.N.N:N :N.N.N.N::N",
        "tcpserver: end N status N",
    ] {
        assert!(ours.iter().any(|l| l == want), "no line {want:?} in {ours:#?}");
    }
    let Some(debian) = debian("tcpserver") else { return };
    let theirs = verbose_log(Command::new(debian), tmp.path(), "theirs");
    assert_eq!(ours, theirs);
}

#[test]
fn backlog_options_reach_the_kernel() {
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

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = tool("tcpserver");
    cmd.args(["-RHl0", "-b", "9", "127.0.0.1", &port.to_string(), "true"]);
    let _server = start_server(cmd, &tmp.path().join("log"), &format!("127.0.0.1:{port}"));
    let mut cmd = Command::new(&ss);
    cmd.args(["-ltnH", &format!("sport = :{port}")]);
    let out = output_within(cmd, LONG);
    assert_eq!(backlog_of(&text(&out.stdout)).as_deref(), Some("9"), "{}", text(&out.stdout));
}
