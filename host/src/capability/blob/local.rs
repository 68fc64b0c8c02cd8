//! The local blob backend (`type = "local"`, the default): files under one directory, through
//! `object_store`'s `LocalFileSystem`. An object is written in the spool directory, then
//! renamed into place, so that a reader, and a restart after `kill -9`, sees the old object or
//! the new one, never a part.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::backend::{BlobBackend, ObjectInfo, unavailable};
use crate::capability::backend::BackendError;

/// Files under a root directory.
pub struct LocalBackend {
    files: Arc<LocalFileSystem>,
    store: Arc<dyn ObjectStore>,
}

impl LocalBackend {
    /// The backend of directory `root` (created if missing).
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(root: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the blob directory `{}`", root.display()))?;
        let files = Arc::new(
            LocalFileSystem::new_with_prefix(root)
                .with_context(|| format!("cannot open the blob directory `{}`", root.display()))?
                .with_automatic_cleanup(true),
        );
        Ok(Self {
            store: files.clone(),
            files,
        })
    }
}

#[async_trait::async_trait]
impl BlobBackend for LocalBackend {
    fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    async fn put_file(
        &self,
        location: &Path,
        name: &str,
        file: PathBuf,
        _size: u64,
    ) -> Result<ObjectInfo, BackendError> {
        let target = self
            .files
            .path_to_filesystem(location)
            .map_err(|err| unavailable(&err))?;
        let io = |err: std::io::Error| BackendError::Unavailable(err.to_string());
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        if let Err(err) = tokio::fs::rename(&file, &target).await {
            if err.kind() != std::io::ErrorKind::CrossesDevices {
                return Err(io(err));
            }
            // The spool is on another file system: copy beside the target, then rename. A
            // `#<digits>` suffix keeps the copy out of object_store's listings while it is
            // written.
            let mut staged = target.clone().into_os_string();
            staged.push(format!("#{}", uuid::Uuid::new_v4().as_u128()));
            tokio::fs::copy(&file, &staged).await.map_err(io)?;
            tokio::fs::rename(&staged, &target).await.map_err(io)?;
            // The spool file is removed when its spool is dropped.
        }
        match self.store.head(location).await {
            Ok(meta) => Ok(ObjectInfo {
                name: name.to_owned(),
                size: meta.size,
                etag: meta.e_tag,
                modified_ms: u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0),
            }),
            Err(err) => Err(unavailable(&err)),
        }
    }
}
