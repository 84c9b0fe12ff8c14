//! The address of the client a request comes from, which log-in throttles and directory
//! budgets count by. It is the socket peer — unless the peer is one of the operator's
//! `[server] trusted_proxies`, in which case `X-Forwarded-For` says who the proxy spoke for.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::state::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address as resolved for this request; `None` when serving without a socket
/// (tests that call the router directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// The client's address as text, for handlers that count by it (log-in throttles, directory
/// budgets); absent when serving without a socket.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(&parts.extensions)))
    }
}

/// The resolved client address of a request, as text.
pub(crate) fn client_address(extensions: &Extensions) -> Option<String> {
    extensions
        .get::<ClientIp>()
        .and_then(|client| client.0)
        .map(|ip| ip.to_string())
}

/// Puts the [`ClientIp`] of each request in its extensions.
pub fn attach(state: &AppState, request: &mut Request) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let client = peer.map(|peer| client_ip(peer, request.headers(), &state.web.trusted_proxies));
    request.extensions_mut().insert(ClientIp(client));
}

/// The client behind `peer`. Each trusted proxy appends the address it heard from to
/// `X-Forwarded-For`, so the list is read from the right: the first address that is not a
/// trusted proxy is the client. Anything to its left was written by the client itself and
/// proves nothing. A request from an untrusted peer is that peer, whatever it claims.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&normalize(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Several headers are one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // A hop that is not an address: nothing further left can be trusted.
            break;
        };
        client = normalize(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(texts: &[&str]) -> Vec<IpNet> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &forged, &[]),
            ip("198.51.100.1")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &forged, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_proxy_speaks_for_the_address_it_appended() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote 127.0.0.1 itself; the proxy appended what it saw.
        let forwarded = headers(&["127.0.0.1, 203.0.113.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded, &trusted),
            ip("203.0.113.9")
        );
        // Through two trusted proxies, in two header lines.
        let twice = headers(&["127.0.0.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &twice, &trusted),
            ip("203.0.113.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn garbage_stops_the_walk_and_mapped_addresses_are_ipv4() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        let garbled = headers(&["203.0.113.9, not-an-address, 10.0.0.5"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &garbled, &trusted),
            ip("10.0.0.5")
        );
        let mapped = headers(&["::ffff:203.0.113.9"]);
        assert_eq!(client_ip(ip("::1"), &mapped, &trusted), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers(&["203.0.113.9"]), &trusted),
            ip("203.0.113.9")
        );
    }
}
