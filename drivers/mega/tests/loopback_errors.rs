//! Error kinds through the real mega client: the driver logs in against a loopback
//! server that answers the way MEGA reports errors, or against a closed port, and each
//! operation must come back with the kind the host acts on, without the password.

mod common;

use common::{closed_port, config, Answer, ApiServer, PASSWORD};
use mirra_driver_api::{DriverError, DriverFactory, ErrorKind, Key, StorageDriver};
use mirra_driver_mega::MegaFactory;

fn every_operation(driver: &dyn StorageDriver) -> Vec<(&'static str, DriverError)> {
    let key = Key::parse("alice/objects/ab").unwrap();
    let mut buf = [0u8; 8];
    vec![
        ("stat", driver.stat(&key).map(drop)),
        ("read", driver.read(&key, 0, &mut buf).map(drop)),
        ("put", driver.put(&key, b"bytes")),
        ("delete", driver.delete(&key)),
        ("list", driver.list("", None, 10).map(drop)),
        ("health", driver.health()),
    ]
    .into_iter()
    .map(|(op, result)| (op, result.expect_err(op)))
    .collect()
}

fn assert_all(driver: &dyn StorageDriver, kind: ErrorKind, needle: &str) {
    for (op, err) in every_operation(driver) {
        assert_eq!(err.kind, kind, "{op}: {err}");
        assert_eq!(err.retryable, kind == ErrorKind::Unavailable, "{op}: {err}");
        assert!(err.message.contains(needle), "{op}: {err}");
        assert!(
            !err.message.contains(PASSWORD),
            "{op} leaks the password: {err}"
        );
    }
}

#[test]
fn a_refused_login_is_permission_denied() {
    // MEGA answers a pre-login for an unknown account with ENOENT (-9).
    let server = ApiServer::start(Answer::Json("-9"));
    let driver = MegaFactory::open(&config(&server.url())).unwrap();
    assert_all(
        &*driver,
        ErrorKind::PermissionDenied,
        "wrong email or password",
    );
    let requests = server.requests();
    assert!(!requests.is_empty(), "the client never reached the server");
    assert!(
        requests[0].starts_with("POST /cs?id=") && requests[0].contains("alice@example.com"),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| !r.contains(PASSWORD)),
        "the password went over the wire: {requests:?}"
    );
}

#[test]
fn a_blocked_account_is_permission_denied() {
    // A per-command error code, inside the response array.
    let server = ApiServer::start(Answer::Json("[-16]"));
    let driver = MegaFactory::open(&config(&server.url())).unwrap();
    assert_all(&*driver, ErrorKind::PermissionDenied, "blocked");
}

#[test]
fn endless_throttling_is_unavailable() {
    // EAGAIN (-3): the crate retries, gives up after max_retries.
    let server = ApiServer::start(Answer::Json("-3"));
    let driver = MegaFactory::open(&config(&server.url())).unwrap();
    let err = driver.health().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(err.retryable);
    assert!(
        server.requests().len() >= 2,
        "no retry: {:?}",
        server.requests()
    );
}

#[test]
fn a_failing_server_is_unavailable() {
    let server = ApiServer::start(Answer::Status(503));
    let driver = MegaFactory::open(&config(&server.url())).unwrap();
    assert_all(&*driver, ErrorKind::Unavailable, "alice@example.com");
}

#[test]
fn nothing_listening_is_unavailable() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let driver = MegaFactory::open(&config(&url)).unwrap();
    assert_all(&*driver, ErrorKind::Unavailable, "alice@example.com");
}

#[test]
fn open_makes_no_request() {
    // The host opens every provider at start-up, MEGA reachable or not.
    let server = ApiServer::start(Answer::Json("-9"));
    let _driver = MegaFactory::open(&config(&server.url())).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}
