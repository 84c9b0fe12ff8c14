//! PKCE (RFC 7636), S256 only: `plain` offers no protection against a stolen code and
//! RFC 9700 §2.1.1 says not to use it.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::Error;

/// A code challenge from an authorization request: the base64url SHA-256 of a verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Accepts only `code_challenge_method=S256` with a well-formed 43-character challenge.
    /// A missing method means `plain` (RFC 7636 §4.3), so it is refused too.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, Error> {
        let Some(challenge) = challenge.filter(|c| !c.is_empty()) else {
            return Err(Error::invalid(
                "code_challenge",
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        };
        if method != Some("S256") {
            return Err(Error::invalid(
                "code_challenge_method",
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        // 32 bytes of SHA-256 in unpadded base64url are exactly 43 characters.
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(challenge);
        if challenge.len() != 43 || decoded.map_or(true, |bytes| bytes.len() != 32) {
            return Err(Error::invalid(
                "code_challenge",
                "invalid_request",
                "code_challenge must be the unpadded base64url SHA-256 of the verifier",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The stored form, as it was received.
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is well formed (RFC 7636 §4.1) and hashes to this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        is_well_formed_verifier(verifier) && challenge_of(verifier) == self.0
    }
}

/// 43 to 128 characters from the unreserved set `[A-Za-z0-9-._~]`.
pub fn is_well_formed_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))`, the S256 transformation.
pub fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636, Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = CodeChallenge::parse(
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .unwrap();
        assert!(challenge.verify(verifier));
        assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
    }

    #[test]
    fn plain_or_missing_methods_and_malformed_challenges_are_refused() {
        let good = challenge_of(&"a".repeat(43));
        assert!(CodeChallenge::parse(Some(&good), Some("plain")).is_err());
        assert!(CodeChallenge::parse(Some(&good), None).is_err());
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some("short"), Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some(&format!("{}=", &good[..42])), Some("S256")).is_err());
    }

    proptest! {
        #[test]
        fn any_well_formed_verifier_matches_its_own_challenge_only(
            verifier in "[A-Za-z0-9._~-]{43,128}",
            other in "[A-Za-z0-9._~-]{43,128}",
        ) {
            let challenge = CodeChallenge::parse(Some(&challenge_of(&verifier)), Some("S256")).unwrap();
            prop_assert!(challenge.verify(&verifier));
            prop_assert_eq!(challenge.verify(&other), other == verifier);
        }

        #[test]
        fn verifiers_of_the_wrong_length_or_alphabet_never_verify(
            short in "[A-Za-z0-9]{0,42}",
            long in "[A-Za-z0-9]{129,200}",
            bad in "[A-Za-z0-9]{20,40}[ +/=!][A-Za-z0-9]{22,60}",
        ) {
            for verifier in [short, long, bad] {
                let challenge = CodeChallenge::parse(Some(&challenge_of(&verifier)), Some("S256")).unwrap();
                prop_assert!(!challenge.verify(&verifier));
            }
        }
    }
}
