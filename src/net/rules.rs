//! ucspi-tcp's access rules: the text form tcprules reads
//! (`1.2.3.:allow,VAR="value"`, `:deny`, `# comment`) and the lookup
//! tcpserver does in the cdb it writes. Pure code.

use super::cdb::{self, Corrupt, Records};

/// A rule line tcprules cannot parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLine;

/// One rule line turned into its cdb records: the keys (several for an
/// address range like `1.2.3.4-6`) and the data they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub keys: Vec<Vec<u8>>,
    pub data: Vec<u8>,
}

/// Parse one input line (without its newline). `Ok(None)` for lines
/// tcprules skips (comments, lines without a colon); `Err(())` for a line
/// it cannot parse.
pub fn parse_line(line: &[u8]) -> Result<Option<Rule>, BadLine> {
    if line.first() == Some(&b'#') {
        return Ok(None);
    }
    let mut len = line.len();
    while len > 0 && matches!(line[len - 1], b'\n' | b' ' | b'\t' | b'\r') {
        len -= 1;
    }
    let line = &line[..len];
    let Some(colon) = line.iter().position(|&b| b == b':') else { return Ok(None) };
    let address = &line[..colon];
    let mut rest = &line[colon + 1..];
    let mut data = Vec::new();
    if let Some(r) = rest.strip_prefix(b"deny") {
        data.extend_from_slice(b"D\0");
        rest = r;
    } else if let Some(r) = rest.strip_prefix(b"allow") {
        rest = r;
    } else {
        return Err(BadLine);
    }
    while let Some(r) = rest.strip_prefix(b",") {
        let eq = r.iter().position(|&b| b == b'=').ok_or(BadLine)?;
        data.push(b'+');
        data.extend_from_slice(&r[..=eq]);
        let after = &r[eq + 1..];
        let (&quote, after) = after.split_first().ok_or(BadLine)?;
        let end = after.iter().position(|&b| b == quote).ok_or(BadLine)?;
        data.extend_from_slice(&after[..end]);
        data.push(0);
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        return Err(BadLine);
    }
    Ok(Some(Rule { keys: expand_range(address), data }))
}

/// `1.2.3.4-6` stands for `1.2.3.4`, `1.2.3.5` and `1.2.3.6`: a range in
/// the last dotted component.
fn expand_range(address: &[u8]) -> Vec<Vec<u8>> {
    let start = address.iter().rposition(|&b| b == b'.').map_or(0, |p| p + 1);
    let last = &address[start..];
    if address.first() != Some(&b'=')
        && let Some(dash) = last.iter().position(|&b| b == b'-')
        && let (Some(lo), Some(hi)) = (number(&last[..dash]), number(&last[dash + 1..]))
        && lo <= hi
    {
        return (lo..=hi)
            .map(|n| {
                let mut key = address[..start].to_vec();
                key.extend_from_slice(n.to_string().as_bytes());
                key
            })
            .collect();
    }
    vec![address.to_vec()]
}

fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Turn rule text into cdb records, in order; `Err(line)` names the first
/// line that does not parse.
pub fn compile(text: &[u8]) -> Result<Records, Vec<u8>> {
    let mut records = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        match parse_line(line) {
            Ok(Some(rule)) => {
                for key in rule.keys {
                    records.push((key, rule.data.clone()));
                }
            }
            Ok(None) => {}
            Err(BadLine) => {
                let mut shown = line.to_vec();
                while matches!(shown.last(), Some(b' ' | b'\t' | b'\r')) {
                    shown.pop();
                }
                return Err(shown);
            }
        }
    }
    Ok(records)
}

/// What the rules say about a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The key of the rule that matched (None: no rule, allowed).
    pub key: Option<Vec<u8>>,
    pub deny: bool,
    /// Environment variables to set, in order.
    pub env: Vec<(String, String)>,
}

/// The keys tried for a connection, in tcpserver's order: `info@ip`,
/// `info@=host`, `ip`, `=host`, the IP's prefixes ending in `.` (or `:`
/// for IPv6), `=.domain` suffixes of the host, `=`, then the empty key.
pub fn candidate_keys(ip: &str, host: Option<&str>, info: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(info) = info {
        keys.push(format!("{info}@{ip}"));
        if let Some(host) = host {
            keys.push(format!("{info}@={host}"));
        }
    }
    keys.push(ip.to_string());
    if let Some(host) = host {
        keys.push(format!("={host}"));
    }
    let bytes = ip.as_bytes();
    for len in (1..bytes.len()).rev() {
        if matches!(bytes[len - 1], b'.' | b':') {
            keys.push(ip[..len].to_string());
        }
    }
    if let Some(host) = host {
        for (i, c) in host.char_indices() {
            if c == '.' {
                keys.push(format!("={}", &host[i..]));
            }
        }
        keys.push("=".to_string());
    }
    keys.push(String::new());
    keys
}

/// Look a connection up in a rules cdb. `Err` if the cdb is corrupt.
pub fn lookup(
    db: &[u8],
    ip: &str,
    host: Option<&str>,
    info: Option<&str>,
) -> Result<Verdict, Corrupt> {
    for key in candidate_keys(ip, host, info) {
        if let Some(data) = cdb::find(db, key.as_bytes())? {
            let mut verdict = decode(data);
            verdict.key = Some(key.into_bytes());
            return Ok(verdict);
        }
    }
    Ok(Verdict::default())
}

/// The data of a rule: `D\0` for deny, `+VAR=value\0` for variables.
pub fn decode(data: &[u8]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut rest = data;
    while let Some(nul) = rest.iter().position(|&b| b == 0) {
        let entry = &rest[..nul];
        match entry.first() {
            Some(b'D') => verdict.deny = true,
            Some(b'+') => {
                let text = String::from_utf8_lossy(&entry[1..]);
                if let Some((name, value)) = text.split_once('=') {
                    verdict.env.push((name.to_string(), value.to_string()));
                }
            }
            _ => {}
        }
        rest = &rest[nul + 1..];
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let rule = parse_line(b"1.2.3.:allow,A=\"x y\",B=/z/").unwrap().unwrap();
        assert_eq!(rule.keys, vec![b"1.2.3.".to_vec()]);
        assert_eq!(rule.data, b"+A=x y\0+B=z\0");
        let deny = parse_line(b":deny\n").unwrap().unwrap();
        assert_eq!(deny.keys, vec![Vec::<u8>::new()]);
        assert_eq!(deny.data, b"D\0");
        assert_eq!(parse_line(b"# comment:deny"), Ok(None));
        assert_eq!(parse_line(b"no colon"), Ok(None));
        assert_eq!(parse_line(b""), Ok(None));
        for bad in [&b"x:foo"[..], b"x:allow,A", b"x:allow,A=\"x", b"x:allow junk", b" 1:  allow"] {
            assert_eq!(parse_line(bad), Err(BadLine), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ranges() {
        let rule = parse_line(b"1.2.3.4-6:allow").unwrap().unwrap();
        assert_eq!(rule.keys, vec![b"1.2.3.4".to_vec(), b"1.2.3.5".to_vec(), b"1.2.3.6".to_vec()]);
        let host = parse_line(b"=a-b.example:deny").unwrap().unwrap();
        assert_eq!(host.keys, vec![b"=a-b.example".to_vec()]);
    }

    #[test]
    fn key_order() {
        assert_eq!(
            candidate_keys("1.2.3.4", None, None),
            vec!["1.2.3.4", "1.2.3.", "1.2.", "1.", ""]
        );
        assert_eq!(
            candidate_keys("10.0.0.1", Some("a.b.c"), Some("joe")),
            vec![
                "joe@10.0.0.1",
                "joe@=a.b.c",
                "10.0.0.1",
                "=a.b.c",
                "10.0.0.",
                "10.0.",
                "10.",
                "=.b.c",
                "=.c",
                "=",
                ""
            ]
        );
        assert_eq!(candidate_keys("::1", None, None), vec!["::1", "::", ":", ""]);
    }

    #[test]
    fn compile_and_look_up() {
        let text = b"1.2.3.:allow,A=\"x\"\n# c\n9.9.9.9:deny\n:deny\n";
        let db = cdb::build(&compile(text).unwrap()).unwrap();
        let v = lookup(&db, "1.2.3.4", None, None).unwrap();
        assert_eq!(v.key.as_deref(), Some(&b"1.2.3."[..]));
        assert!(!v.deny);
        assert_eq!(v.env, vec![("A".to_string(), "x".to_string())]);
        assert!(lookup(&db, "9.9.9.9", None, None).unwrap().deny);
        let other = lookup(&db, "5.5.5.5", None, None).unwrap();
        assert!(other.deny);
        assert_eq!(other.key.as_deref(), Some(&b""[..]));
        assert_eq!(compile(b"ok:allow\nbad:x  \n"), Err(b"bad:x".to_vec()));
        let empty = cdb::build(&[]).unwrap();
        assert_eq!(lookup(&empty, "1.2.3.4", None, None).unwrap(), Verdict::default());
    }
}
