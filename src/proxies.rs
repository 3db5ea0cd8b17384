//! Trusted proxies (`http.trusted_proxies`) and the client-IP rule (DESIGN §4).
//!
//! The chain of addresses a request went through is the `X-Forwarded-For` entries, left
//! to right, then the socket peer. Only the right end of it can be believed: each trusted
//! proxy appends the address it received the request from, and anything to the left of
//! what our own proxies wrote was written by the client. So the client IP is read from the
//! RIGHT, skipping exactly the trusted hops (the peer is the first hop):
//!
//! - `Hops(n)`: the n-th address from the right is a trusted proxy at most; the one after
//!   it is the client. `0` ignores the header (the peer is the client).
//! - `List(nets)`: addresses in the list (IPs or CIDRs) are skipped from the right while
//!   they match; the first one that does not is the client. A peer outside the list means
//!   the header is ignored.
//!
//! Parsed once at start-up; an invalid entry stops start-up naming the key.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IP network: `addr/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` bits (from the top) of `a` and `b` are equal.
fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix.min(128)));
    a & mask == b & mask
}

/// Which proxies in front of the server are trusted to write `X-Forwarded-For`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedProxies {
    Hops(usize),
    List(Vec<Cidr>),
}

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::Hops(0)
    }
}

impl TrustedProxies {
    /// From the config value: a number of hops, or a list (or comma-separated string) of
    /// addresses / CIDRs. `None` names the bad entry.
    pub fn parse(raw: &RawTrustedProxies) -> Result<Self, String> {
        let items: Vec<String> = match raw {
            RawTrustedProxies::Hops(n) => return Ok(Self::Hops(*n)),
            RawTrustedProxies::List(list) => list.clone(),
            RawTrustedProxies::Text(text) => {
                if let Ok(n) = text.trim().parse::<usize>() {
                    return Ok(Self::Hops(n));
                }
                text.split(',').map(str::to_string).collect()
            }
        };
        items
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| Cidr::parse(s).ok_or_else(|| s.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Self::Hops(0)) || matches!(self, Self::List(l) if l.is_empty())
    }

    /// The client IP of a request from `peer` carrying `forwarded` (the
    /// `X-Forwarded-For` header values, in order). See the module docs.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded: &[&str]) -> Option<IpAddr> {
        let peer = peer.map(|p| p.to_canonical());
        if self.is_none() {
            return peer;
        }
        // Right to left: the peer, then the header entries from the last one.
        let mut chain = forwarded
            .iter()
            .rev()
            .flat_map(|h| h.rsplit(','))
            .map(str::trim);
        let mut current = peer?;
        match self {
            Self::Hops(n) => {
                for _ in 1..*n {
                    let Some(next) = chain.next() else {
                        return Some(current);
                    };
                    match parse_ip(next) {
                        Some(ip) => current = ip,
                        None => return Some(current),
                    }
                }
                match chain.next() {
                    Some(next) => parse_ip(next).or(Some(current)),
                    None => Some(current),
                }
            }
            Self::List(nets) => {
                while nets.iter().any(|n| n.contains(current)) {
                    let Some(next) = chain.next() else {
                        return Some(current);
                    };
                    match parse_ip(next) {
                        Some(ip) => current = ip,
                        // A trusted proxy passed on something that is not an address.
                        None => return Some(current),
                    }
                }
                Some(current)
            }
        }
    }
}

/// The config value as written: `2`, `"2"`, `["10.0.0.0/8", "::1"]` or `"10.0.0.0/8,::1"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawTrustedProxies {
    Hops(usize),
    List(Vec<String>),
    Text(String),
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&RawTrustedProxies::List(
            items.iter().map(|s| s.to_string()).collect(),
        ))
        .unwrap()
    }

    #[test]
    fn cidrs_match() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "v4-mapped v6");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("1.2.3.4").unwrap().contains(ip("1.2.3.4")));
        assert!(!Cidr::parse("1.2.3.4").unwrap().contains(ip("1.2.3.5")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", "::/129", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn config_values() {
        assert_eq!(
            TrustedProxies::parse(&RawTrustedProxies::Hops(2)),
            Ok(TrustedProxies::Hops(2))
        );
        assert_eq!(
            TrustedProxies::parse(&RawTrustedProxies::Text("1".into())),
            Ok(TrustedProxies::Hops(1))
        );
        assert_eq!(
            TrustedProxies::parse(&RawTrustedProxies::Text("10.0.0.0/8, ::1".into())),
            Ok(list(&["10.0.0.0/8", "::1"]))
        );
        assert_eq!(
            TrustedProxies::parse(&RawTrustedProxies::Text("10.0.0.0/8,bogus".into())),
            Err("bogus".into())
        );
    }

    #[test]
    fn hops_read_from_the_right() {
        let peer = Some(ip("10.0.0.1"));
        let none = TrustedProxies::Hops(0);
        assert_eq!(none.client_ip(peer, &["6.6.6.6"]), peer);
        let one = TrustedProxies::Hops(1);
        // The client wrote 6.6.6.6; our proxy appended the address it saw.
        assert_eq!(
            one.client_ip(peer, &["6.6.6.6, 1.2.3.4"]),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            one.client_ip(peer, &["6.6.6.6", "1.2.3.4"]),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(one.client_ip(peer, &[]), peer);
        assert_eq!(one.client_ip(peer, &["1.2.3.4:5678"]), Some(ip("1.2.3.4")));
        let two = TrustedProxies::Hops(2);
        assert_eq!(
            two.client_ip(peer, &["6.6.6.6, 1.2.3.4, 10.0.0.9"]),
            Some(ip("1.2.3.4"))
        );
        // Fewer entries than hops: the left-most one we have.
        assert_eq!(two.client_ip(peer, &["1.2.3.4"]), Some(ip("1.2.3.4")));
        // Garbage where the client IP should be: the last trusted hop.
        assert_eq!(one.client_ip(peer, &["junk"]), peer);
    }

    #[test]
    fn lists_skip_only_trusted_addresses() {
        let proxies = list(&["10.0.0.0/8", "192.168.1.1"]);
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(
            proxies.client_ip(peer, &["6.6.6.6, 1.2.3.4, 192.168.1.1, 10.9.9.9"]),
            Some(ip("1.2.3.4"))
        );
        // An untrusted peer: the header is not read at all.
        assert_eq!(
            proxies.client_ip(Some(ip("1.2.3.4")), &["6.6.6.6"]),
            Some(ip("1.2.3.4"))
        );
        // Only trusted addresses: the left-most.
        assert_eq!(proxies.client_ip(peer, &["10.1.1.1"]), Some(ip("10.1.1.1")));
        assert_eq!(proxies.client_ip(peer, &["junk"]), peer);
    }
}
