//! What the config file's own location and permissions mean: paths in it are relative
//! to it, it is created private, and a config holding credentials that others can read
//! is worth a warning.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{redact, Config};

/// Makes the config's driver paths absolute: `~` expanded, relative ones joined to the
/// directory holding the config file, so the working directory never decides which
/// code is loaded.
pub(super) fn anchor_paths(config: &mut Config, config_path: &Path) {
    let base = config_path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = std::path::absolute(&base).unwrap_or(base);
    let anchor = |path: PathBuf| {
        if path.is_absolute() {
            path
        } else {
            base.join(path)
        }
    };
    config.driver_dirs = std::mem::take(&mut config.driver_dirs)
        .into_iter()
        .map(anchor)
        .collect();
    for provider in &mut config.providers {
        if let super::DriverRef::Path(path) = provider.driver_ref() {
            provider.driver = anchor(path).to_string_lossy().into_owned();
        }
    }
}

/// Whether any provider table holds a value under a credential-looking key.
pub(super) fn holds_credentials(config: &Config) -> bool {
    fn table_has(table: &toml::Table) -> bool {
        table.iter().any(|(key, value)| match value {
            toml::Value::Table(inner) => table_has(inner),
            toml::Value::String(text) => redact::is_sensitive(key) && !text.is_empty(),
            _ => false,
        })
    }
    config.providers.iter().any(|p| table_has(&p.config))
}

/// The warning for a config with credentials that group or others can read, if any.
pub(super) fn exposure_warning(config: &Config, path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0 && holds_credentials(config)).then(|| {
        format!(
            "{} holds provider credentials and is readable by others (mode {:o}); run chmod 600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    })
}

/// Writes `text` to `path` as a file only its owner can read or write (mode 0600),
/// replacing any file there and tightening its mode if it was looser.
///
/// # Errors
/// Any I/O error creating, writing or chmod-ing the file.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file this call created; an older one keeps its mode.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
