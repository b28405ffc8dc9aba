//! Module versions (golang.org/x/mod/semver): canonical form, ordering, and the
//! time a pseudo-version carries.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Semver<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    prerelease: &'a str, // with leading '-', or ""
    build: &'a str,      // with leading '+', or ""
    short: bool,         // "v1" or "v1.2": not canonical
}

fn parse_num(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 || (end > 1 && s.starts_with('0')) {
        return None;
    }
    Some((&s[..end], &s[end..]))
}

fn is_ident_list(s: &str, numeric_no_leading_zero: bool) -> bool {
    !s.is_empty()
        && s.split('.').all(|id| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !(numeric_no_leading_zero
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.chars().all(|c| c.is_ascii_digit()))
        })
}

fn parse(v: &str) -> Option<Semver<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_num(rest)?;
    let mut sv = Semver { major, minor: "0", patch: "0", prerelease: "", build: "", short: false };
    let rest = match rest.strip_prefix('.') {
        None if rest.is_empty() => {
            sv.short = true;
            return Some(sv);
        }
        None => return None,
        Some(r) => r,
    };
    let (minor, rest) = parse_num(rest)?;
    sv.minor = minor;
    let rest = match rest.strip_prefix('.') {
        None if rest.is_empty() => {
            sv.short = true;
            return Some(sv);
        }
        None => return None,
        Some(r) => r,
    };
    let (patch, mut rest) = parse_num(rest)?;
    sv.patch = patch;
    if rest.starts_with('-') {
        let end = rest.find('+').unwrap_or(rest.len());
        if !is_ident_list(&rest[1..end], true) {
            return None;
        }
        sv.prerelease = &rest[..end];
        rest = &rest[end..];
    }
    if rest.starts_with('+') {
        if !is_ident_list(&rest[1..], false) {
            return None;
        }
        sv.build = rest;
        rest = "";
    }
    rest.is_empty().then_some(sv)
}

/// Whether `v` is a canonical module version: `vX.Y.Z[-pre]`, optionally with the
/// one build suffix Go keeps, `+incompatible`.
pub fn is_canonical_version(v: &str) -> bool {
    match parse(v) {
        Some(sv) => !sv.short && (sv.build.is_empty() || sv.build == "+incompatible"),
        None => false,
    }
}

fn cmp_num(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a[1..].split('.');
    let mut bi = b[1..].split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let xn = x.chars().all(|c| c.is_ascii_digit());
                let yn = y.chars().all(|c| c.is_ascii_digit());
                let o = match (xn, yn) {
                    (true, true) => cmp_num(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// semver.Compare: invalid versions sort before valid ones; build suffixes are ignored.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp_num(x.major, y.major)
            .then_with(|| cmp_num(x.minor, y.minor))
            .then_with(|| cmp_num(x.patch, y.patch))
            .then_with(|| cmp_prerelease(x.prerelease, y.prerelease)),
    }
}

/// Sorts versions the way cmd/go orders `@v/list` (semver.Sort: by precedence,
/// ties broken by the string).
pub fn sort_versions(vs: &mut [String]) {
    vs.sort_by(|a, b| compare_versions(a, b).then_with(|| a.cmp(b)));
}

/// A pseudo-version's timestamp (`vX.Y.Z-[pre.]0.yyyymmddhhmmss-abcdef`), as RFC 3339.
pub fn pseudo_version_time(v: &str) -> Option<String> {
    let sv = parse(v)?;
    let pre = sv.prerelease;
    // The timestamp is the 14-digit field right before the final '-rev'.
    let (head, rev) = pre.rsplit_once('-')?;
    if rev.len() < 12 || !rev.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let ts = head.rsplit(['.', '-']).next()?;
    if ts.len() != 14 || !ts.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{}-{}-{}T{}:{}:{}Z", &ts[0..4], &ts[4..6], &ts[6..8], &ts[8..10], &ts[10..12], &ts[12..14]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_versions() {
        for ok in ["v0.0.0", "v1.2.3", "v1.2.3-pre.1", "v2.0.0+incompatible", "v0.0.0-20210604000000-d5e0c0615ace"] {
            assert!(is_canonical_version(ok), "{ok}");
        }
        for bad in ["1.2.3", "v1.2", "v1", "v01.2.3", "v1.2.3+meta", "v1.2.3-", "v1.2.3-01", "latest", ""] {
            assert!(!is_canonical_version(bad), "{bad}");
        }
    }

    #[test]
    fn ordering() {
        let mut v: Vec<String> = ["v1.10.0", "v1.2.0", "v1.2.0-rc.1", "v1.2.0-alpha", "v0.9.9", "v2.0.0+incompatible"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(v, ["v0.9.9", "v1.2.0-alpha", "v1.2.0-rc.1", "v1.2.0", "v1.10.0", "v2.0.0+incompatible"]);
    }

    #[test]
    fn pseudo_time() {
        assert_eq!(
            pseudo_version_time("v1.0.6-0.20210604000000-d5e0c0615ace").as_deref(),
            Some("2021-06-04T00:00:00Z")
        );
        assert_eq!(pseudo_version_time("v1.2.3"), None);
    }
}
