//! The .info JSON reader (`json`): never panics; quote/unquote round-trip; members
//! re-serialize to the same members; and `canonical_info` yields what Go can read
//! back: valid JSON with the version asked for and an RFC 3339 time, unchanged by
//! a second pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modcachefs::gomod::info::{canonical_info, info_for, object_members, quote, unquote};
use modcachefs::gomod::version::pseudo_version_time;

/// time.Parse(time.RFC3339, t) would succeed (ranges included).
fn rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(r)?;
        s.iter().all(u8::is_ascii_digit).then(|| std::str::from_utf8(s).ok()?.parse().ok())?
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return false;
    };
    if b.get(4) != Some(&b'-') || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mdays = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d < 1 || d > mdays[mo as usize - 1] || h > 23 || mi > 59 || s > 59 {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &r[n..];
    }
    match rest.as_bytes() {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if (*sign == b'+' || *sign == b'-') => {
            let hh = [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit());
            hh && (h1 - b'0') * 10 + (h2 - b'0') < 24 && (m1 - b'0') * 10 + (m2 - b'0') < 60
        }
        _ => false,
    }
}

fn check_info(text: &str, version: &str) {
    let Some(out) = canonical_info(text, version) else { return };
    let out = String::from_utf8(out).expect("canonical .info is not UTF-8");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON: {out:?}: {e}"));
    let obj = v.as_object().expect("not an object");
    assert_eq!(obj.get("Version").and_then(|v| v.as_str()), Some(version), "{out:?}");
    let time = obj.get("Time").and_then(|v| v.as_str()).expect("no Time");
    assert!(rfc3339(time), "Time {time:?} is not RFC 3339: {out:?}");
    assert_eq!(canonical_info(&out, version).as_deref(), Some(out.as_bytes()), "not idempotent");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    assert_eq!(unquote(&quote(&text)).as_deref(), Some(&*text));
    let _ = unquote(&text);
    if let Some(members) = object_members(&text) {
        let body: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", quote(k))).collect();
        let again = object_members(&format!("{{{}}}", body.join(","))).expect("re-serialized members");
        assert_eq!(again, members);
        if let Some(v) = members.iter().find(|(k, _)| k == "Version").and_then(|(_, v)| unquote(v)) {
            check_info(&text, &v);
        }
    }
    check_info(&text, "v1.0.0");
    // An .info made up for a pseudo-version is canonical as it is.
    let line = text.lines().next().unwrap_or_default();
    if let Some(t) = pseudo_version_time(line) {
        let info = info_for(line, &t);
        assert_eq!(canonical_info(std::str::from_utf8(&info).unwrap(), line), Some(info));
    }
});
