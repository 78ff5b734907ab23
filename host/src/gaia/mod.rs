//! The Gaia hub protocol in front of the store (`mirra serve --gaia`): every unmodified
//! Stacks app writes a user's files through mirra to all providers, with the owner's
//! signed manifests, and reads them back verified from whichever provider answers.
//!
//! A front door only: it checks Gaia tokens, scopes and paths, then translates each
//! request into one store call (`put_with` with a [`WriteCondition`], `remove_with`,
//! `list`, `head`/`get_range`). Chunking, verification, versions and preconditions are
//! the store's. A file `path` of bucket `address` is the key `<address>/<path>`, so the
//! read gateway's `GET /{address}/{path}` is its read URL.
//!
//! [`WriteCondition`]: crate::store::WriteCondition

pub mod absence;
pub mod address;
pub mod conditions;
pub mod cors;
pub mod errors;
pub mod paths;
pub mod revocations;
mod routes;
pub mod scopes;
pub mod token;

use crate::config::GaiaConfig;

pub use routes::routes;

/// A Gaia hub's settings and state, shared by its requests.
#[derive(Debug)]
pub struct Hub {
    config: GaiaConfig,
    challenge: String,
    required_writes: usize,
    revocations: revocations::Revocations,
}

impl Hub {
    /// A hub with `config` (already checked) over a store whose writes commit on
    /// `required_writes` providers (the write quorum; it tells when providers that are
    /// up can vouch that a bucket has no revocation).
    pub fn new(config: GaiaConfig, required_writes: usize) -> Self {
        let challenge = challenge_text(&config.server_name);
        Self {
            config,
            challenge,
            required_writes,
            revocations: revocations::Revocations::new(required_writes),
        }
    }

    /// The text every token's `gaiaChallenge` must equal.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// The upload limit in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.config
            .max_file_upload_size_megabytes
            .saturating_mul(1 << 20)
    }

    /// Providers every write commits on.
    pub fn required_writes(&self) -> usize {
        self.required_writes
    }

    /// The settings the hub was made with.
    pub fn config(&self) -> &GaiaConfig {
        &self.config
    }
}

/// Gaia's challenge text for `server_name`: the JSON array
/// `["gaiahub","0",server_name,"blockstack_storage_please_sign"]`.
pub fn challenge_text(server_name: &str) -> String {
    serde_json::json!([
        "gaiahub",
        "0",
        server_name,
        "blockstack_storage_please_sign"
    ])
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_gaias_json_array() {
        assert_eq!(
            challenge_text("hub.example"),
            r#"["gaiahub","0","hub.example","blockstack_storage_please_sign"]"#
        );
        let hub = Hub::new(GaiaConfig::default(), 2);
        assert_eq!(hub.max_upload_bytes(), 20 << 20);
    }
}
