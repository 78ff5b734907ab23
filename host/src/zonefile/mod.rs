//! Zone files: the owner's public key and a URI record per provider, in RFC 1035
//! master-file syntax, as Blockstack published them in 2017.
//!
//! A reader who knows only an owner's zone file can find every provider and verify what
//! they serve. The parser takes what real zone files hold (`$ORIGIN`, `$TTL` with units,
//! comments, quoted strings with escapes, parentheses, inherited owners, optional TTL
//! and class) and refuses `$INCLUDE`, since a zone file fetched from a URL must not
//! name other files on the reader's disk. TXT and URI records (RFC 7553) are decoded;
//! every other type is kept as written. Input over a size limit is refused before it is
//! looked at, and every error gives a line, a column and what was expected.
//!
//! [`ZoneFile::to_text`] writes a tidy layout that parses back to the same entries.

mod lexer;
mod order;
mod parser;
mod record;
mod writer;

pub use order::order_uri_records;
pub use record::{RecordData, UriRecord, ZoneEntry, ZoneFile, ZoneRecord};

/// Zone files larger than this are refused unless a caller asks for another limit.
pub const DEFAULT_SIZE_LIMIT: usize = 64 * 1024;
/// The largest TTL (RFC 2181 §8: 2^31 - 1 seconds).
pub const MAX_TTL: u32 = i32::MAX as u32;
/// The longest domain name, in characters as written.
pub const MAX_NAME_LEN: usize = 255;

/// Why a zone file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneFileError {
    /// The input is over the size limit; nothing was parsed.
    #[error("zone file too large: {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Bytes given.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The text is not valid zone-file syntax.
    #[error("line {line}, column {column}: expected {expected}, found {found}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What the parser was looking for.
        expected: String,
        /// What it found instead.
        found: String,
    },
    /// `$INCLUDE` would read another file; a zone file must stand alone.
    #[error(
        "line {line}, column {column}: $INCLUDE is refused: a zone file must be self-contained"
    )]
    IncludeRefused {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl ZoneFileError {
    pub(crate) fn syntax(
        pos: lexer::Pos,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ZoneFileError::Syntax {
            line: pos.line,
            column: pos.column,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The 1-based line and column the error is at, if it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ZoneFileError::Syntax { line, column, .. }
            | ZoneFileError::IncludeRefused { line, column } => Some((*line, *column)),
            ZoneFileError::TooLarge { .. } => None,
        }
    }
}

impl ZoneFile {
    /// Parses a zone file of at most [`DEFAULT_SIZE_LIMIT`] bytes.
    ///
    /// # Errors
    /// [`ZoneFileError`]: too large, bad syntax (with position), or `$INCLUDE`.
    pub fn parse(input: &[u8]) -> Result<ZoneFile, ZoneFileError> {
        Self::parse_with_limit(input, DEFAULT_SIZE_LIMIT)
    }

    /// Parses a zone file of at most `limit` bytes.
    ///
    /// # Errors
    /// [`ZoneFileError`]: too large, bad syntax (with position), or `$INCLUDE`.
    pub fn parse_with_limit(input: &[u8], limit: usize) -> Result<ZoneFile, ZoneFileError> {
        if input.len() > limit {
            return Err(ZoneFileError::TooLarge {
                size: input.len(),
                limit,
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| {
            let valid = &input[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            // The prefix is valid UTF-8, so counting its characters gives the column.
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            let pos = lexer::Pos { line, column };
            ZoneFileError::syntax(
                pos,
                "UTF-8 text",
                format!("byte 0x{:02x}", input[e.valid_up_to()]),
            )
        })?;
        parser::parse_text(text)
    }

    /// The zone file in canonical layout; [`ZoneFile::parse`] reads it back unchanged.
    pub fn to_text(&self) -> String {
        writer::write(self)
    }
}

/// The name as written relative to `origin` (`@`, a shorter relative name, or itself).
pub fn relative_name<'a>(name: &'a str, origin: Option<&str>) -> &'a str {
    writer::relative_name(name, origin)
}

/// `bytes` as a quoted zone-file string, escaped so that it parses back to `bytes`.
pub fn quote_string(bytes: &[u8]) -> String {
    writer::quote(bytes)
}

/// Whether a name as written ends in an unescaped `.`.
pub(crate) fn is_absolute(name: &str) -> bool {
    match name.strip_suffix('.') {
        Some(rest) => rest.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0,
        None => false,
    }
}

/// The owner name Blockstack gave a URI record for `scheme`: `_https._tcp`,
/// `_http._tcp`, `_dht._udp`, else `_<scheme>` (`_file`, `_s3`).
pub fn uri_owner_for_scheme(scheme: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" | "ftp" | "ws" | "wss" => format!("_{scheme}._tcp"),
        "dht+udp" => "_dht._udp".to_owned(),
        other => {
            // A label may hold letters, digits, `-` and `_`; `+` and `.` in a scheme
            // would split or break it.
            let label: String = other
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("_{label}")
        }
    }
}

#[cfg(test)]
mod tests;
