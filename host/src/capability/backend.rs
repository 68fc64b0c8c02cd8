//! What the capabilities with backends (key-value stores, queues, blob containers) share, in
//! layer 4: where their backends live and count ([`BackendContext`]), the error every backend
//! operation can fail with ([`BackendError`]), the one Redis connection setup
//! ([`connection_manager`]), the TLS settings of HTTP clients ([`tls_client_config`]), the
//! sled databases opened so far ([`SledDatabases`]), and the wall clock backends stamp
//! messages with ([`now_ms`]).
//!
//! Used at startup (opening backends) and per call (errors, clock); nothing here knows a
//! trigger or a loaded app.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::metrics::{KeyValueOutcome, Metrics};
use crate::runtime_config::{RedisUrl, RuntimeConfig};

/// What every capability with backends keeps from one app version to the next: the runtime
/// config that says where each store or queue lives, the metrics they count in, and the sled
/// databases opened so far. Cloning shares them.
#[derive(Clone, Default)]
pub struct BackendContext {
    /// Where each store and queue lives.
    pub config: RuntimeConfig,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    /// The sled databases opened so far.
    pub sled: SledDatabases,
}

/// What a backend operation (a key-value store's or a queue's) can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The operation does not apply to the data, such as incrementing a value that is not a
    /// decimal integer. The guest's doing: told to the guest, not logged.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed: I/O, a lost connection, a timeout. Logged with the store or queue,
    /// and told to the guest.
    #[error("{0}")]
    Unavailable(String),
}

impl BackendError {
    /// How an operation that gave `result` ended, for its `outcome` label: `ok`, `invalid`
    /// (the guest's doing) or `unavailable` (the backend's).
    pub fn outcome<T>(result: &Result<T, Self>) -> KeyValueOutcome {
        match result {
            Ok(_) => KeyValueOutcome::Ok,
            Err(Self::Invalid(_)) => KeyValueOutcome::Invalid,
            Err(Self::Unavailable(_)) => KeyValueOutcome::Unavailable,
        }
    }
}

/// Milliseconds since the Unix epoch, now (0 before 1970, `u64::MAX` past its range).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// How long connecting to Redis may take: 1 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one Redis command may wait for its reply: 2 s.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A lazy, reconnecting, multiplexed connection to the Redis server at `url`, with
/// [`CONNECT_TIMEOUT`] and [`RESPONSE_TIMEOUT`]; shared by key-value stores and queues. Must be
/// called inside a tokio runtime.
///
/// # Errors
/// A URL the Redis client does not accept (the error shows it without its password).
pub fn connection_manager(url: &RedisUrl) -> Result<ConnectionManager> {
    let client =
        redis::Client::open(url.expose()).with_context(|| format!("bad Redis URL {url}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .with_context(|| format!("cannot set up a connection to Redis at {url}"))
}

/// The TLS settings of every client the host opens (outbound HTTP, S3): rustls with the ring
/// provider, its safe default protocol versions (TLS 1.2 and 1.3), and the webpki root
/// certificates.
///
/// # Errors
/// The ring provider rejects the default protocol versions (it does not in practice).
pub fn tls_client_config() -> Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    })
    .with_no_client_auth())
}

/// The sled databases opened so far, by directory: sled locks a directory to one opener, so
/// every store or queue in one directory shares its database. Cloning shares the handles.
#[derive(Clone, Default)]
pub struct SledDatabases(BTreeMap<PathBuf, sled::Db>);

impl SledDatabases {
    /// The database in directory `path`, opened (and created if needed) on first use.
    ///
    /// # Errors
    /// The directory cannot be created or opened, or another process holds it ([`StoreLocked`],
    /// naming the directory and the process).
    pub fn open(&mut self, path: &Path) -> Result<sled::Db> {
        if let Some(db) = self.0.get(path) {
            return Ok(db.clone());
        }
        let db = match sled::open(path) {
            Ok(db) => db,
            // sled says no more than this of a lock another process holds.
            Err(err) if err.to_string().contains("could not acquire lock") => {
                return Err(StoreLocked {
                    path: path.to_owned(),
                    holder: lock_holder(&path.join("db")),
                }
                .into());
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot open the sled database `{}`", path.display())
                });
            }
        };
        self.0.insert(path.to_owned(), db.clone());
        Ok(db)
    }
}

/// A sled database that another process holds: sled locks its directory to one process, so a
/// second `serve` of an app, or a `wasmhost queue` command while it serves, cannot open it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the sled database `{}` is held by {}; a sled store is open in one process at a time. While that process serves the app, the queue and cron commands go through its admin listener (serve with `--admin-listen`, or give `--admin URL`), or stop it first",
    path.display(),
    match holder { Some(pid) => format!("another process (pid {pid})"), None => "another process".to_owned() }
)]
pub struct StoreLocked {
    /// The database's directory.
    pub path: PathBuf,
    /// The process that holds the lock, where the system says (Linux: `/proc/locks`).
    pub holder: Option<u32>,
}

/// The process holding a `flock` on `file`, from `/proc/locks` (Linux); `None` elsewhere or if
/// no lock on it is listed. Each line reads `1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode>
/// 0 EOF`, the device numbers in hex (proc(5)).
fn lock_holder(file: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file).ok()?;
    let (dev, inode) = (meta.dev(), meta.ino());
    // The Linux encoding of a device number (glibc's `major` and `minor`).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        // A process waiting for the lock is listed as `1: -> FLOCK ...`: not a holder.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let mut id = fields.get(5)?.split(':');
        let same = u64::from_str_radix(id.next()?, 16).ok()? == major
            && u64::from_str_radix(id.next()?, 16).ok()? == minor
            && id.next()?.parse::<u64>().ok()? == inode;
        (same && fields.get(1) == Some(&"FLOCK")).then(|| fields.get(4)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_database_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = SledDatabases::default().open(dir.path()).unwrap();
        let err = SledDatabases::default().open(dir.path()).unwrap_err();
        let locked = err.downcast_ref::<StoreLocked>().expect("a StoreLocked");
        assert_eq!(locked.path, dir.path());
        if cfg!(target_os = "linux") {
            assert_eq!(locked.holder, Some(std::process::id()));
        }
        let shown = StoreLocked {
            path: PathBuf::from("/srv/app/.wasmhost/kv"),
            holder: Some(4242),
        };
        insta::assert_snapshot!(shown.to_string());
    }
}
