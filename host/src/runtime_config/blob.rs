//! Layer 2: the blob containers' part of the runtime config, `[blob_container.<name>]`: where
//! each container lives (`type = "local"`, the default, or `type = "s3"`), its largest object
//! and its optional poller.
//!
//! ```toml
//! [blob_container.uploads]
//! type = "local"
//! path = "data/blobs"              # optional; relative to this file; default .wasmhost/blobs
//! max_object_bytes = 104857600     # optional; default 1 GiB
//!
//! [blob_container.archive]
//! type = "s3"
//! endpoint = "http://127.0.0.1:9000"   # optional: AWS itself when absent; R2, MinIO, ...
//! bucket = "shop"
//! prefix = "prod"                  # optional; the container's objects are `prod/archive/<name>`
//! region = "eu-west-1"             # optional; default us-east-1
//! poll_interval_ms = 10000         # optional: find objects written by others (best effort)
//! ```
//!
//! S3 credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), never from this file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::RuntimeConfigErrorKind;
use super::raw::RawBlobContainer;

/// Where blob containers live when the runtime config does not say: this directory under the
/// manifest's.
pub const DEFAULT_BLOB_DIR: &str = ".wasmhost/blobs";

/// The default largest object of a container: 1 GiB (1 073 741 824 bytes).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 30;

/// The largest `max_object_bytes` a container may set: 5 TiB, S3's own limit.
pub const MAX_OBJECT_BYTES_LIMIT: u64 = 5 << 40;

/// The S3 region when `region` is not given.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// The shortest `poll_interval_ms`: 100 ms.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The longest `poll_interval_ms`: one day (86 400 000 ms).
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(86_400);

/// A blob container's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobContainerConfig {
    /// Where its objects live.
    pub backend: BlobBackendConfig,
    /// The largest object, in bytes (`max_object_bytes`, default [`DEFAULT_MAX_OBJECT_BYTES`]).
    pub max_object_bytes: u64,
    /// `poll_interval_ms`: list the container this often and raise blob events for objects
    /// that others wrote or deleted; `None`: no poller.
    pub poll_interval: Option<Duration>,
}

/// Where a blob container's objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobBackendConfig {
    /// `type = "local"`: files under directory `path` (absolute), one directory per container.
    Local {
        /// The root directory.
        path: PathBuf,
    },
    /// `type = "s3"`: an S3-compatible bucket; the container is the key prefix
    /// `<prefix>/<container>/`, so wasmhost needs no right to create buckets.
    S3 {
        /// `endpoint`: the service's URL (`http://` or `https://`); `None`: AWS.
        endpoint: Option<String>,
        /// `bucket`.
        bucket: String,
        /// `prefix`, without leading or trailing `/`; may be empty.
        prefix: String,
        /// `region`.
        region: String,
    },
}

impl BlobBackendConfig {
    /// A description for logs: `local <dir>` or `s3 <endpoint> bucket <b> prefix <p>` (no
    /// credential is ever part of it).
    pub fn describe(&self) -> String {
        match self {
            Self::Local { path } => format!("local {}", path.display()),
            Self::S3 {
                endpoint,
                bucket,
                prefix,
                region,
            } => format!(
                "s3 {} bucket {bucket} prefix `{prefix}` region {region}",
                endpoint.as_deref().unwrap_or("aws")
            ),
        }
    }
}

impl BlobContainerConfig {
    /// The settings of a container with no table: local, under `<app_dir>/.wasmhost/blobs`.
    pub fn default_for(app_dir: &Path) -> Self {
        Self {
            backend: BlobBackendConfig::Local {
                path: app_dir.join(DEFAULT_BLOB_DIR),
            },
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            poll_interval: None,
        }
    }
}

type SpannedError = (std::ops::Range<usize>, RuntimeConfigErrorKind);

/// Checks the table of container `label`; relative paths are resolved from `base`.
pub(super) fn check(
    label: &str,
    raw: RawBlobContainer,
    base: &Path,
) -> Result<BlobContainerConfig, SpannedError> {
    const TABLE: &str = "blob_container";
    let kind_span = raw.kind.span();
    let not_for = |field: &Option<Spanned<String>>, name: &'static str, kind: &'static str| {
        field.as_ref().map_or(Ok(()), |field| {
            Err((
                field.span(),
                RuntimeConfigErrorKind::FieldNotForType {
                    table: TABLE,
                    label: label.to_owned(),
                    field: name,
                    kind,
                },
            ))
        })
    };
    let backend = match raw.kind.get_ref().as_str() {
        "local" => {
            for (field, name) in [
                (&raw.endpoint, "endpoint"),
                (&raw.bucket, "bucket"),
                (&raw.prefix, "prefix"),
                (&raw.region, "region"),
            ] {
                not_for(field, name, "local")?;
            }
            BlobBackendConfig::Local {
                path: raw
                    .path
                    .map_or_else(|| base.join(DEFAULT_BLOB_DIR), |p| base.join(p.get_ref())),
            }
        }
        "s3" => {
            not_for(&raw.path, "path", "s3")?;
            let bucket = raw.bucket.ok_or_else(|| {
                (
                    kind_span.clone(),
                    RuntimeConfigErrorKind::MissingField {
                        table: TABLE,
                        label: label.to_owned(),
                        field: "bucket",
                        kind: "s3",
                    },
                )
            })?;
            if let Some(endpoint) = &raw.endpoint {
                let good = url::Url::parse(endpoint.get_ref()).is_ok_and(|url| {
                    matches!(url.scheme(), "http" | "https")
                        && url.host().is_some()
                        && url.username().is_empty()
                        && url.password().is_none()
                });
                if !good {
                    return Err((
                        endpoint.span(),
                        RuntimeConfigErrorKind::BlobSetting {
                            label: label.to_owned(),
                            field: "endpoint",
                            message: "must be an `http://` or `https://` URL with a host and no credentials (they come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".to_owned(),
                        },
                    ));
                }
            }
            BlobBackendConfig::S3 {
                endpoint: raw.endpoint.map(Spanned::into_inner),
                bucket: bucket.into_inner(),
                prefix: raw
                    .prefix
                    .map(|p| p.into_inner().trim_matches('/').to_owned())
                    .unwrap_or_default(),
                region: raw
                    .region
                    .map_or_else(|| DEFAULT_S3_REGION.to_owned(), Spanned::into_inner),
            }
        }
        other => {
            return Err((
                kind_span,
                RuntimeConfigErrorKind::BlobSetting {
                    label: label.to_owned(),
                    field: "type",
                    message: format!("unknown type `{other}` (expected `local` or `s3`)"),
                },
            ));
        }
    };
    let max_object_bytes = match raw.max_object_bytes {
        None => DEFAULT_MAX_OBJECT_BYTES,
        Some(value) if (1..=MAX_OBJECT_BYTES_LIMIT).contains(value.get_ref()) => *value.get_ref(),
        Some(value) => {
            return Err((
                value.span(),
                RuntimeConfigErrorKind::Range {
                    table: TABLE,
                    label: label.to_owned(),
                    field: "max_object_bytes",
                    value: *value.get_ref(),
                    min: 1,
                    max: MAX_OBJECT_BYTES_LIMIT,
                },
            ));
        }
    };
    let poll_interval = match raw.poll_interval_ms {
        None => None,
        Some(ms)
            if (MIN_POLL_INTERVAL..=MAX_POLL_INTERVAL)
                .contains(&Duration::from_millis(*ms.get_ref())) =>
        {
            Some(Duration::from_millis(*ms.get_ref()))
        }
        Some(ms) => {
            return Err((
                ms.span(),
                RuntimeConfigErrorKind::Range {
                    table: TABLE,
                    label: label.to_owned(),
                    field: "poll_interval_ms",
                    value: *ms.get_ref(),
                    min: MIN_POLL_INTERVAL.as_millis() as u64,
                    max: MAX_POLL_INTERVAL.as_millis() as u64,
                },
            ));
        }
    };
    Ok(BlobContainerConfig {
        backend,
        max_object_bytes,
        poll_interval,
    })
}
