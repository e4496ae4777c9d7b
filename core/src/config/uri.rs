//! libpq's URI syntax: `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`.

use super::Config;
use crate::error::ConfigError;

fn percent_decode(s: &str, offset: usize) -> Result<String, ConfigError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (hi, lo) = match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => (h, l),
                _ => {
                    let end = (i + 3).min(b.len());
                    return Err(ConfigError::InvalidPercentEncoding {
                        pos: offset + i,
                        token: String::from_utf8_lossy(&b[i..end]).into_owned(),
                    });
                }
            };
            let byte = (hi * 16 + lo) as u8;
            if byte == 0 {
                return Err(ConfigError::PercentEncodedNul(offset + i));
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ConfigError::InvalidPercentEncoding { pos: offset, token: s.to_owned() })
}

pub(super) fn parse_uri(s: &str, c: &mut Config) -> Result<(), ConfigError> {
    let prefix_len = if s.starts_with("postgresql://") { "postgresql://".len() } else { "postgres://".len() };
    let rest = &s[prefix_len..];
    let mut pos = prefix_len;

    // Userinfo only if an '@' comes before the first '/'.
    let path_start = rest.find('/').unwrap_or(rest.len());
    let query_start = rest.find('?').unwrap_or(rest.len());
    let authority_end = path_start.min(query_start);
    let mut authority = &rest[..authority_end];
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        let (user, password) = match userinfo.find(':') {
            Some(colon) => (&userinfo[..colon], Some(&userinfo[colon + 1..])),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            c.set("user", percent_decode(user, pos)?)?;
        }
        if let Some(p) = password {
            if !p.is_empty() {
                c.set("password", percent_decode(p, pos + user.len() + 1)?)?;
            }
        }
        authority = &authority[at + 1..];
        pos += at + 1;
    }

    // Host list: host[:port] separated by commas; IPv6 in brackets.
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    let a = authority.as_bytes();
    let mut i = 0;
    loop {
        let (host, after) = if a.get(i) == Some(&b'[') {
            let close = authority[i..]
                .find(']')
                .ok_or(ConfigError::InvalidUri { pos: pos + i, what: "missing \"]\" in IPv6 host address" })?
                + i;
            if close == i + 1 {
                return Err(ConfigError::InvalidUri { pos: pos + i, what: "IPv6 host address may not be empty" });
            }
            let h = &authority[i + 1..close];
            let after = close + 1;
            if after < a.len() && a[after] != b':' && a[after] != b',' {
                return Err(ConfigError::InvalidUri {
                    pos: pos + after,
                    what: "unexpected character after IPv6 host address",
                });
            }
            // Percent-decoded like any host (libpq does).
            (percent_decode(h, pos + i + 1)?, after)
        } else {
            let end = authority[i..].find([':', ',']).map(|e| e + i).unwrap_or(a.len());
            (percent_decode(&authority[i..end], pos + i)?, end)
        };
        let mut j = after;
        let mut port = String::new();
        if a.get(j) == Some(&b':') {
            let end = authority[j + 1..].find(',').map(|e| e + j + 1).unwrap_or(a.len());
            port = percent_decode(&authority[j + 1..end], pos + j + 1)?;
            j = end;
        }
        hosts.push(host);
        ports.push(port);
        if a.get(j) == Some(&b',') {
            i = j + 1;
            continue;
        }
        break;
    }
    if hosts.iter().any(|h| !h.is_empty()) || hosts.len() > 1 {
        c.set("host", hosts.join(","))?;
    }
    // As libpq: a host list gets a port list (empty entries: the default port) whether or not
    // any port was given; a single host only a port that is not empty.
    if hosts.len() > 1 || ports.iter().any(|p| !p.is_empty()) {
        c.set("port", ports.join(","))?;
    }
    pos = prefix_len + authority_end;

    let tail = &rest[authority_end..];
    let (path, query) = match tail.find('?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    if let Some(db) = path.strip_prefix('/') {
        if !db.is_empty() {
            c.set("dbname", percent_decode(db, pos + 1)?)?;
        }
    }
    pos += path.len() + 1;
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some(eq) = pair.find('=') else {
                return Err(ConfigError::UriMissingSeparator(pair.to_owned()));
            };
            if pair[eq + 1..].contains('=') {
                return Err(ConfigError::UriExtraSeparator(pair.to_owned()));
            }
            let key = percent_decode(&pair[..eq], pos)?;
            let value = percent_decode(&pair[eq + 1..], pos + eq + 1)?;
            pos += pair.len() + 1;
            if key == "ssl" && value == "true" {
                c.set("sslmode", "require")?;
                continue;
            }
            if super::keyword(&key).is_none() && key != "requiressl" {
                return Err(ConfigError::UnknownUriParameter(key));
            }
            c.set(&key, value)?;
        }
    }
    Ok(())
}
