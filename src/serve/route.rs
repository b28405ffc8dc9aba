//! What an HTTP request path asks for, in the GOPROXY protocol: checked before
//! anything is looked up, so a malformed or hostile path is refused here (400) and
//! never reaches the store.
//!
//! cmd/go sends `<escaped path>/@v/list`, `<escaped path>/@v/<escaped version>.info`,
//! `.mod`, `.zip` and `<escaped path>/@latest`, escaping upper case as `!` + lower
//! case (see `gomod::path`). Percent-escapes are decoded first (a cache in front may
//! have added them), and the decoded path must then be what `escape` produces.

/// Longest request path accepted. Module paths have no fixed limit in cmd/go, but
/// a file system names each element in 255 bytes; real paths stay far below this.
pub(crate) const MAX_PATH: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ext {
    Info,
    Mod,
    Zip,
}

impl Ext {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ext::Info => "info",
            Ext::Mod => "mod",
            Ext::Zip => "zip",
        }
    }
}

/// A well-formed request. Paths and versions are kept both escaped (as the store's
/// namespace names them) and unescaped (as modules are named in logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/metrics`: the server's counters.
    Metrics,
    /// `<path>/@v/list`.
    List { esc_path: String, path: String },
    /// `<path>/@latest`.
    Latest { esc_path: String, path: String },
    /// `<path>/@v/<version>.<ext>`. `version` is canonical; a non-canonical one
    /// (a branch name, `v1.2`) is `NotFound`, since cmd/go asks proxies to resolve
    /// such queries and moves on to the next proxy only on 404 or 410.
    File { esc_path: String, path: String, esc_version: String, version: String, ext: Ext },
    /// `sumdb/<db>/<rel>`: a checksum database proxied from the store (`supported`,
    /// `latest`, `lookup/<esc path>@<esc v>`, `tile/...`).
    Sumdb { db: String, rel: String },
}

/// Why a request path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: not a path cmd/go could have sent (bad escaping, `..`, NUL, upper case...).
    Malformed(String),
    /// 414: longer than `MAX_PATH`.
    TooLong,
    /// 404: well-formed, but nothing the protocol serves (`/`, `.ziphash`,
    /// a version that is not canonical).
    NotFound(String),
}

/// Parses the path of a request URI (without its query).
pub fn parse(raw: &str) -> Result<Route, Refusal> {
    if raw.len() > MAX_PATH {
        return Err(Refusal::TooLong);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Refusal::Malformed("the path is not valid UTF-8 once percent-decoded".into()))?;
    let path = decoded.strip_prefix('/').ok_or_else(|| Refusal::Malformed("the path must start with /".into()))?;
    if path == "metrics" {
        return Ok(Route::Metrics);
    }
    if let Some(c) = path.chars().find(|c| c.is_control() || !c.is_ascii()) {
        return Err(Refusal::Malformed(format!("invalid character {c:?} in the path")));
    }
    // Whatever the path asks for: no element may climb or be empty.
    if path.split('/').any(|e| e == "." || e == "..")
        || path.contains("//")
        || path.starts_with('/')
        || path.contains('\\')
    {
        return Err(Refusal::Malformed("the path has an empty, `.` or `..` element or a backslash".into()));
    }
    if let Some(sub) = path.strip_prefix("sumdb/") {
        return match sub.split_once('/') {
            Some((db, rel)) if !db.is_empty() && !rel.is_empty() => {
                Ok(Route::Sumdb { db: db.to_string(), rel: rel.to_string() })
            }
            _ => Err(Refusal::NotFound(format!("not a checksum-database path: /{path}"))),
        };
    }
    let (esc_path, rest) = match (path.split_once("/@v/"), path.strip_suffix("/@latest")) {
        (_, Some(p)) => (p, None),
        (Some((p, rest)), None) => (p, Some(rest)),
        (None, None) => return Err(Refusal::NotFound(format!("not a GOPROXY path: /{path}"))),
    };
    let module = module_path(esc_path)?;
    let Some(file) = rest else {
        return Ok(Route::Latest { esc_path: esc_path.to_string(), path: module });
    };
    if file == "list" {
        return Ok(Route::List { esc_path: esc_path.to_string(), path: module });
    }
    let (esc_version, ext) = match file.rsplit_once('.') {
        Some((v, "info")) => (v, Ext::Info),
        Some((v, "mod")) => (v, Ext::Mod),
        Some((v, "zip")) => (v, Ext::Zip),
        _ => return Err(Refusal::NotFound(format!("not a GOPROXY file: {file}"))),
    };
    let version = version(esc_version)?;
    if !crate::gomod::version::is_canonical_version(&version) {
        return Err(Refusal::NotFound(format!("{module}@{version}: not a canonical version")));
    }
    Ok(Route::File { esc_path: esc_path.to_string(), path: module, esc_version: esc_version.to_string(), version, ext })
}

fn module_path(esc: &str) -> Result<String, Refusal> {
    let path = crate::gomod::path::unescape(esc).ok_or_else(|| {
        Refusal::Malformed(format!("invalid escaped module path {esc:?} (upper case or a misused '!')"))
    })?;
    crate::gomod::path::check_module_path(&path).map_err(Refusal::Malformed)?;
    Ok(path)
}

/// An escaped version: any string `escape` could produce that names one file
/// (no `/`, not `.` or `..`); whether it is canonical is the caller's question.
fn version(esc: &str) -> Result<String, Refusal> {
    let bad = |why: &str| Refusal::Malformed(format!("invalid escaped version {esc:?}: {why}"));
    if esc.is_empty() || esc == "." || esc == ".." || esc.contains('/') || esc.contains('\\') {
        return Err(bad("not a version"));
    }
    crate::gomod::path::unescape(esc).ok_or_else(|| bad("upper case or a misused '!'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str, v: &str, ext: Ext) -> Route {
        Route::File {
            esc_path: crate::gomod::path::escape(p).unwrap(),
            path: p.into(),
            esc_version: crate::gomod::path::escape(v).unwrap(),
            version: v.into(),
            ext,
        }
    }

    #[test]
    fn protocol_paths() {
        assert_eq!(
            parse("/github.com/!burnt!sushi/toml/@v/v1.2.0.zip"),
            Ok(file("github.com/BurntSushi/toml", "v1.2.0", Ext::Zip))
        );
        assert_eq!(parse("/gopkg.in/yaml.v3/@v/v3.0.1.mod"), Ok(file("gopkg.in/yaml.v3", "v3.0.1", Ext::Mod)));
        assert_eq!(
            parse("/example.com/m/@v/v2.0.0+incompatible.info"),
            Ok(file("example.com/m", "v2.0.0+incompatible", Ext::Info))
        );
        assert_eq!(parse("/example.com/m/@v/v1.0.0-!r!c1.info"), Ok(file("example.com/m", "v1.0.0-RC1", Ext::Info)));
        assert_eq!(
            parse("/example.com/m/@v/list"),
            Ok(Route::List { esc_path: "example.com/m".into(), path: "example.com/m".into() })
        );
        assert_eq!(
            parse("/example.com/m/@latest"),
            Ok(Route::Latest { esc_path: "example.com/m".into(), path: "example.com/m".into() })
        );
        // A cache in front may percent-encode: `+` as %2B.
        assert_eq!(
            parse("/example.com/m/@v/v2.0.0%2Bincompatible.zip"),
            Ok(file("example.com/m", "v2.0.0+incompatible", Ext::Zip))
        );
        assert_eq!(parse("/metrics"), Ok(Route::Metrics));
    }

    #[test]
    fn hostile_paths_are_malformed() {
        let long = format!("/{}/@v/list", "a".repeat(MAX_PATH));
        for p in [
            "/../../etc/passwd/@v/list",
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/index.db",
            "/x/./y",
            "//etc/passwd",
            "/example.com/../m/@v/v1.0.0.mod",
            "/example.com/%2e%2e/m/@v/v1.0.0.mod",
            "/%2e%2e/%2e%2e/etc/@v/list",
            "/example.com/m/@v/..%2f..%2findex.db.zip",
            "/example.com/m/@v/%2e%2e.mod",
            "/github.com/BurntSushi/toml/@v/list",
            "/github.com/!!burnt/toml/@v/list",
            "/github.com/burnt!/toml/@v/list",
            "/example.com/m/@v/V1.0.0.mod",
            "/example.com/m/@v/v1.0.0!.mod",
            "/example.com/m%00/@v/list",
            "/example.com/m/@v/v1.0.0%00.zip",
            "/example.com/m/@v/v1.0.0\u{0}.zip",
            "/example.com/m%ff/@v/list",
            "/example.com//m/@v/list",
            "//etc/passwd/@v/list",
            "/example.com/m/@v//etc/passwd.zip",
            "/example.com/m\\..\\..\\x/@v/list",
            "/exämple.com/m/@v/list",
            "example.com/m/@v/list",
        ] {
            assert!(matches!(parse(p), Err(Refusal::Malformed(_))), "{p}: {:?}", parse(p));
        }
        assert_eq!(parse(&long), Err(Refusal::TooLong));
    }

    #[test]
    fn checksum_database_paths() {
        assert_eq!(
            parse("/sumdb/sum.golang.org/supported"),
            Ok(Route::Sumdb { db: "sum.golang.org".into(), rel: "supported".into() })
        );
        assert_eq!(
            parse("/sumdb/sum.golang.org/tile/8/0/x001/234.p/5"),
            Ok(Route::Sumdb { db: "sum.golang.org".into(), rel: "tile/8/0/x001/234.p/5".into() })
        );
        assert!(matches!(parse("/sumdb/sum.golang.org/../../etc/passwd"), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn other_paths_are_not_found() {
        for p in [
            "/",
            "/favicon.ico",
            "/sumdb/",
            "/sumdb/sum.golang.org",
            "/example.com/m/@v/v1.0.0.ziphash",
            "/example.com/m/@v/master.info",
            "/example.com/m/@v/v1.2.info",
        ] {
            assert!(matches!(parse(p), Err(Refusal::NotFound(_))), "{p}: {:?}", parse(p));
        }
    }
}
