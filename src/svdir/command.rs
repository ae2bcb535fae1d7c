//! The commands a supervisor takes through `supervise/control`: one byte
//! each, one table from letter to meaning.
//!
//! `svc` validates its option letters and builds its usage text from
//! [`TABLE`]; `supervise` decodes the bytes it reads with
//! [`Command::from_byte`] (a byte that is not in the table is ignored, as by
//! daemontools' supervise and runsv).

use nix::sys::signal::Signal;

/// What a control byte asks of the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start the service if it is down; restart it whenever it stops.
    Up,
    /// Stop it (TERM, then CONT) and do not restart it.
    Down,
    /// Start it if it is down; do not restart it.
    Once,
    /// The supervisor exits once the service is down.
    Exit,
    /// Stop the service's process (STOP) and record it as paused.
    Pause,
    /// Let it go on (CONT).
    Continue,
    /// Send the service's process this signal.
    Send(Signal),
}

/// One command: its letter, its meaning, its word in `svc`'s usage text.
pub struct Entry {
    pub letter: u8,
    pub command: Command,
    pub word: &'static str,
}

const fn entry(letter: u8, command: Command, word: &'static str) -> Entry {
    Entry { letter, command, word }
}

/// Every command, in the order of `svc`'s usage text: daemontools' eleven,
/// then runit's `q`, `1`, `2`.
pub const TABLE: [Entry; 14] = [
    entry(b'u', Command::Up, "up"),
    entry(b'd', Command::Down, "down"),
    entry(b'o', Command::Once, "once"),
    entry(b'x', Command::Exit, "exit"),
    entry(b'p', Command::Pause, "pause"),
    entry(b'c', Command::Continue, "continue"),
    entry(b'h', Command::Send(Signal::SIGHUP), "hup"),
    entry(b'a', Command::Send(Signal::SIGALRM), "alarm"),
    entry(b'i', Command::Send(Signal::SIGINT), "interrupt"),
    entry(b't', Command::Send(Signal::SIGTERM), "term"),
    entry(b'k', Command::Send(Signal::SIGKILL), "kill"),
    entry(b'q', Command::Send(Signal::SIGQUIT), "quit"),
    entry(b'1', Command::Send(Signal::SIGUSR1), "usr1"),
    entry(b'2', Command::Send(Signal::SIGUSR2), "usr2"),
];

impl Command {
    /// The command a control byte stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Command> {
        TABLE.iter().find(|e| e.letter == byte).map(|e| e.command)
    }

    /// The byte written to `supervise/control`. A `Send` of a signal no
    /// letter stands for has none.
    pub fn letter(self) -> Option<u8> {
        TABLE.iter().find(|e| e.command == self).map(|e| e.letter)
    }
}

/// `svc`'s list of options: `u up, d down, ...`.
pub fn usage_list() -> String {
    let words: Vec<String> =
        TABLE.iter().map(|e| format!("{} {}", e.letter as char, e.word)).collect();
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_commands_are_each_in_the_table_once() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert_ne!(a.letter, b.letter);
                assert_ne!(a.command, b.command);
            }
        }
    }

    #[test]
    fn every_letter_round_trips() {
        for e in &TABLE {
            assert_eq!(Command::from_byte(e.letter), Some(e.command));
            assert_eq!(e.command.letter(), Some(e.letter));
        }
    }

    #[test]
    fn bytes_outside_the_table_mean_nothing() {
        let known: Vec<u8> = TABLE.iter().map(|e| e.letter).collect();
        assert_eq!(known, b"udoxpchaitkq12");
        for byte in 0..=255u8 {
            assert_eq!(Command::from_byte(byte).is_some(), known.contains(&byte), "{byte}");
        }
        assert_eq!(Command::Send(Signal::SIGSEGV).letter(), None);
    }

    #[test]
    fn usage_list_is_svcs() {
        assert_eq!(
            usage_list(),
            "u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2"
        );
    }
}
