//! Encryption at rest for secrets kept in the catalog (tenants' backend passwords).
//!
//! AES-256-GCM with a random 96-bit nonce per message; the stored form is
//! `base64(nonce || ciphertext || tag)` (standard alphabet, padded).

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore;

use crate::CatalogError;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte catalog key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(hex_key: &str) -> Result<Self, CatalogError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut key).map_err(|e| {
            CatalogError::Crypto(format!(
                "the catalog key must be 64 hex digits (32 bytes): {e}"
            ))
        })?;
        Ok(SecretKey(key))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// A fresh random key (for `octodb-admin key generate` and tests).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        SecretKey(key)
    }

    /// The key as 64 lower-case hex digits (to print a generated key once).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0))
    }

    /// Encrypts `plaintext` under a fresh random nonce: `base64(nonce || ciphertext)`.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CatalogError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| CatalogError::Crypto("encryption failed".to_string()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(BASE64.encode(out))
    }

    /// Decrypts what [`SecretKey::encrypt`] produced. Fails on a wrong key or any tampering.
    pub fn decrypt(&self, encoded: &str) -> Result<String, CatalogError> {
        let raw = BASE64
            .decode(encoded.trim())
            .map_err(|e| CatalogError::Crypto(format!("ciphertext is not base64: {e}")))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CatalogError::Crypto("ciphertext is too short".to_string()));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let plaintext = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| {
                CatalogError::Crypto(
                    "decryption failed: wrong catalog key or tampered ciphertext".to_string(),
                )
            })?;
        String::from_utf8(plaintext)
            .map_err(|_| CatalogError::Crypto("decrypted secret is not UTF-8".to_string()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_with_random_nonces() {
        let key = SecretKey::from_hex(HEX).unwrap();
        let a = key.encrypt("s3cret-pässword").unwrap();
        let b = key.encrypt("s3cret-pässword").unwrap();
        assert_ne!(a, b, "each encryption uses a fresh nonce");
        assert_eq!(key.decrypt(&a).unwrap(), "s3cret-pässword");
        assert_eq!(key.decrypt(&b).unwrap(), "s3cret-pässword");
        assert_eq!(key.decrypt(&key.encrypt("").unwrap()).unwrap(), "");
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        let key = SecretKey::from_hex(HEX).unwrap();
        let other = SecretKey::generate();
        let ct = key.encrypt("secret").unwrap();
        assert_eq!(other.decrypt(&ct).unwrap_err().kind(), "crypto");

        let mut raw = BASE64.decode(&ct).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(key.decrypt(&BASE64.encode(&raw)).is_err());
        assert!(key.decrypt("not base64!").is_err());
        assert!(key.decrypt(&BASE64.encode([0u8; 20])).is_err());
    }

    #[test]
    fn hex_parsing() {
        let key = SecretKey::from_hex(&format!(" {HEX}\n")).unwrap();
        assert_eq!(key.to_hex(), HEX);
        assert!(SecretKey::from_hex(&HEX[..62]).is_err());
        assert!(SecretKey::from_hex(&HEX.replace('0', "g")).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::from_hex(HEX).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("0001"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
