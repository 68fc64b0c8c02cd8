//! The key store: a directory, one `<id>.json` per [`KeyRecord`] and a `pepper` file (the
//! HMAC key, 32 random bytes), both readable by the owner only. Every write goes to a
//! temporary file renamed into place, so a reader never sees half a record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ring::rand::{SecureRandom, SystemRandom};

use super::{KeyRecord, KeyScope, hex};
use crate::capability::backend::now_ms;

/// Where an app's keys live unless told otherwise: this directory next to the manifest.
pub const DEFAULT_KEYS_DIR: &str = ".wasmhost/keys";

/// One app's keys on disk.
pub struct KeyStore {
    dir: PathBuf,
    pepper: ring::hmac::Key,
}

impl KeyStore {
    /// The store in `dir`, created (with its pepper) if missing.
    ///
    /// # Errors
    /// The directory or the pepper cannot be created or read; the error names the path.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the key store `{}`", dir.display()))?;
        restrict(dir, 0o700);
        let path = dir.join("pepper");
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        if !path.exists() {
            // Made beside, then linked into place: of two processes making it at once, the
            // first link wins and both read the same pepper.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, fresh)
                .with_context(|| format!("cannot write `{}`", tmp.display()))?;
            restrict(&tmp, 0o600);
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(err).context(format!("cannot write `{}`", path.display()));
                }
                _ => {}
            }
        }
        let pepper =
            std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        anyhow::ensure!(
            pepper.len() == 32,
            "`{}` is not a key store pepper (32 bytes)",
            path.display()
        );
        Ok(Self {
            dir: dir.to_owned(),
            pepper: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &pepper),
        })
    }

    /// The store of the app whose manifest is in `app_dir`: `.wasmhost/keys` there.
    ///
    /// # Errors
    /// As [`KeyStore::open`].
    pub fn for_app(app_dir: &Path) -> Result<Self> {
        Self::open(&app_dir.join(DEFAULT_KEYS_DIR))
    }

    /// The store of the app at `path` (a manifest, or a directory holding `wasmhost.toml`),
    /// with the app, for `wasmhost keys`.
    ///
    /// # Errors
    /// A bad manifest (file, line and field), or as [`KeyStore::open`].
    pub fn for_manifest(path: &Path) -> Result<(Self, crate::app::App)> {
        let app = crate::manifest::load(path)?;
        Ok((Self::for_app(app.base_dir())?, app))
    }

    /// Every key, by id order.
    ///
    /// # Errors
    /// The directory or a record cannot be read or parsed (naming the file).
    pub fn list(&self) -> Result<Vec<KeyRecord>> {
        let mut records = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read the key store `{}`", self.dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // Revoked between the listing and the read.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err).context(format!("cannot read `{}`", path.display())),
            };
            records.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("`{}` is not a key record", path.display()))?,
            );
        }
        records.sort_by(|a: &KeyRecord, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// Writes `record` whole.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, record: &KeyRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(record)?;
        write_atomically(&self.dir.join(format!("{}.json", record.id)), &json)
    }

    /// Makes a key named `name` for `scope`, expiring at `expires_ms` if given; returns its
    /// record and the key, which is shown once and never stored.
    ///
    /// # Errors
    /// No system randomness, or the record cannot be written.
    pub fn create(
        &self,
        name: &str,
        scope: KeyScope,
        expires_ms: Option<u64>,
    ) -> Result<(KeyRecord, String)> {
        let random = SystemRandom::new();
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        random
            .fill(&mut id)
            .and_then(|()| random.fill(&mut secret))
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let id = hex(&id);
        let key = format!("wh_{id}_{}", hex(&secret));
        let record = KeyRecord {
            hash: hex(ring::hmac::sign(&self.pepper, key.as_bytes()).as_ref()),
            id,
            name: name.to_owned(),
            scope,
            created_ms: now_ms(),
            expires_ms,
            last_used_ms: None,
        };
        self.write(&record)?;
        Ok((record, key))
    }

    /// Removes key `id`; returns whether it existed.
    ///
    /// # Errors
    /// The file cannot be removed.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        anyhow::ensure!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "`{id}` is not a key id (16 hex digits)"
        );
        match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Makes a new key with key `id`'s name, scope and expiry, and lets `id` work for `grace`
    /// more (never longer than it would have); returns the new record and key.
    ///
    /// # Errors
    /// No key `id`, or a write fails.
    pub fn rotate(&self, id: &str, grace: Duration) -> Result<(KeyRecord, String)> {
        let mut old = self
            .list()?
            .into_iter()
            .find(|record| record.id == id)
            .with_context(|| format!("no key `{id}`"))?;
        let (record, key) = self.create(&old.name, old.scope.clone(), old.expires_ms)?;
        let until = now_ms().saturating_add(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
        old.expires_ms = Some(old.expires_ms.map_or(until, |at| at.min(until)));
        self.write(&old)?;
        Ok((record, key))
    }

    /// Whether `key` hashes to `hash` under this store's pepper (constant time).
    pub(super) fn verify(&self, key: &[u8], hash: &[u8]) -> bool {
        ring::hmac::verify(&self.pepper, key, hash).is_ok()
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, readable by the owner
/// only.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    restrict(&tmp, 0o600);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Sets `path`'s permission bits to `mode` (Unix; best effort).
fn restrict(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}
