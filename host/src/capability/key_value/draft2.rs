//! Per guest call, for the key-value capability: `wasi:keyvalue@0.2.0-draft2` (`store`,
//! `atomics`, `batch`), the version the Spin SDK imports, on the same [`KeyValueView`] as
//! `wasi:keyvalue@0.2.0-draft` ([`super::host`]). Added to the linker by
//! [`super::add_to_linker`].
//!
//! Where the two versions have the same shape (`open`, `get`, `set`, `delete`, `exists`,
//! `set-many`, `delete-many`) each call forwards to the draft's; where they differ, it converts:
//! - `list-keys` takes and returns its cursor as a string: the draft's `u64`, in decimal; a
//!   cursor that is not one gets `other`;
//! - `get-many` returns `(key, option<value>)` pairs instead of `option<(key, value)>`;
//! - `increment` takes and returns an `s64`, as the backends count: a negative `delta`
//!   decrements;
//! - compare-and-swap is a `cas` resource: `cas.new` reads the key's current value, `swap`
//!   writes the new one only if the key still has it (the backend's atomic compare-and-swap),
//!   and otherwise fails with `cas-failed` and a new `cas` holding the value the key has now.

use std::sync::Arc;

use wasmtime::component::Resource;

use super::host::{Bucket, KeyValueError, KeyValueView, fits, fits_key, forward_to_draft};
use super::stores::KeyValueStore;
use crate::bindings::spin::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::wasi::keyvalue as draft;

/// The `wasi:keyvalue/atomics@0.2.0-draft2.cas` resource: one key of an open store, and the
/// value it had when the compare-and-swap began (`None`: the key did not exist).
pub struct Cas {
    store: Arc<KeyValueStore>,
    key: String,
    current: Option<Vec<u8>>,
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KeyValueError> {
        draft::store::Host::open(self, identifier).await
    }

    fn convert_error(&mut self, err: KeyValueError) -> wasmtime::Result<store::Error> {
        Ok(match draft::store::Host::convert_error(self, err)? {
            draft::store::Error::NoSuchStore => store::Error::NoSuchStore,
            draft::store::Error::AccessDenied => store::Error::AccessDenied,
            draft::store::Error::Other(message) => store::Error::Other(message),
        })
    }
}

impl store::HostBucket for KeyValueView<'_> {
    forward_to_draft!();

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, KeyValueError> {
        let cursor = cursor
            .map(|cursor| {
                cursor.parse().map_err(|_| {
                    KeyValueError::Other(format!(
                        "list-keys: `{cursor}` is not a cursor an earlier page returned"
                    ))
                })
            })
            .transpose()?;
        let page = draft::store::HostBucket::list_keys(self, bucket, cursor).await?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.cursor.map(|cursor| cursor.to_string()),
        })
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, KeyValueError> {
        self.add(&bucket, &key, delta).await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas {
            store,
            key,
            current,
        } = self.table.delete(cas)?;
        let result = async {
            fits(&store, &key, &value)?;
            let swapped = store
                .backend
                .compare_and_swap(&key, current.as_deref(), &value)
                .await?;
            if swapped {
                return Ok(None);
            }
            store.backend.get(&key).await.map(Some)
        }
        .await;
        match self.check(&store, "swap", result) {
            Ok(None) => Ok(Ok(())),
            Ok(Some(current)) => {
                let cas = self.table.push(Cas {
                    store,
                    key,
                    current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(cas)))
            }
            Err(err) => {
                let err = store::Host::convert_error(self, err)?;
                Ok(Err(atomics::CasError::StoreError(err)))
            }
        }
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KeyValueError> {
        let values = self.get_values(&bucket, &keys).await?;
        Ok(keys.into_iter().zip(values).collect())
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KeyValueError> {
        draft::batch::Host::set_many(self, bucket, key_values).await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KeyValueError> {
        draft::batch::Host::delete_many(self, bucket, keys).await
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Resource<Cas>, KeyValueError> {
        let store = self.store(&bucket)?;
        let result = async {
            fits_key(&store, &key)?;
            store.backend.get(&key).await
        }
        .await;
        let current = self.check(&store, "cas", result)?;
        Ok(self.table.push(Cas {
            store,
            key,
            current,
        })?)
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, KeyValueError> {
        Ok(self.table.get(&cas)?.current.clone())
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use atomics::{Host as _, HostCas as _};
    use batch::Host as _;
    use store::{Host as _, HostBucket as _};

    use super::super::testing::Instance;
    use super::*;

    /// A borrow of the bucket (or CAS) at `rep`, as a guest passes it.
    fn borrow<T: 'static>(rep: u32) -> Resource<T> {
        Resource::new_borrow(rep)
    }

    #[tokio::test]
    async fn the_empty_identifier_opens_the_default_store() {
        let mut instance = Instance::new(10);
        let mut view = instance.view();
        let named = view.open("default".into()).await.unwrap().rep();
        view.set(borrow(named), "k".into(), b"v".to_vec())
            .await
            .unwrap();
        let empty = view.open(String::new()).await.unwrap().rep();
        let value = view.get(borrow(empty), "k".into()).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn list_keys_pages_with_a_string_cursor() {
        let mut instance = Instance::new(10);
        let bucket = instance.view().open("default".into()).await.unwrap().rep();
        instance.seed(1500).await;
        let mut view = instance.view();
        let first = view.list_keys(borrow(bucket), None).await.unwrap();
        let cursor = first.cursor.expect("a second page");
        assert_eq!(cursor, "1000");
        let second = view.list_keys(borrow(bucket), Some(cursor)).await.unwrap();
        assert_eq!((first.keys.len(), second.keys.len()), (1000, 500));
        assert_eq!(second.cursor, None);

        let err = view
            .list_keys(borrow(bucket), Some("next".into()))
            .await
            .unwrap_err();
        let store::Error::Other(message) = view.convert_error(err).unwrap() else {
            panic!("not `other`");
        };
        assert!(message.contains("`next` is not a cursor"), "{message}");
    }

    #[tokio::test]
    async fn increment_takes_a_signed_delta() {
        let mut instance = Instance::new(10);
        let mut view = instance.view();
        let bucket = view.open("default".into()).await.unwrap().rep();
        let increment = atomics::Host::increment;
        assert_eq!(
            increment(&mut view, borrow(bucket), "n".into(), -2)
                .await
                .unwrap(),
            -2
        );
        assert_eq!(
            increment(&mut view, borrow(bucket), "n".into(), 5)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            view.get(borrow(bucket), "n".into()).await.unwrap(),
            Some(b"3".to_vec())
        );

        // The draft's unsigned counters refuse a negative one.
        increment(&mut view, borrow(bucket), "n".into(), -5)
            .await
            .unwrap();
        let err = draft::atomics::Host::increment(&mut view, borrow(bucket), "n".into(), 1)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyValueError::Other(m) if m.contains("negative")));
    }

    #[tokio::test]
    async fn a_cas_swaps_only_the_value_it_read() {
        let mut instance = Instance::new(10);
        let mut view = instance.view();
        let bucket = view.open("default".into()).await.unwrap().rep();

        let cas = view.new(borrow(bucket), "k".into()).await.unwrap();
        assert_eq!(view.current(borrow(cas.rep())).await.unwrap(), None);
        view.swap(cas, b"v1".to_vec()).await.unwrap().unwrap();
        assert_eq!(
            view.get(borrow(bucket), "k".into()).await.unwrap(),
            Some(b"v1".to_vec())
        );

        // Another write between `new` and `swap`: the swap fails with the value there now.
        let cas = view.new(borrow(bucket), "k".into()).await.unwrap();
        assert_eq!(
            view.current(borrow(cas.rep())).await.unwrap(),
            Some(b"v1".to_vec())
        );
        view.set(borrow(bucket), "k".into(), b"v2".to_vec())
            .await
            .unwrap();
        let Err(atomics::CasError::CasFailed(retry)) =
            view.swap(cas, b"v3".to_vec()).await.unwrap()
        else {
            panic!("the swap succeeded");
        };
        assert_eq!(
            view.current(borrow(retry.rep())).await.unwrap(),
            Some(b"v2".to_vec())
        );
        view.swap(retry, b"v3".to_vec()).await.unwrap().unwrap();
        assert_eq!(
            view.get(borrow(bucket), "k".into()).await.unwrap(),
            Some(b"v3".to_vec())
        );
    }

    #[tokio::test]
    async fn get_many_pairs_every_key_with_its_value() {
        let mut instance = Instance::new(10);
        let mut view = instance.view();
        let bucket = view.open("default".into()).await.unwrap().rep();
        view.set(borrow(bucket), "a".into(), b"1".to_vec())
            .await
            .unwrap();
        let pairs = view
            .get_many(borrow(bucket), vec!["a".into(), "b".into()])
            .await
            .unwrap();
        assert_eq!(
            pairs,
            [
                ("a".to_owned(), Some(b"1".to_vec())),
                ("b".to_owned(), None)
            ]
        );
    }
}
