//! The command line's grammar: every subcommand, flag and default, as clap
//! derives it. Values with rules of their own are parsed in `values`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use super::values;

/// Serve a verified, read-only Go module cache (GOMODCACHE) from an archive store.
///
/// Fill a store once with `modcachefs import`, then mount it where Go expects its
/// module cache: `modcachefs mount /mnt/gomod` and `GOMODCACHE=/mnt/gomod`.
/// Whether `name` is one of the command's subcommands (or `help`), from clap's own
/// definition: the mount(8) helper convention is told apart by it.
pub(crate) fn is_subcommand(name: &str) -> bool {
    name == "help" || <Cli as clap::CommandFactory>::command().find_subcommand(name).is_some()
}

#[derive(Parser)]
#[command(name = "modcachefs", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The archive store [env: MODCACHEFS_STORE; default: $XDG_DATA_HOME/modcachefs]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) store: Option<PathBuf>,
    /// More log output (-v info, -vv debug); MODCACHEFS_LOG=level overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Add modules to the store from GOPROXY trees, GOMODCACHEs, module zips and go.sum files
    Import(ImportArgs),
    /// List the modules in the store
    Ls(LsArgs),
    /// Recompute every hash from the stored blobs and report any mismatch
    Verify(VerifyArgs),
    /// Remove module versions from the store (PATH for every version, or PATH@VERSION)
    Rm(super::store_cmds::RmArgs),
    /// Delete blobs no module refers to, merged-away index segments and leftovers of killed imports
    Gc(super::store_cmds::GcArgs),
    /// Merge the store's index segments into one
    Compact(super::store_cmds::CompactArgs),
    /// Serve the store as a read-only GOMODCACHE at MOUNTPOINT (foreground; Ctrl-C unmounts)
    Mount(MountArgs),
    /// Serve the store over HTTP as a GOPROXY (foreground; Ctrl-C stops)
    Serve(crate::serve::ServeArgs),
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
pub(crate) struct EnvArgs {
    /// The mountpoint of a modcachefs mount
    pub(crate) mountpoint: PathBuf,
    /// Use the mount as a GOPROXY for your own writable module cache instead of as the cache
    #[arg(long)]
    pub(crate) proxy: bool,
    /// Shell syntax
    #[arg(long, value_enum, default_value = "sh")]
    pub(crate) shell: EnvShell,
    /// Print a JSON object instead
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EnvShell {
    Sh,
    Fish,
}

#[derive(Args)]
pub(crate) struct UmountArgs {
    /// The mountpoint of a modcachefs mount
    pub(crate) mountpoint: PathBuf,
    /// Detach now even if files are open (they keep working until closed)
    #[arg(long, conflicts_with = "grace")]
    pub(crate) lazy: bool,
    /// While files are open, retry for this many seconds, then detach lazily
    #[arg(long, value_name = "SECS", value_parser = values::seconds)]
    pub(crate) grace: Option<std::time::Duration>,
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    /// Only this mount
    pub(crate) mountpoint: Option<PathBuf>,
    /// JSON lines, one per mount
    #[arg(long)]
    pub(crate) json: bool,
    /// Seconds to wait for each daemon's answer
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = values::seconds)]
    pub(crate) timeout: std::time::Duration,
}

#[derive(Args)]
pub(crate) struct CompletionsArgs {
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Args)]
pub(crate) struct MountArgs {
    /// Where to mount (an existing directory); point GOMODCACHE here
    pub(crate) mountpoint: PathBuf,
    /// Let other users (and containers bind-mounting it) read the mount
    #[arg(long)]
    pub(crate) allow_other: bool,
    /// Memory for extracted files, e.g. 512MiB, 1.5G (1MiB or more)
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = values::cache_size)]
    pub(crate) cache_size: u64,
    /// Where files too large for the memory cache are extracted (as unlinked files)
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    pub(crate) cache_dir: PathBuf,
    /// Disk space those large files may use, e.g. 4GiB
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = values::disk_size)]
    pub(crate) cache_dir_size: u64,
    /// Check modules against their trusted hashes before serving them: lazy (each file as it is read; the default, also "on"), full (the whole module on first access) or off
    #[arg(long, value_name = "lazy|full|off", default_value = "lazy", value_parser = crate::vfs::content::Verify::parse, action = clap::ArgAction::Set)]
    pub(crate) verify: crate::vfs::content::Verify,
    /// Extra trusted sums: a go.sum file, or a directory searched for go.sum files (repeatable)
    #[arg(long = "go-sum", value_name = "PATH")]
    pub(crate) go_sum: Vec<PathBuf>,
    /// Request threads (1 to 256): N answer kernel requests, N more load module file lists, N more read whole .zip files and files over 1 MiB
    #[arg(long, value_name = "N", default_value = "4", value_parser = values::workers)]
    pub(crate) workers: usize,
    /// Who may read the counters and module list: owner, group=NAME, or all (with --allow-other)
    #[arg(long, value_name = "WHO", default_value = "owner", value_parser = crate::ops::statsock::Access::parse)]
    pub(crate) stats_access: crate::ops::statsock::Access,
    /// Go to the background once the mount answers (logs go to --log-file)
    #[arg(long)]
    pub(crate) daemon: bool,
    /// With --daemon: write the daemon's pid here
    #[arg(long, value_name = "FILE")]
    pub(crate) pidfile: Option<PathBuf>,
    /// With --daemon: append logs here [default: beside the stats socket, see `status`]
    #[arg(long, value_name = "FILE")]
    pub(crate) log_file: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct StatsArgs {
    /// The mountpoint of a running modcachefs
    pub(crate) mountpoint: PathBuf,
    /// Print the counters as JSON (the same as --format json)
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: StatsFormat,
    /// Seconds to wait for the daemon's answer
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = values::seconds)]
    pub(crate) timeout: std::time::Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatsFormat {
    /// One counter per line, then the extracted modules, one per line
    Text,
    /// The daemon's report, one JSON object
    Json,
    /// The Prometheus text exposition format (node_exporter textfile collector)
    Prometheus,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// GOPROXY directories, GOMODCACHE directories, module .zip files, go.sum files
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// Worker threads for validating and hashing [default: number of CPUs]
    #[arg(long, value_name = "N", value_parser = values::threads)]
    pub(crate) threads: Option<usize>,
    /// Verifier key of a checksum database found in the inputs (GOSUMDB syntax
    /// NAME+HASH+KEY; repeatable). sum.golang.org's and $GOSUMDB's are known already.
    #[arg(long = "sumdb-key", value_name = "KEY")]
    pub(crate) sumdb_keys: Vec<String>,
    /// Fail at once if another modcachefs writer holds the store, instead of waiting
    #[arg(long)]
    pub(crate) no_wait: bool,
}

#[derive(Args)]
pub(crate) struct LsArgs {
    /// Only modules whose path contains this text
    pub(crate) filter: Option<String>,
    /// One JSON object per module (JSON lines)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// Worker threads [default: number of CPUs]
    #[arg(long, value_name = "N", value_parser = values::threads)]
    pub(crate) threads: Option<usize>,
}
