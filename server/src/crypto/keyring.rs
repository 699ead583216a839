//! The keys this process holds in memory: the master keys by id ([`MasterKeys`]) and the
//! token-hash key, together the [`Keyring`] every stored value is sealed through.
//!
//! Several master keys may be loaded at once: the database says which one is active, and every
//! wrapped data key names the key that wrapped it, so keys being rotated out keep working until
//! the rewrap ends. When a key id turns up that is not loaded, the keys' source is asked again
//! (at most once a second) through [`KeyReload`]: that is how a server follows `keys rotate`.
//!
//! It owns keys in memory only; it must not read files or the environment (`crate::key_file`
//! does, and implements [`KeyReload`]) nor the database (`crate::unlock` loads what the keyring
//! needs at start-up and hands it over).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use super::{
    CryptoError, DataKey, DataKeyBinding, DataKeyCipher, KEY_LEN, KeyBytes, MasterKey, StoredDataKey, ValueCipher, hex,
    random_key,
};

/// How often the source may be asked again when an unknown key id turns up.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Where more master keys may turn up while the process runs.
pub trait KeyReload: Send + Sync {
    /// The keys the source holds now, or `None` for a source that cannot change.
    fn reload(&self) -> Option<anyhow::Result<Vec<KeyBytes>>>;
    /// The source, for messages.
    fn describe(&self) -> String;
}

/// The master keys loaded in this process, by id.
pub struct MasterKeys {
    keys: RwLock<HashMap<String, Arc<MasterKey>>>,
    /// Ids in the order the source lists them.
    order: RwLock<Vec<String>>,
    source: Box<dyn KeyReload>,
    last_reload: Mutex<Option<Instant>>,
}

impl MasterKeys {
    /// `keys`, read from `source`, which is asked again for a key id that is not loaded.
    pub fn new(keys: &[KeyBytes], source: Box<dyn KeyReload>) -> Self {
        let masters = Self {
            keys: RwLock::new(HashMap::new()),
            order: RwLock::new(Vec::new()),
            source,
            last_reload: Mutex::new(None),
        };
        masters.add(keys);
        masters
    }

    /// Loads `keys` beside those loaded already.
    pub fn add(&self, keys: &[KeyBytes]) {
        let (Ok(mut map), Ok(mut order)) = (self.keys.write(), self.order.write()) else {
            return;
        };
        for key in keys {
            let master = MasterKey::new(key);
            if !map.contains_key(master.id()) {
                order.push(master.id().to_owned());
                map.insert(master.id().to_owned(), Arc::new(master));
            }
        }
    }

    /// The source the keys came from, for messages.
    pub fn describe_source(&self) -> String {
        self.source.describe()
    }

    /// Ids of the loaded keys, in the source's order.
    pub fn ids(&self) -> Vec<String> {
        self.order.read().map(|o| o.clone()).unwrap_or_default()
    }

    fn loaded(&self, id: &str) -> Option<Arc<MasterKey>> {
        self.keys.read().ok().and_then(|keys| keys.get(id).cloned())
    }

    /// The loaded key `id`; asks the source again (rate-limited) when it is not loaded yet.
    pub fn get(&self, id: &str) -> Result<Arc<MasterKey>, CryptoError> {
        let unknown = || CryptoError::UnknownMasterKey(id.to_owned());
        if let Some(key) = self.loaded(id) {
            return Ok(key);
        }
        // The re-read happens under this lock, and every miss checks again once it holds it:
        // readers that miss while another re-reads wait for that re-read and find the key,
        // instead of failing because a re-read was not due (a 500 during `keys rotate`).
        let Ok(mut last) = self.last_reload.lock() else {
            return Err(unknown());
        };
        if let Some(key) = self.loaded(id) {
            return Ok(key);
        }
        if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
            return Err(unknown());
        }
        *last = Some(Instant::now());
        match self.source.reload() {
            Some(Ok(keys)) => self.add(&keys),
            Some(Err(e)) => tracing::warn!(error = %e, "cannot re-read the master keys"),
            None => return Err(unknown()),
        }
        let key = self.loaded(id).ok_or_else(unknown)?;
        tracing::info!(key_id = id, "loaded a new master key from {}", self.source.describe());
        Ok(key)
    }

    /// A fresh data key wrapped by the master key `kek_id`.
    pub fn new_wrapped_key(
        &self,
        kek_id: &str,
        binding: &DataKeyBinding<'_>,
    ) -> Result<(KeyBytes, Vec<u8>), CryptoError> {
        let key = random_key();
        let wrapped = self.get(kek_id)?.wrap(&key, binding)?;
        Ok((key, wrapped))
    }

    pub fn unwrap_key(&self, key: &StoredDataKey<'_>) -> Result<KeyBytes, CryptoError> {
        self.get(key.kek_id)?.unwrap_key(key.wrapped, &key.binding)
    }
}

/// Everything secret this process holds: the master keys and the token-hash key.
pub struct Keyring {
    masters: MasterKeys,
    /// HMAC keyed with the token key (itself stored wrapped in `data_keys`), ready to clone.
    token_mac: TokenMac,
}

/// An HMAC-SHA256 already keyed: cloning it costs less than keying a new one per token.
#[derive(Clone)]
pub(crate) struct TokenMac(Hmac<Sha256>);

impl TokenMac {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> anyhow::Result<Self> {
        Ok(Self(<Hmac<Sha256>>::new_from_slice(key).map_err(|_| anyhow::anyhow!("cannot key HMAC-SHA256"))?))
    }

    /// HMAC(key, sha256) in hex: the stored form of a token whose SHA-256 is `sha256`.
    pub(crate) fn hash(&self, sha256: &[u8]) -> String {
        hex(&self.0.clone().chain_update(sha256).finalize().into_bytes())
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("master_keys", &self.masters.ids()).finish_non_exhaustive()
    }
}

impl Keyring {
    /// The keyring of `masters`, hashing tokens with `token_key` (the unwrapped token-hash key).
    pub fn new(masters: MasterKeys, token_key: &[u8; KEY_LEN]) -> anyhow::Result<Self> {
        Ok(Self { masters, token_mac: TokenMac::new(token_key)? })
    }

    pub fn masters(&self) -> &MasterKeys {
        &self.masters
    }

    /// The stored form of a token: HMAC-SHA256 under the token key of the token's SHA-256, in
    /// hex. Keyed, so a database dump alone cannot test guesses; over the SHA-256, so hashes
    /// stored before the key existed could be converted without knowing the tokens.
    pub fn hash_token(&self, token: &str) -> String {
        self.token_mac.hash(&Sha256::digest(token.as_bytes()))
    }
}

impl ValueCipher for Keyring {
    fn new_data_key(&self, kek_id: &str, binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
        Ok(self.masters.new_wrapped_key(kek_id, binding)?.1)
    }

    fn data_key(&self, key: &StoredDataKey<'_>) -> Result<Arc<dyn DataKeyCipher>, CryptoError> {
        let key = self.masters.unwrap_key(key)?;
        Ok(Arc::new(DataKey::new(&key)))
    }
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    /// A key source that has gained a key since start-up (as the key file after `keys rotate`)
    /// and takes a while to read, as a file on a busy disk does.
    struct SlowSource;

    impl KeyReload for SlowSource {
        fn reload(&self) -> Option<anyhow::Result<Vec<KeyBytes>>> {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Some(Ok(vec![[1u8; KEY_LEN].into(), [2u8; KEY_LEN].into()]))
        }

        fn describe(&self) -> String {
            "the test source".to_owned()
        }
    }

    /// Many readers meet the new key at once: every one of them gets it, not only the one whose
    /// miss triggered the re-read (before, the others failed: a 500 during `keys rotate`).
    #[test]
    fn concurrent_misses_on_a_newly_added_key_all_find_it() {
        let masters = Arc::new(MasterKeys::new(&[[1u8; KEY_LEN].into()], Box::new(SlowSource)));
        let id = MasterKey::new(&[2u8; KEY_LEN]).id().to_owned();
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (masters, barrier, id) = (masters.clone(), barrier.clone(), id.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    masters.get(&id).is_ok()
                })
            })
            .collect();
        let found = readers.into_iter().filter_map(|r| r.join().ok()).filter(|ok| *ok).count();
        assert_eq!(found, 8, "every concurrent reader finds the new key");
    }
}
