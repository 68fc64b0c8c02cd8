//! `instantiate_and_handle`: the per-request cost of the HTTP trigger without sockets. Each
//! iteration routes a `GET /hello/bench`, makes a new `Store`, instantiates the pre-instantiated
//! `apps/hello` component from the pooling allocator, calls its handler and reads the whole
//! response body: everything `wasmhost serve` does per request except HTTP parsing.
//!
//! Run: `cargo bench -p wasmhost --bench instantiate`. Results and the engine configuration go
//! in BENCHMARKS.md.

use std::path::Path;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use wasmhost::compile_cache::CompileCache;
use wasmhost::engine::EngineSettings;
use wasmhost::runtime::Runtime;
use wasmhost::trigger::http::handle;
use wasmhost_tests::guests;

fn hello_runtime(cache_dir: &Path) -> Runtime {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    let app = wasmhost::manifest::parse(&cache_dir.join("wasmhost.toml"), &manifest).unwrap();
    let engine = EngineSettings::default().build().unwrap();
    Runtime::load(app, &engine, &CompileCache::new(cache_dir, &engine)).unwrap()
}

fn request() -> Request<Empty<Bytes>> {
    Request::builder()
        .uri("/hello/bench")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap()
}

fn instantiate_and_handle(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = hello_runtime(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = HeaderValue::from_static("127.0.0.1:1");

    c.bench_function("instantiate_and_handle", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = handle(&runtime, client.clone(), request()).await;
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            })
        });
    });
}

criterion_group!(benches, instantiate_and_handle);
criterion_main!(benches);
