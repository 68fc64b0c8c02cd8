//! Per guest call, for the key-value capability: the per-instance [`KeyValueView`] implements
//! the generated `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) and
//! `wasmhost:host/keyvalue-cas` host traits over the component's [`KeyValueGrants`]; Spin's
//! faces of the same stores ([`super::draft2`], [`super::spin`]) forward to them;
//! [`add_to_linker`] adds them all once at startup.
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
use crate::bindings::spin::fermyon::spin2_0_0::key_value as spin_key_value;
use crate::bindings::spin::wasi::keyvalue as draft2;
use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::wasmhost::host::keyvalue_cas;
use crate::capability::backend::BackendError;
use crate::invocation::RequestId;
use crate::runtime_config::DEFAULT_KEY_VALUE_STORE;

/// The `wasi:keyvalue/store.bucket` resource, of both `wasi:keyvalue` versions, and Spin's
/// `store`: an open store.
pub struct Bucket(pub(super) Arc<KeyValueStore>);

/// The error of every key-value call, as `wasi:keyvalue/store.error` (or Spin's
/// `fermyon:spin/key-value.error`), or a trap. wasmhost never answers `no-such-store`: an
/// unknown label is `access-denied`, so a guest cannot probe which stores exist.
#[derive(Debug)]
pub enum KeyValueError {
    /// `access-denied`: the store is not granted to the component.
    AccessDenied,
    /// Spin's `store-table-full`: the instance already holds
    /// [`crate::limits::MAX_RESOURCES`] resources, so Spin's `store.open` cannot add one more
    /// (`wasi:keyvalue`, which has no such error, tells it as `other`).
    TableFull,
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
    /// The store behind `bucket`.
    pub(super) fn store(
        &self,
        bucket: &Resource<Bucket>,
    ) -> Result<Arc<KeyValueStore>, KeyValueError> {
        Ok(self.table.get(bucket)?.0.clone())
    }

    /// The store `wasi:keyvalue`'s `open(identifier)` opens: the granted store `identifier`,
    /// and for the empty identifier the `default` store (as wasmtime's own `wasi:keyvalue` test
    /// program opens it). Spin's `key-value` keeps its own rule: `""` is no label.
    ///
    /// # Errors
    /// As [`KeyValueView::granted`].
    pub(super) fn identified(&self, identifier: &str) -> Result<Arc<KeyValueStore>, KeyValueError> {
        if identifier.is_empty() {
            self.granted(DEFAULT_KEY_VALUE_STORE)
        } else {
            self.granted(identifier)
        }
    }

    /// The granted store `label`.
    ///
    /// # Errors
    /// [`KeyValueError::AccessDenied`] if the component is not granted it, logged with the
    /// grant that would allow it ([`crate::capability::log_denied`]).
    pub(super) fn granted(&self, label: &str) -> Result<Arc<KeyValueStore>, KeyValueError> {
        let found = self
            .grants
            .stores
            .iter()
            .find(|store| *store.label == *label)
            .cloned();
        found.ok_or_else(|| {
            crate::capability::log_denied(
                &self.grants.component,
                self.request_id.as_str(),
                "key-value store",
                label,
                "key_value_stores",
            );
            KeyValueError::AccessDenied
        })
    }

    /// The values of `keys` in `bucket`, in order (`get-many` of both `wasi:keyvalue`
    /// versions, which differ only in how they pair keys and values).
    pub(super) async fn get_values(
        &mut self,
        bucket: &Resource<Bucket>,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, KeyValueError> {
        let store = self.store(bucket)?;
        let result = async {
            fits_batch(keys.len())?;
            for key in keys {
                fits_key(&store, key)?;
            }
            store.backend.get_many(keys, MAX_GET_MANY_BYTES).await
        }
        .await;
        self.check(&store, "get-many", result)
    }

    /// Adds `delta` to the counter `key` of `bucket` and returns its new value (`increment` of
    /// both `wasi:keyvalue` versions).
    pub(super) async fn add(
        &mut self,
        bucket: &Resource<Bucket>,
        key: &str,
        delta: i64,
    ) -> Result<i64, KeyValueError> {
        let store = self.store(bucket)?;
        let result = async {
            fits_key(&store, key)?;
            store.backend.increment(key, delta).await
        }
        .await;
        self.check(&store, "increment", result)
    }

    /// Counts the operation in its store's metrics and turns a backend failure into the
    /// guest's error, logging an unavailable backend with the component, store and request id.
    pub(super) fn check<T>(
        &self,
        store: &KeyValueStore,
        op: &str,
        result: Result<T, BackendError>,
    ) -> Result<T, KeyValueError> {
        store.metrics.count(BackendError::outcome(&result));
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
pub(super) fn fits_key(store: &KeyValueStore, key: &str) -> Result<(), BackendError> {
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
pub(super) fn fits(store: &KeyValueStore, key: &str, value: &[u8]) -> Result<(), BackendError> {
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

/// The text of `other` for [`KeyValueError::TableFull`], where the WIT has no such error.
pub(super) const TABLE_FULL: &str = "the instance holds too many resources to open one more store";

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
        let store = self.identified(&identifier)?;
        Ok(self.table.push(Bucket(store))?)
    }

    fn convert_error(&mut self, err: KeyValueError) -> wasmtime::Result<store::Error> {
        match err {
            KeyValueError::AccessDenied => Ok(store::Error::AccessDenied),
            KeyValueError::TableFull => Ok(store::Error::Other(TABLE_FULL.to_owned())),
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
/// with `other`, and so does an increment that leaves a counter below 0 (only Spin's
/// `wasi:keyvalue@0.2.0-draft2` can make one negative; the increment is made, as Redis's
/// `INCRBY` makes it, and only its answer fails).
impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KeyValueError> {
        let delta = i64::try_from(delta)
            .map_err(|_| KeyValueError::Other("a counter delta is at most 2^63-1".to_owned()))?;
        let new = self.add(&bucket, &key, delta).await?;
        u64::try_from(new).map_err(|_| KeyValueError::Other("the counter is negative".to_owned()))
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
        let values = self.get_values(&bucket, &keys).await?;
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

/// The calls every version of the key-value WIT has with the same shape (Spin's `store` and
/// the draft2 `bucket` are a [`Bucket`] too): `get`, `set`, `delete`, `exists` and the
/// resource's `drop`, each forwarded to the `wasi:keyvalue@0.2.0-draft` one above. Used in
/// the host-trait impls of [`super::draft2`] and [`super::spin`].
macro_rules! forward_to_draft {
    () => {
        forward_to_draft! {
            get(key: String) -> Option<Vec<u8>>;
            set(key: String, value: Vec<u8>) -> ();
            delete(key: String) -> ();
            exists(key: String) -> bool;
        }

        async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
            crate::bindings::wasi::keyvalue::store::HostBucket::drop(self, bucket).await
        }
    };
    ($($call:ident($($arg:ident: $ty:ty),*) -> $ok:ty;)*) => {$(
        async fn $call(
            &mut self,
            bucket: Resource<Bucket>,
            $($arg: $ty),*
        ) -> Result<$ok, KeyValueError> {
            crate::bindings::wasi::keyvalue::store::HostBucket::$call(self, bucket, $($arg),*).await
        }
    )*};
}
pub(super) use forward_to_draft;

/// [`HasData`] marker for the key-value imports.
struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds every key-value import to `linker`: `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`,
/// `batch`), `wasmhost:host/keyvalue-cas`, and Spin's `wasi:keyvalue@0.2.0-draft2` (`store`,
/// `atomics`, `batch`) and `fermyon:spin/key-value@2.0.0`; `view` borrows the instance's
/// [`KeyValueView`].
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
    draft2::store::add_to_linker::<_, HasKeyValue>(linker, view)?;
    draft2::atomics::add_to_linker::<_, HasKeyValue>(linker, view)?;
    draft2::batch::add_to_linker::<_, HasKeyValue>(linker, view)?;
    spin_key_value::add_to_linker::<_, HasKeyValue>(linker, view)?;
    Ok(())
}
