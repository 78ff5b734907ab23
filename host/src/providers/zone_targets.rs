//! Opening a zone file's URI record under the address policy of the zone file's origin.
//!
//! Drivers built against mirra-driver-api 1.1 get the policy through `open_url_within`
//! and check every address they connect to (after DNS, on each redirect). A driver
//! that cannot (older, or one that answers `Unsupported`) is opened only when the host
//! can tell by itself that its target is allowed: the target's host is resolved here
//! and every address must pass. That check is made once, before opening, so such a
//! driver is never given a `file://` or host-less target, and a later DNS change could
//! still reach a refused address; the guide says so.

use mirra_driver_api::{AddressPolicy, DriverLibrary, ErrorKind, HostContext, LoadedDriver};

/// The text drivers and this module put in every refusal, which reports key on.
pub(super) const REFUSAL_MARK: &str = "refused by the address policy";

/// Why a record was not opened.
#[derive(Debug)]
pub(super) enum NotOpened {
    /// The policy refused the target: the record is `skipped`.
    Refused(String),
    /// The driver could not open it: the record `failed`.
    Failed(String),
}

/// Opens `target` with `library` as `policy` allows.
pub(super) fn open_target(
    library: &DriverLibrary,
    target: &str,
    policy: &AddressPolicy,
) -> Result<LoadedDriver, NotOpened> {
    let name = &library.info().name;
    let failed = |e: mirra_driver_api::DriverError| {
        if e.message.contains(REFUSAL_MARK) {
            NotOpened::Refused(e.message)
        } else {
            NotOpened::Failed(format!("driver {name} cannot open it: {e}"))
        }
    };
    if policy.is_unrestricted() {
        return library
            .open_url(HostContext::default(), target)
            .map_err(failed);
    }
    match library.open_url_within(HostContext::default(), target, policy) {
        Err(e) if e.kind == ErrorKind::Unsupported => {
            precheck(target, policy).map_err(|why| {
                NotOpened::Refused(format!(
                    "{REFUSAL_MARK}: driver {name} cannot hold its connections to the policy, and {why}"
                ))
            })?;
            tracing::warn!(
                "driver {name} cannot check addresses at connect time; {target:?} was checked once before opening"
            );
            library
                .open_url(HostContext::default(), target)
                .map_err(failed)
        }
        other => other.map_err(failed),
    }
}

/// `Ok` when every address `target`'s host resolves to is allowed; else why not.
fn precheck(target: &str, policy: &AddressPolicy) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let url = reqwest::Url::parse(target).map_err(|e| format!("the target is not a URL ({e})"))?;
    if url.scheme() == "file" {
        return Err("file:// targets open local files".into());
    }
    let host = url
        .host_str()
        .ok_or("the target names no host to check")?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let all: Vec<_> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("its host {host} cannot be checked: {e}"))?
        .collect();
    if all.is_empty() {
        return Err(format!("its host {host} resolves to no address"));
    }
    all.iter()
        .try_for_each(|address| policy.check(address.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prechecks_refuse_local_files_and_close_addresses() {
        let public = AddressPolicy::public_only();
        let err = precheck("file:///etc/passwd", &public).unwrap_err();
        assert!(err.contains("local files"), "{err}");
        let err = precheck("http://127.0.0.1:9/x", &public).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = precheck("http://localhost:9/x", &public).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = precheck("dht+udp://abcdef", &public).unwrap_err();
        assert!(err.contains("abcdef"), "{err}");
        let near = AddressPolicy::from_origin("127.0.0.1".parse().unwrap());
        assert!(precheck("http://127.0.0.1:9/x", &near).is_ok());
    }
}
