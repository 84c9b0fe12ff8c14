//! Signed checkpoints: a log's origin, size and root hash in the C2SP tlog-checkpoint text
//! form, signed as a C2SP signed note with Ed25519.
//!
//! Keys use the signed-note encodings: the private key is
//! `PRIVATE+KEY+<name>+<key id>+<base64>` and the public ("verifier") key is
//! `<name>+<key id>+<base64>`, the form auditors paste into `confidant log verify --public-key`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::Checkpoint;

use crate::tree::Hash;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key name {0:?} is not allowed: it must be non-empty, without spaces or '+'")]
    BadName(String),
    #[error("not a signing key in the form PRIVATE+KEY+<name>+<id>+<key>")]
    BadPrivateKey,
    #[error("not a public key in the form <name>+<id>+<key>")]
    BadPublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not a signed note: {0}")]
    Malformed(String),
    #[error("the checkpoint is not signed by the key {key}")]
    NotSignedBy { key: String },
    #[error("the checkpoint's signature by {key} is invalid: its text was changed")]
    BadSignature { key: String },
}

/// The server's checkpoint signing key.
pub struct LogSigner {
    signer: StandardSigner,
    public_key: String,
}

impl std::fmt::Debug for LogSigner {
    // The private key must never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// Creates a fresh key named `name`; returns it and its private encoding for storage.
    pub fn generate(name: &str) -> Result<(Self, String), KeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(KeyError::BadName(name.to_owned()));
        }
        let (private_key, _) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
        let signer = Self::from_private_key(&private_key)?;
        Ok((signer, private_key))
    }

    pub fn from_private_key(private_key: &str) -> Result<Self, KeyError> {
        let private_key = private_key.trim();
        let signer = StandardSigner::new(private_key).map_err(|_| KeyError::BadPrivateKey)?;
        // The fifth field is base64 (which may itself hold '+') of the algorithm byte and
        // the Ed25519 seed.
        let encoded = private_key.splitn(5, '+').nth(4).unwrap_or_default();
        let seed: [u8; 32] = BASE64
            .decode(encoded)
            .ok()
            .and_then(|bytes| bytes.get(1..).and_then(|seed| seed.try_into().ok()))
            .ok_or(KeyError::BadPrivateKey)?;
        let verifying = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let public_key =
            signed_note::new_ed25519_verifier_key(signed_note::Signer::name(&signer), &verifying);
        Ok(Self { signer, public_key })
    }

    /// The key's name, which also starts every origin it signs for.
    pub fn name(&self) -> &str {
        signed_note::Signer::name(&self.signer)
    }

    /// The public key in signed-note verifier form.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The signed checkpoint text for a log of `size` entries with root `root`.
    pub fn sign(&self, origin: &str, size: u64, root: Hash) -> String {
        let checkpoint = Checkpoint::new(origin, size, root, "")
            .expect("origins are built by the server and never empty");
        let mut note =
            Note::new(&checkpoint.to_bytes(), &[]).expect("a checkpoint body is a valid note text");
        note.add_sigs(&[&self.signer])
            .expect("an Ed25519 key with a valid name always signs");
        String::from_utf8(note.to_bytes()).expect("notes are UTF-8")
    }
}

/// A public key to check checkpoints with.
#[derive(Clone)]
pub struct PublicKey {
    verifier: StandardVerifier,
    text: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let verifier = StandardVerifier::new(text).map_err(|_| KeyError::BadPublicKey)?;
        Ok(Self {
            verifier,
            text: text.to_owned(),
        })
    }

    /// The key's name, which also starts every origin it signs for (see [`crate::origin`]).
    pub fn name(&self) -> &str {
        signed_note::Verifier::name(&self.verifier)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A checkpoint whose signature has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Parses a signed checkpoint and checks that `key` signed it.
pub fn open(text: &str, key: &PublicKey) -> Result<SignedCheckpoint, CheckpointError> {
    let note =
        Note::from_bytes(text.as_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let verifiers = VerifierList::new(vec![Box::new(key.verifier.clone())]);
    note.verify(&verifiers).map_err(|e| match e {
        signed_note::NoteError::InvalidSignature { .. } => CheckpointError::BadSignature {
            key: key.text.clone(),
        },
        signed_note::NoteError::UnverifiedNote => CheckpointError::NotSignedBy {
            key: key.text.clone(),
        },
        other => CheckpointError::Malformed(other.to_string()),
    })?;
    let checkpoint = Checkpoint::from_bytes(note.text())
        .map_err(|_| CheckpointError::Malformed("not a tlog checkpoint".into()))?;
    Ok(SignedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::EMPTY_ROOT;

    #[test]
    fn a_signed_checkpoint_has_the_c2sp_form_and_opens_with_the_public_key() {
        let (signer, private_key) = LogSigner::generate("confidant.example").unwrap();
        assert!(private_key.starts_with("PRIVATE+KEY+confidant.example+"));
        assert!(signer.public_key().starts_with("confidant.example+"));
        let text = signer.sign("confidant.example/access-log/7", 0, EMPTY_ROOT);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("confidant.example/access-log/7"));
        assert_eq!(lines.next(), Some("0"));
        assert_eq!(
            lines.next(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(lines.next(), Some(""));
        assert!(lines.next().unwrap().starts_with("— confidant.example "));

        let key = PublicKey::parse(signer.public_key()).unwrap();
        let opened = open(&text, &key).unwrap();
        assert_eq!(opened.size, 0);
        assert_eq!(opened.origin, "confidant.example/access-log/7");
    }

    #[test]
    fn a_key_reloaded_from_its_private_encoding_is_the_same_key() {
        let (signer, private_key) = LogSigner::generate("node-a").unwrap();
        let reloaded = LogSigner::from_private_key(&format!("{private_key}\n")).unwrap();
        assert_eq!(reloaded.public_key(), signer.public_key());
    }

    #[test]
    fn edited_or_foreign_checkpoints_are_refused() {
        let (signer, _) = LogSigner::generate("node-a").unwrap();
        let (other, _) = LogSigner::generate("node-a").unwrap();
        let key = PublicKey::parse(signer.public_key()).unwrap();
        let text = signer.sign("node-a/access-log/1", 0, EMPTY_ROOT);

        let edited = text.replacen("\n0\n", "\n1\n", 1);
        assert!(matches!(
            open(&edited, &key),
            Err(CheckpointError::BadSignature { .. })
        ));
        let foreign = other.sign("node-a/access-log/1", 0, EMPTY_ROOT);
        assert!(matches!(
            open(&foreign, &key),
            Err(CheckpointError::NotSignedBy { .. })
        ));
        assert!(matches!(
            open("hello\n", &key),
            Err(CheckpointError::Malformed(_))
        ));
        assert!(LogSigner::generate("bad name").is_err());
        assert!(PublicKey::parse("nonsense").is_err());
    }
}
