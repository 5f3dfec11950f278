//! `http://HOST:PORT[/PATH]`: the one server a client talks to.

/// Why a URL is not a usable origin. The messages are bare reasons: callers put them in their
/// own context (which flag, which program).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// A scheme other than `http` (no TLS: Core's RPC server and the node's API speak plain
    /// HTTP).
    #[error("only http:// is supported, not {0}://")]
    UnsupportedScheme(String),
    /// `user:password@` in the URL: credentials go in a header, per request.
    #[error("credentials in the URL")]
    Credentials,
    #[error("unclosed '[' in the host")]
    UnclosedBracket,
    #[error("missing port")]
    MissingPort,
    #[error("missing host")]
    MissingHost,
    #[error("the port is not a number from 1 to 65535")]
    BadPort,
    #[error("the path contains spaces or control characters")]
    BadPath,
}

/// Where requests go: host, port and the default path of requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Host to connect to (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// `HOST:PORT` as written in the URL (brackets kept): the `Host:` header.
    authority: String,
    /// Path of requests that name none (`/` when the URL has none).
    path: String,
}

impl Origin {
    /// Parses `http://HOST:PORT[/PATH]`; the scheme may be left out (`HOST:PORT`). The port is
    /// required: the servers this client talks to have no port 80 convention.
    pub fn parse(url: &str) -> Result<Origin, UrlError> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => return Err(UrlError::UnsupportedScheme(scheme.to_owned())),
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(UrlError::Credentials);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(UrlError::UnclosedBracket)?;
            (host, after.strip_prefix(':').ok_or(UrlError::MissingPort)?)
        } else {
            authority.rsplit_once(':').ok_or(UrlError::MissingPort)?
        };
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or(UrlError::BadPort)?;
        if !is_valid_path(path) {
            return Err(UrlError::BadPath);
        }
        Ok(Origin {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The host to connect to (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `HOST:PORT` as in the URL, the `Host:` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path of requests that name none.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The normalised URL, `http://HOST:PORT/PATH`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

/// A request target this client will write: no spaces or control characters, which would
/// break (or smuggle into) the request line.
pub(crate) fn is_valid_path(path: &str) -> bool {
    !path.is_empty()
        && !path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        let ok = |u: &str| Origin::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        let o = ok("http://127.0.0.1:9332");
        assert_eq!(
            (o.host(), o.port(), o.authority(), o.path()),
            ("127.0.0.1", 9332, "127.0.0.1:9332", "/")
        );
        assert_eq!(o.url(), "http://127.0.0.1:9332/");
        assert_eq!(ok("localhost:8332/").port(), 8332);
        assert_eq!(ok("HTTP://node:1/wallet/w").path(), "/wallet/w");
        let v6 = ok("http://[::1]:18443");
        assert_eq!((v6.host(), v6.authority()), ("::1", "[::1]:18443"));
        for (bad, why) in [
            (
                "https://127.0.0.1:9332",
                UrlError::UnsupportedScheme("https".into()),
            ),
            ("http://127.0.0.1", UrlError::MissingPort),
            ("http://u:p@127.0.0.1:1", UrlError::Credentials),
            ("http://:1", UrlError::MissingHost),
            ("http://h:0", UrlError::BadPort),
            ("http://h:65536", UrlError::BadPort),
            ("http://[::1:5", UrlError::UnclosedBracket),
            ("http://h:1/a b", UrlError::BadPath),
        ] {
            assert_eq!(Origin::parse(bad), Err(why), "{bad}");
        }
    }
}
