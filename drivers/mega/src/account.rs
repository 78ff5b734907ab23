//! The logged-in MEGA session and an up-to-date view of the account's nodes.
//!
//! MEGA has no "get by path" call: clients fetch the whole (encrypted) node tree once
//! and then follow the account's event stream. The view here does the same: the first
//! call logs in and fetches the tree, and every later call first applies the events
//! since, so a key another client wrote or deleted is seen at once. When the events
//! cannot be applied in place (a download still holds the old snapshot) the tree is
//! fetched again.

use std::sync::Arc;
use std::time::Duration;

use mega::{Client, Nodes};
use mirra_driver_api::{DriverError, DriverResult, ErrorKind};
use tokio::sync::Mutex;

use crate::config::MegaConfig;
use crate::errors::{map_error, map_login_error};

/// Past this many event batches in one catch-up, a fresh fetch is cheaper.
const MAX_EVENT_BATCHES: usize = 32;

/// One account, shared by the provider's calls and writers.
pub(crate) struct Account {
    config: MegaConfig,
    /// `None` until the first call logs in, and again after MEGA drops the session.
    client: Mutex<Option<Arc<Client>>>,
    tree: Mutex<Option<Arc<Nodes>>>,
    /// Held while creating folders, so this process never creates twin folders.
    pub mkdir: Mutex<()>,
}

impl Account {
    /// Makes no request: the first call logs in.
    pub fn new(config: MegaConfig) -> Self {
        Self {
            config,
            client: Mutex::new(None),
            tree: Mutex::new(None),
            mkdir: Mutex::new(()),
        }
    }

    /// The provider's settings.
    pub fn config(&self) -> &MegaConfig {
        &self.config
    }

    /// The logged-in client, logging in first if needed.
    pub async fn client(&self) -> DriverResult<Arc<Client>> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(Arc::clone(client));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.config.timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| DriverError::other(format!("mega: cannot build an HTTP client: {e}")))?;
        let mut client = Client::builder()
            .origin(self.config.api_url.clone())
            .timeout(Some(self.config.timeout))
            .max_retries(self.config.max_retries)
            .max_retry_delay(Duration::from_secs(2))
            // File transfers over TLS too: the bytes are encrypted by MEGA either way,
            // but plain HTTP would show which objects mirra moves and when.
            .https(true)
            .build(http)
            .map_err(|e| map_error(&e, "open", "client"))?;
        client
            .login(&self.config.email, &self.config.password, None)
            .await
            .map_err(|e| map_login_error(&e, &self.config.email))?;
        log::debug!("logged in to MEGA as {}", self.config.email);
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// A view of the account's nodes that includes every change made so far.
    pub async fn nodes(&self) -> DriverResult<Arc<Nodes>> {
        let client = self.client().await?;
        let mut slot = self.tree.lock().await;
        if let Some(current) = slot.as_mut() {
            match catch_up(&client, current).await {
                Ok(()) => return Ok(Arc::clone(current)),
                Err(why) => log::debug!("fetching the MEGA tree again: {why}"),
            }
        }
        let fresh = client.fetch_own_nodes().await;
        let fresh = Arc::new(
            self.check(fresh, "fetch the tree of", "the account")
                .await?,
        );
        *slot = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Maps a crate error; on an expired session (`ESID`) the next call logs in again.
    pub async fn check<T>(
        &self,
        result: mega::Result<T>,
        op: &str,
        subject: &str,
    ) -> DriverResult<T> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                if matches!(
                    e,
                    mega::Error::MegaError {
                        code: mega::ErrorCode::ESID
                    } | mega::Error::MissingUserSession
                ) {
                    *self.client.lock().await = None;
                    *self.tree.lock().await = None;
                    // The session is gone, the account may be fine: retrying logs in.
                    return Err(DriverError::new(
                        ErrorKind::Unavailable,
                        format!("mega {op} {subject}: the session expired; logging in again"),
                    ));
                }
                Err(map_error(&e, op, subject))
            }
        }
    }
}

/// Applies the events since `nodes` was fetched, in place.
async fn catch_up(client: &Client, nodes: &mut Arc<Nodes>) -> Result<(), String> {
    for _ in 0..MAX_EVENT_BATCHES {
        let batch = client.poll_events(nodes).await.map_err(|e| e.to_string())?;
        let Some(batch) = batch else {
            return Ok(());
        };
        let done = batch.events().is_empty();
        let Some(tree) = Arc::get_mut(nodes) else {
            return Err("a reader still holds the previous tree".into());
        };
        tree.apply_events(batch).map_err(|e| e.to_string())?;
        if done {
            return Ok(());
        }
    }
    Err(format!("more than {MAX_EVENT_BATCHES} event batches"))
}
