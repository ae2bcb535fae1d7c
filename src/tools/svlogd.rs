//! `svlogd [-tt] dir...`: runit's logger, on the same engine as multilog;
//! each directory's settings come from `DIR/config`.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::fail::Failure;
use crate::log::engine::Engine;
use crate::log::script::{Action, DirSpec, Script, StampKind};

const USAGE: &str = "usage: svlogd [-ttv] [-r c] [-R abc] [-l len] [-b buflen] dir ...";

/// The settings of one directory from the text of its `config`.
pub fn parse_config(path: PathBuf, text: &[u8], actions: &mut Vec<Action>) -> DirSpec {
    let mut spec = DirSpec { path, size: 1_000_000, num: 10, ..DirSpec::default() };
    for line in text.split(|&b| b == b'\n') {
        let Some(&first) = line.first() else { continue };
        let rest = &line[1..];
        let num = || -> u64 {
            std::str::from_utf8(rest).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        };
        match first {
            b's' => spec.size = if num() == 0 { u64::MAX } else { num().max(2048) },
            b'n' => spec.num = if num() == 0 { usize::MAX } else { num() as usize },
            b'N' => spec.min = num() as usize,
            b't' => spec.timeout = Some(num()).filter(|&t| t > 0),
            b'!' => spec.processor = Some(String::from_utf8_lossy(rest).into_owned()),
            b'+' => actions.push(Action::Select(rest.to_vec())),
            b'-' => actions.push(Action::Deselect(rest.to_vec())),
            b'p' => spec.prefix = rest.to_vec(),
            b'u' | b'U' => spec.udp = udp_address(rest).map(|a| (a, first == b'U')),
            _ => {}
        }
    }
    spec
}

fn udp_address(text: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let with_port = if text.contains(':') { text.to_string() } else { format!("{text}:514") };
    with_port.to_socket_addrs().ok()?.next()
}

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut stamp = StampKind::None;
    let mut dirs = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes.first() == Some(&b'-') && bytes.len() > 1 && dirs.is_empty() {
            let mut ts = 0;
            for (i, &c) in bytes[1..].iter().enumerate() {
                match c {
                    b't' => ts += 1,
                    b'v' => {}
                    // Options with a value (replacement chars, UDP length,
                    // buffer size) are accepted and not used.
                    b'r' | b'R' | b'l' | b'b' => {
                        if i + 2 == bytes.len() && args.next().is_none() {
                            return Err(Failure::bare(111, USAGE));
                        }
                        break;
                    }
                    _ => return Err(Failure::bare(111, USAGE)),
                }
            }
            stamp = match ts {
                0 => stamp,
                1 => StampKind::Tai64n,
                2 => StampKind::Human,
                _ => StampKind::Iso,
            };
            continue;
        }
        dirs.push(PathBuf::from(arg));
    }
    if dirs.is_empty() {
        return Err(Failure::bare(111, USAGE));
    }
    let mut script = Script { stamp, match_stamp: false, ..Script::default() };
    for dir in dirs {
        let text = std::fs::read(dir.join("config")).unwrap_or_default();
        script.actions.push(Action::Reset);
        let spec = parse_config(dir, &text, &mut script.actions);
        script.actions.push(Action::Dir(script.dirs.len()));
        script.dirs.push(spec);
    }
    Engine::new("svlogd", script)?.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        let mut actions = vec![];
        let spec = parse_config(
            PathBuf::from("d"),
            b"s4096\nn3\nN1\nt60\n-*\n+*err*\npPFX:\nU127.0.0.1:9999\n!gzip\n",
            &mut actions,
        );
        assert_eq!((spec.size, spec.num, spec.min, spec.timeout), (4096, 3, 1, Some(60)));
        assert_eq!(spec.prefix, b"PFX:");
        assert_eq!(spec.udp, Some(("127.0.0.1:9999".parse().unwrap(), true)));
        assert_eq!(spec.processor.as_deref(), Some("gzip"));
        assert_eq!(
            actions,
            vec![Action::Deselect(b"*".to_vec()), Action::Select(b"*err*".to_vec())]
        );
        let spec = parse_config(PathBuf::from("d"), b"s0\nn0\nu10.0.0.1\n", &mut actions);
        assert_eq!((spec.size, spec.num), (u64::MAX, usize::MAX));
        assert_eq!(spec.udp, Some(("10.0.0.1:514".parse().unwrap(), false)));
    }
}
