//! Text from zone files and providers, made safe to print on a terminal.
//!
//! A zone file's owner names and targets, a driver's error message or a server's
//! answer could carry escape sequences that recolour, rewrite or hide what the user
//! sees (`\r` to overwrite a line, `ESC [` sequences, C1 controls). Printed text has
//! every such character written as a visible escape instead.

use std::borrow::Cow;
use std::io;

/// `text` with every control character (newlines too) written as `\u{..}`, for a
/// value printed on one line.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_where(text, char::is_control)
}

/// `text` with every control character but `\n` escaped, for a message that may span
/// lines.
pub fn escape_controls_keep_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c.is_control() && c != '\n')
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer for log output that escapes the C0 controls (and DEL) that `tracing`'s
/// formatter lets through (`\r`, `\t`, `\x0b`...), keeping newlines and ESC: the
/// formatter emits ESC for its own colours and already escapes it, and C1 controls,
/// inside messages and fields.
pub struct EscapingWriter<W>(pub W);

impl<W: io::Write> io::Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for (at, &byte) in buf.iter().enumerate() {
            let control = (byte < 0x20 && byte != b'\n' && byte != 0x1b) || byte == 0x7f;
            if control {
                self.0.write_all(&buf[start..at])?;
                write!(self.0, "\\x{byte:02x}")?;
                start = at + 1;
            }
        }
        self.0.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(escape_controls("plain"), "plain");
        assert_eq!(
            escape_controls("a\u{1b}[31mb\rc\td\ne\u{9b}"),
            "a\\u{1b}[31mb\\u{d}c\\u{9}d\\u{a}e\\u{9b}"
        );
        assert_eq!(escape_controls_keep_lines("a\nb\r"), "a\nb\\u{d}");
    }

    #[test]
    fn the_log_writer_escapes_what_the_formatter_lets_through() {
        let mut out = EscapingWriter(Vec::new());
        out.write_all(b"x\ry\tz\x7f\n\x1b[2mdim\n").unwrap();
        assert_eq!(out.0, b"x\\x0dy\\x09z\\x7f\n\x1b[2mdim\n");
    }
}
