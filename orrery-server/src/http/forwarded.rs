//! The client's address behind proxies: `X-Forwarded-For` or RFC 7239 `Forwarded`, read only
//! when the TCP peer is one of the `trusted_proxies`, walked from the right to the first address
//! that is not a trusted proxy. Anyone can write these headers, so a header from an untrusted
//! peer, or one that does not parse, counts for nothing: the peer is the client.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::settings::{ProxyHeader, Settings};

/// The address of the client of a request that came from `peer` with `headers`.
pub fn client_ip(settings: &Settings, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    if !settings.is_trusted_proxy(peer) {
        return peer;
    }
    let hops = match settings.trusted_proxy_header {
        ProxyHeader::XForwardedFor => x_forwarded_for(headers),
        ProxyHeader::Forwarded => forwarded(headers),
    };
    let Some(hops) = hops else {
        return peer;
    };
    // Each proxy appends the address it got the request from, so the right-most entries are
    // the trusted proxies' own, and the first untrusted one from the right is the client: what
    // is left of it, the client wrote itself.
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Hop::Address(ip) => {
                client = ip;
                if !settings.is_trusted_proxy(ip) {
                    break;
                }
            }
            // A proxy that did not know (or hides) its peer: the nearest address known is the
            // best there is.
            Hop::Unknown => break,
        }
    }
    client
}

/// One entry of a forwarding header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// An address (its port, if any, dropped).
    Address(IpAddr),
    /// `unknown` or an obfuscated identifier (`_hidden`), which RFC 7239 allows.
    Unknown,
}

/// The entries of every `X-Forwarded-For` line, in order; `None` when absent or malformed.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for entry in value.to_str().ok()?.split(',') {
            hops.push(Hop::Address(address(entry.trim())?));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// The `for=` of every element of every `Forwarded` line, in order; `None` when absent,
/// malformed, or when an element has no `for`.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        for element in split_outside_quotes(value.to_str().ok()?, ',') {
            let mut found = None;
            for pair in split_outside_quotes(element, ';') {
                let (name, value) = pair.trim().split_once('=')?;
                if !name.trim().eq_ignore_ascii_case("for") {
                    continue;
                }
                if found.is_some() {
                    return None;
                }
                found = Some(node(unquote(value.trim())?)?);
            }
            hops.push(found?);
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// An RFC 7239 node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080`,
/// `unknown`, or an obfuscated `_identifier`.
fn node(text: &str) -> Option<Hop> {
    if text.eq_ignore_ascii_case("unknown") || text.starts_with('_') {
        return Some(Hop::Unknown);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        if !(port.is_empty() || port.strip_prefix(':').is_some_and(valid_port)) {
            return None;
        }
        return ip
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| Hop::Address(IpAddr::V6(ip).to_canonical()));
    }
    let (ip, port) = text.split_once(':').unwrap_or((text, ""));
    if !(port.is_empty() || valid_port(port)) {
        return None;
    }
    ip.parse::<std::net::Ipv4Addr>()
        .ok()
        .map(|ip| Hop::Address(IpAddr::V4(ip)))
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:8080`,
/// `[2001:db8::1]:8080`), as some load balancers write it.
fn address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// RFC 7239's port, or an obfuscated one (`_x`).
fn valid_port(port: &str) -> bool {
    port.parse::<u16>().is_ok() || port.starts_with('_')
}

/// A token, or the contents of a quoted string (`"[2001:db8::1]:80"`).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains('"')),
        None => (!value.is_empty() && !value.contains('"')).then_some(value),
    }
}

/// `text` split at `separator` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn check(trusted: &[&str], header: ProxyHeader, peer: &str, lines: &[&str]) -> String {
        let settings = Settings {
            trusted_proxies: trusted.iter().map(|c| c.parse().unwrap()).collect(),
            trusted_proxy_header: header,
            ..Settings::default()
        };
        let name = match header {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        };
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(name, HeaderValue::from_str(line).unwrap());
        }
        client_ip(&settings, peer.parse().unwrap(), &headers).to_string()
    }

    const XFF: ProxyHeader = ProxyHeader::XForwardedFor;
    const FWD: ProxyHeader = ProxyHeader::Forwarded;

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        assert_eq!(
            check(&[], XFF, "203.0.113.9", &["198.51.100.1"]),
            "203.0.113.9"
        );
        assert_eq!(
            check(&["10.0.0.0/8"], XFF, "203.0.113.9", &["198.51.100.1"]),
            "203.0.113.9"
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = ["10.0.0.0/8", "127.0.0.1"];
        assert_eq!(
            check(&trusted, XFF, "127.0.0.1", &["198.51.100.1"]),
            "198.51.100.1"
        );
        // The client wrote the first entry itself: only what the proxies appended counts.
        assert_eq!(
            check(
                &trusted,
                XFF,
                "10.0.0.2",
                &["1.1.1.1, 198.51.100.1, 10.0.0.3"]
            ),
            "198.51.100.1"
        );
        assert_eq!(
            check(
                &trusted,
                XFF,
                "10.0.0.2",
                &["1.1.1.1", "198.51.100.1 , 10.0.0.3"]
            ),
            "198.51.100.1"
        );
        // Only proxies in the chain: the left-most is as far as it goes.
        assert_eq!(
            check(&trusted, XFF, "10.0.0.2", &["10.0.0.5, 10.0.0.3"]),
            "10.0.0.5"
        );
        assert_eq!(
            check(
                &trusted,
                XFF,
                "127.0.0.1",
                &["198.51.100.1:4711", "[2001:db8::7]:80"]
            ),
            "2001:db8::7"
        );
        assert_eq!(
            check(&trusted, XFF, "::ffff:127.0.0.1", &["198.51.100.1"]),
            "198.51.100.1"
        );
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_says() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            check(
                &trusted,
                FWD,
                "10.0.0.2",
                &[
                    r#"for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.3;by=10.0.0.2"#
                ]
            ),
            "2001:db8:cafe::17"
        );
        assert_eq!(
            check(
                &trusted,
                FWD,
                "10.0.0.2",
                &[r#"for=198.51.100.1:80;by="a,b""#]
            ),
            "198.51.100.1"
        );
        // A proxy that did not know its client: the nearest known address.
        assert_eq!(
            check(&trusted, FWD, "10.0.0.2", &["for=unknown, for=10.0.0.3"]),
            "10.0.0.3"
        );
        assert_eq!(
            check(&trusted, FWD, "10.0.0.2", &["for=_hidden"]),
            "10.0.0.2"
        );
        // Only the configured header is read.
        assert_eq!(check(&trusted, XFF, "10.0.0.2", &[]), "10.0.0.2");
    }

    #[test]
    fn malformed_headers_count_for_nothing() {
        let trusted = ["127.0.0.1"];
        for line in [
            "",
            "not an address",
            "1.1.1.1,,2.2.2.2",
            "1.1.1.1;2.2.2.2",
            "1.1.1.1:port",
        ] {
            assert_eq!(
                check(&trusted, XFF, "127.0.0.1", &[line]),
                "127.0.0.1",
                "{line}"
            );
        }
        for line in [
            "",
            "for",
            "proto=https",
            "for=1.1.1.1;for=2.2.2.2",
            r#"for="1.1.1.1"#,
            "for=[2001:db8::1",
            "for=2001:db8::1",
            "for=1.1.1.1:99999",
            "for=example.com",
        ] {
            assert_eq!(
                check(&trusted, FWD, "127.0.0.1", &[line]),
                "127.0.0.1",
                "{line}"
            );
        }
    }
}
