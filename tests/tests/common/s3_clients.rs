//! The S3 clients the S3 front door's tests drive (aws-cli, boto3, rclone) and the
//! `mirra serve --s3` process they talk to, with the `[s3]` section of the test config.
// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use mirra_tests::cli::{MirraEnv, ProviderSpec};

/// The access key with every right.
pub const KEY: &str = "AKIAMIRRAS3FRONT";
pub const SECRET: &str = "front-door-secret-0123456789";
/// A key that may only use the bucket `other`.
pub const LIMITED_KEY: &str = "AKIAMIRRALIMITED";
pub const LIMITED_SECRET: &str = "limited-secret-0123456789";
/// A key that may only read.
pub const READER_KEY: &str = "AKIAMIRRAREADER";
pub const READER_SECRET: &str = "reader-secret-0123456789";

/// The tests here run one at a time: each moves up to 100 MiB through three providers.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic, non-repeating bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
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
pub fn s3_section() -> String {
    format!(
        "\n[s3]\npublic_buckets = [\"site\"]\ndomain = \"s3.localhost\"\n\n\
         [[s3.credentials]]\naccess_key = \"{KEY}\"\nsecret_key = \"{SECRET}\"\n\n\
         [[s3.credentials]]\naccess_key = \"{LIMITED_KEY}\"\nsecret_key = \"{LIMITED_SECRET}\"\nbuckets = [\"other\"]\n\n\
         [[s3.credentials]]\naccess_key = \"{READER_KEY}\"\nsecret_key = \"{READER_SECRET}\"\nread_only = true\n"
    )
}

pub fn write_config(env: &MirraEnv, providers: &[ProviderSpec]) {
    env.write_config("timeout = \"10s\"\nhedge_after = \"200ms\"\n", providers);
    let mut text = std::fs::read_to_string(env.config_path()).unwrap();
    text.push_str(&s3_section());
    std::fs::write(env.config_path(), text).unwrap();
}

/// Where a client tool is: the venv `.ci/run` makes, else PATH; a clear failure if
/// neither has it.
pub fn tool(name: &str) -> PathBuf {
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
pub fn python() -> PathBuf {
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
pub struct Served {
    child: Child,
    endpoint: String,
    stderr: Arc<Mutex<String>>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    pub fn start(env: &MirraEnv) -> Served {
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

    pub fn log(&self) -> String {
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
pub struct Clients {
    endpoint: String,
    home: PathBuf,
}

pub struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Clients {
    pub fn new(served: &Served, home: &Path) -> Clients {
        let home = home.join("s3-clients");
        std::fs::create_dir_all(&home).unwrap();
        Clients {
            endpoint: served.endpoint.clone(),
            home,
        }
    }

    pub fn command(&self, program: &Path, access_key: &str, secret: &str) -> Command {
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

    pub fn finish(mut command: Command) -> Outcome {
        let output = command.output().expect("run an S3 client");
        Outcome {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `aws --endpoint-url ... ARGS` with the full-rights key.
    pub fn aws(&self, args: &[&str]) -> Outcome {
        self.aws_as(KEY, SECRET, args)
    }

    pub fn aws_as(&self, key: &str, secret: &str, args: &[&str]) -> Outcome {
        let mut command = self.command(&tool("aws"), key, secret);
        command.args(["--endpoint-url", &self.endpoint]).args(args);
        Self::finish(command)
    }

    /// `rclone ARGS` with the remote `m:` set to this endpoint.
    pub fn rclone(&self, args: &[&str]) -> Outcome {
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
    pub fn boto3(&self, key: &str, secret: &str, script: &str) -> Outcome {
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
pub fn ok(outcome: Outcome, what: &str, served: &Served) -> String {
    assert!(
        outcome.ok,
        "{what} failed\nstdout: {}\nstderr: {}\nserver log: {}",
        outcome.stdout,
        outcome.stderr,
        served.log()
    );
    outcome.stdout
}

pub fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}
