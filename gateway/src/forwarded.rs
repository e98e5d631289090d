//! The client address behind proxies. `X-Forwarded-For` is a list each proxy
//! appends to; everything left of the hop the nearest trusted proxy wrote is
//! whatever the client chose to send. So the client address is found from
//! the right: the connection's peer, then each listed hop, skipping those
//! that are trusted proxies; the first one that is not is the client. A
//! header from a peer that is not a trusted proxy is never read.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

/// Which proxies in front of the gateway may say who the client is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustedProxies {
    /// None: the address is the connection's.
    #[default]
    None,
    /// Proxies whose addresses are in these networks.
    Networks(Vec<IpNet>),
    /// This many proxies, each appending the address it saw: the client is
    /// that many hops from the right (counting the connection's peer as the
    /// first proxy).
    Hops(usize),
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// `""` or `none`; a hop count (`1`); or networks (`10.0.0.0/8,fd00::/8`,
    /// a bare address meaning that one host).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("none") {
            return Ok(Self::None);
        }
        if let Ok(hops) = value.parse::<usize>() {
            return match hops {
                0 => Ok(Self::None),
                1..=16 => Ok(Self::Hops(hops)),
                _ => Err("a hop count is 1 to 16".to_owned()),
            };
        }
        let mut networks = Vec::new();
        for item in value.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let network = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is neither a network (10.0.0.0/8) nor an address"))?;
            networks.push(network.trunc());
        }
        Ok(Self::Networks(networks))
    }
}

/// One hop as proxies write it: an address, possibly with a port, IPv6
/// possibly in brackets.
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            Self::Networks(networks) => networks.iter().any(|network| network.contains(&ip)),
            Self::None | Self::Hops(_) => false,
        }
    }

    /// The client's address for a request that came from `peer`.
    pub fn client_address(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let peer = peer.to_canonical();
        let listed = || {
            // Every X-Forwarded-For line, in order, as one list.
            let mut hops: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .collect();
            hops.reverse();
            hops
        };
        match self {
            Self::None => peer,
            Self::Hops(count) => {
                // The peer is the nearest proxy; each further one wrote one hop.
                let mut client = peer;
                for text in listed().into_iter().take(*count) {
                    match hop(text) {
                        Some(ip) => client = ip,
                        None => break,
                    }
                }
                client
            }
            Self::Networks(_) => {
                let mut client = peer;
                if !self.trusts(client) {
                    return client;
                }
                for text in listed() {
                    // A hop that is not an address was not written by a
                    // trusted proxy: the one to its right is the best known.
                    let Some(ip) = hop(text) else { break };
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                client
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trust_the_header_is_never_read() {
        let proxies = TrustedProxies::None;
        assert_eq!(proxies.client_address(&headers(&["198.51.100.1"]), ip("10.0.0.5")), ip("10.0.0.5"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client_whatever_the_client_prepends() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap();
        let from_proxy = ip("10.1.2.3");
        // A client rotating made-up values on the left is still itself.
        for forged in ["1.1.1.1", "2.2.2.2, 3.3.3.3", "not-an-address", "10.9.9.9"] {
            let h = headers(&[&format!("{forged}, 203.0.113.7")]);
            assert_eq!(proxies.client_address(&h, from_proxy), ip("203.0.113.7"), "{forged}");
        }
        // Two proxies in the trusted networks; several header lines; a port.
        let h = headers(&["198.51.100.9:4711, 203.0.113.7", "192.168.1.1"]);
        assert_eq!(proxies.client_address(&h, from_proxy), ip("203.0.113.7"));
        let h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(proxies.client_address(&h, from_proxy), ip("2001:db8::1"));
        // A peer outside the networks is the client, whatever it says.
        assert_eq!(proxies.client_address(&headers(&["203.0.113.7"]), ip("198.51.100.2")), ip("198.51.100.2"));
        // Garbage written right of the proxy's hop: the proxy is the best known.
        assert_eq!(proxies.client_address(&headers(&["203.0.113.7, junk"]), from_proxy), from_proxy);
        // IPv4-mapped IPv6 peers are their IPv4 address.
        assert_eq!(proxies.client_address(&headers(&["203.0.113.7"]), ip("::ffff:10.0.0.1")), ip("203.0.113.7"));
    }

    #[test]
    fn a_hop_count_takes_that_many_hops_from_the_right() {
        let one: TrustedProxies = "1".parse().unwrap();
        let h = headers(&["1.1.1.1, 2.2.2.2, 203.0.113.7"]);
        assert_eq!(one.client_address(&h, ip("10.0.0.1")), ip("203.0.113.7"));
        let two: TrustedProxies = "2".parse().unwrap();
        assert_eq!(two.client_address(&h, ip("10.0.0.1")), ip("2.2.2.2"));
        assert_eq!(one.client_address(&HeaderMap::new(), ip("10.0.0.1")), ip("10.0.0.1"), "no header: the peer");
    }

    #[test]
    fn settings_parse_or_say_why_not() {
        assert_eq!("".parse::<TrustedProxies>().unwrap(), TrustedProxies::None);
        assert_eq!("0".parse::<TrustedProxies>().unwrap(), TrustedProxies::None);
        assert_eq!("2".parse::<TrustedProxies>().unwrap(), TrustedProxies::Hops(2));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("true".parse::<TrustedProxies>().unwrap_err().contains("\"true\""));
        assert!("99".parse::<TrustedProxies>().is_err());
    }
}
