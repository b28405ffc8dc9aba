//! Plain HTTP for the serve tests: requests sent byte for byte as written (no
//! client-side normalisation of `..` or escapes), and a real nginx on the loopback.
//! Included with `#[path]` by the tests that run `modcachefs serve` (beside `mod common`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A response, read raw off the socket.
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// One HTTP/1.1 request with exactly these bytes as its target (no client-side
/// normalisation of `..` or escapes), on a connection of its own.
pub fn request(addr: &str, method: &str, target: &[u8], headers: &[(&str, &str)]) -> Resp {
    let mut c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} ").into_bytes();
    req.extend_from_slice(target);
    req.extend_from_slice(format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").as_bytes());
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    c.write_all(&req).unwrap();
    let mut r = std::io::BufReader::new(c);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("header line {l:?}"));
        headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
    }
    assert!(!headers.contains_key("transfer-encoding"), "{method} {}: chunked reply", text(target));
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    Resp { status, headers, body }
}

pub fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path.as_bytes(), &[])
}

/// A free port on the loopback (for nginx, which cannot report the one it got).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real nginx on the loopback: a cache in front of `upstream`, or a static
/// file server for `root`; stopped on drop.
pub struct Nginx {
    child: Child,
    pub addr: String,
    dir: PathBuf,
}

impl Nginx {
    pub fn proxy_cache(dir: &Path, upstream: &str) -> Nginx {
        let site = format!(
            "proxy_cache_path {d}/cache levels=1:2 keys_zone=gomod:10m max_size=1g inactive=30d use_temp_path=off;
  server {{
    listen 127.0.0.1:{{PORT}};
    location / {{
      proxy_pass http://{upstream};
      proxy_cache gomod;
      proxy_cache_lock on;
      proxy_cache_revalidate on;
      proxy_cache_use_stale error timeout updating;
      add_header X-Cache-Status $upstream_cache_status;
    }}
  }}",
            d = dir.display()
        );
        Nginx::start(dir, &site)
    }

    fn start(dir: &Path, site: &str) -> Nginx {
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "{user}worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  default_type application/octet-stream;
  {site}
}}
",
            // Workers as root read the test's private temp directories.
            user = if unsafe { libc::geteuid() } == 0 { "user root;\n" } else { "" },
            site = site.replace("{PORT}", &port.to_string()),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p"])
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("logs/stderr")).unwrap())
            .spawn()
            .expect("run nginx (apt-get install nginx)");
        let addr = format!("127.0.0.1:{port}");
        let n = Nginx { child, addr, dir: dir.to_path_buf() };
        let t0 = Instant::now();
        while TcpStream::connect(&n.addr).is_err() {
            let err = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
            assert!(t0.elapsed() < Duration::from_secs(10), "nginx did not listen on {}:\n{err}", n.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of the master and its workers.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        crate::common::daemon::wait_child(&mut self.child, 5);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// A running `modcachefs serve` on a free port, stopped on drop.
pub struct Serve {
    child: Option<Child>,
    pub addr: String,
    log: PathBuf,
}

impl Serve {
    pub fn start(store: &Path, log: &Path, extra: &[&str]) -> Serve {
        let logf = std::fs::File::create(log).expect("log file");
        let child = Command::new(crate::common::BIN)
            .arg("--store")
            .arg(store)
            .args(["-v", "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("start modcachefs serve");
        let mut s = Serve { child: Some(child), addr: String::new(), log: log.to_path_buf() };
        s.addr = wait_for_listening(log, || s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()).is_some());
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One sample of /metrics, e.g. `modcachefs_http_requests_total{code="200"}`.
    pub fn metric(&self, series: &str) -> u64 {
        let page = text(&get(&self.addr, "/metrics").body);
        let line = page.lines().find(|l| l.rsplit_once(' ').map(|(k, _)| k) == Some(series));
        let v = line.unwrap_or_else(|| panic!("no {series} in /metrics:\n{page}")).rsplit_once(' ').unwrap().1;
        v.parse().unwrap_or_else(|_| panic!("{series}: {v}"))
    }

    /// Stops the server with SIGTERM and returns its log.
    pub fn stop(mut self) -> String {
        self.shutdown();
        self.log_text()
    }

    fn shutdown(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            crate::common::daemon::wait_child(&mut c, 10);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits for serve's "serving STORE on http://ADDR" line in `log`; returns ADDR.
pub fn wait_for_listening(log: &Path, mut exited: impl FnMut() -> bool) -> String {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        let l = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = l.lines().find_map(|x| x.split(" on http://").nth(1)) {
            return addr.trim().to_string();
        }
        assert!(!exited(), "modcachefs serve exited before listening:\n{l}");
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("modcachefs serve did not listen within 20 s:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}
