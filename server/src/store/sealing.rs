//! Sealing and opening the values of a group with its data key, unwrapped once per request.
//!
//! A [`Sealer`] holds one group's unwrapped data key and where its rows belong; [`DataKeys`]
//! unwraps each data key a request meets once and hands out sealers for it, so a list of values
//! from a few groups costs one unwrap per group, not one per value. Both live for one request
//! (or one batch of a start-up task) and are dropped with it: unwrapped keys are never kept
//! across requests, so a rotation or a deleted group takes effect with the next one.
//!
//! It owns the binding of values to their rows (tenant, group, secret, version); it must not
//! hold SQL (the table modules read the rows and the wrapped keys) nor cryptography (`crypto`).

use std::{collections::HashMap, sync::Arc};

use super::error::{StoreError, StoreResult, sealed_row};
use crate::{
    crypto::{DataKeyCipher, StoredDataKey, ValueBinding, ValueCipher},
    sensitive::SecretString,
};

/// Seals and opens the values of one group: its unwrapped data key and where its rows belong.
pub(crate) struct Sealer<'a> {
    key: Arc<dyn DataKeyCipher>,
    tenant_id: &'a str,
    group_id: &'a str,
}

impl<'a> Sealer<'a> {
    /// Unwraps `key`, the data key of the group `group_id` in `tenant_id`.
    pub fn new(
        cipher: &dyn ValueCipher,
        key: &StoredDataKey<'_>,
        tenant_id: &'a str,
        group_id: &'a str,
    ) -> StoreResult<Self> {
        Ok(Self { key: cipher.data_key(key)?, tenant_id, group_id })
    }

    pub fn group_id(&self) -> &'a str {
        self.group_id
    }

    fn binding<'b>(&'b self, secret_id: &'b str, version: i64) -> ValueBinding<'b> {
        ValueBinding { tenant_id: self.tenant_id, group_id: self.group_id, secret_id, version }
    }

    pub fn seal(&self, secret_id: &str, version: i64, value: &str) -> StoreResult<Vec<u8>> {
        self.key
            .seal(&self.binding(secret_id, version), value)
            .map_err(sealed_row(|| format!("secret {secret_id} version {version}")))
    }

    /// The value sealed in `ciphertext` for this secret version; a missing ciphertext is as
    /// corrupt as a tampered one.
    pub fn open(&self, secret_id: &str, version: i64, ciphertext: Option<&[u8]>) -> StoreResult<SecretString> {
        let row = || format!("secret {secret_id} version {version}");
        let ciphertext = ciphertext.ok_or_else(|| StoreError::Corrupt(format!("{} has no ciphertext", row())))?;
        self.key.open(&self.binding(secret_id, version), ciphertext).map_err(sealed_row(row))
    }
}

/// The data keys one request has unwrapped, by data key id.
pub(crate) struct DataKeys<'c> {
    cipher: &'c dyn ValueCipher,
    unwrapped: HashMap<String, Arc<dyn DataKeyCipher>>,
}

impl<'c> DataKeys<'c> {
    pub fn new(cipher: &'c dyn ValueCipher) -> Self {
        Self { cipher, unwrapped: HashMap::new() }
    }

    /// A sealer for the group `group_id` whose data key is `key`, unwrapping it only the first
    /// time this request meets it.
    pub fn sealer<'a>(
        &mut self,
        key: &StoredDataKey<'_>,
        tenant_id: &'a str,
        group_id: &'a str,
    ) -> StoreResult<Sealer<'a>> {
        let unwrapped = match self.unwrapped.get(key.binding.id) {
            Some(unwrapped) => unwrapped.clone(),
            None => {
                let unwrapped = self.cipher.data_key(key)?;
                self.unwrapped.insert(key.binding.id.to_owned(), unwrapped.clone());
                unwrapped
            }
        };
        Ok(Sealer { key: unwrapped, tenant_id, group_id })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::crypto::{
        CryptoError, DataKeyBinding, KeyBytes, Keyring, MasterKey, StoredDataKey,
        keyring::{KeyReload, MasterKeys},
    };

    struct Fixed;

    impl KeyReload for Fixed {
        fn reload(&self) -> Option<anyhow::Result<Vec<KeyBytes>>> {
            None
        }

        fn describe(&self) -> String {
            "the test's key".to_owned()
        }
    }

    /// The real keyring, counting how often a data key is unwrapped.
    struct Counting {
        keyring: Keyring,
        unwraps: AtomicUsize,
    }

    impl ValueCipher for Counting {
        fn new_data_key(&self, kek_id: &str, binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
            self.keyring.new_data_key(kek_id, binding)
        }

        fn data_key(&self, key: &StoredDataKey<'_>) -> Result<Arc<dyn DataKeyCipher>, CryptoError> {
            self.unwraps.fetch_add(1, Ordering::Relaxed);
            self.keyring.data_key(key)
        }
    }

    fn wrapped(cipher: &Counting, binding: &DataKeyBinding<'_>) -> Vec<u8> {
        cipher.new_data_key(&cipher.keyring.masters().ids()[0], binding).expect("wrap")
    }

    #[test]
    fn a_request_unwraps_each_data_key_once() {
        let master = crate::crypto::random_key();
        let kek_id = MasterKey::new(&master).id().to_owned();
        let masters = MasterKeys::new(&[master], Box::new(Fixed));
        let keyring = Keyring::new(masters, &crate::crypto::random_key()).expect("keyring");
        let cipher = Counting { keyring, unwraps: AtomicUsize::new(0) };
        let b1 = DataKeyBinding { id: "k1", purpose: "secret-group", group_id: Some("g1") };
        let b2 = DataKeyBinding { id: "k2", purpose: "secret-group", group_id: Some("g2") };
        let (w1, w2) = (wrapped(&cipher, &b1), wrapped(&cipher, &b2));
        let g1 = StoredDataKey { binding: b1, kek_id: &kek_id, wrapped: &w1 };
        let g2 = StoredDataKey { binding: b2, kek_id: &kek_id, wrapped: &w2 };

        let mut keys = DataKeys::new(&cipher);
        let mut sealed = Vec::new();
        for version in 1..=5 {
            sealed.push(keys.sealer(&g1, "t", "g1").unwrap().seal("s1", version, "value").unwrap());
        }
        for (version, ciphertext) in (1..=5).zip(&sealed) {
            let opened = keys.sealer(&g1, "t", "g1").unwrap().open("s1", version, Some(ciphertext)).unwrap();
            assert_eq!(opened.expose(), "value");
        }
        let other = keys.sealer(&g2, "t", "g2").unwrap();
        assert!(other.open("s1", 1, Some(&sealed[0])).is_err(), "another group's key does not open it");
        assert_eq!(cipher.unwraps.load(Ordering::Relaxed), 2, "one unwrap per data key, not per value");

        // The next request unwraps again: nothing is kept across requests.
        let mut next = DataKeys::new(&cipher);
        next.sealer(&g1, "t", "g1").unwrap();
        assert_eq!(cipher.unwraps.load(Ordering::Relaxed), 3);
    }
}
