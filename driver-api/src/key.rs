//! Object keys: the one path type both sides of the ABI agree on.

use std::fmt;

/// Longest key accepted, in bytes. S3 allows 1,024; we keep the same bound.
pub const MAX_KEY_LEN: usize = 1024;

/// A validated object key: a relative UTF-8 path of `/`-separated segments.
///
/// Only [`Key::parse`] builds one, so holding a `Key` proves it is non-empty, at most
/// [`MAX_KEY_LEN`] bytes, has no leading or trailing `/`, no empty, `.` or `..`
/// segment, no backslash and no control character (NUL included). A driver can map it
/// onto a file system or URL without any further escaping check for traversal.
///
/// The host re-checks every key it receives back from a driver, and drivers re-check
/// every key the host sends: neither side trusts the other.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

/// Why a string is not a valid [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is the empty string.
    #[error("key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    #[error("key is {0} bytes long; the limit is {MAX_KEY_LEN}")]
    TooLong(usize),
    /// The key starts with `/`.
    #[error("key {0:?} is absolute; keys are relative paths")]
    Absolute(String),
    /// The key ends with `/`.
    #[error("key {0:?} ends with '/'")]
    TrailingSlash(String),
    /// Two `/` in a row.
    #[error("key {0:?} has an empty path segment")]
    EmptySegment(String),
    /// A `.` or `..` segment.
    #[error("key {0:?} has a '.' or '..' segment")]
    DotSegment(String),
    /// A backslash, which some platforms read as a separator.
    #[error("key {0:?} contains a backslash")]
    Backslash(String),
    /// NUL or another control character.
    #[error("key {0:?} contains a control character")]
    ControlChar(String),
}

impl Key {
    /// Checks `s` and returns it as a key.
    ///
    /// # Errors
    /// A [`KeyError`] saying which rule `s` breaks.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        if s.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong(s.len()));
        }
        let owned = || s.to_owned();
        if s.chars().any(char::is_control) {
            return Err(KeyError::ControlChar(owned()));
        }
        if s.contains('\\') {
            return Err(KeyError::Backslash(owned()));
        }
        if s.starts_with('/') {
            return Err(KeyError::Absolute(owned()));
        }
        if s.ends_with('/') {
            return Err(KeyError::TrailingSlash(owned()));
        }
        for segment in s.split('/') {
            match segment {
                "" => return Err(KeyError::EmptySegment(owned())),
                "." | ".." => return Err(KeyError::DotSegment(owned())),
                _ => {}
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments, none of them empty, `.` or `..`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Key {
    type Error = KeyError;
    fn try_from(s: &str) -> Result<Self, KeyError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for ok in [
            "a",
            "a/b/c.txt",
            "ünï cødé/with space",
            ".mirra/manifests/x.json",
            "a..b",
        ] {
            assert_eq!(Key::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_every_traversal_shape() {
        type Expect = fn(&KeyError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |e| matches!(e, KeyError::Empty)),
            ("/etc/passwd", |e| matches!(e, KeyError::Absolute(_))),
            ("a/", |e| matches!(e, KeyError::TrailingSlash(_))),
            ("a//b", |e| matches!(e, KeyError::EmptySegment(_))),
            ("..", |e| matches!(e, KeyError::DotSegment(_))),
            ("a/../../b", |e| matches!(e, KeyError::DotSegment(_))),
            ("./a", |e| matches!(e, KeyError::DotSegment(_))),
            ("a\\..\\b", |e| matches!(e, KeyError::Backslash(_))),
            ("a\0b", |e| matches!(e, KeyError::ControlChar(_))),
            ("a\nb", |e| matches!(e, KeyError::ControlChar(_))),
        ];
        for (input, expected) in cases {
            let err = Key::parse(input).unwrap_err();
            assert!(expected(&err), "{input:?} gave {err:?}");
        }
        let long = "x".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            Key::parse(&long).unwrap_err(),
            KeyError::TooLong(MAX_KEY_LEN + 1)
        );
    }
}
