//! Password hashing with argon2id, always off the async threads.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::Password;
use crate::Error;

/// argon2id cost parameters. The defaults are OWASP's recommendation (19 MiB, 2 passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashingCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when a handle is unknown so that the
    /// answer takes as long as for a real member and does not reveal whether the handle exists.
    decoy_hash: Arc<String>,
}

impl PasswordHasher {
    pub fn new(cost: HashingCost) -> Result<Self, Error> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy = crate::tokens::random_url_safe(24);
        let decoy_hash = hash_with(&argon2, &decoy)?;
        Ok(Self {
            argon2: Arc::new(argon2),
            decoy_hash: Arc::new(decoy_hash),
        })
    }

    pub async fn hash(&self, password: Password) -> Result<String, Error> {
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || hash_with(&argon2, password.expose()))
            .await
            .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?
    }

    /// Whether `password` matches `hash`. Any malformed hash counts as a mismatch.
    pub async fn verify(&self, password: &str, hash: String) -> Result<bool, Error> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing task: {e}")))
    }

    /// Spends the same effort as a real verification, and always fails.
    pub async fn verify_decoy(&self, password: &str) -> Result<bool, Error> {
        self.verify(password, self.decoy_hash.as_ref().clone())
            .await
            .map(|_| false)
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_own_password() {
        let hasher = PasswordHasher::new(HashingCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let hash = hasher
            .hash(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", hash.clone()).await.unwrap());
        assert!(!hasher.verify("wrong horse!", hash).await.unwrap());
        assert!(
            !hasher
                .verify("anything", "not a hash".into())
                .await
                .unwrap()
        );
        assert!(!hasher.verify_decoy("anything").await.unwrap());
    }
}
