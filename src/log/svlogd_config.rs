//! runit's `svlogd`, without I/O: its options, each log directory's
//! `config` file, its pattern match (with `+`), the per-directory line
//! selection, character replacement, the `-tt`/`-ttt` time stamps and which
//! old log file to remove.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::ffi::OsStrExt;

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
/// Default UDP port (syslog).
pub const UDP_PORT_DEFAULT: u16 = 514;

/// Which time stamp goes in front of each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stamp {
    #[default]
    None,
    /// `-t`: `@` and TAI64N in hex.
    Tai64n,
    /// `-tt`: `YYYY-MM-DD_HH:MM:SS.xxxxx`.
    Utc,
    /// `-ttt`: `YYYY-MM-DDTHH:MM:SS.xxxxx`.
    Iso,
}

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

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptError {
    /// An option svlogd does not know: `illegal option -- X`, then usage.
    Illegal(char),
    /// An option lacking its argument: `option requires an argument -- X`.
    Missing(char),
    /// Anything else: usage alone.
    Usage,
}

/// Parse a decimal number as runit's scan_ulong: leading digits only, no
/// digits meaning 0.
pub fn number(text: &[u8]) -> u64 {
    let mut n: u64 = 0;
    for &b in text.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    n
}

/// Parse svlogd's arguments (after the program name) as its getopt string
/// `R:r:l:b:tvV` does.
pub fn parse_options(args: &[OsString]) -> Result<Options, OptError> {
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
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        let mut j = 1;
        while j < arg.len() {
            let c = arg[j];
            j += 1;
            match c {
                b't' => stamps = (stamps + 1).min(3),
                b'v' => opts.verbose = true,
                b'V' => {}
                b'R' | b'r' | b'l' | b'b' => {
                    let value: Vec<u8> = if j < arg.len() {
                        arg[j..].to_vec()
                    } else {
                        i += 1;
                        match args.get(i) {
                            Some(v) => v.as_bytes().to_vec(),
                            None => return Err(OptError::Missing(c as char)),
                        }
                    };
                    j = arg.len();
                    match c {
                        b'R' => {
                            opts.replace_set = value;
                            opts.replace.get_or_insert(b'_');
                        }
                        b'r' => {
                            if value.len() != 1 || value[0] == 0 {
                                return Err(OptError::Usage);
                            }
                            opts.replace = Some(value[0]);
                        }
                        b'l' => {
                            opts.linemax = match number(&value) {
                                0 => LINEMAX_DEFAULT,
                                n => n.min(usize::MAX as u64 >> 1) as usize,
                            }
                        }
                        _ => {
                            opts.buflen = match number(&value) {
                                0 => BUFLEN_DEFAULT,
                                n => n.min(usize::MAX as u64 >> 1) as usize,
                            }
                        }
                    }
                }
                other => return Err(OptError::Illegal(other as char)),
            }
        }
        i += 1;
    }
    opts.stamp = match stamps {
        0 => Stamp::None,
        1 => Stamp::Tai64n,
        2 => Stamp::Utc,
        _ => Stamp::Iso,
    };
    opts.dirs = args[i..].to_vec();
    if opts.dirs.is_empty() || opts.buflen <= opts.linemax {
        return Err(OptError::Usage);
    }
    Ok(opts)
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
    /// `N`: old files kept at least when the disk is full.
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
            min: 0,
            timeout: 0,
            processor: None,
            udp: None,
            udp_only: false,
            prefix: Vec::new(),
            insts: Vec::new(),
        }
    }
}

/// Parse `a.b.c.d[:port]`.
pub fn parse_addr(text: &[u8]) -> Option<SocketAddrV4> {
    let text = std::str::from_utf8(text).ok()?;
    let (ip, port) = match text.split_once(':') {
        Some((ip, port)) => {
            let port = number(port.as_bytes());
            (ip, if port == 0 || port > 65535 { UDP_PORT_DEFAULT } else { port as u16 })
        }
        None => (text, UDP_PORT_DEFAULT),
    };
    let ip: Ipv4Addr = ip.trim_end().parse().ok()?;
    Some(SocketAddrV4::new(ip, port))
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
            b's' => config.size = number(rest),
            b'n' => config.num = number(rest).min(usize::MAX as u64) as usize,
            b'N' => config.min = number(rest).min(usize::MAX as u64) as usize,
            b't' => config.timeout = number(rest),
            b'!' => config.processor = (!rest.is_empty()).then(|| rest.to_vec()),
            b'p' => config.prefix = rest.to_vec(),
            b'u' | b'U' => match parse_addr(rest) {
                Some(addr) => {
                    config.udp = Some(addr);
                    config.udp_only = kind == b'U';
                }
                None => warnings
                    .push(format!("unable to scan ip address: {}", String::from_utf8_lossy(rest))),
            },
            _ => {}
        }
    }
    (config, warnings)
}

/// runit's pattern match, shared with the engine's (`+` repeats).
pub use super::pattern::sv_matches as pmatch;

/// Where a line goes for one directory: (to the log, to stderr).
pub fn select(insts: &[Inst], line: &[u8]) -> (bool, bool) {
    let (mut log, mut err) = (true, false);
    for inst in insts {
        match inst {
            Inst::Select(p) if pmatch(p, line) => log = true,
            Inst::Deselect(p) if pmatch(p, line) => log = false,
            Inst::Alert(p) if pmatch(p, line) => err = true,
            Inst::NoAlert(p) if pmatch(p, line) => err = false,
            _ => {}
        }
    }
    (log, err)
}

/// Replace non-printable bytes and those in `set` with `with`.
pub fn replace(line: &mut [u8], with: u8, set: &[u8]) {
    for b in line.iter_mut() {
        if *b < 32 || *b > 126 || set.contains(b) {
            *b = with;
        }
    }
}

/// The civil date of a day count since 1970-01-01: (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD?HH:MM:SS.xxxxx ` for a Unix time, `sep` between date and
/// time (`_` for `-tt`, `T` for `-ttt`).
pub fn utc_stamp(unix_secs: i64, nanos: u32, sep: char) -> String {
    let (year, month, day) = civil(unix_secs.div_euclid(86_400));
    let rest = unix_secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}{sep}{:02}:{:02}:{:02}.{:05} ",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        nanos / 10_000
    )
}

/// Of a directory's file names, the old log file to remove after a
/// rotation: the oldest `@` file (27 bytes, ending in `.s` or `.u`) when
/// there are more than `num` of them; none when `num` is 0.
pub fn oldest_to_remove(names: &[Vec<u8>], num: usize) -> Option<Vec<u8>> {
    if num == 0 {
        return None;
    }
    let old: Vec<&Vec<u8>> = names
        .iter()
        .filter(|n| n.len() == 27 && n[0] == b'@' && (n[26] == b's' || n[26] == b'u'))
        .collect();
    if old.len() > num { old.into_iter().min().cloned() } else { None }
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
        assert_eq!(o.stamp, Stamp::Utc);
        assert!(o.verbose);
        assert_eq!((o.linemax, o.buflen), (20, 30));
        assert_eq!(o.dirs, args(&["a", "b"]));
        assert_eq!(parse_options(&args(&["-tttt", "d"])).unwrap().stamp, Stamp::Iso);
        assert_eq!(parse_options(&args(&["-t", "d"])).unwrap().stamp, Stamp::Tai64n);
        assert_eq!(parse_options(&args(&["d"])).unwrap().replace, None);
        let r = parse_options(&args(&["-R", "xy", "d"])).unwrap();
        assert_eq!((r.replace, r.replace_set), (Some(b'_'), b"xy".to_vec()));
        let r = parse_options(&args(&["-rX", "-R", "xy", "d"])).unwrap();
        assert_eq!(r.replace, Some(b'X'));
    }

    #[test]
    fn bad_options() {
        assert_eq!(parse_options(&args(&[])), Err(OptError::Usage));
        assert_eq!(parse_options(&args(&["-t"])), Err(OptError::Usage));
        assert_eq!(parse_options(&args(&["-x", "d"])), Err(OptError::Illegal('x')));
        assert_eq!(parse_options(&args(&["-r", "ab", "d"])), Err(OptError::Usage));
        assert_eq!(parse_options(&args(&["-l", "5", "-b", "3", "d"])), Err(OptError::Usage));
        assert_eq!(parse_options(&args(&["-l", "1024", "d"])), Err(OptError::Usage));
        assert_eq!(parse_options(&args(&["d", "-l"])).unwrap().dirs, args(&["d", "-l"]));
        assert_eq!(parse_options(&args(&["-l"])), Err(OptError::Missing('l')));
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
    fn patterns() {
        assert!(pmatch(b"*", b""));
        assert!(pmatch(b"fo*", b"foo one"));
        assert!(!pmatch(b"fo*", b"bar"));
        assert!(!pmatch(b"abc", b"abcd"));
        assert!(!pmatch(b"*pid*", b"tcpsvd: info: pid 1977 from 10.4.1.14"));
        assert!(pmatch(b"*: *: pid *", b"tcpsvd: info: pid 1977 from 10.4.1.14"));
        assert!(pmatch(b"a+bc", b"abbbc"));
        assert!(pmatch(b"a+bc", b"abc"));
        assert!(!pmatch(b"a+bc", b"ac"));
        // runit: a line used up by `+` matches whatever follows.
        assert!(pmatch(b"a+bxyz", b"abb"));
    }

    #[test]
    fn selection_in_order() {
        let insts = parse_config(b"-*\n+fo*\n-*x\ne*\nE*two\n").0.insts;
        assert_eq!(select(&insts, b"foo"), (true, true));
        assert_eq!(select(&insts, b"fox"), (false, true));
        assert_eq!(select(&insts, b"bar two"), (false, false));
        assert_eq!(select(&[], b"any"), (true, false));
    }

    #[test]
    fn replacing() {
        let mut line = b"ab\tc\x01d\xc3\xa9~".to_vec();
        replace(&mut line, b'_', b"b");
        assert_eq!(line, b"a__c_d__~");
    }

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0, 0, '_'), "1970-01-01_00:00:00.00000 ");
        assert_eq!(utc_stamp(1_795_588_270, 571_249_999, '_'), "2026-11-25_06:31:10.57124 ");
        assert_eq!(utc_stamp(951_782_400, 0, 'T'), "2000-02-29T00:00:00.00000 ");
    }

    #[test]
    fn removal() {
        let names: Vec<Vec<u8>> = [
            "@400000006b0680a010b1f2dc.s",
            "@400000006b0680a010a82324.u",
            "@400000006b0680a010ba3bf4.s",
            "@400000006b0680a010ba3bf5.t",
            "current",
            "lock",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        assert_eq!(oldest_to_remove(&names, 2), Some(b"@400000006b0680a010a82324.u".to_vec()));
        assert_eq!(oldest_to_remove(&names, 3), None);
        assert_eq!(oldest_to_remove(&names, 0), None);
    }
}
