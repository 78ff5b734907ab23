//! Holding an opened-from-URL provider to the host's [`AddressPolicy`]: a DNS resolver
//! that drops refused addresses, a redirect policy that checks address literals (names
//! go through the resolver again), and a check of the base URL itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mirra_driver_api::{AddressPolicy, DriverError, ErrorKind};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

/// Most redirects followed for one request, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

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

/// The address literal in `url`'s host, if it is one (a name is checked when resolved).
fn literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// `Ok` unless `url` names a refused address literal or a scheme other than http(s).
pub(crate) fn check_url(policy: &AddressPolicy, url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "refused by the address policy: scheme {:?} is not http(s)",
            url.scheme()
        ));
    }
    literal(url).map_or(Ok(()), |ip| policy.check(ip))
}

/// Applies `policy` to a client being built: every connection, every redirect, and no
/// proxy (through a proxy the address checked would be the proxy's, not the target's).
pub(crate) fn restrict(
    builder: reqwest::blocking::ClientBuilder,
    policy: &AddressPolicy,
) -> reqwest::blocking::ClientBuilder {
    let for_redirects = policy.clone();
    builder
        .no_proxy()
        .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
        .redirect(redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_url(&for_redirects, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(why),
            }
        }))
}

/// The refusal as a driver error, if `message` is one.
pub(crate) fn refusal(message: &str) -> Option<DriverError> {
    message
        .contains("refused by the address policy")
        .then(|| DriverError::new(ErrorKind::PermissionDenied, message).with_retryable(false))
}
