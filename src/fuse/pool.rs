//! A fixed set of worker threads for the requests that may take long (loading a
//! big module's list, verifying a whole module, extracting a big file), so that
//! fuser's request loops never wait on them and stay free for quick requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads for requests that may block on decompression.
pub(super) struct Pool {
    tx: Option<mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Set when the session has ended: jobs still queued are skipped, not run (their
    /// replies would go to a closed connection), so that exiting waits only for the
    /// jobs already running, not for a queue a user may have filled on purpose.
    closing: Arc<AtomicBool>,
}

impl Pool {
    /// `n` threads named `<name>-<i>`.
    pub(super) fn new(name: &str, n: usize) -> std::io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let closing = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let (rx, closing) = (rx.clone(), closing.clone());
            threads.push(std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                match job {
                    // Forgotten, not dropped: dropping the reply inside would try to
                    // answer EIO on the closed connection, and log that twice. The
                    // process is about to exit, so nothing is lost.
                    Ok(job) if closing.load(Ordering::Relaxed) => std::mem::forget(job),
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })?);
        }
        Ok(Pool { tx: Some(tx), threads, closing })
    }

    pub(super) fn run(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = &self.tx {
            // The receiver only goes away at shutdown, when no reply matters any more.
            let _ = tx.send(Box::new(job));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
