//! `svc opts services...`: control supervised services.
//!
//! Each option letter is a command byte written, in order and once each, to
//! `SERVICE/supervise/control`. See `docs/svc.md`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::errstr;
use crate::fail::{Failure, warn};

const TOOL: &str = "svc";
/// daemontools' letters, then runit's `q`, `1`, `2`.
pub const LETTERS: &str = "udopchaitkxq12";
const USAGE: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let (commands, services) = parse(&args)?;
    for service in services {
        if let Err(message) = send(Path::new(service), &commands) {
            warn(TOOL, message);
        }
    }
    Ok(0)
}

/// Split getopt-style options from service names. Each letter is kept
/// once, in the order first given, as daemontools does.
fn parse(args: &[OsString]) -> Result<(Vec<u8>, &[OsString]), Failure> {
    let mut commands = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].as_encoded_bytes();
        if arg == b"--" {
            index += 1;
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        for &letter in &arg[1..] {
            if !LETTERS.as_bytes().contains(&letter) {
                let shown = String::from_utf8_lossy(&[letter]).into_owned();
                return Err(Failure::bare(
                    100,
                    format!("{TOOL}: illegal option -- {shown}\n{USAGE}"),
                ));
            }
            if !commands.contains(&letter) {
                commands.push(letter);
            }
        }
        index += 1;
    }
    Ok((commands, &args[index..]))
}

/// Write the commands to one service's control FIFO.
pub fn send(service: &Path, commands: &[u8]) -> Result<(), String> {
    let name = service.display();
    match std::fs::metadata(service) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(format!("unable to chdir to {name}: not a directory")),
        Err(err) => return Err(format!("unable to chdir to {name}: {}", errstr::io_str(&err))),
    }
    let control = service.join("supervise/control");
    let mut fifo =
        OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&control).map_err(
            |err| {
                if err.raw_os_error() == Some(libc::ENXIO) {
                    format!("unable to control {name}: supervise not running")
                } else {
                    format!("unable to control {name}: {}", errstr::io_str(&err))
                }
            },
        )?;
    // A few bytes, far below PIPE_BUF: the write is atomic. A full FIFO
    // means the supervisor is not reading; say so rather than block.
    fifo.write_all(commands)
        .map_err(|err| format!("error writing commands to {name}: {}", errstr::io_str(&err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn letters_in_order_once_each() {
        let a = args(&["-dx", "-d", "-k", "/service/a", "/service/b"]);
        let (commands, services) = parse(&a).unwrap();
        assert_eq!(commands, b"dxk");
        assert_eq!(services.len(), 2);
    }

    #[test]
    fn options_stop_at_first_service_or_double_dash() {
        let a = args(&["-u", "--", "-weird"]);
        let (commands, services) = parse(&a).unwrap();
        assert_eq!(commands, b"u");
        assert_eq!(services, &args(&["-weird"])[..]);
    }

    #[test]
    fn runit_letters_are_accepted() {
        let a = args(&["-q12", "s"]);
        assert_eq!(parse(&a).unwrap().0, b"q12");
    }

    #[test]
    fn unknown_letter_is_a_usage_error() {
        let err = parse(&args(&["-z", "s"])).unwrap_err();
        assert_eq!(err.code, 100);
        assert!(err.message.starts_with("svc: illegal option -- z\nsvc options:"));
    }
}
