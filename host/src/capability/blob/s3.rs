//! The S3 blob backend (`type = "s3"`): any S3-compatible service (AWS, Cloudflare R2, MinIO),
//! through `object_store`'s `AmazonS3`. Every container is a key prefix in one bucket
//! (`<prefix>/<container>/`), so wasmhost needs no right to create buckets. Credentials come
//! from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
//!
//! A finished object is uploaded from the spool file in one `PUT` up to [`PART_BYTES`], else
//! as a multipart upload of [`PART_BYTES`] parts, [`PARTS_IN_FLIGHT`] at a time: S3 makes it
//! visible only when the upload completes, so readers never see a part.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::backend::{BlobBackend, ObjectInfo, unavailable};
use crate::capability::backend::{BackendError, now_ms};

/// The size of one part of a multipart upload, and the largest object sent in one `PUT`:
/// 8 MiB.
pub const PART_BYTES: usize = 8 << 20;

/// Parts of one upload sent at once: 4 (so an upload holds at most 40 MiB in memory).
pub const PARTS_IN_FLIGHT: usize = 4;

/// One bucket, or a prefix of it.
pub struct S3Backend {
    store: Arc<dyn ObjectStore>,
}

impl S3Backend {
    /// The backend of `bucket` in `region` at `endpoint` (`None`: AWS), its containers under
    /// `prefix` (empty: at the bucket's root). Connects lazily.
    ///
    /// # Errors
    /// The client cannot be built from these settings and the environment's credentials.
    pub fn open(endpoint: Option<&str>, bucket: &str, prefix: &str, region: &str) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(region);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let s3 = builder
            .build()
            .with_context(|| format!("cannot set up the S3 client of bucket `{bucket}`"))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Self { store })
    }
}

#[async_trait::async_trait]
impl BlobBackend for S3Backend {
    fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    async fn put_file(
        &self,
        location: &Path,
        name: &str,
        file: PathBuf,
        size: u64,
    ) -> Result<ObjectInfo, BackendError> {
        let io = |err: std::io::Error| BackendError::Unavailable(err.to_string());
        let mut reader = tokio::fs::File::open(&file).await.map_err(io)?;
        let result = if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            reader.read_to_end(&mut bytes).await.map_err(io)?;
            self.store
                .put(location, bytes.into())
                .await
                .map_err(|err| unavailable(&err))?
        } else {
            let upload = self
                .store
                .put_multipart(location)
                .await
                .map_err(|err| unavailable(&err))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            loop {
                let mut part = Vec::with_capacity(PART_BYTES);
                let read = (&mut reader)
                    .take(PART_BYTES as u64)
                    .read_to_end(&mut part)
                    .await;
                let read = match read {
                    Ok(read) => read,
                    Err(err) => {
                        let _ = writer.abort().await;
                        return Err(io(err));
                    }
                };
                if read == 0 {
                    break;
                }
                if let Err(err) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    let _ = writer.abort().await;
                    return Err(unavailable(&err));
                }
                writer.put(part.into());
            }
            writer.finish().await.map_err(|err| unavailable(&err))?
        };
        Ok(ObjectInfo {
            name: name.to_owned(),
            size,
            etag: result.e_tag,
            modified_ms: now_ms(),
        })
    }
}
