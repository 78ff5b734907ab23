//! What a zone file holds: directives and records, in file order.

use crate::identity::BLOCKSTACK_PREFIX;

/// A parsed zone file: its directives and records in the order they appeared, so that
/// writing it back and parsing again gives the same entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneFile {
    /// Directives and records, in file order.
    pub entries: Vec<ZoneEntry>,
}

/// One line that means something: a directive or a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneEntry {
    /// `$ORIGIN name`, resolved against the origin before it.
    Origin(String),
    /// `$TTL seconds`: the TTL of later records that give none.
    Ttl(u32),
    /// A resource record.
    Record(ZoneRecord),
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    /// The owner name: absolute (ending in `.`) or, without an absolute `$ORIGIN`,
    /// relative as Blockstack's files write them. `@` is already replaced.
    pub name: String,
    /// The TTL written on this record, if any (else `$TTL` applies).
    pub ttl: Option<u32>,
    /// The class, upper case; `IN` when none was written.
    pub class: String,
    /// The type and its data.
    pub data: RecordData,
}

/// A record's type and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// TXT: one or more character strings, as bytes (escapes resolved).
    Txt(Vec<Vec<u8>>),
    /// URI (RFC 7553).
    Uri(UriRecord),
    /// Any other type, kept as written.
    Other {
        /// The type, upper case (`A`, `SOA`, `TYPE65534`...).
        rtype: String,
        /// The data tokens exactly as written (quotes and escapes included).
        rdata: Vec<String>,
    },
}

/// The data of a URI record (RFC 7553).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of equal priority; 0 means "only when no other".
    pub weight: u16,
    /// The URI; Blockstack's files hold empty ones, which readers skip.
    pub target: String,
}

impl RecordData {
    /// The type mnemonic, upper case.
    pub fn rtype(&self) -> &str {
        match self {
            RecordData::Txt(_) => "TXT",
            RecordData::Uri(_) => "URI",
            RecordData::Other { rtype, .. } => rtype,
        }
    }
}

impl ZoneFile {
    /// The records, in file order.
    pub fn records(&self) -> impl Iterator<Item = &ZoneRecord> {
        self.entries.iter().filter_map(|e| match e {
            ZoneEntry::Record(r) => Some(r),
            _ => None,
        })
    }

    /// Every URI record with its owner name, in file order.
    pub fn uri_records(&self) -> impl Iterator<Item = (&str, &UriRecord)> {
        self.records().filter_map(|r| match &r.data {
            RecordData::Uri(uri) => Some((r.name.as_str(), uri)),
            _ => None,
        })
    }

    /// The owner's public key text (`pubkey:data:<hex>`, prefix included) from the first
    /// TXT record that carries one, whatever its owner name.
    pub fn public_key_text(&self) -> Option<String> {
        self.records().find_map(|r| match &r.data {
            RecordData::Txt(strings) => {
                // A long key may be split over several strings; TXT joins them.
                let text: Vec<u8> = strings.concat();
                let text = String::from_utf8(text).ok()?;
                text.starts_with(BLOCKSTACK_PREFIX).then_some(text)
            }
            _ => None,
        })
    }
}
