//! What the benches share: the hello runtime and its request.

use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use wasmhost::compile_cache::CompileCache;
use wasmhost::engine::EngineSettings;
use wasmhost::runtime::Runtime;
use wasmhost_tests::guests;

/// A runtime serving `apps/hello` on `/hello/:name`, its compile cache in `dir`.
pub fn hello_runtime(dir: &Path) -> Runtime {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bench\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        guests::HELLO
    );
    let app = wasmhost::manifest::parse(&dir.join("wasmhost.toml"), &manifest).unwrap();
    let engine = EngineSettings::default().build().unwrap();
    Runtime::load(app, &engine, &CompileCache::new(dir, &engine)).unwrap()
}

/// `GET /hello/bench` with a `Host` header and no body.
pub fn request() -> Request<Empty<Bytes>> {
    Request::builder()
        .uri("/hello/bench")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap()
}
