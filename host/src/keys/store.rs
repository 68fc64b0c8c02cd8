//! The key store: by default a directory, one `<id>.json` per [`KeyRecord`] and a `pepper`
//! file (the HMAC key, 32 random bytes), both readable by the owner only, every write going to
//! a temporary file renamed into place, so a reader never sees half a record; or, where the
//! runtime config's `[keys]` says so, a Redis hash every node of a cluster reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ring::rand::{SecureRandom, SystemRandom};

use redis::aio::ConnectionManager;

use super::{KeyRecord, KeyScope, hex};
use crate::capability::backend::{connection_manager, now_ms};
use crate::runtime_config::{Backend as StoreConfig, RedisUrl, RuntimeConfig};

/// Where an app's keys live unless told otherwise: this directory next to the manifest.
pub const DEFAULT_KEYS_DIR: &str = ".wasmhost/keys";

/// One app's keys: files in a directory (the default), or a Redis hash shared by every node
/// (the runtime config's `[keys]`).
pub struct KeyStore {
    backend: Backend,
    pepper: ring::hmac::Key,
}

enum Backend {
    /// `<dir>/<id>.json` per key, `<dir>/pepper`.
    Files(PathBuf),
    /// The hash `<prefix>:keys` (field: id, value: the record's JSON); the pepper is the
    /// string `<prefix>:keys:pepper`, read once at open.
    Redis {
        connection: ConnectionManager,
        hash: String,
    },
}

impl KeyStore {
    /// The store in directory `dir`, created (with its pepper) if missing.
    ///
    /// # Errors
    /// The directory or the pepper cannot be created or read; the error names the path.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the key store `{}`", dir.display()))?;
        restrict(dir, 0o700);
        let path = dir.join("pepper");
        if !path.exists() {
            // Made beside, then linked into place: of two processes making it at once, the
            // first link wins and both read the same pepper.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, random_bytes::<32>()?)
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
        Self::with_pepper(
            Backend::Files(dir.to_owned()),
            &pepper,
            &path.display().to_string(),
        )
    }

    /// The store in Redis at `url`, under `prefix`, its pepper made if missing. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    /// A bad URL, or Redis does not answer (the URL shown without its password).
    pub async fn open_redis(url: &RedisUrl, prefix: &str) -> Result<Self> {
        let mut connection = connection_manager(url)?;
        let hash = format!("{prefix}:keys");
        let pepper_key = format!("{hash}:pepper");
        let fresh = random_bytes::<32>()?;
        let failed = || format!("the key store on Redis at {url}");
        redis::cmd("SET")
            .arg(&pepper_key)
            .arg(&fresh[..])
            .arg("NX")
            .query_async::<()>(&mut connection)
            .await
            .with_context(failed)?;
        let pepper: Vec<u8> = redis::cmd("GET")
            .arg(&pepper_key)
            .query_async(&mut connection)
            .await
            .with_context(failed)?;
        let backend = Backend::Redis { connection, hash };
        Self::with_pepper(backend, &pepper, &pepper_key)
    }

    fn with_pepper(backend: Backend, pepper: &[u8], what: &str) -> Result<Self> {
        anyhow::ensure!(
            pepper.len() == 32,
            "`{what}` is not a key store pepper (32 bytes)"
        );
        Ok(Self {
            backend,
            pepper: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pepper),
        })
    }

    /// The store of the app whose manifest is in `app_dir`, where `config` says: its `[keys]`
    /// (Redis), else `.wasmhost/keys` there.
    ///
    /// # Errors
    /// As [`KeyStore::open`] and [`KeyStore::open_redis`].
    pub async fn for_app(app_dir: &Path, config: &RuntimeConfig) -> Result<Self> {
        match &config.keys {
            Some(StoreConfig::Redis { url, prefix }) => Self::open_redis(url, prefix).await,
            Some(StoreConfig::Sled { path }) => Self::open(path),
            None => Self::open(&app_dir.join(DEFAULT_KEYS_DIR)),
        }
    }

    /// The store of the app at `path` (a manifest, or a directory holding `wasmhost.toml`), as
    /// `runtime_config` (if any) says, with the app: for `wasmhost keys`.
    ///
    /// # Errors
    /// A bad manifest or runtime config (file, line and field), or as [`KeyStore::for_app`].
    pub async fn for_manifest(
        path: &Path,
        runtime_config: Option<&Path>,
    ) -> Result<(Self, crate::app::App)> {
        let app = crate::manifest::load(path)?;
        let config = match runtime_config {
            Some(file) => RuntimeConfig::load(file)?,
            None => RuntimeConfig::default(),
        };
        Ok((Self::for_app(app.base_dir(), &config).await?, app))
    }

    /// Every key, by id order.
    ///
    /// # Errors
    /// The store cannot be read, or a record parsed (naming the file or the Redis hash).
    pub async fn list(&self) -> Result<Vec<KeyRecord>> {
        let mut records: Vec<KeyRecord> = match &self.backend {
            Backend::Files(dir) => list_files(dir)?,
            Backend::Redis {
                connection, hash, ..
            } => {
                let fields: Vec<(String, String)> = redis::cmd("HGETALL")
                    .arg(hash)
                    .query_async(&mut connection.clone())
                    .await
                    .with_context(|| format!("cannot read the key store `{hash}`"))?;
                fields
                    .iter()
                    .map(|(id, json)| {
                        serde_json::from_str(json)
                            .with_context(|| format!("`{hash}` field `{id}` is not a key record"))
                    })
                    .collect::<Result<_>>()?
            }
        };
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// Writes `record` whole.
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn write(&self, record: &KeyRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(record)?;
        match &self.backend {
            Backend::Files(dir) => {
                write_atomically(&dir.join(format!("{}.json", record.id)), &json)
            }
            Backend::Redis {
                connection, hash, ..
            } => redis::cmd("HSET")
                .arg(hash)
                .arg(&record.id)
                .arg(json)
                .query_async::<()>(&mut connection.clone())
                .await
                .with_context(|| format!("cannot write the key store `{hash}`")),
        }
    }

    /// Makes a key named `name` for `scope`, expiring at `expires_ms` if given; returns its
    /// record and the key, which is shown once and never stored.
    ///
    /// # Errors
    /// No system randomness, or the record cannot be written.
    pub async fn create(
        &self,
        name: &str,
        scope: KeyScope,
        expires_ms: Option<u64>,
    ) -> Result<(KeyRecord, String)> {
        let id = hex(&random_bytes::<8>()?);
        let key = format!("wh_{id}_{}", hex(&random_bytes::<32>()?));
        let record = KeyRecord {
            hash: hex(ring::hmac::sign(&self.pepper, key.as_bytes()).as_ref()),
            id,
            name: name.to_owned(),
            scope,
            created_ms: now_ms(),
            expires_ms,
            last_used_ms: None,
        };
        self.write(&record).await?;
        Ok((record, key))
    }

    /// Removes key `id`; returns whether it existed.
    ///
    /// # Errors
    /// Not a key id, or the store cannot be written.
    pub async fn revoke(&self, id: &str) -> Result<bool> {
        anyhow::ensure!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "`{id}` is not a key id (16 hex digits)"
        );
        match &self.backend {
            Backend::Files(dir) => match std::fs::remove_file(dir.join(format!("{id}.json"))) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(err) => Err(err.into()),
            },
            Backend::Redis {
                connection, hash, ..
            } => {
                let removed: u64 = redis::cmd("HDEL")
                    .arg(hash)
                    .arg(id)
                    .query_async(&mut connection.clone())
                    .await
                    .with_context(|| format!("cannot write the key store `{hash}`"))?;
                Ok(removed > 0)
            }
        }
    }

    /// Makes a new key with key `id`'s name, scope and expiry, and lets `id` work for `grace`
    /// more (never longer than it would have); returns the new record and key.
    ///
    /// # Errors
    /// No key `id`, or a write fails.
    pub async fn rotate(&self, id: &str, grace: Duration) -> Result<(KeyRecord, String)> {
        let mut old = self
            .list()
            .await?
            .into_iter()
            .find(|record| record.id == id)
            .with_context(|| format!("no key `{id}`"))?;
        let (record, key) = self
            .create(&old.name, old.scope.clone(), old.expires_ms)
            .await?;
        let until = now_ms().saturating_add(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
        old.expires_ms = Some(old.expires_ms.map_or(until, |at| at.min(until)));
        self.write(&old).await?;
        Ok((record, key))
    }

    /// Whether `key` hashes to `hash` under this store's pepper (constant time).
    pub(super) fn verify(&self, key: &[u8], hash: &[u8]) -> bool {
        ring::hmac::verify(&self.pepper, key, hash).is_ok()
    }
}

/// The records in directory `dir`.
fn list_files(dir: &Path) -> Result<Vec<KeyRecord>> {
    let mut records = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the key store `{}`", dir.display()))?;
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
    Ok(records)
}

/// `N` bytes from the system's secure random source.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(bytes)
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
