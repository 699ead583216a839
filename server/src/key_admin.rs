//! `keys list | rotate | prune`: the operator's side of master-key rotation.
//!
//! Rotation runs beside live servers. It first makes sure every server can read the new key
//! (appended to the key file they read, or already in their `SG_MASTER_KEY`), then makes it
//! active — new data keys are wrapped with it from then on — and re-wraps the existing data keys
//! in short batches. Servers keep reading throughout: each data key names the master key that
//! wrapped it, and both stay loaded. When no data key uses an old master key any more it is
//! marked retired, and `keys prune` removes it from the key file.
//!
//! It must not hold SQL (`store::keys`) nor read or write the key file itself (`crate::key_file`).

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{
    config::{DatabaseArgs, RotateArgs},
    crypto::MasterKey,
    key_file::{self, KeySource},
    server::{key_source, open_store},
    store::keys,
};

/// How often rotation prints its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub async fn list(args: DatabaseArgs) -> anyhow::Result<()> {
    let (db, keyring) = open_store(&args).await?;
    let registered = keys::registered(&db).await;
    db.close().await;
    let loaded = keyring.masters().ids();
    println!("{:<18} {:<9} {:>10}  loaded", "id", "state", "data keys");
    for key in registered? {
        let here = if loaded.contains(&key.id) { "yes" } else { "no" };
        println!("{:<18} {:<9} {:>10}  {here}", key.id, key.state, key.data_keys);
    }
    Ok(())
}

pub async fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    let source = key_source(&args.database)?;
    let (db, keyring) = open_store(&args.database).await?;
    let result = async {
        crate::audit::operator::acting("");
        let masters = keyring.masters();
        let registered: Vec<String> = keys::registered(&db).await?.into_iter().map(|k| k.id).collect();
        let now_in_source = source.read()?;
        masters.add(&now_in_source);
        let fresh = now_in_source.iter().map(|k| MasterKey::new(k).id().to_owned()).find(|id| !registered.contains(id));
        let new_id = match (fresh, &source) {
            (Some(id), _) => id,
            (None, KeySource::File(path)) => {
                let key = crate::crypto::random_key();
                // On disk before anything is wrapped with it.
                key_file::append_key_file(path, &key)?;
                masters.add(&source.read()?);
                eprintln!("added a new master key to {}", path.display());
                MasterKey::new(&key).id().to_owned()
            }
            (None, _) => bail!(
                "SG_MASTER_KEY holds no key the database does not know: add the new key to SG_MASTER_KEY (of \
                 every server too) and run this again"
            ),
        };
        // Present and well-formed before it becomes active.
        masters.get(&new_id)?;
        keys::activate(&db, &new_id).await?;
        eprintln!("master key {new_id} is active; re-wrapping data keys");
        let total = keys::count_not_wrapped_by(&db, &new_id).await?;
        let (started, mut last_report, mut done) = (Instant::now(), Instant::now(), 0u64);
        loop {
            let n = keys::rewrap_batch(&db, masters, &new_id, args.batch_size).await?;
            done += n;
            if last_report.elapsed() >= PROGRESS_EVERY {
                eprintln!("re-wrapped {done} of {total} data keys");
                last_report = Instant::now();
            }
            // Rows added meanwhile are wrapped with the new key already; an empty batch means
            // none is left (a row changed under a batch is simply picked up by the next one).
            if n == 0 && keys::count_not_wrapped_by(&db, &new_id).await? == 0 {
                break;
            }
        }
        let retired = keys::retire_unused(&db).await?;
        eprintln!("re-wrapped {done} data keys in {:.1} s", started.elapsed().as_secs_f64());
        if retired.is_empty() {
            println!("rotated to master key {new_id}");
        } else {
            println!(
                "rotated to master key {new_id}; retired {}: remove it from every key source \
                 (`keys prune` for a key file) once all servers run with the new key",
                retired.join(", ")
            );
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

pub async fn prune(args: DatabaseArgs) -> anyhow::Result<()> {
    let source = key_source(&args)?;
    let (db, _keyring) = open_store(&args).await?;
    let registered = keys::registered(&db).await;
    db.close().await;
    let KeySource::File(path) = &source else {
        bail!("only a key file can be pruned; remove retired keys from SG_MASTER_KEY by hand");
    };
    let retired: Vec<String> =
        registered?.into_iter().filter(|k| k.state == keys::STATE_RETIRED && k.data_keys == 0).map(|k| k.id).collect();
    let all = source.read()?;
    let (keep, drop): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|k| !retired.iter().any(|id| id == MasterKey::new(k).id()));
    if drop.is_empty() {
        println!("nothing to prune in {}", path.display());
        return Ok(());
    }
    key_file::rewrite_key_file(path, &keep)?;
    println!("removed {} retired master key(s) from {}", drop.len(), path.display());
    Ok(())
}
