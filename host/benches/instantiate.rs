//! `instantiate_and_handle`: the per-request cost of the HTTP trigger without sockets. Each
//! iteration routes a `GET /hello/bench`, makes a new `Store`, instantiates the pre-instantiated
//! `apps/hello` component from the pooling allocator, calls its handler and reads the whole
//! response body: everything `wasmhost serve` does per request except HTTP parsing.
//!
//! Run: `cargo bench -p wasmhost --bench instantiate`. Results and the engine configuration go
//! in BENCHMARKS.md; `benches/parallel.rs` runs the same work on 2 threads.

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderValue;
use http_body_util::BodyExt;
use wasmhost::trigger::http::handle;

mod common;

fn instantiate_and_handle(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = common::hello_version(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = HeaderValue::from_static("127.0.0.1:1");

    c.bench_function("instantiate_and_handle", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = handle(&runtime, client.clone(), common::request()).await;
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            })
        });
    });
}

criterion_group!(benches, instantiate_and_handle);
criterion_main!(benches);
