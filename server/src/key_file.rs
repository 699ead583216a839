//! Where master keys come from ([`KeySource`]): a key file (one base64 key per line; blank lines
//! and `#` comments are skipped), `SG_MASTER_KEY` (base64 keys separated by commas), or a key
//! made up for an in-memory database; and the key file itself: reading, appending (durably,
//! mode 0600), rewriting, and the warning for a key file inside a git working tree.
//!
//! It owns the file and the environment's text; it must not hold keys in use (`crypto::keyring`
//! does) nor know the database (`unlock` checks the keys against it). It lives outside `crypto`
//! so that `crypto` stays bytes in, bytes out: no file system, no configuration.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::{
    crypto::{KEY_LEN, KeyBytes, keyring::KeyReload},
    sensitive::SecretString,
};

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

    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("key file {}", path.display()),
            Self::Inline(_) => "SG_MASTER_KEY".to_owned(),
            Self::Ephemeral => "the in-memory key".to_owned(),
        }
    }

    /// The keys the source holds now; a key file that does not exist holds none.
    pub fn read(&self) -> anyhow::Result<Vec<KeyBytes>> {
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
pub fn warn_if_in_git_work_tree(path: &Path) {
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

/// A key file is re-read when a key id turns up that is not loaded: `keys rotate` appends its
/// new key to the file before it starts using it, so a server reading the same file follows a
/// rotation without a restart. The other sources cannot change while the process runs.
impl KeyReload for KeySource {
    fn reload(&self) -> Option<anyhow::Result<Vec<KeyBytes>>> {
        matches!(self, Self::File(_)).then(|| self.read())
    }

    fn describe(&self) -> String {
        KeySource::describe(self)
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
