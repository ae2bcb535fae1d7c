//! The pure half of the logger: a multilog script parsed into actions, the
//! pattern matcher, line stamping, and the decisions about rotation and
//! old files. Nothing here touches a file.

use std::path::PathBuf;

/// Default `current` size limit (`s99999`).
pub const DEFAULT_SIZE: u64 = 99999;
/// Default number of log files (`n10`).
pub const DEFAULT_NUM: usize = 10;
/// Patterns, `=` and the decision to select look at this many bytes of a
/// (stamped) line, as daemontools does.
pub const HEAD: usize = 1000;
/// `e` prints this many bytes of a line.
pub const ALERT: usize = 200;

/// Settings of one log directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirSpec {
    pub path: PathBuf,
    pub size: u64,
    pub num: usize,
    pub processor: Option<String>,
    /// svlogd: keep at least this many old files (`N`).
    pub min: usize,
    /// svlogd: written before each line, after the stamp (`p`).
    pub prefix: Vec<u8>,
    /// svlogd: send lines to this UDP address (`u`/`U`); the flag says
    /// whether they are also written to the directory (`U`).
    pub udp: Option<(std::net::SocketAddr, bool)>,
    /// svlogd: rotate a non-empty `current` older than this (`t`).
    pub timeout: Option<u64>,
}

/// The stamp put before each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StampKind {
    #[default]
    None,
    /// `@` + TAI64N in hex (multilog `t`, svlogd `-t`).
    Tai64n,
    /// `YYYY-MM-DD_HH:MM:SS.xxxxx` in UTC (svlogd `-tt`).
    Human,
    /// `YYYY-MM-DDTHH:MM:SS.xxxxx` in UTC (svlogd `-ttt`).
    Iso,
}

/// One action of the script, applied to every line in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+PATTERN`: select the line if it matches.
    Select(Vec<u8>),
    /// `-PATTERN`: deselect the line if it matches.
    Deselect(Vec<u8>),
    /// `e`: print the head of a selected line on stderr.
    Alert,
    /// `=FILE`: replace FILE with the head of a selected line.
    Status(PathBuf),
    /// Select the line again (svlogd: each directory starts afresh).
    Reset,
    /// A directory (index into `Script::dirs`): append a selected line.
    Dir(usize),
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub stamp: StampKind,
    /// Whether patterns see the stamp (multilog) or not (svlogd).
    pub match_stamp: bool,
    pub actions: Vec<Action>,
    pub dirs: Vec<DirSpec>,
}

fn number(text: &[u8]) -> u64 {
    let mut n: u64 = 0;
    for &b in text.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    n
}

/// Parse a multilog script. Like daemontools, `t` counts only as the first
/// action, settings (`s`, `n`, `!`) apply to every directory after them,
/// and unknown actions are ignored.
pub fn parse(args: &[Vec<u8>]) -> Script {
    let mut script = Script { match_stamp: true, ..Script::default() };
    let mut size = DEFAULT_SIZE;
    let mut num = DEFAULT_NUM;
    let mut processor: Option<String> = None;
    for (i, arg) in args.iter().enumerate() {
        let Some(&first) = arg.first() else { continue };
        let rest = &arg[1..];
        match first {
            b't' if i == 0 => script.stamp = StampKind::Tai64n,
            b's' => size = number(rest).clamp(4096, 16_777_215),
            b'n' => num = (number(rest) as usize).max(2),
            b'!' => processor = Some(String::from_utf8_lossy(rest).into_owned()),
            b'+' => script.actions.push(Action::Select(rest.to_vec())),
            b'-' => script.actions.push(Action::Deselect(rest.to_vec())),
            b'e' => script.actions.push(Action::Alert),
            b'=' => script.actions.push(Action::Status(path(rest))),
            b'.' | b'/' => {
                script.actions.push(Action::Dir(script.dirs.len()));
                script.dirs.push(DirSpec {
                    path: path(arg),
                    size,
                    num,
                    processor: processor.clone(),
                    ..DirSpec::default()
                });
            }
            _ => {}
        }
    }
    script
}

fn path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// daemontools' pattern match: `*` matches any string not containing the
/// next pattern character; a final `*` matches anything; everything else
/// matches itself. The whole of `buf` must match.
pub fn matches(pattern: &[u8], buf: &[u8]) -> bool {
    let (mut p, mut b) = (0, 0);
    loop {
        let Some(&ch) = pattern.get(p) else { return b == buf.len() };
        p += 1;
        if ch == b'*' {
            let Some(&next) = pattern.get(p) else { return true };
            loop {
                if b == buf.len() {
                    return false;
                }
                if buf[b] == next {
                    break;
                }
                b += 1;
            }
            continue;
        }
        if b == buf.len() || buf[b] != ch {
            return false;
        }
        b += 1;
    }
}

/// Run the patterns of the script on a line whose head (stamp included,
/// at most `HEAD` bytes) is `head`; `visit` sees every other action (with
/// its index) and whether the line is selected at that point.
pub fn select(actions: &[Action], head: &[u8], mut visit: impl FnMut(usize, &Action, bool)) {
    let mut selected = true;
    for (i, action) in actions.iter().enumerate() {
        match action {
            Action::Reset => selected = true,
            Action::Select(p) => {
                if !selected && matches(p, head) {
                    selected = true
                }
            }
            Action::Deselect(p) => {
                if selected && matches(p, head) {
                    selected = false
                }
            }
            _ => visit(i, action, selected),
        }
    }
}

/// The `e` text for a line head: at most 200 bytes, `...` when cut.
pub fn alert_text(head: &[u8], out: &mut Vec<u8>) {
    if head.len() > ALERT {
        out.extend_from_slice(&head[..ALERT]);
        out.extend_from_slice(b"...");
    } else {
        out.extend_from_slice(head);
    }
    out.push(b'\n');
}

/// The `=FILE` contents for a line head: the head padded with newlines to
/// 1001 bytes.
pub fn status_text(head: &[u8]) -> Vec<u8> {
    let mut out = head[..head.len().min(HEAD)].to_vec();
    out.resize(HEAD + 1, b'\n');
    out
}

/// Cheap stamps: the part for the seconds is recomputed only when the
/// second changes.
#[derive(Debug, Default)]
pub struct Stamper {
    secs: u64,
    secs_hex: [u8; 16],
    human_secs: u64,
    human: [u8; 19],
}

/// `YYYY-MM-DD?HH:MM:SS` (UTC) for Unix seconds `t`.
pub fn civil(t: i64, sep: u8) -> [u8; 19] {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let text = format!(
        "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}",
        y,
        m,
        d,
        sep as char,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let mut out = [b'0'; 19];
    out.copy_from_slice(&text.as_bytes()[..19]);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Stamper {
    /// Write `@` + 24 hex digits + space (26 bytes) for `now`.
    pub fn stamp(&mut self, secs: u64, nanos: u32, out: &mut [u8; 26]) {
        if secs != self.secs || self.secs_hex[0] == 0 {
            self.secs = secs;
            for i in 0..16 {
                self.secs_hex[i] = HEX[((secs >> (60 - 4 * i)) & 15) as usize];
            }
        }
        out[0] = b'@';
        out[1..17].copy_from_slice(&self.secs_hex);
        for i in 0..8 {
            out[17 + i] = HEX[((nanos >> (28 - 4 * i)) & 15) as usize];
        }
        out[25] = b' ';
    }
}

impl Stamper {
    /// Write the stamp of `kind` for TAI64N `secs`/`nanos`, with its
    /// trailing space, into `out`; its length.
    pub fn stamp_kind(
        &mut self,
        kind: StampKind,
        secs: u64,
        nanos: u32,
        out: &mut [u8; 32],
    ) -> usize {
        match kind {
            StampKind::None => 0,
            StampKind::Tai64n => {
                let mut s = [0u8; 26];
                self.stamp(secs, nanos, &mut s);
                out[..26].copy_from_slice(&s);
                26
            }
            StampKind::Human | StampKind::Iso => {
                let sep = if kind == StampKind::Human { b'_' } else { b'T' };
                if secs != self.human_secs || self.human[0] == 0 || self.human[10] != sep {
                    self.human_secs = secs;
                    self.human =
                        civil(secs.wrapping_sub(crate::tai64::UNIX_EPOCH_LABEL) as i64, sep);
                }
                out[..19].copy_from_slice(&self.human);
                out[19] = b'.';
                let mut frac = nanos / 10_000;
                for i in (20..25).rev() {
                    out[i] = b'0' + (frac % 10) as u8;
                    frac /= 10;
                }
                out[25] = b' ';
                26
            }
        }
    }
}

/// Whether a directory must rotate at the end of a line: `current` has
/// reached SIZE-`slack` bytes (multilog: 2000, svlogd: 0).
pub fn full_at_line_end(bytes: u64, size: u64, slack: u64) -> bool {
    bytes.saturating_add(slack) >= size
}

/// How many more bytes fit in `current` before SIZE.
pub fn room(bytes: u64, size: u64) -> u64 {
    size.saturating_sub(bytes)
}

/// Which of the `@` files (by name) to delete so that at most `keep`
/// remain: the oldest ones (names sort by stamp). multilog keeps `n - 1`,
/// svlogd `n`.
pub fn to_delete(mut names: Vec<String>, keep: usize) -> Vec<String> {
    names.retain(|n| n.starts_with('@'));
    names.sort();
    let excess = names.len().saturating_sub(keep);
    names.truncate(excess);
    names
}

/// The name of a finished file: `@` + stamp + `.s` (safe) or `.u`.
pub fn finished_name(stamp: &[u8; 26], code: char) -> String {
    format!("{}.{code}", std::str::from_utf8(&stamp[..25]).unwrap_or("@"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn parses_settings_per_directory() {
        let s = parse(&args(&["t", "s5000", "n3", "./a", "!gzip", "s1", "n1", "/b", "t", "x"]));
        assert_eq!(s.stamp, StampKind::Tai64n);
        assert_eq!(s.dirs[0].size, 5000);
        assert_eq!(s.dirs[0].num, 3);
        assert_eq!(s.dirs[0].processor, None);
        assert_eq!(s.dirs[1].size, 4096);
        assert_eq!(s.dirs[1].num, 2);
        assert_eq!(s.dirs[1].processor.as_deref(), Some("gzip"));
        assert_eq!(s.actions, vec![Action::Dir(0), Action::Dir(1)]);
        let s = parse(&args(&["./a"]));
        assert_eq!(s.stamp, StampKind::None);
        assert_eq!((s.dirs[0].size, s.dirs[0].num), (DEFAULT_SIZE, DEFAULT_NUM));
        assert_eq!(parse(&args(&["s99999999", "./a"])).dirs[0].size, 16_777_215);
    }

    #[test]
    fn patterns_follow_daemontools() {
        assert!(matches(b"*", b"anything"));
        assert!(matches(b"", b""));
        assert!(!matches(b"", b"x"));
        assert!(matches(b"* fatal: *", b"@4000 fatal: disk"));
        assert!(!matches(b"* fatal: *", b"@4000 x fatal: disk"));
        assert!(matches(b"a*c", b"abbc"));
        assert!(!matches(b"a*c", b"abcc"));
        assert!(!matches(b"abc", b"ab"));
    }

    #[test]
    fn selection_in_order() {
        let s = parse(&args(&["-*", "+*err*", "./a", "-*x", "e"]));
        let mut seen = vec![];
        select(&s.actions, b"an error x", |_, a, sel| seen.push((a.clone(), sel)));
        assert_eq!(seen, vec![(Action::Dir(0), true), (Action::Alert, false)]);
        seen.clear();
        select(&s.actions, b"fine", |_, a, sel| seen.push((a.clone(), sel)));
        assert_eq!(seen, vec![(Action::Dir(0), false), (Action::Alert, false)]);
    }

    #[test]
    fn alert_and_status_texts() {
        let mut out = vec![];
        alert_text(&[b'a'; 250], &mut out);
        assert_eq!(out.len(), 204);
        assert!(out.ends_with(b"...\n"));
        let st = status_text(b"hi");
        assert_eq!(st.len(), 1001);
        assert_eq!(&st[..3], b"hi\n");
    }

    #[test]
    fn stamps_are_hex() {
        let mut s = Stamper::default();
        let mut out = [0; 26];
        s.stamp(0x4000_0000_6b06_7fed, 0x1841_6384, &mut out);
        assert_eq!(&out, b"@400000006b067fed18416384 ");
        assert_eq!(finished_name(&out, 's'), "@400000006b067fed18416384.s");
    }

    #[test]
    fn human_stamps_in_utc() {
        assert_eq!(&civil(0, b'_'), b"1970-01-01_00:00:00");
        assert_eq!(&civil(1_795_588_560, b'T'), b"2026-11-25T06:36:00");
        assert_eq!(&civil(951_782_400, b'_'), b"2000-02-29_00:00:00");
        let mut s = Stamper::default();
        let mut out = [0; 32];
        let secs = crate::tai64::UNIX_EPOCH_LABEL + 1_795_588_560;
        let n = s.stamp_kind(StampKind::Human, secs, 113_709_999, &mut out);
        assert_eq!(&out[..n], b"2026-11-25_06:36:00.11370 ");
    }

    #[test]
    fn rotation_and_deletion_decisions() {
        assert!(!full_at_line_end(2095, 4096, 2000));
        assert!(full_at_line_end(2096, 4096, 2000));
        assert!(!full_at_line_end(4095, 4096, 0));
        assert!(!full_at_line_end(5, u64::MAX, 0));
        assert_eq!(room(4000, 4096), 96);
        let names = ["@3.s", "current", "@1.s", "@2.u", "lock"].map(String::from).to_vec();
        assert_eq!(to_delete(names.clone(), 2), vec!["@1.s".to_string()]);
        assert_eq!(to_delete(names, 10), Vec::<String>::new());
    }
}
