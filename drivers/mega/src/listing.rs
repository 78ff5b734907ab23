//! One page of a listing, from the files found below the root folder.
//!
//! Kept apart from the node tree (which only the mega crate can build) so the rules
//! are tested on plain values: twins list once as the one a read returns, names no key
//! can have are left out, and pages follow key order after the cursor.

use std::collections::BTreeMap;

use mirra_driver_api::{ListEntry, ListPage};

use crate::paths;

/// A file found below the root folder.
pub(crate) struct Found<'a, O> {
    /// Its folder and file names below the root folder.
    pub names: Vec<&'a str>,
    pub size: u64,
    /// Orders twins: the greatest is the one reads return (see `lookup::newest`).
    pub order: O,
}

/// Up to `limit` keys starting with `prefix`, in key order, after `cursor`.
pub(crate) fn page<'a, O: Ord>(
    found: impl IntoIterator<Item = Found<'a, O>>,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> ListPage {
    let mut keys: BTreeMap<String, (O, u64)> = BTreeMap::new();
    for file in found {
        let Some(key) = paths::key_of(&file.names) else {
            continue;
        };
        if !key.starts_with(prefix) || cursor.is_some_and(|c| key.as_str() <= c) {
            continue;
        }
        match keys.get(&key) {
            Some((seen, _)) if *seen >= file.order => {}
            _ => {
                keys.insert(key, (file.order, file.size));
            }
        }
    }
    let entries = keys
        .into_iter()
        .take(limit as usize + 1)
        .map(|(key, (_, size))| ListEntry { key, size })
        .collect();
    ListPage::first_of(entries, limit as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'a>(path: &'a str, size: u64, order: u32) -> Found<'a, u32> {
        Found {
            names: path.split('/').collect(),
            size,
            order,
        }
    }

    fn keys(page: &ListPage) -> Vec<(&str, u64)> {
        page.entries
            .iter()
            .map(|e| (e.key.as_str(), e.size))
            .collect()
    }

    #[test]
    fn twins_list_once_as_the_newest_and_bad_names_are_skipped() {
        let files = || {
            vec![
                found("b/x", 5, 1),
                found("a", 1, 1),
                found("b/x", 7, 3),
                found("b/x", 6, 2),
                found("b/..", 9, 1),
                found("c\\d", 9, 1),
            ]
        };
        let page = page(files(), "", None, 10);
        assert_eq!(keys(&page), [("a", 1), ("b/x", 7)]);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn prefix_cursor_and_paging() {
        let files: Vec<String> = (0..25).map(|i| format!("p/k{i:02}")).collect();
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let found = files
                .iter()
                .map(|f| found(f, 1, 0))
                .chain([found("q/k", 1, 0)]);
            let page = page(found, "p/", cursor.as_deref(), 10);
            all.extend(page.entries.iter().map(|e| e.key.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(all, files);
        // A plain string prefix, not only whole segments.
        let some = page(files.iter().map(|f| found(f, 1, 0)), "p/k1", None, 100);
        assert_eq!(some.entries.len(), 10);
    }
}
