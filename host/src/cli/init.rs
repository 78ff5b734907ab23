//! `mirra init`: a key and the embedded default config.

use clap::Args;

use super::context::Globals;
use crate::config::{default_config_text, default_data_dir, write_private};
use crate::identity::Identity;

/// Create a signing key and a config with three local disk providers.
#[derive(Debug, Args)]
pub struct InitCmd {
    /// Replace an existing key and config (the old key is lost).
    #[arg(long)]
    force: bool,
}

impl InitCmd {
    /// Writes the key (mode 0600) and the config, and says where each went.
    pub fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let config_path = globals.config_path();
        if config_path.exists() && !self.force {
            anyhow::bail!(
                "{} already exists; pass --force to replace it",
                config_path.display()
            );
        }
        let data_dir = default_data_dir();
        let key_file = data_dir.join("key");
        let providers_root = data_dir.join("providers");
        let identity = Identity::generate();
        identity.save(&key_file, self.force)?;
        let text = default_config_text(&key_file, &providers_root);
        if let Some(dir) = config_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Private from the start: the user will likely add provider credentials to it.
        write_private(&config_path, &text)?;
        for name in ["disk-a", "disk-b", "disk-c"] {
            std::fs::create_dir_all(providers_root.join(name))?;
        }
        println!("key:        {} (mode 0600)", key_file.display());
        println!("public key: {}", identity.pubkey_hex());
        println!("config:     {} (mode 0600)", config_path.display());
        println!("providers:  {}/disk-{{a,b,c}}", providers_root.display());
        Ok(super::EXIT_OK)
    }
}
