//! ucspi-tcp access rules: the text format `tcprules` compiles into a cdb,
//! and the lookup order `tcpserver -x` follows.
//!
//! A rule line is `ADDRESS:allow,VAR="value",...` or `ADDRESS:deny`.
//! ADDRESS is an IP address, a prefix ending in `.`, a range (`1.2.3.4-7`),
//! `=host.name`, `=.domain`, `=` (any known host name), `user@ADDRESS`,
//! or empty (everyone). The value after `=` may be quoted by any
//! character. The cdb key is the address; the data is `D\0` for deny
//! (nothing for allow) followed by `+VAR=value\0` for each variable, as
//! ucspi-tcp's tcprules writes it. When several lines share an address,
//! the first one wins. As an extension, an IPv6 address may stand before
//! the colon that starts the instruction (`::1:allow`).

use crate::decimal::scan_ulong;

/// One compiled rule: the cdb key and data.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Compile the text of a rules file into cdb entries, in file order.
/// Empty lines, comments (`#` first) and lines without a colon are
/// skipped; any other line that does not parse is returned as the error.
pub fn compile(text: &[u8]) -> Result<Vec<Entry>, Vec<u8>> {
    let mut entries = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut line = line;
        while let Some((&last, rest)) = line.split_last() {
            if last != b' ' && last != b'\t' && last != b'\r' {
                break;
            }
            line = rest;
        }
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let colon = find_instruction(line).unwrap_or(colon);
        let (address, rest) = (&line[..colon], &line[colon + 1..]);
        let data = parse_instruction(rest).ok_or_else(|| line.to_vec())?;
        for key in expand(address).ok_or_else(|| line.to_vec())? {
            entries.push((key, data.clone()));
        }
    }
    Ok(entries)
}

/// `deny` or `allow`, then `,VAR=<q>value<q>` items: the cdb data.
fn parse_instruction(rest: &[u8]) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut rest = if let Some(r) = rest.strip_prefix(b"deny") {
        data.extend_from_slice(b"D\0");
        r
    } else {
        rest.strip_prefix(b"allow")?
    };
    while !rest.is_empty() {
        rest = rest.strip_prefix(b",")?;
        let eq = rest.iter().position(|&b| b == b'=')?;
        data.push(b'+');
        data.extend_from_slice(&rest[..=eq]);
        let (&delimiter, r) = rest[eq + 1..].split_first()?;
        let end = r.iter().position(|&b| b == delimiter)?;
        data.extend_from_slice(&r[..end]);
        data.push(0);
        rest = &r[end + 1..];
    }
    Some(data)
}

/// The position of the colon that starts `allow` or `deny` (for IPv6
/// addresses, which hold colons themselves).
fn find_instruction(line: &[u8]) -> Option<usize> {
    (0..line.len()).find(|&i| {
        let rest = &line[i + 1..];
        line[i] == b':'
            && ["allow", "deny"].iter().any(|word| {
                rest.strip_prefix(word.as_bytes()).is_some_and(|r| r.is_empty() || r[0] == b',')
            })
    })
}

/// The keys an address stands for: a range `X-Y` in an IP address
/// becomes one key per number (`1.2.3.4-6`, or `1.2-3.4`). Host names
/// (`=...`) are taken as they are. `None` if the range does not parse.
fn expand(address: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = address.iter().position(|&b| b == b'@').map_or(0, |i| i + 1);
    let (user, ip) = address.split_at(at);
    if ip.first() == Some(&b'=') {
        return Some(vec![address.to_vec()]);
    }
    let Some(dash) = ip.iter().position(|&b| b == b'-') else {
        return Some(vec![address.to_vec()]);
    };
    let start = ip[..dash].iter().rposition(|&b| b == b'.').map_or(0, |i| i + 1);
    let low = digits_value(&ip[start..dash])?;
    let after = &ip[dash + 1..];
    let (high, len) = scan_ulong(after);
    if len > 9 {
        return None;
    }
    let suffix = &after[len..];
    if !suffix.is_empty() && suffix[0] != b'.' {
        return None;
    }
    let prefix = [user, &ip[..start]].concat();
    Some(
        (low..=high)
            .map(|n| [prefix.as_slice(), n.to_string().as_bytes(), suffix].concat())
            .collect(),
    )
}

/// The value of a run of at most 9 digits; empty is 0.
fn digits_value(digits: &[u8]) -> Option<u64> {
    match scan_ulong(digits) {
        (value, len) if len == digits.len() && len <= 9 => Some(value),
        _ => None,
    }
}

/// What the rules say about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, with these variables to set (`VAR=value`).
    Allow(Vec<(String, String)>),
    Deny,
}

/// Decode a rule's data: `D` items deny, `+VAR=value` items set
/// variables; a rule without `D` allows.
pub fn decode(data: &[u8]) -> Verdict {
    let mut vars = Vec::new();
    for item in data.split(|&b| b == 0) {
        if item == b"D" {
            return Verdict::Deny;
        }
        let Some(item) = item.strip_prefix(b"+") else { continue };
        let item = String::from_utf8_lossy(item);
        if let Some((name, value)) = item.split_once('=') {
            vars.push((name.to_owned(), value.to_owned()));
        }
    }
    Verdict::Allow(vars)
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
        if let Some(data) = find(key.as_bytes()) {
            return decode(&data);
        }
    }
    Verdict::Allow(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_with_variables_and_deny() {
        let entries =
            compile(b"1.2.3.:allow,RELAYCLIENT=\"\",NAME='x y'\n:deny,X=/1/\n#c:deny\n\nnocolon\n")
                .unwrap();
        assert_eq!(
            entries,
            vec![
                (b"1.2.3.".to_vec(), b"+RELAYCLIENT=\0+NAME=x y\0".to_vec()),
                (b"".to_vec(), b"D\0+X=1\0".to_vec()),
            ]
        );
    }

    #[test]
    fn bad_lines_are_errors() {
        for line in [
            "1.1.1.1:allow ,Y=\"2\"",
            "2.2.2.2:allow,Z",
            "4.4.4.4:allow # c",
            "5:Allow",
            "6:allow,Q=\"x",
            "ab-3:deny",
            "1.2.3.1-3-5:deny",
        ] {
            assert_eq!(compile(line.as_bytes()), Err(line.as_bytes().to_vec()), "{line}");
        }
    }

    #[test]
    fn ranges_expand() {
        let keys = |text: &[u8]| -> Vec<Vec<u8>> {
            compile(text).unwrap().into_iter().map(|e| e.0).collect()
        };
        assert_eq!(
            keys(b"10.0.0.4-6:allow\n"),
            vec![b"10.0.0.4".to_vec(), b"10.0.0.5".to_vec(), b"10.0.0.6".to_vec()]
        );
        assert_eq!(keys(b"9.9.9.1-2.3:deny"), vec![b"9.9.9.1.3".to_vec(), b"9.9.9.2.3".to_vec()]);
        assert_eq!(keys(b"1.5-3.0:deny"), Vec::<Vec<u8>>::new());
        assert_eq!(keys(b"=my-host.com:allow"), vec![b"=my-host.com".to_vec()]);
        assert_eq!(keys(b"jo-e@1.2.3.4:allow"), vec![b"jo-e@1.2.3.4".to_vec()]);
    }

    #[test]
    fn ipv6_addresses_keep_their_colons() {
        assert_eq!(
            compile(b"::1:allow,X=\"y\"\n").unwrap(),
            vec![(b"::1".to_vec(), b"+X=y\0".to_vec())]
        );
    }

    #[test]
    fn lookup_order() {
        assert_eq!(
            keys("1.2.3.4", Some("a.b.c"), Some("joe")),
            vec![
                "joe@1.2.3.4",
                "joe@=a.b.c",
                "1.2.3.4",
                "=a.b.c",
                "1.2.3.",
                "1.2.",
                "1.",
                "=.b.c",
                "=.c",
                "=",
                ""
            ]
        );
        assert_eq!(keys("1.2.3.4", None, None), vec!["1.2.3.4", "1.2.3.", "1.2.", "1.", ""]);
    }

    #[test]
    fn first_matching_rule_decides() {
        let entries = compile(b"127.:allow,WHO=\"local\"\n:deny\n").unwrap();
        let find = |key: &[u8]| entries.iter().find(|e| e.0 == key).map(|e| e.1.clone());
        assert_eq!(
            check(find, "127.0.0.1", None, None),
            Verdict::Allow(vec![("WHO".into(), "local".into())])
        );
        assert_eq!(check(find, "10.0.0.1", None, None), Verdict::Deny);
        assert_eq!(check(|_| None, "10.0.0.1", None, None), Verdict::Allow(vec![]));
    }
}
