//! The embedded key-value backend: a sled database, one tree per store.
//!
//! Every write is flushed (fsync) before it returns, so a `kill -9` right after a successful
//! `set` loses nothing. `list-keys` pages through keys in byte order; its cursor is the number
//! of keys already returned, so a key inserted or deleted before the cursor during a listing
//! may shift a page by one key (as Redis `SCAN`, keys present throughout are all returned).

use anyhow::{Context, Result};
use sled::{CompareAndSwapError, IVec, Tree};

use super::backend::get_many_too_big;
use super::{BackendError, KeyPage, KeyValueBackend, LIST_PAGE};

/// One store: a tree of a sled database.
pub struct SledStore {
    tree: Tree,
}

impl SledStore {
    /// The store `label` of `db` (its tree of that name, created if needed).
    ///
    /// # Errors
    /// sled cannot open the tree (I/O).
    pub fn open(db: &sled::Db, label: &str) -> Result<Self> {
        let tree = db
            .open_tree(label)
            .with_context(|| format!("cannot open sled tree `{label}`"))?;
        Ok(Self { tree })
    }

    /// Makes every write so far durable: an fsync on tokio's blocking pool (sled's own
    /// `flush_async` runs on sled's thread pool, which can stall under many concurrent calls).
    async fn flush(&self) -> Result<(), BackendError> {
        let tree = self.tree.clone();
        match tokio::task::spawn_blocking(move || tree.flush()).await {
            Ok(flushed) => flushed.map(drop).map_err(unavailable),
            Err(err) => Err(BackendError::Unavailable(format!("sled flush: {err}"))),
        }
    }
}

fn unavailable(err: sled::Error) -> BackendError {
    BackendError::Unavailable(format!("sled: {err}"))
}

/// Parses a counter: an `i64` in decimal ASCII (`42`, `-1`).
fn parse_counter(value: &[u8]) -> Result<i64, BackendError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| BackendError::Invalid("the value is not a decimal integer".to_owned()))
}

#[async_trait::async_trait]
impl KeyValueBackend for SledStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let value = self.tree.get(key).map_err(unavailable)?;
        Ok(value.map(|value| value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.tree.insert(key, value).map_err(unavailable)?;
        self.flush().await
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.tree.remove(key).map_err(unavailable)?;
        self.flush().await
    }

    async fn exists(&self, key: &str) -> Result<bool, BackendError> {
        self.tree.contains_key(key).map_err(unavailable)
    }

    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage, BackendError> {
        let skip = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let mut keys = Vec::with_capacity(LIST_PAGE);
        let mut more = false;
        for key in self.tree.iter().keys().skip(skip) {
            if keys.len() == LIST_PAGE {
                more = true;
                break;
            }
            keys.push(String::from_utf8_lossy(&key.map_err(unavailable)?).into_owned());
        }
        let cursor = more.then(|| (skip + keys.len()) as u64);
        Ok(KeyPage { keys, cursor })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, BackendError> {
        // sled retries the closure until its compare-and-swap wins; the last run's outcome
        // is the one that was written.
        let mut outcome = Ok(0);
        self.tree
            .update_and_fetch(key, |old| {
                outcome = old.map_or(Ok(0), parse_counter).and_then(|current| {
                    current.checked_add(delta).ok_or_else(|| {
                        BackendError::Invalid("the counter would overflow an i64".to_owned())
                    })
                });
                match &outcome {
                    Ok(new) => Some(IVec::from(new.to_string().as_bytes())),
                    Err(_) => old.map(IVec::from),
                }
            })
            .map_err(unavailable)?;
        let new = outcome?;
        self.flush().await?;
        Ok(new)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, BackendError> {
        match self
            .tree
            .compare_and_swap(key, expected, Some(value))
            .map_err(unavailable)?
        {
            Ok(()) => {
                self.flush().await?;
                Ok(true)
            }
            Err(CompareAndSwapError { .. }) => Ok(false),
        }
    }

    async fn get_many(
        &self,
        keys: &[String],
        max_bytes: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let mut total = 0usize;
        keys.iter()
            .map(|key| {
                let value = self.tree.get(key).map_err(unavailable)?;
                total = total.saturating_add(value.as_ref().map_or(0, |v| v.len()));
                if total > max_bytes {
                    return Err(get_many_too_big(total));
                }
                Ok(value.map(|value| value.to_vec()))
            })
            .collect()
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError> {
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        self.tree.apply_batch(batch).map_err(unavailable)?;
        self.flush().await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), BackendError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.as_bytes());
        }
        self.tree.apply_batch(batch).map_err(unavailable)?;
        self.flush().await
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }
}
