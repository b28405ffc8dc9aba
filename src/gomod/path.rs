//! Module paths as cmd/go spells them on disk, and `module.CheckPath` with the
//! major-version rules (golang.org/x/mod/module).
//!
//! Case-insensitive filesystems forced Go to escape upper case: every upper-case
//! letter becomes `!` followed by its lower-case form, in paths and in versions.

use super::filename::is_windows_reserved;
use super::version::is_canonical_version;

/// `github.com/BurntSushi/toml` -> `github.com/!burnt!sushi/toml`.
pub fn escape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c == '!' || !c.is_ascii() {
            return None;
        }
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The inverse of [`escape`]; `None` for anything `escape` could not have produced
/// (upper case, a `!` not followed by a lower-case letter, non-ASCII).
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if !c.is_ascii() || c.is_ascii_uppercase() {
            return None;
        }
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// A module path cmd/go accepts (module.CheckPath, simplified to the rules that
/// matter for naming files): non-empty, slash-separated elements of
/// `[A-Za-z0-9.\-_~]`, no empty, `.` or `..` element, no leading dot or slash,
/// first element containing a dot (a domain) unless the whole path is one element.
pub fn check_module_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty module path".into());
    }
    if p.starts_with('/') || p.ends_with('/') || p.starts_with('-') {
        return Err(format!("malformed module path {p:?}"));
    }
    for elem in p.split('/') {
        if elem.is_empty() || elem == "." || elem == ".." || elem.starts_with('.') || elem.ends_with('.') {
            return Err(format!("malformed module path {p:?}: bad element {elem:?}"));
        }
        if let Some(c) = elem.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'))) {
            return Err(format!("malformed module path {p:?}: invalid char {c:?}"));
        }
    }
    Ok(())
}

/// A parsed semantic version, as golang.org/x/mod/semver parses it.
/// `module.Check` plus `module.CanonicalVersion(v) == v`, as `CheckZip` does first.
/// Also what every module version, with or without a zip, must pass to be imported.
pub fn check_module_version(module: &str, version: &str) -> Result<(), String> {
    if !is_canonical_version(version) {
        return Err(format!("version {version:?} is not canonical"));
    }
    let path_major = check_go_module_path(module)?;
    check_path_major(version, path_major)
}

/// `module.CheckPath`. Returns the path's major version suffix (`/v2`, `.v1`, or "").
fn check_go_module_path(module: &str) -> Result<&str, String> {
    check_module_path(module)?;
    check_module_path_extra(module)?;
    split_path_version(module)
        .map(|(_, path_major)| path_major)
        .ok_or_else(|| format!("malformed module path {module:?}: invalid version suffix"))
}

/// The parts of `module.CheckPath` that [`check_module_path`] leaves out:
/// a lower-case LDH first element containing a dot, no Windows-reserved or
/// Windows-short-name elements, a well-formed major version suffix.
fn check_module_path_extra(module: &str) -> Result<(), String> {
    let first = module.split('/').next().unwrap_or_default();
    if !first.contains('.') {
        return Err(format!("malformed module path {module:?}: missing dot in first path element"));
    }
    if let Some(c) = first.chars().find(|&c| !(c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase())) {
        return Err(format!("malformed module path {module:?}: invalid char {c:?} in first path element"));
    }
    for elem in module.split('/') {
        if elem.ends_with('.') {
            return Err(format!("malformed module path {module:?}: trailing dot in path element"));
        }
        let short = elem.split('.').next().unwrap_or_default();
        if is_windows_reserved(short) {
            return Err(format!(
                "malformed module path {module:?}: {short:?} disallowed as path element component on Windows"
            ));
        }
        // Windows short names: a trailing tilde followed by digits.
        if let Some((_, digits)) = short.rsplit_once('~') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("malformed module path {module:?}: trailing tilde and digits in path element"));
            }
        }
    }
    Ok(())
}

/// `module.SplitPathVersion`: `(prefix, pathMajor)`, `None` when the suffix is malformed.
fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while let Some(&c) = i.checked_sub(1).and_then(|j| b.get(j)) {
        if !(c.is_ascii_digit() || c == b'.') {
            break;
        }
        dot |= c == b'.';
        i -= 1;
    }
    let at = |j: Option<usize>| j.and_then(|j| b.get(j)).copied();
    if i <= 1 || i == b.len() || at(i.checked_sub(1)) != Some(b'v') || at(i.checked_sub(2)) != Some(b'/') {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at_checked(i - 2)?;
    if dot || major.len() <= 2 || major.as_bytes().get(2) == Some(&b'0') || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_digit) {
        i -= 1;
    }
    if i <= 1 || b.get(i - 1) != Some(&b'v') || b.get(i - 2) != Some(&b'.') {
        return None;
    }
    let (prefix, major) = path.split_at_checked(i - 2)?;
    if major.len() <= 2 || (major.as_bytes().get(2) == Some(&b'0') && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// `module.CheckPathMajor`: the version's major must match the path's `/vN` (or
/// gopkg.in `.vN`) suffix; without one, v0/v1 or `+incompatible`.
fn check_path_major(version: &str, path_major: &str) -> Result<(), String> {
    let mut path_major = path_major;
    if path_major.starts_with(".v") {
        path_major = path_major.strip_suffix("-unstable").unwrap_or(path_major);
    }
    if version.starts_with("v0.0.0-") && path_major == ".v1" {
        // An old bug in pseudo-versions for gopkg.in/...v1 that Go still allows.
        return Ok(());
    }
    // semver.Major: "v" and the leading digits (the version is canonical by now).
    let digits = version.get(1..).unwrap_or_default();
    let major_len = 1 + digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let major = version.get(..major_len).unwrap_or(version);
    if path_major.is_empty() {
        if major == "v0" || major == "v1" || version.ends_with("+incompatible") {
            return Ok(());
        }
        return Err(format!(
            "invalid version: should be v0 or v1, not {major} (a major version >= 2 needs a /{major} module path suffix or +incompatible)"
        ));
    }
    let want = path_major.get(1..).unwrap_or_default();
    if want == major {
        return Ok(());
    }
    Err(format!("invalid version: should be {want}, not {major} (to match the module path)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gomod::filename::check_file_path;

    /// golang.org/x/mod/module's checkPathTests: (path, CheckPath ok, CheckFilePath ok).
    #[test]
    fn go_check_path_vectors() {
        let cases: &[(&str, bool, bool)] = &[
            ("x.y/z", true, true),
            ("x.y", true, true),
            ("", false, false),
            ("/x.y/z", false, false),
            ("x./z", false, false),
            (".x/z", false, true),
            ("-x/z", false, true),
            ("x..y/z", true, true),
            ("x.y/z/../../w", false, false),
            ("x.y//z", false, false),
            ("x.y/z//w", false, false),
            ("x.y/z/", false, false),
            ("x.y/z/v0", false, true),
            ("x.y/z/v1", false, true),
            ("x.y/z/v2", true, true),
            ("x.y/z/v2.0", false, true),
            ("X.y/z", false, true),
            ("!x.y/z", false, true),
            ("_x.y/z", false, true),
            ("x.y!/z", false, true),
            ("x.y\"/z", false, false),
            ("x.y#/z", false, true),
            ("x.y$/z", false, true),
            ("x.y%/z", false, true),
            ("x.y&/z", false, true),
            ("x.y'/z", false, false),
            ("x.y(/z", false, true),
            ("x.y)/z", false, true),
            ("x.y*/z", false, false),
            ("x.y+/z", false, true),
            ("x.y,/z", false, true),
            ("x.y-/z", true, true),
            ("x.y./zt", false, false),
            ("x.y:/z", false, false),
            ("x.y;/z", false, false),
            ("x.y</z", false, false),
            ("x.y=/z", false, true),
            ("x.y>/z", false, false),
            ("x.y?/z", false, false),
            ("x.y@/z", false, true),
            ("x.y[/z", false, true),
            ("x.y\\/z", false, false),
            ("x.y]/z", false, true),
            ("x.y^/z", false, true),
            ("x.y_/z", false, true),
            ("x.y`/z", false, false),
            ("x.y{/z", false, true),
            ("x.y}/z", false, true),
            ("x.y~/z", false, true),
            ("x.y/z!", false, true),
            ("x.y/z\"", false, false),
            ("x.y/z#", false, true),
            ("x.y/z$", false, true),
            ("x.y/z%", false, true),
            ("x.y/z&", false, true),
            ("x.y/z'", false, false),
            ("x.y/z(", false, true),
            ("x.y/z)", false, true),
            ("x.y/z*", false, false),
            ("x.y/z++", false, true),
            ("x.y/z,", false, true),
            ("x.y/z-", true, true),
            ("x.y/z.t", true, true),
            ("x.y/z/t", true, true),
            ("x.y/z:", false, false),
            ("x.y/z;", false, false),
            ("x.y/z<", false, false),
            ("x.y/z=", false, true),
            ("x.y/z>", false, false),
            ("x.y/z?", false, false),
            ("x.y/z@", false, true),
            ("x.y/z[", false, true),
            ("x.y/z\\", false, false),
            ("x.y/z]", false, true),
            ("x.y/z^", false, true),
            ("x.y/z_", true, true),
            ("x.y/z`", false, false),
            ("x.y/z{", false, true),
            ("x.y/z}", false, true),
            ("x.y/z~", true, true),
            ("x.y/x.foo", true, true),
            ("x.y/aux.foo", false, false),
            ("x.y/prn", false, false),
            ("x.y/prn2", true, true),
            ("x.y/com", true, true),
            ("x.y/com1", false, false),
            ("x.y/com1.txt", false, false),
            ("x.y/calm1", true, true),
            ("x.y/z~", true, true),
            ("x.y/z~0", false, true),
            ("x.y/z~09", false, true),
            ("x.y/z09", true, true),
            ("x.y/z09~", true, true),
            ("x.y/z09~09z", true, true),
            ("x.y/z09~09z~09", false, true),
            ("github.com/!123/logrus", false, true),
            ("github.com/user/unicode/испытание", false, true),
            ("../x", false, false),
            ("./y", false, false),
            ("x:y", false, false),
            (".gitignore", false, true),
            (".github/ISSUE_TEMPLATE", false, true),
            ("x☺y", false, false),
        ];
        for &(path, module_ok, file_ok) in cases {
            assert_eq!(check_go_module_path(path).is_ok(), module_ok, "module path {path:?}");
            assert_eq!(check_file_path(path).is_ok(), file_ok, "file path {path:?}");
        }
    }

    #[test]
    fn split_path_version_vectors() {
        for (prefix, major) in [
            ("x.y/z", ""),
            ("x.y/z", "/v2"),
            ("x.y/z", "/v3"),
            ("x.y/v", ""),
            ("gopkg.in/yaml", ".v0"),
            ("gopkg.in/yaml", ".v1"),
            ("gopkg.in/yaml", ".v2"),
            ("gopkg.in/yaml", ".v3"),
        ] {
            assert_eq!(split_path_version(&format!("{prefix}{major}")), Some((prefix, major)));
        }
        assert_eq!(split_path_version("gopkg.in/yaml.v2-unstable"), Some(("gopkg.in/yaml", ".v2-unstable")));
        for bad in ["x.y/z/v1", "x.y/z/v0", "x.y/z/v2.0", "x.y/z/v02", "gopkg.in/yaml", "gopkg.in/yaml.v01"] {
            assert_eq!(split_path_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn path_major() {
        assert!(check_path_major("v1.2.3", "").is_ok());
        assert!(check_path_major("v0.1.0", "").is_ok());
        assert!(check_path_major("v2.0.0+incompatible", "").is_ok());
        assert!(check_path_major("v2.0.0", "").is_err());
        assert!(check_path_major("v2.0.0", "/v2").is_ok());
        assert!(check_path_major("v10.0.0", "/v10").is_ok());
        assert!(check_path_major("v1.0.0", "/v2").is_err());
        assert!(check_path_major("v2.1.0", ".v2").is_ok());
        assert!(check_path_major("v2.1.0", ".v2-unstable").is_ok());
        assert!(check_path_major("v0.0.0-20161208181325-20d25e280405", ".v1").is_ok());
        assert!(check_path_major("v1.0.0", ".v2").is_err());
    }

    #[test]
    fn escape_roundtrip() {
        assert_eq!(escape("github.com/BurntSushi/toml").unwrap(), "github.com/!burnt!sushi/toml");
        assert_eq!(unescape("github.com/!burnt!sushi/toml").unwrap(), "github.com/BurntSushi/toml");
        assert_eq!(escape("v1.0.0-RC1").unwrap(), "v1.0.0-!r!c1");
        assert!(unescape("github.com/Bad").is_none());
        assert!(unescape("a!").is_none());
        assert!(unescape("a!1").is_none());
        assert!(escape("a!b").is_none());
        assert!(escape("é").is_none());
    }

    #[test]
    fn module_paths() {
        assert!(check_module_path("github.com/spf13/cobra").is_ok());
        assert!(check_module_path("gopkg.in/yaml.v3").is_ok());
        assert!(check_module_path("a/../b").is_err());
        assert!(check_module_path("a//b").is_err());
        assert!(check_module_path("a/b c").is_err());
    }
}
