//! `modcachefs serve`: the store as a GOPROXY over HTTP/1.1, for hosts that cannot
//! mount FUSE and for caches (nginx, a CDN) in front of a build farm.
//!
//! A frontend beside the FUSE one, over the same core: the mount's namespace
//! decides what exists and the verification core what may be sent (see
//! `handler`). The HTTP stack is axum on hyper and tokio; connections are served
//! concurrently by a small pool of threads, and blocking work (verification, blob
//! reads) goes to tokio's blocking pool.

pub(crate) mod access_log;
pub(crate) mod handler;
pub(crate) mod metrics;
pub(crate) mod route;
pub(crate) mod snapshot;

use crate::error::{Error, Result};
use crate::ops::stats::Stats;
use crate::store::Sum;
use access_log::AccessLog;
use metrics::Metrics;
use snapshot::{Opener, Snapshot};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// `modcachefs serve`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on, HOST:PORT (repeatable) [default: 127.0.0.1:3000]; port 0 picks a free port
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Vec<String>,
    /// Check modules against their trusted hashes before serving them: lazy (the default, also "on"), full or off, as mount's (a zip is always verified whole before it is sent)
    #[arg(long, value_name = "lazy|full|off", default_value = "lazy", value_parser = crate::vfs::content::Verify::parse, action = clap::ArgAction::Set)]
    pub(crate) verify: crate::vfs::content::Verify,
    /// Extra trusted sums: a go.sum file, or a directory searched for go.sum files (repeatable)
    #[arg(long = "go-sum", value_name = "PATH")]
    pub(crate) go_sum: Vec<PathBuf>,
    /// Append one JSON line per request here
    #[arg(long, value_name = "FILE")]
    pub(crate) access_log: Option<PathBuf>,
    /// Seconds between checks for a changed store index (0: never reload)
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub(crate) reload_interval: u64,
    /// Threads that drive connections [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Go to the background once every address is listening (logs go to --log-file)
    #[arg(long)]
    pub(crate) daemon: bool,
    /// With --daemon: write the daemon's pid here
    #[arg(long, value_name = "FILE")]
    pub(crate) pidfile: Option<PathBuf>,
    /// With --daemon: append logs here [default: _modcachefs-serve-ADDR.log beside the stats sockets]
    #[arg(long, value_name = "FILE")]
    pub(crate) log_file: Option<PathBuf>,
}

/// What every request handler shares.
pub(crate) struct Server {
    current: RwLock<Arc<Snapshot>>,
    pub(crate) metrics: Metrics,
    pub(crate) access: Option<AccessLog>,
    pub(crate) opener: Opener,
}

impl Server {
    /// The store as of now; kept by the request for as long as it runs.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, s: Snapshot) {
        let s = Arc::new(s);
        match self.current.write() {
            Ok(mut g) => *g = s,
            Err(poisoned) => *poisoned.into_inner() = s,
        }
    }
}

/// The signature of the go.sum collector in main.rs, shared with `mount`.
pub(crate) type CollectSums = fn(&[PathBuf]) -> Result<Vec<Sum>>;

/// Runs `modcachefs serve` until SIGINT or SIGTERM; returns the exit code.
pub(crate) fn run(store_dir: &Path, a: ServeArgs, collect_sums: CollectSums) -> Result<u8> {
    let listen = if a.listen.is_empty() { vec!["127.0.0.1:3000".to_string()] } else { a.listen.clone() };
    let mut addrs = Vec::new();
    for l in &listen {
        let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(l.as_str())
            .map_err(|e| Error::Invalid(format!("--listen {l}: {e} (expected HOST:PORT, e.g. 127.0.0.1:3000)")))?
            .collect();
        addrs.extend(resolved.into_iter().take(1));
    }
    // Bad go.sum files are reported here, on the terminal, before any fork.
    let sums = collect_sums(&a.go_sum)?;
    let mut ready = crate::ops::daemon::Ready::none();
    if a.daemon {
        // Fork before any thread exists (the runtime's included).
        let log = a.log_file.clone().or_else(|| default_log(&listen[0])).ok_or_else(|| {
            Error::Invalid("no private directory for the daemon's log (see the warning above); give --log-file".into())
        })?;
        match crate::ops::daemon::daemonize(&log)? {
            None => return Ok(0),
            Some(r) => ready = r,
        }
        if let Some(p) = &a.pidfile {
            if let Err(e) = crate::ops::daemon::write_pidfile(p) {
                ready.failed(&e.to_string());
                return Err(e);
            }
        }
    }
    let res = serve(store_dir, &a, addrs, sums, &mut ready);
    if let Err(e) = &res {
        ready.failed(&e.to_string());
    }
    if let (true, Some(p)) = (a.daemon, &a.pidfile) {
        crate::ops::daemon::remove_pidfile(p);
    }
    res
}

/// Where a daemon logs when not told: as a mount's log, named after the first address.
fn default_log(listen: &str) -> Option<PathBuf> {
    crate::ops::daemon::default_log(Path::new(&format!("/modcachefs-serve-{listen}")))
}

fn serve(
    store_dir: &Path,
    a: &ServeArgs,
    addrs: Vec<SocketAddr>,
    sums: Vec<Sum>,
    ready: &mut crate::ops::daemon::Ready,
) -> Result<u8> {
    let opener =
        Opener { store_dir: store_dir.to_path_buf(), sums, verify: a.verify, stats: Arc::new(Stats::default()) };
    let first = opener.open()?;
    let access = a.access_log.as_deref().map(AccessLog::start).transpose()?;
    let srv = Arc::new(Server { current: RwLock::new(Arc::new(first)), metrics: Metrics::default(), access, opener });
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("http")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &addrs {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Invalid(format!("cannot listen on {addr}: {e}")))?;
            let local = l.local_addr().map_err(|e| Error::io("listener", e))?;
            // The one line a user needs, whatever the log level (port 0 picks one).
            eprintln!("modcachefs: serving {} on http://{local}", store_dir.display());
            listeners.push(l);
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for l in listeners {
            let app = axum::Router::new().fallback(handler::handle).with_state(srv.clone());
            let mut stop = stop_rx.clone();
            // Headers and a small body go out as separate writes: without NODELAY,
            // Nagle's algorithm holds the body back for the client's delayed ACK.
            let l = axum::serve::ListenerExt::tap_io(l, |tcp: &mut tokio::net::TcpStream| {
                let _ = tcp.set_nodelay(true);
            });
            let server = axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                });
            tasks.push(tokio::spawn(async move { server.await }));
        }
        if a.reload_interval > 0 {
            tokio::spawn(watch(srv.clone(), Duration::from_secs(a.reload_interval)));
        }
        ready.ok();
        signals(&srv).await?;
        let _ = stop_tx.send(true);
        // In-flight downloads may finish; a client that never reads is not waited for.
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(Duration::from_secs(10), all).await.is_err() {
            log::warn!("stopping with downloads still running after 10 s");
        }
        Ok::<(), Error>(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(0)
}

/// Waits for SIGINT or SIGTERM; SIGHUP reopens the access log (for logrotate).
async fn signals(srv: &Server) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let err = |e| Error::io("signal handler", e);
    let mut term = signal(SignalKind::terminate()).map_err(err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(err)?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Some(l) = &srv.access {
                    log::info!("SIGHUP: reopening the access log");
                    l.reopen();
                }
            }
        }
    }
    log::info!("stopping");
    Ok(())
}

/// Reads the store again once its index changed and then stayed unchanged for one
/// interval: an import commits in many steps, and each new snapshot verifies the
/// modules it serves afresh.
async fn watch(srv: Arc<Server>, every: Duration) {
    let dir = srv.opener.store_dir.clone();
    let mut pending = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = snapshot::signature(&dir);
        if &now == srv.snapshot().signature() {
            pending = None;
            continue;
        }
        if pending.as_ref() != Some(&now) {
            pending = Some(now);
            continue;
        }
        pending = None;
        let s = srv.clone();
        match tokio::task::spawn_blocking(move || s.opener.open()).await {
            Ok(Ok(snap)) => {
                log::info!("store index changed: now serving {} modules", snap.size.modules);
                srv.replace(snap);
                crate::ops::stats::inc(&srv.metrics.reloads_ok);
            }
            Ok(Err(e)) => {
                crate::ops::stats::inc(&srv.metrics.reloads_failed);
                log::warn!("store index changed but cannot be read ({e}); still serving the previous one");
            }
            Err(e) => log::error!("store reload: {e}"),
        }
    }
}
