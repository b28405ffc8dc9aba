//! The stats protocol (`stats`): the daemon parses nothing from a client (it
//! writes one report per connection), so what is fuzzed is the client side:
//! `modcachefs stats` and `status` reading a report back with
//! `json::object_members`.
//! - A report built as the daemon builds it (src/fuse.rs: the counters, then the
//!   extracted modules, whose names come from the store and may be hostile) always
//!   parses, every counter reads back as its value, and the module list is JSON
//!   that serde_json reads back to the same names.
//! - Any text a broken or hostile daemon sends: parsing never panics, and every
//!   JSON object serde_json accepts is accepted with the same members (so `status`
//!   never prints "?" for a well-formed report).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use modcachefs::json::{object_members, quote};
use modcachefs::stats::Stats;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Arbitrary, Debug)]
struct Input {
    lookups: u64,
    bytes_served: u64,
    cache_bytes: u64,
    modules_extracted: u64,
    extracted: Vec<String>,
    raw: String,
}

fn daemon_report(i: &Input) {
    let s = Stats::default();
    s.lookups.store(i.lookups, Relaxed);
    s.bytes_served.store(i.bytes_served, Relaxed);
    s.cache_bytes.store(i.cache_bytes, Relaxed);
    s.modules_extracted.store(i.modules_extracted, Relaxed);
    // As src/fuse.rs assembles it.
    let counters = s.to_json();
    let names: Vec<String> = i.extracted.iter().map(|m| quote(m)).collect();
    let report = format!("{},\"extracted\":[{}]}}", &counters[..counters.len() - 1], names.join(","));
    let members = object_members(&report).unwrap_or_else(|| panic!("the daemon's report does not parse: {report:?}"));
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (k, v) in [
        ("lookups", i.lookups),
        ("bytes_served", i.bytes_served),
        ("cache_bytes", i.cache_bytes),
        ("modules_extracted", i.modules_extracted),
        ("errors", 0),
    ] {
        assert_eq!(get(k), Some(v.to_string().as_str()), "{k} in {report:?}");
    }
    let list = get("extracted").expect("no extracted list");
    let back: Vec<String> = serde_json::from_str(list).unwrap_or_else(|e| panic!("extracted {list:?}: {e}"));
    assert_eq!(back, i.extracted);
    // The text form: one `name value` line per counter, the same values.
    let text = s.to_text();
    for (k, v) in members.iter().filter(|(k, _)| k != "extracted") {
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(k)).expect("counter missing from to_text");
        assert_eq!(line.split_whitespace().nth(1), Some(v.as_str()), "{line:?}");
    }
}

fn hostile_report(raw: &str) {
    let ours = object_members(raw);
    let Ok(serde_json::Value::Object(theirs)) = serde_json::from_str::<serde_json::Value>(raw) else { return };
    let ours = ours.unwrap_or_else(|| panic!("a JSON object serde_json reads is refused: {raw:?}"));
    // serde_json keeps the last of duplicate keys.
    for (k, v) in &theirs {
        let (_, raw_v) =
            ours.iter().rev().find(|(n, _)| n == k).unwrap_or_else(|| panic!("member {k:?} lost: {raw:?}"));
        let parsed: serde_json::Value =
            serde_json::from_str(raw_v).unwrap_or_else(|e| panic!("member {k:?} = {raw_v:?} not JSON: {e}"));
        assert_eq!(&parsed, v, "member {k:?} of {raw:?}");
    }
    assert!(ours.iter().all(|(k, _)| theirs.contains_key(k)), "members serde_json does not see: {raw:?}");
}

fuzz_target!(|i: Input| {
    daemon_report(&i);
    hostile_report(&i.raw);
});
