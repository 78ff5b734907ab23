//! Where a bucket lives: the endpoint object_store talks to, public object URLs, and
//! the URLs `open_url` accepts.

use mirra_driver_api::{DriverError, DriverResult};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use crate::config::Settings;

/// Everything but RFC 3986's unreserved characters is escaped in a key segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes each `/`-separated segment of `path`, keeping the slashes.
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The URL of the bucket itself, without a trailing slash:
/// `https://BUCKET.HOST` (virtual-hosted style) or `https://HOST/BUCKET` (path style).
pub(crate) fn bucket_url(s: &Settings) -> String {
    if s.path_style {
        return format!("{}/{}", service_url(s), s.bucket);
    }
    match &s.endpoint {
        Some(endpoint) => {
            let host = endpoint.host_str().unwrap_or_default();
            if host.starts_with(&format!("{}.", s.bucket)) {
                trimmed(endpoint)
            } else {
                let mut with_bucket = endpoint.clone();
                // Cannot fail: the endpoint was checked to have a host.
                let _ = with_bucket.set_host(Some(&format!("{}.{host}", s.bucket)));
                trimmed(&with_bucket)
            }
        }
        None => format!("https://{}.s3.{}.amazonaws.com", s.bucket, s.region),
    }
}

/// The endpoint object_store needs: the bucket URL for virtual-hosted style (it
/// expects the bucket in the host), the service URL for path style.
pub(crate) fn store_endpoint(s: &Settings) -> String {
    if s.path_style {
        service_url(s)
    } else {
        bucket_url(s)
    }
}

fn service_url(s: &Settings) -> String {
    match &s.endpoint {
        Some(endpoint) => trimmed(endpoint),
        None => format!("https://s3.{}.amazonaws.com", s.region),
    }
}

fn trimmed(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// Where other clients can read `key`: under `public_url` when configured (which
/// already includes any prefix), else under the bucket URL with the prefix.
pub(crate) fn public_url(s: &Settings, key: &str) -> String {
    match &s.public_url {
        Some(base) => format!("{}/{}", trimmed(base), encode_path(key)),
        None => format!(
            "{}/{}",
            bucket_url(s),
            encode_path(&format!("{}{key}", s.prefix))
        ),
    }
}

/// Anonymous, read-only settings for an `s3://` or AWS `https://` URL.
pub(crate) fn settings_from_url(text: &str) -> DriverResult<Settings> {
    let bad = |why: &str| DriverError::invalid_input(format!("s3 URL {text:?}: {why}"));
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let path = percent_decode_str(url.path())
        .decode_utf8()
        .map_err(|_| bad("path is not UTF-8"))?
        .into_owned();
    let path = path.trim_start_matches('/');
    match url.scheme() {
        "s3" => {
            if host.is_empty() {
                return Err(bad("no bucket"));
            }
            // The global endpoint routes to the bucket's region; dotted names break
            // the TLS wildcard certificate, so they go path style.
            let (endpoint, path_style) = if host.contains('.') {
                ("https://s3.amazonaws.com".to_owned(), true)
            } else {
                (format!("https://{host}.s3.amazonaws.com"), false)
            };
            let endpoint = Url::parse(&endpoint).map_err(|e| bad(&e.to_string()))?;
            Settings::anonymous(Some(endpoint), None, host, path.into(), path_style)
        }
        "https" | "http" if host.ends_with(".amazonaws.com") => {
            let service = host.trim_end_matches(".amazonaws.com");
            let endpoint = Url::parse(&format!("{}://{host}", url.scheme()))
                .map_err(|e| bad(&e.to_string()))?;
            if service == "s3" || service.starts_with("s3.") || service.starts_with("s3-") {
                let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket in the path"));
                }
                let region = region_of(service);
                Settings::anonymous(Some(endpoint), region, bucket.into(), prefix.into(), true)
            } else if let Some((bucket, rest)) = service.split_once(".s3") {
                let region = region_of(&format!("s3{rest}"));
                Settings::anonymous(Some(endpoint), region, bucket.into(), path.into(), false)
            } else {
                Err(bad("not an S3 host"))
            }
        }
        "https" | "http" => Err(bad(
            "not an AWS S3 URL; use the http driver for other web servers",
        )),
        other => Err(bad(&format!("unsupported scheme {other:?}"))),
    }
}

/// `s3.eu-west-1` or `s3-eu-west-1` → `eu-west-1`; plain `s3` → none.
fn region_of(service: &str) -> Option<String> {
    let rest = service.strip_prefix("s3")?;
    let region = rest.trim_start_matches(['.', '-']);
    (!region.is_empty() && !region.starts_with("website")).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_segment() {
        assert_eq!(encode_path("a b/c+d%20/é"), "a%20b/c%2Bd%2520/%C3%A9");
    }

    #[test]
    fn s3_scheme() {
        let s = settings_from_url("s3://my-bucket/some/prefix").unwrap();
        assert!(s.read_only && s.credentials.is_none());
        assert_eq!(s.bucket, "my-bucket");
        assert_eq!(s.prefix, "some/prefix/");
        assert_eq!(store_endpoint(&s), "https://my-bucket.s3.amazonaws.com");
        assert_eq!(
            public_url(&s, "a b.txt"),
            "https://my-bucket.s3.amazonaws.com/some/prefix/a%20b.txt"
        );
        let dotted = settings_from_url("s3://my.bucket").unwrap();
        assert_eq!(
            public_url(&dotted, "k"),
            "https://s3.amazonaws.com/my.bucket/k"
        );
    }

    #[test]
    fn aws_https_forms() {
        let s = settings_from_url("https://alice.s3.amazonaws.com/mirra/").unwrap();
        assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("alice", "mirra/"));
        assert!(!s.path_style);
        assert_eq!(store_endpoint(&s), "https://alice.s3.amazonaws.com");
        let s = settings_from_url("https://alice.s3.eu-west-1.amazonaws.com/x").unwrap();
        assert_eq!(s.region, "eu-west-1");
        let s = settings_from_url("https://s3.us-west-2.amazonaws.com/alice/p/q").unwrap();
        assert!(s.path_style);
        assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("alice", "p/q/"));
        assert_eq!(store_endpoint(&s), "https://s3.us-west-2.amazonaws.com");
        assert!(settings_from_url("https://example.com/x").is_err());
        assert!(settings_from_url("ftp://x/y").is_err());
    }

    #[test]
    fn configured_endpoints() {
        let toml = "bucket = \"b\"\nendpoint = \"http://minio.local:9000\"\nprefix = \"p\"\n\
                    access_key_id = \"a\"\nsecret_access_key = \"s\"\n";
        let mut s = Settings::from_toml(toml).unwrap();
        assert_eq!(
            public_url(&s, "k/x y"),
            "http://b.minio.local:9000/p/k/x%20y"
        );
        s.path_style = true;
        assert_eq!(store_endpoint(&s), "http://minio.local:9000");
        assert_eq!(public_url(&s, "k"), "http://minio.local:9000/b/p/k");
        s.public_url = Some(Url::parse("https://cdn.example/p/").unwrap());
        assert_eq!(public_url(&s, "k"), "https://cdn.example/p/k");
    }
}
