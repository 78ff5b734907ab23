//! Keeps the mega crate's own tracing output out of the host's log.
//!
//! The crate records every API request as span fields (the login request carries the
//! password-derived login hash) and logs HTTP errors whose URL holds the session id.
//! driver-api forwards a driver's `tracing` events to the host through tracing's `log`
//! feature, which only applies while no tracing subscriber is set; a no-op subscriber
//! as this library's global default drops them instead. The driver's own messages use
//! `log` directly and still reach the host, and its errors say what went wrong.

use std::sync::Once;

use tracing::subscriber::NoSubscriber;

/// Installs the no-op subscriber, once. In a program that linked this crate in and set
/// its own subscriber first, that one stays (and sees the crate's events).
pub(crate) fn silence_crate_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if tracing::subscriber::set_global_default(NoSubscriber::default()).is_err() {
            log::debug!("a tracing subscriber is already set; the mega crate logs to it");
        }
    });
}
