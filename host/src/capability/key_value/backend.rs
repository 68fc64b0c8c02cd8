//! The key-value backend trait every store implements ([`sled`](super::sled) embedded, or
//! [`redis`](super::redis) shared by several nodes), and the page type of `list-keys`. Layer 4:
//! called per guest call through [`super::host`], opened at startup by [`super::stores`].

use super::BackendError;

/// Keys a `list-keys` call returns at most per page.
pub const LIST_PAGE: usize = 1000;

/// Keys one Spin `get-keys` call returns at most: 10 000 (ten [`LIST_PAGE`]s); a store with
/// more fails the call (`fermyon:spin/key-value` has no cursor).
pub const MAX_GET_KEYS: usize = 10 * LIST_PAGE;

/// Keys one `get-many`, `set-many` or `delete-many` call may name: 1 000.
pub const MAX_BATCH_KEYS: usize = 1000;

/// Value bytes one `get-many` call may return, all values together, and key bytes one Spin
/// `get-keys` call may return, all keys together: 16 MiB.
pub const MAX_GET_MANY_BYTES: usize = 16 << 20;

/// The [`BackendError::Invalid`] of a `get-many` whose values come to `total` bytes or more.
pub fn get_many_too_big(total: usize) -> BackendError {
    BackendError::Invalid(format!(
        "get-many: the values come to {total} bytes or more; one call returns at most {MAX_GET_MANY_BYTES}"
    ))
}

/// One page of `list-keys`: the keys, and the cursor of the next page (`None` on the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys of this page, at most [`LIST_PAGE`].
    pub keys: Vec<String>,
    /// Pass this to get the next page; `None` when there is none.
    pub cursor: Option<u64>,
}

/// A key-value store's backend. Keys are strings; values are bytes of any length (0 bytes
/// included). Every write is durable when it returns: flushed to disk (sled) or acknowledged
/// by the server (Redis).
///
/// Counters (`increment`) are `i64`s stored as decimal ASCII text, so `get` on a counter
/// returns `b"42"` (or `b"-1"`) with every backend.
#[async_trait::async_trait]
pub trait KeyValueBackend: Send + Sync + 'static {
    /// The value of `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Sets `key` to `value`.
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError>;
    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, BackendError>;
    /// A page of keys, from the start (`cursor = None`) or from a cursor an earlier page
    /// returned. Keys present during the whole listing are returned at least once.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage, BackendError>;
    /// Atomically adds `delta` (a negative one subtracts) to the decimal counter at `key` (a
    /// missing key counts as 0) and returns the new value. Counters are `i64`, as Redis's.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] if the value is not a decimal `i64` or the sum overflows one.
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, BackendError>;
    /// Atomically sets `key` to `value` if its value is `expected` (`None`: the key does not
    /// exist). Returns whether it was written.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, BackendError>;
    /// The values of `keys`, in order, if they come to at most `max_bytes` together.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] if they come to more (nothing more is copied to the host than
    /// the backend's reply).
    async fn get_many(
        &self,
        keys: &[String],
        max_bytes: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError>;
    /// Sets every pair, atomically where the backend can (both here can).
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError>;
    /// Deletes every key.
    async fn delete_many(&self, keys: &[String]) -> Result<(), BackendError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
}
