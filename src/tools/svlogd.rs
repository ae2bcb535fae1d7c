//! svlogd: runit's logger, on the same engine as multilog. Settings come
//! from each directory's `config` file instead of the command line.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::fail::Failure;
use crate::log::dir::LogDir;
use crate::log::engine::{Engine, replacement};
use crate::log::script::{Action, DirSpec, Script, Stamp};
use crate::log::{pattern, run};

const PROG: &str = "svlogd";
const USAGE: &str = "usage: svlogd [-ttv] [-r c] [-R abc] [-l len] [-b buflen] dir ...\n";

/// svlogd's defaults.
const SIZE: u64 = 1_000_000;
const NUM: usize = 10;

fn usage() -> Failure {
    Failure::bare(111, USAGE)
}

/// One directory's settings from its `config`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub size: u64,
    pub num: usize,
    pub processor: Option<Vec<u8>>,
    pub prefix: Vec<u8>,
    /// `t`: maximum age of `current` in seconds (0: none).
    pub max_age: u64,
    /// `u`/`U`: address, and whether only by UDP.
    pub udp: Option<std::net::SocketAddr>,
    pub udp_only: bool,
    /// `N`: minimum old files kept on a full disk.
    pub min: usize,
    /// `+`, `-`, `e`, `E` lines, in order.
    pub rules: Vec<Action>,
}

/// Parse a `config` file as svlogd does (unknown lines are ignored).
pub fn parse_config(text: &[u8]) -> Config {
    let mut c = Config { size: SIZE, num: NUM, ..Config::default() };
    for line in text.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else {
            continue;
        };
        let number = || std::str::from_utf8(rest).ok().and_then(|t| t.trim().parse::<u64>().ok());
        match first {
            b's' => {
                if let Some(n) = number() {
                    c.size = n;
                }
            }
            b'n' => {
                if let Some(n) = number() {
                    c.num = n as usize;
                }
            }
            b'N' => {
                if let Some(n) = number() {
                    c.min = n as usize;
                }
            }
            b't' => {
                if let Some(n) = number() {
                    c.max_age = n;
                }
            }
            b'u' | b'U' => {
                let text = String::from_utf8_lossy(rest).trim().to_string();
                let text = if text.contains(':') { text } else { format!("{text}:514") };
                if let Ok(addr) = text.parse() {
                    c.udp = Some(addr);
                    c.udp_only = first == b'U';
                }
            }
            b'!' => c.processor = Some(rest.to_vec()),
            b'p' => c.prefix = rest.to_vec(),
            b'+' => c.rules.push(Action::Select(rest.to_vec())),
            b'-' => c.rules.push(Action::Deselect(rest.to_vec())),
            b'e' => c.rules.push(Action::AlertSelect(rest.to_vec())),
            b'E' => c.rules.push(Action::AlertDeselect(rest.to_vec())),
            _ => {}
        }
    }
    c
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut stamps = 0u32;
    let mut replace_with: Option<u8> = None;
    let mut replace_also: Option<Vec<u8>> = None;
    let mut len = pattern::HEAD;
    let mut dirs: Vec<PathBuf> = Vec::new();
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(lexopt::Error::UnexpectedOption(opt)) => {
                let _ = io::stderr().write_all(
                    format!("{PROG}: illegal option -- {}\n", opt.trim_start_matches('-'))
                        .as_bytes(),
                );
                return Err(usage());
            }
            Err(_) => return Err(usage()),
        };
        match arg {
            Short('t') => stamps += 1,
            Short('v') => {}
            Short('r') => {
                let v = parser.value().map_err(|_| usage())?;
                let v = v.into_encoded_bytes();
                if v.len() != 1 {
                    return Err(usage());
                }
                replace_with = Some(v[0]);
            }
            Short('R') => {
                replace_also = Some(parser.value().map_err(|_| usage())?.into_encoded_bytes());
            }
            Short('l') => {
                let v: usize = parser
                    .value()
                    .ok()
                    .and_then(|v| v.into_string().ok()?.parse().ok())
                    .ok_or_else(usage)?;
                len = v.clamp(1, pattern::HEAD);
            }
            Short('b') => {
                parser
                    .value()
                    .ok()
                    .and_then(|v| v.into_string().ok()?.parse::<usize>().ok())
                    .ok_or_else(usage)?;
            }
            Value(v) => dirs.push(PathBuf::from(v)),
            Short(c) => {
                let _ =
                    io::stderr().write_all(format!("{PROG}: illegal option -- {c}\n").as_bytes());
                return Err(usage());
            }
            Long(_) => return Err(usage()),
        }
    }
    if dirs.is_empty() {
        return Err(usage());
    }
    let opts = Opts { stamps, replace_with, replace_also, len, dirs };
    let (engine, locked) = open_all(&opts)?;
    run::run(PROG, engine, locked, Vec::new(), Some(&|| open_all(&opts)))?;
    Ok(0)
}

/// The command line, kept to open the directories again on SIGHUP.
struct Opts {
    stamps: u32,
    replace_with: Option<u8>,
    replace_also: Option<Vec<u8>>,
    len: usize,
    dirs: Vec<PathBuf>,
}

/// Read every `config`, lock every usable directory, build the engine.
fn open_all(opts: &Opts) -> Result<(Engine, Vec<LogDir>), Failure> {
    let Opts { stamps, replace_with, replace_also, len, dirs } = opts;
    let (stamps, len) = (*stamps, *len);
    let mut script = Script {
        stamp: match stamps {
            0 => Stamp::None,
            1 => Stamp::Tai64n,
            2 => Stamp::Human(b'_'),
            _ => Stamp::Human(b'T'),
        },
        match_stamp: false,
        svlogd: true,
        head: len,
        ..Script::default()
    };
    let mut locked = Vec::new();
    for path in dirs {
        let config = fs::read(path.join("config"))
            .map(|t| parse_config(&t))
            .unwrap_or_else(|_| parse_config(b""));
        let spec = DirSpec {
            path: path.clone(),
            size: config.size,
            // svlogd keeps n old files (0: all); LogDir keeps num - 1.
            num: if config.num == 0 { usize::MAX } else { config.num + 1 },
            processor: config.processor.clone(),
            // runit rotates at a line end within len bytes of the size,
            // and only when full if the size is not above len.
            slack: if config.size <= len as u64 { 0 } else { len as u64 },
            prefix: config.prefix.clone(),
            max_age: config.max_age,
            udp: config.udp,
            udp_only: config.udp_only,
            min: config.min,
        };
        match LogDir::lock_existing(&spec, PROG) {
            Ok(dir) => {
                let i = locked.len();
                script.actions.push(Action::Reset);
                script.actions.extend(config.rules);
                script.actions.push(Action::Dir(i));
                script.actions.push(Action::SvAlert(i));
                script.dirs.push(spec);
                locked.push(dir);
            }
            Err(failure) => {
                let _ = io::stderr()
                    .write_all(format!("{PROG}: warning: {}\n", failure.message).as_bytes());
            }
        }
    }
    if locked.is_empty() {
        return Err(Failure::temporary("no functional log directories."));
    }
    let mut engine = Engine::new(&script);
    engine.flush_at = 4 << 20;
    engine.complete_last = false;
    if replace_with.is_some() || replace_also.is_some() {
        engine.replace = Some(replacement(
            replace_with.unwrap_or(b'_'),
            replace_also.as_deref().unwrap_or_default(),
        ));
    }
    Ok((engine, locked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        let c =
            parse_config(b"# comment\ns4096\nn3\n\n-*b*\ne*x*\nE*y*\n+a+b\np>>\n!gzip\nu1.2.3.4\n");
        assert_eq!(c.size, 4096);
        assert_eq!(c.num, 3);
        assert_eq!(c.prefix, b">>");
        assert_eq!(parse_config(b"t2\n").max_age, 2);
        assert_eq!(parse_config(b"N3\n").min, 3);
        let u = parse_config(b"U10.0.0.1\n");
        assert_eq!(u.udp, Some("10.0.0.1:514".parse().unwrap()));
        assert!(u.udp_only);
        assert!(!parse_config(b"u10.0.0.1:99\n").udp_only);
        assert_eq!(c.processor.as_deref(), Some(&b"gzip"[..]));
        assert_eq!(
            c.rules,
            vec![
                Action::Deselect(b"*b*".to_vec()),
                Action::AlertSelect(b"*x*".to_vec()),
                Action::AlertDeselect(b"*y*".to_vec()),
                Action::Select(b"a+b".to_vec()),
            ]
        );
        let d = parse_config(b"");
        assert_eq!((d.size, d.num), (SIZE, NUM));
        assert_eq!(parse_config(b"s0\n").size, 0);
    }
}
