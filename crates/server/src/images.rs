//! The image proxy behind recommendation cards (`/img/{card token}`): the server fetches a
//! card's `image_url` and serves it from Confidant's own origin, so a recipient's browser
//! never contacts the partner (who would learn when and from where the card was seen), and
//! the pages keep `img-src 'self'`.
//!
//! What it fetches is limited: http and https only; never an address that is private,
//! loopback, link-local or otherwise not public (checked on the addresses a name resolves to,
//! as the connection is made, and on every redirect), unless an operator allowed that network;
//! at most `[media] image_max_bytes`, within `[media] image_timeout_secs`; and only what its
//! first bytes show to be a PNG, JPEG, GIF, WebP or AVIF image, whatever the partner's
//! `Content-Type` says. SVG is not an image here: it can carry script.
//!
//! Fetched images are served from `<data dir>/image-cache` for a day, and removed after a week
//! by the hourly clean-up.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use reqwest::dns::{Name, Resolve, Resolving};
use sha2::{Digest, Sha256};

use confidant_core::Clock;

use crate::config::MediaConfig;

/// How long a fetched image is served from the cache before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(24 * 3600);
/// Cached images older than this are deleted by the clean-up.
const KEPT_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Redirects followed, each checked like the first address.
const MAX_REDIRECTS: usize = 3;

/// An image ready to serve.
#[derive(Debug, Clone)]
pub struct Image {
    /// As its bytes show it, never as the partner said.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Why an image is not served.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("only http and https images are fetched")]
    Scheme,
    #[error("the image's address is not public")]
    Address,
    #[error("the image is larger than the limit")]
    TooLarge,
    #[error("what was fetched is not a PNG, JPEG, GIF, WebP or AVIF image")]
    NotAnImage,
    #[error("the image could not be fetched: {0}")]
    Fetch(String),
}

pub struct ImageProxy {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
    cache: PathBuf,
    max_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl ImageProxy {
    pub fn new(
        config: &MediaConfig,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let allowed = Arc::new(config.image_allowed_networks.clone());
        let for_redirects = allowed.clone();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.image_timeout_secs))
            .connect_timeout(Duration::from_secs(config.image_timeout_secs.min(5)))
            // A proxy from the environment would make the connection instead, to any address.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly {
                allowed: allowed.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if let Err(refusal) = check_url(attempt.url(), &for_redirects) {
                    attempt.error(refusal)
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!("Confidant-Images/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allowed,
            cache: data_dir.join("image-cache"),
            max_bytes: config.image_max_bytes,
            clock,
        })
    }

    /// The image at `url`: from the cache while fresh, fetched otherwise.
    pub async fn image(&self, url: &str) -> Result<Image, Refusal> {
        let path = self.cache.join(hex_sha256(url));
        let now = self.clock.now().0;
        if let Some(image) = read_fresh(&path, now).await {
            return Ok(image);
        }
        let image = self.fetch(url).await?;
        if let Err(error) = write_cached(&self.cache, &path, &image, now).await {
            tracing::warn!(%error, "could not cache a card image");
        }
        Ok(image)
    }

    async fn fetch(&self, url: &str) -> Result<Image, Refusal> {
        let parsed = url::Url::parse(url).map_err(|_| Refusal::Scheme)?;
        check_url(&parsed, &self.allowed)?;
        let response = self
            .client
            .get(parsed)
            .header(
                "accept",
                "image/avif,image/webp,image/png,image/jpeg,image/gif",
            )
            .send()
            .await
            .map_err(|error| refusal_of(&error))?;
        if !response.status().is_success() {
            return Err(Refusal::Fetch(format!("answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(Refusal::TooLarge);
        }
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| refusal_of(&error))?;
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(Refusal::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let content_type = sniff(&bytes).ok_or(Refusal::NotAnImage)?;
        Ok(Image {
            content_type,
            bytes,
        })
    }

    /// Deletes cached images older than a week; returns how many.
    pub async fn purge_cache(&self) -> std::io::Result<u64> {
        let mut entries = match tokio::fs::read_dir(&self.cache).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(error),
        };
        let now = self.clock.now().0;
        let mut removed = 0;
        while let Some(entry) = entries.next_entry().await? {
            // A file without a whole stamp was never finished: it goes too.
            let old = fetched_at(&entry.path())
                .await
                .map_or(true, |at| now - at > KEPT_FOR.as_millis() as i64);
            if old {
                tokio::fs::remove_file(entry.path()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The error reqwest reports, with the refusal it carries when the resolver or the redirect
/// policy refused an address.
fn refusal_of(error: &reqwest::Error) -> Refusal {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return match refusal {
                Refusal::Scheme => Refusal::Scheme,
                _ => Refusal::Address,
            };
        }
        source = current.source();
    }
    Refusal::Fetch(error.to_string())
}

/// The scheme, and the host when it is an address (names are checked as they resolve).
pub(crate) fn check_url(url: &url::Url, allowed: &[IpNet]) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(Refusal::Address),
    };
    match literal {
        Some(ip) if !permitted(ip, allowed) => Err(Refusal::Address),
        _ => Ok(()),
    }
}

/// Resolves names as the system does, then keeps only the addresses that may be fetched
/// from, so the check holds for the very address connected to.
pub(crate) struct PublicOnly {
    pub(crate) allowed: Arc<Vec<IpNet>>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = found
                .filter(|address| permitted(address.ip(), &allowed))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refusal::Address) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` may be fetched from: a public address, or one in a network the operator
/// allowed.
pub fn permitted(ip: IpAddr, allowed: &[IpNet]) -> bool {
    allowed.iter().any(|network| network.contains(&ip)) || is_public(ip)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_broadcast()
                || ip.is_documentation()
                || ip.is_multicast()
                || a == 0
                // Shared address space (carrier-grade NAT), benchmarking, reserved.
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = ip.segments()[0];
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                // Unique local (fc00::/7), link-local (fe80::/10), documentation (2001:db8::/32).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && ip.segments()[1] == 0x0db8))
        }
    }
}

/// The image type the first bytes show, if it is one served here.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12 && &bytes[4..12] == b"ftypavif" {
        Some("image/avif")
    } else {
        None
    }
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A cached file: the time it was fetched (milliseconds, by the server's clock, so freshness
/// follows the same clock as everything else), then the image's bytes.
const STAMP: usize = 8;

/// A cached image while it is fresh. The type is sniffed again from the bytes.
async fn read_fresh(path: &Path, now: i64) -> Option<Image> {
    let mut bytes = tokio::fs::read(path).await.ok()?;
    let fetched = i64::from_le_bytes(bytes.get(..STAMP)?.try_into().ok()?);
    if !(0..FRESH_FOR.as_millis() as i64).contains(&(now - fetched)) {
        return None;
    }
    bytes.drain(..STAMP);
    let content_type = sniff(&bytes)?;
    Some(Image {
        content_type,
        bytes,
    })
}

/// When a cached file was fetched, from its first bytes.
async fn fetched_at(path: &Path) -> std::io::Result<i64> {
    use tokio::io::AsyncReadExt;
    let mut stamp = [0u8; STAMP];
    tokio::fs::File::open(path)
        .await?
        .read_exact(&mut stamp)
        .await?;
    Ok(i64::from_le_bytes(stamp))
}

/// Written beside, then renamed into place, so a reader never sees half an image.
async fn write_cached(dir: &Path, path: &Path, image: &Image, now: i64) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4()));
    let mut contents = Vec::with_capacity(STAMP + image.bytes.len());
    contents.extend_from_slice(&now.to_le_bytes());
    contents.extend_from_slice(&image.bytes);
    tokio::fs::write(&partial, &contents).await?;
    tokio::fs::rename(&partial, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_fetched_from_unless_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!permitted(ip(private), &[]), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(permitted(ip(public), &[]), "{public}");
        }
        let intranet: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(permitted(ip("10.1.2.3"), &intranet));
        assert!(!permitted(ip("192.168.1.1"), &intranet));
    }

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Some("image/avif"));
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\">"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let check = |text: &str| check_url(&url::Url::parse(text).unwrap(), &[]);
        assert!(matches!(
            check("ftp://example.com/a.png"),
            Err(Refusal::Scheme)
        ));
        assert!(matches!(check("file:///etc/passwd"), Err(Refusal::Scheme)));
        assert!(matches!(
            check("http://127.0.0.1/a.png"),
            Err(Refusal::Address)
        ));
        assert!(matches!(check("http://[::1]/a.png"), Err(Refusal::Address)));
        assert!(matches!(
            check("http://169.254.169.254/latest"),
            Err(Refusal::Address)
        ));
        assert!(check("https://images.example.com/a.png").is_ok());
    }
}
