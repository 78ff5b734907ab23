//! Where a mirra key lives in the account: key segments become folder and file names
//! under the configured root folder of the Cloud Drive.
//!
//! MEGA addresses nodes by handle and names are looked up one folder at a time, so a
//! name can never climb out of its parent; still, names that would mean something in
//! a path (`.`, `..`, empty, `/`, `\`, NUL) are refused here, so that nothing else has
//! to think about them.

use std::fmt;

use mirra_driver_api::{DriverError, DriverResult, Key};

/// The folder under the Cloud Drive that holds a provider's objects, as its names
/// from the top down (`"backups/mirra"` is `["backups", "mirra"]`).
#[derive(Clone, PartialEq, Eq)]
pub struct RootFolder(Vec<String>);

impl RootFolder {
    /// Parses `a/b/c` (leading and trailing `/` ignored).
    ///
    /// # Errors
    /// Why the path is refused: empty, or a segment that is empty, `.`, `..`, or holds
    /// a backslash or a control character.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_matches('/');
        if trimmed.is_empty() {
            return Err(format!(
                "{text:?} names no folder (mirra keeps its objects in a folder of their own)"
            ));
        }
        let segments: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
        for segment in &segments {
            check_name(segment).map_err(|why| format!("{text:?}: {why}"))?;
        }
        Ok(Self(segments))
    }

    /// The folder names, from the Cloud Drive down.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Where `key` is stored: the folders from the Cloud Drive down to its parent, and
    /// its own name.
    ///
    /// # Errors
    /// `InvalidInput` for a key segment that is not a plain name (never the case for a
    /// key from [`Key::parse`]; checked again so no caller can build a way out).
    pub fn locate(&self, key: &Key) -> DriverResult<Location> {
        let mut folders = self.0.clone();
        for segment in key.segments() {
            check_name(segment).map_err(|why| {
                DriverError::invalid_input(format!("key {key} cannot be stored on MEGA: {why}"))
            })?;
            folders.push(segment.to_owned());
        }
        let name = folders.pop().expect("a key has at least one segment");
        Ok(Location { folders, name })
    }
}

impl fmt::Debug for RootFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.join("/"))
    }
}

/// A key's place in the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Folder names from the Cloud Drive down, starting with the root folder's.
    pub folders: Vec<String>,
    /// The file's name inside the last folder.
    pub name: String,
}

/// The key of a file found at `names` below the root folder, if mirra can address it
/// (files put there by hand may have names no key can have).
pub fn key_of(names: &[&str]) -> Option<String> {
    let key = names.join("/");
    Key::parse(&key).ok().map(|k| k.as_str().to_owned())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty folder name".into());
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a name"));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(format!(
            "{name:?} holds a slash, backslash or control character"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> RootFolder {
        RootFolder::parse(text).unwrap()
    }

    #[test]
    fn keys_land_under_the_root_folder() {
        let root = root("/backups/mirra/");
        let at = root
            .locate(&Key::parse("alice/objects/ab/cd ef.bin").unwrap())
            .unwrap();
        assert_eq!(at.folders, ["backups", "mirra", "alice", "objects", "ab"]);
        assert_eq!(at.name, "cd ef.bin");
        let top = root.locate(&Key::parse("x").unwrap()).unwrap();
        assert_eq!(top.folders, ["backups", "mirra"]);
        assert_eq!(top.name, "x");
    }

    #[test]
    fn no_key_escapes_the_root_folder() {
        let root = root("mirra");
        // Whatever Key::parse accepts stays below the root, one name per segment.
        for text in ["a", "a/b", "..a/b..", "...", "a/.b", "ü/名前/ spaced "] {
            let key = Key::parse(text).unwrap();
            let at = root.locate(&key).unwrap();
            assert_eq!(at.folders[0], "mirra", "{text}");
            assert_eq!(at.folders.len() + 1, 1 + key.segments().count(), "{text}");
            for name in at.folders.iter().chain([&at.name]) {
                assert!(name != ".." && name != "." && !name.contains('/'), "{text}");
            }
        }
        // And what would climb out never becomes a key.
        for text in [
            "../x",
            "a/../../x",
            "./a",
            "/abs",
            "a//b",
            "a\\..\\b",
            "a/\0",
        ] {
            assert!(Key::parse(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn root_folders_that_could_mislead_are_refused() {
        for text in ["", "/", "a/../b", "..", "a/./b", "a//b", "a\\b", "a/\u{7}"] {
            assert!(RootFolder::parse(text).is_err(), "{text:?} accepted");
        }
        assert_eq!(root("a/b").segments(), ["a", "b"]);
    }

    #[test]
    fn listed_names_become_keys_only_when_valid() {
        assert_eq!(key_of(&["a", "b c"]).as_deref(), Some("a/b c"));
        assert_eq!(key_of(&["a", ".."]), None);
        assert_eq!(key_of(&["a\\b"]), None);
        assert_eq!(key_of(&["x", ""]), None);
    }
}
