//! The driver as the host loads it: the built `libmirra_driver_mega.so`, through the
//! same loader, with errors crossing the ABI intact.

mod common;

use std::path::PathBuf;

use common::{closed_port, config, Answer, ApiServer, PASSWORD};
use mirra_driver_api::{DriverFactory, DriverLibrary, ErrorKind, HostContext, StorageDriver};
use mirra_driver_mega::MegaFactory;

/// `cargo test` builds the crate's cdylib into `deps/`, beside this test binary (it
/// copies it up to `target/<profile>/` only on `cargo build`, so that copy may be stale).
fn library_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .expect("target/<profile>/deps")
        .join("libmirra_driver_mega.so");
    assert!(
        path.is_file(),
        "{} is missing: cargo builds it with this test",
        path.display()
    );
    path
}

fn load() -> DriverLibrary {
    DriverLibrary::load(&library_path()).expect("load libmirra_driver_mega.so")
}

#[test]
fn the_library_loads_and_describes_itself() {
    let library = load();
    let info = library.info();
    assert_eq!(*info, MegaFactory::info());
    assert_eq!(info.name, "mega");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.capabilities.names(),
        [
            "read",
            "write",
            "streaming-write",
            "list",
            "delete",
            "atomic-write"
        ]
    );
}

#[test]
fn a_bad_config_is_refused_across_the_abi() {
    let library = load();
    for (text, field) in [
        ("password = \"x\"", "email"),
        (
            "email = \"a@b.c\"\npassword = \"x\"\nroot_folder = \"../up\"",
            "root_folder",
        ),
        (
            "email = \"a@b.c\"\npassword = \"x\"\nbucket = \"b\"",
            "bucket",
        ),
    ] {
        let err = library
            .open(HostContext::default(), text)
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{text}: {err}");
        assert!(err.message.contains(field), "{text}: {err}");
    }
}

#[test]
fn errors_keep_their_kind_across_the_abi() {
    let library = load();
    let refused = ApiServer::start(Answer::Json("-9"));
    let driver = library
        .open(HostContext::default(), &config(&refused.url()))
        .unwrap();
    let err = driver.health().unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    assert!(!err.message.contains(PASSWORD), "{err}");

    let down = format!("http://127.0.0.1:{}/", closed_port());
    let driver = library
        .open(HostContext::default(), &config(&down))
        .unwrap();
    let err = driver.list("", None, 10).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(err.retryable);
}
