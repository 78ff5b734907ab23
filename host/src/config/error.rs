//! The one error type of config loading, and how a byte offset becomes a line and column.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a config could not be loaded.
///
/// Every problem with the file's contents is [`ConfigError::Invalid`], whose message
/// reads `FILE:LINE:COLUMN: FIELD: WHAT`, the shape editors and terminals link to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", .path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{}:{line}:{column}: {}{message}", .path.display(), field_prefix(.field))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// Dotted path of the field, e.g. `provider[1].priority`; empty for a syntax error.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] pointing at `span` (a byte range) of `text`.
    pub(crate) fn invalid(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// 1-based line and column (counted in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // A span can only start on a char boundary, but stay safe on a bad one.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let text = "a = 1\nbé = 2\n\nc";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, text.len()), (4, 2));
        assert_eq!(line_column(text, 10_000), (4, 2));
    }

    #[test]
    fn invalid_displays_file_line_column_field() {
        let err = ConfigError::invalid(
            Path::new("/c.toml"),
            "x\ny",
            Some(2..3),
            "policy.timeout",
            "bad",
        );
        assert_eq!(err.to_string(), "/c.toml:2:1: policy.timeout: bad");
        let err = ConfigError::invalid(Path::new("/c.toml"), "x", None, "", "syntax");
        assert_eq!(err.to_string(), "/c.toml:1:1: syntax");
    }
}
