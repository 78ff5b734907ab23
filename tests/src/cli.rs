//! Running the `mirra` binary in a throwaway home: its own config, key, state and
//! three disk providers, found through `MIRRA_DRIVER_PATH`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary HOME with XDG dirs inside, and the `mirra` binary pointed at it.
pub struct MirraEnv {
    dir: tempfile::TempDir,
}

/// What a `mirra` run printed and how it exited.
pub struct Run {
    /// Exit status code (`-1` if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// Standard output, lossily decoded.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with both streams unless the run exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            0,
            "mirra failed.\nstdout: {}\nstderr: {}",
            self.stdout_text(),
            self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl MirraEnv {
    /// An empty home; call [`MirraEnv::init`] for the default config.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A home with `mirra init` already run.
    pub fn initialized() -> Self {
        let env = Self::new();
        env.run(&["init"]).ok();
        env
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The config file `mirra init` writes.
    pub fn config_path(&self) -> PathBuf {
        self.home().join("config/mirra/config.toml")
    }

    /// The root directory of one of the default disk providers (`disk-a`, ...).
    pub fn provider_root(&self, name: &str) -> PathBuf {
        self.home().join("data/mirra/providers").join(name)
    }

    /// A `mirra` command with this home's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::mirra_bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("XDG_DATA_HOME", self.home().join("data"))
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("MIRRA_DRIVER_PATH", crate::driver_dir())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `mirra ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args)
            .output()
            .expect("cannot run mirra")
            .into()
    }

    /// Runs `mirra ARGS` with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run mirra");
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("mirra did not finish");
        feeder.join().expect("stdin feeder");
        output.into()
    }

    /// Writes `data` to a file in the home and returns its path.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.home().join(name);
        std::fs::write(&path, data).expect("write input file");
        path
    }
}

impl Default for MirraEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// One `[[provider]]` entry for [`MirraEnv::write_config`].
pub struct ProviderSpec {
    /// The provider's name.
    pub name: String,
    /// Lower is read first.
    pub priority: u16,
    /// The driver: `disk`, or a path to a fixture `.so`.
    pub driver: String,
    /// The `[provider.config]` body, TOML.
    pub config: String,
    /// An optional `[provider.chaos]` body, TOML.
    pub chaos: Option<String>,
}

impl ProviderSpec {
    /// A disk provider rooted where `mirra init` put `name`.
    pub fn disk(env: &MirraEnv, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            priority: 10,
            driver: "disk".into(),
            config: format!(
                "root = {:?}\n",
                env.provider_root(name).display().to_string()
            ),
            chaos: None,
        }
    }

    /// The same provider with a `[provider.chaos]` table.
    pub fn with_chaos(mut self, chaos: &str) -> Self {
        self.chaos = Some(chaos.to_owned());
        self
    }

    /// The same provider at another priority.
    pub fn with_priority(mut self, priority: u16) -> Self {
        self.priority = priority;
        self
    }
}

impl MirraEnv {
    /// Replaces the config with `policy` (the `[policy]` body) and `providers`, keeping
    /// the key `mirra init` made.
    pub fn write_config(&self, policy: &str, providers: &[ProviderSpec]) {
        let key_file = self.home().join("data/mirra/key");
        let mut text = format!(
            "[identity]\nkey_file = {:?}\n\n[policy]\n{policy}\n",
            key_file.display().to_string()
        );
        for p in providers {
            text.push_str(&format!(
                "\n[[provider]]\nname = {:?}\ndriver = {:?}\npriority = {}\n[provider.config]\n{}",
                p.name, p.driver, p.priority, p.config
            ));
            if let Some(chaos) = &p.chaos {
                text.push_str(&format!("[provider.chaos]\n{chaos}\n"));
            }
        }
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Another machine of the same owner: a home of its own (state included) with a copy
    /// of this config, so the same key and providers.
    pub fn another_machine(&self) -> MirraEnv {
        let other = MirraEnv::new();
        std::fs::create_dir_all(other.config_path().parent().unwrap()).expect("config dir");
        std::fs::copy(self.config_path(), other.config_path()).expect("copy the config");
        other
    }

    /// Leaves `key` as a write interrupted on disk provider `provider` leaves it: its
    /// bytes are `new`'s, its manifest still `old`'s, while every other provider holds
    /// `new` complete. This machine's state has seen only `old` (it wrote and read it);
    /// `new` was written from [`MirraEnv::another_machine`].
    pub fn interrupted_write_on(&self, provider: &str, key: &str, old: &[u8], new: &[u8]) {
        self.run(&["put", "-q", self.file("old", old).to_str().unwrap(), key])
            .ok();
        assert_eq!(self.run(&["get", key]).ok().stdout, old);
        let manifest_file = self
            .provider_root(provider)
            .join(format!(".mirra/manifests/{key}.json"));
        let old_manifest = std::fs::read(&manifest_file).expect("the old manifest");
        self.another_machine()
            .run(&["put", "-q", self.file("new", new).to_str().unwrap(), key])
            .ok();
        std::fs::write(&manifest_file, old_manifest).expect("put the old manifest back");
    }

    /// The three default disk providers.
    pub fn default_disks(&self) -> Vec<ProviderSpec> {
        ["disk-a", "disk-b", "disk-c"]
            .iter()
            .map(|n| ProviderSpec::disk(self, n))
            .collect()
    }
}

impl MirraEnv {
    /// Runs `mirra repair`, then `mirra verify`, and panics unless every copy of every
    /// key is ok (or a tombstone where the key was deleted). Returns the copies checked.
    #[track_caller]
    pub fn repair_then_verify_all_ok(&self) -> usize {
        let repair = self.run(&["repair"]);
        assert_eq!(
            repair.code,
            0,
            "repair failed:\n{}\n{}",
            repair.stdout_text(),
            repair.stderr
        );
        let verify = self.run(&["verify", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&verify.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", verify.stderr));
        let rows = rows.as_array().expect("verify --json prints a list");
        let bad: Vec<_> = rows
            .iter()
            .filter(|r| r["state"] != "ok" && r["state"] != "deleted")
            .collect();
        assert!(
            bad.is_empty(),
            "after repair, deficient copies remain: {bad:?}"
        );
        assert_eq!(verify.code, 0);
        rows.len()
    }
}
