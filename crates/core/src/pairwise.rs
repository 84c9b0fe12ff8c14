//! Pairwise ids: what an app sees in place of Confidant's own thread, message and send ids.
//!
//! Each app gets its own opaque ids, so two apps given the same thread cannot match their
//! members by comparing ids, and no app learns how many conversations or messages exist.
//! An id is one AES-128 block — a tag naming its kind and the internal id — encrypted under
//! a key derived for the app (HMAC-SHA256 of the deployment's secret and the client id). It
//! is deterministic (the same thread keeps its id for the app), reversible by Confidant
//! alone, and an id that was not made for this app decrypts to a wrong tag and names nothing.

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{ConversationId, MessageId};

const THREAD_TAG: [u8; 8] = *b"cfd-thr\0";
const MESSAGE_TAG: [u8; 8] = *b"cfd-msg\0";
const SEND_TAG: [u8; 8] = *b"cfd-snd\0";
const KEY_CONTEXT: &[u8] = b"confidant pairwise ids v1\0";

/// Derives and reads apps' pairwise ids from the deployment's secret.
pub struct PairwiseIds {
    secret: [u8; 32],
}

impl PairwiseIds {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// From the secret as stored (64 hex digits).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(Self::new(bytes.try_into().ok()?))
    }

    /// A new random secret, as stored.
    pub fn generate_hex() -> String {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut secret);
        hex::encode(secret)
    }

    pub fn thread(&self, client_id: &str, id: ConversationId) -> String {
        format!("th_{}", self.seal(client_id, THREAD_TAG, id.0))
    }

    pub fn message(&self, client_id: &str, id: MessageId) -> String {
        format!("msg_{}", self.seal(client_id, MESSAGE_TAG, id.0))
    }

    /// A send the app made, as the app refers to it: its own id, which tells nothing about
    /// how many sends other apps made in between.
    pub fn send(&self, client_id: &str, id: i64) -> String {
        format!("snd_{}", self.seal(client_id, SEND_TAG, id))
    }

    pub fn parse_send(&self, client_id: &str, text: &str) -> Option<i64> {
        let sealed = text.strip_prefix("snd_")?;
        self.open(client_id, SEND_TAG, sealed)
    }

    /// The thread an id the app holds names; `None` for anything it was not given.
    pub fn parse_thread(&self, client_id: &str, text: &str) -> Option<ConversationId> {
        let sealed = text.strip_prefix("th_")?;
        self.open(client_id, THREAD_TAG, sealed).map(ConversationId)
    }

    pub fn parse_message(&self, client_id: &str, text: &str) -> Option<MessageId> {
        let sealed = text.strip_prefix("msg_")?;
        self.open(client_id, MESSAGE_TAG, sealed).map(MessageId)
    }

    fn cipher(&self, client_id: &str) -> Aes128 {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(KEY_CONTEXT);
        mac.update(client_id.as_bytes());
        let derived = mac.finalize().into_bytes();
        Aes128::new(GenericArray::from_slice(&derived[..16]))
    }

    fn seal(&self, client_id: &str, tag: [u8; 8], id: i64) -> String {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&tag);
        block[8..].copy_from_slice(&id.to_be_bytes());
        let mut block = GenericArray::from(block);
        self.cipher(client_id).encrypt_block(&mut block);
        URL_SAFE_NO_PAD.encode(block)
    }

    fn open(&self, client_id: &str, tag: [u8; 8], sealed: &str) -> Option<i64> {
        let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(sealed).ok()?.try_into().ok()?;
        let mut block = GenericArray::from(bytes);
        self.cipher(client_id).decrypt_block(&mut block);
        (block[..8] == tag).then(|| i64::from_be_bytes(block[8..].try_into().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> PairwiseIds {
        PairwiseIds::from_hex(&PairwiseIds::generate_hex()).unwrap()
    }

    #[test]
    fn ids_round_trip_for_their_app_only() {
        let ids = ids();
        let thread = ids.thread("cfd_app_a", ConversationId(7));
        assert_eq!(ids.thread("cfd_app_a", ConversationId(7)), thread);
        assert_eq!(
            ids.parse_thread("cfd_app_a", &thread),
            Some(ConversationId(7))
        );
        // Another app sees another id, and cannot use this one.
        assert_ne!(ids.thread("cfd_app_b", ConversationId(7)), thread);
        assert_eq!(ids.parse_thread("cfd_app_b", &thread), None);
        // A thread id is not a message id, and garbage names nothing.
        let message = ids.message("cfd_app_a", MessageId(7));
        assert_eq!(ids.parse_message("cfd_app_a", &message), Some(MessageId(7)));
        assert_eq!(
            ids.parse_message("cfd_app_a", &thread.replacen("th_", "msg_", 1)),
            None
        );
        for junk in ["", "th_", "th_AAAA", "7", "th_!!!!!!!!!!!!!!!!!!!!!!"] {
            assert_eq!(ids.parse_thread("cfd_app_a", junk), None, "{junk}");
        }
    }

    #[test]
    fn a_different_deployment_secret_gives_different_ids() {
        let (a, b) = (ids(), ids());
        assert_ne!(
            a.thread("cfd_app_a", ConversationId(1)),
            b.thread("cfd_app_a", ConversationId(1))
        );
    }
}
