//! The access log: one JSON object per finished request (JSON lines), written by
//! its own thread so that a slow disk never stalls a request. Lines are dropped
//! (and counted) rather than queued without bound when the writer falls behind.
//! SIGHUP reopens the file, for logrotate.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Lines waiting for the writer at most; beyond that new lines are dropped.
const QUEUE: usize = 16 * 1024;

/// One finished request.
#[derive(Serialize)]
pub(crate) struct Line<'a> {
    pub(crate) remote: &'a str,
    pub(crate) method: &'a str,
    pub path: &'a str,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    #[serde(rename = "ms", serialize_with = "millis")]
    pub(crate) secs: f64,
    pub kind: &'a str,
    pub(crate) range: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
}

/// Seconds as milliseconds, to the microsecond.
fn millis<S: serde::Serializer>(secs: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((secs * 1e6).round() / 1e3)
}

/// The line as written: `ts` first (seconds since the epoch, to the millisecond),
/// then the request's members; one line, newline-terminated.
#[derive(Serialize)]
struct Stamped<'a, 'b> {
    ts: f64,
    #[serde(flatten)]
    line: &'b Line<'a>,
}

impl Line<'_> {
    pub(crate) fn to_json(&self) -> String {
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let ts = (ts * 1e3).round() / 1e3;
        // Serializing strings and numbers cannot fail; an empty line would only lose one record.
        let mut out = serde_json::to_string(&Stamped { ts, line: self }).unwrap_or_default();
        out.push('\n');
        out
    }
}

enum Msg {
    Line(String),
    Reopen,
}

#[derive(Clone)]
pub(crate) struct AccessLog {
    tx: SyncSender<Msg>,
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

impl AccessLog {
    /// Opens (appending) `path` and starts the writer thread.
    pub(crate) fn start(path: &Path) -> crate::error::Result<AccessLog> {
        let file = open(path).map_err(|e| crate::error::Error::io(path, e))?;
        let (tx, rx) = sync_channel(QUEUE);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(path, file, rx))
            .map_err(|e| crate::error::Error::io("access log thread", e))?;
        Ok(AccessLog { tx })
    }

    /// Queues a line; false if it had to be dropped.
    pub(crate) fn write(&self, line: String) -> bool {
        !matches!(self.tx.try_send(Msg::Line(line)), Err(TrySendError::Full(_)))
    }

    pub(crate) fn reopen(&self) {
        let _ = self.tx.try_send(Msg::Reopen);
    }
}

/// Writes lines as they come, flushing whenever the queue is empty: one write per
/// burst instead of one per line, and nothing held back while idle.
fn writer(path: PathBuf, file: std::fs::File, rx: Receiver<Msg>) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(l) => {
                    if let Err(e) = out.write_all(l.as_bytes()) {
                        if !failed {
                            log::error!("access log {}: {e}; lines are lost until it can be written", path.display());
                        }
                        failed = true;
                    }
                }
                Msg::Reopen => {
                    let _ = out.flush();
                    match open(&path) {
                        Ok(f) => {
                            out = std::io::BufWriter::with_capacity(64 << 10, f);
                            failed = false;
                        }
                        Err(e) => log::error!("access log {}: cannot reopen: {e}", path.display()),
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_err() && !failed {
            log::error!("access log {}: cannot write; lines are lost until it can be written", path.display());
            failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json() {
        let l = Line {
            remote: "127.0.0.1:5000",
            method: "GET",
            path: "/a/\"b\"/@v/list",
            status: 200,
            bytes: 12,
            secs: 0.0015,
            kind: "list",
            range: None,
            user_agent: Some("Go-http-client/1.1"),
        }
        .to_json();
        assert!(l.ends_with("}\n") && !l[..l.len() - 1].contains('\n'), "{l}");
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).expect("a JSON object");
        assert_eq!(v["path"], "/a/\"b\"/@v/list");
        assert_eq!(v["status"], 200);
        assert_eq!(v["ms"], 1.5);
        assert_eq!(v["range"], serde_json::Value::Null);
        assert_eq!(v["user_agent"], "Go-http-client/1.1");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "ts");
    }
}
