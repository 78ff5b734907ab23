//! `mirra serve --s3` driven by real S3 clients nobody here wrote: aws-cli, boto3 and
//! rclone, against three providers (a disk, the test S3 server, the test WebDAV server).
//! The S3 provider goes down mid-run and every command still succeeds; after it comes
//! back, `mirra repair` and `mirra verify` are clean. Refused requests (wrong secret, a
//! key limited to another bucket, a stale If-Match) write nothing.
//!
//! The clients come from the venv `.ci/run` makes (`target/s3-venv`) or from PATH;
//! rclone from Debian's package.

#[path = "common/dav_server.rs"]
mod dav_server;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use dav_server::DavServer;
use mirra_tests::cli::{MirraEnv, ProviderSpec};
use s3_server::S3Server;

/// The access key with every right.
const KEY: &str = "AKIAMIRRAS3FRONT";
const SECRET: &str = "front-door-secret-0123456789";
/// A key that may only use the bucket `other`.
const LIMITED_KEY: &str = "AKIAMIRRALIMITED";
const LIMITED_SECRET: &str = "limited-secret-0123456789";
/// A key that may only read.
const READER_KEY: &str = "AKIAMIRRAREADER";
const READER_SECRET: &str = "reader-secret-0123456789";

/// The tests here run one at a time: each moves up to 100 MiB through three providers.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic, non-repeating bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The `[s3]` section every test uses: three keys and the public bucket `site`.
fn s3_section() -> String {
    format!(
        "\n[s3]\npublic_buckets = [\"site\"]\ndomain = \"s3.localhost\"\n\n\
         [[s3.credentials]]\naccess_key = \"{KEY}\"\nsecret_key = \"{SECRET}\"\n\n\
         [[s3.credentials]]\naccess_key = \"{LIMITED_KEY}\"\nsecret_key = \"{LIMITED_SECRET}\"\nbuckets = [\"other\"]\n\n\
         [[s3.credentials]]\naccess_key = \"{READER_KEY}\"\nsecret_key = \"{READER_SECRET}\"\nread_only = true\n"
    )
}

fn write_config(env: &MirraEnv, providers: &[ProviderSpec]) {
    env.write_config("timeout = \"10s\"\nhedge_after = \"200ms\"\n", providers);
    let mut text = std::fs::read_to_string(env.config_path()).unwrap();
    text.push_str(&s3_section());
    std::fs::write(env.config_path(), text).unwrap();
}

/// Where a client tool is: the venv `.ci/run` makes, else PATH; a clear failure if
/// neither has it.
fn tool(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/s3-venv/bin");
    let in_venv = venv.join(name);
    if in_venv.is_file() {
        return in_venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run .ci/run, which creates target/s3-venv with \
             aws-cli and boto3 and installs rclone from Debian's package"
        )
    })
}

/// A python that has boto3, or a clear failure naming `.ci/run`.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/s3-venv/bin/python");
    let python = if venv.is_file() {
        venv
    } else {
        tool("python3")
    };
    let probe = Command::new(&python)
        .args(["-c", "import boto3"])
        .output()
        .expect("run python");
    assert!(
        probe.status.success(),
        "{} has no boto3: run .ci/run, which creates target/s3-venv with aws-cli and boto3",
        python.display()
    );
    python
}

/// A running `mirra serve --s3`, killed when dropped.
struct Served {
    child: Child,
    endpoint: String,
    stderr: Arc<Mutex<String>>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    fn start(env: &MirraEnv) -> Served {
        let mut child = env
            .command(&["serve", "--s3", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mirra serve --s3");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
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
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(endpoint) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.wait();
            panic!(
                "mirra serve --s3 printed no address: {line:?}\n{}",
                stderr.lock().unwrap()
            );
        };
        Served {
            endpoint: endpoint.to_owned(),
            child,
            stderr,
            _stdout: stdout,
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The S3 clients, pointed at one endpoint with one key pair, isolated from any AWS
/// config of the machine.
struct Clients {
    endpoint: String,
    home: PathBuf,
}

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Clients {
    fn new(served: &Served, home: &Path) -> Clients {
        let home = home.join("s3-clients");
        std::fs::create_dir_all(&home).unwrap();
        Clients {
            endpoint: served.endpoint.clone(),
            home,
        }
    }

    fn command(&self, program: &Path, access_key: &str, secret: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("AWS_ACCESS_KEY_ID", access_key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.home.join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join("aws-credentials"),
            )
            .env("RCLONE_CONFIG", self.home.join("rclone.conf"))
            .env("ENDPOINT", &self.endpoint)
            // Loopback HTTP needs no CA bundle, and rclone refuses to start with one.
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .stdin(Stdio::null());
        command
    }

    fn finish(mut command: Command) -> Outcome {
        let output = command.output().expect("run an S3 client");
        Outcome {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `aws --endpoint-url ... ARGS` with the full-rights key.
    fn aws(&self, args: &[&str]) -> Outcome {
        self.aws_as(KEY, SECRET, args)
    }

    fn aws_as(&self, key: &str, secret: &str, args: &[&str]) -> Outcome {
        let mut command = self.command(&tool("aws"), key, secret);
        command.args(["--endpoint-url", &self.endpoint]).args(args);
        Self::finish(command)
    }

    /// `rclone ARGS` with the remote `m:` set to this endpoint.
    fn rclone(&self, args: &[&str]) -> Outcome {
        let mut command = self.command(&tool("rclone"), KEY, SECRET);
        command
            .env("RCLONE_CONFIG_M_TYPE", "s3")
            .env("RCLONE_CONFIG_M_PROVIDER", "Other")
            .env("RCLONE_CONFIG_M_ACCESS_KEY_ID", KEY)
            .env("RCLONE_CONFIG_M_SECRET_ACCESS_KEY", SECRET)
            .env("RCLONE_CONFIG_M_ENDPOINT", &self.endpoint)
            .env("RCLONE_CONFIG_M_REGION", "us-east-1")
            // Fail within seconds rather than retry for minutes: every error is a finding.
            .args([
                "--retries",
                "1",
                "--low-level-retries",
                "2",
                "--contimeout",
                "5s",
            ])
            .args(["--timeout", "60s"])
            .args(args);
        Self::finish(command)
    }

    /// A boto3 script, with `s3` a client for `key`/`secret` (SigV4) and `ENDPOINT` set.
    fn boto3(&self, key: &str, secret: &str, script: &str) -> Outcome {
        let prelude = "import os, sys, json, urllib.request, urllib.error\n\
                       import boto3, botocore\n\
                       from botocore.config import Config\n\
                       s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], \
                       config=Config(signature_version='s3v4', retries={'max_attempts': 1}))\n\
                       def code(f):\n    \
                           try:\n        f()\n        return 'ok'\n    \
                           except botocore.exceptions.ClientError as e:\n        \
                               return e.response['Error']['Code']\n";
        let mut command = self.command(&python(), key, secret);
        command.args(["-c", &format!("{prelude}{script}")]);
        Self::finish(command)
    }
}

#[track_caller]
fn ok(outcome: Outcome, what: &str, served: &Served) -> String {
    assert!(
        outcome.ok,
        "{what} failed\nstdout: {}\nstderr: {}\nserver log: {}",
        outcome.stdout,
        outcome.stderr,
        served.log()
    );
    outcome.stdout
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

fn providers(env: &MirraEnv, s3: &S3Server, dav: &DavServer) -> Vec<ProviderSpec> {
    vec![
        ProviderSpec {
            name: "aws".into(),
            priority: 1,
            driver: "s3".into(),
            config: s3.config("prefix = \"alice/\"\nconnect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec {
            name: "dav".into(),
            priority: 5,
            driver: "http".into(),
            config: dav.config("connect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec::disk(env, "disk-a").with_priority(10),
    ]
}

#[test]
fn aws_cli_boto3_and_rclone_work_through_three_providers_and_an_outage() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    let mut s3 = S3Server::start();
    let dav = DavServer::start();
    write_config(&env, &providers(&env, &s3, &dav));
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let work = env.home().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let path = |name: &str| work.join(name).display().to_string();

    ok(
        clients.aws(&["s3", "mb", "s3://data"]),
        "aws s3 mb",
        &served,
    );
    let listed = ok(clients.aws(&["s3", "ls"]), "aws s3 ls", &served);
    assert!(listed.contains("data"), "{listed}");

    // cp up and down: empty, 1 KiB, and 100 MiB (aws-cli goes multipart above 8 MiB).
    for (name, len) in [("empty", 0usize), ("kib", 1024), ("big", 100 << 20)] {
        std::fs::write(path(name), bytes(len, len as u64)).unwrap();
        let target = format!("s3://data/files/{name}");
        ok(
            clients.aws(&["s3", "cp", &path(name), &target]),
            "aws s3 cp up",
            &served,
        );
        let back = path(&format!("{name}.back"));
        ok(
            clients.aws(&["s3", "cp", &target, &back]),
            "aws s3 cp down",
            &served,
        );
        assert!(
            same_file(&work.join(name), Path::new(&back)),
            "{name} came back different"
        );
        // The bytes went to the store: mirra itself reads them, verified.
        let got = env.run(&["get", &format!("data/files/{name}")]).ok();
        assert_eq!(got.stdout.len(), len);
    }
    let head = ok(
        clients.aws(&[
            "s3api",
            "head-object",
            "--bucket",
            "data",
            "--key",
            "files/big",
        ]),
        "head-object",
        &served,
    );
    assert!(
        head.contains("-13\\\""),
        "a 100 MiB upload in 8 MiB parts has a -13 ETag: {head}"
    );
    let head = ok(
        clients.aws(&[
            "s3api",
            "head-object",
            "--bucket",
            "data",
            "--key",
            "files/kib",
        ]),
        "head-object",
        &served,
    );
    let md5 = ok(
        Clients::finish({
            let mut c = Command::new(python());
            c.args([
                "-c",
                "import hashlib,sys; print(hashlib.md5(open(sys.argv[1],'rb').read()).hexdigest())",
                &path("kib"),
            ]);
            c
        }),
        "md5",
        &served,
    );
    assert!(
        head.contains(md5.trim()),
        "single-part ETag is the MD5: {head} vs {md5}"
    );
    let listing = ok(
        clients.aws(&["s3", "ls", "s3://data/files/"]),
        "aws s3 ls",
        &served,
    );
    for name in ["empty", "kib", "big"] {
        assert!(listing.contains(name), "{listing}");
    }

    // sync of a tree, up and back down.
    let tree = work.join("tree");
    for (i, rel) in ["a.txt", "sub/b.bin", "sub/deeper/c.bin", "d.txt"]
        .iter()
        .enumerate()
    {
        let file = tree.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, bytes(500 + i * 3000, i as u64 + 7)).unwrap();
    }
    let tree_s = tree.display().to_string();
    ok(
        clients.aws(&["s3", "sync", &tree_s, "s3://data/tree"]),
        "aws s3 sync up",
        &served,
    );
    let again = ok(
        clients.aws(&["s3", "sync", &tree_s, "s3://data/tree"]),
        "aws s3 sync again",
        &served,
    );
    assert!(
        again.trim().is_empty(),
        "a second sync uploads nothing: {again}"
    );
    let down = work.join("tree.back").display().to_string();
    ok(
        clients.aws(&["s3", "sync", "s3://data/tree", &down]),
        "aws s3 sync down",
        &served,
    );
    assert!(same_file(
        &tree.join("sub/deeper/c.bin"),
        &work.join("tree.back/sub/deeper/c.bin")
    ));
    let check = clients.rclone(&["check", &tree_s, "m:data/tree"]);
    let report = ok(check, "rclone check", &served);
    let _ = report;

    // rclone copy to its own bucket, then check (rclone compares sizes and MD5 ETags).
    ok(
        clients.rclone(&["mkdir", "m:rclone"]),
        "rclone mkdir",
        &served,
    );
    ok(
        clients.rclone(&["copy", &tree_s, "m:rclone/t"]),
        "rclone copy",
        &served,
    );
    ok(
        clients.rclone(&["check", &tree_s, "m:rclone/t"]),
        "rclone check",
        &served,
    );

    // rm.
    ok(
        clients.aws(&["s3", "rm", "s3://data/tree/d.txt"]),
        "aws s3 rm",
        &served,
    );
    let listing = ok(
        clients.aws(&["s3", "ls", "--recursive", "s3://data/tree/"]),
        "ls",
        &served,
    );
    assert!(
        !listing.contains("d.txt") && listing.contains("a.txt"),
        "{listing}"
    );

    // boto3 presigned URLs, GET and PUT, used by a client that holds no key.
    let presigned = clients.boto3(
        KEY,
        SECRET,
        "url = s3.generate_presigned_url('put_object', Params={'Bucket': 'data', 'Key': 'shared.txt'}, ExpiresIn=300)\n\
         urllib.request.urlopen(urllib.request.Request(url, data=b'shared by url', method='PUT'))\n\
         url = s3.generate_presigned_url('get_object', Params={'Bucket': 'data', 'Key': 'shared.txt'}, ExpiresIn=300)\n\
         print(urllib.request.urlopen(url).read().decode())\n\
         at = url.index('X-Amz-Signature=') + len('X-Amz-Signature=')\n\
         bad = url[:at] + ('1' if url[at] == '0' else '0') + url[at + 1:]\n\
         try:\n    urllib.request.urlopen(bad)\n    print('forged url accepted')\n\
         except urllib.error.HTTPError as e:\n    print('forged', e.code)\n",
    );
    let presigned = ok(presigned, "boto3 presigned", &served);
    assert!(presigned.contains("shared by url"), "{presigned}");
    assert!(presigned.contains("forged 403"), "{presigned}");

    // The S3 provider goes down: every command still succeeds.
    s3.stop();
    std::fs::write(path("during"), bytes(4096, 99)).unwrap();
    ok(
        clients.aws(&["s3", "cp", &path("during"), "s3://data/during"]),
        "cp up during the outage",
        &served,
    );
    ok(
        clients.aws(&["s3", "cp", "s3://data/during", &path("during.back")]),
        "cp down during the outage",
        &served,
    );
    assert!(same_file(&work.join("during"), &work.join("during.back")));
    ok(
        clients.aws(&["s3", "cp", "s3://data/files/kib", &path("kib.outage")]),
        "read during the outage",
        &served,
    );
    assert!(same_file(&work.join("kib"), &work.join("kib.outage")));
    ok(
        clients.aws(&["s3", "ls", "s3://data/files/"]),
        "ls during the outage",
        &served,
    );
    ok(
        clients.aws(&["s3", "rm", "s3://data/tree/a.txt"]),
        "rm during the outage",
        &served,
    );
    ok(
        clients.rclone(&["check", &tree_s, "m:rclone/t"]),
        "rclone check during the outage",
        &served,
    );

    // It comes back; repair brings it up to date and every copy verifies.
    s3.restart();
    drop(served);
    let copies = env.repair_then_verify_all_ok();
    assert!(copies > 10, "verify checked {copies} copies");
}

#[test]
fn refused_requests_write_nothing() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());

    let setup = clients.boto3(
        KEY,
        SECRET,
        "for b in ('data', 'other', 'site'):\n    s3.create_bucket(Bucket=b)\n\
         s3.put_object(Bucket='data', Key='k', Body=b'original', ContentType='text/plain', Metadata={'Colour': 'brown'})\n\
         s3.put_object(Bucket='site', Key='index.html', Body=b'<p>public</p>')\n\
         h = s3.head_object(Bucket='data', Key='k')\n\
         print(json.dumps({'etag': h['ETag'], 'meta': h['Metadata'], 'type': h['ContentType']}))\n\
         print(code(lambda: s3.create_bucket(Bucket='data')))\n",
    );
    let setup = ok(setup, "setup", &served);
    let first: serde_json::Value = serde_json::from_str(setup.lines().next().unwrap()).unwrap();
    assert_eq!(first["meta"]["colour"], "brown", "{setup}");
    assert_eq!(first["type"], "text/plain");
    assert!(setup.contains("BucketAlreadyOwnedByYou"), "{setup}");

    let attempt =
        "print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'overwritten')))\n\
                   print(code(lambda: s3.put_object(Bucket='data', Key='new', Body=b'new')))\n";
    let wrong = ok(
        clients.boto3(KEY, "not-the-secret-at-all", attempt),
        "wrong secret",
        &served,
    );
    assert_eq!(
        wrong.lines().collect::<Vec<_>>(),
        ["SignatureDoesNotMatch"; 2],
        "{wrong}"
    );
    let limited = ok(
        clients.boto3(LIMITED_KEY, LIMITED_SECRET, attempt),
        "limited key",
        &served,
    );
    assert_eq!(
        limited.lines().collect::<Vec<_>>(),
        ["AccessDenied"; 2],
        "{limited}"
    );
    let reader = ok(
        clients.boto3(READER_KEY, READER_SECRET, attempt),
        "read-only key",
        &served,
    );
    assert_eq!(
        reader.lines().collect::<Vec<_>>(),
        ["AccessDenied"; 2],
        "{reader}"
    );
    let unknown = ok(
        clients.boto3("AKIANOBODY", "whatever-secret", attempt),
        "unknown key",
        &served,
    );
    assert_eq!(
        unknown.lines().collect::<Vec<_>>(),
        ["InvalidAccessKeyId"; 2],
        "{unknown}"
    );

    // A stale If-Match (and If-None-Match: * on an existing key) are refused; a current
    // If-Match goes through.
    let conditional = clients.boto3(
        KEY,
        SECRET,
        "etag = s3.head_object(Bucket='data', Key='k')['ETag']\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'stale', IfMatch='\"0123456789abcdef0123456789abcdef\"')))\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'exists', IfNoneMatch='*')))\n\
         print(s3.get_object(Bucket='data', Key='k')['Body'].read().decode())\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='fresh', Body=b'fresh', IfNoneMatch='*')))\n",
    );
    let conditional = ok(conditional, "conditional writes", &served);
    assert_eq!(
        conditional.lines().collect::<Vec<_>>(),
        ["PreconditionFailed", "PreconditionFailed", "original", "ok"],
        "{conditional}"
    );

    // Nothing refused reached the store.
    assert_eq!(env.run(&["get", "data/k"]).ok().stdout, b"original");
    assert_ne!(
        env.run(&["get", "data/new"]).code,
        0,
        "a refused write created data/new"
    );
    let listed = env.run(&["ls", "other/"]).ok().stdout_text();
    assert!(!listed.contains("other/new"), "{listed}");

    // Anonymous: reads of the public bucket only.
    let anonymous = clients.boto3(
        KEY,
        SECRET,
        "from botocore import UNSIGNED\n\
         anon = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], config=Config(signature_version=UNSIGNED))\n\
         print(anon.get_object(Bucket='site', Key='index.html')['Body'].read().decode())\n\
         print(code(lambda: anon.get_object(Bucket='data', Key='k')))\n\
         print(code(lambda: anon.put_object(Bucket='site', Key='x', Body=b'x')))\n\
         port = os.environ['ENDPOINT'].rsplit(':', 1)[1]\n\
         virtual = urllib.request.Request(os.environ['ENDPOINT'] + '/index.html', headers={'Host': 'site.s3.localhost:' + port})\n\
         print(urllib.request.urlopen(virtual).read().decode())\n",
    );
    let anonymous = ok(anonymous, "anonymous", &served);
    assert_eq!(
        anonymous.lines().collect::<Vec<_>>(),
        [
            "<p>public</p>",
            "AccessDenied",
            "AccessDenied",
            "<p>public</p>"
        ],
        "{anonymous}"
    );
    assert_ne!(env.run(&["get", "site/x"]).code, 0);

    // A body whose Content-MD5 is wrong is refused and not stored.
    let digest = clients.boto3(
        KEY,
        SECRET,
        "print(code(lambda: s3.put_object(Bucket='data', Key='md5', Body=b'abc', ContentMD5='AAAAAAAAAAAAAAAAAAAAAA==')))\n\
         print(code(lambda: s3.head_object(Bucket='data', Key='md5')))\n",
    );
    let digest = ok(digest, "content-md5", &served);
    assert_eq!(
        digest.lines().collect::<Vec<_>>(),
        ["BadDigest", "404"],
        "{digest}"
    );

    // Several writers at once, on distinct keys: every object lands intact.
    let concurrent = clients.boto3(
        KEY,
        SECRET,
        "from concurrent.futures import ThreadPoolExecutor\n\
         bodies = {f'c/{i}': os.urandom(2000 + i) for i in range(16)}\n\
         with ThreadPoolExecutor(8) as pool:\n    \
             list(pool.map(lambda kv: s3.put_object(Bucket='data', Key=kv[0], Body=kv[1]), bodies.items()))\n\
         print(all(s3.get_object(Bucket='data', Key=k)['Body'].read() == v for k, v in bodies.items()))\n",
    );
    let concurrent = ok(concurrent, "concurrent writers", &served);
    assert_eq!(concurrent.trim(), "True", "{concurrent}");

    // A bucket with objects cannot be deleted; an empty one can, and is gone for all.
    let buckets = clients.boto3(
        KEY,
        SECRET,
        "print(code(lambda: s3.delete_bucket(Bucket='data')))\n\
         print(code(lambda: s3.delete_bucket(Bucket='other')))\n\
         print(sorted(b['Name'] for b in s3.list_buckets()['Buckets']))\n\
         print(code(lambda: s3.put_object(Bucket='other', Key='k', Body=b'x')))\n\
         print(code(lambda: s3.get_bucket_policy(Bucket='data')))\n",
    );
    let buckets = ok(buckets, "buckets", &served);
    assert_eq!(
        buckets.lines().collect::<Vec<_>>(),
        [
            "BucketNotEmpty",
            "ok",
            "['data', 'site']",
            "NoSuchBucket",
            "NotImplemented"
        ],
        "{buckets}"
    );
}

/// Racing `If-None-Match: *` writers of one key: S3 promises exactly one winner, and the
/// key then holds the winner's bytes. The gateway maps the header to the store's
/// `IfAbsent` condition; the store's per-key ordering (the concurrent-writers work) is
/// what makes the promise hold.
#[test]
fn racing_create_only_puts_leave_exactly_one_winner() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let race = clients.boto3(
        KEY,
        SECRET,
        "from concurrent.futures import ThreadPoolExecutor\n\
         s3.create_bucket(Bucket='data')\n\
         for round in range(3):\n    \
             racers = [os.urandom(3000) for _ in range(6)]\n    \
             put = lambda b: code(lambda: s3.put_object(Bucket='data', Key=f'race{round}', Body=b, IfNoneMatch='*'))\n    \
             with ThreadPoolExecutor(6) as pool:\n        \
                 results = list(pool.map(put, racers))\n    \
             got = s3.get_object(Bucket='data', Key=f'race{round}')['Body'].read()\n    \
             winners = [b for b, r in zip(racers, results) if r == 'ok']\n    \
             print(sorted(results), len(winners) == 1 and got == winners[0])\n",
    );
    let race = ok(race, "racing writers", &served);
    for line in race.lines() {
        assert!(
            line.ends_with("True"),
            "one round had other than exactly one winner holding the key: {race}"
        );
    }
    assert_eq!(race.lines().count(), 3, "{race}");
}

/// The parts of the API the tool runs above touch lightly: listing pages with a
/// delimiter (V2 continuation tokens and V1 markers), ranged and conditional reads,
/// CopyObject with its metadata, and a multipart upload listed, then aborted.
#[test]
fn listings_ranges_copies_and_multipart_bookkeeping() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let script = "s3.create_bucket(Bucket='data')\n\
         for k in ['p/a', 'p/b', 'p/c/x', 'p/c/y', 'p/d', 'q']:\n    \
             s3.put_object(Bucket='data', Key=k, Body=k.encode())\n\
         keys, prefixes = [], []\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='data', Prefix='p/', Delimiter='/', PaginationConfig={'PageSize': 2}):\n    \
             keys += [o['Key'] for o in page.get('Contents', [])]\n    \
             prefixes += [p['Prefix'] for p in page.get('CommonPrefixes', [])]\n\
         print(keys, prefixes)\n\
         v1 = [o['Key'] for page in s3.get_paginator('list_objects').paginate(Bucket='data', PaginationConfig={'PageSize': 2}) for o in page.get('Contents', [])]\n\
         print(v1)\n\
         s3.put_object(Bucket='data', Key='r', Body=bytes(range(256)) * 40, ContentType='application/x-test', Metadata={'k': 'v'})\n\
         part = s3.get_object(Bucket='data', Key='r', Range='bytes=1000-1009')\n\
         print(part['ContentRange'], part['Body'].read() == (bytes(range(256)) * 40)[1000:1010])\n\
         etag = s3.head_object(Bucket='data', Key='r')['ETag']\n\
         print(code(lambda: s3.get_object(Bucket='data', Key='r', IfNoneMatch=etag)), code(lambda: s3.get_object(Bucket='data', Key='r', IfMatch='\"nope\"')))\n\
         s3.copy_object(Bucket='data', Key='r2', CopySource={'Bucket': 'data', 'Key': 'r'})\n\
         h = s3.head_object(Bucket='data', Key='r2')\n\
         print(h['ContentType'], h['Metadata'], h['ETag'] == etag)\n\
         up = s3.create_multipart_upload(Bucket='data', Key='m', ContentType='text/x-parts')['UploadId']\n\
         e1 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=1, Body=b'a' * 100)['ETag']\n\
         e2 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=2, Body=b'b' * 50)['ETag']\n\
         print([u['Key'] for u in s3.list_multipart_uploads(Bucket='data')['Uploads']], [p['Size'] for p in s3.list_parts(Bucket='data', Key='m', UploadId=up)['Parts']])\n\
         print(code(lambda: s3.complete_multipart_upload(Bucket='data', Key='m', UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': e2}, {'PartNumber': 1, 'ETag': e1}]})))\n\
         s3.abort_multipart_upload(Bucket='data', Key='m', UploadId=up)\n\
         print(s3.list_multipart_uploads(Bucket='data').get('Uploads', []), code(lambda: s3.list_parts(Bucket='data', Key='m', UploadId=up)), code(lambda: s3.head_object(Bucket='data', Key='m')))\n\
         up = s3.create_multipart_upload(Bucket='data', Key='m', ContentType='text/x-parts')['UploadId']\n\
         e1 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=1, Body=b'a' * 100)['ETag']\n\
         e2 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=2, Body=b'b' * 50)['ETag']\n\
         done = s3.complete_multipart_upload(Bucket='data', Key='m', UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e1}, {'PartNumber': 2, 'ETag': e2}]})\n\
         got = s3.get_object(Bucket='data', Key='m')\n\
         print(done['ETag'].endswith('-2\"'), got['ETag'] == done['ETag'], got['ContentType'], got['Body'].read() == b'a' * 100 + b'b' * 50)\n";
    let out = ok(clients.boto3(KEY, SECRET, script), "api details", &served);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "['p/a', 'p/b', 'p/d'] ['p/c/']",
            "['p/a', 'p/b', 'p/c/x', 'p/c/y', 'p/d', 'q']",
            "bytes 1000-1009/10240 True",
            "304 PreconditionFailed",
            "application/x-test {'k': 'v'} True",
            "['m'] [100, 50]",
            "InvalidPartOrder",
            "[] NoSuchUpload 404",
            "True True text/x-parts True",
        ],
        "{out}"
    );
    // The parts and the upload record are gone from the store once the upload ended.
    let internal = env.run(&["ls", ".mirra/s3/uploads/"]).ok().stdout_text();
    assert!(!internal.contains("part-"), "{internal}");
}
