//! Test support for the key-value host calls: an instance's view with one granted store, a
//! sled tree in a temporary directory.

use std::sync::Arc;

use tempfile::TempDir;
use wasmtime::component::ResourceTable;

use super::host::KeyValueView;
use super::sled::SledStore;
use super::stores::{KeyValueGrants, KeyValueStore};
use crate::invocation::RequestId;
use crate::metrics::Metrics;
use crate::runtime_config::KeyValueLimits;

/// One instance's state for the key-value calls: its resource table and its grant of store
/// `default`.
pub(super) struct Instance {
    _dir: TempDir,
    pub(super) table: ResourceTable,
    pub(super) grants: KeyValueGrants,
    request_id: RequestId,
}

impl Instance {
    /// An instance granted store `default` (empty), whose table holds at most `resources`.
    pub(super) fn new(resources: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let store = KeyValueStore {
            label: "default".into(),
            description: "sled (test)".to_owned(),
            backend: Arc::new(SledStore::open(&db, "default").unwrap()),
            metrics: Metrics::new().key_value("default"),
            limits: KeyValueLimits::default(),
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(resources);
        Self {
            _dir: dir,
            table,
            grants: KeyValueGrants {
                component: "test".parse().unwrap(),
                stores: Arc::from([Arc::new(store)]),
            },
            request_id: RequestId::generate(),
        }
    }

    /// The granted store, to seed it.
    pub(super) fn store(&self) -> Arc<KeyValueStore> {
        self.grants.stores[0].clone()
    }

    /// Sets keys `key-0` to `key-{n-1}` of the store, in one batch.
    pub(super) async fn seed(&self, n: usize) {
        let entries: Vec<(String, Vec<u8>)> = (0..n)
            .map(|i| (format!("key-{i}"), b"v".to_vec()))
            .collect();
        self.store().backend.set_many(&entries).await.unwrap();
    }

    /// The view the host calls run on.
    pub(super) fn view(&mut self) -> KeyValueView<'_> {
        KeyValueView {
            table: &mut self.table,
            grants: &self.grants,
            request_id: &self.request_id,
        }
    }
}
