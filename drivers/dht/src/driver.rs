//! One DHT provider: a mainline node, and the key that signs this provider's items.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt;
use mainline::async_dht::AsyncDht;
use mainline::errors::{PutMutableError, PutQueryError};
use mainline::{Dht, MutableItem, SigningKey};
use mirra_driver_api::runtime::DriverRuntime;
use mirra_driver_api::{
    DriverError, DriverResult, ErrorKind, Key, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::config::{encode_hex, Bootstrap};
use crate::salt::salt_for;
use crate::writer::BufferedWriter;

/// The largest value a BEP 44 item holds, in bytes; DHT nodes refuse bigger ones.
pub const MAX_VALUE_LEN: usize = 1000;

/// The URL scheme zone files use for this driver.
pub const URL_SCHEME: &str = "dht+udp";

/// How many times a write re-reads the newest sequence number after a node says its
/// own is newer (another writer with the same seed, or a clock that went back).
const SEQ_RETRIES: usize = 3;

/// A provider on the mainline DHT.
///
/// Objects are BEP 44 mutable items under this provider's public key, one per key (see
/// [`crate::salt`]); values are the object's bytes, unchanged. An empty value is the
/// tombstone `delete` leaves, so an empty object cannot be stored.
pub struct DhtDriver {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dht: AsyncDht,
    public_key: [u8; 32],
    /// `None` when opened read-only from a `dht+udp://` URL.
    signer: Option<SigningKey>,
    /// The last sequence number this process wrote per salt, so two writes within one
    /// clock tick still go up.
    last_seq: Mutex<HashMap<Vec<u8>, i64>>,
    /// Drives mainline's async queries from the driver's blocking calls.
    runtime: DriverRuntime,
}

/// Where a new node listens.
pub(crate) struct NodeOptions {
    pub(crate) bootstrap: Bootstrap,
    pub(crate) port: Option<u16>,
    pub(crate) bind_address: Option<std::net::Ipv4Addr>,
    pub(crate) request_timeout: Option<std::time::Duration>,
}

impl DhtDriver {
    /// A node that signs with `seed` and can write.
    ///
    /// # Errors
    /// `Unavailable` when the UDP socket cannot be bound.
    pub(crate) fn open(seed: [u8; 32], node: NodeOptions) -> DriverResult<Self> {
        let signer = SigningKey::from_bytes(&seed);
        let public_key = signer.verifying_key().to_bytes();
        Self::start(public_key, Some(signer), node)
    }

    /// A node that reads the items of `public_key` and cannot write.
    pub(crate) fn open_read_only(public_key: [u8; 32], node: NodeOptions) -> DriverResult<Self> {
        Self::start(public_key, None, node)
    }

    fn start(
        public_key: [u8; 32],
        signer: Option<SigningKey>,
        node: NodeOptions,
    ) -> DriverResult<Self> {
        let mut builder = Dht::builder();
        if let Bootstrap::Nodes(nodes) = &node.bootstrap {
            builder.bootstrap(nodes);
        }
        if let Some(timeout) = node.request_timeout {
            builder.request_timeout(timeout);
        }
        if let Some(port) = node.port {
            builder.port(port);
        }
        match (node.bind_address, &node.bootstrap) {
            (Some(address), _) => {
                builder.bind_address(address);
            }
            // A node that only knows loopback nodes is on a private test network: keep
            // it off the machine's other interfaces.
            (None, Bootstrap::Nodes(nodes)) if nodes.iter().all(|n| n.starts_with("127.")) => {
                builder.bind_address(std::net::Ipv4Addr::LOCALHOST);
            }
            (None, _) => {}
        }
        let dht = builder
            .build()
            .map_err(|e| DriverError::unavailable(format!("dht: cannot start a DHT node: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                dht: dht.as_async(),
                public_key,
                signer,
                last_seq: Mutex::new(HashMap::new()),
                runtime: DriverRuntime::new("dht", 1)?,
            }),
        })
    }

    /// The ed25519 public key that names this provider's items, as hex.
    pub fn public_key_hex(&self) -> String {
        encode_hex(&self.inner.public_key)
    }
}

impl Inner {
    /// The newest item under `salt`, or `None` when the DHT has none.
    async fn newest(&self, salt: &[u8]) -> DriverResult<Option<MutableItem>> {
        let query = self
            .dht
            .get_mutable_detailed(&self.public_key, Some(salt), None);
        let items: Vec<MutableItem> = query.items.collect().await;
        let outcome = query.outcome.recv().await;
        let newest = items
            .into_iter()
            .max_by(|a, b| (a.seq(), a.value()).cmp(&(b.seq(), b.value())));
        if newest.is_none() && outcome.responded() == 0 {
            // Nobody answered: that says nothing about whether the item exists.
            return Err(DriverError::unavailable(
                "dht: no DHT node answered (check the bootstrap nodes and UDP access)",
            ));
        }
        Ok(newest)
    }

    /// The value stored under `key`; an absent item or a tombstone is `NotFound`.
    pub(crate) fn value(&self, key: &Key) -> DriverResult<Box<[u8]>> {
        match self.runtime.block_on(self.newest(&salt_for(key)))? {
            Some(item) if !item.value().is_empty() => Ok(item.value().into()),
            _ => Err(DriverError::not_found(key)),
        }
    }

    /// A sequence number above every one this process wrote under `salt`: the clock in
    /// microseconds, so writers in other processes with the same seed also move forward.
    fn next_seq(&self, salt: &[u8], at_least: i64) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let last = self
            .last_seq
            .lock()
            .map_or(0, |m| *m.get(salt).unwrap_or(&0));
        now.max(last.saturating_add(1)).max(at_least)
    }

    /// Publishes `value` (possibly the empty tombstone) as the newest item under `key`.
    pub(crate) fn store(&self, key: &Key, value: &[u8]) -> DriverResult<()> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            DriverError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "put {key}: this DHT provider was opened read-only from a {URL_SCHEME}:// URL"
                ),
            )
        })?;
        check_size(key, value.len())?;
        let salt = salt_for(key);
        let mut at_least = 0;
        for _ in 0..SEQ_RETRIES {
            let seq = self.next_seq(&salt, at_least);
            let item = MutableItem::new(signer.clone(), value, seq, Some(&salt));
            match self.runtime.block_on(self.dht.put_mutable(item, None)) {
                Ok(_) => {
                    if let Ok(mut last) = self.last_seq.lock() {
                        last.insert(salt, seq);
                    }
                    return Ok(());
                }
                Err(PutMutableError::Concurrency(_)) => {
                    // A node holds a newer item: continue above it.
                    let newest = self.runtime.block_on(self.newest(&salt))?;
                    at_least = newest.map_or(seq, |item| item.seq()).max(seq) + 1;
                }
                Err(PutMutableError::Query(e)) => return Err(query_error(key, e)),
            }
        }
        Err(DriverError::new(
            ErrorKind::Conflict,
            format!(
                "put {key}: DHT nodes kept reporting a newer item; another writer uses this seed"
            ),
        ))
    }
}

/// Refuses values the DHT would refuse, before any network traffic.
pub(crate) fn check_size(key: &Key, len: usize) -> DriverResult<()> {
    if len > MAX_VALUE_LEN {
        return Err(DriverError::invalid_input(format!(
            "put {key}: {len} bytes is over the BEP 44 limit of {MAX_VALUE_LEN} bytes \
             for a DHT value"
        )));
    }
    Ok(())
}

fn query_error(key: &Key, e: PutQueryError) -> DriverError {
    match e {
        PutQueryError::NoClosestNodes | PutQueryError::Timeout => {
            DriverError::unavailable(format!("put {key}: {e}"))
        }
        PutQueryError::ErrorResponse(response) => DriverError::other(format!(
            "put {key}: DHT nodes refused the item: {} {}",
            response.code, response.description
        )),
    }
}

impl StorageDriver for DhtDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        Ok(ObjectMeta {
            size: self.inner.value(key)?.len() as u64,
        })
    }

    /// Fetches the whole item (at most 1000 bytes) and copies the asked range.
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let value = self.inner.value(key)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(value.len());
        let n = (value.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&value[start..start + n]);
        Ok(n)
    }

    /// Refuses values over [`MAX_VALUE_LEN`] and empty ones (the empty value is the
    /// delete tombstone) with `InvalidInput`.
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        if data.is_empty() {
            return Err(DriverError::invalid_input(format!(
                "put {key}: the DHT driver cannot store an empty object \
                 (an empty value is its delete tombstone)"
            )));
        }
        self.inner.store(key, data)
    }

    /// Buffers up to [`MAX_VALUE_LEN`] bytes and publishes them on commit.
    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(BufferedWriter::new(
            DhtDriver {
                inner: self.inner.clone(),
            },
            key.clone(),
        )))
    }

    /// BEP 44 has no delete: publishes an empty value with a newer sequence number,
    /// which reads as `NotFound`. The item then expires from the DHT unless republished.
    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.inner.value(key)?;
        self.inner.store(key, &[])
    }

    fn public_url(&self, key: &Key) -> DriverResult<String> {
        Ok(format!(
            "{URL_SCHEME}://{}/{}",
            self.public_key_hex(),
            percent_encode(key.as_str())
        ))
    }

    /// Asks the DHT for nodes close to this one: fails when nobody answers.
    fn health(&self) -> DriverResult<()> {
        if self.inner.runtime.block_on(self.inner.dht.bootstrapped()) {
            Ok(())
        } else {
            Err(DriverError::unavailable(
                "dht: not connected to the DHT (no bootstrap node answered)",
            ))
        }
    }
}

/// `text` with every byte outside RFC 3986's unreserved set and `/` as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_limit_values_are_refused_naming_the_limit() {
        let key = Key::parse("big").unwrap();
        assert!(check_size(&key, MAX_VALUE_LEN).is_ok());
        let err = check_size(&key, MAX_VALUE_LEN + 1).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("1000 bytes"), "{}", err.message);
    }

    #[test]
    fn public_urls_escape_what_urls_cannot_hold() {
        assert_eq!(percent_encode("a/b c.json"), "a/b%20c.json");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
