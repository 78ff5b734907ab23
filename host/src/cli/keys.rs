//! `mirra keys`: the owner's public key.

use clap::Subcommand;

use super::context::Globals;
use super::output::print_json;
use crate::identity::Identity;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Print the public key, compressed hex and Blockstack's `pubkey:data:` form.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl KeysCmd {
    /// Prints the public key.
    pub fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let KeysCmd::Show { json } = self;
        let config = globals.load_config()?;
        let identity = Identity::load(&config.identity.key_file)?;
        if json {
            print_json(&serde_json::json!({
                "public_key": identity.pubkey_hex(),
                "zonefile_txt": identity.blockstack_txt(),
                "key_file": config.identity.key_file,
            }))?;
        } else {
            println!("{}", identity.pubkey_hex());
            println!("{}", identity.blockstack_txt());
        }
        Ok(super::EXIT_OK)
    }
}
