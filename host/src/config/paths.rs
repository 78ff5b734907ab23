//! Where mirra keeps things by default (the XDG base directories) and `~` expansion.
//!
//! Read straight from the environment, as the XDG spec describes, so tests and users can
//! redirect everything with `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME` or `HOME`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The user's home directory: `$HOME`, or `/` when it is unset (e.g. a bare service).
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `$VAR` when it holds an absolute path, else `$HOME/<fallback>`.
///
/// The XDG spec says relative values must be ignored, so they are.
fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    resolve_xdg(std::env::var_os(var), fallback)
}

/// The rule behind [`xdg_dir`], apart from the environment so it can be tested.
fn resolve_xdg(value: Option<OsString>, fallback: &str) -> PathBuf {
    value
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| home_dir().join(fallback))
}

/// `$XDG_CONFIG_HOME/mirra/config.toml`, else `~/.config/mirra/config.toml`.
pub fn default_config_path() -> PathBuf {
    xdg_dir("XDG_CONFIG_HOME", ".config")
        .join("mirra")
        .join("config.toml")
}

/// `$XDG_DATA_HOME/mirra`, else `~/.local/share/mirra`: the key and local disk providers.
pub fn default_data_dir() -> PathBuf {
    xdg_dir("XDG_DATA_HOME", ".local/share").join("mirra")
}

/// `$XDG_STATE_HOME/mirra`, else `~/.local/state/mirra`: versions seen, repair journal.
pub fn default_state_dir() -> PathBuf {
    xdg_dir("XDG_STATE_HOME", ".local/state").join("mirra")
}

/// Replaces a leading `~` or `~/` with the home directory; other paths are unchanged.
///
/// `~user` forms are left alone: they are rare in configs and need a passwd lookup.
pub fn expand_tilde(path: &Path) -> PathBuf {
    let mut components = path.components();
    match components.next() {
        Some(std::path::Component::Normal(first)) if first == "~" => {
            home_dir().join(components.as_path())
        }
        _ => path.to_path_buf(),
    }
}

/// Same as [`expand_tilde`] for a path held as text.
pub(crate) fn expand_tilde_str(path: &str) -> PathBuf {
    expand_tilde(Path::new(&OsString::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_only_at_the_start() {
        let home = home_dir();
        assert_eq!(expand_tilde(Path::new("~")), home);
        assert_eq!(expand_tilde(Path::new("~/a/b")), home.join("a/b"));
        assert_eq!(expand_tilde(Path::new("/x/~/y")), PathBuf::from("/x/~/y"));
        assert_eq!(expand_tilde(Path::new("~bob/x")), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde_str("rel/path"), PathBuf::from("rel/path"));
    }

    #[test]
    fn xdg_values_must_be_absolute() {
        let abs = resolve_xdg(Some("/xdg/state".into()), ".local/state");
        assert_eq!(abs, PathBuf::from("/xdg/state"));
        let rel = resolve_xdg(Some("relative".into()), ".local/state");
        assert_eq!(rel, home_dir().join(".local/state"));
        assert_eq!(resolve_xdg(None, ".config"), home_dir().join(".config"));
    }

    #[test]
    fn default_paths_end_in_mirra() {
        // The environment is shared by all tests in the process, so only check the
        // shape rather than setting variables.
        assert!(default_config_path().ends_with("mirra/config.toml"));
        assert!(default_data_dir().ends_with("mirra"));
        assert!(default_state_dir().ends_with("mirra"));
        assert!(default_state_dir().is_absolute());
    }
}
