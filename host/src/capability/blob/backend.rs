//! The blob backend trait, on the `object_store` crate: one [`BlobBackend`] per container,
//! [`super::local`] (files, the default) or [`super::s3`] (any S3-compatible service). Both
//! keep a container's objects under the prefix `<container>/` of their store, and the
//! container's own record (its creation time) at `.containers/<container>`, outside every
//! container (container names hold no `.`).
//!
//! Only writing a finished object differs between backends ([`BlobBackend::put_file`]); every
//! other operation is one `object_store` call, provided here. Used per guest call, from
//! [`super::host`], and by the blob poller and `wasmhost blob`.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::{Path, PathPart};
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::capability::backend::BackendError;

/// The longest object name, in bytes: 1 024, as S3's keys.
pub const MAX_NAME_BYTES: usize = 1024;

/// Where containers keep their own records, outside every container.
const CONTAINERS: &str = ".containers";

/// What a backend knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its name in its container.
    pub name: String,
    /// Its size, in bytes.
    pub size: u64,
    /// Its entity tag, as the backend gives it (quoted, as HTTP's `ETag`), if any.
    pub etag: Option<String>,
    /// When it was last written, in ms since the Unix epoch.
    pub modified_ms: u64,
}

/// An object opened for reading: the bytes of the range asked for, streamed.
pub struct ObjectReader {
    /// The bytes, read as they are needed (a file, or the response of the service).
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// The range of the object they are, in bytes from its start (end exclusive).
    pub range: Range<u64>,
}

/// A blob container's backend. Cheap to share (`Arc`), safe across tasks.
#[async_trait::async_trait]
pub trait BlobBackend: Send + Sync {
    /// The object store under it.
    fn store(&self) -> &Arc<dyn ObjectStore>;

    /// Makes the finished file `file` (`size` bytes, in the spool directory) object `name` at
    /// `location`, atomically: until it returns, readers see the old object or none, never a
    /// part. The file is moved or uploaded; its spool removes what is left of it.
    ///
    /// # Errors
    /// [`BackendError::Unavailable`]: the file cannot be read, the store refuses the write or
    /// does not answer.
    async fn put_file(
        &self,
        location: &Path,
        name: &str,
        file: PathBuf,
        size: u64,
    ) -> Result<ObjectInfo, BackendError>;

    /// When `container` was created, in ms since the Unix epoch; `None` if it does not exist
    /// (its record is not there).
    ///
    /// # Errors
    /// The store does not answer.
    async fn container_created(&self, container: &str) -> Result<Option<u64>, BackendError> {
        match self.store().head(&container_record(container)).await {
            Ok(meta) => Ok(Some(millis(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(unavailable(&err)),
        }
    }

    /// Writes `container`'s record (making it exist); its objects are kept as they are.
    ///
    /// # Errors
    /// The store refuses the write or does not answer.
    async fn create_container(&self, container: &str) -> Result<(), BackendError> {
        self.store()
            .put(&container_record(container), Vec::new().into())
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    /// Deletes every object of `container`, then its record.
    ///
    /// # Errors
    /// The store does not answer; the objects deleted so far stay deleted.
    async fn delete_container(&self, container: &str) -> Result<(), BackendError> {
        self.clear(container).await?;
        match self.store().delete(&container_record(container)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(unavailable(&err)),
        }
    }

    /// Deletes every object of `container`; returns what was deleted.
    ///
    /// # Errors
    /// The store does not answer; the objects deleted so far stay deleted.
    async fn clear(&self, container: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        let objects: Vec<ObjectInfo> = self.list(container).try_collect().await?;
        let locations: Vec<Path> = objects
            .iter()
            .map(|object| object_path(container, &object.name))
            .collect::<Result<_, _>>()
            .map_err(BackendError::Unavailable)?;
        let stream = futures::stream::iter(locations.into_iter().map(Ok)).boxed();
        self.store()
            .delete_stream(stream)
            .try_for_each(|_| async { Ok(()) })
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(objects)
    }

    /// Every object of `container`, as the store lists them (in no set order), fetched a page
    /// at a time as the stream is read.
    fn list(
        &self,
        container: &str,
    ) -> futures::stream::BoxStream<'static, Result<ObjectInfo, BackendError>> {
        let prefix = Path::from(container);
        let root = prefix.clone();
        self.store()
            .list(Some(&prefix))
            .map(move |item| match item {
                Ok(meta) => Ok(info(&root, &meta)),
                Err(err) => Err(unavailable(&err)),
            })
            .boxed()
    }

    /// What the store knows of object `location`; `None` if there is none.
    ///
    /// # Errors
    /// The store does not answer.
    async fn head(
        &self,
        container: &str,
        location: &Path,
    ) -> Result<Option<ObjectInfo>, BackendError> {
        match self.store().head(location).await {
            Ok(meta) => Ok(Some(info(&Path::from(container), &meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(unavailable(&err)),
        }
    }

    /// Opens bytes `start..=end` of object `location` for reading (`end` past the object's end
    /// reads to its end); `None` if there is no such object. The bytes are those of the object
    /// as it is now, even if it is replaced or deleted while they are read.
    ///
    /// # Errors
    /// [`BackendError::Invalid`]: `start` is past the end of a non-empty object, or after
    /// `end`; [`BackendError::Unavailable`]: the store does not answer.
    async fn read(
        &self,
        location: &Path,
        start: u64,
        end: u64,
    ) -> Result<Option<ObjectReader>, BackendError> {
        if start > end {
            return Err(BackendError::Invalid(format!(
                "invalid range {start}..={end}: its start is after its end"
            )));
        }
        let range = GetRange::Bounded(start..end.saturating_add(1));
        let options = GetOptions::default().with_range(Some(range));
        let result = match self.store().get_opts(location, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => {
                // A range past the end: an empty object read from 0 is empty, not an error.
                match self.store().head(location).await {
                    Ok(meta) if meta.size == 0 && start == 0 => {
                        return Ok(Some(ObjectReader {
                            reader: Box::new(tokio::io::empty()),
                            range: 0..0,
                        }));
                    }
                    Ok(meta) if start >= meta.size => {
                        return Err(BackendError::Invalid(format!(
                            "invalid range: it starts at byte {start}, past the object's end ({} bytes)",
                            meta.size
                        )));
                    }
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    _ => return Err(unavailable(&err)),
                }
            }
        };
        let range = result.range.clone();
        let reader: Box<dyn AsyncRead + Send + Unpin> = match result.payload {
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|err| BackendError::Unavailable(err.to_string()))?;
                Box::new(file.take(range.end - range.start))
            }
            GetResultPayload::Stream(stream) => Box::new(tokio_util::io::StreamReader::new(
                stream.map_err(std::io::Error::other),
            )),
        };
        Ok(Some(ObjectReader { reader, range }))
    }

    /// The blob poller's last listing of `container` as it saved it (`None`: never saved).
    ///
    /// # Errors
    /// The store does not answer.
    async fn poller_state(&self, container: &str) -> Result<Option<bytes::Bytes>, BackendError> {
        match self.store().get(&poller_record(container)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|err| unavailable(&err)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(unavailable(&err)),
        }
    }

    /// Saves the blob poller's listing of `container`, beside the container's record.
    ///
    /// # Errors
    /// The store refuses the write or does not answer.
    async fn save_poller_state(&self, container: &str, state: Vec<u8>) -> Result<(), BackendError> {
        self.store()
            .put(&poller_record(container), state.into())
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    /// Deletes object `location`; nothing if there is none.
    ///
    /// # Errors
    /// The store does not answer.
    async fn delete(&self, location: &Path) -> Result<(), BackendError> {
        match self.store().delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(unavailable(&err)),
        }
    }

    /// Copies object `from` to `to` (overwriting it), in this store.
    ///
    /// # Errors
    /// `from` does not exist (any more); the store refuses or does not answer.
    async fn copy(&self, from: &Path, to: &Path) -> Result<(), BackendError> {
        match self.store().copy(from, to).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(BackendError::Invalid(format!(
                "object `{from}` was deleted while copied"
            ))),
            Err(err) => Err(unavailable(&err)),
        }
    }
}

/// The record of `container`: `.containers/<container>`.
fn container_record(container: &str) -> Path {
    Path::from_iter([CONTAINERS, container])
}

/// What the blob poller remembers of `container`: `.containers/<container>.poller`.
fn poller_record(container: &str) -> Path {
    Path::from_iter([CONTAINERS.to_owned(), format!("{container}.poller")])
}

/// The location of object `name` of `container`: `<container>/<name>`, each `/`-separated
/// segment of `name` a path part of its own (percent-encoded where the store needs it).
///
/// # Errors
/// A name that is not an object name, in words ([`check_name`]).
pub fn object_path(container: &str, name: &str) -> Result<Path, String> {
    check_name(name)?;
    Ok(Path::from_iter(
        std::iter::once(PathPart::from(container)).chain(name.split('/').map(PathPart::from)),
    ))
}

/// Checks an object name: 1 to [`MAX_NAME_BYTES`] bytes of UTF-8 without control characters,
/// of `/`-separated segments none of which is empty, `.` or `..`.
///
/// # Errors
/// What is wrong, in words, naming the object.
pub fn check_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 1024 bytes"
    } else if name.chars().any(char::is_control) {
        "holds a control character"
    } else if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        "has an empty, `.` or `..` segment (or starts or ends with `/`)"
    } else {
        return Ok(());
    };
    Err(format!(
        "invalid object name `{}`: it {problem}",
        name.escape_debug()
    ))
}

/// The name of the object at `location` in the container at `root`: its path parts after
/// `root`, decoded, joined with `/`.
fn info(root: &Path, meta: &ObjectMeta) -> ObjectInfo {
    let name = meta
        .location
        .prefix_match(root)
        .map(|parts| {
            parts
                .map(|part| {
                    percent_encoding::percent_decode_str(part.as_ref())
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_else(|| meta.location.to_string());
    ObjectInfo {
        name,
        size: meta.size,
        etag: meta.e_tag.clone(),
        modified_ms: millis(meta),
    }
}

/// When `meta`'s object was last written, in ms since the Unix epoch.
fn millis(meta: &ObjectMeta) -> u64 {
    u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0)
}

/// A store error as [`BackendError::Unavailable`], in words.
pub(super) fn unavailable(err: &object_store::Error) -> BackendError {
    BackendError::Unavailable(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_locations() {
        for name in ["a", "dir/file.txt", "sp ace/%41/#hash", "ünï/cödé"] {
            let location = object_path("files", name).unwrap();
            let meta = ObjectMeta {
                location,
                last_modified: chrono::Utc::now(),
                size: 1,
                e_tag: None,
                version: None,
            };
            assert_eq!(info(&Path::from("files"), &meta).name, name);
        }
    }

    #[test]
    fn bad_names_are_refused_in_words() {
        for (name, words) in [
            ("", "is empty"),
            ("/a", "empty"),
            ("a/", "empty"),
            ("a//b", "empty"),
            ("a/../b", "`..`"),
            ("./a", "`.`"),
            ("a\nb", "control"),
        ] {
            let err = check_name(name).unwrap_err();
            assert!(err.contains(words), "{name:?}: {err}");
        }
        assert!(check_name(&"x".repeat(1025)).is_err());
        assert!(check_name(&"x".repeat(1024)).is_ok());
    }
}
