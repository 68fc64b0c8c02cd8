//! Per guest call, for the blob capability: the per-instance [`BlobView`] implements the
//! generated `wasi:blobstore@0.2.0-draft` host traits (`blobstore`, `container`, `types`) over
//! the component's [`BlobGrants`]; [`add_to_linker`] adds them once at startup.
//!
//! - A container name not in the component's `blob_containers` gets the error
//!   ``container `<name>` is not granted to this component``, whether or not it exists; so does
//!   `copy-object` or `move-object` naming one.
//! - A write goes to a spool file ([`super::spool`]) through the value's `output-stream`; the
//!   object is made from it at once by `write-data` if the guest has taken and dropped the
//!   stream, else by `finish` (so `write-data` may come before the body is written). Either
//!   way it appears whole or not at all, and no more of it is in memory than the spool's
//!   buffer. A value dropped without `finish` makes nothing.
//! - A read (`get-data`, inclusive offsets, the end clamped to the object's) streams from the
//!   backend through `incoming-value-consume-async`; `incoming-value-consume-sync` returns at
//!   most [`MAX_SYNC_READ_BYTES`].
//! - `list-objects` pages through the backend's listing as it is read;
//!   `read-stream-object-names` returns at most [`MAX_LIST_PAGE`] names per call.
//! - Writes, copies, moves and deletes raise blob events ([`super::events`]) for the
//!   container's `[[trigger.blob]]`s; if an event cannot be stored, the call fails (the object
//!   is written), so a guest that retries the write gets its event at least once.
//!
//! Timestamps (`created-at`) are seconds since the Unix epoch.

use anyhow::Result;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use tokio::io::AsyncReadExt;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::AsyncReadStream;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::backend::{ObjectInfo, ObjectReader, object_path};
use super::containers::{BlobGrants, GrantedContainer};
use super::spool::{Spool, SpoolDir};
use crate::bindings::wasi::blobstore::{blobstore, container, types};
use crate::capability::backend::BackendError;
use crate::invocation::RequestId;
use crate::trace::TraceContext;

/// The most bytes `incoming-value-consume-sync` returns: 16 MiB. A larger range is read with
/// `incoming-value-consume-async`.
pub const MAX_SYNC_READ_BYTES: u64 = 16 << 20;

/// The most names one `read-stream-object-names` (or `skip-stream-object-names`) call takes:
/// 1 000.
pub const MAX_LIST_PAGE: u64 = 1000;

/// The error of every blobstore call: the WIT's `error` (a string) for the guest, or a trap.
#[derive(Debug)]
pub enum BlobError {
    /// Told to the guest: a container not granted, an object that does not exist, a bad name or
    /// range, a value too large, a backend that failed.
    Guest(String),
    /// A host-side fault (a handle not in the resource table, a value finished while its
    /// stream is alive): traps the instance.
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for BlobError {
    fn from(err: wasmtime::component::ResourceTableError) -> Self {
        Self::Trap(err.into())
    }
}

/// The `container` resource: a granted container, with its blob triggers.
pub struct ContainerHandle(GrantedContainer);

/// The `stream-object-names` resource: a listing being read.
pub struct ObjectNames {
    listing: BoxStream<'static, Result<ObjectInfo, BackendError>>,
    ended: bool,
    container: GrantedContainer,
}

impl ObjectNames {
    /// The next names of the listing, at most `n` and [`MAX_LIST_PAGE`]: with `keep`, the
    /// names and their count, else their count only (a skip).
    async fn take(&mut self, n: u64, keep: bool) -> Result<(Vec<String>, u64), BackendError> {
        let mut names = Vec::new();
        let mut taken = 0;
        while !self.ended && taken < n.min(MAX_LIST_PAGE) {
            match self.listing.next().await {
                Some(object) => {
                    taken += 1;
                    if keep {
                        names.push(object?.name);
                    } else {
                        object?;
                    }
                }
                None => self.ended = true,
            }
        }
        Ok((names, taken))
    }
}

/// The `outgoing-value` resource: a value being written, then written to an object.
#[derive(Default)]
pub struct OutgoingValue {
    /// Its spool file, made when the body stream is taken (once only).
    spool: Option<Spool>,
    /// `write-data` came before the guest dropped the body stream (or took it): the object
    /// to make at `finish`.
    pending: Option<(GrantedContainer, String, Path)>,
    /// `write-data` made the object already (the stream was dropped before it).
    written: bool,
}

/// The `incoming-value` resource: an object's bytes, opened by `get-data`.
pub struct IncomingValue(ObjectReader);

/// The per-instance view the generated traits are implemented on.
pub struct BlobView<'a> {
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
    /// What the instance's component is granted.
    pub grants: &'a BlobGrants,
    /// The invocation's request id, for log lines.
    pub request_id: &'a RequestId,
    /// The invocation's trace context, carried into the blob events it raises.
    pub trace: &'a TraceContext,
}

/// Which call a backend result came from, and on what, for the log.
struct Call<'c> {
    op: &'static str,
    container: &'c GrantedContainer,
}

/// The parts of a [`BlobView`] a call uses while it awaits a backend.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    grants: &'a BlobGrants,
    request_id: &'a RequestId,
    trace: &'a TraceContext,
}

impl<'a> BlobView<'a> {
    /// What the calls need besides the table (shared references only, so a call's future
    /// stays `Send` while it awaits a backend).
    fn cx(&self) -> Ctx<'a> {
        Ctx {
            grants: self.grants,
            request_id: self.request_id,
            trace: self.trace,
        }
    }

    /// The container behind `handle`.
    fn container(&self, handle: &Resource<ContainerHandle>) -> Result<GrantedContainer, BlobError> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

impl Ctx<'_> {
    /// The granted container `name`.
    fn granted(&self, name: &str) -> Result<GrantedContainer, BlobError> {
        self.grants
            .0
            .containers
            .iter()
            .find(|granted| *granted.open.name == *name)
            .cloned()
            .ok_or_else(|| {
                crate::capability::log_denied(
                    &self.grants.0.component,
                    self.request_id.as_str(),
                    "blob container",
                    name,
                    "blob_containers",
                );
                BlobError::Guest(format!(
                    "container `{name}` is not granted to this component (blob_containers)"
                ))
            })
    }

    /// Counts `result` in the container's metrics and turns a backend failure into the guest's
    /// error, logging an unavailable backend with the component, container and request id.
    fn check<T>(&self, call: &Call<'_>, result: Result<T, BackendError>) -> Result<T, BlobError> {
        let open = &call.container.open;
        open.metrics.count(BackendError::outcome(&result));
        result.map_err(|err| match err {
            BackendError::Invalid(message) => BlobError::Guest(message),
            BackendError::Unavailable(message) => {
                tracing::warn!(
                    component = %self.grants.0.component,
                    request_id = %self.request_id,
                    container = %open.name,
                    backend = %open.description,
                    "blob {} failed: {message}",
                    call.op,
                );
                BlobError::Guest(format!(
                    "blob container `{}` is unavailable: {message}",
                    open.name
                ))
            }
        })
    }

    /// Raises the event that `object` of `container` was written (`created`) or deleted.
    ///
    /// # Errors
    /// A queue that cannot store it (the object stays as it is now).
    async fn publish(
        &self,
        container: &GrantedContainer,
        object: &ObjectInfo,
        created: bool,
    ) -> Result<(), BlobError> {
        container
            .open
            .remember(&object.name, created.then(|| object.etag.clone()).flatten());
        let traceparent = Some(self.trace.traceparent());
        match container.events.publish(object, created, traceparent).await {
            Ok(()) => Ok(()),
            Err((queue, err)) => {
                tracing::warn!(
                    component = %self.grants.0.component,
                    request_id = %self.request_id,
                    container = %container.open.name,
                    queue = %queue,
                    "cannot store a blob event: {err}"
                );
                Err(BlobError::Guest(format!(
                    "object `{}` was {}, but its blob event could not be stored in queue `{queue}`: {err}",
                    object.name,
                    if created { "written" } else { "deleted" }
                )))
            }
        }
    }

    /// Makes the finished `spool` object `name` of `container`, and raises its event.
    async fn commit(
        &self,
        container: &GrantedContainer,
        name: &str,
        location: &Path,
        spool: &Spool,
    ) -> Result<(), BlobError> {
        let (file, size) = spool.finish().map_err(BlobError::Guest)?;
        let max = container.open.config.max_object_bytes;
        if size > max {
            return Err(BlobError::Guest(format!(
                "a value of {size} bytes; container `{}` takes objects of at most {max} bytes (max_object_bytes)",
                container.open.name
            )));
        }
        let call = Call {
            op: "write",
            container,
        };
        let result = container
            .open
            .backend
            .put_file(location, name, file, size)
            .await;
        let object = self.check(&call, result)?;
        container.open.metrics.written.inc_by(size);
        self.publish(container, &object, true).await
    }

    /// Deletes object `name` of `container`, raising its event if a trigger takes it.
    async fn delete_one(&self, container: &GrantedContainer, name: &str) -> Result<(), BlobError> {
        let location = object_path(&container.open.name, name).map_err(BlobError::Guest)?;
        let call = Call {
            op: "delete",
            container,
        };
        let backend = &container.open.backend;
        let existing = if container.events.wanted(name, false) {
            self.check(&call, backend.head(&container.open.name, &location).await)?
        } else {
            None
        };
        self.check(&call, backend.delete(&location).await)?;
        container.open.remember(name, None);
        match existing {
            Some(object) => self.publish(container, &object, false).await,
            None => Ok(()),
        }
    }

    /// Copies object `src` to `dest` (both granted); with `remove`, then deletes `src` (a
    /// move). Raises the events of the object made, and of the one removed.
    async fn copy(
        &self,
        src: types::ObjectId,
        dest: types::ObjectId,
        remove: bool,
    ) -> Result<(), BlobError> {
        let (from, to) = (
            self.granted(&src.container)?,
            self.granted(&dest.container)?,
        );
        let src_path = object_path(&from.open.name, &src.object).map_err(BlobError::Guest)?;
        let dest_path = object_path(&to.open.name, &dest.object).map_err(BlobError::Guest)?;
        let call = Call {
            op: if remove { "move" } else { "copy" },
            container: &to,
        };
        let source = from.open.backend.head(&from.open.name, &src_path).await;
        let source = self.check(&call, source)?.ok_or_else(|| {
            BlobError::Guest(format!(
                "object `{}` does not exist in container `{}`",
                src.object, src.container
            ))
        })?;
        let max = to.open.config.max_object_bytes;
        if source.size > max {
            return Err(BlobError::Guest(format!(
                "object `{}` is {} bytes; container `{}` takes objects of at most {max} bytes (max_object_bytes)",
                src.object, source.size, dest.container
            )));
        }
        if from.open.config.backend == to.open.config.backend {
            // One store: the store copies (S3 server-side).
            self.check(&call, from.open.backend.copy(&src_path, &dest_path).await)?;
        } else {
            // Two stores: stream the object through a spool file.
            let reader = self.check(&call, from.open.backend.read(&src_path, 0, u64::MAX).await)?;
            let mut reader = reader.ok_or_else(|| {
                BlobError::Guest(format!("object `{}` was deleted while copied", src.object))
            })?;
            let (staged, size) = self
                .spool_dir()?
                .fill(&mut reader.reader, max)
                .await
                .map_err(|err| BlobError::Guest(format!("cannot copy the object: {err}")))?;
            if size > max {
                return Err(BlobError::Guest(format!(
                    "object `{}` grew past {max} bytes while copied (max_object_bytes)",
                    src.object
                )));
            }
            let file = staged.to_path_buf();
            let result = to
                .open
                .backend
                .put_file(&dest_path, &dest.object, file, size)
                .await;
            self.check(&call, result)?;
        }
        let made = self.check(&call, to.open.backend.head(&to.open.name, &dest_path).await)?;
        if let Some(object) = made {
            self.publish(&to, &object, true).await?;
        }
        if remove {
            self.delete_one(&from, &src.object).await?;
        }
        Ok(())
    }

    /// When `container` was created, in ms since the Unix epoch (`None`: it does not exist), for
    /// the call `op`.
    async fn created(
        &self,
        container: &GrantedContainer,
        op: &'static str,
    ) -> Result<Option<u64>, BlobError> {
        let created = container
            .open
            .backend
            .container_created(&container.open.name)
            .await;
        self.check(&Call { op, container }, created)
    }

    /// What the store knows of object `name` of `container` (`None`: there is none), for the
    /// call `op`.
    async fn head(
        &self,
        container: &GrantedContainer,
        name: &str,
        op: &'static str,
    ) -> Result<Option<ObjectInfo>, BlobError> {
        let location = object_path(&container.open.name, name).map_err(BlobError::Guest)?;
        let head = container
            .open
            .backend
            .head(&container.open.name, &location)
            .await;
        self.check(&Call { op, container }, head)
    }

    /// The component's spool directory.
    fn spool_dir(&self) -> Result<&SpoolDir, BlobError> {
        self.grants.0.spool.as_deref().ok_or_else(|| {
            BlobError::Guest(
                "no blob container is granted to this component (blob_containers)".to_owned(),
            )
        })
    }

    /// A new spool file that takes at most `limit` bytes.
    fn spool(&self, limit: u64) -> Result<Spool, BlobError> {
        self.spool_dir()?.create(limit).map_err(|err| {
            tracing::warn!(
                component = %self.grants.0.component,
                request_id = %self.request_id,
                "cannot create a blob spool file: {err}"
            );
            BlobError::Guest(format!("cannot store the value: {err}"))
        })
    }
}

impl types::Host for BlobView<'_> {
    fn convert_error(&mut self, err: BlobError) -> wasmtime::Result<types::Error> {
        match err {
            BlobError::Guest(message) => Ok(message),
            BlobError::Trap(trap) => Err(trap),
        }
    }
}

impl blobstore::Host for BlobView<'_> {
    async fn create_container(
        &mut self,
        name: String,
    ) -> Result<Resource<ContainerHandle>, BlobError> {
        let cx = self.cx();
        let container = cx.granted(&name)?;
        if cx.created(&container, "create-container").await?.is_some() {
            return Err(BlobError::Guest(format!(
                "container `{name}` already exists"
            )));
        }
        let made = container.open.backend.create_container(&name).await;
        let call = Call {
            op: "create-container",
            container: &container,
        };
        cx.check(&call, made)?;
        Ok(self.table.push(ContainerHandle(container))?)
    }

    async fn get_container(
        &mut self,
        name: String,
    ) -> Result<Resource<ContainerHandle>, BlobError> {
        let cx = self.cx();
        let container = cx.granted(&name)?;
        let call = Call {
            op: "get-container",
            container: &container,
        };
        cx.check(&call, container.open.ensure().await)?;
        if cx.created(&container, "get-container").await?.is_none() {
            return Err(BlobError::Guest(format!(
                "container `{name}` does not exist"
            )));
        }
        Ok(self.table.push(ContainerHandle(container))?)
    }

    async fn delete_container(&mut self, name: String) -> Result<(), BlobError> {
        let cx = self.cx();
        let container = cx.granted(&name)?;
        let call = Call {
            op: "delete-container",
            container: &container,
        };
        let deleted = cx.check(&call, container.open.backend.clear(&name).await)?;
        for object in &deleted {
            container.open.remember(&object.name, None);
            if container.events.wanted(&object.name, false) {
                cx.publish(&container, object, false).await?;
            }
        }
        cx.check(&call, container.open.backend.delete_container(&name).await)
    }

    async fn container_exists(&mut self, name: String) -> Result<bool, BlobError> {
        let cx = self.cx();
        let container = cx.granted(&name)?;
        Ok(cx.created(&container, "container-exists").await?.is_some())
    }

    async fn copy_object(
        &mut self,
        src: types::ObjectId,
        dest: types::ObjectId,
    ) -> Result<(), BlobError> {
        let cx = self.cx();
        cx.copy(src, dest, false).await
    }

    async fn move_object(
        &mut self,
        src: types::ObjectId,
        dest: types::ObjectId,
    ) -> Result<(), BlobError> {
        let cx = self.cx();
        cx.copy(src, dest, true).await
    }
}

impl container::Host for BlobView<'_> {}

impl container::HostContainer for BlobView<'_> {
    async fn name(&mut self, handle: Resource<ContainerHandle>) -> Result<String, BlobError> {
        Ok(self.container(&handle)?.open.name.to_string())
    }

    async fn info(
        &mut self,
        handle: Resource<ContainerHandle>,
    ) -> Result<types::ContainerMetadata, BlobError> {
        let container = self.container(&handle)?;
        let name = container.open.name.to_string();
        let created = self.cx().created(&container, "info").await?;
        let created = created
            .ok_or_else(|| BlobError::Guest(format!("container `{name}` does not exist")))?;
        Ok(types::ContainerMetadata {
            name,
            created_at: created / 1000,
        })
    }

    async fn get_data(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
        start: u64,
        end: u64,
    ) -> Result<Resource<IncomingValue>, BlobError> {
        let cx = self.cx();
        let container = self.container(&handle)?;
        let location = object_path(&container.open.name, &name).map_err(BlobError::Guest)?;
        let call = Call {
            op: "read",
            container: &container,
        };
        let reader = cx.check(
            &call,
            container.open.backend.read(&location, start, end).await,
        )?;
        let reader = reader.ok_or_else(|| {
            BlobError::Guest(format!(
                "object `{name}` does not exist in container `{}`",
                container.open.name
            ))
        })?;
        container
            .open
            .metrics
            .read
            .inc_by(reader.range.end - reader.range.start);
        Ok(self.table.push(IncomingValue(reader))?)
    }

    async fn write_data(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
        data: Resource<OutgoingValue>,
    ) -> Result<(), BlobError> {
        let cx = self.cx();
        let container = self.container(&handle)?;
        let location = object_path(&container.open.name, &name).map_err(BlobError::Guest)?;
        let value = self.table.get_mut(&data)?;
        if value.written || value.pending.is_some() {
            return Err(BlobError::Guest(
                "write-data was already called with this value".to_owned(),
            ));
        }
        let Some(spool) = value.spool.take_if(|spool| !spool.stream_open()) else {
            // The guest writes the body after this call (or has not taken it yet): the
            // object is made at `finish`.
            value.pending = Some((container, name, location));
            return Ok(());
        };
        value.written = true;
        cx.commit(&container, &name, &location, &spool).await
    }

    async fn list_objects(
        &mut self,
        handle: Resource<ContainerHandle>,
    ) -> Result<Resource<ObjectNames>, BlobError> {
        let container = self.container(&handle)?;
        let listing = container.open.backend.list(&container.open.name);
        Ok(self.table.push(ObjectNames {
            listing,
            ended: false,
            container,
        })?)
    }

    async fn delete_object(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Result<(), BlobError> {
        let cx = self.cx();
        let container = self.container(&handle)?;
        cx.delete_one(&container, &name).await
    }

    async fn delete_objects(
        &mut self,
        handle: Resource<ContainerHandle>,
        names: Vec<String>,
    ) -> Result<(), BlobError> {
        let cx = self.cx();
        let container = self.container(&handle)?;
        for name in names {
            cx.delete_one(&container, &name).await?;
        }
        Ok(())
    }

    async fn has_object(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Result<bool, BlobError> {
        let container = self.container(&handle)?;
        let object = self.cx().head(&container, &name, "has-object").await?;
        Ok(object.is_some())
    }

    async fn object_info(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Result<types::ObjectMetadata, BlobError> {
        let container = self.container(&handle)?;
        let object = self.cx().head(&container, &name, "object-info").await?;
        let object = object.ok_or_else(|| {
            BlobError::Guest(format!(
                "object `{name}` does not exist in container `{}`",
                container.open.name
            ))
        })?;
        Ok(types::ObjectMetadata {
            name,
            container: container.open.name.to_string(),
            created_at: object.modified_ms / 1000,
            size: object.size,
        })
    }

    async fn clear(&mut self, handle: Resource<ContainerHandle>) -> Result<(), BlobError> {
        let cx = self.cx();
        let container = self.container(&handle)?;
        let call = Call {
            op: "clear",
            container: &container,
        };
        let deleted = cx.check(
            &call,
            container.open.backend.clear(&container.open.name).await,
        )?;
        for object in &deleted {
            container.open.remember(&object.name, None);
            if container.events.wanted(&object.name, false) {
                cx.publish(&container, object, false).await?;
            }
        }
        Ok(())
    }

    async fn drop(&mut self, handle: Resource<ContainerHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl container::HostStreamObjectNames for BlobView<'_> {
    async fn read_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        len: u64,
    ) -> Result<(Vec<String>, bool), BlobError> {
        let cx = self.cx();
        let listing = self.table.get_mut(&names)?;
        let result = listing.take(len, true).await;
        let call = Call {
            op: "list",
            container: &listing.container,
        };
        let (page, _) = cx.check(&call, result)?;
        Ok((page, listing.ended))
    }

    async fn skip_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        num: u64,
    ) -> Result<(u64, bool), BlobError> {
        let cx = self.cx();
        let listing = self.table.get_mut(&names)?;
        let result = listing.take(num, false).await;
        let call = Call {
            op: "list",
            container: &listing.container,
        };
        let (_, skipped) = cx.check(&call, result)?;
        Ok((skipped, listing.ended))
    }

    async fn drop(&mut self, names: Resource<ObjectNames>) -> wasmtime::Result<()> {
        self.table.delete(names)?;
        Ok(())
    }
}

impl types::HostOutgoingValue for BlobView<'_> {
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        Ok(self.table.push(OutgoingValue::default())?)
    }

    async fn outgoing_value_write_body(
        &mut self,
        value: Resource<OutgoingValue>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        let cx = self.cx();
        let taken = self.table.get(&value)?;
        if taken.spool.is_some() || taken.written {
            return Ok(Err(()));
        }
        let Ok(spool) = cx.spool(self.grants.0.max_object_bytes) else {
            return Ok(Err(()));
        };
        let writer: DynOutputStream = Box::new(spool.writer());
        self.table.get_mut(&value)?.spool = Some(spool);
        Ok(Ok(self.table.push_child(writer, &value)?))
    }

    async fn finish(&mut self, value: Resource<OutgoingValue>) -> Result<(), BlobError> {
        let cx = self.cx();
        // Traps if the guest still holds the body stream, as the WIT says.
        let value = self.table.delete(value)?;
        let Some((container, name, location)) = value.pending else {
            // Written by `write-data` already, or never given to a container: nothing to do.
            return Ok(());
        };
        let spool = match value.spool {
            Some(spool) => spool,
            None => {
                // No body was taken: the object is empty.
                let spool = cx.spool(0)?;
                drop(spool.writer());
                spool
            }
        };
        cx.commit(&container, &name, &location, &spool).await
    }

    async fn drop(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

impl types::HostIncomingValue for BlobView<'_> {
    async fn incoming_value_consume_sync(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> Result<Vec<u8>, BlobError> {
        let IncomingValue(object) = self.table.delete(value)?;
        let size = object.range.end - object.range.start;
        if size > MAX_SYNC_READ_BYTES {
            return Err(BlobError::Guest(format!(
                "the value is {size} bytes; incoming-value-consume-sync returns at most {MAX_SYNC_READ_BYTES}: read it with incoming-value-consume-async"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut reader = object.reader;
        reader
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| BlobError::Guest(format!("cannot read the value: {err}")))?;
        Ok(bytes)
    }

    async fn incoming_value_consume_async(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> Result<Resource<DynInputStream>, BlobError> {
        let IncomingValue(object) = self.table.delete(value)?;
        let stream: DynInputStream = Box::new(AsyncReadStream::new(object.reader));
        Ok(self.table.push(stream)?)
    }

    async fn size(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        let range = &self.table.get(&value)?.0.range;
        Ok(range.end - range.start)
    }

    async fn drop(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

/// [`HasData`] marker for the blobstore imports.
struct HasBlob;

impl HasData for HasBlob {
    type Data<'a> = BlobView<'a>;
}

/// Adds the `wasi:blobstore@0.2.0-draft` imports to `linker`; `view` borrows the instance's
/// [`BlobView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> BlobView<'_>,
) -> Result<()> {
    types::add_to_linker::<_, HasBlob>(linker, view)?;
    container::add_to_linker::<_, HasBlob>(linker, view)?;
    blobstore::add_to_linker::<_, HasBlob>(linker, view)?;
    Ok(())
}
