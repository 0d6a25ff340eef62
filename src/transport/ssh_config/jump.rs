//! One `ProxyJump` / `-J` item: `[user@]host[:port]` or `ssh://[user@]host[:port]`, with IPv6
//! addresses in brackets.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

pub fn parse_hop(text: &str) -> Result<Hop, String> {
    let text = text.trim();
    let body = text.strip_prefix("ssh://").unwrap_or(text);
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Err("empty hop".into());
    }
    let (user, rest) = match body.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
        Some(_) => return Err(format!("`{body}` has an empty user name")),
        None => (None, body),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{rest}`: unclosed `[`"))?;
        match after {
            "" => (host.to_string(), None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host.to_string(), Some(port)),
                None => return Err(format!("`{rest}`: junk after `]`")),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host.to_string(), Some(port)),
            // A bare IPv6 address without brackets has no port.
            Some(_) => (rest.to_string(), None),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    if host.contains(char::is_whitespace) {
        return Err(format!("`{host}` contains a space"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err(format!("`{p}` is not a port number")),
        },
    };
    Ok(Hop { user, host, port })
}

/// A comma-separated chain, or `None` for `none`.
pub fn parse_chain(text: &str) -> Result<Option<Vec<Hop>>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    text.split(',')
        .map(parse_hop)
        .collect::<Result<_, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops() {
        assert_eq!(
            parse_hop("ops@bastion.example.com:2222"),
            Ok(Hop {
                user: Some("ops".into()),
                host: "bastion.example.com".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            parse_hop("ssh://[::1]:22"),
            Ok(Hop {
                user: None,
                host: "::1".into(),
                port: Some(22)
            })
        );
        assert_eq!(parse_hop("jump").map(|h| h.to_string()), Ok("jump".into()));
        assert!(parse_hop("a:notaport").is_err());
        assert!(parse_hop("@host").is_err());
        assert!(parse_hop("").is_err());
        assert_eq!(parse_chain("none"), Ok(None));
        assert_eq!(
            parse_chain("a,b:2").map(|c| c.map(|c| c.len())),
            Ok(Some(2))
        );
    }
}
