//! Reading a zone file for `lookup` and `serve --zonefile`, and knowing where it came
//! from: a zone file may make mirra reach no closer to this machine than its origin.

use std::net::IpAddr;

use anyhow::Context;
use mirra_driver_api::{AddressClass, AddressPolicy};
use tokio::io::AsyncReadExt;

use crate::config::DEFAULT_TIMEOUT;
use crate::zonefile::DEFAULT_SIZE_LIMIT;

/// Where a zone file's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// A file on this machine: the user's own, trusted as much as the user.
    LocalFile,
    /// Standard input: typically piped from elsewhere, so trusted like the internet.
    Stdin,
    /// Fetched over http(s) from this address (after DNS; redirects stay on one host).
    Remote(IpAddr),
}

impl Origin {
    /// What targets in a zone file from here may reach; `allow_local` (the
    /// `--allow-local-targets` flag) lifts every limit.
    pub(super) fn policy(&self, allow_local: bool) -> AddressPolicy {
        match self {
            _ if allow_local => AddressPolicy::unrestricted(),
            Self::LocalFile => AddressPolicy::unrestricted(),
            Self::Stdin => AddressPolicy::public_only(),
            Self::Remote(ip) => AddressPolicy::from_origin(*ip),
        }
    }

    /// For reports: `local file`, `stdin`, or `127.0.0.2 (loopback)`.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::LocalFile => "local file".into(),
            Self::Stdin => "stdin".into(),
            Self::Remote(ip) => format!("{ip} ({})", AddressClass::of(*ip)),
        }
    }
}

/// A zone file's bytes and where they came from.
#[derive(Debug)]
pub(super) struct ZoneSource {
    pub bytes: Vec<u8>,
    pub origin: Origin,
}

/// The zone file at `source` (a path, `-` for stdin, or an http(s) URL), at most
/// [`DEFAULT_SIZE_LIMIT`] bytes of it.
pub(super) async fn read_zonefile(source: &str) -> anyhow::Result<ZoneSource> {
    let limit = DEFAULT_SIZE_LIMIT;
    let too_large = || anyhow::anyhow!("zone file {source} is larger than the {limit}-byte limit");
    let lower = source.to_ascii_lowercase();
    let (bytes, origin) = if lower.starts_with("http://") || lower.starts_with("https://") {
        fetch(source, limit).await?
    } else if source == "-" {
        let bytes = read_limited(tokio::io::stdin(), limit)
            .await
            .context("reading the zone file from stdin")?;
        (bytes, Origin::Stdin)
    } else {
        let file = tokio::fs::File::open(source)
            .await
            .with_context(|| format!("opening zone file {source}"))?;
        let bytes = read_limited(file, limit)
            .await
            .with_context(|| format!("reading zone file {source}"))?;
        (bytes, Origin::LocalFile)
    };
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(ZoneSource { bytes, origin })
}

/// GETs a zone file, following redirects only within the same host, so the address the
/// bytes came from is the address of the host the user named.
async fn fetch(source: &str, limit: usize) -> anyhow::Result<(Vec<u8>, Origin)> {
    let too_large = || anyhow::anyhow!("zone file {source} is larger than the {limit}-byte limit");
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let same_host = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host() == attempt.url().host());
        if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else if same_host {
            attempt.follow()
        } else {
            attempt.error("the zone file redirects to another host; fetch that URL instead")
        }
    });
    let client = reqwest::Client::builder()
        .timeout(DEFAULT_TIMEOUT)
        .redirect(redirects)
        // Through a proxy, the address below would be the proxy's.
        .no_proxy()
        .build()
        .context("starting the HTTP client")?;
    let mut response = client
        .get(source)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching zone file {source}"))?;
    let address = response
        .remote_addr()
        .with_context(|| format!("fetching zone file {source}: the peer address is unknown"))?;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("fetching zone file {source}"))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > limit {
            return Err(too_large());
        }
    }
    Ok((bytes, Origin::Remote(address.ip())))
}

/// Up to `limit + 1` bytes: one more than allowed is enough to know it is too large.
async fn read_limited(
    reader: impl tokio::io::AsyncRead + Unpin,
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_set_the_reach_of_their_targets() {
        let loopback: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(Origin::LocalFile.policy(false).is_unrestricted());
        assert!(!Origin::Stdin.policy(false).allows(other));
        let remote = Origin::Remote(loopback).policy(false);
        assert!(remote.allows(loopback) && !remote.allows(other));
        assert!(!remote.allows_local_files());
        assert!(Origin::Remote(loopback).policy(true).is_unrestricted());
        assert_eq!(Origin::Remote(loopback).describe(), "127.0.0.2 (loopback)");
    }
}
