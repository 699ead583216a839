//! What encryption at rest costs: the same store operations, run in one process on two SQLite
//! databases with identical data, once through the server's envelope encryption (`Keyring`)
//! and once through a pass-through cipher that stores values as they are. The store code is
//! the same for both; only the `ValueCipher` differs, so the difference is the cost of the
//! cryptography (AES-256-GCM data-key unwrap plus value seal/open) and of the larger rows.
//!
//! Run: `cargo bench -p secret-groups-server --bench encryption` (prints a table).
//! Rounds alternate between the two stores and the median round is reported, so a noisy
//! neighbour affects both sides alike.

use std::time::{Duration, Instant};

use secret_groups_server::{
    crypto::{CryptoError, DataKeyBinding, KeySource, Keyring, StoredDataKey, ValueBinding, ValueCipher},
    sensitive::SecretString,
    store::{
        Db,
        groups::{self, Actor, NewGroup},
        identity, secrets,
    },
};

/// Stores values as they are: the baseline without encryption.
struct Plaintext;

impl ValueCipher for Plaintext {
    fn new_data_key(&self, _kek_id: &str, _binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
        Ok(vec![0; 61])
    }
    fn seal(
        &self,
        _key: &StoredDataKey<'_>,
        _value: &ValueBinding<'_>,
        plaintext: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(plaintext.as_bytes().to_vec())
    }
    fn open(
        &self,
        _key: &StoredDataKey<'_>,
        _value: &ValueBinding<'_>,
        sealed: &[u8],
    ) -> Result<SecretString, CryptoError> {
        String::from_utf8(sealed.to_vec()).map(SecretString::new).map_err(|_| CryptoError::Integrity)
    }
}

struct Store {
    db: Db,
    actor: Actor,
    secret_ids: Vec<String>,
    group_ids: Vec<String>,
}

const SECRETS_PER_GROUP: usize = 10;
const ROUNDS: usize = 7;
const WRITES_PER_ROUND: usize = 200;
const READS_PER_ROUND: usize = 2000;

fn value(i: usize) -> String {
    format!("sk_live_{i:08}_{}", "x".repeat(40))
}

async fn store(dir: &std::path::Path, name: &str) -> anyhow::Result<Store> {
    let db = Db::connect(&format!("sqlite://{}", dir.join(name).display())).await?;
    let created =
        identity::bootstrap(&db, "bench", "bench@localhost", "x").await?.ok_or_else(|| anyhow::anyhow!("fresh"))?;
    let actor = Actor { tenant_id: created.tenant.id, user_id: created.admin.id, email: created.admin.email };
    Ok(Store { db, actor, secret_ids: Vec::new(), group_ids: Vec::new() })
}

async fn create_group(store: &mut Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let new = NewGroup {
        name: format!("g{n}"),
        integration_id: "internal-secret-store".to_owned(),
        manifest: "{}".to_owned(),
        collaborators: Vec::new(),
        secrets: (0..SECRETS_PER_GROUP).map(|k| (format!("K{k}"), SecretString::new(value(n * 100 + k)))).collect(),
    };
    let group = groups::create(&store.db, cipher, &store.actor, new).await?;
    store.secret_ids.extend(group.secrets.into_iter().map(|s| s.id));
    store.group_ids.push(group.group.id);
    Ok(())
}

async fn update_group(store: &Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let id = &store.group_ids[n % store.group_ids.len()];
    let mut entries: Vec<(String, Option<SecretString>)> =
        (0..SECRETS_PER_GROUP).map(|k| (format!("K{k}"), None)).collect();
    entries[0].1 = Some(SecretString::new(value(1_000_000 + n)));
    groups::update(&store.db, cipher, &store.actor, id, &entries).await?;
    Ok(())
}

async fn read(store: &Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let id = &store.secret_ids[(n * 7919) % store.secret_ids.len()];
    let (secret, _) = secrets::get(&store.db, cipher, &store.actor.tenant_id, id).await?;
    anyhow::ensure!(secret.value.is_some(), "a value");
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The encrypted store's keyring: an ephemeral master key, as for an in-memory database.
    let sealed_db = Db::connect(&format!("sqlite://{}", dir.path().join("sealed.db").display())).await?;
    let keyring = Keyring::open(&sealed_db, KeySource::Ephemeral).await?;
    sealed_db.close().await;
    let mut sealed = store(dir.path(), "sealed.db").await?;
    let plain_db = Db::connect(&format!("sqlite://{}", dir.path().join("plain.db").display())).await?;
    // The plaintext store needs an active master-key row for its (dummy) data keys.
    Keyring::open(&plain_db, KeySource::Ephemeral).await?;
    plain_db.close().await;
    let mut plain = store(dir.path(), "plain.db").await?;

    let (mut create_s, mut create_p, mut update_s, mut update_p, mut read_s, mut read_p) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..WRITES_PER_ROUND {
            create_group(&mut sealed, &keyring, n + i).await?;
        }
        create_s.push(start.elapsed() / WRITES_PER_ROUND as u32);
        let start = Instant::now();
        for i in 0..WRITES_PER_ROUND {
            create_group(&mut plain, &Plaintext, n + i).await?;
        }
        create_p.push(start.elapsed() / WRITES_PER_ROUND as u32);
        n += WRITES_PER_ROUND;

        let start = Instant::now();
        for i in 0..WRITES_PER_ROUND {
            update_group(&sealed, &keyring, n + i).await?;
        }
        update_s.push(start.elapsed() / WRITES_PER_ROUND as u32);
        let start = Instant::now();
        for i in 0..WRITES_PER_ROUND {
            update_group(&plain, &Plaintext, n + i).await?;
        }
        update_p.push(start.elapsed() / WRITES_PER_ROUND as u32);

        let start = Instant::now();
        for i in 0..READS_PER_ROUND {
            read(&sealed, &keyring, i).await?;
        }
        read_s.push(start.elapsed() / READS_PER_ROUND as u32);
        let start = Instant::now();
        for i in 0..READS_PER_ROUND {
            read(&plain, &Plaintext, i).await?;
        }
        read_p.push(start.elapsed() / READS_PER_ROUND as u32);
    }

    println!("Encryption at rest: median of {ROUNDS} rounds, SQLite, one connection at a time\n");
    println!("| operation | encrypted µs | plaintext µs | cost µs | cost % |");
    println!("|---|---:|---:|---:|---:|");
    for (name, s, p) in [
        (format!("read: get secret with its versions (value {} B)", value(0).len()), read_s, read_p),
        (format!("write: create group with {SECRETS_PER_GROUP} secrets"), create_s, create_p),
        ("write: update group, one value changed".to_owned(), update_s, update_p),
    ] {
        let (s, p) = (micros(median(s)), micros(median(p)));
        println!("| {name} | {s:.1} | {p:.1} | {:.1} | {:+.1} % |", s - p, (s - p) / p * 100.0);
    }
    sealed.db.close().await;
    plain.db.close().await;
    Ok(())
}
