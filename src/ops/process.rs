//! Process settings a long-running daemon needs: bounded malloc arenas and an
//! open-file limit raised to the hard limit.

/// Called once at start-up by `mount` and `serve`, before any thread is started.
pub(crate) fn tune_for_daemon() {
    limit_malloc_arenas();
    raise_fd_limit();
}

/// The daemon's memory must stay near --cache-size; glibc's default of a malloc
/// arena per thread per core keeps freed extraction buffers in each of them.
/// (The cache also trims the heap as it evicts; see vfs/content.)
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes a glibc allocator setting; M_ARENA_MAX with a
    // positive value is a documented, always-valid pair.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
}

/// Each verified module keeps its zip blob open, and each large file its spill
/// file: a store of thousands of modules needs more descriptors than the usual
/// soft limit of 1024 (systemd's default). Raise the soft limit to the hard one,
/// as the Go runtime does for the same reason.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        let want = rustix::process::Rlimit { current: lim.maximum, maximum: lim.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, want) {
            log::warn!("cannot raise the open-file limit from {:?}: {e}", lim.current);
        }
    }
}
