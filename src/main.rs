//! The `modcachefs` command. Everything it does is in the library: see `cli`.

fn main() -> std::process::ExitCode {
    modcachefs::cli::main()
}
