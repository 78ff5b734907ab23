//! Paged listing: sorted by key, the cursor being the last key of the previous page.
//!
//! OpenDAL lists directories; a mirra prefix is a plain string. The listing starts at
//! the deepest directory the prefix names (`a/b/c` lists `a/b/` recursively) and keeps
//! the files that start with the prefix. Services with a flat, sorted namespace and
//! `start_after` (GCS) resume at the cursor and stop after one page; the others are
//! listed whole and sorted, which costs one full listing per page.

use futures::TryStreamExt;
use mirra_driver_api::{DriverResult, ListEntry, ListPage};

use crate::driver::{Shared, STAGING_DIR};

pub(crate) async fn page(
    s: &Shared,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> DriverResult<ListPage> {
    let limit = limit.max(1) as usize;
    let dir = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    let mut lister = s.op.lister_with(dir).recursive(true);
    if s.sorted_start_after {
        if let Some(cursor) = cursor {
            lister = lister.start_after(cursor);
        }
    }
    let listing = match lister.await {
        Ok(l) => Some(l),
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
        Err(e) => return Err(s.errors.map(&format!("list {prefix:?}"), e)),
    };
    let mut entries: Vec<ListEntry> = Vec::new();
    if let Some(mut listing) = listing {
        loop {
            let next = listing.try_next().await;
            let entry = match next {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => break,
                Err(e) => return Err(s.errors.map(&format!("list {prefix:?}"), e)),
            };
            if !entry.metadata().is_file() {
                continue;
            }
            let key = entry.path().trim_start_matches('/');
            if !key.starts_with(prefix)
                || key.starts_with(STAGING_DIR)
                || cursor.is_some_and(|c| key <= c)
            {
                continue;
            }
            entries.push(ListEntry {
                key: key.to_owned(),
                size: entry.metadata().content_length(),
            });
            // A sorted service's next entries can only come later: one past the page
            // tells whether another page exists.
            if s.sorted_start_after && entries.len() > limit {
                break;
            }
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(ListPage::first_of(entries, limit))
}
