//! Holding an opened-from-URL provider to the host's [`AddressPolicy`]: object_store
//! gets an HTTP client whose DNS resolver drops refused addresses, which follows no
//! redirects and uses no proxy; an endpoint that is an address literal is checked here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mirra_driver_api::{AddressPolicy, DriverError, ErrorKind};
use object_store::client::{HttpClient, HttpConnector};
use object_store::ClientOptions;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Resolves names like the system resolver, minus the addresses the policy refuses.
struct PolicyResolver(AddressPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = tokio::task::spawn_blocking(move || policy.resolve(&host)).await??;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Builds object_store's HTTP client under a policy.
#[derive(Debug)]
pub(crate) struct PolicyConnector {
    pub policy: AddressPolicy,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub allow_http: bool,
}

impl HttpConnector for PolicyConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .https_only(!self.allow_http)
            // Through a proxy the address checked would be the proxy's.
            .no_proxy()
            // A redirect could point at an address literal the resolver never sees.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver(self.policy.clone())))
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(HttpClient::new(client))
    }
}

/// `Ok` unless `endpoint`'s host is an address literal the policy refuses (a name is
/// checked when it is resolved, at connect time).
pub(crate) fn check_endpoint(policy: &AddressPolicy, endpoint: &str) -> Result<(), DriverError> {
    let refused =
        |why: String| DriverError::new(ErrorKind::PermissionDenied, why).with_retryable(false);
    let url = Url::parse(endpoint)
        .map_err(|e| DriverError::invalid_input(format!("s3 endpoint {endpoint:?}: {e}")))?;
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    policy.check(ip).map_err(refused)
}

/// The refusal as a driver error, if `message` is one.
pub(crate) fn refusal(message: &str) -> Option<DriverError> {
    message
        .contains("refused by the address policy")
        .then(|| DriverError::new(ErrorKind::PermissionDenied, message).with_retryable(false))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use mirra_driver_api::{Key, StorageDriver};

    use super::*;
    use crate::config::Settings;
    use crate::driver::S3Driver;

    #[test]
    fn a_name_resolving_to_loopback_is_refused_at_connect_time_without_retries() {
        // Nothing listens on port 9; a refused connection would say so, not "policy".
        let mut settings = Settings::from_toml(
            "endpoint = \"http://localhost:9\"\nbucket = \"b\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\npath_style = true\n",
        )
        .unwrap();
        settings.policy = Some(AddressPolicy::public_only());
        let driver = S3Driver::open(settings).unwrap();
        let started = Instant::now();
        let err = driver.stat(&Key::parse("k").unwrap()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
        assert!(!err.retryable);
        assert!(err.message.contains("loopback"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_endpoint_literal_is_refused_when_opened() {
        let mut settings =
            Settings::from_toml("endpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n").unwrap();
        settings.policy = Some(AddressPolicy::public_only());
        let err = S3Driver::open(settings).unwrap_err();
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    }
}
