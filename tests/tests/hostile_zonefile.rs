//! A hostile zone file cannot make mirra reach inward (issue 14, item 1).
//!
//! The zone file is served over HTTP from 127.0.0.2. Its targets name the reader's own
//! files (`file:///` and the owner's disk provider, which holds validly signed copies,
//! so a read there would succeed) and a second service on 127.0.0.1, by address and by
//! the name `localhost`. Loopback is one address class, so the origin rule that makes
//! this visible is the one mirra applies: a zone file may reach classes farther than
//! the address it came from, plus that very address, and nothing else. The zone file's
//! own server (127.0.0.2) also serves the data, so reads still succeed through it.
//!
//! What is asserted: the service's request log stays empty, inotify sees no open or
//! read under the owner's disk provider, and every refused record shows as `skipped`
//! with the reason, through `mirra lookup` and `mirra serve --zonefile`. A control run
//! with `--allow-local-targets` shows both probes do see access when it happens.

use std::io::{BufRead, BufReader, Read, Write};
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirra_tests::cli::MirraEnv;
use rustix::fs::inotify;
use serde_json::Value;

const KEY: &str = "profile/alice.json";
const DATA: &[u8] = b"{\"name\":\"alice\",\"signed\":true}";

/// Every request line a plain HTTP listener received; it answers 404 to all.
struct LoggingService {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl LoggingService {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                sink.lock().unwrap().push(line.trim_end().to_owned());
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { port, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Opens and reads of files in a directory tree, as seen by inotify.
struct FileAccess {
    fd: OwnedFd,
}

impl FileAccess {
    fn watch(root: &Path) -> Self {
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK).expect("inotify_init");
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            inotify::add_watch(
                &fd,
                &dir,
                inotify::WatchFlags::OPEN | inotify::WatchFlags::ACCESS,
            )
            .expect("inotify_add_watch");
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    dirs.push(entry.path());
                }
            }
        }
        let access = Self { fd };
        // Watching lists the directories, which inotify reports; start from zero.
        access.events();
        access
    }

    /// How many events arrived since the last call.
    fn events(&self) -> usize {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut count = 0;
        while reader.next().is_ok() {
            count += 1;
        }
        count
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// An owner with [`DATA`] under [`KEY`]; its public key.
fn owner() -> (MirraEnv, String) {
    let owner = MirraEnv::initialized();
    let input = owner.file("alice.json", DATA);
    owner.run(&["put", input.to_str().unwrap(), KEY]).ok();
    let zone = owner.run(&["zonefile"]).ok().stdout_text();
    let key = zone
        .lines()
        .find_map(|l| l.split("pubkey:data:").nth(1))
        .unwrap_or_else(|| panic!("no key in {zone}"))
        .trim_end_matches('"')
        .to_owned();
    (owner, key)
}

/// The hostile zone file, with its data mirror at `mirror`.
fn hostile_zone(pubkey: &str, disk: &Path, victim: u16, mirror: &str) -> String {
    format!(
        "$ORIGIN evil.example.\n$TTL 60\npubkey TXT \"pubkey:data:{pubkey}\"\n\
         _web._tcp URI 1 1 \"http://127.0.0.1:{victim}/\"\n\
         _name._tcp URI 2 1 \"http://localhost:{victim}/\"\n\
         _file URI 3 1 \"file:///\"\n\
         _file URI 4 1 \"file://{}/\"\n\
         _mirror._tcp URI 9 1 \"{mirror}\"\n",
        disk.display()
    )
}

/// `(name, status, reason)` of each record in a lookup report, in the order tried.
fn sources(report: &Value) -> Vec<(String, String, String)> {
    report["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources in {report:#}"))
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Everything the test needs running.
struct Scene {
    _owner: MirraEnv,
    reader: MirraEnv,
    victim: LoggingService,
    access: FileAccess,
    zone_url: String,
    _mirror: tokio::runtime::Runtime,
    _served: tempfile::TempDir,
}

fn scene() -> Scene {
    let (owner, pubkey) = owner();
    let disk = owner.provider_root("disk-a");
    let served = tempfile::tempdir().unwrap();
    copy_tree(&disk, served.path());
    let listener = TcpListener::bind("127.0.0.2:0")
        .expect("bind 127.0.0.2:0 (Linux routes all of 127/8 to lo)");
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let victim = LoggingService::start();
    let zone = hostile_zone(&pubkey, &disk, victim.port, &base);
    std::fs::write(served.path().join("hostile.zone"), zone).unwrap();
    let mirror = mirra_test_servers::serve_webdav(served.path(), listener, None);
    let access = FileAccess::watch(&disk);
    Scene {
        _owner: owner,
        reader: MirraEnv::new(),
        victim,
        access,
        zone_url: format!("{base}hostile.zone"),
        _mirror: mirror,
        _served: served,
    }
}

#[test]
fn lookup_never_opens_local_files_or_loopback_services_named_by_a_remote_zone_file() {
    let scene = scene();
    let out = scene.reader.home().join("out.json");
    let run = scene
        .reader
        .run(&[
            "lookup",
            &scene.zone_url,
            KEY,
            "-o",
            out.to_str().unwrap(),
            "--json",
        ])
        .ok();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        DATA,
        "read through the mirror"
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["origin"], "127.0.0.2 (loopback)", "{report:#}");
    let tried = sources(&report);
    let status = |name: &str| {
        tried
            .iter()
            .find(|(n, ..)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))
            .clone()
    };
    for name in ["_web._tcp", "_name._tcp", "_file", "_file#2"] {
        let (_, state, reason) = status(name);
        assert_eq!(state, "skipped", "{name}: {report:#}");
        assert!(
            reason.contains("refused by the address policy"),
            "{name}: {reason}"
        );
    }
    assert!(status("_web._tcp")
        .2
        .contains("127.0.0.1 is a loopback address"));
    assert!(status("_name._tcp").2.contains("localhost"));
    assert!(status("_file#2").2.contains("local files"));
    assert_eq!(status("_mirror._tcp").1, "used", "{report:#}");
    assert_eq!(scene.victim.requests(), Vec::<String>::new());
    assert_eq!(scene.access.events(), 0, "a local file was opened or read");

    // Without JSON, the refusals are warnings naming each record.
    let run = scene.reader.run(&["lookup", &scene.zone_url, KEY]).ok();
    assert_eq!(run.stdout, DATA);
    assert!(run.stderr.contains("_web._tcp"), "{}", run.stderr);
    assert!(
        run.stderr.contains("refused by the address policy"),
        "{}",
        run.stderr
    );

    // The control: with the flag, the same zone file reaches both, so the probes work.
    let run = scene
        .reader
        .run(&["lookup", &scene.zone_url, KEY, "--allow-local-targets"])
        .ok();
    assert_eq!(run.stdout, DATA);
    assert!(
        !scene.victim.requests().is_empty(),
        "the flag let the service be asked"
    );
    assert!(
        scene.access.events() > 0,
        "the flag let the local copy be read"
    );
}

#[test]
fn serve_zonefile_applies_the_same_policy_to_every_client() {
    let scene = scene();
    let mut child = scene
        .reader
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--zonefile",
            &scene.zone_url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start mirra serve");
    let stderr = drain(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let guard = Killed(child);
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}: {}", stderr.lock().unwrap()))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = get(&addr, &format!("/{KEY}"));
        if status != 0 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200, "{body}\n{}", stderr.lock().unwrap());
    assert!(body.ends_with(std::str::from_utf8(DATA).unwrap()), "{body}");
    // A range, as an oracle would ask for.
    assert_eq!(get_range(&addr, &format!("/{KEY}"), "bytes=0-0").0, 206);
    drop(guard);
    let log = stderr.lock().unwrap().clone();
    assert!(log.contains("refused by the address policy"), "{log}");
    assert_eq!(scene.victim.requests(), Vec::<String>::new());
    assert_eq!(scene.access.events(), 0, "a local file was opened or read");
}

/// Kills the child (by its id) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

fn get(addr: &str, path: &str) -> (u16, String) {
    request(addr, path, None)
}

fn get_range(addr: &str, path: &str, range: &str) -> (u16, String) {
    request(addr, path, Some(range))
}

fn request(addr: &str, path: &str, range: Option<&str>) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// `text` without the colour sequences (`ESC [ ... m`) the log formatter adds itself.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        plain.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if after[end..].starts_with('m') => rest = &after[end + 1..],
            _ => {
                // Not a colour: keep the ESC so the assertion below sees it.
                plain.push('\u{1b}');
                rest = &rest[at + 1..];
            }
        }
    }
    plain.push_str(rest);
    plain
}

#[test]
fn control_characters_from_a_zone_file_are_escaped_on_the_terminal() {
    let (_owner, pubkey) = owner();
    let reader = MirraEnv::new();
    // RFC 1035 `\DDD` escapes (decimal): 027 ESC, 013 CR, 009 TAB, 011 VT, 007 BEL.
    let zone = format!(
        "$TTL 60\npubkey TXT \"pubkey:data:{pubkey}\"\n\
         evil\\027[2J\\013x URI 1 1 \"nope\\027[31m\\009\\011://x\"\n\
         _web._tcp URI 2 1 \"zz\\013top://\\027]0;pwned\\007\"\n"
    );
    let path = reader.file("controls.zone", zone.as_bytes());
    let run = reader.run(&["lookup", path.to_str().unwrap(), KEY]);
    assert_ne!(run.code, 0, "nothing in it can be read");
    let text = without_colours(&run.stderr);
    let raw = [
        ('\u{1b}', "ESC"),
        ('\r', "CR"),
        ('\t', "TAB"),
        ('\u{b}', "VT"),
        ('\u{7}', "BEL"),
    ];
    for (byte, name) in raw {
        assert!(
            !text.contains(byte),
            "raw {name} reached the terminal: {text:?}"
        );
    }
    assert!(text.contains("evil"), "{text}");
    assert!(
        text.contains("nope\\u{1b}[31m\\t\\u{b}://x"),
        "the escapes are shown, not obeyed: {text}"
    );
}
