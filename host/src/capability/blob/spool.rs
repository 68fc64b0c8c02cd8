//! Where a guest's object is written before it exists: a spool file per `outgoing-value`, in a
//! directory of this process's own under `.wasmhost/blobs/.spool/<pid>`. The guest's
//! `output-stream` appends to it ([`SpoolWriter`], buffered, so memory stays at one buffer
//! whatever the object's size); `write-data` or `finish` then hands the finished file to the
//! container's backend, which renames or uploads it. A guest that never finishes leaves no
//! object: the file is removed with its `outgoing-value`, and the spool directories of
//! processes that no longer run are removed at the next start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use bytes::Bytes;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The buffer between a guest's writes and the spool file: 256 KiB.
pub const SPOOL_BUFFER_BYTES: usize = 256 << 10;

/// The most bytes one `write` of the body stream may take (`check-write`'s answer): 1 MiB.
pub const WRITE_PERMIT_BYTES: usize = 1 << 20;

/// This process's spool directory.
#[derive(Debug)]
pub struct SpoolDir {
    dir: PathBuf,
}

impl SpoolDir {
    /// The spool directory of this process under `root` (`<root>/<pid>`), made empty. The
    /// directories of processes that no longer run are removed.
    ///
    /// # Errors
    /// The directory cannot be made.
    pub fn open(root: &Path) -> Result<Self> {
        let own = std::process::id().to_string();
        if let Ok(entries) = std::fs::read_dir(root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let alive = name.parse::<u32>().is_ok_and(|pid| {
                    name != own && Path::new("/proc").join(pid.to_string()).exists()
                });
                if !alive {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = root.join(own);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the blob spool `{}`", dir.display()))?;
        Ok(Self { dir })
    }

    /// A new spool file holding what `input` gives, up to `limit` + 1 bytes (so that a caller
    /// sees an input past its limit), synced; returns the file (removed when dropped, unless
    /// it was moved) and its size in bytes.
    ///
    /// # Errors
    /// The file cannot be created or written, or `input` fails.
    pub async fn fill(
        &self,
        input: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        limit: u64,
    ) -> std::io::Result<(tempfile::TempPath, u64)> {
        let staged = tempfile::NamedTempFile::new_in(&self.dir)?;
        let mut file = tokio::fs::File::from_std(staged.reopen()?);
        let mut input = tokio::io::AsyncReadExt::take(input, limit.saturating_add(1));
        let size = tokio::io::copy(&mut input, &mut file).await?;
        file.sync_data().await?;
        Ok((staged.into_temp_path(), size))
    }

    /// A new, empty spool file that takes at most `limit` bytes.
    ///
    /// # Errors
    /// The file cannot be created (the disk is full, the directory was removed).
    pub fn create(&self, limit: u64) -> std::io::Result<Spool> {
        let path = self.dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = File::create_new(&path)?;
        Ok(Spool {
            path,
            state: Arc::new(Mutex::new(SpoolState {
                file: Some(BufWriter::with_capacity(SPOOL_BUFFER_BYTES, file)),
                written: 0,
                limit,
                stream_open: false,
                error: None,
            })),
        })
    }
}

/// One object being written: its file, removed when this is dropped (if it was not moved).
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    state: Arc<Mutex<SpoolState>>,
}

#[derive(Debug)]
struct SpoolState {
    /// The file, until the object is finished.
    file: Option<BufWriter<File>>,
    /// Bytes written so far.
    written: u64,
    /// The most bytes it takes.
    limit: u64,
    /// The guest holds the body stream.
    stream_open: bool,
    /// The first write that failed, in words; the object can no longer be finished.
    error: Option<String>,
}

impl Spool {
    /// The body stream, for the guest (only one: `outgoing-value-write-body` hands it out
    /// once).
    pub fn writer(&self) -> SpoolWriter {
        lock(&self.state).stream_open = true;
        SpoolWriter {
            state: self.state.clone(),
        }
    }

    /// Whether the guest still holds the body stream.
    pub fn stream_open(&self) -> bool {
        lock(&self.state).stream_open
    }

    /// Ends the writing: flushes and syncs the file, and returns it with its size in bytes.
    ///
    /// # Errors
    /// A write that failed (past the limit, a full disk), or a spool already finished, in
    /// words.
    pub fn finish(&self) -> Result<(PathBuf, u64), String> {
        let mut state = lock(&self.state);
        if let Some(err) = &state.error {
            return Err(err.clone());
        }
        let Some(file) = state.file.take() else {
            return Err("the value was already written".to_owned());
        };
        let file = file
            .into_inner()
            .map_err(|err| format!("cannot write the value: {}", err.error()))?;
        file.sync_data()
            .map_err(|err| format!("cannot write the value: {err}"))?;
        Ok((self.path.clone(), state.written))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        lock(&self.state).file = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The guest's `output-stream` of an `outgoing-value`: appends to the spool file.
pub struct SpoolWriter {
    state: Arc<Mutex<SpoolState>>,
}

impl SpoolWriter {
    fn fail(state: &mut SpoolState, message: String) -> StreamError {
        state.error.get_or_insert(message.clone());
        StreamError::LastOperationFailed(wasmtime::format_err!("{}", message))
    }
}

impl OutputStream for SpoolWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut state = lock(&self.state);
        if let Some(err) = &state.error {
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "{}",
                err.clone()
            )));
        }
        let written = state.written.saturating_add(bytes.len() as u64);
        if written > state.limit {
            let message = format!(
                "the value is larger than {} bytes, the largest object of the containers this component is granted (max_object_bytes)",
                state.limit
            );
            return Err(Self::fail(&mut state, message));
        }
        let Some(file) = state.file.as_mut() else {
            return Err(StreamError::Closed);
        };
        if let Err(err) = file.write_all(&bytes) {
            return Err(Self::fail(
                &mut state,
                format!("cannot write the value: {err}"),
            ));
        }
        state.written = written;
        Ok(())
    }

    /// Bytes written are the spool's already; they reach the file by buffer-fulls, and are
    /// synced when the object is finished.
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let state = lock(&self.state);
        match (&state.error, &state.file) {
            (Some(err), _) => Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "{}",
                err.clone()
            ))),
            (None, None) => Err(StreamError::Closed),
            (None, Some(_)) => Ok(WRITE_PERMIT_BYTES),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for SpoolWriter {
    async fn ready(&mut self) {}
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        lock(&self.state).stream_open = false;
    }
}

/// Locks `state`, whether or not a panic poisoned it (the state stays consistent: every
/// change is one assignment).
fn lock(state: &Mutex<SpoolState>) -> MutexGuard<'_, SpoolState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_takes_writes_up_to_its_limit_and_is_removed_when_dropped() {
        let root = tempfile::tempdir().unwrap();
        let dir = SpoolDir::open(root.path()).unwrap();
        let spool = dir.create(10).unwrap();
        let mut writer = spool.writer();
        assert!(spool.stream_open());
        writer.write(Bytes::from_static(b"hello")).unwrap();
        assert!(writer.write(Bytes::from_static(b"world!")).is_err());
        drop(writer);
        assert!(!spool.stream_open());
        assert!(spool.finish().unwrap_err().contains("larger than 10 bytes"));

        let spool = dir.create(10).unwrap();
        let mut writer = spool.writer();
        writer.write(Bytes::from_static(b"hello")).unwrap();
        drop(writer);
        let (path, size) = spool.finish().unwrap();
        assert_eq!(
            (std::fs::read(&path).unwrap(), size),
            (b"hello".to_vec(), 5)
        );
        drop(spool);
        assert!(!path.exists());
    }

    #[test]
    fn spools_of_dead_processes_are_removed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("4000000000/x")).unwrap();
        SpoolDir::open(root.path()).unwrap();
        assert!(!root.path().join("4000000000").exists());
        assert!(root.path().join(std::process::id().to_string()).exists());
    }
}
