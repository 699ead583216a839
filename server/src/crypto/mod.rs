//! Envelope encryption of secret values.
//!
//! Three layers of keys:
//! - **Master keys (KEKs)**, 32 random bytes each, live only in the key file or environment
//!   (`crate::key_file`), and in memory in the [`keyring`]. The database knows them by an id
//!   derived from the key ([`MasterKey::id`]), so a wrong key is told from the right one before
//!   anything is served.
//! - **Data keys**, 32 random bytes, one per secret group and one for token hashing, stored in
//!   `data_keys` only wrapped (AES-256-GCM) by a master key whose id is stored beside them.
//!   Rotating the master key re-wraps data keys; values are never re-encrypted.
//! - **Values**, sealed with their group's data key.
//!
//! Why a data key per group rather than per tenant: a group is the unit of access control and of
//! deletion, so its key goes with it (a deleted group's wrapped key is deleted in the same
//! transaction); no single data key seals more than one group's values, which keeps every key
//! far below AES-GCM's limit for random nonces (2^32 messages); and rotation re-wraps in batches
//! of groups, which a per-tenant key could not spread out.
//!
//! Every seal uses a fresh random 96-bit nonce and binds the ciphertext to where it belongs with
//! associated data: a value to (tenant, group, secret, version), a data key to (its id, purpose,
//! group). A ciphertext copied to another row, or a row whose version was changed, fails to
//! open — an error, never another secret's value.
//!
//! This module and [`keyring`] take bytes and keys and return bytes: they must not read files,
//! the environment or the database (`crate::key_file`, `crate::unlock` and `store::keys` do).

pub mod keyring;

use aes_gcm::{
    Aes256Gcm, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use std::sync::Arc;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

pub use keyring::Keyring;

use crate::sensitive::SecretString;

/// Length of every key: AES-256.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// First byte of every sealed blob: the layout `[format][nonce][ciphertext and tag]`.
const FORMAT_V1: u8 = 1;

/// A failure to seal or open. Deliberately without detail: which check failed is no business of
/// a caller, and the inputs must never be echoed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The data was changed, moved to another row, or sealed under another key.
    #[error("integrity check failed")]
    Integrity,
    /// The master key that wrapped a data key is not loaded.
    #[error("master key {0} is not loaded")]
    UnknownMasterKey(String),
    /// Encryption refused its input (only for messages beyond AES-GCM's 64 GiB limit).
    #[error("encryption failed")]
    Seal,
}

/// A 32-byte key that is zeroed when dropped and never printed.
pub type KeyBytes = Zeroizing<[u8; KEY_LEN]>;

/// A fresh random key.
pub fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill_bytes(key.as_mut());
    key
}

/// A master key (KEK), ready to wrap and unwrap data keys.
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self { id: Self::id_of(key), cipher: Aes256Gcm::new(key.into()) }
    }

    /// The id the database knows this key by: the first 8 bytes of SHA-256(label ‖ key), in
    /// hex. It identifies the key (a key check value) without revealing anything about it: the
    /// key is 256 random bits, far beyond guessing from a hash.
    fn id_of(key: &[u8; KEY_LEN]) -> String {
        let digest = Sha256::new().chain_update(b"secret-groups master key id v1").chain_update(key).finalize();
        hex(&digest[..8])
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wraps `key` for the data key row described by `binding`.
    pub fn wrap(&self, key: &[u8; KEY_LEN], binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.cipher, &binding.aad(), key)
    }

    pub fn unwrap_key(&self, wrapped: &[u8], binding: &DataKeyBinding<'_>) -> Result<KeyBytes, CryptoError> {
        let plain = Zeroizing::new(open_with(&self.cipher, &binding.aad(), wrapped)?);
        let key: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError::Integrity)?;
        Ok(Zeroizing::new(key))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Where a data key belongs; bound to its wrapped form as associated data.
#[derive(Debug, Clone, Copy)]
pub struct DataKeyBinding<'a> {
    pub id: &'a str,
    pub purpose: &'a str,
    /// The group whose values it seals (`None` for the token key).
    pub group_id: Option<&'a str>,
}

impl DataKeyBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        aad(b"sg:data-key:v1", &[self.id, self.purpose, self.group_id.unwrap_or("")])
    }
}

/// A data key as stored: the master key that wrapped it and the wrapped bytes.
#[derive(Debug, Clone, Copy)]
pub struct StoredDataKey<'a> {
    pub binding: DataKeyBinding<'a>,
    pub kek_id: &'a str,
    pub wrapped: &'a [u8],
}

/// Where a value belongs; bound to its ciphertext as associated data.
#[derive(Debug, Clone, Copy)]
pub struct ValueBinding<'a> {
    pub tenant_id: &'a str,
    pub group_id: &'a str,
    pub secret_id: &'a str,
    pub version: i64,
}

impl ValueBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        aad(b"sg:value:v1", &[self.tenant_id, self.group_id, self.secret_id, &self.version.to_string()])
    }
}

/// What the store needs to keep values sealed. [`Keyring`] is the implementation the server
/// runs; the trait is the seam that lets the encryption benchmark run the very same store code
/// over plaintext for comparison.
pub trait ValueCipher: Send + Sync {
    /// A fresh data key for `binding`, wrapped by the master key `kek_id`.
    fn new_data_key(&self, kek_id: &str, binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError>;
    /// The data key `key`, unwrapped once, to seal and open any number of values with (the
    /// store keeps it for one request: one unwrap per group and request, not one per value).
    fn data_key(&self, key: &StoredDataKey<'_>) -> Result<Arc<dyn DataKeyCipher>, CryptoError>;
}

/// One unwrapped data key: seals and opens the values of its group.
pub trait DataKeyCipher: Send + Sync {
    /// `plaintext` sealed for the row `value`.
    fn seal(&self, value: &ValueBinding<'_>, plaintext: &str) -> Result<Vec<u8>, CryptoError>;
    /// The value sealed in `sealed`, if it was sealed for exactly this row with this key.
    fn open(&self, value: &ValueBinding<'_>, sealed: &[u8]) -> Result<SecretString, CryptoError>;
}

/// An unwrapped data key: AES-256-GCM with its key schedule ready (and, with aes-gcm's
/// `zeroize` feature, zeroed when dropped). Never printed.
pub struct DataKey(Aes256Gcm);

impl DataKey {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }
}

impl DataKeyCipher for DataKey {
    fn seal(&self, value: &ValueBinding<'_>, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.0, &value.aad(), plaintext.as_bytes())
    }

    fn open(&self, value: &ValueBinding<'_>, sealed: &[u8]) -> Result<SecretString, CryptoError> {
        let plain = open_with(&self.0, &value.aad(), sealed)?;
        // Sealed values were UTF-8 text; anything else cannot have been sealed here.
        String::from_utf8(plain).map(SecretString::new).map_err(|e| {
            // Zero the bytes that turned out not to be text before they are dropped.
            drop(Zeroizing::new(e.into_bytes()));
            CryptoError::Integrity
        })
    }
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad }).map_err(|_| CryptoError::Seal)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (format, rest) = sealed.split_first().ok_or(CryptoError::Integrity)?;
    if *format != FORMAT_V1 || rest.len() < NONCE_LEN {
        return Err(CryptoError::Integrity);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Integrity)?;
    cipher.decrypt(&Nonce::from(nonce), Payload { msg: body, aad }).map_err(|_| CryptoError::Integrity)
}

/// Associated data: a domain label, then each part length-prefixed so no two bindings can
/// produce the same bytes.
fn aad(label: &[u8], parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    out.extend_from_slice(label);
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(secret_id: &str, version: i64) -> ValueBinding<'_> {
        ValueBinding { tenant_id: "t", group_id: "g", secret_id, version }
    }

    #[test]
    fn values_open_only_where_they_were_sealed() {
        let key = DataKey::new(&random_key());
        let sealed = key.seal(&value("s1", 1), "canary").unwrap();
        assert_eq!(key.open(&value("s1", 1), &sealed).unwrap().expose(), "canary");
        assert!(key.open(&value("s2", 1), &sealed).is_err(), "another secret");
        assert!(key.open(&value("s1", 2), &sealed).is_err(), "another version");
        assert!(DataKey::new(&random_key()).open(&value("s1", 1), &sealed).is_err(), "another key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open(&value("s1", 1), &flipped).is_err(), "a flipped bit");
        assert!(key.open(&value("s1", 1), &sealed[..10]).is_err(), "truncated");
        // A fresh nonce every time: sealing the same value twice gives different bytes.
        assert_ne!(sealed, key.seal(&value("s1", 1), "canary").unwrap());
    }

    #[test]
    fn wrapped_keys_open_only_for_their_row_and_master_key() {
        let master = MasterKey::new(&random_key());
        let data_key = random_key();
        let binding = DataKeyBinding { id: "k1", purpose: "secret-group", group_id: Some("g1") };
        let wrapped = master.wrap(&data_key, &binding).unwrap();
        assert_eq!(*master.unwrap_key(&wrapped, &binding).unwrap(), *data_key);
        let other_group = DataKeyBinding { group_id: Some("g2"), ..binding };
        assert!(master.unwrap_key(&wrapped, &other_group).is_err());
        assert!(MasterKey::new(&random_key()).unwrap_key(&wrapped, &binding).is_err());
    }

    #[test]
    fn master_key_ids_identify_keys() {
        let key = random_key();
        assert_eq!(MasterKey::new(&key).id(), MasterKey::new(&key).id());
        assert_ne!(MasterKey::new(&key).id(), MasterKey::new(&random_key()).id());
        assert_eq!(MasterKey::new(&key).id().len(), 16);
        assert!(!format!("{:?}", MasterKey::new(&key)).contains(&hex(key.as_ref())));
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        assert_ne!(aad(b"l", &["ab", "c"]), aad(b"l", &["a", "bc"]));
    }
}
