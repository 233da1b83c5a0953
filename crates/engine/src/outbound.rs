//! Requests seqrd sends to URLs a merchant chose (the invoice's own notificationUrl; later, webhooks). Such a URL
//! is attacker-controlled input, so it must never reach seqrd's own network (SSRF):
//! - `https://` only (`http://` where [`MerchantUrlPolicy::allow_http`] is set, for development);
//! - the host must not be, or resolve to, a loopback, private, link-local, shared, multicast, broadcast,
//!   documentation or unspecified address (IPv4, IPv6, and IPv4 inside IPv6), unless
//!   [`MerchantUrlPolicy::allow_private`] is set for development. An IP literal is checked before sending, a name
//!   at send time after DNS resolution, every address it resolves to (the connection then uses only those checked
//!   addresses, so a DNS rebinding between check and use is impossible);
//! - redirects are never followed, and no proxy from the environment is used.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use url::{Host, Url};

/// Which merchant URLs seqrd may send requests to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MerchantUrlPolicy {
    /// Accept `http://` as well as `https://`.
    pub allow_http: bool,
    /// Accept hosts on loopback and private networks.
    pub allow_private: bool,
}

/// Why a merchant URL was refused or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0:?} is not an absolute URL with a host")]
    NotAUrl(String),
    #[error("only https:// merchant URLs are accepted")]
    Scheme,
    #[error("the host {0} is not on the public internet")]
    ForbiddenAddress(String),
    #[error("the merchant answered {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Transport(String),
}

impl OutboundError {
    /// Whether the URL itself is refused (as opposed to a delivery that failed).
    pub fn is_refused(&self) -> bool {
        matches!(self, OutboundError::NotAUrl(_) | OutboundError::Scheme | OutboundError::ForbiddenAddress(_))
    }
}

impl MerchantUrlPolicy {
    /// Checks what can be checked without DNS: the scheme and an IP-literal host (or `localhost`).
    pub fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::NotAUrl(url.to_owned()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(OutboundError::Scheme),
        }
        let forbidden = match parsed.host() {
            None => return Err(OutboundError::NotAUrl(url.to_owned())),
            Some(Host::Ipv4(ip)) => !self.allowed(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => !self.allowed(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                !self.allow_private && (name == "localhost" || name.ends_with(".localhost"))
            }
        };
        if forbidden {
            return Err(OutboundError::ForbiddenAddress(parsed.host_str().unwrap_or_default().to_owned()));
        }
        Ok(parsed)
    }

    /// Whether a request may be sent to this address.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// The HTTP client for merchant URLs: no redirects, no proxy, every resolved address checked.
    pub fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(CheckedResolver { policy: *self }))
            .build()
    }

    /// POSTs an empty body to a merchant URL with `client` (from [`MerchantUrlPolicy::client`]); a 2xx answer is
    /// success, anything else (a redirect included) a failure.
    pub async fn post_empty(&self, client: &reqwest::Client, url: &str) -> Result<(), OutboundError> {
        let url = self.check(url)?;
        match client.post(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(OutboundError::Status(r.status().as_u16())),
            Err(e) => Err(forbidden_in(&e).unwrap_or_else(|| OutboundError::Transport(crate::error_chain(&e)))),
        }
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared (CGNAT), multicast,
/// broadcast, documentation, benchmarking, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 (reaches IPv4 of any kind)
                || (s[0] == 0x2002) // 6to4 2002::/16 (embeds an IPv4)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0))
            // IPv4-compatible ::/96
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network" 0.0.0.0/8
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || a >= 240) // reserved 240.0.0.0/4
}

/// Resolves names with the system resolver and refuses the whole name when any address is not allowed.
struct CheckedResolver {
    policy: MerchantUrlPolicy,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !policy.allowed(a.ip())) {
                let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(OutboundError::ForbiddenAddress(host));
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver's refusal, if that is what made the request fail.
fn forbidden_in(e: &reqwest::Error) -> Option<OutboundError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(OutboundError::ForbiddenAddress(host)) = s.downcast_ref::<OutboundError>() {
            return Some(OutboundError::ForbiddenAddress(host.clone()));
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let strict = MerchantUrlPolicy::default();
        for bad in [
            "http://shop.example/notify",
            "ftp://shop.example/",
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.1.2.3/",
            "https://[::ffff:7f00:1]/",
            "https://localhost/",
            "https://a.localhost./",
            "https://2130706433/",
            "https://0x7f.1/",
            "not a url",
        ] {
            assert!(strict.check(bad).unwrap_err().is_refused(), "{bad}");
        }
        assert!(strict.check("https://shop.example/notify?order=1").is_ok());
        let dev = MerchantUrlPolicy { allow_http: true, allow_private: true };
        assert!(dev.check("http://127.0.0.1:8080/notify").is_ok());
        let http_only = MerchantUrlPolicy { allow_http: true, allow_private: false };
        assert!(matches!(http_only.check("http://127.0.0.1/"), Err(OutboundError::ForbiddenAddress(_))));
    }
}
