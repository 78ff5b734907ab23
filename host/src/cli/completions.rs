//! `mirra completions SHELL` and `mirra man`: shell completions and a man page, generated
//! from the same clap definitions as the parser, so they cannot drift.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Print a completion script for your shell.
#[derive(Debug, Args)]
pub struct CompletionsCmd {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

impl CompletionsCmd {
    /// Writes the script to stdout, e.g. `mirra completions bash > ~/.local/share/bash-completion/completions/mirra`.
    pub fn run(self) -> anyhow::Result<u8> {
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "mirra", &mut script);
        write_stdout(&script)
    }
}

/// Print the man page (roff), e.g. `mirra man > ~/.local/share/man/man1/mirra.1`.
#[derive(Debug, Args)]
pub struct ManCmd {}

impl ManCmd {
    /// Writes mirra(1) to stdout.
    pub fn run(self) -> anyhow::Result<u8> {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        write_stdout(&page)
    }
}

/// Writes to stdout; a reader that went away early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<u8> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(super::EXIT_OK),
    }
}
