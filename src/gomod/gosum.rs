//! go.sum files: `<module> <version> h1:...` and `<module> <version>/go.mod h1:...`.

use crate::error::{Error, Result};
use crate::gomod::h1::is_h1;
use crate::store::{Sum, SumKind};
use std::path::Path;

/// Parses a go.sum. Lines with hash algorithms other than h1 are ignored, as cmd/go
/// ignores them; malformed lines are an error naming the file and line.
pub fn parse(text: &str, source: &str) -> Result<Vec<Sum>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // Only the start of a bad line is quoted: the file may not be a go.sum at all.
        let bad = |why: &str| {
            Error::Invalid(format!(
                "{source}:{}: {why}: {}",
                i + 1,
                crate::import::input::quote_prefix(line.as_bytes())
            ))
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(bad("expected `<module> <version> <hash>`"));
        }
        let (path, ver, h) = (f[0], f[1], f[2]);
        if !h.starts_with("h1:") {
            continue;
        }
        if !is_h1(h) {
            return Err(bad("malformed h1 hash"));
        }
        let (version, kind) = match ver.strip_suffix("/go.mod") {
            Some(v) => (v, SumKind::Mod),
            None => (ver, SumKind::Zip),
        };
        crate::gomod::path::check_module_path(path).map_err(|e| bad(&e))?;
        if !crate::gomod::version::is_canonical_version(version) {
            return Err(bad("non-canonical version"));
        }
        out.push(Sum { path: path.into(), version: version.into(), kind, h1: h.into(), source: source.into() });
    }
    Ok(out)
}

/// Reads a go.sum named on the command line: a regular file, not a symlink, of
/// at most `input::MAX_GO_SUM_SIZE` bytes.
pub fn read(path: &Path) -> Result<Vec<Sum>> {
    let bytes = crate::import::input::read_file(path, crate::import::input::MAX_GO_SUM_SIZE, "go.sum")?;
    let source = crate::import::input::shown(path);
    let text = String::from_utf8(bytes).map_err(|_| Error::Invalid(format!("{source}: go.sum is not UTF-8")))?;
    parse(&text, &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        let s = parse(
            "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n\
             golang.org/x/text v0.3.0/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\n\n",
            "go.sum",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, SumKind::Zip);
        assert_eq!(s[1].kind, SumKind::Mod);
        assert_eq!(s[1].version, "v0.3.0");
    }

    #[test]
    fn rejects_garbage() {
        let e = parse("golang.org/x/text v0.3.0\n", "x/go.sum").unwrap_err().to_string();
        assert!(e.contains("x/go.sum:1"), "{e}");
        assert!(parse("m v1.0.0 h1:short\n", "g").is_err());
    }
}
