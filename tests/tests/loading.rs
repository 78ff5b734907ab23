//! Every way loading a driver can fail gives its own clear error, and a driver that
//! panics cannot take the host down.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mirra::loader::{Loader, LoaderError, SearchPath};
use mirra_driver_api::{ErrorKind, HostContext, Key, LoadError, StorageDriver};
use mirra_tests::cdylib;

fn copy_to(dir: &Path, from: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    to
}

#[test]
fn a_missing_driver_names_every_directory_searched() {
    let dir = tempfile::tempdir().unwrap();
    let search = SearchPath::from_dirs(vec![dir.path().to_path_buf()]);
    let err = Loader::default().open(&search, "sia", "").unwrap_err();
    assert!(matches!(err, LoaderError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("libmirra_driver_sia.so") && msg.contains(&dir.path().display().to_string()),
        "{msg}"
    );

    let missing = dir.path().join("nowhere/libmirra_driver_x.so");
    let err = Loader::default()
        .open(&search, missing.to_str().unwrap(), "")
        .unwrap_err();
    assert!(matches!(err, LoaderError::MissingFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("nowhere/libmirra_driver_x.so"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libmirra_driver_text.so");
    std::fs::write(&path, "#!/bin/sh\necho I am not an ELF file\n").unwrap();
    let err = Loader::default().load(&path).unwrap_err();
    assert!(
        matches!(err, LoaderError::Load(LoadError::NotALibrary { .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("shared library"),
        "{msg}"
    );
}

#[test]
fn a_library_that_is_not_a_driver_is_refused() {
    let path = cdylib("mirra_fixture_not_a_driver");
    let err = Loader::default().load(&path).unwrap_err();
    assert!(
        matches!(err, LoaderError::Load(LoadError::NotADriver { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a mirra driver"), "{err}");
}

#[test]
fn an_incompatible_layout_says_what_differs() {
    let path = cdylib("mirra_fixture_bad_abi_driver");
    let err = Loader::default().load(&path).unwrap_err();
    let LoaderError::Load(LoadError::LayoutMismatch { differences, .. }) = &err else {
        panic!("expected a layout mismatch, got {err:?}");
    };
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(!differences.starts_with("0 error"), "{differences}");
    assert!(
        differences.len() < 4000,
        "the summary should be short, got {} bytes",
        differences.len()
    );
    assert!(differences.contains("Error"), "{differences}");
}

#[test]
fn a_failing_open_carries_the_drivers_message() {
    let loader = Loader::default();
    let search = SearchPath::from_dirs(vec![]);
    let path = cdylib("mirra_fixture_panic_driver");
    let err = loader
        .open(&search, path.to_str().unwrap(), "mode = \"fail_open\"")
        .unwrap_err();
    let LoaderError::Open { driver, source, .. } = &err else {
        panic!("expected an open failure, got {err:?}");
    };
    assert_eq!(driver, "panic");
    assert_eq!(source.kind, ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("credentials rejected"), "{err}");
}

#[test]
fn a_panicking_driver_becomes_an_error_and_the_host_keeps_running() {
    let loader = Loader::default();
    let search = SearchPath::from_dirs(vec![]);
    let panic_path = cdylib("mirra_fixture_panic_driver");
    let (_, panicky) = loader
        .open(&search, panic_path.to_str().unwrap(), "mode = \"panic\"")
        .unwrap();
    let key = Key::parse("a/b").unwrap();
    for _ in 0..3 {
        let err = panicky.stat(&key).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Panicked, "{err}");
        assert!(
            err.message.contains("fixture driver panics in stat"),
            "{err}"
        );
        let err = panicky.put(&key, b"x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Panicked, "{err}");
    }
    // A second, healthy driver library still works in the same process.
    let root = tempfile::tempdir().unwrap();
    let disk = loader.load(&cdylib("mirra_driver_disk")).unwrap();
    let config = format!("root = {:?}", root.path().display().to_string());
    let driver = disk.open(HostContext::default(), &config).unwrap();
    driver.put(&key, b"still alive").unwrap();
    assert_eq!(driver.stat(&key).unwrap().size, 11);
}

#[test]
fn a_group_writable_driver_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(
        dir.path(),
        &cdylib("mirra_driver_disk"),
        "libmirra_driver_disk.so",
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o775)).unwrap();
    let err = Loader::default().load(&path).unwrap_err();
    assert!(
        matches!(err, LoaderError::InsecurePermissions { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod go-w"), "{err}");
}

#[test]
fn bare_names_resolve_through_the_search_path() {
    let dir = tempfile::tempdir().unwrap();
    copy_to(
        dir.path(),
        &cdylib("mirra_driver_disk"),
        "libmirra_driver_disk.so",
    );
    let root = tempfile::tempdir().unwrap();
    let search = SearchPath::from_dirs(vec![dir.path().to_path_buf()]);
    let config = format!("root = {:?}", root.path().display().to_string());
    let (library, driver) = Loader::default().open(&search, "disk", &config).unwrap();
    assert_eq!(library.info().name, "disk");
    assert_eq!(
        library.path(),
        dir.path()
            .join("libmirra_driver_disk.so")
            .canonicalize()
            .unwrap()
    );
    driver.health().unwrap();
}

/// Builds the fixture `dir` (a driver built against a packaged older driver-api, in a
/// workspace of its own) and loads it into this host.
fn load_fixture(dir: &str, lib_name: &str) -> mirra_driver_api::DriverLibrary {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir);
    let path = mirra_tests::build_standalone(&dir, lib_name);
    Loader::default()
        .load(&path)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Opens an older driver, runs the kit and shows the 1.2 calls fall back to durable
/// writes and a flush with nothing to do (its library has no 1.2 entry points).
fn an_older_driver_passes_the_kit(loaded: &mirra_driver_api::DriverLibrary) {
    let caps = loaded.info().capabilities;
    let driver = loaded
        .open(HostContext::default(), "")
        .unwrap_or_else(|e| panic!("open: {e}"));
    let summary = mirra_driver_api::testkit::run_all(&driver, caps);
    // FLUSH came in 1.2.
    assert_eq!(summary.skipped, ["unsynced_batch_then_flush"]);
    assert_eq!(
        summary.passed.len(),
        mirra_driver_api::testkit::checks().len() - 1
    );
    let key = Key::parse("batch/old-driver").unwrap();
    let mut writer = driver.begin_unsynced_write(&key).unwrap();
    writer.write(b"durable anyway").unwrap();
    writer.commit().unwrap();
    driver.flush().unwrap();
    let mut back = [0u8; 64];
    let n = driver.read(&key, 0, &mut back).unwrap();
    assert_eq!(&back[..n], b"durable anyway");
}

#[test]
fn a_driver_built_against_driver_api_1_0_0_loads_and_passes_the_kit() {
    let loaded = load_fixture("v1-0-driver", "mirra_fixture_v1_0_driver");
    // 1.0 had no address-policy entry point: the host sees that and refuses to open a
    // zone file's target through it under a policy, rather than trusting it blindly.
    assert!(!loaded.has_open_url_within());
    let policy = mirra_driver_api::AddressPolicy::public_only();
    let err = loaded
        .open_url_within(HostContext::default(), "old://x", &policy)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    let disk = Loader::default()
        .load(&cdylib("mirra_driver_disk"))
        .unwrap();
    assert!(disk.has_open_url_within());
    an_older_driver_passes_the_kit(&loaded);
}

#[test]
fn a_driver_built_against_driver_api_1_1_0_loads_and_passes_the_kit() {
    let loaded = load_fixture("v1-1-driver", "mirra_fixture_v1_1_driver");
    // Its 1.1 entry point is still found.
    assert!(loaded.has_open_url_within());
    an_older_driver_passes_the_kit(&loaded);
}

#[test]
fn the_old_api_fixtures_are_the_packaged_sources_unchanged() {
    // Edits to the fixtures would let a break slip through: they must stay what
    // `cargo package` produced for each version.
    for version in ["1.0.0", "1.1.0"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(format!("driver-api-{version}"));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("version = \"{version}\"")),
            "{manifest}"
        );
        assert!(manifest.starts_with("# THIS FILE IS AUTOMATICALLY GENERATED BY CARGO"));
        let vcs = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).unwrap();
        assert!(vcs.contains("\"sha1\""), "{vcs}");
    }
}
