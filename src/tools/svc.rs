//! `svc opts services...`: control supervised services.
//!
//! Each option letter is a command (`crate::svdir::command`'s table)
//! written, in order and once each, to `SERVICE/supervise/control`. See
//! `docs/svc.md`.

use std::ffi::OsString;
use std::path::Path;

use crate::errstr;
use crate::fail::{Failure, warn};
use crate::getopt;
use crate::svdir::{Command, SendError, ServiceDir, command};

const TOOL: &str = "svc";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let (commands, services) = parse(args)?;
    for service in &services {
        if let Err(message) = send(Path::new(service), &commands) {
            warn(TOOL, message);
        }
    }
    Ok(0)
}

/// Split getopt-style options from service names. Each letter is kept
/// once, in the order first given, as daemontools does.
fn parse(args: Vec<OsString>) -> Result<(Vec<Command>, Vec<OsString>), Failure> {
    let letters: String = command::TABLE.iter().map(|e| char::from(e.letter)).collect();
    let usage = || Failure::bare(100, format!("{TOOL} options: {}", command::usage_list()));
    let mut commands = Vec::new();
    let services = getopt::options(args, TOOL, &letters, "", usage, |letter, _| {
        let command = u8::try_from(letter).ok().and_then(Command::from_byte);
        if let Some(command) = command
            && !commands.contains(&command)
        {
            commands.push(command);
        }
        Ok(())
    })?;
    Ok((commands, services))
}

/// Send the commands to one service, or say why not in svc's words.
fn send(service: &Path, commands: &[Command]) -> Result<(), String> {
    let name = service.display();
    let dir = ServiceDir::open(service)
        .map_err(|e| format!("unable to chdir to {name}: {}", errstr::nix_str(e)))?;
    dir.send(commands).map_err(|err| match err {
        SendError::NotRunning => format!("unable to control {name}: supervise not running"),
        SendError::Open(e) => format!("unable to control {name}: {}", errstr::nix_str(e)),
        SendError::Write(e) => {
            format!("error writing commands to {name}: {}", errstr::nix_str(e))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn letters_in_order_once_each() {
        let a = args(&["-dx", "-d", "-k", "/service/a", "/service/b"]);
        let (commands, services) = parse(a).unwrap();
        assert_eq!(commands, [Command::Down, Command::Exit, Command::Send(Signal::SIGKILL)]);
        assert_eq!(services.len(), 2);
    }

    #[test]
    fn options_stop_at_first_service_or_double_dash() {
        let a = args(&["-u", "--", "-weird"]);
        let (commands, services) = parse(a).unwrap();
        assert_eq!(commands, [Command::Up]);
        assert_eq!(services, args(&["-weird"]));
    }

    #[test]
    fn runit_letters_are_accepted() {
        let a = args(&["-q12", "s"]);
        assert_eq!(
            parse(a).unwrap().0,
            [Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2].map(Command::Send)
        );
    }

    #[test]
    fn a_word_beginning_with_two_dashes_ends_the_options() {
        // daemontools' sgetopt drops it: `svc --foo s` controls s.
        let (commands, services) = parse(args(&["-d", "--foo", "-u", "s"])).unwrap();
        assert_eq!(commands, [Command::Down]);
        assert_eq!(services, args(&["-u", "s"]));
    }

    #[test]
    fn unknown_letter_is_a_usage_error() {
        let err = parse(args(&["-z", "s"])).unwrap_err();
        assert_eq!(err.code, 100);
        assert!(err.message.starts_with("svc: illegal option -- z\nsvc options: u up, d down,"));
    }

    #[test]
    fn unreachable_services_are_named_in_svcs_words() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        assert_eq!(
            send(&missing, &[Command::Up]),
            Err(format!("unable to chdir to {}: file does not exist", missing.display()))
        );
        assert_eq!(
            send(tmp.path(), &[Command::Up]),
            Err(format!("unable to control {}: file does not exist", tmp.path().display()))
        );
    }
}
