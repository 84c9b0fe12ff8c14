//! Redirect URIs: validated when an app is registered, then matched by exact string
//! comparison at authorization time (RFC 9700 §2.1). The one allowed difference is the port
//! of a loopback URI for public native clients (RFC 8252 §7.3), which pick a free port at
//! run time.

use url::Url;

use crate::Error;

/// A redirect URI fit to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// `https://…`, `http://` only to a loopback host, or (public clients only) a
    /// private-use scheme such as `com.example.app:/callback` (RFC 8252 §7.1). Never a
    /// fragment, never credentials.
    pub fn parse(raw: &str, public_client: bool) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::invalid(
                "redirect_uri",
                "invalid_redirect_uri",
                format!("redirect URI `{raw}` {why}"),
            )
        };
        let url = Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
        if url.fragment().is_some() {
            return Err(invalid("must not contain a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(invalid("must use https unless it is a loopback address")),
            scheme if public_client && scheme.contains('.') => {}
            _ => {
                return Err(invalid(
                    "must use https (private-use schemes like com.example.app: are for public clients)",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// Whether `presented` is one of the `registered` URIs: the exact same string, or for a
/// public client, a registered loopback-IP URI with only the port changed.
pub fn matches(registered: &[String], presented: &str, public_client: bool) -> bool {
    if registered.iter().any(|uri| uri == presented) {
        return true;
    }
    if !public_client {
        return false;
    }
    let Ok(presented_url) = Url::parse(presented) else {
        return false;
    };
    let loopback_ip = |url: &Url| {
        url.scheme() == "http"
            && match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    if !loopback_ip(&presented_url) {
        return false;
    }
    registered.iter().any(|uri| {
        let Ok(mut registered_url) = Url::parse(uri) else {
            return false;
        };
        if !loopback_ip(&registered_url) || registered_url.set_port(presented_url.port()).is_err() {
            return false;
        }
        // Compare as strings after the port swap, so nothing else may differ.
        let mut expected = registered_url.to_string();
        if !uri.ends_with('/') && expected.ends_with('/') && !presented.ends_with('/') {
            expected.pop();
        }
        expected == presented
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_loopback_and_native_schemes_only_where_safe() {
        assert!(RedirectUri::parse("https://app.example/cb", false).is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb", false).is_ok());
        assert!(RedirectUri::parse("http://app.example/cb", false).is_err());
        assert!(RedirectUri::parse("https://app.example/cb#x", false).is_err());
        assert!(RedirectUri::parse("https://u:p@app.example/cb", false).is_err());
        assert!(RedirectUri::parse("com.example.app:/cb", true).is_ok());
        assert!(RedirectUri::parse("com.example.app:/cb", false).is_err());
        assert!(RedirectUri::parse("/relative", false).is_err());
    }

    #[test]
    fn matching_is_exact_except_loopback_ports_for_public_clients() {
        let registered = vec![
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
        ];
        assert!(matches(&registered, "https://app.example/cb", false));
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/c",
        ] {
            assert!(!matches(&registered, near_miss, true), "{near_miss}");
        }
        assert!(matches(
            &registered,
            "http://127.0.0.1:53124/callback",
            true
        ));
        assert!(!matches(
            &registered,
            "http://127.0.0.1:53124/callback",
            false
        ));
        assert!(!matches(&registered, "http://127.0.0.1:53124/other", true));
        assert!(!matches(
            &registered,
            "http://localhost:53124/callback",
            true
        ));
    }
}
