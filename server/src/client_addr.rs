//! Who a request comes from: the source address as the trusted-proxy rules give it.
//!
//! The peer of the TCP connection is the client, unless that peer is one of the configured
//! trusted proxies (`SG_TRUSTED_PROXIES`). Then the address the proxy forwarded is used: the
//! right-most address of `X-Forwarded-For` (or, when a request has none, of `Forwarded`'s
//! `for=`) that is not itself a trusted proxy. Everything left of that was written by the client
//! and can be anything, so it is never read; an entry that is not an address (`unknown`, an
//! obfuscated identifier, garbage) stops the walk at the hop that handed it over.
//!
//! A middleware ([`remember`]) puts the answer in the request's extensions as [`ClientAddr`], so
//! the failed-authentication limit and any later consumer (the audit trail) read the same value.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, header::FORWARDED},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// Most forwarded entries looked at, right to left; a longer chain is treated as ending there.
const MAX_HOPS: usize = 32;

/// The client's address as the trusted-proxy rules give it. Absent when the server runs without
/// a socket (tests driving the router directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address remembered for this request by [`remember`], if any.
    pub fn of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
        extensions.get::<ClientAddr>().map(|addr| addr.0)
    }
}

/// The networks whose connections may say, in a forwarding header, whom they forward for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8,::1/128` (a bare address means just that address); empty: none.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("`{item}` is not a CIDR such as 10.0.0.0/8 or ::1/128"))?,
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops = if headers.contains_key("x-forwarded-for") {
            forwarded_for(headers, "x-forwarded-for", whole_entry)
        } else {
            forwarded_for(headers, FORWARDED.as_str(), forwarded_element_for)
        };
        let mut client = peer;
        for hop in hops.into_iter().rev().take(MAX_HOPS) {
            let Some(ip) = hop else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// Every entry of every `name` header, in order, as an address (`None`: not an address).
fn forwarded_for(headers: &HeaderMap, name: &str, node: fn(&str) -> Option<&str>) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(|entry| node(entry.trim()).and_then(parse_node)).collect::<Vec<_>>(),
            // Not text: one entry that is not an address.
            Err(_) => vec![None],
        })
        .collect()
}

/// An `X-Forwarded-For` entry is the node itself.
fn whole_entry(entry: &str) -> Option<&str> {
    Some(entry)
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.1;proto=https`).
fn forwarded_element_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
    })
}

/// An address from a forwarded node: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`,
/// `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    // `[v6]` without a port.
    node.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Middleware: computes the request's [`ClientAddr`] once, from the connection's peer.
pub async fn remember(
    State(trusted): State<std::sync::Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    if let Some(peer) = peer {
        let client = trusted.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, ::1/128").expect("parse");
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        // An untrusted peer's header is ignored.
        assert_eq!(trusted.client(ip("198.51.100.7"), &spoofed), ip("198.51.100.7"));
        // A trusted peer: the right-most address that is not a proxy.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2"), ("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &chain), ip("203.0.113.9"));
        // Every hop a proxy: the left-most of them.
        let proxies = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
        assert_eq!(trusted.client(ip("::1"), &proxies), ip("10.9.9.9"));
        // Not an address: the walk stops at the hop that handed it over.
        let garbage = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &garbage), ip("10.0.0.2"));
        // No header: the peer.
        assert_eq!(trusted.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        // Nothing configured: always the peer.
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &chain), ip("10.0.0.1"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_there_is_no_x_forwarded_for() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("parse");
        let forwarded =
            headers(&[("forwarded", r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711";by=10.0.0.3"#)]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded), ip("2001:db8:cafe::17"));
        let obfuscated = headers(&[("forwarded", "for=192.0.2.60, for=_hidden")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &obfuscated), ip("10.0.0.1"));
        let with_port = headers(&[("forwarded", "for=\"192.0.2.61:80\"")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &with_port), ip("192.0.2.61"));
    }

    #[test]
    fn parses_cidrs_and_bare_addresses_and_refuses_garbage() {
        let trusted = TrustedProxies::parse("10.0.0.0/8,::1,192.0.2.1/24").expect("parse");
        assert!(trusted.contains(ip("10.255.0.1")));
        assert!(trusted.contains(ip("::1")));
        assert!(trusted.contains(ip("192.0.2.200")), "host bits are ignored");
        assert!(trusted.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped IPv6 is IPv4");
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }
}
