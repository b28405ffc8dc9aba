//! Looking at running mounts: `stats` (text, JSON, Prometheus), `status` (every
//! mount, or one, with an exit status scripts can use) and `env`.

use super::args::{EnvArgs, EnvShell, StatsArgs, StatsFormat, StatusArgs};
use crate::ops::stats;
use crate::ops::statsock;
use crate::{error::Error, fuse};
use serde_json::{json, Value};
use std::io::ErrorKind;

/// `status` exit status when a listed mount does not answer (or not to this user).
const EXIT_NOT_ANSWERING: u8 = 1;

pub(crate) fn cmd_stats(a: StatsArgs) -> Result<u8, Error> {
    let mnt = fuse::canonical_mountpoint(&a.mountpoint).unwrap_or(a.mountpoint);
    let text = statsock::fetch(&mnt, a.timeout).map_err(|e| Error::Invalid(e.to_string()))?;
    let format = if a.json { StatsFormat::Json } else { a.format };
    let report = stats::parse_report(&text);
    match (format, report) {
        (StatsFormat::Json, _) => println!("{text}"),
        (StatsFormat::Text, Some(r)) => print!("{}", stats::report_text(&r)),
        (StatsFormat::Prometheus, Some(r)) => print!("{}", stats::report_prometheus(&r, &mnt.to_string_lossy())),
        (_, None) => {
            return Err(Error::Invalid(format!(
                "{}: its daemon sent a report that is not a JSON object",
                mnt.display()
            )))
        }
    }
    Ok(0)
}

pub(crate) fn cmd_status(a: StatusArgs) -> Result<u8, Error> {
    let want = match &a.mountpoint {
        Some(p) => Some(fuse::canonical_mountpoint(p).map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let mounts: Vec<_> =
        fuse::modcachefs_mounts().into_iter().filter(|m| want.as_ref().is_none_or(|w| *w == m.mountpoint)).collect();
    if let Some(w) = &want {
        if mounts.is_empty() {
            return Err(Error::Invalid(format!("{}: not a modcachefs mount", w.display())));
        }
    }
    let mut code = 0;
    for m in &mounts {
        let fetched = statsock::fetch(&m.mountpoint, a.timeout);
        let report = fetched.as_ref().ok().and_then(|t| stats::parse_report(t));
        if report.is_none() {
            code = EXIT_NOT_ANSWERING;
        }
        if a.json {
            let line = json!({
                "mountpoint": m.mountpoint.to_string_lossy(),
                "store": m.source,
                "responding": report.is_some(),
                "stats": report.clone().map_or(Value::Null, Value::Object),
                "error": fetched.as_ref().err().map(|e| e.to_string()),
            });
            println!("{line}");
            continue;
        }
        let state = match &fetched {
            Ok(_) if report.is_some() => "responding".to_string(),
            Ok(_) => "NOT RESPONDING (a report that is not JSON)".into(),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => "stats not readable by this user".into(),
            Err(e) if e.kind() == ErrorKind::NotFound => "NOT RESPONDING (no stats socket)".into(),
            Err(_) => "NOT RESPONDING".into(),
        };
        let get = |k: &str| report.as_ref().and_then(|r| r.get(k)).map_or_else(|| "?".into(), |v| v.to_string());
        let log = match report.as_ref().and_then(|r| r.get("log")) {
            Some(Value::String(l)) => l.clone(),
            _ => "-".into(),
        };
        println!(
            "{}  store {}  {state}  modules extracted {}  cache {} bytes  log {log}",
            m.mountpoint.display(),
            m.source,
            get("modules_extracted"),
            get("cache_bytes"),
        );
        if let Err(e) = &fetched {
            eprintln!("modcachefs: {e}");
        }
    }
    if mounts.is_empty() && !a.json {
        println!("no modcachefs mounts");
    }
    Ok(code)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The environment for offline builds on the mount. No `GOFLAGS=-mod=mod`: a
/// module whose go.sum is complete builds with Go's default (`-mod=readonly`),
/// and go workspaces refuse `-mod=mod` outright; a user whose go.sum lacks lines
/// adds `-mod=mod` (outside workspaces) so that go may write them.
pub(crate) fn cmd_env(store_dir: &std::path::Path, a: EnvArgs) -> Result<u8, Error> {
    let mnt = fuse::canonical_mountpoint(&a.mountpoint).map_err(|e| Error::io(&a.mountpoint, e))?;
    match fuse::modcachefs_mounts().into_iter().rev().find(|m| m.mountpoint == mnt) {
        None => eprintln!("modcachefs: warning: {} is not a modcachefs mount (yet)", mnt.display()),
        Some(m) => {
            let me = rustix::process::getuid().as_raw();
            if let Some(owner) = m.user_id().filter(|o| *o != me && !m.allow_other()) {
                eprintln!(
                    "modcachefs: warning: {} is mounted by uid {owner} without --allow-other: \
                     this user (uid {me}) cannot read it; remount it with --allow-other",
                    mnt.display()
                );
            }
        }
    }
    let mnt = mnt.to_string_lossy().into_owned();
    let mut vars: Vec<(&str, String)> = Vec::new();
    if a.proxy {
        vars.push(("GOPROXY", format!("file://{mnt}/cache/download")));
    } else {
        vars.push(("GOMODCACHE", mnt.clone()));
        vars.push(("GOPROXY", "off".into()));
    }
    // A mount that serves a checksum database keeps GOSUMDB on (go checks modules
    // missing from go.sum against the signed records offline); otherwise the
    // database is unreachable and the mount verified every module.
    let sumdb = crate::sumdb::gosumdb_for_mount(std::path::Path::new(&mnt), store_dir);
    vars.push(("GOSUMDB", sumdb.clone().unwrap_or_else(|| "off".into())));
    if sumdb.is_some() {
        eprintln!(
            "modcachefs: GOSUMDB stays on: modules no checksum database lists (private ones) must be named in GOPRIVATE or GONOSUMDB, e.g. GONOSUMDB='corp.example.com/*'"
        );
    }
    // Go >= 1.21 would otherwise try to download a toolchain into the cache.
    vars.push(("GOTOOLCHAIN", "local".into()));
    if a.json {
        let obj: serde_json::Map<String, Value> =
            vars.into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect();
        println!("{}", Value::Object(obj));
    } else {
        for (k, v) in vars {
            match a.shell {
                EnvShell::Sh => println!("export {k}={}", shell_quote(&v)),
                EnvShell::Fish => println!("set -gx {k} {};", shell_quote(&v)),
            }
        }
    }
    Ok(0)
}
