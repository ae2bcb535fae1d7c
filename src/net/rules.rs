//! ucspi-tcp access rules: the text format `tcprules` compiles into a cdb,
//! and the lookup order `tcpserver -x` follows.
//!
//! A rule line is `ADDRESS:allow,VAR="value",...` or `ADDRESS:deny`.
//! ADDRESS is an IP address, a prefix ending in `.` (IPv4) or `:` (IPv6),
//! a range in the last number (`1.2.3.4-7`), `=host.name`, `=.domain`,
//! `=` (any known host name), `user@ADDRESS`, or empty (everyone). The
//! value after `=` may be quoted by any character. The cdb key is the
//! address; the data is `A` or `D` followed by `+VAR=value\0` for each
//! variable. When several lines share an address, the first one wins.

/// One compiled rule: the cdb key and data.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Compile the text of a rules file into cdb entries, in file order.
/// Lines without a colon, or whose instruction is neither `allow` nor
/// `deny`, are ignored, as by ucspi-tcp's tcprules.
pub fn compile(text: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut line = line;
        while let Some((&last, rest)) = line.split_last() {
            if last != b' ' && last != b'\t' && last != b'\r' {
                break;
            }
            line = rest;
        }
        if line.first() == Some(&b'#') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        // An IPv6 address holds colons too: the rule's colon is the one
        // before `allow` or `deny`.
        let colon = find_instruction(line).unwrap_or(colon);
        let (address, mut rest) = (&line[..colon], &line[colon + 1..]);
        let mut data = Vec::new();
        if let Some(r) = rest.strip_prefix(b"deny") {
            data.push(b'D');
            rest = r;
        } else if let Some(r) = rest.strip_prefix(b"allow") {
            data.push(b'A');
            rest = r;
        } else {
            continue;
        }
        while let Some(&c) = rest.first() {
            if c != b',' {
                rest = &rest[1..];
                continue;
            }
            let Some(eq) = rest.iter().position(|&b| b == b'=') else { break };
            data.push(b'+');
            data.extend_from_slice(&rest[1..=eq]);
            rest = &rest[eq + 1..];
            let Some((&delimiter, r)) = rest.split_first() else {
                data.push(0);
                break;
            };
            let end = r.iter().position(|&b| b == delimiter).unwrap_or(r.len());
            data.extend_from_slice(&r[..end]);
            data.push(0);
            rest = if end < r.len() { &r[end + 1..] } else { &r[end..] };
        }
        for key in expand(address) {
            entries.push((key, data.clone()));
        }
    }
    entries
}

/// The position of the colon that starts `allow` or `deny`.
fn find_instruction(line: &[u8]) -> Option<usize> {
    (0..line.len()).find(|&i| {
        line[i] == b':' && (line[i + 1..].starts_with(b"allow") || line[i + 1..].starts_with(b"deny"))
    })
}

/// The keys an address stands for: a range `a.b.c.X-Y` in the last
/// number becomes one key per number.
fn expand(address: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(address);
    if let Some(dash) = text.rfind('-') {
        let start = text[..dash].rfind('.').map_or(0, |i| i + 1);
        let (prefix, low, high) = (&text[..start], &text[start..dash], &text[dash + 1..]);
        if let (Ok(low), Ok(high)) = (low.parse::<u32>(), high.parse::<u32>())
            && !text.starts_with('=')
            && low <= high
            && high - low < 65536
        {
            return (low..=high).map(|n| format!("{prefix}{n}").into_bytes()).collect();
        }
    }
    vec![address.to_vec()]
}

/// What the rules say about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, with these variables to set (`VAR=value`).
    Allow(Vec<(String, String)>),
    Deny,
}

/// Decode a rule's data.
pub fn decode(data: &[u8]) -> Option<Verdict> {
    match data.first()? {
        b'D' => Some(Verdict::Deny),
        b'A' => {
            let mut vars = Vec::new();
            for item in data[1..].split(|&b| b == 0) {
                let Some(item) = item.strip_prefix(b"+") else { continue };
                let item = String::from_utf8_lossy(item);
                if let Some((name, value)) = item.split_once('=') {
                    vars.push((name.to_owned(), value.to_owned()));
                }
            }
            Some(Verdict::Allow(vars))
        }
        _ => None,
    }
}

/// The keys tcpserver tries, in order, for a connection from `ip` (host
/// name `host` if known, remote user `info` if known): `info@ip`,
/// `info@=host`, `ip`, `=host`, the prefixes of `ip` ending in `.` or `:`
/// (longest first), `=.domain` suffixes of the host, `=`, and the empty
/// key.
pub fn keys(ip: &str, host: Option<&str>, info: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(info) = info {
        keys.push(format!("{info}@{ip}"));
        if let Some(host) = host {
            keys.push(format!("{info}@={host}"));
        }
    }
    keys.push(ip.to_owned());
    if let Some(host) = host {
        keys.push(format!("={host}"));
    }
    for (i, c) in ip.char_indices().rev() {
        if c == '.' || c == ':' {
            keys.push(ip[..=i].to_owned());
        }
    }
    if let Some(host) = host {
        for (i, c) in host.char_indices() {
            if c == '.' {
                keys.push(format!("={}", &host[i..]));
            }
        }
        keys.push("=".to_owned());
    }
    keys.push(String::new());
    keys
}

/// Look a connection up with `find` (a cdb lookup): the first key that
/// has a rule decides. No rule at all means allowed.
pub fn check(
    find: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ip: &str,
    host: Option<&str>,
    info: Option<&str>,
) -> Verdict {
    for key in keys(ip, host, info) {
        if let Some(verdict) = find(key.as_bytes()).and_then(|data| decode(&data)) {
            return verdict;
        }
    }
    Verdict::Allow(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_with_variables_and_deny() {
        let entries = compile(b"1.2.3.:allow,RELAYCLIENT=\"\",NAME='x y'\n:deny\n# c\nbad line\n");
        assert_eq!(
            entries,
            vec![
                (b"1.2.3.".to_vec(), b"A+RELAYCLIENT=\0+NAME=x y\0".to_vec()),
                (b"".to_vec(), b"D".to_vec()),
            ]
        );
    }

    #[test]
    fn ranges_expand() {
        let keys: Vec<Vec<u8>> = compile(b"10.0.0.4-6:allow\n").into_iter().map(|e| e.0).collect();
        assert_eq!(keys, vec![b"10.0.0.4".to_vec(), b"10.0.0.5".to_vec(), b"10.0.0.6".to_vec()]);
    }

    #[test]
    fn ipv6_addresses_keep_their_colons() {
        let entries = compile(b"::1:allow,X=\"y\"\n");
        assert_eq!(entries, vec![(b"::1".to_vec(), b"A+X=y\0".to_vec())]);
    }

    #[test]
    fn lookup_order() {
        assert_eq!(
            keys("1.2.3.4", Some("a.b.c"), Some("joe")),
            vec!["joe@1.2.3.4", "joe@=a.b.c", "1.2.3.4", "=a.b.c", "1.2.3.", "1.2.", "1.", "=.b.c", "=.c", "=", ""]
        );
        assert_eq!(keys("1.2.3.4", None, None), vec!["1.2.3.4", "1.2.3.", "1.2.", "1.", ""]);
    }

    #[test]
    fn first_matching_rule_decides() {
        let entries = compile(b"127.:allow,WHO=\"local\"\n:deny\n");
        let find = |key: &[u8]| entries.iter().find(|e| e.0 == key).map(|e| e.1.clone());
        assert_eq!(
            check(find, "127.0.0.1", None, None),
            Verdict::Allow(vec![("WHO".into(), "local".into())])
        );
        assert_eq!(check(find, "10.0.0.1", None, None), Verdict::Deny);
        assert_eq!(check(|_| None, "10.0.0.1", None, None), Verdict::Allow(vec![]));
    }
}
