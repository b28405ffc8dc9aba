//! The one trust rule: a hash the store records for a module (its `h1:` of the
//! zip's files, or of its `go.mod`) must agree with every trusted sum for it, from
//! the index's `sums` table or go.sum files given at mount. Import refuses to store
//! a module that breaks it, the mount refuses to serve one, `verify` reports one;
//! all three ask here, so they cannot drift apart.

use crate::store::SumKind;

/// What the message calls a hash of this kind.
pub(crate) fn what(kind: SumKind) -> &'static str {
    match kind {
        SumKind::Mod => "go.mod",
        SumKind::Zip => "zip",
    }
}

/// Err naming the first trusted sum (`(h1, where it came from)`) that contradicts
/// `stored`, the hash recorded for `label` (`path@version`). The caller says what
/// follows ("not imported", "module refused").
pub(crate) fn check(label: &str, kind: SumKind, stored: &str, trusted: &[(String, String)]) -> Result<(), String> {
    match trusted.iter().find(|(h, _)| h != stored) {
        Some((h, source)) => {
            Err(format!("{label}: {} hash {stored} contradicts the trusted sum {h} from {source}", what(kind)))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trusted_sum_must_agree() {
        let sums = vec![("h1:a".to_string(), "x/go.sum".to_string()), ("h1:b".to_string(), "y/go.sum".to_string())];
        assert!(check("m@v1", SumKind::Zip, "h1:a", &[]).is_ok());
        assert!(check("m@v1", SumKind::Zip, "h1:a", &sums[..1]).is_ok());
        let why = check("m@v1", SumKind::Mod, "h1:a", &sums).unwrap_err();
        assert_eq!(why, "m@v1: go.mod hash h1:a contradicts the trusted sum h1:b from y/go.sum");
    }
}
