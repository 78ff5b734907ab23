//! Logical lines to directives and records (RFC 1035 §5.1, RFC 7553 §4.4).

use super::lexer::{lex, LogicalLine, Pos, Token};
use super::record::{RecordData, UriRecord, ZoneEntry, ZoneFile, ZoneRecord};
use super::{is_absolute, ZoneFileError, MAX_NAME_LEN, MAX_TTL};

/// Parses zone-file text that is already known to be within the size limit.
pub(crate) fn parse_text(text: &str) -> Result<ZoneFile, ZoneFileError> {
    let mut parser = Parser::default();
    for line in lex(text)? {
        parser.line(&line)?;
    }
    Ok(ZoneFile {
        entries: parser.entries,
    })
}

#[derive(Default)]
struct Parser {
    origin: Option<String>,
    /// The owner of the previous record, inherited by an indented line.
    last_owner: Option<String>,
    entries: Vec<ZoneEntry>,
}

impl Parser {
    fn line(&mut self, line: &LogicalLine) -> Result<(), ZoneFileError> {
        let first = &line.tokens[0];
        if !line.indented && !first.quoted && first.raw.starts_with('$') {
            return self.directive(line);
        }
        let mut rest = line.tokens.iter().peekable();
        let name = if line.indented {
            self.last_owner.clone().ok_or_else(|| {
                ZoneFileError::syntax(first.pos, "an owner name at the start of the line (no earlier record to inherit one from)", "a blank")
            })?
        } else {
            let owner = rest.next().expect("a logical line has a token");
            self.name(owner)?
        };
        let mut ttl = None;
        let mut class = None;
        // RFC 1035 allows TTL and class in either order, each at most once.
        while let Some(token) = rest.peek() {
            if ttl.is_none() && !token.quoted && token.raw.starts_with(|c: char| c.is_ascii_digit())
            {
                ttl = Some(parse_ttl(token)?);
            } else if class.is_none() && !token.quoted && is_class(&token.raw) {
                class = Some(token.raw.to_ascii_uppercase());
            } else {
                break;
            }
            rest.next();
        }
        let rtype = rest
            .next()
            .ok_or_else(|| ZoneFileError::syntax(line.end, "a record type", "end of line"))?;
        let valid_type = !rtype.quoted
            && !is_class(&rtype.raw)
            && rtype.raw.starts_with(|c: char| c.is_ascii_alphabetic())
            && rtype
                .raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid_type {
            return Err(ZoneFileError::syntax(
                rtype.pos,
                "a record type (TXT, URI, A, ...)",
                found(rtype),
            ));
        }
        let rdata: Vec<&Token> = rest.collect();
        let data = match rtype.raw.to_ascii_uppercase().as_str() {
            "TXT" => txt(&rdata, line.end)?,
            "URI" => uri(&rdata, line.end)?,
            other => RecordData::Other {
                rtype: other.to_owned(),
                rdata: rdata.iter().map(|t| t.raw.clone()).collect(),
            },
        };
        self.last_owner = Some(name.clone());
        self.entries.push(ZoneEntry::Record(ZoneRecord {
            name,
            ttl,
            class: class.unwrap_or_else(|| "IN".to_owned()),
            data,
        }));
        Ok(())
    }

    fn directive(&mut self, line: &LogicalLine) -> Result<(), ZoneFileError> {
        let first = &line.tokens[0];
        let argument = |what: &str| -> Result<&Token, ZoneFileError> {
            let value = line
                .tokens
                .get(1)
                .ok_or_else(|| ZoneFileError::syntax(line.end, what, "end of line"))?;
            if let Some(extra) = line.tokens.get(2) {
                return Err(ZoneFileError::syntax(
                    extra.pos,
                    format!("end of line after {}", first.raw),
                    found(extra),
                ));
            }
            Ok(value)
        };
        match first.raw.to_ascii_uppercase().as_str() {
            "$ORIGIN" => {
                let origin = self.name(argument("a domain name after $ORIGIN")?)?;
                self.origin = Some(origin.clone());
                self.entries.push(ZoneEntry::Origin(origin));
            }
            "$TTL" => {
                let ttl = parse_ttl(argument("a TTL after $TTL")?)?;
                self.entries.push(ZoneEntry::Ttl(ttl));
            }
            "$INCLUDE" => {
                return Err(ZoneFileError::IncludeRefused {
                    line: first.pos.line,
                    column: first.pos.column,
                });
            }
            _ => {
                return Err(ZoneFileError::syntax(
                    first.pos,
                    "$ORIGIN, $TTL or a record",
                    found(first),
                ))
            }
        }
        Ok(())
    }

    /// A domain name, with `@` and relative names resolved against the current origin.
    fn name(&self, token: &Token) -> Result<String, ZoneFileError> {
        if token.quoted {
            return Err(ZoneFileError::syntax(
                token.pos,
                "a domain name",
                "a quoted string",
            ));
        }
        let name = match (token.raw.as_str(), self.origin.as_deref()) {
            ("@", Some(origin)) => origin.to_owned(),
            ("@", None) => {
                return Err(ZoneFileError::syntax(
                    token.pos,
                    "a $ORIGIN before the first '@'",
                    "`@`",
                ))
            }
            (raw, _) if is_absolute(raw) => raw.to_owned(),
            (raw, Some(".")) => format!("{raw}."),
            (raw, Some(origin)) => format!("{raw}.{origin}"),
            (raw, None) => raw.to_owned(),
        };
        if name.len() > MAX_NAME_LEN {
            return Err(ZoneFileError::syntax(
                token.pos,
                format!("a domain name of at most {MAX_NAME_LEN} characters"),
                format!("one of {} characters", name.len()),
            ));
        }
        Ok(name)
    }
}

fn is_class(word: &str) -> bool {
    ["IN", "CH", "HS", "CS"]
        .iter()
        .any(|c| word.eq_ignore_ascii_case(c))
}

/// Seconds (`3600`) or numbers with units (`1h`, `1h30m`, `2d`, `1w`).
fn parse_ttl(token: &Token) -> Result<u32, ZoneFileError> {
    let bad = || {
        ZoneFileError::syntax(
            token.pos,
            "a TTL in seconds or with units (30m, 1h, 1d, 1w)",
            found(token),
        )
    };
    if token.quoted || token.raw.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let all_digits = token.raw.bytes().all(|b| b.is_ascii_digit());
    for b in token.raw.bytes() {
        match b {
            b'0'..=b'9' => {
                let n = number
                    .unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(b - b'0')));
                // Saturate: anything this large is over MAX_TTL anyway.
                number = Some(n.unwrap_or(u64::MAX));
            }
            _ => {
                let unit = match b.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86_400,
                    b'w' => 604_800,
                    _ => return Err(bad()),
                };
                let n = number.take().ok_or_else(bad)?;
                total = total.saturating_add(n.saturating_mul(unit));
            }
        }
    }
    match number {
        Some(n) if all_digits => total = n,
        Some(_) => return Err(bad()),
        None => {}
    }
    if total > u64::from(MAX_TTL) {
        return Err(ZoneFileError::syntax(
            token.pos,
            format!("a TTL of at most {MAX_TTL} seconds"),
            found(token),
        ));
    }
    Ok(total as u32)
}

fn txt(rdata: &[&Token], end: Pos) -> Result<RecordData, ZoneFileError> {
    if rdata.is_empty() {
        return Err(ZoneFileError::syntax(
            end,
            "at least one string after TXT",
            "end of line",
        ));
    }
    Ok(RecordData::Txt(
        rdata.iter().map(|t| t.value.clone()).collect(),
    ))
}

fn uri(rdata: &[&Token], end: Pos) -> Result<RecordData, ZoneFileError> {
    let number = |index: usize, what: &str| -> Result<u16, ZoneFileError> {
        let expected = format!("a {what} from 0 to 65535");
        let token = rdata
            .get(index)
            .ok_or_else(|| ZoneFileError::syntax(end, expected.as_str(), "end of line"))?;
        let valid =
            !token.quoted && !token.raw.is_empty() && token.raw.bytes().all(|b| b.is_ascii_digit());
        valid
            .then(|| token.raw.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| ZoneFileError::syntax(token.pos, expected.as_str(), found(token)))
    };
    let priority = number(0, "priority")?;
    let weight = number(1, "weight")?;
    let target = rdata
        .get(2)
        .ok_or_else(|| ZoneFileError::syntax(end, "a quoted target URI", "end of line"))?;
    let target_text = String::from_utf8(target.value.clone())
        .map_err(|_| ZoneFileError::syntax(target.pos, "a target URI in UTF-8", found(target)))?;
    if let Some(extra) = rdata.get(3) {
        return Err(ZoneFileError::syntax(
            extra.pos,
            "end of record after the URI target",
            found(extra),
        ));
    }
    Ok(RecordData::Uri(UriRecord {
        priority,
        weight,
        target: target_text,
    }))
}

/// A token for an error message: back-quoted, shortened if long.
fn found(token: &Token) -> String {
    const SHOWN: usize = 40;
    let mut shown: String = token.raw.chars().take(SHOWN).collect();
    if token.raw.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    format!("`{shown}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ZoneFile {
        parse_text(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn err(text: &str) -> String {
        parse_text(text).unwrap_err().to_string()
    }

    fn names(zone: &ZoneFile) -> Vec<&str> {
        zone.records().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn origin_resolves_relative_names_and_at() {
        let zone =
            parse("$ORIGIN example.com.\n@ A 1.2.3.4\nwww A 1.2.3.5\nmail.other.org. A 1.2.3.6\n");
        assert_eq!(
            names(&zone),
            ["example.com.", "www.example.com.", "mail.other.org."]
        );
    }

    #[test]
    fn relative_origin_is_relative_to_the_previous_one() {
        let zone = parse("$ORIGIN example.com.\n$ORIGIN sub\nx A 1.1.1.1\n");
        assert_eq!(
            zone.entries[1],
            ZoneEntry::Origin("sub.example.com.".into())
        );
        assert_eq!(names(&zone), ["x.sub.example.com."]);
    }

    #[test]
    fn names_stay_relative_without_an_origin() {
        let zone = parse("_file URI 10 1 \"file:///x\"\n");
        assert_eq!(names(&zone), ["_file"]);
    }

    #[test]
    fn owner_is_inherited_by_indented_lines() {
        let zone = parse("a TXT one\n  TXT two\n\t3600 URI 1 2 \"x\"\n");
        assert_eq!(names(&zone), ["a", "a", "a"]);
        assert_eq!(zone.records().nth(2).unwrap().ttl, Some(3600));
    }

    #[test]
    fn ttl_and_class_in_either_order_any_case() {
        let zone = parse("a 60 in TXT x\nb In 1h TXT y\nc TXT z\nd ch TXT w\n");
        let got: Vec<_> = zone.records().map(|r| (r.ttl, r.class.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(60), "IN"),
                (Some(3600), "IN"),
                (None, "IN"),
                (None, "CH")
            ]
        );
    }

    #[test]
    fn ttl_units() {
        for (text, seconds) in [
            ("3600", 3600),
            ("1h", 3600),
            ("1d", 86_400),
            ("1W", 604_800),
            ("1h30m", 5400),
            ("90s", 90),
            ("0", 0),
        ] {
            let zone = parse(&format!("$TTL {text}\n"));
            assert_eq!(zone.entries, [ZoneEntry::Ttl(seconds)], "{text}");
        }
    }

    #[test]
    fn txt_takes_several_strings_quoted_or_not() {
        let zone = parse("a TXT \"one two\" three \"fo\\\"ur\"\n");
        assert_eq!(
            zone.records().next().unwrap().data,
            RecordData::Txt(vec![
                b"one two".to_vec(),
                b"three".to_vec(),
                b"fo\"ur".to_vec()
            ])
        );
    }

    #[test]
    fn uri_records_and_empty_targets() {
        let zone = parse("_https._tcp URI 10 1 \"\"\n_file URI 0 65535 \"file:///x\"\n");
        let uris: Vec<_> = zone
            .uri_records()
            .map(|(n, u)| (n, u.priority, u.weight, u.target.as_str()))
            .collect();
        assert_eq!(
            uris,
            [("_https._tcp", 10, 1, ""), ("_file", 0, 65535, "file:///x")]
        );
    }

    #[test]
    fn other_types_kept_verbatim_with_origin() {
        let zone =
            parse("$ORIGIN x.\n@ soa ns admin ( 1 ; serial\n 2 3 4 5 )\n  MX 10 \"mail\\032x\"\n");
        let data: Vec<_> = zone.records().map(|r| r.data.clone()).collect();
        assert_eq!(
            data,
            [
                RecordData::Other {
                    rtype: "SOA".into(),
                    rdata: ["ns", "admin", "1", "2", "3", "4", "5"]
                        .map(String::from)
                        .to_vec()
                },
                RecordData::Other {
                    rtype: "MX".into(),
                    rdata: vec!["10".into(), "\"mail\\032x\"".into()]
                },
            ]
        );
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let cases = [
            ("$INCLUDE other.zone\n", "line 1, column 1: $INCLUDE is refused: a zone file must be self-contained"),
            ("a TXT x\n$FOO 1\n", "line 2, column 1: expected $ORIGIN, $TTL or a record, found `$FOO`"),
            ("$TTL\n", "line 1, column 5: expected a TTL after $TTL, found end of line"),
            ("$TTL 1 2\n", "line 1, column 8: expected end of line after $TTL, found `2`"),
            ("$TTL 1x\n", "line 1, column 6: expected a TTL in seconds or with units (30m, 1h, 1d, 1w), found `1x`"),
            ("$TTL 1h5\n", "line 1, column 6: expected a TTL in seconds or with units (30m, 1h, 1d, 1w), found `1h5`"),
            ("$TTL 4294967296\n", "line 1, column 6: expected a TTL of at most 2147483647 seconds, found `4294967296`"),
            ("  TXT x\n", "line 1, column 3: expected an owner name at the start of the line (no earlier record to inherit one from), found a blank"),
            ("a\n", "line 1, column 2: expected a record type, found end of line"),
            ("a 60 IN\n", "line 1, column 8: expected a record type, found end of line"),
            ("a \"TXT\" x\n", "line 1, column 3: expected a record type (TXT, URI, A, ...), found `\"TXT\"`"),
            ("a TXT\n", "line 1, column 6: expected at least one string after TXT, found end of line"),
            ("a URI 10\n", "line 1, column 9: expected a weight from 0 to 65535, found end of line"),
            ("a URI 70000 1 \"x\"\n", "line 1, column 7: expected a priority from 0 to 65535, found `70000`"),
            ("a URI 1 -1 \"x\"\n", "line 1, column 9: expected a weight from 0 to 65535, found `-1`"),
            ("a URI 1 1\n", "line 1, column 10: expected a quoted target URI, found end of line"),
            ("a URI 1 1 \"x\" y\n", "line 1, column 15: expected end of record after the URI target, found `y`"),
            ("a URI 1 1 \"\\255\"\n", "line 1, column 11: expected a target URI in UTF-8, found `\"\\255\"`"),
            ("@ TXT x\n", "line 1, column 1: expected a $ORIGIN before the first '@', found `@`"),
            ("\"a\" TXT x\n", "line 1, column 1: expected a domain name, found a quoted string"),
            ("a IN IN x\n", "line 1, column 6: expected a record type (TXT, URI, A, ...), found `IN`"),
        ];
        for (text, message) in cases {
            assert_eq!(err(text), message, "{text:?}");
        }
    }

    #[test]
    fn long_names_are_refused() {
        let label = "a".repeat(250);
        let message = err(&format!("$ORIGIN {label}.\nbcdefg TXT x\n"));
        assert_eq!(message, "line 2, column 1: expected a domain name of at most 255 characters, found one of 258 characters");
    }
}
