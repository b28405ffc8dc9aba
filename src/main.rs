//! The `modcachefs` command line. Parsing and printing only: the work happens in
//! the library (store, import, fsck, fs).

mod cli;

use clap::{Args, Parser, Subcommand};
use cli::values;
use modcachefs::{daemon, error::Error, fsck, import, json, logger, statsock, store};
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
    /// Serve the store over HTTP as a GOPROXY (foreground; Ctrl-C stops)
    Serve(modcachefs::serve::ServeArgs),
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EnvShell {
    Sh,
    Fish,
}

#[derive(Args)]
struct UmountArgs {
    /// The mountpoint of a modcachefs mount
    mountpoint: PathBuf,
    /// Detach now even if files are open (they keep working until closed)
    #[arg(long, conflicts_with = "grace")]
    lazy: bool,
    /// While files are open, retry for this many seconds, then detach lazily
    #[arg(long, value_name = "SECS", value_parser = values::seconds)]
    grace: Option<std::time::Duration>,
}

#[derive(Args)]
struct StatusArgs {
    /// Only this mount
    mountpoint: Option<PathBuf>,
    /// JSON lines, one per mount
    #[arg(long)]
    json: bool,
    /// Seconds to wait for each daemon's answer
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = values::seconds)]
    timeout: std::time::Duration,
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
    /// Memory for extracted files, e.g. 512MiB, 1.5G (1MiB or more)
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = values::cache_size)]
    cache_size: u64,
    /// Where files too large for the memory cache are extracted (as unlinked files)
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    cache_dir: PathBuf,
    /// Disk space those large files may use, e.g. 4GiB
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = values::disk_size)]
    cache_dir_size: u64,
    /// Check modules against their trusted hashes before serving them: lazy (each file as it is read; the default, also "on"), full (the whole module on first access) or off
    #[arg(long, value_name = "lazy|full|off", default_value = "lazy", value_parser = modcachefs::content::Verify::parse, action = clap::ArgAction::Set)]
    verify: modcachefs::content::Verify,
    /// Extra trusted sums: a go.sum file, or a directory searched for go.sum files (repeatable)
    #[arg(long = "go-sum", value_name = "PATH")]
    go_sum: Vec<PathBuf>,
    /// Threads that open and extract files (1 to 256)
    #[arg(long, value_name = "N", default_value = "4", value_parser = values::workers)]
    workers: usize,
    /// Who may read the counters and module list: owner, group=NAME, or all (with --allow-other)
    #[arg(long, value_name = "WHO", default_value = "owner", value_parser = statsock::Access::parse)]
    stats_access: statsock::Access,
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
    /// Print the counters as JSON (the same as --format json)
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: StatsFormat,
    /// Seconds to wait for the daemon's answer
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = values::seconds)]
    timeout: std::time::Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatsFormat {
    /// One counter per line, then the extracted modules, one per line
    Text,
    /// The daemon's report, one JSON object
    Json,
    /// The Prometheus text exposition format (node_exporter textfile collector)
    Prometheus,
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
    #[arg(long, value_name = "N", value_parser = values::threads)]
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
    #[arg(long, value_name = "N", value_parser = values::threads)]
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
    let cli = Cli::parse_from(help_help(args));
    logger::init(if cli.quiet { -1 } else { cli.verbose as i32 });
    let store_dir = cli.store.clone().unwrap_or_else(store::default_dir);
    let res = match cli.cmd {
        Cmd::Import(a) => cmd_import(&store_dir, a),
        Cmd::Ls(a) => cmd_ls(&store_dir, a),
        Cmd::Verify(a) => cmd_verify(&store_dir, a),
        Cmd::Mount(a) => cli::mounting::cmd_mount(&store_dir, a),
        Cmd::Serve(a) => modcachefs::serve::run(&store_dir, a, cli::mounting::collect_go_sums),
        Cmd::Stats(a) => cli::observe::cmd_stats(a),
        Cmd::Env(a) => cli::observe::cmd_env(&store_dir, a),
        Cmd::Umount(a) => cli::mounting::cmd_umount(a),
        Cmd::Status(a) => cli::observe::cmd_status(a),
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

/// `modcachefs help --help` (or `help mount -h`) is a request for help, not an
/// error: clap's help subcommand takes no flags, so drop them.
fn help_help(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_help = |a: &std::ffi::OsString| a == "--help" || a == "-h";
    let Some(at) = args.iter().position(|a| a == "help") else { return args };
    let before_ok = args[1..at].iter().all(|a| a.to_string_lossy().starts_with('-') && !is_help(a));
    if !before_ok || !args[at + 1..].iter().any(is_help) {
        return args;
    }
    args.iter().enumerate().filter(|(i, a)| *i <= at || !is_help(a)).map(|(_, a)| a.clone()).collect()
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
    cli::check_new_store(store_dir)?;
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
    if report.without_digests > 0 && !a.json {
        eprintln!(
            "modcachefs: {} zips have no per-file digests in the index (imported by an older modcachefs): mounts verify them whole; importing their sources again records them",
            report.without_digests
        );
    }
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
