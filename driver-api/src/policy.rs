//! Which network addresses (and local files) a provider opened from a URL may reach.
//!
//! A zone file fetched from the network is written by someone else; the host passes an
//! [`AddressPolicy`] to [`DriverFactory::open_url_within`](crate::DriverFactory) so the
//! driver refuses connections that would reach closer to the reader than the zone file
//! came from (its loopback services, its LAN, cloud metadata on link-local). Drivers
//! check every address they are about to connect to, after DNS and on each redirect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How close to the reader an address is, from farthest to closest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressClass {
    /// Anything routable on the internet.
    Public,
    /// RFC 1918, CGNAT (100.64/10), IPv6 unique-local and site-local, multicast,
    /// broadcast and reserved ranges: the reader's own networks, not the internet.
    Private,
    /// 169.254/16 and fe80::/10: the local link, where cloud metadata services live.
    LinkLocal,
    /// 127/8 and ::1: this machine.
    Loopback,
    /// 0.0.0.0/8 and `::`: connecting to them reaches this machine too.
    Unspecified,
}

impl AddressClass {
    const ALL: [Self; 5] = [
        Self::Public,
        Self::Private,
        Self::LinkLocal,
        Self::Loopback,
        Self::Unspecified,
    ];

    /// The class of `ip`; IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4
    /// address inside, so `::ffff:127.0.0.1` is loopback.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, ..] = ip.octets();
        if a == 0 {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_link_local() {
            Self::LinkLocal
        } else if ip.is_private()
            || (a == 100 && (64..128).contains(&b))
            || ip.is_multicast()
            || ip.is_broadcast()
            || a >= 240
        {
            Self::Private
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Self::of_v4(v4);
        }
        let segments = ip.segments();
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            let [.., hi, lo] = segments;
            return Self::of_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
        }
        if ip.is_unspecified() {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_unicast_link_local() {
            Self::LinkLocal
        } else if ip.is_unique_local() || (segments[0] & 0xffc0) == 0xfec0 || ip.is_multicast() {
            Self::Private
        } else {
            Self::Public
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The lowercase name used in messages: `public`, `private`, `link-local`,
    /// `loopback`, `unspecified`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Loopback => "loopback",
            Self::Unspecified => "unspecified",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a provider opened from a URL may reach: address classes, a few exact addresses
/// besides, and whether it may open local files at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    classes: u32,
    also: Vec<IpAddr>,
    local_files: bool,
}

impl AddressPolicy {
    /// Everything: any address, local files too (a zone file the user has on disk).
    pub fn unrestricted() -> Self {
        Self {
            classes: AddressClass::ALL
                .iter()
                .map(|c| c.bit())
                .fold(0, |a, b| a | b),
            also: Vec::new(),
            local_files: true,
        }
    }

    /// Public addresses only, no local files: a zone file from stdin or the internet.
    pub fn public_only() -> Self {
        Self::reaching(AddressClass::Public, None)
    }

    /// What a zone file fetched from `origin` may reach: every class strictly farther
    /// than `origin`'s, plus `origin` itself (the server that handed out the zone file
    /// may serve its data too), and no local files.
    pub fn from_origin(origin: IpAddr) -> Self {
        Self::reaching(AddressClass::of(origin), Some(origin))
    }

    fn reaching(class: AddressClass, origin: Option<IpAddr>) -> Self {
        let classes = AddressClass::ALL
            .iter()
            .filter(|c| **c == AddressClass::Public || **c < class)
            .map(|c| c.bit())
            .fold(0, |a, b| a | b);
        Self {
            classes,
            also: origin.into_iter().collect(),
            local_files: false,
        }
    }

    /// Whether this policy allows everything (no check is needed at all).
    pub fn is_unrestricted(&self) -> bool {
        *self == Self::unrestricted()
    }

    /// Whether a driver may open local files (e.g. `file://` URLs).
    pub fn allows_local_files(&self) -> bool {
        self.local_files
    }

    /// Whether connecting to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.classes & AddressClass::of(ip).bit() != 0 || self.also.contains(&canonical(ip))
    }

    /// `Ok` if connecting to `ip` is allowed, else the reason, naming the address and
    /// its class, for an error message.
    ///
    /// # Errors
    /// The refusal, as text.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(format!(
                "refused by the address policy: {ip} is a {} address, closer than the zone file came from (pass --allow-local-targets to allow it)",
                AddressClass::of(ip)
            ))
        }
    }

    /// Resolves `host` (a DNS name or an address literal, without port) and keeps the
    /// addresses this policy allows, for a driver's DNS resolver. Blocking.
    ///
    /// # Errors
    /// The resolver's error, or `PermissionDenied` whose message starts with
    /// `refused by the address policy` when every address is refused.
    pub fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        use std::net::ToSocketAddrs;
        let all: Vec<IpAddr> = (host, 0).to_socket_addrs()?.map(|a| a.ip()).collect();
        let allowed: Vec<IpAddr> = all.iter().copied().filter(|ip| self.allows(*ip)).collect();
        match all.iter().find(|ip| !self.allows(**ip)) {
            Some(refused) if allowed.is_empty() => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{host}: {}", self.check(*refused).unwrap_err()),
            )),
            _ => Ok(allowed),
        }
    }

    /// The exact addresses allowed besides whole classes.
    pub fn extra_addresses(&self) -> &[IpAddr] {
        &self.also
    }

    /// The classes allowed, as wire bits (bit `n` for the `n`th [`AddressClass`]).
    pub fn class_bits(&self) -> u32 {
        self.classes
    }

    /// A policy from its wire form; unknown class bits are ignored.
    pub fn from_parts(class_bits: u32, also: Vec<IpAddr>, local_files: bool) -> Self {
        Self {
            classes: class_bits,
            also: also.into_iter().map(canonical).collect(),
            local_files,
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they hold.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classed_by_closeness() {
        let cases = [
            ("8.8.8.8", AddressClass::Public),
            ("2606:4700::1111", AddressClass::Public),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("fd00::1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.9.9.9", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
        ];
        for (text, class) in cases {
            assert_eq!(AddressClass::of(ip(text)), class, "{text}");
        }
    }

    #[test]
    fn an_origin_reaches_farther_classes_and_itself_only() {
        let policy = AddressPolicy::from_origin(ip("127.0.0.2"));
        assert!(policy.allows(ip("8.8.8.8")));
        assert!(policy.allows(ip("10.0.0.1")));
        assert!(policy.allows(ip("169.254.169.254")));
        assert!(policy.allows(ip("127.0.0.2")));
        assert!(policy.allows(ip("::ffff:127.0.0.2")));
        assert!(!policy.allows(ip("127.0.0.1")));
        assert!(!policy.allows(ip("0.0.0.0")));
        assert!(!policy.allows_local_files());
        let public = AddressPolicy::public_only();
        assert!(!public.allows(ip("10.0.0.1")));
        let err = public.check(ip("127.0.0.1")).unwrap_err();
        assert!(err.contains("127.0.0.1 is a loopback address"), "{err}");
        assert!(AddressPolicy::unrestricted().allows(ip("0.0.0.0")));
        assert!(AddressPolicy::unrestricted().is_unrestricted());
        assert!(!public.is_unrestricted());
    }

    #[test]
    fn names_are_judged_by_what_they_resolve_to() {
        let err = AddressPolicy::public_only()
            .resolve("localhost")
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            err.to_string().contains("refused by the address policy"),
            "{err}"
        );
        let ok = AddressPolicy::unrestricted().resolve("localhost").unwrap();
        assert!(ok.iter().all(|ip| ip.is_loopback()), "{ok:?}");
    }
}
