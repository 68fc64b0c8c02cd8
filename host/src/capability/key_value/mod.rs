//! The key-value capability: `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) and
//! wasmhost's `keyvalue-cas`, and Spin's faces of the same stores (`wasi:keyvalue@0.2.0-draft2`
//! and `fermyon:spin/key-value@2.0.0`), over one [`KeyValueBackend`] per store: [`sled`]
//! (embedded, the default) or [`redis`] (shared by several nodes).
//!
//! In the capability shape of [`crate::capability`]: [`backend`] is the backend trait,
//! [`stores`] the state opened and resolved at startup ([`KeyValueStores::open`],
//! [`KeyValueGrants`]), and [`host`] the per-instance [`KeyValueView`] and [`add_to_linker`],
//! which [`draft2`] and [`spin`] extend to the other WIT versions.

pub mod backend;
pub mod draft2;
pub mod host;
pub mod redis;
pub mod sled;
pub mod spin;
pub mod stores;
#[cfg(test)]
mod testing;

pub use crate::capability::backend::BackendError;
pub use backend::{KeyPage, KeyValueBackend, LIST_PAGE};
pub use draft2::Cas;
pub use host::{Bucket, KeyValueError, KeyValueView, add_to_linker};
pub use stores::{KeyValueGrants, KeyValueStore, KeyValueStores};
