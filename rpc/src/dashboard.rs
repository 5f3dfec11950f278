//! The dashboard: a read-only web page served from the API port (`GET /`), so miners see their
//! node's hashrate, payouts and shares without a third-party observer site.
//!
//! Its files are built into the binary (`include_bytes!`): nothing to install beside the node,
//! no Node toolchain to build it (hand-written JavaScript, plus uPlot vendored as its published
//! build, `rpc/dashboard/vendor/`), and no file on disk an attacker could swap. The page reads
//! the API like any client (the unprivileged JSON-RPC methods on `POST /`, `/events`): it holds
//! no cookie, so it can change nothing.
//!
//! Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline
//! script or style, no framing), `nosniff`, and an ETag: a browser revalidates each load
//! (`Cache-Control: no-cache`) and gets `304 Not Modified` for files it already holds, so a new
//! node version never shows a stale page and a reload costs a few hundred bytes.

use std::sync::OnceLock;

/// The policy of every dashboard answer: only this origin's files; no inline script or style
/// (the page has none), no plugins, no framing (clickjacking), no forms, no `<base>` rewriting.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; \
     form-action 'none'; base-uri 'none'";

/// One embedded file.
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every file of the dashboard, at the paths the page links them from.
pub const ASSETS: [Asset; 6] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../dashboard/index.html"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dashboard/app.js"),
    },
    Asset {
        path: "/assets/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../dashboard/style.css"),
    },
    Asset {
        path: "/assets/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dashboard/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/assets/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../dashboard/vendor/uPlot.min.css"),
    },
    Asset {
        path: "/assets/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../dashboard/favicon.svg"),
    },
];

/// The asset served at `path` (a query string is ignored; `/index.html` is `/`).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether `GET path` is a dashboard file (the server's route check).
pub fn is_asset(path: &str) -> bool {
    find(path).is_some()
}

/// A strong ETag: FNV-1a of the bytes, computed once per file. The files cannot change while
/// the binary runs, so a tag computed at first use holds for the process's life.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in a.body {
                    h ^= u64::from(*b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                format!("\"{h:016x}\"")
            })
            .collect()
    });
    tags.get(index).map_or("\"\"", String::as_str)
}

/// The whole HTTP answer to `GET path` (`None` when it is no dashboard file): `304` when the
/// client's `If-None-Match` names the current version, else the file.
pub fn response(path: &str, if_none_match: Option<&str>) -> Option<Vec<u8>> {
    let asset = find(path)?;
    let index = ASSETS.iter().position(|a| a.path == asset.path)?;
    let tag = etag(index);
    let fresh = if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let (status, body): (&str, &[u8]) = if fresh {
        ("304 Not Modified", b"")
    } else {
        ("200 OK", asset.body)
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nETag: {tag}\r\n\
         Cache-Control: no-cache\r\nContent-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n\
         X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
         X-Frame-Options: DENY\r\nConnection: close\r\n\r\n",
        asset.content_type,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn every_file_is_served_with_its_type_policy_and_tag() {
        for a in &ASSETS {
            let r = text(&response(a.path, None).unwrap());
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{}", a.path);
            assert!(r.contains(&format!("Content-Type: {}\r\n", a.content_type)));
            assert!(r.contains(&format!("Content-Length: {}\r\n", a.body.len())));
            assert!(r.contains("Content-Security-Policy: default-src 'self';"));
            assert!(r.contains("X-Content-Type-Options: nosniff\r\n"));
            assert!(!a.body.is_empty());
        }
        assert!(find("/index.html?x=1").is_some_and(|a| a.path == "/"));
        assert!(find("/assets/../../etc/passwd").is_none());
        assert!(find("/metrics").is_none() && !is_asset("/events"));
    }

    #[test]
    fn a_known_etag_gets_304_and_another_gets_the_file() {
        let r = text(&response("/assets/app.js", None).unwrap());
        let tag = r
            .lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_string();
        let again = text(&response("/assets/app.js", Some(&format!("\"x\", {tag}"))).unwrap());
        assert!(
            again.starts_with("HTTP/1.1 304 Not Modified\r\n"),
            "{again}"
        );
        assert!(again.ends_with("\r\n\r\n") && again.contains("Content-Length: 0\r\n"));
        let other = text(&response("/assets/app.js", Some("\"0\"")).unwrap());
        assert!(other.starts_with("HTTP/1.1 200 OK\r\n"));
    }

    /// The policy forbids inline code; the page must need none, or it would break silently.
    #[test]
    fn the_page_has_no_inline_script_style_or_handler_and_no_external_url() {
        let html = text(find("/").unwrap().body);
        for tag in html.split("<script").skip(1) {
            let head = tag.split('>').next().unwrap_or("");
            assert!(
                head.contains("src=\"/assets/"),
                "inline script: <script{head}>"
            );
            assert!(
                tag.starts_with(&format!("{head}></script>")),
                "inline script body"
            );
        }
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains("style=\""), "inline style attribute");
        let lower = html.to_ascii_lowercase();
        for handler in [" onclick=", " onload=", " onerror=", "javascript:"] {
            assert!(!lower.contains(handler), "inline handler {handler}");
        }
        for a in &ASSETS {
            let body = text(a.body);
            for scheme in ["http://", "https://", "//cdn", "fonts.googleapis"] {
                let own = body.matches(scheme).count();
                // uPlot's build and the SVG name their licence and XML namespace only.
                let allowed = body.matches("http://www.w3.org/2000/svg").count()
                    + body.matches("https://github.com/leeoniya/uPlot").count();
                assert!(
                    own <= allowed,
                    "{} refers to an external URL ({scheme})",
                    a.path
                );
            }
        }
        // Everything the page links is served.
        for link in html.split("=\"/assets/").skip(1) {
            let path = format!("/assets/{}", link.split('"').next().unwrap_or(""));
            assert!(is_asset(&path), "{path} is linked but not served");
        }
    }
}
