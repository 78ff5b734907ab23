//! The mega crate's own tracing output (API requests as span fields, HTTP errors with
//! the session id in their URL) must not reach the host's log. Without a subscriber,
//! tracing's `log` feature turns each event into a `log` record, which driver-api
//! forwards to the host; opening a provider installs a no-op subscriber that stops it.
//! Its own process: the subscriber and the logger are global.

use std::sync::{Arc, Mutex};

use mirra_driver_api::DriverFactory;
use mirra_driver_mega::MegaFactory;

struct Capture(Arc<Mutex<Vec<String>>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.target(), record.args()));
    }
    fn flush(&self) {}
}

fn crate_like_events() {
    // What the crate does: an instrumented request span and an error event.
    let span = tracing::info_span!("send_requests", requests = "uh=LOGINHASH");
    let _inside = span.enter();
    tracing::error!(
        error = "url (https://g.api.mega.co.nz/cs?sid=SESSION)",
        "reqwest error"
    );
}

#[test]
fn opening_a_provider_keeps_the_crates_tracing_out_of_the_log() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    log::set_boxed_logger(Box::new(Capture(Arc::clone(&seen)))).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    crate_like_events();
    let before = seen.lock().unwrap().join("\n");
    // The premise: without the driver's subscriber these would reach the host.
    assert!(
        before.contains("SESSION"),
        "tracing did not reach log:\n{before}"
    );
    seen.lock().unwrap().clear();

    let _driver = MegaFactory::open("email = \"a@b.c\"\npassword = \"pw-SECRET\"").unwrap();
    crate_like_events();
    let after = seen.lock().unwrap().join("\n");
    assert!(!after.contains("SESSION"), "{after}");
    assert!(!after.contains("LOGINHASH"), "{after}");
    assert!(!after.contains("pw-SECRET"), "{after}");
    // The driver's own `log` messages still arrive.
    log::debug!(target: "mirra_driver_mega", "still here");
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("still here")));
}
