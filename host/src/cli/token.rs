//! `mirra token --scope PREFIX --ttl 1h`: mint a write token for `mirra serve --writable`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use super::context::Globals;
use crate::config::parse_duration;
use crate::gateway::token;
use crate::identity::Identity;

/// Mint a write token for `mirra serve --writable`: an ES256K JWT signed with the
/// owner's key, good for keys starting with PREFIX until it expires.
#[derive(Debug, Args)]
pub struct TokenCmd {
    /// Keys the token may write or delete: every key that starts with this string
    /// (end it with `/` to mean a directory). Empty grants every key.
    #[arg(long, value_name = "PREFIX")]
    scope: String,
    /// How long the token is valid, e.g. `15m`, `1h`, `24h`.
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    ttl: std::time::Duration,
}

impl TokenCmd {
    /// Prints the token on stdout, and nothing else there, so it can be captured.
    pub fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        anyhow::ensure!(self.ttl.as_secs() > 0, "--ttl must be at least one second");
        let config = globals.load_config()?;
        let identity =
            Identity::load(&config.identity.key_file).context("loading the owner's key")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs();
        println!(
            "{}",
            token::mint(&identity, &self.scope, now, self.ttl.as_secs())
        );
        Ok(super::EXIT_OK)
    }
}
