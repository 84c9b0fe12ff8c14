//! Witness cosignatures on checkpoints (C2SP tlog-cosignature, Ed25519 `cosignature/v1`).
//!
//! A cosignature is a signed-note signature line whose signature is a timestamp followed by an
//! Ed25519 signature over `cosignature/v1\ntime <t>\n` and the checkpoint's note body. It states
//! that, at time `t`, the witness had checked the checkpoint consistent with every earlier one
//! it saw for the same log.
//!
//! Keys use the signed-note verifier-key encoding with the cosignature algorithm byte `0x04`:
//! the verifier key is `<name>+<key id>+base64(0x04 ‖ public key)` and the private key
//! `PRIVATE+KEY+<name>+<key id>+base64(0x04 ‖ seed)`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::Signature;

use crate::checkpoint::KeyError;

/// The signed-note algorithm byte of Ed25519 cosignatures.
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// A witness's signing key.
pub struct CosignerKey {
    name: String,
    key_id: u32,
    signing: SigningKey,
}

impl std::fmt::Debug for CosignerKey {
    // The private key must never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignerKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut material = vec![ALG_COSIGNATURE_V1];
    material.extend_from_slice(public.as_bytes());
    signed_note::key_id(name, &material)
}

/// Splits `<name>+<hex id>+<base64>` and decodes the key material after the algorithm byte.
fn split_key(text: &str) -> Option<(&str, u32, Vec<u8>)> {
    let mut parts = text.splitn(3, '+');
    let (name, id, material) = (parts.next()?, parts.next()?, parts.next()?);
    let id = u32::from_str_radix(id, 16).ok().filter(|_| id.len() == 8)?;
    let material = BASE64.decode(material).ok()?;
    let (&alg, key) = material.split_first()?;
    (signed_note::is_key_name_valid(name) && alg == ALG_COSIGNATURE_V1)
        .then(|| (name, id, key.to_vec()))
}

impl CosignerKey {
    /// Creates a fresh key named `name`; returns it and its private encoding for storage.
    pub fn generate(name: &str) -> Result<(Self, String), KeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(KeyError::BadName(name.to_owned()));
        }
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let key = Self {
            name: name.to_owned(),
            key_id: key_id(name, &signing.verifying_key()),
            signing,
        };
        let private = key.private_key();
        Ok((key, private))
    }

    pub fn from_private_key(text: &str) -> Result<Self, KeyError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::BadPrivateKey)?;
        let (name, id, seed) = split_key(rest).ok_or(KeyError::BadPrivateKey)?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::BadPrivateKey)?;
        let signing = SigningKey::from_bytes(&seed);
        if key_id(name, &signing.verifying_key()) != id {
            return Err(KeyError::BadPrivateKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: id,
            signing,
        })
    }

    fn private_key(&self) -> String {
        let mut material = vec![ALG_COSIGNATURE_V1];
        material.extend_from_slice(self.signing.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key, the form passed to `confidant log verify --witness`.
    pub fn verifier_key(&self) -> String {
        let mut material = vec![ALG_COSIGNATURE_V1];
        material.extend_from_slice(self.signing.verifying_key().as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    /// The cosignature line (ending in a newline) over a checkpoint's note body, at
    /// `timestamp` seconds since the Unix epoch.
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let signature = self.signing.sign(&signed_message(body, timestamp));
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&signature.to_bytes());
        let line = Signature::new(self.name.clone(), self.key_id, bytes)
            .expect("the name was checked when the key was made");
        String::from_utf8(line.to_bytes()).expect("signature lines are UTF-8")
    }
}

fn signed_message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

/// A witness's public key, to check its cosignatures with.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignerVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
    text: String,
}

impl std::fmt::Debug for CosignerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl CosignerVerifier {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let (name, id, key) = split_key(text).ok_or(KeyError::BadPublicKey)?;
        let key: [u8; 32] = key.try_into().map_err(|_| KeyError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::BadPublicKey)?;
        if key_id(name, &key) != id {
            return Err(KeyError::BadPublicKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: id,
            key,
            text: text.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The time of this witness's valid cosignature among `signatures` over `body`, if it
    /// made one; lines of other keys are ignored.
    pub fn find(&self, body: &str, signatures: &[Signature]) -> Option<u64> {
        signatures
            .iter()
            .filter(|line| line.name() == self.name && line.id() == self.key_id)
            .filter_map(|line| {
                let (timestamp, signature) = line.signature().split_first_chunk::<8>()?;
                let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
                let timestamp = u64::from_be_bytes(*timestamp);
                self.key
                    .verify_strict(&signed_message(body, timestamp), &signature)
                    .ok()
                    .map(|()| timestamp)
            })
            .max()
    }
}

/// A signed note split into its body (ending in a newline) and its signature lines.
pub fn split_note(text: &str) -> Option<(&str, Vec<Signature>)> {
    let (body, lines) = text.rsplit_once("\n\n")?;
    let body = &text[..body.len() + 1];
    let signatures = lines
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| Signature::from_bytes(line.as_bytes()).ok())
        .collect::<Option<Vec<_>>>()?;
    Some((body, signatures))
}

/// `note` with the signature lines in `lines` added (those already there are not repeated).
pub fn add_signature_lines(note: &str, lines: &str) -> String {
    let mut out = note.to_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for line in lines.lines().filter(|line| line.starts_with("— ")) {
        if !note.lines().any(|existing| existing == line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogSigner;
    use crate::tree::EMPTY_ROOT;

    #[test]
    fn a_cosignature_verifies_with_the_witness_key_and_carries_its_time() {
        let (log, _) = LogSigner::generate("example.org").unwrap();
        let checkpoint = log.sign("example.org/heads", 0, EMPTY_ROOT);
        let (witness, private) = CosignerKey::generate("witness.example/w1").unwrap();
        let line = witness.cosign(split_note(&checkpoint).unwrap().0, 1_700_000_000);
        assert!(line.starts_with("— witness.example/w1 "));
        let cosigned = add_signature_lines(&checkpoint, &line);

        let verifier = CosignerVerifier::parse(&witness.verifier_key()).unwrap();
        let (body, signatures) = split_note(&cosigned).unwrap();
        assert_eq!(verifier.find(body, &signatures), Some(1_700_000_000));
        // The log's own signature still opens the note.
        let key = crate::PublicKey::parse(log.public_key()).unwrap();
        assert!(crate::checkpoint::open(&cosigned, &key).is_ok());

        let reloaded = CosignerKey::from_private_key(&private).unwrap();
        assert_eq!(reloaded.verifier_key(), witness.verifier_key());
    }

    #[test]
    fn a_cosignature_over_other_text_or_by_another_key_does_not_count() {
        let (witness, _) = CosignerKey::generate("w").unwrap();
        let (other, _) = CosignerKey::generate("w").unwrap();
        let verifier = CosignerVerifier::parse(&witness.verifier_key()).unwrap();
        let body = "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        let line = witness.cosign(body, 5);
        let signatures =
            |line: &str| vec![Signature::from_bytes(line.trim_end().as_bytes()).unwrap()];
        assert_eq!(verifier.find(body, &signatures(&line)), Some(5));
        assert_eq!(verifier.find("o\n2\nx\n", &signatures(&line)), None);
        assert_eq!(
            verifier.find(body, &signatures(&other.cosign(body, 5))),
            None
        );
        // A log's plain Ed25519 key is not a cosigner key.
        let (log, _) = LogSigner::generate("w").unwrap();
        assert!(CosignerVerifier::parse(log.public_key()).is_err());
    }
}
