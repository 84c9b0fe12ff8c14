//! Opaque secret tokens: 256 random bits behind a kind prefix, stored only as SHA-256.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly minted token: the secret goes to the client once, the hash to the database.
#[derive(Clone)]
pub struct MintedToken {
    pub secret: String,
    pub hash: TokenHash,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of a token, hex-encoded; what the store keys on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// Makes a token such as `cfd_sess_…` from 32 bytes of OS randomness.
pub fn mint(prefix: &str) -> MintedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash(&secret);
    MintedToken { secret, hash }
}

pub fn hash(secret: &str) -> TokenHash {
    // Every authenticated request hashes its token: one hex encoding, not a string per byte.
    TokenHash(hex::encode(Sha256::digest(secret.as_bytes())))
}

/// A random value for CSRF form tokens; not secret from its owner, only unguessable.
pub fn random_url_safe(len_bytes: usize) -> String {
    let mut bytes = vec![0u8; len_bytes];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_carry_their_prefix_and_hash_to_their_secret() {
        let token = mint("cfd_sess_");
        assert!(token.secret.starts_with("cfd_sess_"));
        assert_eq!(token.secret.len(), "cfd_sess_".len() + 43);
        assert_eq!(hash(&token.secret), token.hash);
        assert_ne!(mint("cfd_sess_").secret, token.secret);
    }

    /// Stored hashes are looked up by this text: its form must never change.
    #[test]
    fn a_hash_is_the_lowercase_hex_of_the_secrets_sha256() {
        assert_eq!(
            hash("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
