//! Answers one GOPROXY request from the current store snapshot: finds the file in
//! the mount's namespace (`cache/download/<path>/@v/...`, through `Fs::lookup`),
//! takes its bytes from the verification core (`Content::mod_file`, `verified`,
//! `read_zip`), and builds the response: headers for shared caches, HEAD,
//! conditional requests and byte ranges of `.zip`.
//!
//! Nothing of a module is sent before it verified. Zips are streamed from the
//! verified blob in chunks, so a response holds a chunk or two in memory, however
//! large the zip and however slow the client. A first verification (seconds for a
//! large module) and the first read of a `.mod` run on tokio's blocking pool, never
//! on the threads that drive connections. Chunks of a verified zip are read on the
//! connection's thread, as nginx reads files without `aio threads`: verification
//! has just read the whole blob, so it is normally in the page cache, where a read
//! is a copy of microseconds and a hand-off to another thread and back costs more
//! (a cold read blocks that thread for one disk read of at most `CHUNK`).

use crate::error::Result;
use crate::serve::metrics::Kind;
use crate::serve::route::{self, Ext, Refusal, Route};
use crate::serve::snapshot::Snapshot;
use crate::serve::Server;
use crate::vfs::content::Verified;
use crate::vfs::fs::Attr;
use crate::vfs::namespace::ROOT;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

/// Bytes read from a zip blob at a time.
const CHUNK: u64 = 256 << 10;

/// Versioned files never change: a shared cache may keep them for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `list`, `@latest` and misses change when modules are imported.
const SHORT: &str = "public, max-age=60";
const NO_STORE: &str = "no-store";

enum BodySrc {
    Empty,
    Bytes(Bytes),
    /// `[start, end)` of a verified zip blob.
    Zip {
        snap: Arc<Snapshot>,
        v: Arc<Verified>,
        label: String,
        start: u64,
        end: u64,
    },
}

impl BodySrc {
    fn len(&self) -> u64 {
        match self {
            BodySrc::Empty => 0,
            BodySrc::Bytes(b) => b.len() as u64,
            BodySrc::Zip { start, end, .. } => end - start,
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: Vec<(header::HeaderName, String)>,
    body: BodySrc,
}

impl Reply {
    fn text(status: StatusCode, cache: &str, msg: String) -> Reply {
        Reply {
            status,
            headers: vec![
                (header::CONTENT_TYPE, "text/plain; charset=UTF-8".into()),
                (header::CACHE_CONTROL, cache.into()),
            ],
            body: BodySrc::Bytes(Bytes::from(msg + "\n")),
        }
    }

    fn not_found(what: &str) -> Reply {
        Reply::text(StatusCode::NOT_FOUND, SHORT, format!("not found: {what}"))
    }

    /// A failure of the store or of a module's verification: its cause is logged
    /// once (with the module's name), the client gets a short reason.
    fn failed(what: &str, e: &crate::error::Error) -> Reply {
        crate::vfs::failures::log_once(e);
        Reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            NO_STORE,
            format!("{what}: refused: it failed verification or cannot be read from the store (see the server's log)"),
        )
    }

    /// A 200 for `data`, identified by `etag` (a hex digest).
    fn bytes(content_type: &str, cache: &str, etag: &str, mtime: Option<SystemTime>, data: Bytes) -> Reply {
        let mut headers = vec![
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CACHE_CONTROL, cache.to_string()),
            (header::ETAG, format!("\"{etag}\"")),
        ];
        if let Some(t) = mtime {
            headers.push((header::LAST_MODIFIED, httpdate::fmt_http_date(t)));
        }
        Reply { status: StatusCode::OK, headers, body: BodySrc::Bytes(data) }
    }
}

/// Recorded when the response body is dropped: after its last byte went to the
/// connection, or when the client went away.
struct Finish {
    srv: Arc<Server>,
    t0: Instant,
    kind: Kind,
    status: u16,
    sent: u64,
    remote: SocketAddr,
    method: Method,
    path: String,
    range: Option<String>,
    user_agent: Option<String>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let secs = self.t0.elapsed().as_secs_f64();
        self.srv.metrics.record(self.kind, self.status, self.sent, secs);
        if let Some(log) = &self.srv.access {
            let line = crate::serve::access_log::Line {
                remote: &self.remote.to_string(),
                method: self.method.as_str(),
                path: &self.path,
                status: self.status,
                bytes: self.sent,
                secs,
                kind: self.kind.as_str(),
                range: self.range.as_deref(),
                user_agent: self.user_agent.as_deref(),
            }
            .to_json();
            if !log.write(line) {
                crate::ops::stats::inc(&self.srv.metrics.access_log_dropped);
            }
        }
    }
}

/// A response body that counts what it hands out and finishes the request's
/// record when dropped.
struct Tracked {
    inner: BoxStream<'static, std::io::Result<Bytes>>,
    finish: Finish,
}

impl Stream for Tracked {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(b))) = &polled {
            self.finish.sent += b.len() as u64;
        }
        polled
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

pub(crate) async fn handle(
    State(srv): State<Arc<Server>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    let t0 = Instant::now();
    let (parts, _) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let (kind, reply) = if parts.method != Method::GET && !head {
        let mut r = Reply::text(StatusCode::METHOD_NOT_ALLOWED, NO_STORE, "only GET and HEAD are served".into());
        r.headers.push((header::ALLOW, "GET, HEAD".into()));
        (Kind::Other, r)
    } else {
        match route::parse(parts.uri.path()) {
            Err(refusal) => (Kind::Other, refused(refusal)),
            Ok(r) => answer(&srv, r, &parts.headers).await,
        }
    };
    let finish = Finish {
        srv,
        t0,
        kind,
        status: reply.status.as_u16(),
        sent: 0,
        remote,
        path: parts.uri.path().to_string(),
        range: header_str(&parts.headers, header::RANGE),
        user_agent: header_str(&parts.headers, header::USER_AGENT),
        method: parts.method,
    };
    respond(reply, finish, head)
}

fn refused(r: Refusal) -> Reply {
    match r {
        Refusal::Malformed(why) => Reply::text(StatusCode::BAD_REQUEST, NO_STORE, format!("bad request: {why}")),
        Refusal::TooLong => Reply::text(
            StatusCode::URI_TOO_LONG,
            NO_STORE,
            format!("bad request: the path is longer than {} bytes", route::MAX_PATH),
        ),
        Refusal::NotFound(why) => Reply::not_found(&why),
    }
}

fn respond(reply: Reply, finish: Finish, head: bool) -> Response<Body> {
    let status = reply.status;
    let mut b = Response::builder().status(status);
    for (k, v) in &reply.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            b = b.header(k, v);
        }
    }
    if status != StatusCode::NOT_MODIFIED {
        b = b.header(header::CONTENT_LENGTH, reply.body.len());
    }
    let inner: BoxStream<'static, std::io::Result<Bytes>> = match reply.body {
        _ if head || status == StatusCode::NOT_MODIFIED => stream::empty().boxed(),
        BodySrc::Empty => stream::empty().boxed(),
        BodySrc::Bytes(data) => stream::once(async move { Ok(data) }).boxed(),
        BodySrc::Zip { snap, v, label, start, end } => zip_stream(snap, v, label, start, end),
    };
    match b.body(Body::from_stream(Tracked { inner, finish })) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot build a response: {e}");
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// `[start, end)` of a verified zip, read a chunk at a time (see the header).
/// A read that fails or comes up short ends the stream with an error, which aborts
/// the connection: the client sees a truncated body, never wrong bytes.
fn zip_stream(
    snap: Arc<Snapshot>,
    v: Arc<Verified>,
    label: String,
    start: u64,
    end: u64,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::try_unfold((snap, v, label, start), move |(snap, v, label, off)| async move {
        if off >= end {
            return Ok(None);
        }
        let n = (end - off).min(CHUNK) as u32;
        let got = snap.fs.read_zip(&v, off, n);
        let chunk = match got {
            Ok(c) if c.is_empty() => Err(format!("the zip blob ends at {off} bytes, before its recorded size")),
            Ok(c) => Ok(c),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|why| {
            log::error!("{label}: zip download aborted: {why}");
            std::io::Error::other(why)
        })?;
        let next = off + chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (snap, v, label, next))))
    })
    .boxed()
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    let want = format!("\"{etag}\"");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == want))
}

/// A 304 instead of `reply` when the client holds the same version already.
fn conditional(headers: &HeaderMap, etag: &str, reply: Reply) -> Reply {
    if !matches_etag(headers, etag) {
        return reply;
    }
    let keep = [header::ETAG, header::CACHE_CONTROL, header::LAST_MODIFIED];
    Reply {
        status: StatusCode::NOT_MODIFIED,
        headers: reply.headers.into_iter().filter(|(k, _)| keep.contains(k)).collect(),
        body: BodySrc::Empty,
    }
}

/// Finds `cache/download/<esc_path>/@v/<file>` in the mount's namespace.
fn lookup(snap: &Snapshot, esc_path: &str, file: &str) -> Result<Option<Attr>> {
    let names = ["cache", "download"].into_iter().chain(esc_path.split('/')).chain(["@v", file]);
    let mut found = None;
    let mut ino = ROOT;
    for name in names {
        match snap.fs.lookup(ino, name)? {
            Some(a) => {
                ino = a.ino;
                found = Some(a);
            }
            None => return Ok(None),
        }
    }
    Ok(found.filter(|a| !a.is_dir))
}

/// A whole small file (list, .info, .mod) of the namespace.
fn read_all(snap: &Snapshot, a: &Attr) -> Result<Option<Bytes>> {
    Ok(snap.fs.read(a.ino, 0, u32::MAX)?.map(Bytes::from))
}

async fn answer(srv: &Arc<Server>, r: Route, headers: &HeaderMap) -> (Kind, Reply) {
    let snap = srv.snapshot();
    match r {
        Route::Metrics => {
            let page = srv.metrics.render(&srv.opener.stats, snap.size());
            let mut reply = Reply::text(StatusCode::OK, NO_STORE, String::new());
            reply.headers[0].1 = "text/plain; version=0.0.4; charset=utf-8".into();
            reply.body = BodySrc::Bytes(Bytes::from(page));
            (Kind::Metrics, reply)
        }
        Route::Sumdb { db, rel } => {
            // A record or tile is proved against the signed tree on its first read.
            let hs = headers.clone();
            let reply = tokio::task::spawn_blocking(move || sumdb(&snap, &db, &rel, &hs))
                .await
                .unwrap_or_else(|e| Reply::text(StatusCode::INTERNAL_SERVER_ERROR, NO_STORE, e.to_string()));
            (Kind::Other, reply)
        }
        Route::List { esc_path, path } => (Kind::List, list(&snap, &esc_path, &path, headers)),
        Route::Latest { esc_path, path } => (Kind::Latest, latest(&snap, &esc_path, &path, headers)),
        Route::File { esc_path, path, esc_version, version, ext } => {
            let kind = match ext {
                Ext::Info => Kind::Info,
                Ext::Mod => Kind::Mod,
                Ext::Zip => Kind::Zip,
            };
            let label = format!("{path}@{version}");
            let Some(m) = snap.module_index(&path, &version) else {
                return (kind, Reply::not_found(&format!("{label}: not in the store")));
            };
            // The first .mod read and the first verification of a zip read blobs
            // (a verification may take seconds): off the connection threads.
            let blocks = match ext {
                Ext::Info => false,
                Ext::Mod => !snap.fs.has_mod(m),
                Ext::Zip => snap.verified_now(m).is_none(),
            };
            let name = format!("{esc_version}.{}", ext.as_str());
            let reply = if blocks {
                let (s, hs) = (snap.clone(), headers.clone());
                tokio::task::spawn_blocking(move || file(s, m, &esc_path, &name, &label, ext, &hs))
                    .await
                    .unwrap_or_else(|e| Reply::text(StatusCode::INTERNAL_SERVER_ERROR, NO_STORE, e.to_string()))
            } else {
                file(snap, m, &esc_path, &name, &label, ext, headers)
            };
            (kind, reply)
        }
    }
}

/// A checksum-database file, as `GOPROXY`'s `/sumdb/<db>/...` passes it through.
/// Full tiles never change; the tree note, lookups (answered with the newest
/// note) and partial tiles change as the store learns newer trees.
fn sumdb(snap: &Snapshot, db: &str, rel: &str, headers: &HeaderMap) -> Reply {
    let files = snap.fs.sumdb();
    if !files.supported(db) {
        return Reply::not_found(&format!("checksum database {db}: not in the store"));
    }
    match files.get(db, rel) {
        Some(data) => {
            let data = Bytes::from(data);
            let etag = crate::gomod::h1::hex(&crate::gomod::h1::sha256(&data));
            let full_tile = rel.starts_with("tile/") && !rel.contains(".p/");
            let (ctype, cache) = if rel.starts_with("tile/") {
                ("application/octet-stream", if full_tile { IMMUTABLE } else { SHORT })
            } else {
                ("text/plain; charset=UTF-8", SHORT)
            };
            conditional(headers, &etag, Reply::bytes(ctype, cache, &etag, None, data))
        }
        None => Reply::not_found(&format!("checksum database {db}: {rel}: not in the store")),
    }
}

fn list(snap: &Snapshot, esc_path: &str, path: &str, headers: &HeaderMap) -> Reply {
    let found = lookup(snap, esc_path, "list").and_then(|a| match a {
        Some(a) => read_all(snap, &a),
        None => Ok(None),
    });
    match found {
        Ok(Some(data)) => {
            let etag = crate::gomod::h1::hex(&crate::gomod::h1::sha256(&data));
            conditional(headers, &etag, Reply::bytes("text/plain; charset=UTF-8", SHORT, &etag, None, data))
        }
        Ok(None) => Reply::not_found(&format!("{path}: no versions in the store")),
        Err(e) => Reply::failed(path, &e),
    }
}

/// `@latest`: the highest release version, else the highest pre-release or
/// pseudo-version, that has an `.info`. (cmd/go asks for it only when `list`
/// names no release or pre-release: for modules known by pseudo-versions only.)
fn latest(snap: &Snapshot, esc_path: &str, path: &str, headers: &HeaderMap) -> Reply {
    let listed = match lookup(snap, esc_path, "list").and_then(|a| match a {
        Some(a) => read_all(snap, &a),
        None => Ok(None),
    }) {
        Ok(Some(l)) => String::from_utf8_lossy(&l).into_owned(),
        Ok(None) => return Reply::not_found(&format!("{path}: no versions in the store")),
        Err(e) => return Reply::failed(path, &e),
    };
    // `list` is in semver order; a canonical version with no `-` before its build
    // suffix (`+incompatible`) is a release.
    let is_release = |v: &str| !v.split('+').next().unwrap_or(v).contains('-');
    let versions: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    let releases = versions.iter().rev().filter(|v| is_release(v));
    let by_preference = releases.chain(versions.iter().rev().filter(|v| !is_release(v)));
    for v in by_preference {
        let Some(ev) = crate::gomod::path::escape(v) else { continue };
        match lookup(snap, esc_path, &format!("{ev}.info")).and_then(|a| match a {
            Some(a) => Ok(read_all(snap, &a)?.map(|d| (a, d))),
            None => Ok(None),
        }) {
            Ok(Some((a, data))) => {
                let etag = crate::gomod::h1::hex(&crate::gomod::h1::sha256(&data));
                let reply = Reply::bytes("application/json", SHORT, &etag, Some(a.mtime), data);
                return conditional(headers, &etag, reply);
            }
            Ok(None) => continue,
            Err(e) => return Reply::failed(&format!("{path}@{v}"), &e),
        }
    }
    Reply::not_found(&format!("{path}: no version with an .info in the store"))
}

/// A versioned file of module `m`: `.info`, `.mod` (checked against its hash) or
/// `.zip` (the whole module verified first).
fn file(snap: Arc<Snapshot>, m: u32, esc_path: &str, name: &str, label: &str, ext: Ext, headers: &HeaderMap) -> Reply {
    let attr = match lookup(&snap, esc_path, name) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let what = match ext {
                Ext::Info => "no .info in the store",
                Ext::Mod => "no .mod in the store",
                Ext::Zip => "the store has only its go.mod (no zip)",
            };
            return Reply::not_found(&format!("{label}: {what}"));
        }
        Err(e) => return Reply::failed(label, &e),
    };
    let Some(module) = snap.module(m) else { return Reply::not_found(label) };
    match ext {
        Ext::Info | Ext::Mod => {
            let data = match read_all(&snap, &attr) {
                Ok(Some(d)) => d,
                Ok(None) => return Reply::not_found(label),
                Err(e) => return Reply::failed(label, &e),
            };
            let (ctype, etag) = match ext {
                Ext::Info => ("application/json", crate::gomod::h1::hex(&crate::gomod::h1::sha256(&data))),
                // The blob is named by the sha256 of the very bytes just checked.
                _ => ("text/plain; charset=UTF-8", module.mod_blob.clone()),
            };
            conditional(headers, &etag, Reply::bytes(ctype, IMMUTABLE, &etag, Some(attr.mtime), data))
        }
        Ext::Zip => {
            let Some(zi) = &module.zip else { return Reply::not_found(label) };
            let v = match snap.verified(m) {
                Ok(v) => v,
                Err(e) => return Reply::failed(label, &e),
            };
            let etag = zi.blob.clone();
            let mut reply = Reply::bytes("application/zip", IMMUTABLE, &etag, Some(attr.mtime), Bytes::new());
            reply.headers.push((header::ACCEPT_RANGES, "bytes".into()));
            let size = zi.size;
            let (start, end) = match byte_range(headers, &etag, size) {
                Ranged::Whole => (0, size),
                Ranged::Part(s, e) => {
                    reply.status = StatusCode::PARTIAL_CONTENT;
                    reply.headers.push((header::CONTENT_RANGE, format!("bytes {s}-{}/{size}", e - 1)));
                    (s, e)
                }
                Ranged::Unsatisfiable => {
                    let mut r = Reply::text(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        NO_STORE,
                        format!("{label}: range not satisfiable"),
                    );
                    r.headers.push((header::CONTENT_RANGE, format!("bytes */{size}")));
                    return r;
                }
            };
            reply.body = BodySrc::Zip { snap: snap.clone(), v, label: label.to_string(), start, end };
            conditional(headers, &etag, reply)
        }
    }
}

enum Ranged {
    Whole,
    /// `[start, end)`.
    Part(u64, u64),
    Unsatisfiable,
}

/// The one byte range asked for, if any. Several ranges, a malformed header or an
/// `If-Range` naming another version get the whole file (RFC 9110 lets a server
/// ignore `Range`); cmd/go itself never asks for ranges, download managers and
/// caches do.
fn byte_range(headers: &HeaderMap, etag: &str, size: u64) -> Ranged {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ranged::Whole };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        if if_range.trim() != format!("\"{etag}\"") {
            return Ranged::Whole;
        }
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else { return Ranged::Whole };
    match parsed.validate(size) {
        Ok(ranges) => match ranges.as_slice() {
            [r] => Ranged::Part(*r.start(), r.end() + 1),
            _ => Ranged::Whole,
        },
        Err(_) => Ranged::Unsatisfiable,
    }
}
