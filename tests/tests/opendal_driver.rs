//! The OpenDAL driver loaded as a `.so`, passing the conformance kit against every
//! service that runs on this machine: `fs` on a temporary directory, `webdav` against
//! an in-process WebDAV server (dav-server's LocalFs over hyper), and `sftp` against a
//! real OpenSSH `sshd` this test starts on 127.0.0.1 with freshly generated keys.

#[path = "common/dav_server.rs"]
mod dav;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mirra_driver_api::{
    testkit, Capabilities, DriverLibrary, ErrorKind, HostContext, Key, LoadedDriver, StorageDriver,
};
use mirra_tests::cdylib;

fn library() -> DriverLibrary {
    DriverLibrary::load(&cdylib("mirra_driver_opendal")).expect("load the opendal driver .so")
}

fn open(library: &DriverLibrary, config: &str) -> LoadedDriver {
    library
        .open(HostContext::default(), config)
        .unwrap_or_else(|e| panic!("open the opendal driver with {config:?}: {e}"))
}

/// Runs the whole kit and checks nothing was skipped: every capability the driver
/// declares must hold on each service.
fn run_kit(driver: &LoadedDriver, service: &str) {
    let library = library();
    let caps = library.info().capabilities;
    let summary = testkit::run_all(driver, caps);
    // The driver has no public URLs, no flush and does not promise atomic replacement
    // (WebDAV's MOVE deletes first); every other capability's checks run.
    assert_eq!(
        summary.skipped,
        [
            "unsynced_batch_then_flush",
            "atomic_write_visibility",
            "public_url_shape"
        ],
        "{service}: skipped {:?}",
        summary.skipped
    );
    assert_eq!(
        summary.passed.len(),
        testkit::checks().len() - summary.skipped.len(),
        "{service}"
    );
}

#[test]
fn info_names_the_driver_and_its_capabilities() {
    let library = library();
    let info = library.info();
    assert_eq!(info.name, "opendal");
    for cap in [
        Capabilities::READ,
        Capabilities::RANGE_READ,
        Capabilities::WRITE,
        Capabilities::STREAMING_WRITE,
        Capabilities::LIST,
        Capabilities::DELETE,
    ] {
        assert!(info.capabilities.contains(cap), "{cap:?}");
    }
    // A WebDAV MOVE onto an existing object deletes it first.
    assert!(!info.capabilities.contains(Capabilities::ATOMIC_WRITE));
}

#[test]
fn fs_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let driver = open(
        &library(),
        &format!("scheme = \"fs\"\nroot = {:?}\n", root.to_str().unwrap()),
    );
    run_kit(&driver, "fs");
    // Objects are plain files under the root, readable without mirra.
    let key = Key::parse("plain/file.txt").unwrap();
    driver.put(&key, b"visible").unwrap();
    assert_eq!(
        std::fs::read(root.join("plain/file.txt")).unwrap(),
        b"visible"
    );
    // An aborted write leaves no staging file that a listing would show.
    let mut writer = driver.begin_write(&Key::parse("gone").unwrap()).unwrap();
    writer.write(b"partial").unwrap();
    writer.abort().unwrap();
    let page = driver.list("", None, 100).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["plain/file.txt"]);
}

#[test]
fn bad_configs_are_invalid_input_without_secrets() {
    let library = library();
    for (config, named) in [
        ("root = \"/tmp/x\"", "scheme"),
        ("scheme = \"s3\"\nbucket = \"b\"", "s3"),
        ("scheme = \"fs\"\nroot = [1]", "root"),
    ] {
        let err = library
            .open(HostContext::default(), config)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{config}: {err}");
        assert!(err.message.contains(named), "{config}: {}", err.message);
    }
    // A service that refuses its options: the error must not echo the password.
    let err = library
        .open(
            HostContext::default(),
            "scheme = \"webdav\"\npassword = \"TOPSECRET-pw\"\n",
        )
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert!(!err.message.contains("TOPSECRET"), "{}", err.message);
}

#[test]
fn missing_keys_and_unreachable_services_map_to_driver_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let driver = open(
        &library(),
        &format!(
            "scheme = \"fs\"\nroot = {:?}\n",
            dir.path().to_str().unwrap()
        ),
    );
    let missing = Key::parse("nope/nothing").unwrap();
    assert_eq!(driver.stat(&missing).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(
        driver.delete(&missing).unwrap_err().kind,
        ErrorKind::NotFound
    );
    // A directory is not an object.
    driver.put(&Key::parse("d/x").unwrap(), b"x").unwrap();
    assert_eq!(
        driver.stat(&Key::parse("d").unwrap()).unwrap_err().kind,
        ErrorKind::NotFound
    );

    // A WebDAV server that is not there: a closed port on loopback.
    let port = free_port();
    let down = open(
        &library(),
        &format!("scheme = \"webdav\"\nendpoint = \"http://127.0.0.1:{port}\"\n"),
    );
    let err = down.stat(&Key::parse("k").unwrap()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(err.retryable, "{err}");
}

#[test]
fn webdav_passes_the_conformance_kit() {
    let server = dav::DavServer::start();
    let endpoint = server.base_url.trim_end_matches('/');
    let driver = open(
        &library(),
        &format!(
            "scheme = \"webdav\"\nendpoint = \"{}\"\nroot = \"/mirra/\"\n\
             username = \"{}\"\npassword = \"{}\"\n",
            endpoint,
            dav::USERNAME,
            dav::PASSWORD
        ),
    );
    run_kit(&driver, "webdav");
    let key = Key::parse("on/dav.txt").unwrap();
    driver.put(&key, b"over webdav").unwrap();
    assert_eq!(
        std::fs::read(server.file("mirra/on/dav.txt")).unwrap(),
        b"over webdav"
    );

    // Wrong credentials are PermissionDenied, and the password stays out of the message.
    let refused = open(
        &library(),
        &format!(
            "scheme = \"webdav\"\nendpoint = \"{}\"\nusername = \"{}\"\n\
             password = \"WRONG-secret-42\"\n",
            endpoint,
            dav::USERNAME
        ),
    );
    let err = refused.stat(&key).unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    assert!(!err.message.contains("WRONG-secret-42"), "{}", err.message);
}

#[test]
fn sftp_passes_the_conformance_kit() {
    let server = sshd::SshServer::start();
    let driver = open(&library(), &server.config());
    run_kit(&driver, "sftp");
    let key = Key::parse("over/ssh.txt").unwrap();
    driver.put(&key, b"over sftp").unwrap();
    assert_eq!(
        std::fs::read(server.root().join("over/ssh.txt")).unwrap(),
        b"over sftp"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port on 127.0.0.1")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 20 s");
}

/// A real OpenSSH server on 127.0.0.1, run as the current user with its own host key,
/// one authorized client key, and the in-process `internal-sftp` subsystem.
mod sshd {
    use super::*;

    const SSHD: &str = "/usr/sbin/sshd";

    pub struct SshServer {
        dir: tempfile::TempDir,
        port: u16,
        user: String,
        child: Child,
    }

    fn run(cmd: &mut Command, what: &str) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn keygen(path: &Path) {
        run(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path),
            "ssh-keygen",
        );
    }

    impl SshServer {
        pub fn start() -> Self {
            assert!(
                Path::new(SSHD).exists(),
                "{SSHD} is missing: the sftp test needs OpenSSH's server \
                 (apt-get install openssh-server; .ci/run installs it)"
            );
            let dir = tempfile::tempdir().expect("temp dir");
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            keygen(&dir.path().join("host_key"));
            keygen(&dir.path().join("client_key"));
            std::fs::copy(
                dir.path().join("client_key.pub"),
                dir.path().join("authorized_keys"),
            )
            .unwrap();
            let user = run(Command::new("id").arg("-un"), "id -un");
            // sshd refuses to start without its privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n\
                     PidFile none\nAuthorizedKeysFile {keys}\nStrictModes no\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     PermitRootLogin prohibit-password\nAllowUsers {user}\n\
                     Subsystem sftp internal-sftp\n",
                    host_key = dir.path().join("host_key").display(),
                    keys = dir.path().join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
            wait_for_port(port, &mut child, "sshd");
            Self {
                dir,
                port,
                user,
                child,
            }
        }

        /// The directory the driver's `root` points at.
        pub fn root(&self) -> PathBuf {
            self.dir.path().join("root")
        }

        pub fn config(&self) -> String {
            format!(
                "scheme = \"sftp\"\nendpoint = \"ssh://127.0.0.1:{port}\"\nuser = \"{user}\"\n\
                 key = \"{key}\"\nroot = \"{root}\"\nknown_hosts_strategy = \"accept\"\n",
                port = self.port,
                user = self.user,
                key = self.dir.path().join("client_key").display(),
                root = self.root().display(),
            )
        }
    }

    impl Drop for SshServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
