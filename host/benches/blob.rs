//! `blob`: the throughput of a streamed blob write and read through a guest, against the
//! backend's own speed for the same bytes on the same machine (the `object_store` client
//! writing and reading directly), for local files and for S3 (a moto server on loopback, which
//! the bench starts).
//!
//! - `guest_write`: `PUT /c/files/o/bench` of a 64 MiB body (256 KiB frames) to
//!   `tests/guests/blob-probe` through the HTTP trigger without sockets: the guest splices the
//!   request body into an `outgoing-value` (the host's spool file), then `finish` makes the
//!   object (a rename for local files, a multipart upload for S3).
//! - `guest_read`: `GET /c/files/o/bench`: the guest splices the object's `incoming-value`
//!   stream into the response body, which the bench reads whole.
//! - `direct_write`: the same 64 MiB, in the same 256 KiB pieces, through the container's own
//!   `ObjectStore` (`put_multipart` and `WriteMultipart`, as a Rust service would write it).
//! - `direct_read`: `get` of the same object through the same `ObjectStore`, its stream read
//!   whole.
//!
//! Run: `cargo bench -p wasmhost --bench blob` (needs moto's server: `bash scripts/test`
//! installs it). Figures go in BENCHMARKS.md.

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use http::{HeaderValue, Request};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use wasmhost::app_version::AppVersion;
use wasmhost::trigger::http::handle;
use wasmhost_tests::{S3Server, guests};

mod common;

/// The object's size: 64 MiB.
const SIZE: usize = 64 << 20;
/// The size of each piece of the body, and of each write of the direct path: 256 KiB.
const PIECE: usize = 256 << 10;

fn blob(c: &mut Criterion) {
    let s3 = S3Server::start();
    for (key, value) in s3.env() {
        set_env(key, &value);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let object: Bytes = (0..SIZE)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let backends = [
        ("local", String::new()),
        ("s3", s3.runtime_config_toml("files", "bench")),
    ];
    for (name, config) in backends {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!(
            "manifest_version = 1\n[application]\nname = \"bench\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
             [component.probe]\nsource = \"{}\"\nblob_containers = [\"files\"]\n\
             [component.probe.limits]\nmax_body_mb = 128\ncpu_ms = 60000\ntimeout_ms = 600000\n",
            guests::BLOB_PROBE
        );
        let version = rt.block_on(common::version(dir.path(), &manifest, &config, Vec::new()));
        let store = version.blob.get("files").unwrap().backend.store().clone();
        let direct = Path::from("files/direct");

        let mut group = c.benchmark_group(format!("blob/{name}"));
        group.throughput(Throughput::Bytes(SIZE as u64));
        group.sample_size(10);
        group.bench_function("guest_write", |b| {
            b.iter(|| rt.block_on(put(&version, object.clone())));
        });
        group.bench_function("guest_read", |b| {
            b.iter(|| assert_eq!(rt.block_on(get(&version)), SIZE));
        });
        group.bench_function("direct_write", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let upload = store.put_multipart(&direct).await.unwrap();
                    let mut writer = WriteMultipart::new(upload);
                    for piece in pieces(&object) {
                        writer.wait_for_capacity(4).await.unwrap();
                        writer.put(piece);
                    }
                    writer.finish().await.unwrap();
                });
            });
        });
        group.bench_function("direct_read", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut stream = store.get(&direct).await.unwrap().into_stream();
                    let mut read = 0;
                    while let Some(chunk) = stream.next().await {
                        read += chunk.unwrap().len();
                    }
                    assert_eq!(read, SIZE);
                });
            });
        });
        group.finish();
    }
}

/// `object` in [`PIECE`]s (slices of it: no copy).
fn pieces(object: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..object.len())
        .step_by(PIECE)
        .map(|at| object.slice(at..(at + PIECE).min(object.len())))
}

/// `PUT /c/files/o/bench` of `object`, streamed in [`PIECE`]s; asserts 200.
async fn put(version: &AppVersion, object: Bytes) {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = pieces(&object)
        .map(|piece| Ok(Frame::data(piece)))
        .collect();
    let body = StreamBody::new(futures::stream::iter(frames));
    let request = Request::put("/c/files/o/bench")
        .header("host", "localhost")
        .header("content-length", SIZE)
        .body(body)
        .unwrap();
    let response = handle(version, HeaderValue::from_static("127.0.0.1:1"), request).await;
    let status = response.status();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{text:?}");
}

/// `GET /c/files/o/bench`, its body read whole; returns its length.
async fn get(version: &AppVersion) -> usize {
    let response = handle(
        version,
        HeaderValue::from_static("127.0.0.1:1"),
        common::get("/c/files/o/bench"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            read += data.len();
        }
    }
    read
}

/// Sets `key` in the process environment (the S3 credentials object_store reads, from the
/// environment only, as wasmhost's runtime config wants them).
fn set_env(key: &str, value: &str) {
    // SAFETY: called before the bench starts its runtime, while no other thread reads the
    // environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(key, value);
    }
}

criterion_group!(benches, blob);
criterion_main!(benches);
