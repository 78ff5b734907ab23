//! `begin_write` for the DHT: a value is one datagram-sized item, so it is held in
//! memory (never more than the BEP 44 limit) and published on commit.

use mirra_driver_api::{DriverResult, Key, ObjectWriter, StorageDriver};

use crate::driver::{check_size, DhtDriver};

/// A write of at most [`crate::MAX_VALUE_LEN`] bytes; dropping it publishes nothing.
pub(crate) struct BufferedWriter {
    driver: DhtDriver,
    key: Key,
    buffer: Vec<u8>,
}

impl BufferedWriter {
    pub(crate) fn new(driver: DhtDriver, key: Key) -> Self {
        Self {
            driver,
            key,
            buffer: Vec::new(),
        }
    }
}

impl ObjectWriter for BufferedWriter {
    /// Fails with `InvalidInput` as soon as the object outgrows the limit.
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        check_size(&self.key, self.buffer.len() + data.len())?;
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    fn commit(self: Box<Self>) -> DriverResult<()> {
        self.driver.put(&self.key, &self.buffer)
    }

    fn abort(self: Box<Self>) -> DriverResult<()> {
        Ok(())
    }
}
