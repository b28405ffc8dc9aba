//! The `modcachefs` command line: parse, dispatch to `cli/`, map the result to an
//! exit code. The work happens in the library.

mod cli;

use clap::Parser;
use cli::args::{Cli, Cmd};
use cli::EXIT_FATAL;
use modcachefs::{daemon, logger, store};
use std::process::ExitCode;

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
        Cmd::Import(a) => cli::store_read::cmd_import(&store_dir, a),
        Cmd::Ls(a) => cli::store_read::cmd_ls(&store_dir, a),
        Cmd::Verify(a) => cli::store_read::cmd_verify(&store_dir, a),
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
