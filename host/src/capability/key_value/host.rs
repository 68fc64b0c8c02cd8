//! Per guest call, for the key-value capability: the per-instance [`KeyValueView`] implements
//! the generated `wasi:keyvalue` (`store`, `atomics`, `batch`) and `wasmhost:host/keyvalue-cas`
//! host traits over the component's [`KeyValueGrants`]; [`add_to_linker`] adds them once at
//! startup.
//!
//! `store.open(label)` compares the label with the few granted ones and pushes a [`Bucket`]
//! into the resource table; a label not granted gets `access-denied`, whether or not such a
//! store exists. Every other call checks its keys and values against the store's limits
//! (`max_key_bytes`, `max_value_bytes`; a batch call names at most [`MAX_BATCH_KEYS`] keys, and
//! `get-many` returns at most [`MAX_GET_MANY_BYTES`]), then goes straight to the backend; a
//! call past a limit fails with `other(..)` saying which, counted as `invalid`.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::backend::{MAX_BATCH_KEYS, MAX_GET_MANY_BYTES};
use super::stores::{KeyValueGrants, KeyValueStore};
use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::wasmhost::host::keyvalue_cas;
use crate::capability::backend::BackendError;
use crate::invocation::RequestId;
use crate::metrics::KeyValueOutcome;

/// The `wasi:keyvalue/store.bucket` resource: an open store.
pub struct Bucket(Arc<KeyValueStore>);

/// The error of every key-value call, as `wasi:keyvalue/store.error`, or a trap. wasmhost never
/// answers `no-such-store`: an unknown label is `access-denied`, so a guest cannot probe which
/// stores exist.
#[derive(Debug)]
pub enum KeyValueError {
    /// `access-denied`: the store is not granted to the component.
    AccessDenied,
    /// `other`: the backend failed, or the operation does not apply.
    Other(String),
    /// A host-side fault (a bucket handle not in the resource table): traps the instance.
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for KeyValueError {
    fn from(err: wasmtime::component::ResourceTableError) -> Self {
        Self::Trap(err.into())
    }
}

/// The per-instance view the generated traits are implemented on.
pub struct KeyValueView<'a> {
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
    /// What the instance's component is granted.
    pub grants: &'a KeyValueGrants,
    /// The invocation's request id, for log lines.
    pub request_id: &'a RequestId,
}

impl KeyValueView<'_> {
    fn store(&self, bucket: &Resource<Bucket>) -> Result<Arc<KeyValueStore>, KeyValueError> {
        Ok(self.table.get(bucket)?.0.clone())
    }

    /// Counts the operation in its store's metrics and turns a backend failure into the
    /// guest's error, logging an unavailable backend with the component, store and request id.
    fn check<T>(
        &self,
        store: &KeyValueStore,
        op: &str,
        result: Result<T, BackendError>,
    ) -> Result<T, KeyValueError> {
        let outcome = match &result {
            Ok(_) => KeyValueOutcome::Ok,
            Err(BackendError::Invalid(_)) => KeyValueOutcome::Invalid,
            Err(BackendError::Unavailable(_)) => KeyValueOutcome::Unavailable,
        };
        store.metrics.count(outcome);
        result.map_err(|err| match err {
            BackendError::Invalid(message) => KeyValueError::Other(message),
            BackendError::Unavailable(message) => {
                tracing::warn!(
                    component = %self.grants.component,
                    request_id = %self.request_id,
                    store = %store.label,
                    backend = %store.description,
                    "key-value {op} failed: {message}"
                );
                KeyValueError::Other(format!(
                    "key-value store `{}` is unavailable: {message}",
                    store.label
                ))
            }
        })
    }
}

/// Checks `key` against `store`'s `max_key_bytes`.
fn fits_key(store: &KeyValueStore, key: &str) -> Result<(), BackendError> {
    let max = store.limits.max_key_bytes;
    if key.len() > max {
        return Err(BackendError::Invalid(format!(
            "a key of {} bytes; key-value store `{}` takes keys of at most {max} bytes (max_key_bytes)",
            key.len(),
            store.label
        )));
    }
    Ok(())
}

/// Checks `key` and `value` against `store`'s `max_key_bytes` and `max_value_bytes`.
fn fits(store: &KeyValueStore, key: &str, value: &[u8]) -> Result<(), BackendError> {
    fits_key(store, key)?;
    let max = store.limits.max_value_bytes;
    if value.len() > max {
        return Err(BackendError::Invalid(format!(
            "a value of {} bytes; key-value store `{}` takes values of at most {max} bytes (max_value_bytes)",
            value.len(),
            store.label
        )));
    }
    Ok(())
}

/// Checks the number of keys of one batch call against [`MAX_BATCH_KEYS`].
fn fits_batch(keys: usize) -> Result<(), BackendError> {
    if keys > MAX_BATCH_KEYS {
        return Err(BackendError::Invalid(format!(
            "{keys} keys in one batch call; the limit is {MAX_BATCH_KEYS}"
        )));
    }
    Ok(())
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KeyValueError> {
        let store = self
            .grants
            .stores
            .iter()
            .find(|store| *store.label == *identifier)
            .ok_or(KeyValueError::AccessDenied)?;
        Ok(self.table.push(Bucket(store.clone()))?)
    }

    fn convert_error(&mut self, err: KeyValueError) -> wasmtime::Result<store::Error> {
        match err {
            KeyValueError::AccessDenied => Ok(store::Error::AccessDenied),
            KeyValueError::Other(message) => Ok(store::Error::Other(message)),
            KeyValueError::Trap(trap) => Err(trap),
        }
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_key(&store, &key)?;
                store.backend.get(&key).await
            }
            .await;
            self.check(&store, "get", result)
        }
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits(&store, &key, &value)?;
                store.backend.set(&key, &value).await
            }
            .await;
            self.check(&store, "set", result)
        }
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_key(&store, &key)?;
                store.backend.delete(&key).await
            }
            .await;
            self.check(&store, "delete", result)
        }
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_key(&store, &key)?;
                store.backend.exists(&key).await
            }
            .await;
            self.check(&store, "exists", result)
        }
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KeyValueError> {
        let page = {
            let store = self.store(&bucket)?;
            let result = store.backend.list_keys(cursor).await;
            self.check(&store, "list-keys", result)
        }?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

/// This version's counters are `u64`s, the backends' are `i64`s: a `delta` above 2^63-1 fails
/// with `other`, and so does an increment that leaves a counter below 0 (the increment is
/// made, as Redis's `INCRBY` makes it, and only its answer fails).
impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_key(&store, &key)?;
                let delta = i64::try_from(delta).map_err(|_| {
                    BackendError::Invalid("a counter delta is at most 2^63-1".to_owned())
                })?;
                let new = store.backend.increment(&key, delta).await?;
                u64::try_from(new)
                    .map_err(|_| BackendError::Invalid("the counter is negative".to_owned()))
            }
            .await;
            self.check(&store, "increment", result)
        }
    }
}

impl keyvalue_cas::Host for KeyValueView<'_> {
    async fn compare_and_swap(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits(&store, &key, &value)?;
                store
                    .backend
                    .compare_and_swap(&key, expected.as_deref(), &value)
                    .await
            }
            .await;
            self.check(&store, "compare-and-swap", result)
        }
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KeyValueError> {
        let values = {
            let store = self.store(&bucket)?;
            let result = async {
                fits_batch(keys.len())?;
                for key in &keys {
                    fits_key(&store, key)?;
                }
                store.backend.get_many(&keys, MAX_GET_MANY_BYTES).await
            }
            .await;
            self.check(&store, "get-many", result)
        }?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| value.map(|value| (key, value)))
            .collect())
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_batch(key_values.len())?;
                for (key, value) in &key_values {
                    fits(&store, key, value)?;
                }
                store.backend.set_many(&key_values).await
            }
            .await;
            self.check(&store, "set-many", result)
        }
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = async {
                fits_batch(keys.len())?;
                for key in &keys {
                    fits_key(&store, key)?;
                }
                store.backend.delete_many(&keys).await
            }
            .await;
            self.check(&store, "delete-many", result)
        }
    }
}

/// [`HasData`] marker for the key-value imports.
struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds every key-value import to `linker`; `view` borrows the instance's [`KeyValueView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> Result<()> {
    store::add_to_linker::<_, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<_, HasKeyValue>(linker, view)?;
    batch::add_to_linker::<_, HasKeyValue>(linker, view)?;
    keyvalue_cas::add_to_linker::<_, HasKeyValue>(linker, view)?;
    Ok(())
}
