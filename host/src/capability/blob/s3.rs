//! The S3 blob backend (`type = "s3"`): any S3-compatible service (AWS, Cloudflare R2, MinIO),
//! through `object_store`'s `AmazonS3`. Every container is a key prefix in one bucket
//! (`<prefix>/<container>/`), so wasmhost needs no right to create buckets. Credentials come
//! from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
//!
//! Requests go through hyper with rustls and ring ([`HyperConnector`]), the HTTP stack of the
//! rest of the host, not object_store's own reqwest client.
//!
//! A finished object is uploaded from the spool file in one `PUT` up to [`PART_BYTES`], else
//! as a multipart upload of [`PART_BYTES`] parts, [`PARTS_IN_FLIGHT`] at a time: S3 makes it
//! visible only when the upload completes, so readers never see a part.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use object_store::aws::AmazonS3Builder;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest,
    HttpRequestBody, HttpResponse, HttpResponseBody, HttpService,
};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::backend::{BlobBackend, ObjectInfo, unavailable};
use crate::capability::backend::{BackendError, now_ms};

/// The size of one part of a multipart upload, and the largest object sent in one `PUT`:
/// 8 MiB.
pub const PART_BYTES: usize = 8 << 20;

/// Parts of one upload sent at once: 2 (so an upload holds at most 24 MiB in memory: two parts
/// in flight and the one being read from the spool file).
pub const PARTS_IN_FLIGHT: usize = 2;

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
            .with_http_connector(HyperConnector)
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

/// How long connecting to an S3 endpoint (TCP and TLS) may take: 5 s.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// object_store's HTTP connector on hyper: pooled HTTP/1.1 and HTTP/2 connections, TLS by
/// rustls with ring and the webpki roots ([`crate::capability::backend::tls_client_config`]).
#[derive(Debug, Clone, Copy)]
pub struct HyperConnector;

impl HttpConnector for HyperConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let tls = crate::capability::backend::tls_client_config().map_err(|err| {
            object_store::Error::Generic {
                store: "S3",
                source: err.into(),
            }
        })?;
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .build(connector);
        Ok(HttpClient::new(HyperService(client)))
    }
}

/// One pooled hyper client, as object_store's [`HttpService`].
#[derive(Debug)]
struct HyperService(Client<hyper_rustls::HttpsConnector<TcpConnector>, HttpRequestBody>);

#[async_trait::async_trait]
impl HttpService for HyperService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.0.request(request).await.map_err(|err| {
            let kind = if err.is_connect() {
                HttpErrorKind::Connect
            } else {
                HttpErrorKind::Request
            };
            HttpError::new(kind, err)
        })?;
        let (parts, body) = response.into_parts();
        let body = body.map_err(|err| HttpError::new(HttpErrorKind::Interrupted, err));
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}
