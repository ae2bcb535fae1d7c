//! runit's `svlogd`, without I/O: its options and each log directory's
//! `config` file, turned into a script for the log engine (which does the
//! selection, stamps, replacement and rotation for multilog too).

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::script::{Action, DirSpec, Script, Stamp};
use crate::decimal::scan_ulong;
use crate::fail::Failure;
use crate::getopt;

/// The usage line, as svlogd prints it (followed by an empty line).
pub const USAGE: &str = "usage: svlogd [-ttv] [-r c] [-R abc] [-l len] [-b buflen] dir ...\n";

/// Default `-l`: how much of a line patterns look at.
pub const LINEMAX_DEFAULT: usize = 1000;
/// Default `-b`: the buffer size.
pub const BUFLEN_DEFAULT: usize = 1024;
/// Default `s`: rotate `current` at this size.
pub const SIZE_DEFAULT: u64 = 1_000_000;
/// Default `n`: old files kept.
pub const NUM_DEFAULT: usize = 10;
/// Default `N`: old files kept at least on a full disk (runit deletes
/// none unless `N` is below `n`).
pub const MIN_DEFAULT: usize = 10;
/// Default UDP port (syslog).
pub const UDP_PORT_DEFAULT: u16 = 514;

/// The command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub stamp: Stamp,
    pub verbose: bool,
    /// The replacement character, if any replacing is done.
    pub replace: Option<u8>,
    /// Characters replaced besides the non-printable ones (`-R`).
    pub replace_set: Vec<u8>,
    pub linemax: usize,
    pub buflen: usize,
    pub dirs: Vec<OsString>,
}

/// svlogd's usage failure: the usage line and an empty line, exit 111.
fn usage() -> Failure {
    Failure::bare(111, USAGE)
}

/// Parse svlogd's arguments (after the program name) as its getopt string
/// `R:r:l:b:tvV` does.
pub fn parse_options(args: &[OsString]) -> Result<Options, Failure> {
    let mut opts = Options {
        stamp: Stamp::None,
        verbose: false,
        replace: None,
        replace_set: Vec::new(),
        linemax: LINEMAX_DEFAULT,
        buflen: BUFLEN_DEFAULT,
        dirs: Vec::new(),
    };
    let mut stamps = 0;
    let dirs = getopt::options(args.to_vec(), "svlogd", "tvV", "Rrlb", usage, |letter, value| {
        let value = value.map(OsString::into_vec).unwrap_or_default();
        // -l and -b: 0 (or no number) means the default.
        let size = |default: usize| match scan_ulong(&value).0 {
            0 => default,
            n => n.min(usize::MAX as u64 >> 1) as usize,
        };
        match letter {
            't' => stamps = (stamps + 1).min(3),
            'v' => opts.verbose = true,
            'R' => {
                opts.replace_set = value;
                opts.replace.get_or_insert(b'_');
            }
            'r' => match value[..] {
                [with] if with != 0 => opts.replace = Some(with),
                _ => return Err(usage()),
            },
            'l' => opts.linemax = size(LINEMAX_DEFAULT),
            'b' => opts.buflen = size(BUFLEN_DEFAULT),
            _ => {}
        }
        Ok(())
    })?;
    opts.stamp = match stamps {
        0 => Stamp::None,
        1 => Stamp::Tai64n,
        2 => Stamp::Human(b'_'),
        _ => Stamp::Human(b'T'),
    };
    opts.dirs = dirs;
    if opts.dirs.is_empty() || opts.buflen <= opts.linemax {
        return Err(usage());
    }
    Ok(opts)
}

/// svlogd's replacement map: bytes outside 0x20..0x7e (newline kept) and
/// bytes in `also` become `with`.
fn replacement(with: u8, also: &[u8]) -> Box<[u8; 256]> {
    let mut map = Box::new([0u8; 256]);
    for (i, m) in map.iter_mut().enumerate() {
        let b = i as u8;
        *m = if b != b'\n' && (!(0x20..0x7f).contains(&b) || also.contains(&b)) { with } else { b };
    }
    map
}

/// One selection instruction of a `config` file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inst {
    /// `+pattern`: select for the directory.
    Select(Vec<u8>),
    /// `-pattern`: deselect for the directory.
    Deselect(Vec<u8>),
    /// `epattern`: select for standard error.
    Alert(Vec<u8>),
    /// `Epattern`: deselect for standard error.
    NoAlert(Vec<u8>),
}

/// One log directory's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `s`: rotate at this size; 0 = never by size.
    pub size: u64,
    /// `n`: old files kept; 0 = keep all.
    pub num: usize,
    /// `N`: old files kept at least when the disk is full (only while
    /// below `n`).
    pub min: usize,
    /// `t`: rotate a non-empty `current` this many seconds old; 0 = never.
    pub timeout: u64,
    /// `!`: the processor, run by `sh -c`.
    pub processor: Option<Vec<u8>>,
    /// `u`/`U`: send selected lines to this address.
    pub udp: Option<SocketAddrV4>,
    /// `U`: only by UDP, not to `current`.
    pub udp_only: bool,
    /// `p`: put in front of every line written.
    pub prefix: Vec<u8>,
    pub insts: Vec<Inst>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            size: SIZE_DEFAULT,
            num: NUM_DEFAULT,
            min: MIN_DEFAULT,
            timeout: 0,
            processor: None,
            udp: None,
            udp_only: false,
            prefix: Vec::new(),
            insts: Vec::new(),
        }
    }
}

/// Parse `a.b.c.d[:port]` (port 514 if none); the warning runit prints
/// if it cannot.
pub fn parse_addr(text: &[u8]) -> Result<SocketAddrV4, String> {
    let shown = || String::from_utf8_lossy(text).into_owned();
    let end = text.iter().position(|&b| !(b.is_ascii_digit() || b == b'.')).unwrap_or(text.len());
    let ip: Ipv4Addr = std::str::from_utf8(&text[..end])
        .ok()
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| format!("unable to scan ip address: {}", shown()))?;
    let port = match text[end..].strip_prefix(b":") {
        Some(port) => match scan_ulong(port).0 {
            0 => {
                return Err(format!(
                    "unable to scan port number: {}",
                    String::from_utf8_lossy(port)
                ));
            }
            n => n as u16,
        },
        None => UDP_PORT_DEFAULT,
    };
    Ok(SocketAddrV4::new(ip, port))
}

/// A number with a unit letter after it: `units` pairs a letter with its
/// multiplier (runit's `s100k`, `t2h`).
fn scaled(text: &[u8], units: &[(u8, u64)]) -> u64 {
    let (n, digits) = scan_ulong(text);
    let unit = text.get(digits).and_then(|c| units.iter().find(|(u, _)| u == c));
    unit.map_or(n, |(_, m)| n.saturating_mul(*m))
}

/// Parse a `config` file. Returns the settings and warnings for lines that
/// could not be used (bad addresses).
pub fn parse_config(text: &[u8]) -> (Config, Vec<String>) {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let Some((&kind, rest)) = line.split_first() else { continue };
        match kind {
            b'+' => config.insts.push(Inst::Select(rest.to_vec())),
            b'-' => config.insts.push(Inst::Deselect(rest.to_vec())),
            b'e' => config.insts.push(Inst::Alert(rest.to_vec())),
            b'E' => config.insts.push(Inst::NoAlert(rest.to_vec())),
            b's' => config.size = scaled(rest, &[(b'k', 1024), (b'm', 1024 * 1024)]),
            b'n' => config.num = scan_ulong(rest).0.min(usize::MAX as u64) as usize,
            b'N' => config.min = scan_ulong(rest).0.min(usize::MAX as u64) as usize,
            b't' => config.timeout = scaled(rest, &[(b'm', 60), (b'h', 3600)]),
            b'!' => config.processor = (!rest.is_empty()).then(|| rest.to_vec()),
            b'p' => config.prefix = rest.to_vec(),
            b'u' | b'U' => {
                // runit marks `U` before it reads the address.
                config.udp_only |= kind == b'U';
                match parse_addr(rest) {
                    Ok(addr) => config.udp = Some(addr),
                    Err(warning) => warnings.push(warning),
                }
            }
            _ => {}
        }
    }
    (config, warnings)
}

/// The engine's script for svlogd: per directory, its patterns from a
/// fresh selection (`+`/`-` for the directory, `e`/`E` for standard
/// error), the line on standard error if selected for it, then the
/// directory. Patterns see `linemax` bytes after the stamp.
pub fn script(opts: &Options, configs: &[(PathBuf, Config)]) -> Script {
    let mut script = Script {
        stamp: opts.stamp,
        match_stamp: false,
        svlogd: true,
        head: opts.linemax,
        // runit drops a last line that has no newline and is shorter than -l.
        complete_last: false,
        replace: opts.replace.map(|with| replacement(with, &opts.replace_set)),
        ..Script::default()
    };
    for (i, (path, config)) in configs.iter().enumerate() {
        script.actions.push(Action::Reset);
        for inst in &config.insts {
            script.actions.push(match inst {
                Inst::Select(p) => Action::Select(p.clone()),
                Inst::Deselect(p) => Action::Deselect(p.clone()),
                Inst::Alert(p) => Action::AlertSelect(p.clone()),
                Inst::NoAlert(p) => Action::AlertDeselect(p.clone()),
            });
        }
        script.actions.push(Action::SvAlert(i));
        script.actions.push(Action::Dir(i));
        script.dirs.push(DirSpec {
            path: path.clone(),
            size: config.size,
            num: config.num,
            processor: config.processor.clone(),
            slack: opts.linemax as u64,
            prefix: config.prefix.clone(),
            max_age: config.timeout,
            udp: config.udp.map(std::net::SocketAddr::V4),
            udp_only: config.udp_only,
            min: config.min,
        });
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&args(&["-tt", "-v", "-l", "20", "-b30", "a", "b"])).unwrap();
        assert_eq!(o.stamp, Stamp::Human(b'_'));
        assert!(o.verbose);
        assert_eq!((o.linemax, o.buflen), (20, 30));
        assert_eq!(o.dirs, args(&["a", "b"]));
        assert_eq!(parse_options(&args(&["-tttt", "d"])).unwrap().stamp, Stamp::Human(b'T'));
        assert_eq!(parse_options(&args(&["-t", "d"])).unwrap().stamp, Stamp::Tai64n);
        assert_eq!(parse_options(&args(&["d"])).unwrap().replace, None);
        let r = parse_options(&args(&["-R", "xy", "d"])).unwrap();
        assert_eq!((r.replace, r.replace_set), (Some(b'_'), b"xy".to_vec()));
        let r = parse_options(&args(&["-rX", "-R", "xy", "d"])).unwrap();
        assert_eq!(r.replace, Some(b'X'));
    }

    #[test]
    fn bad_options() {
        let refused = |list: &[&str]| parse_options(&args(list)).unwrap_err();
        let usage = Failure::bare(111, USAGE);
        assert_eq!(refused(&[]), usage);
        assert_eq!(refused(&["-t"]), usage);
        let illegal = refused(&["-x", "d"]);
        assert_eq!(illegal.message, format!("svlogd: illegal option -- x\n{USAGE}"));
        assert_eq!(illegal.code, 111);
        assert_eq!(refused(&["-r", "ab", "d"]), usage);
        assert_eq!(refused(&["-r", "", "d"]), usage);
        assert_eq!(refused(&["-l", "5", "-b", "3", "d"]), usage);
        assert_eq!(refused(&["-l", "1024", "d"]), usage);
        assert_eq!(parse_options(&args(&["d", "-l"])).unwrap().dirs, args(&["d", "-l"]));
        let missing = refused(&["-l"]);
        assert_eq!(missing.message, format!("svlogd: option requires an argument -- l\n{USAGE}"));
    }

    #[test]
    fn config() {
        let text =
            b"# comment\n\ns100\nn3\nN1\nt60\n!gzip\npPFX: \n-*\n+fo*\ne*\nE*x\nu127.0.0.1:5599\n";
        let (c, warnings) = parse_config(text);
        assert!(warnings.is_empty());
        assert_eq!((c.size, c.num, c.min, c.timeout), (100, 3, 1, 60));
        assert_eq!(c.processor, Some(b"gzip".to_vec()));
        assert_eq!(c.prefix, b"PFX: ");
        assert_eq!(c.udp, Some("127.0.0.1:5599".parse().unwrap()));
        assert!(!c.udp_only);
        assert_eq!(
            c.insts,
            vec![
                Inst::Deselect(b"*".to_vec()),
                Inst::Select(b"fo*".to_vec()),
                Inst::Alert(b"*".to_vec()),
                Inst::NoAlert(b"*x".to_vec()),
            ]
        );
        let (c, _) = parse_config(b"U10.0.0.1\n");
        assert_eq!(c.udp, Some("10.0.0.1:514".parse().unwrap()));
        assert!(c.udp_only);
        let (c, w) = parse_config(b"unothing\n");
        assert_eq!(c.udp, None);
        assert_eq!(w.len(), 1);
        assert_eq!(parse_config(b"").0, Config::default());
    }

    #[test]
    fn units_and_addresses() {
        let (c, w) = parse_config(b"s5k\nt2m\nU10.0.0.1:0\n");
        assert_eq!((c.size, c.timeout), (5120, 120));
        assert_eq!(w, vec!["unable to scan port number: 0".to_string()]);
        assert_eq!(c.udp, None);
        assert!(c.udp_only, "runit marks U before reading the address");
        let (c, _) = parse_config(b"s2m\nt1h\n");
        assert_eq!((c.size, c.timeout), (2 << 20, 3600));
        assert_eq!(parse_addr(b"1.2.3.4:99"), Ok("1.2.3.4:99".parse().unwrap()));
        assert!(parse_addr(b"1.2.3").is_err());
    }

    /// Run `input` through an engine built from one directory's config.
    fn through(config: &[u8], linemax: usize, input: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
        use crate::log::engine::{Engine, Record};
        let mut opts = parse_options(&args(&["d"])).unwrap();
        opts.linemax = linemax;
        let configs = vec![(PathBuf::from("d"), parse_config(config).0)];
        let mut engine = Engine::new(&script(&opts, &configs));
        let mut now = || crate::tai64::Tai64N { secs: 1 << 62, nanos: 0 };
        let (n, _) = engine.feed(input, &mut now);
        assert_eq!(n, input.len());
        let mut record = Record::new(1);
        engine.drain(&mut record);
        let grams = record.sent.iter().map(|(_, g)| g.clone()).collect();
        (record.current(0).to_vec(), record.alerts, grams)
    }

    #[test]
    fn selection_alerts_and_prefix_in_order() {
        let (log, err, _) =
            through(b"-*\n+fo*\n-*x\ne*\nE*two\npP:\n", 1000, b"foo\nfox\nbar two\nfoo two\n");
        assert_eq!(log, b"P:foo\nP:foo two\n");
        assert_eq!(err, b"P:foo\nP:fox\n");
        let (log, err, _) = through(b"", 1000, b"any\n");
        assert_eq!((log, err), (b"any\n".to_vec(), Vec::new()));
    }

    #[test]
    fn long_lines_udp_and_udp_only() {
        let (log, _, grams) = through(b"u127.0.0.1:9\npX:\n", 4, b"abcdefg\nhi\n");
        assert_eq!(log, b"X:abcdefg\nX:hi\n");
        assert_eq!(grams, vec![b"X:abcd...\n".to_vec(), b"X:hi\n".to_vec()]);
        let (log, _, grams) = through(b"U127.0.0.1:9\n", 1000, b"only\n");
        assert_eq!((log, grams), (Vec::new(), vec![b"only\n".to_vec()]));
    }

    #[test]
    fn replacement_in_the_head_only() {
        use crate::log::engine::{Engine, Record};
        let mut opts = parse_options(&args(&["-r", "X", "-R", "b", "-l", "4", "d"])).unwrap();
        opts.linemax = 4;
        let configs = vec![(PathBuf::from("d"), Config::default())];
        let mut engine = Engine::new(&script(&opts, &configs));
        let mut now = || crate::tai64::Tai64N { secs: 1 << 62, nanos: 0 };
        engine.feed(b"a\tbcd\x01b\nb\x01\n", &mut now);
        let mut record = Record::new(1);
        engine.drain(&mut record);
        assert_eq!(record.current(0), b"aXXcd\x01b\nXX\n");
    }

    #[test]
    fn size_below_linemax_rotates_only_when_full() {
        use crate::log::engine::Engine;
        let opts = parse_options(&args(&["d"])).unwrap();
        let configs = vec![(PathBuf::from("d"), parse_config(b"s100\n").0)];
        let mut engine = Engine::new(&script(&opts, &configs));
        let mut now = || crate::tai64::Tai64N { secs: 1 << 62, nanos: 0 };
        engine.feed(b"short\n", &mut now);
        assert!(!engine.due(0), "s100 is below -l 1000: no rotation at a line end");
        engine.feed(&[b'x'; 1200], &mut now);
        assert_eq!(engine.size(0), 100);
        assert!(engine.due(0));
    }
}
