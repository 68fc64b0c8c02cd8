//! `key_value`: what a key-value call costs through the whole host path, and what the same
//! call costs made directly from Rust, for sled and for Redis on loopback.
//!
//! - `guest_get_100B` / `guest_increment`: a `GET /kv/v100` (a 100-byte value) or
//!   `GET /count/bench` (an atomic increment) to `apps/kv-counter`, through the HTTP trigger
//!   without sockets: route, new store, instantiate, the guest's `store.open` and call, the
//!   response read whole.
//! - `direct_get_100B` / `direct_increment`: the same operation on the same store through the
//!   host's `KeyValueBackend`, from Rust: no wasm, no HTTP.
//!
//! Run: `cargo bench -p wasmhost --bench key_value` (needs `redis-server`; the bench starts its
//! own). Figures go in BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderValue;
use http_body_util::BodyExt;
use wasmhost::app_version::AppVersion;
use wasmhost::lifecycle::Seed;
use wasmhost::trigger::http::handle;
use wasmhost_tests::{RedisServer, guests};

mod common;

fn key_value(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = RedisServer::start();
    let backends = [
        ("sled", String::new()),
        (
            "redis",
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        ),
    ];
    for (name, config) in backends {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!(
            "manifest_version = 1\n[application]\nname = \"bench\"\n\
             [[trigger.http]]\nroute = \"/kv/:key\"\ncomponent = \"kv\"\n\
             [[trigger.http]]\nroute = \"/count/:name\"\ncomponent = \"kv\"\n\
             [component.kv]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n",
            guests::KV_COUNTER
        );
        let seed = Seed {
            store: "default".to_owned(),
            key: "v100".to_owned(),
            value: "x".repeat(100),
        };
        let runtime = rt.block_on(common::version(dir.path(), &manifest, &config, vec![seed]));
        let store = runtime
            .key_value
            .stores()
            .find(|store| &*store.label == "default")
            .unwrap()
            .clone();

        let mut group = c.benchmark_group(format!("key_value/{name}"));
        group.bench_function("guest_get_100B", |b| {
            b.iter(|| rt.block_on(call(&runtime, "/kv/v100")));
        });
        group.bench_function("guest_increment", |b| {
            b.iter(|| rt.block_on(call(&runtime, "/count/bench")));
        });
        group.bench_function("direct_get_100B", |b| {
            b.iter(|| rt.block_on(store.backend.get("v100")).unwrap());
        });
        group.bench_function("direct_increment", |b| {
            b.iter(|| {
                rt.block_on(store.backend.increment("count:bench", 1))
                    .unwrap()
            });
        });
        group.finish();
    }
}

/// One request through the HTTP trigger; asserts 200 and reads the body.
async fn call(runtime: &AppVersion, path: &str) -> bytes::Bytes {
    let client = HeaderValue::from_static("127.0.0.1:1");
    let response = handle(runtime, client, common::get(path)).await;
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

criterion_group!(benches, key_value);
criterion_main!(benches);
