//! The WebDAV parts: creating parent collections (MKCOL) and listing by walking
//! collections with `PROPFIND Depth: 1`.

use mirra_driver_api::{DriverError, DriverResult, Key, ListEntry};
use percent_encoding::percent_decode_str;
use quick_xml::events::Event;
use quick_xml::Reader;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::driver::Remote;
use crate::errors::status_error;

/// Collections deeper than this are not walked: a loop guard against odd servers.
const MAX_DEPTH: usize = 64;

const PROPFIND_BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>";

/// Creates every missing ancestor collection of `key`, outermost first.
pub(crate) fn make_parents(remote: &Remote, key: &Key) -> DriverResult<()> {
    let segments: Vec<&str> = key.segments().collect();
    let mut path = String::new();
    for segment in &segments[..segments.len() - 1] {
        path.push_str(segment);
        path.push('/');
        let request = remote.request(Method::from_bytes(b"MKCOL").expect("valid method"), &path)?;
        let status = remote.send(request, "MKCOL", &path)?.status();
        // 405: something already exists there, which for a parent is the collection.
        if !status.is_success() && status != StatusCode::METHOD_NOT_ALLOWED {
            return Err(status_error(status, "MKCOL", &path));
        }
    }
    Ok(())
}

/// Creates the parent collections of `key` unless its parent already exists.
///
/// Streamed writes call this before their PUT: a server refusing a large body with
/// 409 closes the connection mid-upload, so the 409 may never be read.
pub(crate) fn ensure_parent(remote: &Remote, key: &Key) -> DriverResult<()> {
    let Some((parent, _)) = key.as_str().rsplit_once('/') else {
        return Ok(());
    };
    let dir = format!("{parent}/");
    let request = remote
        .request(Method::from_bytes(b"PROPFIND").expect("valid method"), &dir)?
        .header("Depth", "0")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/xml; charset=utf-8",
        )
        .body(PROPFIND_BODY);
    let status = remote.send(request, "PROPFIND", &dir)?.status();
    match status {
        StatusCode::MULTI_STATUS => Ok(()),
        StatusCode::NOT_FOUND | StatusCode::CONFLICT => make_parents(remote, key),
        status => Err(status_error(status, "PROPFIND", &dir)),
    }
}

/// One `<response>` of a multistatus answer.
#[derive(Debug, Default, PartialEq)]
struct DavEntry {
    /// Decoded path relative to the base URL, without a trailing `/`.
    path: String,
    collection: bool,
    size: u64,
}

/// Every object whose key starts with `prefix`, in no particular order.
pub(crate) fn walk(remote: &Remote, prefix: &str) -> DriverResult<Vec<ListEntry>> {
    // Start at the deepest collection that holds every possible match.
    let start = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    let mut found = Vec::new();
    let mut pending = vec![(start.to_owned(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let Some(entries) = propfind(remote, &dir)? else {
            continue;
        };
        for entry in entries {
            if entry.path.is_empty() || format!("{}/", entry.path) == dir {
                continue; // the collection itself
            }
            if entry.collection {
                let child = format!("{}/", entry.path);
                let relevant = child.starts_with(prefix) || prefix.starts_with(&child);
                if relevant && depth < MAX_DEPTH && child.len() > dir.len() {
                    pending.push((child, depth + 1));
                }
            } else if entry.path.starts_with(prefix) {
                found.push(ListEntry {
                    key: entry.path,
                    size: entry.size,
                });
            }
        }
    }
    Ok(found)
}

/// The members of collection `dir` (`""` or ending with `/`); `None` if it is missing.
fn propfind(remote: &Remote, dir: &str) -> DriverResult<Option<Vec<DavEntry>>> {
    let request = remote
        .request(Method::from_bytes(b"PROPFIND").expect("valid method"), dir)?
        .header("Depth", "1")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/xml; charset=utf-8",
        )
        .body(PROPFIND_BODY);
    let response = remote.send(request, "PROPFIND", dir)?;
    match response.status() {
        StatusCode::MULTI_STATUS => {}
        StatusCode::NOT_FOUND => return Ok(None),
        status if status.is_success() => {
            return Err(DriverError::other(format!(
                "http PROPFIND {dir}: expected 207 Multi-Status, got {status}: not a WebDAV server?"
            )))
        }
        status => return Err(status_error(status, "PROPFIND", dir)),
    }
    let body = response
        .text()
        .map_err(|e| crate::errors::transport_error(e, "PROPFIND", dir))?;
    parse_multistatus(&body, &remote.settings.base_url)
        .map(Some)
        .map_err(|e| DriverError::other(format!("http PROPFIND {dir}: bad answer: {e}")))
}

/// Parses a `207 Multi-Status` body into entries relative to `base`.
fn parse_multistatus(xml: &str, base: &Url) -> Result<Vec<DavEntry>, String> {
    let base_path = decode(base.path())?;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut entries = Vec::new();
    let mut current: Option<(String, DavEntry)> = None; // (raw href, entry)
    let mut element = Vec::<u8>::new();
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().as_bytes().to_vec();
                match name.as_slice() {
                    b"response" => current = Some((String::new(), DavEntry::default())),
                    b"collection" => {
                        if let Some((_, entry)) = current.as_mut() {
                            entry.collection = true;
                        }
                    }
                    _ => {}
                }
                element = name;
            }
            Event::Text(t) => {
                append_text(&mut current, &element, &t);
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => match &*r {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                append_text(&mut current, &element, &text);
            }
            Event::End(e) => {
                if e.local_name().as_ref() == "response" {
                    if let Some((href, mut entry)) = current.take() {
                        entry.path = relative_path(&href, &base_path)?;
                        entries.push(entry);
                    }
                }
                element.clear();
            }
            Event::Eof => return Ok(entries),
            _ => {}
        }
    }
}

fn append_text(current: &mut Option<(String, DavEntry)>, element: &[u8], text: &str) {
    let Some((href, entry)) = current.as_mut() else {
        return;
    };
    match element {
        b"href" => href.push_str(text),
        b"getcontentlength" => entry.size = text.trim().parse().unwrap_or(0),
        _ => {}
    }
}

/// The decoded path of `href` (absolute URL or absolute path) relative to the base
/// path, without a trailing `/`.
fn relative_path(href: &str, base_path: &str) -> Result<String, String> {
    let path = match Url::parse(href) {
        Ok(url) => url.path().to_owned(),
        Err(_) => href.to_owned(),
    };
    let path = decode(&path)?;
    let relative = path
        .strip_prefix(base_path)
        .or_else(|| path.strip_prefix(base_path.trim_end_matches('/')))
        .ok_or_else(|| format!("href {href:?} is outside the base path {base_path:?}"))?;
    Ok(relative.trim_matches('/').to_owned())
}

fn decode(path: &str) -> Result<String, String> {
    percent_decode_str(path)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("{path:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>/dav/dir/</D:href>
    <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop>
    <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>http://h/dav/dir/a%20b+c%2520d.txt</D:href>
    <D:propstat><D:prop><D:resourcetype/><D:getcontentlength>42</D:getcontentlength></D:prop>
    <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/dav/dir/x&amp;y/</D:href>
    <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop>
    <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>"#;

    #[test]
    fn parses_hrefs_sizes_and_collections() {
        let base = Url::parse("http://h/dav/").unwrap();
        let entries = parse_multistatus(ANSWER, &base).unwrap();
        assert_eq!(
            entries,
            [
                DavEntry {
                    path: "dir".into(),
                    collection: true,
                    size: 0
                },
                DavEntry {
                    path: "dir/a b+c%20d.txt".into(),
                    collection: false,
                    size: 42
                },
                DavEntry {
                    path: "dir/x&y".into(),
                    collection: true,
                    size: 0
                },
            ]
        );
    }

    #[test]
    fn hrefs_outside_the_base_are_errors() {
        assert!(relative_path("/other/x", "/dav/").is_err());
        assert_eq!(relative_path("/dav", "/dav/").unwrap(), "");
    }
}
