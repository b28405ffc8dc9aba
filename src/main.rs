//! The `modcachefs` command line. Parsing and printing only: the work happens in
//! the library (store, import, fsck, fs).

use clap::{Args, Parser, Subcommand};
use modcachefs::{content, daemon, error::Error, fs, fsck, fuse, gosum, import, json, logger, stats, store};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Serve a verified, read-only Go module cache (GOMODCACHE) from an archive store.
///
/// Fill a store once with `modcachefs import`, then mount it where Go expects its
/// module cache: `modcachefs mount /mnt/gomod` and `GOMODCACHE=/mnt/gomod`.
#[derive(Parser)]
#[command(name = "modcachefs", version, propagate_version = true)]
struct Cli {
    /// The archive store [env: MODCACHEFS_STORE; default: $XDG_DATA_HOME/modcachefs]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// More log output (-v info, -vv debug); MODCACHEFS_LOG=level overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Add modules to the store from GOPROXY trees, GOMODCACHEs, module zips and go.sum files
    Import(ImportArgs),
    /// List the modules in the store
    Ls(LsArgs),
    /// Recompute every hash from the stored blobs and report any mismatch
    Verify(VerifyArgs),
    /// Serve the store as a read-only GOMODCACHE at MOUNTPOINT (foreground; Ctrl-C unmounts)
    Mount(MountArgs),
    /// Print the counters of a running mount
    Stats(StatsArgs),
    /// Print the environment that points Go at a mount: eval "$(modcachefs env /mnt/gomod)"
    Env(EnvArgs),
    /// Unmount a modcachefs mount (the daemon then exits)
    Umount(UmountArgs),
    /// List modcachefs mounts, their stores and counters
    Status(StatusArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

#[derive(Args)]
struct EnvArgs {
    /// The mountpoint of a modcachefs mount
    mountpoint: PathBuf,
    /// Use the mount as a GOPROXY for your own writable module cache instead of as the cache
    #[arg(long)]
    proxy: bool,
    /// Shell syntax
    #[arg(long, value_enum, default_value = "sh")]
    shell: EnvShell,
    /// Print a JSON object instead
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EnvShell {
    Sh,
    Fish,
}

#[derive(Args)]
struct UmountArgs {
    /// The mountpoint of a modcachefs mount
    mountpoint: PathBuf,
    /// Detach now even if files are open (they keep working until closed)
    #[arg(long)]
    lazy: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// Only this mount
    mountpoint: Option<PathBuf>,
    /// JSON lines, one per mount
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CompletionsArgs {
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct MountArgs {
    /// Where to mount (an existing directory); point GOMODCACHE here
    mountpoint: PathBuf,
    /// Let other users (and containers bind-mounting it) read the mount
    #[arg(long)]
    allow_other: bool,
    /// Memory for extracted files, e.g. 512MiB, 2G
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    cache_size: u64,
    /// Where files too large for the memory cache are extracted (as unlinked files)
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    cache_dir: PathBuf,
    /// Disk space those large files may use, e.g. 4GiB
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    cache_dir_size: u64,
    /// Check every module against its trusted hash before serving it
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    verify: bool,
    /// Extra trusted sums: a go.sum file, or a directory searched for go.sum files (repeatable)
    #[arg(long = "go-sum", value_name = "PATH")]
    go_sum: Vec<PathBuf>,
    /// Threads that open and extract files
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// Go to the background once the mount answers (logs go to --log-file)
    #[arg(long)]
    daemon: bool,
    /// With --daemon: write the daemon's pid here
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// With --daemon: append logs here [default: beside the stats socket, see `status`]
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

#[derive(Args)]
struct StatsArgs {
    /// The mountpoint of a running modcachefs
    mountpoint: PathBuf,
    /// Print the counters as JSON
    #[arg(long)]
    json: bool,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}

/// `512MiB`, `2G`, `64M`, `1048576`: binary units, case-insensitive, optional `iB`/`B`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?} (try 512MiB or 2G)"))?;
    let shift = match unit.to_ascii_lowercase().trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M, G, T)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size too large: {s:?}"))
}

#[derive(Args)]
struct ImportArgs {
    /// GOPROXY directories, GOMODCACHE directories, module .zip files, go.sum files
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Worker threads for validating and hashing [default: number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Verifier key of a checksum database found in the inputs (GOSUMDB syntax
    /// NAME+HASH+KEY; repeatable). sum.golang.org's and $GOSUMDB's are known already.
    #[arg(long = "sumdb-key", value_name = "KEY")]
    sumdb_keys: Vec<String>,
}

#[derive(Args)]
struct LsArgs {
    /// Only modules whose path contains this text
    filter: Option<String>,
    /// One JSON object per module (JSON lines)
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Worker threads [default: number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Exit codes: 0 success, 1 some inputs or modules failed, 2 usage or setup error.
const EXIT_PARTIAL: u8 = 1;
const EXIT_FATAL: u8 = 2;

fn main() -> ExitCode {
    // mount(8) and fstab call us as `mount.fuse.modcachefs STORE DIR -o OPTS`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match daemon::helper_args(&args) {
        Some(Ok(translated)) => translated,
        Some(Err(e)) => {
            eprintln!("modcachefs: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
        None => args,
    };
    let cli = Cli::parse_from(args);
    logger::init(if cli.quiet { -1 } else { cli.verbose as i32 });
    let store_dir = cli.store.clone().unwrap_or_else(store::default_dir);
    let res = match cli.cmd {
        Cmd::Import(a) => cmd_import(&store_dir, a),
        Cmd::Ls(a) => cmd_ls(&store_dir, a),
        Cmd::Verify(a) => cmd_verify(&store_dir, a),
        Cmd::Mount(a) => cmd_mount(&store_dir, a),
        Cmd::Stats(a) => cmd_stats(a),
        Cmd::Env(a) => cmd_env(&store_dir, a),
        Cmd::Umount(a) => cmd_umount(a),
        Cmd::Status(a) => cmd_status(a),
        Cmd::Completions(a) => {
            clap_complete::generate(
                a.shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "modcachefs",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("modcachefs: {e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A one-line progress display on stderr, only when stderr is a terminal.
struct Bar {
    on: bool,
    last: Option<Instant>,
}

impl Bar {
    fn new(enabled: bool) -> Bar {
        Bar { on: enabled && std::io::stderr().is_terminal(), last: None }
    }

    fn show(&mut self, done: usize, total: usize, what: &str) {
        if !self.on {
            return;
        }
        // Redrawing every module would cost more than importing small ones.
        if done != total && self.last.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Some(Instant::now());
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let mut what = what.to_string();
        what.truncate(50);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K[{}{}] {done}/{total} {what}",
            "#".repeat(filled),
            " ".repeat(width - filled)
        );
        if done == total {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn cmd_import(store_dir: &std::path::Path, a: ImportArgs) -> Result<u8, Error> {
    let t0 = Instant::now();
    let mut inputs = import::discover(&a.paths)?;
    inputs.sumdb_keys = a.sumdb_keys;
    let st = store::Store::open_rw(store_dir)?;
    let mut bar = Bar::new(!a.json);
    let report = import::import(&st, &inputs, threads(a.threads), &mut |d, t, w| bar.show(d, t, w))?;
    st.settle(report.added + report.completed > 0)?;
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        println!("{}", report.to_json(secs));
    } else {
        eprintln!("modcachefs: {}", report.summary(secs));
    }
    Ok(if report.errors.is_empty() { 0 } else { EXIT_PARTIAL })
}

fn cmd_ls(store_dir: &std::path::Path, a: LsArgs) -> Result<u8, Error> {
    let st = store::Store::open_ro(store_dir)?;
    let rows: Vec<store::Module> =
        st.modules()?.into_iter().filter(|m| a.filter.as_ref().is_none_or(|f| m.path.contains(f.as_str()))).collect();
    match print_ls(&rows, a.json) {
        // `modcachefs ls | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::io("stdout", e)),
        Ok(()) => Ok(0),
    }
}

fn print_ls(rows: &[store::Module], json_out: bool) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !json_out {
        writeln!(out, "{:<60} {:<40} {:>6} {:>10} {:>10}  ZIP HASH FROM", "MODULE", "VERSION", "FILES", "ZIP", "TREE")?;
    }
    for m in rows {
        let line = if json_out {
            let zip = match &m.zip {
                Some(z) => format!(
                    "\"zip_h1\":{},\"zip_h1_origin\":{},\"zip_size\":{},\"files\":{},\"tree_size\":{}",
                    json::quote(&z.h1),
                    json::quote(&z.h1_origin),
                    z.size,
                    z.file_count,
                    z.tree_size
                ),
                None => "\"zip_h1\":null".into(),
            };
            format!(
                "{{\"path\":{},\"version\":{},\"mod_h1\":{},\"mod_h1_origin\":{},\"has_info\":{},{zip}}}",
                json::quote(&m.path),
                json::quote(&m.version),
                json::quote(&m.mod_h1),
                json::quote(&m.mod_h1_origin),
                m.info.is_some()
            )
        } else {
            match &m.zip {
                Some(z) => format!(
                    "{:<60} {:<40} {:>6} {:>10} {:>10}  {}",
                    m.path, m.version, z.file_count, z.size, z.tree_size, z.h1_origin
                ),
                None => format!("{:<60} {:<40} {:>6} {:>10} {:>10}  (go.mod only)", m.path, m.version, "-", "-", "-"),
            }
        };
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn cmd_verify(store_dir: &std::path::Path, a: VerifyArgs) -> Result<u8, Error> {
    let t0 = Instant::now();
    let on_tty = !a.json && std::io::stderr().is_terminal();
    let mut report = fsck::verify(store_dir, threads(a.threads), &|d, t| {
        if on_tty && (d == t || d % 64 == 0) {
            eprint!("\r\x1b[Kverifying {d}/{t}");
        }
    })?;
    // Checksum databases: signatures, record proofs, tiles and tree consistency again.
    let sumdb = modcachefs::sumdb::Files::check_store(store_dir)?;
    report.problems.extend(sumdb.errors.iter().cloned());
    if on_tty {
        eprintln!();
    }
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        let problems: Vec<String> = report.problems.iter().map(|p| json::quote(p)).collect();
        println!(
            "{{\"modules\":{},\"zips\":{},\"bytes\":{},\"sumdb_records\":{},\"sumdb_tiles\":{},\"seconds\":{secs:.3},\"problems\":[{}]}}",
            report.modules,
            report.zips,
            report.bytes,
            sumdb.records,
            sumdb.tiles,
            problems.join(",")
        );
    } else {
        for p in &report.problems {
            eprintln!("modcachefs: {p}");
        }
        if sumdb.databases > 0 {
            eprintln!(
                "modcachefs: checked {} checksum database(s): {} records proved, {} tiles",
                sumdb.databases, sumdb.records, sumdb.tiles
            );
        }
        eprintln!(
            "modcachefs: verified {} modules ({} zips, {:.1} MB) in {secs:.2}s: {}",
            report.modules,
            report.zips,
            report.bytes as f64 / 1e6,
            if report.problems.is_empty() {
                "all good".to_string()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    Ok(if report.problems.is_empty() { 0 } else { EXIT_PARTIAL })
}

/// go.sum files named on the command line, directories searched for them.
fn collect_go_sums(paths: &[PathBuf]) -> Result<Vec<store::Sum>, Error> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out)?,
                Ok(t) if t.is_file() && e.file_name() == "go.sum" => out.push(p),
                _ => {}
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    let mut sums = Vec::new();
    for f in files {
        sums.extend(gosum::read(&f)?);
    }
    Ok(sums)
}

fn cmd_mount(store_dir: &std::path::Path, mut a: MountArgs) -> Result<u8, Error> {
    // The stats socket and the default log are named after the mountpoint: name
    // them after its canonical path, as `stats`, `status` and `umount` look it up.
    // (A missing mountpoint is reported by the mount itself.)
    a.mountpoint = a.mountpoint.canonicalize().unwrap_or(a.mountpoint);
    let mut ready = daemon::Ready::none();
    if a.daemon {
        // Fork before any thread exists; the parent returns once the mount answers.
        let log = a.log_file.clone().or_else(|| daemon::default_log(&a.mountpoint)).ok_or_else(|| {
            Error::Invalid("no private directory for the daemon's log (see the warning above); give --log-file".into())
        })?;
        match daemon::daemonize(&log, a.pidfile.as_deref())? {
            None => return Ok(0),
            Some(r) => ready = r,
        }
    }
    let res = mount_and_serve(store_dir, &a, &mut ready);
    if let Err(e) = &res {
        ready.failed(&e.to_string());
    }
    if let Some(p) = &a.pidfile {
        let _ = std::fs::remove_file(p);
    }
    res
}

fn mount_and_serve(store_dir: &std::path::Path, a: &MountArgs, ready: &mut daemon::Ready) -> Result<u8, Error> {
    let t0 = Instant::now();
    // The daemon's memory must stay near --cache-size; glibc's default of a malloc
    // arena per thread per core keeps freed extraction buffers in each of them.
    // (The cache also trims the heap as it evicts; see content.rs.)
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    raise_fd_limit();
    let st = store::Store::open_ro(store_dir)?;
    let sums = collect_go_sums(&a.go_sum)?;
    let stats = std::sync::Arc::new(stats::Stats::default());
    let opts = content::Options {
        verify: a.verify,
        cache_size: a.cache_size,
        spill_dir: a.cache_dir.clone(),
        spill_size: a.cache_dir_size,
    };
    let sumdb = modcachefs::sumdb::Files::load(&st)?;
    let content = content::Content::new(st, &sums, opts, stats)?;
    let mut fs = fs::Fs::new(content);
    fs.set_sumdb(sumdb);
    fs.set_store_hint(&format!(" --store {}", store_dir.display()));
    log::info!("store {} opened in {:.1} ms", store_dir.display(), t0.elapsed().as_secs_f64() * 1e3);
    let source = store_dir.canonicalize().unwrap_or_else(|_| store_dir.to_path_buf());
    let cfg = fuse::MountConfig {
        allow_other: a.allow_other,
        workers: a.workers,
        source: source.to_string_lossy().into_owned(),
    };
    fuse::serve(fs, &a.mountpoint, &cfg, ready)?;
    Ok(0)
}

/// Each verified module keeps its zip blob open, and each large file its spill
/// file: a store of thousands of modules needs more descriptors than the usual
/// soft limit of 1024 (systemd's default). Raise the soft limit to the hard one,
/// as the Go runtime does for the same reason.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            log::warn!("cannot raise the open-file limit from {}: {}", lim.rlim_cur, std::io::Error::last_os_error());
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn cmd_env(store_dir: &std::path::Path, a: EnvArgs) -> Result<u8, Error> {
    let mnt = a.mountpoint.canonicalize().map_err(|e| Error::io(&a.mountpoint, e))?;
    if !fuse::modcachefs_mounts().iter().any(|m| m.mountpoint == mnt) {
        eprintln!("modcachefs: warning: {} is not a modcachefs mount (yet)", mnt.display());
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
    let sumdb = modcachefs::sumdb::gosumdb_for_mount(std::path::Path::new(&mnt), store_dir);
    vars.push(("GOSUMDB", sumdb.clone().unwrap_or_else(|| "off".into())));
    if sumdb.is_some() {
        eprintln!(
            "modcachefs: GOSUMDB stays on: modules no checksum database lists (private ones) must be named in GOPRIVATE or GONOSUMDB, e.g. GONOSUMDB='corp.example.com/*'"
        );
    }
    vars.push(("GOFLAGS", "-mod=mod".into()));
    // Go >= 1.21 would otherwise try to download a toolchain into the cache.
    vars.push(("GOTOOLCHAIN", "local".into()));
    if a.json {
        let fields: Vec<String> = vars.iter().map(|(k, v)| format!("{}:{}", json::quote(k), json::quote(v))).collect();
        println!("{{{}}}", fields.join(","));
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

fn cmd_umount(a: UmountArgs) -> Result<u8, Error> {
    let mnt = a.mountpoint.canonicalize().map_err(|e| Error::io(&a.mountpoint, e))?;
    if !fuse::modcachefs_mounts().iter().any(|m| m.mountpoint == mnt) {
        return Err(Error::Invalid(format!("{}: not a modcachefs mount", mnt.display())));
    }
    fuse::unmount(&mnt, a.lazy).map_err(|e| Error::Invalid(format!("{}: cannot unmount: {e}", mnt.display())))?;
    Ok(0)
}

fn cmd_status(a: StatusArgs) -> Result<u8, Error> {
    let want = match &a.mountpoint {
        Some(p) => Some(p.canonicalize().map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let mounts: Vec<_> =
        fuse::modcachefs_mounts().into_iter().filter(|m| want.as_ref().is_none_or(|w| *w == m.mountpoint)).collect();
    if let Some(w) = &want {
        if mounts.is_empty() {
            return Err(Error::Invalid(format!("{}: not a modcachefs mount", w.display())));
        }
    }
    for m in &mounts {
        let counters = stats::fetch(&m.mountpoint).ok();
        if a.json {
            println!(
                "{{\"mountpoint\":{},\"store\":{},\"responding\":{},\"stats\":{}}}",
                json::quote(&m.mountpoint.to_string_lossy()),
                json::quote(&m.source),
                counters.is_some(),
                counters.clone().unwrap_or_else(|| "null".into())
            );
        } else {
            let get = |k: &str| {
                counters
                    .as_deref()
                    .and_then(json::object_members)
                    .and_then(|f| f.into_iter().find(|(n, _)| n == k).map(|(_, v)| v))
                    .unwrap_or_else(|| "?".into())
            };
            println!(
                "{}  store {}  {}  modules extracted {}  cache {} bytes  log {}",
                m.mountpoint.display(),
                m.source,
                if counters.is_some() { "responding" } else { "NOT RESPONDING" },
                get("modules_extracted"),
                get("cache_bytes"),
                daemon::default_log(&m.mountpoint).map_or_else(|| "-".into(), |l| l.display().to_string())
            );
        }
    }
    if mounts.is_empty() && !a.json {
        println!("no modcachefs mounts");
    }
    Ok(0)
}

fn cmd_stats(a: StatsArgs) -> Result<u8, Error> {
    let mnt = a.mountpoint.canonicalize().unwrap_or(a.mountpoint);
    let text = stats::fetch(&mnt).map_err(|e| Error::Invalid(e.to_string()))?;
    if a.json {
        println!("{text}");
    } else {
        for (k, v) in json::object_members(&text).unwrap_or_default() {
            println!("{k:<22} {v}");
        }
    }
    Ok(0)
}
