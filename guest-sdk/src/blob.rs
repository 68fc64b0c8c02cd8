//! Blob storage: objects in containers, over `wasi:blobstore@0.2.0-draft`.
//!
//! A component reaches only the containers its manifest grants
//! (`blob_containers = ["files"]`); any other name gives [`Error::AccessDenied`], whether or
//! not such a container exists. Granted containers exist from startup, so [`Container::open`]
//! works at once. Where the objects live (files on the node, or an S3-compatible bucket) is the
//! operator's choice and does not change this API.
//!
//! Objects are written whole and become visible atomically: a reader sees the old object or
//! the new one, never part of one. Bodies stream in both directions in chunks of at most
//! 64 KiB, so an object of any size passes through a guest in a few hundred KiB of memory.
//!
//! ```no_run
//! use wasmhost_sdk::blob::Container;
//!
//! # fn main() -> Result<(), wasmhost_sdk::blob::Error> {
//! let files = Container::open("files")?;
//! files.put("notes/today.txt", "buy milk")?;
//! let text = files.get("notes/today.txt")?.text()?;
//! let part = files.get_range("notes/today.txt", 4, 7)?.bytes()?; // inclusive: b"milk"
//! for name in files.list()? {
//!     println!("{}", name?);
//! }
//! # let _ = (text, part);
//! # Ok(())
//! # }
//! ```
//!
//! Streaming an HTTP request body into an object, and an object back out (honouring `Range`):
//!
//! ```no_run
//! use wasmhost_sdk::blob::{Container, Error};
//! use wasmhost_sdk::http::Method;
//! use wasmhost_sdk::{http_component, IntoResponse, Request, RequestExt, Response};
//!
//! #[http_component]
//! fn handle(req: Request) -> Response {
//!     // An `Error` answers 403, 404, 409, 400 or 500 with its text.
//!     files(req).unwrap_or_else(IntoResponse::into_response)
//! }
//!
//! fn files(req: Request) -> Result<Response, Error> {
//!     let files = Container::open("files")?;
//!     let name = req.param("name").unwrap_or_default().to_owned();
//!     if req.method() == Method::PUT {
//!         let bytes = files.put_body(&name, req.into_body())?;
//!         return Ok(format!("stored {bytes} bytes\n").into_response());
//!     }
//!     files.http_response(&name, req.headers())
//! }
//! # fn main() {}
//! ```
//!
//! A `[[trigger.blob]]` handler is a [`crate::queue_component`] whose deliveries are blob
//! events; [`BlobEvent::from_delivery`] reads one.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};

use http::{HeaderMap, StatusCode, header};

use crate::body::{Body, IncomingBody, IntoBody};
use crate::response::{IntoResponse, Response};
use crate::serve::{WRITE_BYTES, write_all};
use crate::wit::wasi::blobstore::{blobstore, container, types};
use crate::wit::wasi::io::streams::{InputStream, OutputStream, StreamError};

/// The largest object [`Object::bytes`] fetches in one call (`incoming-value-consume-sync`);
/// larger ones are read as a stream. The host refuses the one-call read above 16 MiB.
const SYNC_READ_BYTES: u64 = 16 * 1024 * 1024;

/// How many names one `read-stream-object-names` call asks for unless
/// [`ObjectNames::page_size`] says otherwise (the host returns at most 1000 per call).
const DEFAULT_PAGE: u64 = 1000;

/// What a blob call can fail with.
///
/// `wasi:blobstore` errors are plain strings; the SDK sorts the host's text into a variant
/// (so a handler can answer 403, 404, 409 or 400) and keeps the text unchanged. `Display` shows
/// the text alone, such as ``container `x` is not granted to this component``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The container is not in the component's `blob_containers` (text contains `not granted`).
    AccessDenied(String),
    /// No such container or object (text contains `not found`, `does not exist` or `no such`).
    NotFound(String),
    /// `create-container` of a container that exists (text contains `already exists`).
    AlreadyExists(String),
    /// A name or argument the host rejects (text contains `invalid`), or a delivery that is
    /// not a blob event ([`BlobEvent::from_delivery`]).
    Invalid(String),
    /// Streaming an object's bytes failed (a body that broke off, an object over the host's
    /// size limit, a reader that failed); nothing was written.
    Stream(String),
    /// Any other failure of the blob store (an unavailable backend, ...).
    Other(String),
}

impl Error {
    /// Sorts a `wasi:blobstore` error text (the host's message) into a variant, keeping it
    /// unchanged. Only needed by code that calls the raw bindings.
    pub fn from_host(message: String) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("not granted") {
            Self::AccessDenied(message)
        } else if lower.contains("already exists") {
            Self::AlreadyExists(message)
        } else if lower.contains("not found")
            || lower.contains("does not exist")
            || lower.contains("no such")
        {
            Self::NotFound(message)
        } else if lower.contains("invalid") {
            Self::Invalid(message)
        } else {
            Self::Other(message)
        }
    }

    fn stream(err: StreamError) -> Self {
        match err {
            StreamError::Closed => Self::Stream("the blob store closed the stream".to_owned()),
            StreamError::LastOperationFailed(e) => Self::Stream(e.to_debug_string()),
        }
    }

    /// The error's text, as the host gave it.
    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::NotFound(m)
            | Self::AlreadyExists(m)
            | Self::Invalid(m)
            | Self::Stream(m)
            | Self::Other(m) => m,
        }
    }

    /// The HTTP status that fits: 403 [`Error::AccessDenied`], 404 [`Error::NotFound`], 409
    /// [`Error::AlreadyExists`], 400 [`Error::Invalid`], 500 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AlreadyExists(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Stream(_) | Self::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err {
            Error::AccessDenied(_) => io::ErrorKind::PermissionDenied,
            Error::NotFound(_) => io::ErrorKind::NotFound,
            Error::AlreadyExists(_) => io::ErrorKind::AlreadyExists,
            Error::Invalid(_) => io::ErrorKind::InvalidInput,
            Error::Stream(_) | Error::Other(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// A response of [`Error::status`] whose body is the error's text and a newline.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

/// Sorts a host error string (the `wasi:blobstore` `error` type) into an [`Error`].
fn host<T>(result: Result<T, types::Error>) -> Result<T, Error> {
    result.map_err(Error::from_host)
}

/// An object's address: its container's name and its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId {
    /// The container's name.
    pub container: String,
    /// The object's name in it.
    pub name: String,
}

impl ObjectId {
    /// The object `name` of `container`.
    pub fn new(container: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            container: container.into(),
            name: name.into(),
        }
    }

    /// Parses `container/name` (split at the first `/`; the name may hold more `/`).
    /// `None` without a `/` or with an empty side.
    pub fn parse(path: &str) -> Option<Self> {
        let (container, name) = path.split_once('/')?;
        (!container.is_empty() && !name.is_empty()).then(|| Self::new(container, name))
    }
}

impl<C: Into<String>, N: Into<String>> From<(C, N)> for ObjectId {
    fn from((container, name): (C, N)) -> Self {
        Self::new(container, name)
    }
}

impl From<ObjectId> for types::ObjectId {
    fn from(id: ObjectId) -> Self {
        Self {
            container: id.container,
            object: id.name,
        }
    }
}

/// What [`Container::container_info`] tells about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name.
    pub name: String,
    /// When it was created, in seconds since the Unix epoch (the WIT leaves the unit open;
    /// wasmhost reports seconds).
    pub created_at: u64,
}

/// What [`Container::info`] tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Its container's name.
    pub container: String,
    /// When it was written, in seconds since the Unix epoch (as [`ContainerInfo::created_at`]).
    pub created_at: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl From<types::ObjectMetadata> for ObjectInfo {
    fn from(m: types::ObjectMetadata) -> Self {
        Self {
            name: m.name,
            container: m.container,
            created_at: m.created_at,
            size: m.size,
        }
    }
}

/// Creates the container `name` and opens it.
///
/// # Errors
/// [`Error::AccessDenied`] if `name` is not granted, [`Error::AlreadyExists`] if it exists (a
/// granted container exists from startup until [`delete_container`]).
pub fn create_container(name: &str) -> Result<Container, Error> {
    Container::create(name)
}

/// Deletes the container `name` and every object in it.
///
/// # Errors
/// [`Error::AccessDenied`] if `name` is not granted; [`Error::Other`] if the store fails.
pub fn delete_container(name: &str) -> Result<(), Error> {
    host(blobstore::delete_container(name))
}

/// Whether the container `name` exists.
///
/// # Errors
/// [`Error::AccessDenied`] if `name` is not granted; [`Error::Other`] if the store fails.
pub fn container_exists(name: &str) -> Result<bool, Error> {
    host(blobstore::container_exists(name))
}

/// Copies the object `from` to `to`, in the same or another container, replacing what `to`
/// held. `ObjectId`s convert from `(container, name)` pairs.
///
/// # Errors
/// [`Error::AccessDenied`] if either container is not granted, [`Error::NotFound`] if `from`
/// or `to`'s container does not exist.
pub fn copy(from: impl Into<ObjectId>, to: impl Into<ObjectId>) -> Result<(), Error> {
    host(blobstore::copy_object(
        &from.into().into(),
        &to.into().into(),
    ))
}

/// Moves (renames) the object `from` to `to`, in the same or another container, replacing
/// what `to` held.
///
/// # Errors
/// As [`copy`].
pub fn rename(from: impl Into<ObjectId>, to: impl Into<ObjectId>) -> Result<(), Error> {
    host(blobstore::move_object(
        &from.into().into(),
        &to.into().into(),
    ))
}

/// An open container: a flat namespace of objects named by `/`-separated paths
/// (1 to 1024 bytes of UTF-8, no empty, `.` or `..` segment, no leading or trailing `/`).
pub struct Container {
    inner: container::Container,
    name: String,
}

impl Container {
    /// Opens the container `name`, as granted in the manifest's `blob_containers`.
    ///
    /// # Errors
    /// [`Error::AccessDenied`] if the component is not granted `name`; [`Error::NotFound`] if
    /// it was deleted.
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(Self {
            inner: host(blobstore::get_container(name))?,
            name: name.to_owned(),
        })
    }

    /// Creates the container `name` and opens it; see [`create_container`].
    ///
    /// # Errors
    /// As [`create_container`].
    pub fn create(name: &str) -> Result<Self, Error> {
        Ok(Self {
            inner: host(blobstore::create_container(name))?,
            name: name.to_owned(),
        })
    }

    /// The container's name, as opened.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's name and creation time, from the host.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn container_info(&self) -> Result<ContainerInfo, Error> {
        let m = host(self.inner.info())?;
        Ok(ContainerInfo {
            name: m.name,
            created_at: m.created_at,
        })
    }

    /// Writes `bytes` as the object `name`, replacing any object of that name.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad name, [`Error::Stream`] past the host's object size limit
    /// (1 GiB unless the operator says otherwise), [`Error::Other`] if the store fails.
    pub fn put(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
        let bytes = bytes.as_ref();
        self.write(name, |stream| {
            write_all(stream, bytes).map_err(Error::stream)?;
            Ok(bytes.len() as u64)
        })
        .map(drop)
    }

    /// Writes everything `reader` yields as the object `name`, in chunks of at most 64 KiB
    /// (never holding the whole object); returns the object's size in bytes. If `reader` fails,
    /// nothing is written.
    ///
    /// # Errors
    /// [`Error::Stream`] if `reader` fails or the object passes the host's size limit; otherwise
    /// as [`Container::put`].
    pub fn put_stream(&self, name: &str, mut reader: impl Read) -> Result<u64, Error> {
        self.write(name, |stream| {
            let mut buf = vec![0; WRITE_BYTES];
            let mut total = 0u64;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(Error::Stream(err.to_string())),
                };
                write_all(stream, &buf[..n]).map_err(Error::stream)?;
                total += n as u64;
            }
        })
    }

    /// Writes an HTTP body (a request's, or an outbound response's) as the object `name`,
    /// spliced from the host's stream to the host's stream without copying it through the
    /// guest; returns the object's size in bytes. If the body breaks off, nothing is written.
    ///
    /// # Errors
    /// As [`Container::put_stream`].
    pub fn put_body(&self, name: &str, body: IncomingBody) -> Result<u64, Error> {
        self.write(name, |stream| {
            let Some((input, parent)) = body.into_stream() else {
                return Ok(0);
            };
            let spliced = splice(stream, &input);
            // The input stream is a child of the body: it goes first.
            drop(input);
            drop(parent);
            spliced
        })
    }

    /// One write: `write-data` first (so a bad name fails before any byte moves), then `fill`
    /// writes the bytes, then the stream is dropped and `finish` commits the object. On an
    /// error the value is dropped unfinished, which the host discards.
    fn write(
        &self,
        name: &str,
        fill: impl FnOnce(&OutputStream) -> Result<u64, Error>,
    ) -> Result<u64, Error> {
        let value = types::OutgoingValue::new_outgoing_value();
        let stream = value
            .outgoing_value_write_body()
            .map_err(|()| Error::Other("the outgoing value's stream was taken".to_owned()))?;
        if let Err(err) = host(self.inner.write_data(name, &value)) {
            drop(stream);
            return Err(err);
        }
        let written = fill(&stream);
        drop(stream);
        let written = written?;
        host(types::OutgoingValue::finish(value))?;
        Ok(written)
    }

    /// The whole object `name`, ready to read ([`Object::bytes`], [`Object::reader`]) or to
    /// return as a response body.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such object, [`Error::Other`] if the store fails.
    pub fn get(&self, name: &str) -> Result<Object, Error> {
        self.get_range(name, 0, u64::MAX)
    }

    /// Bytes `start..=end` of the object `name` (both offsets inclusive, from 0); an `end`
    /// past the object's end reads to its end (`u64::MAX`: to the end).
    ///
    /// # Errors
    /// As [`Container::get`].
    pub fn get_range(&self, name: &str, start: u64, end: u64) -> Result<Object, Error> {
        let value = host(self.inner.get_data(name, start, end))?;
        Ok(Object { value })
    }

    /// The object's name, container, creation time and size.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such object, [`Error::Other`] if the store fails.
    pub fn info(&self, name: &str) -> Result<ObjectInfo, Error> {
        Ok(host(self.inner.object_info(name))?.into())
    }

    /// Whether the object `name` exists.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn exists(&self, name: &str) -> Result<bool, Error> {
        host(self.inner.has_object(name))
    }

    /// Deletes the object `name`; deleting a missing object succeeds.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        host(self.inner.delete_object(name))
    }

    /// Deletes every object in `names` in one call; missing ones are skipped.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn delete_many(&self, names: &[String]) -> Result<(), Error> {
        host(self.inner.delete_objects(names))
    }

    /// Deletes every object in the container, leaving it empty.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn clear(&self) -> Result<(), Error> {
        host(self.inner.clear())
    }

    /// The names of the container's objects, in no set order, fetched a page at a time as the
    /// iterator is consumed (see [`ObjectNames`]).
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails (here, or as an item of the iterator).
    pub fn list(&self) -> Result<ObjectNames, Error> {
        Ok(ObjectNames {
            stream: host(self.inner.list_objects())?,
            buffered: VecDeque::new(),
            page_size: DEFAULT_PAGE,
            done: false,
            read_calls: 0,
        })
    }

    /// Copies the object `name` to `to` (same or another container); see [`copy`].
    ///
    /// # Errors
    /// As [`copy`].
    pub fn copy(&self, name: &str, to: impl Into<ObjectId>) -> Result<(), Error> {
        copy((self.name.as_str(), name), to)
    }

    /// Moves the object `name` to `to` (same or another container); see [`rename`].
    ///
    /// # Errors
    /// As [`copy`].
    pub fn rename(&self, name: &str, to: impl Into<ObjectId>) -> Result<(), Error> {
        rename((self.name.as_str(), name), to)
    }

    /// An HTTP response streaming the object `name`, as a file server answers a `GET`:
    /// - 200 with the whole object and `content-length`;
    /// - 206 with `content-range: bytes a-b/size` if `request_headers` has a satisfiable
    ///   single `Range: bytes=a-b` (also `bytes=a-` and the suffix form `bytes=-n`), reading
    ///   only that part (`get-data` with inclusive offsets);
    /// - 416 with `content-range: bytes */size` for a range that starts past the end.
    ///
    /// A `Range` of several ranges, another unit, or a malformed one is ignored (200), as
    /// RFC 9110 §14.2 allows. Every answer carries `accept-ranges: bytes`. Set a
    /// `content-type` on the response if you know it: the blob store does not keep one.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such object (its [`IntoResponse`] is a 404),
    /// [`Error::Other`] if the store fails.
    pub fn http_response(
        &self,
        name: &str,
        request_headers: &HeaderMap,
    ) -> Result<Response, Error> {
        let builder = http::Response::builder().header(header::ACCEPT_RANGES, "bytes");
        let range = request_headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok());
        // Without a `Range`, one `get-data` call and no `object-info`.
        let (answer, size) = match range {
            None => (RangeAnswer::Whole, 0),
            Some(range) => {
                let size = self.info(name)?.size;
                (byte_range(range, size), size)
            }
        };
        let (builder, body) = match answer {
            RangeAnswer::Whole => {
                let object = self.get(name)?;
                (
                    builder.header(header::CONTENT_LENGTH, object.len()),
                    object.into_body(),
                )
            }
            RangeAnswer::Part(start, end) => (
                builder
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_LENGTH, end - start + 1)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")),
                self.get_range(name, start, end)?.into_body(),
            ),
            RangeAnswer::Unsatisfiable => (
                builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}")),
                Body::Empty,
            ),
        };
        builder
            .body(body)
            .map_err(|err| Error::Other(format!("cannot build the response: {err}")))
    }
}

/// Splices everything `input` holds into `output`, then flushes; returns the bytes moved.
fn splice(output: &OutputStream, input: &InputStream) -> Result<u64, Error> {
    let mut total = 0u64;
    loop {
        match output.blocking_splice(input, WRITE_BYTES as u64) {
            Ok(n) => total += n,
            Err(StreamError::Closed) => break,
            Err(err) => return Err(Error::stream(err)),
        }
    }
    output.blocking_flush().map_err(Error::stream)?;
    Ok(total)
}

/// What a `Range` header asks of an object of a known size.
#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// No usable range: the whole object.
    Whole,
    /// Bytes `start..=end`, both within the object.
    Part(u64, u64),
    /// The range starts past the end (416).
    Unsatisfiable,
}

/// Resolves a `Range` header value against an object of `size` bytes (RFC 9110 §14.1.2).
fn byte_range(value: &str, size: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `bytes=-n`: the last n bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => {
            RangeAnswer::Part(size.saturating_sub(n), size - 1)
        }
        (true, _, Some(_)) => RangeAnswer::Unsatisfiable,
        (false, Some(start), _) if start >= size => RangeAnswer::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => RangeAnswer::Part(start, size - 1),
        (false, Some(start), Some(end)) if end >= start => {
            RangeAnswer::Part(start, end.min(size - 1))
        }
        _ => RangeAnswer::Whole,
    }
}

/// An object's bytes (or a range of them), as [`Container::get`] returns them: read them once,
/// whole ([`Object::bytes`]) or as a stream ([`Object::reader`]), or return the object as a
/// response body ([`IntoBody`]), which streams it.
///
/// The bytes are the object's as it was at the `get`, even if it is replaced or deleted while
/// they are read.
pub struct Object {
    value: types::IncomingValue,
}

impl Object {
    /// How many bytes this value holds: the object's size, or for [`Container::get_range`]
    /// the range's length (`incoming-value.size`).
    pub fn len(&self) -> u64 {
        self.value.size()
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All the bytes, in memory: one call up to 16 MiB, a stream above.
    ///
    /// # Errors
    /// [`Error::Stream`] if reading fails, [`Error::Other`] if the store fails.
    pub fn bytes(self) -> Result<Vec<u8>, Error> {
        if self.len() <= SYNC_READ_BYTES {
            return host(types::IncomingValue::incoming_value_consume_sync(
                self.value,
            ));
        }
        let mut reader = self.reader()?;
        let mut all = Vec::new();
        reader
            .read_to_end(&mut all)
            .map_err(|err| Error::Stream(err.to_string()))?;
        Ok(all)
    }

    /// All the bytes as UTF-8 text (invalid sequences become `U+FFFD`).
    ///
    /// # Errors
    /// As [`Object::bytes`].
    pub fn text(self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
    }

    /// A streaming reader of the bytes (`incoming-value-consume-async`).
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn reader(self) -> Result<ObjectReader, Error> {
        let stream = host(types::IncomingValue::incoming_value_consume_async(
            self.value,
        ))?;
        Ok(ObjectReader(IncomingBody::from_stream(stream)))
    }
}

/// Streams the object. If the store cannot open the stream, the body fails at its start (the
/// client sees a broken response); use [`Object::reader`] to handle that error yourself.
impl IntoBody for Object {
    fn into_body(self) -> Body {
        match self.reader() {
            Ok(reader) => reader.into_body(),
            Err(err) => Body::Reader(Box::new(FailingReader(Some(err)))),
        }
    }
}

/// A reader whose first read fails with the error it holds.
struct FailingReader(Option<Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .map_or_else(|| io::Error::other("blob read failed"), io::Error::from))
    }
}

/// An object's bytes as a stream: [`std::io::Read`], or chunks of at most 64 KiB
/// ([`ObjectReader::chunk`], [`ObjectReader::next_chunk`] in an async handler). As a response
/// body ([`IntoBody`]) it is spliced from the store to the client without passing through the
/// guest.
pub struct ObjectReader(IncomingBody);

impl ObjectReader {
    /// Blocks until the next chunk (at most 64 KiB). `None` at the end.
    ///
    /// # Errors
    /// The store's stream failed.
    pub fn chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.0.chunk()
    }

    /// Waits for the next chunk (at most 64 KiB) without blocking the handler's other futures.
    /// `None` at the end.
    ///
    /// # Errors
    /// The store's stream failed.
    pub async fn next_chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.0.next_chunk().await
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl IntoBody for ObjectReader {
    fn into_body(self) -> Body {
        Body::Incoming(self.0)
    }
}

/// The names of a container's objects ([`Container::list`]): an iterator that fetches them a
/// page at a time with `read-stream-object-names`. After an error item it ends.
pub struct ObjectNames {
    stream: container::StreamObjectNames,
    buffered: VecDeque<String>,
    page_size: u64,
    done: bool,
    read_calls: u64,
}

impl ObjectNames {
    /// Asks for `n` names per call (at least 1; the host returns at most 1000 per call).
    /// Default: 1000.
    #[must_use]
    pub fn page_size(mut self, n: u64) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The next page: up to the page size of names (possibly none before the end), and
    /// whether the listing has ended. Names the iterator has buffered come first.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn next_page(&mut self) -> Result<(Vec<String>, bool), Error> {
        if !self.buffered.is_empty() {
            return Ok((self.buffered.drain(..).collect(), self.done));
        }
        if self.done {
            return Ok((Vec::new(), true));
        }
        self.read_calls += 1;
        let (names, end) = host(self.stream.read_stream_object_names(self.page_size))?;
        self.done = end;
        Ok((names, end))
    }

    /// Skips up to `n` names without fetching them (`skip-stream-object-names`, called as
    /// often as needed: the host skips at most 1 000 per call); returns how many were
    /// skipped, fewer than `n` only at the end of the listing.
    ///
    /// # Errors
    /// [`Error::Other`] if the store fails.
    pub fn skip_names(&mut self, n: u64) -> Result<u64, Error> {
        let from_buffer = n.min(self.buffered.len() as u64);
        self.buffered.drain(..from_buffer as usize);
        let mut skipped = from_buffer;
        while skipped < n && !self.done {
            let (count, end) = host(self.stream.skip_stream_object_names(n - skipped))?;
            skipped += count;
            self.done = end || count == 0;
        }
        Ok(skipped)
    }

    /// How many `read-stream-object-names` calls this listing has made so far.
    pub fn read_calls(&self) -> u64 {
        self.read_calls
    }
}

impl Iterator for ObjectNames {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(name) = self.buffered.pop_front() {
                return Some(Ok(name));
            }
            if self.done {
                return None;
            }
            match self.next_page() {
                Ok((names, _)) => self.buffered.extend(names),
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

/// What happened to the object of a [`BlobEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobEventKind {
    /// The object was written (created or replaced): `ce-type` `wasmhost.blob.created`.
    Created,
    /// The object was deleted: `ce-type` `wasmhost.blob.deleted`.
    Deleted,
}

impl BlobEventKind {
    /// The CloudEvents `type` of this kind: `wasmhost.blob.created` or `wasmhost.blob.deleted`.
    pub fn ce_type(self) -> &'static str {
        match self {
            Self::Created => "wasmhost.blob.created",
            Self::Deleted => "wasmhost.blob.deleted",
        }
    }
}

/// One event of a `[[trigger.blob]]`: a CloudEvents 1.0 event in binary mode, whose `type` is
/// `wasmhost.blob.created` or `wasmhost.blob.deleted` and whose JSON data is
/// `{"container", "key", "size", "etag", "contentType"}`.
///
/// ```no_run
/// use wasmhost_sdk::blob::{BlobEvent, BlobEventKind, Container};
/// use wasmhost_sdk::queue::Delivery;
/// use wasmhost_sdk::queue_component;
///
/// #[queue_component]
/// fn on_upload(batch: Vec<Delivery>) -> Result<(), String> {
///     for delivery in &batch {
///         let event = BlobEvent::from_delivery(delivery).map_err(|e| e.to_string())?;
///         if event.kind == BlobEventKind::Created {
///             let size = Container::open(&event.container)
///                 .and_then(|c| c.get(&event.key))
///                 .map_err(|e| e.to_string())?
///                 .len();
///             println!("{} is {size} bytes", event.key);
///         }
///     }
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEvent {
    /// Created (written) or deleted.
    pub kind: BlobEventKind,
    /// The container's name.
    pub container: String,
    /// The object's name.
    pub key: String,
    /// The object's size in bytes (for a deletion: the deleted object's, if known).
    pub size: Option<u64>,
    /// The object's entity tag, quotes included (`"\"…\""`), if known.
    pub etag: Option<String>,
    /// The object's media type, if known.
    pub content_type: Option<String>,
    /// The event's id (`ce-id`, a UUID): the same on every delivery of this event.
    pub id: Option<String>,
    /// When it happened (`ce-time`, RFC 3339).
    pub time: Option<String>,
}

#[cfg(feature = "json")]
impl BlobEvent {
    /// Reads the blob event in `delivery`: its kind from attribute `ce-type`, the rest from the
    /// JSON body (`id` and `time` from `ce-id` and `ce-time`).
    ///
    /// # Errors
    /// [`Error::Invalid`] if `ce-type` is missing or not a blob event type, or the body is not
    /// a JSON object with string `container` and `key`.
    pub fn from_delivery(delivery: &crate::queue::Delivery) -> Result<Self, Error> {
        let kind = match delivery.event_attribute("type") {
            Some("wasmhost.blob.created") => BlobEventKind::Created,
            Some("wasmhost.blob.deleted") => BlobEventKind::Deleted,
            other => {
                return Err(Error::Invalid(format!(
                    "not a blob event: ce-type is {other:?}"
                )));
            }
        };
        let data: serde_json::Value = serde_json::from_slice(&delivery.body)
            .map_err(|err| Error::Invalid(format!("a blob event's body is not JSON: {err}")))?;
        let text = |field: &str| data.get(field).and_then(|v| v.as_str()).map(str::to_owned);
        let required = |field: &str| {
            text(field).ok_or_else(|| {
                Error::Invalid(format!("a blob event's body has no string `{field}`"))
            })
        };
        Ok(Self {
            kind,
            container: required("container")?,
            key: required("key")?,
            size: data.get("size").and_then(serde_json::Value::as_u64),
            etag: text("etag"),
            content_type: text("contentType"),
            id: delivery.event_attribute("id").map(str::to_owned),
            time: delivery.event_attribute("time").map(str::to_owned),
        })
    }
}

#[cfg(feature = "json")]
impl TryFrom<&crate::queue::Delivery> for BlobEvent {
    type Error = Error;

    fn try_from(delivery: &crate::queue::Delivery) -> Result<Self, Error> {
        Self::from_delivery(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeAnswer, byte_range};

    #[test]
    fn ranges_resolve_against_the_size() {
        use RangeAnswer::{Part, Unsatisfiable, Whole};
        assert_eq!(byte_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(byte_range("bytes=90-200", 100), Part(90, 99));
        assert_eq!(byte_range("bytes=10-", 100), Part(10, 99));
        assert_eq!(byte_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(byte_range("bytes=-200", 100), Part(0, 99));
        assert_eq!(byte_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(byte_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(byte_range("bytes=5-1", 100), Whole);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(byte_range("items=0-1", 100), Whole);
        assert_eq!(byte_range("bytes=a-b", 100), Whole);
    }
}
