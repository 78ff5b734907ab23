//! Zone files back to text, in one tidy layout: directives where they were, one record
//! per line, owner names relative to the origin and aligned, class `IN` left implicit,
//! strings always quoted with the same escapes.
//!
//! Parsing the output gives the same [`ZoneFile`]: each name is written relative to the
//! origin it was resolved against, and only when that is unambiguous.

use std::fmt::Write as _;

use super::is_absolute;
use super::record::{RecordData, ZoneEntry, ZoneFile};

/// Owner names longer than this do not widen the owner column for every other line.
const MAX_OWNER_COLUMN: usize = 24;

/// The zone file as text.
pub(crate) fn write(zone: &ZoneFile) -> String {
    let mut origin: Option<&str> = None;
    let mut width = 0;
    for entry in &zone.entries {
        match entry {
            ZoneEntry::Origin(name) => origin = Some(name),
            ZoneEntry::Record(record) => {
                width = width.max(relative_name(&record.name, origin).chars().count())
            }
            ZoneEntry::Ttl(_) => {}
        }
    }
    let width = width.min(MAX_OWNER_COLUMN);
    let mut out = String::new();
    let mut origin: Option<&str> = None;
    let mut previous: Option<&str> = None;
    for entry in &zone.entries {
        match entry {
            ZoneEntry::Origin(name) => {
                let _ = writeln!(out, "$ORIGIN {}", relative_name(name, origin));
                origin = Some(name);
            }
            ZoneEntry::Ttl(ttl) => {
                let _ = writeln!(out, "$TTL {ttl}");
            }
            ZoneEntry::Record(record) => {
                let mut fields = Vec::new();
                if let Some(ttl) = record.ttl {
                    fields.push(ttl.to_string());
                }
                if record.class != "IN" {
                    fields.push(record.class.clone());
                }
                fields.push(record.data.rtype().to_owned());
                match &record.data {
                    RecordData::Txt(strings) => fields.extend(strings.iter().map(|s| quote(s))),
                    RecordData::Uri(uri) => {
                        fields.push(uri.priority.to_string());
                        fields.push(uri.weight.to_string());
                        fields.push(quote(uri.target.as_bytes()));
                    }
                    RecordData::Other { rdata, .. } => fields.extend(rdata.iter().cloned()),
                }
                let written = owner_as_written(&record.name, origin);
                // A relative name inherited across a `$ORIGIN` change cannot be spelled
                // under the new origin; it can only be inherited again, which works
                // because the record before it has the same owner.
                let name = match written {
                    Some(name) => name,
                    None if previous == Some(record.name.as_str()) => "",
                    None => &record.name,
                };
                let _ = writeln!(out, "{name:<width$} {}", fields.join(" "));
                previous = Some(&record.name);
            }
        }
    }
    out
}

/// `name` as written under `origin`: `@` for the origin itself, the part before it for
/// names below it, else the name as it is. Falls back to the full name whenever the
/// short form would read back differently.
pub(crate) fn relative_name<'a>(name: &'a str, origin: Option<&str>) -> &'a str {
    let Some(origin) = origin else { return name };
    if name == origin {
        return "@";
    }
    let prefix = if origin == "." {
        name.strip_suffix('.')
    } else {
        name.strip_suffix(origin).and_then(|p| p.strip_suffix('.'))
    };
    match prefix {
        // The dot removed must be a real separator, and the short form must read back
        // as a relative name that is not `@`.
        Some(short)
            if !short.is_empty()
                && short != "@"
                && !ends_with_escape(short)
                && !is_absolute(short) =>
        {
            short
        }
        _ => name,
    }
}

/// How a record's owner is written under `origin`, or `None` when no spelling reads
/// back as `name` (a relative name resolved before the origin changed).
fn owner_as_written<'a>(name: &'a str, origin: Option<&str>) -> Option<&'a str> {
    let written = relative_name(name, origin);
    let reads_back = origin.is_none() || written != name || is_absolute(name);
    reads_back.then_some(written)
}

/// Whether `text` ends in an odd run of backslashes (so a following character is escaped).
fn ends_with_escape(text: &str) -> bool {
    text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// A quoted character string: `"` and `\` escaped, control characters and bytes that are
/// not UTF-8 as `\DDD`.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\{:03}", c as u8);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\{b:03}");
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::ZoneFile;
    use super::*;

    #[test]
    fn names_are_written_relative_only_when_they_read_back() {
        assert_eq!(
            relative_name("www.example.com.", Some("example.com.")),
            "www"
        );
        assert_eq!(relative_name("example.com.", Some("example.com.")), "@");
        assert_eq!(
            relative_name("other.org.", Some("example.com.")),
            "other.org."
        );
        assert_eq!(
            relative_name("xexample.com.", Some("example.com.")),
            "xexample.com."
        );
        assert_eq!(
            relative_name("a\\.example.com.", Some("example.com.")),
            "a\\.example.com."
        );
        assert_eq!(relative_name("a.", Some(".")), "a");
        assert_eq!(relative_name("@.o.", Some("o.")), "@.o.");
        assert_eq!(relative_name("_file", None), "_file");
    }

    #[test]
    fn quoting_escapes_what_must_be() {
        assert_eq!(quote(b"plain text"), "\"plain text\"");
        assert_eq!(quote(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote(b"tab\there\n"), "\"tab\\009here\\010\"");
        assert_eq!(quote(b"\xff\xfe"), "\"\\255\\254\"");
        assert_eq!(quote("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn canonical_layout() {
        let text = "$ORIGIN cryptocracy.id\n$TTL 1h\npubkey TXT \"pubkey:data:02ab\"\n_file   URI 10 1 \"file:///x\"\n  in 60 URI 20 0 \"\"\n@ MX 10 mail\n";
        let zone = ZoneFile::parse(text.as_bytes()).unwrap();
        let expected = "$ORIGIN cryptocracy.id\n$TTL 3600\npubkey TXT \"pubkey:data:02ab\"\n_file  URI 10 1 \"file:///x\"\n_file  60 URI 20 0 \"\"\n@      MX 10 mail\n";
        assert_eq!(zone.to_text(), expected);
    }

    #[test]
    fn owners_inherited_across_an_origin_change_stay_inherited() {
        // Found by the fuzzer: `x` is relative and resolved before `$ORIGIN a`, so it
        // cannot be spelled after it; the writer must keep inheriting it.
        let text = "x TXT 1\n$ORIGIN a\n TXT 2\ny TXT 3\n";
        let zone = ZoneFile::parse(text.as_bytes()).unwrap();
        let names: Vec<_> = zone.records().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["x", "x", "y.a"]);
        let written = zone.to_text();
        assert_eq!(
            written,
            "x TXT \"1\"\n$ORIGIN a\n  TXT \"2\"\ny TXT \"3\"\n"
        );
        assert_eq!(ZoneFile::parse(written.as_bytes()).unwrap(), zone);
    }
}
