//! Key-value stores: a typed wrapper over `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`,
//! `batch`) and wasmhost's `keyvalue-cas`.
//!
//! A component opens a store by the label its manifest grants
//! (`key_value_stores = ["default"]`); any other label gives [`Error::AccessDenied`]. Where the
//! store lives (sled on the node, or Redis shared by every node) is the operator's choice and
//! does not change this API. Every write is durable when it returns.
//!
//! ```no_run
//! use wasmhost_sdk::key_value::Store;
//!
//! # fn main() -> Result<(), wasmhost_sdk::key_value::Error> {
//! let store = Store::open("default")?;
//! store.set("greeting", "hello")?;
//! assert_eq!(store.get("greeting")?.as_deref(), Some(&b"hello"[..]));
//! let visits = store.increment("visits", 1)?;          // atomic, across every instance
//! let won = store.compare_and_swap("lock", None, b"me")?; // set only if absent
//! # let _ = (visits, won);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use crate::wit::wasi::keyvalue::{atomics, batch, store};
use crate::wit::wasmhost::host::keyvalue_cas;

/// What a key-value call can fail with (`wasi:keyvalue/store.error`, plus JSON errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The host does not know the store.
    NoSuchStore,
    /// The component's manifest does not grant the store.
    AccessDenied,
    /// The store failed (unavailable backend, a counter that is not a number, ...).
    Other(String),
    /// A value could not be converted to or from JSON (`get_json` / `set_json`).
    Json(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchStore => f.write_str("no such key-value store"),
            Self::AccessDenied => f.write_str("access to the key-value store is denied"),
            Self::Other(message) => write!(f, "key-value store error: {message}"),
            Self::Json(message) => write!(f, "key-value JSON error: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::NoSuchStore => Self::NoSuchStore,
            store::Error::AccessDenied => Self::AccessDenied,
            store::Error::Other(message) => Self::Other(message),
        }
    }
}

/// One page of [`Store::list_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page (at most 1000 with wasmhost's backends; possibly none while
    /// `cursor` is `Some`).
    pub keys: Vec<String>,
    /// The cursor of the next page; `None` on the last page.
    pub cursor: Option<u64>,
}

/// An open key-value store.
pub struct Store(store::Bucket);

impl Store {
    /// Opens the store with `label`, as granted in the manifest's `key_value_stores`.
    ///
    /// # Errors
    /// [`Error::AccessDenied`] if the component is not granted `label`.
    pub fn open(label: &str) -> Result<Self, Error> {
        Ok(Self(store::open(label)?))
    }

    /// Opens the store labelled `default`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_default() -> Result<Self, Error> {
        Self::open("default")
    }

    /// The value of `key`, or `None` if it is not set.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.get(key)?)
    }

    /// Sets `key` to `value` (any bytes, 0 bytes included); durable when it returns.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        Ok(self.0.set(key, value.as_ref())?)
    }

    /// Deletes `key`; deleting a key that is not set succeeds.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        Ok(self.0.delete(key)?)
    }

    /// Whether `key` is set.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.0.exists(key)?)
    }

    /// One page of keys: pass `None` first, then each page's `cursor` until it is `None`.
    /// Keys present during the whole listing are returned at least once, in no set order.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage, Error> {
        let page = self.0.list_keys(cursor)?;
        Ok(KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    /// Every key, fetching page after page.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_keys(cursor)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Atomically adds `delta` to the counter at `key` (a missing key counts as 0) and returns
    /// the new value. Counters are stored as decimal text: `get` returns `b"42"`.
    ///
    /// # Errors
    /// [`Error::Other`] if the value is not a decimal integer, the sum overflows, or the store
    /// fails.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        Ok(atomics::increment(&self.0, key, delta)?)
    }

    /// Atomically sets `key` to `value` if its value is `expected` (`None`: if it is not set).
    /// Returns `true` if it wrote, `false` if the value differed.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<bool, Error> {
        Ok(keyvalue_cas::compare_and_swap(
            &self.0,
            key,
            expected,
            value.as_ref(),
        )?)
    }

    /// The values of `keys`, in the same order, in one call.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let found = batch::get_many(&self.0, keys)?;
        Ok(found
            .into_iter()
            .map(|entry| entry.map(|(_, value)| value))
            .collect())
    }

    /// Sets every `(key, value)` pair in one call.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        Ok(batch::set_many(&self.0, entries)?)
    }

    /// Deletes every key in `keys` in one call.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        Ok(batch::delete_many(&self.0, keys)?)
    }

    /// The value of `key` parsed from JSON, or `None` if it is not set.
    ///
    /// # Errors
    /// [`Error::Json`] if the value is not JSON for `T`; [`Error::Other`] if the store fails.
    #[cfg(feature = "json")]
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(|err| Error::Json(err.to_string())))
            .transpose()
    }

    /// Sets `key` to `value` as JSON.
    ///
    /// # Errors
    /// [`Error::Json`] if `value` cannot be serialized; [`Error::Other`] if the store fails.
    #[cfg(feature = "json")]
    pub fn set_json<T: serde::Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value).map_err(|err| Error::Json(err.to_string()))?;
        self.set(key, bytes)
    }
}
