//! Layer 7, `wasmhost blob ls|get|put|rm`: an operator's access to one blob container of an
//! app, on the backend `serve` uses (the runtime config says where the container lives;
//! without one, local files under `.wasmhost/blobs` beside the manifest). These work on the
//! backend directly, while the app serves or not, and raise no blob event.

use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use tokio::io::AsyncRead;

use crate::app::is_label;
use crate::capability::blob::containers::SPOOL_DIR;
use crate::capability::blob::spool::SpoolDir;
use crate::capability::blob::{ObjectInfo, OpenContainer, object_path};
use crate::manifest;
use crate::metrics::Metrics;
use crate::runtime_config::RuntimeConfig;
use crate::runtime_config::blob::DEFAULT_BLOB_DIR;

/// One container of an app, opened for an operator.
pub struct BlobContainer {
    open: OpenContainer,
    spool: std::path::PathBuf,
}

impl BlobContainer {
    /// Opens container `name` of the app at `app` (a manifest, or a directory holding one),
    /// where the runtime config at `runtime_config` says; a container the app names (in a
    /// `blob_containers` grant or a `[[trigger.blob]]`) is made if it does not exist yet.
    ///
    /// # Errors
    /// A name that is not a container name, a bad manifest or runtime config, a backend that
    /// cannot be set up or does not answer, a container that does not exist and that the app
    /// does not name (the error lists the ones it does).
    pub async fn open(app: &Path, runtime_config: Option<&Path>, name: &str) -> Result<Self> {
        if !is_label(name) {
            bail!("`{name}` is not a container name (1 to 64 ASCII letters, digits, `-` or `_`)");
        }
        let app = manifest::load(app).map_err(super::Errors::from)?;
        let app_dir = app.base_dir().to_owned();
        let mut named: Vec<&str> = app
            .components
            .iter()
            .flat_map(|c| c.blob_containers.iter().map(String::as_str))
            .chain(app.blob_triggers.iter().map(|t| t.container.as_str()))
            .collect();
        named.sort_unstable();
        named.dedup();
        let config = match runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let settings = config.blob_container(name, &app_dir);
        let metrics = Metrics::new().blob(name);
        let open = OpenContainer::open(name, settings, metrics, false)
            .await
            .with_context(|| format!("blob container `{name}`"))?;
        let answer = || {
            format!(
                "blob container `{name}` ({}) does not answer",
                open.description
            )
        };
        if named.contains(&name) {
            open.ensure().await.with_context(answer)?;
        } else if open
            .backend
            .container_created(name)
            .await
            .with_context(answer)?
            .is_none()
        {
            bail!(
                "blob container `{name}` does not exist in {}, and app `{}` names {}",
                open.description,
                app.name,
                if named.is_empty() {
                    "no container".to_owned()
                } else {
                    format!("only `{}`", named.join("`, `"))
                }
            );
        }
        Ok(Self {
            open,
            spool: app_dir.join(DEFAULT_BLOB_DIR).join(SPOOL_DIR),
        })
    }

    /// Every object whose name starts with `prefix`, sorted by name.
    ///
    /// # Errors
    /// The backend fails.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut objects: Vec<ObjectInfo> = self
            .open
            .backend
            .list(&self.open.name)
            .try_filter(|object| std::future::ready(object.name.starts_with(prefix)))
            .try_collect()
            .await
            .with_context(|| format!("cannot list blob container `{}`", self.open.name))?;
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Opens object `name` for reading.
    ///
    /// # Errors
    /// A bad name, no such object, a backend that fails.
    pub async fn get(&self, name: &str) -> Result<Box<dyn AsyncRead + Unpin + Send>> {
        let location = object_path(&self.open.name, name).map_err(anyhow::Error::msg)?;
        let reader = self
            .open
            .backend
            .read(&location, 0, u64::MAX)
            .await
            .with_context(|| format!("cannot read object `{name}`"))?
            .with_context(|| {
                format!(
                    "object `{name}` does not exist in container `{}`",
                    self.open.name
                )
            })?;
        Ok(reader.reader)
    }

    /// Makes object `name` of what `input` holds (at most the container's `max_object_bytes`),
    /// atomically.
    ///
    /// # Errors
    /// A bad name, an object too large, an input or backend that fails.
    pub async fn put(
        &self,
        name: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<ObjectInfo> {
        let location = object_path(&self.open.name, name).map_err(anyhow::Error::msg)?;
        let max = self.open.config.max_object_bytes;
        let (staged, size) = SpoolDir::open(&self.spool)?.fill(input, max).await?;
        if size > max {
            bail!(
                "the object is larger than {max} bytes, the largest container `{}` takes (max_object_bytes)",
                self.open.name
            );
        }
        self.open
            .backend
            .put_file(&location, name, staged.to_path_buf(), size)
            .await
            .with_context(|| format!("cannot write object `{name}`"))
    }

    /// Deletes object `name`; returns whether it existed.
    ///
    /// # Errors
    /// A bad name, a backend that fails.
    pub async fn remove(&self, name: &str) -> Result<bool> {
        let location = object_path(&self.open.name, name).map_err(anyhow::Error::msg)?;
        let existed = self
            .open
            .backend
            .head(&self.open.name, &location)
            .await?
            .is_some();
        self.open.backend.delete(&location).await?;
        Ok(existed)
    }
}
