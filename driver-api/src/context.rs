//! Logging across the ABI: the host hands each driver a callback, and a driver's `log`
//! and `tracing` events arrive in the host's `tracing` subscriber tagged with its name.
//!
//! A driver library has its own copy of the `log` and `tracing` globals, so its events
//! would otherwise go nowhere. On `open`, the export glue installs a `log` logger in the
//! driver that forwards to the host; `tracing` events reach it through `tracing`'s `log`
//! feature (enabled by driver-api), since no `tracing` subscriber exists inside a driver.

use std::sync::OnceLock;

use abi_stable::std_types::RStr;

use crate::ffi::FfiHostContext;

/// The log sink the host passes to drivers when it opens them.
#[derive(Clone, Copy)]
pub struct HostContext {
    pub(crate) ffi: FfiHostContext,
}

impl HostContext {
    /// A context that delivers driver events to the host's `tracing` subscriber as events
    /// with target `mirra::driver` and a `driver` field, up to `max_level`.
    pub fn tracing(max_level: tracing::level_filters::LevelFilter) -> Self {
        let max_level = match max_level.into_level() {
            None => 0,
            Some(tracing::Level::ERROR) => 1,
            Some(tracing::Level::WARN) => 2,
            Some(tracing::Level::INFO) => 3,
            Some(tracing::Level::DEBUG) => 4,
            Some(tracing::Level::TRACE) => 5,
        };
        Self {
            ffi: FfiHostContext {
                log: host_log,
                max_level,
            },
        }
    }
}

impl Default for HostContext {
    /// Forwards whatever the host's current `tracing` filter lets through.
    fn default() -> Self {
        Self::tracing(tracing::level_filters::LevelFilter::current())
    }
}

extern "C" fn host_log(level: u8, driver: RStr<'_>, target: RStr<'_>, message: RStr<'_>) {
    let (driver, target, message) = (driver.as_str(), target.as_str(), message.as_str());
    match level {
        1 => tracing::error!(target: "mirra::driver", driver, origin = target, "{message}"),
        2 => tracing::warn!(target: "mirra::driver", driver, origin = target, "{message}"),
        3 => tracing::info!(target: "mirra::driver", driver, origin = target, "{message}"),
        4 => tracing::debug!(target: "mirra::driver", driver, origin = target, "{message}"),
        _ => tracing::trace!(target: "mirra::driver", driver, origin = target, "{message}"),
    }
}

struct Forwarder {
    ctx: FfiHostContext,
    driver: String,
}

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() as u8 <= self.ctx.max_level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            (self.ctx.log)(
                record.level() as u8,
                RStr::from_str(&self.driver),
                RStr::from_str(record.target()),
                RStr::from_str(&message),
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the forwarding logger inside a driver library, once; later opens of the same
/// library reuse it (a library has one driver name, and one host).
pub(crate) fn install_forwarder(ctx: FfiHostContext, driver: String) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let level = match ctx.max_level {
            0 => log::LevelFilter::Off,
            1 => log::LevelFilter::Error,
            2 => log::LevelFilter::Warn,
            3 => log::LevelFilter::Info,
            4 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        };
        // Fails only if the driver installed a logger of its own; then we leave it be.
        if log::set_boxed_logger(Box::new(Forwarder { ctx, driver })).is_ok() {
            log::set_max_level(level);
        }
    });
}
