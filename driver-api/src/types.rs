//! Plain values that drivers return: what they can do, object sizes, list pages.

use std::fmt;
use std::ops::BitOr;

/// What a driver can do, as bit flags. The default is nothing.
///
/// The host refuses an operation whose capability is missing before calling the
/// driver, and chooses providers by capability, never by driver name. Bits are never
/// reused; unknown bits from a newer driver are kept and ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// No capability at all.
    pub const NONE: Self = Self(0);
    /// `read` and `stat` work.
    pub const READ: Self = Self(1 << 0);
    /// `read` honours a non-zero offset without reading from the start.
    pub const RANGE_READ: Self = Self(1 << 1);
    /// `put` works.
    pub const WRITE: Self = Self(1 << 2);
    /// `begin_write` streams without holding the whole object in memory.
    pub const STREAMING_WRITE: Self = Self(1 << 3);
    /// `list` works.
    pub const LIST: Self = Self(1 << 4);
    /// `delete` works.
    pub const DELETE: Self = Self(1 << 5);
    /// `public_url` returns a URL other clients can read from.
    pub const PUBLIC_URL: Self = Self(1 << 6);
    /// A write becomes visible all at once: readers see the old object or the new one.
    pub const ATOMIC_WRITE: Self = Self(1 << 7);
    /// Since 1.2: `begin_unsynced_write` skips the per-object sync and `flush` makes
    /// everything written so far durable at once (see [`StorageDriver::flush`]).
    ///
    /// [`StorageDriver::flush`]: crate::StorageDriver::flush
    pub const FLUSH: Self = Self(1 << 8);

    const NAMES: [(Self, &'static str); 9] = [
        (Self::READ, "read"),
        (Self::RANGE_READ, "range-read"),
        (Self::WRITE, "write"),
        (Self::STREAMING_WRITE, "streaming-write"),
        (Self::LIST, "list"),
        (Self::DELETE, "delete"),
        (Self::PUBLIC_URL, "public-url"),
        (Self::ATOMIC_WRITE, "atomic-write"),
        (Self::FLUSH, "flush"),
    ];

    /// The flags as stored on the wire.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Flags from their wire value; unknown bits are kept.
    pub fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// Whether every flag in `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the flags that are set, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

impl BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({})", self.names().join("|"))
    }
}

/// What a driver says about itself before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// Short lowercase name, e.g. `"disk"` or `"s3"`.
    pub name: String,
    /// The driver's own version (its crate version, usually).
    pub version: String,
    /// URL schemes `open_url` accepts, e.g. `["file"]` or `["http", "https"]`.
    pub url_schemes: Vec<String>,
    /// What the driver can do.
    pub capabilities: Capabilities,
}

/// Metadata about one stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
}

/// One object in a [`ListPage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The object's key, as the driver stores it (the host re-validates it).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Entries in a stable order (drivers sort by key unless the store cannot).
    pub entries: Vec<ListEntry>,
    /// Pass this back to get the next page; `None` when this is the last one.
    pub next_cursor: Option<String>,
}

impl ListPage {
    /// The first `limit` of `entries` (already in the driver's stable order, with one or
    /// more entries past the page if there are any), with the cursor set to the last key
    /// returned when more remain. Saves each driver the same truncate-and-cursor code.
    pub fn first_of(mut entries: Vec<ListEntry>, limit: usize) -> Self {
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next_cursor = if more {
            entries.last().map(|e| e.key.clone())
        } else {
            None
        };
        Self {
            entries,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_cuts_the_page_and_sets_the_cursor_only_when_more_remain() {
        let entries = |n: usize| {
            (0..n)
                .map(|i| ListEntry {
                    key: format!("k{i}"),
                    size: 1,
                })
                .collect::<Vec<_>>()
        };
        let page = ListPage::first_of(entries(3), 2);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.next_cursor.as_deref(), Some("k1"));
        let last = ListPage::first_of(entries(2), 2);
        assert_eq!((last.entries.len(), last.next_cursor), (2, None));
    }

    #[test]
    fn default_is_nothing_and_flags_combine() {
        assert_eq!(Capabilities::default(), Capabilities::NONE);
        let c = Capabilities::READ | Capabilities::LIST;
        assert!(c.contains(Capabilities::READ));
        assert!(!c.contains(Capabilities::WRITE));
        assert_eq!(c.names(), ["read", "list"]);
        assert_eq!(Capabilities::from_bits(c.bits()), c);
    }
}
