//! The network tools' fixtures: ports, a running tcpserver (ours or
//! Debian's), a client that reads all a server says, compiled rules.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Spawned, assert_same, output_with_input, run_tool, text, tool};

/// A shell command printing the UCSPI environment (and the variables
/// rules set, `WHO` and `X`), sorted.
pub const SHOW_ENV: &str = "env | grep -E '^(PROTO|TCP|WHO|X)' | sort";

/// Rules for tcprules: comments, deny, allow with variables, a range, a
/// host name, the catch-all.
pub const RULES: &str = "# test rules\n127.0.0.2:deny\n127.0.0.1:allow,WHO=\"local one\",X=/y/\n10.1.2.3-9:deny\n=Foo.example:allow\n:deny\n";

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running tcpserver and the port it listens on.
pub struct Server {
    pub proc: Spawned,
    pub port: u16,
}

impl Server {
    /// Start `cmd`, a tcpserver given `-1` first (it then prints its port
    /// on stdout once it listens), with stderr in `log`.
    pub fn start(mut cmd: Command, log: &Path) -> Server {
        cmd.stdout(Stdio::piped()).stderr(fs::File::create(log).unwrap());
        let mut proc = Spawned::start(cmd);
        let mut line = String::new();
        BufReader::new(proc.child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("port line {line:?}"));
        Server { proc, port }
    }
}

/// A tcpserver, Debian's `program` or ours (`None`), with `args` (options,
/// host, port, program) and stderr in `log`, once it listens. Port `0`
/// lets the kernel choose.
pub fn start_server(program: Option<&Path>, args: &[&str], log: &Path) -> Server {
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("tcpserver"),
    };
    cmd.arg("-1").args(args);
    Server::start(cmd, log)
}

/// How `tool` (tcpserver or tcpclient) fails on host names: as Debian's
/// `program` on names that cannot be DNS names, which ucspi-tcp refuses
/// before asking (a label over 63 bytes: alone, last, or before a final
/// dot; 256 bytes in all on the wire, with labels of 60); and with exit
/// 111 and its words on a name without address (which words depends on
/// the resolver's answer, none or none reachable, so ours alone).
#[track_caller]
pub fn assert_host_failures(tool: &str, program: &Path) {
    let long = "a".repeat(64);
    let sixty = "b".repeat(60);
    for name in [
        long.clone(),
        format!("x.{long}"),
        format!("{long}.example"),
        format!("{long}."),
        format!("{sixty}.{sixty}.{sixty}.{sixty}.xyzabcdefg"),
    ] {
        assert_same(tool, program, &[&name, "1", "true"]);
    }
    let out = run_tool(tool, ["no.such.host.invalid", "1", "true"]);
    assert_eq!(out.status.code(), Some(111));
    let said = text(&out.stderr);
    assert!(said.starts_with(&format!("{tool}: fatal: ")), "{said}");
    assert!(said.contains("IP address for no.such.host.invalid"), "{said}");
}

/// Connect, send nothing, read all the server's program writes.
pub fn fetch(host: &str, port: u16) -> String {
    let mut stream = TcpStream::connect((host, port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// Compile `rules` into `dir/NAME.cdb` with a tcprules, Debian's `program`
/// or ours (`None`).
pub fn tcprules(program: Option<&Path>, dir: &Path, name: &str, rules: &str) -> PathBuf {
    let cdb = dir.join(format!("{name}.cdb"));
    let mut cmd = match program {
        Some(p) => Command::new(p),
        None => tool("tcprules"),
    };
    cmd.arg(&cdb).arg(dir.join(format!("{name}.tmp")));
    let out = output_with_input(cmd, rules.as_bytes(), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    cdb
}
