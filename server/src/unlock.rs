//! Unlocking the store at start-up: the master keys read from their source ([`KeySource`]),
//! checked against the database's key registry (`store::keys`), the first key created on a fresh
//! database, the token-hash key unwrapped, and values stored before encryption existed sealed.
//!
//! It owns that order of steps and its error messages; it must not hold SQL (`store::keys`
//! does), read or write the key file itself (`key_file` does), or do cryptography (`crypto`
//! does). It is what lets `crypto` know no database and `store` know no key file.

use anyhow::{Context as _, bail};

use crate::{
    crypto::{Keyring, keyring::MasterKeys, random_key},
    key_file::{KeySource, append_key_file, warn_if_in_git_work_tree},
    store::{Db, keys as stored},
};

/// Loads the master keys and checks them against the database before anything is served: the
/// active key and every key that wrapped a stored data key must be loaded, or this fails with
/// an error that says which. On a fresh database the first key is created (in a new key file,
/// or in memory for an in-memory database) and registered as active. Then the token-hash key is
/// unwrapped (created on first use), and values written before encryption existed are sealed.
pub async fn open_keyring(db: &Db, source: KeySource) -> anyhow::Result<Keyring> {
    let fresh = stored::active(db).await?.is_none();
    let masters = load_masters(source, fresh)?;
    let loaded = masters.ids();
    let Some(first) = loaded.first() else {
        bail!(
            "no master key: {} does not exist or holds no key, but the database already holds encrypted data; \
             start with the key file it was created with (SG_MASTER_KEY_FILE) or SG_MASTER_KEY",
            masters.describe_source()
        );
    };
    if fresh {
        stored::register_active(db, first).await?;
    }
    let active = stored::active(db).await?.context("the database has no active master key")?;
    let mut needed = stored::kek_ids_in_use(db).await?;
    needed.push(active.clone());
    needed.sort();
    needed.dedup();
    let missing: Vec<&String> = needed.iter().filter(|id| !loaded.contains(id)).collect();
    if !missing.is_empty() {
        bail!(
            "wrong or missing master key: the database needs master key(s) {} (active: {active}), but {} holds \
             {}; start with the key file the database was created or last rotated with",
            join(&missing),
            masters.describe_source(),
            join(&loaded.iter().collect::<Vec<_>>()),
        );
    }
    let token_key = stored::token_key(db, &masters).await?;
    let keyring = Keyring::new(masters, &token_key)?;
    let sealed = stored::seal_legacy_values(db, &keyring).await?;
    if sealed > 0 {
        tracing::info!(values = sealed, "sealed values stored before encryption at rest");
    }
    Ok(keyring)
}

/// The source's keys; a fresh database (`may_create`) with none gets a new one, appended to the
/// key file (durably, before anything is sealed under it) or kept in memory.
fn load_masters(source: KeySource, may_create: bool) -> anyhow::Result<MasterKeys> {
    let mut keys = source.read()?;
    if keys.is_empty() && may_create {
        let key = random_key();
        if let KeySource::File(path) = &source {
            append_key_file(path, &key)?;
            tracing::info!(
                path = %path.display(),
                key_id = crate::crypto::MasterKey::new(&key).id(),
                "created a new master key file; back it up separately from the database: without it the \
                 secrets cannot be read"
            );
            warn_if_in_git_work_tree(path);
        }
        keys.push(key);
    }
    Ok(MasterKeys::new(&keys, Box::new(source)))
}

fn join(ids: &[&String]) -> String {
    if ids.is_empty() { "no key".to_owned() } else { ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") }
}
