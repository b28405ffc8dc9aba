//! The stats protocol (`stats`, `status`): the daemon parses nothing from a client
//! (it writes one report per connection), so what is fuzzed is the client side:
//! reading a report back and printing it.
//! - A report as the daemon builds it (`stats::report`: the counters, then who
//!   serves it and the extracted modules, whose names come from the store) always
//!   parses back (`stats::parse_report`) to the same counters and names.
//! - Any text a broken or hostile daemon sends: parsing never panics; what parses
//!   prints as text, and as Prometheus lines that are each a `#` comment or one
//!   `modcachefs_NAME{mountpoint="..."} VALUE` sample (no injected line).
//! - `json::object_members` (which reads `.info` files) accepts every JSON object
//!   serde_json accepts, with the same members.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use modcachefs::gomod::info::object_members;
use modcachefs::ops::stats::{parse_report, report, report_prometheus, report_text, Stats};
use std::sync::atomic::Ordering::Relaxed;

#[derive(Arbitrary, Debug)]
struct Input {
    lookups: u64,
    bytes_served: u64,
    cache_bytes: u64,
    modules_extracted: u64,
    mountpoint: String,
    extracted: Vec<String>,
    raw: String,
}

fn daemon_report(i: &Input) {
    let s = Stats::default();
    s.lookups.store(i.lookups, Relaxed);
    s.bytes_served.store(i.bytes_served, Relaxed);
    s.cache_bytes.store(i.cache_bytes, Relaxed);
    s.modules_extracted.store(i.modules_extracted, Relaxed);
    let text = report(&s, &i.mountpoint, None, i.extracted.clone());
    let r = parse_report(&text).unwrap_or_else(|| panic!("the daemon's report does not parse: {text:?}"));
    for (k, v) in [
        ("lookups", i.lookups),
        ("bytes_served", i.bytes_served),
        ("cache_bytes", i.cache_bytes),
        ("modules_extracted", i.modules_extracted),
        ("errors", 0),
    ] {
        assert_eq!(r.get(k).and_then(|v| v.as_u64()), Some(v), "{k} in {text:?}");
    }
    assert_eq!(r.get("mountpoint").and_then(|v| v.as_str()), Some(i.mountpoint.as_str()));
    let back: Vec<&str> = r
        .get("extracted")
        .and_then(|v| v.as_array())
        .expect("no extracted list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(back, i.extracted.iter().map(String::as_str).collect::<Vec<_>>());
    printed(&r, &i.mountpoint);
}

/// The text and Prometheus forms of any parsed report: no panic, and every
/// Prometheus line is a comment or exactly one sample.
fn printed(r: &serde_json::Map<String, serde_json::Value>, mountpoint: &str) {
    let _ = report_text(r);
    for line in report_prometheus(r, mountpoint).lines() {
        if line.starts_with("# HELP modcachefs_") || line.starts_with("# TYPE modcachefs_") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
        assert!(value.parse::<u64>().is_ok(), "value of {line:?}");
        let (name, labels) = series.split_once('{').unwrap_or_else(|| panic!("no labels: {line:?}"));
        assert!(
            name.starts_with("modcachefs_") && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line:?}"
        );
        assert!(labels.starts_with("mountpoint=\"") && labels.ends_with("\"}"), "{line:?}");
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
    if let Some(r) = parse_report(&i.raw) {
        printed(&r, &i.mountpoint);
    }
    hostile_report(&i.raw);
});
