//! Module path/version escaping and checks (`gomod::path`, `gomod::version`):
//! escape/unescape are inverse bijections between their domains, accepted paths and
//! versions are escapable, and version comparison is a total preorder.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use modcachefs::gomod::path::check_module_version;
use modcachefs::gomod::path::{check_module_path, escape, unescape};
use modcachefs::gomod::version::{compare_versions, is_canonical_version, pseudo_version_time, sort_versions};

fn escaping(s: &str) {
    match escape(s) {
        Some(e) => {
            assert!(e.is_ascii() && !e.bytes().any(|b| b.is_ascii_uppercase()), "escape({s:?}) = {e:?}");
            assert_eq!(unescape(&e).as_deref(), Some(s), "unescape(escape({s:?}))");
        }
        None => assert!(s.contains('!') || !s.is_ascii(), "escape refused {s:?}"),
    }
    if let Some(u) = unescape(s) {
        assert!(!u.contains('!'), "unescape({s:?}) = {u:?} holds a '!'");
        assert_eq!(escape(&u).as_deref(), Some(s), "escape(unescape({s:?}))");
    }
}

fn version(v: &str) {
    if is_canonical_version(v) {
        assert!(v.starts_with('v') && v.is_ascii() && escape(v).is_some(), "{v:?}");
        assert_eq!(compare_versions(v, v), Ordering::Equal);
        if let Some(base) = v.strip_suffix("+incompatible") {
            assert!(is_canonical_version(base), "{v:?} canonical but {base:?} is not");
            assert_eq!(compare_versions(v, base), Ordering::Equal);
        }
    }
    if let Some(t) = pseudo_version_time(v) {
        let b = t.as_bytes();
        assert!(b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':');
        assert!(b[19] == b'Z', "{t:?}");
        assert!([0..4, 5..7, 8..10, 11..13, 14..16, 17..19].into_iter().all(|r| b[r].iter().all(u8::is_ascii_digit)));
    }
}

fn path(p: &str) {
    if check_module_path(p).is_ok() {
        assert!(!p.is_empty() && p.is_ascii() && escape(p).is_some(), "{p:?}");
        assert!(p.split('/').all(|e| !e.is_empty() && e != "." && e != ".."), "{p:?}");
    }
}

// Input: up to three lines (a module path, versions...), so seeds can be plain text.
fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(3, '\n').map(str::to_string);
    let mut next = || lines.next().unwrap_or_default();
    let (a, b, c) = (&next(), &next(), &next());
    for s in [a, b, c] {
        escaping(s);
        version(s);
        path(s);
    }
    if check_module_version(a, b).is_ok() {
        assert!(check_module_path(a).is_ok() && is_canonical_version(b), "{a:?} {b:?}");
        assert!(escape(a).is_some() && escape(b).is_some());
        assert!(!a.contains('@'), "{a:?}");
    }

    // A total preorder: antisymmetric and transitive.
    let cmp = |x: &str, y: &str| compare_versions(x, y);
    for (x, y) in [(a, b), (b, c), (a, c)] {
        assert_eq!(cmp(x, y), cmp(y, x).reverse(), "{x:?} vs {y:?}");
    }
    let v = [a, b, c];
    for x in v {
        for y in v {
            for z in v {
                if cmp(x, y) != Ordering::Greater && cmp(y, z) != Ordering::Greater {
                    assert_ne!(cmp(x, z), Ordering::Greater, "{x:?} <= {y:?} <= {z:?}");
                }
            }
        }
    }
    let mut sorted = vec![a.clone(), b.clone(), c.clone()];
    sort_versions(&mut sorted);
    assert!(sorted.windows(2).all(|w| cmp(&w[0], &w[1]) != Ordering::Greater), "{sorted:?}");
    let (mut x, mut y) = (sorted.clone(), vec![a.clone(), b.clone(), c.clone()]);
    x.sort();
    y.sort();
    assert_eq!(x, y);
});
