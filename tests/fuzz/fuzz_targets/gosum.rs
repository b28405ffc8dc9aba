//! go.sum parsing (`gosum::parse`): never panics, errors name the file and line,
//! whatever it returns is well-formed, and re-rendering it parses back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modcachefs::gomod::gosum::parse;
use modcachefs::gomod::h1::is_h1;
use modcachefs::gomod::path::check_module_path;
use modcachefs::gomod::version::is_canonical_version;
use modcachefs::store::SumKind;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sums = match parse(&text, "fuzz/go.sum") {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("fuzz/go.sum:"), "{msg}");
            return;
        }
    };
    assert!(sums.len() <= text.lines().filter(|l| !l.trim().is_empty()).count());
    let mut rendered = String::new();
    for s in &sums {
        assert!(check_module_path(&s.path).is_ok(), "{:?}", s.path);
        assert!(is_canonical_version(&s.version), "{:?}", s.version);
        assert!(is_h1(&s.h1), "{:?}", s.h1);
        assert_eq!(s.source, "fuzz/go.sum");
        let suffix = if s.kind == SumKind::Mod { "/go.mod" } else { "" };
        rendered.push_str(&format!("{} {}{} {}\n", s.path, s.version, suffix, s.h1));
    }
    let again = parse(&rendered, "fuzz/go.sum").expect("re-rendered go.sum does not parse");
    assert_eq!(again.len(), sums.len());
    for (a, b) in sums.iter().zip(&again) {
        assert_eq!((&a.path, &a.version, a.kind, &a.h1), (&b.path, &b.version, b.kind, &b.h1));
    }
});
