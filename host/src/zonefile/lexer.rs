//! Splitting master-file text into logical lines of tokens (RFC 1035 §5.1).
//!
//! A logical line is one physical line, or several joined by parentheses. Comments run
//! from `;` to the end of the line. A token is a word or a quoted string; both take
//! `\X` (the character X) and `\DDD` (the byte DDD) escapes. Each token keeps the text
//! exactly as written (for record types kept verbatim) and its unescaped bytes.

use super::ZoneFileError;

/// A 1-based position in the input, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A word or a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// The source text, escapes and quotes included.
    pub raw: String,
    /// The bytes it stands for: quotes removed, escapes resolved.
    pub value: Vec<u8>,
    /// Whether it was a quoted string.
    pub quoted: bool,
    /// Where it starts.
    pub pos: Pos,
}

/// The tokens of one logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    /// Whether the line began with a blank: the record inherits the previous owner.
    pub indented: bool,
    /// At least one token.
    pub tokens: Vec<Token>,
    /// Just past the last token, for "found end of line" errors.
    pub end: Pos,
}

/// Splits `text` into logical lines, dropping blank and comment-only ones.
///
/// # Errors
/// An unterminated quoted string, a bad `\DDD` escape, or unbalanced parentheses.
pub(crate) fn lex(text: &str) -> Result<Vec<LogicalLine>, ZoneFileError> {
    Lexer::new(text).run()
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    at: usize,
    pos: Pos,
    /// Where the open parenthesis is, if inside one.
    open_paren: Option<Pos>,
    lines: Vec<LogicalLine>,
    current: Vec<Token>,
    indented: bool,
    /// Whether nothing but blanks has been seen on this physical line yet.
    line_start: bool,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            pos: Pos { line: 1, column: 1 },
            open_paren: None,
            lines: Vec::new(),
            current: Vec::new(),
            indented: false,
            line_start: true,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.pos = Pos {
                line: self.pos.line + 1,
                column: 1,
            };
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn run(mut self) -> Result<Vec<LogicalLine>, ZoneFileError> {
        while let Some(c) = self.peek() {
            match c {
                '\n' => {
                    self.bump();
                    if self.open_paren.is_none() {
                        self.end_line();
                    }
                    self.line_start = true;
                }
                ' ' | '\t' | '\r' => {
                    // Only a blank in the first column of a logical line means "same
                    // owner"; blanks inside parentheses are just separators.
                    if self.line_start
                        && self.current.is_empty()
                        && self.open_paren.is_none()
                        && self.pos.column == 1
                    {
                        self.indented = true;
                    }
                    self.bump();
                }
                ';' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '(' => {
                    if let Some(open) = self.open_paren {
                        return Err(ZoneFileError::syntax(
                            self.pos,
                            format!(
                                "')' to close the '(' at line {}, column {}",
                                open.line, open.column
                            ),
                            "a nested '('",
                        ));
                    }
                    self.open_paren = Some(self.pos);
                    self.line_start = false;
                    self.bump();
                }
                ')' => {
                    if self.open_paren.take().is_none() {
                        return Err(ZoneFileError::syntax(
                            self.pos,
                            "a record",
                            "')' without a matching '('",
                        ));
                    }
                    self.line_start = false;
                    self.bump();
                }
                '"' => {
                    self.line_start = false;
                    let token = self.quoted()?;
                    self.current.push(token);
                }
                _ => {
                    self.line_start = false;
                    let token = self.word()?;
                    self.current.push(token);
                }
            }
        }
        if let Some(open) = self.open_paren {
            return Err(ZoneFileError::syntax(
                self.pos,
                format!(
                    "')' to close the '(' at line {}, column {}",
                    open.line, open.column
                ),
                "end of file",
            ));
        }
        self.end_line();
        Ok(self.lines)
    }

    fn end_line(&mut self) {
        if !self.current.is_empty() {
            let tokens = std::mem::take(&mut self.current);
            let end = tokens.last().map(end_of).unwrap_or(self.pos);
            self.lines.push(LogicalLine {
                indented: self.indented,
                tokens,
                end,
            });
        }
        self.indented = false;
    }

    /// A word: up to a blank, `;`, a parenthesis, a quote or the end of the line.
    fn word(&mut self) -> Result<Token, ZoneFileError> {
        let start = self.at;
        let pos = self.pos;
        let mut value = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '(' | ')' | '"' => break,
                '\\' => self.escape(&mut value)?,
                _ => {
                    self.bump();
                    push_char(&mut value, c);
                }
            }
        }
        Ok(Token {
            raw: self.text[start..self.at].to_owned(),
            value,
            quoted: false,
            pos,
        })
    }

    /// A quoted string on one line.
    fn quoted(&mut self) -> Result<Token, ZoneFileError> {
        let start = self.at;
        let pos = self.pos;
        self.bump();
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None | Some('\n') => {
                    let found = if self.peek().is_none() {
                        "end of file"
                    } else {
                        "end of line"
                    };
                    return Err(ZoneFileError::syntax(
                        self.pos,
                        format!(
                            "a closing quote for the string at line {}, column {}",
                            pos.line, pos.column
                        ),
                        found,
                    ));
                }
                Some('"') => {
                    self.bump();
                    break;
                }
                Some('\\') => self.escape(&mut value)?,
                Some(c) => {
                    self.bump();
                    push_char(&mut value, c);
                }
            }
        }
        Ok(Token {
            raw: self.text[start..self.at].to_owned(),
            value,
            quoted: true,
            pos,
        })
    }

    /// `\DDD` (three decimal digits, at most 255) or `\X` for any other character.
    fn escape(&mut self, value: &mut Vec<u8>) -> Result<(), ZoneFileError> {
        let pos = self.pos;
        self.bump();
        match self.peek() {
            None => Err(ZoneFileError::syntax(
                self.pos,
                "a character after '\\'",
                "end of file",
            )),
            Some(c) if c.is_ascii_digit() => {
                let digits: String = self.text[self.at..].chars().take(3).collect();
                if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ZoneFileError::syntax(
                        pos,
                        "three decimal digits after '\\' (\\DDD)",
                        format!("\\{}", digits.escape_debug()),
                    ));
                }
                let byte: u16 = digits.parse().expect("three ASCII digits");
                let byte = u8::try_from(byte).map_err(|_| {
                    ZoneFileError::syntax(
                        pos,
                        "an escape \\DDD of at most \\255",
                        format!("\\{digits}"),
                    )
                })?;
                for _ in 0..3 {
                    self.bump();
                }
                value.push(byte);
                Ok(())
            }
            Some(c) => {
                self.bump();
                push_char(value, c);
                Ok(())
            }
        }
    }
}

fn push_char(value: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// The position just after `token` (tokens never span lines).
fn end_of(token: &Token) -> Pos {
    Pos {
        line: token.pos.line,
        column: token.pos.column + token.raw.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        lex(text)
            .unwrap()
            .into_iter()
            .map(|l| l.tokens.into_iter().map(|t| t.raw).collect())
            .collect()
    }

    #[test]
    fn comments_blank_lines_and_parentheses() {
        let text = "; header\n\na TXT \"x;y\" ; trailing\nb SOA ns admin (\n  1 ; serial\n  2 )\n";
        assert_eq!(
            words(text),
            vec![
                vec!["a", "TXT", "\"x;y\""],
                vec!["b", "SOA", "ns", "admin", "1", "2"]
            ]
        );
    }

    #[test]
    fn leading_blank_marks_inherited_owner() {
        let lines = lex("a TXT x\n  TXT y\n\tTXT z\n").unwrap();
        assert_eq!(
            lines.iter().map(|l| l.indented).collect::<Vec<_>>(),
            vec![false, true, true]
        );
    }

    #[test]
    fn escapes_resolve_in_words_and_strings() {
        let lines = lex("a\\.b \"q\\\"\\065\\255\"").unwrap();
        let tokens = &lines[0].tokens;
        assert_eq!(tokens[0].value, b"a.b");
        assert_eq!(tokens[0].raw, "a\\.b");
        assert_eq!(tokens[1].value, b"q\"A\xff");
        assert!(tokens[1].quoted);
    }

    #[test]
    fn positions_are_line_and_column() {
        let lines = lex("a TXT x\n  b  c").unwrap();
        assert_eq!(lines[1].tokens[1].pos, Pos { line: 2, column: 6 });
        assert_eq!(lines[1].end, Pos { line: 2, column: 7 });
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let err = lex("a TXT \"open\nb").unwrap_err().to_string();
        assert_eq!(err, "line 1, column 12: expected a closing quote for the string at line 1, column 7, found end of line");
        let err = lex("a ( b\n c").unwrap_err().to_string();
        assert_eq!(err, "line 2, column 3: expected ')' to close the '(' at line 1, column 3, found end of file");
        let err = lex("a b )").unwrap_err().to_string();
        assert_eq!(
            err,
            "line 1, column 5: expected a record, found ')' without a matching '('"
        );
        let err = lex("a ( ( b )").unwrap_err().to_string();
        assert_eq!(err, "line 1, column 5: expected ')' to close the '(' at line 1, column 3, found a nested '('");
        let err = lex("a \\256").unwrap_err().to_string();
        assert_eq!(
            err,
            "line 1, column 3: expected an escape \\DDD of at most \\255, found \\256"
        );
        let err = lex("a \\12x").unwrap_err().to_string();
        assert_eq!(
            err,
            "line 1, column 3: expected three decimal digits after '\\' (\\DDD), found \\12x"
        );
    }
}
