//! `mirra driver new NAME [DIR]`: writes a standalone driver crate from the skeleton
//! driver, ready to `cargo build` outside this repository.
//!
//! The sources are the skeleton's own files, embedded at build time with the names
//! replaced, so the scaffold and the skeleton cannot drift apart.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

/// Work with storage drivers.
#[derive(Debug, Subcommand)]
pub enum DriverCmd {
    /// Write a new driver crate from the skeleton.
    New(NewCmd),
}

/// Write a new driver crate: Cargo.toml, README, the skeleton's sources with NAME filled
/// in, and a test that runs the conformance kit.
#[derive(Debug, Args)]
pub struct NewCmd {
    /// The driver's name: lowercase letters, digits and `_`, starting with a letter.
    /// The library is `libmirra_driver_NAME.so`; configs load it with `driver = "NAME"`.
    name: String,
    /// Where to write the crate (must not exist or be empty); default `./mirra-driver-NAME`.
    dir: Option<PathBuf>,
    /// Depend on the mirra-driver-api crate at this path (a mirra checkout's
    /// `driver-api`) instead of the crates.io release.
    #[arg(long, value_name = "PATH")]
    api_path: Option<PathBuf>,
}

const SKELETON_LIB: &str = include_str!("../../../drivers/skeleton/src/lib.rs");
const SKELETON_CONFIG: &str = include_str!("../../../drivers/skeleton/src/config.rs");
const SKELETON_DRIVER: &str = include_str!("../../../drivers/skeleton/src/driver.rs");
const CARGO_TOML: &str = include_str!("driver_template/Cargo.toml.in");
const README: &str = include_str!("driver_template/README.md.in");
const CONFORMANCE: &str = include_str!("driver_template/conformance.rs.in");
const GITIGNORE: &str = "/target\n";

impl DriverCmd {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<u8> {
        match self {
            DriverCmd::New(cmd) => cmd.run(),
        }
    }
}

impl NewCmd {
    /// Writes the crate and prints where.
    pub fn run(self) -> anyhow::Result<u8> {
        if let Err(msg) = check_name(&self.name) {
            eprintln!("mirra: {msg}");
            return Ok(super::EXIT_USAGE);
        }
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("mirra-driver-{}", dashed(&self.name))));
        if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
            eprintln!(
                "mirra: {} exists and is not empty; choose another directory",
                dir.display()
            );
            return Ok(super::EXIT_USAGE);
        }
        let api = match &self.api_path {
            Some(path) => {
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("mirra-driver-api at {}", path.display()))?;
                if !path.join("Cargo.toml").is_file() {
                    eprintln!("mirra: {} holds no Cargo.toml", path.display());
                    return Ok(super::EXIT_USAGE);
                }
                Some(path)
            }
            None => None,
        };
        for (relative, text) in scaffold(&self.name, api.as_deref()) {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("create {}", parent.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        }
        println!(
            "wrote driver {} in {}: `cargo build` there makes libmirra_driver_{}.so",
            self.name,
            dir.display(),
            self.name
        );
        Ok(super::EXIT_OK)
    }
}

/// Every file of a new driver crate, by path relative to its directory.
pub fn scaffold(name: &str, api_path: Option<&Path>) -> Vec<(&'static str, String)> {
    let camel = camel(name);
    let dependency = |features: &str| match api_path {
        // Both: the path while developing, the version once the crate is published.
        Some(path) => format!(
            "{{ version = \"1\", path = {:?}{features} }}",
            path.display().to_string()
        ),
        None if features.is_empty() => "\"1\"".to_owned(),
        None => format!("{{ version = \"1\"{features} }}"),
    };
    let fill = |template: &str| {
        template
            .replace("{{api_testkit}}", &dependency(", features = [\"testkit\"]"))
            .replace("{{api}}", &dependency(""))
            .replace("{{dashed}}", &dashed(name))
            .replace("{{Camel}}", &camel)
            .replace("{{name}}", name)
    };
    let rename = |source: &str| source.replace("Skeleton", &camel).replace("skeleton", name);
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_owned()),
        ("src/lib.rs", rename(SKELETON_LIB)),
        ("src/config.rs", rename(SKELETON_CONFIG)),
        ("src/driver.rs", rename(SKELETON_DRIVER)),
        ("tests/conformance.rs", fill(CONFORMANCE)),
    ]
}

/// Names become file names and Rust identifiers: keep them to `[a-z][a-z0-9_]*`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "driver name {name:?}: use lowercase letters, digits and `_` (at most 40, \
             starting with a letter), e.g. `sia` or `my_store`"
        ))
    }
}

fn dashed(name: &str) -> String {
    name.replace('_', "-")
}

fn camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_converted() {
        for good in ["kv", "sia", "my_store2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Kv", "2kv", "my-store", "a b", "x_", "../x", "é"] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains("lowercase"), "{bad}: {err}");
        }
        assert_eq!(camel("my_store2"), "MyStore2");
        assert_eq!(dashed("my_store2"), "my-store2");
    }

    #[test]
    fn the_scaffold_renames_every_skeleton_name() {
        let files = scaffold("my_store", Some(Path::new("/x/driver-api")));
        for (path, text) in &files {
            if path.starts_with("src/") {
                assert!(!text.contains("keleton"), "{path} still names the skeleton");
            }
            assert!(!text.contains("{{"), "{path} has an unfilled placeholder");
        }
        let cargo = &files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap().1;
        assert!(
            cargo.contains("name = \"mirra_driver_my_store\""),
            "{cargo}"
        );
        assert!(cargo.contains("path = \"/x/driver-api\""), "{cargo}");
        let lib = &files.iter().find(|(p, _)| *p == "src/lib.rs").unwrap().1;
        assert!(lib.contains("pub struct MyStoreFactory;"), "{lib}");
        assert!(lib.contains("name: \"my_store\".into()"), "{lib}");
    }
}
