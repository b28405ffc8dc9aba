//! `modcachefs serve` with real clients: Debian's Go 1.19 and a current Go
//! building the test application from an empty module cache through it (and
//! through a real nginx with `proxy_cache` in front of it), the protocol's headers,
//! ranges and conditional requests checked byte for byte against the corpus,
//! tampered blobs and distrusted hashes refused, hostile paths refused without a
//! file outside the store being touched, and imports showing up without a restart.

mod common;
#[path = "common/http.rs"]
mod http;

use common::*;
use http::{get, request, wait_for_listening, Nginx, Serve};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

// --- helpers -----------------------------------------------------------------

/// Every module in the store, as `modcachefs ls --json` shows it:
/// (path, version) -> (go.mod h1, zip h1 or None for go.mod-only modules).
fn store_modules(store: &Path) -> BTreeMap<(String, String), (String, Option<String>)> {
    let out = ok(&modcachefs(&["--store", &store.to_string_lossy(), "ls", "--json"]), "ls --json");
    out.lines()
        .map(|l| {
            let f =
                |k: &str| l.split(&format!("\"{k}\":\"")).nth(1).and_then(|r| r.split('"').next()).map(str::to_string);
            let key = (f("path").expect("path"), f("version").expect("version"));
            (key, (f("mod_h1").expect("mod_h1"), f("zip_h1")))
        })
        .collect()
}

/// Asserts that every line of a go.sum holds the hash the store recorded.
fn assert_go_sum_matches_store(go_sum: &Path, store: &BTreeMap<(String, String), (String, Option<String>)>) -> usize {
    let sums = std::fs::read_to_string(go_sum).unwrap_or_else(|e| panic!("{}: {e}", go_sum.display()));
    let mut zips = 0;
    for l in sums.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 3, "go.sum line {l:?}");
        let (v, want) = match f[1].strip_suffix("/go.mod") {
            Some(v) => (v, store.get(&(f[0].into(), v.into())).map(|(m, _)| m.clone())),
            None => {
                zips += 1;
                (f[1], store.get(&(f[0].into(), f[1].into())).and_then(|(_, z)| z.clone()))
            }
        };
        assert_eq!(want.as_deref(), Some(f[2]), "{} {v}: go.sum says {}, the store recorded {want:?}", f[0], f[2]);
    }
    zips
}

/// The JSON objects `go ... -json` prints one after another.
fn json_objects(out: &str) -> Vec<Vec<(String, String)>> {
    let mut objs = Vec::new();
    let mut cur = String::new();
    for l in out.lines() {
        cur.push_str(l);
        cur.push('\n');
        if l == "}" {
            objs.push(modcachefs::gomod::info::object_members(&cur).unwrap_or_else(|| panic!("not JSON: {cur}")));
            cur.clear();
        }
    }
    objs
}

fn member(obj: &[(String, String)], k: &str) -> Option<String> {
    obj.iter().find(|(n, _)| n == k).and_then(|(_, v)| modcachefs::gomod::info::unquote(v))
}

/// A go client of `proxy` with an empty module cache at `gmc`. `-trimpath` keeps
/// the module cache's location out of the build cache's keys, so builds after
/// the first reuse the shared build cache and cost only their downloads (which
/// are what these tests are about).
fn go_via(bin: &Path, gmc: &Path, proxy: &str) -> Go {
    let mut go = Go::new(bin, gmc, &shared_gocache(), proxy);
    for (k, v) in go.envs.iter_mut() {
        if k == "GOFLAGS" {
            v.push_str(" -trimpath");
        }
    }
    go
}

// A module of the corpus with a zip, and one with a go.mod only.
const MODULE: &str = "github.com/spf13/cobra";
const ESC_MODULE: &str = "github.com/spf13/cobra";
const VERSION: &str = "v1.6.1";

// --- 1. real go clients -------------------------------------------------------

/// Go 1.19 and the current Go build the app from an empty module cache with
/// GOPROXY=http://serve; the go.sum they write holds exactly the store's hashes;
/// `go mod download -json` of every module succeeds with those hashes; with
/// `GOPROXY=serve,off`, a missing module falls through to `off` as Go expects.
/// Then through nginx's proxy_cache: the same build works, and a second build
/// with another empty module cache is answered by nginx alone.
#[test]
fn go_builds_through_serve_and_through_nginx_in_front() {
    let tmp = tempdir("serve-go");
    let store = corpus_store(tmp.path());
    let recorded = store_modules(&store);
    let access = tmp.path().join("access.log");
    let srv = Serve::start(&store, &tmp.path().join("serve.log"), &["--access-log", &access.to_string_lossy()]);
    let url = srv.url();
    let (zip_modules, gomod_only): (Vec<_>, Vec<_>) = recorded.iter().partition(|(_, (_, z))| z.is_some());
    let at = |((p, v), _): &(&(String, String), &(String, Option<String>))| format!("{p}@{v}");

    for (label, gobin) in gos() {
        let gmc = tmp.path().join(format!("gomodcache-{label}"));
        let go = go_via(&gobin, &gmc, &url);
        let app = app_copy(&tmp.path().join(label));
        let t = Instant::now();
        go.run(&app, &["build", "./..."]);
        eprintln!("[{label}] build through serve: {:.1} s", t.elapsed().as_secs_f64());
        let zips = assert_go_sum_matches_store(&app.join("go.sum"), &recorded);
        assert!(zips >= 20, "[{label}] only {zips} module zips in go.sum");

        // Every module of the store: zips with `go mod download`, go.mod-only ones
        // with `go list -m` (which reads their .info and .mod).
        let mut args = vec!["mod".to_string(), "download".into(), "-json".into()];
        args.extend(zip_modules.iter().map(at));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let t = Instant::now();
        let objs = json_objects(&go.run(&app, &args));
        eprintln!("[{label}] download all: {:.1} s", t.elapsed().as_secs_f64());
        assert_eq!(objs.len(), zip_modules.len(), "[{label}] one answer per module");
        for o in &objs {
            let (p, v) = (member(o, "Path").unwrap(), member(o, "Version").unwrap());
            assert_eq!(member(o, "Error"), None, "[{label}] {p}@{v}");
            let (mod_h1, zip_h1) = &recorded[&(p.clone(), v.clone())];
            assert_eq!(member(o, "Sum").as_ref(), zip_h1.as_ref(), "[{label}] {p}@{v} zip hash");
            assert_eq!(member(o, "GoModSum").as_ref(), Some(mod_h1), "[{label}] {p}@{v} go.mod hash");
        }
        let mut args = vec!["list".to_string(), "-m".into(), "-json".into()];
        args.extend(gomod_only.iter().map(at));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let objs = json_objects(&go.run(&app, &args));
        assert_eq!(objs.len(), gomod_only.len(), "[{label}] one answer per go.mod-only module");
        for o in &objs {
            assert_eq!(member(o, "Error"), None, "[{label}] {o:?}");
            assert!(member(o, "Time").is_some(), "[{label}] no .info time: {o:?}");
        }

        // Missing modules: 404 from serve, then `off` refuses, as with any proxy.
        let off = go_via(&gobin, &gmc, &format!("{url},off"));
        for missing in ["example.com/not/in/store@v1.0.0", &format!("{MODULE}@v1.99.0")] {
            let out = off.try_run(&app, &["mod", "download", "-json", missing]);
            assert!(!out.status.success(), "[{label}] {missing} downloaded?");
            let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(all.contains("module lookup disabled by GOPROXY=off"), "[{label}] {missing}:\n{all}");
        }
        let out = go.try_run(&app, &["mod", "download", "-json", "example.com/not/in/store@v1.0.0"]);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success() && all.contains("404 Not Found"), "[{label}] without off:\n{all}");
    }
    assert_eq!(srv.metric("modcachefs_verifications_total{result=\"failed\"}"), 0);
    assert!(srv.metric("modcachefs_verifications_total{result=\"ok\"}") >= zip_modules.len() as u64);
    assert_eq!(srv.metric("modcachefs_http_requests_total{code=\"500\"}"), 0);
    let lines = std::fs::read_to_string(&access).unwrap();
    assert!(lines.lines().count() > 200 && lines.contains("\"status\":404"), "access log:\n{lines}");
    assert!(lines.lines().all(|l| modcachefs::gomod::info::object_members(l).is_some()), "access log is JSON lines");

    // nginx with proxy_cache in front: one cold build fills its cache, and the
    // second, from another empty module cache, never reaches serve.
    let nginx = Nginx::proxy_cache(&tmp.path().join("nginx"), &srv.addr);
    let via = format!("http://{}", nginx.addr);
    let app = app_copy(&tmp.path().join("via-nginx"));
    let go = go_via(&go_old(), &tmp.path().join("gomodcache-nginx-1"), &via);
    let t = Instant::now();
    go.run(&app, &["build", "./..."]);
    eprintln!("build through nginx, cold cache: {:.1} s", t.elapsed().as_secs_f64());
    assert_go_sum_matches_store(&app.join("go.sum"), &recorded);
    let before = srv.metric("modcachefs_http_requests_by_kind_total{kind=\"zip\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"mod\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"info\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"list\"}");
    let go = go_via(&go_old(), &tmp.path().join("gomodcache-nginx-2"), &via);
    let t = Instant::now();
    go.run(&app, &["build", "./..."]);
    eprintln!("build through nginx, from its cache: {:.1} s", t.elapsed().as_secs_f64());
    let after = srv.metric("modcachefs_http_requests_by_kind_total{kind=\"zip\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"mod\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"info\"}")
        + srv.metric("modcachefs_http_requests_by_kind_total{kind=\"list\"}");
    assert_eq!(after, before, "the second build through nginx reached serve");
    let zip = format!("/{ESC_MODULE}/@v/{VERSION}.zip");
    let r = get(&nginx.addr, &zip);
    assert_eq!((r.status, r.header("x-cache-status")), (200, "HIT"), "{zip} through nginx");
    assert_eq!(r.body, std::fs::read(proxy().join(format!("{ESC_MODULE}/@v/{VERSION}.zip"))).unwrap());
    drop(nginx);
    let log = srv.stop();
    assert!(!log.contains("error"), "serve logged errors:\n{log}");
}

// --- 2. the protocol, byte for byte ------------------------------------------

/// Every list, .info and .mod of the corpus, and a zip, byte for byte; content
/// types, lengths, ETag, Last-Modified and Cache-Control; HEAD; ranges;
/// conditional requests; @latest; /metrics; and `--daemon` with a pidfile.
#[test]
fn protocol_headers_ranges_and_conditional_requests() {
    let tmp = tempdir("serve-proto");
    let store = corpus_store(tmp.path());
    let rt = tmp.path().join("run");
    std::fs::create_dir_all(&rt).unwrap();
    let (pidfile, log) = (tmp.path().join("serve.pid"), tmp.path().join("serve.log"));
    // --daemon returns once it listens, and leaves its pid.
    let out = Command::new(BIN)
        .env("XDG_RUNTIME_DIR", &rt)
        .arg("--store")
        .arg(&store)
        .args(["-v", "serve", "--listen", "127.0.0.1:0", "--daemon", "--pidfile"])
        .arg(&pidfile)
        .arg("--log-file")
        .arg(&log)
        .output()
        .unwrap();
    ok(&out, "serve --daemon");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0, libc::SIGTERM) };
        }
    }
    let _kill = Kill(pid);
    let addr = wait_for_listening(&log, || false);

    // Every list, .info and .mod, as the corpus's GOPROXY tree has them.
    let root = proxy();
    let mut stack = vec![root.clone()];
    let mut compared = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            let ctype = match p.extension().and_then(|x| x.to_str()) {
                Some("info") => "application/json",
                Some("mod") => "text/plain; charset=UTF-8",
                _ if rel.ends_with("/@v/list") => "text/plain; charset=UTF-8",
                _ => continue,
            };
            let r = get(&addr, &format!("/{rel}"));
            let want = std::fs::read(&p).unwrap();
            assert_eq!(r.status, 200, "{rel}");
            assert!(r.body == want, "{rel}: body differs from the corpus");
            assert_eq!(r.header("content-type"), ctype, "{rel}");
            assert_eq!(r.header("content-length"), want.len().to_string(), "{rel}");
            let cache =
                if rel.ends_with("list") { "public, max-age=60" } else { "public, max-age=31536000, immutable" };
            assert_eq!(r.header("cache-control"), cache, "{rel}");
            assert_eq!(r.header("etag"), format!("\"{}\"", modcachefs::store::digest_hex(&want)), "{rel}");
            compared += 1;
        }
    }
    assert!(compared > 300, "only {compared} files compared");

    // A zip: the blob verbatim, its sha256 as ETag, the .info time as Last-Modified.
    let zip_path = format!("/{ESC_MODULE}/@v/{VERSION}.zip");
    let want = std::fs::read(root.join(&zip_path[1..])).unwrap();
    let etag = format!("\"{}\"", modcachefs::store::digest_hex(&want));
    let r = get(&addr, &zip_path);
    assert_eq!((r.status, r.header("content-type")), (200, "application/zip"));
    assert!(r.body == want, "the zip differs from the corpus");
    assert_eq!(r.header("etag"), etag);
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert_eq!(r.header("cache-control"), "public, max-age=31536000, immutable");
    let info = text(&std::fs::read(root.join(format!("{ESC_MODULE}/@v/{VERSION}.info"))).unwrap());
    let time = info.split("\"Time\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let lm = httpdate::parse_http_date(r.header("last-modified")).expect("Last-Modified");
    let secs = lm.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let out = Command::new("date").args(["-u", "-d", &time, "+%s"]).output().unwrap();
    assert_eq!(secs.to_string(), text(&out.stdout).trim(), "Last-Modified is the .info time {time}");

    // HEAD: the same headers, no body.
    let h = request(&addr, "HEAD", zip_path.as_bytes(), &[]);
    assert_eq!((h.status, h.header("content-length")), (200, want.len().to_string().as_str()));
    assert_eq!(h.header("etag"), etag);
    assert!(h.body.is_empty(), "HEAD sent a body");

    // Ranges.
    let n = want.len();
    for (range, from, to) in [("bytes=0-99", 0, 100), ("bytes=1000-", 1000, n), ("bytes=-77", n - 77, n)] {
        let r = request(&addr, "GET", zip_path.as_bytes(), &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("content-range"), format!("bytes {from}-{}/{n}", to - 1), "{range}");
        assert!(r.body == want[from..to], "{range}: wrong bytes");
    }
    let r = request(&addr, "GET", zip_path.as_bytes(), &[("Range", &format!("bytes={}-", n + 10))]);
    assert_eq!((r.status, r.header("content-range")), (416, format!("bytes */{n}").as_str()));
    // If-Range naming another version: the whole zip.
    let r = request(&addr, "GET", zip_path.as_bytes(), &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")]);
    assert_eq!((r.status, r.body.len()), (200, n));

    // Conditional requests.
    let r = request(&addr, "GET", zip_path.as_bytes(), &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len(), r.header("etag")), (304, 0, etag.as_str()));
    let r = request(&addr, "GET", zip_path.as_bytes(), &[("If-None-Match", "\"nope\"")]);
    assert_eq!(r.status, 200);
    let list = get(&addr, &format!("/{ESC_MODULE}/@v/list"));
    let r =
        request(&addr, "GET", format!("/{ESC_MODULE}/@v/list").as_bytes(), &[("If-None-Match", list.header("etag"))]);
    assert_eq!(r.status, 304);

    // @latest: the highest release; for a module known only by pseudo-versions, the
    // highest of those (its .info names it).
    let r = get(&addr, &format!("/{ESC_MODULE}/@latest"));
    assert_eq!((r.status, r.header("content-type")), (200, "application/json"));
    let last = text(&list.body).lines().last().unwrap().to_string();
    assert!(text(&r.body).contains(&format!("\"Version\":\"{last}\"")), "{}", text(&r.body));
    assert_eq!(r.header("cache-control"), "public, max-age=60");
    let pseudo_only = store_modules(&store)
        .keys()
        .map(|(p, _)| p.clone())
        .find(|p| {
            let l = get(&addr, &format!("/{}/@v/list", modcachefs::gomod::path::escape(p).unwrap()));
            let vs = text(&l.body);
            !vs.is_empty() && vs.lines().all(|v| modcachefs::gomod::version::pseudo_version_time(v).is_some())
        })
        .expect("a module with pseudo-versions only in the corpus");
    let esc = modcachefs::gomod::path::escape(&pseudo_only).unwrap();
    let l = get(&addr, &format!("/{esc}/@v/list"));
    let highest = text(&l.body).lines().last().unwrap().to_string();
    let r = get(&addr, &format!("/{esc}/@latest"));
    assert!(text(&r.body).contains(&format!("\"Version\":\"{highest}\"")), "{pseudo_only}: {}", text(&r.body));

    // Misses are 404 (so GOPROXY lists fall through), briefly cacheable.
    for miss in ["/example.com/none/@v/list", "/example.com/none/@latest", &format!("/{ESC_MODULE}/@v/v9.9.9.info")] {
        let r = get(&addr, miss);
        assert_eq!((r.status, r.header("cache-control")), (404, "public, max-age=60"), "{miss}");
    }
    let r = request(&addr, "POST", zip_path.as_bytes(), &[]);
    assert_eq!((r.status, r.header("allow")), (405, "GET, HEAD"));

    // /metrics: Prometheus text.
    let m = get(&addr, "/metrics");
    assert_eq!(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    let page = text(&m.body);
    for series in [
        "modcachefs_http_requests_total{code=\"206\"} 3",
        "modcachefs_http_requests_total{code=\"416\"} 1",
        "modcachefs_verifications_total{result=\"ok\"} 1",
        "modcachefs_verifications_total{result=\"failed\"} 0",
    ] {
        assert!(page.lines().any(|l| l == series), "no {series:?} in\n{page}");
    }
    let modules = store_modules(&store).len();
    assert!(page.lines().any(|l| l == format!("modcachefs_store_modules {modules}")), "{page}");
    let bytes: u64 = page
        .lines()
        .find_map(|l| l.strip_prefix("modcachefs_http_response_body_bytes_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(bytes > 3 * n as u64, "{bytes} body bytes counted");

    // SIGTERM stops the daemon and removes its pidfile.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(common::daemon::wait_until(10, || !pidfile.exists()), "the pidfile outlived the daemon");
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(!l.contains("error"), "serve logged errors:\n{l}");
}

// --- 3. hostile paths ----------------------------------------------------------

/// Malformed and hostile paths (`..` plain and percent-encoded, `!` misuse, upper
/// case, NUL, control bytes, 10 kB paths, absolute paths) get 4xx, never the
/// contents of a file outside the store; and while they are answered, the server
/// makes no file system call with a path in it (traced with strace), while a
/// control request right before them does open its blob.
#[test]
fn hostile_paths_get_4xx_and_touch_nothing_outside_the_store() {
    let tmp = tempdir("serve-hostile");
    let store = corpus_store(tmp.path());
    // Files a path escape would reach: beside the store, and the store's own index.
    std::fs::write(tmp.path().join("secret"), "SECRET-OUTSIDE-THE-STORE").unwrap();
    let srv = Serve::start(&store, &tmp.path().join("serve.log"), &["--reload-interval", "0"]);
    let strace = Strace::attach(srv.pid(), &tmp.path().join("strace.out"));
    // strace attaches to each thread in turn: let it reach all of them.
    std::thread::sleep(Duration::from_millis(300));
    // Control, traced: the first .mod of a module reads its blob.
    let control = format!("/{ESC_MODULE}/@v/{VERSION}.mod");
    assert_eq!(get(&srv.addr, &control).status, 200);

    let m = ESC_MODULE;
    let v = VERSION;
    let long = "a".repeat(10_000);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        ("/../../../../etc/passwd".into(), 400),
        ("/../secret".into(), 400),
        ("/../index.db".into(), 400),
        (format!("/{m}/@v/../../../../secret").into(), 400),
        (format!("/{m}/@v/..%2f..%2f..%2f..%2fsecret.mod").into(), 400),
        ("/%2e%2e/%2e%2e/%2e%2e/secret".into(), 400),
        (format!("/%2e%2e/{m}/@v/list").into(), 400),
        (format!("/{m}/@v/%2e%2e.zip").into(), 400),
        (format!("/{m}/%2E%2E/%2E%2E/@v/list").into(), 400),
        ("/blobs/@v/list/../../index.db".into(), 400),
        (format!("/{m}/@v/{v}.zip/..").into(), 400),
        ("/..\\..\\secret/@v/list".into(), 400),
        ("//etc/passwd".into(), 400),
        (format!("/{}/@v/{v}.mod", tmp.path().join("secret").display()).into(), 400),
        // Escaping and case: only the escaped, lower-case form names a module.
        ("/github.com/BurntSushi/toml/@v/list".into(), 400),
        ("/github.com/!!burnt!sushi/toml/@v/list".into(), 400),
        ("/github.com/burnt!/toml/@v/list".into(), 400),
        ("/github.com/!1/toml/@v/list".into(), 400),
        (format!("/{m}/@v/V1.6.1.mod").into(), 400),
        (format!("/{m}/@v/{v}!.mod").into(), 400),
        (format!("/{}/@v/list", m.to_uppercase()).into(), 400),
        // NUL, control bytes, bytes that are not UTF-8.
        (format!("/{m}/@v/{v}%00.zip").into(), 400),
        (format!("/{m}%00/@v/list").into(), 400),
        (format!("/{m}/@v/{v}%0a.mod").into(), 400),
        (format!("/{m}%ff%fe/@v/list").into(), 400),
        (format!("/{m}/@v/{v}\x01.mod").into(), 400),
        // Over-long paths.
        (format!("/{long}/@v/list").into(), 414),
        (format!("/{m}/@v/{long}.zip").into(), 414),
        // Well-formed, but not the protocol or not in the store.
        ("/index.db".into(), 404),
        ("/blobs".into(), 404),
        (format!("/{m}/@v/{v}.ziphash").into(), 404),
        (format!("/{m}/@v/{v}.zip.partial").into(), 404),
        (format!("/{m}/@v/master.info").into(), 404),
        ("/sumdb/sum.golang.org/supported".into(), 404),
        ("/example.com/secret/@v/list".into(), 404),
    ];
    let mut bad = Vec::new();
    for (target, want) in &cases {
        for method in ["GET", "HEAD"] {
            let r = request(&srv.addr, method, target, &[]);
            if r.status != *want {
                bad.push(format!("{method} {}: {} (want {want}): {}", text(target), r.status, text(&r.body)));
            }
            if text(&r.body).contains("SECRET") || r.body.starts_with(b"SQLite") || text(&r.body).contains("root:") {
                bad.push(format!("{method} {}: answered with a file's contents", text(target)));
            }
        }
    }
    // A raw NUL byte in the request line: refused by the HTTP parser itself.
    let r = request(&srv.addr, "GET", format!("/{m}/@v/{v}\0.zip").as_bytes(), &[]);
    assert!((400..500).contains(&r.status), "raw NUL: {}", r.status);
    assert_eq!(get(&srv.addr, &control).status, 200, "still serving");

    let traced = strace.finish();
    let store_prefix = format!("{}/", store.canonicalize().unwrap().display());
    let is_blob = |s: &str| {
        let rel = s.strip_prefix(&store_prefix).unwrap_or(s);
        let p: Vec<&str> = rel.split('/').collect();
        let hex = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit());
        p.len() == 3 && p[0] == "blobs" && hex(p[1], 2) && hex(p[2], 62)
            || s == store_prefix.trim_end_matches('/')
            // The index, read as requests name modules (SQLite checks for a journal
            // before each read): inside the store, and never named by a request.
            || ["index.db", "index.db-journal", "index.db-wal", "index.db-shm"].contains(&rel)
            // Its segments and manifest (polled for a new generation).
            || rel != s && p.len() == 2 && p[0] == "index" && !p[1].is_empty() && !p[1].starts_with('.')
            // fstat(2) as statx on a descriptor: no path.
            || s.is_empty()
    };
    let touched: Vec<&str> = traced.lines().filter(|l| quoted(l).iter().any(|q| !is_blob(q))).collect();
    assert!(bad.is_empty(), "{} hostile requests were not refused as expected:\n{}", bad.len(), bad.join("\n"));
    assert!(touched.is_empty(), "serve touched paths other than blobs:\n{}", touched.join("\n"));
    assert!(
        traced.lines().any(|l| l.contains("openat2(") && l.contains("\"blobs/")),
        "strace did not see the control .mod blob being opened; was it attached?\n{traced}"
    );
    assert_eq!(srv.metric("modcachefs_http_requests_total{code=\"500\"}"), 0);
    let log = srv.stop();
    assert!(!log.contains("error"), "serve logged errors:\n{log}");
}

// --- 4. verification, trust options, live updates ----------------------------

/// A module zip blob with one byte changed (same size), and a .mod blob likewise,
/// are never served: 500 with one log line naming the module, every time, while
/// the other modules are served; go refuses the module. A go.sum given with
/// `--go-sum` that disagrees with the store refuses its module the same way.
/// A module imported while serve runs is served within a few seconds.
#[test]
fn tampered_blobs_and_distrusted_sums_are_refused_and_imports_show_up_live() {
    let tmp = tempdir("serve-tamper");
    let store = corpus_store(tmp.path());
    let blob = |data: &[u8]| {
        let h = modcachefs::store::digest_hex(data);
        store.join("blobs").join(&h[..2]).join(&h[2..])
    };
    let flip = |p: &Path| {
        let mut b = std::fs::read(p).unwrap();
        let i = b.len() / 2;
        b[i] ^= 0x20;
        std::fs::write(p, b).unwrap();
    };
    let zip_module = ("github.com/google/uuid", "github.com/google/uuid");
    let zv = std::fs::read_dir(proxy().join(zip_module.1).join("@v"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find_map(|n| n.strip_suffix(".zip").map(str::to_string))
        .expect("a uuid zip");
    flip(&blob(&std::fs::read(proxy().join(format!("{}/@v/{zv}.zip", zip_module.1))).unwrap()));
    let mod_module = "github.com/pkg/errors";
    let mv = "v0.9.1";
    flip(&blob(&std::fs::read(proxy().join(format!("{mod_module}/@v/{mv}.mod"))).unwrap()));
    // A go.sum that distrusts cobra's zip.
    let go_sum = tmp.path().join("go.sum");
    std::fs::write(&go_sum, format!("{MODULE} {VERSION} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")).unwrap();
    let srv = Serve::start(
        &store,
        &tmp.path().join("serve.log"),
        &["--go-sum", &go_sum.to_string_lossy(), "--reload-interval", "1"],
    );

    let zip_url = format!("/{}/@v/{zv}.zip", zip_module.1);
    for _ in 0..3 {
        let r = get(&srv.addr, &zip_url);
        assert_eq!((r.status, r.header("cache-control")), (500, "no-store"), "{zip_url}: {}", text(&r.body));
        assert!(!r.body.starts_with(b"PK"), "zip bytes sent for a tampered blob");
    }
    let r = get(&srv.addr, &format!("/{mod_module}/@v/{mv}.mod"));
    assert_eq!(r.status, 500, "tampered .mod: {}", text(&r.body));
    let r = get(&srv.addr, &format!("/{ESC_MODULE}/@v/{VERSION}.zip"));
    assert_eq!(r.status, 500, "zip distrusted by --go-sum: {}", text(&r.body));
    // Other modules are fine.
    let r = get(&srv.addr, "/github.com/spf13/pflag/@v/list");
    assert_eq!(r.status, 200);
    let pv = text(&r.body).lines().last().unwrap().to_string();
    let r = get(&srv.addr, &format!("/github.com/spf13/pflag/@v/{pv}.zip"));
    assert_eq!((r.status, &r.body[..2]), (200, &b"PK"[..]));
    // go refuses the tampered module (a 500 is not a miss: no fall-through).
    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &tmp.path().join("gomodcache"), &shared_gocache(), &format!("{},off", srv.url()));
    let out = go.try_run(&app, &["mod", "download", "-json", &format!("{}@{zv}", zip_module.0)]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success() && all.contains("500 Internal Server Error"), "{all}");
    assert!(!all.contains("disabled by GOPROXY=off"), "a refused module fell through:\n{all}");
    assert!(srv.metric("modcachefs_verifications_total{result=\"failed\"}") >= 2);

    // Import a new module while serving: it shows up without a restart.
    let new_proxy = tmp.path().join("new-proxy");
    let (nm, nv) = ("example.com/late/Arrival", "v1.0.0");
    let at_v = new_proxy.join("example.com/late/!arrival/@v");
    std::fs::create_dir_all(&at_v).unwrap();
    let prefix = format!("{nm}@{nv}/");
    let zip = common::zipgen::build(
        &[
            (&format!("{prefix}go.mod"), format!("module {nm}\n").as_bytes()),
            (&format!("{prefix}a.go"), b"package a\n"),
        ],
        common::zipgen::stored(),
    );
    std::fs::write(at_v.join(format!("{nv}.zip")), &zip).unwrap();
    std::fs::write(at_v.join(format!("{nv}.mod")), format!("module {nm}\n")).unwrap();
    std::fs::write(
        at_v.join(format!("{nv}.info")),
        format!("{{\"Version\":\"{nv}\",\"Time\":\"2024-01-02T03:04:05Z\"}}"),
    )
    .unwrap();
    let url = "/example.com/late/!arrival/@v/v1.0.0.zip";
    assert_eq!(get(&srv.addr, url).status, 404);
    import(&store, &[&new_proxy]);
    let t0 = Instant::now();
    let mut r = get(&srv.addr, url);
    while r.status != 200 && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        r = get(&srv.addr, url);
    }
    assert_eq!(r.status, 200, "the imported module was not served within 15 s:\n{}", srv.log_text());
    assert!(r.body == zip, "the new module's zip differs");
    // One reload, or two when the import's last step (compacting the index) came
    // more than an interval after its commit.
    let reloads = srv.metric("modcachefs_store_reloads_total{result=\"ok\"}");
    assert!((1..=2).contains(&reloads), "{reloads} reloads for one import");
    assert_eq!(srv.metric("modcachefs_store_reloads_total{result=\"failed\"}"), 0);
    // The tampered module stays refused after the reload.
    assert_eq!(get(&srv.addr, &zip_url).status, 500);

    let log = srv.stop();
    let named = |what: &str| log.lines().filter(|l| l.contains("error") && l.contains(what)).count();
    // One line per snapshot (the first, and the one after the reload).
    assert_eq!(named(&format!("{}@{zv}", zip_module.0)), 2, "tampered zip:\n{log}");
    assert!(named(&format!("{mod_module}@{mv}")) >= 1, "tampered .mod:\n{log}");
    assert!(named(&format!("{MODULE}@{VERSION}")) >= 1, "distrusted by go.sum:\n{log}");
}
