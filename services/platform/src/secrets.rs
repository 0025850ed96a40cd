//! Credentials at rest: sealed with an AEAD cipher (XChaCha20-Poly1305) under a key from the
//! environment, with key rotation.
//!
//! A keyring holds one *current* key, used to seal, and any number of *previous* keys, still
//! accepted to open. Each sealed value names the key that sealed it, so rotation is: add a new
//! key as current, keep the old one as previous, re-seal every stored value
//! ([`Keyring::reseal`]), then drop the old key. No downtime: while re-sealing runs, both keys
//! open.
//!
//! The environment variable `FERRY_CREDENTIALS_KEY` holds the keyring as
//! `kid:base64key[,kid:base64key...]`, current key first; each key is 32 random bytes
//! (`head -c32 /dev/urandom | base64`). A sealed value reads `v1.<kid>.<nonce>.<ciphertext>`
//! (base64url), and is bound to its context (e.g. the integration id and field name) through
//! the cipher's associated data, so a sealed value copied to another record does not open.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The environment variable holding the keyring.
pub const KEYRING_ENV: &str = "FERRY_CREDENTIALS_KEY";

const VERSION: &str = "v1";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Why sealing or opening failed. Never contains key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The keyring text is malformed.
    #[error("invalid credentials keyring: {0}")]
    InvalidKeyring(String),
    /// No keyring is configured.
    #[error("no credentials key configured: set {KEYRING_ENV}")]
    Missing,
    /// The sealed value is not in the `v1.<kid>.<nonce>.<ciphertext>` form.
    #[error("malformed sealed value")]
    Malformed,
    /// The sealed value names a key the keyring does not have.
    #[error("sealed with key {0:?}, which is not in the keyring")]
    UnknownKey(String),
    /// Wrong key, wrong context, or tampered ciphertext.
    #[error("sealed value does not open (wrong key or context, or altered)")]
    Open,
}

/// The keys credentials are sealed with.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, XChaCha20Poly1305>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Parses `kid:base64key[,kid:base64key...]`, current key first.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut current = None;
        let mut keys = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, encoded) = entry.split_once(':').ok_or_else(|| {
                SecretError::InvalidKeyring("each key must read <id>:<base64 of 32 bytes>".into())
            })?;
            if kid.is_empty()
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(SecretError::InvalidKeyring(format!(
                    "key id {kid:?} must be letters, digits, '-' or '_'"
                )));
            }
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| SecretError::InvalidKeyring(format!("key {kid} is not base64")))?;
            if bytes.len() != KEY_LEN {
                return Err(SecretError::InvalidKeyring(format!(
                    "key {kid} has {} bytes; it must have {KEY_LEN}",
                    bytes.len()
                )));
            }
            let cipher = XChaCha20Poly1305::new(Key::from_slice(&bytes));
            if keys.insert(kid.to_owned(), cipher).is_some() {
                return Err(SecretError::InvalidKeyring(format!(
                    "key id {kid} appears twice"
                )));
            }
            current.get_or_insert_with(|| kid.to_owned());
        }
        let current = current.ok_or(SecretError::Missing)?;
        Ok(Self { current, keys })
    }

    /// The keyring in [`KEYRING_ENV`].
    pub fn from_env() -> Result<Self, SecretError> {
        match std::env::var(KEYRING_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text),
            _ => Err(SecretError::Missing),
        }
    }

    /// A keyring with one fresh random key (the embedded default stores it in its data
    /// directory), returned with its text form.
    pub fn generate(kid: &str) -> Result<(Self, String), SecretError> {
        let key: [u8; KEY_LEN] = rand::random();
        let text = format!("{kid}:{}", STANDARD.encode(key));
        Ok((Self::parse(&text)?, text))
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` bound to `context` (e.g. `integration/<id>/mailchimp.api_key`).
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        let cipher = self
            .keys
            .get(&self.current)
            .ok_or_else(|| SecretError::UnknownKey(self.current.clone()))?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        Ok(format!(
            "{VERSION}.{}.{}.{}",
            self.current,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        ))
    }

    /// Opens a sealed value with the key it names, checking its `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let (kid, nonce, ciphertext) = parts(sealed)?;
        let cipher = self
            .keys
            .get(kid)
            .ok_or_else(|| SecretError::UnknownKey(kid.to_owned()))?;
        let plaintext = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Open)
    }

    /// Whether `sealed` was sealed with an older key and should be re-sealed.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        parts(sealed).is_ok_and(|(kid, _, _)| kid != self.current)
    }

    /// Opens with whichever key sealed it and seals again with the current key.
    pub fn reseal(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let plaintext = self.open(sealed, context)?;
        self.seal(&plaintext, context)
    }
}

fn parts(sealed: &str) -> Result<(&str, Vec<u8>, Vec<u8>), SecretError> {
    let mut it = sealed.split('.');
    let (Some(VERSION), Some(kid), Some(nonce), Some(ciphertext), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(SecretError::Malformed);
    };
    let nonce = URL_SAFE_NO_PAD
        .decode(nonce)
        .map_err(|_| SecretError::Malformed)?;
    if nonce.len() != NONCE_LEN {
        return Err(SecretError::Malformed);
    }
    let ciphertext = URL_SAFE_NO_PAD
        .decode(ciphertext)
        .map_err(|_| SecretError::Malformed)?;
    Ok((kid, nonce, ciphertext))
}

/// What may be shown of a secret once saved: its last four characters, e.g. `…9f3a`
/// (nothing for short secrets).
pub fn hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "…".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    #[test]
    fn seals_and_opens_in_context() {
        let ring = Keyring::parse(&format!("k1:{}", key(1))).unwrap();
        let sealed = ring
            .seal("abc123-us19", "integration/7/mailchimp.api_key")
            .unwrap();
        assert!(sealed.starts_with("v1.k1."));
        assert!(!sealed.contains("abc123"));
        assert_eq!(
            ring.open(&sealed, "integration/7/mailchimp.api_key")
                .unwrap(),
            "abc123-us19"
        );
        // The same value under another record's context does not open.
        assert_eq!(
            ring.open(&sealed, "integration/8/mailchimp.api_key"),
            Err(SecretError::Open)
        );
        // Two seals of one value differ (fresh nonce).
        assert_ne!(
            sealed,
            ring.seal("abc123-us19", "integration/7/mailchimp.api_key")
                .unwrap()
        );
    }

    #[test]
    fn tampering_is_detected() {
        let ring = Keyring::parse(&format!("k1:{}", key(1))).unwrap();
        let sealed = ring.seal("secret", "ctx").unwrap();
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(ring.open(&tampered, "ctx"), Err(SecretError::Open));
        assert_eq!(ring.open("v1.k1.nope", "ctx"), Err(SecretError::Malformed));
        assert_eq!(ring.open("plain text", "ctx"), Err(SecretError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_values_open_and_reseals_them() {
        let old = Keyring::parse(&format!("k1:{}", key(1))).unwrap();
        let sealed = old.seal("secret", "ctx").unwrap();
        let rotated = Keyring::parse(&format!("k2:{},k1:{}", key(2), key(1))).unwrap();
        assert_eq!(rotated.current_key_id(), "k2");
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(rotated.open(&sealed, "ctx").unwrap(), "secret");
        let resealed = rotated.reseal(&sealed, "ctx").unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        // Once the old key is gone, only the re-sealed value opens.
        let new_only = Keyring::parse(&format!("k2:{}", key(2))).unwrap();
        assert_eq!(new_only.open(&resealed, "ctx").unwrap(), "secret");
        assert_eq!(
            new_only.open(&sealed, "ctx"),
            Err(SecretError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn keyring_errors_are_precise_and_never_echo_keys() {
        assert_eq!(Keyring::parse("").unwrap_err(), SecretError::Missing);
        let short = Keyring::parse(&format!("k1:{}", STANDARD.encode([0u8; 16]))).unwrap_err();
        assert!(short.to_string().contains("16 bytes"));
        let not_b64 = Keyring::parse("k1:%%%").unwrap_err();
        assert!(!not_b64.to_string().contains("%%%"));
        assert!(Keyring::parse(&format!("k1:{},k1:{}", key(1), key(2))).is_err());
        assert!(Keyring::parse(&format!("bad id:{}", key(1))).is_err());
        let ring = Keyring::parse(&format!("k1:{}", key(1))).unwrap();
        assert!(!format!("{ring:?}").contains(&key(1)));
    }

    #[test]
    fn hints_show_only_the_tail() {
        assert_eq!(hint("0123456789abcdef-us19"), "…us19");
        assert_eq!(hint("short"), "…");
    }

    #[test]
    fn generated_keyrings_work() {
        let (ring, text) = Keyring::generate("local").unwrap();
        let again = Keyring::parse(&text).unwrap();
        let sealed = ring.seal("x", "c").unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), "x");
    }
}
