//! Per guest call, for the key-value capability: Spin's `fermyon:spin/key-value@2.0.0`, on the
//! same [`KeyValueView`], stores and limits as `wasi:keyvalue` ([`super::host`]). Added to the
//! linker by [`super::add_to_linker`].
//!
//! A Spin `store` is a [`Bucket`]: `store.open(label)` opens one of the labels the component's
//! `key_value_stores = [..]` grants, and any other gets `access-denied` (as Spin does for a
//! label its manifest does not grant; wasmhost never says `no-such-store`). Opening one more
//! store once the instance holds [`crate::limits::MAX_RESOURCES`] resources gets
//! `store-table-full`. `get`, `set`, `delete` and `exists` are `wasi:keyvalue`'s calls.
//! `get-keys` returns every key in one list, read page by page: at most [`MAX_GET_KEYS`] keys
//! and [`MAX_GET_MANY_BYTES`] of key bytes; a store with more fails the call with `other`
//! (`wasi:keyvalue`'s `list-keys` pages through any number).

use wasmtime::component::{Resource, ResourceTableError};

use super::backend::{MAX_GET_KEYS, MAX_GET_MANY_BYTES};
use super::host::{Bucket, KeyValueError, KeyValueView, forward_to_draft};
use crate::bindings::spin::fermyon::spin2_0_0::key_value::{self, Error};

impl key_value::Host for KeyValueView<'_> {
    fn convert_error(&mut self, err: KeyValueError) -> wasmtime::Result<Error> {
        match err {
            KeyValueError::AccessDenied => Ok(Error::AccessDenied),
            KeyValueError::TableFull => Ok(Error::StoreTableFull),
            KeyValueError::Other(message) => Ok(Error::Other(message)),
            KeyValueError::Trap(trap) => Err(trap),
        }
    }
}

impl key_value::HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<Bucket>, KeyValueError> {
        let store = self.granted(&label)?;
        self.table.push(Bucket(store)).map_err(|err| match err {
            ResourceTableError::Full => KeyValueError::TableFull,
            err => KeyValueError::Trap(err.into()),
        })
    }

    forward_to_draft!();

    async fn get_keys(&mut self, store: Resource<Bucket>) -> Result<Vec<String>, KeyValueError> {
        let open = self.store(&store)?;
        let (mut keys, mut bytes, mut cursor) = (Vec::new(), 0usize, None);
        loop {
            let result = open.backend.list_keys(cursor).await;
            let page = self.check(&open, "get-keys", result)?;
            bytes += page.keys.iter().map(String::len).sum::<usize>();
            keys.extend(page.keys);
            if keys.len() > MAX_GET_KEYS || bytes > MAX_GET_MANY_BYTES {
                return Err(KeyValueError::Other(format!(
                    "get-keys: key-value store `{}` has more than {MAX_GET_KEYS} keys or \
                     {MAX_GET_MANY_BYTES} bytes of keys, more than one call returns \
                     (wasi:keyvalue's list-keys pages through any number)",
                    open.label
                )));
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use key_value::{Host as _, HostStore as _};

    use super::super::testing::Instance;
    use super::*;

    /// The guest's error for `err`.
    fn guest(instance: &mut Instance, err: KeyValueError) -> Error {
        instance.view().convert_error(err).expect("not a trap")
    }

    #[tokio::test]
    async fn a_label_not_granted_is_access_denied() {
        let mut instance = Instance::new(10);
        for label in ["other", "", "DEFAULT"] {
            let err = instance.view().open(label.into()).await.unwrap_err();
            assert!(matches!(guest(&mut instance, err), Error::AccessDenied));
        }
    }

    #[tokio::test]
    async fn a_full_table_is_store_table_full() {
        let mut instance = Instance::new(1);
        let first = instance.view().open("default".into()).await.unwrap();
        let err = instance.view().open("default".into()).await.unwrap_err();
        assert!(matches!(guest(&mut instance, err), Error::StoreTableFull));
        instance.view().drop(first).await.unwrap();
        instance.view().open("default".into()).await.unwrap();
    }

    #[tokio::test]
    async fn a_store_gets_sets_deletes_and_lists_its_keys() {
        let mut instance = Instance::new(10);
        let mut view = instance.view();
        let rep = view.open("default".into()).await.unwrap().rep();
        let handle = || Resource::<Bucket>::new_borrow(rep);
        assert_eq!(view.get(handle(), "k".into()).await.unwrap(), None);
        view.set(handle(), "k".into(), b"v".to_vec()).await.unwrap();
        assert_eq!(
            view.get(handle(), "k".into()).await.unwrap(),
            Some(b"v".to_vec())
        );
        assert!(view.exists(handle(), "k".into()).await.unwrap());
        view.delete(handle(), "k".into()).await.unwrap();
        assert!(!view.exists(handle(), "k".into()).await.unwrap());

        // More keys than one list-keys page: get-keys reads every page.
        instance.seed(2500).await;
        let mut keys = instance.view().get_keys(handle()).await.unwrap();
        keys.sort_unstable();
        let mut expected: Vec<String> = (0..2500).map(|i| format!("key-{i}")).collect();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn get_keys_past_its_bound_fails_with_other() {
        let mut instance = Instance::new(10);
        let store = instance.view().open("default".into()).await.unwrap();
        instance.seed(MAX_GET_KEYS + 1).await;
        let err = instance.view().get_keys(store).await.unwrap_err();
        let Error::Other(message) = guest(&mut instance, err) else {
            panic!("not `other`");
        };
        assert!(message.contains("more than 10000 keys"), "{message}");
    }
}
