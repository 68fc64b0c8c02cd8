//! The blob storage capability: `wasi:blobstore@0.2.0-draft` (containers of objects, streamed
//! writes and ranged reads), over one [`BlobBackend`] per container on the `object_store`
//! crate: [`local`] files (the default) or [`s3`] (any S3-compatible service, for clusters),
//! chosen per container in the runtime config. Writes and deletes raise blob [`events`] for
//! `[[trigger.blob]]`s, on the queue machinery.
//!
//! In the capability shape of [`crate::capability`]: [`backend`] is the backend trait,
//! [`containers`] the state opened and resolved at startup ([`BlobContainers::open`],
//! [`BlobGrants`]), [`host`] the per-instance [`BlobView`] and [`add_to_linker`], and
//! [`spool`] where values are written before they become objects.

pub mod backend;
pub mod containers;
pub mod events;
pub mod host;
pub mod local;
pub mod s3;
pub mod spool;

pub use backend::{BlobBackend, ObjectInfo, ObjectReader, object_path};
pub use containers::{BlobContainers, BlobGrants, OpenContainer};
pub use events::ContainerEvents;
pub use host::{
    BlobError, BlobView, ContainerHandle, IncomingValue, ObjectNames, OutgoingValue, add_to_linker,
};
