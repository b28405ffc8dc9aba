//! The command line: its grammar (`args`, with option values in `values`), the
//! commands that fill and read the store (`store_read`), mounting and unmounting
//! (`mounting`), looking at running mounts (`observe`), and terminal progress.
//! [`main`] parses, dispatches and maps the result to an exit code.

pub(crate) mod args;
pub(crate) mod mounting;
pub(crate) mod observe;
pub(crate) mod progress;
pub(crate) mod store_cmds;
pub(crate) mod store_read;
pub(crate) mod values;

/// Exit codes: 0 success, 1 some inputs or modules failed, 2 usage or setup error.
pub(crate) const EXIT_PARTIAL: u8 = 1;
pub(crate) const EXIT_FATAL: u8 = 2;

use crate::error::Error;
use crate::ops::{daemon, logger};
use crate::store;
use args::{Cli, Cmd};
use clap::Parser;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Before `import` opens (and so creates) a store: a `--store` that is a new or
/// empty directory becomes a new store, which is said (on a terminal, else at info
/// level: a mistyped `--store` would otherwise silently start an empty store);
/// a non-empty directory without an index is refused, never filled.
pub(crate) fn check_new_store(dir: &Path) -> Result<(), Error> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let say = || {
        let msg = format!("creating a new store at {}", absolute.display());
        if std::io::stderr().is_terminal() {
            eprintln!("modcachefs: {msg}");
        } else {
            log::info!("{msg}");
        }
    };
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => say(),
        Ok(mut entries) => {
            if !crate::store::exists(dir) {
                if entries.next().is_some() {
                    return Err(Error::Invalid(format!(
                        "{}: not a modcachefs store (no index) and not empty; \
                         refusing to make a store in it (check --store, or give an empty or new directory)",
                        absolute.display()
                    )));
                }
                say();
            }
        }
        // Not a directory, unreadable: opening the store says why.
        Err(_) => {}
    }
    Ok(())
}

/// The whole command: parse `std::env::args`, run, and give the exit code.
pub fn main() -> ExitCode {
    // mount(8) and fstab call us as `mount.fuse.modcachefs STORE DIR -o OPTS`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match daemon::helper_args(&args, args::is_subcommand) {
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
        Cmd::Import(a) => store_read::cmd_import(&store_dir, a),
        Cmd::Ls(a) => store_read::cmd_ls(&store_dir, a),
        Cmd::Verify(a) => store_read::cmd_verify(&store_dir, a),
        Cmd::Mount(a) => mounting::cmd_mount(&store_dir, a),
        Cmd::Serve(a) => crate::serve::run(&store_dir, a, mounting::collect_go_sums),
        Cmd::Stats(a) => observe::cmd_stats(a),
        Cmd::Env(a) => observe::cmd_env(&store_dir, a),
        Cmd::Umount(a) => mounting::cmd_umount(a),
        Cmd::Status(a) => observe::cmd_status(a),
        Cmd::Rm(a) => store_cmds::cmd_rm(&store_dir, a),
        Cmd::Gc(a) => store_cmds::cmd_gc(&store_dir, a),
        Cmd::Compact(a) => store_cmds::cmd_compact(&store_dir, a),
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
