//! The client's address behind a reverse proxy: `server.trusted_proxies` (issue 13).
//!
//! Behind a proxy every request arrives from the proxy's address, so the per-client rate limit
//! would put a whole deployment's users in one bucket. A proxy says whom it relayed in
//! `Forwarded` (RFC 7239, `for=`) or `X-Forwarded-For`; but any client can send those headers
//! too, so they are read only when the request's peer is a proxy the operator listed, and then
//! only as far as they were written by listed proxies:
//!
//! - the peer is not a trusted proxy: the peer's address, whatever the headers say (a spoofed
//!   header from a client directly on the server changes nothing);
//! - it is: the chain of `Forwarded` `for=` values (or, when there is no `Forwarded` header,
//!   of `X-Forwarded-For`) is read from the right, where the nearest proxy appended, and the
//!   first address that is not a trusted proxy is the client. Everything left of it was
//!   written by the client or by proxies nobody vouches for, so it is never used;
//! - an entry that is not an address (`unknown`, an obfuscated `_name`, garbage): the address
//!   of the trusted proxy that relayed it, the nearest address known to be true;
//! - every entry is a trusted proxy: the left-most one.
//!
//! The default trusts nobody, so a server reached directly can never be fooled.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;

/// One network: an address and the number of leading bits that must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            format!("'{text}' is not an IP address or a network such as 10.0.0.0/8 or fd00::/8")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => {
                    return Err(format!(
                        "'{text}': the prefix length must be a number from 0 to {max}"
                    ))
                }
            },
        };
        Ok(Self { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose forwarding headers are believed. Empty (the default): nobody's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// Addresses and networks, separated by commas: `127.0.0.1, 10.0.0.0/8, fd00::/8`. An empty
    /// text trusts nobody.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the listed proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// How `videoroom config` shows the list.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "(none)".into();
        }
        self.0
            .iter()
            .map(|n| format!("{}/{}", n.address, n.prefix))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The client of a request that came from `peer` with `headers` (see the module
    /// documentation).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut nearest = peer;
        for entry in chain.iter().rev() {
            let Some(ip) = entry else {
                return nearest;
            };
            if !self.contains(*ip) {
                return *ip;
            }
            nearest = *ip;
        }
        nearest
    }
}

/// The relayed addresses, left (first hop) to right (nearest proxy); `None` for an entry that
/// is not an address. `Forwarded` wins when present: it is the standard, and a proxy that
/// writes it has no reason to write a different `X-Forwarded-For`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("forwarded")
        .flat_map(|value| {
            let text = value.to_str().unwrap_or("\u{0}");
            text.split(',')
                .map(|element| {
                    element
                        .split(';')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                        .and_then(|(_, node)| parse_node(node))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .flat_map(|value| {
            let text = value.to_str().unwrap_or("\u{0}");
            text.split(',').map(parse_node).collect::<Vec<_>>()
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`,
/// `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    // IPv4 with a port (an IPv6 address without brackets parsed above).
    node.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_list_takes_addresses_and_networks_and_refuses_anything_else_by_name() {
        let list = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8 ,fd00::/8,").unwrap();
        assert!(list.contains(ip("127.0.0.1")));
        assert!(!list.contains(ip("127.0.0.2")));
        assert!(list.contains(ip("10.200.3.4")));
        assert!(list.contains(ip("::ffff:10.1.1.1")), "an IPv4-mapped peer");
        assert!(list.contains(ip("fd12::1")));
        assert!(!list.contains(ip("fe80::1")));
        assert_eq!(list.describe(), "127.0.0.1/32, 10.0.0.0/8, fd00::/8");
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("203.0.113.9")));
        for bad in ["proxy.local", "10.0.0.0/33", "::/129", "10.0.0.1/x"] {
            let err = TrustedProxies::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_claims() {
        let nobody = TrustedProxies::default();
        let spoofed = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.8"),
        ]);
        assert_eq!(
            nobody.client(ip("203.0.113.1"), &spoofed),
            ip("203.0.113.1")
        );
        let proxy = TrustedProxies::parse("10.0.0.1").unwrap();
        assert_eq!(proxy.client(ip("203.0.113.1"), &spoofed), ip("203.0.113.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.1");
        // The client wrote the first entry itself; the proxy appended its real address.
        let relayed = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(proxies.client(peer, &relayed), ip("198.51.100.7"));
        // Two proxies in a row, the inner one trusted too; several header lines.
        let two_hops = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7, 10.0.0.9"),
        ]);
        assert_eq!(proxies.client(peer, &two_hops), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(proxies.client(peer, &HeaderMap::new()), peer);
        // Everything trusted: the left-most.
        let inside = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.9")]);
        assert_eq!(proxies.client(peer, &inside), ip("10.1.1.1"));
        // Not an address: the trusted proxy that relayed it.
        let unknown = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.9")]);
        assert_eq!(proxies.client(peer, &unknown), ip("10.0.0.9"));
    }

    #[test]
    fn forwarded_is_read_with_ports_brackets_and_quotes_and_wins_over_x_forwarded_for() {
        let proxies = TrustedProxies::parse("10.0.0.1").unwrap();
        let peer = ip("10.0.0.1");
        let both = headers(&[
            ("x-forwarded-for", "192.0.2.99"),
            (
                "forwarded",
                "for=192.0.2.1;proto=https, for=\"[2001:db8::7]:4711\";by=10.0.0.1",
            ),
        ]);
        assert_eq!(proxies.client(peer, &both), ip("2001:db8::7"));
        let v4_port = headers(&[("forwarded", "proto=http;for=\"198.51.100.3:80\"")]);
        assert_eq!(proxies.client(peer, &v4_port), ip("198.51.100.3"));
        let hidden = headers(&[("forwarded", "for=_hidden, for=\"_secret\"")]);
        assert_eq!(proxies.client(peer, &hidden), peer);
    }
}
