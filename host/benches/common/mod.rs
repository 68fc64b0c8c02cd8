//! What the benches share: app versions loaded through the library's lifecycle (hello, or any
//! manifest) and requests.

// Each bench uses part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use wasmhost::app_version::AppVersion;
use wasmhost::lifecycle::{self, LoadOptions, Seed};
use wasmhost::limits::Limits;
use wasmhost_tests::guests;

/// A version serving `apps/hello` on `/hello/:name`, its compile cache in `dir`, with the
/// default engine settings (`BENCH_MAX_INSTANCES` overrides the pool size).
pub fn hello_version(dir: &Path) -> Arc<AppVersion> {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    // Loaded outside any tokio runtime (it opens no backend), so that a callgrind run toggled on
    // the runtime's `block_on` counts the requests only, not the compilation.
    futures::executor::block_on(version(dir, &manifest, "", Vec::new()))
}

/// `apps/hello` on `/hello/:name` as in [`hello_version`], from a Spin manifest
/// (`spin_manifest_version = 2`): the same component and route, so the difference is the
/// host's work for a Spin app (Spin's routing headers on every request).
pub fn spin_hello_version(dir: &Path) -> Arc<AppVersion> {
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    futures::executor::block_on(version(dir, &manifest, "", Vec::new()))
}

/// [`hello_version`] with `auth = "function"` on its route and one key of the `hello`
/// component, made in the app's key store; the key, to send in `x-functions-key`.
pub fn hello_version_with_key(dir: &Path) -> (Arc<AppVersion>, String) {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\nauth = \"function\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    let (_, key) = futures::executor::block_on(async {
        let store = wasmhost::keys::KeyStore::open(&dir.join(".wasmhost/keys")).unwrap();
        let scope = wasmhost::keys::KeyScope::Component("hello".into());
        store.create("bench", scope, None).await.unwrap()
    });
    let version = futures::executor::block_on(version(dir, &manifest, "", Vec::new()));
    (version, key)
}

/// The version of `manifest`, written to `dir/wasmhost.toml` (the compile cache in `dir` too),
/// with the runtime config `runtime_config` (none if empty) and the key-value `seeds`, loaded as
/// `wasmhost serve` loads it. Backends connect on the calling runtime.
pub async fn version(
    dir: &Path,
    manifest: &str,
    runtime_config: &str,
    seeds: Vec<Seed>,
) -> Arc<AppVersion> {
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let runtime_config = (!runtime_config.is_empty()).then(|| {
        let file = dir.join("runtime.toml");
        std::fs::write(&file, runtime_config).unwrap();
        file
    });
    // Valgrind cannot reserve the default pool's address space (terabytes); a callgrind run
    // sets BENCH_MAX_INSTANCES to a handful.
    let mut limits = Limits::default();
    if let Some(n) = std::env::var("BENCH_MAX_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        limits.max_instances = n;
    }
    lifecycle::load(LoadOptions {
        path,
        runtime_config,
        cache_dir: Some(dir.to_owned()),
        limits,
        seeds,
        ..LoadOptions::default()
    })
    .await
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
