//! Token scopes, as Gaia reads them: a token with no scope of a kind (writes, deletes)
//! is unrestricted for that kind; with some, a path must equal a file scope's domain or
//! start with a prefix scope's domain.
//!
//! Archival scopes ask the hub to keep every overwritten file under a history name.
//! mirra does not make such copies, so rather than silently drop the promise it refuses
//! writes and deletes covered only by archival scopes (401, documented in docs/gaia.md).

use serde::Deserialize;

/// Most scopes in one token, as in Gaia.
pub const MAX_SCOPES: usize = 8;

/// One `{scope, domain}` entry of a token's `scopes` claim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Scope {
    /// `putFile`, `putFilePrefix`, `deleteFile`, `deleteFilePrefix`, `putFileArchival`
    /// or `putFileArchivalPrefix`.
    pub scope: String,
    /// The path or path prefix it covers.
    pub domain: String,
}

/// Why a scope list or a path under it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// More than [`MAX_SCOPES`] entries.
    #[error("too many scopes ({0}; at most 8)")]
    TooMany(usize),
    /// A scope name Gaia does not define.
    #[error("unknown scope {0:?}")]
    Unknown(String),
    /// The path is outside every scope of the kind asked for.
    #[error("the token's scopes give no {kind} access to {path:?}")]
    NotCovered {
        /// `write` or `delete`.
        kind: &'static str,
        /// The path asked for.
        path: String,
    },
    /// The path is covered only by an archival scope.
    #[error("{path:?} is under an archival scope; this hub keeps no history copies, so it refuses archival writes and deletes")]
    Archival {
        /// The path asked for.
        path: String,
    },
}

/// A token's scopes, sorted by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    write_paths: Vec<String>,
    write_prefixes: Vec<String>,
    delete_paths: Vec<String>,
    delete_prefixes: Vec<String>,
    archival_paths: Vec<String>,
    archival_prefixes: Vec<String>,
}

impl Scopes {
    /// Sorts `list` by kind, refusing unknown names and overlong lists.
    pub fn parse(list: &[Scope]) -> Result<Self, ScopeError> {
        if list.len() > MAX_SCOPES {
            return Err(ScopeError::TooMany(list.len()));
        }
        let mut scopes = Scopes::default();
        for entry in list {
            let bucket = match entry.scope.as_str() {
                "putFile" => &mut scopes.write_paths,
                "putFilePrefix" => &mut scopes.write_prefixes,
                "deleteFile" => &mut scopes.delete_paths,
                "deleteFilePrefix" => &mut scopes.delete_prefixes,
                "putFileArchival" => &mut scopes.archival_paths,
                "putFileArchivalPrefix" => &mut scopes.archival_prefixes,
                other => return Err(ScopeError::Unknown(other.to_owned())),
            };
            bucket.push(entry.domain.clone());
        }
        Ok(scopes)
    }

    /// Whether `path` (relative to the bucket) may be written.
    pub fn check_write(&self, path: &str) -> Result<(), ScopeError> {
        let restricted =
            !self.write_paths.is_empty() || !self.write_prefixes.is_empty() || self.has_archival();
        if !restricted || covered(path, &self.write_paths, &self.write_prefixes) {
            return Ok(());
        }
        Err(self.refusal("write", path))
    }

    /// Whether `path` (relative to the bucket) may be deleted.
    pub fn check_delete(&self, path: &str) -> Result<(), ScopeError> {
        let restricted = !self.delete_paths.is_empty()
            || !self.delete_prefixes.is_empty()
            || self.has_archival();
        if !restricted || covered(path, &self.delete_paths, &self.delete_prefixes) {
            return Ok(());
        }
        Err(self.refusal("delete", path))
    }

    fn has_archival(&self) -> bool {
        !self.archival_paths.is_empty() || !self.archival_prefixes.is_empty()
    }

    fn refusal(&self, kind: &'static str, path: &str) -> ScopeError {
        if covered(path, &self.archival_paths, &self.archival_prefixes) {
            ScopeError::Archival {
                path: path.to_owned(),
            }
        } else {
            ScopeError::NotCovered {
                kind,
                path: path.to_owned(),
            }
        }
    }
}

fn covered(path: &str, paths: &[String], prefixes: &[String]) -> bool {
    paths.iter().any(|p| p == path) || prefixes.iter().any(|p| path.starts_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[(&str, &str)]) -> Scopes {
        let list: Vec<Scope> = list
            .iter()
            .map(|(scope, domain)| Scope {
                scope: (*scope).into(),
                domain: (*domain).into(),
            })
            .collect();
        Scopes::parse(&list).unwrap()
    }

    #[test]
    fn no_scopes_allow_everything() {
        let none = scopes(&[]);
        assert!(none.check_write("a/b").is_ok());
        assert!(none.check_delete("a/b").is_ok());
    }

    #[test]
    fn each_kind_is_restricted_by_its_own_scopes() {
        let s = scopes(&[("putFilePrefix", "docs/"), ("putFile", "x.json")]);
        assert!(s.check_write("docs/a").is_ok());
        assert!(s.check_write("x.json").is_ok());
        assert!(matches!(
            s.check_write("x.json2"),
            Err(ScopeError::NotCovered { .. })
        ));
        assert!(s.check_write("other").is_err());
        // No delete scopes: deletes are not restricted, as in Gaia.
        assert!(s.check_delete("other").is_ok());
        let d = scopes(&[("deleteFile", "old")]);
        assert!(d.check_delete("old").is_ok());
        assert!(d.check_delete("older").is_err());
        assert!(d.check_write("anything").is_ok());
    }

    #[test]
    fn archival_scopes_are_refused_not_ignored() {
        let s = scopes(&[("putFileArchivalPrefix", "log/")]);
        assert!(matches!(
            s.check_write("log/1"),
            Err(ScopeError::Archival { .. })
        ));
        assert!(matches!(
            s.check_delete("log/1"),
            Err(ScopeError::Archival { .. })
        ));
        assert!(matches!(
            s.check_write("x"),
            Err(ScopeError::NotCovered { .. })
        ));
    }

    #[test]
    fn bad_lists_are_refused() {
        let nine: Vec<Scope> = (0..9)
            .map(|i| Scope {
                scope: "putFile".into(),
                domain: i.to_string(),
            })
            .collect();
        assert_eq!(Scopes::parse(&nine), Err(ScopeError::TooMany(9)));
        let odd = [Scope {
            scope: "readFile".into(),
            domain: String::new(),
        }];
        assert!(matches!(Scopes::parse(&odd), Err(ScopeError::Unknown(_))));
    }
}
