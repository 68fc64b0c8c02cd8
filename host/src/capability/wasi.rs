//! The WASI 0.2 base, as the manifest grants it: a component's `environment`
//! (`wasi:cli/environment`) and its `files` (read-only preopened directories of
//! `wasi:filesystem`). Without either, an instance sees no environment variable and no
//! directory at all: nothing of the host's environment or filesystem leaks in.
//!
//! At load ([`WasiGrants::resolve`]), environment templates are rendered with the app's
//! variables, and the files that `files` patterns match are copied into a directory of their
//! own under `.wasmhost/files/<component>/<digest>` (the digest covers each file's path, size
//! and modification time, so an unchanged set is copied once); per instance,
//! [`WasiGrants::apply`] sets the variables and opens each mount read-only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::app::{App, Component, FileMount};
use crate::variables::{self, Value};

/// Where staged files live, under the manifest's directory.
pub const FILES_DIR: &str = ".wasmhost/files";

/// One component's environment and mounts, resolved at load. Cloning is two reference-count
/// increments.
#[derive(Debug, Clone, Default)]
pub struct WasiGrants {
    environment: Arc<[(String, String)]>,
    mounts: Arc<[(PathBuf, String)]>,
}

impl WasiGrants {
    /// The grants of `component` of `app`: its environment rendered with `variables`, its
    /// `files` patterns staged into a directory under [`FILES_DIR`].
    ///
    /// # Errors
    /// A matched file that cannot be read or copied, or a staging directory that cannot be
    /// made; the error names the component and the file.
    pub fn resolve(
        app: &App,
        component: &Component,
        variables: &BTreeMap<String, Value>,
    ) -> Result<Self> {
        let environment = component
            .environment
            .iter()
            .map(|(name, template)| (name.clone(), variables::render(template, variables).text))
            .collect();
        let mut mounts = Vec::with_capacity(component.files.len());
        for mount in &component.files {
            match mount {
                FileMount::Directory {
                    source,
                    destination,
                } => mounts.push((source.clone(), destination.clone())),
                FileMount::Files(files) => {
                    let dir = stage(app.base_dir(), component, files)
                        .with_context(|| format!("component `{}`: `files`", component.id))?;
                    mounts.push((dir, "/".to_owned()));
                }
            }
        }
        Ok(Self {
            environment,
            mounts: mounts.into(),
        })
    }

    /// Gives one instance's WASI context the environment and the read-only mounts.
    ///
    /// # Errors
    /// A mounted directory that can no longer be opened (removed since the load).
    pub fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<()> {
        for (name, value) in self.environment.iter() {
            builder.env(name, value);
        }
        for (host, guest) in self.mounts.iter() {
            builder
                .preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open `{}` to mount it", host.display()))?;
        }
        Ok(())
    }
}

/// Copies `files` into `<base>/.wasmhost/files/<component>/<digest>/`, each at its path
/// relative to the manifest's directory, unless that directory is already there; returns it.
fn stage(base: &Path, component: &Component, files: &[crate::app::StagedFile]) -> Result<PathBuf> {
    let mut digest = blake3::Hasher::new();
    for file in files {
        let meta = std::fs::metadata(&file.source)
            .with_context(|| format!("cannot read `{}`", file.source.display()))?;
        digest.update(file.relative.as_os_str().as_encoded_bytes());
        digest.update(&meta.len().to_le_bytes());
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        digest.update(&modified.as_nanos().to_le_bytes());
    }
    let hex = digest.finalize().to_hex();
    let root = base.join(FILES_DIR).join(component.id.as_str());
    let dir = root.join(&hex[..16]);
    if dir.is_dir() {
        return Ok(dir);
    }
    // Staged beside, then renamed into place: a crash leaves no half-staged directory in use.
    let partial = root.join(format!("{}.partial", &hex[..16]));
    let _ = std::fs::remove_dir_all(&partial);
    for file in files {
        let to = partial.join(&file.relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot make `{}`", parent.display()))?;
        }
        std::fs::copy(&file.source, &to)
            .with_context(|| format!("cannot copy `{}`", file.source.display()))?;
    }
    std::fs::create_dir_all(&partial)?;
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("cannot move the staged files to `{}`", dir.display()))?;
    Ok(dir)
}
