//! The `mirra` command line: one file per subcommand, each a clap struct whose `run`
//! does the work through the library and returns `anyhow::Result`.

mod completions;
mod condition;
mod config;
mod context;
mod doctor;
mod driver;
mod get;
mod init;
mod keys;
mod lookup;
mod ls;
mod output;
mod progress;
mod providers;
mod put;
mod repair;
mod rm;
mod serve;
mod stat;
mod sync;
mod token;
mod tree;
mod verify;
mod zone_source;
mod zone_store;
mod zonefile;
mod zonefile_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use context::Globals;

/// Mirror every object to every storage provider you list; read from whichever
/// answers, verified against your signature.
#[derive(Debug, Parser)]
#[command(name = "mirra", version, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/mirra/config.toml].
    #[arg(long, global = true, env = "MIRRA_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a signing key and a config with three local disk providers.
    Init(init::InitCmd),
    /// Show the owner's public key.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Mirror a file (or stdin, or with -r a directory) to every provider.
    Put(put::PutCmd),
    /// Read an object (or with -r every key under a prefix), verified.
    Get(get::GetCmd),
    /// Make a prefix mirror a local directory: send only new and changed files.
    Sync(sync::SyncCmd),
    /// Delete an object everywhere, leaving a signed tombstone.
    Rm(rm::RmCmd),
    /// List keys across providers.
    Ls(ls::LsCmd),
    /// Show what each provider holds for a key.
    Stat(stat::StatCmd),
    /// Show each provider's driver, capabilities and health.
    Providers(providers::ProvidersCmd),
    /// Check the config, key, drivers, and that every provider is reachable and writable.
    Doctor(doctor::DoctorCmd),
    /// Show the effective config (secrets hidden) or check it: `mirra config show|check`.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Work with storage drivers: `mirra driver new NAME [DIR]` writes a new driver crate.
    #[command(subcommand)]
    Driver(driver::DriverCmd),
    /// Print a shell completion script.
    Completions(completions::CompletionsCmd),
    /// Print the man page.
    Man(completions::ManCmd),
    /// Check every copy of every key against the newest signed manifest.
    Verify(verify::VerifyCmd),
    /// Copy verified data onto every provider that is missing, stale or corrupt.
    Repair(repair::RepairCmd),
    /// Write a zone file: the owner's key and a URI record per provider.
    Zonefile(zonefile::ZonefileCmd),
    /// Read an object through an owner's zone file, with no config, verified.
    Lookup(lookup::LookupCmd),
    /// Serve objects over HTTP, verified, with failover; writes with --writable.
    Serve(serve::ServeCmd),
    /// Mint a write token for `mirra serve --writable`.
    Token(token::TokenCmd),
}

/// Exit status: the command did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the operation failed (no valid copy, quorum not met, ...).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: bad usage, config or key; nothing was attempted.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the write committed, but a concurrent write (from another machine or
/// state dir) won the order; the key holds the other write.
pub const EXIT_SUPERSEDED: u8 = 3;
/// Exit status: `--if-match`/`--if-none-match` did not hold; nothing was written.
pub const EXIT_PRECONDITION: u8 = 4;

/// Parses the command line, runs the command, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let globals = Globals::new(cli.config, cli.verbose, cli.quiet);
    globals.init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mirra: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(cmd) => cmd.run(&globals),
            Command::Keys(cmd) => cmd.run(&globals),
            Command::Put(cmd) => cmd.run(&globals).await,
            Command::Get(cmd) => cmd.run(&globals).await,
            Command::Sync(cmd) => cmd.run(&globals).await,
            Command::Rm(cmd) => cmd.run(&globals).await,
            Command::Ls(cmd) => cmd.run(&globals).await,
            Command::Stat(cmd) => cmd.run(&globals).await,
            Command::Providers(cmd) => cmd.run(&globals).await,
            Command::Doctor(cmd) => cmd.run(&globals).await,
            Command::Config(cmd) => cmd.run(&globals),
            Command::Driver(cmd) => cmd.run(),
            Command::Completions(cmd) => cmd.run(),
            Command::Man(cmd) => cmd.run(),
            Command::Verify(cmd) => cmd.run(&globals).await,
            Command::Repair(cmd) => cmd.run(&globals).await,
            Command::Zonefile(cmd) => cmd.run(&globals).await,
            Command::Lookup(cmd) => cmd.run(&globals).await,
            Command::Serve(cmd) => cmd.run(&globals).await,
            Command::Token(cmd) => cmd.run(&globals),
        }
    });
    // Abandon driver calls stuck past their deadline instead of waiting for them.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // The chain may quote a zone file, a provider or a server: escape it.
            eprintln!(
                "mirra: {}",
                crate::printable::escape_controls_keep_lines(&format!("{err:#}"))
            );
            ExitCode::from(exit_code_for(&err))
        }
    }
}

fn exit_code_for(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<crate::config::ConfigError>()
            || cause.is::<crate::user_key::UserKeyError>()
            || cause.is::<crate::identity::IdentityError>()
            || cause.is::<crate::loader::LoaderError>()
            || cause.is::<crate::zonefile::ZoneFileError>()
            || matches!(
                cause.downcast_ref::<crate::store::StoreError>(),
                Some(crate::store::StoreError::InvalidWrite(_))
            )
            || matches!(
                cause.downcast_ref::<crate::tree::TreeError>(),
                Some(
                    crate::tree::TreeError::BadPrefix { .. }
                        | crate::tree::TreeError::NotADirectory(_)
                )
            )
    });
    let precondition = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<crate::store::StoreError>(),
            Some(crate::store::StoreError::PreconditionFailed { .. })
        )
    });
    if precondition {
        EXIT_PRECONDITION
    } else if usage {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}
