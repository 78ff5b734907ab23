//! Fault injection around any driver, from `[provider.chaos]`: for tests and demos of
//! what mirra does when a provider is down, flaky, slow, hung or lying.
//!
//! The dice are a seeded SplitMix64, so a run with a `seed` repeats exactly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mirra_driver_api::{
    DriverError, DriverResult, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::config::ChaosConfig;

/// How long a stalled read blocks: far past any sane deadline, so only the host's
/// stall timeout ends the wait.
const STALL: Duration = Duration::from_secs(3600);

/// A driver wrapped in the faults its provider's chaos table asks for.
pub struct ChaosDriver {
    inner: Arc<dyn StorageDriver>,
    config: ChaosConfig,
    dice: Mutex<u64>,
}

impl ChaosDriver {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StorageDriver>, config: ChaosConfig) -> Self {
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
        Self {
            inner,
            config,
            dice: Mutex::new(seed),
        }
    }

    /// A uniform number in [0, 1).
    fn roll(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&self) -> u64 {
        let mut state = self.dice.lock().unwrap_or_else(|e| e.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The faults every call may suffer before it reaches the driver.
    fn before(&self, op: &str) -> DriverResult<()> {
        if self.config.down {
            return Err(DriverError::unavailable(format!(
                "chaos: provider down ({op})"
            )));
        }
        if let Some(latency) = self.config.latency {
            std::thread::sleep(latency);
        }
        if self.config.fail_rate > 0.0 && self.roll() < self.config.fail_rate {
            return Err(DriverError::unavailable(format!(
                "chaos: injected failure ({op})"
            )));
        }
        Ok(())
    }
}

impl StorageDriver for ChaosDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        self.before("stat")?;
        self.inner.stat(key)
    }

    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        self.before("read")?;
        let mut want = buf.len();
        if let Some(limit) = self.config.stall_after_bytes {
            if offset >= limit {
                std::thread::sleep(STALL);
                return Err(DriverError::unavailable("chaos: read stalled"));
            }
            want = want.min((limit - offset) as usize);
        }
        let n = self.inner.read(key, offset, &mut buf[..want])?;
        if n > 0 && self.config.corrupt_rate > 0.0 && self.roll() < self.config.corrupt_rate {
            let at = (self.next() % n as u64) as usize;
            buf[at] ^= 0x5a;
        }
        Ok(n)
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        self.before("put")?;
        self.inner.put(key, data)
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.before("begin_write")?;
        self.inner.begin_write(key)
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.before("delete")?;
        self.inner.delete(key)
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        self.before("list")?;
        self.inner.list(prefix, cursor, limit)
    }

    fn public_url(&self, key: &Key) -> DriverResult<String> {
        self.inner.public_url(key)
    }

    fn health(&self) -> DriverResult<()> {
        self.before("health")?;
        self.inner.health()
    }

    fn begin_unsynced_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.before("begin_write")?;
        self.inner.begin_unsynced_write(key)
    }

    fn flush(&self) -> DriverResult<()> {
        self.before("flush")?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<u8>);

    impl StorageDriver for Fixed {
        fn stat(&self, _: &Key) -> DriverResult<ObjectMeta> {
            Ok(ObjectMeta {
                size: self.0.len() as u64,
            })
        }
        fn read(&self, _: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
            let rest = self.0.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        }
    }

    fn chaos(config: ChaosConfig) -> ChaosDriver {
        ChaosDriver::new(Arc::new(Fixed(vec![7u8; 4096])), config)
    }

    #[test]
    fn down_fails_every_call() {
        let driver = chaos(ChaosConfig {
            down: true,
            ..Default::default()
        });
        let key = Key::parse("k").unwrap();
        assert_eq!(
            driver.stat(&key).unwrap_err().kind,
            mirra_driver_api::ErrorKind::Unavailable
        );
        assert!(driver.read(&key, 0, &mut [0; 8]).is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let config = ChaosConfig {
            fail_rate: 0.5,
            corrupt_rate: 0.5,
            seed: Some(42),
            ..Default::default()
        };
        let key = Key::parse("k").unwrap();
        let outcomes = |driver: &ChaosDriver| -> Vec<Option<Vec<u8>>> {
            (0..64)
                .map(|_| {
                    let mut buf = vec![0u8; 64];
                    driver.read(&key, 0, &mut buf).ok().map(|_| buf)
                })
                .collect()
        };
        let (a, b) = (outcomes(&chaos(config.clone())), outcomes(&chaos(config)));
        assert_eq!(a, b);
        let failed = a.iter().filter(|o| o.is_none()).count();
        let corrupted = a
            .iter()
            .flatten()
            .filter(|buf| buf.iter().any(|&x| x != 7))
            .count();
        assert!(
            (16..=48).contains(&failed),
            "{failed} of 64 failed at rate 0.5"
        );
        assert!(corrupted > 0, "no corruption at rate 0.5");
    }

    #[test]
    fn reads_stop_at_the_stall_point() {
        let driver = chaos(ChaosConfig {
            stall_after_bytes: Some(100),
            ..Default::default()
        });
        let key = Key::parse("k").unwrap();
        let mut buf = vec![0u8; 1000];
        assert_eq!(
            driver.read(&key, 0, &mut buf).unwrap(),
            100,
            "a read is cut at the stall point"
        );
    }
}
