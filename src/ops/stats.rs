//! Daemon counters: the report a mount's stats socket serves (see `statsock`),
//! logged on SIGUSR1, and printed by `modcachefs stats` as text, JSON or the
//! Prometheus text exposition format.

use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($name:ident: $doc:literal),* $(,)?) => {
        #[derive(Default, Debug)]
        pub struct Stats { $(#[doc = $doc] pub $name: AtomicU64,)* }

        /// Every counter's name and meaning, in report order.
        pub(crate) const COUNTERS: &[(&str, &str)] = &[$((stringify!($name), $doc)),*];

        impl Stats {
            /// Every counter, by name, in report order.
            pub(crate) fn to_map(&self) -> Map<String, Value> {
                let mut m = Map::new();
                $(m.insert(stringify!($name).into(), Value::from(self.$name.load(Relaxed)));)*
                m
            }

            /// `name value` pairs, one per line.
            pub(crate) fn to_text(&self) -> String {
                let mut s = String::new();
                $(s.push_str(&format!("{:<22} {}\n", stringify!($name), self.$name.load(Relaxed)));)*
                s
            }
        }
    };
}

counters! {
    lookups: "FUSE lookups answered (hits and misses)",
    negative_lookups: "lookups of names that do not exist",
    getattrs: "FUSE getattr requests",
    readdirs: "FUSE readdir requests",
    ioctls: "FUSE ioctl requests, answered ENOTTY (isatty() on a file, as Python's open() does)",
    opens: "files opened",
    reads: "FUSE read requests",
    bytes_served: "file bytes returned to the kernel",
    cache_hits: "file contents found in the extracted-file cache",
    cache_misses: "file contents that had to be decompressed",
    cache_evictions: "files evicted from the cache",
    cache_bytes: "bytes currently held by the cache",
    cache_files: "files currently held by the cache",
    spill_bytes: "bytes of large files currently extracted to --cache-dir",
    spill_files: "large files currently extracted to --cache-dir (each an open descriptor)",
    modules_loaded: "modules whose file list was loaded from the index",
    modules_extracted: "modules decompressed (and verified) at least once",
    verifications_ok: "module trees whose hash matched the trusted sum",
    verifications_failed: "module trees or go.mod files refused for a hash mismatch or an unreadable blob",
    modules_missing: "distinct missing modules that were asked for",
    errors: "requests answered with EIO",
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// The counters that go up and down (what is held now); every other one only grows.
pub(crate) const GAUGES: &[&str] = &["cache_bytes", "cache_files", "spill_bytes", "spill_files"];

/// The members of a report that are not counters.
const INFO_KEYS: &[&str] = &["pid", "version", "mountpoint", "log", "extracted"];

/// What a mount's stats socket serves: every counter, then who serves it (`pid`,
/// `version`, `mountpoint`, `log`: the daemon's log file, or null for standard
/// error) and the modules extracted so far (`extracted`).
pub fn report(stats: &Stats, mountpoint: &str, log: Option<&str>, extracted: Vec<String>) -> String {
    let mut m = stats.to_map();
    m.insert("pid".into(), Value::from(std::process::id()));
    m.insert("version".into(), Value::from(env!("CARGO_PKG_VERSION")));
    m.insert("mountpoint".into(), Value::from(mountpoint));
    m.insert("log".into(), log.map_or(Value::Null, Value::from));
    m.insert("extracted".into(), Value::from(extracted));
    Value::Object(m).to_string()
}

/// Parses a report as served by `report` (by this or another version of modcachefs).
pub fn parse_report(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The report for people: one counter per line, then the daemon and the list of
/// extracted modules, one per line.
pub fn report_text(r: &Map<String, Value>) -> String {
    let mut s = String::new();
    for (k, v) in r.iter().filter(|(k, _)| !INFO_KEYS.contains(&k.as_str())) {
        s.push_str(&format!("{k:<22} {v}\n"));
    }
    for k in ["pid", "version", "mountpoint", "log"] {
        match r.get(k) {
            Some(Value::String(v)) => s.push_str(&format!("{k:<22} {v}\n")),
            Some(Value::Null) if k == "log" => s.push_str(&format!("{k:<22} (standard error)\n")),
            Some(v) if !v.is_null() => s.push_str(&format!("{k:<22} {v}\n")),
            _ => {}
        }
    }
    if let Some(Value::Array(list)) = r.get("extracted") {
        s.push_str(&format!("extracted ({} modules):\n", list.len()));
        for m in list.iter().filter_map(Value::as_str) {
            s.push_str(&format!("  {m}\n"));
        }
    }
    s
}

/// A label value in the exposition format: backslash, double quote and newline escaped.
fn prom_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The report in the Prometheus text exposition format (version 0.0.4), for
/// node_exporter's textfile collector or a scrape through a cron job: every
/// numeric member as `modcachefs_NAME{mountpoint="..."}`, counters with `_total`.
pub fn report_prometheus(r: &Map<String, Value>, mountpoint: &str) -> String {
    let label = format!("{{mountpoint=\"{}\"}}", prom_label(mountpoint));
    let mut s = String::new();
    for (k, v) in r.iter().filter(|(k, _)| !INFO_KEYS.contains(&k.as_str())) {
        let Some(n) = v.as_u64() else { continue };
        // Only [a-zA-Z0-9_] may appear in a metric name; a future daemon's odd key is skipped.
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let gauge = GAUGES.contains(&k.as_str());
        let name = if gauge { format!("modcachefs_{k}") } else { format!("modcachefs_{k}_total") };
        let help = COUNTERS.iter().find(|(c, _)| c == k).map_or("(no description)", |(_, d)| d);
        s.push_str(&format!("# HELP {name} {}\n", help.replace('\\', "\\\\").replace('\n', "\\n")));
        s.push_str(&format!("# TYPE {name} {}\n", if gauge { "gauge" } else { "counter" }));
        s.push_str(&format!("{name}{label} {n}\n"));
    }
    if let Some(Value::Array(list)) = r.get("extracted") {
        s.push_str("# HELP modcachefs_extracted_modules modules extracted (and verified) so far\n");
        s.push_str("# TYPE modcachefs_extracted_modules gauge\n");
        s.push_str(&format!("modcachefs_extracted_modules{label} {}\n", list.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trip_and_formats() {
        let st = Stats::default();
        add(&st.lookups, 7);
        add(&st.cache_bytes, 4096);
        let r = report(&st, "/srv/go\"mod\"", Some("/run/x.log"), vec!["a.com/b@v1.0.0".into()]);
        let m = parse_report(&r).expect("a JSON object");
        assert_eq!(m["lookups"], 7);
        assert_eq!(m["pid"], std::process::id());
        let text = report_text(&m);
        assert!(text.contains("\nextracted (1 modules):\n  a.com/b@v1.0.0\n"), "{text}");
        assert!(!text.contains('['), "{text}");
        let p = report_prometheus(&m, "/srv/go\"mod\"");
        assert!(p.contains("# TYPE modcachefs_lookups_total counter\n"), "{p}");
        assert!(p.contains("modcachefs_lookups_total{mountpoint=\"/srv/go\\\"mod\\\"\"} 7\n"), "{p}");
        assert!(p.contains("# TYPE modcachefs_cache_bytes gauge\nmodcachefs_cache_bytes{"), "{p}");
        assert!(!p.contains("pid"), "{p}");
    }
}
