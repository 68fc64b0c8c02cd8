//! Layer 3, startup step 3 (see [`crate`]): each component is compiled once and cached on disk.
//!
//! An entry's file name is `<blake3 of the component bytes>-<engine key>.cwasm`, where the engine
//! key hashes the wasmtime version and every engine setting that affects compiled code
//! ([`wasmtime::Engine::precompile_compatibility_hash`]). A warm start maps the entry with
//! [`Component::deserialize_file`] and runs no Cranelift compile at all.
//!
//! A core module built for `wasm32-wasip1` is made a component first (`componentize`, with
//! the WASI preview1 adapter), on a miss only: its entry is keyed by the module's own bytes.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What every error about a file that is no usable WebAssembly says: what wasmhost runs, and
/// how to build it.
pub const BUILD_HINT: &str = "wasmhost runs WebAssembly components built for `wasm32-wasip2`: build one with `cargo build --target wasm32-wasip2 --release` (after `rustup target add wasm32-wasip2`)";

/// Whether a component came from the cache or was compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a cached artifact: no compilation.
    Hit,
    /// Compiled now, and the artifact stored for next time.
    Miss,
}

impl CacheOutcome {
    /// `"hit"` or `"miss"`, as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
        }
    }
}

/// The on-disk cache of compiled components, in one directory.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (created on first store) for components compiled by `engine`.
    ///
    /// The engine key covers the target, the compiler flags, the tunables, the wasm features and
    /// the wasmtime version (all part of `precompile_compatibility_hash`). It is hashed with
    /// std's `DefaultHasher`, which is fixed for a given Rust release; a rebuilt host with
    /// another Rust only costs one recompile.
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir: dir.into(),
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the component in the file `source`: from the cache when an entry for its exact
    /// bytes exists, otherwise compiled with `engine` and stored.
    ///
    /// A cache entry that fails to load (truncated, or from a different build of wasmtime) is
    /// replaced by a fresh compile.
    ///
    /// # Errors
    /// `source` cannot be read, is not WebAssembly, is a core module not built for
    /// `wasm32-wasip1`, or is not a valid component (each naming the file and, but for the
    /// last, saying how to build a component: [`BUILD_HINT`]); the cache directory cannot be
    /// written.
    pub fn load(&self, engine: &Engine, source: &Path) -> Result<(Component, CacheOutcome)> {
        let bytes = std::fs::read(source)
            .with_context(|| format!("cannot read component file `{}`", source.display()))?;
        let entry = self.dir.join(format!(
            "{}-{}.cwasm",
            blake3::hash(&bytes).to_hex(),
            self.engine_key
        ));
        if entry.is_file() {
            match deserialize(engine, &entry) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => tracing::warn!(
                    entry = %entry.display(),
                    "compile cache entry is unusable, recompiling: {err:#}"
                ),
            }
        }
        let bytes = if wasmparser::Parser::is_core_wasm(&bytes) {
            let component = componentize(&bytes).with_context(|| {
                format!(
                    "`{}` is a core module that is not built for `wasm32-wasip1`; {BUILD_HINT}",
                    source.display()
                )
            })?;
            tracing::info!(
                file = %source.display(),
                "a core module (built for wasm32-wasip1): made a component with the WASI preview1 adapter; build for wasm32-wasip2 to skip this step"
            );
            component
        } else if wasmparser::Parser::is_component(&bytes) {
            bytes
        } else {
            anyhow::bail!(
                "`{}` is not a WebAssembly file (it does not start with `\\0asm`); {BUILD_HINT}",
                source.display()
            );
        };
        let compiled = engine
            .precompile_component(&bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot compile component `{}`", source.display()))?;
        self.store(&entry, &compiled)?;
        let component = deserialize(engine, &entry)?;
        Ok((component, CacheOutcome::Miss))
    }

    /// Writes an entry atomically: a temporary file in the same directory, renamed into place,
    /// so a concurrent reader never sees half an artifact.
    fn store(&self, entry: &Path, compiled: &[u8]) -> Result<()> {
        let context = || format!("cannot write to the compile cache `{}`", self.dir.display());
        std::fs::create_dir_all(&self.dir).with_context(context)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).with_context(context)?;
        std::io::Write::write_all(&mut tmp, compiled).with_context(context)?;
        tmp.persist(entry)
            .map_err(|e| e.error)
            .with_context(context)?;
        Ok(())
    }
}

/// Makes a component of a core module built for `wasm32-wasip1` (as Spin does when it loads
/// one): its `wasi_snapshot_preview1` imports are adapted to WASI 0.2 by the preview1 adapter
/// of this wasmtime release (the reactor adapter, or the command adapter for a module that
/// exports `_start`), and its component-type sections (from `wit-bindgen`) give the rest of
/// its imports and exports.
///
/// # Errors
/// The module has no component-type information for an import it uses, or its imports do not
/// match the adapter.
fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    let is_command = wasmparser::Parser::new(0)
        .parse_all(module)
        .filter_map(Result::ok)
        .any(|payload| match payload {
            wasmparser::Payload::ExportSection(exports) => exports
                .into_iter()
                .filter_map(Result::ok)
                .any(|export| export.name == "_start"),
            _ => false,
        });
    let adapter = if is_command {
        WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
    } else {
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
    };
    wit_component::ComponentEncoder::default()
        .module(module)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)?
        .validate(true)
        .encode()
}

/// Maps a cache entry.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: &Path) -> Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output. Entries in this
    // directory are only ever written by `CompileCache::store` from `precompile_component`, and
    // wasmtime checks the version and engine settings recorded in the artifact before use.
    unsafe { Component::deserialize_file(engine, entry) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load compiled component `{}`", entry.display()))
}

#[cfg(test)]
mod tests {
    use super::CompileCache;

    /// The error of loading a file holding `bytes`, its temporary directory shown as `<dir>`.
    fn load_error(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("app.wasm");
        std::fs::write(&source, bytes).unwrap();
        let engine = wasmtime::Engine::default();
        let cache = CompileCache::new(dir.path().join("cache"), &engine);
        let Err(err) = cache.load(&engine, &source) else {
            panic!("`{}` loaded", source.display());
        };
        format!("{err:#}").replace(&dir.path().display().to_string(), "<dir>")
    }

    #[test]
    fn a_file_that_is_not_webassembly_is_named_with_no_byte_dump() {
        insta::assert_snapshot!(load_error(b"#!/bin/sh\necho this is a script\n"));
    }

    #[test]
    fn a_core_module_not_built_for_wasip1_says_how_to_build_a_component() {
        // `(module (import "env" "f" (func)))`, as `wasm32-unknown-unknown` makes them.
        let module = wat::parse_str(r#"(module (import "env" "f" (func)))"#).unwrap();
        insta::assert_snapshot!(load_error(&module));
    }
}
