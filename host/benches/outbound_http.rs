//! `outbound_http`: what an outbound request costs through the whole host path, against the
//! same request made directly with a pooled hyper client, and internal chaining.
//!
//! - `guest_hello`: `GET /hello/bench` to `apps/hello` (no outbound request): the baseline of
//!   one invocation;
//! - `guest_proxy_upstream`: `tests/guests/http-probe` sends `GET /hello` to a local hyper
//!   upstream (loopback, pooled, HTTP/1.1) and answers its body: one invocation plus one
//!   outbound request;
//! - `direct_upstream`: the same `GET /hello` from Rust with a `hyper-util` pooled client;
//! - `guest_chain_hello`: http-probe calls `http://hello.internal/hello/bench`: two
//!   invocations, no socket.
//!
//! Run: `cargo bench -p wasmhost --bench outbound_http`. Figures go in BENCHMARKS.md.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wasmhost::app_version::AppVersion;
use wasmhost::trigger::http::handle;
use wasmhost_tests::{Upstream, guests};

mod common;

fn outbound_http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let upstream = rt.block_on(Upstream::start());
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [[trigger.http]]\nroute = \"/probe/proxy\"\ncomponent = \"probe\"\n\
         [component.hello]\nsource = \"{}\"\n\
         [component.probe]\nsource = \"{}\"\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:*\", \"http://hello.internal\"]\n",
        guests::HELLO,
        guests::HTTP_PROBE,
    );
    let runtime = rt.block_on(common::version(dir.path(), &manifest, "", Vec::new()));
    let upstream_hello = upstream.url("/hello");
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    let mut group = c.benchmark_group("outbound_http");
    group.bench_function("guest_hello", |b| {
        b.iter(|| rt.block_on(call(&runtime, common::get("/hello/bench"))));
    });
    group.bench_function("guest_proxy_upstream", |b| {
        b.iter(|| rt.block_on(call(&runtime, probe(&upstream_hello))));
    });
    group.bench_function("direct_upstream", |b| {
        b.iter(|| {
            rt.block_on(async {
                let uri = upstream_hello.parse().unwrap();
                let response = client.get(uri).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            })
        });
    });
    group.bench_function("guest_chain_hello", |b| {
        b.iter(|| rt.block_on(call(&runtime, probe("http://hello.internal/hello/bench"))));
    });
    group.finish();
    drop(upstream);
}

/// `GET /probe/proxy` with `x-target: target`.
fn probe(target: &str) -> Request<Empty<Bytes>> {
    let mut request = common::get("/probe/proxy");
    request
        .headers_mut()
        .insert("x-target", HeaderValue::from_str(target).unwrap());
    request
}

/// One request through the HTTP trigger; asserts 200 and reads the body.
async fn call(runtime: &AppVersion, request: Request<Empty<Bytes>>) -> Bytes {
    let client = HeaderValue::from_static("127.0.0.1:1");
    let response = handle(runtime, client, request).await;
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

criterion_group!(benches, outbound_http);
criterion_main!(benches);
