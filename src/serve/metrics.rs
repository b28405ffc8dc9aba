//! Counters of `modcachefs serve`, and their `/metrics` page in the Prometheus
//! text exposition format (version 0.0.4).
//!
//! Written by hand rather than with a metrics crate: the page is a dozen fixed
//! series, the format is plain lines of `name{labels} value`, and the counters
//! are lock-free atomics bumped on every request (a registry of label families
//! would put a lock or a hash lookup there).

use crate::ops::stats::Stats;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The status codes the server answers with; anything else counts as "other".
const CODES: [u16; 10] = [200, 206, 304, 400, 404, 405, 414, 416, 500, 503];

/// What a request asked for (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    List,
    Latest,
    Info,
    Mod,
    Zip,
    Metrics,
    Other,
}

const KINDS: [(Kind, &str); 7] = [
    (Kind::List, "list"),
    (Kind::Latest, "latest"),
    (Kind::Info, "info"),
    (Kind::Mod, "mod"),
    (Kind::Zip, "zip"),
    (Kind::Metrics, "metrics"),
    (Kind::Other, "other"),
];

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        KINDS.iter().find(|(k, _)| *k == self).map_or("other", |(_, s)| s)
    }

    fn index(self) -> usize {
        KINDS.iter().position(|(k, _)| *k == self).unwrap_or(KINDS.len() - 1)
    }
}

/// Upper bounds (seconds) of the request-duration histogram, from request to the
/// last body byte handed to the connection.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0, 30.0];

#[derive(Default)]
pub(crate) struct Metrics {
    by_code: [AtomicU64; CODES.len() + 1],
    by_kind: [AtomicU64; KINDS.len()],
    body_bytes: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_micros: AtomicU64,
    duration_count: AtomicU64,
    pub(crate) reloads_ok: AtomicU64,
    pub(crate) reloads_failed: AtomicU64,
    pub(crate) access_log_dropped: AtomicU64,
}

/// What the store holds, for the store-size gauges.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreSize {
    pub modules: u64,
    pub(crate) zips: u64,
    pub(crate) zip_bytes: u64,
}

impl Metrics {
    /// Counts one finished request.
    pub(crate) fn record(&self, kind: Kind, status: u16, body_bytes: u64, secs: f64) {
        let code = CODES.iter().position(|&c| c == status).unwrap_or(CODES.len());
        self.by_code[code].fetch_add(1, Relaxed);
        self.by_kind[kind.index()].fetch_add(1, Relaxed);
        self.body_bytes.fetch_add(body_bytes, Relaxed);
        if let Some(b) = BUCKETS.iter().position(|&le| secs <= le) {
            self.duration_buckets[b].fetch_add(1, Relaxed);
        }
        self.duration_micros.fetch_add((secs * 1e6) as u64, Relaxed);
        self.duration_count.fetch_add(1, Relaxed);
    }

    /// The `/metrics` page. `stats` are the verification core's counters (shared
    /// by every reload of the store), `store` what the current index holds.
    pub(crate) fn render(&self, stats: &Stats, store: StoreSize) -> String {
        let mut s = String::with_capacity(4096);
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        let codes: Vec<(String, u64)> = CODES
            .iter()
            .map(|c| c.to_string())
            .chain(std::iter::once("other".to_string()))
            .zip(&self.by_code)
            .map(|(c, n)| (format!("{{code=\"{c}\"}}"), n.load(Relaxed)))
            .collect();
        family("modcachefs_http_requests_total", "counter", "HTTP requests answered, by status code.", &codes);
        let kinds: Vec<(String, u64)> =
            KINDS.iter().zip(&self.by_kind).map(|((_, k), n)| (format!("{{kind=\"{k}\"}}"), n.load(Relaxed))).collect();
        family(
            "modcachefs_http_requests_by_kind_total",
            "counter",
            "HTTP requests answered, by what they asked for.",
            &kinds,
        );
        family(
            "modcachefs_http_response_body_bytes_total",
            "counter",
            "Response body bytes handed to connections.",
            &[(String::new(), self.body_bytes.load(Relaxed))],
        );
        let v = |a: &AtomicU64| a.load(Relaxed);
        family(
            "modcachefs_verifications_total",
            "counter",
            "Module zips and go.mod files checked against their trusted hashes, by result.",
            &[
                ("{result=\"ok\"}".into(), v(&stats.verifications_ok)),
                ("{result=\"failed\"}".into(), v(&stats.verifications_failed)),
            ],
        );
        family(
            "modcachefs_store_modules",
            "gauge",
            "Module versions in the store (go.mod-only ones too).",
            &[(String::new(), store.modules)],
        );
        family(
            "modcachefs_store_zip_modules",
            "gauge",
            "Module versions in the store with a zip.",
            &[(String::new(), store.zips)],
        );
        family(
            "modcachefs_store_zip_bytes",
            "gauge",
            "Bytes of the store's zip blobs.",
            &[(String::new(), store.zip_bytes)],
        );
        family(
            "modcachefs_store_reloads_total",
            "counter",
            "Times the store index changed and was read again, by result.",
            &[("{result=\"ok\"}".into(), v(&self.reloads_ok)), ("{result=\"failed\"}".into(), v(&self.reloads_failed))],
        );
        family(
            "modcachefs_access_log_dropped_total",
            "counter",
            "Access log lines dropped because the log writer fell behind.",
            &[(String::new(), v(&self.access_log_dropped))],
        );
        let _ = writeln!(
            s,
            "# HELP modcachefs_http_request_duration_seconds Time from request to the last body byte.\n\
             # TYPE modcachefs_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(&self.duration_buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(s, "modcachefs_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = v(&self.duration_count);
        let _ = writeln!(s, "modcachefs_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(s, "modcachefs_http_request_duration_seconds_sum {}", v(&self.duration_micros) as f64 / 1e6);
        let _ = writeln!(s, "modcachefs_http_request_duration_seconds_count {count}");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record(Kind::Zip, 200, 1000, 0.002);
        m.record(Kind::Mod, 404, 10, 0.0001);
        m.record(Kind::Other, 418, 0, 100.0);
        let stats = Stats::default();
        stats.verifications_ok.store(3, Relaxed);
        let page = m.render(&stats, StoreSize { modules: 5, zips: 2, zip_bytes: 1234 });
        for line in [
            "modcachefs_http_requests_total{code=\"200\"} 1",
            "modcachefs_http_requests_total{code=\"404\"} 1",
            "modcachefs_http_requests_total{code=\"other\"} 1",
            "modcachefs_http_requests_by_kind_total{kind=\"zip\"} 1",
            "modcachefs_http_response_body_bytes_total 1010",
            "modcachefs_verifications_total{result=\"ok\"} 3",
            "modcachefs_store_modules 5",
            "modcachefs_store_zip_bytes 1234",
            "modcachefs_http_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "modcachefs_http_request_duration_seconds_bucket{le=\"0.0025\"} 2",
            "modcachefs_http_request_duration_seconds_bucket{le=\"30\"} 2",
            "modcachefs_http_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "modcachefs_http_request_duration_seconds_count 3",
        ] {
            assert!(page.lines().any(|l| l == line), "missing {line:?} in\n{page}");
        }
        // Every sample line is `name[{labels}] number`.
        for l in page.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
