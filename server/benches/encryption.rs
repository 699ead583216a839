//! What encryption at rest costs: the same store operations, run in one process on two SQLite
//! databases with identical data, once through the server's envelope encryption (`Keyring`)
//! and once through a pass-through cipher that stores values as they are. The store code is
//! the same for both; only the `ValueCipher` differs, so the difference is the cost of the
//! cryptography (AES-256-GCM data-key unwrap plus value seal/open) and of the larger rows.
//!
//! Run: `cargo bench -p secret-groups-server --bench encryption` (prints a table).
//! Rounds alternate between the two stores and the median round is reported, so a noisy
//! neighbour affects both sides alike.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use secret_groups_server::{
    authz::{self, AsUser, ReadValues, TenantAdmin, WriteSecrets},
    caller::{Caller, Principal},
    crypto::{CryptoError, DataKeyBinding, DataKeyCipher, Keyring, StoredDataKey, ValueBinding, ValueCipher},
    key_file::KeySource,
    sensitive::SecretString,
    store::{
        Db, bootstrap,
        groups::{self, NewGroup},
        secrets,
    },
    unlock::open_keyring,
};

/// Stores values as they are: the baseline without encryption.
struct Plaintext;

impl ValueCipher for Plaintext {
    fn new_data_key(&self, _kek_id: &str, _binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
        Ok(vec![0; 61])
    }
    fn data_key(&self, _key: &StoredDataKey<'_>) -> Result<Arc<dyn DataKeyCipher>, CryptoError> {
        Ok(Arc::new(Plaintext))
    }
}

impl DataKeyCipher for Plaintext {
    fn seal(&self, _value: &ValueBinding<'_>, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        Ok(plaintext.as_bytes().to_vec())
    }
    fn open(&self, _value: &ValueBinding<'_>, sealed: &[u8]) -> Result<SecretString, CryptoError> {
        String::from_utf8(sealed.to_vec()).map(SecretString::new).map_err(|_| CryptoError::Integrity)
    }
}

/// A store and the bootstrap admin's proofs, asked of authz once (as a handler would per
/// request), so both sides pay the same.
struct Store {
    db: Db,
    user: AsUser,
    admin: TenantAdmin,
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
    let db = Db::connect(&format!("sqlite://{}", dir.join(name).display()), None).await?;
    let created =
        bootstrap::bootstrap(&db, "bench", "bench@localhost", "x").await?.ok_or_else(|| anyhow::anyhow!("fresh"))?;
    let caller = Caller {
        principal: Principal::User { id: created.admin.id, email: created.admin.email },
        tenant_id: created.tenant.id,
        tenant_name: created.tenant.name,
        is_tenant_admin: true,
    };
    let user = authz::require_user(&caller).map_err(|_| anyhow::anyhow!("the admin is a user"))?;
    let admin = authz::require_tenant_admin(&caller).map_err(|_| anyhow::anyhow!("the admin is a tenant admin"))?;
    Ok(Store { db, user, admin, secret_ids: Vec::new(), group_ids: Vec::new() })
}

async fn create_group(store: &mut Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let new = NewGroup {
        name: format!("g{n}"),
        integration_id: "internal-secret-store".to_owned(),
        manifest: "{}".to_owned(),
        collaborators: Vec::new(),
        secrets: (0..SECRETS_PER_GROUP).map(|k| (format!("K{k}"), SecretString::new(value(n * 100 + k)))).collect(),
    };
    let group = groups::create(&store.db, cipher, &store.user, new).await?;
    store.secret_ids.extend(group.secrets.into_iter().map(|s| s.id));
    store.group_ids.push(group.group.id);
    Ok(())
}

async fn update_group(store: &Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let id = &store.group_ids[n % store.group_ids.len()];
    let mut entries: Vec<(String, Option<SecretString>)> =
        (0..SECRETS_PER_GROUP).map(|k| (format!("K{k}"), None)).collect();
    entries[0].1 = Some(SecretString::new(value(1_000_000 + n)));
    groups::update(&store.db, cipher, &store.admin.group::<WriteSecrets>(id), &entries).await?;
    Ok(())
}

async fn read(store: &Store, cipher: &dyn ValueCipher, n: usize) -> anyhow::Result<()> {
    let id = &store.secret_ids[(n * 7919) % store.secret_ids.len()];
    let sealed = secrets::get(&store.db, store.admin.tenant_id(), id).await?;
    let group = store.admin.group::<ReadValues>(sealed.group_id());
    let (secret, _) = sealed.open(&group, cipher)?;
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
    let sealed_db = Db::connect(&format!("sqlite://{}", dir.path().join("sealed.db").display()), None).await?;
    let keyring = open_keyring(&sealed_db, KeySource::Ephemeral).await?;
    sealed_db.close().await;
    let mut sealed = store(dir.path(), "sealed.db").await?;
    let plain_db = Db::connect(&format!("sqlite://{}", dir.path().join("plain.db").display()), None).await?;
    // The plaintext store needs an active master-key row for its (dummy) data keys.
    open_keyring(&plain_db, KeySource::Ephemeral).await?;
    plain_db.close().await;
    let mut plain = store(dir.path(), "plain.db").await?;

    let (mut create_s, mut create_p, mut update_s, mut update_p, mut read_s, mut read_p) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0;
    for round in 0..ROUNDS {
        // Which store goes first alternates, so warm-up and drift favour neither.
        let order: [bool; 2] = if round % 2 == 0 { [true, false] } else { [false, true] };
        for encrypted in order {
            let (store, cipher, out): (&mut Store, &dyn ValueCipher, &mut Vec<Duration>) = if encrypted {
                (&mut sealed, &keyring, &mut create_s)
            } else {
                (&mut plain, &Plaintext, &mut create_p)
            };
            let start = Instant::now();
            for i in 0..WRITES_PER_ROUND {
                create_group(store, cipher, n + i).await?;
            }
            out.push(start.elapsed() / WRITES_PER_ROUND as u32);
        }
        n += WRITES_PER_ROUND;
        for encrypted in order {
            let (store, cipher, out): (&Store, &dyn ValueCipher, &mut Vec<Duration>) =
                if encrypted { (&sealed, &keyring, &mut update_s) } else { (&plain, &Plaintext, &mut update_p) };
            let start = Instant::now();
            for i in 0..WRITES_PER_ROUND {
                update_group(store, cipher, n + i).await?;
            }
            out.push(start.elapsed() / WRITES_PER_ROUND as u32);
        }
        for encrypted in order {
            let (store, cipher, out): (&Store, &dyn ValueCipher, &mut Vec<Duration>) =
                if encrypted { (&sealed, &keyring, &mut read_s) } else { (&plain, &Plaintext, &mut read_p) };
            let start = Instant::now();
            for i in 0..READS_PER_ROUND {
                read(store, cipher, i).await?;
            }
            out.push(start.elapsed() / READS_PER_ROUND as u32);
        }
    }

    println!("Encryption at rest: median of {ROUNDS} rounds, SQLite (synchronous=FULL), one request at a time\n");
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
    crypto_alone(&keyring, &sealed).await?;
    sealed.db.close().await;
    plain.db.close().await;
    Ok(())
}

/// The cryptography of each operation without the database: unwrapping a group's data key and
/// opening or sealing one value, as the store does per value.
async fn crypto_alone(keyring: &Keyring, store: &Store) -> anyhow::Result<()> {
    const N: u32 = 100_000;
    let mut conn = store.db.pool().acquire().await?;
    let key: (String, String, String, Vec<u8>) =
        sqlx::query_as("SELECT id, group_id, kek_id, wrapped FROM data_keys WHERE purpose = 'secret-group' LIMIT 1")
            .fetch_one(&mut *conn)
            .await?;
    let stored = StoredDataKey {
        binding: DataKeyBinding { id: &key.0, purpose: "secret-group", group_id: Some(&key.1) },
        kek_id: &key.2,
        wrapped: &key.3,
    };
    let binding = ValueBinding { tenant_id: "t", group_id: &key.1, secret_id: "s", version: 1 };
    let plaintext = value(0);
    let start = Instant::now();
    let mut sealed = Vec::new();
    for _ in 0..N {
        sealed = keyring.data_key(&stored)?.seal(&binding, &plaintext)?;
    }
    let seal = start.elapsed() / N;
    let start = Instant::now();
    for _ in 0..N {
        keyring.data_key(&stored)?.open(&binding, &sealed)?;
    }
    let open = start.elapsed() / N;
    // What the store does per value within one request: the group's key is unwrapped once.
    let unwrapped = keyring.data_key(&stored)?;
    let start = Instant::now();
    for _ in 0..N {
        sealed = unwrapped.seal(&binding, &plaintext)?;
    }
    let seal_cached = start.elapsed() / N;
    let start = Instant::now();
    for _ in 0..N {
        unwrapped.open(&binding, &sealed)?;
    }
    let open_cached = start.elapsed() / N;
    let start = Instant::now();
    for _ in 0..N {
        keyring.new_data_key(&key.2, &stored.binding)?;
    }
    let new_key = start.elapsed() / N;
    let start = Instant::now();
    for _ in 0..N {
        keyring.hash_token("sgt_0123456789012345678901234567890123456789012");
    }
    let token = start.elapsed() / N;
    println!("\nCryptography alone (mean of {N}), per value of {} B:\n", plaintext.len());
    println!("| step | µs |\n|---|---:|");
    println!("| seal one value (unwrap data key + AES-256-GCM) | {:.2} |", micros(seal));
    println!("| open one value (unwrap data key + AES-256-GCM) | {:.2} |", micros(open));
    println!("| seal one more value of the same group in a request (AES-256-GCM) | {:.2} |", micros(seal_cached));
    println!("| open one more value of the same group in a request (AES-256-GCM) | {:.2} |", micros(open_cached));
    println!("| new data key for a group (random + wrap) | {:.2} |", micros(new_key));
    println!("| keyed token hash (SHA-256 + HMAC-SHA256) | {:.2} |", micros(token));
    Ok(())
}
