//! The master keys this process holds, where they come from, and the token-hash key.
//!
//! Master keys come from a key file (one base64 key per line; blank lines and `#` comments are
//! skipped) or from `SG_MASTER_KEY` (base64 keys separated by commas). Several keys may be loaded
//! at once: the database says which one is active (`master_keys`), and every wrapped data key
//! names the key that wrapped it, so keys being rotated out keep working until the rewrap ends.
//!
//! A key file is re-read (at most once a second) when a key id turns up that is not loaded:
//! `keys rotate` appends its new key to the file before it starts using it, so a server reading
//! the same file follows a rotation without a restart.

use std::{
    collections::HashMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use super::{
    CryptoError, DataKeyBinding, KEY_LEN, KeyBytes, MasterKey, StoredDataKey, ValueBinding, ValueCipher, hex,
    open_value, random_key, seal_value,
};
use crate::{
    sensitive::SecretString,
    store::{Db, keys as stored},
};

/// How often a key file may be re-read when an unknown key id turns up.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Where master keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file; created with a new key on the first start of a fresh database.
    File(PathBuf),
    /// Keys given in `SG_MASTER_KEY`.
    Inline(Vec<SecretString>),
    /// A key made up for this process only (an in-memory SQLite database, which dies with it).
    Ephemeral,
}

impl KeySource {
    /// The source for a database: `SG_MASTER_KEY` if set, else the key file if given, else a
    /// file next to a SQLite database file (`secret-groups.db` → `secret-groups.master-key`, a
    /// name a `secret-groups.db*` backup glob does not pick up). PostgreSQL has no such place,
    /// so it needs one of the two settings.
    pub fn resolve(
        database_url: &str,
        master_key_file: Option<&Path>,
        master_key: Option<&SecretString>,
    ) -> anyhow::Result<Self> {
        if let Some(keys) = master_key {
            let keys: Vec<SecretString> = keys
                .expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::new(k.to_owned()))
                .collect();
            if keys.is_empty() {
                bail!("SG_MASTER_KEY is set but holds no key");
            }
            return Ok(Self::Inline(keys));
        }
        if let Some(path) = master_key_file {
            return Ok(Self::File(path.to_owned()));
        }
        let Some(rest) = database_url.strip_prefix("sqlite:") else {
            bail!(
                "a PostgreSQL database needs a master key: set SG_MASTER_KEY_FILE (--master-key-file) to a key \
                 file (created on the first start of a fresh database) or SG_MASTER_KEY to a base64 key"
            );
        };
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Ok(Self::Ephemeral);
        }
        let path = Path::new(path);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "secret-groups".into());
        Ok(Self::File(path.with_file_name(format!("{stem}.master-key"))))
    }

    fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("key file {}", path.display()),
            Self::Inline(_) => "SG_MASTER_KEY".to_owned(),
            Self::Ephemeral => "the in-memory key".to_owned(),
        }
    }

    /// The keys the source holds now; a key file that does not exist holds none.
    fn read(&self) -> anyhow::Result<Vec<KeyBytes>> {
        match self {
            Self::File(path) => match fs::read_to_string(path) {
                Ok(text) => parse_keys(text.lines()).with_context(|| format!("key file {}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e).with_context(|| format!("cannot read key file {}", path.display())),
            },
            Self::Inline(keys) => parse_keys(keys.iter().map(SecretString::expose)).context("SG_MASTER_KEY"),
            Self::Ephemeral => Ok(Vec::new()),
        }
    }
}

/// Base64 keys, one per item; blank items and `#` comments are skipped.
fn parse_keys<'a>(lines: impl Iterator<Item = &'a str>) -> anyhow::Result<Vec<KeyBytes>> {
    let mut keys = Vec::new();
    for (index, line) in lines.enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes = zeroize::Zeroizing::new(
            STANDARD.decode(line).map_err(|_| anyhow::anyhow!("key {} is not base64", index + 1))?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("key {} is {} bytes; a master key is {KEY_LEN}", index + 1, bytes.len()))?;
        keys.push(zeroize::Zeroizing::new(key));
    }
    Ok(keys)
}

/// Appends `key` to the key file, creating it (mode 0600) if needed, and flushes it to disk
/// before returning: a key must be safely stored before anything is sealed under it.
pub fn append_key_file(path: &Path, key: &[u8; KEY_LEN]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot write key file {}", path.display()))?;
    let line = zeroize::Zeroizing::new(format!("{}\n", STANDARD.encode(key)));
    file.write_all(line.as_bytes())?;
    file.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new directory entry must be durable too.
        fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// The root of the git working tree that holds `path` (a directory with a `.git` entry above
/// it), if any. `.git` may be a directory or, in a worktree or submodule, a file.
pub fn git_work_tree_of(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() { path.to_owned() } else { std::env::current_dir().ok()?.join(path) };
    absolute.ancestors().skip(1).find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}

/// A key file inside a repository is one `git add -A` away from being committed beside the code
/// (the repository's own `.gitignore` covers `*.master-key`, another repository's may not), and
/// with it every secret the database holds. Said once, at the start that creates the file.
fn warn_if_in_git_work_tree(path: &Path) {
    if let Some(repository) = git_work_tree_of(path) {
        tracing::warn!(
            path = %path.display(),
            repository = %repository.display(),
            "the new master key file is inside a git working tree: make sure it is never committed, and keep \
             it outside any repository instead (e.g. --master-key-file /etc/secret-groups/master-key or \
             ~/.config/secret-groups/master-key; SG_MASTER_KEY_FILE), backed up apart from the database"
        );
    }
}

/// Rewrites the key file with only `keep`, atomically (a temporary file renamed over it).
pub fn rewrite_key_file(path: &Path, keep: &[KeyBytes]) -> anyhow::Result<()> {
    let tmp = path.with_extension("master-key.tmp");
    let _ = fs::remove_file(&tmp);
    for key in keep {
        append_key_file(&tmp, key)?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The master keys loaded in this process, by id.
pub struct MasterKeys {
    source: KeySource,
    keys: RwLock<HashMap<String, Arc<MasterKey>>>,
    /// Ids in the order the source lists them.
    order: RwLock<Vec<String>>,
    last_reload: Mutex<Option<Instant>>,
}

impl MasterKeys {
    /// Loads the source's keys; a fresh database (`may_create`) with none gets a new one.
    fn load(source: KeySource, may_create: bool) -> anyhow::Result<(Self, bool)> {
        let mut keys = source.read()?;
        let mut created = false;
        if keys.is_empty() && may_create {
            let key = random_key();
            if let KeySource::File(path) = &source {
                append_key_file(path, &key)?;
            }
            keys.push(key);
            created = true;
        }
        let masters = Self {
            source,
            keys: RwLock::new(HashMap::new()),
            order: RwLock::new(Vec::new()),
            last_reload: Mutex::new(None),
        };
        masters.merge(&keys);
        Ok((masters, created))
    }

    fn merge(&self, keys: &[KeyBytes]) {
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

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Ids of the loaded keys, in the source's order.
    pub fn ids(&self) -> Vec<String> {
        self.order.read().map(|o| o.clone()).unwrap_or_default()
    }

    /// The loaded key `id`; re-reads a key file (rate-limited) when it is not loaded yet.
    pub fn get(&self, id: &str) -> Result<Arc<MasterKey>, CryptoError> {
        let unknown = || CryptoError::UnknownMasterKey(id.to_owned());
        if let Some(key) = self.loaded(id) {
            return Ok(key);
        }
        if !matches!(self.source, KeySource::File(_)) {
            return Err(unknown());
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
        match self.source.read() {
            Ok(keys) => self.merge(&keys),
            Err(e) => tracing::warn!(error = %e, "cannot re-read the master keys"),
        }
        let key = self.loaded(id).ok_or_else(unknown)?;
        tracing::info!(key_id = id, "loaded a new master key from {}", self.source.describe());
        Ok(key)
    }

    fn loaded(&self, id: &str) -> Option<Arc<MasterKey>> {
        self.keys.read().ok().and_then(|keys| keys.get(id).cloned())
    }

    /// Re-reads the source now and returns its keys (for `keys rotate` and `keys prune`).
    pub fn reread(&self) -> anyhow::Result<Vec<KeyBytes>> {
        let keys = self.source.read()?;
        self.merge(&keys);
        Ok(keys)
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
    /// Loads the master keys and checks them against the database before anything is served:
    /// the active key and every key that wrapped a stored data key must be loaded, or this
    /// fails with an error that says which. On a fresh database the first key is created (in a
    /// new key file, or in memory for an in-memory database) and registered as active. Then
    /// the token-hash key is unwrapped (created on first use), and values written before
    /// encryption existed are sealed.
    pub async fn open(db: &Db, source: KeySource) -> anyhow::Result<Self> {
        let fresh = stored::active(db).await?.is_none();
        let (masters, created) = MasterKeys::load(source, fresh)?;
        if let (true, KeySource::File(path)) = (created, masters.source()) {
            tracing::info!(
                path = %path.display(),
                key_id = masters.ids().first().map(String::as_str).unwrap_or_default(),
                "created a new master key file; back it up separately from the database: without it the \
                 secrets cannot be read"
            );
            warn_if_in_git_work_tree(path);
        }
        let loaded = masters.ids();
        let Some(first) = loaded.first() else {
            bail!(
                "no master key: {} does not exist or holds no key, but the database already holds encrypted data; \
                 start with the key file it was created with (SG_MASTER_KEY_FILE) or SG_MASTER_KEY",
                masters.source().describe()
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
                masters.source().describe(),
                join(&loaded.iter().collect::<Vec<_>>()),
            );
        }
        let token_mac = TokenMac::new(&*stored::token_key(db, &masters).await?)?;
        let keyring = Self { masters, token_mac };
        let sealed = stored::seal_legacy_values(db, &keyring).await?;
        if sealed > 0 {
            tracing::info!(values = sealed, "sealed values stored before encryption at rest");
        }
        Ok(keyring)
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

fn join(ids: &[&String]) -> String {
    if ids.is_empty() { "no key".to_owned() } else { ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") }
}

impl ValueCipher for Keyring {
    fn new_data_key(&self, kek_id: &str, binding: &DataKeyBinding<'_>) -> Result<Vec<u8>, CryptoError> {
        Ok(self.masters.new_wrapped_key(kek_id, binding)?.1)
    }

    fn seal(&self, key: &StoredDataKey<'_>, value: &ValueBinding<'_>, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        seal_value(&*self.masters.unwrap_key(key)?, value, plaintext)
    }

    fn open(
        &self,
        key: &StoredDataKey<'_>,
        value: &ValueBinding<'_>,
        sealed: &[u8],
    ) -> Result<SecretString, CryptoError> {
        open_value(&*self.masters.unwrap_key(key)?, value, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_hold_base64_keys_one_per_line() {
        let a = STANDARD.encode([1u8; KEY_LEN]);
        let b = STANDARD.encode([2u8; KEY_LEN]);
        let text = format!("# comment\n{a}\n\n  {b}  \n");
        assert_eq!(parse_keys(text.lines()).unwrap().len(), 2);
        assert!(parse_keys(["not base64!"].into_iter()).is_err());
        let short = STANDARD.encode([1u8; 16]);
        let err = parse_keys([short.as_str()].into_iter()).unwrap_err().to_string();
        assert!(err.contains("16 bytes"), "{err}");
    }

    #[test]
    fn sqlite_databases_get_a_key_file_beside_them() {
        let source = KeySource::resolve("sqlite:///var/lib/sg/secret-groups.db?mode=rwc", None, None).unwrap();
        assert!(matches!(source, KeySource::File(p) if p == Path::new("/var/lib/sg/secret-groups.master-key")));
        let source = KeySource::resolve("sqlite://data.db", None, None).unwrap();
        assert!(matches!(source, KeySource::File(p) if p == Path::new("data.master-key")));
        assert!(matches!(KeySource::resolve("sqlite::memory:", None, None).unwrap(), KeySource::Ephemeral));
        assert!(KeySource::resolve("postgres://h/db", None, None).is_err());
        let inline = SecretString::new("a, b".to_owned());
        assert!(
            matches!(KeySource::resolve("postgres://h/db", None, Some(&inline)).unwrap(), KeySource::Inline(k) if k.len() == 2)
        );
    }

    #[test]
    fn key_files_inside_a_git_work_tree_are_recognised() {
        let dir = tempfile::tempdir().expect("dir");
        let repository = dir.path().join("repo");
        fs::create_dir_all(repository.join(".git")).expect("repo");
        fs::create_dir_all(repository.join("data")).expect("data");
        let inside = repository.join("data/secret-groups.master-key");
        assert_eq!(git_work_tree_of(&inside).as_deref(), Some(repository.as_path()));
        // A worktree's `.git` is a file.
        let worktree = dir.path().join("worktree");
        fs::create_dir_all(&worktree).expect("worktree");
        fs::write(worktree.join(".git"), "gitdir: ../repo/.git/worktrees/w\n").expect(".git file");
        assert_eq!(git_work_tree_of(&worktree.join("k.master-key")).as_deref(), Some(worktree.as_path()));
        assert_eq!(git_work_tree_of(&dir.path().join("outside/k.master-key")), None);
    }

    #[test]
    fn appended_keys_read_back_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/x.master-key");
        append_key_file(&path, &[3u8; KEY_LEN]).unwrap();
        append_key_file(&path, &[4u8; KEY_LEN]).unwrap();
        let keys = KeySource::File(path.clone()).read().unwrap();
        assert_eq!(keys.iter().map(|k| k[0]).collect::<Vec<_>>(), vec![3, 4]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    /// Many readers meet a key that `keys rotate` just appended to the file, at once: every one
    /// of them gets it, not only the one whose miss triggered the re-read.
    #[test]
    fn concurrent_misses_on_a_newly_appended_key_all_find_it() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("k.master-key");
            append_key_file(&path, &[1u8; KEY_LEN]).expect("first key");
            let (masters, _) = MasterKeys::load(KeySource::File(path.clone()), false).expect("load");
            let masters = Arc::new(masters);
            append_key_file(&path, &[2u8; KEY_LEN]).expect("new key");
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
            assert_eq!(found, 8, "every concurrent reader finds the appended key");
        }
    }
}
