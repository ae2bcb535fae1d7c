//! tcpserver with real sockets: the UCSPI environment, IPv6, the -c limit,
//! rules (with either tcprules' cdb), the banner, -v lines, ident (-r,
//! -t), -u/-g/-U, the backlog, a service under svscan; and usage and fatal
//! messages. Debian's tcpserver runs side by side.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(20);

#[test]
fn tcpserver_environment_matches_debian() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["-RHl0", "127.0.0.1", "0", "sh", "-c", SHOW_ENV];
    let server = start_server(None, &args, &tmp.path().join("log"));
    let ours = fetch("127.0.0.1", server.port);
    let mut names: Vec<&str> = ours.lines().map(|l| l.split('=').next().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["PROTO", "TCPLOCALHOST", "TCPLOCALIP", "TCPLOCALPORT", "TCPREMOTEIP", "TCPREMOTEPORT"]
    );
    assert!(ours.contains("PROTO=TCP\n") && ours.contains("TCPLOCALHOST=0\n"));
    assert!(
        ours.contains(&format!("TCPLOCALPORT={}\n", server.port))
            && ours.contains("TCPREMOTEIP=127.0.0.1\n")
    );

    let Some(debian) = debian("tcpserver") else { return };
    let theirs = start_server(Some(&debian), &args, &tmp.path().join("deblog"));
    let theirs = fetch("127.0.0.1", theirs.port);
    let strip = |env: &str| -> Vec<String> {
        env.lines().filter(|l| !l.contains("PORT=")).map(str::to_owned).collect()
    };
    assert_eq!(strip(&ours), strip(&theirs));
}

#[test]
fn tcpserver_speaks_ipv6() {
    if TcpStream::connect("[::1]:1").is_err_and(|e| e.raw_os_error() == Some(libc::EADDRNOTAVAIL)) {
        skip!("no IPv6 loopback");
    }
    let tmp = tempfile::tempdir().unwrap();
    let server =
        start_server(None, &["-RH", "::1", "0", "sh", "-c", SHOW_ENV], &tmp.path().join("log"));
    let env = fetch("::1", server.port);
    assert!(env.contains("TCPREMOTEIP=::1\n") && env.contains("TCPLOCALIP=::1\n"), "{env}");
    assert!(env.contains(&format!("TCPLOCALPORT={}\n", server.port)), "{env}");
}

#[test]
fn tcpserver_holds_the_concurrency_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let args = ["-v", "-RHl0", "-c", "2", "127.0.0.1", "0", "sh", "-c", "echo hi; exec cat"];
    let server = start_server(None, &args, &log);
    let port = server.port;
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
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
    wait_for(LONG, "20 end lines", || {
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
fn tcpserver_banner_then_program() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["-RHl0", "-B", "220 welcome\r\n", "127.0.0.1", "0", "echo", "bye"];
    let server = start_server(None, &args, &tmp.path().join("log"));
    assert_eq!(fetch("127.0.0.1", server.port), "220 welcome\r\nbye\n");
}

#[test]
fn tcpserver_banner_reaches_denied_clients_too() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = tcprules(None, dir.path(), "deny", ":deny\n");
    let c = cdb.to_str().unwrap();
    let args = ["-R", "-H", "-B", "hello\n", "-x", c, "127.0.0.1", "0", "echo", "served"];
    let ours = start_server(None, &args, &dir.path().join("log"));
    assert_eq!(fetch("127.0.0.1", ours.port), "hello\n");
    if let Some(debian_server) = debian("tcpserver") {
        let theirs = start_server(Some(&debian_server), &args, &dir.path().join("log2"));
        assert_eq!(fetch("127.0.0.1", theirs.port), "hello\n", "as Debian's");
    }
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

/// Serve [`RULES`] compiled in `cdb` with a tcpserver (Debian's `program`
/// or ours) and check allow (with variables) and deny.
fn check_rules(program: Option<&Path>, cdb: &Path, dir: &Path) {
    let c = cdb.to_str().unwrap();
    let args = ["-RHl0", "-x", c, "0", "0", "sh", "-c", SHOW_ENV];
    let server = start_server(program, &args, &dir.join("rules.log"));
    let env = fetch("127.0.0.1", server.port);
    assert!(env.contains("WHO=local one\n") && env.contains("X=y\n"), "{env}");
    // From 127.0.0.2 (tcpclient -i): denied, the connection closes at once.
    assert_eq!(read_from("127.0.0.2", server.port), "");
    // From 127.0.0.3: falls to `:deny`.
    assert_eq!(read_from("127.0.0.3", server.port), "");
    assert!(read_from("127.0.0.1", server.port).contains("WHO=local one\n"));
}

#[test]
fn tcpserver_rules_allow_and_deny_with_either_cdb() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tcprules(None, tmp.path(), "ours", RULES);
    check_rules(None, &ours, tmp.path());
    let (Some(deb_rules), Some(deb_server)) = (debian("tcprules"), debian("tcpserver")) else {
        return;
    };
    let theirs = tcprules(Some(&deb_rules), tmp.path(), "theirs", RULES);
    check_rules(None, &theirs, tmp.path());
    check_rules(Some(&deb_server), &ours, tmp.path());
}

/// The name the system's resolver gives 127.0.0.1, if any.
fn loopback_name() -> Option<String> {
    let out = Command::new("getent").args(["hosts", "127.0.0.1"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(String::from)
}

#[test]
fn tcpserver_rules_match_the_remote_host_name() {
    let Some(name) = loopback_name() else { skip!("127.0.0.1 has no name here") };
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
fn tcpserver_missing_rules_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.cdb");
    let m = missing.to_str().unwrap();
    // Without -X every connection is dropped; with -X it is allowed.
    let args = ["-RHl0", "-x", m, "127.0.0.1", "0", "echo", "hi"];
    let strict = start_server(None, &args, &tmp.path().join("log"));
    assert_eq!(fetch("127.0.0.1", strict.port), "");
    let args = ["-XRHl0", "-x", m, "127.0.0.1", "0", "echo", "hi"];
    let lenient = start_server(None, &args, &tmp.path().join("log2"));
    assert_eq!(fetch("127.0.0.1", lenient.port), "hi\n");
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
    if let Some(debian_server) = debian("tcpserver") {
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

/// Run a tcpserver (Debian's `program` or ours; `-1`, port 0) with `-v`
/// and rules that deny 127.0.0.2, serve one allowed and one denied client,
/// stop it, and return its log with numbers replaced by `N`.
fn verbose_log(program: Option<&Path>, dir: &Path, name: &str) -> Vec<String> {
    let cdb = tcprules(None, dir, name, "127.0.0.2:deny\n");
    let log = dir.join(format!("{name}.log"));
    let c = cdb.to_str().unwrap();
    let args = ["-v", "-RHl0", "-c", "3", "-x", c, "0", "0", "echo", "hi"];
    let mut server = start_server(program, &args, &log);
    assert_eq!(read_from("127.0.0.1", server.port), "hi\n");
    wait_for(LONG, "the first end line", || fs::read_to_string(&log).unwrap().contains("end "));
    assert_eq!(read_from("127.0.0.2", server.port), "");
    wait_for(LONG, "the second end line", || {
        fs::read_to_string(&log).unwrap().matches("end ").count() == 2
    });
    server.proc.signal(nix::sys::signal::Signal::SIGTERM);
    let status = server.proc.wait_within(LONG).expect("tcpserver exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let mut lines: Vec<String> =
        fs::read_to_string(&log).unwrap().lines().map(numbers_as_n).collect();
    lines.sort();
    lines
}

#[test]
fn tcpserver_verbose_lines_match_debian() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = verbose_log(None, tmp.path(), "ours");
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
    let theirs = verbose_log(Some(&debian), tmp.path(), "theirs");
    assert_eq!(ours, theirs);
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
        skip!("cannot bind 127.0.0.1:113");
    };
    let dir = tempfile::tempdir().unwrap();
    let cdb = tcprules(None, dir.path(), "info", "alice@127.0.0.1:allow,WHO=\"alice\"\n:deny\n");
    let c = cdb.to_str().unwrap();
    let program = ["sh", "-c", "echo \"$TCPREMOTEINFO/$WHO\""];
    let mut args = vec!["-r", "-t", "5", "-x", c, "127.0.0.1", "0"];
    args.extend(program);
    let ours = start_server(None, &args, &dir.path().join("log"));
    assert_eq!(fetch("127.0.0.1", ours.port), "alice/alice\n");
    if let Some(debian_server) = debian("tcpserver") {
        let theirs = start_server(Some(&debian_server), &args, &dir.path().join("log2"));
        assert_eq!(fetch("127.0.0.1", theirs.port), "alice/alice\n", "as Debian's");
    }
    // tcpclient asks the server's host too.
    let out = run_tool(
        "tcpclient",
        ["-r", "127.0.0.1", &ours.port.to_string(), "sh", "-c", "echo \"$TCPREMOTEINFO\""],
    );
    assert_eq!(text(&out.stdout), "alice\n");
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
    let mut cmd = tool("tcpserver");
    cmd.env("UID", &uid).env("GID", &gid).args(["-1", "-U", "-R", "127.0.0.1", "0"]);
    cmd.args(program);
    let from_env = Server::start(cmd, &dir.path().join("log2"));
    assert_eq!(fetch("127.0.0.1", from_env.port), expected);
}

#[test]
fn tcpserver_backlog_reaches_the_kernel() {
    let ss = require_debian!("ss");
    let tmp = tempfile::tempdir().unwrap();
    let server = start_server(
        None,
        &["-RHl0", "-b", "9", "127.0.0.1", "0", "true"],
        &tmp.path().join("log"),
    );
    let mut cmd = Command::new(&ss);
    cmd.args(["-ltnH", &format!("sport = :{}", server.port)]);
    let out = output_within(cmd, LONG);
    // A listening socket's Send-Q column in `ss -l` is its backlog.
    let listing = text(&out.stdout);
    let backlog = listing.lines().find_map(|l| l.split_whitespace().nth(2));
    assert_eq!(backlog, Some("9"), "{listing}");
}

#[test]
fn tcpserver_service_answers_clients_and_holds_the_limit() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let bin = tend_links(root);
    let scan = root.join("service");
    let service = scan.join("echo");
    let port = free_port();
    write_script(
        &service.join("run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\nexec tcpserver -v -RHl0 -c 2 127.0.0.1 {port} sh -c 'echo \"hello $TCPREMOTEIP\"; exec cat'\n"
        ),
    );
    let mut cmd = tool("svscan");
    cmd.arg(&scan).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let _svscan = Spawned::start(cmd);

    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(LONG))?;
        Ok::<_, std::io::Error>(s)
    };
    let mut first = None;
    wait_for(LONG, "tcpserver listening", || {
        first = connect().ok();
        first.is_some()
    });
    let mut first = first.unwrap();
    let mut line = [0u8; 20];
    let n = first.read(&mut line).unwrap();
    assert_eq!(&line[..n], b"hello 127.0.0.1\n");
    let mut second = connect().unwrap();
    let n = second.read(&mut line).unwrap();
    assert_eq!(&line[..n], b"hello 127.0.0.1\n");
    // The third is connected by the kernel but not served.
    let mut third = connect().unwrap();
    third.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    assert!(third.read(&mut line).is_err(), "the third client was served above -c 2");
    // One ends: the third is served.
    drop(first);
    third.set_read_timeout(Some(LONG)).unwrap();
    let n = third.read(&mut line).unwrap();
    assert_eq!(&line[..n], b"hello 127.0.0.1\n");
    third.write_all(b"ping\n").unwrap();
    let n = third.read(&mut line).unwrap();
    assert_eq!(&line[..n], b"ping\n");
    drop(second);
}

#[test]
fn tcpserver_usage_and_fatal_messages_match_ucspi_tcp() {
    let debian = require_debian!("tcpserver");
    let cases: &[&[&str]] = &[
        &[],
        &["-Z"],
        // getopt names the program as it was called.
        &["-Z", "0", "1", "true"],
        &["0", "1"],
        &["0", "nosuchservice", "true"],
        &["1.2.3.4", "0", "true"],
        &["-q", "1.2.3.4", "0", "true"],
    ];
    for args in cases {
        assert_same("tcpserver", &debian, args);
    }
    assert_host_failures("tcpserver", &debian);
}

/// The arguments read as Debian's tcpserver reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn tcpserver_reads_its_arguments_as_debians() {
    let debian = require_debian!("tcpserver");
    assert_same("tcpserver", &debian, &["--foo"]);
    assert_same("tcpserver", &debian, &["-1-c", "5", "0", "0", "true"]);
    assert_same("tcpserver", &debian, &["-Z"]);
    assert_same("tcpserver", &debian, &["-c"]);
}
