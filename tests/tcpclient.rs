//! tcpclient with real sockets: the program on descriptors 6 and 7 with
//! the UCSPI environment, and usage and fatal messages, side by side with
//! Debian's tcpclient.

use common::*;

#[test]
fn tcpclient_runs_the_program_on_fds_6_and_7() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["-RHl0", "127.0.0.1", "0", "sh", "-c", "read line; echo \"got $line\""];
    let server = start_server(None, &args, &tmp.path().join("log"));
    let port = server.port.to_string();
    let script = format!(
        "echo ping >&7; read reply <&6; echo \"$reply\"; {SHOW_ENV}; \
         readlink /proc/self/fd/6 /proc/self/fd/7"
    );
    let out = run_tool("tcpclient", ["-RHl0", "127.0.0.1", &port, "sh", "-c", &script]);
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
        assert_same("tcpclient", &debian, &["-RH", "127.0.0.1", &refused, "true"]);
    }
}

#[test]
fn tcpclient_host_0_and_empty_mean_127_0_0_1() {
    let tmp = tempfile::tempdir().unwrap();
    let server =
        start_server(None, &["-RHl0", "127.0.0.1", "0", "echo", "hi"], &tmp.path().join("log"));
    let port = server.port.to_string();
    let show = "cat <&6; echo \"$TCPREMOTEIP\"";
    for host in ["0", ""] {
        let out = run_tool("tcpclient", ["-RHl0", host, &port, "sh", "-c", show]);
        assert_eq!(text(&out.stdout), "hi\n127.0.0.1\n", "host {host:?}: {}", text(&out.stderr));
    }
    let Some(debian) = debian("tcpclient") else { return };
    let refused = free_port().to_string();
    for host in ["0", ""] {
        assert_same("tcpclient", &debian, &["-RHl0", host, &port, "sh", "-c", show]);
        assert_same("tcpclient", &debian, &["-RHl0", host, &refused, "true"]);
    }
}

#[test]
fn tcpclient_usage_and_fatal_messages_match_ucspi_tcp() {
    let debian = require_debian!("tcpclient");
    let cases: &[&[&str]] = &[
        &[],
        // getopt names the program as it was called.
        &["-Z", "0", "1", "true"],
        &["-q", "127.0.0.1", "1", "true"],
        &["-i", "1.2.3.4", "127.0.0.1", "1", "true"],
        &["0", "nosuchservice", "true"],
    ];
    for args in cases {
        assert_same("tcpclient", &debian, args);
    }
    assert_host_failures("tcpclient", &debian);
}

/// The arguments read as Debian's tcpclient reads them: its getopt (daemontools'
/// `sgetopt`, which drops a word beginning with `--` and stops there), or
/// none at all.
#[test]
fn tcpclient_reads_its_arguments_as_debians() {
    let debian = require_debian!("tcpclient");
    assert_same("tcpclient", &debian, &["--foo"]);
    assert_same("tcpclient", &debian, &["-Z"]);
    assert_same("tcpclient", &debian, &["-RT"]);
    assert_same("tcpclient", &debian, &["-R-x", "0", "1", "true"]);
}
