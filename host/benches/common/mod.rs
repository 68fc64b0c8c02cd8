//! What the benches share: runtimes (hello, or any manifest) and requests.

// Each bench uses part of this module.
#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use std::sync::Arc;
use wasmhost::capability::key_value::KeyValueStores;
use wasmhost::compile_cache::CompileCache;
use wasmhost::limits::Limits;
use wasmhost::metrics::Metrics;

use wasmhost::runtime::Runtime;
use wasmhost_tests::guests;

/// A runtime serving `apps/hello` on `/hello/:name`, its compile cache in `dir`, with the
/// default engine settings (`BENCH_MAX_INSTANCES` overrides the pool size).
pub fn hello_runtime(dir: &Path) -> Arc<Runtime> {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    runtime(dir, &manifest, KeyValueStores::default())
}

/// A runtime for `manifest` (written as if in `dir`), with the stores `key_value`.
pub fn runtime(dir: &Path, manifest: &str, key_value: KeyValueStores) -> Arc<Runtime> {
    let app = wasmhost::manifest::parse(&dir.join("wasmhost.toml"), manifest).unwrap();
    // Valgrind cannot reserve the default pool's address space (terabytes); a callgrind run
    // sets BENCH_MAX_INSTANCES to a handful.
    let mut limits = Limits::default();
    if let Some(n) = std::env::var("BENCH_MAX_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        limits.max_instances = n;
    }
    let engine = limits.engine_settings().build().unwrap();
    Runtime::load(
        app,
        &engine,
        &limits,
        &CompileCache::new(dir, &engine),
        key_value,
        Default::default(),
        &Default::default(),
        Arc::new(Metrics::new()),
    )
    .unwrap()
}

/// `GET /hello/bench` with a `Host` header and no body.
pub fn request() -> Request<Empty<Bytes>> {
    get("/hello/bench")
}

/// `GET path` with a `Host` header and no body.
pub fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap()
}
