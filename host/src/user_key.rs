//! Keys as users type them: a [`Key`] that also stays out of mirra's reserved namespace.

use mirra_driver_api::{Key, KeyError};

/// The first segment reserved for manifests and content-addressed objects.
pub const RESERVED_SEGMENT: &str = ".mirra";

/// Why a user-supplied key is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserKeyError {
    /// Not a valid relative path.
    #[error("invalid key: {0}")]
    Invalid(#[from] KeyError),
    /// Inside `.mirra/`, which holds manifests.
    #[error("invalid key {0:?}: the .mirra/ prefix is reserved for manifests")]
    Reserved(String),
}

/// Checks a key given on the command line or in a URL before any driver sees it.
///
/// # Errors
/// [`UserKeyError`] naming the rule the key breaks.
pub fn parse_user_key(s: &str) -> Result<Key, UserKeyError> {
    let key = Key::parse(s)?;
    if key.segments().next() == Some(RESERVED_SEGMENT) {
        return Err(UserKeyError::Reserved(s.to_owned()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefix_and_traversal_are_refused() {
        assert!(parse_user_key("photos/cat.jpg").is_ok());
        assert!(parse_user_key(".mirrage/x").is_ok());
        for bad in [
            ".mirra",
            ".mirra/manifests/x.json",
            "../x",
            "/abs",
            "a//b",
            "a\\b",
            "a\0b",
            "",
        ] {
            assert!(parse_user_key(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
